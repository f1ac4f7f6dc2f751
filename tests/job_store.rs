//! The job store on disk: results that stream and a summary kept once a job
//! ends, stores written by an older docmill brought up to date, and stored
//! documents checked against the sha256 taken at upload.

use std::time::Duration;

use serde_json::{json, Value};

use crate::util::{peak_rss_bytes, wait_until, Server};

fn submit_job(server: &Server, files: &[(&str, &[u8])]) -> String {
    let response = server.post_files("/v1/jobs", files);
    assert_eq!(response.status, 202, "{}", response.text());
    response.json()["id"].as_str().unwrap().to_string()
}

fn wait_done(server: &Server, id: &str) {
    wait_until(Duration::from_secs(60), &format!("job {id} to be done"), || {
        server.get_json(&format!("/v1/jobs/{id}"))["status"] == "done"
    });
}

fn result_lines(server: &Server, id: &str) -> Vec<Value> {
    let response = server.get(&format!("/v1/jobs/{id}/results"));
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/x-ndjson"));
    response.text().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// Peak memory the server may reach for the job below, several times what
/// it needs; rebuilding the summary pair by pair took ~300 MB per GET of
/// 1,500 copies (and ~1 GB for 3,000).
const JOB_RESULTS_RSS_LIMIT: u64 = 128 << 20;
/// Documents of the job below: enough for pairwise work to show, few enough
/// for the job (one durable commit per result) to finish in seconds.
const JOB_COPIES: u64 = 1_500;

// Regression: every GET of a job's results rebuilt the summary by comparing
// every pair of documents, and built the whole body as one string.
#[test]
fn results_of_a_large_job_stream_with_the_summary_it_kept() {
    let server = Server::start(&["--workers", "2"]);
    let names: Vec<String> = (0..JOB_COPIES).map(|i| format!("copy-{i}.txt")).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|name| (name.as_str(), &b"One text, many copies."[..])).collect();
    let id = submit_job(&server, &files);
    wait_done(&server, &id);
    let first = result_lines(&server, &id);
    let n = JOB_COPIES as usize;
    assert_eq!(first.len(), n + 1);
    let mut indexes: Vec<u64> = first[..n].iter().map(|line| line["index"].as_u64().unwrap()).collect();
    indexes.sort();
    assert_eq!(indexes, (0..JOB_COPIES).collect::<Vec<u64>>(), "every document once");
    let summary = &first[n]["summary"];
    assert_eq!(summary["documents"], JOB_COPIES);
    assert_eq!(summary["near_duplicates"].as_array().unwrap().len(), n - 1);
    assert_eq!(summary["near_duplicate_groups"], json!([(0..JOB_COPIES).collect::<Vec<u64>>()]));
    for _ in 0..3 {
        let again = result_lines(&server, &id);
        assert_eq!(again.last(), first.last(), "the summary is the one kept when the job ended");
    }
    let peak = peak_rss_bytes(server.pid());
    eprintln!("server peak RSS for a {JOB_COPIES}-document job and 4 GETs of its results: {} MiB", peak >> 20);
    assert!(peak < JOB_RESULTS_RSS_LIMIT, "server peak RSS {} MiB", peak >> 20);
}

// A job document whose stored copy changed after the upload must not be
// analysed as if it were what the client sent.
#[test]
fn a_stored_document_that_no_longer_matches_its_sha256_is_an_error_line() {
    let server = Server::start(&["--workers", "1"]);
    let id =
        submit_job(&server, &[("slow.bin", b"DOCMILL-FAULT:sleep-1000"), ("victim.txt", b"What the client sent.")]);
    // With one worker, the second document is read from disk only once the
    // first has finished: change it while the first runs.
    wait_until(Duration::from_secs(10), "the first document to run", || {
        server.get_json("/v1/pool")["workers"][0]["state"] == "busy"
    });
    let stored = server.dir.path().join("docmill-data/jobs").join(&id).join("1");
    std::fs::write(&stored, b"What the client did not send.").unwrap();
    wait_done(&server, &id);
    let lines = result_lines(&server, &id);
    let victim = lines.iter().find(|line| line["index"] == 1).unwrap();
    assert!(victim["report"].is_null(), "not analysed: {victim}");
    assert_eq!(victim["error"]["code"], "internal", "{victim}");
    assert!(victim["error"]["message"].as_str().unwrap().contains("sha256"), "{victim}");
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!((summary["documents"].as_u64(), summary["failed"].as_u64()), (Some(2), Some(1)));
}

