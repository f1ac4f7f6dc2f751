//! The worker sandbox, seen from outside: what `/proc` says about a worker,
//! documents that make it try what it must not (each kills it with
//! `SIGSYS`), what it may still do, and every document of the shared corpus
//! analysed under the filter.

use std::time::Duration;

use crate::util::{wait_until, Server};

/// The value of one `Field:` line of `/proc/PID/status`.
fn status_field(pid: i64, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line =
        status.lines().find(|line| line.starts_with(&format!("{field}:"))).unwrap_or_else(|| panic!("no {field}"));
    line[field.len() + 1..].trim().to_string()
}

/// The soft limit of one line of `/proc/PID/limits` ("Max open files").
fn soft_limit(pid: i64, name: &str) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|line| line.starts_with(name)).unwrap_or_else(|| panic!("no {name}"));
    line[name.len()..].split_whitespace().next().unwrap().to_string()
}

fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn workers_are_confined_before_their_first_document() {
    let server = Server::start(&["--workers", "2"]);
    server.wait_workers_ready(2);
    for pid in server.worker_pids() {
        assert_eq!(status_field(pid, "Seccomp"), "2", "worker {pid}: seccomp filter mode");
        assert_eq!(status_field(pid, "NoNewPrivs"), "1", "worker {pid}");
        assert_eq!(status_field(pid, "CapEff"), "0000000000000000", "worker {pid}");
        assert_eq!(status_field(pid, "CapPrm"), "0000000000000000", "worker {pid}");
        assert_eq!(soft_limit(pid, "Max open files"), "16", "worker {pid}");
        assert_eq!(soft_limit(pid, "Max core file size"), "0", "worker {pid}");
        // The test harness reads stderr through a pipe, so no file may grow.
        assert_eq!(soft_limit(pid, "Max file size"), "0", "worker {pid}");
        if running_as_root() {
            let nobody = nix::unistd::User::from_name("nobody").unwrap().expect("a nobody user");
            let uids = status_field(pid, "Uid");
            assert!(uids.split_whitespace().all(|uid| uid == nobody.uid.to_string()), "worker {pid}: Uid {uids}");
            assert_eq!(status_field(pid, "CapBnd"), "0000000000000000", "worker {pid}");
        } else {
            loud!("NOT CHECKED: the switch to an unprivileged user (the tests do not run as root)");
        }
    }
    // The server itself is not confined.
    assert_eq!(status_field(server.pid() as i64, "Seccomp"), "0");
}

#[test]
fn forbidden_system_calls_kill_the_worker_with_sigsys() {
    let server = Server::start(&["--workers", "1"]);
    for kind in ["open", "socket", "fork", "exec"] {
        let before = server.worker_pids();
        let response = server.analyze(&format!("{kind}.bin"), format!("DOCMILL-FAULT:{kind}").as_bytes());
        assert_eq!(response.status, 500, "{kind}: {}", response.text());
        assert_eq!(response.error_code(), "worker_crashed", "{kind}");
        assert!(response.text().contains("SIGSYS"), "{kind}: {}", response.text());
        wait_until(Duration::from_secs(20), "a replacement worker", || {
            let now = server.worker_pids();
            now.len() == 1 && now != before
        });
        server.wait_workers_ready(1);
    }
    // Each document was tried on a second worker, which it killed too.
    assert_eq!(server.restarts("crashed"), 8);
    assert_eq!(server.analyze("ok.txt", b"still working").status, 200);
}

#[test]
fn a_worker_may_start_threads_under_the_filter() {
    let server = Server::start(&["--workers", "1"]);
    let pid = server.worker_pids()[0];
    for round in 0..3 {
        let response = server.analyze("thread.bin", format!("DOCMILL-FAULT:thread {round}").as_bytes());
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(server.worker_pids(), vec![pid], "the worker survived its threads");
    assert_eq!(server.restarts("crashed"), 0);
}

#[test]
fn worker_user_names_the_account_workers_run_as() {
    if !running_as_root() {
        loud!("DID NOT RUN: --worker-user needs the tests to run as root");
        return;
    }
    let daemon = nix::unistd::User::from_name("daemon").unwrap().expect("a daemon user");
    let server = Server::start(&["--workers", "1", "--worker-user", "daemon"]);
    let pid = server.worker_pids()[0];
    assert_eq!(status_field(pid, "Uid").split_whitespace().next().unwrap(), daemon.uid.to_string());
    assert_eq!(status_field(pid, "Gid").split_whitespace().next().unwrap(), daemon.gid.to_string());
    assert_eq!(server.analyze("a.txt", b"analysed as daemon").status, 200);

    let dir = tempfile::tempdir().unwrap();
    for (user, says) in [("root", "must not run as root"), ("no-such-user-here", "no such user")] {
        let output = crate::util::run_cli(dir.path(), &["serve", "--bind", "127.0.0.1:0", "--worker-user", user]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "--worker-user {user}: {stderr}");
        assert!(stderr.contains(says), "--worker-user {user}: {stderr}");
    }
}

/// Every document of `../shared/corpus`, through `/v1/batch` with text,
/// markdown and chunks asked for, under the filter: none may kill a worker.
#[test]
fn every_corpus_document_analyses_under_the_filter() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if !corpus.is_dir() {
        loud!("DID NOT RUN: {} is absent, so the corpus was not swept under the sandbox", corpus.display());
        return;
    }
    let mut files = Vec::new();
    let mut dirs = vec![corpus];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|name| name != "manifest.json") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() > 50, "only {} corpus files", files.len());
    let server = Server::start(&["--workers", "2", "--job-timeout", "60"]);
    let mut analysed = 0;
    for batch in files.chunks(25) {
        let contents: Vec<(String, Vec<u8>)> = batch
            .iter()
            .map(|path| (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(path).unwrap()))
            .collect();
        let parts: Vec<(&str, &[u8])> =
            contents.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())).collect();
        let response = server.post_files("/v1/batch?text=true&markdown=true&chunks=1000", &parts);
        assert_eq!(response.status, 200, "{}", response.text());
        for line in response.text().lines() {
            let line: serde_json::Value = serde_json::from_str(line).unwrap();
            if line.get("summary").is_some() {
                continue;
            }
            let code = line["error"]["code"].as_str();
            assert!(matches!(code, None | Some("parse_failed")), "{} under the sandbox: {line}", line["filename"]);
            analysed += 1;
        }
    }
    assert_eq!(analysed, files.len());
    assert_eq!(server.restarts("crashed"), 0, "a worker died on an ordinary document");
}
