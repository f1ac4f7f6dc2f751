//! PDF: text in reading order through pdf-extract, page by page, with lopdf's
//! own extractor as a fallback for a page pdf-extract fails on; the Info
//! dictionary for title, author, dates and producer. An encrypted PDF with an
//! empty user password is read; any other is a typed "encrypted" error.
//!
//! Reading runs on a thread of its own with a stack of [`READER_STACK_BYTES`]:
//! the parsers recurse (bounded by `pdf_guard.rs` and lopdf's own limits),
//! and how deep they may go must not depend on the caller's thread (a test
//! harness thread has 2 MiB, a worker's main thread 8 MiB).

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;

use pdf_extract::{Dictionary, Document, Object, ObjectId};

use super::pdf_layout::PageLines;
use super::{
    pdf_actualtext, pdf_annotations, pdf_cmap, pdf_fonts, pdf_guard, pdf_lengths, pdf_meta, pdf_repair, pdf_truetype,
    ExtractError, Extracted,
};
use crate::ocr::{pdf_images, GrayImage, Session};
use crate::options::OcrMode;
use crate::structure::chunk::PageSpan;
use crate::Options;

/// Pages whose text is extracted; the rest are counted but skipped, with a
/// `truncated` warning. Several thousand pages of text is already a book.
const MAX_PAGES: usize = 5000;
/// A page reading with fewer letters and digits than this is compared with
/// lopdf's reading of the same page.
const MIN_PAGE_LETTERS: usize = 16;
/// Stack of the reading thread. The deepest recursions left after the guards
/// (lopdf's 100 levels of nested objects, forms nested [`pdf_guard::MAX_FORM_DEPTH`]
/// deep in pdf-extract) need a few MiB; 64 MiB leaves a wide margin and is
/// address space only, touched as it is used.
const READER_STACK_BYTES: usize = 64 << 20;

/// Reads the PDF; scanned pages go through `ocr`.
///
/// The recogniser holds native state bound to this thread (it is not
/// `Sync`), so the reader thread asks this one to run OCR through a channel
/// and waits for the answer: one page at a time, as before.
pub fn extract(bytes: &[u8], options: &Options, ocr: &mut Session<'_>) -> Result<Extracted, ExtractError> {
    let (sender, asks) = mpsc::channel();
    let mut remote = RemoteOcr { mode: ocr.mode, asks: sender };
    std::thread::scope(|scope| {
        let reader = std::thread::Builder::new()
            .name("pdf-reader".into())
            .stack_size(READER_STACK_BYTES)
            .spawn_scoped(scope, move || read(bytes, options, &mut remote));
        match reader {
            Ok(reader) => {
                // Ends when the reader drops its sender: done, failed or panicked.
                for ask in asks {
                    match ask {
                        Ask::Possible(reply) => drop(reply.send(ocr.possible())),
                        Ask::Read(number, image, reply) => {
                            // The page once more comes from the reader, which
                            // holds the document and waits for this answer.
                            let mut again = || {
                                let (give, take) = mpsc::channel();
                                reply.send(Answer::Again(give)).ok()?;
                                take.recv().ok().flatten()
                            };
                            let text = ocr.read_page(number, image, &mut again);
                            drop(reply.send(Answer::Read(text)))
                        }
                        Ask::Warn(warning) => ocr.warn(warning),
                    }
                }
                reader.join().unwrap_or_else(|_| Err(ExtractError("the PDF reader failed on this file".into())))
            }
            // No thread to be had (a process limit): read on this one.
            Err(_) => read(bytes, options, ocr),
        }
    })
}

/// OCR as the page loop uses it: the [`Session`] itself on the calling
/// thread, or [`RemoteOcr`] on the reader thread.
trait PageOcr {
    fn mode(&self) -> OcrMode;
    fn possible(&mut self) -> bool;
    /// As [`Session::read_page`]: `again` decodes the page once more.
    fn read_page(
        &mut self,
        number: usize,
        image: GrayImage,
        again: &mut dyn FnMut() -> Option<GrayImage>,
    ) -> Option<String>;
    fn warn(&mut self, warning: String);
}

