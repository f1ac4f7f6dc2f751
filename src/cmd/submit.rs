//! `docmill submit`: walks files and directories, uploads each document to a
//! server with bounded concurrency, and writes one NDJSON line per file (a
//! report or an error; never a silent skip), with progress on a terminal and
//! `--resume` for interrupted runs.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::{Args, UsageError};

/// Attempts for one file when the server sheds it (503) before it gets an
/// error line. With the backoff below that is several minutes of patience.
const MAX_OVERLOAD_RETRIES: u32 = 30;
/// Attempts after network errors (connection refused or reset).
const MAX_NETWORK_RETRIES: u32 = 4;
/// Longest pause between retries of one file.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Progress is redrawn at most this often.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

pub struct SubmitOptions {
    /// `host:port` of the server.
    pub authority: String,
    pub concurrency: usize,
    pub out: Option<PathBuf>,
    pub paths: Vec<String>,
    pub no_ignore: bool,
    pub include: globset::GlobSet,
    pub has_include: bool,
    pub exclude: globset::GlobSet,
    pub resume: bool,
    pub text: bool,
}

pub const VALUED: &[&str] = &["server", "concurrency", "out", "include", "exclude"];
pub const SWITCHES: &[&str] = &["no-ignore", "resume", "text"];

pub fn options(args: &Args) -> Result<SubmitOptions, UsageError> {
    let server = args.value("server").ok_or_else(|| UsageError("submit needs --server URL".into()))?;
    let authority = server
        .strip_prefix("http://")
        .ok_or_else(|| UsageError(format!("--server must be an http:// URL, got {server:?}")))?
        .trim_end_matches('/')
        .to_owned();
    if authority.is_empty() || authority.contains('/') {
        return Err(UsageError(format!("--server must be http://HOST:PORT, got {server:?}")));
    }
    if args.positional.is_empty() {
        return Err(UsageError("submit needs at least one PATH".into()));
    }
    let globs = |name: &str| -> Result<globset::GlobSet, UsageError> {
        let mut set = globset::GlobSetBuilder::new();
        for pattern in args.all(name) {
            let glob =
                globset::Glob::new(&pattern).map_err(|err| UsageError(format!("--{name} {pattern:?}: {err}")))?;
            set.add(glob);
        }
        set.build().map_err(|err| UsageError(err.to_string()))
    };
    let resume = args.switch("resume");
    let out = args.value("out").map(PathBuf::from);
    if resume && out.is_none() {
        return Err(UsageError("--resume needs --out FILE (the results to resume from)".into()));
    }
    Ok(SubmitOptions {
        authority,
        concurrency: args.parsed("concurrency", |raw| raw.parse().ok().filter(|n: &usize| *n > 0))?.unwrap_or(4),
        out,
        paths: args.positional.clone(),
        no_ignore: args.switch("no-ignore"),
        has_include: !args.all("include").is_empty(),
        include: globs("include")?,
        exclude: globs("exclude")?,
        resume,
        text: args.switch("text"),
    })
}

/// One file to submit, or a path the walk could not read.
enum Entry {
    File(PathBuf),
    Unreadable(String, String),
}

/// A glob without `/` matches the file name, like an ignore-file pattern;
/// one with `/` matches the whole walked path.
fn glob_matches(set: &globset::GlobSet, path: &Path) -> bool {
    set.is_match(path) || path.file_name().is_some_and(|name| set.is_match(name))
}

fn walk(options: &SubmitOptions) -> Vec<Entry> {
    let mut entries = Vec::new();
    for root in &options.paths {
        let mut builder = ignore::WalkBuilder::new(root);
        builder.sort_by_file_name(|a, b| a.cmp(b)).require_git(false);
        if options.no_ignore {
            builder.standard_filters(false);
        }
        for result in builder.build() {
            match result {
                Ok(entry) => {
                    if entry.file_type().is_some_and(|t| t.is_dir()) {
                        continue;
                    }
                    let path = entry.into_path();
                    if options.has_include && !glob_matches(&options.include, &path) {
                        continue;
                    }
                    if glob_matches(&options.exclude, &path) {
                        continue;
                    }
                    entries.push(Entry::File(path));
                }
                Err(err) => {
                    let path = match &err {
                        ignore::Error::WithPath { path, .. } => path.display().to_string(),
                        _ => root.clone(),
                    };
                    entries.push(Entry::Unreadable(path, err.to_string()));
                }
            }
        }
    }
    entries
}

