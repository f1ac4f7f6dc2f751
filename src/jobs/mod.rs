//! Durable asynchronous jobs: `POST /v1/jobs` stores the uploaded documents and
//! the job in SQLite under `--data-dir` (fsync'd) before answering 202; an
//! executor feeds their documents to the pool in the bulk lane and records each
//! result exactly once. After a crash the server finds every document without
//! a result and runs it again, so nothing accepted is lost and nothing appears
//! twice in the results.

//!
//! # Layout
//!
//! - this module: the executor, recovery at start, cancellation, the expiry
//!   sweep;
//! - [`store`]: the SQLite store;
//! - [`schema`]: the store's versioned migrations;
//! - [`pg`] and [`cluster`]: the PostgreSQL store shared by several nodes
//!   (`--store`) and its executor: claims, leases, heartbeat.
//!
//! The HTTP handlers are in `crate::http::jobs`.

mod cluster;
mod pg;
mod schema;
mod store;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch, Semaphore};

use crate::error::ApiError;
use crate::ndjson::{ResultLine, SummaryEntry};
use crate::pool::{read_document, Digest, Document, Lane, Pool, RawReport, Task, TaskError};

pub use cluster::SharedJobs;
pub use pg::{bounded, finish_job, insert_document, insert_job, StoreError};
pub use store::{JobStore, OpenError, PageExtent, PendingDocument, Recorded, UploadedDocument};

/// How long a document whose result the store could not take (a full
/// disk) waits before it runs again: long enough not to spin on a disk that
/// stays full, short enough that jobs resume soon after space returns. A
/// rerun is cheap: the result cache answers it.
const STORE_RETRY_DELAY: Duration = Duration::from_secs(2);
/// Reports up to this size have their stored line made on the runtime
/// thread that got them. The line is the worker's JSON spliced, never
/// decoded, but it is one string to store, so the report is copied and
/// checked to be UTF-8: linear work, about a millisecond for a few
/// megabytes. A larger report (up to the 96 MiB frame limit) is handed to a
/// blocking thread, which costs a wake-up, rather than hold this one.
const RECORD_INLINE_BYTES: usize = 1 << 20;
/// How often finished jobs past `--job-ttl` are looked for.
const EXPIRY_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// 128 random bits as 32 hex digits.
pub fn new_job_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A job id is exactly what [`new_job_id`] makes; anything else is unknown.
pub fn valid_job_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Runs a store call off the runtime threads.
pub async fn blocking<T: Send + 'static>(
    store: &Arc<JobStore>,
    call: impl FnOnce(&JobStore) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let store = Arc::clone(store);
    match tokio::task::spawn_blocking(move || call(&store)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(store_error(&err)),
        Err(err) => Err(ApiError::internal(format!("job store task: {err}"))),
    }
}

/// What a client is told about a failed store call: 507 when the disk is
/// full, 503 when the database turned out damaged, else an internal error.
fn store_error(err: &rusqlite::Error) -> ApiError {
    if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        return ApiError::insufficient_storage("cannot write to the job store");
    }
    if store::is_damage(err) {
        tracing::error!("the job store is damaged ({err}); restart docmill to set it aside and keep serving jobs");
        return ApiError::jobs_unavailable(&format!("the job store is damaged: {err}"));
    }
    ApiError::internal(format!("job store: {err}"))
}

/// The jobs subsystem: the store, the executor's queue and cancellation.
pub struct Jobs {
    pub store: Arc<JobStore>,
    pub queue: mpsc::UnboundedSender<PendingDocument>,
    /// One flag per job with work in flight; set on cancel.
    pub cancels: Mutex<HashMap<String, watch::Sender<bool>>>,
    /// The executor's slots: one per document in flight.
    slots: Arc<Semaphore>,
    concurrency: usize,
    /// Set when the server begins to shut down: no document starts after
    /// it, and a document that fails after it is not recorded (our own
    /// shutdown may be what stopped it); it stays for the next start.
    stopping: AtomicBool,
}

