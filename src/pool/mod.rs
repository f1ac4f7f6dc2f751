//! The server's side of the worker pool: a bounded two-lane queue, one task per
//! live worker that feeds it jobs over its pipes, and the bookkeeping behind
//! `/v1/pool`, `/readyz` and `/metrics`.
//!
//! Every way a job can end has its own path: a report, a typed parse error, a
//! deadline (the worker is killed: `timed_out`), a client that left (killed:
//! `cancelled`), a worker that died or spoke garbage (`crashed`), and a worker
//! retired after its job quota, a panic or memory growth (`recycled`). The
//! supervisor forks the replacement on its own; this side only asks it to kill.

pub mod memo;

use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use docmill_engine::report::Report;
use docmill_worker::protocol::{
    self, AnalyzeRequest, ErrorCode, FromSupervisor, FromWorker, OcrStatus, Options, Outcome,
};
use nix::sys::signal::Signal;
use serde::Serialize;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::log;
use crate::supervisor::{self, SupervisorHandle};
use memo::Memo;

/// How long a freshly forked worker may take to say it is ready.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a worker task waits for the supervisor to report how a dead
/// worker ended, to name the signal or exit status in the client's error.
const EXIT_STATUS_WAIT: Duration = Duration::from_secs(2);
/// Exit statuses kept for worker tasks that have not asked yet.
const MAX_REMEMBERED_EXITS: usize = 1024;

#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub n_workers: usize,
    pub queue_capacity: usize,
    pub job_timeout: Duration,
    pub max_jobs_per_worker: u64,
    /// Private memory after a job above which a worker is recycled.
    pub recycle_private_bytes: u64,
}

/// Where a document waits between upload and dispatch.
pub enum Document {
    Memory(Bytes),
    /// An unlinked temporary file, read back only when a worker is free.
    File(std::fs::File),
}

impl Document {
    async fn load(self) -> std::io::Result<Bytes> {
        match self {
            Document::Memory(bytes) => Ok(bytes),
            Document::File(mut file) => tokio::task::spawn_blocking(move || {
                use std::io::{Read, Seek};
                let mut bytes = Vec::new();
                file.rewind()?;
                file.read_to_end(&mut bytes)?;
                Ok(Bytes::from(bytes))
            })
            .await
            .map_err(std::io::Error::other)?,
        }
    }
}

pub struct JobSpec {
    pub filename: String,
    pub declared_type: Option<String>,
    pub options: Options,
    pub sha256: Option<[u8; 32]>,
    pub document: Document,
    /// Answer from the result cache when this content was analysed recently.
    pub use_cache: bool,
}

/// Why a job produced no report.
#[derive(Debug, Clone, PartialEq)]
pub enum JobError {
    ParseFailed(String),
    Crashed(String),
    TimedOut(Duration),
    Overloaded,
    /// No worker can take work (they fail at boot).
    Unavailable(String),
    /// This content crashed or timed out workers before; here is how.
    Quarantined(Box<JobError>),
    ShuttingDown,
    Internal(String),
}

type Reply = oneshot::Sender<Result<Report, JobError>>;

struct Job {
    spec: JobSpec,
    enqueued: Instant,
    reply: Reply,
}

/// Which lane a job waits in. Interactive jobs are taken first and shed when
/// their lane is full; bulk jobs (batch, jobs, CLI) wait for room instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    Interactive,
    Bulk,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    Booting,
    Idle,
    Busy,
    Retiring,
}

#[derive(Clone, Debug, Serialize)]
pub struct WorkerInfo {
    pub pid: i32,
    pub state: WorkerState,
    pub jobs_done: u64,
    /// Resident memory, read from `/proc` when asked for.
    pub rss_bytes: u64,
}

/// Restart counts by cause, as `/v1/pool` and `/metrics` report them.
#[derive(Default)]
pub struct Restarts {
    pub crashed: AtomicU64,
    pub timed_out: AtomicU64,
    pub recycled: AtomicU64,
    pub cancelled: AtomicU64,
}

#[derive(Default)]
pub struct Counters {
    pub documents_ok: AtomicU64,
    pub documents_failed: AtomicU64,
    pub boot_failures: AtomicU64,
    pub spawned: AtomicU64,
}

