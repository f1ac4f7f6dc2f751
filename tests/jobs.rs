//! Durable jobs: lifecycle, results, cancel, listing, expiry, and recovery
//! after the server is killed.

use std::time::Duration;

use serde_json::Value;

use crate::util::{wait_until, Server};

fn submit_job(server: &Server, files: &[(&str, &[u8])]) -> String {
    let response = server.post_files("/v1/jobs", files);
    assert_eq!(response.status, 202, "{}", response.text());
    let job = response.json();
    assert_eq!(job["documents"], files.len());
    assert!(["queued", "running", "done"].contains(&job["status"].as_str().unwrap()), "{job}");
    job["id"].as_str().unwrap().to_string()
}

fn wait_status(server: &Server, id: &str, status: &str) -> Value {
    let mut last = Value::Null;
    wait_until(Duration::from_secs(30), &format!("job {id} to be {status}"), || {
        last = server.get_json(&format!("/v1/jobs/{id}"));
        last["status"] == status
    });
    last
}

fn result_lines(server: &Server, id: &str) -> Vec<Value> {
    let response = server.get(&format!("/v1/jobs/{id}/results"));
    assert_eq!(response.status, 200, "{}", response.text());
    response.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_job_runs_to_done_with_results_like_a_batch() {
    let server = Server::start(&["--workers", "2"]);
    let id = submit_job(
        &server,
        &[("a.txt", b"Alpha document."), ("crash.bin", b"DOCMILL-FAULT:abort"), ("c.txt", b"Alpha document.")],
    );
    let status = wait_status(&server, &id, "done");
    assert_eq!(status["progress"], serde_json::json!({"done": 3, "total": 3}));
    assert_eq!(status["failed"], 1);
    let lines = result_lines(&server, &id);
    assert_eq!(lines.len(), 4, "{lines:?}");
    let crash = lines.iter().find(|l| l["index"] == 1).unwrap();
    assert_eq!(crash["error"]["code"], "worker_crashed");
    let summary = &lines[3]["summary"];
    assert_eq!(summary["documents"], 3);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["near_duplicates"], serde_json::json!([[0, 2]]));

    let listing = server.get_json("/v1/jobs");
    assert!(listing["jobs"].as_array().unwrap().iter().any(|j| j["id"] == id.as_str()));
}

#[test]
fn a_jobs_large_documents_are_stored_and_read_back_whole() {
    use sha2::Digest;
    let server = Server::start(&["--workers", "1", "--max-upload-bytes", "16MiB"]);
    // 200 KiB goes to the worker as a memfd read from the stored file, as
    // does 5 MiB (spooled to disk on upload, above the 4 MiB memory spool).
    let medium: Vec<u8> = b"The mill stood by the river. ".iter().copied().cycle().take(200 << 10).collect();
    let large: Vec<u8> = b"Stones turned all night. ".iter().copied().cycle().take(5 << 20).collect();
    let id = submit_job(&server, &[("medium.txt", &medium), ("large.txt", &large)]);
    let status = wait_status(&server, &id, "done");
    assert_eq!(status["failed"], 0, "{status}");
    let lines = result_lines(&server, &id);
    for (index, bytes) in [(0, &medium), (1, &large)] {
        let line = lines.iter().find(|line| line["index"] == index).unwrap();
        let report = &line["report"];
        let digest: String = sha2::Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(report["size"], bytes.len(), "{line}");
        assert_eq!(report["sha256"], digest.as_str(), "{line}");
        assert!(report["stats"]["words"].as_u64().unwrap() > bytes.len() as u64 / 8, "{}", report["stats"]);
    }
}

#[test]
fn unknown_and_malformed_job_ids_are_404() {
    let server = Server::start(&["--workers", "1"]);
    for path in ["/v1/jobs/0123456789abcdef0123456789abcdef", "/v1/jobs/nope", "/v1/jobs/../etc/results"] {
        let response = server.get(path);
        assert_eq!(response.status, 404, "{path}: {}", response.text());
        assert_eq!(response.error_code(), "not_found");
    }
    let response = crate::util::request(&server.addr, "DELETE", "/v1/jobs/nope", &[], b"");
    assert_eq!(response.status, 404);
}

