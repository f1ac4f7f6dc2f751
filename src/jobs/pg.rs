//! The PostgreSQL job store (`--store postgres://…`), shared by every node:
//! jobs, their documents' bytes, leases, results and summaries. Documents
//! are claimed with `SELECT … FOR UPDATE SKIP LOCKED` under a lease that the
//! claiming node's heartbeat extends; a result is recorded once (`WHERE line
//! IS NULL`). Times are the database's clock, so nodes' clocks never matter.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use docmill_engine::Options;
use serde_json::{json, Value};
use tokio_postgres::{NoTls, Row};

use super::store::{page_extent, PageExtent, PendingDocument, Recorded};
use crate::error::ApiError;
use crate::ndjson::{parse_sha256, summary_line, SummaryEntry};

/// Connections one node keeps to the store: one per executor slot would be
/// wasteful (a claim serves many), and handlers need a few at once; 16 is
/// far below PostgreSQL's default `max_connections` (100) even for 5 nodes.
const POOL_SIZE: usize = 16;
/// Key of the advisory lock that serialises migrations when several nodes
/// start at once (any fixed number: it names the lock, "docmill" in ASCII).
const MIGRATION_LOCK: i64 = 0x0064_6f63_6d69_6c6c;
/// The schema version this build writes.
pub const PG_SCHEMA_VERSION: i32 = 1;
/// Milliseconds since the epoch, on the database's clock.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Longest wait for one call to the store (a connection, a statement, a
/// commit). A PostgreSQL that stalls (a frozen host or disk, a stopped
/// backend) answers nothing and closes nothing: without a bound, every
/// request holding one of its connections would wait as long as the stall.
/// Past it the call fails as a store that is away does (503 `overloaded`),
/// and the dropped transaction is rolled back. Generous for one statement:
/// the largest is a document's bytes (up to `--max-upload-bytes`).
pub const STORE_CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// `call`, or the error of a store that did not answer within
/// [`STORE_CALL_TIMEOUT`].
pub async fn bounded<T>(call: impl std::future::Future<Output = StoreResult<T>>) -> StoreResult<T> {
    match tokio::time::timeout(STORE_CALL_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => {
            Err(StoreError(format!("PostgreSQL did not answer within {} s (stalled)", STORE_CALL_TIMEOUT.as_secs())))
        }
    }
}

/// The store failed (unreachable, restarted, refused a statement).
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> StoreError {
        StoreError(match err.as_db_error() {
            Some(db) => format!("PostgreSQL: {}", db.message()),
            None => format!("PostgreSQL: {err}"),
        })
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(err: deadpool_postgres::PoolError) -> StoreError {
        StoreError(format!("cannot reach PostgreSQL: {err}"))
    }
}

