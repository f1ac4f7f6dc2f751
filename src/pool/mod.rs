//! The server's side of the worker pool: a bounded two-lane queue of tasks,
//! one tokio task per live worker that feeds it over its request socket
//! ([`worker`], handing documents over as descriptors: `handoff`), and the bookkeeping behind `/v1/pool`, `/readyz` and
//! `/metrics` ([`registry`]).
//!
//! A task is one document on its way through a worker; "job" is kept for
//! `/v1/jobs`. Every way a task can end has its own path: a report, a typed
//! parse error, a deadline (the worker is killed: `timed_out`), a client that
//! left (killed: `cancelled`), a worker that died or spoke garbage
//! (`crashed`), and a worker retired after its task quota, a panic or memory
//! growth (`recycled`). The supervisor forks the replacement on its own; this
//! side only asks it to kill.
//!
//! # Layout
//!
//! - this module: [`Pool`], the queue and the public API;
//! - `run`: [`Pool::run`], the quarantine and the result cache around a
//!   dispatch, and a large upload hashed while a worker analyses it;
//! - [`worker`]: one worker's life, boot to retirement;
//! - `handoff`: a document inline or as a descriptor (sealed memfd, spool
//!   file) for the worker to map;
//! - [`registry`]: worker states, restart causes and counters, exit reports;
//! - [`memo`]: the result cache and the quarantine of poison documents;
//! - `digest`: [`Digest`], a document's SHA-256 as the pool knows it, and
//!   the hashing of a large upload alongside its analysis;
//! - `raw_report`: [`RawReport`], a worker's report JSON answered without
//!   parsing it, the server's fields spliced in;
//! - `error`: [`TaskError`], why a task produced no report.

mod digest;
mod error;
mod handoff;
pub mod memo;
mod raw_report;
mod registry;
mod run;
mod worker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use docmill_engine::Options;
use docmill_worker::protocol::{FromSupervisor, OcrStatus};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::supervisor::client::SupervisorClient;
use crate::supervisor::SupervisorHandle;
use crate::waiting::Waiting;
use memo::Memo;
use registry::{resident_bytes, Exit, Exits};

pub use digest::Digest;
pub use error::TaskError;
pub use handoff::{read_document, OpenMemfd, INLINE_MAX_BYTES};
pub use raw_report::{joined, RawReport};
pub use registry::{Counters, Formats, Histogram, Restart, Restarts, WorkerInfo, WorkerState, LATENCY_BUCKETS};

/// Refusals of interactive tasks answered per second at most. A refusal
/// costs a runtime thread tens of microseconds (the request, its body, the
/// JSON answer); clients that ignore `Retry-After` and send again at once
/// would otherwise make the server answer tens of thousands a second and
/// take the cores the workers need. At this rate the refusals of a storm
/// cost a few percent of one core, while an occasional one still goes out
/// at once.
pub const MAX_REFUSALS_PER_SEC: u32 = 1000;

/// The longest a refusal waits for its turn under [`MAX_REFUSALS_PER_SEC`]:
/// the `Retry-After` a refused client is told, so no client waits for a
/// refusal longer than it would wait before its next try.
pub const MAX_REFUSAL_WAIT: Duration = Duration::from_secs(crate::error::RETRY_AFTER_SECS);

/// How long a queued interactive task waits while no worker at all can take
/// work before it is answered 503: replacing a dead worker takes well under
/// a second, and a supervisor that stops forking (stopped, or starved) must
/// not keep interactive clients waiting with no end. Bulk tasks (batches,
/// jobs) wait for workers as long as it takes.
pub const NO_WORKER_PATIENCE: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub n_workers: usize,
    pub queue_capacity: usize,
    /// How long a worker may spend on one task (`--job-timeout`).
    pub task_timeout: Duration,
    /// Tasks after which a worker is replaced (`--max-jobs-per-worker`).
    pub max_tasks_per_worker: u64,
    /// Private memory after a task above which a worker is recycled.
    pub recycle_private_bytes: u64,
}