impl Jobs {
    /// Opens the store, requeues every document left without a result (a
    /// previous run crashed or stopped), and starts the executor and the
    /// expiry sweep. A store that cannot be opened is reported as why jobs
    /// are unavailable; a damaged one is first set aside.
    pub async fn start(
        data_dir: &Path,
        pool: Arc<Pool>,
        ttl: Duration,
        concurrency: usize,
    ) -> Result<Arc<Jobs>, String> {
        let dir = data_dir.to_owned();
        let opened = tokio::task::spawn_blocking(move || {
            let store = JobStore::open(&dir)?;
            // Reading every unfinished document also finds damage that
            // opening did not.
            let pending = store.pending().map_err(|err| {
                if store::is_damage(&err) {
                    OpenError::Damaged(err.to_string())
                } else {
                    OpenError::Unusable(err.to_string())
                }
            })?;
            Ok((store, pending))
        })
        .await
        .unwrap_or_else(|err| Err(OpenError::Unusable(format!("the job store task failed: {err}"))));
        let (store, pending) = match opened {
            Ok(opened) => opened,
            Err(OpenError::Unusable(why)) => {
                let why = format!("cannot open the job store in {}: {why}", data_dir.display());
                tracing::error!("{why}; jobs are unavailable, analysis is served");
                return Err(why);
            }
            Err(OpenError::Damaged(why)) => {
                let dir = data_dir.to_owned();
                let reason = tokio::task::spawn_blocking(move || set_aside(&dir, &why))
                    .await
                    .unwrap_or_else(|err| format!("the job store is damaged ({err})"));
                return Err(reason);
            }
        };
        let store = Arc::new(store);
        let (queue, receiver) = mpsc::unbounded_channel();
        let concurrency = concurrency.max(1);
        let jobs = Arc::new(Jobs {
            store: Arc::clone(&store),
            queue,
            cancels: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            stopping: AtomicBool::new(false),
        });
        if !pending.is_empty() {
            tracing::info!("resuming {} documents of unfinished jobs", pending.len());
        }
        for document in pending {
            let _ = jobs.queue.send(document);
        }
        tokio::spawn(Arc::clone(&jobs).execute(receiver, pool));
        tokio::spawn(Arc::clone(&jobs).sweep(ttl));
        Ok(jobs)
    }

    /// Starts no more documents: those not started stay in the store, and
    /// the next start runs them.
    pub fn stop_starting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Waits until no document is in flight, or `deadline`; true if none is.
    pub async fn wait_idle(&self, deadline: Instant) -> bool {
        let all = self.slots.acquire_many(self.concurrency as u32);
        matches!(tokio::time::timeout_at(deadline.into(), all).await, Ok(Ok(_)))
    }

    fn cancel_flag(&self, job_id: &str) -> watch::Receiver<bool> {
        let mut cancels = self.cancels.lock().unwrap();
        cancels.entry(job_id.to_owned()).or_insert_with(|| watch::channel(false).0).subscribe()
    }