impl From<StoreError> for ApiError {
    /// A store that is away is a 503: the client retries, nothing is lost.
    fn from(err: StoreError) -> ApiError {
        ApiError::jobs_unavailable(&err.0)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A claimed document, with its bytes.
pub struct Claimed {
    pub document: PendingDocument,
    pub bytes: Vec<u8>,
}

/// The migrations, in order; version N is `MIGRATIONS[N - 1]`.
const MIGRATIONS: &[&str] = &["CREATE TABLE jobs (
         id TEXT PRIMARY KEY,
         seq BIGSERIAL UNIQUE,
         status TEXT NOT NULL,
         include_text BOOLEAN NOT NULL,
         options TEXT,
         created_ms BIGINT NOT NULL,
         started_ms BIGINT,
         finished_ms BIGINT,
         total BIGINT NOT NULL,
         done BIGINT NOT NULL DEFAULT 0,
         failed BIGINT NOT NULL DEFAULT 0,
         owner TEXT,
         summary TEXT
     );
     CREATE TABLE documents (
         job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
         idx BIGINT NOT NULL,
         filename TEXT NOT NULL,
         bytes BYTEA,
         sha256 TEXT,
         simhash BIGINT,
         line TEXT,
         failed BOOLEAN NOT NULL DEFAULT false,
         finished_seq BIGINT,
         lease_node TEXT,
         lease_until_ms BIGINT,
         PRIMARY KEY (job_id, idx)
     );
     CREATE INDEX documents_unfinished ON documents (job_id, idx) WHERE line IS NULL;"];

pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// Connects and brings the schema up to date. Nodes that start at once
    /// take turns on an advisory lock, each migration in the transaction
    /// that records its version.
    pub async fn open(url: &str) -> StoreResult<PgStore> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|err| StoreError(format!("--store {url:?} is not a PostgreSQL URL: {err}")))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|err| StoreError(format!("cannot make the connection pool: {err}")))?;
        let store = PgStore { pool };
        bounded(store.migrate()).await?;
        Ok(store)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS docmill_schema (version INTEGER NOT NULL)").await?;
        let found: i32 = match tx.query_opt("SELECT version FROM docmill_schema", &[]).await? {
            Some(row) => row.get(0),
            None => {
                tx.execute("INSERT INTO docmill_schema (version) VALUES (0)", &[]).await?;
                0
            }
        };
        if found > PG_SCHEMA_VERSION {
            return Err(StoreError(format!(
                "the job store has schema version {found}, newer than this docmill's {PG_SCHEMA_VERSION}: \
                 run the newer docmill"
            )));
        }
        for version in found + 1..=PG_SCHEMA_VERSION {
            tx.batch_execute(MIGRATIONS[version as usize - 1]).await?;
        }
        tx.execute("UPDATE docmill_schema SET version = $1", &[&PG_SCHEMA_VERSION]).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A connection for storing a new job in one transaction
    /// ([`insert_job`], [`insert_document`], [`finish_job`]).
    pub async fn connection(&self) -> StoreResult<deadpool_postgres::Object> {
        bounded(async move { Ok(self.pool.get().await?) }).await
    }

    /// Claims up to `n` unfinished documents of live jobs whose lease is
    /// free or expired, leasing them to `node` for `lease`; oldest job first.
    pub async fn claim(&self, node: &str, lease: Duration, n: usize) -> StoreResult<Vec<Claimed>> {
        bounded(async move {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let sql = format!(
                "UPDATE documents d SET lease_node = $1, lease_until_ms = {NOW_MS} + $2
             FROM (SELECT d.job_id, d.idx, j.include_text, j.options FROM documents d JOIN jobs j ON j.id = d.job_id
                   WHERE d.line IS NULL AND j.status IN ('queued', 'running')
                     AND (d.lease_until_ms IS NULL OR d.lease_until_ms < {NOW_MS})
                   ORDER BY j.seq, d.idx LIMIT $3 FOR UPDATE OF d SKIP LOCKED) c
             WHERE d.job_id = c.job_id AND d.idx = c.idx
             RETURNING d.job_id, d.idx, d.filename, d.bytes, d.sha256, c.include_text, c.options"
            );
            let rows = tx.query(sql.as_str(), &[&node, &(lease.as_millis() as i64), &(n as i64)]).await?;
            let mut claimed = Vec::with_capacity(rows.len());
            let mut job_ids: Vec<String> = Vec::new();
            for row in rows {
                let job_id: String = row.get(0);
                if !job_ids.contains(&job_id) {
                    job_ids.push(job_id.clone());
                }
                claimed.push(Claimed {
                    document: PendingDocument {
                        job_id,
                        index: row.get::<_, i64>(1) as usize,
                        filename: row.get(2),
                        // Every option the job was made with, as JSON; the
                        // boolean alone where that is missing.
                        options: row
                            .get::<_, Option<String>>(6)
                            .and_then(|json| serde_json::from_str(&json).ok())
                            .unwrap_or(Options { include_text: row.get(5), ..Options::default() }),
                        sha256: row.get::<_, Option<String>>(4).as_deref().and_then(parse_sha256),
                    },
                    bytes: row.get::<_, Option<Vec<u8>>>(3).unwrap_or_default(),
                });
            }
            if !job_ids.is_empty() {
                let sql = format!(
                    "UPDATE jobs SET status = 'running', started_ms = COALESCE(started_ms, {NOW_MS})
                 WHERE id = ANY($1) AND status = 'queued'"
                );
                tx.execute(sql.as_str(), &[&job_ids]).await?;
            }
            tx.commit().await?;
            Ok(claimed)
        })
        .await
    }

    /// Extends every lease `node` holds on an unfinished document, and
    /// returns which of `jobs` are no longer live (cancelled, expired).
    pub async fn heartbeat(&self, node: &str, lease: Duration, jobs: &[String]) -> StoreResult<Vec<String>> {
        bounded(async move {
            let client = self.pool.get().await?;
            let sql =
                format!("UPDATE documents SET lease_until_ms = {NOW_MS} + $2 WHERE lease_node = $1 AND line IS NULL");
            client.execute(sql.as_str(), &[&node, &(lease.as_millis() as i64)]).await?;
            if jobs.is_empty() {
                return Ok(Vec::new());
            }
            let rows = client
                .query("SELECT id FROM jobs WHERE id = ANY($1) AND status IN ('queued', 'running')", &[&jobs])
                .await?;
            let live: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
            Ok(jobs.iter().filter(|id| !live.contains(id)).cloned().collect())
        })
        .await
    }

    /// Gives back the leases `node` holds (it is stopping): others may take
    /// those documents at once rather than after the lease.
    pub async fn release(&self, node: &str) -> StoreResult<()> {
        bounded(async move {
            let client = self.pool.get().await?;
            client
            .execute(
                "UPDATE documents SET lease_node = NULL, lease_until_ms = NULL WHERE lease_node = $1 AND line IS NULL",
                &[&node],
            )
            .await?;
            Ok(())
        })
        .await
    }

    /// Stores one document's result, once: a second result for the same
    /// document (its lease expired and another node ran it too) changes
    /// nothing. The job's row is locked, so results of one job recorded by
    /// several nodes at once are numbered in turn. Returns true when the
    /// job is over.
    pub async fn record(&self, job_id: &str, index: usize, recorded: &Recorded) -> StoreResult<bool> {
        bounded(self.record_once(job_id, index, recorded)).await
    }

    /// [`PgStore::record`] without its time bound.
    async fn record_once(&self, job_id: &str, index: usize, recorded: &Recorded) -> StoreResult<bool> {
        let Recorded { line, failed, sha256, simhash } = recorded;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let Some(row) = tx.query_opt("SELECT status FROM jobs WHERE id = $1 FOR UPDATE", &[&job_id]).await? else {
            return Ok(true);
        };
        let status: String = row.get(0);
        let next: i64 = tx
            .query_one("SELECT COALESCE(MAX(finished_seq), -1) + 1 FROM documents WHERE job_id = $1", &[&job_id])
            .await?
            .get(0);
        let changed = tx
            .execute(
                "UPDATE documents SET line = $3, failed = $4, finished_seq = $5, sha256 = COALESCE(sha256, $6),
                     simhash = $7, bytes = NULL, lease_node = NULL, lease_until_ms = NULL
                 WHERE job_id = $1 AND idx = $2 AND line IS NULL",
                &[&job_id, &(index as i64), line, failed, &next, &sha256.map(hex), &simhash.map(|bits| bits as i64)],
            )
            .await?;
        let mut over = status != "queued" && status != "running";
        if changed == 1 {
            let sql = format!(
                "UPDATE jobs SET done = done + 1, failed = failed + $2,
                     status = CASE WHEN done + 1 = total AND status IN ('queued', 'running') THEN 'done' ELSE status END,
                     finished_ms = CASE WHEN done + 1 = total AND status IN ('queued', 'running') THEN {NOW_MS}
                                   ELSE finished_ms END
                 WHERE id = $1 RETURNING status"
            );
            let status: String = tx.query_one(sql.as_str(), &[&job_id, &(*failed as i64)]).await?.get(0);
            over = status != "queued" && status != "running";
            if over {
                // This result finished the job, or came in just after a
                // cancel and belongs in the summary all the same.
                write_summary(&tx, job_id).await?;
                tx.execute("UPDATE documents SET bytes = NULL WHERE job_id = $1", &[&job_id]).await?;
            }
        }
        tx.commit().await?;
        Ok(over)
    }

    pub async fn status(&self, job_id: &str, owner: Option<&str>) -> StoreResult<Option<Value>> {
        bounded(async move {
            let client = self.pool.get().await?;
            let row = client
                .query_opt(
                    "SELECT id, status, created_ms, started_ms, finished_ms, total, done, failed FROM jobs
                 WHERE id = $1 AND ($2::text IS NULL OR owner = $2)",
                    &[&job_id, &owner],
                )
                .await?;
            Ok(row.as_ref().map(job_json))
        })
        .await
    }

    pub async fn list(&self, after_seq: i64, limit: u32, owner: Option<&str>) -> StoreResult<Vec<(i64, Value)>> {
        bounded(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    "SELECT id, status, created_ms, started_ms, finished_ms, total, done, failed, seq FROM jobs
                 WHERE seq > $1 AND ($3::text IS NULL OR owner = $3) ORDER BY seq LIMIT $2",
                    &[&after_seq, &(limit as i64), &owner],
                )
                .await?;
            Ok(rows.iter().map(|row| (row.get::<_, i64>(8), job_json(row))).collect())
        })
        .await
    }

    pub async fn seq_of(&self, job_id: &str, owner: Option<&str>) -> StoreResult<Option<i64>> {
        bounded(async move {
            let client = self.pool.get().await?;
            let row = client
                .query_opt(
                    "SELECT seq FROM jobs WHERE id = $1 AND ($2::text IS NULL OR owner = $2)",
                    &[&job_id, &owner],
                )
                .await?;
            Ok(row.map(|row| row.get(0)))
        })
        .await
    }

    /// As [`super::JobStore::results_extent`]: from the lines' lengths
    /// (`octet_length` reads a stored value's size without detoasting it).
    pub async fn results_extent(&self, job_id: &str, after: i64) -> StoreResult<Option<PageExtent>> {
        bounded(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    "SELECT finished_seq, octet_length(line)::int8 FROM documents
                 WHERE job_id = $1 AND line IS NOT NULL AND finished_seq > $2 ORDER BY finished_seq LIMIT 1000",
                    &[&job_id, &after],
                )
                .await?;
            Ok(page_extent(rows.iter().map(|row| (row.get::<_, i64>(0), row.get::<_, i64>(1) as usize))))
        })
        .await
    }

    /// As [`super::JobStore::results_page`]: the lines after number `after`
    /// up to `through`, each with its newline.
    pub async fn results_page(&self, job_id: &str, after: i64, through: i64) -> StoreResult<Vec<(i64, String)>> {
        bounded(async move {
            let client = self.pool.get().await?;
            let rows = client
                .query(
                    "SELECT finished_seq, line FROM documents
                 WHERE job_id = $1 AND line IS NOT NULL AND finished_seq > $2 AND finished_seq <= $3
                 ORDER BY finished_seq",
                    &[&job_id, &after, &through],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|row| {
                    let (seq, mut line): (i64, String) = (row.get(0), row.get(1));
                    line.push('\n');
                    (seq, line)
                })
                .collect())
        })
        .await
    }

    /// The summary line of a job that is over; `None` while it runs.
    pub async fn summary(&self, job_id: &str) -> StoreResult<Option<String>> {
        bounded(async move {
            let mut client = self.pool.get().await?;
            let row = client.query_opt("SELECT status, summary FROM jobs WHERE id = $1", &[&job_id]).await?;
            let Some(row) = row else { return Ok(None) };
            let status: String = row.get(0);
            if status == "queued" || status == "running" {
                return Ok(None);
            }
            match row.get::<_, Option<String>>(1) {
                Some(summary) => Ok(Some(summary)),
                // Ended by a path that wrote none: compute it now, once.
                None => {
                    let tx = client.transaction().await?;
                    let summary = write_summary(&tx, job_id).await?;
                    tx.commit().await?;
                    Ok(Some(summary))
                }
            }
        })
        .await
    }

    /// Cancels a live job `owner` may see; its status afterwards, `None`
    /// when there is no such job for it. Nodes running its documents see
    /// the cancel at their next heartbeat.
    pub async fn cancel(&self, job_id: &str, owner: Option<&str>) -> StoreResult<Option<String>> {
        bounded(async move {
            let mut client = self.pool.get().await?;
            let tx = client.transaction().await?;
            let sql = format!(
                "UPDATE jobs SET status = 'cancelled', finished_ms = {NOW_MS}
             WHERE id = $1 AND status IN ('queued', 'running') AND ($2::text IS NULL OR owner = $2)"
            );
            if tx.execute(sql.as_str(), &[&job_id, &owner]).await? == 1 {
                write_summary(&tx, job_id).await?;
                tx.execute("UPDATE documents SET bytes = NULL WHERE job_id = $1", &[&job_id]).await?;
            }
            let status = tx
                .query_opt(
                    "SELECT status FROM jobs WHERE id = $1 AND ($2::text IS NULL OR owner = $2)",
                    &[&job_id, &owner],
                )
                .await?
                .map(|row| row.get(0));
            tx.commit().await?;
            Ok(status)
        })
        .await
    }

    /// Removes jobs that ended more than `ttl` ago.
    pub async fn expire(&self, ttl: Duration) -> StoreResult<u64> {
        bounded(async move {
            let client = self.pool.get().await?;
            let sql = format!(
                "DELETE FROM jobs WHERE status IN ('done', 'failed', 'cancelled') AND finished_ms < {NOW_MS} - $1"
            );
            Ok(client.execute(sql.as_str(), &[&(ttl.as_millis() as i64)]).await?)
        })
        .await
    }
}