impl PageOcr for Session<'_> {
    fn mode(&self) -> OcrMode {
        self.mode
    }
    fn possible(&mut self) -> bool {
        Session::possible(self)
    }
    fn read_page(
        &mut self,
        number: usize,
        image: GrayImage,
        again: &mut dyn FnMut() -> Option<GrayImage>,
    ) -> Option<String> {
        Session::read_page(self, number, image, again)
    }
    fn warn(&mut self, warning: String) {
        Session::warn(self, warning)
    }
}

/// A request from the reader thread to the thread that owns the session.
enum Ask {
    Possible(mpsc::Sender<bool>),
    Read(usize, GrayImage, mpsc::Sender<Answer>),
    Warn(String),
}

/// The session's answers to [`Ask::Read`]: any number of requests for the
/// page once more, then the page's text.
enum Answer {
    /// Decode the page again (to try it turned) and send it here.
    Again(mpsc::Sender<Option<GrayImage>>),
    /// The page's text; `None` when OCR did not run on it.
    Read(Option<String>),
}

/// The session seen from the reader thread: every call is answered by the
/// calling thread.
struct RemoteOcr {
    mode: OcrMode,
    asks: mpsc::Sender<Ask>,
}

impl RemoteOcr {
    fn ask<T>(&self, make: impl FnOnce(mpsc::Sender<T>) -> Ask) -> Option<T> {
        let (reply, answer) = mpsc::channel();
        self.asks.send(make(reply)).ok()?;
        answer.recv().ok()
    }
}

impl PageOcr for RemoteOcr {
    fn mode(&self) -> OcrMode {
        self.mode
    }
    fn possible(&mut self) -> bool {
        self.ask(Ask::Possible).unwrap_or(false)
    }
    fn read_page(
        &mut self,
        number: usize,
        image: GrayImage,
        again: &mut dyn FnMut() -> Option<GrayImage>,
    ) -> Option<String> {
        let (reply, answers) = mpsc::channel();
        self.asks.send(Ask::Read(number, image, reply)).ok()?;
        loop {
            match answers.recv().ok()? {
                // The session's thread waits for the page: the send holds.
                Answer::Again(give) => drop(give.send(again())),
                Answer::Read(text) => return text,
            }
        }
    }
    fn warn(&mut self, warning: String) {
        // The caller outlives the reader: a send cannot fail while it runs.
        let _ = self.asks.send(Ask::Warn(warning));
    }
}

