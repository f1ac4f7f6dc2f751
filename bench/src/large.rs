//! `docmill-bench large BINARY...`: one 4 MiB English text (an in-memory
//! spool), then one of 8 MiB (spooled to disk), sequential
//! `PUT /v1/analyze` round trips through a 2-worker server of each binary,
//! against the engine's own time on the same document in this process. The
//! rounds interleave the engine and every binary, so all of them see the
//! same machine; each figure is a median, and the ratios are of medians
//! measured in the same run. The worker's own `timing.analysis_ms` is shown
//! too: the engine's time inside the worker of that very build.

use std::path::PathBuf;
use std::time::Instant;

use docmill_engine::{self as engine, Input, Options};

/// Round trips per binary (and engine runs); the median is reported.
const ROUNDS: usize = 21;
/// Sizes of the documents: the largest in-memory spool, and twice that,
/// which the server spools to disk.
const DOCUMENT_BYTES: [usize; 2] = [4 << 20, 8 << 20];

pub fn run(binaries: &[PathBuf]) {
    for size in DOCUMENT_BYTES {
        run_size(binaries, size);
    }
}

fn run_size(binaries: &[PathBuf], size: usize) {
    let document = crate::suite::prose(size);
    let servers: Vec<crate::Server> = binaries
        .iter()
        .enumerate()
        .map(|(i, binary)| {
            assert!(binary.exists(), "{} not found", binary.display());
            crate::Server::start(binary, &format!("large-{size}-{i}"), &[])
        })
        .collect();
    let mut connections: Vec<crate::Connection> = servers.iter().map(|s| crate::Connection::open(&s.addr)).collect();
    // One warm-up each: the first document pays for faulting the workers'
    // heaps in.
    for connection in &mut connections {
        assert_eq!(connection.request("PUT", "/v1/analyze?filename=prose.txt", &document), 200);
    }
    let mut engine_ms = Vec::new();
    let mut round_trip_ms = vec![Vec::new(); binaries.len()];
    let mut analysis_ms = vec![Vec::new(); binaries.len()];
    for round in 0..ROUNDS {
        let started = Instant::now();
        let input = Input { filename: "prose.txt", declared_type: None, sha256: None, bytes: &document };
        engine::analyze(&input, &Options::default()).expect("analysis succeeds");
        engine_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        // Rotate which binary goes first, so none gains from order.
        for k in 0..binaries.len() {
            let i = (round + k) % binaries.len();
            let started = Instant::now();
            let (status, body) = connections[i].request_body("PUT", "/v1/analyze?filename=prose.txt", &document);
            round_trip_ms[i].push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let report: serde_json::Value = serde_json::from_slice(&body).expect("a JSON report");
            analysis_ms[i].push(report["timing"]["analysis_ms"].as_f64().expect("timing.analysis_ms"));
        }
    }
    let engine_ms = crate::median(engine_ms);
    println!(
        "docmill-bench large ({ROUNDS} sequential round trips each, {} MiB English text, 2 workers; medians)",
        size >> 20
    );
    println!("engine in-process: {engine_ms:.1} ms");
    println!(
        "{:<40} {:>12} {:>16} {:>14} {:>16}",
        "binary", "round trip", "worker analysis", "trip/engine", "trip/analysis"
    );
    for (i, binary) in binaries.iter().enumerate() {
        let trip = crate::median(round_trip_ms[i].clone());
        let analysis = crate::median(analysis_ms[i].clone());
        println!(
            "{:<40} {:>9.1} ms {:>13.1} ms {:>14.3} {:>16.3}",
            binary.display(),
            trip,
            analysis,
            trip / engine_ms,
            trip / analysis
        );
    }
}
