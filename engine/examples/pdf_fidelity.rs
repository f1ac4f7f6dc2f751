//! Text fidelity of the PDF extractor against poppler's `pdftotext`: word-level
//! F1 (bags of lowercase words; a character a word in scripts written without
//! spaces) for every PDF of `../shared/corpus`, then the
//! median and the worst cases, and how the paragraph counts compare (the
//! median of ours over pdftotext's, blocks between blank lines). A measuring tool, not a test:
//! `cargo run --release -p docmill-engine --example pdf_fidelity`
//! (`DOCMILL_CORPUS=DIR` reads another corpus; `DOCMILL_PDF_DIR=DIR` reads
//! every `*.pdf` of a folder instead, such as the set `bench/pdf_producers.py` writes;
//! `DOCMILL_DUMP=DIR` writes both readings of each file there, to compare, with
//! docmill's warnings or error).
//! `pdftotext` (Debian's poppler-utils) is only a reference here, never a
//! runtime dependency of docmill.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use docmill_engine::Options;
use docmill_engine::{self as engine, Input};

/// Whether `c` belongs to a script written without spaces between words
/// (Han, kana, Thai, Lao, Khmer, Burmese): each such character counts as a
/// word of its own, so that a line break in another place does not make a
/// whole line of Chinese one wrong word.
fn unspaced(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF | 0x1000..=0x109F | 0x1780..=0x17FF | 0x2E80..=0x2FDF | 0x3040..=0x30FF
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF)
}

fn words(text: &str) -> HashMap<String, usize> {
    let mut bag = HashMap::new();
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let mut rest = String::new();
        for c in word.chars() {
            if unspaced(c) {
                *bag.entry(c.to_string()).or_insert(0) += 1;
            } else {
                rest.extend(c.to_lowercase());
                continue;
            }
            if !rest.is_empty() {
                *bag.entry(std::mem::take(&mut rest)).or_insert(0) += 1;
            }
        }
        if !rest.is_empty() {
            *bag.entry(rest).or_insert(0) += 1;
        }
    }
    bag
}

fn f1(ours: &str, reference: &str) -> f64 {
    let (a, b) = (words(ours), words(reference));
    let (total_a, total_b): (usize, usize) = (a.values().sum(), b.values().sum());
    if total_a == 0 && total_b == 0 {
        return 1.0;
    }
    let common: usize = a.iter().map(|(w, n)| (*n).min(*b.get(w).unwrap_or(&0))).sum();
    if common == 0 {
        return 0.0;
    }
    let precision = common as f64 / total_a as f64;
    let recall = common as f64 / total_b as f64;
    2.0 * precision * recall / (precision + recall)
}

/// The PDFs to read, with their labels: every `*.pdf` of `DOCMILL_PDF_DIR`,
/// or the PDFs of the corpus manifest (`../shared/corpus` beside the
/// repository, or where `DOCMILL_CORPUS` says).
fn pdf_files() -> Option<Vec<(PathBuf, String)>> {
    if let Some(dir) = std::env::var_os("DOCMILL_PDF_DIR").map(PathBuf::from) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            println!("DID NOT RUN: {} is absent", dir.display());
            return None;
        };
        let mut files: Vec<(PathBuf, String)> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "pdf"))
            .map(|path| {
                let label = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                (path, label)
            })
            .collect();
        files.sort();
        return Some(files);
    }
    let corpus = std::env::var_os("DOCMILL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    let Ok(manifest) = std::fs::read_to_string(corpus.join("manifest.json")) else {
        println!("DID NOT RUN: {} is absent", corpus.display());
        return None;
    };
    let manifest: Vec<serde_json::Value> = serde_json::from_str(&manifest).expect("manifest.json parses");
    let files = manifest
        .iter()
        .filter(|entry| entry["format_guess"] == "pdf")
        .map(|entry| {
            let label = entry["path"].as_str().unwrap_or_default().to_owned();
            (corpus.join(&label), label)
        })
        .collect();
    Some(files)
}

/// Blocks of text between blank lines.
fn paragraphs(text: &str) -> usize {
    let mut count = 0;
    let mut inside = false;
    for line in text.lines() {
        let blank = line.trim().is_empty();
        if !blank && !inside {
            count += 1;
        }
        inside = !blank;
    }
    count
}

