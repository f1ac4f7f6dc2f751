//! Small documents through HTTP and the pool, for one or more builds of
//! docmill in one run, against the engine called in-process on as many
//! threads as workers: round trips per second of 1 KiB English text, of a
//! document of a few bytes (what HTTP and the pool cost with next to no
//! engine work), and of `GET /healthz` (what a loopback HTTP round trip
//! costs with no pool at all), each with 4 keep-alive clients; then the
//! `/healthz` p99 of each server while both workers are saturated.
//!
//! Throughput on a shared machine moves with whatever else runs; the CPU
//! time each request costs does much less, so each round also reads the CPU
//! time of the server's whole process tree (server, supervisor, workers,
//! and the workers already reaped) and of this process's client threads,
//! from `/proc`, and the table gives both.
//!
//! Run: `docmill-bench compare "BINARY [SERVE FLAG...]"...`: each argument is
//! a binary, optionally followed by `serve` flags (split on spaces). The
//! servers and the in-process engine are measured in alternating rounds, so
//! each sees the same machine; medians are printed.

use crate::{healthz_latency, http_rate, in_process_rate, median, one_kib_document, saturate, Server, ROUNDS};

/// A document of a few bytes: detection, analysis and its report cost next
/// to nothing, so what is left is HTTP, the queue and the worker round trip.
const TINY_DOCUMENT: &[u8] = b"Hi there.";

pub fn run(specs: &[String]) {
    let document = one_kib_document();
    let servers: Vec<(String, Server)> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| (spec.clone(), Server::from_spec(spec, &format!("compare{i}"))))
        .collect();
    let mut in_process = Vec::new();
    let mut in_process_cpu = Vec::new();
    // Per server: 1 KiB, tiny, healthz round trips per second; then, for
    // 1 KiB and tiny, µs of CPU per round trip: server tree, client.
    // Then 1 KiB documents through `POST /v1/batch`: per second, µs of
    // server+workers CPU a document.
    let mut figures = vec![[(); 9].map(|_| Vec::new()); servers.len()];
    for round in 0..ROUNDS {
        eprintln!("round {round}");
        let (rate, cpu) = measured(&[], || in_process_rate(&document));
        in_process.push(rate);
        in_process_cpu.push(cpu.client / (rate * ROUND_SECS));
        // Each server goes first in turn, so none gains from the order.
        for k in 0..servers.len() {
            let i = (k + round) % servers.len();
            let (addr, pid) = (&servers[i].1.addr, servers[i].1.pid());
            let (rate, cpu) = measured(&[pid], || http_rate(addr, "PUT", "/v1/analyze?filename=doc.txt", &document));
            figures[i][0].push(rate);
            figures[i][3].push(cpu.server / (rate * ROUND_SECS));
            figures[i][4].push(cpu.client / (rate * ROUND_SECS));
            let (rate, cpu) =
                measured(&[pid], || http_rate(addr, "PUT", "/v1/analyze?filename=doc.txt", TINY_DOCUMENT));
            figures[i][1].push(rate);
            figures[i][5].push(cpu.server / (rate * ROUND_SECS));
            figures[i][6].push(cpu.client / (rate * ROUND_SECS));
            figures[i][2].push(http_rate(addr, "GET", "/healthz", b""));
            let (rate, cpu) = measured(&[pid], || batch_rate(addr, &document));
            figures[i][7].push(rate);
            figures[i][8].push(cpu.server / (rate * ROUND_SECS));
        }
    }
    let saturated: Vec<(f64, f64)> = servers
        .iter()
        .map(|(_, server)| {
            let busy = saturate(&server.addr);
            let latency = healthz_latency(&server.addr, 2000);
            busy.store(false, std::sync::atomic::Ordering::Relaxed);
            // Let the saturating clients' last documents finish.
            std::thread::sleep(std::time::Duration::from_secs(2));
            latency
        })
        .collect();
    let (pipe_rate, pipe_cpu) = pipe_round_trips(&document);
    let in_process = median(in_process);
    let engine_cpu = median(in_process_cpu);
    println!(
        "\n1 KiB through two pipes and a `cat` process and back, one at a time: {pipe_rate:.0} round trips/s, {pipe_cpu:.1} µs CPU a round trip (both processes)"
    );
    println!(
        "\nengine in-process on 2 threads, 1 KiB: {in_process:.0} docs/s, {engine_cpu:.0} µs CPU a document (medians of {ROUNDS} rounds)\n"
    );
    println!(
        "| server | 1 KiB round trips/s | / in-process | 1 KiB: µs CPU a round trip, server+workers (client) | engine / server+workers CPU | {n}-byte document: round trips/s, µs CPU server+workers (client) | GET /healthz, round trips/s | /healthz p50 / p99 while saturated, ms | 1 KiB in batches of {BATCH_PARTS}: docs/s, / in-process, µs CPU server+workers |",
        n = TINY_DOCUMENT.len()
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (((spec, _), figures), (p50, p99)) in servers.iter().zip(figures).zip(saturated) {
        let [kib, tiny, healthz, kib_server, kib_client, tiny_server, tiny_client, batch, batch_server] =
            figures.map(median);
        println!(
            "| `{spec}` | {kib:.0} | {:.2} | {kib_server:.0} ({kib_client:.0}) | {:.2} | {tiny:.0}, {tiny_server:.0} ({tiny_client:.0}) | {healthz:.0} | {p50:.3} / {p99:.3} | {batch:.0}, {:.2}, {batch_server:.0} |",
            kib / in_process,
            engine_cpu / kib_server,
            batch / in_process,
        );
    }
}

