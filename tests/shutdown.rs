//! SIGTERM while a job's document runs: the document finishes within the
//! grace period, or is left for the next start; our own shutdown never
//! records it as failed. Run several rounds, since this is a race.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{wait_until, Server};

fn submit_job(server: &Server, files: &[(&str, &[u8])]) -> String {
    let response = server.post_files("/v1/jobs", files);
    assert_eq!(response.status, 202, "{}", response.text());
    response.json()["id"].as_str().unwrap().to_string()
}

fn wait_busy(server: &Server) {
    wait_until(Duration::from_secs(10), "the job's document to start", || {
        server.get_json("/v1/pool")["workers"][0]["state"] == "busy"
    });
}

fn terminate_and_wait(server: &mut Server) -> Duration {
    let started = Instant::now();
    server.terminate();
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(0), "stderr:\n{}", server.stderr());
    started.elapsed()
}

fn restart(data_dir: &Path) -> Server {
    Server::start(&["--workers", "1", "--data-dir", data_dir.to_str().unwrap()])
}

fn results(server: &Server, id: &str) -> Vec<Value> {
    let response = server.get(&format!("/v1/jobs/{id}/results"));
    assert_eq!(response.status, 200, "{}", response.text());
    response.text().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[test]
fn sigterm_past_the_grace_leaves_the_running_document_for_the_next_start() {
    for round in 0..5 {
        let mut server = Server::start(&["--workers", "1", "--shutdown-grace", "0.3"]);
        let data_dir = server.dir.path().join("docmill-data");
        let id = submit_job(&server, &[("slow.bin", b"DOCMILL-FAULT:sleep-800"), ("quick.txt", b"A quick one.")]);
        wait_busy(&server);
        let took = terminate_and_wait(&mut server);
        assert!(took < Duration::from_secs(5), "round {round}: shutdown took {took:?}");
        let restarted = restart(&data_dir);
        let mut status = Value::Null;
        wait_until(Duration::from_secs(20), "the job to finish after the restart", || {
            status = restarted.get_json(&format!("/v1/jobs/{id}"));
            status["status"] == "done"
        });
        let lines = results(&restarted, &id);
        assert_eq!(status["failed"], 0, "round {round}: {lines:?}\nfirst run's stderr:\n{}", server.stderr());
        for line in lines.iter().filter(|line| line.get("index").is_some()) {
            assert!(line["report"].is_object(), "round {round}: {line}");
        }
    }
}

#[test]
fn sigterm_lets_a_running_job_document_finish_within_the_grace() {
    for round in 0..2 {
        let mut server = Server::start(&["--workers", "1", "--shutdown-grace", "10"]);
        let data_dir = server.dir.path().join("docmill-data");
        let id = submit_job(&server, &[("slow.bin", b"DOCMILL-FAULT:sleep-800")]);
        wait_busy(&server);
        terminate_and_wait(&mut server);
        // Recorded before the exit: done at once, nothing run again.
        let restarted = restart(&data_dir);
        let status = restarted.get_json(&format!("/v1/jobs/{id}"));
        assert_eq!(status["status"], "done", "round {round}: {status}");
        assert_eq!(status["failed"], 0, "round {round}: {:?}", results(&restarted, &id));
    }
}