fn main() {
    std::panic::set_hook(Box::new(|_| {}));
    let Some(files) = pdf_files() else { return };
    if Command::new("pdftotext").arg("-v").output().is_err() {
        println!("DID NOT RUN: pdftotext is not installed (apt-get install poppler-utils)");
        return;
    }
    let mut scores = Vec::new();
    let mut paragraph_ratios = Vec::new();
    let (mut our_time, mut their_time, mut total_bytes) = (std::time::Duration::ZERO, std::time::Duration::ZERO, 0);
    for (path, label) in files {
        let bytes = std::fs::read(&path).expect("corpus file");
        let input = Input { filename: "doc.pdf", declared_type: None, sha256: None, bytes: &bytes };
        let started = std::time::Instant::now();
        let report = engine::analyze(&input, &Options { include_text: true, ..Options::default() });
        our_time += started.elapsed();
        let warnings = match &report {
            Ok(report) => report.warnings.join("\n"),
            Err(err) => err.to_string(),
        };
        let ours = report.ok().and_then(|r| r.text);
        let started = std::time::Instant::now();
        let reference = Command::new("pdftotext").args(["-enc", "UTF-8"]).arg(&path).arg("-").output();
        their_time += started.elapsed();
        total_bytes += bytes.len();
        let reference =
            reference.ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        if let Some(dump) = std::env::var_os("DOCMILL_DUMP").map(PathBuf::from) {
            let name = label.replace('/', "_");
            let _ = std::fs::write(dump.join(format!("{name}.ours.txt")), ours.as_deref().unwrap_or_default());
            let _ = std::fs::write(dump.join(format!("{name}.poppler.txt")), reference.as_deref().unwrap_or_default());
            let _ = std::fs::write(dump.join(format!("{name}.warnings.txt")), &warnings);
        }
        match (ours, reference) {
            // Nothing to compare with: poppler reads no words at all.
            (ours, Some(reference)) if words(&reference).is_empty() => {
                let ours = ours.map_or(0, |text| words(&text).values().sum::<usize>());
                println!("skip   {label} (pdftotext reads no words; docmill {ours})");
            }
            (Some(ours), Some(reference)) => {
                let score = f1(&ours, &reference);
                let (mine, theirs) = (paragraphs(&ours), paragraphs(&reference.replace('\x0c', "\n\n")));
                if theirs > 0 {
                    paragraph_ratios.push(mine as f64 / theirs as f64);
                }
                println!("{score:.3}  {label}  paragraphs {mine} vs {theirs}");
                scores.push((score, label));
            }
            (None, Some(_)) => {
                println!("error  {label} (docmill: parse_failed; pdftotext read it)");
                scores.push((0.0, label));
            }
            (_, None) => println!("skip   {label} (pdftotext cannot read it either)"),
        }
    }
    scores.sort_by(|a, b| a.0.total_cmp(&b.0));
    if scores.is_empty() {
        return;
    }
    let median = scores[scores.len() / 2].0;
    let mean = scores.iter().map(|s| s.0).sum::<f64>() / scores.len() as f64;
    println!("\n{} PDFs: median F1 {median:.3}, mean {mean:.3}", scores.len());
    let rate = |time: std::time::Duration| total_bytes as f64 / 1e6 / time.as_secs_f64();
    println!(
        "{:.1} MB: docmill {:.2} s ({:.1} MB/s, whole analysis), pdftotext {:.2} s ({:.1} MB/s, one process a file)",
        total_bytes as f64 / 1e6,
        our_time.as_secs_f64(),
        rate(our_time),
        their_time.as_secs_f64(),
        rate(their_time)
    );
    paragraph_ratios.sort_by(f64::total_cmp);
    if let Some(ratio) = paragraph_ratios.get(paragraph_ratios.len() / 2) {
        println!("paragraphs, ours over pdftotext's: median {ratio:.2}");
    }
    println!("worst:");
    for (score, label) in scores.iter().take(5) {
        println!("  {score:.3}  {label}");
    }
}
