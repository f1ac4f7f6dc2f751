//! The job store's schema after its first version, as numbered migrations
//! recorded in `PRAGMA user_version`: a store written by an older docmill is
//! brought up to date when it is opened, each step in its own transaction, and
//! a store written by a newer docmill is refused rather than misread.

use rusqlite::{params, Connection};

use crate::ndjson::{parse_sha256, parse_simhash};

/// The schema version this build writes. Version 0 is the original tables
/// (`jobs`, `documents`), created by [`super::JobStore::open`].
pub const SCHEMA_VERSION: i64 = 2;

/// Why a store cannot be used by this build.
#[derive(Debug)]
pub enum MigrationError {
    Sqlite(rusqlite::Error),
    /// The store was written by a newer docmill.
    TooNew {
        found: i64,
    },
}

impl std::fmt::Display for MigrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MigrationError::Sqlite(err) => write!(f, "cannot migrate the job store: {err}"),
            MigrationError::TooNew { found } => write!(
                f,
                "the job store has schema version {found}, newer than this docmill's {SCHEMA_VERSION}: \
                 run the newer docmill, or move the store aside"
            ),
        }
    }
}

impl std::error::Error for MigrationError {}

impl From<rusqlite::Error> for MigrationError {
    fn from(err: rusqlite::Error) -> MigrationError {
        MigrationError::Sqlite(err)
    }
}

/// Applies every migration the store has not had yet.
pub fn migrate(db: &mut Connection) -> Result<(), MigrationError> {
    let found: i64 = db.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(MigrationError::TooNew { found });
    }
    for version in found + 1..=SCHEMA_VERSION {
        let tx = db.transaction()?;
        match version {
            1 => separate_fingerprints(&tx)?,
            2 => owners(&tx)?,
            _ => unreachable!("a migration for every version up to SCHEMA_VERSION"),
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

/// Version 1: each document's sha256 (taken while its upload streamed) and
/// SimHash in columns of their own, so a summary never re-parses result
/// lines; a job's summary kept once computed; results read in completion
/// order through an index. Results recorded before get their columns filled
/// from their lines, once, here.
fn separate_fingerprints(tx: &Connection) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE documents ADD COLUMN sha256 TEXT;
         ALTER TABLE documents ADD COLUMN simhash INTEGER;
         ALTER TABLE jobs ADD COLUMN summary TEXT;
         CREATE INDEX IF NOT EXISTS documents_by_finish ON documents (job_id, finished_seq);",
    )?;
    let mut select = tx.prepare("SELECT job_id, idx, line FROM documents WHERE line IS NOT NULL AND failed = 0")?;
    let mut update = tx.prepare("UPDATE documents SET sha256 = ?3, simhash = ?4 WHERE job_id = ?1 AND idx = ?2")?;
    let mut rows = select.query([])?;
    while let Some(row) = rows.next()? {
        let (job_id, index, line): (String, i64, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        let report = &value["report"];
        let sha256 = report["sha256"].as_str().filter(|hex| parse_sha256(hex).is_some());
        let simhash = report["fingerprint"]["simhash"].as_str().and_then(parse_simhash).map(|bits| bits as i64);
        update.execute(params![job_id, index, sha256, simhash])?;
    }
    Ok(())
}

/// Version 2: the tenant that created a job (the hex SHA-256 of its API key,
/// never the key), `NULL` for jobs created without keys; listed per tenant
/// in order through an index.
fn owners(tx: &Connection) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE jobs ADD COLUMN owner TEXT;
         CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, seq);",
    )
}
