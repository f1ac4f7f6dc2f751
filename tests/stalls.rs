//! Clients that stall: bodies that stop or trickle are cut off after
//! `--body-timeout` with 408, probes answer throughout, the connection cap
//! keeps probes answered, and memory held by stalled uploads stays bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::{multipart, parse_response, wait_until, Server};

/// Opens `POST /v1/analyze` declaring a body of `declared` bytes and sends
/// only `prefix` of it.
fn stalled_upload(addr: &str, declared: usize, prefix: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /v1/analyze HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary=docmill-test-boundary-7d1f\r\nContent-Length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(prefix).unwrap();
    stream
}

/// Reads what the server sends until it closes the connection.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return raw,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock || err.kind() == std::io::ErrorKind::TimedOut => {
                panic!("the server held a stalled connection for over {within:?}")
            }
            // A reset after the answer still ends the connection.
            Err(_) => return raw,
        }
    }
}

fn healthz_answers_quickly(server: &Server) {
    let started = Instant::now();
    let response = server.get("/healthz");
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(started.elapsed() < Duration::from_secs(2), "/healthz took {:?}", started.elapsed());
}

#[test]
fn a_hundred_and_twenty_stalled_uploads_are_cut_off_with_408_while_healthz_answers() {
    let server = Server::start(&["--workers", "1", "--body-timeout", "1.5"]);
    let (_, body) = multipart(&[("big.bin", &vec![b'x'; 1 << 20])]);
    let started = Instant::now();
    let mut stalled: Vec<TcpStream> =
        (0..120).map(|_| stalled_upload(&server.addr, body.len(), &body[..4000])).collect();
    // Probes answer while every one of them is held.
    while started.elapsed() < Duration::from_millis(1200) {
        healthz_answers_quickly(&server);
    }
    for stream in &mut stalled {
        let raw = read_until_closed(stream, Duration::from_secs(15));
        let response = parse_response(&raw);
        assert_eq!(response.status, 408, "{}", response.text());
        assert_eq!(response.error_code(), "request_timeout");
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1400), "cut off before the timeout: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "cut off long after the timeout: {elapsed:?}");
    healthz_answers_quickly(&server);
    assert_eq!(server.analyze("ok.txt", b"Still serving.").status, 200);
}

#[test]
fn a_body_trickled_one_byte_at_a_time_is_cut_off() {
    let server = Server::start(&["--workers", "1", "--body-timeout", "1"]);
    let (_, body) = multipart(&[("slow.bin", &vec![b'x'; 100_000])]);
    let mut stream = stalled_upload(&server.addr, body.len(), &body[..200]);
    let mut writer = stream.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        // Four bytes a second: progress by byte count, never enough to be
        // an upload.
        for byte in &body[200..] {
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    let started = Instant::now();
    let raw = read_until_closed(&mut stream, Duration::from_secs(10));
    let response = parse_response(&raw);
    assert_eq!(response.status, 408, "{}", response.text());
    assert_eq!(response.error_code(), "request_timeout");
    assert!(started.elapsed() < Duration::from_secs(5), "held for {:?}", started.elapsed());
    drop(stream);
    trickle.join().unwrap();
}

#[test]
fn past_the_connection_cap_probes_still_answer_and_uploads_get_503() {
    let server = Server::start(&["--workers", "1", "--max-connections", "10", "--body-timeout", "30"]);
    let (_, body) = multipart(&[("big.bin", &vec![b'x'; 1 << 20])]);
    let held: Vec<TcpStream> = (0..10).map(|_| stalled_upload(&server.addr, body.len(), &body[..4000])).collect();
    // The ten are being served (stalled in their bodies) once an eleventh
    // request is answered on the probe margin.
    wait_until(Duration::from_secs(10), "the cap to be reached", || {
        server.analyze("over.txt", b"over the cap").status == 503
    });
    let over = server.analyze("over.txt", b"over the cap");
    assert_eq!(over.status, 503, "{}", over.text());
    assert_eq!(over.error_code(), "overloaded");
    for _ in 0..20 {
        healthz_answers_quickly(&server);
        assert_eq!(server.get("/readyz").status, 200);
    }
    drop(held);
    wait_until(Duration::from_secs(10), "regular service again", || server.analyze("ok.txt", b"fine").status == 200);
}

fn resident_bytes(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// What the memfds `pid` holds open hold: uploads spooled into shared
/// memory, which no mapping (and so no RSS) shows.
fn memfd_bytes(pid: i32) -> u64 {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            std::fs::read_link(entry.path()).is_ok_and(|target| target.to_string_lossy().starts_with("/memfd:"))
        })
        .filter_map(|entry| std::fs::metadata(entry.path()).ok())
        .map(|metadata| metadata.len())
        .sum()
}

