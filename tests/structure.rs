//! Markdown, chunks and pages through the real binary: the query options on
//! `/v1/analyze`, `/v1/batch` and `/v1/jobs`, their 400s, and `docmill
//! analyze --markdown`.

use crate::util::{pdf_of_pages, run_cli, write_file, Server};

const PAGE: &str = "<html><body><h1>Guide</h1><p>Read <a href=\"https://example.com/\">this</a> first. \
                    It explains everything you need to know about the product in some detail.</p>\
                    <h2>Setup</h2><ul><li>Install it</li><li>Run it</li></ul></body></html>";

#[test]
fn markdown_and_chunks_on_analyze_and_batch() {
    let server = Server::start(&["--workers", "1"]);
    let response = server.put("/v1/analyze?filename=guide.html&markdown=true&chunks=200&text=true", PAGE.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    let report = response.json();
    let markdown = report["markdown"].as_str().expect("markdown");
    assert!(markdown.starts_with("# Guide\n\nRead [this](https://example.com/) first."), "{markdown}");
    assert!(markdown.contains("\n## Setup\n\n- Install it\n- Run it\n"), "{markdown}");
    let text: Vec<char> = report["text"].as_str().unwrap().chars().collect();
    let chunks = report["chunks"].as_array().expect("chunks");
    assert_eq!(chunks.len(), 2, "one chunk per section: {chunks:#?}");
    for chunk in chunks {
        let (start, end) = (chunk["start"].as_u64().unwrap() as usize, chunk["end"].as_u64().unwrap() as usize);
        assert_eq!(chunk["text"], text[start..end].iter().collect::<String>());
        assert!(end - start <= 200);
    }
    assert_eq!(chunks[1]["headings"], serde_json::json!(["Guide", "Setup"]));
    assert!(report.get("pages").is_none(), "HTML has no pages: {report}");

    let batch = server.post_files("/v1/batch?markdown=true", &[("a.html", PAGE.as_bytes()), ("b.txt", b"plain")]);
    assert_eq!(batch.status, 200, "{}", batch.text());
    let text = batch.text();
    let lines: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let markdown_of =
        |name: &str| lines.iter().find(|line| line["filename"] == name).map(|line| line["report"]["markdown"].clone());
    assert!(markdown_of("a.html").unwrap().as_str().unwrap().starts_with("# Guide"), "{text}");
    assert_eq!(markdown_of("b.txt").unwrap(), "plain\n");
}

#[test]
fn bad_structure_options_are_400_on_every_endpoint() {
    let server = Server::start(&["--workers", "1"]);
    for query in [
        "chunks=10",
        "chunks=100001",
        "chunks=abc",
        "chunks=100&chunk_overlap=100",
        "chunk_overlap=5",
        "pages=0",
        "pages=3-1",
    ] {
        let put = server.put(&format!("/v1/analyze?filename=a.txt&{query}"), b"some text");
        assert_eq!((put.status, put.error_code()), (400, "bad_request".into()), "{query}: {}", put.text());
        for path in ["/v1/analyze", "/v1/batch", "/v1/jobs"] {
            let posted = server.post_files(&format!("{path}?{query}"), &[("a.txt", b"some text")]);
            assert_eq!((posted.status, posted.error_code()), (400, "bad_request".into()), "{path}?{query}");
        }
    }
}

#[test]
fn a_page_range_beyond_the_document_is_400_and_batch_says_so_per_document() {
    let server = Server::start(&["--workers", "1"]);
    let deck = two_page_pdf();
    let response = server.put("/v1/analyze?filename=two.pdf&pages=2&text=true", &deck);
    assert_eq!(response.status, 200, "{}", response.text());
    let report = response.json();
    assert_eq!(
        report["pages"],
        serde_json::json!([{"number": 2, "start": 0, "end": report["text"].as_str().unwrap().chars().count()}])
    );
    assert_eq!(report["metadata"]["pages"], 2);
    let beyond = server.put("/v1/analyze?filename=two.pdf&pages=1-3", &deck);
    assert_eq!((beyond.status, beyond.error_code()), (400, "bad_request".into()), "{}", beyond.text());
    assert!(beyond.json()["error"]["message"].as_str().unwrap().contains("the document has 2 pages"));
    let batch = server.post_files("/v1/batch?pages=3", &[("two.pdf", &deck)]);
    let first: serde_json::Value = serde_json::from_str(batch.text().lines().next().unwrap()).unwrap();
    assert_eq!(first["error"]["code"], "bad_request", "{first}");
}

#[test]
fn cli_analyze_markdown() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "guide.html", PAGE.as_bytes());
    let output = run_cli(dir.path(), &["analyze", "--workers", "1", "--markdown", "guide.html"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(line["markdown"].as_str().unwrap().starts_with("# Guide\n"), "{line}");
    assert!(line.get("text").is_none());
}

/// A PDF of two pages, each one line of Helvetica.
fn two_page_pdf() -> Vec<u8> {
    pdf_of_pages(&["First page words.", "Second page words."])
}

#[test]
fn a_40_kb_option_value_is_refused_without_being_sent_back_whole() {
    let server = Server::start(&["--workers", "1"]);
    let ranges = vec!["1-2"; 10_000].join(",");
    let digits = "7".repeat(40_000);
    for query in
        [format!("pages={ranges}"), format!("pages={digits}"), format!("chunks={digits}"), format!("text={digits}")]
    {
        let put = server.put(&format!("/v1/analyze?filename=a.txt&{query}"), b"some text");
        assert_eq!((put.status, put.error_code()), (400, "bad_request".into()), "{}", &query[..20]);
        let message = put.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.len() < 300, "{} bytes: {}...", message.len(), &message[..200]);
        assert!(message.contains("40000 bytes") || message.contains("39999 bytes"), "{message}");
    }
    let job = server.get(&format!("/v1/jobs/{digits}"));
    assert_eq!((job.status, job.error_code()), (404, "not_found".into()));
    assert!(job.text().len() < 300, "{} bytes", job.text().len());
}
