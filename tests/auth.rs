//! API keys and tenants: `/v1/*` needs a key when keys are configured, probes
//! stay open, and each key sees only the jobs it created.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::util::{multipart, parse_response, request, wait_until, Response, Server};

const ALPHA: &str = "alpha-3f9c2e7d41b8";
const BETA: &str = "beta-6a0d9b2c57e1";

fn get_as(server: &Server, key: Option<&str>, path: &str) -> Response {
    call_as(server, key, "GET", path)
}

fn call_as(server: &Server, key: Option<&str>, method: &str, path: &str) -> Response {
    let authorization = key.map(|key| format!("Bearer {key}"));
    let headers: Vec<(&str, &str)> = authorization.iter().map(|value| ("Authorization", value.as_str())).collect();
    request(&server.addr, method, path, &headers, b"")
}

fn post_files_as(server: &Server, key: Option<&str>, path: &str, files: &[(&str, &[u8])]) -> Response {
    let (content_type, body) = multipart(files);
    let authorization = key.map(|key| format!("Bearer {key}"));
    let mut headers = vec![("Content-Type", content_type.as_str())];
    if let Some(value) = &authorization {
        headers.push(("Authorization", value.as_str()));
    }
    request(&server.addr, "POST", path, &headers, &body)
}

/// On one keep-alive connection: an unauthenticated upload of `bytes`, then
/// `GET /healthz`.
fn refused_upload_then_healthz(addr: &str, bytes: &[u8]) -> (Response, Response) {
    let (content_type, body) = multipart(&[("big.txt", bytes)]);
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST /v1/analyze HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(&body);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let refused = read_one_response(&mut reader);
    let _ = stream.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes());
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(!rest.is_empty(), "the connection was closed after the 401");
    (refused, parse_response(&rest))
}

/// One response with a Content-Length body, leaving the connection open.
fn read_one_response(reader: &mut BufReader<TcpStream>) -> Response {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let before = head.len();
        reader.read_until(b'\n', &mut head).unwrap();
        assert!(head.len() > before, "connection closed in a response head");
    }
    let length: usize = String::from_utf8_lossy(&head)
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .expect("a Content-Length");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    head.extend_from_slice(&body);
    parse_response(&head)
}

fn assert_unauthorized(response: &Response, what: &str) {
    assert_eq!(response.status, 401, "{what}: {}", response.text());
    assert_eq!(response.error_code(), "unauthorized", "{what}");
    let challenge = response.header("www-authenticate").unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
}

fn job_ids(listing: &Response) -> Vec<String> {
    assert_eq!(listing.status, 200, "{}", listing.text());
    let listing: Value = listing.json();
    listing["jobs"].as_array().unwrap().iter().map(|job| job["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn with_keys_every_v1_request_needs_one_and_probes_stay_open() {
    let keys = format!("{ALPHA}, {BETA}");
    let server = Server::start_with_env(&["--workers", "1"], &[("DOCMILL_API_KEYS", &keys)]);
    assert_unauthorized(&get_as(&server, None, "/v1/pool"), "no key");
    assert_unauthorized(&get_as(&server, Some("not-a-key"), "/v1/pool"), "a wrong key");
    assert_unauthorized(&get_as(&server, Some(&ALPHA[..ALPHA.len() - 1]), "/v1/pool"), "a prefix of a key");
    assert_unauthorized(&get_as(&server, None, "/v1/no-such-endpoint"), "an unknown /v1 path");
    let basic = request(&server.addr, "GET", "/v1/pool", &[("Authorization", &format!("Basic {ALPHA}"))], b"");
    assert_unauthorized(&basic, "another scheme");
    assert_eq!(get_as(&server, Some(ALPHA), "/v1/pool").status, 200);
    assert_eq!(get_as(&server, Some(BETA), "/v1/pool").status, 200);
    for probe in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get_as(&server, None, probe).status, 200, "{probe} stays open");
    }
    let report = post_files_as(&server, Some(ALPHA), "/v1/analyze", &[("a.txt", b"Allowed in.")]);
    assert_eq!(report.status, 200, "{}", report.text());

    // A refused upload is read to its end first, so a client that sends its
    // whole body sees the 401, not a broken pipe, and its connection stays
    // usable.
    let big = vec![b'x'; 8 << 20];
    let (refused, next) = refused_upload_then_healthz(&server.addr, &big);
    assert_unauthorized(&refused, "a large upload");
    assert_eq!(next.status, 200, "the same connection serves the next request");

    let log = server.stderr();
    for key in [ALPHA, BETA, "not-a-key"] {
        assert!(!log.contains(key), "a key in the log:\n{log}");
    }
}

