//! Every way a worker can fail, injected through documents that start with
//! `DOCMILL-FAULT:<kind>` (the `fault-injection` feature of test builds): the
//! right status goes to the right client, the worker is replaced, and nobody
//! else notices.

use std::time::Duration;

use crate::util::{wait_until, Server};

fn fault(kind: &str) -> Vec<u8> {
    format!("DOCMILL-FAULT:{kind}").into_bytes()
}

/// Sends the fault, checks status, code and message, then checks that a
/// replacement worker serves a normal document.
fn check_fault(server: &Server, kind: &str, status: u16, code: &str, message_has: &str) {
    let before = server.worker_pids();
    let response = server.analyze(&format!("{kind}.bin"), &fault(kind));
    assert_eq!(response.status, status, "{kind}: {}", response.text());
    assert_eq!(response.error_code(), code, "{kind}");
    let message = response.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains(message_has), "{kind}: message {message:?} lacks {message_has:?}");
    wait_until(Duration::from_secs(20), "a replacement worker", || {
        let now = server.worker_pids();
        now.len() == before.len() && now != before
    });
    server.wait_workers_ready(before.len());
    let ok = server.analyze("after.txt", b"still working");
    assert_eq!(ok.status, 200, "after {kind}: {}", ok.text());
}

#[test]
fn engine_panic_is_parse_failed_and_the_worker_is_recycled() {
    let server = Server::start(&["--workers", "1"]);
    check_fault(&server, "panic", 422, "parse_failed", "panicked");
    assert_eq!(server.restarts("recycled"), 1);
    assert_eq!(server.restarts("crashed"), 0);
}

#[test]
fn crashes_name_their_signal_or_status() {
    let server = Server::start(&["--workers", "1"]);
    check_fault(&server, "abort", 500, "worker_crashed", "SIGABRT");
    check_fault(&server, "segv", 500, "worker_crashed", "SIGSEGV");
    check_fault(&server, "exit", 500, "worker_crashed", "exited with status 7");
    check_fault(&server, "stack", 500, "worker_crashed", "killed by SIG");
    check_fault(&server, "garbage", 500, "worker_crashed", "malformed");
    // Each document was tried on a second worker before its answer.
    assert_eq!(server.restarts("crashed"), 10);
}

#[test]
fn runaway_allocation_kills_only_its_worker() {
    // Asked for backtraces, a worker out of memory still dies of its abort
    // (printing one reads files, which the sandbox forbids: it used to look
    // like a sandbox violation), and the message says what it most likely is.
    let server =
        Server::start_with_env(&["--workers", "1", "--worker-memory", "256MiB"], &[("RUST_BACKTRACE", "full")]);
    check_fault(
        &server,
        "alloc",
        500,
        "worker_crashed",
        "SIGABRT (it aborted: most often an allocation past --worker-memory)",
    );
}

#[test]
fn hung_and_stalled_workers_time_out_and_are_replaced() {
    let server = Server::start(&["--workers", "1", "--job-timeout", "0.5"]);
    check_fault(&server, "hang", 504, "timeout", "0.500s");
    // A worker spinning on the document until the deadline gets no second
    // try, unless the machine is so loaded that it was starved of CPU.
    let after_hang = server.restarts("timed_out");
    assert!((1..=2).contains(&after_hang), "{after_hang} timeouts for one hung document");
    // A stalled worker uses no CPU, like a stopped one: its document always
    // gets one more try before the 504.
    check_fault(&server, "stall", 504, "timeout", "0.500s");
    assert_eq!(server.restarts("timed_out"), after_hang + 2);
}

/// Starts `POST /v1/analyze` of `bytes` on a thread.
fn analyze_in_background(server: &Server, bytes: &'static [u8]) -> std::thread::JoinHandle<crate::util::Response> {
    let addr = server.addr.clone();
    std::thread::spawn(move || {
        let (content_type, body) = crate::util::multipart(&[("slow.bin", bytes)]);
        crate::util::request(&addr, "POST", "/v1/analyze", &[("Content-Type", &content_type)], &body)
    })
}

