//! What reading documents with OCR costs in memory, in one process: sets
//! the allocator up and loads Tesseract as `docmill` does (`ocr::init` with
//! `--ocr-lang`'s default), analyses each file named on the command line,
//! and prints the resident set before and after each and the process's
//! high-water mark. Run under `heaptrack` to see where the peak goes.
//! Figures are printed, never asserted.
//!
//! Run: `cargo run --release -p docmill-worker --example ocr_memory -- FILE...`

use docmill_engine::{self as engine, Input, OcrContext, OcrLanguages, Options};
use docmill_worker::ocr;

/// A `/proc/self/status` field in MiB (`VmRSS`, `VmHWM`).
fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    kib as f64 / 1024.0
}

fn main() {
    // As `docmill` itself does first thing.
    docmill_worker::heap::map_large_allocations();
    let tesseract = match ocr::init(&OcrLanguages::parse("eng").expect("eng is a language")) {
        Ok(tesseract) => tesseract,
        Err(why) => {
            eprintln!("Tesseract is not available: {why}");
            std::process::exit(1);
        }
    };
    println!("loaded {:?}: resident {:.1} MiB", tesseract.loaded(), status_mib("VmRSS"));
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
        let before = status_mib("VmRSS");
        let input = Input { filename: &path, declared_type: None, sha256: None, bytes: &bytes };
        let context = OcrContext { recognizer: Some(&tesseract), unavailable: "", max_pages: 100 };
        let report = engine::analyze_with(&input, &Options::default(), context);
        let words = report.as_ref().map(|report| report.stats.words).unwrap_or(0);
        println!(
            "{path}: {words} words; resident {before:.1} -> {:.1} MiB, high-water mark {:.1} MiB",
            status_mib("VmRSS"),
            status_mib("VmHWM")
        );
    }
}
