//! Engine tests, data-driven: every test states a document (generated in the
//! test) and what its report must say, through [`check`] and friends, the only
//! callers of the engine API, so the API can change in one place.

/// Says on the terminal that a check did not run. libtest captures what a
/// passing test prints with `println!` and `eprintln!`, so a skip reported
/// that way is never seen; a write to stderr itself is not captured.
macro_rules! loud {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod analysis;
mod codepages;
mod containers;
mod detect;
mod entities;
mod fidelity;
mod fuzz;
mod images;
mod keywords;
mod language;
mod legacy_office;
mod markup;
mod ocr;
mod opendocument;
mod pdf;
mod pdf_fixtures;
mod pdf_fonts;
mod pdf_rtf;
mod rtf;
mod structure;
mod structure_office;
mod sweep;
mod text;
mod xlsx;

use docmill_engine::Options;
use docmill_engine::{self as engine, Input};
use serde_json::Value;

/// Analyses `bytes` named `filename`, with the text included, as JSON.
pub fn analyze(filename: &str, bytes: &[u8]) -> Result<Value, String> {
    analyze_with(filename, bytes, Options { include_text: true, ..Options::default() })
}

/// Analyses `bytes` named `filename` with `options`, as JSON.
pub fn analyze_with(filename: &str, bytes: &[u8], options: Options) -> Result<Value, String> {
    let input = Input { filename, declared_type: None, sha256: None, bytes };
    engine::analyze(&input, &options)
        .map(|report| serde_json::to_value(report).expect("report serialises"))
        .map_err(|err| err.to_string())
}

/// Analyses `bytes` named `filename`, text included, with `recognizer` for
/// OCR, as JSON.
pub fn analyze_with_ocr(filename: &str, bytes: &[u8], recognizer: &dyn engine::Recognizer) -> Value {
    let input = Input { filename, declared_type: None, sha256: None, bytes };
    let options = Options { include_text: true, ..Options::default() };
    let context = engine::OcrContext { recognizer: Some(recognizer), unavailable: "", max_pages: 10 };
    let report = engine::analyze_with(&input, &options, context).unwrap_or_else(|err| panic!("{filename}: {err}"));
    serde_json::to_value(report).expect("report serialises")
}

/// Asserts each `(JSON pointer, value)` of the report. A pointer to a missing
/// field compares as `null`.
pub fn check(filename: &str, bytes: &[u8], expected: &[(&str, Value)]) -> Value {
    let report = analyze(filename, bytes).unwrap_or_else(|err| panic!("{filename}: analysis failed: {err}"));
    for (pointer, want) in expected {
        let got = report.pointer(pointer).unwrap_or(&Value::Null);
        assert_eq!(got, want, "{filename}: {pointer} in report:\n{report:#}");
    }
    report
}

/// Asserts that the extracted text contains every one of `needles`.
pub fn check_text(filename: &str, bytes: &[u8], needles: &[&str]) -> Value {
    let report = check(filename, bytes, &[]);
    let text = report["text"].as_str().unwrap_or_default();
    for needle in needles {
        assert!(text.contains(needle), "{filename}: text lacks {needle:?}:\n{text}");
    }
    report
}

/// Asserts that the document fails with a `parse_failed` whose message contains `needle`.
pub fn check_error(filename: &str, bytes: &[u8], needle: &str) {
    match analyze(filename, bytes) {
        Ok(report) => panic!("{filename}: expected an error containing {needle:?}, got a report:\n{report:#}"),
        Err(message) => assert!(message.contains(needle), "{filename}: error {message:?} lacks {needle:?}"),
    }
}