/// sha256 of every report already in the output file.
fn done_hashes(out: &Path) -> HashSet<String> {
    let Ok(file) = std::fs::File::open(out) else { return HashSet::new() };
    std::io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<Value>(&line).ok())
        .filter_map(|value| value["report"]["sha256"].as_str().map(str::to_owned))
        .collect()
}

struct Progress {
    total: usize,
    done: AtomicUsize,
    failed: AtomicUsize,
    skipped: AtomicUsize,
    bytes: AtomicU64,
    started: Instant,
    last_draw: Mutex<Instant>,
    terminal: bool,
}

impl Progress {
    fn draw(&self, force: bool) {
        if !self.terminal {
            return;
        }
        let mut last = self.last_draw.lock().unwrap();
        if !force && last.elapsed() < PROGRESS_INTERVAL {
            return;
        }
        *last = Instant::now();
        let done = self.done.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let megabytes = self.bytes.load(Ordering::Relaxed) as f64 / (1 << 20) as f64 / secs;
        let eta = if rate > 0.0 { (self.total - done) as f64 / rate } else { 0.0 };
        let width = 30;
        let filled = (done * width).checked_div(self.total).unwrap_or(width);
        eprint!(
            "\r[{}{}] {done}/{} files  {rate:.1} docs/s  {megabytes:.1} MB/s  ETA {eta:.0}s  failed {}   ",
            "#".repeat(filled),
            " ".repeat(width - filled),
            self.total,
            self.failed.load(Ordering::Relaxed)
        );
        let _ = std::io::stderr().flush();
    }
}