/// The tables as the first docmill with jobs wrote them (schema version 0).
const SCHEMA_V0: &str = "
    PRAGMA journal_mode = WAL;
    CREATE TABLE jobs (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, status TEXT NOT NULL,
        include_text INTEGER NOT NULL, created_ms INTEGER NOT NULL, started_ms INTEGER,
        finished_ms INTEGER, total INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX jobs_by_seq ON jobs (seq);
    CREATE TABLE documents (job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL, filename TEXT NOT NULL, line TEXT, failed INTEGER NOT NULL DEFAULT 0,
        finished_seq INTEGER, PRIMARY KEY (job_id, idx));";

fn report_line(index: u64, sha256: &str, simhash: &str) -> String {
    json!({"index": index, "filename": format!("{index}.txt"),
           "report": {"sha256": sha256, "fingerprint": {"simhash": simhash}}})
    .to_string()
}

#[test]
fn a_store_written_before_fingerprint_columns_is_migrated_and_keeps_working() {
    let data = tempfile::tempdir().unwrap();
    let (done, queued) = ("d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0", "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0");
    {
        let db = rusqlite::Connection::open(data.path().join("jobs.sqlite3")).unwrap();
        db.execute_batch(SCHEMA_V0).unwrap();
        // Recent enough not to expire at start.
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        db.execute(
            "INSERT INTO jobs VALUES (?1, 1, 'done', 0, ?2, ?2, ?3, 3, 3, 0)",
            rusqlite::params![done, now_ms - 500, now_ms],
        )
        .unwrap();
        let same = "ab".repeat(32);
        let lines = [
            report_line(0, &same, "00000000000000ff"),
            report_line(1, &"cd".repeat(32), "00000000000000f0"),
            report_line(2, &same, "ffffffffffff0000"),
        ];
        for (index, line) in lines.iter().enumerate() {
            db.execute(
                "INSERT INTO documents VALUES (?1, ?2, 'x.txt', ?3, 0, ?2)",
                rusqlite::params![done, index as i64, line],
            )
            .unwrap();
        }
        // A job the old server accepted but never ran: its document has no
        // stored sha256 and must still be analysed.
        db.execute(
            "INSERT INTO jobs VALUES (?1, 2, 'queued', 0, ?2, NULL, NULL, 1, 0, 0)",
            rusqlite::params![queued, now_ms],
        )
        .unwrap();
        db.execute("INSERT INTO documents VALUES (?1, 0, 'late.txt', NULL, 0, NULL)", [queued]).unwrap();
        std::fs::create_dir_all(data.path().join("jobs").join(queued)).unwrap();
        std::fs::write(data.path().join("jobs").join(queued).join("0"), b"Accepted before the upgrade.").unwrap();
    }
    let server = Server::start(&["--workers", "1", "--data-dir", data.path().to_str().unwrap()]);
    let lines = result_lines(&server, done);
    assert_eq!(lines.len(), 4, "{lines:?}");
    let summary = &lines[3]["summary"];
    assert_eq!(summary["documents"], 3);
    assert_eq!(summary["elapsed_ms"], 500);
    // 0 and 2 are the same bytes; 1 is 4 bits from 0.
    assert_eq!(summary["near_duplicates"], json!([[0, 1], [0, 2]]), "{summary}");
    assert_eq!(summary["near_duplicate_groups"], json!([[0, 1, 2]]), "{summary}");

    wait_done(&server, queued);
    let lines = result_lines(&server, queued);
    assert_eq!(lines[0]["report"]["filename"], "late.txt", "{lines:?}");
    assert_eq!(lines[1]["summary"]["failed"], 0);

    let db = rusqlite::Connection::open(data.path().join("jobs.sqlite3")).unwrap();
    let version: i64 = db.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
    assert!(version >= 1, "schema version {version}");
}

#[test]
fn a_store_from_a_newer_docmill_leaves_jobs_unavailable_and_is_not_touched() {
    let data = tempfile::tempdir().unwrap();
    {
        let db = rusqlite::Connection::open(data.path().join("jobs.sqlite3")).unwrap();
        db.execute_batch(SCHEMA_V0).unwrap();
        db.pragma_update(None, "user_version", 999).unwrap();
    }
    // Analysis stays up; jobs are unavailable and say why; the store is
    // neither migrated nor moved aside.
    let data_dir = data.path().to_str().unwrap().to_owned();
    let server = Server::start(&["--workers", "1", "--data-dir", &data_dir]);
    assert_eq!(server.analyze("a.txt", b"still analysing").status, 200);
    let jobs = server.get("/v1/jobs");
    assert_eq!(jobs.status, 503, "{}", jobs.text());
    assert!(jobs.text().contains("schema version 999"), "{}", jobs.text());
    drop(server);
    let db = rusqlite::Connection::open(data.path().join("jobs.sqlite3")).unwrap();
    let version: i64 = db.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
    assert_eq!(version, 999);
}
