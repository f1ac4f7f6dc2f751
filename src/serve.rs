//! `docmill serve`: fork the supervisor, start the runtime, bind, wait for the
//! workers, serve HTTP until SIGTERM or SIGINT, then drain.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{self, ServeArgs};
use crate::peers::{Peer, PeerCounts};
use crate::supervisor::SupervisorHandle;
use crate::{http, jobs, log, pool};

/// How long `serve` waits for the initial workers before it announces itself
/// anyway (with `/readyz` saying why it is not ready).
const BOOT_WAIT: Duration = Duration::from_secs(30);
/// A connection must deliver a request's headers within this long (and an
/// idle keep-alive connection is closed after it), so clients that open
/// connections and send nothing cannot pile up sockets.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections accepted past `--max-connections` that are still served, one
/// request each, by the probe-only router: `/healthz` and `/readyz` keep
/// answering when clients hold every regular connection; anything else
/// there gets 503 at once. Past this margin a connection is closed at once.
const PROBE_CONNECTIONS: usize = 32;
/// A probe connection must send its request within this long: probes are
/// tiny, and the margin must not be held by clients that send nothing.
const PROBE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections of one peer past `--max-connections-per-peer` still served
/// by the probe-only router (within [`PROBE_CONNECTIONS`]); past them the
/// peer's new connections are closed at once, so one client's flood does
/// not hold the probe margin everyone else's probes need.
const PEER_PROBE_CONNECTIONS: usize = 4;
/// The most hyper buffers per connection while it reads (its default is
/// about 400 KiB). A request's head must fit, which 64 KiB does with room to
/// spare; a smaller buffer keeps the memory of many slow connections low.
pub const CONNECTION_READ_BUFFER: usize = 64 << 10;
/// Descriptors kept out of the connection budget: worker pipes, the
/// supervisor socket, the job store, the listener and the logs.
const RESERVED_DESCRIPTORS: u64 = 128;

pub fn main(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = config::serve_config(args).unwrap_or_else(|err| config::usage_error(err));
    let auth = &config.auth;
    let api_keys =
        http::auth::ApiKeys::new(auth.env_keys.as_deref(), auth.key_file.clone(), auth.metrics_key.as_deref())
            .unwrap_or_else(|err| config::usage_error(err));
    let api_keys = Arc::new(api_keys);
    let descriptors = raise_descriptor_limit();
    // Each connection may hold a socket and a spool file.
    let affordable = (descriptors.saturating_sub(RESERVED_DESCRIPTORS + PROBE_CONNECTIONS as u64) / 2).max(1) as usize;
    let lowered = config.max_connections > affordable;
    if lowered {
        config.max_connections = affordable;
    }
    // Fork before any thread exists: see `supervisor`.
    let supervisor = config.pool.start_supervisor()?;
    let _log = log::init(config.log_format);
    if lowered {
        tracing::info!("serving at most {affordable} connections: the descriptor limit ({descriptors}) allows no more");
    }
    crate::serve_runtime(config.runtime_threads)?.block_on(run_server(config, api_keys, supervisor))?;
    Ok(ExitCode::SUCCESS)
}

async fn run_server(
    config: config::ServeConfig,
    api_keys: Arc<http::auth::ApiKeys>,
    supervisor: SupervisorHandle,
) -> anyhow::Result<()> {
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
    http::auth::start(&api_keys, address);
    let spool_dir = config.data_dir.join("spool");
    std::fs::create_dir_all(&spool_dir)
        .map_err(|err| anyhow::anyhow!("cannot create the spool directory {}: {err}", spool_dir.display()))?;
    // A damaged job store costs the jobs, not the service.
    let (jobs, shared) = match &config.store {
        None => {
            (jobs::Jobs::start(&config.data_dir, Arc::clone(&pool), config.job_ttl, config.pool.workers).await, None)
        }
        Some(url) => {
            let shared = jobs::SharedJobs::start(
                url.clone(),
                Arc::clone(&pool),
                config.job_ttl,
                config.pool.workers,
                config.lease,
            );
            (Err("jobs are kept in PostgreSQL".to_owned()), Some(shared))
        }
    };
    let grace = config.shutdown_grace;
    let limits = ConnectionLimits {
        max_connections: config.max_connections,
        per_peer: config.max_connections_per_peer.min(config.max_connections),
    };
    let send_timeout = config.body_timeout;
    let state = Arc::new(http::AppState {
        pool: Arc::clone(&pool),
        metrics: Default::default(),
        config,
        spool_dir,
        jobs: jobs.clone(),
        api_keys,
        shared: shared.clone(),
        answers: Default::default(),
    });
    let app = http::router(Arc::clone(&state));
    let probe_apps =
        ProbeApps { full: http::probe_router(Arc::clone(&state), false), peer_full: http::probe_router(state, true) };

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(None::<Instant>);
    {
        let (jobs, shared) = (jobs.clone(), shared.clone());
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("draining: finishing in-flight requests, accepting no new ones");
            // Job documents not yet started stay in the store for the next
            // start; those running get the grace period.
            if let Ok(jobs) = &jobs {
                jobs.stop_starting();
            }
            if let Some(shared) = &shared {
                shared.stop_starting();
            }
            let _ = stop_tx.send(Some(Instant::now()));
        });
    }
    let server = serve_http(listener, app, probe_apps, limits, send_timeout, stop_rx.clone());
    {
        let line = format!("listening on http://{address}\n");
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(line.as_bytes());
        let _ = stdout.flush();
    }
    let stopped_at = async {
        let stopped = stop_rx.wait_for(|stop| stop.is_some()).await.ok().and_then(|stop| *stop);
        stopped.unwrap_or_else(Instant::now)
    };
    tokio::select! {
        _ = server => {}
        _ = pool.supervisor_lost() => {
            anyhow::bail!("the worker supervisor died; exiting so that a service manager can restart docmill")
        }
        _ = async { tokio::time::sleep_until((stopped_at.await + grace).into()).await } => tracing::error!(
            "requests still running after {:.1}s of draining; stopping",
            grace.as_secs_f64()
        ),
    }
    let deadline = stop_rx.borrow().unwrap_or_else(Instant::now) + grace;
    if let Ok(jobs) = &jobs {
        if !jobs.wait_idle(deadline).await {
            tracing::info!("job documents still running at the end of the grace period are left for the next start");
        }
    }
    if let Some(shared) = &shared {
        if !shared.wait_idle(deadline).await {
            tracing::info!("job documents still running at the end of the grace period are left to the other nodes");
        }
    }
    pool.shutdown(deadline.saturating_duration_since(Instant::now())).await;
    Ok(())
}