enum ExitSlot {
    Waiting(oneshot::Sender<String>),
    Exited(String),
}

pub struct Pool {
    config: PoolConfig,
    interactive_tx: mpsc::Sender<Job>,
    bulk_tx: mpsc::Sender<Job>,
    /// Both lanes' receivers behind one lock: a worker task that holds it
    /// waits for the next job, taking interactive work first.
    lanes: tokio::sync::Mutex<(mpsc::Receiver<Job>, mpsc::Receiver<Job>)>,
    queued: AtomicUsize,
    control: AsyncFd<OwnedFd>,
    supervisor_pid: nix::unistd::Pid,
    workers: Mutex<BTreeMap<u64, WorkerInfo>>,
    exits: Mutex<HashMap<u64, ExitSlot>>,
    pub restarts: Restarts,
    pub counters: Counters,
    memo: Memo,
    /// Why workers cannot boot, while they cannot.
    boot_trouble: Mutex<Option<String>>,
    /// What OCR the last worker to boot loaded, for `/v1/pool`.
    ocr: Mutex<Option<OcrStatus>>,
    ready_changed: Notify,
    draining: AtomicBool,
    supervisor_gone: AtomicBool,
    /// Set when the supervisor died on its own: no worker can ever start
    /// again in this process, so the server exits and lets its service
    /// manager start a fresh one.
    lost: Notify,
    next_job_id: AtomicU64,
}

impl Pool {
    /// Takes over the supervisor's control socket and starts the task that
    /// listens to it. Must run inside the runtime.
    pub fn start(config: PoolConfig, supervisor: SupervisorHandle) -> std::io::Result<Arc<Pool>> {
        let control = supervisor::register_control(supervisor.control)?;
        let (interactive_tx, interactive_rx) = mpsc::channel(config.queue_capacity.max(1));
        let (bulk_tx, bulk_rx) = mpsc::channel(config.queue_capacity.max(1));
        let pool = Arc::new(Pool {
            config,
            interactive_tx,
            bulk_tx,
            lanes: tokio::sync::Mutex::new((interactive_rx, bulk_rx)),
            queued: AtomicUsize::new(0),
            control,
            supervisor_pid: supervisor.pid,
            workers: Mutex::new(BTreeMap::new()),
            exits: Mutex::new(HashMap::new()),
            restarts: Restarts::default(),
            memo: Memo::default(),
            counters: Counters::default(),
            boot_trouble: Mutex::new(None),
            ocr: Mutex::new(None),
            ready_changed: Notify::new(),
            draining: AtomicBool::new(false),
            supervisor_gone: AtomicBool::new(false),
            lost: Notify::new(),
            next_job_id: AtomicU64::new(1),
        });
        tokio::spawn(Arc::clone(&pool).listen_to_supervisor());
        Ok(pool)
    }

    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Queues a job and waits for its result. Interactive jobs are refused
    /// with [`JobError::Overloaded`] at once when their lane is full; bulk
    /// jobs wait for room. Dropping the returned future cancels the job: a
    /// queued job is skipped, a running one's worker is killed.
    pub async fn run(&self, spec: JobSpec, lane: Lane) -> Result<Report, JobError> {
        let Some(sha256) = spec.sha256 else { return self.dispatch(spec, lane).await };
        if let Some(failure) = self.memo.quarantined(sha256) {
            return Err(JobError::Quarantined(Box::new(failure)));
        }
        let options = spec.options;
        if spec.use_cache {
            if let Some(mut report) = self.memo.cached(sha256, options) {
                report.filename = spec.filename;
                report.cached = true;
                report.timing.queue_ms = 0;
                return Ok(report);
            }
        }
        let result = self.dispatch(spec, lane).await;
        match &result {
            Ok(report) => self.memo.remember(sha256, options, report),
            Err(failure @ (JobError::Crashed(_) | JobError::TimedOut(_))) => self.memo.strike(sha256, failure),
            Err(_) => {}
        }
        result
    }

