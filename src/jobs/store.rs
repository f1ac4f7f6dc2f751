//! The SQLite job store: jobs, their documents and each document's result
//! line, in WAL mode with `synchronous=FULL`. Its calls block: the executor
//! and the handlers call it through `spawn_blocking`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use docmill_engine::Options;
use rusqlite::{params, ErrorCode, OptionalExtension};
use serde_json::{json, Value};

/// The database file under `--data-dir`; SQLite keeps `-wal` and `-shm`
/// files next to it.
pub const DB_FILE: &str = "jobs.sqlite3";

/// Why the store could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The files are not a sound database (overwritten, cut short, or the
    /// write-ahead log lost after a crash): they are set aside, not reused.
    Damaged(String),
    /// Anything else (permissions, a full disk): the files may be fine.
    Unusable(String),
}

/// True for the SQLite errors that mean the database itself is damaged.
pub fn is_damage(err: &rusqlite::Error) -> bool {
    matches!(err.sqlite_error_code(), Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt))
}

fn classify(err: rusqlite::Error) -> OpenError {
    if is_damage(&err) {
        OpenError::Damaged(err.to_string())
    } else {
        OpenError::Unusable(err.to_string())
    }
}

/// `jobs.sqlite3` → `jobs.sqlite3-wal`.
pub fn sidecar(db_path: &Path, suffix: &str) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

use super::schema;
use crate::ndjson::{parse_sha256, summary_line, SummaryEntry};

/// A page of `GET /v1/jobs/{id}/results` stops after the first line that
/// takes it past this many bytes: results stream from the store a page at a
/// time, so a job of thousands of reports never sits whole in memory.
pub const RESULTS_PAGE_BYTES: usize = 1 << 20;

/// The next page of a job's results, known before it is read, so that its
/// share of the answer memory budget is taken before it is in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageExtent {
    /// The number of the page's last line.
    pub last: i64,
    /// Its bytes, one newline per line included.
    pub bytes: usize,
}

