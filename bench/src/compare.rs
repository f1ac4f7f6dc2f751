//! Small documents through HTTP and the pool, for one or more builds of
//! docmill in one run, against the engine called in-process on as many
//! threads as workers: round trips per second of 1 KiB English text, of a
//! document of a few bytes (what HTTP and the pool cost with next to no
//! engine work), and of `GET /healthz` (what a loopback HTTP round trip
//! costs with no pool at all), each with 4 keep-alive clients; then the
//! `/healthz` p99 of each server while both workers are saturated.
//!
//! Run: `docmill-bench compare "BINARY [SERVE FLAG...]"...`: each argument is
//! a binary, optionally followed by `serve` flags (split on spaces). The
//! servers and the in-process engine are measured in alternating rounds, so
//! each sees the same machine; medians are printed.

use std::path::PathBuf;

use crate::{healthz_latency, http_rate, in_process_rate, median, one_kib_document, saturate, Server, ROUNDS};

/// A document of a few bytes: detection, analysis and its report cost next
/// to nothing, so what is left is HTTP, the queue and the worker round trip.
const TINY_DOCUMENT: &[u8] = b"Hi there.";

pub fn run(specs: &[String]) {
    let document = one_kib_document();
    let servers: Vec<(String, Server)> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let mut words = spec.split_whitespace();
            let binary = PathBuf::from(words.next().expect("a binary"));
            assert!(binary.exists(), "{} not found", binary.display());
            let flags: Vec<&str> = words.collect();
            (spec.clone(), Server::start_with(&binary, &format!("compare{i}"), &[], &flags))
        })
        .collect();
    let mut in_process = Vec::new();
    // Per server: 1 KiB, tiny, healthz round trips per second.
    let mut figures = vec![[Vec::new(), Vec::new(), Vec::new()]; servers.len()];
    for round in 0..ROUNDS {
        eprintln!("round {round}");
        in_process.push(in_process_rate(&document));
        // Each server goes first in turn, so none gains from the order.
        for k in 0..servers.len() {
            let i = (k + round) % servers.len();
            let addr = &servers[i].1.addr;
            figures[i][0].push(http_rate(addr, "PUT", "/v1/analyze?filename=doc.txt", &document));
            figures[i][1].push(http_rate(addr, "PUT", "/v1/analyze?filename=doc.txt", TINY_DOCUMENT));
            figures[i][2].push(http_rate(addr, "GET", "/healthz", b""));
        }
    }
    let saturated: Vec<(f64, f64)> = servers
        .iter()
        .map(|(_, server)| {
            let busy = saturate(&server.addr);
            let latency = healthz_latency(&server.addr, 2000);
            busy.store(false, std::sync::atomic::Ordering::Relaxed);
            // Let the saturating clients' last documents finish.
            std::thread::sleep(std::time::Duration::from_secs(2));
            latency
        })
        .collect();
    let in_process = median(in_process);
    println!("\nengine in-process on 2 threads, 1 KiB: {in_process:.0} docs/s (median of {ROUNDS} rounds)\n");
    println!(
        "| server | 1 KiB round trips/s | / in-process | {}-byte document, round trips/s | GET /healthz, round trips/s | /healthz p50 / p99 while saturated, ms |",
        TINY_DOCUMENT.len()
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (((spec, _), figures), (p50, p99)) in servers.iter().zip(figures).zip(saturated) {
        let [kib, tiny, healthz] = figures.map(median);
        println!(
            "| `{spec}` | {kib:.0} | {:.2} | {tiny:.0} | {healthz:.0} | {p50:.3} / {p99:.3} |",
            kib / in_process
        );
    }
}