    async fn dispatch(&self, spec: JobSpec, lane: Lane) -> Result<Report, JobError> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(JobError::ShuttingDown);
        }
        if lane == Lane::Interactive && self.ready_workers() == 0 {
            if let Some(trouble) = self.boot_trouble.lock().unwrap().clone() {
                return Err(JobError::Unavailable(trouble));
            }
        }
        let (reply, result) = oneshot::channel();
        let job = Job { spec, enqueued: Instant::now(), reply };
        self.queued.fetch_add(1, Ordering::Relaxed);
        let sent = match lane {
            Lane::Interactive => self.interactive_tx.try_send(job).map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => JobError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => JobError::ShuttingDown,
            }),
            Lane::Bulk => self.bulk_tx.send(job).await.map_err(|_| JobError::ShuttingDown),
        };
        if let Err(err) = sent {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(err);
        }
        result.await.unwrap_or(Err(JobError::ShuttingDown))
    }

    /// True when an interactive job would be refused right now.
    pub fn interactive_full(&self) -> bool {
        self.interactive_tx.capacity() == 0
    }

    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// OCR as the workers loaded it; `None` until one has booted.
    pub fn ocr_status(&self) -> Option<OcrStatus> {
        self.ocr.lock().unwrap().clone()
    }

    /// Each live worker, with its resident memory read now.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        let mut workers: Vec<WorkerInfo> = self.workers.lock().unwrap().values().cloned().collect();
        for worker in &mut workers {
            if let Some(rss) = resident_bytes(worker.pid) {
                worker.rss_bytes = rss;
            }
        }
        workers
    }

    /// Workers that have booted and can take work.
    pub fn ready_workers(&self) -> usize {
        self.workers
            .lock()
            .unwrap()
            .values()
            .filter(|w| matches!(w.state, WorkerState::Idle | WorkerState::Busy))
            .count()
    }

    /// `None` when ready for work, else why not.
    pub fn not_ready_reason(&self) -> Option<String> {
        if self.draining.load(Ordering::Relaxed) {
            return Some("draining: the server is shutting down".into());
        }
        if self.supervisor_gone.load(Ordering::Relaxed) {
            return Some("the worker supervisor has exited".into());
        }
        if self.ready_workers() == 0 {
            return Some(match self.boot_trouble.lock().unwrap().clone() {
                Some(trouble) => format!("no worker is ready: {trouble}"),
                None => "no worker is ready yet".into(),
            });
        }
        if self.interactive_full() {
            return Some(format!("queue full ({} jobs waiting)", self.queue_depth()));
        }
        None
    }

    /// Resolves if the supervisor dies while the pool is in use.
    pub async fn supervisor_lost(&self) {
        self.lost.notified().await
    }

    /// Waits until `n` workers are ready, workers are found failing at
    /// boot, or `timeout` passes; true if `n` are ready.
    pub async fn wait_ready(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.ready_changed.notified();
            if self.ready_workers() >= n {
                return true;
            }
            if self.boot_trouble.lock().unwrap().is_some() {
                return false;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.ready_workers() >= n;
            }
        }
    }

    /// Stops taking jobs, waits (bounded by `grace`) for queued and running
    /// ones, then stops the supervisor and its workers and reaps it.
    pub async fn shutdown(&self, grace: Duration) {
        self.draining.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + grace;
        while (self.queue_depth() > 0 || self.busy_workers() > 0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = supervisor::send(self.control.get_ref().as_raw_fd(), &protocol::ToSupervisor::Shutdown);
        let pid = self.supervisor_pid;
        let _ = tokio::task::spawn_blocking(move || supervisor::wait_for_exit(pid)).await;
    }

    fn busy_workers(&self) -> usize {
        self.workers.lock().unwrap().values().filter(|w| w.state == WorkerState::Busy).count()
    }

    fn kill(&self, worker_id: u64) {
        if let Err(err) =
            supervisor::send(self.control.get_ref().as_raw_fd(), &protocol::ToSupervisor::Kill { worker_id })
        {
            log::error(format_args!("cannot ask the supervisor to kill worker {worker_id}: {err}"));
        }
    }

    fn set_state(&self, worker_id: u64, state: WorkerState) {
        if let Some(info) = self.workers.lock().unwrap().get_mut(&worker_id) {
            info.state = state;
        }
        self.ready_changed.notify_waiters();
    }

    async fn listen_to_supervisor(self: Arc<Self>) {
        loop {
            let mut guard = match self.control.readable().await {
                Ok(guard) => guard,
                Err(_) => break,
            };
            let received =
                guard.try_io(|fd| supervisor::receive(fd.get_ref().as_raw_fd()).map_err(std::io::Error::from));
            let message = match received {
                Err(_would_block) => continue,
                Ok(Err(err)) => {
                    log::error(format_args!("control socket error: {err}"));
                    break;
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(message))) => message,
            };
            match message {
                (FromSupervisor::Spawned { worker_id, pid }, fds) => {
                    self.counters.spawned.fetch_add(1, Ordering::Relaxed);
                    let mut fds = fds.into_iter();
                    let (Some(requests), Some(responses)) = (fds.next(), fds.next()) else {
                        log::error(format_args!("worker {pid} arrived without its pipes"));
                        self.kill(worker_id);
                        continue;
                    };
                    self.workers
                        .lock()
                        .unwrap()
                        .insert(worker_id, WorkerInfo { pid, state: WorkerState::Booting, jobs_done: 0, rss_bytes: 0 });
                    tokio::spawn(Arc::clone(&self).drive_worker(worker_id, pid, requests, responses));
                }
                (FromSupervisor::Exited { worker_id, pid, code, signal }, _) => {
                    self.workers.lock().unwrap().remove(&worker_id);
                    self.ready_changed.notify_waiters();
                    let how = describe_exit(pid, code, signal);
                    let mut exits = self.exits.lock().unwrap();
                    match exits.remove(&worker_id) {
                        Some(ExitSlot::Waiting(waiter)) => {
                            let _ = waiter.send(how);
                        }
                        _ => {
                            if exits.len() >= MAX_REMEMBERED_EXITS {
                                if let Some(oldest) = exits.keys().min().copied() {
                                    exits.remove(&oldest);
                                }
                            }
                            exits.insert(worker_id, ExitSlot::Exited(how));
                        }
                    }
                }
                (FromSupervisor::BootFailing { consecutive, retry_in_ms }, _) => {
                    self.counters.boot_failures.fetch_add(1, Ordering::Relaxed);
                    let trouble = format!(
                        "workers fail at boot ({consecutive} in a row); next attempt in {:.1}s",
                        retry_in_ms as f64 / 1000.0
                    );
                    log::error(format_args!("{trouble}"));
                    *self.boot_trouble.lock().unwrap() = Some(trouble);
                    self.ready_changed.notify_waiters();
                }
            }
        }
        self.supervisor_gone.store(true, Ordering::Relaxed);
        if !self.draining.load(Ordering::Relaxed) {
            log::error(format_args!("the worker supervisor died; no worker can start again: exiting"));
            self.draining.store(true, Ordering::Relaxed);
            let mut lanes = self.lanes.lock().await;
            let (interactive, bulk) = &mut *lanes;
            while let Ok(job) = interactive.try_recv().or_else(|_| bulk.try_recv()) {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                let _ = job.reply.send(Err(JobError::Unavailable("the worker supervisor died".into())));
            }
            self.lost.notify_one();
        }
    }

    /// How a worker ended, once the supervisor has reaped it.
    async fn exit_status(&self, worker_id: u64) -> String {
        let waiter = {
            let mut exits = self.exits.lock().unwrap();
            match exits.remove(&worker_id) {
                Some(ExitSlot::Exited(how)) => return how,
                _ => {
                    let (tx, rx) = oneshot::channel();
                    exits.insert(worker_id, ExitSlot::Waiting(tx));
                    rx
                }
            }
        };
        match tokio::time::timeout(EXIT_STATUS_WAIT, waiter).await {
            Ok(Ok(how)) => how,
            _ => {
                self.exits.lock().unwrap().remove(&worker_id);
                "worker died (exit status not known)".into()
            }
        }
    }

    async fn next_job(&self) -> Option<Job> {
        let mut lanes = self.lanes.lock().await;
        let (interactive, bulk) = &mut *lanes;
        let job = tokio::select! {
            biased;
            Some(job) = interactive.recv() => Some(job),
            Some(job) = bulk.recv() => Some(job),
            else => None,
        };
        if job.is_some() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
        job
    }

    /// Feeds one worker until it dies or is retired.
    async fn drive_worker(self: Arc<Self>, worker_id: u64, pid: i32, requests: OwnedFd, responses: OwnedFd) {
        let (mut requests, mut responses) =
            match (pipe::Sender::from_owned_fd(requests), pipe::Receiver::from_owned_fd(responses)) {
                (Ok(tx), Ok(rx)) => (tx, rx),
                _ => {
                    log::error(format_args!("worker {pid}: its pipes are not usable"));
                    self.kill(worker_id);
                    return;
                }
            };
        match tokio::time::timeout(BOOT_TIMEOUT, read_message(&mut responses)).await {
            Ok(Ok(FromWorker::Ready { ocr, .. })) => {
                *self.boot_trouble.lock().unwrap() = None;
                *self.ocr.lock().unwrap() = Some(ocr);
                self.set_state(worker_id, WorkerState::Idle);
            }
            Ok(Err(WireError::Closed)) => {
                // It died during boot; the supervisor reports how and backs
                // off if it keeps happening.
                return;
            }
            _ => {
                log::error(format_args!("worker {pid} did not boot properly; killing it"));
                self.kill(worker_id);
                return;
            }
        }

        let jitter = worker_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) % (self.config.max_jobs_per_worker / 10 + 1);
        let job_quota = self.config.max_jobs_per_worker.saturating_sub(jitter).max(1);
        let mut jobs_done = 0u64;
        loop {
            // While idle, also watch the response pipe: a worker that dies
            // between jobs (killed from outside, OOM) is noticed here, before
            // a job is handed to it.
            let mut probe = [0u8; 1];
            let job = tokio::select! {
                job = self.next_job() => job,
                read = responses.read(&mut probe) => {
                    match read {
                        Ok(0) | Err(_) if self.draining.load(Ordering::Relaxed) => {}
                        Ok(0) | Err(_) => {
                            let how = self.exit_status(worker_id).await;
                            log::error(format_args!("idle worker {pid} died: {how}"));
                            self.restarts.crashed.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {
                            log::error(format_args!("idle worker {pid} wrote unasked; killing it"));
                            self.restarts.crashed.fetch_add(1, Ordering::Relaxed);
                            self.kill(worker_id);
                        }
                    }
                    return;
                }
            };
            let Some(mut job) = job else { return };
            if job.reply.is_closed() {
                // The client left while the job was queued: no CPU for nobody.
                continue;
            }
            self.set_state(worker_id, WorkerState::Busy);
            let queue_ms = job.enqueued.elapsed().as_millis() as u64;
            let bytes = match job.spec.document.load().await {
                Ok(bytes) => bytes,
                Err(err) => {
                    let _ = job.reply.send(Err(JobError::Internal(format!("cannot read the spooled upload: {err}"))));
                    self.set_state(worker_id, WorkerState::Idle);
                    continue;
                }
            };
            let job_id = self.next_job_id.fetch_add(1, Ordering::Relaxed);
            let frame = protocol::encode_request(&AnalyzeRequest {
                job_id,
                filename: &job.spec.filename,
                declared_type: job.spec.declared_type.as_deref(),
                options: job.spec.options,
                sha256: job.spec.sha256,
                bytes: &bytes,
            });
            drop(bytes);
            let deadline = tokio::time::Instant::now() + self.config.job_timeout;
            let exchange = async {
                requests.write_all(&frame).await.map_err(|_| WireError::Closed)?;
                read_message(&mut responses).await
            };
            let ending = tokio::select! {
                answer = exchange => Ending::Answer(answer),
                _ = tokio::time::sleep_until(deadline) => Ending::Deadline,
                _ = job.reply.closed() => Ending::ClientGone,
            };
            drop(frame);
            match ending {
                Ending::Answer(Ok(FromWorker::Done(result))) if result.job_id == job_id => {
                    jobs_done += 1;
                    let reply = match result.outcome {
                        Outcome::Report(json) => match serde_json::from_slice::<Report>(&json) {
                            Ok(mut report) => {
                                report.timing.queue_ms = queue_ms;
                                Ok(report)
                            }
                            Err(err) => Err(JobError::Internal(format!("worker sent an unreadable report: {err}"))),
                        },
                        Outcome::Error { code: ErrorCode::ParseFailed, message } => Err(JobError::ParseFailed(message)),
                    };
                    self.count_outcome(&reply);
                    let _ = job.reply.send(reply);
                    if let Some(info) = self.workers.lock().unwrap().get_mut(&worker_id) {
                        info.jobs_done = jobs_done;
                    }
                    let retire = result.recycle
                        || jobs_done >= job_quota
                        || result.private_bytes > self.config.recycle_private_bytes;
                    if retire {
                        self.set_state(worker_id, WorkerState::Retiring);
                        self.restarts.recycled.fetch_add(1, Ordering::Relaxed);
                        self.kill(worker_id);
                        return;
                    }
                    self.set_state(worker_id, WorkerState::Idle);
                }
                Ending::Answer(Ok(_)) | Ending::Answer(Err(WireError::Garbage(_))) => {
                    let why = match ending {
                        Ending::Answer(Err(WireError::Garbage(why))) => why,
                        _ => "an unexpected message".into(),
                    };
                    self.kill(worker_id);
                    self.restarts.crashed.fetch_add(1, Ordering::Relaxed);
                    let message = format!("worker {pid} sent a malformed response ({why}) and was replaced");
                    self.fail(job.reply, JobError::Crashed(message));
                    return;
                }
                Ending::Answer(Err(WireError::Closed)) => {
                    self.restarts.crashed.fetch_add(1, Ordering::Relaxed);
                    let how = self.exit_status(worker_id).await;
                    self.fail(job.reply, JobError::Crashed(format!("{how} while analysing this document")));
                    return;
                }
                Ending::Deadline => {
                    self.kill(worker_id);
                    self.restarts.timed_out.fetch_add(1, Ordering::Relaxed);
                    self.fail(job.reply, JobError::TimedOut(self.config.job_timeout));
                    return;
                }
                Ending::ClientGone => {
                    self.kill(worker_id);
                    self.restarts.cancelled.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    fn count_outcome(&self, result: &Result<Report, JobError>) {
        let counter = if result.is_ok() { &self.counters.documents_ok } else { &self.counters.documents_failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn fail(&self, reply: Reply, error: JobError) {
        self.counters.documents_failed.fetch_add(1, Ordering::Relaxed);
        let _ = reply.send(Err(error));
    }
}

enum Ending {
    Answer(Result<FromWorker, WireError>),
    Deadline,
    ClientGone,
}

enum WireError {
    /// The pipe closed: the worker is gone.
    Closed,
    /// The worker wrote something that is not a valid frame.
    Garbage(String),
}

async fn read_message(responses: &mut pipe::Receiver) -> Result<FromWorker, WireError> {
    let mut header = [0u8; protocol::FRAME_HEADER_LEN];
    responses.read_exact(&mut header).await.map_err(|_| WireError::Closed)?;
    let len =
        protocol::body_len(header, protocol::MAX_RESPONSE_FRAME).map_err(|err| WireError::Garbage(err.to_string()))?;
    let mut body = vec![0u8; len];
    responses.read_exact(&mut body).await.map_err(|_| WireError::Closed)?;
    protocol::decode_response(&body).map_err(|err| WireError::Garbage(err.to_string()))
}

/// Resident set size of a process, from `/proc/PID/statm` (a memory-only
/// file: reading it does not touch the disk).
fn resident_bytes(pid: i32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().unwrap_or(4096) as u64;
    Some(pages * page_size)
}

/// "worker 1234 was killed by SIGSEGV" or "worker 1234 exited with status 3".
fn describe_exit(pid: i32, code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (_, Some(number)) => {
            let name =
                Signal::try_from(number).map(|s| s.as_str().to_owned()).unwrap_or_else(|_| format!("signal {number}"));
            let hint = if number == libc::SIGKILL { " (killed from outside, or out of memory)" } else { "" };
            format!("worker {pid} was killed by {name}{hint}")
        }
        (Some(code), None) => format!("worker {pid} exited with status {code}"),
        (None, None) => format!("worker {pid} ended"),
    }
}
