//! Process lifecycle: draining on SIGTERM, nothing surviving the server, no
//! zombies or descriptor leaks across many replacements, and no work for a
//! client that left.

use std::net::TcpStream;
use std::time::Duration;

use crate::util::{children_of, multipart, open_fds, process_alive, start_upload, wait_until, Server};

#[test]
fn sigterm_drains_in_flight_work_then_exits_zero() {
    let mut server = Server::start(&["--workers", "1"]);
    let addr = server.addr.clone();
    let in_flight = std::thread::spawn(move || {
        let (content_type, body) = multipart(&[("slow.bin", b"DOCMILL-FAULT:sleep-1500")]);
        crate::util::request(&addr, "POST", "/v1/analyze", &[("Content-Type", &content_type)], &body)
    });
    wait_until(Duration::from_secs(10), "the job to start", || {
        server.get_json("/v1/pool")["workers"][0]["state"] == "busy"
    });
    server.terminate();
    let response = in_flight.join().unwrap();
    assert_eq!(response.status, 200, "in-flight work finishes: {}", response.text());
    assert_eq!(server.wait_exit(Duration::from_secs(20)), Some(0), "stderr:\n{}", server.stderr());
    // New connections are refused once it has gone.
    assert!(TcpStream::connect(&server.addr).is_err());
}

#[test]
fn nothing_survives_sigkill_of_the_server() {
    let mut server = Server::start(&["--workers", "2"]);
    let supervisors = children_of(server.pid());
    assert_eq!(supervisors.len(), 1, "one supervisor child: {supervisors:?}");
    let supervisor = supervisors[0].0;
    let workers: Vec<i32> = children_of(supervisor).into_iter().map(|(pid, _)| pid).collect();
    assert_eq!(workers.len(), 2, "{workers:?}");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    wait_until(Duration::from_secs(10), "supervisor and workers to die", || {
        !process_alive(supervisor) && workers.iter().all(|pid| !process_alive(*pid))
    });
}

#[test]
fn two_hundred_replacements_leak_no_zombie_and_no_descriptor() {
    let server = Server::start(&["--workers", "2", "--max-jobs-per-worker", "1"]);
    let fds_before = open_fds(server.pid());
    for i in 0..200 {
        let response = server.analyze("doc.txt", format!("document number {i}").as_bytes());
        assert_eq!(response.status, 200, "{}", response.text());
    }
    server.wait_workers_ready(2);
    assert!(server.restarts("recycled") >= 199);
    let supervisor = children_of(server.pid())[0].0;
    wait_until(Duration::from_secs(10), "no zombies and two workers", || {
        let children = children_of(supervisor);
        children.len() == 2 && children.iter().all(|(_, state)| *state != 'Z')
    });
    assert!(children_of(server.pid()).iter().all(|(_, state)| *state != 'Z'));
    let fds_after = open_fds(server.pid());
    assert!(fds_after <= fds_before + 4, "descriptors grew from {fds_before} to {fds_after}");
}

#[test]
fn a_client_that_disconnects_gets_its_running_job_killed() {
    let server = Server::start(&["--workers", "1", "--job-timeout", "60"]);
    let pid = server.worker_pids()[0];
    let client = start_upload(&server.addr, "slow.bin", b"DOCMILL-FAULT:hang", None);
    wait_until(Duration::from_secs(10), "the job to start", || {
        server.get_json("/v1/pool")["workers"][0]["state"] == "busy"
    });
    drop(client);
    wait_until(Duration::from_secs(10), "the hung worker to be killed", || server.restarts("cancelled") == 1);
    wait_until(Duration::from_secs(10), "the killed worker to leave the pool", || {
        !process_alive(pid as i32) && !server.worker_pids().contains(&pid)
    });
    server.wait_workers_ready(1);
    assert_eq!(server.analyze("ok.txt", b"fine").status, 200);
}

#[test]
fn a_queued_job_whose_client_left_is_never_run() {
    let server = Server::start(&["--workers", "1", "--job-timeout", "60"]);
    let addr = server.addr.clone();
    // Occupy the only worker.
    let hog = std::thread::spawn(move || {
        let (content_type, body) = multipart(&[("hog.bin", b"DOCMILL-FAULT:sleep-1500")]);
        crate::util::request(&addr, "POST", "/v1/analyze", &[("Content-Type", &content_type)], &body)
    });
    wait_until(Duration::from_secs(10), "the hog to start", || {
        server.get_json("/v1/pool")["workers"][0]["state"] == "busy"
    });
    // Queue a job that would hang the worker, then leave.
    let client = start_upload(&server.addr, "queued.bin", b"DOCMILL-FAULT:hang", None);
    wait_until(Duration::from_secs(10), "the job to be queued", || server.get_json("/v1/pool")["queue"]["depth"] == 1);
    drop(client);
    assert_eq!(hog.join().unwrap().status, 200);
    // Had the queued job run, the worker would hang and this would time out.
    let response = server.analyze("ok.txt", b"fine");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(server.restarts("cancelled"), 0);
    assert_eq!(server.restarts("timed_out"), 0);
}

