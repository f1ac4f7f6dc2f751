//! Documents reach workers as descriptors (a sealed memfd for an in-memory
//! spool, the spool file for a disk spool) and are mapped by confined
//! workers; the reports are the engine's own for the same bytes, whichever
//! way the document went, and no worker is killed by its sandbox on the way.

use docmill_engine::{Input, Options};
use serde_json::Value;

use crate::util::Server;

fn prose(len: usize) -> Vec<u8> {
    let words = ["river", "stone", "bright", "morning", "quietly", "garden", "Paris", "Anna", "measured", "the"];
    let mut text = Vec::with_capacity(len + 64);
    let mut i = 0usize;
    while text.len() < len {
        let word = words[(i * 7 + i / 11) % words.len()];
        text.extend_from_slice(word.as_bytes());
        text.extend_from_slice(if i % 13 == 12 { b".\n" } else { b" " });
        i += 1;
    }
    text.truncate(len);
    text
}

/// The engine's report for `bytes`, in this process, as JSON.
fn engine_report(filename: &str, bytes: &[u8]) -> Value {
    let input = Input { filename, declared_type: None, sha256: None, bytes };
    let report = docmill_engine::analyze(&input, &Options::default()).unwrap();
    serde_json::to_value(report).unwrap()
}

/// Every report field but the timing, which differs from run to run.
fn without_timing(mut report: Value) -> Value {
    report.as_object_mut().unwrap().remove("timing");
    report
}

#[test]
fn in_memory_and_disk_spooled_uploads_report_what_the_engine_reports() {
    // Workers stay confined: the default filter is on.
    let server = Server::start(&["--workers", "1", "--max-upload-bytes", "16MiB"]);
    // 64 bytes (inline in the frame), 1 MiB (a sealed memfd) and 6 MiB
    // (above the 4 MiB memory spool: the spool file itself).
    for len in [64, 1 << 20, 6 << 20] {
        let document = prose(len);
        let response = server.put("/v1/analyze?filename=prose.txt", &document);
        assert_eq!(response.status, 200, "{len} bytes: {}", response.text());
        let report = response.json();
        assert_eq!(report["size"], len);
        assert!(report["timing"]["worker_pid"].as_u64().unwrap() > 1, "{}", report["timing"]);
        assert_eq!(without_timing(report), without_timing(engine_report("prose.txt", &document)), "{len} bytes");
    }
    // A 3 MiB multipart upload (a sealed memfd) reports the same, and no
    // worker was replaced on the way.
    let document = prose(3 << 20);
    let response = server.analyze("prose.txt", &document);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(without_timing(response.json()), without_timing(engine_report("prose.txt", &document)));
    for cause in ["crashed", "timed_out", "recycled"] {
        assert_eq!(server.restarts(cause), 0, "{cause}: {}", server.stderr());
    }
    // The worker holds no document descriptor after its answers.
    let worker = server.worker_pids()[0] as i32;
    let held = std::fs::read_dir(format!("/proc/{worker}/fd")).unwrap().filter_map(Result::ok).filter(|entry| {
        std::fs::read_link(entry.path())
            .map(|target| target.to_string_lossy().contains("docmill-document"))
            .unwrap_or(false)
    });
    assert_eq!(held.count(), 0, "a document memfd is still open in the worker");
}

/// The report fields of the contract, in its order.
const REPORT_FIELDS: [&str; 14] = [
    "filename",
    "size",
    "sha256",
    "media_type",
    "format",
    "metadata",
    "language",
    "stats",
    "readability",
    "keywords",
    "fingerprint",
    "entities",
    "warnings",
    "timing",
];

