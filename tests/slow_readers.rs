//! Clients that ask for large answers and read them slowly, or not at all:
//! what the server holds for them is bounded (the answer memory budget, 256
//! MiB) and let go when they stop reading (the send deadline), and every
//! client that does read gets its whole answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::util::{multipart, open_fds, parse_response, peak_rss_bytes, wait_until, Server};

/// The server's answer memory budget (`http::answer::ANSWER_MEMORY_BUDGET`).
const BUDGET: u64 = 256 << 20;
/// What the server holds besides answers in these tests: its idle heap,
/// documents in flight, a report being decoded for a batch line.
const SLACK: u64 = 80 << 20;

/// Distinct words, so that the text stays text and its report is as large
/// as it.
fn prose(len: usize) -> Vec<u8> {
    let words = ["river", "stone", "bright", "morning", "quietly", "garden", "measured", "the", "window", "amber"];
    let mut text = Vec::with_capacity(len + 16);
    let mut i = 0usize;
    while text.len() < len {
        text.extend_from_slice(words[(i * 7 + i / 11) % words.len()].as_bytes());
        text.extend_from_slice(if i % 13 == 12 { b".\n" } else { b" " });
        i += 1;
    }
    text.truncate(len);
    text
}

/// A connection with a small receive buffer (128 KiB: smaller than
/// loopback's segment size, the sender would only send on its persist
/// timer once the client reads), so that a large answer waits on the
/// server's side while the client does not read.
fn slow_connection(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    nix::sys::socket::setsockopt(&stream, nix::sys::socket::sockopt::RcvBuf, &(128 << 10)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    stream
}

/// True when more than an answer's head waits in `stream`: the server sent
/// it body bytes.
fn has_answer_bytes(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 8192];
    stream.set_nonblocking(true).unwrap();
    let peeked = stream.peek(&mut buf).unwrap_or(0);
    stream.set_nonblocking(false).unwrap();
    peeked > 4096
}

fn send_get(stream: &mut TcpStream, addr: &str, path: &str) {
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
}

fn metric(server: &Server, name: &str) -> u64 {
    let text = server.get("/metrics").text();
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// True while the server's end of the connection from `client_port` is
/// established (`/proc/net/tcp`, state 01).
fn established(server_port: u16, client_port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let (local, remote) = (format!(":{server_port:04X}"), format!(":{client_port:04X}"));
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields[1].ends_with(&local) && fields[2].ends_with(&remote) && fields[3] == "01"
    })
}

/// A job of one text of `len` bytes with `text=true`, run to done; its id.
fn finished_job(server: &Server, len: usize) -> String {
    let response = server.post_files("/v1/jobs?text=true", &[("big.txt", &prose(len))]);
    assert_eq!(response.status, 202, "{}", response.text());
    let id = response.json()["id"].as_str().unwrap().to_owned();
    wait_until(Duration::from_secs(60), "the job to finish", || {
        server.get_json(&format!("/v1/jobs/{id}"))["status"] == "done"
    });
    id
}