#[test]
fn cancel_stops_running_work() {
    let server = Server::start(&["--workers", "1", "--job-timeout", "60"]);
    let id = submit_job(&server, &[("hang.bin", b"DOCMILL-FAULT:hang"), ("never.txt", b"never analysed")]);
    wait_until(Duration::from_secs(10), "the hang to start", || {
        server.get_json("/v1/pool")["workers"][0]["state"] == "busy"
    });
    let response = crate::util::request(&server.addr, "DELETE", &format!("/v1/jobs/{id}"), &[], b"");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["status"], "cancelled");
    // The worker stuck on the job is killed, and the pool serves others.
    wait_until(Duration::from_secs(10), "the worker to be killed", || server.restarts("cancelled") == 1);
    server.wait_workers_ready(1);
    assert_eq!(server.analyze("ok.txt", b"fine").status, 200);
    let lines = result_lines(&server, &id);
    assert_eq!(lines.len(), 1, "only the summary: {lines:?}");
    assert_eq!(lines[0]["summary"]["documents"], 0);
}

#[test]
fn listing_is_paginated() {
    let server = Server::start(&["--workers", "1"]);
    let ids: Vec<String> = (0..3).map(|i| submit_job(&server, &[("a.txt", format!("doc {i}").as_bytes())])).collect();
    let first = server.get_json("/v1/jobs?limit=2");
    let page: Vec<&str> = first["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(page, [ids[0].as_str(), ids[1].as_str()]);
    let after = first["next_after"].as_str().unwrap();
    let second = server.get_json(&format!("/v1/jobs?limit=2&after={after}"));
    let page: Vec<&str> = second["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(page, [ids[2].as_str()]);
    assert!(second["next_after"].is_null());
}

#[test]
fn finished_jobs_expire_after_the_ttl() {
    let server = Server::start(&["--workers", "1", "--job-ttl", "0.5"]);
    let id = submit_job(&server, &[("a.txt", b"short lived")]);
    wait_status(&server, &id, "done");
    wait_until(Duration::from_secs(10), "the job to expire", || server.get(&format!("/v1/jobs/{id}")).status == 404);
    assert!(!server.dir.path().join("docmill-data/jobs").join(&id).exists());
}

#[test]
fn a_job_survives_sigkill_of_the_server_and_each_result_appears_once() {
    let mut server = Server::start(&["--workers", "1"]);
    let docs: Vec<(String, Vec<u8>)> =
        (0..8).map(|i| (format!("{i}.bin"), b"DOCMILL-FAULT:sleep-250".to_vec())).collect();
    let files: Vec<(&str, &[u8])> = docs.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let id = submit_job(&server, &files);
    wait_until(Duration::from_secs(20), "some progress", || {
        server.get_json(&format!("/v1/jobs/{id}"))["done"].as_u64().unwrap() >= 2
    });
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    // Restart on the same data directory.
    let data_dir = server.dir.path().join("docmill-data");
    let restarted = Server::start(&["--workers", "1", "--data-dir", data_dir.to_str().unwrap()]);
    let status = wait_status(&restarted, &id, "done");
    assert_eq!(status["progress"]["done"], 8);
    let lines = result_lines(&restarted, &id);
    let mut indexes: Vec<u64> = lines.iter().filter_map(|l| l["index"].as_u64()).collect();
    indexes.sort();
    assert_eq!(indexes, (0..8).collect::<Vec<u64>>(), "every document exactly once");
    assert_eq!(lines.last().unwrap()["summary"]["failed"], 0);
}

#[test]
fn interactive_requests_overtake_a_long_job() {
    let server = Server::start(&["--workers", "1"]);
    let docs: Vec<(String, Vec<u8>)> =
        (0..30).map(|i| (format!("{i}.bin"), b"DOCMILL-FAULT:sleep-100".to_vec())).collect();
    let files: Vec<(&str, &[u8])> = docs.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let id = submit_job(&server, &files);
    wait_status(&server, &id, "running");
    let response = server.analyze("urgent.txt", b"An interactive request.");
    assert_eq!(response.status, 200, "{}", response.text());
    // It was served while the job still had most of its documents to go.
    let job = server.get_json(&format!("/v1/jobs/{id}"));
    assert_eq!(job["status"], "running", "{job}");
    assert!(job["done"].as_u64().unwrap() < 25, "{job}");
}
