//! Several nodes on one PostgreSQL job store (`--store`): work shared by
//! every node's pool, a node SIGKILLed mid-job with its documents taken over,
//! every node answering for every job, and a PostgreSQL restart mid-job.
//!
//! They need a PostgreSQL that lets them create databases: `DOCMILL_TEST_PG`
//! is its URL (`.ci/run` starts one and sets it). Without it they say so
//! loudly and check nothing. Each test makes its own database, so they do
//! not see each other's jobs.

use std::collections::HashSet;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use crate::util::{wait_until, Server};

/// The restart test stops PostgreSQL under every other test on it: these
/// tests take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A database of its own for one test, dropped at the end.
pub(crate) struct TestDb {
    admin: String,
    name: String,
    pub(crate) url: String,
}

impl TestDb {
    pub(crate) fn create(test: &str) -> Option<TestDb> {
        let Some(admin) = std::env::var("DOCMILL_TEST_PG").ok().filter(|url| !url.is_empty()) else {
            loud!("\n*** {test}: DID NOT RUN: no PostgreSQL (set DOCMILL_TEST_PG, as .ci/run does) ***\n");
            return None;
        };
        let name = format!("docmill_t{}_{}", std::process::id(), nanos());
        if let Err(why) = psql(&admin, &format!("CREATE DATABASE {name}")) {
            loud!("\n*** {test}: DID NOT RUN: cannot create a database on {admin}: {why} ***\n");
            return None;
        }
        let url = with_database(&admin, &name);
        Some(TestDb { admin, name, url })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = psql(&self.admin, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// `postgres://u@/db?host=…` with `db` replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map(|(b, q)| (b, Some(q))).unwrap_or((url, None));
    let rest = base.strip_prefix("postgres://").or_else(|| base.strip_prefix("postgresql://")).unwrap();
    let authority = rest.split('/').next().unwrap();
    let mut out = format!("postgres://{authority}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn psql(url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-tAc", sql])
        .output()
        .map_err(|err| format!("cannot run psql: {err}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn node(db: &TestDb, workers: &str) -> Server {
    Server::start(&["--workers", workers, "--store", &db.url, "--lease", "2"])
}

/// Waits for the node to reach its store (`/readyz` gives no reason).
pub(crate) fn wait_store(server: &Server) {
    wait_until(Duration::from_secs(20), "the node to reach its store", || {
        server.get_json("/readyz").get("reason").is_none()
    });
}

fn submit(server: &Server, docs: &[(String, Vec<u8>)]) -> String {
    let files: Vec<(&str, &[u8])> = docs.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let response = server.post_files("/v1/jobs", &files);
    assert_eq!(response.status, 202, "{}", response.text());
    response.json()["id"].as_str().unwrap().to_string()
}

/// Distinct documents (the result cache answers none) that each take a
/// worker `millis` ms.
fn slow_docs(n: usize, millis: u32) -> Vec<(String, Vec<u8>)> {
    (0..n).map(|i| (format!("{i}.txt"), format!("DOCMILL-FAULT:sleep-{millis} document {i}").into_bytes())).collect()
}

fn results(server: &Server, id: &str) -> Vec<Value> {
    let response = server.get(&format!("/v1/jobs/{id}/results"));
    assert_eq!(response.status, 200, "{}", response.text());
    response.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn wait_done(server: &Server, id: &str, within: Duration) -> Value {
    let mut last = Value::Null;
    wait_until(within, &format!("job {id} to be done"), || {
        last = server.get_json(&format!("/v1/jobs/{id}"));
        last["status"] == "done"
    });
    last
}

fn pids(lines: &[Value]) -> HashSet<i64> {
    lines.iter().filter_map(|l| l["report"]["timing"]["worker_pid"].as_i64()).collect()
}

fn assert_each_once(lines: &[Value], n: u64) {
    let mut indexes: Vec<u64> = lines.iter().filter_map(|l| l["index"].as_u64()).collect();
    indexes.sort();
    assert_eq!(indexes, (0..n).collect::<Vec<u64>>(), "every document exactly once");
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!(summary["documents"], n, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
}

#[test]
fn a_job_is_shared_by_two_nodes_and_survives_sigkill_of_the_one_that_took_it() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(db) = TestDb::create("a_job_is_shared_by_two_nodes…") else { return };
    let mut a = node(&db, "2");
    let b = node(&db, "2");
    wait_store(&a);
    wait_store(&b);
    a.wait_workers_ready(2);
    b.wait_workers_ready(2);
    let (a_pids, b_pids): (HashSet<i64>, HashSet<i64>) =
        (a.worker_pids().into_iter().collect(), b.worker_pids().into_iter().collect());
    let id = submit(&a, &slow_docs(300, 50));
    // B answers for A's job, and works on it: results so far come from
    // both pools.
    wait_until(Duration::from_secs(60), "both nodes' workers to report", || {
        let seen = pids(&results(&b, &id));
        seen.iter().any(|pid| a_pids.contains(pid)) && seen.iter().any(|pid| b_pids.contains(pid))
    });
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let left = b.get_json(&format!("/v1/jobs/{id}"));
    assert!(left["done"].as_u64().unwrap() < 300, "A was killed mid-job: {left}");
    let status = wait_done(&b, &id, Duration::from_secs(90));
    assert_eq!(status["progress"], serde_json::json!({"done": 300, "total": 300}));
    let lines = results(&b, &id);
    assert_each_once(&lines, 300);
    let seen = pids(&lines);
    assert!(seen.iter().any(|pid| a_pids.contains(pid)), "A's workers did some");
    assert!(seen.iter().any(|pid| b_pids.contains(pid)), "B's workers did some");
    // A node started again on the store sees the job done, results and all.
    let again = node(&db, "1");
    wait_store(&again);
    assert_eq!(again.get_json(&format!("/v1/jobs/{id}"))["status"], "done");
    assert_each_once(&results(&again, &id), 300);
    let listing = again.get_json("/v1/jobs");
    assert!(listing["jobs"].as_array().unwrap().iter().any(|j| j["id"] == id.as_str()), "{listing}");
}

#[test]
fn a_cancel_on_one_node_stops_the_documents_running_on_another() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(db) = TestDb::create("a_cancel_on_one_node…") else { return };
    let a = node(&db, "1");
    wait_store(&a);
    let docs = vec![("hang.bin".to_string(), b"DOCMILL-FAULT:hang".to_vec())];
    let id = submit(&a, &docs);
    wait_until(Duration::from_secs(10), "the hang to start on A", || {
        a.get_json("/v1/pool")["workers"][0]["state"] == "busy"
    });
    let b = node(&db, "1");
    wait_store(&b);
    let response = crate::util::request(&b.addr, "DELETE", &format!("/v1/jobs/{id}"), &[], b"");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["status"], "cancelled");
    // A's heartbeat sees the cancel and kills the worker stuck on it.
    wait_until(Duration::from_secs(10), "A's worker to be killed", || a.restarts("cancelled") == 1);
    assert_eq!(a.get_json(&format!("/v1/jobs/{id}"))["status"], "cancelled");
}

#[test]
fn a_postgresql_restart_during_a_job_loses_nothing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Ok(restart) = std::env::var("DOCMILL_TEST_PG_RESTART") else {
        loud!(
            "\n*** a_postgresql_restart_during_a_job_loses_nothing: DID NOT RUN: set DOCMILL_TEST_PG_RESTART \
             to the command that restarts the test PostgreSQL (.ci/run does, for the cluster it started) ***\n"
        );
        return;
    };
    let Some(db) = TestDb::create("a_postgresql_restart_during_a_job_loses_nothing") else { return };
    let a = node(&db, "2");
    wait_store(&a);
    let id = submit(&a, &slow_docs(60, 20));
    wait_until(Duration::from_secs(30), "some progress", || {
        a.get_json(&format!("/v1/jobs/{id}"))["done"].as_u64().unwrap() >= 5
    });
    let status = Command::new("sh").args(["-c", &restart]).status().unwrap();
    assert!(status.success(), "{restart} failed");
    wait_done(&a, &id, Duration::from_secs(60));
    assert_each_once(&results(&a, &id), 60);
    // Jobs are taken again once the store is back; until then a POST is
    // refused (503), never accepted and lost.
    let docs = slow_docs(2, 1);
    let files: Vec<(&str, &[u8])> = docs.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let mut again = None;
    wait_until(Duration::from_secs(30), "a job to be accepted after the restart", || {
        let response = a.post_files("/v1/jobs", &files);
        assert!([202, 503].contains(&response.status), "{}", response.text());
        again = (response.status == 202).then(|| response.json()["id"].as_str().unwrap().to_string());
        again.is_some()
    });
    let again = again.unwrap();
    wait_done(&a, &again, Duration::from_secs(30));
    assert_each_once(&results(&a, &again), 2);
}

/// Stops (SIGSTOP) every backend of a test database, as a frozen host or
/// disk would, and resumes them when dropped, whatever the test did.
struct StoppedBackends(Vec<String>);

impl StoppedBackends {
    fn stop(db: &TestDb) -> StoppedBackends {
        let sql = format!("SELECT pid FROM pg_stat_activity WHERE datname = '{}'", db.name);
        let pids: Vec<String> = psql(&db.admin, &sql).unwrap().lines().map(str::to_owned).collect();
        for pid in &pids {
            assert!(Command::new("kill").args(["-STOP", pid]).status().unwrap().success(), "cannot stop {pid}");
        }
        StoppedBackends(pids)
    }
}

impl Drop for StoppedBackends {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = Command::new("kill").args(["-CONT", pid]).status();
        }
    }
}