/// Where a document waits between upload and dispatch.
pub enum Document {
    Memory(Bytes),
    /// An upload of more than [`handoff::INLINE_MAX_BYTES`] spooled into a
    /// memfd, handed to the worker as it is.
    Sealed(handoff::SealedMemfd),
    /// An unlinked temporary file, handed to a worker as a read-only
    /// descriptor when one is free; never truncated while a task runs.
    File(std::fs::File),
}

/// One document to analyse, as the pool takes it.
pub struct Task {
    pub filename: String,
    pub declared_type: Option<String>,
    pub options: Options,
    pub digest: Digest,
    pub document: Document,
    /// Answer from the result cache when this content was analysed recently.
    pub use_cache: bool,
}

type Reply = oneshot::Sender<Result<RawReport, TaskError>>;

/// A task in the queue, with the channel its answer goes back on.
struct Queued {
    task: Task,
    enqueued: Instant,
    reply: Reply,
    /// The request's span, so that what the worker side logs about this
    /// task carries the request id.
    span: tracing::Span,
    lane: Lane,
    /// A worker already died under this task (or was stopped or starved
    /// past its deadline), and it was queued again for another worker. A
    /// second such ending is the document's answer.
    retried: bool,
    /// Workers `SIGKILL`ed from outside under this task; up to
    /// [`worker::failure::OUTSIDE_KILL_RETRIES`] of them send it to another worker
    /// without using its one retry.
    outside_kills: u8,
    /// Workers found stopped (`SIGSTOP`) at this task's deadline; up to
    /// [`worker::failure::OUTSIDE_KILL_RETRIES`] of them send it to another worker
    /// without using its one retry, since a document cannot stop its worker.
    stops: u8,
    /// It was sent ahead to a worker and taken back because the task before
    /// it ran long: it is not sent ahead again, so it cannot go round
    /// between workers that are all held up.
    taken_back: bool,
    /// The document as the first worker was sent it (inline, or its
    /// descriptor), kept for a second try on another worker.
    prepared: Option<handoff::Prepared>,
}

/// Which lane a task waits in. Interactive tasks are taken first and shed
/// when their lane is full; bulk tasks (batch, jobs, CLI) wait for room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    Interactive,
    Bulk,
}

pub struct Pool {
    config: PoolConfig,
    interactive_tx: mpsc::Sender<Queued>,
    bulk_tx: mpsc::Sender<Queued>,
    /// Both lanes' receivers, taken from (interactive first) by whichever
    /// worker task is free; the lock is held only to take, never across a
    /// wait.
    lanes: Mutex<(mpsc::Receiver<Queued>, mpsc::Receiver<Queued>)>,
    /// Told once per queued task: it wakes one waiting worker task (or, if
    /// none waits, lets the next one that looks go on at once). A lock
    /// held while waiting would wake the next worker task each time one
    /// takes a task, only for it to wait again: a wakeup per task.
    task_queued: Notify,
    queued: AtomicUsize,
    /// Worker tasks waiting in [`Pool::next_task`].
    workers_waiting: AtomicUsize,
    supervisor: SupervisorClient,
    workers: Mutex<BTreeMap<u64, WorkerInfo>>,
    exits: Exits,
    pub restarts: Restarts,
    pub counters: Counters,
    /// Documents analysed by format, for `/metrics`.
    pub formats: Formats,
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
    next_task_id: AtomicU64,
    /// When the next refusal of an interactive task may go out: refusals
    /// take turns [`MAX_REFUSALS_PER_SEC`] apart, so a storm of impatient
    /// retries is answered at a bounded rate, each waiting on a timer rather
    /// than costing CPU.
    next_refusal: Mutex<tokio::time::Instant>,
}