/// Runs the submission; returns whether every file got a report.
pub async fn run(options: SubmitOptions) -> anyhow::Result<bool> {
    let entries = walk(&options);
    let already = if options.resume { done_hashes(options.out.as_deref().expect("checked")) } else { HashSet::new() };
    let mut sink: Box<dyn Write + Send> = match &options.out {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(options.resume)
                .write(true)
                .truncate(!options.resume)
                .open(path)
                .map_err(|err| anyhow::anyhow!("cannot open {}: {err}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let progress = Arc::new(Progress {
        total: entries.len(),
        done: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        skipped: AtomicUsize::new(0),
        bytes: AtomicU64::new(0),
        started: Instant::now(),
        last_draw: Mutex::new(Instant::now() - PROGRESS_INTERVAL),
        terminal: std::io::stderr().is_terminal(),
    });
    let (line_tx, mut line_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(256);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        while let Some(line) = line_rx.blocking_recv() {
            sink.write_all(&line)?;
            // Each line is durable on its own, so an interrupted run resumes
            // from everything it wrote.
            sink.flush()?;
        }
        Ok(())
    });

    let entries = Arc::new(entries);
    let next = Arc::new(AtomicUsize::new(0));
    let already = Arc::new(already);
    let options = Arc::new(options);
    let mut slots = Vec::new();
    for _ in 0..options.concurrency {
        let (entries, next, already, options, progress, line_tx) = (
            Arc::clone(&entries),
            Arc::clone(&next),
            Arc::clone(&already),
            Arc::clone(&options),
            Arc::clone(&progress),
            line_tx.clone(),
        );
        slots.push(tokio::spawn(async move {
            let mut connection: Option<SendRequest<Full<Bytes>>> = None;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(entry) = entries.get(index) else { return };
                let line = match entry {
                    Entry::Unreadable(path, why) => Some(error_line(index, path, "bad_request", why)),
                    Entry::File(path) => submit_one(&mut connection, &options, &already, &progress, index, path).await,
                };
                match line {
                    Some((line, ok)) => {
                        if !ok {
                            progress.failed.fetch_add(1, Ordering::Relaxed);
                        }
                        if line_tx.send(line).await.is_err() {
                            return;
                        }
                    }
                    None => {
                        progress.skipped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                progress.done.fetch_add(1, Ordering::Relaxed);
                progress.draw(false);
            }
        }));
    }
    drop(line_tx);
    for slot in slots {
        slot.await?;
    }
    writer.await??;
    progress.draw(true);
    if progress.terminal {
        eprintln!();
    }
    let failed = progress.failed.load(Ordering::Relaxed);
    let skipped = progress.skipped.load(Ordering::Relaxed);
    eprintln!(
        "docmill submit: {} files, {} reports, {failed} errors, {skipped} already done, in {:.1}s",
        progress.total,
        progress.total - failed - skipped,
        progress.started.elapsed().as_secs_f64()
    );
    Ok(failed == 0)
}

fn error_line(index: usize, filename: &str, code: &str, message: &str) -> (Vec<u8>, bool) {
    let mut line =
        serde_json::to_vec(&json!({"index": index, "filename": filename, "error": {"code": code, "message": message}}))
            .expect("a line serialises");
    line.push(b'\n');
    (line, false)
}

/// Uploads one file; `None` when `--resume` finds it already done.
async fn submit_one(
    connection: &mut Option<SendRequest<Full<Bytes>>>,
    options: &SubmitOptions,
    already: &HashSet<String>,
    progress: &Progress,
    index: usize,
    path: &Path,
) -> Option<(Vec<u8>, bool)> {
    let filename = path.display().to_string();
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => Bytes::from(bytes),
        Err(err) => return Some(error_line(index, &filename, "bad_request", &format!("cannot read: {err}"))),
    };
    if !already.is_empty() {
        let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if already.contains(&digest) {
            return None;
        }
    }
    progress.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    let target =
        format!("/v1/analyze?filename={}{}", percent_encode(&filename), if options.text { "&text=true" } else { "" });
    let mut overloaded = 0;
    let mut network_errors = 0;
    loop {
        match put(connection, &options.authority, &target, bytes.clone()).await {
            Ok((200, _, body)) => {
                let report: Value = match serde_json::from_slice(&body) {
                    Ok(report) => report,
                    Err(err) => {
                        return Some(error_line(
                            index,
                            &filename,
                            "bad_response",
                            &format!("server sent no JSON: {err}"),
                        ))
                    }
                };
                let mut line = serde_json::to_vec(&json!({"index": index, "filename": filename, "report": report}))
                    .expect("a line serialises");
                line.push(b'\n');
                return Some((line, true));
            }
            Ok((503, retry_after, _)) if overloaded < MAX_OVERLOAD_RETRIES => {
                overloaded += 1;
                let asked = Duration::from_secs(retry_after.unwrap_or(0)).min(MAX_BACKOFF);
                tokio::time::sleep(backoff(overloaded).max(asked)).await;
            }
            Ok((status, _, body)) => {
                let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let error = match parsed.get("error") {
                    Some(error) => error.clone(),
                    None => json!({"code": "http_error", "message": format!("HTTP {status}")}),
                };
                let mut line = serde_json::to_vec(&json!({"index": index, "filename": filename, "error": error}))
                    .expect("a line serialises");
                line.push(b'\n');
                return Some((line, false));
            }
            Err(err) => {
                *connection = None;
                network_errors += 1;
                if network_errors > MAX_NETWORK_RETRIES {
                    return Some(error_line(index, &filename, "network_error", &err.to_string()));
                }
                tokio::time::sleep(backoff(network_errors)).await;
            }
        }
    }
}

/// 250 ms doubling per attempt, at most [`MAX_BACKOFF`].
fn backoff(attempt: u32) -> Duration {
    (Duration::from_millis(250) * 2u32.saturating_pow(attempt.min(8))).min(MAX_BACKOFF)
}

async fn put(
    connection: &mut Option<SendRequest<Full<Bytes>>>,
    authority: &str,
    target: &str,
    body: Bytes,
) -> anyhow::Result<(u16, Option<u64>, Bytes)> {
    if connection.as_ref().is_none_or(|sender| sender.is_closed()) {
        let stream = tokio::net::TcpStream::connect(authority).await?;
        let (sender, driver) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(driver);
        *connection = Some(sender);
    }
    let sender = connection.as_mut().expect("connected above");
    sender.ready().await?;
    let request = hyper::Request::put(target).header(hyper::header::HOST, authority).body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(hyper::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, retry_after, body))
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub fn main(raw: &[OsString]) -> anyhow::Result<ExitCode> {
    let args = Args::parse(raw, VALUED, SWITCHES)?;
    let options = options(&args)?;
    let all_ok = crate::runtime()?.block_on(run(options))?;
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
