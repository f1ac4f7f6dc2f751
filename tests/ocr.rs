//! OCR through the service: images and scanned pages uploaded over HTTP are
//! read by the workers' Tesseract; `/v1/pool` says whether OCR is available;
//! a server without libtesseract answers with a warning, never an error.
//! Fixtures come from `tests/render_text.py` (Pillow); tests that need them
//! or Tesseract skip with a loud message when those are missing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::util::Server;

/// The rendered fixtures directory, once; `None` (loudly) without Pillow.
fn fixtures() -> Option<&'static Path> {
    static DIR: OnceLock<Option<(tempfile::TempDir, PathBuf)>> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/render_text.py");
        let out = std::process::Command::new("python3").arg(&script).arg(dir.path()).output();
        match out {
            Ok(out) if out.status.success() => {
                let path = dir.path().to_owned();
                Some((dir, path))
            }
            other => {
                loud!("SKIPPED: OCR fixtures not rendered (python3 with Pillow is needed; .ci/run installs it): {other:?}");
                None
            }
        }
    })
    .as_ref()
    .map(|(_, path)| path.as_path())
}

fn fixture(name: &str) -> Option<Vec<u8>> {
    fixtures().map(|dir| std::fs::read(dir.join(name)).unwrap())
}

/// `/v1/pool`'s `ocr`, once a worker has booted.
fn pool_ocr(server: &Server) -> Value {
    server.wait_workers_ready(1);
    server.get_json("/v1/pool")["ocr"].clone()
}

fn tesseract_available(server: &Server) -> bool {
    let ocr = pool_ocr(server);
    if ocr["available"] != true {
        loud!("SKIPPED: Tesseract is not installed ({}); apt-get install tesseract-ocr tesseract-ocr-eng", ocr);
    }
    ocr["available"] == true
}

fn warnings(report: &Value) -> String {
    report["warnings"].to_string()
}

#[test]
fn an_uploaded_scan_is_read_and_the_pool_lists_the_languages() {
    let Some(png) = fixture("rotated-180.png") else { return };
    let server = Server::start(&["--workers", "1"]);
    if !tesseract_available(&server) {
        return;
    }
    let ocr = pool_ocr(&server);
    assert!(ocr["engine"].as_str().unwrap().starts_with("tesseract 5"), "{ocr}");
    assert!(ocr["languages"].as_array().unwrap().iter().any(|l| l == "eng"), "{ocr}");

    let response = server.put("/v1/analyze?filename=scan.png&text=true", &png);
    assert_eq!(response.status, 200, "{}", response.text());
    let report = response.json();
    assert_eq!(report["format"], "image");
    assert_eq!(report["media_type"], "image/png");
    let text = report["text"].as_str().unwrap();
    assert!(text.contains("quarterly report shows that revenue grew"), "{text}");
    assert_eq!(report["metadata"]["ocr"]["pages"], 1);
    assert_eq!(report["metadata"]["ocr"]["languages"], serde_json::json!(["eng"]));
    assert_eq!(report["metadata"]["ocr"]["rotated_pages"], serde_json::json!([1]));

    // A `+` in a URL query is a space once decoded: still two languages.
    if ocr["languages"].as_array().unwrap().iter().any(|l| l == "deu") {
        let report = server.put("/v1/analyze?filename=scan.png&ocr_lang=eng+deu", &png).json();
        assert_eq!(report["metadata"]["ocr"]["languages"], serde_json::json!(["eng", "deu"]), "{report:#}");
    }

    let pdf = fixture("scanned.pdf").unwrap();
    let response = server.analyze("scan.pdf", &pdf);
    assert_eq!(response.status, 200, "{}", response.text());
    let report = response.json();
    assert_eq!(report["metadata"]["ocr"]["pages"], 2, "{report:#}");
    assert!(report["stats"]["words"].as_u64().unwrap() > 40, "{report:#}");
}

