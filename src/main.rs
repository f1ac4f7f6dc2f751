//! `docmill`: a document-analysis service. `main` forks the supervisor while
//! the process is still single-threaded, then starts the tokio runtime and
//! runs the subcommand.
//!
//! # Layout
//!
//! - [`config`]: the command line (clap): flags, environment variables,
//!   defaults and value parsers.
//! - [`supervisor`]: the fork server: forks, confines and reaps workers; the
//!   only module with `unsafe`.
//! - [`pool`]: the server's side of the pool: queue, dispatch, deadlines,
//!   restarts.
//! - [`http`]: routes and handlers; [`batch`]: `/v1/batch`, streamed NDJSON;
//!   [`jobs`]: durable async jobs in SQLite; [`upload`]: streaming, spooling and
//!   limits of request bodies; [`error`]: the contract's error responses.
//! - [`memo`]: result cache and poison quarantine, by content.
//! - [`metrics`]: Prometheus text; [`log`]: `tracing` set up so that logging
//!   never blocks (text or JSON lines), request ids and the access log.
//! - [`cmd`]: `docmill analyze` (the pool without HTTP), `docmill submit` (a
//!   client that walks directories) and `docmill man`.

mod cmd;
mod config;
mod error;
mod http;
mod jobs;
mod log;
mod metrics;
mod ndjson;
mod peers;
mod pool;
mod serve;
mod supervisor;
mod waiting;

use std::process::ExitCode;

use clap::CommandFactory;

fn main() -> ExitCode {
    // Before any thread or fork: the server, the supervisor and every worker
    // give large freed blocks back at once.
    docmill_worker::heap::map_large_allocations();
    let cli = config::parse();
    let result = match cli.command {
        config::Command::Serve(args) => serve::main(args),
        config::Command::Analyze(args) => cmd::analyze::main(args),
        config::Command::Submit(args) => cmd::submit::main(args),
        config::Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut config::Cli::command(), "docmill", &mut script);
            cmd::man::print(&script)
        }
        config::Command::Man { out_dir } => cmd::man::main(out_dir.as_deref()),
    };
    match result {
        Ok(code) => code,
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

/// The runtime `docmill serve` runs on: `threads` runtime threads (see
/// `--runtime-threads`), plus tokio's blocking pool for file I/O.
pub fn serve_runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(SERVE_THREAD_NAME)
        .on_thread_start(supervisor::request_short_slice)
        .enable_all()
        .build()
}

/// The name of `docmill serve`'s runtime threads (and of its blocking
/// threads), as `top -H` and `/proc/PID/task/*/comm` show them.
pub const SERVE_THREAD_NAME: &str = "docmill-http";
