//! The HTTP contract: endpoints, report shape, uploads and their errors.

use std::io::Write;
use std::net::TcpStream;

use crate::util::{read_response, request, start_upload, Server};

#[test]
fn probes_and_pool_answer_in_contract_shape() {
    let server = Server::start(&["--workers", "2"]);
    assert_eq!(server.get_json("/healthz")["status"], "ok");
    assert_eq!(server.get_json("/readyz")["status"], "ready");
    let pool = server.get_json("/v1/pool");
    let workers = pool["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{pool}");
    for worker in workers {
        assert!(worker["pid"].as_i64().unwrap() > 1, "{worker}");
        assert!(worker["jobs_done"].is_u64() && worker["rss_bytes"].as_u64().unwrap() > 0, "{worker}");
        assert!(worker["state"].is_string());
    }
    // The contract's default: 4 x workers.
    assert_eq!(pool["queue"]["capacity"], 8, "default queue: {pool}");
    for cause in ["crashed", "timed_out", "recycled", "cancelled"] {
        assert_eq!(pool["restarts"][cause], 0, "{pool}");
    }
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    for name in [
        "docmill_queue_depth",
        "docmill_workers{state=\"idle\"}",
        "docmill_worker_restarts_total{cause=\"crashed\"}",
        "docmill_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1",
    ] {
        assert!(text.contains(name), "metrics lack {name}:\n{text}");
    }
    let missing = server.get("/nope");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "not_found");
}

