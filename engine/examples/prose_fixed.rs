//! A fixed amount of analysis for CPU-time comparisons on a shared machine:
//! `prose_fixed BYTES N` analyses N copies of the bench's synthetic English
//! prose of BYTES bytes. Run it under `perf stat -e task-clock`, whose CPU
//! time other jobs on the machine do not inflate as they do wall time.

use docmill_engine::Options;
use docmill_engine::{self as engine, Input};
#[path = "../benches/support/prose.rs"]
mod prose;
use prose::prose;

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
