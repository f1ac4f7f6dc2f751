//! A fixed amount of analysis for CPU-time comparisons on a shared machine:
//! `prose_fixed BYTES N` analyses N copies of the bench's synthetic English
//! prose of BYTES bytes. Run it under `perf stat -e task-clock`, whose CPU
//! time other jobs on the machine do not inflate as they do wall time.

use docmill_engine::Options;
use docmill_engine::{self as engine, Input};
fn prose(bytes: usize) -> Vec<u8> {
    let sentences = [
        "The committee reviewed the quarterly figures and approved the budget for next year.",
        "Several members asked whether the new warehouse would be finished before the winter.",
        "Engineers reported that the bridge inspection found no structural problems at all.",
        "A local bakery donated bread to the shelter, and volunteers delivered it on Sunday.",
        "Researchers published a study on river pollution that drew attention across the region.",
    ];
    let mut text = String::with_capacity(bytes + 128);
    let mut i = 0usize;
    while text.len() < bytes {
        text.push_str(sentences[i % sentences.len()]);
        text.push(if i % 7 == 6 { '\n' } else { ' ' });
        i = i.wrapping_mul(31).wrapping_add(17) % 1000;
    }
    text.into_bytes()
}
fn main() {
    engine::warm_up();
    let usage = "usage: prose_fixed BYTES N";
    let size: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).expect(usage);
    let n: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).expect(usage);
    let doc = prose(size);
    let t = std::time::Instant::now();
    for _ in 0..n {
        let input = Input { filename: "prose.txt", declared_type: None, sha256: None, bytes: &doc };
        let _ = engine::analyze(&input, &Options::default());
    }
    eprintln!("{:.1} MB/s wall", (size * n) as f64 / t.elapsed().as_secs_f64() / 1e6);
}