fn read(bytes: &[u8], options: &Options, ocr: &mut dyn PageOcr) -> Result<Extracted, ExtractError> {
    let mut extracted = Extracted::default();
    let lengths_fixed = pdf_lengths::fix_stream_lengths(bytes);
    let bytes = match &lengths_fixed {
        Some((fixed, count)) => {
            extracted.warnings.push(format!(
                "damaged PDF: {count} streams' /Length did not match their data; read up to their endstream"
            ));
            fixed.as_slice()
        }
        None => bytes,
    };
    let loaded = panic::catch_unwind(AssertUnwindSafe(|| Document::load_mem(bytes)))
        .map_err(|_| ExtractError("the PDF parser failed on this file".into()))?;
    let mut document = match loaded {
        Ok(document) => document,
        Err(err) => {
            let message = err.to_string();
            if message.to_ascii_lowercase().contains("encrypt") || message.to_ascii_lowercase().contains("password") {
                return Err(ExtractError(format!("encrypted: {message}")));
            }
            // A damaged cross-reference table is the commonest breakage;
            // readers rebuild it by scanning for objects, and so do we.
            let rebuilt = pdf_repair::rebuild_xref(bytes)
                .and_then(|fixed| panic::catch_unwind(AssertUnwindSafe(|| Document::load_mem(&fixed))).ok()?.ok());
            match rebuilt {
                Some(document) => {
                    extracted.warnings.push(format!("damaged PDF ({message}); cross-reference table rebuilt"));
                    document
                }
                None => return Err(ExtractError(format!("not a readable PDF: {message}"))),
            }
        }
    };
    // lopdf decrypts at load when the empty user password opens the file,
    // and leaves the /Encrypt entry in place when it does not.
    let encrypted = document.was_encrypted() || document.is_encrypted();
    if document.is_encrypted() {
        let decrypted =
            panic::catch_unwind(AssertUnwindSafe(|| document.decrypt(""))).map(|r| r.is_ok()).unwrap_or(false);
        if !decrypted {
            return Err(ExtractError("encrypted: this PDF needs a password".into()));
        }
    }
    extracted.set("encrypted", encrypted);
    let damaged = pdf_repair::inflate_streams(&mut document, &mut extracted.warnings);
    pdf_repair::map_unicode_cmaps(&mut document);
    pdf_cmap::identity_for_embedded_cmaps(&mut document);
    pdf_fonts::sanitize(&mut document);
    pdf_truetype::map_truetype_glyphs(&mut document);
    pdf_repair::expand_width_ranges(&mut document);
    pdf_meta::metadata(&document, &mut extracted);
    let tree = pdf_guard::page_list(&document);
    let pages = tree.pages;
    if tree.scanned && !pages.is_empty() {
        extracted
            .warnings
            .push(format!("the page tree is damaged; {} pages were found by scanning the file", pages.len()));
    }
    extracted.set("pages", pages.len());
    extracted.page_total = Some(pages.len().min(u32::MAX as usize) as u32);
    let read_pages = &pages[..pages.len().min(MAX_PAGES)];
    for page in read_pages {
        pdf_guard::settle_page(&mut document, *page);
        pdf_annotations::draw_annotations(&mut document, *page);
    }
    let guarded = pdf_guard::guard_content(&mut document, read_pages);
    extracted.warnings.extend(guarded.warnings());
    pdf_actualtext::apply(&mut document, &guarded.actual_text_pages);
    let single = one_page_tree(&mut document);
    let mut text = String::new();
    let mut failed_pages = Vec::new();
    let mut laid_out = Vec::new();
    let mut partial_pages = Vec::new();
    let mut empty_pages = EmptyPages::default();
    if pages.len() > MAX_PAGES {
        extracted.warnings.push(format!("truncated: text of the first {MAX_PAGES} of {} pages", pages.len()));
    }
    for (index, page) in read_pages.iter().enumerate() {
        let page_number = index as u32 + 1;
        if options.pages.is_some_and(|selection| !selection.contains(page_number)) {
            continue;
        }
        select_page(&mut document, single, *page);
        let mut lines = PageLines::default();
        // Page 1 of the one-page tree is this page.
        let rendered = panic::catch_unwind(AssertUnwindSafe(|| pdf_extract::output_doc_page(&document, &mut lines, 1)));
        let rendered_ok = matches!(rendered, Ok(Ok(())));
        // A page the renderer gave up on keeps the text drawn before.
        let mut page_text = lines.text();
        page_text.retain(|c| c != pdf_actualtext::FILLER);
        let mut from_layout = true;
        // pdf-extract misreads some font encodings (CID fonts without a
        // usable ToUnicode map, Type 3 fonts) and yields nothing or symbol
        // soup; lopdf's own extractor decodes some of those. Keep whichever
        // reading has more letters and digits.
        let letters = |text: &str| text.chars().filter(|c| c.is_alphanumeric()).count();
        if !rendered_ok || letters(&page_text) < MIN_PAGE_LETTERS {
            if let Ok(Ok(fallback)) = panic::catch_unwind(AssertUnwindSafe(|| document.extract_text(&[1]))) {
                if letters(&fallback) > letters(&page_text) {
                    page_text = fallback;
                    from_layout = false;
                }
            }
        }
        // A scanned page: its image read by OCR when it has no text layer
        // worth the name (or always, with `ocr=on`).
        let wants_ocr = ocr.mode() == OcrMode::On || letters(&page_text) < MIN_PAGE_LETTERS;
        let mut read_by_ocr = false;
        if wants_ocr {
            if let Some(scan) = pdf_images::largest_image(&document, *page) {
                if ocr.possible() {
                    let decode = || pdf_images::decode_page_image(&document, *page, scan);
                    match decode() {
                        Ok(image) => {
                            if let Some(read) = ocr.read_page(page_number as usize, image, &mut || decode().ok()) {
                                read_by_ocr = true;
                                if !read.is_empty() {
                                    page_text = read;
                                    // OCR lines carry no font sizes for headings.
                                    from_layout = false;
                                }
                            }
                        }
                        Err(err) => {
                            ocr.warn(format!("page {page_number}: its image could not be read by OCR: {}", err.0))
                        }
                    }
                }
            }
        }
        let drawn = guarded.pages.get(index).copied().unwrap_or_default();
        if letters(&page_text) == 0 {
            if damaged_content(&document, *page, &damaged) {
                empty_pages.damaged.push(page_number);
            } else if !rendered_ok {
                failed_pages.push(page_number);
            } else if drawn.text_operators > 0 {
                empty_pages.unmapped.push(page_number);
            } else if read_by_ocr {
                empty_pages.illegible.push(page_number);
            } else if drawn.images > 0 {
                empty_pages.images.push(page_number);
            } else {
                empty_pages.blank.push(page_number);
            }
        } else if !rendered_ok {
            partial_pages.push(page_number);
        }
        // Each page is tidied on its own, so that its span in the text is
        // known; a page with no text has an empty span.
        let start = text.len();
        let tidied = tidy(page_text.trim_matches('\n'));
        let body = tidied.trim_matches('\n');
        if !body.is_empty() {
            text.push_str(body);
            text.push_str("\n\n");
        }
        extracted.pages.push(PageSpan { number: page_number, start, end: text.len() });
        if options.wants_structure() {
            let sizes = if from_layout { lines.line_sizes() } else { Vec::new() };
            laid_out.push(super::pdf_headings::LaidOutPage { number: page_number, text: body.to_owned(), sizes });
        }
    }
    if options.wants_structure() {
        let outline = panic::catch_unwind(AssertUnwindSafe(|| document.get_toc())).ok().and_then(Result::ok);
        let outline: Vec<(usize, String, u32)> = outline
            .map(|toc| toc.toc.into_iter().map(|entry| (entry.level, entry.title, entry.page as u32)).collect())
            .unwrap_or_default();
        extracted.blocks = super::pdf_headings::blocks(&laid_out, &outline);
    }
    let listed = |pages: &[u32]| {
        let shown: Vec<String> = pages.iter().take(10).map(u32::to_string).collect();
        let more = if pages.len() > 10 { ", ..." } else { "" };
        format!("{} pages ({}{more})", pages.len(), shown.join(", "))
    };
    if !failed_pages.is_empty() {
        extracted.warnings.push(format!("no text could be read from {}", listed(&failed_pages)));
    }
    if !partial_pages.is_empty() {
        extracted
            .warnings
            .push(format!("the text of {} may be incomplete: the reader stopped early", listed(&partial_pages)));
    }
    if !pages.is_empty() && failed_pages.len() == pages.len() && text.trim().is_empty() {
        return Err(ExtractError("no page of this PDF could be read".into()));
    }
    let without_text = failed_pages.len() + empty_pages.count();
    extracted.set("pages_without_text", without_text);
    if !empty_pages.images.is_empty() {
        extracted.warnings.push(format!(
            "no text layer on {}: they show only images; OCR is needed to read them",
            listed(&empty_pages.images)
        ));
    }
    if !empty_pages.illegible.is_empty() {
        extracted.warnings.push(format!(
            "no text on {}: they show only images, and OCR found no text in them",
            listed(&empty_pages.illegible)
        ));
    }
    if !empty_pages.unmapped.is_empty() {
        extracted.warnings.push(format!(
            "no text could be read from {}: their fonts have no Unicode mapping",
            listed(&empty_pages.unmapped)
        ));
    }
    if !empty_pages.damaged.is_empty() {
        extracted.warnings.push(format!(
            "no text could be read from {}: their content streams are damaged and cannot be decoded",
            listed(&empty_pages.damaged)
        ));
    }
    // Each page was tidied as it was read.
    if text.trim().is_empty() {
        // Say why a document came out empty, whatever the cause.
        if pages.is_empty() {
            extracted.warnings.push("the PDF has no pages".into());
        } else if !empty_pages.blank.is_empty() {
            extracted.warnings.push(format!("{} draw neither text nor images", listed(&empty_pages.blank)));
        }
        if encrypted {
            extracted.warnings.push("the PDF is encrypted; its content may not have been decrypted".into());
        }
    }
    extracted.text = text;
    Ok(extracted)
}