    async fn execute(self: Arc<Self>, mut receiver: mpsc::UnboundedReceiver<PendingDocument>, pool: Arc<Pool>) {
        while let Some(document) = receiver.recv().await {
            let Ok(slot) = Arc::clone(&self.slots).acquire_owned().await else { return };
            let jobs = Arc::clone(&self);
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                jobs.run_document(&pool, document).await;
                drop(slot);
            });
        }
    }

    async fn run_document(&self, pool: &Pool, document: PendingDocument) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        let job_id = document.job_id.clone();
        let live = {
            let job_id = job_id.clone();
            blocking(&self.store, move |store| {
                let live = store.is_live(&job_id);
                if live {
                    store.mark_running(&job_id)?;
                }
                Ok(live)
            })
            .await
        };
        match live {
            Ok(true) => {}
            Ok(false) => return,
            Err(_) => return self.retry_later(document),
        }
        let retry = document.clone();
        let mut cancelled = self.cancel_flag(&job_id);
        let path = self.store.document_path(&job_id, document.index);
        let loaded = tokio::task::spawn_blocking(move || {
            let read = read_document(std::fs::File::open(&path)?, u64::MAX)?;
            read.ok_or_else(|| std::io::Error::other("larger than any file can be"))
        })
        .await
        .unwrap_or_else(|err| Err(std::io::Error::other(err)));
        let result = match loaded {
            Err(err) => Err(ApiError::internal(format!("job {job_id} lost document {}: {err}", document.index))),
            // The digest taken at upload is the document's identity; the
            // one taken on reading only checks the stored copy against it.
            Ok((_, on_disk)) if document.sha256.is_some_and(|uploaded| uploaded != on_disk) => {
                Err(damaged_document(&job_id, document.index))
            }
            Ok((stored, sha256)) => {
                let filename = document.filename.clone();
                let run =
                    analyse_stored(pool, filename, document.options, sha256, stored, &mut cancelled, &self.stopping);
                let Some(result) = run.await else { return };
                result
            }
        };
        let index = document.index;
        let recorded = recorded(index, document.filename, result).await;
        let recorded = {
            let job_id = job_id.clone();
            blocking(&self.store, move |store| {
                store.record(&job_id, index, &recorded)?;
                let finished = !store.is_live(&job_id);
                if finished {
                    store.drop_files(&job_id);
                }
                Ok(finished)
            })
            .await
        };
        match recorded {
            Ok(true) => {
                self.cancels.lock().unwrap().remove(&job_id);
            }
            Ok(false) => {}
            // The store could not take the result (a full disk, most
            // likely): the document is run again once it can.
            Err(_) => self.retry_later(retry),
        }
    }

    /// Queues a document again after [`STORE_RETRY_DELAY`], unless the
    /// server is stopping (the next start runs it then).
    fn retry_later(&self, document: PendingDocument) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        let queue = self.queue.clone();
        tokio::spawn(async move {
            tokio::time::sleep(STORE_RETRY_DELAY).await;
            let _ = queue.send(document);
        });
    }

    async fn sweep(self: Arc<Self>, ttl: Duration) {
        loop {
            match blocking(&self.store, move |store| store.expire(ttl)).await {
                Ok(0) | Err(_) => {}
                Ok(n) => tracing::info!("removed {n} expired jobs"),
            }
            tokio::time::sleep(EXPIRY_SWEEP_INTERVAL.min(ttl)).await;
        }
    }
}

/// What the analysis of document `index` leaves in the store: its line is
/// made on a blocking thread when the report is large
/// ([`RECORD_INLINE_BYTES`]).
async fn recorded(index: usize, filename: String, result: Result<RawReport, ApiError>) -> Recorded {
    let large = result.as_ref().is_ok_and(|raw| raw.json_len() > RECORD_INLINE_BYTES);
    let make = {
        let filename = filename.clone();
        move || record_line(index, filename, result)
    };
    if !large {
        return make();
    }
    tokio::task::spawn_blocking(make).await.unwrap_or_else(|err| {
        record_line(index, filename, Err(ApiError::internal(format!("cannot write the document's line: {err}"))))
    })
}

fn record_line(index: usize, filename: String, result: Result<RawReport, ApiError>) -> Recorded {
    let (sha256, simhash) = match &result {
        Ok(report) => {
            let entry = SummaryEntry::of(index, report);
            (entry.sha256, entry.simhash)
        }
        Err(_) => (None, None),
    };
    let failed = result.is_err();
    let outcome = ResultLine { index, filename, result };
    let mut line = outcome.to_line();
    line.pop();
    match String::from_utf8(line) {
        Ok(line) => Recorded { line, failed, sha256, simhash },
        // The worker's JSON is not UTF-8: the document's outcome is that
        // error, not a line the results could not be read back from.
        Err(_) => {
            let err = ApiError::from(TaskError::Internal("worker sent a report that is not UTF-8".into()));
            record_line(index, outcome.filename, Err(err))
        }
    }
}