/// Waits for a busy worker other than those in `not` and returns its pid.
fn busy_worker(server: &Server, not: &[i64]) -> i64 {
    let mut busy_pid = 0;
    wait_until(Duration::from_secs(20), "a busy worker", || {
        let pool = server.get_json("/v1/pool");
        let busy = pool["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["state"] == "busy" && !not.contains(&w["pid"].as_i64().unwrap()))
            .cloned();
        busy_pid = busy.map(|w| w["pid"].as_i64().unwrap()).unwrap_or(0);
        busy_pid != 0
    });
    busy_pid
}

fn signal(pid: i64, signal: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
}

#[test]
fn worker_killed_from_outside_mid_job_is_not_the_documents_fault() {
    let server = Server::start(&["--workers", "2"]);
    let slow = analyze_in_background(&server, b"DOCMILL-FAULT:sleep-2000");
    let busy_pid = busy_worker(&server, &[]);
    signal(busy_pid, nix::sys::signal::Signal::SIGKILL);
    // The document is tried once more on another worker, and answered.
    let response = slow.join().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_ne!(response.json()["timing"]["worker_pid"].as_i64().unwrap(), busy_pid);
    server.wait_workers_ready(2);
    assert!(!server.worker_pids().contains(&busy_pid));
    assert_eq!(server.restarts("crashed"), 1);
    assert_eq!(server.analyze("ok.txt", b"fine").status, 200);
}

/// SIGKILLs the busy worker under the request `kills` times (each time on
/// a worker not killed before) and returns the response.
fn kill_under(server: &Server, bytes: &'static [u8], kills: usize) -> crate::util::Response {
    let request = analyze_in_background(server, bytes);
    let mut killed = Vec::new();
    for _ in 0..kills {
        let pid = busy_worker(server, &killed);
        signal(pid, nix::sys::signal::Signal::SIGKILL);
        killed.push(pid);
    }
    request.join().unwrap()
}

#[test]
fn a_document_whose_workers_keep_being_killed_from_outside_is_worker_crashed_but_not_quarantined() {
    let server = Server::start(&["--workers", "2"]);
    const DOCUMENT: &[u8] = b"DOCMILL-FAULT:sleep-3000 killed from outside";
    // Three kills from outside are retried: the fourth try is answered.
    let response = kill_under(&server, DOCUMENT, 3);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(server.restarts("crashed"), 3);
    // A fourth kill under the same request ends it as a crash.
    for round in 0..2 {
        let response = kill_under(&server, DOCUMENT, 4);
        assert_eq!(response.status, 500, "round {round}: {}", response.text());
        assert_eq!(response.error_code(), "worker_crashed");
        assert!(response.text().contains("SIGKILL"), "{}", response.text());
    }
    assert_eq!(server.restarts("crashed"), 11);
    // Kills from outside are not the document's fault: after two requests
    // that ended so, it is still analysed, not quarantined.
    server.wait_workers_ready(2);
    let again = server.analyze("again.bin", DOCUMENT);
    assert_eq!(again.status, 200, "{}", again.text());
}

#[test]
fn a_document_whose_worker_was_stopped_past_the_deadline_gets_another_try() {
    // The document sleeps long enough for the test to stop its worker
    // before it is done, however slowly the test polls.
    let server = Server::start(&["--workers", "2", "--job-timeout", "2"]);
    let slow = analyze_in_background(&server, b"DOCMILL-FAULT:sleep-1200 stopped");
    let stopped = busy_worker(&server, &[]);
    signal(stopped, nix::sys::signal::Signal::SIGSTOP);
    let response = slow.join().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_ne!(response.json()["timing"]["worker_pid"].as_i64().unwrap(), stopped);
    assert_eq!(server.restarts("timed_out"), 1);
    wait_until(Duration::from_secs(10), "the stopped worker to be gone", || {
        !crate::util::process_alive(stopped as i32)
    });
}

#[test]
fn a_document_whose_workers_are_stopped_twice_past_the_deadline_is_still_analysed() {
    // A stopped worker is never the document's doing: the second stop is
    // not the document's second strike either, so it is not answered 504.
    let server = Server::start(&["--workers", "2", "--job-timeout", "2"]);
    let slow = analyze_in_background(&server, b"DOCMILL-FAULT:sleep-1200 stopped twice");
    let first = busy_worker(&server, &[]);
    signal(first, nix::sys::signal::Signal::SIGSTOP);
    let second = busy_worker(&server, &[first]);
    signal(second, nix::sys::signal::Signal::SIGSTOP);
    let response = slow.join().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    let pid = response.json()["timing"]["worker_pid"].as_i64().unwrap();
    assert!(pid != first && pid != second, "answered by a stopped worker {pid}");
    assert_eq!(server.restarts("timed_out"), 2);
}

#[test]
fn stopped_idle_workers_are_replaced_before_work_reaches_them() {
    let server = Server::start(&["--workers", "2", "--job-timeout", "5"]);
    server.wait_workers_ready(2);
    let stopped = server.worker_pids();
    for pid in &stopped {
        signal(*pid, nix::sys::signal::Signal::SIGSTOP);
    }
    // Pings find both within a few seconds; they are killed and replaced.
    wait_until(Duration::from_secs(15), "both stopped workers replaced", || {
        let now = server.worker_pids();
        now.len() == 2 && now.iter().all(|pid| !stopped.contains(pid))
    });
    assert_eq!(server.restarts("unresponsive"), 2);
    let response = server.analyze("after.txt", b"answered by a fresh worker");
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(!stopped.contains(&response.json()["timing"]["worker_pid"].as_i64().unwrap()));
    for pid in stopped {
        wait_until(Duration::from_secs(10), "the stopped worker to be reaped", || {
            !crate::util::process_alive(pid as i32)
        });
    }
}

#[test]
fn a_document_sent_right_after_idle_workers_stop_is_still_answered() {
    let server = Server::start(&["--workers", "2", "--job-timeout", "30"]);
    server.wait_workers_ready(2);
    // The scenario is time itself, not a synchronisation: workers out of
    // work for longer than a quarter second, which are pinged before they
    // take a task. Then both stop, and a document is sent at once.
    std::thread::sleep(Duration::from_millis(400));
    let stopped = server.worker_pids();
    for pid in &stopped {
        signal(*pid, nix::sys::signal::Signal::SIGSTOP);
    }
    let started = std::time::Instant::now();
    let response = server.analyze("now.txt", b"sent to a pool whose workers just stopped");
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}: it waited for the deadline", started.elapsed());
    assert!(!stopped.contains(&response.json()["timing"]["worker_pid"].as_i64().unwrap()));
}