/// Pages that gave no text, by why.
#[derive(Default)]
struct EmptyPages {
    /// Drawing images and no text: scans, OCR wanted.
    images: Vec<u32>,
    /// Showing text whose glyphs map to no characters.
    unmapped: Vec<u32>,
    /// With a content stream whose filters fail to decode it.
    damaged: Vec<u32>,
    /// Drawing images and no text, whose image OCR read without finding
    /// any (a photo, a drawing, an empty scan).
    illegible: Vec<u32>,
    /// Drawing neither.
    blank: Vec<u32>,
}

impl EmptyPages {
    fn count(&self) -> usize {
        self.images.len() + self.unmapped.len() + self.damaged.len() + self.illegible.len() + self.blank.len()
    }
}

/// Whether one of the page's content streams is among the `damaged`, or
/// has other filters that fail on it.
fn damaged_content(document: &Document, page: ObjectId, damaged: &HashSet<ObjectId>) -> bool {
    document.get_page_contents(page).into_iter().any(|id| {
        damaged.contains(&id)
            || document.get_object(id).and_then(Object::as_stream).is_ok_and(|stream| {
                stream.filters().is_ok_and(|filters| !filters.is_empty()) && stream.decompressed_content().is_err()
            })
    })
}

/// Points the catalog at a new page tree node of one kid, made a page at a
/// time by [`select_page`]. The readers look a page up by its number with a
/// walk of the whole tree on every call, which made reading quadratic in
/// the pages; a one-page tree makes each lookup constant, and the page keeps
/// its own `/Parent` (its inherited attributes are on it already).
fn one_page_tree(document: &mut Document) -> ObjectId {
    let mut node = Dictionary::new();
    node.set("Type", Object::Name(b"Pages".to_vec()));
    node.set("Kids", Object::Array(Vec::new()));
    node.set("Count", Object::Integer(1));
    let single = document.add_object(node);
    if let Ok(catalog) = document.catalog_mut() {
        catalog.set("Pages", Object::Reference(single));
    } else {
        // No catalog (pages found by scanning): make one.
        let mut catalog = Dictionary::new();
        catalog.set("Type", Object::Name(b"Catalog".to_vec()));
        catalog.set("Pages", Object::Reference(single));
        let catalog = document.add_object(catalog);
        document.trailer.set("Root", Object::Reference(catalog));
    }
    single
}

fn select_page(document: &mut Document, single: ObjectId, page: ObjectId) {
    if let Ok(node) = document.get_dictionary_mut(single) {
        node.set("Kids", Object::Array(vec![Object::Reference(page)]));
    }
}

/// Undoes what PDF text extraction tends to leave: ligature characters,
/// soft hyphens, control characters from unmapped glyphs, CJK radicals for
/// the ideographs they stand for, and runs of blank lines.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{00AD}' => {}
            // Glyphs without a Unicode mapping come out as NUL or other
            // control characters: they are not text.
            c if c.is_control() && !matches!(c, '\n' | '\t') => {}
            c => out.push(super::cjk_radicals::unify(c)),
        }
    }
    let mut result = String::with_capacity(out.len());
    let mut blank_run = 0;
    for line in out.lines() {
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        result.push_str(line.trim_end());
        result.push('\n');
    }
    result
}
