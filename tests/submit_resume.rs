//! `docmill submit --resume`: files already reported are not sent again,
//! a copy of one still gets its line, and a line an interrupted run left
//! half written does not spoil the ones appended after it.

use super::submit::{by_filename, read_lines};
use crate::util::{run_cli, write_file, Server};

#[test]
fn submit_resume_skips_files_already_reported() {
    let server = Server::start(&["--workers", "1"]);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("docs");
    std::fs::create_dir_all(&tree).unwrap();
    write_file(&tree, "one.txt", b"First.");
    write_file(&tree, "crash.bin", b"DOCMILL-FAULT:segv");
    write_file(&tree, "two.txt", b"Second.");
    let server_url = format!("http://{}", server.addr);
    let first = run_cli(
        work.path(),
        &["submit", "--server", &server_url, "--out", "out.ndjson", "docs/one.txt", "docs/crash.bin"],
    );
    assert_eq!(first.status.code(), Some(1), "crash.bin failed");
    let resumed = run_cli(work.path(), &["submit", "--server", &server_url, "--out", "out.ndjson", "--resume", "docs"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    let lines = read_lines(&work.path().join("out.ndjson"));
    let mut names: Vec<&str> = lines.iter().map(|l| l["filename"].as_str().unwrap()).collect();
    // The first run's two lines come in the order their files finished.
    names[..2].sort();
    // A file that failed before gets no second line either.
    assert_eq!(names, ["docs/crash.bin", "docs/one.txt", "docs/two.txt"], "each file exactly once");
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(stderr.contains("3 files, 1 reports, 0 errors, 2 already done"), "{stderr}");
}

#[test]
fn submit_resume_after_a_half_written_line_starts_on_a_line_of_its_own() {
    let server = Server::start(&["--workers", "1"]);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("docs");
    std::fs::create_dir_all(&tree).unwrap();
    write_file(&tree, "a.txt", b"First.");
    write_file(&tree, "b.txt", b"Second.");
    let server_url = format!("http://{}", server.addr);
    let first = run_cli(work.path(), &["submit", "--server", &server_url, "--out", "out.ndjson", "docs/a.txt"]);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    // A run killed while writing b.txt's line left half of it.
    let out = work.path().join("out.ndjson");
    let mut written = std::fs::read(&out).unwrap();
    written.extend_from_slice(br#"{"index":1,"filename":"docs/b.txt","rep"#);
    std::fs::write(&out, &written).unwrap();
    let resumed = run_cli(work.path(), &["submit", "--server", &server_url, "--out", "out.ndjson", "--resume", "docs"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    // Every line parses (read_lines panics on one that does not).
    let lines = read_lines(&out);
    let mut names: Vec<&str> = lines.iter().map(|l| l["filename"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["docs/a.txt", "docs/b.txt"], "each file exactly once");
}

#[test]
fn submit_resume_gives_a_copy_of_a_reported_file_its_own_line() {
    // A run cut short after one.txt: on --resume its copy (same bytes,
    // another name) is not sent again, but must still get a line, or the
    // output lacks a file that a run without the interruption would list.
    let server = Server::start(&["--workers", "1"]);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("docs");
    std::fs::create_dir_all(&tree).unwrap();
    write_file(&tree, "one.txt", b"The same words twice over.");
    write_file(&tree, "copy.txt", b"The same words twice over.");
    write_file(&tree, "two.txt", b"Other words.");
    let server_url = format!("http://{}", server.addr);
    let first = run_cli(work.path(), &["submit", "--server", &server_url, "--out", "out.ndjson", "docs/one.txt"]);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let resumed = run_cli(work.path(), &["submit", "--server", &server_url, "--out", "out.ndjson", "--resume", "docs"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    let lines = read_lines(&work.path().join("out.ndjson"));
    let files = by_filename(&lines);
    assert_eq!(lines.len(), 3, "one line per file: {lines:?}");
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["docs/copy.txt", "docs/one.txt", "docs/two.txt"]);
    let copy = &files["docs/copy.txt"]["report"];
    assert_eq!(copy["sha256"], files["docs/one.txt"]["report"]["sha256"]);
    assert_eq!(copy["filename"], "docs/copy.txt");
    assert_eq!(copy["stats"]["words"], 5);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(stderr.contains("3 files, 1 reports, 0 errors, 2 already done"), "{stderr}");
}