/// Inserts a new job's row (`queued`, no documents yet) in `tx`.
pub async fn insert_job(
    tx: &tokio_postgres::Transaction<'_>,
    job_id: &str,
    options: Options,
    owner: Option<&str>,
) -> StoreResult<()> {
    bounded(async move {
        let sql = format!(
            "INSERT INTO jobs (id, status, include_text, options, created_ms, total, owner)
         VALUES ($1, 'queued', $2, $3, {NOW_MS}, 0, $4)"
        );
        let options_json = serde_json::to_string(&options).expect("options serialise");
        tx.execute(sql.as_str(), &[&job_id, &options.include_text, &options_json, &owner]).await?;
        Ok(())
    })
    .await
}

/// Adds document `index` of a job being stored: its bytes, or the error
/// line of a file refused at upload (which counts as done).
pub async fn insert_document(
    tx: &tokio_postgres::Transaction<'_>,
    job_id: &str,
    index: usize,
    filename: &str,
    content: Result<(&[u8], [u8; 32]), &str>,
) -> StoreResult<()> {
    bounded(async move {
        let (bytes, sha256, line) = match content {
            Ok((bytes, sha256)) => (Some(bytes), Some(hex(sha256)), None),
            Err(line) => (None, None, Some(line)),
        };
        tx.execute(
            "INSERT INTO documents (job_id, idx, filename, bytes, sha256, line, failed, finished_seq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &job_id,
                &(index as i64),
                &filename,
                &bytes,
                &sha256,
                &line,
                &line.is_some(),
                &line.map(|_| index as i64),
            ],
        )
        .await?;
        Ok(())
    })
    .await
}

