//! Logs an operator can use: JSON lines, the access log, request ids, and
//! the document named when a worker fails on it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::util::{request, wait_until, Server};

/// The server's stderr lines that parse as JSON objects.
fn json_lines(server: &Server) -> Vec<Value> {
    server.stderr().lines().filter_map(|line| serde_json::from_str::<Value>(line).ok()).collect()
}

#[test]
fn json_logs_carry_timestamp_level_message_and_the_access_log_has_a_line_per_request() {
    let server = Server::start(&["--workers", "1", "--log-format", "json", "--access-log"]);
    let echoed = request(&server.addr, "GET", "/healthz", &[("X-Request-Id", "trace-abc-123")], b"");
    assert_eq!(echoed.header("x-request-id"), Some("trace-abc-123"), "a client's request id is echoed");
    let fresh = request(&server.addr, "GET", "/no/such/path", &[], b"");
    let generated = fresh.header("x-request-id").expect("a request id is generated").to_string();
    assert_eq!(generated.len(), 16, "{generated}");
    let access = |server: &Server| -> Vec<Value> {
        json_lines(server).into_iter().filter(|line| line["message"] == "request").collect()
    };
    wait_until(Duration::from_secs(10), "two access lines", || access(&server).len() >= 2);
    for line in json_lines(&server) {
        assert!(line["timestamp"].as_str().is_some_and(|t| t.contains('T')), "{line}");
        assert!(matches!(line["level"].as_str(), Some("INFO" | "WARN" | "ERROR")), "{line}");
        assert!(line["message"].is_string(), "{line}");
    }
    let lines = access(&server);
    let healthz = lines.iter().find(|line| line["path"] == "/healthz").expect("a line for /healthz");
    assert_eq!(healthz["method"], "GET");
    assert_eq!(healthz["status"], 200);
    assert_eq!(healthz["request_id"], "trace-abc-123");
    assert!(healthz["bytes"].as_u64().unwrap() > 0, "{healthz}");
    assert!(healthz["duration_ms"].as_f64().is_some(), "{healthz}");
    let missing = lines.iter().find(|line| line["path"] == "/no/such/path").expect("a line for the 404");
    assert_eq!(missing["status"], 404);
    assert_eq!(missing["request_id"], generated.as_str());
    let stderr = server.stderr();
    let non_json: Vec<&str> = stderr.lines().filter(|line| serde_json::from_str::<Value>(line).is_err()).collect();
    assert!(non_json.iter().all(|line| line.starts_with("docmill worker")), "lines that are not JSON: {non_json:?}");
}

#[test]
fn without_access_log_ordinary_requests_log_nothing() {
    let server = Server::start(&["--workers", "1", "--log-format", "json"]);
    for _ in 0..3 {
        assert_eq!(server.get("/healthz").status, 200);
    }
    let slow = server.get("/v1/pool");
    assert_eq!(slow.status, 200);
    assert!(json_lines(&server).iter().all(|line| line["message"] != "request"), "{}", server.stderr());
}

#[test]
fn a_timeout_and_a_parser_panic_are_logged_with_the_documents_name_size_and_sha256() {
    let server = Server::start(&["--workers", "1", "--job-timeout", "0.5", "--log-format", "json"]);
    let slow: &[u8] = b"DOCMILL-FAULT:sleep-5000 slow";
    let timed_out = server.put("/v1/analyze?filename=slow-one.bin", slow);
    assert_eq!(timed_out.status, 504, "{}", timed_out.text());
    let panics: &[u8] = b"DOCMILL-FAULT:panic";
    let panicked = server.put("/v1/analyze?filename=panics.bin", panics);
    assert_eq!(panicked.status, 422, "{}", panicked.text());
    let hex = |bytes: &[u8]| -> String { Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect() };
    let logged = |filename: &str| json_lines(&server).into_iter().find(|line| line["filename"] == filename);
    wait_until(Duration::from_secs(10), "both failures logged", || {
        logged("slow-one.bin").is_some() && logged("panics.bin").is_some()
    });
    for (filename, bytes, response, words) in
        [("slow-one.bin", slow, &timed_out, "longer than 0.500s"), ("panics.bin", panics, &panicked, "panicked")]
    {
        let line = logged(filename).unwrap();
        assert_eq!(line["level"], "ERROR", "{line}");
        assert_eq!(line["size"], bytes.len(), "{line}");
        assert_eq!(line["sha256"], hex(bytes), "{line}");
        assert!(line["message"].as_str().unwrap().contains(words), "{line}");
        assert_eq!(line["span"]["request_id"].as_str(), response.header("x-request-id"), "{line}");
    }
    // The 504 itself is a 5xx: it has its line even without --access-log.
    let failed = json_lines(&server).into_iter().find(|line| line["message"] == "request failed");
    assert_eq!(failed.expect("a line for the 504")["status"], 504);
}