#[test]
fn idle_worker_killed_from_outside_fails_nobody() {
    let server = Server::start(&["--workers", "1"]);
    let pid = server.worker_pids()[0];
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    wait_until(Duration::from_secs(10), "replacement", || server.worker_pids().first().is_some_and(|p| *p != pid));
    server.wait_workers_ready(1);
    assert_eq!(server.analyze("ok.txt", b"fine").status, 200);
    assert_eq!(server.restarts("crashed"), 1);
}

#[test]
fn workers_are_recycled_after_their_job_quota() {
    let server = Server::start(&["--workers", "1", "--max-jobs-per-worker", "2"]);
    let mut pids = std::collections::BTreeSet::new();
    for i in 0..6 {
        let response = server.analyze("doc.txt", format!("document {i}").as_bytes());
        assert_eq!(response.status, 200, "{}", response.text());
        pids.insert(response.json()["timing"]["worker_pid"].as_i64().unwrap());
    }
    assert_eq!(pids.len(), 3, "six jobs at two per worker use three workers: {pids:?}");
    assert!(server.restarts("recycled") >= 2);
}

#[test]
fn a_worker_that_keeps_too_much_memory_is_recycled() {
    // The cap is half of --worker-memory: 256 MiB here.
    let server = Server::start(&["--workers", "1", "--worker-memory", "512MiB"]);
    let pid = server.worker_pids()[0];
    let small = server.analyze("small.bin", b"DOCMILL-FAULT:leak-16");
    assert_eq!(small.status, 200, "{}", small.text());
    assert_eq!(server.restarts("recycled"), 0);
    let big = server.analyze("big.bin", b"DOCMILL-FAULT:leak-300");
    assert_eq!(big.status, 200, "{}", big.text());
    wait_until(Duration::from_secs(10), "the bloated worker to be replaced", || !server.worker_pids().contains(&pid));
    assert_eq!(server.restarts("recycled"), 1);
    server.wait_workers_ready(1);
    assert_eq!(server.analyze("ok.txt", b"fine").status, 200);
}