// A client that stopped reading its answer held it (and its connection)
// for as long as it stayed connected.
#[test]
fn a_client_that_stops_reading_its_answer_is_cut_off_after_the_body_timeout() {
    let server = Server::start(&["--workers", "1", "--body-timeout", "1", "--job-timeout", "120"]);
    let pid = server.pid();
    let text = prose(12 << 20);
    // Warm: the worker's first report and the runtime's threads are there.
    assert_eq!(server.put("/v1/analyze?filename=warm.txt", b"A warm-up text.").status, 200);
    let mut stream = slow_connection(&server.addr);
    let client_port = stream.local_addr().unwrap().port();
    let server_port = stream.peer_addr().unwrap().port();
    let head = format!(
        "PUT /v1/analyze?filename=big.txt&text=true HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        text.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&text).unwrap();
    // The answer (over 12 MiB) cannot fit in the sockets' buffers; the
    // server gives up on the client and closes its end.
    // The deadline is generous: the debug build's engine, on a loaded
    // machine, takes a while over 12 MiB.
    wait_until(Duration::from_secs(120), "the server to close the connection of a client that reads nothing", || {
        !established(server_port, client_port)
    });
    assert!(open_fds(pid) < 64, "the server holds {} descriptors", open_fds(pid));
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let response = parse_response(&raw);
    assert_eq!(response.status, 200);
    let promised: usize = response.header("content-length").unwrap().parse().unwrap();
    assert!(response.body.len() < promised, "the whole answer ({promised} bytes) went out");
    assert!(server.stderr().lines().count() < 5, "the log is flooded:\n{}", server.stderr());
    assert_eq!(server.put("/v1/analyze?filename=after.txt", b"Still served.").status, 200);
}

// Every reader of a job's results held a page (here one 8 MiB line) in
// memory however slowly it read: eighty readers were 670 MB.
#[test]
fn eighty_slow_readers_of_a_large_job_result_share_the_answer_budget_and_all_get_it() {
    const READERS: usize = 80;
    let server = Server::start(&["--workers", "1", "--body-timeout", "120"]);
    let pid = server.pid();
    let id = finished_job(&server, 8 << 20);
    let whole = server.get(&format!("/v1/jobs/{id}/results"));
    assert_eq!(whole.status, 200);
    let idle = peak_rss_bytes(pid);
    let path = format!("/v1/jobs/{id}/results");
    let mut readers: Vec<TcpStream> = (0..READERS)
        .map(|_| {
            let mut stream = slow_connection(&server.addr);
            send_get(&mut stream, &server.addr, &path);
            stream
        })
        .collect();
    // The readers the budget admits get their page; the others wait for
    // room. Then they read, and every one gets the whole answer.
    wait_until(Duration::from_secs(60), "every reader to have its page or to wait for room", || {
        let with_page = readers.iter().filter(|stream| has_answer_bytes(stream)).count();
        with_page == READERS || with_page + metric(&server, "docmill_answers_waiting") as usize == READERS
    });
    assert_eq!(server.put("/v1/analyze?filename=small.txt", b"Interactive work is served.").status, 200);
    // Read all at once: a waiting reader gets room as the others finish.
    let answers: Vec<Vec<u8>> = std::thread::scope(|scope| {
        let reading: Vec<_> = readers
            .iter_mut()
            .map(|stream| {
                scope.spawn(move || {
                    let mut raw = Vec::new();
                    stream.read_to_end(&mut raw).unwrap();
                    raw
                })
            })
            .collect();
        reading.into_iter().map(|reader| reader.join().unwrap()).collect()
    });
    for raw in &answers {
        let response = parse_response(raw);
        assert_eq!(response.status, 200);
        assert!(response.body == whole.body, "a reader got {} bytes of {}", response.body.len(), whole.body.len());
    }
    let peak = peak_rss_bytes(pid);
    eprintln!("server peak RSS: {} MiB before the readers, {} MiB with {READERS}", idle >> 20, peak >> 20);
    assert!(peak < idle + BUDGET + SLACK, "peak RSS {} MiB from {} MiB", peak >> 20, idle >> 20);
    wait_until(Duration::from_secs(10), "the budget to be given back", || {
        metric(&server, "docmill_answer_memory_bytes") == 0
    });
}

// A batch's lines piled up in memory while its client uploaded and read
// nothing: sixty copies of an 8 MiB text with text=true were 500 MB.
#[test]
fn a_batch_whose_client_reads_nothing_stops_taking_documents_at_the_budget() {
    const COPIES: usize = 60;
    let server = Server::start(&["--workers", "1", "--body-timeout", "120"]);
    let pid = server.pid();
    let text = prose(8 << 20);
    assert_eq!(server.put("/v1/analyze?filename=warm.txt", b"A warm-up text.").status, 200);
    let idle = peak_rss_bytes(pid);
    let files: Vec<(&str, &[u8])> = (0..COPIES).map(|_| ("copy.txt", text.as_slice())).collect();
    let (content_type, body) = multipart(&files);
    let mut stream = slow_connection(&server.addr);
    let head = format!(
        "POST /v1/batch?text=true HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let uploading = std::thread::spawn(move || writer.write_all(&body).is_ok());
    // Either the upload ends (the server took it all) or the server stops
    // taking documents once the lines fill the budget.
    wait_until(Duration::from_secs(60), "the upload to end or the batch to wait for room", || {
        uploading.is_finished() || metric(&server, "docmill_answers_waiting") > 0
    });
    assert_eq!(server.put("/v1/analyze?filename=small.txt", b"Interactive work is served.").status, 200);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    assert!(uploading.join().unwrap(), "the upload was cut off");
    let response = parse_response(&raw);
    assert_eq!(response.status, 200);
    let lines: Vec<Value> =
        String::from_utf8(response.body).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), COPIES + 1, "a line per copy and the summary");
    assert!(lines[..COPIES].iter().all(|line| line["report"]["text"].as_str().map(str::len) == Some(text.len())));
    assert_eq!(lines[COPIES]["summary"]["documents"], COPIES);
    let peak = peak_rss_bytes(pid);
    eprintln!("server peak RSS: {} MiB idle, {} MiB with the unread batch", idle >> 20, peak >> 20);
    assert!(peak < idle + BUDGET + SLACK, "peak RSS {} MiB from {} MiB", peak >> 20, idle >> 20);
}

// Most HTTP libraries send a request's whole body before they read its
// answer. A batch whose lines outgrew a fixed queue of lines and the socket
// buffers stopped reading the upload long before the answer budget, and
// both sides waited on each other until the body timeout cut the
// connection, every result lost.
#[test]
fn a_batch_whose_client_sends_everything_before_reading_gets_every_line() {
    const PARTS: usize = 500;
    let server = Server::start(&["--workers", "2", "--body-timeout", "20"]);
    let texts: Vec<Vec<u8>> = (0..PARTS)
        .map(|i| {
            let mut text = format!("Document number {i}.\n").into_bytes();
            text.extend(prose(40_000));
            text
        })
        .collect();
    let names: Vec<String> = (0..PARTS).map(|i| format!("part-{i}.txt")).collect();
    let files: Vec<(&str, &[u8])> =
        names.iter().zip(&texts).map(|(name, text)| (name.as_str(), text.as_slice())).collect();
    let (content_type, body) = multipart(&files);
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST /v1/batch?text=true HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        server.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let sent = stream.write_all(&body);
    assert!(sent.is_ok(), "the upload of {} MB stopped: {sent:?}", body.len() >> 20);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let response = parse_response(&raw);
    assert_eq!(response.status, 200);
    let lines: Vec<Value> =
        String::from_utf8(response.body).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), PARTS + 1, "a line per part and the summary");
    for line in &lines[..PARTS] {
        let index = line["index"].as_u64().unwrap() as usize;
        assert_eq!(line["filename"], names[index]);
        assert_eq!(line["report"]["text"].as_str().map(str::len), Some(texts[index].len()));
    }
    assert_eq!(lines[PARTS]["summary"]["documents"], PARTS);
    assert_eq!(lines[PARTS]["summary"]["failed"], 0);
}
