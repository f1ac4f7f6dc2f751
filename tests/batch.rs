//! `POST /v1/batch`: NDJSON lines as documents complete, one error line per
//! bad document, a summary with duplicates.

use serde_json::Value;

use crate::util::{peak_rss_bytes, request, Server};

fn lines(response: &crate::util::Response) -> Vec<Value> {
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/x-ndjson"));
    response.text().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[test]
fn batch_streams_lines_in_completion_order_then_a_summary() {
    let server = Server::start(&["--workers", "2"]);
    let response = server.post_files(
        "/v1/batch",
        &[
            ("slow.bin", b"DOCMILL-FAULT:sleep-1500"),
            ("a.txt", b"The same words in the same order."),
            ("crash.bin", b"DOCMILL-FAULT:abort"),
            ("b.txt", b"The same words in the same order."),
            ("empty.txt", b""),
        ],
    );
    let lines = lines(&response);
    assert_eq!(lines.len(), 6, "{lines:?}");
    // The slow document was first in the upload but not first out.
    assert_ne!(lines[0]["index"], 0, "{lines:?}");
    let by_index = |i: u64| lines.iter().find(|l| l["index"] == i).unwrap_or_else(|| panic!("no line {i}"));
    assert_eq!(by_index(0)["filename"], "slow.bin");
    assert!(by_index(0)["report"].is_object());
    assert_eq!(by_index(1)["report"]["format"], "text");
    assert_eq!(by_index(2)["error"]["code"], "worker_crashed");
    assert_eq!(by_index(4)["report"]["size"], 0);
    let summary = &lines[5]["summary"];
    assert_eq!(summary["documents"], 5);
    assert_eq!(summary["failed"], 1);
    let pairs = summary["near_duplicates"].as_array().unwrap();
    assert!(pairs.contains(&serde_json::json!([1, 3])), "identical documents are duplicates: {summary}");
    assert!(summary["elapsed_ms"].as_u64().unwrap() >= 1500);
}

#[test]
fn large_reports_in_a_batch_are_whole_lines_with_their_text_and_count_in_the_summary() {
    // Reports past 64 KiB have their line made off the runtime threads.
    let server = Server::start(&["--workers", "2"]);
    let prose = |seed: &str| -> Vec<u8> {
        let sentence = format!("The {seed} river runs quietly past the old stone garden in the morning. ");
        sentence.repeat((300 << 10) / sentence.len()).into_bytes()
    };
    let (first, second) = (prose("wide"), prose("narrow"));
    let response = server.post_files(
        "/v1/batch?text=true",
        &[("first.txt", &first), ("small.txt", b"A few words."), ("second.txt", &second), ("again.txt", &first)],
    );
    let lines = lines(&response);
    assert_eq!(lines.len(), 5, "{lines:?}");
    let by_index = |i: u64| lines.iter().find(|l| l["index"] == i).unwrap_or_else(|| panic!("no line {i}"));
    for (index, name, bytes) in [(0, "first.txt", &first), (2, "second.txt", &second), (3, "again.txt", &first)] {
        let line = by_index(index);
        assert_eq!(line["filename"], name);
        assert_eq!(line["report"]["text"].as_str().map(str::len), Some(bytes.len()), "{name}: the whole text");
        assert_eq!(line["report"]["size"], bytes.len());
    }
    assert_eq!(by_index(1)["report"]["text"], "A few words.");
    let summary = &lines[4]["summary"];
    assert_eq!((summary["documents"].as_u64(), summary["failed"].as_u64()), (Some(4), Some(0)), "{summary}");
    let pairs = summary["near_duplicates"].as_array().unwrap();
    assert!(pairs.contains(&serde_json::json!([0, 3])), "the two copies of a large text: {summary}");
}

#[test]
fn one_oversized_file_is_one_error_line() {
    let server = Server::start(&["--workers", "1", "--max-upload-bytes", "1KiB"]);
    let big = vec![b'x'; 4096];
    let response = server.post_files("/v1/batch", &[("ok.txt", b"fine"), ("big.txt", &big), ("also.txt", b"fine too")]);
    let lines = lines(&response);
    assert_eq!(lines.len(), 4, "{lines:?}");
    let big_line = lines.iter().find(|l| l["index"] == 1).unwrap();
    assert_eq!(big_line["filename"], "big.txt");
    assert_eq!(big_line["error"]["code"], "payload_too_large");
    assert_eq!(lines[3]["summary"]["documents"], 3);
    assert_eq!(lines[3]["summary"]["failed"], 1);
}

#[test]
fn batch_waits_for_room_instead_of_shedding() {
    // One worker and a queue of one: a batch of many documents is slowed
    // down, never answered 503.
    let server = Server::start(&["--workers", "1", "--queue", "1"]);
    let docs: Vec<(String, Vec<u8>)> =
        (0..12).map(|i| (format!("{i}.bin"), b"DOCMILL-FAULT:sleep-50".to_vec())).collect();
    let files: Vec<(&str, &[u8])> = docs.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let lines = lines(&server.post_files("/v1/batch", &files));
    assert_eq!(lines.len(), 13);
    assert_eq!(lines[12]["summary"]["failed"], 0, "{:?}", lines[12]);
}

#[test]
fn batch_without_files_is_400() {
    let server = Server::start(&["--workers", "1"]);
    let body = b"--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--b--\r\n";
    let response =
        request(&server.addr, "POST", "/v1/batch", &[("Content-Type", "multipart/form-data; boundary=b")], body);
    assert_eq!((response.status, response.error_code().as_str()), (400, "bad_request"));
    let response = request(&server.addr, "POST", "/v1/batch", &[("Content-Type", "text/plain")], b"x");
    assert_eq!(response.status, 415);
}

/// Peak memory the server may reach for the batch below: a few times what
/// it holds at rest. Comparing every pair of 10,000 copies took ~12 GB.
const MANY_COPIES_RSS_LIMIT: u64 = 256 << 20;

// Regression: near-duplicates were found pair by pair, so 10,000 copies of
// one tiny file made the server build 49,995,000 pairs and abort.
#[test]
fn ten_thousand_copies_are_one_group_of_linear_size_in_bounded_memory() {
    let server = Server::start(&["--workers", "2"]);
    let names: Vec<String> = (0..10_000).map(|i| format!("copy-{i}.txt")).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|name| (name.as_str(), &b"The same few words."[..])).collect();
    let lines = lines(&server.post_files("/v1/batch", &files));
    assert_eq!(lines.len(), 10_001);
    let summary = &lines[10_000]["summary"];
    assert_eq!((summary["documents"].as_u64(), summary["failed"].as_u64()), (Some(10_000), Some(0)));
    let pairs = summary["near_duplicates"].as_array().unwrap();
    assert_eq!(pairs.len(), 9_999, "a group of k gives k - 1 pairs");
    for (at, pair) in pairs.iter().enumerate() {
        assert_eq!(pair, &serde_json::json!([0, at + 1]), "each member is paired with the group's first");
    }
    let groups = summary["near_duplicate_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "one group");
    let members: Vec<u64> = groups[0].as_array().unwrap().iter().map(|m| m.as_u64().unwrap()).collect();
    assert_eq!(members, (0..10_000).collect::<Vec<u64>>());
    let peak = peak_rss_bytes(server.pid());
    eprintln!("server peak RSS for 10,000 copies: {} MiB", peak >> 20);
    assert!(peak < MANY_COPIES_RSS_LIMIT, "server peak RSS {} MiB", peak >> 20);
}

/// A report without the fields the server writes for each answer
/// (`timing`, `cached`).
fn without_server_fields(report: &Value) -> Value {
    let mut report = report.clone();
    let fields = report.as_object_mut().expect("a report is an object");
    fields.remove("timing");
    fields.remove("cached");
    report
}

#[test]
fn batch_reports_are_the_analyze_reports_and_a_second_batch_is_the_same_from_the_cache() {
    let server = Server::start(&["--workers", "2"]);
    let prose = "The old mill stands by the river, and its wheel turns slowly in the morning light. \
                 Farmers bring their grain along the narrow road, talking of rain and of the harvest. "
        .repeat(12);
    let near = prose.replacen("narrow road", "narrow lane", 1);
    let other = "Quarterly revenue grew four percent; operating costs fell as the new warehouse opened. ".repeat(9);
    let files: [(&str, &[u8]); 4] = [
        ("mill.txt", prose.as_bytes()),
        ("near mill.txt", near.as_bytes()),
        ("revenue.txt", other.as_bytes()),
        ("copy.txt", prose.as_bytes()),
    ];
    let by_index = |lines: &[Value], i: usize| -> Value {
        lines.iter().find(|l| l["index"] == i).unwrap_or_else(|| panic!("no line {i}: {lines:?}")).clone()
    };
    let first = lines(&server.post_files("/v1/batch", &files));
    assert_eq!(first.len(), 5, "{first:?}");
    // Analysed alone after the batch, uncached: the same reports.
    for (index, (name, bytes)) in files.iter().enumerate() {
        let line = by_index(&first, index);
        assert_eq!(line["filename"], *name);
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["index", "filename", "report"], "{line}");
        let analyzed = server.analyze(name, bytes).json();
        assert!(analyzed.get("cached").is_none(), "{analyzed}");
        assert_eq!(without_server_fields(&line["report"]), without_server_fields(&analyzed), "{name}");
        assert!(line["report"]["timing"]["analysis_ms"].is_u64(), "{line}");
        // The copy may have been answered from its first's analysis.
        if index < 3 {
            assert!(line["report"].get("cached").is_none(), "{line}");
        }
    }
    let second = lines(&server.post_files("/v1/batch", &files));
    assert_eq!(second.len(), 5, "{second:?}");
    for index in 0..files.len() {
        let (before, again) = (by_index(&first, index), by_index(&second, index));
        assert_eq!(again["report"]["cached"], true, "{again}");
        assert_eq!(again["report"]["timing"]["queue_ms"], 0, "{again}");
        assert_eq!(without_server_fields(&again["report"]), without_server_fields(&before["report"]));
    }
    for lines in [&first, &second] {
        let summary = &lines[4]["summary"];
        assert_eq!((summary["documents"].as_u64(), summary["failed"].as_u64()), (Some(4), Some(0)), "{summary}");
        let pairs = summary["near_duplicates"].as_array().unwrap();
        assert!(pairs.contains(&serde_json::json!([0, 1])), "one word changed is a near-duplicate: {summary}");
        assert!(pairs.contains(&serde_json::json!([0, 3])), "an exact copy: {summary}");
        assert_eq!(summary["near_duplicate_groups"], serde_json::json!([[0, 1, 3]]), "{summary}");
    }
}