/// Sets the job's totals once every document is in; a job of refusals only
/// is done at once.
pub async fn finish_job(
    tx: &tokio_postgres::Transaction<'_>,
    job_id: &str,
    total: usize,
    refused: usize,
) -> StoreResult<()> {
    bounded(async move {
        let sql = format!(
            "UPDATE jobs SET total = $2::bigint, done = $3::bigint, failed = $3::bigint,
             status = CASE WHEN $3::bigint = $2::bigint THEN 'done' ELSE 'queued' END,
             finished_ms = CASE WHEN $3::bigint = $2::bigint THEN {NOW_MS} END
         WHERE id = $1"
        );
        tx.execute(sql.as_str(), &[&job_id, &(total as i64), &(refused as i64)]).await?;
        if refused == total {
            write_summary(tx, job_id).await?;
        }
        Ok(())
    })
    .await
}

/// Computes a finished job's summary line and keeps it in the job's row.
async fn write_summary(db: &tokio_postgres::Transaction<'_>, job_id: &str) -> StoreResult<String> {
    let sql = format!("SELECT created_ms, COALESCE(finished_ms, {NOW_MS}) FROM jobs WHERE id = $1");
    let row = db.query_one(sql.as_str(), &[&job_id]).await?;
    let (created_ms, finished_ms): (i64, i64) = (row.get(0), row.get(1));
    let rows = db
        .query("SELECT idx, failed, sha256, simhash FROM documents WHERE job_id = $1 AND line IS NOT NULL", &[&job_id])
        .await?;
    let (mut documents, mut failed) = (0, 0);
    let mut entries = Vec::new();
    for row in rows {
        documents += 1;
        if row.get::<_, bool>(1) {
            failed += 1;
            continue;
        }
        entries.push(SummaryEntry {
            index: row.get::<_, i64>(0) as usize,
            sha256: row.get::<_, Option<String>>(2).as_deref().and_then(parse_sha256),
            simhash: row.get::<_, Option<i64>>(3).map(|bits| bits as u64),
        });
    }
    let summary = summary_line(documents, failed, &entries, (finished_ms - created_ms).max(0) as u64);
    db.execute("UPDATE jobs SET summary = $2 WHERE id = $1", &[&job_id, &summary]).await?;
    Ok(summary)
}

/// Lowercase hex, as reports spell a sha256.
fn hex(digest: [u8; 32]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn job_json(row: &Row) -> Value {
    let total: i64 = row.get(5);
    let done: i64 = row.get(6);
    json!({
        "id": row.get::<_, String>(0),
        "status": row.get::<_, String>(1),
        "created_ms": row.get::<_, i64>(2),
        "started_ms": row.get::<_, Option<i64>>(3),
        "finished_ms": row.get::<_, Option<i64>>(4),
        "documents": total,
        "done": done,
        "failed": row.get::<_, i64>(7),
        "progress": {"done": done, "total": total},
    })
}
