//! Early refusals reach clients that write the whole body before reading
//! (as Python's `http.client` does), and every error, the framework's own
//! included, has the contract's JSON shape.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::util::{read_response, request, Response, Server};

/// Big enough that the kernel's socket buffers cannot take it all: a server
/// that answers without reading makes the client's write fail.
const BODY_BYTES: usize = 8 << 20;

/// Writes the request head and the whole body, failing the test if the
/// server broke the connection meanwhile, and only then reads the answer.
fn send_all_then_read(addr: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    if let Err(err) = stream.write_all(body) {
        panic!("{method} {path} ({content_type}): the server broke the connection mid-body: {err}");
    }
    read_response(&mut stream)
}

/// Method, path, Content-Type, body; the status and code expected.
type Case<'a> = (&'a str, &'a str, &'a str, &'a [u8], u16, &'a str);

fn multipart_body(part_headers: &str, filler: usize, line_end: &str) -> Vec<u8> {
    let boundary = "docmill-test-boundary-7d1f";
    let mut body = format!("--{boundary}{line_end}{part_headers}{line_end}{line_end}").into_bytes();
    body.resize(body.len() + filler, b'x');
    body.extend_from_slice(format!("{line_end}--{boundary}--{line_end}").as_bytes());
    body
}

#[test]
fn early_refusals_read_the_body_first_so_a_client_writing_it_all_sees_the_status() {
    let server = Server::start(&["--workers", "1"]);
    let multipart = "multipart/form-data; boundary=docmill-test-boundary-7d1f";
    let file_headers = "Content-Disposition: form-data; name=\"file\"; filename=\"a.bin\"";
    let plain = vec![b'x'; BODY_BYTES];
    let well_formed = multipart_body(file_headers, BODY_BYTES, "\r\n");
    let huge_headers =
        multipart_body(&format!("{file_headers}\r\nX-Pad: {}", "p".repeat(20 << 10)), BODY_BYTES, "\r\n");
    let lf_only = multipart_body(file_headers, BODY_BYTES, "\n");
    let cases: Vec<Case> = vec![
        ("POST", "/v1/analyze", "text/plain", &plain, 415, "unsupported_media_type"),
        ("POST", "/v1/batch", "application/octet-stream", &plain, 415, "unsupported_media_type"),
        ("POST", "/v1/jobs", "text/plain", &plain, 415, "unsupported_media_type"),
        ("POST", "/v1/nowhere", multipart, &well_formed, 404, "not_found"),
        ("PATCH", "/v1/analyze", multipart, &well_formed, 405, "method_not_allowed"),
        ("POST", "/healthz", "text/plain", &plain, 405, "method_not_allowed"),
        ("POST", "/v1/analyze", "multipart/form-data", &well_formed, 400, "bad_request"),
        ("POST", "/v1/analyze", multipart, &huge_headers, 400, "bad_request"),
        ("POST", "/v1/batch", multipart, &huge_headers, 400, "bad_request"),
        ("POST", "/v1/analyze", multipart, &lf_only, 400, "bad_request"),
        ("POST", "/v1/jobs", multipart, &lf_only, 400, "bad_request"),
        ("POST", "/v1/analyze?text=maybe", multipart, &well_formed, 400, "bad_request"),
    ];
    for (method, path, content_type, body, status, code) in cases {
        let response = send_all_then_read(&server.addr, method, path, content_type, body);
        assert_eq!(response.status, status, "{method} {path} ({content_type}): {}", response.text());
        assert_eq!(response.error_code(), code, "{method} {path}");
    }
    // Nothing was left behind by the refused job uploads.
    let jobs_dir = server.dir.path().join("docmill-data/jobs");
    assert_eq!(std::fs::read_dir(&jobs_dir).map(|dir| dir.count()).unwrap_or(0), 0);
}

#[test]
fn framework_errors_are_json_and_booleans_are_strict() {
    let server = Server::start(&["--workers", "1"]);
    for path in ["/v1/analyze?filename=a.txt&text=maybe", "/v1/analyze?filename=a.txt&cache=2"] {
        let response = request(&server.addr, "PUT", path, &[], b"Some text.");
        assert_eq!(response.status, 400, "{path}: {}", response.text());
        assert_eq!(response.error_code(), "bad_request");
        assert!(response.json()["error"]["message"].as_str().unwrap().contains("expected true, false"));
    }
    for (value, has_text) in [("true", true), ("YES", true), ("1", true), ("false", false), ("no", false), ("0", false)]
    {
        let response = server.put(&format!("/v1/analyze?filename=a.txt&text={value}"), b"Some text.");
        assert_eq!(response.status, 200, "text={value}: {}", response.text());
        assert_eq!(response.json()["text"].is_string(), has_text, "text={value}");
    }
    for limit in ["abc", "0", "1001", "-1"] {
        let bad_limit = server.get(&format!("/v1/jobs?limit={limit}"));
        assert_eq!(bad_limit.status, 400, "limit={limit}: {}", bad_limit.text());
        assert_eq!(bad_limit.error_code(), "bad_request");
        assert_eq!(bad_limit.header("content-type"), Some("application/json"));
    }
    assert_eq!(server.get("/v1/jobs?limit=1000").status, 200);
    let not_allowed = request(&server.addr, "DELETE", "/v1/analyze", &[], b"");
    assert_eq!(not_allowed.status, 405, "{}", not_allowed.text());
    assert_eq!(not_allowed.error_code(), "method_not_allowed");
    let not_found = server.get("/nope");
    assert_eq!(not_found.status, 404);
    assert_eq!(not_found.error_code(), "not_found");
}