#[test]
fn workers_failing_at_boot_back_off_instead_of_storming() {
    let server = Server::start_with_env(&["--workers", "2"], &[("DOCMILL_FAULT_BOOT", "1")]);
    let ready = server.get("/readyz");
    assert_eq!(ready.status, 503);
    let reason = ready.json()["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("fail at boot"), "{reason}");
    assert!(ready.header("retry-after").is_some());
    let spawned = |server: &Server| -> u64 {
        let metrics = server.get("/metrics").text();
        let line = metrics.lines().find(|l| l.starts_with("docmill_workers_spawned_total ")).unwrap().to_string();
        line.split(' ').nth(1).unwrap().parse().unwrap()
    };
    // With exponential backoff the number of forks grows slowly.
    let first = spawned(&server);
    std::thread::sleep(Duration::from_secs(2));
    let later = spawned(&server);
    assert!(later - first <= 8, "{first} then {later} forks in 2 s: a fork storm");
    let response = server.analyze("a.txt", b"nobody to analyse this");
    assert_eq!(response.status, 503, "{}", response.text());
}

#[test]
fn overload_is_shed_at_once_with_retry_after() {
    let server = Server::start(&["--workers", "2", "--queue", "2"]);
    let addr = server.addr.clone();
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let (content_type, body) = crate::util::multipart(&[(&format!("{i}.bin"), b"DOCMILL-FAULT:sleep-300")]);
                crate::util::request(&addr, "POST", "/v1/analyze", &[("Content-Type", &content_type)], &body)
            })
        })
        .collect();
    let mut ok = 0;
    let mut shed = 0;
    for client in clients {
        let response = client.join().unwrap();
        match response.status {
            200 => ok += 1,
            503 => {
                assert_eq!(response.error_code(), "overloaded");
                assert!(response.header("retry-after").is_some());
                shed += 1;
            }
            other => panic!("unexpected {other}: {}", response.text()),
        }
    }
    assert_eq!(ok + shed, 50);
    assert!(ok >= 2 && shed >= 1, "{ok} served, {shed} shed");
}

/// Clients that retry a 503 at once used to be answered tens of thousands of
/// times a second, taking the cores the workers needed.
#[test]
fn refusals_to_impatient_clients_go_out_at_a_bounded_rate() {
    let server = Server::start(&["--workers", "1", "--queue", "1"]);
    let addr = server.addr.clone();
    // One slow document in the worker, one waiting: the queue is full for
    // seconds, longer than the storm below even on a loaded machine.
    let slow = |sleep_ms: u32| {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let fault = format!("DOCMILL-FAULT:sleep-{sleep_ms}");
            let (content_type, body) = crate::util::multipart(&[(&format!("slow{sleep_ms}.bin"), fault.as_bytes())]);
            crate::util::request(&addr, "POST", "/v1/analyze", &[("Content-Type", &content_type)], &body)
        })
    };
    let running = slow(4000);
    wait_until(Duration::from_secs(10), "the worker to be busy", || {
        server.get_json("/v1/pool")["workers"][0]["state"] == "busy"
    });
    let waiting = slow(4001);
    wait_until(Duration::from_secs(10), "the queue to fill", || server.get_json("/v1/pool")["queue"]["depth"] == 1);
    let started = std::time::Instant::now();
    let stop = started + Duration::from_millis(600);
    let storm: Vec<_> = (0..8)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let (content_type, body) = crate::util::multipart(&[(&format!("{i}.txt"), b"retry me at once")]);
                let mut refused = 0u64;
                while std::time::Instant::now() < stop {
                    let response =
                        crate::util::request(&addr, "POST", "/v1/analyze", &[("Content-Type", &content_type)], &body);
                    assert_eq!(response.status, 503, "{}", response.text());
                    assert_eq!(response.error_code(), "overloaded");
                    assert!(response.header("retry-after").is_some());
                    refused += 1;
                }
                refused
            })
        })
        .collect();
    let refused: u64 = storm.into_iter().map(|client| client.join().unwrap()).sum();
    let elapsed = started.elapsed().as_secs_f64();
    // The server spaces refusals out: never more than its rate over the
    // storm's length, plus the first turn of each client.
    // 1,000 a second: the README's (and the server's `MAX_REFUSALS_PER_SEC`).
    let bound = (elapsed * 1000.0).ceil() as u64 + 8;
    assert!(refused <= bound, "{refused} refusals in {elapsed:.2} s: more than {bound}");
    assert!(refused >= 8, "every client was refused at least once: {refused}");
    for client in [running, waiting] {
        assert_eq!(client.join().unwrap().status, 200);
    }
}