/// True when no byte sent to or from `port` waits in a socket queue
/// (`/proc/net/tcp`): everything the clients wrote has been read.
fn socket_queues_empty(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port = format!(":{port:04X}");
    table.lines().skip(1).all(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let ours = fields[1].ends_with(&port) || fields[2].ends_with(&port);
        !ours || fields[4] == "00000000:00000000"
    })
}

#[test]
fn an_upload_past_64_kib_is_spooled_into_a_memfd_as_it_arrives() {
    let server = Server::start(&["--workers", "1", "--body-timeout", "60"]);
    let pid = server.pid();
    let port: u16 = server.addr.rsplit(':').next().unwrap().parse().unwrap();
    let (_, body) = multipart(&[("big.bin", &vec![b'x'; 3 << 20])]);
    // Held back: the last 512 KiB, so the part is not complete.
    let sent = body.len() - (512 << 10);
    let stalled = stalled_upload(&server.addr, body.len(), &body[..sent]);
    wait_until(Duration::from_secs(30), "the server to read the stalled upload", || socket_queues_empty(port));
    let in_memfds = memfd_bytes(pid);
    // All the file's bytes that arrived, and nothing of the part's headers.
    assert!(in_memfds > (sent as u64) - 1024 && in_memfds <= sent as u64, "{in_memfds} bytes in memfds of {sent} sent");
    drop(stalled);
    healthz_answers_quickly(&server);
}

#[test]
fn a_hundred_stalled_uploads_of_3_5_mib_keep_server_memory_bounded() {
    const UPLOADS: usize = 100;
    const SENT: usize = 3_584 << 10;
    let server = Server::start(&["--workers", "1", "--body-timeout", "60"]);
    let pid = server.pid();
    let idle = resident_bytes(pid) + memfd_bytes(pid);
    let port: u16 = server.addr.rsplit(':').next().unwrap().parse().unwrap();
    let (_, body) = multipart(&[("big.bin", &vec![b'x'; 4 << 20])]);
    let prefix = &body[..SENT];
    let stalled: Vec<TcpStream> = std::thread::scope(|scope| {
        let senders: Vec<_> =
            (0..UPLOADS).map(|_| scope.spawn(|| stalled_upload(&server.addr, body.len(), prefix))).collect();
        senders.into_iter().map(|sender| sender.join().unwrap()).collect()
    });
    wait_until(Duration::from_secs(60), "the server to read every stalled upload", || socket_queues_empty(port));
    let in_memfds = memfd_bytes(pid);
    let held = resident_bytes(pid) + in_memfds;
    eprintln!(
        "server RSS and memfds: idle {} MiB, with {UPLOADS} stalled uploads of 3.5 MiB {} MiB ({} MiB in memfds)",
        idle >> 20,
        held >> 20,
        in_memfds >> 20
    );
    // The in-memory spools (memfds included) share a 64 MiB budget; the rest
    // is on disk. What remains is per-connection buffering (64 KiB reads,
    // multer's window).
    assert!(held < idle + (112 << 20), "RSS grew from {} to {} MiB", idle >> 20, held >> 20);
    drop(stalled);
    healthz_answers_quickly(&server);
}
