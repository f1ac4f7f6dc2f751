//! The disk under `--data-dir` misbehaving: job directories nobody owns are
//! swept at start, a damaged job store is set aside while analysis stays
//! up, and a full disk answers 507 and recovers when space returns.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{multipart, wait_until, Server};

fn data_dir(server: &Server) -> PathBuf {
    server.dir.path().join("docmill-data")
}

fn restart(data_dir: &Path) -> Server {
    Server::start(&["--workers", "1", "--data-dir", data_dir.to_str().unwrap()])
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|dir| dir.flatten().map(|entry| entry.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn submit_job(server: &Server, files: &[(&str, &[u8])]) -> String {
    let response = server.post_files("/v1/jobs", files);
    assert_eq!(response.status, 202, "{}", response.text());
    response.json()["id"].as_str().unwrap().to_string()
}

fn wait_done(server: &Server, id: &str) {
    wait_until(Duration::from_secs(20), "the job to be done", || {
        server.get_json(&format!("/v1/jobs/{id}"))["status"] == "done"
    });
}

/// Starts `POST /v1/jobs` of two files and sends half of the body.
fn half_a_job_upload(server: &Server) -> TcpStream {
    let (content_type, body) = multipart(&[("a.txt", b"The first file."), ("b.bin", &vec![b'x'; 1 << 20])]);
    let mut upload = TcpStream::connect(&server.addr).unwrap();
    let head = format!(
        "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    upload.write_all(head.as_bytes()).unwrap();
    upload.write_all(&body[..body.len() / 2]).unwrap();
    upload
}

#[test]
fn a_client_leaving_mid_job_upload_leaves_no_directory() {
    let server = Server::start(&["--workers", "1"]);
    let jobs_dir = data_dir(&server).join("jobs");
    let upload = half_a_job_upload(&server);
    wait_until(Duration::from_secs(10), "the first file of the upload to be stored", || {
        entries(&jobs_dir).iter().any(|name| jobs_dir.join(name).join("0").exists())
    });
    drop(upload);
    wait_until(Duration::from_secs(10), "the half-stored job to be removed", || entries(&jobs_dir).is_empty());
}

#[test]
fn sigkill_during_a_job_upload_leaves_no_orphan_directory_after_restart() {
    let mut server = Server::start(&["--workers", "1"]);
    let jobs_dir = data_dir(&server).join("jobs");
    // A job still running when the server dies keeps its files.
    let live = submit_job(&server, &[("long.bin", b"DOCMILL-FAULT:sleep-30000")]);
    let _upload = half_a_job_upload(&server);
    wait_until(Duration::from_secs(10), "the first file of the upload to be stored", || {
        entries(&jobs_dir).iter().any(|name| *name != live && jobs_dir.join(name).join("0").exists())
    });
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert_eq!(entries(&jobs_dir).len(), 2, "the live job's and the half-uploaded one's");
    let _restarted = restart(&data_dir(&server));
    assert_eq!(entries(&jobs_dir), vec![live], "only the live job's directory is left");
}

#[test]
fn a_job_store_overwritten_with_garbage_is_set_aside_and_analysis_stays_up() {
    let mut server = Server::start(&["--workers", "1"]);
    let dir = data_dir(&server);
    let id = submit_job(&server, &[("a.txt", b"A job before the damage.")]);
    wait_done(&server, &id);
    server.terminate();
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(0));
    let garbage: Vec<u8> = (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(dir.join("jobs.sqlite3"), &garbage).unwrap();

    let damaged = restart(&dir);
    let analysed = damaged.analyze("a.txt", b"Analysis does not need the job store.");
    assert_eq!(analysed.status, 200, "{}", analysed.text());
    for response in [damaged.post_files("/v1/jobs", &[("b.txt", b"x")]), damaged.get(&format!("/v1/jobs/{id}"))] {
        assert_eq!(response.status, 503, "{}", response.text());
        assert_eq!(response.error_code(), "overloaded");
        let message = response.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains("jobs.sqlite3") && message.contains("damaged"), "{message}");
    }
    let ready = damaged.get("/readyz");
    assert_eq!(ready.status, 200, "analysis is available: {}", ready.text());
    assert!(ready.json()["reason"].as_str().unwrap().contains("jobs are unavailable"), "{}", ready.text());
    // The damaged file is kept aside, byte for byte, and the log says what
    // to do.
    let aside: Vec<String> =
        entries(&dir).into_iter().filter(|name| name.starts_with("jobs.sqlite3.damaged-")).collect();
    assert_eq!(aside.len(), 1, "{:?}", entries(&dir));
    assert_eq!(std::fs::read(dir.join(&aside[0])).unwrap(), garbage);
    // The log is read from the server's stderr by a thread: wait for it.
    wait_until(Duration::from_secs(10), "the damage and what to do logged", || {
        let log = damaged.stderr();
        log.contains("damaged") && log.contains(".recover")
    });
    drop(damaged);

    // The next start begins with an empty store.
    let fresh = restart(&dir);
    let id = submit_job(&fresh, &[("c.txt", b"A job after the damage.")]);
    wait_done(&fresh, &id);
}

#[test]
fn a_wal_deleted_after_a_crash_is_reported_not_silently_served() {
    let mut server = Server::start(&["--workers", "1"]);
    let dir = data_dir(&server);
    let id = submit_job(&server, &[("a.txt", b"A job in the WAL.")]);
    wait_done(&server, &id);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(dir.join("jobs.sqlite3-shm").exists(), "{:?}", entries(&dir));
    std::fs::remove_file(dir.join("jobs.sqlite3-wal")).unwrap();

    let restarted = restart(&dir);
    let response = restarted.get(&format!("/v1/jobs/{id}"));
    assert_eq!(response.status, 503, "not a silent 404: {}", response.text());
    assert!(response.json()["error"]["message"].as_str().unwrap().contains("write-ahead log"), "{}", response.text());
    assert!(entries(&dir).iter().any(|name| name.starts_with("jobs.sqlite3.damaged-")), "{:?}", entries(&dir));
    assert_eq!(restarted.analyze("a.txt", b"Still analysing.").status, 200);
}

/// A small tmpfs, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: usize) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .status();
        match status {
            Ok(status) if status.success() => Some(SmallDisk { dir }),
            other => {
                loud!("SKIPPED: the full-disk test needs to mount a tmpfs (root): {other:?}");
                None
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_answers_507_and_recovers_when_space_returns() {
    let Some(disk) = SmallDisk::mount(16 << 20) else { return };
    let data = disk.dir.path().join("data");
    let server = Server::start(&["--workers", "1", "--data-dir", data.to_str().unwrap()]);
    // Fill the disk, then give back a little: enough for the job store's
    // own pages, not for documents.
    let filler_path = disk.dir.path().join("filler");
    fill(&filler_path, 256 << 10);

    let big = vec![b'a'; 6 << 20];
    let spooled = server.put("/v1/analyze?filename=big.txt", &big);
    assert_eq!(spooled.status, 507, "{}", spooled.text());
    assert_eq!(spooled.error_code(), "insufficient_storage");
    let job = server.post_files("/v1/jobs", &[("one.txt", &vec![b'b'; 1 << 20])]);
    assert_eq!(job.status, 507, "{}", job.text());
    assert_eq!(job.error_code(), "insufficient_storage");
    assert!(entries(&data.join("jobs")).is_empty(), "no leftover: {:?}", entries(&data.join("jobs")));
    // What needs no disk still works.
    assert_eq!(server.analyze("small.txt", b"Small enough for memory.").status, 200);

    std::fs::remove_file(&filler_path).unwrap();
    let spooled = server.put("/v1/analyze?filename=big.txt", &big);
    assert_eq!(spooled.status, 200, "{}", spooled.text());
    let id = submit_job(&server, &[("one.txt", &vec![b'b'; 1 << 20])]);
    wait_done(&server, &id);

    // The disk fills while a job's document runs: its result cannot be
    // stored, and is once space returns.
    let id = submit_job(&server, &[("slow.bin", b"DOCMILL-FAULT:sleep-1000")]);
    wait_until(Duration::from_secs(10), "the document to start", || {
        server.get_json("/v1/pool")["workers"][0]["state"] == "busy"
    });
    fill(&filler_path, 0);
    wait_until(Duration::from_secs(20), "the store to run out of space", || {
        server.stderr().contains("cannot write to the job store")
    });
    std::fs::remove_file(&filler_path).unwrap();
    wait_done(&server, &id);
    let results = server.get(&format!("/v1/jobs/{id}/results")).text();
    assert!(results.lines().next().unwrap().contains("\"report\""), "{results}");
    drop(server);
}

/// Writes `path` until the disk is full, then gives back `spare` bytes.
fn fill(path: &Path, spare: u64) {
    let mut filler = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 << 10];
    while filler.write_all(&block).is_ok() {}
    // What is left is smaller than a block.
    while filler.write_all(&block[..4096]).is_ok() {}
    drop(filler);
    let full = std::fs::metadata(path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(full - spare).unwrap();
}

#[test]
fn jobs_filling_the_disk_leave_room_for_their_results_and_all_finish() {
    let Some(disk) = SmallDisk::mount(24 << 20) else { return };
    let data = disk.dir.path().join("data");
    let server = Server::start(&["--workers", "1", "--data-dir", data.to_str().unwrap()]);
    // The worker is busy while the others queue, so their documents are
    // all on the disk at once.
    let first = submit_job(&server, &[("slow.bin", b"DOCMILL-FAULT:sleep-1500")]);
    let document = vec![b'c'; 1 << 20];
    let mut accepted = vec![first];
    let refused = loop {
        let job = server.post_files("/v1/jobs", &[("one.txt", &document)]);
        if job.status != 202 {
            break job;
        }
        accepted.push(job.json()["id"].as_str().unwrap().to_string());
        assert!(accepted.len() < 30, "a 24 MiB disk took {} jobs of 1 MiB", accepted.len());
    };
    assert_eq!(refused.status, 507, "{}", refused.text());
    assert_eq!(refused.error_code(), "insufficient_storage");
    assert!(accepted.len() > 5, "only {} jobs accepted", accepted.len());
    // Every job accepted is run and its result stored.
    for id in &accepted {
        wait_done(&server, id);
    }
    let results = server.get(&format!("/v1/jobs/{}/results", accepted[accepted.len() - 1])).text();
    assert!(results.lines().next().unwrap().contains("\"report\""), "{results}");
    // And with their documents gone, new jobs are taken again.
    let again = submit_job(&server, &[("again.txt", &document)]);
    wait_done(&server, &again);
    drop(server);
}

#[test]
fn documents_retried_on_a_full_disk_log_it_once_not_each_retry() {
    let Some(disk) = SmallDisk::mount(16 << 20) else { return };
    let data = disk.dir.path().join("data");
    let server = Server::start(&["--workers", "1", "--data-dir", data.to_str().unwrap()]);
    let slow = submit_job(&server, &[("slow.bin", b"DOCMILL-FAULT:sleep-1500")]);
    let names: Vec<String> = (0..40).map(|i| format!("{i}.txt")).collect();
    let texts: Vec<String> = (0..40).map(|i| format!("Document number {i} of a job stuck on a full disk.")).collect();
    let files: Vec<(&str, &[u8])> = names.iter().zip(&texts).map(|(n, t)| (n.as_str(), t.as_bytes())).collect();
    let many = submit_job(&server, &files);
    wait_until(Duration::from_secs(10), "the slow document to start", || {
        server.get_json("/v1/pool")["workers"][0]["state"] == "busy"
    });
    let filler_path = disk.dir.path().join("filler");
    fill(&filler_path, 0);
    // Every document's result is refused by the store and retried every
    // 2 s for as long as the disk stays full: 41 documents, 3 rounds.
    std::thread::sleep(Duration::from_secs(7));
    let said = server.stderr().matches("cannot write to the job store").count();
    assert!(said >= 1, "the full disk is logged: {}", server.stderr());
    assert!(said <= 2, "logged {said} times in 7 s, not once per retry");
    assert_ne!(server.get_json(&format!("/v1/jobs/{many}"))["status"], "done", "not while the disk is full");
    // Space returns: every document is recorded.
    std::fs::remove_file(&filler_path).unwrap();
    wait_done(&server, &slow);
    wait_done(&server, &many);
    drop(server);
}
