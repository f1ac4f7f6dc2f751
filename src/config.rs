//! Command-line and environment configuration. Every `serve` flag also reads
//! an environment variable (`--max-upload-bytes` ↔ `DOCMILL_MAX_UPLOAD_BYTES`);
//! a flag on the command line wins over the environment.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use docmill_engine::{OcrLanguages, OcrMode};
use docmill_worker::worker_loop::OcrDefaults;

use crate::pool::PoolConfig;
use crate::supervisor::{self, SupervisorConfig, SupervisorHandle};

/// Default per-file upload limit: large scanned PDFs run to tens of MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 100 << 20;
/// Default limit of one batch or job request, which may carry many files.
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 2 << 30;
/// Default address-space limit per worker: generous for real documents,
/// small enough that a runaway parser dies long before the machine swaps.
pub const DEFAULT_WORKER_MEMORY: u64 = 2 << 30;
pub const DEFAULT_JOB_TIMEOUT_SECS: f64 = 60.0;
pub const DEFAULT_MAX_JOBS_PER_WORKER: u64 = 1000;
pub const DEFAULT_JOB_TTL_SECS: u64 = 7 * 24 * 3600;
/// Pages OCR reads per document by default (`--ocr-max-pages`): at a second
/// or two a page on one core, a hundred pages already needs a longer
/// `--job-timeout` than the default.
pub const DEFAULT_OCR_MAX_PAGES: usize = 100;
/// Queue slots per worker by default: enough to keep workers fed between
/// uploads without letting latency grow unbounded.
pub const QUEUE_PER_WORKER: usize = 4;

#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

#[derive(Clone, Debug)]
pub struct PoolFlags {
    pub workers: usize,
    pub queue: usize,
    pub max_upload_bytes: u64,
    pub job_timeout: Duration,
    pub max_jobs_per_worker: u64,
    pub worker_memory: u64,
    /// OCR defaults for requests that do not say, and the page limit.
    pub ocr: OcrDefaults,
}

impl PoolFlags {
    pub fn pool_config(&self) -> PoolConfig {
        PoolConfig {
            n_workers: self.workers,
            queue_capacity: self.queue,
            task_timeout: self.job_timeout,
            max_tasks_per_worker: self.max_jobs_per_worker,
            recycle_private_bytes: self.recycle_private_bytes(),
        }
    }

    /// Half the address-space cap: a worker that kept that much private
    /// memory after a task has leaked or fragmented; replace it before the
    /// next document pushes it into the hard limit.
    fn recycle_private_bytes(&self) -> u64 {
        self.worker_memory / 2
    }

    /// Forks the supervisor: call while the process has one thread.
    pub fn start_supervisor(&self) -> std::io::Result<SupervisorHandle> {
        supervisor::start(SupervisorConfig {
            recycle_private_bytes: self.recycle_private_bytes(),
            n_workers: self.workers,
            worker_memory: self.worker_memory,
            max_document_bytes: self.max_upload_bytes as usize,
            ocr: self.ocr,
        })
    }
}

#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub bind: String,
    pub pool: PoolFlags,
    pub max_request_bytes: u64,
    /// Holds the upload spool (and, with async jobs, their store).
    pub data_dir: PathBuf,
    /// How long finished jobs are kept before they are removed.
    pub job_ttl: Duration,
}

/// Flags and positional arguments of one subcommand.
pub struct Args {
    values: Vec<(String, Option<String>)>,
    pub positional: Vec<String>,
}

impl Args {
    /// Splits `args` given which flags take a value (`--flag V` or
    /// `--flag=V`) and which are switches.
    pub fn parse(args: &[OsString], valued: &[&str], switches: &[&str]) -> Result<Args, UsageError> {
        let mut values = Vec::new();
        let mut positional = Vec::new();
        let mut iter = args.iter();
        let mut only_positional = false;
        while let Some(arg) = iter.next() {
            let arg = arg.to_str().ok_or_else(|| UsageError(format!("argument is not UTF-8: {arg:?}")))?;
            if only_positional || !arg.starts_with("--") || arg == "-" {
                positional.push(arg.to_owned());
                continue;
            }
            if arg == "--" {
                only_positional = true;
                continue;
            }
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (&name[2..], Some(value.to_owned())),
                None => (&arg[2..], None),
            };
            if valued.contains(&name) {
                let value = match inline {
                    Some(value) => value,
                    None => iter
                        .next()
                        .and_then(|v| v.to_str())
                        .ok_or_else(|| UsageError(format!("--{name} needs a value")))?
                        .to_owned(),
                };
                values.push((name.to_owned(), Some(value)));
            } else if switches.contains(&name) {
                if inline.is_some() {
                    return Err(UsageError(format!("--{name} takes no value")));
                }
                values.push((name.to_owned(), None));
            } else {
                return Err(UsageError(format!("unknown flag --{name}")));
            }
        }
        Ok(Args { values, positional })
    }

    /// Every value given for a repeatable flag, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.values.iter().filter(|(n, _)| n == name).filter_map(|(_, v)| v.clone()).collect()
    }

    pub fn switch(&self, name: &str) -> bool {
        self.values.iter().any(|(n, _)| n == name)
    }

    /// The flag's value, else its environment variable's.
    pub fn value(&self, name: &str) -> Option<String> {
        let from_flag = self.values.iter().rev().find(|(n, _)| n == name).and_then(|(_, v)| v.clone());
        from_flag.or_else(|| std::env::var(env_name(name)).ok().filter(|v| !v.is_empty()))
    }

    pub fn parsed<T>(&self, name: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>, UsageError> {
        match self.value(name) {
            None => Ok(None),
            Some(raw) => parse(raw.trim())
                .map(Some)
                .ok_or_else(|| UsageError(format!("invalid value for --{name} ({}): {raw:?}", env_name(name)))),
        }
    }
}

