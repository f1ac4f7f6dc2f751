//! One client holding many connections (`--max-connections-per-peer`): a
//! client that opens connection after connection and sends their headers
//! slowly fills only its own share, and other clients are still served.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};

use crate::util::{multipart, parse_response, wait_until, Response, Server};

/// The address the greedy client connects from: loopback is all of
/// 127.0.0.0/8, so it is a peer of its own beside the tests' 127.0.0.1.
const GREEDY: [u8; 4] = [127, 0, 0, 2];

fn connect_from(source: [u8; 4], addr: &str) -> TcpStream {
    let target: SocketAddr = addr.parse().unwrap();
    let SocketAddr::V4(target) = target else { panic!("{addr} is not IPv4") };
    let fd: OwnedFd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::empty(), None).unwrap();
    let [a, b, c, d] = source;
    bind(fd.as_raw_fd(), &SockaddrIn::new(a, b, c, d, 0)).unwrap();
    connect(fd.as_raw_fd(), &SockaddrIn::from(target)).unwrap();
    let stream = TcpStream::from(fd);
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream
}

/// A connection that has sent the start of a request's headers and then
/// nothing: a slowloris.
fn slow_header(addr: &str) -> TcpStream {
    let mut stream = connect_from(GREEDY, addr);
    stream.write_all(b"POST /v1/analyze HTTP/1.1\r\nHost: docmill\r\nX-Slow: ").unwrap();
    stream
}

/// `POST /v1/analyze` of one small text from `source`; `None` when the
/// server closed the connection without an answer.
fn analyze_from(source: [u8; 4], addr: &str, path: &str) -> Option<Response> {
    let (content_type, body) = multipart(&[("note.txt", b"a note from the greedy client")]);
    let mut stream = connect_from(source, addr);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: docmill\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    (!raw.is_empty()).then(|| parse_response(&raw))
}

fn get_from(source: [u8; 4], addr: &str, path: &str) -> Option<Response> {
    let mut stream = connect_from(source, addr);
    let head = format!("GET {path} HTTP/1.1\r\nHost: docmill\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(head.as_bytes());
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    (!raw.is_empty()).then(|| parse_response(&raw))
}

#[test]
fn a_client_holding_slow_headers_fills_its_share_and_others_are_still_served() {
    let server = Server::start(&["--workers", "1", "--max-connections", "40", "--max-connections-per-peer", "8"]);
    let addr = server.addr.clone();
    let mut held: Vec<TcpStream> = (0..8).map(|_| slow_header(&addr)).collect();
    // The ninth of the peer's connections answers probes only: accepting
    // is in order, so once it answers, the eight are held.
    let over = analyze_from(GREEDY, &addr, "/v1/analyze").expect("the ninth connection is answered");
    assert_eq!(over.status, 503, "{}", over.text());
    assert_eq!(over.error_code(), "overloaded");
    assert!(over.text().contains("from this address"), "{}", over.text());
    let probe = get_from(GREEDY, &addr, "/healthz").expect("a probe past the peer's share is answered");
    assert_eq!(probe.status, 200, "{}", probe.text());
    // Past the server's own cap from this one peer: its connections are
    // closed as they come, and hold nothing.
    held.extend((0..50).map(|_| slow_header(&addr)));
    wait_until(Duration::from_secs(10), "the peer's flood to be closed at once", || {
        analyze_from(GREEDY, &addr, "/v1/analyze").is_none()
    });
    for _ in 0..5 {
        let polite = server.analyze("polite.txt", b"a polite client's document");
        assert_eq!(polite.status, 200, "{}", polite.text());
        assert_eq!(polite.json()["format"], "text");
        assert_eq!(server.get("/healthz").status, 200);
    }
    drop(held);
    wait_until(Duration::from_secs(10), "the peer to be served again", || {
        analyze_from(GREEDY, &addr, "/v1/analyze").is_some_and(|answer| answer.status == 200)
    });
}
