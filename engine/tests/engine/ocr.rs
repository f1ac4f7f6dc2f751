//! Engine tests: how pages go to a recogniser, with a stand-in for it (the
//! engine is pure; the real Tesseract is tested in `worker/tests/ocr.rs`).
//! The page the engine hands over is its only copy, so a recogniser that
//! copies the page in can free it before its own working memory peaks; a
//! page that must be tried turned is decoded again, on the PDF reader's
//! thread too.
//!
//! Copies of a page are counted by the allocator: this module installs the
//! test binary's global allocator, the system's, counting the live blocks
//! of one watched size (a page's width × height bytes, a size no other test
//! allocates).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::io::Cursor;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::Mutex;

use docmill_engine::ocr::{GrayImage, OcrError, Orientation, Recognizer, Starts, Word};
use docmill_engine::OcrLanguages;
use serde_json::json;

use crate::analyze_with_ocr;
use crate::pdf_fixtures::{deflated_stream, one_page, stream};

/// Block size whose live blocks are counted; 0 watches nothing.
static WATCHED_BYTES: AtomicUsize = AtomicUsize::new(0);
/// Live blocks of [`WATCHED_BYTES`].
static WATCHED_LIVE: AtomicIsize = AtomicIsize::new(0);
/// The tests here take turns: they share the watched size.
static TURN: Mutex<()> = Mutex::new(());

struct CountingAllocator;

impl CountingAllocator {
    fn count(size: usize, delta: isize) {
        if size == WATCHED_BYTES.load(Ordering::Relaxed) {
            WATCHED_LIVE.fetch_add(delta, Ordering::SeqCst);
        }
    }
}

// SAFETY: every call is passed on unchanged to the system allocator, which
// upholds GlobalAlloc's contract; the counting only reads and adds atomics.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::count(layout.size(), 1);
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::count(layout.size(), 1);
        // SAFETY: as for alloc.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        Self::count(layout.size(), -1);
        // SAFETY: `ptr` came from this allocator, that is from System, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::count(layout.size(), -1);
        Self::count(new_size, 1);
        // SAFETY: `ptr` came from System with `layout`; the caller checked `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Page size of these tests: odd sides, so that `WIDTH * HEIGHT` bytes is a
/// size nothing else allocates.
const WIDTH: u32 = 1201;
const HEIGHT: u32 = 1709;

/// What the stand-in saw of one page it was given.
#[derive(Debug, PartialEq)]
struct Seen {
    width: u32,
    height: u32,
    /// Page-sized blocks still alive once it had dropped the page.
    other_copies: isize,
}

/// Reads every page as one word, "Scanned", at the confidence given for
/// each call in turn (the last one repeats): below 80 the engine tries the
/// page turned.
struct StandIn {
    confidences: Vec<f32>,
    seen: RefCell<Vec<Seen>>,
}

impl StandIn {
    fn new(confidences: &[f32]) -> StandIn {
        StandIn { confidences: confidences.to_vec(), seen: RefCell::new(Vec::new()) }
    }
}

impl Recognizer for StandIn {
    fn engine(&self) -> String {
        "stand-in 1.0".into()
    }

    fn languages(&self) -> Vec<String> {
        vec!["eng".into()]
    }

    fn recognize(&self, page: GrayImage, _languages: &OcrLanguages) -> Result<Vec<Word>, OcrError> {
        let (width, height) = (page.width, page.height);
        drop(page);
        let other_copies = WATCHED_LIVE.load(Ordering::SeqCst);
        let mut seen = self.seen.borrow_mut();
        seen.push(Seen { width, height, other_copies });
        let confidence = self.confidences[(seen.len() - 1).min(self.confidences.len() - 1)];
        Ok(vec![Word { text: "Scanned".into(), confidence, starts: Starts::Paragraph }])
    }

    fn orientation(&self, _page: &GrayImage) -> Option<Orientation> {
        None
    }
}

/// A grey page of [`WIDTH`] × [`HEIGHT`] pixels: a PNG file, and the same
/// samples as the one image of a PDF page, which covers it.
fn scans() -> [(&'static str, Vec<u8>); 2] {
    let pixels: Vec<u8> = (0..WIDTH * HEIGHT).map(|i| if i % 7 == 0 { 0 } else { 255 }).collect();
    let mut png = Cursor::new(Vec::new());
    image::GrayImage::from_raw(WIDTH, HEIGHT, pixels.clone())
        .unwrap()
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let image = deflated_stream(
        &format!(
            " /Type /XObject /Subtype /Image /Width {WIDTH} /Height {HEIGHT} /ColorSpace /DeviceGray \
             /BitsPerComponent 8"
        ),
        &pixels,
    );
    let pdf = one_page("<< /XObject << /Im1 6 0 R >> >>", stream("", b"q 612 0 0 792 0 0 cm /Im1 Do Q"), vec![image]);
    [("scan.png", png.into_inner()), ("scan.pdf", pdf)]
}

/// Analyses each scan with a stand-in answering `confidences`, and returns
/// what it saw of each and the report.
fn read_scans(confidences: &[f32]) -> Vec<(&'static str, Vec<Seen>, serde_json::Value)> {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let scans = scans();
    WATCHED_BYTES.store((WIDTH * HEIGHT) as usize, Ordering::SeqCst);
    let read = scans
        .iter()
        .map(|(name, bytes)| {
            let stand_in = StandIn::new(confidences);
            let report = analyze_with_ocr(name, bytes, &stand_in);
            (*name, stand_in.seen.into_inner(), report)
        })
        .collect();
    WATCHED_BYTES.store(0, Ordering::SeqCst);
    read
}

#[test]
fn an_upright_page_is_handed_over_without_a_copy_left_behind() {
    for (name, seen, report) in read_scans(&[95.0]) {
        assert_eq!(seen, [Seen { width: WIDTH, height: HEIGHT, other_copies: 0 }], "{name}");
        assert_eq!(report["text"].as_str().map(str::trim_end), Some("Scanned"), "{name}: {report:#}");
        assert!(report["metadata"]["ocr"].get("rotated_pages").is_none(), "{name}: {report:#}");
    }
}

#[test]
fn a_page_tried_turned_is_decoded_again_and_kept_only_for_the_turns() {
    // Unsure upright and upside down; sure turned a quarter: the page was
    // scanned turned 90 degrees clockwise.
    for (name, seen, report) in read_scans(&[50.0, 50.0, 95.0]) {
        let expected = [
            Seen { width: WIDTH, height: HEIGHT, other_copies: 0 },
            Seen { width: WIDTH, height: HEIGHT, other_copies: 1 },
            Seen { width: HEIGHT, height: WIDTH, other_copies: 1 },
        ];
        assert_eq!(seen, expected, "{name}");
        assert_eq!(report["metadata"]["ocr"]["rotated_pages"], json!([1]), "{name}: {report:#}");
        assert_eq!(report["metadata"]["ocr"]["mean_confidence"], json!(95.0), "{name}: {report:#}");
    }
}