/// Moves a damaged store aside (the database, its WAL and index, and the
/// document directory, under one timestamp), never deleting anything, and
/// logs what to do. Returns why jobs are unavailable.
fn set_aside(data_dir: &Path, why: &str) -> String {
    let db_path = data_dir.join(store::DB_FILE);
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let aside = data_dir.join(format!("{}.damaged-{stamp}", store::DB_FILE));
    let moves: Vec<(PathBuf, PathBuf)> = vec![
        (db_path.clone(), aside.clone()),
        (store::sidecar(&db_path, "-wal"), store::sidecar(&aside, "-wal")),
        (store::sidecar(&db_path, "-shm"), store::sidecar(&aside, "-shm")),
        (data_dir.join("jobs"), data_dir.join(format!("jobs.damaged-{stamp}"))),
    ];
    let mut failed = Vec::new();
    for (from, to) in &moves {
        if from.exists() {
            if let Err(err) = std::fs::rename(from, to) {
                failed.push(format!("{} ({err})", from.display()));
            }
        }
    }
    if failed.is_empty() {
        tracing::error!(
            "the job store {} is damaged: {why}. It was moved to {} (its documents to jobs.damaged-{stamp}); \
             nothing was deleted. Jobs are unavailable until docmill restarts; analysis is served. \
             To recover the jobs: `sqlite3 {} .recover | sqlite3 {}`, move jobs.damaged-{stamp} back to jobs, \
             and restart; or restart as it is to begin with an empty job store.",
            db_path.display(),
            aside.display(),
            aside.display(),
            db_path.display()
        );
        format!("the job store {} is damaged ({why}); it was moved to {}", db_path.display(), aside.display())
    } else {
        tracing::error!(
            "the job store {} is damaged: {why}, and could not be set aside: {}. Jobs are unavailable; \
             analysis is served. Move the files aside by hand and restart docmill.",
            db_path.display(),
            failed.join(", ")
        );
        format!("the job store {} is damaged ({why})", db_path.display())
    }
}

/// The error line of a job document whose stored bytes no longer hash to
/// the sha256 taken while it was uploaded: it is not analysed, since what
/// would be analysed is not what the client sent.
fn damaged_document(job_id: &str, index: usize) -> ApiError {
    tracing::error!("job {job_id}: the stored copy of document {index} does not match its sha256");
    ApiError {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        code: "internal",
        message: "the stored copy of this document no longer matches the sha256 taken at upload \
                  (damaged on disk); it was not analysed"
            .into(),
    }
}

/// Runs one stored document of a job, on one node or on the shared store,
/// and returns what to record. `None` when nothing is to be recorded: the
/// job was cancelled (dropping the run killed the worker holding it), or
/// shutdown has begun (`stopping`, or the pool said so) and the failure says
/// nothing about the document. Only a report or a parse failure is recorded
/// then; any other failure may be our own doing (the pool stopped, its
/// workers killed at the end of the grace period) and is left for the next
/// start, or another node, to run again.
async fn analyse_stored(
    pool: &Pool,
    filename: String,
    options: docmill_engine::Options,
    sha256: [u8; 32],
    document: Document,
    cancelled: &mut watch::Receiver<bool>,
    stopping: &AtomicBool,
) -> Option<Result<RawReport, ApiError>> {
    let task =
        Task { filename, declared_type: None, options, digest: Digest::Known(sha256), document, use_cache: true };
    let result = tokio::select! {
        result = pool.run(task, Lane::Bulk) => result,
        _ = cancelled.wait_for(|cancel| *cancel) => return None,
    };
    let telling = matches!(result, Ok(_) | Err(TaskError::ParseFailed(_)));
    if !telling && (stopping.load(Ordering::SeqCst) || matches!(result, Err(TaskError::ShuttingDown))) {
        return None;
    }
    Some(result.map_err(ApiError::from))
}

/// Writes a spooled upload to its place in the job directory and syncs it.
pub fn persist(document: Document, path: &Path) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    match document {
        Document::Memory(bytes) => file.write_all(&bytes)?,
        Document::Sealed(memfd) => copy_from_start(memfd.into_file(), &mut file)?,
        Document::File(spooled) => copy_from_start(spooled, &mut file)?,
    }
    file.sync_all()
}

/// Copies all of `from` (a spool file or a sealed memfd, wherever its
/// offset was left) into `to`.
fn copy_from_start(mut from: std::fs::File, to: &mut std::fs::File) -> std::io::Result<()> {
    std::io::Seek::rewind(&mut from)?;
    std::io::copy(&mut from, to).map(drop)
}