impl Pool {
    /// Takes over the supervisor's control socket and starts the task that
    /// listens to it. Must run inside the runtime.
    pub fn start(config: PoolConfig, supervisor: SupervisorHandle) -> std::io::Result<Arc<Pool>> {
        let supervisor = SupervisorClient::connect(supervisor)?;
        let (interactive_tx, interactive_rx) = mpsc::channel(config.queue_capacity.max(1));
        let (bulk_tx, bulk_rx) = mpsc::channel(config.queue_capacity.max(1));
        let pool = Arc::new(Pool {
            config,
            interactive_tx,
            bulk_tx,
            lanes: Mutex::new((interactive_rx, bulk_rx)),
            task_queued: Notify::new(),
            workers_waiting: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            supervisor,
            workers: Mutex::new(BTreeMap::new()),
            exits: Exits::default(),
            restarts: Restarts::default(),
            memo: Memo::default(),
            counters: Counters::default(),
            formats: Formats::default(),
            boot_trouble: Mutex::new(None),
            ocr: Mutex::new(None),
            ready_changed: Notify::new(),
            draining: AtomicBool::new(false),
            supervisor_gone: AtomicBool::new(false),
            lost: Notify::new(),
            next_task_id: AtomicU64::new(1),
            next_refusal: Mutex::new(tokio::time::Instant::now()),
        });
        tokio::spawn(Arc::clone(&pool).listen_to_supervisor());
        Ok(pool)
    }

    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    async fn dispatch(&self, task: Task, lane: Lane) -> Result<RawReport, TaskError> {
        if self.draining.load(Ordering::Relaxed) {
            return Err(TaskError::ShuttingDown);
        }
        if lane == Lane::Interactive && self.ready_workers() == 0 {
            if let Some(trouble) = self.boot_trouble.lock().unwrap().clone() {
                return Err(TaskError::Unavailable(trouble));
            }
        }
        let (reply, result) = oneshot::channel();
        let queued = Queued {
            task,
            enqueued: Instant::now(),
            reply,
            span: tracing::Span::current(),
            lane,
            retried: false,
            outside_kills: 0,
            stops: 0,
            taken_back: false,
            prepared: None,
        };
        self.queued.fetch_add(1, Ordering::Relaxed);
        let sent = match lane {
            Lane::Interactive => self.interactive_tx.try_send(queued).map_err(|err| match err {
                mpsc::error::TrySendError::Full(_) => TaskError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => TaskError::ShuttingDown,
            }),
            Lane::Bulk => self.bulk_tx.send(queued).await.map_err(|_| TaskError::ShuttingDown),
        };
        if let Err(err) = sent {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            if matches!(err, TaskError::Overloaded) {
                self.refusal_turn().await;
            }
            return Err(err);
        }
        // The worker task that went idle last takes it: its worker's caches
        // and heap are warm, and the one idle longest stays idle long enough
        // to give its memory back (workers trim their heap when idle).
        self.task_queued.notify_last();
        // A reply dropped unanswered means the pool stopped with the task
        // still queued. An interactive task whose wait is given up is
        // skipped by the worker task that takes it (its reply is closed).
        let result = match lane {
            Lane::Bulk => result.await,
            Lane::Interactive => tokio::select! {
                result = result => result,
                () = self.without_workers_for(NO_WORKER_PATIENCE) => Ok(Err(TaskError::Unavailable(format!(
                    "no worker has been able to take work for {} s",
                    NO_WORKER_PATIENCE.as_secs()
                )))),
            },
        };
        let result = result.unwrap_or(Err(TaskError::ShuttingDown));
        if let Ok(report) = &result {
            self.formats.observe(report.summary());
        }
        result
    }

    /// Waits for this refusal's turn: refusals go out at most
    /// [`MAX_REFUSALS_PER_SEC`] a second, each after at most
    /// [`MAX_REFUSAL_WAIT`]. Call it before answering a full lane's 503.
    pub async fn refusal_turn(&self) {
        let spacing = Duration::from_secs(1) / MAX_REFUSALS_PER_SEC;
        let turn = {
            let now = tokio::time::Instant::now();
            let mut next = self.next_refusal.lock().unwrap();
            let turn = (*next).max(now).min(now + MAX_REFUSAL_WAIT);
            *next = turn + spacing;
            turn
        };
        tokio::time::sleep_until(turn).await;
    }

