//! OCR through the real Tesseract: pages of text rendered by
//! `tests/render_text.py` (Pillow) are read by the engine with the worker's
//! Tesseract binding, and the words read are compared with the words drawn.
//! Every test skips with a loud message when Tesseract or Pillow is missing;
//! `.ci/run` installs both.

/// Says on the terminal that a check did not run. libtest captures what a
/// passing test prints with `println!` and `eprintln!`, so a skip reported
/// that way is never seen; a write to stderr itself is not captured.
macro_rules! loud {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use docmill_engine::{self as engine, Input, OcrContext, OcrLanguages, OcrMode, Options};
use docmill_worker::ocr::{self, Tesseract};
use serde_json::Value;

/// Word F1 every reading must reach against the text drawn.
const MIN_F1: f64 = 0.95;

struct Fixtures {
    dir: PathBuf,
    texts: HashMap<String, String>,
    _keep: tempfile::TempDir,
}

/// The rendered fixtures, once per test binary; `None` (after a loud
/// message) when Pillow is missing.
fn fixtures() -> Option<&'static Fixtures> {
    static FIXTURES: OnceLock<Option<Fixtures>> = OnceLock::new();
    FIXTURES
        .get_or_init(|| {
            let keep = tempfile::tempdir().unwrap();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/render_text.py");
            let rendered = std::process::Command::new("python3").arg(&script).arg(keep.path()).output();
            match rendered {
                Ok(out) if out.status.success() => {}
                Ok(out) => {
                    loud!(
                        "SKIPPED: OCR fixtures not rendered (python3 with Pillow and the DejaVu/Liberation fonts \
                         are needed; .ci/run installs them): {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    return None;
                }
                Err(err) => {
                    loud!("SKIPPED: OCR fixtures not rendered: python3: {err}");
                    return None;
                }
            }
            let manifest = std::fs::read_to_string(keep.path().join("manifest.json")).unwrap();
            let texts = serde_json::from_str(&manifest).unwrap();
            Some(Fixtures { dir: keep.path().to_owned(), texts, _keep: keep })
        })
        .as_ref()
}

thread_local! {
    /// Tesseract is not `Send`: one per test thread, loaded once.
    static TESSERACT: OnceLock<Result<&'static Tesseract, String>> = const { OnceLock::new() };
}

/// Runs `test` with Tesseract and the fixtures, or skips loudly.
fn with_ocr(test: impl FnOnce(&'static Tesseract, &'static Fixtures)) {
    let Some(fixtures) = fixtures() else { return };
    let tesseract = TESSERACT.with(|cell| {
        cell.get_or_init(|| ocr::init(&OcrLanguages::parse("eng").unwrap()).map(|t| &*Box::leak(Box::new(t)))).clone()
    });
    match tesseract {
        Ok(tesseract) => test(tesseract, fixtures),
        Err(why) => {
            loud!("SKIPPED: Tesseract is not installed ({why}); apt-get install tesseract-ocr tesseract-ocr-eng")
        }
    }
}

fn options(mode: Option<OcrMode>, languages: Option<&str>) -> Options {
    Options {
        include_text: true,
        ocr: mode,
        ocr_languages: languages.map(|l| OcrLanguages::parse(l).unwrap()),
        ..Options::default()
    }
}

/// The report for fixture `name`, as JSON.
fn analyze(recognizer: Option<&Tesseract>, fixtures: &Fixtures, name: &str, options: &Options) -> Value {
    let bytes = std::fs::read(fixtures.dir.join(name)).unwrap();
    let input = Input { filename: name, declared_type: None, sha256: None, bytes: &bytes };
    let context = OcrContext {
        recognizer: recognizer.map(|t| t as &dyn engine::Recognizer),
        unavailable: "test without OCR",
        max_pages: 10,
    };
    let report = engine::analyze_with(&input, options, context).unwrap_or_else(|err| panic!("{name}: {err}"));
    serde_json::to_value(report).unwrap()
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word F1 of `read` against `truth`, counting repeated words.
fn f1(read: &str, truth: &str) -> f64 {
    let (read, truth) = (words(read), words(truth));
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for w in &truth {
        *counts.entry(w).or_default() += 1;
    }
    let mut hits = 0;
    for w in &read {
        if let Some(n) = counts.get_mut(w.as_str()) {
            if *n > 0 {
                *n -= 1;
                hits += 1;
            }
        }
    }
    if read.is_empty() || truth.is_empty() {
        return if read.is_empty() && truth.is_empty() { 1.0 } else { 0.0 };
    }
    let (precision, recall) = (hits as f64 / read.len() as f64, hits as f64 / truth.len() as f64);
    if hits == 0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

/// Reads `name` and checks its words against the text drawn on it.
fn check_reading(tesseract: &Tesseract, fixtures: &Fixtures, name: &str) -> Value {
    let report = analyze(Some(tesseract), fixtures, name, &options(None, None));
    let text = report["text"].as_str().unwrap_or_default();
    let score = f1(text, &fixtures.texts[name]);
    assert!(score >= MIN_F1, "{name}: word F1 {score:.3} < {MIN_F1}; read:\n{text}\nreport: {report:#}");
    let ocr = &report["metadata"]["ocr"];
    assert!(ocr["engine"].as_str().unwrap().starts_with("tesseract 5"), "{report:#}");
    assert_eq!(ocr["languages"], serde_json::json!(["eng"]));
    assert!(ocr["mean_confidence"].as_f64().unwrap() > 80.0, "{name}: {ocr}");
    report
}

#[test]
fn typed_text_in_several_fonts_is_read_from_png_and_jpeg() {
    with_ocr(|tesseract, fixtures| {
        for name in
            ["upright-sans.png", "upright-serif.png", "upright-mono.png", "upright-liberation.png", "upright-serif.jpg"]
        {
            let report = check_reading(tesseract, fixtures, name);
            assert_eq!(report["format"], "image");
            assert_eq!(report["metadata"]["width"], 2000);
            assert_eq!(report["metadata"]["ocr"]["pages"], 1);
            assert!(report["metadata"].get("pages").is_none(), "{name}: a single image has no page count");
            assert!(report["metadata"]["ocr"].get("rotated_pages").is_none(), "{name}: upright");
            assert_eq!(report["language"]["code"], "en");
        }
    });
}

#[test]
fn pages_scanned_at_90_180_and_270_degrees_are_read_upright() {
    with_ocr(|tesseract, fixtures| {
        for name in ["rotated-90.png", "rotated-180.png", "rotated-270.png", "rotated-90.jpg"] {
            let report = check_reading(tesseract, fixtures, name);
            // Tesseract reads lines turned 90 degrees by itself; pages
            // upside down or turned 270 degrees are turned by docmill.
            if !name.starts_with("rotated-90") {
                assert_eq!(report["metadata"]["ocr"]["rotated_pages"], serde_json::json!([1]), "{name}");
            }
        }
    });
}

#[test]
fn a_scanned_pdf_page_upside_down_is_read_upright() {
    with_ocr(|tesseract, fixtures| {
        // The page image is decoded on the PDF reader's thread and read on
        // the session's; turning it needs the image decoded a second time.
        let report = check_reading(tesseract, fixtures, "rotated-180.pdf");
        assert_eq!(report["format"], "pdf");
        assert_eq!(report["metadata"]["ocr"]["rotated_pages"], serde_json::json!([1]), "{report:#}");
    });
}

#[test]
fn a_multi_page_tiff_is_read_page_by_page() {
    with_ocr(|tesseract, fixtures| {
        let report = check_reading(tesseract, fixtures, "three-pages.tiff");
        assert_eq!(report["media_type"], "image/tiff");
        assert_eq!(report["metadata"]["pages"], 3);
        assert_eq!(report["metadata"]["ocr"]["pages"], 3);
    });
}

#[test]
fn a_multi_page_tiff_has_page_spans_and_pages_selects_among_them() {
    with_ocr(|tesseract, fixtures| {
        let all = analyze(Some(tesseract), fixtures, "three-pages.tiff", &options(None, None));
        let spans = all["pages"].as_array().unwrap();
        assert_eq!(spans.iter().map(|page| page["number"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
        let text: Vec<char> = all["text"].as_str().unwrap().chars().collect();
        let page = |n: usize| -> String {
            let (start, end) =
                (spans[n]["start"].as_u64().unwrap() as usize, spans[n]["end"].as_u64().unwrap() as usize);
            text[start..end].iter().collect()
        };
        let second = page(1);
        assert!(!second.trim().is_empty() && !page(0).contains(second.trim()), "{all:#}");

        let selected =
            Options { pages: Some(docmill_engine::PageSelection::parse("2").unwrap()), ..options(None, None) };
        let report = analyze(Some(tesseract), fixtures, "three-pages.tiff", &selected);
        assert_eq!(report["metadata"]["ocr"]["pages"], 1, "only page 2 is read");
        assert_eq!(report["metadata"]["pages"], 3);
        assert_eq!(report["text"].as_str().unwrap().trim(), second.trim());
        assert_eq!(report["pages"][0]["number"], 2);
        // A page past the end is the same 400 as for a PDF.
        let beyond = Options { pages: Some(docmill_engine::PageSelection::parse("4").unwrap()), ..options(None, None) };
        let bytes = std::fs::read(fixtures.dir.join("three-pages.tiff")).unwrap();
        let input = Input { filename: "three-pages.tiff", declared_type: None, sha256: None, bytes: &bytes };
        let context = OcrContext { recognizer: Some(tesseract), unavailable: "", max_pages: 10 };
        let err = engine::analyze_with(&input, &beyond, context).unwrap_err();
        assert!(err.to_string().contains("the document has 3 pages"), "{err}");
    });
}

#[test]
fn a_scanned_pdf_is_read_from_its_page_images() {
    with_ocr(|tesseract, fixtures| {
        // JPEG page images, and a CCITT Group 4 bilevel one.
        for name in ["scanned.pdf", "scanned-bilevel.pdf"] {
            let report = check_reading(tesseract, fixtures, name);
            assert_eq!(report["format"], "pdf");
            assert_eq!(report["metadata"]["ocr"]["pages"], report["metadata"]["pages"], "{name}");
            let warnings = report["warnings"].as_array().unwrap();
            assert!(warnings.iter().all(|w| !w.as_str().unwrap().contains("no text")), "{name}: {warnings:?}");
        }
    });
}

#[test]
fn a_photo_without_text_yields_no_invented_words() {
    with_ocr(|tesseract, fixtures| {
        let report = analyze(Some(tesseract), fixtures, "photo.jpg", &options(None, None));
        assert_eq!(report["format"], "image");
        assert_eq!(report["text"], "", "{report:#}");
        assert_eq!(report["stats"]["words"], 0);
        assert_eq!(report["metadata"]["ocr"]["pages"], 1, "OCR did run");
    });
}

#[test]
fn a_pdf_page_that_is_a_photo_says_ocr_found_no_text_on_it() {
    with_ocr(|tesseract, fixtures| {
        let report = analyze(Some(tesseract), fixtures, "photo.pdf", &options(None, None));
        assert_eq!(report["format"], "pdf");
        assert_eq!(report["stats"]["words"], 0, "{report:#}");
        assert_eq!(report["metadata"]["ocr"]["pages"], 1, "OCR did run");
        assert_eq!(report["metadata"]["pages_without_text"], 1);
        let warnings: Vec<&str> = report["warnings"].as_array().unwrap().iter().filter_map(|w| w.as_str()).collect();
        assert!(warnings.iter().any(|w| w.contains("OCR found no text")), "{warnings:?}");
        // Not told to run OCR when it already ran.
        assert!(!warnings.iter().any(|w| w.contains("OCR is needed")), "{warnings:?}");
    });
}

#[test]
fn ocr_off_reads_nothing_and_says_so() {
    with_ocr(|tesseract, fixtures| {
        for name in ["upright-sans.png", "scanned.pdf"] {
            let report = analyze(Some(tesseract), fixtures, name, &options(Some(OcrMode::Off), None));
            assert!(report["metadata"].get("ocr").is_none(), "{name}: {report:#}");
            assert_eq!(report["stats"]["words"], 0, "{name}");
            let warnings = report["warnings"].to_string();
            assert!(warnings.contains("OCR is off"), "{name}: {warnings}");
        }
    });
}

#[test]
fn without_tesseract_an_image_gets_a_warning_saying_how_to_enable_ocr() {
    // No recognizer: the path a machine without libtesseract takes.
    let Some(fixtures) = fixtures() else { return };
    let report = analyze(None, fixtures, "upright-sans.png", &options(None, None));
    assert_eq!(report["format"], "image");
    assert_eq!(report["metadata"]["width"], 2000);
    assert!(report["metadata"].get("ocr").is_none());
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let warning = warnings[0].as_str().unwrap();
    assert!(warning.starts_with("OCR unavailable (test without OCR)"), "{warning}");
    assert!(warning.contains("apt-get install tesseract-ocr tesseract-ocr-eng"), "{warning}");
    // A library that is not there is reported the same way by the loader.
    let loaded = ocr::init_from("/nonexistent/libtesseract.so.5", &OcrLanguages::default(), 0);
    let err = loaded.err().expect("a missing library does not load");
    assert!(err.contains("/nonexistent/libtesseract.so.5"), "{err}");
}

#[test]
fn a_language_without_traineddata_is_a_warning_naming_its_package() {
    with_ocr(|tesseract, fixtures| {
        let report = analyze(Some(tesseract), fixtures, "upright-sans.png", &options(None, Some("eng+xyz")));
        assert!(report["metadata"].get("ocr").is_none());
        let warnings = report["warnings"].to_string();
        assert!(warnings.contains("OCR unavailable for xyz"), "{warnings}");
        assert!(warnings.contains("apt-get install tesseract-ocr-xyz"), "{warnings}");
    });
}

#[test]
fn german_is_read_with_ocr_lang_deu() {
    with_ocr(|tesseract, fixtures| {
        if !engine::Recognizer::languages(tesseract).iter().any(|l| l == "deu") {
            loud!("SKIPPED: tesseract-ocr-deu is not installed");
            return;
        }
        let report = analyze(Some(tesseract), fixtures, "german.png", &options(None, Some("deu")));
        let text = report["text"].as_str().unwrap();
        let score = f1(text, &fixtures.texts["german.png"]);
        assert!(score >= MIN_F1, "F1 {score:.3}: {text}");
        assert!(text.contains("großen") && text.contains("nächsten"), "{text}");
        assert_eq!(report["metadata"]["ocr"]["languages"], serde_json::json!(["deu"]));
        assert_eq!(report["language"]["code"], "de");
    });
}

#[test]
fn a_language_installed_but_not_loaded_at_start_is_a_warning_not_a_load() {
    let Some(fixtures) = fixtures() else { return };
    // English only, no single languages beside it: what a service started
    // with more languages installed than it preloads has for the rest.
    let tesseract = match ocr::init_from(ocr::DEFAULT_LIBRARY, &OcrLanguages::parse("eng").unwrap(), 0) {
        Ok(tesseract) => tesseract,
        Err(why) => return loud!("SKIPPED: Tesseract is not installed ({why})"),
    };
    if !engine::Recognizer::languages(&tesseract).iter().any(|l| l == "deu") {
        return loud!("SKIPPED: tesseract-ocr-deu is not installed");
    }
    assert_eq!(tesseract.loaded(), ["eng"]);
    let report = analyze(Some(&tesseract), fixtures, "german.png", &options(None, Some("deu")));
    assert!(report["metadata"].get("ocr").is_none(), "{report:#}");
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("OCR unavailable for deu: installed but not loaded"), "{warnings}");
    assert!(warnings.contains("--ocr-lang deu"), "{warnings}");
}

#[test]
fn a_set_of_languages_loaded_one_by_one_is_read_with_the_most_confident() {
    with_ocr(|tesseract, fixtures| {
        if !engine::Recognizer::languages(tesseract).iter().any(|l| l == "deu") {
            return loud!("SKIPPED: tesseract-ocr-deu is not installed");
        }
        // Loaded at start: eng (the default) and deu alone, not eng+deu.
        assert!(!tesseract.loaded().iter().any(|set| set == "deu+eng" || set == "eng+deu"));
        for (name, language) in [("german.png", "de"), ("upright-sans.png", "en")] {
            let report = analyze(Some(tesseract), fixtures, name, &options(None, Some("deu+eng")));
            let text = report["text"].as_str().unwrap();
            let score = f1(text, &fixtures.texts[name]);
            assert!(score >= MIN_F1, "{name}: F1 {score:.3}: {text}");
            assert_eq!(report["metadata"]["ocr"]["languages"], serde_json::json!(["deu", "eng"]));
            assert_eq!(report["language"]["code"], language, "{name}");
        }
    });
}

#[test]
fn init_opens_the_debug_file_before_any_confinement() {
    with_ocr(|_, _| {
        // Tesseract writes its messages to /dev/null, and opens it on the
        // first one: init must have made that happen already, or a confined
        // worker's first message would be a forbidden open.
        // Opened write-only (`fopen(.., "wb")`), unlike a /dev/null stdin.
        let write_only_dev_null = std::fs::read_dir("/proc/self/fd").unwrap().filter_map(Result::ok).any(|entry| {
            let target = std::fs::read_link(entry.path()).ok();
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy()));
            let flags = info.ok().and_then(|info| {
                let line = info.lines().find(|line| line.starts_with("flags:"))?.to_owned();
                u32::from_str_radix(line["flags:".len()..].trim(), 8).ok()
            });
            target.as_deref() == Some(Path::new("/dev/null")) && flags.is_some_and(|flags| flags & 0o3 == 0o1)
        });
        assert!(write_only_dev_null, "Tesseract's debug file is not open");
    });
}
