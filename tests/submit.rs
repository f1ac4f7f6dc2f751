//! `docmill submit`: directory walks, ignore files, errors per file, 503
//! retries and `--resume`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::util::{run_cli, write_file, Server};

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn by_filename(lines: &[Value]) -> BTreeMap<String, Value> {
    lines.iter().map(|l| (l["filename"].as_str().unwrap().to_string(), l.clone())).collect()
}

#[test]
fn submit_walks_a_tree_and_reports_every_file() {
    let server = Server::start(&["--workers", "2"]);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("docs");
    std::fs::create_dir_all(tree.join("a/b")).unwrap();
    write_file(&tree, "top.txt", b"Top level document.");
    write_file(&tree.join("a"), "mid.txt", b"Middle document.");
    write_file(&tree.join("a/b"), "deep.md", b"# Deep\n\nA nested document.");
    write_file(&tree, "empty.txt", b"");
    write_file(&tree, ".hidden.txt", b"hidden files are skipped");
    write_file(&tree, ".gitignore", b"*.log\n");
    write_file(&tree, "debug.log", b"ignored by .gitignore");
    write_file(&tree, "crash.bin", b"DOCMILL-FAULT:segv");
    let out = work.path().join("out.ndjson");
    let server_url = format!("http://{}", server.addr);
    let output =
        run_cli(work.path(), &["submit", "--server", &server_url, "--concurrency", "3", "--out", "out.ndjson", "docs"]);
    assert_eq!(output.status.code(), Some(1), "one file failed: {}", String::from_utf8_lossy(&output.stderr));
    let lines = read_lines(&out);
    let files = by_filename(&lines);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["docs/a/b/deep.md", "docs/a/mid.txt", "docs/crash.bin", "docs/empty.txt", "docs/top.txt"]);
    assert_eq!(files["docs/top.txt"]["report"]["stats"]["words"], 3);
    assert_eq!(files["docs/empty.txt"]["report"]["size"], 0);
    assert_eq!(files["docs/crash.bin"]["error"]["code"], "worker_crashed");
    let mut indexes: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    indexes.sort();
    assert_eq!(indexes, [0, 1, 2, 3, 4]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("5 files, 4 reports, 1 errors"), "{stderr}");

    // --no-ignore takes hidden and ignored files too; --exclude drops some.
    let output = run_cli(
        work.path(),
        &["submit", "--server", &server_url, "--out", "all.ndjson", "--no-ignore", "--exclude", "*.bin", "docs"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let all = by_filename(&read_lines(&work.path().join("all.ndjson")));
    assert!(all.contains_key("docs/.hidden.txt") && all.contains_key("docs/debug.log"), "{:?}", all.keys());
    assert!(!all.contains_key("docs/crash.bin"));
}

#[test]
fn submit_resume_skips_files_already_reported() {
    let server = Server::start(&["--workers", "1"]);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("docs");
    std::fs::create_dir_all(&tree).unwrap();
    write_file(&tree, "one.txt", b"First.");
    write_file(&tree, "two.txt", b"Second.");
    let server_url = format!("http://{}", server.addr);
    let first = run_cli(work.path(), &["submit", "--server", &server_url, "--out", "out.ndjson", "docs/one.txt"]);
    assert_eq!(first.status.code(), Some(0));
    let resumed = run_cli(work.path(), &["submit", "--server", &server_url, "--out", "out.ndjson", "--resume", "docs"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    let lines = read_lines(&work.path().join("out.ndjson"));
    let names: Vec<&str> = lines.iter().map(|l| l["filename"].as_str().unwrap()).collect();
    assert_eq!(names, ["docs/one.txt", "docs/two.txt"], "each file exactly once");
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("1 already done"));
}

#[test]
fn submit_retries_503_until_served() {
    // One worker, a queue of one, six concurrent uploads of slow documents:
    // some are shed with 503 and must be retried, none may be lost.
    let server = Server::start(&["--workers", "1", "--queue", "1"]);
    let work = tempfile::tempdir().unwrap();
    for i in 0..6 {
        write_file(work.path(), &format!("{i}.bin"), b"DOCMILL-FAULT:sleep-200");
    }
    let server_url = format!("http://{}", server.addr);
    let output =
        run_cli(work.path(), &["submit", "--server", &server_url, "--concurrency", "6", "--out", "out.ndjson", "."]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let lines = read_lines(&work.path().join("out.ndjson"));
    assert_eq!(lines.len(), 6);
    assert!(lines.iter().all(|l| l["report"].is_object()), "{lines:?}");
    let shed = server.get("/metrics").text();
    let shed_503 = shed.lines().any(|line| line.contains("route=\"/v1/analyze\"") && line.contains("status=\"503\""));
    assert!(shed_503, "no 503 was ever sent; the test proves nothing");
}

#[test]
fn submit_to_a_dead_server_gives_error_lines_not_silence() {
    let work = tempfile::tempdir().unwrap();
    write_file(work.path(), "a.txt", b"text");
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let output = run_cli(work.path(), &["submit", "--server", &url, "a.txt"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["error"]["code"], "network_error");
    assert_eq!(run_cli(work.path(), &["submit", "a.txt"]).status.code(), Some(2), "--server is required");
}
