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
//! - [`store`]: the SQLite store.
//!
//! The HTTP handlers are in `crate::http::jobs`.

mod store;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::error::ApiError;
use crate::log;
use crate::ndjson::ResultLine;
use crate::pool::{Document, Lane, Pool, Task, TaskError};

pub use store::{JobStore, PendingDocument};

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
        Ok(Err(err)) => Err(ApiError::internal(format!("job store: {err}"))),
        Err(err) => Err(ApiError::internal(format!("job store task: {err}"))),
    }
}

/// The jobs subsystem: the store, the executor's queue and cancellation.
pub struct Jobs {
    pub store: Arc<JobStore>,
    pub queue: mpsc::UnboundedSender<PendingDocument>,
    /// One flag per job with work in flight; set on cancel.
    pub cancels: Mutex<HashMap<String, watch::Sender<bool>>>,
}

impl Jobs {
    /// Opens the store, requeues every document left without a result (a
    /// previous run crashed or stopped), and starts the executor and the
    /// expiry sweep.
    pub async fn start(
        data_dir: &Path,
        pool: Arc<Pool>,
        ttl: Duration,
        concurrency: usize,
    ) -> anyhow::Result<Arc<Jobs>> {
        let store = Arc::new(JobStore::open(data_dir)?);
        let (queue, receiver) = mpsc::unbounded_channel();
        let jobs = Arc::new(Jobs { store: Arc::clone(&store), queue, cancels: Mutex::new(HashMap::new()) });
        let pending = blocking(&store, |store| store.pending()).await.map_err(|err| anyhow::anyhow!(err.message))?;
        if !pending.is_empty() {
            log::info(format_args!("resuming {} documents of unfinished jobs", pending.len()));
        }
        for document in pending {
            let _ = jobs.queue.send(document);
        }
        tokio::spawn(Arc::clone(&jobs).execute(receiver, pool, concurrency));
        tokio::spawn(Arc::clone(&jobs).sweep(ttl));
        Ok(jobs)
    }

    fn cancel_flag(&self, job_id: &str) -> watch::Receiver<bool> {
        let mut cancels = self.cancels.lock().unwrap();
        cancels.entry(job_id.to_owned()).or_insert_with(|| watch::channel(false).0).subscribe()
    }

    async fn execute(
        self: Arc<Self>,
        mut receiver: mpsc::UnboundedReceiver<PendingDocument>,
        pool: Arc<Pool>,
        concurrency: usize,
    ) {
        let slots = Arc::new(Semaphore::new(concurrency.max(1)));
        while let Some(document) = receiver.recv().await {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
            let jobs = Arc::clone(&self);
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                jobs.run_document(&pool, document).await;
                drop(slot);
            });
        }
    }

    async fn run_document(&self, pool: &Pool, document: PendingDocument) {
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
            .unwrap_or(false)
        };
        if !live {
            return;
        }
        let mut cancelled = self.cancel_flag(&job_id);
        let path = self.store.document_path(&job_id, document.index);
        let loaded = tokio::task::spawn_blocking(move || {
            std::fs::read(&path).map(|bytes| {
                let sha256: [u8; 32] = Sha256::digest(&bytes).into();
                (bytes, sha256)
            })
        })
        .await
        .unwrap_or_else(|err| Err(std::io::Error::other(err)));
        let result = match loaded {
            Err(err) => Err(ApiError::internal(format!("job {job_id} lost document {}: {err}", document.index))),
            Ok((bytes, sha256)) => {
                let task = Task {
                    filename: document.filename.clone(),
                    declared_type: None,
                    options: document.options,
                    sha256: Some(sha256),
                    document: Document::Memory(Bytes::from(bytes)),
                    use_cache: true,
                };
                let result = tokio::select! {
                    result = pool.run(task, Lane::Bulk) => result,
                    // Dropping the run kills the worker holding it.
                    _ = cancelled.wait_for(|cancel| *cancel) => return,
                };
                if matches!(result, Err(TaskError::ShuttingDown)) {
                    // The server is draining: leave the document for the
                    // next start.
                    return;
                }
                result.map_err(ApiError::from)
            }
        };
        let failed = result.is_err();
        let outcome = ResultLine { index: document.index, filename: document.filename, result };
        let line = String::from_utf8(outcome.to_line().to_vec()).expect("lines are UTF-8");
        let line = line.trim_end().to_owned();
        let index = document.index;
        let recorded = {
            let job_id = job_id.clone();
            blocking(&self.store, move |store| {
                store.record(&job_id, index, &line, failed)?;
                let finished = !store.is_live(&job_id);
                if finished {
                    store.drop_files(&job_id);
                }
                Ok(finished)
            })
            .await
        };
        if let Ok(true) = recorded {
            self.cancels.lock().unwrap().remove(&job_id);
        }
    }

    async fn sweep(self: Arc<Self>, ttl: Duration) {
        loop {
            match blocking(&self.store, move |store| store.expire(ttl)).await {
                Ok(0) | Err(_) => {}
                Ok(n) => log::info(format_args!("removed {n} expired jobs")),
            }
            tokio::time::sleep(EXPIRY_SWEEP_INTERVAL.min(ttl)).await;
        }
    }
}

/// Writes a spooled upload to its place in the job directory and syncs it.
pub fn persist(document: Document, path: &Path) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    match document {
        Document::Memory(bytes) => file.write_all(&bytes)?,
        Document::File(mut spooled) => {
            std::io::Seek::rewind(&mut spooled)?;
            std::io::copy(&mut spooled, &mut file)?;
        }
    }
    file.sync_all()
}