/// Parts in one `POST /v1/batch` of [`batch_rate`].
const BATCH_PARTS: usize = 256;

/// Documents per second of `document` sent [`BATCH_PARTS`] at a time as the
/// parts of `POST /v1/batch`, by two clients (one connection a batch), for
/// a round: the path of `docmill submit` and of any client with many small
/// documents, where one HTTP request carries many of them.
fn batch_rate(addr: &str, document: &[u8]) -> f64 {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let boundary = "docmill-bench-boundary";
    // Every part is a distinct document (a batch's reports are cached by
    // content, and the same 1 KiB again would be answered from the cache).
    let batches = AtomicUsize::new(0);
    let request = |batch: usize| {
        let mut body = Vec::new();
        for i in 0..BATCH_PARTS {
            let head = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"doc{i}.txt\"\r\n\r\n"
            );
            body.extend_from_slice(head.as_bytes());
            let label = format!("Record {batch} {i}. ");
            body.extend_from_slice(label.as_bytes());
            body.extend_from_slice(&document[label.len()..]);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let head = format!(
            "POST /v1/batch HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&body);
        bytes
    };
    let started = std::time::Instant::now();
    let done: usize = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut reports = 0;
                    while started.elapsed() < crate::ROUND_TIME {
                        let bytes = request(batches.fetch_add(1, Ordering::Relaxed) + std::process::id() as usize);
                        let mut stream = std::net::TcpStream::connect(addr).unwrap();
                        stream.write_all(&bytes).unwrap();
                        let mut answer = Vec::new();
                        stream.read_to_end(&mut answer).unwrap();
                        let count = occurrences(&answer, b"\"report\":");
                        assert_eq!(count, BATCH_PARTS, "every part of the batch has a report");
                        reports += count;
                    }
                    reports
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).sum()
    });
    done as f64 / started.elapsed().as_secs_f64()
}

/// How many times `needle` occurs in `haystack`.
fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|window| *window == needle).count()
}

/// The least a worker round trip can cost: `document` written to a `cat`
/// process over one pipe and read back over another, one at a time, for
/// a round; round trips per second and the CPU time of both processes per
/// round trip, in µs.
fn pipe_round_trips(document: &[u8]) -> (f64, f64) {
    use std::io::{Read, Write};
    let mut cat = std::process::Command::new("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cannot start cat");
    let (mut to_cat, mut from_cat) = (cat.stdin.take().unwrap(), cat.stdout.take().unwrap());
    let mut back = vec![0u8; document.len()];
    let ((n, secs), cpu) = measured(&[cat.id()], || {
        let started = std::time::Instant::now();
        let mut n = 0u64;
        while started.elapsed() < crate::ROUND_TIME {
            to_cat.write_all(document).unwrap();
            from_cat.read_exact(&mut back).unwrap();
            n += 1;
        }
        (n as f64, started.elapsed().as_secs_f64())
    });
    drop(to_cat);
    let _ = cat.wait();
    (n / secs, (cpu.server + cpu.client) / n)
}

/// Length of a round in seconds, to turn rates back into counts.
const ROUND_SECS: f64 = crate::ROUND_TIME.as_secs_f64();

/// CPU time in µs over one measurement: of the process trees under
/// `servers`, and of this process (the clients, or the in-process engine).
struct Cpu {
    server: f64,
    client: f64,
}

/// Runs `measure` and the CPU time it cost.
fn measured<T>(servers: &[u32], measure: impl FnOnce() -> T) -> (T, Cpu) {
    let (server_before, client_before) = (tree_cpu_micros(servers), own_cpu_micros());
    let value = measure();
    let (server_after, client_after) = (tree_cpu_micros(servers), own_cpu_micros());
    (value, Cpu { server: server_after - server_before, client: client_after - client_before })
}

/// CPU time of this process alone (the servers are its children: not
/// theirs), in µs.
fn own_cpu_micros() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat[stat.rfind(')').map_or(0, |end| end + 2)..].split(' ').collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    (field(14) + field(15)) as f64 * 1e6 / CLOCK_TICKS_PER_SEC
}

/// CPU time of every process under `roots` (themselves included), and of
/// the children they reaped, in µs, from `/proc/PID/stat`.
fn tree_cpu_micros(roots: &[u32]) -> f64 {
    if roots.is_empty() {
        return 0.0;
    }
    let stats: Vec<(u32, u32, u64)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name is in parentheses and may hold spaces: the
            // fields counted here start after its closing one.
            let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
            let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
            let ticks = field(14)? + field(15)? + field(16)? + field(17)?;
            Some((pid, field(4)? as u32, ticks))
        })
        .collect();
    let mut tree: Vec<u32> = roots.to_vec();
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, ppid, _) in &stats {
            if tree.contains(ppid) && !tree.contains(pid) {
                tree.push(*pid);
                grew = true;
            }
        }
    }
    let ticks: u64 = stats.iter().filter(|(pid, _, _)| tree.contains(pid)).map(|(_, _, ticks)| ticks).sum();
    ticks as f64 * 1e6 / CLOCK_TICKS_PER_SEC
}

/// `/proc/PID/stat` counts CPU time in clock ticks of `sysconf(_SC_CLK_TCK)`,
/// 100 a second on every Linux architecture the kernel builds for today.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;