/// Words of `text`, lower case, without punctuation.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The share of the words drawn that were read (recall; the worker crate's
/// tests measure F1 against the same fixtures).
fn recall(read: &str, truth: &str) -> f64 {
    let read = words(read);
    let truth = words(truth);
    let found = truth.iter().filter(|w| read.contains(w)).count();
    found as f64 / truth.len().max(1) as f64
}

#[test]
fn every_kind_of_scan_is_read_by_confined_workers() {
    let Some(dir) = fixtures() else { return };
    let server = Server::start(&["--workers", "1"]);
    if !tesseract_available(&server) {
        return;
    }
    // The workers run under the seccomp filter that kills any `open`:
    // Tesseract must read every page with what it loaded before.
    let pid = server.worker_pids()[0];
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.lines().any(|line| line.starts_with("Seccomp:") && line.ends_with('2')), "{status}");
    // The supervisor loaded Tesseract and still forks safely: one thread.
    let supervisor = status.lines().find_map(|line| line.strip_prefix("PPid:")).unwrap().trim().to_owned();
    let threads = std::fs::read_dir(format!("/proc/{supervisor}/task")).unwrap().count();
    assert_eq!(threads, 1, "the supervisor has {threads} threads");
    let manifest: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let german = pool_ocr(&server)["loaded"].as_array().unwrap().iter().any(|set| set == "deu");
    for (name, truth) in &manifest {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        // German as a set of two languages loaded one by one.
        let languages = if name.starts_with("german") { "deu+eng" } else { "eng" };
        let response = server.put(&format!("/v1/analyze?filename={name}&text=true&ocr_lang={languages}"), &bytes);
        assert_eq!(response.status, 200, "{name}: {}", response.text());
        let report = response.json();
        let truth = truth.as_str().unwrap();
        if languages == "deu+eng" && !german {
            loud!("SKIPPED: the German page's reading (tesseract-ocr-deu is not installed)");
            continue;
        }
        let read = report["text"].as_str().unwrap();
        if truth.is_empty() {
            assert_eq!(report["stats"]["words"], 0, "{name}: {read}");
        } else {
            assert!(recall(read, truth) >= 0.95, "{name}: read {read:?}");
        }
    }
    assert_eq!(server.restarts("crashed"), 0, "a worker died reading a scan");
}

#[test]
fn ocr_mode_and_languages_come_from_the_query_else_the_server_flags() {
    let Some(png) = fixture("upright-sans.png") else { return };
    let server = Server::start_with_env(&["--workers", "1", "--ocr-lang", "eng+xyz"], &[("DOCMILL_OCR", "off")]);
    if !tesseract_available(&server) {
        return;
    }
    // The server's default (DOCMILL_OCR=off) applies.
    let report = server.put("/v1/analyze?filename=a.png", &png).json();
    assert!(warnings(&report).contains("OCR is off"), "{report:#}");
    assert_eq!(report["stats"]["words"], 0);
    // The query overrides it, with the server's languages (xyz is missing).
    let report = server.put("/v1/analyze?filename=a.png&ocr=auto", &png).json();
    assert!(warnings(&report).contains("OCR unavailable for xyz"), "{report:#}");
    // And the languages too.
    let report = server.put("/v1/analyze?filename=a.png&ocr=on&ocr_lang=eng", &png).json();
    assert_eq!(report["metadata"]["ocr"]["languages"], serde_json::json!(["eng"]), "{report:#}");
    assert!(report["stats"]["words"].as_u64().unwrap() > 30, "{report:#}");
}

