//! `docmill-bench`: measures the pool against the engine called in-process,
//! and the control plane's latency while every worker is busy. It drives the
//! release binary (`target/release/docmill`, built first) over loopback HTTP.
//!
//! Run: `cargo build --release && cargo run --release -p docmill-bench`.
//! `... -p docmill-bench -- suite` runs the side-by-side suite instead
//! ([`suite`]): docmill against the Python design it replaces;
//! `... -- sandbox` the CPU cost of the workers' seccomp filter ([`sandbox`]);
//! `... -- burst BINARY...` compares the goodput under a burst of several
//! builds in one run ([`burst`]); `... -- compare "BINARY [FLAGS]"...` the
//! small-document round trips of several builds against the engine in one
//! run ([`compare`]);
//! `... -- large BINARY...` a 4 MiB text's round trip through several builds
//! against the engine in-process ([`large`]);
//! `... -- handoff` a small document inline against as a sealed memfd
//! ([`handoff`]); `... -- healthz "BINARY [FLAGS]"...` the `/healthz`
//! latency of several builds while their workers are saturated
//! ([`control`]); `... -- probe ADDR N` is the suite's outside prober: `N`
//! sequential `GET /healthz` on one keep-alive connection, 1 ms apart,
//! printing the p50 and p99 in milliseconds.
//! Machines are shared and noisy: every figure is a median of several rounds,
//! and the interesting numbers are the ratios measured in the same run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use docmill_engine::Options;
use docmill_engine::{self as engine, Input};

/// Rounds per measurement; the median is reported.
pub(crate) const ROUNDS: usize = 5;
/// Length of one throughput round.
pub(crate) const ROUND_TIME: Duration = Duration::from_secs(3);
/// Client threads for the round-trip measurement: more than workers, so the
/// pool, not the client, is the bottleneck.
const CLIENTS: usize = 4;
const WORKERS: usize = 2;

mod burst;
mod compare;
mod control;
mod handoff;
mod large;
mod sandbox;
mod suite;

/// What `docmill-bench --help` prints.
const USAGE: &str = "\
usage: docmill-bench [BINARY]            1 KiB round trips against the engine in-process, /healthz while busy
       docmill-bench suite [BINARY [SVG]] docmill against the Python baseline (bench/python_baseline), one table
       docmill-bench sandbox [BINARY]     the CPU cost of the workers' seccomp filter
       docmill-bench burst BINARY...      goodput under a burst of impatient clients, several builds in one run
       docmill-bench compare \"BINARY [FLAGS]\"...  1 KiB round trips of several builds against the engine
       docmill-bench large BINARY...      a 4 MiB text's round trip through several builds against the engine
       docmill-bench handoff              a small document inline against as a sealed memfd
       docmill-bench healthz \"BINARY [FLAGS]\"...  /healthz latency of several builds with saturated workers
       docmill-bench probe ADDR N         N paced GET /healthz on one connection: prints p50 and p99 (ms)
       docmill-bench load ADDR            1 KiB PUT round trips for a round against a running server (to profile it)
