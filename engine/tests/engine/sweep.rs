//! Engine tests: a sweep over the real documents of `../shared/corpus`
//! (beside the repository): every file gives a report or a typed error, never
//! a panic, and the detected format agrees with `manifest.json`. Without the
//! corpus the sweep says plainly that it did not run.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;

use crate::analyze;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
}

/// The formats a manifest `format_guess` may be reported as.
fn expected_formats(guess: &str, ext: &str) -> &'static [&'static str] {
    match guess {
        "txt" | "srt" => &["text"],
        "tsv" => &["csv"],
        "fb2" => &["xml"],
        // Mail is text with headers; a body that is an HTML page may be sniffed so.
        "eml" => &["text", "html"],
        "cgm" | "zip" => &["binary"],
        // Word 97-2003 is read as the format that replaced it.
        "doc" => &["docx"],
        // An empty file is whatever its extension says.
        "empty" => match ext {
            "json" => &["json"],
            "xml" => &["xml"],
            _ => &["text"],
        },
        "pdf" => &["pdf"],
        "docx" => &["docx"],
        "xlsx" => &["xlsx"],
        "pptx" => &["pptx"],
        "odt" => &["odt"],
        "epub" => &["epub"],
        "html" => &["html"],
        "xml" => &["xml"],
        "markdown" => &["markdown"],
        "csv" => &["csv"],
        "json" => &["json"],
        "rtf" => &["rtf"],
        _ => &[],
    }
}

#[test]
fn corpus_sweep_reports_every_document_with_the_right_format() {
    let dir = corpus_dir();
    let Ok(manifest) = std::fs::read_to_string(dir.join("manifest.json")) else {
        loud!("corpus sweep DID NOT RUN: {} is absent", dir.display());
        return;
    };
    let manifest: Vec<Value> = serde_json::from_str(&manifest).expect("manifest.json parses");
    let mut mismatches = Vec::new();
    let mut errors = Vec::new();
    let started = Instant::now();
    for entry in &manifest {
        let path = entry["path"].as_str().unwrap();
        let guess = entry["format_guess"].as_str().unwrap_or("");
        let ext = entry["ext_format"].as_str().unwrap_or("");
        let bytes = std::fs::read(dir.join(path)).unwrap_or_else(|err| panic!("{path}: {err}"));
        let filename = path.rsplit('/').next().unwrap();
        match analyze(filename, &bytes) {
            Ok(report) => {
                assert_eq!(report["size"], bytes.len(), "{path}");
                assert_eq!(report["sha256"], entry["sha256"], "{path}");
                let format = report["format"].as_str().unwrap_or("").to_owned();
                let expected = expected_formats(guess, ext);
                if !expected.contains(&format.as_str()) {
                    mismatches.push(format!("{path}: {format}, expected one of {expected:?}"));
                }
            }
            Err(message) => errors.push(format!("{path}: {message}")),
        }
    }
    println!(
        "corpus sweep: {} documents in {:.2}s, {} typed errors, {} format mismatches",
        manifest.len(),
        started.elapsed().as_secs_f64(),
        errors.len(),
        mismatches.len()
    );
    for error in &errors {
        println!("  error: {error}");
    }
    assert!(mismatches.is_empty(), "format disagreements with manifest.json:\n{}", mismatches.join("\n"));
    // Real documents from public test suites are mostly valid; a few are
    // deliberately broken, and those may fail with a typed error.
    assert!(errors.len() * 10 <= manifest.len(), "too many failures:\n{}", errors.join("\n"));
}