#[test]
fn metrics_tell_the_build_the_process_and_documents_by_format() {
    let server = Server::start(&["--workers", "1"]);
    let text = b"A short note about metrics, counted by format.\n";
    assert_eq!(server.analyze("note.txt", text).status, 200);
    assert_eq!(server.analyze("page.html", b"<html><body><p>Hello there, reader.</p></body></html>").status, 200);
    let metrics = server.get("/metrics").text();
    let value = |series: &str| -> f64 {
        let line = metrics
            .lines()
            .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
            .unwrap_or_else(|| panic!("no {series} in:\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value(&format!("docmill_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"))), 1.0);
    assert_eq!(value("docmill_analysed_bytes_total{format=\"text\"}"), text.len() as f64);
    assert!(value("docmill_analysed_bytes_total{format=\"html\"}") > 0.0);
    assert_eq!(value("docmill_queue_wait_seconds_count{format=\"text\"}"), 1.0);
    assert_eq!(value("docmill_analysis_seconds_count{format=\"html\"}"), 1.0);
    assert_eq!(value("docmill_analysis_seconds_bucket{format=\"text\",le=\"+Inf\"}"), 1.0);
    assert_eq!(value("docmill_http_requests_total{route=\"/v1/analyze\",method=\"POST\",status=\"200\"}"), 2.0);
    assert!(value("docmill_process_resident_memory_bytes") > 1e6);
    assert!(value("docmill_process_open_fds") > 3.0);
    assert!(value("docmill_process_cpu_seconds_total") >= 0.0);
    assert!(value("docmill_process_start_time_seconds") > 1.6e9);
    let foreign: Vec<&str> = metrics
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty() && !line.starts_with("docmill_"))
        .collect();
    assert!(foreign.is_empty(), "every metric name starts with docmill_: {foreign:?}");
}

#[test]
fn multipart_and_raw_uploads_get_the_same_report() {
    let server = Server::start(&["--workers", "1"]);
    let text = b"The quick brown fox jumps over the lazy dog. It was not amused.\n";
    let posted = server.analyze("fox.txt", text);
    assert_eq!(posted.status, 200, "{}", posted.text());
    let report = posted.json();
    assert_eq!(report["filename"], "fox.txt");
    assert_eq!(report["size"], text.len());
    assert_eq!(report["sha256"], sha256_hex(text));
    assert_eq!(report["format"], "text");
    assert_eq!(report["stats"]["words"], 13);
    assert!(report.get("text").is_none(), "text only with text=true: {report}");
    assert!(report["timing"]["worker_pid"].as_i64().unwrap() > 1);
    assert!(report["timing"]["peak_rss_bytes"].as_u64().unwrap() > 0);

    let put = server.put("/v1/analyze?filename=fox.txt&text=true", text);
    assert_eq!(put.status, 200, "{}", put.text());
    let put_report = put.json();
    assert_eq!(put_report["sha256"], report["sha256"]);
    assert_eq!(put_report["stats"], report["stats"]);
    assert_eq!(put_report["text"], String::from_utf8_lossy(text).as_ref());
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn an_empty_file_is_a_document() {
    let server = Server::start(&["--workers", "1"]);
    let response = server.analyze("empty.txt", b"");
    assert_eq!(response.status, 200, "{}", response.text());
    let report = response.json();
    assert_eq!(report["size"], 0);
    assert_eq!(report["stats"]["words"], 0);
    assert_eq!(report["stats"]["characters"], 0);
}

#[test]
fn malformed_uploads_get_typed_errors() {
    let server = Server::start(&["--workers", "1"]);
    // Not multipart at all.
    let response = request(&server.addr, "POST", "/v1/analyze", &[("Content-Type", "application/json")], b"{}");
    assert_eq!((response.status, response.error_code().as_str()), (415, "unsupported_media_type"));
    // Multipart without a file part.
    let body = b"--b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--b--\r\n";
    let response =
        request(&server.addr, "POST", "/v1/analyze", &[("Content-Type", "multipart/form-data; boundary=b")], body);
    assert_eq!((response.status, response.error_code().as_str()), (400, "bad_request"));
    // Garbage where the multipart body should be.
    let response = request(
        &server.addr,
        "POST",
        "/v1/analyze",
        &[("Content-Type", "multipart/form-data; boundary=b")],
        b"garbage",
    );
    assert_eq!(response.status, 400, "{}", response.text());
    // A filename* that cannot be decoded, with no plain filename, is refused
    // rather than silently losing the name.
    let body = b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename*=x-mac-roman''r%8Esum%8E.txt\r\n\r\nhello\r\n--b--\r\n";
    let response =
        request(&server.addr, "POST", "/v1/analyze", &[("Content-Type", "multipart/form-data; boundary=b")], body);
    assert_eq!((response.status, response.error_code().as_str()), (400, "bad_request"));
    // A base64 part is never analysed as its encoded bytes.
    let body = b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n";
    let response =
        request(&server.addr, "POST", "/v1/analyze", &[("Content-Type", "multipart/form-data; boundary=b")], body);
    assert_eq!((response.status, response.error_code().as_str()), (400, "bad_request"));
    // Part headers past 16 KiB.
    let mut body = b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nX-Padding: ".to_vec();
    body.extend(std::iter::repeat_n(b'x', 20 << 10));
    body.extend_from_slice(b"\r\n\r\nhello\r\n--b--\r\n");
    let response =
        request(&server.addr, "POST", "/v1/analyze", &[("Content-Type", "multipart/form-data; boundary=b")], &body);
    assert_eq!((response.status, response.error_code().as_str()), (400, "bad_request"));
    // Two file parts belong in a batch.
    let response = server.post_files("/v1/analyze", &[("a.txt", b"a"), ("b.txt", b"b")]);
    assert_eq!(response.status, 400, "{}", response.text());
    // And the server still works.
    assert_eq!(server.analyze("ok.txt", b"fine").status, 200);
}

#[test]
fn oversized_upload_gets_413_not_a_broken_pipe() {
    let server = Server::start(&["--workers", "1", "--max-upload-bytes", "1MiB"]);
    let big = vec![b'a'; 3 << 20];
    let response = server.analyze("big.txt", &big);
    assert_eq!((response.status, response.error_code().as_str()), (413, "payload_too_large"));
    let response = server.put("/v1/analyze?filename=big.txt", &big);
    assert_eq!((response.status, response.error_code().as_str()), (413, "payload_too_large"));
    // Exactly at the limit is fine, and goes through the temporary-file spool.
    let at_limit = vec![b'b'; 1 << 20];
    let response = server.put("/v1/analyze?filename=edge.txt", &at_limit);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["size"], 1 << 20);
}

#[test]
fn large_upload_spooled_to_disk_is_analysed_whole() {
    let server = Server::start(&["--workers", "1"]);
    let line = b"Spooled documents keep every byte intact across the temporary file.\n";
    let doc: Vec<u8> = line.iter().copied().cycle().take(line.len() * 150_000).collect();
    let response = server.analyze("large.txt", &doc);
    assert_eq!(response.status, 200, "{}", response.text());
    let report = response.json();
    assert_eq!(report["size"], doc.len());
    assert_eq!(report["sha256"], sha256_hex(&doc));
    assert_eq!(report["stats"]["lines"], 150_000);
    // Spooled under the data dir (default ./docmill-data), and unlinked.
    let spool = server.dir.path().join("docmill-data/spool");
    assert!(spool.is_dir());
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0, "spool files are unlinked");
}

#[test]
fn slow_client_does_not_hold_a_worker() {
    let server = Server::start(&["--workers", "1"]);
    // A client that sends half its upload and stalls.
    let slow = start_upload(&server.addr, "slow.txt", b"this upload never finishes", Some(100));
    // The only worker still serves others.
    for _ in 0..3 {
        let response = server.analyze("quick.txt", b"quick");
        assert_eq!(response.status, 200, "{}", response.text());
    }
    drop(slow);
}

#[test]
fn environment_variables_configure_serve() {
    let server = Server::start_with_env(
        &[],
        &[("DOCMILL_WORKERS", "1"), ("DOCMILL_QUEUE", "3"), ("DOCMILL_RUNTIME_THREADS", "3")],
    );
    let pool = server.get_json("/v1/pool");
    assert_eq!(pool["workers"].as_array().unwrap().len(), 1, "{pool}");
    assert_eq!(pool["queue"]["capacity"], 3, "{pool}");
    assert_eq!(http_threads(&server), 3);
}

/// The threads serving HTTP, as `/metrics` gives them.
fn http_threads(server: &Server) -> usize {
    let metrics = server.get("/metrics").text();
    let line = metrics.lines().find(|line| line.starts_with("docmill_runtime_threads ")).expect("a runtime gauge");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// `se.slice` of a thread, in nanoseconds, where the kernel shows it.
fn thread_slice(pid: u32, tid: &str) -> Option<u64> {
    let sched = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/sched")).ok()?;
    let line = sched.lines().find(|line| line.trim_start().starts_with("se.slice"))?;
    line.rsplit(':').next()?.trim().parse().ok()
}

#[test]
fn the_runtime_threads_ask_the_scheduler_for_short_slices() {
    // Linux takes a normal thread's own slice from 6.12 on (EEVDF).
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut version = release.trim().split(['.', '-']).map(|part| part.parse::<u32>().unwrap_or(0));
    let (major, minor) = (version.next().unwrap_or(0), version.next().unwrap_or(0));
    if (major, minor) < (6, 12) {
        loud!("DID NOT RUN: Linux {} does not take a thread's own time slice (6.12 and later do)", release.trim());
        return;
    }
    let server = Server::start(&["--workers", "1", "--runtime-threads", "2"]);
    let pid = server.pid() as u32;
    let mut runtime_slices = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().filter_map(Result::ok) {
        let tid = task.file_name().to_string_lossy().into_owned();
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if name.trim() == "docmill-http" {
            runtime_slices.push(thread_slice(pid, &tid));
        }
    }
    assert!(runtime_slices.len() >= 2, "{runtime_slices:?}");
    assert!(runtime_slices.iter().all(|slice| *slice == Some(100_000)), "{runtime_slices:?}");
    // The workers keep the kernel's default: only the server's threads ask.
    let worker = server.worker_pids()[0] as u32;
    assert_ne!(thread_slice(worker, &worker.to_string()), Some(100_000));
}

#[test]
fn one_runtime_thread_serves_requests_side_by_side() {
    let server = Server::start(&["--workers", "2", "--runtime-threads", "1"]);
    assert_eq!(http_threads(&server), 1);
    // A client that stalls mid-upload does not hold up the others.
    let document = vec![b'a'; 1 << 20];
    let slow = start_upload(&server.addr, "slow.txt", &document, Some(100));
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..4)
            .map(|i| {
                let server = &server;
                scope.spawn(move || {
                    let text = format!("Client number {i} sends a short note.\n");
                    let response = server.put(&format!("/v1/analyze?filename=note{i}.txt"), text.as_bytes());
                    assert_eq!(response.status, 200, "{}", response.text());
                    assert_eq!(response.json()["filename"], format!("note{i}.txt"));
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
    });
    assert_eq!(server.get_json("/healthz")["status"], "ok");
    drop(slow);
}

#[test]
fn keep_alive_connection_serves_several_requests() {
    let server = Server::start(&["--workers", "1"]);
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    for _ in 0..2 {
        write!(stream, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 512];
        let n = std::io::Read::read(&mut stream, &mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }
    write!(stream, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream).status, 200);
}

#[test]
fn file_names_come_from_filename_star_and_from_a_put_content_disposition() {
    let server = Server::start(&["--workers", "1"]);
    let multipart = |disposition: &str| {
        let body =
            format!("--b\r\nContent-Disposition: form-data; name=\"f\"; {disposition}\r\n\r\nhello there\r\n--b--\r\n");
        request(
            &server.addr,
            "POST",
            "/v1/analyze",
            &[("Content-Type", "multipart/form-data; boundary=b")],
            body.as_bytes(),
        )
    };
    // RFC 8187 alone, and beside a plain fallback as .NET clients send it.
    let response = multipart("filename*=UTF-8''r%C3%A9sum%C3%A9.txt");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["filename"], "résumé.txt");
    let response = multipart("filename=\"resume.txt\"; filename*=utf-8''r%C3%A9sum%C3%A9.txt");
    assert_eq!(response.json()["filename"], "résumé.txt");
    // PUT without ?filename= takes the body's Content-Disposition.
    let put = |disposition: &str, path: &str| {
        request(&server.addr, "PUT", path, &[("Content-Disposition", disposition)], b"a,b\n1,2\n")
    };
    let response = put("attachment; filename=\"data.csv\"", "/v1/analyze");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        (response.json()["filename"].as_str(), response.json()["format"].as_str()),
        (Some("data.csv"), Some("csv"))
    );
    let response = put("attachment; filename*=UTF-8''%E2%82%AC.csv", "/v1/analyze");
    assert_eq!(response.json()["filename"], "€.csv");
    // ?filename= still wins.
    let response = put("attachment; filename=\"data.csv\"", "/v1/analyze?filename=other.txt");
    assert_eq!(response.json()["filename"], "other.txt");
}
