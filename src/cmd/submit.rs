//! `docmill submit`: walks files and directories, uploads each document to a
//! server with bounded concurrency, and writes one NDJSON line per file (a
//! report or an error; never a silent skip), with a progress bar on a
//! terminal and `--resume` for interrupted runs.
//!
//! A server that cannot be reached is found out before the walk starts, by
//! one request to its `healthz`; one that goes away mid-run ends the run
//! (the files not sent get no line, so `--resume` sends them later) instead
//! of retrying every remaining file against nobody.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use reqwest::{header, StatusCode, Url};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::{self, SubmitArgs};

/// Attempts for one file when the server sheds it (503) before it gets an
/// error line. With the backoff below that is several minutes of patience.
const MAX_OVERLOAD_RETRIES: u32 = 30;
/// Attempts after a request failed in transit (reset, cut short) while the
/// server still accepts connections.
const MAX_NETWORK_RETRIES: u32 = 4;
/// Attempts to connect before the server counts as gone: rides out a
/// restart of a second or two, not an outage.
const MAX_CONNECT_RETRIES: u32 = 3;
/// Longest pause between retries of one file.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long to wait for a TCP (and TLS) connection: a live server on any
/// network answers in milliseconds; a firewall that drops packets would
/// otherwise hold the first line for the kernel's two minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the first request (to `healthz`) may take in all.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Progress is redrawn this often, whether or not a file finished, so the
/// elapsed time and rate stay live while a slow document runs.
const PROGRESS_TICK: Duration = Duration::from_millis(100);
/// Exit status after Ctrl-C, as shells report a death by SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

/// One file to submit, or a path the walk could not read.
enum Entry {
    File(PathBuf),
    /// A path that is not sent: its error code (`not_found` when it does not
    /// exist, as `analyze` says) and why.
    Unreadable(String, &'static str, String),
}

/// How one file ended.
enum Outcome {
    /// A line for the output, and whether it is a report.
    Line(Vec<u8>, bool),
    /// `--resume` found its content already reported (under another
    /// name): the line for this file, that report under this file's name,
    /// written without sending the file again.
    AlreadyDone(Vec<u8>),
    /// The run cannot go on (the server stopped accepting connections, or
    /// refuses our API key): the file gets no line, the run ends, and this
    /// says why.
    Stop(String),
}

struct Submitter {
    client: reqwest::Client,
    analyze_url: Url,
    args: SubmitArgs,
    include: globset::GlobSet,
    exclude: globset::GlobSet,
}

/// A glob without `/` matches the file name, like an ignore-file pattern;
/// one with `/` matches the whole walked path.
fn glob_matches(set: &globset::GlobSet, path: &Path) -> bool {
    set.is_match(path) || path.file_name().is_some_and(|name| set.is_match(name))
}

fn glob_set(flag: &str, patterns: &[String]) -> globset::GlobSet {
    let mut set = globset::GlobSetBuilder::new();
    for pattern in patterns {
        match globset::Glob::new(pattern) {
            Ok(glob) => set.add(glob),
            Err(err) => config::usage_error(format!("--{flag} {pattern:?}: {err}")),
        };
    }
    set.build().unwrap_or_else(|err| config::usage_error(format!("--{flag}: {err}")))
}

/// Every file under the given paths, in order, less the run's own `--out`
/// (a resumed run would otherwise submit its own results).
fn walk(submitter: &Submitter) -> Vec<Entry> {
    let own_output = submitter.args.out.as_deref().and_then(|out| Some((out.file_name()?, out.canonicalize().ok()?)));
    let is_own_output = |path: &Path| {
        own_output.as_ref().is_some_and(|(name, canonical)| {
            path.file_name() == Some(name) && path.canonicalize().ok().as_ref() == Some(canonical)
        })
    };
    let mut entries = Vec::new();
    for root in &submitter.args.paths {
        let mut builder = ignore::WalkBuilder::new(root);
        builder.sort_by_file_name(|a, b| a.cmp(b)).require_git(false);
        if submitter.args.no_ignore {
            builder.standard_filters(false);
        }
        for result in builder.build() {
            match result {
                Ok(entry) => {
                    if entry.file_type().is_some_and(|t| t.is_dir()) {
                        continue;
                    }
                    // A named pipe, socket or device found in a tree is not a
                    // document (opening a pipe would wait for a writer for
                    // ever); one named on the command line is read.
                    let special = entry.file_type().is_some_and(|t| !t.is_file() && !t.is_symlink());
                    let explicit = entry.depth() == 0;
                    let path = entry.into_path();
                    if special && !explicit {
                        let why = "not a regular file (a named pipe, socket or device): not sent";
                        entries.push(Entry::Unreadable(path.display().to_string(), "bad_request", why.into()));
                        continue;
                    }
                    if !submitter.args.include.is_empty() && !glob_matches(&submitter.include, &path) {
                        continue;
                    }
                    if glob_matches(&submitter.exclude, &path) || is_own_output(&path) {
                        continue;
                    }
                    entries.push(Entry::File(path));
                }
                Err(err) => {
                    let path = match &err {
                        ignore::Error::WithPath { path, .. } => path.display().to_string(),
                        _ => root.clone(),
                    };
                    let missing = err.io_error().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound);
                    let code = if missing { "not_found" } else { "bad_request" };
                    entries.push(Entry::Unreadable(path, code, err.to_string()));
                }
            }
        }
    }
    entries
}