#[test]
fn if_the_supervisor_is_killed_the_server_exits_and_leaves_nothing() {
    let mut server = Server::start(&["--workers", "2"]);
    let supervisor = children_of(server.pid())[0].0;
    let workers: Vec<i32> = children_of(supervisor).into_iter().map(|(pid, _)| pid).collect();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(supervisor), nix::sys::signal::Signal::SIGKILL).unwrap();
    assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(1), "stderr:\n{}", server.stderr());
    // The test's reader of the server's stderr may lag behind its exit.
    wait_until(Duration::from_secs(5), "the exit reason on stderr", || server.stderr().contains("supervisor died"));
    wait_until(Duration::from_secs(10), "workers to die", || workers.iter().all(|pid| !process_alive(*pid)));
}

// With the supervisor stopped (SIGSTOP), workers killed from outside were
// still counted ready: /readyz said ready while no worker was left.
#[test]
fn workers_that_die_while_the_supervisor_is_stopped_are_not_counted_ready_and_requests_do_not_wait_for_them() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let server = Server::start(&["--workers", "2"]);
    server.wait_workers_ready(2);
    let supervisor = children_of(server.pid())[0].0;
    let workers: Vec<i32> = children_of(supervisor).into_iter().map(|(pid, _)| pid).collect();
    kill(Pid::from_raw(supervisor), Signal::SIGSTOP).unwrap();
    for worker in &workers {
        kill(Pid::from_raw(*worker), Signal::SIGKILL).unwrap();
    }
    wait_until(Duration::from_secs(15), "/readyz to say no worker is ready", || server.get("/readyz").status == 503);
    assert!(server.get("/readyz").text().contains("no worker is ready"), "{}", server.get("/readyz").text());
    let pool = server.get_json("/v1/pool");
    let states: Vec<&str> = pool["workers"].as_array().unwrap().iter().map(|w| w["state"].as_str().unwrap()).collect();
    assert!(states.iter().all(|state| *state != "idle" && *state != "busy"), "{states:?}");
    // An interactive request waits a few seconds for a worker, not forever.
    let started = std::time::Instant::now();
    let waited = server.put("/v1/analyze?filename=waiting.txt", b"No worker can take this.");
    assert_eq!((waited.status, waited.error_code().as_str()), (503, "overloaded"), "{}", waited.text());
    assert!(waited.text().contains("no worker"), "{}", waited.text());
    assert!(waited.header("retry-after").is_some());
    assert!(started.elapsed() < Duration::from_secs(30), "answered after {:?}", started.elapsed());
    kill(Pid::from_raw(supervisor), Signal::SIGCONT).unwrap();
    wait_until(Duration::from_secs(30), "replacements once the supervisor runs again", || {
        server.get("/readyz").status == 200
    });
    assert_eq!(server.put("/v1/analyze?filename=a.txt", b"Served again.").status, 200);
}

// A server whose supervisor was stopped (SIGSTOP) waited for it forever
// after SIGTERM: the shutdown never ended.
#[test]
fn sigterm_with_the_supervisor_stopped_still_ends_the_server() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let mut server = Server::start(&["--workers", "1", "--shutdown-grace", "1"]);
    server.wait_workers_ready(1);
    let supervisor = children_of(server.pid())[0].0;
    let workers: Vec<i32> = children_of(supervisor).into_iter().map(|(pid, _)| pid).collect();
    kill(Pid::from_raw(supervisor), Signal::SIGSTOP).unwrap();
    server.terminate();
    assert_eq!(server.wait_exit(Duration::from_secs(30)), Some(0), "stderr:\n{}", server.stderr());
    assert!(server.stderr().contains("did not exit"), "stderr:\n{}", server.stderr());
    wait_until(Duration::from_secs(10), "the supervisor and its worker to die", || {
        !process_alive(supervisor) && workers.iter().all(|pid| !process_alive(*pid))
    });
}
