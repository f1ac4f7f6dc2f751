//! The side-by-side suite: the same clients against docmill and, when FastAPI
//! and uvicorn are installed, the Python design it replaces
//! (`bench/python_baseline/app.py`, FastAPI + uvicorn + ProcessPoolExecutor),
//! both with two workers. It prints one table of figures and docmill's ratio
//! to the baseline, and writes an SVG of throughput and p99 latency against
//! concurrency.
//!
//! Run: `cargo build --release && cargo run --release -p docmill-bench -- suite [SVG]`.
//! Figures are medians of rounds; timings are never asserted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rounds per workload; the median is reported.
const ROUNDS: usize = 3;
/// Length of one round.
const ROUND_TIME: Duration = Duration::from_secs(4);
/// Worker processes of each server.
const WORKERS: usize = 2;
/// Client counts of the concurrency sweep.
const SWEEP: [usize; 5] = [1, 2, 4, 8, 16];
const BOUNDARY: &str = "docmill-bench-boundary";

pub(crate) struct Target {
    name: &'static str,
    pub(crate) addr: String,
    child: Child,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `binary serve` with 2 workers and `extra` flags, each server in a
/// data directory of its own.
pub(crate) fn start_docmill(binary: &Path, extra: &[&str]) -> Target {
    static SERVERS: AtomicUsize = AtomicUsize::new(0);
    let data_dir = std::env::temp_dir().join(format!(
        "docmill-suite-{}-{}",
        std::process::id(),
        SERVERS.fetch_add(1, Ordering::Relaxed)
    ));
    let mut child = Command::new(binary)
        .args(["serve", "--bind", "127.0.0.1:0", "--workers", &WORKERS.to_string()])
        .args(extra)
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("cannot start docmill");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on http://").expect("listening line").to_owned();
    Target { name: "docmill", addr, child }
}

/// The Python baseline, if `fastapi`, `uvicorn` and `python-multipart` import.
fn start_baseline() -> Option<Target> {
    let check = Command::new("python3").args(["-c", "import fastapi, uvicorn, multipart"]).output().ok()?;
    if !check.status.success() {
        eprintln!("baseline skipped: pip install fastapi uvicorn python-multipart (and pypdf python-docx beautifulsoup4 langdetect)");
        return None;
    }
    let port = free_port();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("python_baseline");
    let child = Command::new("python3")
        .args(["-m", "uvicorn", "--port", &port.to_string(), "--log-level", "warning", "app:app"])
        .env("BASELINE_WORKERS", WORKERS.to_string())
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(&addr).is_ok() {
            return Some(Target { name: "fastapi+ppe", addr, child });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub(crate) fn multipart(name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A keep-alive HTTP/1.1 connection that reads Content-Length bodies and
/// reopens itself when the server closes it.
struct Connection {
    addr: String,
    reader: Option<BufReader<TcpStream>>,
}

struct Answer {
    status: u16,
    retry_after: Option<f64>,
}

impl Connection {
    fn open(addr: &str) -> Connection {
        Connection { addr: addr.to_owned(), reader: None }
    }

    fn post(&mut self, body: &[u8]) -> Answer {
        let head = format!(
            "POST /v1/analyze HTTP/1.1\r\nHost: bench\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        self.send(&head, body)
    }

    fn send(&mut self, head: &str, body: &[u8]) -> Answer {
        for _ in 0..2 {
            if self.reader.is_none() {
                let Ok(stream) = TcpStream::connect(&self.addr) else { continue };
                let _ = stream.set_nodelay(true);
                self.reader = Some(BufReader::new(stream));
            }
            match self.exchange(head, body) {
                Some(answer) => return answer,
                None => self.reader = None,
            }
        }
        Answer { status: 0, retry_after: None }
    }

    fn exchange(&mut self, head: &str, body: &[u8]) -> Option<Answer> {
        let reader = self.reader.as_mut()?;
        let stream = reader.get_mut();
        stream.write_all(head.as_bytes()).ok()?;
        stream.write_all(body).ok()?;
        let mut status_line = String::new();
        if reader.read_line(&mut status_line).ok()? == 0 {
            return None;
        }
        let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (mut length, mut retry_after, mut close) = (0usize, None, false);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("retry-after") {
                    retry_after = value.parse().ok();
                } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let mut sink = vec![0u8; length];
        reader.read_exact(&mut sink).ok()?;
        if close {
            self.reader = None;
        }
        Some(Answer { status, retry_after })
    }
}

/// How clients treat a 503: polite ones wait for `Retry-After`, impatient
/// ones send again at once.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Manners {
    Polite,
    Impatient,
}

pub(crate) struct Round {
    /// Documents answered with a report, per second.
    pub(crate) reports_per_s: f64,
    /// Answers of any kind, per second.
    pub(crate) answers_per_s: f64,
    /// Bytes of documents answered with a report, per second.
    bytes_per_s: f64,
    /// Latency of report answers, p99, milliseconds.
    p99_ms: f64,
}

/// `clients` threads post `bodies` (round-robin, each thread from its own
/// offset) for one round.
pub(crate) fn run_round(addr: &str, bodies: &[(Vec<u8>, usize)], clients: usize, manners: Manners) -> Round {
    let deadline = Instant::now() + ROUND_TIME;
    let started = Instant::now();
    let results: Vec<(usize, usize, usize, Vec<f64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|client| {
                scope.spawn(move || {
                    let mut connection = Connection::open(addr);
                    let (mut reports, mut answers, mut bytes, mut latencies) = (0, 0, 0, Vec::new());
                    let mut next = client * bodies.len() / clients.max(1);
                    while Instant::now() < deadline {
                        let (body, size) = &bodies[next % bodies.len()];
                        let sent = Instant::now();
                        let answer = connection.post(body);
                        answers += 1;
                        match answer.status {
                            200 | 422 => {
                                reports += 1;
                                bytes += size;
                                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                                next += 1;
                            }
                            503 if manners == Manners::Polite => {
                                std::thread::sleep(Duration::from_secs_f64(answer.retry_after.unwrap_or(1.0).min(1.0)));
                            }
                            503 => {}
                            _ => next += 1,
                        }
                    }
                    (reports, answers, bytes, latencies)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let secs = started.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> = results.iter().flat_map(|r| r.3.iter().copied()).collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let p99_ms = latencies.get(latencies.len() * 99 / 100).copied().unwrap_or(f64::NAN);
    Round {
        reports_per_s: results.iter().map(|r| r.0).sum::<usize>() as f64 / secs,
        answers_per_s: results.iter().map(|r| r.1).sum::<usize>() as f64 / secs,
        bytes_per_s: results.iter().map(|r| r.2).sum::<usize>() as f64 / secs,
        p99_ms,
    }
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// The median of each figure over [`ROUNDS`] rounds.
fn measure(addr: &str, bodies: &[(Vec<u8>, usize)], clients: usize, manners: Manners) -> Round {
    let rounds: Vec<Round> = (0..ROUNDS).map(|_| run_round(addr, bodies, clients, manners)).collect();
    Round {
        reports_per_s: median(rounds.iter().map(|r| r.reports_per_s).collect()),
        answers_per_s: median(rounds.iter().map(|r| r.answers_per_s).collect()),
        bytes_per_s: median(rounds.iter().map(|r| r.bytes_per_s).collect()),
        p99_ms: median(rounds.iter().map(|r| r.p99_ms).collect()),
    }
}

/// p99 of `/healthz` in milliseconds from an outside prober while 8
/// clients keep every worker busy with `bodies`: the median of [`ROUNDS`]
/// rounds of 2,000 probes, as every other figure of the suite.
fn probe_p99_saturated(addr: &str, bodies: &[(Vec<u8>, usize)]) -> f64 {
    median((0..ROUNDS).map(|_| probe_saturated(addr, bodies).1).collect())
}

/// p50 and p99 of `/healthz` in milliseconds from an outside prober (this
/// binary's `probe` command, a process of its own, as a monitoring agent
/// would be) while 8 clients keep every worker busy with `bodies`.
pub(crate) fn probe_saturated(addr: &str, bodies: &[(Vec<u8>, usize)]) -> (f64, f64) {
    let running = Arc::new(AtomicBool::new(true));
    std::thread::scope(|scope| {
        for client in 0..8 {
            let running = Arc::clone(&running);
            scope.spawn(move || {
                let mut connection = Connection::open(addr);
                let mut next = client;
                while running.load(Ordering::Relaxed) {
                    connection.post(&bodies[next % bodies.len()].0);
                    next += 1;
                }
            });
        }
        std::thread::sleep(Duration::from_secs(1));
        let prober = std::process::Command::new(std::env::current_exe().expect("the bench's own path"))
            .args(["probe", addr, "2000"])
            .output()
            .expect("the prober runs");
        running.store(false, Ordering::Relaxed);
        assert!(prober.status.success(), "the prober failed: {}", String::from_utf8_lossy(&prober.stderr));
        let printed = String::from_utf8_lossy(&prober.stdout);
        let figures: Vec<f64> = printed.split_whitespace().filter_map(|figure| figure.parse().ok()).collect();
        let [p50, p99] = figures[..] else { panic!("the prober printed {printed:?}") };
        (p50, p99)
    })
}

pub(crate) fn corpus_bodies() -> Vec<(Vec<u8>, usize)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    let mut files = Vec::new();
    let mut pending = vec![dir];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for path in entries.filter_map(|entry| entry.ok().map(|entry| entry.path())) {
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|name| name != "manifest.json" && name != "LICENSES.md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .iter()
        .filter_map(|path| {
            let bytes = std::fs::read(path).ok()?;
            let name = path.file_name()?.to_string_lossy().into_owned();
            Some((multipart(&name, &bytes), bytes.len()))
        })
        .collect()
}

pub(crate) fn prose(bytes: usize) -> Vec<u8> {
    let sentence = b"The committee reviewed the quarterly figures and approved the budget for next year. ";
    sentence.iter().copied().cycle().take(bytes).collect()
}

/// One server's figures.
struct Figures {
    corpus_docs_per_s: Option<f64>,
    large_mb_per_s: f64,
    burst_reports_per_s: f64,
    burst_answers_per_s: f64,
    polite_reports_per_s: f64,
    probe_p99_ms: Option<f64>,
    sweep: Vec<(usize, f64, f64)>,
}

fn measure_target(target: &Target, corpus: &[(Vec<u8>, usize)]) -> Figures {
    eprintln!("measuring {} at {}", target.name, target.addr);
    let small = vec![(multipart("doc.txt", &prose(1024)), 1024)];
    let large = vec![(multipart("large.txt", &prose(4 << 20)), 4 << 20)];
    let corpus_docs_per_s =
        (!corpus.is_empty()).then(|| measure(&target.addr, corpus, 8, Manners::Polite).reports_per_s);
    let large_mb_per_s = measure(&target.addr, &large, 4, Manners::Polite).bytes_per_s / 1e6;
    let burst = measure(&target.addr, &small, 16, Manners::Impatient);
    let polite = measure(&target.addr, &small, 4, Manners::Polite);
    let probe_p99_ms = (!corpus.is_empty()).then(|| probe_p99_saturated(&target.addr, corpus));
    let sweep = SWEEP
        .iter()
        .map(|&clients| {
            let round = measure(&target.addr, &small, clients, Manners::Polite);
            (clients, round.reports_per_s, round.p99_ms)
        })
        .collect();
    Figures {
        corpus_docs_per_s,
        large_mb_per_s,
        burst_reports_per_s: burst.reports_per_s,
        burst_answers_per_s: burst.answers_per_s,
        polite_reports_per_s: polite.reports_per_s,
        probe_p99_ms,
        sweep,
    }
}

pub fn run(binary: &Path, svg: &Path) {
    let corpus = corpus_bodies();
    if corpus.is_empty() {
        eprintln!("../shared/corpus not found: the real-document workloads did not run");
    }
    let docmill = {
        let target = start_docmill(binary, &[]);
        measure_target(&target, &corpus)
    };
    let baseline = start_baseline().map(|target| measure_target(&target, &corpus));
    print_table(&docmill, baseline.as_ref());
    write_svg(svg, &docmill, baseline.as_ref());
    println!("\nplot: {}", svg.display());
}

fn print_table(docmill: &Figures, baseline: Option<&Figures>) {
    let rows: Vec<(&str, Option<f64>, Option<f64>, bool)> = vec![
        (
            "real documents, 8 clients, docs/s",
            docmill.corpus_docs_per_s,
            baseline.and_then(|b| b.corpus_docs_per_s),
            true,
        ),
        ("4 MiB English text, 4 clients, MB/s", Some(docmill.large_mb_per_s), baseline.map(|b| b.large_mb_per_s), true),
        (
            "1 KiB, 16 impatient clients, reports/s",
            Some(docmill.burst_reports_per_s),
            baseline.map(|b| b.burst_reports_per_s),
            true,
        ),
        (
            "1 KiB, 16 impatient clients, answers/s",
            Some(docmill.burst_answers_per_s),
            baseline.map(|b| b.burst_answers_per_s),
            true,
        ),
        (
            "1 KiB, 4 polite clients, reports/s",
            Some(docmill.polite_reports_per_s),
            baseline.map(|b| b.polite_reports_per_s),
            true,
        ),
        ("/healthz p99 while saturated, ms", docmill.probe_p99_ms, baseline.and_then(|b| b.probe_p99_ms), false),
    ];
    println!("\n| workload | docmill | FastAPI + PPE | docmill / baseline |");
    println!("| --- | --- | --- | --- |");
    let show = |value: Option<f64>| value.map_or("—".to_owned(), |v| format!("{v:.1}"));
    for (name, ours, theirs, higher_is_better) in rows {
        let ratio = match (ours, theirs) {
            (Some(a), Some(b)) if b > 0.0 => {
                format!("{:.2}{}", a / b, if higher_is_better { "" } else { " (lower is better)" })
            }
            _ => "—".into(),
        };
        println!("| {name} | {} | {} | {ratio} |", show(ours), show(theirs));
    }
    println!(
        "| goodput under a burst (16 impatient / 4 polite), docmill | {:.2} | | |",
        docmill.burst_reports_per_s / docmill.polite_reports_per_s
    );
    println!("\nconcurrency sweep, 1 KiB documents (clients: reports/s, p99 ms)");
    for (i, (clients, rate, p99)) in docmill.sweep.iter().enumerate() {
        let other = baseline
            .map(|b| format!("   baseline {:.0}/s p99 {:.1} ms", b.sweep[i].1, b.sweep[i].2))
            .unwrap_or_default();
        println!("  {clients:>2}: docmill {rate:.0}/s p99 {p99:.1} ms{other}");
    }
}

/// One line of a plot: its label, colour and `(clients, value)` points.
type Series<'a> = (&'a str, &'a str, Vec<(usize, f64)>);

/// Two panels: reports/s and p99 latency against the number of clients.
fn write_svg(path: &Path, docmill: &Figures, baseline: Option<&Figures>) {
    let (width, height, margin) = (360.0, 240.0, 40.0);
    let panel = |title: &str, series: &[Series<'_>], x0: f64| -> String {
        let max = series
            .iter()
            .flat_map(|(_, _, points)| points.iter().map(|p| p.1))
            .filter(|v| v.is_finite())
            .fold(1.0, f64::max);
        let x = |clients: usize| {
            x0 + margin
                + (SWEEP.iter().position(|&c| c == clients).unwrap_or(0) as f64) * (width - 2.0 * margin)
                    / (SWEEP.len() - 1) as f64
        };
        let y = |value: f64| height - margin - value / max * (height - 2.0 * margin);
        let mut out = format!(
            "<text x=\"{}\" y=\"20\" font-size=\"13\" text-anchor=\"middle\">{title}</text>\
             <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>\
             <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"10\">{max:.0}</text>",
            x0 + width / 2.0,
            x0 + margin,
            height - margin,
            x0 + width - margin,
            height - margin,
            x0 + margin,
            margin,
            x0 + margin,
            height - margin,
            x0 + 4.0,
            margin + 4.0,
        );
        for &clients in &SWEEP {
            out.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{clients}</text>",
                x(clients),
                height - margin + 14.0
            ));
        }
        for (i, (name, colour, points)) in series.iter().enumerate() {
            let line: Vec<String> =
                points.iter().filter(|p| p.1.is_finite()).map(|&(c, v)| format!("{:.1},{:.1}", x(c), y(v))).collect();
            out.push_str(&format!(
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
                line.join(" ")
            ));
            out.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{colour}\">{name}</text>",
                x0 + width - margin - 70.0,
                margin + 14.0 * i as f64
            ));
        }
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">clients</text>",
            x0 + width / 2.0,
            height - 6.0
        ));
        out
    };
    let series = |pick: fn(&(usize, f64, f64)) -> f64| {
        let mut all = vec![("docmill", "#2f6fde", docmill.sweep.iter().map(|p| (p.0, pick(p))).collect())];
        if let Some(b) = baseline {
            all.push(("FastAPI+PPE", "#c0392b", b.sweep.iter().map(|p| (p.0, pick(p))).collect()));
        }
        all
    };
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>{}{}</svg>\n",
        width * 2.0,
        panel("1 KiB documents: reports/s", &series(|p| p.1), 0.0),
        panel("1 KiB documents: p99 latency, ms", &series(|p| p.2), width),
    );
    if let Err(err) = std::fs::write(path, svg) {
        eprintln!("cannot write {}: {err}", path.display());
    }
}