#[test]
fn a_large_poison_document_hashed_while_it_ran_is_logged_with_its_sha256_and_quarantined() {
    // Over the inline limit: the server hashes it while a worker runs it,
    // and this worker dies at once, before the hash can be done.
    let server = Server::start(&["--workers", "1", "--log-format", "json"]);
    let mut poison = b"DOCMILL-FAULT:abort large poison ".to_vec();
    poison.resize(3 << 20, b'x');
    let digest: String = Sha256::digest(&poison).iter().map(|b| format!("{b:02x}")).collect();
    for round in 0..2 {
        let response = server.put("/v1/analyze?filename=poison.bin", &poison);
        assert_eq!((response.status, response.error_code().as_str()), (500, "worker_crashed"), "round {round}");
        server.wait_workers_ready(1);
    }
    // Each request killed a worker and its replacement.
    assert_eq!(server.restarts("crashed"), 4);
    let failures =
        || json_lines(&server).into_iter().filter(|line| line["filename"] == "poison.bin").collect::<Vec<Value>>();
    wait_until(Duration::from_secs(10), "the four deaths logged", || failures().len() == 4);
    for line in failures() {
        assert_eq!(line["sha256"], digest.as_str(), "{line}");
        assert_eq!(line["size"], poison.len(), "{line}");
    }
    // Once quarantined, its digest is taken before anything runs: the
    // third upload (multipart, under another name) kills no worker.
    let third = server.analyze("again.bin", &poison);
    assert_eq!((third.status, third.error_code().as_str()), (500, "worker_crashed"));
    assert!(third.text().contains("not analysed again"), "{}", third.text());
    assert_eq!(server.restarts("crashed"), 4, "the third attempt killed no worker");
    // Other large documents are still analysed, with their own digest.
    let fine = vec![b'a'; 2 << 20];
    let response = server.put("/v1/analyze?filename=fine.txt", &fine);
    assert_eq!(response.status, 200, "{}", response.text());
    let expected: String = Sha256::digest(&fine).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(response.json()["sha256"], expected.as_str());
}

#[test]
fn a_document_whose_parser_panics_thousands_of_times_logs_a_few_lines_and_a_count() {
    let server = Server::start(&["--workers", "1"]);
    let response = server.put("/v1/analyze?filename=panicky.txt", b"DOCMILL-FAULT:caught-panics-5000 words after");
    assert_eq!(response.status, 200, "{}", response.text());
    let response = server.put("/v1/analyze?filename=calm.txt", b"DOCMILL-FAULT:caught-panics-2 words after");
    assert_eq!(response.status, 200, "{}", response.text());
    wait_until(Duration::from_secs(10), "the count of the rest logged", || {
        server.stderr().contains("4997 more parser panics in that document")
    });
    let stderr = server.stderr();
    let lines = stderr.lines().filter(|line| line.contains("parser panicked")).count();
    assert_eq!(lines, 3 + 2, "three for the first document, both of the second's:\n{stderr}");
    // Each line names the document it came from.
    let named =
        |name: &str| stderr.lines().filter(|line| line.contains("parser panicked") && line.contains(name)).count();
    assert_eq!((named("on \"panicky.txt\""), named("on \"calm.txt\"")), (3, 2), "{stderr}");
    assert_eq!(stderr.matches("more parser panics").count(), 1, "{stderr}");
}

/// `docmill serve` with one worker and `extra` flags, its stderr a pipe
/// nobody reads; the child and the address it listens on.
fn serve_with_unread_stderr(dir: &std::path::Path, extra: &[&str]) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(crate::util::docmill_bin())
        .args(["serve", "--bind", "127.0.0.1:0", "--workers", "1"])
        .args(extra)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on http://").unwrap().to_string();
    (child, addr)
}

#[test]
fn a_stalled_stderr_drops_log_lines_and_never_blocks_the_server() {
    // stderr is a pipe nobody reads: once it and the log buffer are full,
    // every access line must be dropped and counted, not waited for.
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serve_with_unread_stderr(dir.path(), &["--access-log"]);
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    // Over the log buffer (8192 lines) and a 64 KiB pipe of ~200-byte lines.
    let started = Instant::now();
    for _ in 0..12_000 {
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).expect("the server answers while its log is stalled");
            if header == "\r\n" {
                break;
            }
            if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
    }
    let elapsed = started.elapsed();
    let metrics = request(&addr, "GET", "/metrics", &[], b"").text();
    let dropped: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("docmill_log_lines_dropped_total "))
        .expect("the counter is exported")
        .trim()
        .parse()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(dropped > 1000, "only {dropped} lines dropped; metrics:\n{metrics}");
    assert!(elapsed < Duration::from_secs(60), "12000 probes took {elapsed:?}");
}

#[test]
fn a_stalled_stderr_never_holds_a_worker_whose_parser_panics() {
    // Workers write their own lines (a parser's panic) to the stderr they
    // share with the server. With that pipe full and nobody reading it, a
    // worker must drop its line, not wait in the middle of a document until
    // the job timeout kills it.
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serve_with_unread_stderr(dir.path(), &["--job-timeout", "5s"]);
    // Three lines of about 130 bytes a document: 400 documents are three
    // times what a 64 KiB pipe holds.
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..400 {
        let response = request(&addr, "PUT", "/v1/analyze?filename=p.txt", &[], b"DOCMILL-FAULT:caught-panics-3 words");
        *statuses.entry(response.status).or_insert(0) += 1;
        if response.status != 200 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(statuses, [(200, 400)].into(), "every document answered, none held by the log");
}
