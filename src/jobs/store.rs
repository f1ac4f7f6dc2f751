//! The SQLite job store: jobs, their documents and each document's result
//! line, in WAL mode with `synchronous=FULL`. Its calls block: the executor
//! and the handlers call it through `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use docmill_engine::Options;
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};

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

    pub fn job_dir(&self, job_id: &str) -> PathBuf {
        self.documents_dir.join(job_id)
    }

    pub fn document_path(&self, job_id: &str, index: usize) -> PathBuf {
        self.job_dir(job_id).join(index.to_string())
    }

    /// Records a job whose document files are already on disk. Documents
    /// refused at upload come with their error line and count as done.
    pub fn create(
        &self,
        job_id: &str,
        options: Options,
        documents: &[(String, Option<String>)],
    ) -> rusqlite::Result<()> {
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
    pub fn record(&self, job_id: &str, index: usize, line: &str, failed: bool) -> rusqlite::Result<()> {
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
            "SELECT d.job_id, d.idx, d.filename, j.include_text FROM documents d JOIN jobs j ON j.id = d.job_id
             WHERE d.line IS NULL AND j.status IN ('queued', 'running') ORDER BY j.seq, d.idx",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(PendingDocument {
                job_id: row.get(0)?,
                index: row.get::<_, i64>(1)? as usize,
                filename: row.get(2)?,
                options: Options { include_text: row.get(3)?, ..Default::default() },
            })
        })?;
        rows.collect()
    }

    pub fn status(&self, job_id: &str) -> rusqlite::Result<Option<Value>> {
        let db = self.db.lock().unwrap();
        db.query_row(
            "SELECT id, status, created_ms, started_ms, finished_ms, total, done, failed FROM jobs WHERE id = ?1",
            [job_id],
            job_json,
        )
        .optional()
    }

    pub fn list(&self, after_seq: i64, limit: u32) -> rusqlite::Result<Vec<(i64, Value)>> {
        let db = self.db.lock().unwrap();
        let mut statement = db.prepare(
            "SELECT id, status, created_ms, started_ms, finished_ms, total, done, failed, seq FROM jobs
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = statement.query_map(params![after_seq, limit], |row| Ok((row.get::<_, i64>(8)?, job_json(row)?)))?;
        rows.collect()
    }

    pub fn seq_of(&self, job_id: &str) -> rusqlite::Result<Option<i64>> {
        let db = self.db.lock().unwrap();
        db.query_row("SELECT seq FROM jobs WHERE id = ?1", [job_id], |row| row.get(0)).optional()
    }

    /// Result lines in the order they completed.
    pub fn results(&self, job_id: &str) -> rusqlite::Result<Vec<String>> {
        let db = self.db.lock().unwrap();
        let mut statement =
            db.prepare("SELECT line FROM documents WHERE job_id = ?1 AND line IS NOT NULL ORDER BY finished_seq")?;
        let rows = statement.query_map([job_id], |row| row.get(0))?;
        rows.collect()
    }

    /// Cancels a queued or running job; returns its status afterwards.
    pub fn cancel(&self, job_id: &str) -> rusqlite::Result<Option<String>> {
        let db = self.db.lock().unwrap();
        db.execute(
            "UPDATE jobs SET status = 'cancelled', finished_ms = ?2 WHERE id = ?1 AND status IN ('queued', 'running')",
            params![job_id, now_ms()],
        )?;
        db.query_row("SELECT status FROM jobs WHERE id = ?1", [job_id], |row| row.get(0)).optional()
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
