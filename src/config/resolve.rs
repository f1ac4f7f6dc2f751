//! The settings of `docmill serve` and of the pool with every default
//! resolved, from the flags `clap` parsed (the parent module).

use std::path::PathBuf;
use std::time::Duration;

use docmill_worker::sandbox::{Confinement, WorkerUser};
use docmill_worker::worker_loop::OcrDefaults;

use super::{default_queue, LogFormat, PoolArgs, ServeArgs, MAX_UPLOAD_CEILING, MIN_WORKER_MEMORY};
use crate::pool::PoolConfig;
use crate::supervisor::{self, SupervisorConfig, SupervisorHandle};

/// The pool's settings with every default resolved.
#[derive(Clone, Debug)]
pub struct PoolFlags {
    pub workers: usize,
    pub queue: usize,
    pub max_upload_bytes: u64,
    pub job_timeout: Duration,
    pub max_jobs_per_worker: u64,
    pub worker_memory: u64,
    /// The account workers switch to (`--worker-user`, else `nobody` when the
    /// server runs as root; `None`: they keep the server's).
    pub worker_user: Option<WorkerUser>,
    /// The seccomp filter is on unless `DOCMILL_WORKER_SECCOMP=off` (for
    /// measuring its cost only).
    pub worker_seccomp: bool,
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
            confinement: Confinement { user: self.worker_user.clone(), seccomp: self.worker_seccomp },
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
    /// No body progress for this long closes the connection (408).
    pub body_timeout: Duration,
    /// SIGTERM's grace period for in-flight work.
    pub shutdown_grace: Duration,
    /// Connections served at once; past it only probes are answered.
    pub max_connections: usize,
    /// Connections of one peer served at once; past it, only its probes.
    pub max_connections_per_peer: usize,
    /// Threads of the runtime that serves HTTP.
    pub runtime_threads: usize,
    pub log_format: LogFormat,
    /// One log line per request.
    pub access_log: bool,
    /// Where the API keys come from; the server checks them at start.
    pub auth: AuthFlags,
    /// `--store postgres://…` (`DOCMILL_STORE`): jobs in PostgreSQL, shared
    /// by every node that names it; `None` keeps them in SQLite.
    pub store: Option<String>,
    /// How long a claimed document stays a node's without its heartbeat.
    pub lease: Duration,
}

/// Where API keys come from: `DOCMILL_API_KEYS`, `--api-key-file`, and the
/// metrics key. Keys themselves are never taken as flags (a command line is
/// visible to every local user); `--metrics-key` is the exception a
/// scraper's config needs.
#[derive(Clone, Debug, Default)]
pub struct AuthFlags {
    pub env_keys: Option<String>,
    pub key_file: Option<PathBuf>,
    pub metrics_key: Option<String>,
}

pub fn pool_flags(args: &PoolArgs) -> Result<PoolFlags, String> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let workers = args.workers.unwrap_or(cores);
    if args.max_upload_bytes > MAX_UPLOAD_CEILING {
        return Err("--max-upload-bytes must be below 4 GiB".into());
    }
    if args.worker_memory < MIN_WORKER_MEMORY {
        return Err("--worker-memory below 64 MiB leaves a worker unable to start".into());
    }
    Ok(PoolFlags {
        workers,
        queue: args.queue.unwrap_or_else(|| default_queue(workers)),
        max_upload_bytes: args.max_upload_bytes,
        job_timeout: args.job_timeout,
        max_jobs_per_worker: args.max_jobs_per_worker,
        worker_memory: args.worker_memory,
        worker_user: worker_user(args.worker_user.clone())?,
        // A switch for benchmarks that measure the filter's cost, never for
        // production: the environment only, no flag.
        worker_seccomp: std::env::var("DOCMILL_WORKER_SECCOMP").map_or(true, |value| value != "off"),
        ocr: OcrDefaults { mode: args.ocr, languages: args.ocr_lang, max_pages: args.ocr_max_pages },
    })
}

/// The account workers run as when the server runs as root and
/// `--worker-user` is not given: the conventional owner of nothing.
pub const DEFAULT_WORKER_USER: &str = "nobody";

/// The account workers switch to. A server running as root never lets
/// workers keep root; any other server's workers keep its account (a
/// non-root process cannot switch), so `--worker-user` then must name that
/// same account or nothing.
fn worker_user(requested: Option<String>) -> Result<Option<WorkerUser>, String> {
    let euid = nix::unistd::geteuid();
    let Some(name) = requested.or_else(|| euid.is_root().then(|| DEFAULT_WORKER_USER.to_string())) else {
        return Ok(None);
    };
    let user = nix::unistd::User::from_name(&name)
        .map_err(|err| format!("--worker-user {name:?}: cannot look it up: {err}"))?
        .ok_or_else(|| format!("--worker-user {name:?}: no such user"))?;
    if user.uid.is_root() {
        return Err(format!("--worker-user {name:?} is root: workers must not run as root"));
    }
    if user.uid == euid {
        return Ok(None);
    }
    if !euid.is_root() {
        return Err(format!(
            "--worker-user {name:?}: only a server running as root can switch workers to another user"
        ));
    }
    Ok(Some(WorkerUser { name, uid: user.uid.as_raw(), gid: user.gid.as_raw() }))
}

/// One per core. Fewer cost less CPU per request (a thread looking for
/// work to steal wakes up, and preempts a worker, for nothing; measured:
/// 1 thread on 2 cores takes 8-16 % less CPU per small document), but the
/// scheduler shares a core between threads, not processes: clients on the
/// same machine (16 busy ones in the burst benchmark) left a single server
/// thread too small a share, and goodput under a burst fell from 1.01 to
/// 0.77 of polite clients. Fewer is for servers whose clients are elsewhere.
fn default_runtime_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

pub fn serve_config(args: ServeArgs) -> Result<ServeConfig, String> {
    let auth = AuthFlags {
        env_keys: std::env::var("DOCMILL_API_KEYS").ok().filter(|keys| !keys.is_empty()),
        key_file: args.api_key_file.clone(),
        metrics_key: args.metrics_key.clone(),
    };
    Ok(ServeConfig {
        pool: pool_flags(&args.pool)?,
        bind: args.bind,
        max_request_bytes: args.max_request_bytes,
        data_dir: args.data_dir,
        job_ttl: args.job_ttl,
        body_timeout: args.body_timeout,
        shutdown_grace: args.shutdown_grace,
        max_connections: args.max_connections,
        max_connections_per_peer: args.max_connections_per_peer,
        runtime_threads: args.runtime_threads.unwrap_or_else(default_runtime_threads),
        log_format: args.log_format,
        access_log: args.access_log,
        auth,
        store: args.store,
        lease: args.lease,
    })
}
