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
    // The same through a multipart upload on a second try of the memfd
    // path, and no worker was replaced on the way.
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