/// `--max-connections` and `--max-connections-per-peer` (no more than it).
#[derive(Clone, Copy)]
struct ConnectionLimits {
    max_connections: usize,
    per_peer: usize,
}

/// The probe-only routers: past the server's cap, and past a peer's.
struct ProbeApps {
    full: axum::Router,
    peer_full: axum::Router,
}

/// What a new connection gets.
#[derive(Debug, PartialEq, Eq)]
enum Admission {
    Serve,
    /// The probe-only router; `per_peer` when it is its peer's cap.
    Probes {
        per_peer: bool,
    },
    Close,
}

fn admit(limits: ConnectionLimits, open: usize, peer_open: usize) -> Admission {
    let ConnectionLimits { max_connections, per_peer } = limits;
    if open > max_connections + PROBE_CONNECTIONS || peer_open > per_peer + PEER_PROBE_CONNECTIONS {
        Admission::Close
    } else if peer_open > per_peer {
        Admission::Probes { per_peer: true }
    } else if open > max_connections {
        Admission::Probes { per_peer: false }
    } else {
        Admission::Serve
    }
}

/// Accepts connections until `stop`, then waits for the open ones to finish
/// their requests. HTTP/1.1 with keep-alive, a header-read deadline and the
/// send deadline (`send_timeout`, see [`http::answer::SendDeadline`]). Past
/// `max_connections` (or a peer's `per_peer`), a margin of
/// [`PROBE_CONNECTIONS`] more ([`PEER_PROBE_CONNECTIONS`] of one peer) is
/// served by a probe-only router, and beyond that connections are closed as
/// they come.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    probe_apps: ProbeApps,
    limits: ConnectionLimits,
    send_timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<Option<Instant>>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(CONNECTION_READ_BUFFER);
    let mut probe_builder = hyper::server::conn::http1::Builder::new();
    probe_builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(PROBE_HEADER_TIMEOUT)
        .max_buf_size(CONNECTION_READ_BUFFER)
        .keep_alive(false);
    let open = Arc::new(AtomicUsize::new(0));
    let peers = PeerCounts::default();
    let mut refused_logged = false;
    let mut peer_refused_logged: Option<Peer> = None;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, address) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of descriptors, most likely: wait for some to
                        // close rather than spin.
                        tracing::error!("accept failed: {err}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let count = (OpenConnection::new(&open), peers.open(Peer::of(address.ip())));
                let admission = admit(limits, count.0.n, count.1.n);
                if admission == Admission::Close {
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let io = hyper_util::rt::TokioIo::new(http::framework_errors::FrameworkErrors::new(
                    http::answer::SendDeadline::new(stream, send_timeout),
                ));
                if let Admission::Probes { per_peer } = admission {
                    let peer = count.1.peer;
                    if per_peer && peer_refused_logged != Some(peer) {
                        tracing::error!(
                            "{} connections open from {peer} (--max-connections-per-peer): answering only probes on its new ones",
                            limits.per_peer
                        );
                        peer_refused_logged = Some(peer);
                    } else if !per_peer && !refused_logged {
                        tracing::error!(
                            "{} connections open (--max-connections): answering only probes on new ones",
                            limits.max_connections
                        );
                        refused_logged = true;
                    }
                    let app = if per_peer { &probe_apps.peer_full } else { &probe_apps.full };
                    let service = hyper_util::service::TowerToHyperService::new(app.clone());
                    let connection = graceful.watch(probe_builder.serve_connection(io, service));
                    tokio::spawn(async move {
                        let _ = connection.await;
                        drop(count);
                    });
                    continue;
                }
                refused_logged = false;
                if peer_refused_logged == Some(count.1.peer) {
                    peer_refused_logged = None;
                }
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                let connection = graceful.watch(builder.serve_connection(io, service));
                tokio::spawn(async move {
                    let _ = connection.await;
                    drop(count);
                });
            }
            _ = stop.wait_for(|stop| stop.is_some()) => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// One open connection, counted while it lives.
struct OpenConnection {
    open: Arc<AtomicUsize>,
    /// Connections open with this one.
    n: usize,
}

impl OpenConnection {
    fn new(open: &Arc<AtomicUsize>) -> OpenConnection {
        let n = open.fetch_add(1, Ordering::AcqRel) + 1;
        OpenConnection { open: Arc::clone(open), n }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Lets the server use every descriptor the hard limit allows: each
/// connection, spooled upload and worker pipe takes one. Returns the limit
/// now in force.
fn raise_descriptor_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() => hard,
        Ok((soft, _)) => soft,
        Err(_) => 1024,
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
