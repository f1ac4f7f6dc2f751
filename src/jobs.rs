//! Durable asynchronous jobs: `POST /v1/jobs` stores the uploaded documents and
//! the job in SQLite under `--data-dir` (fsync'd) before answering 202; an
//! executor feeds their documents to the pool in the bulk lane and records each
//! result exactly once. After a crash the server finds every document without
//! a result and runs it again, so nothing accepted is lost and nothing appears
//! twice in the results.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use docmill_engine::Options;
use rusqlite::{params, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::batch::{summary_from_lines, Outcome};
use crate::error::ApiError;
use crate::http::{content_type, AnalyzeQuery, AppState};
use crate::log;
use crate::pool::{Document, JobSpec, Lane, Pool};
use crate::upload::MultipartFiles;

/// How often finished jobs past `--job-ttl` are looked for.
const EXPIRY_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Most jobs one `GET /v1/jobs` lists.
const MAX_PAGE: u32 = 1000;
const DEFAULT_PAGE: u32 = 100;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// 128 random bits as 32 hex digits.
fn new_job_id() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A job id is exactly what [`new_job_id`] makes; anything else is unknown.
fn valid_job_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A document waiting for analysis.
#[derive(Clone, Debug)]
pub struct PendingDocument {
    pub job_id: String,
    pub index: usize,
    pub filename: String,
    pub options: Options,
}

/// The SQLite store. Its calls block: use them from `spawn_blocking`.
pub struct JobStore {
    db: Mutex<rusqlite::Connection>,
    documents_dir: PathBuf,
}

impl JobStore {
    pub fn open(data_dir: &Path) -> anyhow::Result<JobStore> {
        let documents_dir = data_dir.join("jobs");
        std::fs::create_dir_all(&documents_dir)?;
        let db = rusqlite::Connection::open(data_dir.join("jobs.sqlite3"))?;
        // WAL with full sync: a committed transaction survives power loss.
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             CREATE TABLE IF NOT EXISTS jobs (
                 id TEXT PRIMARY KEY,
                 seq INTEGER NOT NULL,
                 status TEXT NOT NULL,
                 include_text INTEGER NOT NULL,
                 created_ms INTEGER NOT NULL,
                 started_ms INTEGER,
                 finished_ms INTEGER,
                 total INTEGER NOT NULL,
                 done INTEGER NOT NULL DEFAULT 0,
                 failed INTEGER NOT NULL DEFAULT 0
             );
             CREATE INDEX IF NOT EXISTS jobs_by_seq ON jobs (seq);
             CREATE TABLE IF NOT EXISTS documents (
                 job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                 idx INTEGER NOT NULL,
                 filename TEXT NOT NULL,
                 line TEXT,
                 failed INTEGER NOT NULL DEFAULT 0,
                 finished_seq INTEGER,
                 PRIMARY KEY (job_id, idx)
             );",
        )?;
        Ok(JobStore { db: Mutex::new(db), documents_dir })
    }

    fn job_dir(&self, job_id: &str) -> PathBuf {
        self.documents_dir.join(job_id)
    }

    pub fn document_path(&self, job_id: &str, index: usize) -> PathBuf {
        self.job_dir(job_id).join(index.to_string())
    }

    /// Records a job whose document files are already on disk. Documents
    /// refused at upload come with their error line and count as done.
    fn create(&self, job_id: &str, options: Options, documents: &[(String, Option<String>)]) -> rusqlite::Result<()> {
        let mut db = self.db.lock().unwrap();
        let tx = db.transaction()?;
        let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs", [], |row| row.get(0))?;
        let refused = documents.iter().filter(|(_, line)| line.is_some()).count();
        let status = if refused == documents.len() { "done" } else { "queued" };
        let finished = (status == "done").then(now_ms);
        tx.execute(
            "INSERT INTO jobs (id, seq, status, include_text, created_ms, finished_ms, total, done, failed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            params![job_id, seq, status, options.include_text, now_ms(), finished, documents.len(), refused],
        )?;
        for (index, (filename, line)) in documents.iter().enumerate() {
            tx.execute(
                "INSERT INTO documents (job_id, idx, filename, line, failed, finished_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![job_id, index, filename, line, line.is_some(), line.as_ref().map(|_| index as i64)],
            )?;
        }
        tx.commit()
    }

    /// Stores one document's result, once: a second result for the same
    /// document (a run repeated after a crash) changes nothing.
    fn record(&self, job_id: &str, index: usize, line: &str, failed: bool) -> rusqlite::Result<()> {
        let mut db = self.db.lock().unwrap();
        let tx = db.transaction()?;
        let next: i64 = tx.query_row(
            "SELECT COALESCE(MAX(finished_seq), -1) + 1 FROM documents WHERE job_id = ?1",
            [job_id],
            |row| row.get(0),
        )?;
        let changed = tx.execute(
            "UPDATE documents SET line = ?3, failed = ?4, finished_seq = ?5 WHERE job_id = ?1 AND idx = ?2 AND line IS NULL",
            params![job_id, index, line, failed, next],
        )?;
        if changed == 1 {
            tx.execute(
                "UPDATE jobs SET done = done + 1, failed = failed + ?2 WHERE id = ?1",
                params![job_id, failed as i64],
            )?;
            tx.execute(
                "UPDATE jobs SET status = 'done', finished_ms = ?2 WHERE id = ?1 AND done = total AND status IN ('queued', 'running')",
                params![job_id, now_ms()],
            )?;
        }
        tx.commit()
    }

    fn mark_running(&self, job_id: &str) -> rusqlite::Result<()> {
        self.db.lock().unwrap().execute(
            "UPDATE jobs SET status = 'running', started_ms = COALESCE(started_ms, ?2) WHERE id = ?1 AND status = 'queued'",
            params![job_id, now_ms()],
        )?;
        Ok(())
    }

    /// True unless the job was cancelled or removed.
    fn is_live(&self, job_id: &str) -> bool {
        let db = self.db.lock().unwrap();
        db.query_row("SELECT status FROM jobs WHERE id = ?1", [job_id], |row| row.get::<_, String>(0))
            .map(|status| status == "queued" || status == "running")
            .unwrap_or(false)
    }

    /// Documents without a result, of jobs still to run, oldest job first.
    fn pending(&self) -> rusqlite::Result<Vec<PendingDocument>> {
        let db = self.db.lock().unwrap();
        let mut statement = db.prepare(
            "SELECT d.job_id, d.idx, d.filename, j.include_text FROM documents d JOIN jobs j ON j.id = d.job_id
             WHERE d.line IS NULL AND j.status IN ('queued', 'running') ORDER BY j.seq, d.idx",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(PendingDocument {
                job_id: row.get(0)?,
                index: row.get::<_, i64>(1)? as usize,
                filename: row.get(2)?,
                options: Options { include_text: row.get(3)? },
            })
        })?;
        rows.collect()
    }

    fn status(&self, job_id: &str) -> rusqlite::Result<Option<Value>> {
        let db = self.db.lock().unwrap();
        db.query_row(
            "SELECT id, status, created_ms, started_ms, finished_ms, total, done, failed FROM jobs WHERE id = ?1",
            [job_id],
            job_json,
        )
        .optional()
    }

    fn list(&self, after_seq: i64, limit: u32) -> rusqlite::Result<Vec<(i64, Value)>> {
        let db = self.db.lock().unwrap();
        let mut statement = db.prepare(
            "SELECT id, status, created_ms, started_ms, finished_ms, total, done, failed, seq FROM jobs
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = statement.query_map(params![after_seq, limit], |row| Ok((row.get::<_, i64>(8)?, job_json(row)?)))?;
        rows.collect()
    }

    fn seq_of(&self, job_id: &str) -> rusqlite::Result<Option<i64>> {
        let db = self.db.lock().unwrap();
        db.query_row("SELECT seq FROM jobs WHERE id = ?1", [job_id], |row| row.get(0)).optional()
    }

    /// Result lines in the order they completed.
    fn results(&self, job_id: &str) -> rusqlite::Result<Vec<String>> {
        let db = self.db.lock().unwrap();
        let mut statement =
            db.prepare("SELECT line FROM documents WHERE job_id = ?1 AND line IS NOT NULL ORDER BY finished_seq")?;
        let rows = statement.query_map([job_id], |row| row.get(0))?;
        rows.collect()
    }

    /// Cancels a queued or running job; returns its status afterwards.
    fn cancel(&self, job_id: &str) -> rusqlite::Result<Option<String>> {
        let db = self.db.lock().unwrap();
        db.execute(
            "UPDATE jobs SET status = 'cancelled', finished_ms = ?2 WHERE id = ?1 AND status IN ('queued', 'running')",
            params![job_id, now_ms()],
        )?;
        db.query_row("SELECT status FROM jobs WHERE id = ?1", [job_id], |row| row.get(0)).optional()
    }

    /// Removes jobs that ended more than `ttl` ago, with their files.
    fn expire(&self, ttl: Duration) -> rusqlite::Result<usize> {
        let cutoff = now_ms() - ttl.as_millis() as i64;
        let expired: Vec<String> = {
            let db = self.db.lock().unwrap();
            let mut statement =
                db.prepare("SELECT id FROM jobs WHERE status IN ('done', 'failed', 'cancelled') AND finished_ms < ?1")?;
            let rows = statement.query_map([cutoff], |row| row.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for job_id in &expired {
            self.db.lock().unwrap().execute("DELETE FROM jobs WHERE id = ?1", [job_id])?;
            let _ = std::fs::remove_dir_all(self.job_dir(job_id));
        }
        Ok(expired.len())
    }

    /// Removes the files of a job that is over (its results stay).
    fn drop_files(&self, job_id: &str) {
        let _ = std::fs::remove_dir_all(self.job_dir(job_id));
    }
}

fn job_json(row: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    let total: i64 = row.get(5)?;
    let done: i64 = row.get(6)?;
    Ok(json!({
        "id": row.get::<_, String>(0)?,
        "status": row.get::<_, String>(1)?,
        "created_ms": row.get::<_, i64>(2)?,
        "started_ms": row.get::<_, Option<i64>>(3)?,
        "finished_ms": row.get::<_, Option<i64>>(4)?,
        "documents": total,
        "done": done,
        "failed": row.get::<_, i64>(7)?,
        "progress": {"done": done, "total": total},
    }))
}

/// Runs a store call off the runtime threads.
async fn blocking<T: Send + 'static>(
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
    store: Arc<JobStore>,
    queue: mpsc::UnboundedSender<PendingDocument>,
    /// One flag per job with work in flight; set on cancel.
    cancels: Mutex<HashMap<String, watch::Sender<bool>>>,
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
                let spec = JobSpec {
                    filename: document.filename.clone(),
                    declared_type: None,
                    options: document.options,
                    sha256: Some(sha256),
                    document: Document::Memory(Bytes::from(bytes)),
                    use_cache: true,
                };
                tokio::select! {
                    result = pool.run(spec, Lane::Bulk) => result.map_err(ApiError::from),
                    // Dropping the run kills the worker holding it.
                    _ = cancelled.wait_for(|cancel| *cancel) => return,
                }
            }
        };
        if matches!(&result, Err(err) if err.code == "overloaded") {
            // The server is draining: leave the document for the next start.
            return;
        }
        let failed = result.is_err();
        let outcome = Outcome { index: document.index, filename: document.filename, result };
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

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no job {id:?}"))
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Query(query): Query<AnalyzeQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let jobs = Arc::clone(&state.jobs);
    let limits = (state.config.pool.max_upload_bytes, state.config.max_request_bytes);
    let mut files = MultipartFiles::new(content_type(&headers), body, &state.spool_dir, limits.0, limits.1)?;
    let job_id = new_job_id().map_err(|err| ApiError::internal(format!("no randomness: {err}")))?;
    let job_dir = jobs.store.job_dir(&job_id);
    let mut documents: Vec<(String, Option<String>)> = Vec::new();
    let result: Result<(), ApiError> = async {
        tokio::fs::create_dir_all(&job_dir).await.map_err(|err| ApiError::internal(format!("job dir: {err}")))?;
        while let Some(part) = files.next_file().await? {
            let index = documents.len();
            match part.content {
                Err(err) => {
                    let outcome = Outcome { index, filename: part.filename.clone(), result: Err(err) };
                    let line = String::from_utf8(outcome.to_line().to_vec()).expect("UTF-8");
                    documents.push((part.filename, Some(line.trim_end().to_owned())));
                }
                Ok(spooled) => {
                    let path = job_dir.join(index.to_string());
                    tokio::task::spawn_blocking(move || persist(spooled.document, &path))
                        .await
                        .map_err(|err| ApiError::internal(err.to_string()))?
                        .map_err(|err| ApiError::internal(format!("cannot store the upload: {err}")))?;
                    documents.push((part.filename, None));
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(err) = result {
        let _ = tokio::fs::remove_dir_all(&job_dir).await;
        files.drain().await;
        return Err(err);
    }
    if documents.is_empty() {
        let _ = tokio::fs::remove_dir_all(&job_dir).await;
        return Err(ApiError::bad_request("no file part in the upload"));
    }
    let options = query.options();
    {
        let (job_id, documents) = (job_id.clone(), documents.clone());
        let dir = job_dir.clone();
        blocking(&jobs.store, move |store| {
            // The directory entries of the stored files are durable too.
            if let Ok(dir) = std::fs::File::open(&dir) {
                let _ = dir.sync_all();
            }
            store.create(&job_id, options, &documents)
        })
        .await?;
    }
    for (index, (filename, line)) in documents.into_iter().enumerate() {
        if line.is_none() {
            let _ = jobs.queue.send(PendingDocument { job_id: job_id.clone(), index, filename, options });
        }
    }
    let status = blocking(&jobs.store, {
        let job_id = job_id.clone();
        move |store| store.status(&job_id)
    })
    .await?
    .unwrap_or(Value::Null);
    let location = format!("/v1/jobs/{job_id}");
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(status)).into_response())
}

/// Writes a spooled upload to its place in the job directory and syncs it.
fn persist(document: Document, path: &Path) -> std::io::Result<()> {
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

pub async fn status(State(state): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> Result<Json<Value>, ApiError> {
    let jobs = &state.jobs;
    if !valid_job_id(&id) {
        return Err(not_found(&id));
    }
    let lookup = id.clone();
    match blocking(&jobs.store, move |store| store.status(&lookup)).await? {
        Some(status) => Ok(Json(status)),
        None => Err(not_found(&id)),
    }
}

pub async fn results(State(state): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> Result<Response, ApiError> {
    let jobs = &state.jobs;
    if !valid_job_id(&id) {
        return Err(not_found(&id));
    }
    let lookup = id.clone();
    let (status, lines) =
        blocking(&jobs.store, move |store| Ok((store.status(&lookup)?, store.results(&lookup)?))).await?;
    let Some(status) = status else { return Err(not_found(&id)) };
    let mut body = String::new();
    for line in &lines {
        body.push_str(line);
        body.push('\n');
    }
    // The summary closes the results of a job that is over.
    if status["status"] != "queued" && status["status"] != "running" {
        let elapsed_ms = status["finished_ms"].as_i64().unwrap_or(0) - status["created_ms"].as_i64().unwrap_or(0);
        body.push_str(&summary_from_lines(&lines, elapsed_ms.max(0) as u64));
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}

pub async fn cancel(State(state): State<Arc<AppState>>, UrlPath(id): UrlPath<String>) -> Result<Json<Value>, ApiError> {
    let jobs = &state.jobs;
    if !valid_job_id(&id) {
        return Err(not_found(&id));
    }
    let lookup = id.clone();
    let Some(after) = blocking(&jobs.store, move |store| store.cancel(&lookup)).await? else {
        return Err(not_found(&id));
    };
    if after == "cancelled" {
        if let Some(flag) = jobs.cancels.lock().unwrap().remove(&id) {
            let _ = flag.send(true);
        }
        let store = Arc::clone(&jobs.store);
        let job_id = id.clone();
        let _ = tokio::task::spawn_blocking(move || store.drop_files(&job_id)).await;
    }
    let lookup = id.clone();
    let status = blocking(&jobs.store, move |store| store.status(&lookup)).await?.unwrap_or(Value::Null);
    Ok(Json(status))
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
}

pub async fn list(State(state): State<Arc<AppState>>, Query(query): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let jobs = &state.jobs;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let after_seq = match &query.after {
        None => 0,
        Some(id) => {
            let lookup = id.clone();
            blocking(&jobs.store, move |store| store.seq_of(&lookup))
                .await?
                .ok_or_else(|| ApiError::bad_request(format!("after={id:?} is not a job")))?
        }
    };
    let page = blocking(&jobs.store, move |store| store.list(after_seq, limit + 1)).await?;
    let more = page.len() > limit as usize;
    let jobs: Vec<Value> = page.into_iter().take(limit as usize).map(|(_, job)| job).collect();
    let next = if more { jobs.last().map(|job| job["id"].clone()) } else { None };
    Ok(Json(json!({"jobs": jobs, "next_after": next})))
}