/// What an earlier run left in the output: every file name with a line
/// (report or error), and every report by its sha256.
#[derive(Default)]
struct Earlier {
    filenames: HashSet<String>,
    reported: HashMap<String, Value>,
}

fn earlier_lines(out: &Path) -> Earlier {
    let mut earlier = Earlier::default();
    let Ok(file) = std::fs::File::open(out) else { return earlier };
    for line in std::io::BufReader::new(file).lines().map_while(Result::ok) {
        let Ok(value) = serde_json::from_str::<Value>(&line) else { continue };
        if let Some(name) = value["filename"].as_str() {
            earlier.filenames.insert(name.to_owned());
        }
        if let Some(sha256) = value["report"]["sha256"].as_str() {
            earlier.reported.insert(sha256.to_owned(), value["report"].clone());
        }
    }
    earlier
}

/// Cuts a line an interrupted run left half written off the end of `out`, so
/// that the lines a resumed run appends start on a line of their own (the
/// half line's document was not done: it is sent again).
fn drop_partial_last_line(out: &Path) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match std::fs::OpenOptions::new().read(true).write(true).open(out) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    let mut end = file.metadata()?.len();
    let mut buf = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(at) = chunk.iter().rposition(|&b| b == b'\n') {
            let keep = start + at as u64 + 1;
            if keep != file.metadata()?.len() {
                file.set_len(keep)?;
            }
            return Ok(());
        }
        end = start;
    }
    file.set_len(0)
}

impl Entry {
    fn name(&self) -> String {
        match self {
            Entry::File(path) => path.display().to_string(),
            Entry::Unreadable(path, ..) => path.clone(),
        }
    }
}

/// The innermost cause of an error: "Connection refused (os error 111)"
/// rather than reqwest's outer "error sending request for url".
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

fn progress_bar(total: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    // Fits 80 columns: the bar takes whatever the counters leave.
    let style = ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} {rate} ETA {eta} {msg}")
        .expect("a valid template")
        .with_key("rate", |state: &ProgressState, out: &mut dyn std::fmt::Write| {
            let secs = state.elapsed().as_secs_f64().max(1e-3);
            let _ = write!(out, "{:.1}/s", state.pos() as f64 / secs);
        })
        .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(PROGRESS_TICK);
    bar
}