#[test]
fn a_batch_whose_client_hangs_up_has_its_running_document_stopped_and_the_rest_never_run() {
    use std::io::Write;
    use std::time::Duration;

    use crate::util::{multipart, wait_until};

    let server = Server::start(&["--workers", "1", "--job-timeout", "60"]);
    server.wait_workers_ready(1);
    let pid = server.worker_pids()[0];
    // The only worker hangs on the first document; more would hang it
    // again, each for the whole job timeout, had they run.
    let files: Vec<(String, Vec<u8>)> =
        (0..4).map(|i| (format!("hang{i}.bin"), b"DOCMILL-FAULT:hang".to_vec())).collect();
    let files: Vec<(&str, &[u8])> = files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())).collect();
    let (content_type, body) = multipart(&files);
    let mut client = std::net::TcpStream::connect(&server.addr).unwrap();
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        body.len()
    );
    client.write_all(head.as_bytes()).unwrap();
    client.write_all(&body).unwrap();
    wait_until(Duration::from_secs(10), "the first document to start", || {
        server.get_json("/v1/pool")["workers"][0]["state"] == "busy"
    });
    drop(client);
    wait_until(Duration::from_secs(10), "the hung worker to be killed", || server.restarts("cancelled") == 1);
    wait_until(Duration::from_secs(10), "its replacement", || !server.worker_pids().contains(&pid));
    server.wait_workers_ready(1);
    // Had a document behind it gone to the new worker, it would hang and
    // this would wait for the job timeout.
    let response = server.analyze("ok.txt", b"fine");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(server.get_json("/v1/pool")["queue"]["depth"], 0);
    assert_eq!(server.restarts("cancelled"), 1);
    assert_eq!(server.restarts("timed_out"), 0);
}

// A body that stalls inside a part: the line for the break named no part.
#[test]
fn a_batch_body_that_stalls_inside_a_part_names_that_part_in_its_error_line() {
    use std::io::{Read, Write};
    let server = Server::start(&["--workers", "1", "--body-timeout", "2"]);
    let boundary = "stall-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"first.txt\"\r\n\r\nA whole first document.\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"second.txt\"\r\n\r\nThe second one is cut "
    )
    .into_bytes();
    body.extend(vec![b'x'; 4096]);
    let mut stream = std::net::TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len() + 100_000
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let response = crate::util::parse_response(&raw);
    let lines = lines(&response);
    let broken: Vec<&Value> = lines.iter().filter(|line| line["error"].is_object()).collect();
    assert_eq!(broken.len(), 1, "{lines:?}");
    assert_eq!(broken[0]["error"]["code"], "request_timeout", "{}", broken[0]);
    assert_eq!(broken[0]["filename"], "second.txt", "{}", broken[0]);
    assert!(lines.iter().any(|line| line["filename"] == "first.txt" && line["report"].is_object()), "{lines:?}");
    assert!(lines.last().unwrap()["summary"].is_object(), "{lines:?}");
}
