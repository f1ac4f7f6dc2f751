//! `docmill analyze`: the pool without HTTP, NDJSON out.

use crate::util::{run_cli, write_file};

#[test]
fn analyze_prints_one_line_per_file_in_order() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.txt", b"First document. It has two sentences.");
    write_file(dir.path(), "b.txt", b"Second one.");
    write_file(dir.path(), "empty.txt", b"");
    let output =
        run_cli(dir.path(), &["analyze", "--workers", "2", "--text", "a.txt", "missing.txt", "b.txt", "empty.txt"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0]["filename"], "a.txt");
    assert_eq!(lines[0]["stats"]["sentences"], 2);
    assert_eq!(lines[0]["text"], "First document. It has two sentences.");
    assert_eq!(lines[1]["filename"], "missing.txt");
    assert_eq!(lines[1]["error"]["code"], "not_found");
    assert_eq!(lines[2]["filename"], "b.txt");
    assert_eq!(lines[3]["size"], 0);
    assert_eq!(output.status.code(), Some(1), "a failed file makes the exit status 1");
}

#[test]
fn analyze_reports_crashes_per_file_and_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "crash.bin", b"DOCMILL-FAULT:segv");
    write_file(dir.path(), "ok.txt", b"Fine.");
    let output = run_cli(dir.path(), &["analyze", "--workers", "1", "crash.bin", "ok.txt"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["error"]["code"], "worker_crashed");
    assert_eq!(lines[1]["format"], "text");
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run_cli(dir.path(), &["analyze"]).status.code(), Some(2));
    assert_eq!(run_cli(dir.path(), &["serve", "--workers", "zero"]).status.code(), Some(2));
    assert_eq!(run_cli(dir.path(), &["frobnicate"]).status.code(), Some(2));
    let all_ok = run_cli(dir.path(), &["analyze", "--workers", "1", "/dev/null"]);
    assert_eq!(all_ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&all_ok.stderr));
}