BINARY defaults to target/release/docmill (build it first: cargo build --release).";

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or(&[]);
    // `docmill-bench COMMAND --help` asks for the usage, not a run against
    // a binary called `--help`.
    if rest.iter().any(|arg| arg == "-h" || arg == "--help") {
        return println!("{USAGE}");
    }
    match args.first().map(String::as_str) {
        Some("large") => return large::run(&binaries(rest, "large")),
        Some("burst") => return burst::run(&binaries(rest, "burst")),
        Some("healthz") => return control::run(specs(rest, "healthz")),
        Some("compare") => return compare::run(specs(rest, "compare")),
        Some("handoff") => return handoff::run(),
        Some("-h" | "--help" | "help") => return println!("{USAGE}"),
        Some("load") => {
            let Some(addr) = rest.first() else { panic!("usage: docmill-bench load ADDR") };
            let rate = http_rate(addr, "PUT", "/v1/analyze", &one_kib_document());
            return println!("{rate:.0} round trips/s");
        }
        Some("probe") => {
            let (Some(addr), Some(n)) = (rest.first(), rest.get(1).and_then(|n| n.parse::<usize>().ok())) else {
                panic!("usage: docmill-bench probe ADDR N");
            };
            let (p50, p99) = healthz_latency_paced(addr, n, Duration::from_millis(1));
            println!("{p50} {p99}");
            return;
        }
        _ => {}
    }
    let run_suite = args.first().is_some_and(|first| first == "suite");
    let run_sandbox = args.first().is_some_and(|first| first == "sandbox");
    if run_suite || run_sandbox {
        args.remove(0);
    }
    let binary = args.first().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target/release/docmill"));
    if run_sandbox {
        assert!(binary.exists(), "{} not found: run `cargo build --release` first", binary.display());
        sandbox::run(&binary);
        return;
    }
    if run_suite {
        assert!(binary.exists(), "{} not found: run `cargo build --release` first", binary.display());
        let svg = args.get(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("docs/bench-concurrency.svg"));
        suite::run(&binary, &svg);
        return;
    }
    if !binary.exists() {
        eprintln!("{} not found: run `cargo build --release` first\n\n{USAGE}", binary.display());
        std::process::exit(2);
    }
    let document = one_kib_document();

    let in_process: Vec<f64> = (0..ROUNDS).map(|_| in_process_rate(&document)).collect();
    let server = Server::start(&binary, "filtered", &[]);
    // The same pool without the workers' seccomp filter (everything else of
    // the sandbox still applies), measured in alternating rounds so that
    // both see the same machine.
    let unfiltered = Server::start(&binary, "unfiltered", &[("DOCMILL_WORKER_SECCOMP", "off")]);
    let mut pooled = Vec::new();
    let mut pooled_unfiltered = Vec::new();
    for round in 0..ROUNDS {
        // Each goes first in every other round, so neither gains from order.
        if round % 2 == 0 {
            pooled.push(http_rate(&server.addr, "PUT", "/v1/analyze?filename=doc.txt", &document));
            pooled_unfiltered.push(http_rate(&unfiltered.addr, "PUT", "/v1/analyze?filename=doc.txt", &document));
        } else {
            pooled_unfiltered.push(http_rate(&unfiltered.addr, "PUT", "/v1/analyze?filename=doc.txt", &document));
            pooled.push(http_rate(&server.addr, "PUT", "/v1/analyze?filename=doc.txt", &document));
        }
    }
    drop(unfiltered);
    let (healthz_idle_p50, healthz_idle_p99) = healthz_latency(&server.addr, 2000);
    let busy = saturate(&server.addr);
    let (healthz_busy_p50, healthz_busy_p99) = healthz_latency(&server.addr, 2000);
    busy.store(false, Ordering::Relaxed);

    let in_process = median(in_process);
    let pooled = median(pooled);
    let pooled_unfiltered = median(pooled_unfiltered);
    println!("docmill-bench ({} rounds of {:?}, {WORKERS} workers, {CLIENTS} clients)", ROUNDS, ROUND_TIME);
    println!("1 KiB text, engine in-process on {WORKERS} threads: {in_process:.0} docs/s (median)");
    println!("1 KiB text, PUT /v1/analyze round trips:        {pooled:.0} docs/s (median)");
    println!("pool throughput / in-process throughput:        {:.2}", pooled / in_process);
    println!("1 KiB text, round trips, no seccomp filter:     {pooled_unfiltered:.0} docs/s (median)");
    println!("with the filter / without:                      {:.3}", pooled / pooled_unfiltered);
    println!("GET /healthz, idle:                 p50 {healthz_idle_p50:.3} ms, p99 {healthz_idle_p99:.3} ms");
    println!("GET /healthz, both workers busy:    p50 {healthz_busy_p50:.3} ms, p99 {healthz_busy_p99:.3} ms");
}