#[test]
fn bad_ocr_parameters_are_400() {
    let server = Server::start(&["--workers", "1"]);
    for query in ["ocr=sometimes", "ocr_lang=../../etc/passwd", "ocr_lang=eng%2B%2Bdeu", "ocr_lang=eng.traineddata"] {
        let response = server.put(&format!("/v1/analyze?filename=a.txt&{query}"), b"hello");
        assert_eq!(response.status, 400, "{query}: {}", response.text());
        assert_eq!(response.error_code(), "bad_request");
        let response = server.post_files(&format!("/v1/batch?{query}"), &[("a.txt", b"hello")]);
        assert_eq!(response.status, 400, "{query}: {}", response.text());
    }
    let refused = crate::util::run_cli(server.dir.path(), &["serve", "--ocr", "maybe"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--ocr"), "{refused:?}");
}

#[test]
fn without_libtesseract_an_image_is_a_report_with_a_warning_and_the_pool_says_why() {
    let png = png_declaring(640, 480);
    let missing = "/nonexistent/libtesseract.so.5";
    let server = Server::start_with_env(&["--workers", "1"], &[("DOCMILL_TESSERACT_LIBRARY", missing)]);
    let ocr = pool_ocr(&server);
    assert_eq!(ocr["available"], false, "{ocr}");
    assert!(ocr["unavailable"].as_str().unwrap().contains(missing), "{ocr}");
    let response = server.put("/v1/analyze?filename=scan.png", &png);
    assert_eq!(response.status, 200, "{}", response.text());
    let report = response.json();
    assert_eq!(report["format"], "image");
    assert_eq!(report["metadata"]["width"], 640);
    assert_eq!(report["metadata"]["height"], 480);
    let warning = warnings(&report);
    assert!(warning.contains("OCR unavailable") && warning.contains("apt-get install tesseract-ocr"), "{warning}");
}

#[test]
fn a_pixel_bomb_is_a_warning_not_an_out_of_memory_worker() {
    let server = Server::start(&["--workers", "1", "--worker-memory", "512MiB"]);
    if !tesseract_available(&server) {
        return;
    }
    let bomb = png_declaring(100_000, 100_000);
    let response = server.put("/v1/analyze?filename=bomb.png", &bomb);
    assert_eq!(response.status, 200, "{}", response.text());
    let report = response.json();
    assert_eq!(report["metadata"]["width"], 100_000);
    assert!(warnings(&report).contains("over the limit of 50 million pixels"), "{report:#}");
    assert_eq!(server.restarts("crashed"), 0);
}

/// A grey PNG declaring `width` × `height` whose image data is one short
/// zlib stream: tiny on disk, gigabytes if decoded.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &header);
    // An empty stored deflate block in a zlib wrapper: valid, but short.
    chunk(&mut png, b"IDAT", &[0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= *byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn a_job_keeps_its_ocr_options_and_the_cli_takes_the_flags() {
    let png = png_declaring(64, 32);
    let server = Server::start(&["--workers", "1"]);
    // The options are stored with the job and applied when it runs.
    let created = server.post_files("/v1/jobs?ocr=off", &[("a.png", &png)]);
    assert_eq!(created.status, 202, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    crate::util::wait_until(std::time::Duration::from_secs(20), "the job to finish", || {
        server.get_json(&format!("/v1/jobs/{id}"))["status"] == "done"
    });
    let results = server.get(&format!("/v1/jobs/{id}/results")).text();
    assert!(results.contains("OCR is off (ocr=off)"), "{results}");

    // `docmill analyze` has the pool's flags, --ocr among them.
    let path = crate::util::write_file(server.dir.path(), "b.png", &png);
    let out =
        crate::util::run_cli(server.dir.path(), &["analyze", "--workers", "1", "--ocr", "off", path.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(line.contains("\"format\":\"image\"") && line.contains("OCR is off"), "{line}");
}

#[test]
fn ocr_max_pages_bounds_the_pages_read_per_document() {
    let Some(tiff) = fixture("three-pages.tiff") else { return };
    let server = Server::start(&["--workers", "1", "--ocr-max-pages", "1"]);
    if !tesseract_available(&server) {
        return;
    }
    let report = server.put("/v1/analyze?filename=three.tiff", &tiff).json();
    assert_eq!(report["metadata"]["pages"], 3);
    assert_eq!(report["metadata"]["ocr"]["pages"], 1, "{report:#}");
    assert!(warnings(&report).contains("truncated: OCR read the first 1 of 3 pages"), "{report:#}");
}
