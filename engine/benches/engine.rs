//! Engine throughput, per format, one core: `cargo bench -p docmill-worker
//! --bench engine`. Synthetic English prose always runs; the per-format part
//! runs over `../shared/corpus` when it exists and says so when it does not.
//! Figures are medians of several rounds; timings are reported, never asserted.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use docmill_engine::Options;
use docmill_engine::{self as engine, Input};

const ROUNDS: usize = 5;
/// Each round analyses its documents for at least this long.
const ROUND_TIME: Duration = Duration::from_millis(400);

#[path = "support/prose.rs"]
mod prose;
use prose::prose;

/// Median MB/s and documents/s of analysing `docs` repeatedly.
fn measure(docs: &[(String, Vec<u8>)]) -> (f64, f64) {
    let mut rates = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let (mut bytes, mut count) = (0usize, 0usize);
        while started.elapsed() < ROUND_TIME {
            for (name, doc) in docs {
                let input = Input { filename: name, declared_type: None, sha256: None, bytes: doc };
                let _ = engine::analyze(&input, &Options::default());
                bytes += doc.len();
                count += 1;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        rates.push((bytes as f64 / secs / 1e6, count as f64 / secs));
    }
    rates.sort_by(|a, b| a.0.total_cmp(&b.0));
    rates[ROUNDS / 2]
}

fn main() {
    // Parsers that panic on a corpus file are caught inside the engine; keep
    // their messages out of the figures.
    std::panic::set_hook(Box::new(|_| {}));
    engine::warm_up();
    println!("engine throughput, one thread, median of {ROUNDS} rounds");
    for size in [1 << 10, 64 << 10, 8 << 20] {
        let (mb, docs) = measure(&[("prose.txt".into(), prose(size))]);
        println!("  English prose {:>7} KiB: {mb:8.1} MB/s {docs:10.1} docs/s", size >> 10);
    }
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let Ok(manifest) = std::fs::read_to_string(corpus.join("manifest.json")) else {
        println!("  corpus part DID NOT RUN: {} is absent", corpus.display());
        return;
    };
    let manifest: Vec<serde_json::Value> = serde_json::from_str(&manifest).expect("manifest.json parses");
    let mut by_format: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for entry in &manifest {
        let path = entry["path"].as_str().unwrap_or_default();
        let Ok(bytes) = std::fs::read(corpus.join(path)) else { continue };
        let name = path.rsplit('/').next().unwrap_or(path).to_owned();
        by_format.entry(entry["format_guess"].as_str().unwrap_or("?").to_owned()).or_default().push((name, bytes));
    }
    println!("  corpus ({} files), by manifest format:", manifest.len());
    for (format, docs) in &by_format {
        let total: usize = docs.iter().map(|(_, d)| d.len()).sum();
        let (mb, rate) = measure(docs);
        println!("  {format:>9}: {:>3} files {:>8} KiB  {mb:8.2} MB/s {rate:10.1} docs/s", docs.len(), total >> 10);
    }
}