#[test]
fn a_report_answered_without_reparsing_has_every_field_its_timing_and_the_cached_flag() {
    let server = Server::start(&["--workers", "1"]);
    let document = prose(200 << 10);
    let response = server.put("/v1/analyze?filename=first.txt", &document);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    let first = response.json();
    let keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, REPORT_FIELDS, "every field, in the contract's order, and no `cached`");
    assert_eq!(first["filename"], "first.txt");
    let timing = &first["timing"];
    for field in ["queue_ms", "analysis_ms", "cpu_ms", "peak_rss_bytes", "worker_pid"] {
        assert!(timing[field].is_u64(), "timing.{field}: {timing}");
    }
    assert!(timing["peak_rss_bytes"].as_u64().unwrap() > 0 && timing["worker_pid"].as_u64().unwrap() > 1);
    assert!(timing["analysis_ms"].as_u64().unwrap() >= 1, "200 KiB take a millisecond at least: {timing}");
    assert_eq!(without_timing(first.clone()), without_timing(engine_report("first.txt", &document)));

    // From the cache under another name, one that JSON must escape: that
    // name, `cached`, no queueing, and the rest as analysed.
    let name = "second \"copy\" ünïcode.txt";
    let encoded = "second%20%22copy%22%20%C3%BCn%C3%AFcode.txt";
    let response = server.put(&format!("/v1/analyze?filename={encoded}&cache=true"), &document);
    assert_eq!(response.status, 200, "{}", response.text());
    let hit = response.json();
    assert_eq!(hit["filename"], name);
    assert_eq!(hit["cached"], true);
    assert_eq!(hit["timing"]["queue_ms"], 0);
    assert_eq!(hit["timing"]["analysis_ms"], first["timing"]["analysis_ms"]);
    let mut expected = without_timing(first.clone());
    expected["filename"] = name.into();
    expected["cached"] = true.into();
    assert_eq!(without_timing(hit), expected);

    // A multipart upload answers the same way, not from the cache unasked;
    // with `text=true` the text is inside the worker's bytes, passed through.
    let response = server.post_files("/v1/analyze?text=true", &[("third.txt", &document)]);
    assert_eq!(response.status, 200, "{}", response.text());
    let third = response.json();
    assert!(third.get("cached").is_none(), "{third}");
    assert_eq!(third["filename"], "third.txt");
    assert_eq!(third["fingerprint"], first["fingerprint"]);
    assert_eq!(third["text"].as_str().map(str::len), Some(document.len()), "the whole text");
    // The per-format figures of /metrics still count every analysed
    // document (the cache hit was not analysed).
    let metrics = server.get("/metrics").text();
    let bytes_line = metrics
        .lines()
        .find(|line| line.starts_with("docmill_analysed_bytes_total{format=\"text\"}"))
        .unwrap_or_else(|| panic!("no analysed text bytes in /metrics:\n{metrics}"));
    assert!(bytes_line.ends_with(&format!(" {}", 2 * document.len())), "{bytes_line}");
}

/// The resident memory of the pool's only worker, as `/v1/pool` reads it.
fn worker_rss(server: &Server) -> u64 {
    let pool = server.get_json("/v1/pool");
    let workers = pool["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 1, "{pool}");
    workers[0]["rss_bytes"].as_u64().expect("rss_bytes")
}

#[test]
fn a_worker_gives_a_large_documents_memory_back_once_idle() {
    let server = Server::start(&["--workers", "1"]);
    assert_eq!(server.put("/v1/analyze?filename=small.txt", &prose(2 << 10)).status, 200);
    let settled = worker_rss(&server);
    // 5 MiB of prose grows the worker by well over 8 MiB (its text, words
    // and report), and by less than the growth trimmed at once.
    let response = server.put("/v1/analyze?filename=large.txt", &prose(5 << 20));
    assert_eq!(response.status, 200, "{}", response.text());
    let peak = response.json()["timing"]["peak_rss_bytes"].as_u64().unwrap();
    assert!(peak > settled + (8 << 20), "the large document grew the worker: {settled} then a peak of {peak}");
    crate::util::wait_until(std::time::Duration::from_secs(10), "the worker to give its memory back", || {
        worker_rss(&server) < settled + (4 << 20)
    });
}

#[test]
fn a_worker_stopped_and_continued_while_it_waits_to_trim_carries_on() {
    use nix::sys::signal::{kill, Signal};
    let server = Server::start(&["--workers", "1"]);
    let pid = server.worker_pids()[0];
    for round in 0..3 {
        // A large document leaves the worker waiting for its next request
        // with a timeout (its idle trim, a quarter second later); a stop
        // and continue there makes the kernel resume the wait through
        // `restart_syscall`, which the sandbox must allow.
        let response = server.put("/v1/analyze?filename=large.txt", &prose(3 << 20));
        assert_eq!(response.status, 200, "round {round}: {}", response.text());
        let worker = nix::unistd::Pid::from_raw(pid as i32);
        kill(worker, Signal::SIGSTOP).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        kill(worker, Signal::SIGCONT).unwrap();
        let response = server.put("/v1/analyze?filename=next.txt", &prose(2 << 10));
        assert_eq!(response.status, 200, "round {round}: {}", response.text());
        assert_eq!(response.json()["timing"]["worker_pid"], pid, "round {round}: {}", server.stderr());
    }
    assert_eq!(server.restarts("crashed"), 0, "{}", server.stderr());
}