pub(crate) fn one_kib_document() -> Vec<u8> {
    let sentence = b"The committee reviewed the quarterly figures and approved the budget for next year. ";
    sentence.iter().copied().cycle().take(1024).collect()
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Documents per second of the engine alone, on as many threads as workers.
pub(crate) fn in_process_rate(document: &[u8]) -> f64 {
    let deadline = Instant::now() + ROUND_TIME;
    let started = Instant::now();
    let done: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0;
                    while Instant::now() < deadline {
                        let input = Input { filename: "doc.txt", declared_type: None, sha256: None, bytes: document };
                        engine::analyze(&input, &Options::default()).expect("analysis succeeds");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    done as f64 / started.elapsed().as_secs_f64()
}

/// Round trips per second of `method path` with `body` (through HTTP and
/// the pool for `/v1/analyze`), [`CLIENTS`] keep-alive clients.
pub(crate) fn http_rate(addr: &str, method: &str, path: &str, body: &[u8]) -> f64 {
    let deadline = Instant::now() + ROUND_TIME;
    let started = Instant::now();
    let done: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(|| {
                    let mut connection = Connection::open(addr);
                    let mut n = 0;
                    while Instant::now() < deadline {
                        let status = connection.request(method, path, body);
                        assert_eq!(status, 200);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    done as f64 / started.elapsed().as_secs_f64()
}

/// Keeps every worker busy with large documents until the flag is cleared.
pub(crate) fn saturate(addr: &str) -> Arc<AtomicBool> {
    let running = Arc::new(AtomicBool::new(true));
    let big: Vec<u8> = one_kib_document().repeat(8 << 10);
    for _ in 0..WORKERS * 2 {
        let running = Arc::clone(&running);
        let addr = addr.to_owned();
        let big = big.clone();
        std::thread::spawn(move || {
            let mut connection = Connection::open(&addr);
            while running.load(Ordering::Relaxed) {
                connection.request("PUT", "/v1/analyze?filename=big.txt", &big);
            }
        });
    }
    std::thread::sleep(Duration::from_secs(1));
    running
}

/// The binaries a subcommand compares; at least one.
fn binaries(args: &[String], command: &str) -> Vec<PathBuf> {
    assert!(!args.is_empty(), "usage: docmill-bench {command} BINARY...");
    args.iter().map(PathBuf::from).collect()
}

/// The server specs (`"BINARY [SERVE FLAG...]"`) a subcommand compares; at
/// least one.
fn specs<'a>(args: &'a [String], command: &str) -> &'a [String] {
    assert!(!args.is_empty(), "usage: docmill-bench {command} \"BINARY [SERVE FLAG...]\"...");
    args
}

/// p50 and p99 of `/healthz` in milliseconds over `n` sequential requests.
pub(crate) fn healthz_latency(addr: &str, n: usize) -> (f64, f64) {
    healthz_latency_paced(addr, n, Duration::ZERO)
}

/// The same, with `pause` between one answer and the next request.
fn healthz_latency_paced(addr: &str, n: usize, pause: Duration) -> (f64, f64) {
    let mut connection = Connection::open(addr);
    let mut samples: Vec<f64> = (0..n)
        .map(|_| {
            let started = Instant::now();
            assert_eq!(connection.request("GET", "/healthz", b""), 200);
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            std::thread::sleep(pause);
            ms
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    (samples[n / 2], samples[n * 99 / 100])
}

pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
}

impl Server {
    fn start(binary: &Path, name: &str, env: &[(&str, &str)]) -> Server {
        Server::start_with(binary, name, env, &[])
    }

    /// [`Server::start`] with more `serve` flags.
    /// A server from a spec such as `"target/release/docmill --queue 8"`: a
    /// binary, optionally followed by `serve` flags (split on spaces).
    pub(crate) fn from_spec(spec: &str, name: &str) -> Server {
        let mut words = spec.split_whitespace();
        let binary = PathBuf::from(words.next().expect("a binary"));
        assert!(binary.exists(), "{} not found", binary.display());
        let flags: Vec<&str> = words.collect();
        Server::start_with(&binary, name, &[], &flags)
    }

    pub(crate) fn start_with(binary: &Path, name: &str, env: &[(&str, &str)], args: &[&str]) -> Server {
        let data_dir = std::env::temp_dir().join(format!("docmill-bench-{}-{name}", std::process::id()));
        let mut child = Command::new(binary)
            .args(["serve", "--bind", "127.0.0.1:0", "--workers", &WORKERS.to_string(), "--queue", "64"])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start docmill");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("listening on http://").expect("listening line").to_owned();
        Server { child, addr }
    }
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A keep-alive HTTP/1.1 connection that reads Content-Length bodies.
struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(addr: &str) -> Connection {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        Connection { reader: BufReader::new(stream) }
    }

    fn request(&mut self, method: &str, path: &str, body: &[u8]) -> u16 {
        self.request_body(method, path, body).0
    }

    /// The status and the body of one request.
    fn request_body(&mut self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let head = format!("{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {}\r\n\r\n", body.len());
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).unwrap();
        (status, body)
    }
}