/// `max-upload-bytes` → `DOCMILL_MAX_UPLOAD_BYTES`.
pub fn env_name(flag: &str) -> String {
    format!("DOCMILL_{}", flag.replace('-', "_").to_ascii_uppercase())
}

/// A byte count: plain digits, or with a suffix K/M/G/T (powers of 1024;
/// `KiB`, `MB`, ... read the same way).
pub fn parse_bytes(raw: &str) -> Option<u64> {
    let digits_end = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let number: u64 = raw[..digits_end].parse().ok()?;
    let unit = raw[digits_end..].trim().to_ascii_lowercase();
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return None,
    };
    number.checked_mul(1u64 << shift)
}

/// Seconds, decimals allowed (`0.5`); positive and finite.
pub fn parse_seconds(raw: &str) -> Option<Duration> {
    let secs: f64 = raw.parse().ok()?;
    (secs.is_finite() && secs > 0.0 && secs < 1e9).then(|| Duration::from_secs_f64(secs))
}

fn parse_count(raw: &str) -> Option<usize> {
    raw.parse().ok().filter(|n| *n > 0)
}

pub const POOL_FLAGS: &[&str] = &[
    "workers",
    "queue",
    "max-upload-bytes",
    "job-timeout",
    "max-jobs-per-worker",
    "worker-memory",
    "ocr",
    "ocr-lang",
    "ocr-max-pages",
];

pub fn pool_flags(args: &Args) -> Result<PoolFlags, UsageError> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let workers = args.parsed("workers", parse_count)?.unwrap_or(cores);
    Ok(PoolFlags {
        workers,
        queue: args.parsed("queue", parse_count)?.unwrap_or(QUEUE_PER_WORKER * workers),
        max_upload_bytes: args.parsed("max-upload-bytes", parse_bytes)?.unwrap_or(DEFAULT_MAX_UPLOAD_BYTES),
        job_timeout: args
            .parsed("job-timeout", parse_seconds)?
            .unwrap_or(Duration::from_secs_f64(DEFAULT_JOB_TIMEOUT_SECS)),
        max_jobs_per_worker: args
            .parsed("max-jobs-per-worker", |raw| raw.parse().ok().filter(|n| *n > 0))?
            .unwrap_or(DEFAULT_MAX_JOBS_PER_WORKER),
        worker_memory: args.parsed("worker-memory", parse_bytes)?.unwrap_or(DEFAULT_WORKER_MEMORY),
        ocr: OcrDefaults {
            mode: args.parsed("ocr", OcrMode::parse)?.unwrap_or_default(),
            languages: args.parsed("ocr-lang", |raw| OcrLanguages::parse(raw).ok())?.unwrap_or_default(),
            max_pages: args.parsed("ocr-max-pages", parse_count)?.unwrap_or(DEFAULT_OCR_MAX_PAGES),
        },
    })
}

pub fn serve_config(args: &Args) -> Result<ServeConfig, UsageError> {
    let pool = pool_flags(args)?;
    if pool.max_upload_bytes > u32::MAX as u64 - (1 << 20) {
        return Err(UsageError("--max-upload-bytes must be below 4 GiB".into()));
    }
    if pool.worker_memory < 64 << 20 {
        return Err(UsageError("--worker-memory below 64 MiB leaves a worker unable to start".into()));
    }
    Ok(ServeConfig {
        bind: args.value("bind").unwrap_or_else(|| "127.0.0.1:8080".into()),
        pool,
        max_request_bytes: args.parsed("max-request-bytes", parse_bytes)?.unwrap_or(DEFAULT_MAX_REQUEST_BYTES),
        data_dir: args.value("data-dir").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("./docmill-data")),
        job_ttl: args.parsed("job-ttl", parse_seconds)?.unwrap_or(Duration::from_secs(DEFAULT_JOB_TTL_SECS)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_accept_binary_suffixes() {
        assert_eq!(parse_bytes("100"), Some(100));
        assert_eq!(parse_bytes("100MiB"), Some(100 << 20));
        assert_eq!(parse_bytes("2G"), Some(2 << 30));
        assert_eq!(parse_bytes("1kb"), Some(1024));
        assert_eq!(parse_bytes("12x"), None);
        assert_eq!(parse_bytes(""), None);
    }

    #[test]
    fn seconds_accept_decimals_and_refuse_nonsense() {
        assert_eq!(parse_seconds("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_seconds("60"), Some(Duration::from_secs(60)));
        assert_eq!(parse_seconds("0"), None);
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("NaN"), None);
    }

    #[test]
    fn flags_take_inline_and_separate_values() {
        let raw: Vec<OsString> =
            ["--workers", "3", "--queue=7", "--text", "a.pdf"].iter().map(OsString::from).collect();
        let args = Args::parse(&raw, &["workers", "queue"], &["text"]).unwrap();
        assert_eq!(args.value("workers").as_deref(), Some("3"));
        assert_eq!(args.value("queue").as_deref(), Some("7"));
        assert!(args.switch("text"));
        assert_eq!(args.positional, vec!["a.pdf"]);
        assert!(Args::parse(&[OsString::from("--nope")], &[], &[]).is_err());
    }
}
