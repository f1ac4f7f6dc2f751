//! `docmill submit`: directory walks, ignore files, errors per file, 503
//! retries, resuming after the server went away, failing fast, path prefixes, API keys and TLS.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{docmill_bin, run_cli, wait_until, write_file, Server};

pub fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

pub fn by_filename(lines: &[Value]) -> BTreeMap<String, Value> {
    lines.iter().map(|l| (l["filename"].as_str().unwrap().to_string(), l.clone())).collect()
}

#[test]
fn submit_walks_a_tree_and_reports_every_file() {
    let server = Server::start(&["--workers", "2"]);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("docs");
    std::fs::create_dir_all(tree.join("a/b")).unwrap();
    write_file(&tree, "top.txt", b"Top level document.");
    write_file(&tree.join("a"), "mid.txt", b"Middle document.");
    write_file(&tree.join("a/b"), "deep.md", b"# Deep\n\nA nested document.");
    write_file(&tree, "empty.txt", b"");
    write_file(&tree, ".hidden.txt", b"hidden files are skipped");
    write_file(&tree, ".gitignore", b"*.log\n");
    write_file(&tree, "debug.log", b"ignored by .gitignore");
    write_file(&tree, "crash.bin", b"DOCMILL-FAULT:segv");
    let out = work.path().join("out.ndjson");
    let server_url = format!("http://{}", server.addr);
    let output =
        run_cli(work.path(), &["submit", "--server", &server_url, "--concurrency", "3", "--out", "out.ndjson", "docs"]);
    assert_eq!(output.status.code(), Some(1), "one file failed: {}", String::from_utf8_lossy(&output.stderr));
    let lines = read_lines(&out);
    let files = by_filename(&lines);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["docs/a/b/deep.md", "docs/a/mid.txt", "docs/crash.bin", "docs/empty.txt", "docs/top.txt"]);
    assert_eq!(files["docs/top.txt"]["report"]["stats"]["words"], 3);
    assert_eq!(files["docs/empty.txt"]["report"]["size"], 0);
    assert_eq!(files["docs/crash.bin"]["error"]["code"], "worker_crashed");
    let mut indexes: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    indexes.sort();
    assert_eq!(indexes, [0, 1, 2, 3, 4]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("5 files, 4 reports, 1 errors"), "{stderr}");

    // --no-ignore takes hidden and ignored files too; --exclude drops some.
    let output = run_cli(
        work.path(),
        &["submit", "--server", &server_url, "--out", "all.ndjson", "--no-ignore", "--exclude", "*.bin", "docs"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let all = by_filename(&read_lines(&work.path().join("all.ndjson")));
    assert!(all.contains_key("docs/.hidden.txt") && all.contains_key("docs/debug.log"), "{:?}", all.keys());
    assert!(!all.contains_key("docs/crash.bin"));

    // A path that does not exist is `not_found`, as `analyze` says.
    let output = run_cli(work.path(), &["submit", "--server", &server_url, "--out", "gone.ndjson", "no-such.txt"]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let gone = read_lines(&work.path().join("gone.ndjson"));
    assert_eq!(gone[0]["error"]["code"], "not_found", "{gone:?}");
    let analyzed = run_cli(work.path(), &["analyze", "no-such.txt"]);
    let analyzed: Value = serde_json::from_slice(&analyzed.stdout).unwrap();
    assert_eq!(analyzed["error"]["code"], "not_found", "{analyzed}");
}

#[test]
fn submit_retries_503_until_served() {
    // One worker, a queue of one, six concurrent uploads of slow documents:
    // some are shed with 503 and must be retried, none may be lost.
    let server = Server::start(&["--workers", "1", "--queue", "1"]);
    let work = tempfile::tempdir().unwrap();
    for i in 0..6 {
        write_file(work.path(), &format!("{i}.bin"), b"DOCMILL-FAULT:sleep-200");
    }
    let server_url = format!("http://{}", server.addr);
    let output =
        run_cli(work.path(), &["submit", "--server", &server_url, "--concurrency", "6", "--out", "out.ndjson", "."]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let lines = read_lines(&work.path().join("out.ndjson"));
    assert_eq!(lines.len(), 6);
    assert!(lines.iter().all(|l| l["report"].is_object()), "{lines:?}");
    let shed = server.get("/metrics").text();
    let shed_503 = shed.lines().any(|line| {
        line.starts_with("docmill_http_requests_total")
            && line.contains("route=\"/v1/analyze\"")
            && line.contains("status=\"503\"")
    });
    assert!(shed_503, "no 503 was ever sent; the test proves nothing");
}

#[test]
fn submit_to_a_closed_port_fails_within_seconds_with_one_line() {
    let work = tempfile::tempdir().unwrap();
    for i in 0..50 {
        write_file(work.path(), &format!("{i}.txt"), b"text");
    }
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let started = Instant::now();
    let output = run_cli(work.path(), &["submit", "--server", &url, "--out", "out.ndjson", "."]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    assert!(stderr.contains("cannot reach the server") && stderr.contains("refused"), "{stderr}");
    let out = std::fs::read_to_string(work.path().join("out.ndjson")).unwrap_or_default();
    assert!(out.is_empty(), "no line per file against a server that never answered: {out}");
    assert_eq!(run_cli(work.path(), &["submit", "a.txt"]).status.code(), Some(2), "--server is required");
}

/// Request lines and `Authorization` headers a fake server received.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// A stand-in server on loopback that answers every request with a small
/// report and records each request's line and `Authorization` header. With
/// `api_key`, a PUT without `Bearer API_KEY` gets 401.
fn fake_server(api_key: Option<&'static str>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let (mut length, mut authorization) = (0usize, String::new());
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap_or((&header, ""));
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "authorization" => authorization = value.trim().to_string(),
                    _ => {}
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            record.lock().unwrap().push((request_line.trim().to_string(), authorization.clone()));
            let refused =
                api_key.is_some_and(|key| request_line.starts_with("PUT") && authorization != format!("Bearer {key}"));
            let (status, report): (&str, &[u8]) = if refused {
                ("401 Unauthorized", br#"{"error":{"code":"unauthorized","message":"unknown API key"}}"#)
            } else {
                ("200 OK", br#"{"format":"text","sha256":"00"}"#)
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                report.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(report);
        }
    });
    (addr, seen)
}

#[test]
fn submit_reaches_a_server_under_a_path_prefix_with_its_api_key() {
    let (addr, seen) = fake_server(None);
    let work = tempfile::tempdir().unwrap();
    write_file(work.path(), "a b.txt", b"Some text.");
    // No trailing slash: the prefix is still a directory.
    let server_url = format!("http://{addr}/docmill");
    let output = Command::new(docmill_bin())
        .args(["submit", "--server", &server_url, "a b.txt"])
        .env("DOCMILL_API_KEY", "sekrit-key")
        .current_dir(work.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let line: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["report"]["format"], "text");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].0, "GET /docmill/healthz HTTP/1.1", "{seen:?}");
    assert_eq!(seen[1].0, "PUT /docmill/v1/analyze?filename=a+b.txt HTTP/1.1", "{seen:?}");
    assert_eq!(seen[1].1, "Bearer sekrit-key", "{seen:?}");
}

#[test]
fn submit_speaks_tls_to_an_https_server() {
    // A listener that is not a TLS server: it records the first bytes the
    // client sends and hangs up, so the handshake fails.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let first_bytes = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut bytes = [0u8; 3];
        stream.read_exact(&mut bytes).unwrap();
        bytes
    });
    let work = tempfile::tempdir().unwrap();
    write_file(work.path(), "a.txt", b"text");
    let output = run_cli(work.path(), &["submit", "--server", &format!("https://{addr}/"), "a.txt"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot reach the server at https://"), "{stderr}");
    // A TLS record of type handshake (22), version 3.x: a ClientHello.
    let bytes = first_bytes.join().unwrap();
    assert_eq!(bytes[..2], [0x16, 0x03], "not a TLS handshake: {bytes:?}");
}

#[test]
fn submit_reads_repeatable_globs_from_the_environment() {
    let (addr, seen) = fake_server(None);
    let work = tempfile::tempdir().unwrap();
    for name in ["a.md", "b.txt", "c.csv", "d.pdf", "e.log"] {
        write_file(work.path(), name, b"x");
    }
    let output = Command::new(docmill_bin())
        .args(["submit", "--server", &format!("http://{addr}"), "."])
        .env("DOCMILL_INCLUDE", "*.md,*.{txt,csv},*.log")
        .env("DOCMILL_EXCLUDE", "e.*")
        .current_dir(work.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let mut sent: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(line, _)| line.split("filename=").nth(1).map(|rest| rest.split(' ').next().unwrap().to_string()))
        .collect();
    sent.sort();
    assert_eq!(sent, ["./a.md", "./b.txt", "./c.csv"].map(|name| name.replace('/', "%2F")));
}

#[test]
fn submit_stops_when_the_server_goes_away_and_resume_sends_the_rest() {
    let mut server = Server::start(&["--workers", "1"]);
    let work = tempfile::tempdir().unwrap();
    for i in 0..20 {
        write_file(work.path(), &format!("{i:02}.bin"), format!("DOCMILL-FAULT:sleep-100 {i}").as_bytes());
    }
    let out = work.path().join("out.ndjson");
    let mut submit = Command::new(docmill_bin())
        .args([
            "submit",
            "--server",
            &format!("http://{}", server.addr),
            "--concurrency",
            "1",
            "--out",
            "out.ndjson",
            ".",
        ])
        .current_dir(work.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines_so_far = || std::fs::read_to_string(&out).map(|text| text.lines().count()).unwrap_or(0);
    wait_until(Duration::from_secs(20), "two lines written", || lines_so_far() >= 2);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let killed = Instant::now();
    let status = loop {
        if let Some(status) = submit.try_wait().unwrap() {
            break status;
        }
        assert!(killed.elapsed() < Duration::from_secs(15), "submit kept going against a dead server");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    submit.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("lost the server") && stderr.contains("resume with --resume"), "{stderr}");
    let written = read_lines(&out);
    assert!(written.len() < 20, "the run stopped early");
    assert!(written.iter().all(|line| line["report"].is_object()), "files not sent get no line: {written:?}");

    let server = Server::start(&["--workers", "1"]);
    let resumed = run_cli(
        work.path(),
        &["submit", "--server", &format!("http://{}", server.addr), "--out", "out.ndjson", "--resume", "."],
    );
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    let mut names: Vec<String> = read_lines(&out).iter().map(|l| l["filename"].as_str().unwrap().to_string()).collect();
    names.sort();
    let expected: Vec<String> = (0..20).map(|i| format!("./{i:02}.bin")).collect();
    assert_eq!(names, expected, "every file exactly once");
    let mut indexes: Vec<u64> = read_lines(&out).iter().map(|l| l["index"].as_u64().unwrap()).collect();
    indexes.sort();
    assert_eq!(indexes, (0..20).collect::<Vec<u64>>(), "a file keeps its index in the walk when resumed");
}

/// A one-file HTTPS server for [`submit_uploads_over_https`]: answers GET
/// with "ok" and PUT with the path and `Authorization` it received.
const HTTPS_SERVER_PY: &str = r#"
import http.server, json, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.answer(b"ok")
    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer(json.dumps({"path": self.path, "auth": self.headers.get("Authorization")}).encode())
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("leaf.pem", "leaf.key")
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

#[test]
fn submit_uploads_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let run = |program: &str, args: &[&str]| {
        Command::new(program).args(args).current_dir(dir.path()).output().is_ok_and(|out| out.status.success())
    };
    if !run("openssl", &["version"]) || !run("python3", &["--version"]) {
        loud!("SKIPPED submit_uploads_over_https: it needs openssl and python3 (.ci/run installs them)");
        return;
    }
    // A CA, and a certificate for 127.0.0.1 signed by it.
    assert!(run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=docmill test CA"
        ]
    ));
    assert!(run(
        "openssl",
        &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1"]
    ));
    write_file(
        dir.path(),
        "leaf.cnf",
        b"subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    assert!(run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.cnf"
        ]
    ));
    write_file(dir.path(), "server.py", HTTPS_SERVER_PY.as_bytes());
    let mut server = Command::new("python3")
        .arg("server.py")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut port).unwrap();
    write_file(dir.path(), "a.txt", b"text");
    let output = Command::new(docmill_bin())
        .args([
            "submit",
            "--server",
            &format!("https://127.0.0.1:{}/docmill/", port.trim()),
            "--api-key",
            "k1",
            "a.txt",
        ])
        // The system's store does not know our CA; rustls reads this one.
        .env("SSL_CERT_FILE", dir.path().join("ca.pem"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let line: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["report"]["path"], "/docmill/v1/analyze?filename=a.txt");
    assert_eq!(line["report"]["auth"], "Bearer k1");
}

