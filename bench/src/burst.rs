//! Goodput under a burst, for one or more builds of docmill in one run:
//! reports/s of 16 clients that retry a 503 at once against what 4 polite
//! clients (who wait for `Retry-After`) get, with the default queue and with
//! a queue of 8 (4 x workers, so that refusals happen and their cost shows).
//!
//! Run: `docmill-bench burst "BINARY [SERVE FLAG...]"...`. The servers are measured in
//! alternating rounds, so each sees the same machine; medians are printed.

use std::path::PathBuf;

use crate::suite::{median, multipart, prose, run_round, start_docmill, Manners};

/// Rounds per figure; the median is reported.
const ROUNDS: usize = 5;

/// The old default queue of a 2-worker server (4 x workers): small enough
/// that 16 clients overflow it.
const SMALL_QUEUE: &str = "8";

pub fn run(binaries: &[PathBuf]) {
    let small = vec![(multipart("doc.txt", &prose(1024)), 1024)];
    let servers: Vec<_> = binaries
        .iter()
        .map(|spec| {
            // A binary, optionally followed by `serve` flags.
            let spec = spec.to_string_lossy();
            let mut words = spec.split_whitespace();
            let binary = PathBuf::from(words.next().expect("a binary"));
            let flags: Vec<&str> = words.collect();
            let small_queue: Vec<&str> = flags.iter().copied().chain(["--queue", SMALL_QUEUE]).collect();
            (start_docmill(&binary, &flags), start_docmill(&binary, &small_queue))
        })
        .collect();
    // Per binary: polite, burst (default queue), burst (small queue), and
    // the burst's answers of any kind per second with the small queue.
    let mut figures = vec![[Vec::new(), Vec::new(), Vec::new(), Vec::new()]; binaries.len()];
    for round in 0..ROUNDS {
        for (i, (default_queue, small_queue)) in servers.iter().enumerate() {
            eprintln!("round {round}: {}", binaries[i].display());
            figures[i][0].push(run_round(&default_queue.addr, &small, 4, Manners::Polite).reports_per_s);
            figures[i][1].push(run_round(&default_queue.addr, &small, 16, Manners::Impatient).reports_per_s);
            let storm = run_round(&small_queue.addr, &small, 16, Manners::Impatient);
            figures[i][2].push(storm.reports_per_s);
            figures[i][3].push(storm.answers_per_s);
        }
    }
    println!(
        "\n| binary | 4 polite, reports/s | 16 impatient, reports/s | goodput | 16 impatient, --queue {SMALL_QUEUE}, reports/s (answers/s) | goodput |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (binary, figures) in binaries.iter().zip(figures) {
        let [polite, burst, storm, storm_answers] = figures.map(median);
        println!(
            "| {} | {polite:.0} | {burst:.0} | {:.2} | {storm:.0} ({storm_answers:.0}) | {:.2} |",
            binary.display(),
            burst / polite,
            storm / polite
        );
    }
}