#[test]
fn control_plane_answers_while_every_worker_is_busy() {
    let server = Server::start(&["--workers", "2", "--job-timeout", "5"]);
    let addr = server.addr.clone();
    let hogs: Vec<_> = (0..2)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let (content_type, body) = crate::util::multipart(&[("hog.bin", b"DOCMILL-FAULT:hang")]);
                crate::util::request(&addr, "POST", "/v1/analyze", &[("Content-Type", &content_type)], &body)
            })
        })
        .collect();
    wait_until(Duration::from_secs(10), "both workers busy", || {
        server.get_json("/v1/pool")["workers"].as_array().unwrap().iter().all(|w| w["state"] == "busy")
    });
    for _ in 0..20 {
        let started = std::time::Instant::now();
        assert_eq!(server.get_json("/healthz")["status"], "ok");
        assert!(started.elapsed() < Duration::from_secs(2), "healthz took {:?}", started.elapsed());
    }
    for hog in hogs {
        assert_eq!(hog.join().unwrap().status, 504);
    }
}

#[test]
fn a_document_that_crashed_workers_twice_is_quarantined() {
    let server = Server::start(&["--workers", "1"]);
    let poison = b"DOCMILL-FAULT:abort poison";
    for _ in 0..2 {
        let response = server.analyze("poison.bin", poison);
        assert_eq!((response.status, response.error_code().as_str()), (500, "worker_crashed"));
        server.wait_workers_ready(1);
    }
    // Each request killed a worker and then its replacement (the second
    // try), and only that second death counted against the document.
    assert_eq!(server.restarts("crashed"), 4);
    let third = server.analyze("again.bin", poison);
    assert_eq!((third.status, third.error_code().as_str()), (500, "worker_crashed"));
    assert!(third.text().contains("not analysed again"), "{}", third.text());
    assert_eq!(server.restarts("crashed"), 4, "the third attempt killed no worker");
    assert_eq!(server.analyze("ok.txt", b"fine").status, 200);
}

#[test]
fn result_cache_answers_repeats_only_when_asked() {
    let server = Server::start(&["--workers", "1"]);
    let doc = b"A document analysed once and asked about twice.";
    let first = server.analyze("first.txt", doc).json();
    assert!(first.get("cached").is_none(), "{first}");
    let plain = server.analyze("second.txt", doc).json();
    assert!(plain.get("cached").is_none(), "/v1/analyze caches only with cache=true: {plain}");
    let cached = server.post_files("/v1/analyze?cache=true", &[("third.txt", doc)]).json();
    assert_eq!(cached["cached"], true, "{cached}");
    assert_eq!(cached["filename"], "third.txt");
    assert_eq!(cached["sha256"], first["sha256"]);
    assert_eq!(cached["stats"], first["stats"]);
    // Batches use the cache without being asked.
    let batch = server.post_files("/v1/batch", &[("fourth.txt", doc)]);
    let line: serde_json::Value = serde_json::from_str(batch.text().lines().next().unwrap()).unwrap();
    assert_eq!(line["report"]["cached"], true, "{line}");
}

/// The niceness of a process, from `/proc/PID/stat`.
fn niceness(pid: i32) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command's closing parenthesis: state is field 3, nice 19.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[19 - 3].parse().unwrap()
}

#[test]
fn workers_run_ten_nicer_than_the_server_however_nice_it_was_started() {
    // Niceness is per thread on Linux, and a child starts with that of the
    // thread that spawned it: this thread is made nicer, not the tests.
    let server = std::thread::spawn(|| {
        let thread = nix::unistd::gettid().to_string();
        let reniced = std::process::Command::new("renice").args(["-n", "4", "-p", &thread]).output().unwrap();
        assert!(reniced.status.success(), "renice: {}", String::from_utf8_lossy(&reniced.stderr));
        Server::start(&["--workers", "2"])
    })
    .join()
    .unwrap();
    server.wait_workers_ready(2);
    assert_eq!(niceness(server.pid()), 4);
    for worker in server.worker_pids() {
        assert_eq!(niceness(worker as i32), 14, "worker {worker}");
    }
}
