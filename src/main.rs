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

mod batch;
mod cli;
mod config;
mod error;
mod http;
mod jobs;
mod log;
mod memo;
mod metrics;
mod pool;
mod submit;
mod supervisor;
mod upload;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use config::{Args, PoolFlags, UsageError};
use pool::PoolConfig;
use supervisor::{SupervisorConfig, SupervisorHandle};

/// How long `serve` waits for the initial workers before it announces itself
/// anyway (with `/readyz` saying why it is not ready).
const BOOT_WAIT: Duration = Duration::from_secs(30);
/// How long in-flight requests may run after SIGTERM before the pool stops.
const DRAIN_GRACE: Duration = Duration::from_secs(30);
/// A connection must deliver a request's headers within this long (and an
/// idle keep-alive connection is closed after it), so clients that open
/// connections and send nothing cannot pile up sockets.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

const USAGE: &str = "\
docmill: document analysis service

usage:
  docmill serve   [--bind ADDR] [--workers N] [--queue N] [--max-upload-bytes N]
                  [--max-request-bytes N] [--job-timeout SECS] [--max-jobs-per-worker N]
                  [--worker-memory BYTES] [--data-dir DIR] [--job-ttl SECS]
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
        Some("serve") => serve(&args),
        Some("analyze") => analyze(&args),
        Some("submit") => submit(&args),
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

fn pool_config(flags: &PoolFlags) -> PoolConfig {
    PoolConfig {
        n_workers: flags.workers,
        queue_capacity: flags.queue,
        job_timeout: flags.job_timeout,
        max_jobs_per_worker: flags.max_jobs_per_worker,
        recycle_private_bytes: recycle_private_bytes(flags),
    }
}

/// Half the address-space cap: a worker that kept that much private memory
/// after a job has leaked or fragmented; replace it before the next document
/// pushes it into the hard limit.
fn recycle_private_bytes(flags: &PoolFlags) -> u64 {
    flags.worker_memory / 2
}

fn start_supervisor(flags: &PoolFlags) -> std::io::Result<SupervisorHandle> {
    supervisor::start(SupervisorConfig {
        recycle_private_bytes: recycle_private_bytes(flags),
        n_workers: flags.workers,
        worker_memory: flags.worker_memory,
        max_document_bytes: flags.max_upload_bytes as usize,
    })
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

fn serve(raw: &[OsString]) -> anyhow::Result<ExitCode> {
    let mut valued = vec!["bind", "max-request-bytes", "data-dir", "job-ttl"];
    valued.extend_from_slice(config::POOL_FLAGS);
    let args = Args::parse(raw, &valued, &[])?;
    if let Some(extra) = args.positional.first() {
        return Err(UsageError(format!("serve takes no arguments, got {extra:?}")).into());
    }
    let config = config::serve_config(&args)?;
    raise_descriptor_limit();
    // Fork before any thread exists: see `supervisor`.
    let supervisor = start_supervisor(&config.pool)?;
    log::init();
    runtime()?.block_on(run_server(config, supervisor))?;
    Ok(ExitCode::SUCCESS)
}

async fn run_server(config: config::ServeConfig, supervisor: SupervisorHandle) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", config.bind))?;
    let pool = pool::Pool::start(pool_config(&config.pool), supervisor)?;
    if !pool.wait_ready(config.pool.workers, BOOT_WAIT).await {
        log::error(format_args!(
            "only {} of {} workers booted in {}s; serving anyway",
            pool.ready_workers(),
            config.pool.workers,
            BOOT_WAIT.as_secs()
        ));
    }
    let address = listener.local_addr()?;
    let spool_dir = config.data_dir.join("spool");
    std::fs::create_dir_all(&spool_dir)
        .map_err(|err| anyhow::anyhow!("cannot create the spool directory {}: {err}", spool_dir.display()))?;
    let jobs = jobs::Jobs::start(&config.data_dir, Arc::clone(&pool), config.job_ttl, config.pool.workers)
        .await
        .map_err(|err| anyhow::anyhow!("cannot open the job store in {}: {err}", config.data_dir.display()))?;
    let state =
        Arc::new(http::AppState { pool: Arc::clone(&pool), metrics: Default::default(), config, spool_dir, jobs });
    let app = http::router(state);

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        log::info(format_args!("draining: finishing in-flight requests, accepting no new ones"));
        let _ = stop_tx.send(true);
    });
    let server = serve_http(listener, app, stop_rx.clone());
    {
        let line = format!("listening on http://{address}\n");
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(line.as_bytes());
        let _ = stdout.flush();
    }
    tokio::select! {
        _ = server => {}
        _ = pool.supervisor_lost() => {
            anyhow::bail!("the worker supervisor died; exiting so that a service manager can restart docmill")
        }
        _ = async {
            let _ = stop_rx.wait_for(|stop| *stop).await;
            tokio::time::sleep(DRAIN_GRACE).await;
        } => log::error(format_args!("requests still running after {}s of draining; stopping", DRAIN_GRACE.as_secs())),
    }
    pool.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

/// Accepts connections until `stop`, then waits for the open ones to finish
/// their requests. HTTP/1.1 with keep-alive and a header-read deadline.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        // Out of descriptors, most likely: wait for some to
                        // close rather than spin.
                        log::error(format_args!("accept failed: {err}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            _ = stop.wait_for(|stop| *stop) => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Lets the server use every descriptor the hard limit allows: each
/// connection, spooled upload and worker pipe takes one.
fn raise_descriptor_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("cannot listen for SIGTERM");
    let mut interrupt = signal(SignalKind::interrupt()).expect("cannot listen for SIGINT");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
}

fn analyze(raw: &[OsString]) -> anyhow::Result<ExitCode> {
    let args = Args::parse(raw, config::POOL_FLAGS, &["text"])?;
    if args.positional.is_empty() {
        return Err(UsageError("analyze needs at least one FILE".into()).into());
    }
    let flags = config::pool_flags(&args)?;
    let supervisor = start_supervisor(&flags)?;
    log::init();
    let all_ok = runtime()?.block_on(cli::analyze_files(
        pool_config(&flags),
        supervisor,
        &args.positional,
        args.switch("text"),
        flags.max_upload_bytes,
    ))?;
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn submit(raw: &[OsString]) -> anyhow::Result<ExitCode> {
    let args = Args::parse(raw, submit::VALUED, submit::SWITCHES)?;
    let options = submit::options(&args)?;
    let all_ok = runtime()?.block_on(submit::run(options))?;
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