#[test]
fn a_stalled_postgresql_answers_503_in_bounded_time_and_loses_nothing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let Some(db) = TestDb::create("a_stalled_postgresql_answers_503_in_bounded_time_and_loses_nothing") else {
        return;
    };
    let a = std::sync::Arc::new(node(&db, "1"));
    wait_store(&a);
    let mut accepted = vec![submit(&a, &slow_docs(2, 1))];
    // Each round stops every connection the node holds; a POST that gets a
    // new one is accepted, one that waits on a stopped one must give up.
    let mut refused = 0;
    let mut stalls = Vec::new();
    for round in 0..6 {
        stalls.push(StoppedBackends::stop(&db));
        let (sender, answer) = std::sync::mpsc::channel();
        let node = std::sync::Arc::clone(&a);
        std::thread::spawn(move || {
            let docs = slow_docs(1, 1);
            let _ = sender.send(node.post_files("/v1/jobs", &[(docs[0].0.as_str(), docs[0].1.as_slice())]));
        });
        let Ok(response) = answer.recv_timeout(Duration::from_secs(30)) else {
            panic!("round {round}: POST /v1/jobs still waiting on the stalled store after 30 s");
        };
        assert_eq!(a.get("/healthz").status, 200);
        match response.status {
            202 => accepted.push(response.json()["id"].as_str().unwrap().to_string()),
            503 => {
                assert_eq!(response.error_code(), "overloaded");
                assert!(response.text().contains("did not answer"), "{}", response.text());
                refused += 1;
            }
            other => panic!("round {round}: {other} {}", response.text()),
        }
    }
    assert!(refused >= 1, "no POST met a stopped connection in 6 rounds");
    drop(stalls);
    for id in &accepted {
        wait_done(&a, id, Duration::from_secs(60));
    }
}
