//! `docmill`: a document-analysis service. `main` forks the supervisor while
//! the process is still single-threaded, then starts the tokio runtime and
//! runs the subcommand.
//!
//! # Layout
//!
//! - [`config`]: flags, environment variables and their defaults.
//! - [`supervisor`]: the fork server: forks, confines and reaps workers; the
//!   only module with `unsafe`.
//! - [`pool`]: the server's side of the pool: queue, dispatch, deadlines,
//!   restarts.
//! - [`http`]: routes and handlers; [`batch`]: `/v1/batch`, streamed NDJSON;
//!   [`jobs`]: durable async jobs in SQLite; [`upload`]: streaming, spooling and
//!   limits of request bodies; [`error`]: the contract's error responses.
//! - [`memo`]: result cache and poison quarantine, by content.
//! - [`metrics`]: Prometheus text; [`log`]: a logger that never blocks.
//! - [`cli`]: `docmill analyze`, the pool without HTTP.
//! - [`submit`]: `docmill submit`, a client that walks directories.

mod cmd;
mod config;
mod error;
mod http;
mod jobs;
mod log;
mod metrics;
mod ndjson;
mod pool;
mod serve;
mod supervisor;

use std::ffi::OsString;
use std::process::ExitCode;

use config::UsageError;

const USAGE: &str = "\
docmill: document analysis service

usage:
  docmill serve   [--bind ADDR] [--workers N] [--queue N] [--max-upload-bytes N]
                  [--max-request-bytes N] [--job-timeout SECS] [--max-jobs-per-worker N]
                  [--worker-memory BYTES] [--data-dir DIR] [--job-ttl SECS]
                  [--body-timeout SECS] [--max-connections N] [--shutdown-grace SECS]
                  [--store postgres://USER@HOST/DB] [--lease SECS]
  docmill analyze [--text] [--workers N] [--job-timeout SECS] ... FILE...
  docmill submit  --server URL [--concurrency N] [--out FILE] [--resume] [--text]
                  [--no-ignore] [--include GLOB]... [--exclude GLOB]... PATH...

Every flag also reads an environment variable: --max-upload-bytes is DOCMILL_MAX_UPLOAD_BYTES.
";

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.is_empty() {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    }
    let command = args.remove(0);
    let result = match command.to_str() {
        Some("serve") => serve::main(&args),
        Some("analyze") => cmd::analyze::main(&args),
        Some("submit") => cmd::submit::main(&args),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("-V" | "--version") => {
            println!("docmill {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        _ => Err(anyhow::Error::new(UsageError(format!("unknown command {command:?}")))),
    };
    match result {
        Ok(code) => code,
        Err(err) if err.is::<UsageError>() => {
            eprintln!("docmill: {err}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("docmill: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The multi-threaded runtime every subcommand runs on, built only after the
/// supervisor was forked.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}