/// Runs the submission; returns the exit code.
async fn run(submitter: Submitter) -> anyhow::Result<ExitCode> {
    // Listening from the start, so a Ctrl-C during the walk is caught too.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let server = submitter.args.server.clone();
    let healthz = server.join("healthz").expect("a relative path joins");
    if let Err(err) = submitter.client.get(healthz).timeout(PROBE_TIMEOUT).send().await {
        anyhow::bail!("cannot reach the server at {server}: {}", root_cause(&err));
    }

    let started = Instant::now();
    let walk = walk(&submitter);
    let walked = walk.len();
    let earlier = match (&submitter.args.out, submitter.args.resume) {
        (Some(out), true) => earlier_lines(out),
        _ => Earlier::default(),
    };
    // Each file keeps its index in the whole walk, resumed or not.
    let entries: Vec<(usize, Entry)> =
        walk.into_iter().enumerate().filter(|(_, entry)| !earlier.filenames.contains(&entry.name())).collect();
    let done_before = walked - entries.len();
    if let (Some(out), true) = (&submitter.args.out, submitter.args.resume) {
        drop_partial_last_line(out).map_err(|err| anyhow::anyhow!("cannot resume {}: {err}", out.display()))?;
    }
    let mut sink: Box<dyn Write + Send> = match &submitter.args.out {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(submitter.args.resume)
                .write(true)
                .truncate(!submitter.args.resume)
                .open(path)
                .map_err(|err| anyhow::anyhow!("cannot open {}: {err}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let bar = progress_bar(entries.len());
    let lines_to_terminal = submitter.args.out.is_none() && std::io::stdout().is_terminal();
    let (line_tx, mut line_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(256);
    let writer_bar = bar.clone();
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        while let Some(line) = line_rx.blocking_recv() {
            let mut write = || {
                sink.write_all(&line)?;
                // Each line is durable on its own, so an interrupted run
                // resumes from everything it wrote.
                sink.flush()
            };
            if lines_to_terminal {
                writer_bar.suspend(write)?;
            } else {
                write()?;
            }
        }
        Ok(())
    });

    let tally = Arc::new(Tally::default());
    let entries = Arc::new(entries);
    let next = Arc::new(AtomicUsize::new(0));
    let earlier = Arc::new(earlier.reported);
    let submitter = Arc::new(submitter);
    let stop = Arc::new(AtomicBool::new(false));
    let stopped_by: Arc<Mutex<Option<String>>> = Arc::default();
    let mut slots = tokio::task::JoinSet::new();
    for _ in 0..submitter.args.concurrency {
        let (entries, next, earlier, submitter, tally, bar, stop, stopped_by, line_tx) = (
            Arc::clone(&entries),
            Arc::clone(&next),
            Arc::clone(&earlier),
            Arc::clone(&submitter),
            Arc::clone(&tally),
            bar.clone(),
            Arc::clone(&stop),
            Arc::clone(&stopped_by),
            line_tx.clone(),
        );
        slots.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Some((index, entry)) = entries.get(next.fetch_add(1, Ordering::Relaxed)) else { return };
                let index = *index;
                let outcome = match entry {
                    Entry::Unreadable(path, code, why) => Outcome::Line(error_line(index, path, code, why), false),
                    Entry::File(path) => submitter.submit_one(&earlier, index, path).await,
                };
                match outcome {
                    Outcome::Line(line, ok) => {
                        if line_tx.send(line).await.is_err() {
                            return;
                        }
                        let counter = if ok { &tally.reports } else { &tally.errors };
                        counter.fetch_add(1, Ordering::Relaxed);
                        bar.inc(1);
                        if !ok {
                            bar.set_message(format!("{} failed", tally.errors.load(Ordering::Relaxed)));
                        }
                    }
                    Outcome::AlreadyDone(line) => {
                        if line_tx.send(line).await.is_err() {
                            return;
                        }
                        tally.already_done.fetch_add(1, Ordering::Relaxed);
                        // Not done now: it leaves the count instead of
                        // inflating the rate.
                        bar.dec_length(1);
                    }
                    Outcome::Stop(why) => {
                        stopped_by.lock().unwrap().get_or_insert(why);
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    drop(line_tx);
    let interrupted = tokio::select! {
        _ = async { while slots.join_next().await.is_some() {} } => false,
        _ = interrupt.recv() => true,
    };
    // Uploads in flight when interrupted are dropped; their files get no
    // line and a resumed run sends them again.
    slots.shutdown().await;
    writer.await??;
    if interrupted {
        // The terminal echoed `^C` onto the bar's line: clear it, and let
        // the summary say where the run stopped.
        bar.finish_and_clear();
    } else {
        bar.abandon();
    }
    let reports = tally.reports.load(Ordering::Relaxed);
    let errors = tally.errors.load(Ordering::Relaxed);
    let already_done = done_before + tally.already_done.load(Ordering::Relaxed);
    let done = reports + errors + already_done;
    let resume_hint = if submitter.args.out.is_some() { "; resume with --resume" } else { "" };
    if interrupted {
        eprintln!("interrupted: {done} of {walked} done{resume_hint}");
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if let Some(why) = stopped_by.lock().unwrap().take() {
        eprintln!("docmill submit: {why}: {done} of {walked} done{resume_hint}");
        return Ok(ExitCode::FAILURE);
    }
    eprintln!(
        "docmill submit: {walked} files, {reports} reports, {errors} errors, {already_done} already done, in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(if errors == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Files by how they ended in this run.
#[derive(Default)]
struct Tally {
    reports: AtomicUsize,
    errors: AtomicUsize,
    already_done: AtomicUsize,
}

fn error_line(index: usize, filename: &str, code: &str, message: &str) -> Vec<u8> {
    line(json!({"index": index, "filename": filename, "error": {"code": code, "message": message}}))
}

fn line(value: Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(&value).expect("a line serialises");
    line.push(b'\n');
    line
}

impl Submitter {
    /// Uploads one file, retrying sheds (503) and failures in transit.
    async fn submit_one(&self, earlier: &HashMap<String, Value>, index: usize, path: &Path) -> Outcome {
        let filename = path.display().to_string();
        let cannot_read = |err: std::io::Error| {
            let code = if err.kind() == std::io::ErrorKind::NotFound { "not_found" } else { "bad_request" };
            Outcome::Line(error_line(index, &filename, code, &format!("cannot read: {err}")), false)
        };
        if !earlier.is_empty() {
            let owned = path.to_owned();
            let digest = tokio::task::spawn_blocking(move || file_sha256(&owned)).await;
            match digest.unwrap_or_else(|err| Err(std::io::Error::other(err))) {
                Ok(digest) => {
                    if let Some(report) = earlier.get(&digest) {
                        // Every file keeps its line: a copy of a file
                        // reported before gets that report, named after it.
                        let mut report = report.clone();
                        report["filename"] = json!(filename);
                        return Outcome::AlreadyDone(line(
                            json!({"index": index, "filename": filename, "report": report}),
                        ));
                    }
                }
                Err(err) => return cannot_read(err),
            }
        }
        let mut url = self.analyze_url.clone();
        url.query_pairs_mut().append_pair("filename", &filename);
        if self.args.text {
            url.query_pairs_mut().append_pair("text", "true");
        }
        let (mut overloaded, mut network_errors, mut connect_errors) = (0, 0, 0);
        loop {
            // Streamed from the file, opened again for each attempt: a
            // large file never sits in memory whole.
            let file = match tokio::fs::File::open(path).await {
                Ok(file) => file,
                Err(err) => return cannot_read(err),
            };
            // Its length is sent too (not a chunked body, which some proxies
            // refuse); a file that changes size on the way fails the request,
            // which is tried again.
            let len = match file.metadata().await {
                Ok(metadata) => metadata.is_file().then_some(metadata.len()),
                Err(err) => return cannot_read(err),
            };
            let body =
                reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(file, UPLOAD_CHUNK_BYTES));
            let mut request = self.client.put(url.clone()).body(body);
            // A pipe or device named on the command line has no size to
            // send ahead: it goes chunked.
            if let Some(len) = len {
                request = request.header(header::CONTENT_LENGTH, len);
            }
            if let Some(key) = &self.args.api_key {
                request = request.bearer_auth(key);
            }
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse().ok());
                    match response.bytes().await {
                        Ok(body) if status == StatusCode::SERVICE_UNAVAILABLE && overloaded < MAX_OVERLOAD_RETRIES => {
                            overloaded += 1;
                            let asked = Duration::from_secs(retry_after.unwrap_or(0)).min(MAX_BACKOFF);
                            tokio::time::sleep(backoff(overloaded).max(asked)).await;
                            drop(body);
                            continue;
                        }
                        // Every other file would be refused the same way,
                        // and an error line would keep --resume from
                        // sending it again once the key is right.
                        Ok(body) if status == StatusCode::UNAUTHORIZED => {
                            let why = String::from_utf8_lossy(&body);
                            return Outcome::Stop(format!("the server refused the request ({status}: {})", why.trim()));
                        }
                        Ok(body) => {
                            return Outcome::Line(answer_line(index, &filename, status, &body), status.is_success())
                        }
                        Err(err) => err,
                    }
                }
                Err(err) => err,
            };
            if failure.is_connect() {
                connect_errors += 1;
                if connect_errors >= MAX_CONNECT_RETRIES {
                    let server = &self.args.server;
                    return Outcome::Stop(format!("lost the server at {server} ({})", root_cause(&failure)));
                }
            } else {
                network_errors += 1;
                if network_errors > MAX_NETWORK_RETRIES {
                    return Outcome::Line(error_line(index, &filename, "network_error", &root_cause(&failure)), false);
                }
            }
            tokio::time::sleep(backoff(network_errors + connect_errors)).await;
        }
    }
}

/// How much of a file is read and sent at a time.
const UPLOAD_CHUNK_BYTES: usize = 64 << 10;

/// The sha256 of a file, read a chunk at a time, in hex.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0; UPLOAD_CHUNK_BYTES];
    loop {
        match std::io::Read::read(&mut file, &mut chunk) {
            Ok(0) => break,
            Ok(n) => hasher.update(&chunk[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect())
}

/// The line for a server's answer: its report, its error, or what was
/// wrong with the answer.
fn answer_line(index: usize, filename: &str, status: StatusCode, body: &[u8]) -> Vec<u8> {
    if status.is_success() {
        return match serde_json::from_slice::<Value>(body) {
            Ok(report) => line(json!({"index": index, "filename": filename, "report": report})),
            Err(err) => error_line(index, filename, "bad_response", &format!("server sent no JSON: {err}")),
        };
    }
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = match parsed.get("error") {
        Some(error) => error.clone(),
        None => json!({"code": "http_error", "message": format!("HTTP {status}")}),
    };
    line(json!({"index": index, "filename": filename, "error": error}))
}

/// 250 ms doubling per attempt, at most [`MAX_BACKOFF`].
fn backoff(attempt: u32) -> Duration {
    (Duration::from_millis(250) * 2u32.saturating_pow(attempt.min(8))).min(MAX_BACKOFF)
}

pub fn main(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    let include = glob_set("include", &args.include);
    let exclude = glob_set("exclude", &args.exclude);
    // rustls is built without a default crypto provider (see
    // ARCHITECTURE.md): ring is the one we link.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_max_idle_per_host(args.concurrency)
        .user_agent(concat!("docmill-submit/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let analyze_url = args.server.join("v1/analyze").expect("a relative path joins");
    let submitter = Submitter { client, analyze_url, args, include, exclude };
    crate::runtime()?.block_on(run(submitter))
}
