//! The executor of nodes that share a PostgreSQL job store: each node claims
//! documents of any job as its slots free up, keeps their leases alive with a
//! heartbeat that also notices cancels made on other nodes, and records each
//! result once. A node that dies stops its heartbeat: once its leases expire
//! the other nodes claim its documents.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::{watch, Notify, Semaphore};

use super::pg::{Claimed, PgStore};
use super::{analyse_stored, damaged_document, recorded, EXPIRY_SWEEP_INTERVAL};
use crate::error::ApiError;
use crate::pool::{Document, Pool};

/// How often an idle node asks the store for work. New jobs accepted by this
/// node wake it at once; those accepted elsewhere wait at most this long.
const CLAIM_POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Heartbeats per lease: three leave two chances to miss one (a slow
/// store, a busy runtime) before the lease expires.
const HEARTBEATS_PER_LEASE: u32 = 3;
/// The first wait after the store failed; doubled on each failure after.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest wait between tries at a store that is away: short enough to
/// resume soon after PostgreSQL is back.
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Jobs kept in a PostgreSQL store shared with other nodes.
pub struct SharedJobs {
    store: OnceLock<PgStore>,
    /// Names this process's leases: a restarted node is a new node.
    node: String,
    lease: Duration,
    slots: Arc<Semaphore>,
    concurrency: usize,
    stopping: AtomicBool,
    /// Jobs with documents in flight here: their cancel flag and how many.
    running: Mutex<HashMap<String, (watch::Sender<bool>, usize)>>,
    wake: Notify,
    /// Why the store did not answer last time, `None` when it did.
    down: Mutex<Option<String>>,
}

impl SharedJobs {
    /// Starts connecting to the store (retried with backoff until it
    /// answers and its schema is up to date), then the executor, the
    /// heartbeat and the expiry sweep. Job endpoints answer 503 until then.
    pub fn start(url: String, pool: Arc<Pool>, ttl: Duration, concurrency: usize, lease: Duration) -> Arc<SharedJobs> {
        let concurrency = concurrency.max(1);
        let node = format!("{}-{}", std::process::id(), super::new_job_id().unwrap_or_default());
        let jobs = Arc::new(SharedJobs {
            store: OnceLock::new(),
            node,
            lease,
            slots: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            stopping: AtomicBool::new(false),
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            down: Mutex::new(Some("connecting to the job store".into())),
        });
        let started = Arc::clone(&jobs);
        tokio::spawn(async move {
            let mut backoff = BACKOFF_MIN;
            let store = loop {
                match PgStore::open(&url).await {
                    Ok(store) => break store,
                    Err(err) => {
                        tracing::error!("the job store: {err}; retrying in {:.1}s", backoff.as_secs_f64());
                        started.set_down(Some(err.0));
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                    }
                }
            };
            let _ = started.store.set(store);
            started.set_down(None);
            tracing::info!("jobs are kept in PostgreSQL; this node's leases are {}", started.node);
            tokio::spawn(Arc::clone(&started).heartbeat());
            tokio::spawn(Arc::clone(&started).sweep(ttl));
            started.execute(pool).await;
        });
        jobs
    }

    /// The store, or the 503 that says it is not connected yet.
    pub fn store(&self) -> Result<&PgStore, ApiError> {
        self.store.get().ok_or_else(|| ApiError::jobs_unavailable(&self.not_ready().unwrap_or_default()))
    }

    /// Why jobs cannot be served right now (the store is away), if so.
    pub fn not_ready(&self) -> Option<String> {
        self.down.lock().unwrap().clone()
    }

    fn set_down(&self, why: Option<String>) {
        let mut down = self.down.lock().unwrap();
        if down.is_some() != why.is_some() {
            match &why {
                Some(why) => tracing::error!("the job store is unavailable: {why}"),
                None => tracing::info!("the job store answers"),
            }
        }
        *down = why;
    }

    /// A job was stored here: claim its documents now, not at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops the documents of `job_id` running on this node (it was
    /// cancelled here; other nodes see it at their heartbeat).
    pub fn cancelled(&self, job_id: &str) {
        if let Some((flag, _)) = self.running.lock().unwrap().get(job_id) {
            let _ = flag.send(true);
        }
    }

    pub fn stop_starting(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Waits until no document is in flight, or `deadline`, then gives back
    /// this node's leases so that others take what is left at once.
    pub async fn wait_idle(&self, deadline: Instant) -> bool {
        let all = self.slots.acquire_many(self.concurrency as u32);
        let idle = matches!(tokio::time::timeout_at(deadline.into(), all).await, Ok(Ok(_)));
        if let Some(store) = self.store.get() {
            let _ = tokio::time::timeout_at(deadline.into(), store.release(&self.node)).await;
        }
        idle
    }

    async fn execute(self: Arc<Self>, pool: Arc<Pool>) {
        let store = self.store.get().expect("set before the executor starts");
        let mut backoff = BACKOFF_MIN;
        loop {
            let Ok(first) = Arc::clone(&self.slots).acquire_owned().await else { return };
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let mut permits = vec![first];
            while let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
                permits.push(permit);
            }
            let claimed = match store.claim(&self.node, self.lease, permits.len()).await {
                Ok(claimed) => claimed,
                Err(err) => {
                    self.set_down(Some(err.0));
                    drop(permits);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            self.set_down(None);
            backoff = BACKOFF_MIN;
            if claimed.is_empty() {
                drop(permits);
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(CLAIM_POLL_INTERVAL) => {}
                }
                continue;
            }
            for (claimed, permit) in claimed.into_iter().zip(permits) {
                let job_id = claimed.document.job_id.clone();
                let cancelled = self.track(&job_id);
                let (jobs, pool) = (Arc::clone(&self), Arc::clone(&pool));
                tokio::spawn(async move {
                    jobs.run_document(&pool, claimed, cancelled).await;
                    jobs.untrack(&job_id);
                    drop(permit);
                });
            }
        }
    }

    fn track(&self, job_id: &str) -> watch::Receiver<bool> {
        let mut running = self.running.lock().unwrap();
        let entry = running.entry(job_id.to_owned()).or_insert_with(|| (watch::channel(false).0, 0));
        entry.1 += 1;
        entry.0.subscribe()
    }

    fn untrack(&self, job_id: &str) {
        let mut running = self.running.lock().unwrap();
        if let Some(entry) = running.get_mut(job_id) {
            entry.1 -= 1;
            if entry.1 == 0 {
                running.remove(job_id);
            }
        }
    }

    async fn run_document(&self, pool: &Pool, claimed: Claimed, mut cancelled: watch::Receiver<bool>) {
        let Claimed { document, bytes } = claimed;
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        let result = if document.sha256.is_some_and(|uploaded| uploaded != sha256) {
            Err(damaged_document(&document.job_id, document.index))
        } else {
            let filename = document.filename.clone();
            // As on one node: after shutdown has begun only what says
            // something about the document is recorded; the rest is left
            // to another node (this node gives its leases back).
            let run = analyse_stored(
                pool,
                filename,
                document.options,
                sha256,
                Document::Memory(bytes.into()),
                &mut cancelled,
                &self.stopping,
            );
            let Some(result) = run.await else { return };
            result
        };
        let index = document.index;
        let recorded = recorded(index, document.filename, result).await;
        let store = self.store.get().expect("set before the executor starts");
        // A result is kept until the store takes it: a store that is away
        // (restarting) is retried, and the document is not analysed again.
        let mut backoff = BACKOFF_MIN;
        loop {
            match store.record(&document.job_id, index, &recorded).await {
                Ok(_) => {
                    self.set_down(None);
                    return;
                }
                Err(err) => {
                    self.set_down(Some(err.0));
                    if self.stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = cancelled.wait_for(|cancel| *cancel) => return,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    async fn heartbeat(self: Arc<Self>) {
        let store = self.store.get().expect("set before the heartbeat starts");
        loop {
            tokio::time::sleep(self.lease / HEARTBEATS_PER_LEASE).await;
            let jobs: Vec<String> = self.running.lock().unwrap().keys().cloned().collect();
            match store.heartbeat(&self.node, self.lease, &jobs).await {
                Ok(over) => {
                    self.set_down(None);
                    for job_id in over {
                        self.cancelled(&job_id);
                    }
                }
                Err(err) => self.set_down(Some(err.0)),
            }
        }
    }

    async fn sweep(self: Arc<Self>, ttl: Duration) {
        let store = self.store.get().expect("set before the sweep starts");
        loop {
            match store.expire(ttl).await {
                Ok(0) | Err(_) => {}
                Ok(n) => tracing::info!("removed {n} expired jobs"),
            }
            tokio::time::sleep(EXPIRY_SWEEP_INTERVAL.min(ttl)).await;
        }
    }
}