#[test]
fn submit_stops_at_the_first_refused_api_key() {
    let (addr, seen) = fake_server(Some("right-key"));
    let work = tempfile::tempdir().unwrap();
    for i in 0..10 {
        write_file(work.path(), &format!("{i}.txt"), b"x");
    }
    let server_url = format!("http://{addr}");
    let output = run_cli(
        work.path(),
        &[
            "submit",
            "--server",
            &server_url,
            "--api-key",
            "wrong-key",
            "--concurrency",
            "1",
            "--out",
            "out.ndjson",
            ".",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused the request (401 Unauthorized") && stderr.contains("unknown API key"), "{stderr}");
    let puts = seen.lock().unwrap().iter().filter(|(line, _)| line.starts_with("PUT")).count();
    assert_eq!(puts, 1, "one refusal is enough");
    assert_eq!(std::fs::read_to_string(work.path().join("out.ndjson")).unwrap(), "", "no error line per file");
    // With the right key, --resume sends every file.
    let output = run_cli(
        work.path(),
        &["submit", "--server", &server_url, "--api-key", "right-key", "--out", "out.ndjson", "--resume", "."],
    );
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(read_lines(&work.path().join("out.ndjson")).len(), 10);
}

/// `docmill submit` of `docs` under `work` into `out.ndjson`, running.
fn spawn_submit(work: &Path, server_url: &str) -> std::process::Child {
    Command::new(docmill_bin())
        .args(["submit", "--server", server_url, "--out", "out.ndjson", "docs"])
        .current_dir(work)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// The highest resident set `/proc/PID/status` shows for `pid` until it
/// exits, sampled as it runs.
fn peak_rss_until_exit(child: &mut std::process::Child) -> u64 {
    let mut peak = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
            let hwm = status.lines().find(|line| line.starts_with("VmHWM:"));
            if let Some(kib) = hwm.and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok()) {
                peak = peak.max(kib * 1024);
            }
        }
        if child.try_wait().unwrap().is_some() {
            return peak;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn submit_streams_a_large_file_instead_of_reading_it_whole() {
    const SIZE: usize = 96 << 20;
    let server = Server::start(&["--workers", "1", "--max-upload-bytes", "128MiB"]);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("docs");
    std::fs::create_dir_all(&tree).unwrap();
    write_file(&tree, "large.bin", &vec![0u8; SIZE]);
    let server_url = format!("http://{}", server.addr);
    let mut child = spawn_submit(work.path(), &server_url);
    let peak = peak_rss_until_exit(&mut child);
    let lines = read_lines(&work.path().join("out.ndjson"));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["report"]["size"], SIZE, "{}", lines[0]);
    assert!(peak < (SIZE as u64) / 2, "submit's resident set reached {} MiB for a {} MiB file", peak >> 20, SIZE >> 20);
}

#[test]
fn submit_skips_a_named_pipe_in_a_tree_and_reads_one_named_on_the_command_line() {
    let server = Server::start(&["--workers", "1"]);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("docs");
    std::fs::create_dir_all(&tree).unwrap();
    write_file(&tree, "a.txt", b"A plain document.");
    // Opening a pipe waits for a writer: found in a tree, it must not be.
    nix::unistd::mkfifo(&tree.join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let server_url = format!("http://{}", server.addr);
    let mut child = spawn_submit(work.path(), &server_url);
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("submit waited on the named pipe");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let files = by_filename(&read_lines(&work.path().join("out.ndjson")));
    assert_eq!(files["docs/a.txt"]["report"]["stats"]["words"], 3, "{files:?}");
    assert_eq!(files["docs/pipe"]["error"]["code"], "bad_request", "{files:?}");

    // Named on the command line, a pipe is read (chunked: it has no size).
    let fifo = work.path().join("named");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let writer = std::thread::spawn({
        let fifo = fifo.clone();
        move || std::fs::write(fifo, b"Words sent through a pipe.").unwrap()
    });
    let output = run_cli(work.path(), &["submit", "--server", &server_url, "--out", "named.ndjson", "named"]);
    writer.join().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let lines = read_lines(&work.path().join("named.ndjson"));
    assert_eq!(lines[0]["report"]["stats"]["words"], 5, "{lines:?}");
}
