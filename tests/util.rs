//! Test helpers: start the real `docmill` binary in its own temporary
//! directory, talk HTTP/1.1 to it over a plain TCP socket, and wait on
//! conditions with deadlines (never sleeps as synchronisation).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn docmill_bin() -> &'static str {
    env!("CARGO_BIN_EXE_docmill")
}

/// A running `docmill serve`, killed (SIGKILL) and reaped on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// The server's working directory (and so its data dir), removed on drop.
    pub dir: tempfile::TempDir,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut all_args = vec!["serve", "--bind", "127.0.0.1:0"];
        all_args.extend(args);
        Server::spawn(&all_args, env)
    }

    /// Runs `docmill` with exactly `all_args` (a `serve` command line that
    /// binds a free port) and waits for its `listening on` line.
    pub fn spawn(all_args: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(docmill_bin());
        command.args(all_args).current_dir(dir.path()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("cannot start docmill");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| {
                panic!("docmill {all_args:?} printed {line:?}, not its address; stderr:\n{}", stderr.lock().unwrap())
            })
            .trim()
            .to_string();
        // Keep reading stdout so the server never blocks on it.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while stdout.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        Server { child, addr, dir, stderr }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn get(&self, path: &str) -> Response {
        request(&self.addr, "GET", path, &[], b"")
    }

    pub fn get_json(&self, path: &str) -> Value {
        let response = self.get(path);
        assert_eq!(response.status, 200, "GET {path}: {}", response.text());
        response.json()
    }

    /// `POST /v1/analyze` with one file part.
    pub fn analyze(&self, filename: &str, bytes: &[u8]) -> Response {
        self.post_files("/v1/analyze", &[(filename, bytes)])
    }

    pub fn post_files(&self, path: &str, files: &[(&str, &[u8])]) -> Response {
        let (content_type, body) = multipart(files);
        request(&self.addr, "POST", path, &[("Content-Type", &content_type)], &body)
    }

    pub fn put(&self, path: &str, bytes: &[u8]) -> Response {
        request(&self.addr, "PUT", path, &[], bytes)
    }

    /// Pids of the live workers, from `/v1/pool`.
    pub fn worker_pids(&self) -> Vec<i64> {
        let pool = self.get_json("/v1/pool");
        pool["workers"].as_array().unwrap().iter().map(|w| w["pid"].as_i64().unwrap()).collect()
    }

    pub fn restarts(&self, cause: &str) -> i64 {
        self.get_json("/v1/pool")["restarts"][cause].as_i64().unwrap()
    }

    /// Waits until `n` workers are idle or busy.
    pub fn wait_workers_ready(&self, n: usize) {
        wait_until(Duration::from_secs(20), "workers ready", || {
            let pool = self.get_json("/v1/pool");
            pool["workers"].as_array().unwrap().iter().filter(|w| w["state"] == "idle" || w["state"] == "busy").count()
                >= n
        });
    }

    pub fn terminate(&self) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), nix::sys::signal::Signal::SIGTERM).unwrap();
    }

    /// Waits for the server to exit and returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "docmill did not exit within {within:?}; stderr:\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `condition` every 20 ms until it holds; panics after `within`.
pub fn wait_until(within: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.text()))
    }
    /// Asserts the contract's error shape and returns its code.
    pub fn error_code(&self) -> String {
        let json = self.json();
        assert!(json["error"]["message"].is_string(), "error without a message: {json}");
        json["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code: {json}")).to_string()
    }
}

pub fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "docmill-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Starts `POST /v1/analyze` of one file on a raw connection and sends the
/// first `sent` bytes of the body, leaving the connection open: a client
/// that stalls or is about to walk away.
pub fn start_upload(addr: &str, filename: &str, bytes: &[u8], sent: Option<usize>) -> TcpStream {
    let (content_type, body) = multipart(&[(filename, bytes)]);
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /v1/analyze HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body[..sent.unwrap_or(body.len()).min(body.len())]).unwrap();
    stream
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (key, value) in headers {
        head.push_str(&format!("{key}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413, 503) before taking the whole body; a
    // failed write is then not an error of the test.
    let _ = stream.write_all(body);
    read_response(&mut stream)
}

pub fn read_response(stream: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response { status, headers, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else { return out };
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..line_end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        let end = (start + size).min(data.len());
        out.extend_from_slice(&data[start..end]);
        data = &data[(end + 2).min(data.len())..];
    }
}

/// Runs `docmill` with `args` in `dir` to completion.
pub fn run_cli(dir: &Path, args: &[&str]) -> std::process::Output {
    let output = Command::new(docmill_bin()).args(args).current_dir(dir).output().unwrap();
    output
}

pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Children of `pid`, from `/proc`.
pub fn children_of(pid: i32) -> Vec<(i32, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // The command name is in parentheses and may contain spaces.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else { continue };
        let mut fields = after.split(' ');
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid: i32 = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if ppid == pid {
            out.push((child, state));
        }
    }
    out
}

pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

pub fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|dir| dir.count()).unwrap_or(0)
}

/// Peak resident memory of `pid` so far (`VmHWM` in `/proc/<pid>/status`).
pub fn peak_rss_bytes(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).expect("VmHWM in /proc/<pid>/status");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// A PDF with one page per entry of `pages`, each one line of 12 pt
/// Helvetica (the text must not need escaping).
pub fn pdf_of_pages(pages: &[&str]) -> Vec<u8> {
    let contents: Vec<String> = pages.iter().map(|text| crate::pdf_fixtures::show(text)).collect();
    crate::pdf_fixtures::helvetica_pages(&contents)
}