#[test]
fn jobs_belong_to_the_key_that_created_them() {
    let keys = format!("{ALPHA},{BETA}");
    let server = Server::start_with_env(&["--workers", "1"], &[("DOCMILL_API_KEYS", &keys)]);
    let created = post_files_as(&server, Some(ALPHA), "/v1/jobs", &[("a.txt", b"Alpha's document.")]);
    assert_eq!(created.status, 202, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_string();
    wait_until(Duration::from_secs(20), "the job to finish", || {
        get_as(&server, Some(ALPHA), &format!("/v1/jobs/{id}")).json()["status"] == "done"
    });
    assert_eq!(get_as(&server, Some(ALPHA), &format!("/v1/jobs/{id}/results")).status, 200);
    assert_eq!(job_ids(&get_as(&server, Some(ALPHA), "/v1/jobs")), vec![id.as_str()]);

    for path in [format!("/v1/jobs/{id}"), format!("/v1/jobs/{id}/results")] {
        let response = get_as(&server, Some(BETA), &path);
        assert_eq!((response.status, response.error_code().as_str()), (404, "not_found"), "{path}");
    }
    let cancel = call_as(&server, Some(BETA), "DELETE", &format!("/v1/jobs/{id}"));
    assert_eq!((cancel.status, cancel.error_code().as_str()), (404, "not_found"));
    assert!(job_ids(&get_as(&server, Some(BETA), "/v1/jobs")).is_empty(), "another key lists none of them");
    let after = get_as(&server, Some(BETA), &format!("/v1/jobs?after={id}"));
    assert_eq!(after.status, 400, "another key's job is no cursor: {}", after.text());
    assert_unauthorized(&get_as(&server, None, &format!("/v1/jobs/{id}")), "no key");
    // Still there for its owner.
    assert_eq!(get_as(&server, Some(ALPHA), &format!("/v1/jobs/{id}")).json()["status"], "done");
}

#[test]
fn without_keys_everything_is_open_and_metrics_can_have_a_key_of_its_own() {
    let server = Server::start(&["--workers", "1", "--metrics-key", "scraper-5e8d1c"]);
    assert_eq!(get_as(&server, None, "/v1/pool").status, 200, "no API keys: a single tenant, as before");
    assert_eq!(post_files_as(&server, None, "/v1/jobs", &[("a.txt", b"open")]).status, 202);
    assert_unauthorized(&get_as(&server, None, "/metrics"), "metrics without its key");
    assert_unauthorized(&get_as(&server, Some("wrong"), "/metrics"), "metrics with a wrong key");
    let metrics = get_as(&server, Some("scraper-5e8d1c"), "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics.text().contains("docmill_"), "{}", metrics.text());
    assert_eq!(get_as(&server, None, "/healthz").status, 200);
    assert!(!server.stderr().contains("without API keys"), "loopback is not warned about");
}

#[test]
fn the_key_file_is_read_again_on_sighup() {
    let keys = tempfile::tempdir().unwrap();
    let file = keys.path().join("keys");
    std::fs::write(&file, format!("# one key per line\n\n{ALPHA}\n")).unwrap();
    let server = Server::start(&["--workers", "1", "--api-key-file", file.to_str().unwrap()]);
    assert_eq!(get_as(&server, Some(ALPHA), "/v1/pool").status, 200);
    assert_unauthorized(&get_as(&server, Some(BETA), "/v1/pool"), "a key not in the file");
    std::fs::write(&file, format!("{BETA}\n")).unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(server.pid()), nix::sys::signal::Signal::SIGHUP).unwrap();
    wait_until(Duration::from_secs(10), "the new key to be accepted", || {
        get_as(&server, Some(BETA), "/v1/pool").status == 200
    });
    assert_unauthorized(&get_as(&server, Some(ALPHA), "/v1/pool"), "a key removed from the file");
    // An empty key file locks everyone out rather than opening the server.
    std::fs::write(&file, "").unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(server.pid()), nix::sys::signal::Signal::SIGHUP).unwrap();
    wait_until(Duration::from_secs(10), "no key to be accepted", || {
        get_as(&server, Some(BETA), "/v1/pool").status == 401
    });
    assert_eq!(get_as(&server, None, "/healthz").status, 200);
}

#[test]
fn serving_beyond_loopback_without_keys_is_warned_about() {
    let server = Server::start(&["--workers", "1", "--bind", "0.0.0.0:0"]);
    wait_until(Duration::from_secs(10), "the warning", || server.stderr().contains("without API keys"));
    let guarded = Server::start_with_env(&["--workers", "1", "--bind", "0.0.0.0:0"], &[("DOCMILL_API_KEYS", ALPHA)]);
    assert_eq!(get_as(&guarded, Some(ALPHA), "/v1/pool").status, 200);
    assert!(!guarded.stderr().contains("without API keys"), "{}", guarded.stderr());
}

#[test]
fn unusable_key_configuration_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for (env, args) in
        [(Some(" , "), vec![]), (Some("has space inside"), vec![]), (None, vec!["--api-key-file", "/nonexistent/keys"])]
    {
        let mut command = std::process::Command::new(crate::util::docmill_bin());
        command.args(["serve", "--bind", "127.0.0.1:0", "--workers", "1"]).args(&args).current_dir(dir.path());
        if let Some(keys) = env {
            command.env("DOCMILL_API_KEYS", keys);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{env:?} {args:?}: {stderr}");
        assert!(!stderr.contains("has space inside"), "the key is not echoed: {stderr}");
    }
}