    /// True when an interactive task would be refused right now.
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
            return Some(format!("queue full ({} tasks waiting)", self.queue_depth()));
        }
        None
    }

    /// Resolves if the supervisor dies while the pool is in use.
    pub async fn supervisor_lost(&self) {
        self.lost.notified().await
    }

    /// Returns once no worker has been able to take work for `patience` in
    /// a row; never while one can.
    async fn without_workers_for(&self, patience: Duration) {
        loop {
            let changed = self.ready_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.ready_workers() > 0 {
                changed.await;
                continue;
            }
            if tokio::time::timeout(patience, changed).await.is_err() && self.ready_workers() == 0 {
                return;
            }
        }
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

    /// Stops taking tasks, waits (bounded by `grace`) for queued and running
    /// ones, then stops the supervisor and its workers and reaps it.
    pub async fn shutdown(&self, grace: Duration) {
        self.draining.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + grace;
        while (self.queue_depth() > 0 || self.busy_workers() > 0) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.supervisor.shutdown().await;
    }

    fn busy_workers(&self) -> usize {
        self.workers.lock().unwrap().values().filter(|w| w.state == WorkerState::Busy).count()
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Queues a task again, in its lane, for another worker: its worker
    /// ended before answering through no fault the task is known for. The
    /// client already holds its place, so this waits for room instead of
    /// shedding.
    fn requeue(self: &Arc<Self>, queued: Queued) {
        let lane = match queued.lane {
            Lane::Interactive => self.interactive_tx.clone(),
            Lane::Bulk => self.bulk_tx.clone(),
        };
        self.queued.fetch_add(1, Ordering::Relaxed);
        let pool = Arc::clone(self);
        tokio::spawn(async move {
            // A closed lane drops the task, and with it the reply: its
            // client then hears the pool stopped.
            if lane.send(queued).await.is_err() {
                pool.queued.fetch_sub(1, Ordering::Relaxed);
            } else {
                pool.task_queued.notify_last();
            }
        });
    }

    fn kill(&self, worker_id: u64) {
        if let Err(err) = self.supervisor.kill(worker_id) {
            tracing::error!("cannot ask the supervisor to kill worker {worker_id}: {err}");
        }
    }

    /// Waiters for readiness are told only when a worker starts or stops
    /// being able to take work: going busy and idle again, twice per task,
    /// changes nothing they wait for.
    fn set_state(&self, worker_id: u64, state: WorkerState) {
        let can_work = |state: WorkerState| matches!(state, WorkerState::Idle | WorkerState::Busy);
        let changed = match self.workers.lock().unwrap().get_mut(&worker_id) {
            Some(info) => {
                let changed = can_work(info.state) != can_work(state);
                info.state = state;
                changed
            }
            None => true,
        };
        if changed {
            self.ready_changed.notify_waiters();
        }
    }

    fn set_tasks_done(&self, worker_id: u64, tasks_done: u64) {
        if let Some(info) = self.workers.lock().unwrap().get_mut(&worker_id) {
            info.tasks_done = tasks_done;
        }
    }

    /// A worker sent `Ready`, with what OCR it loaded.
    fn booted(&self, worker_id: u64, ocr: OcrStatus) {
        *self.boot_trouble.lock().unwrap() = None;
        *self.ocr.lock().unwrap() = Some(ocr);
        self.set_state(worker_id, WorkerState::Idle);
    }

    async fn listen_to_supervisor(self: Arc<Self>) {
        loop {
            let message = match self.supervisor.recv().await {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(err) => {
                    tracing::error!("control socket error: {err}");
                    break;
                }
            };
            match message {
                (FromSupervisor::Spawned { worker_id, pid }, fds) => {
                    self.counters.spawned.fetch_add(1, Ordering::Relaxed);
                    let mut fds = fds.into_iter();
                    let (Some(requests), Some(responses)) = (fds.next(), fds.next()) else {
                        tracing::error!("worker {pid} arrived without its request socket and response pipe");
                        self.kill(worker_id);
                        continue;
                    };
                    self.workers.lock().unwrap().insert(
                        worker_id,
                        WorkerInfo { pid, state: WorkerState::Booting, tasks_done: 0, rss_bytes: 0 },
                    );
                    tokio::spawn(worker::WorkerTask::run(Arc::clone(&self), worker_id, pid, requests, responses));
                }
                (FromSupervisor::Exited { worker_id, pid, code, signal }, _) => {
                    self.workers.lock().unwrap().remove(&worker_id);
                    self.ready_changed.notify_waiters();
                    self.exits.record(worker_id, Exit::new(pid, code, signal));
                }
                (FromSupervisor::BootFailing { consecutive, retry_in_ms }, _) => {
                    self.counters.boot_failures.fetch_add(1, Ordering::Relaxed);
                    let trouble = format!(
                        "workers fail at boot ({consecutive} in a row); next attempt in {:.1}s",
                        retry_in_ms as f64 / 1000.0
                    );
                    tracing::error!("{trouble}");
                    *self.boot_trouble.lock().unwrap() = Some(trouble);
                    self.ready_changed.notify_waiters();
                }
            }
        }
        self.supervisor_gone.store(true, Ordering::Relaxed);
        if !self.draining.load(Ordering::Relaxed) {
            tracing::error!("the worker supervisor died; no worker can start again: exiting");
            self.draining.store(true, Ordering::Relaxed);
            let mut lanes = self.lanes.lock().unwrap();
            let (interactive, bulk) = &mut *lanes;
            while let Ok(queued) = interactive.try_recv().or_else(|_| bulk.try_recv()) {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                let _ = queued.reply.send(Err(TaskError::Unavailable("the worker supervisor died".into())));
            }
            self.lost.notify_one();
        }
    }

    /// The next task, interactive first; `None` once the pool is closed.
    /// Cancel-safe: a notification this future took and did not use (it was
    /// dropped in a `select!`) passes on to the next waiting worker task.
    async fn next_task(&self) -> Option<Queued> {
        loop {
            // Made before looking, so a task queued after the look still
            // wakes this one.
            let notified = self.task_queued.notified();
            match self.take_task() {
                Ok(queued) => return Some(queued),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            let _waiting = Waiting::new(&self.workers_waiting);
            notified.await;
        }
    }

    /// A queued task if there is one, without waiting.
    fn try_next_task(&self) -> Option<Queued> {
        self.take_task().ok()
    }

    /// Whether a worker task is waiting for work: tasks are then not sent
    /// ahead to a busy worker, they are for the waiting one.
    fn workers_waiting(&self) -> bool {
        self.workers_waiting.load(Ordering::Relaxed) > 0
    }

    /// Takes the next task, interactive first; `Disconnected` once both
    /// lanes are closed and empty.
    fn take_task(&self) -> Result<Queued, TryRecvError> {
        let mut lanes = self.lanes.lock().unwrap();
        let (interactive, bulk) = &mut *lanes;
        let taken = match interactive.try_recv() {
            Ok(queued) => Ok(queued),
            Err(first) => bulk.try_recv().map_err(|second| match (first, second) {
                (TryRecvError::Disconnected, TryRecvError::Disconnected) => TryRecvError::Disconnected,
                _ => TryRecvError::Empty,
            }),
        };
        if taken.is_ok() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
        taken
    }

    fn count_outcome(&self, result: &Result<RawReport, TaskError>) {
        let counter = if result.is_ok() { &self.counters.documents_ok } else { &self.counters.documents_failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
