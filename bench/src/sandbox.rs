//! What the workers' seccomp filter costs end to end, told by CPU time
//! rather than wall time: two servers run side by side, one with
//! `DOCMILL_WORKER_SECCOMP=off`, and take the same documents in alternating
//! rounds; each round adds up the CPU time its pool spent (the supervisor
//! and the workers under the server process, every thread's
//! `sum_exec_runtime` from `/proc/PID/task/TID/schedstat`, in nanoseconds,
//! user and system together) and divides by the documents done. CPU time per
//! document does not change with what else the machine runs, as wall time
//! does; the wall-time throughput is given beside it.
//!
//! Run: `cargo build --release && cargo run --release -p docmill-bench -- sandbox`.

use std::path::Path;
use std::time::Instant;

use super::{median, one_kib_document, Connection, Server, CLIENTS};

/// Rounds per server; each server goes first in every other one.
const ROUNDS: usize = 9;
/// Documents per round: enough that a round's CPU time is around a second
/// for the 1 KiB document.
const DOCUMENTS: &[(&str, usize, usize)] = &[("1 KiB text", 1, 2000), ("64 KiB text", 64, 300)];

/// CPU time (ns) of every thread of every process under `server` (its
/// supervisor and the workers the supervisor forks).
fn children_cpu_ns(server: u32) -> u64 {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut under = vec![server];
    let mut total = 0;
    while let Some(parent) = under.pop() {
        for &(pid, _) in parents.iter().filter(|(_, ppid)| *ppid == parent) {
            total += process_cpu_ns(pid);
            under.push(pid);
        }
    }
    total
}

fn process_cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0 };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// One round: `n` documents through `server` from [`CLIENTS`] keep-alive
/// clients; the workers' CPU ns per document and the documents per second.
fn round(server: &Server, document: &[u8], n: usize) -> (f64, f64) {
    let pid = server.child.id();
    let cpu_before = children_cpu_ns(pid);
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..CLIENTS {
            scope.spawn(|| {
                let mut connection = Connection::open(&server.addr);
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                    assert_eq!(connection.request("PUT", "/v1/analyze?filename=doc.txt", document), 200);
                }
            });
        }
    });
    let wall = started.elapsed().as_secs_f64();
    let cpu = children_cpu_ns(pid).saturating_sub(cpu_before);
    (cpu as f64 / n as f64, n as f64 / wall)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run(binary: &Path) {
    // Workers are never recycled during the run, so no CPU time is lost
    // with a worker that exits.
    let keep = ["--max-jobs-per-worker", "100000000"];
    let filtered = Server::start_with(binary, "sandbox-filtered", &[], &keep);
    let unfiltered = Server::start_with(binary, "sandbox-unfiltered", &[("DOCMILL_WORKER_SECCOMP", "off")], &keep);
    println!(
        "docmill-bench sandbox: {ROUNDS} alternating rounds per workload, {CLIENTS} clients, load before: {}",
        load_average()
    );
    for &(name, kib, n) in DOCUMENTS {
        let document: Vec<u8> = one_kib_document().repeat(kib);
        // Warm both pools (page cache, allocator, branch predictors).
        round(&filtered, &document, n / 4);
        round(&unfiltered, &document, n / 4);
        let (mut cpu_on, mut cpu_off, mut rate_on, mut rate_off) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut ratios = Vec::new();
        for i in 0..ROUNDS {
            let (on, off) = if i % 2 == 0 {
                let on = round(&filtered, &document, n);
                (on, round(&unfiltered, &document, n))
            } else {
                let off = round(&unfiltered, &document, n);
                (round(&filtered, &document, n), off)
            };
            ratios.push(on.0 / off.0);
            cpu_on.push(on.0);
            cpu_off.push(off.0);
            rate_on.push(on.1);
            rate_off.push(off.1);
        }
        let (cpu_on, cpu_off) = (median(cpu_on), median(cpu_off));
        let (rate_on, rate_off) = (median(rate_on), median(rate_off));
        println!(
            "{name}, {n} documents a round: worker CPU per document {:.1} us with the filter, {:.1} us without \
             ({:+.2}%; median of the per-round ratios {:+.2}%); throughput {rate_on:.0} vs {rate_off:.0} docs/s ({:+.2}%)",
            cpu_on / 1000.0,
            cpu_off / 1000.0,
            (cpu_on / cpu_off - 1.0) * 100.0,
            (median(ratios) - 1.0) * 100.0,
            (rate_on / rate_off - 1.0) * 100.0,
        );
    }
    println!("load after: {}", load_average());
}
