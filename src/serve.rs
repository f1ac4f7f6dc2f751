//! `docmill serve`: fork the supervisor, start the runtime, bind, wait for the
//! workers, serve HTTP until SIGTERM or SIGINT, then drain.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, ServeArgs};
use crate::supervisor::SupervisorHandle;
use crate::{http, jobs, log, pool};

/// How long `serve` waits for the initial workers before it announces itself
/// anyway (with `/readyz` saying why it is not ready).
const BOOT_WAIT: Duration = Duration::from_secs(30);
/// How long in-flight requests may run after SIGTERM before the pool stops.
const DRAIN_GRACE: Duration = Duration::from_secs(30);
/// A connection must deliver a request's headers within this long (and an
/// idle keep-alive connection is closed after it), so clients that open
/// connections and send nothing cannot pile up sockets.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

pub fn main(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = config::serve_config(args).unwrap_or_else(|err| config::usage_error(err));
    raise_descriptor_limit();
    // Fork before any thread exists: see `supervisor`.
    let supervisor = config.pool.start_supervisor()?;
    let _log = log::init(config.log_format);
    crate::runtime()?.block_on(run_server(config, supervisor))?;
    Ok(ExitCode::SUCCESS)
}

async fn run_server(config: config::ServeConfig, supervisor: SupervisorHandle) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", config.bind))?;
    let pool = pool::Pool::start(config.pool.pool_config(), supervisor)?;
    if !pool.wait_ready(config.pool.workers, BOOT_WAIT).await {
        tracing::error!(
            "only {} of {} workers booted in {}s; serving anyway",
            pool.ready_workers(),
            config.pool.workers,
            BOOT_WAIT.as_secs()
        );
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
        tracing::info!("draining: finishing in-flight requests, accepting no new ones");
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
        } => tracing::error!("requests still running after {}s of draining; stopping", DRAIN_GRACE.as_secs()),
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
                        tracing::error!("accept failed: {err}");
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
