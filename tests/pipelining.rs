//! Documents sent to a worker ahead of its answer to the one it is on
//! (small documents, while it answers quickly): each answer reaches its own
//! request, a crash is charged to the document the worker was on and to no
//! other, and a document's deadline runs from when its worker starts it.

use serde_json::Value;
use sha2::Digest;

use crate::util::Server;

/// A counter from `/metrics`.
fn metric(server: &Server, name: &str) -> u64 {
    let metrics = server.get("/metrics").text();
    let line =
        metrics.lines().find(|line| line.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no {name}"));
    line[name.len() + 1..].parse().unwrap()
}

fn batch(server: &Server, files: &[(String, Vec<u8>)]) -> Vec<Value> {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())).collect();
    let response = server.post_files("/v1/batch", &files);
    assert_eq!(response.status, 200, "{}", response.text());
    let mut lines: Vec<Value> = response.text().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let summary = lines.pop().expect("a summary line");
    assert_eq!(summary["summary"]["documents"], files.len(), "{summary}");
    lines.sort_by_key(|line| line["index"].as_u64().unwrap());
    assert_eq!(lines.len(), files.len());
    lines
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn every_answer_reaches_its_own_request_when_documents_are_sent_ahead() {
    let server = Server::start(&["--workers", "2"]);
    let files: Vec<(String, Vec<u8>)> = (0..1500)
        .map(|i| (format!("doc-{i}.txt"), format!("Document {i} says {} things.", i * 7).into_bytes()))
        .collect();
    // Interactive requests from several clients at once, beside the batch.
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let addr = server.addr.clone();
            std::thread::spawn(move || {
                for i in 0..40 {
                    let bytes = format!("Client {client} sends its request number {i}.").into_bytes();
                    let response = crate::util::request(&addr, "PUT", "/v1/analyze?filename=put.txt", &[], &bytes);
                    match response.status {
                        200 => assert_eq!(response.json()["sha256"], sha256(&bytes)),
                        503 => {}
                        status => panic!("{status}: {}", response.text()),
                    }
                }
            })
        })
        .collect();
    let lines = batch(&server, &files);
    for client in clients {
        client.join().unwrap();
    }
    for (line, (name, bytes)) in lines.iter().zip(&files) {
        assert_eq!(line["filename"], name.as_str(), "{line}");
        assert_eq!(line["report"]["sha256"], sha256(bytes), "{line}");
    }
    assert!(metric(&server, "docmill_tasks_sent_ahead_total") > 0, "no document was sent ahead");
    assert_eq!(server.restarts("crashed"), 0);
}

#[test]
fn documents_sent_ahead_of_a_crash_are_analysed_and_not_blamed() {
    let server = Server::start(&["--workers", "1"]);
    // A quick answer first: a worker is sent documents ahead only after one.
    assert_eq!(server.analyze("warm.txt", b"warm up").status, 200);
    let mut files: Vec<(String, Vec<u8>)> =
        (0..40).map(|i| (format!("doc-{i}.txt"), format!("Document number {i} of the batch.").into_bytes())).collect();
    files.insert(20, ("crash.bin".into(), b"DOCMILL-FAULT:abort".to_vec()));
    let lines = batch(&server, &files);
    for (index, line) in lines.iter().enumerate() {
        if index == 20 {
            assert_eq!(line["error"]["code"], "worker_crashed", "{line}");
        } else {
            assert_eq!(line["report"]["sha256"], sha256(&files[index].1), "{line}");
        }
    }
    // The crashing document killed its worker and the one it was tried on
    // again; the documents sent ahead of it went to the replacements.
    assert_eq!(server.restarts("crashed"), 2);
    assert!(metric(&server, "docmill_tasks_sent_ahead_total") > 0, "no document was sent ahead");
    // None of them was charged: each is analysed again at once.
    let again = server.analyze("doc-21.txt", &files[21].1);
    assert_eq!(again.status, 200, "{}", again.text());
}

#[test]
fn a_document_sent_ahead_gets_its_whole_deadline_once_its_worker_starts_it() {
    let server = Server::start(&["--workers", "1", "--job-timeout", "1"]);
    // A quick answer first: a worker is sent documents ahead only after one
    // (quick in CPU time: sleeping takes none).
    assert_eq!(server.analyze("warm.txt", b"warm up").status, 200);
    let files: Vec<(String, Vec<u8>)> = vec![
        ("napping.bin".into(), b"DOCMILL-FAULT:sleep-300".to_vec()),
        ("first.bin".into(), b"DOCMILL-FAULT:sleep-600".to_vec()),
        ("second.bin".into(), b"DOCMILL-FAULT:sleep-600".to_vec()),
    ];
    // The slow documents are queued while the worker naps; once it
    // answers, the second is sent ahead of the first's answer. It waits
    // 0.6 s for the first, then runs 0.6 s: past a deadline of 1 s counted
    // from when it was sent, within one counted from when its worker
    // started it.
    let lines = batch(&server, &files);
    for line in &lines {
        assert!(line["report"].is_object(), "{line}");
    }
    assert_eq!(server.restarts("timed_out"), 0);
    assert!(metric(&server, "docmill_tasks_sent_ahead_total") >= 1, "the slow documents were never sent ahead");
}

#[test]
fn documents_sent_ahead_of_one_that_runs_long_are_taken_back_for_another_worker() {
    let server = Server::start(&["--workers", "2", "--job-timeout", "5"]);
    server.wait_workers_ready(2);
    // One worker sleeps through a document (no CPU time, so it stays quick)
    // while the other takes the batch.
    let addr = server.addr.clone();
    let sleeper = std::thread::spawn(move || {
        crate::util::request(&addr, "PUT", "/v1/analyze?filename=sleep.bin", &[], b"DOCMILL-FAULT:sleep-1500")
    });
    crate::util::wait_until(std::time::Duration::from_secs(10), "a busy worker", || {
        server.get_json("/v1/pool")["workers"].as_array().unwrap().iter().any(|w| w["state"] == "busy")
    });
    // The batch's worker naps, answers quickly, takes the hanging document
    // and is sent the two behind it; they are taken back once it has run
    // for a while, and the sleeper's worker answers them long before the
    // hanging one's deadline.
    let files: Vec<(String, Vec<u8>)> = vec![
        ("nap.bin".into(), b"DOCMILL-FAULT:sleep-300".to_vec()),
        ("hang.bin".into(), b"DOCMILL-FAULT:hang".to_vec()),
        ("first.txt".into(), b"The first document behind the hanging one.".to_vec()),
        ("second.txt".into(), b"The second document behind the hanging one.".to_vec()),
    ];
    let files_ref: Vec<(&str, &[u8])> = files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())).collect();
    let response = server.post_files("/v1/batch", &files_ref);
    assert_eq!(response.status, 200, "{}", response.text());
    let order: Vec<String> = response
        .text()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter_map(|line| line["filename"].as_str().map(str::to_owned))
        .collect();
    let at = |name: &str| order.iter().position(|n| n == name).unwrap_or_else(|| panic!("no {name} in {order:?}"));
    assert!(at("first.txt") < at("hang.bin") && at("second.txt") < at("hang.bin"), "{order:?}");
    assert_eq!(sleeper.join().unwrap().status, 200);
    assert!(metric(&server, "docmill_tasks_taken_back_total") >= 1);
    assert!(metric(&server, "docmill_tasks_sent_ahead_total") >= 1);
}