/// The page that `lines` (each line's number and length, in order) begin:
/// lines up to and including the first that takes it to
/// [`RESULTS_PAGE_BYTES`]. `None` when there are none.
pub fn page_extent(lines: impl Iterator<Item = (i64, usize)>) -> Option<PageExtent> {
    let mut extent = None;
    let mut bytes = 0;
    for (seq, len) in lines {
        bytes += len + 1;
        extent = Some(PageExtent { last: seq, bytes });
        if bytes >= RESULTS_PAGE_BYTES {
            break;
        }
    }
    extent
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A document waiting for analysis.
#[derive(Clone, Debug)]
pub struct PendingDocument {
    pub job_id: String,
    pub index: usize,
    pub filename: String,
    pub options: Options,
    /// Taken while the upload streamed; `None` for documents stored before
    /// sha256s were kept.
    pub sha256: Option<[u8; 32]>,
}

/// One file of a new job, as the upload left it.
#[derive(Clone, Debug)]
pub struct UploadedDocument {
    pub filename: String,
    /// Of the bytes stored on disk, taken while they streamed in.
    pub sha256: Option<[u8; 32]>,
    /// The error line of a file refused at upload (it is never analysed).
    pub refusal: Option<String>,
}

/// What one analysed document leaves in the store.
pub struct Recorded {
    pub line: String,
    pub failed: bool,
    pub sha256: Option<[u8; 32]>,
    pub simhash: Option<u64>,
}

/// The SQLite store. Its calls block: use them from `spawn_blocking`.
pub struct JobStore {
    db: Mutex<rusqlite::Connection>,
    documents_dir: PathBuf,
}

impl JobStore {
    /// Opens (or creates) the store, checks it can be read, and removes
    /// document directories no live job owns (left by a kill during an
    /// upload, or by a job that is over).
    pub fn open(data_dir: &Path) -> Result<JobStore, OpenError> {
        let documents_dir = data_dir.join("jobs");
        std::fs::create_dir_all(&documents_dir)
            .map_err(|err| OpenError::Unusable(format!("cannot create {}: {err}", documents_dir.display())))?;
        let db_path = data_dir.join(DB_FILE);
        // A crash leaves the WAL and its index (`-shm`) behind, and the next
        // open replays the WAL. An index without its WAL means the WAL was
        // deleted: the committed transactions it held are gone, and opening
        // would silently serve an older store.
        let (wal, shm) = (sidecar(&db_path, "-wal"), sidecar(&db_path, "-shm"));
        if db_path.exists() && shm.exists() && !wal.exists() {
            return Err(OpenError::Damaged(format!(
                "its write-ahead log {} is missing (deleted after a crash?), so committed jobs may be lost",
                wal.display()
            )));
        }
        let mut db = rusqlite::Connection::open(&db_path).map_err(classify)?;
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
        )
        .map_err(classify)?;
        schema::migrate(&mut db).map_err(|err| match err {
            schema::MigrationError::Sqlite(err) => classify(err),
            // Not damage: the files are sound, only newer than this build.
            too_new => OpenError::Unusable(too_new.to_string()),
        })?;
        let store = JobStore { db: Mutex::new(db), documents_dir };
        let removed = store.remove_orphan_files().map_err(classify)?;
        if removed > 0 {
            tracing::info!("removed {removed} document directories that no unfinished job owns");
        }
        Ok(store)
    }

    /// Removes every entry of the documents directory that is not the
    /// directory of a queued or running job.
    fn remove_orphan_files(&self) -> rusqlite::Result<usize> {
        let live: HashSet<String> = {
            let db = self.db.lock().unwrap();
            let mut statement = db.prepare("SELECT id FROM jobs WHERE status IN ('queued', 'running')")?;
            let rows = statement.query_map([], |row| row.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let Ok(entries) = std::fs::read_dir(&self.documents_dir) else { return Ok(0) };
        let mut removed = 0;
        for entry in entries.flatten() {
            if live.contains(entry.file_name().to_string_lossy().as_ref()) {
                continue;
            }
            let path = entry.path();
            let gone = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            match gone {
                Ok(()) => removed += 1,
                Err(err) => tracing::error!("cannot remove {}: {err}", path.display()),
            }
        }
        Ok(removed)
    }

    pub fn job_dir(&self, job_id: &str) -> PathBuf {
        self.documents_dir.join(job_id)
    }

    pub fn document_path(&self, job_id: &str, index: usize) -> PathBuf {
        self.job_dir(job_id).join(index.to_string())
    }

    /// Records a job whose document files are already on disk. Documents
    /// refused at upload come with their error line and count as done.
    /// `owner` is the creating tenant's key digest, `None` without keys.
    pub fn create(
        &self,
        job_id: &str,
        options: Options,
        documents: &[UploadedDocument],
        owner: Option<&str>,
    ) -> rusqlite::Result<()> {
        let mut db = self.db.lock().unwrap();
        let tx = db.transaction()?;
        let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs", [], |row| row.get(0))?;
        let refused = documents.iter().filter(|document| document.refusal.is_some()).count();
        let status = if refused == documents.len() { "done" } else { "queued" };
        let finished = (status == "done").then(now_ms);
        tx.execute(
            "INSERT INTO jobs (id, seq, status, include_text, created_ms, finished_ms, total, done, failed, owner, options)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)",
            params![job_id, seq, status, options.include_text, now_ms(), finished, documents.len(), refused, owner, serde_json::to_string(&options).expect("options serialise")],
        )?;
        for (index, document) in documents.iter().enumerate() {
            let line = &document.refusal;
            tx.execute(
                "INSERT INTO documents (job_id, idx, filename, line, failed, finished_seq, sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    job_id,
                    index,
                    document.filename,
                    line,
                    line.is_some(),
                    line.as_ref().map(|_| index as i64),
                    document.sha256.map(hex)
                ],
            )?;
        }
        if status == "done" {
            write_summary(&tx, job_id)?;
        }
        tx.commit()
    }

    /// Stores one document's result, once: a second result for the same
    /// document (a run repeated after a crash) changes nothing. The result
    /// that ends a job computes its summary, which is kept.
    pub fn record(&self, job_id: &str, index: usize, recorded: &Recorded) -> rusqlite::Result<()> {
        let Recorded { line, failed, sha256, simhash } = recorded;
        let mut db = self.db.lock().unwrap();
        let tx = db.transaction()?;
        let next: i64 = tx.query_row(
            "SELECT COALESCE(MAX(finished_seq), -1) + 1 FROM documents WHERE job_id = ?1",
            [job_id],
            |row| row.get(0),
        )?;
        let changed = tx.execute(
            "UPDATE documents SET line = ?3, failed = ?4, finished_seq = ?5, sha256 = COALESCE(sha256, ?6), simhash = ?7
             WHERE job_id = ?1 AND idx = ?2 AND line IS NULL",
            params![job_id, index, line, failed, next, sha256.map(hex), simhash.map(|bits| bits as i64)],
        )?;
        if changed == 1 {
            tx.execute(
                "UPDATE jobs SET done = done + 1, failed = failed + ?2 WHERE id = ?1",
                params![job_id, *failed as i64],
            )?;
            tx.execute(
                "UPDATE jobs SET status = 'done', finished_ms = ?2 WHERE id = ?1 AND done = total AND status IN ('queued', 'running')",
                params![job_id, now_ms()],
            )?;
            // The job is over: this result finished it, or came in just
            // after a cancel and belongs in the summary all the same.
            let status: String = tx.query_row("SELECT status FROM jobs WHERE id = ?1", [job_id], |row| row.get(0))?;
            if status != "queued" && status != "running" {
                write_summary(&tx, job_id)?;
            }
        }
        tx.commit()
    }

    pub fn mark_running(&self, job_id: &str) -> rusqlite::Result<()> {
        self.db.lock().unwrap().execute(
            "UPDATE jobs SET status = 'running', started_ms = COALESCE(started_ms, ?2) WHERE id = ?1 AND status = 'queued'",
            params![job_id, now_ms()],
        )?;
        Ok(())
    }

    /// True unless the job was cancelled or removed.
    pub fn is_live(&self, job_id: &str) -> bool {
        let db = self.db.lock().unwrap();
        db.query_row("SELECT status FROM jobs WHERE id = ?1", [job_id], |row| row.get::<_, String>(0))
            .map(|status| status == "queued" || status == "running")
            .unwrap_or(false)
    }

    /// Documents without a result, of jobs still to run, oldest job first.
    pub fn pending(&self) -> rusqlite::Result<Vec<PendingDocument>> {
        let db = self.db.lock().unwrap();
        let mut statement = db.prepare(
            "SELECT d.job_id, d.idx, d.filename, j.include_text, d.sha256, j.options FROM documents d JOIN jobs j ON j.id = d.job_id
             WHERE d.line IS NULL AND j.status IN ('queued', 'running') ORDER BY j.seq, d.idx",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(PendingDocument {
                job_id: row.get(0)?,
                index: row.get::<_, i64>(1)? as usize,
                filename: row.get(2)?,
                options: row
                    .get::<_, Option<String>>(5)?
                    .and_then(|json| serde_json::from_str(&json).ok())
                    .unwrap_or(Options { include_text: row.get(3)?, ..Options::default() }),
                sha256: row.get::<_, Option<String>>(4)?.as_deref().and_then(parse_sha256),
            })
        })?;
        rows.collect()
    }

    /// The status of a job `owner` may see: with keys, only its own jobs
    /// (`owner` is its key digest); without (`None`), every job.
    pub fn status(&self, job_id: &str, owner: Option<&str>) -> rusqlite::Result<Option<Value>> {
        let db = self.db.lock().unwrap();
        db.query_row(
            "SELECT id, status, created_ms, started_ms, finished_ms, total, done, failed FROM jobs
             WHERE id = ?1 AND (?2 IS NULL OR owner = ?2)",
            params![job_id, owner],
            job_json,
        )
        .optional()
    }

    pub fn list(&self, after_seq: i64, limit: u32, owner: Option<&str>) -> rusqlite::Result<Vec<(i64, Value)>> {
        let db = self.db.lock().unwrap();
        let mut statement = db.prepare(
            "SELECT id, status, created_ms, started_ms, finished_ms, total, done, failed, seq FROM jobs
             WHERE seq > ?1 AND (?3 IS NULL OR owner = ?3) ORDER BY seq LIMIT ?2",
        )?;
        let rows =
            statement.query_map(params![after_seq, limit, owner], |row| Ok((row.get::<_, i64>(8)?, job_json(row)?)))?;
        rows.collect()
    }

    pub fn seq_of(&self, job_id: &str, owner: Option<&str>) -> rusqlite::Result<Option<i64>> {
        let db = self.db.lock().unwrap();
        db.query_row(
            "SELECT seq FROM jobs WHERE id = ?1 AND (?2 IS NULL OR owner = ?2)",
            params![job_id, owner],
            |row| row.get(0),
        )
        .optional()
    }

    /// How far the next page of results after the line numbered `after`
    /// (start with -1) reaches, from the lines' lengths alone: see
    /// [`page_extent`]. `None` at the end.
    pub fn results_extent(&self, job_id: &str, after: i64) -> rusqlite::Result<Option<PageExtent>> {
        let db = self.db.lock().unwrap();
        // `octet_length` reads a value's length from its record header,
        // without loading the value.
        let mut statement = db.prepare_cached(
            "SELECT finished_seq, octet_length(line) FROM documents
             WHERE job_id = ?1 AND line IS NOT NULL AND finished_seq > ?2 ORDER BY finished_seq",
        )?;
        let mut rows = statement.query(params![job_id, after])?;
        let mut lengths = Vec::new();
        while let Some(row) = rows.next()? {
            lengths.push((row.get::<_, i64>(0)?, row.get::<_, i64>(1)? as usize));
            if page_extent(lengths.iter().copied()).is_some_and(|extent| extent.bytes >= RESULTS_PAGE_BYTES) {
                break;
            }
        }
        Ok(page_extent(lengths.into_iter()))
    }

    /// The result lines numbered after `after` up to `through` (a
    /// [`PageExtent`]'s `last`), in the order they completed, each with its
    /// number and newline.
    pub fn results_page(&self, job_id: &str, after: i64, through: i64) -> rusqlite::Result<Vec<(i64, String)>> {
        let db = self.db.lock().unwrap();
        let mut statement = db.prepare_cached(
            "SELECT finished_seq, line FROM documents
             WHERE job_id = ?1 AND line IS NOT NULL AND finished_seq > ?2 AND finished_seq <= ?3
             ORDER BY finished_seq",
        )?;
        let rows = statement.query_map(params![job_id, after, through], |row| {
            let (seq, mut line): (i64, String) = (row.get(0)?, row.get(1)?);
            line.push('\n');
            Ok((seq, line))
        })?;
        rows.collect()
    }

    /// The summary line of a job that is over, computed once and kept;
    /// `None` while it runs (or when there is no such job).
    pub fn summary(&self, job_id: &str) -> rusqlite::Result<Option<String>> {
        let db = self.db.lock().unwrap();
        let row: Option<(String, Option<String>)> = db
            .query_row("SELECT status, summary FROM jobs WHERE id = ?1", [job_id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        match row {
            None => Ok(None),
            Some((status, _)) if status == "queued" || status == "running" => Ok(None),
            Some((_, Some(summary))) => Ok(Some(summary)),
            // Ended before summaries were kept, or by a path that does not
            // write one: compute it now, once.
            Some((_, None)) => write_summary(&db, job_id).map(Some),
        }
    }

    /// Cancels a queued or running job `owner` may see; returns its status
    /// afterwards, `None` when there is no such job for it.
    pub fn cancel(&self, job_id: &str, owner: Option<&str>) -> rusqlite::Result<Option<String>> {
        let mut db = self.db.lock().unwrap();
        let tx = db.transaction()?;
        let cancelled = tx.execute(
            "UPDATE jobs SET status = 'cancelled', finished_ms = ?2
             WHERE id = ?1 AND status IN ('queued', 'running') AND (?3 IS NULL OR owner = ?3)",
            params![job_id, now_ms(), owner],
        )?;
        if cancelled == 1 {
            write_summary(&tx, job_id)?;
        }
        let status = tx
            .query_row(
                "SELECT status FROM jobs WHERE id = ?1 AND (?2 IS NULL OR owner = ?2)",
                params![job_id, owner],
                |row| row.get(0),
            )
            .optional()?;
        tx.commit()?;
        Ok(status)
    }

    /// Removes jobs that ended more than `ttl` ago, with their files.
    pub fn expire(&self, ttl: Duration) -> rusqlite::Result<usize> {
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
    pub fn drop_files(&self, job_id: &str) {
        let _ = std::fs::remove_dir_all(self.job_dir(job_id));
    }
}

/// Computes a finished job's summary line from the documents' columns (no
/// result line is parsed) and keeps it in the job's row.
fn write_summary(db: &rusqlite::Connection, job_id: &str) -> rusqlite::Result<String> {
    let (created_ms, finished_ms): (i64, Option<i64>) =
        db.query_row("SELECT created_ms, finished_ms FROM jobs WHERE id = ?1", [job_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    let (mut documents, mut failed) = (0, 0);
    let mut entries = Vec::new();
    let mut statement =
        db.prepare("SELECT idx, failed, sha256, simhash FROM documents WHERE job_id = ?1 AND line IS NOT NULL")?;
    let mut rows = statement.query([job_id])?;
    while let Some(row) = rows.next()? {
        documents += 1;
        if row.get::<_, bool>(1)? {
            failed += 1;
            continue;
        }
        entries.push(SummaryEntry {
            index: row.get::<_, i64>(0)? as usize,
            sha256: row.get::<_, Option<String>>(2)?.as_deref().and_then(parse_sha256),
            simhash: row.get::<_, Option<i64>>(3)?.map(|bits| bits as u64),
        });
    }
    let elapsed_ms = (finished_ms.unwrap_or_else(now_ms) - created_ms).max(0) as u64;
    let summary = summary_line(documents, failed, &entries, elapsed_ms);
    db.execute("UPDATE jobs SET summary = ?2 WHERE id = ?1", params![job_id, summary])?;
    Ok(summary)
}

/// Lowercase hex, as reports spell a sha256.
fn hex(digest: [u8; 32]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
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