/// Writes `raw` as it is and reads the answer until the server closes.
fn raw_exchange(addr: &str, raw: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(raw).unwrap();
    read_response(&mut stream)
}

#[test]
fn requests_hyper_cannot_parse_get_the_json_error_shape_and_the_server_serves_on() {
    let server = Server::start(&["--workers", "1"]);
    // Exactly the 64 KiB hyper buffers, and no end of head: all of it is
    // read, so the server's close is not a reset that could lose its answer.
    let start = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: ";
    let huge_header = format!("{start}{}", "a".repeat((64 << 10) - start.len()));
    let cases: [(&str, &[u8], u16); 4] = [
        ("a garbage request line", b"GARBAGE\r\n\r\n", 400),
        (
            "two Content-Length headers",
            b"PUT /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            400,
        ),
        ("an unknown HTTP version", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 400),
        ("a head past the read buffer", huge_header.as_bytes(), 431),
    ];
    for (what, raw, status) in cases {
        let response = raw_exchange(&server.addr, raw);
        assert_eq!(response.status, status, "{what}: {}", response.text());
        assert_eq!(response.header("content-type"), Some("application/json"), "{what}");
        assert_eq!(response.error_code(), "bad_request", "{what}: {}", response.text());
        assert!(!response.json()["error"]["message"].as_str().unwrap().is_empty(), "{what}");
    }
    assert_eq!(server.get("/healthz").status, 200);
    assert_eq!(server.analyze("ok.txt", b"fine").status, 200);
}

#[test]
fn a_chunked_batch_past_the_request_limit_ends_with_its_lines_not_a_broken_pipe() {
    let server = Server::start(&["--workers", "1", "--max-request-bytes", "64KiB"]);
    // 8 MiB of 1 KiB parts, sent chunked (so no Content-Length to refuse
    // up front): the limit is crossed mid-body, after some documents.
    let parts: Vec<(String, Vec<u8>)> = (0..BODY_BYTES / 1024)
        .map(|i| (format!("part{i}.txt"), format!("Document number {i} of a long batch. ").repeat(28).into_bytes()))
        .collect();
    let parts: Vec<(&str, &[u8])> = parts.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())).collect();
    let (content_type, body) = crate::util::multipart(&parts);
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.addr
    );
    stream.write_all(head.as_bytes()).unwrap();
    for chunk in body.chunks(64 << 10) {
        let sent = stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .and_then(|()| stream.write_all(chunk))
            .and_then(|()| stream.write_all(b"\r\n"));
        if let Err(err) = sent {
            panic!("the server broke the connection mid-body: {err}");
        }
    }
    stream.write_all(b"0\r\n\r\n").unwrap();
    let response = read_response(&mut stream);
    assert_eq!(response.status, 200);
    let lines: Vec<serde_json::Value> =
        response.text().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let summary = &lines.last().unwrap()["summary"];
    assert!(summary.is_object(), "the summary ends the answer: {lines:?}");
    let refusals: Vec<&serde_json::Value> = lines.iter().filter(|line| line["error"].is_object()).collect();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0]["error"]["code"], "payload_too_large", "{}", refusals[0]);
    assert!(lines.iter().any(|line| line["report"].is_object()), "the documents before the limit have reports");
}

// A request with both Transfer-Encoding and Content-Length is read by its
// chunks (RFC 9112 §6.3), and its connection is closed after the answer:
// whatever a proxy that went by the Content-Length took as a second request
// is never served.
#[test]
fn a_request_framed_two_ways_is_answered_alone_and_its_connection_closed() {
    let server = Server::start(&["--workers", "1"]);
    let smuggled = b"PUT /v1/analyze?filename=a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n\
        5\r\nhello\r\n0\r\n\r\nGET /v1/jobs HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(smuggled).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let answers = raw.windows(9).filter(|window| window == b"HTTP/1.1 ").count();
    assert_eq!(answers, 1, "{}", String::from_utf8_lossy(&raw));
    let response = crate::util::parse_response(&raw);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["stats"]["words"], 1, "the body is the chunked one: {}", response.text());
}
