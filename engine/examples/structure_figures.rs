//! Figures for BENCHMARKS.md on the Markdown and chunks: heading recall on
//! PDFs that carry an outline (bookmarks), against that outline, with the
//! outline removed from the file first so that only the font-size detection
//! is measured (the PDFs of the directory given as the first argument, e.g.
//! the ones `bench/outlined_pdfs.py` writes, else those of
//! `../shared/corpus`); and what `markdown=true` (and `chunks=512`) cost over
//! plain analysis, as the ratio of median times per document over the whole
//! corpus (left out with `--no-cost`). A measuring tool, not a test:
//! `python3 bench/outlined_pdfs.py /tmp/docmill-outlined &&
//! DOCMILL_CORPUS=../shared/corpus cargo run --release -p docmill-engine --example structure_figures -- /tmp/docmill-outlined`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use docmill_engine::{self as engine, ChunkOptions, Input, Options};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn normalised(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// The PDF without its outline, and the outline's titles.
fn without_outline(bytes: &[u8]) -> Option<(Vec<u8>, Vec<String>)> {
    let mut document = pdf_extract::Document::load_mem(bytes).ok()?;
    let toc = document.get_toc().ok()?;
    let titles: Vec<String> = toc.toc.iter().map(|entry| normalised(&entry.title)).filter(|t| !t.is_empty()).collect();
    if titles.is_empty() {
        return None;
    }
    let root = document.trailer.get(b"Root").ok()?.as_reference().ok()?;
    document.get_object_mut(root).ok()?.as_dict_mut().ok()?.remove(b"Outlines");
    let mut stripped = Vec::new();
    document.save_to(&mut stripped).ok()?;
    Some((stripped, titles))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let corpus = std::env::var_os("DOCMILL_CORPUS").map_or_else(|| PathBuf::from("../shared/corpus"), PathBuf::from);
    if !corpus.is_dir() {
        eprintln!("{} is absent: the corpus is not measured", corpus.display());
    }
    let mut paths = Vec::new();
    files(&corpus, &mut paths);
    paths.sort();
    let markdown = Options { markdown: true, ..Options::default() };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let no_cost = args.iter().any(|a| a == "--no-cost");
    let (outlined_dir, outlined) = match args.iter().find(|a| !a.starts_with("--")) {
        Some(dir) => {
            let mut found = Vec::new();
            files(Path::new(dir), &mut found);
            found.sort();
            (PathBuf::from(dir), found)
        }
        None => (corpus.clone(), paths.clone()),
    };

    // Heading recall against each PDF's own outline.
    let (mut outline_total, mut found, mut detected, mut detected_in_outline, mut documents) = (0, 0, 0, 0, 0);
    let mut wrong = Vec::new();
    for path in outlined.iter().filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf"))) {
        let Ok(bytes) = std::fs::read(path) else { continue };
        let Some((stripped, titles)) = without_outline(&bytes) else { continue };
        let input = Input { filename: "a.pdf", declared_type: None, sha256: None, bytes: &stripped };
        let Ok(report) = engine::analyze(&input, &markdown) else { continue };
        let headings: Vec<String> = report
            .markdown
            .unwrap_or_default()
            .lines()
            .filter(|line| line.starts_with('#'))
            .map(|line| normalised(line.trim_start_matches('#')).replace('\\', ""))
            .collect();
        let hits = titles.iter().filter(|title| headings.contains(title)).count();
        let in_outline = headings.iter().filter(|heading| titles.contains(heading)).count();
        let name = path.strip_prefix(&outlined_dir).unwrap_or(path).display().to_string();
        wrong.extend(headings.iter().filter(|h| !titles.contains(h)).map(|h| format!("{name}: {h}")));
        println!(
            "{}: outline {} entries, {} found as headings; {} headings detected, {} of them in the outline",
            name,
            titles.len(),
            hits,
            headings.len(),
            in_outline
        );
        documents += 1;
        outline_total += titles.len();
        found += hits;
        detected += headings.len();
        detected_in_outline += in_outline;
    }
    println!(
        "heading recall (size only, outline removed): {found}/{outline_total} = {:.2} over {documents} PDFs; \
         detected headings in the outline: {detected_in_outline}/{detected} = {:.2}",
        found as f64 / outline_total.max(1) as f64,
        detected_in_outline as f64 / detected.max(1) as f64
    );
    for heading in &wrong {
        println!("  detected, not in the outline: {heading}");
    }
    if no_cost {
        return;
    }

    // Cost: each document analysed plain, with markdown, with markdown and
    // chunks, interleaved, five rounds; medians per document, then the
    // ratio of the summed medians.
    let chunked =
        Options { markdown: true, chunks: Some(ChunkOptions { size: 512, overlap: 0 }), ..Options::default() };
    let variants = [Options::default(), markdown, chunked];
    let mut totals = [0.0f64; 3];
    let mut count = 0;
    for path in &paths {
        let Ok(bytes) = std::fs::read(path) else { continue };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("document");
        let input = Input { filename: name, declared_type: None, sha256: None, bytes: &bytes };
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..5 {
            for (i, options) in variants.iter().enumerate() {
                let started = Instant::now();
                let _ = engine::analyze(&input, options);
                times[i].push(started.elapsed().as_secs_f64());
            }
        }
        for (i, samples) in times.iter_mut().enumerate() {
            totals[i] += median(samples);
        }
        count += 1;
    }
    println!(
        "cost over {count} documents (sum of per-document medians): plain {:.3}s, markdown {:.3}s ({:+.1}%), \
         markdown+chunks=512 {:.3}s ({:+.1}%)",
        totals[0],
        totals[1],
        (totals[1] / totals[0] - 1.0) * 100.0,
        totals[2],
        (totals[2] / totals[0] - 1.0) * 100.0
    );
}
