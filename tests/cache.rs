//! The result cache answers only what analysis would answer.

use serde_json::Value;

use crate::util::Server;

fn batch_report(server: &Server, filename: &str, bytes: &[u8]) -> Value {
    let response = server.post_files("/v1/batch", &[(filename, bytes)]);
    assert_eq!(response.status, 200, "{}", response.text());
    let line: Value = serde_json::from_str(response.text().lines().next().unwrap()).unwrap();
    line["report"].clone()
}

// Regression: the cache was keyed by sha256 and options only, so the same
// bytes sent as `a.csv` and then as `a.md` got the CSV report, cached.
#[test]
fn the_same_bytes_under_another_text_extension_are_analysed_again() {
    let server = Server::start(&["--workers", "1"]);
    let bytes = b"name,role\nAda,engineer\nGrace,admiral\n";
    let csv = batch_report(&server, "a.csv", bytes);
    assert_eq!(csv["format"], "csv", "{csv}");
    let markdown = batch_report(&server, "a.md", bytes);
    assert_eq!(markdown["format"], "markdown", "{markdown}");
    assert!(markdown.get("cached").is_none(), "not the CSV report from the cache: {markdown}");
    // The same extension, whatever the rest of the name or its case, is
    // still answered from the cache.
    let again = batch_report(&server, "other.CSV", bytes);
    assert_eq!((again["format"].as_str(), again["cached"].as_bool()), (Some("csv"), Some(true)), "{again}");
    let interactive = server.post_files("/v1/analyze?cache=true", &[("b.md", bytes)]).json();
    assert_eq!((interactive["format"].as_str(), interactive["cached"].as_bool()), (Some("markdown"), Some(true)));
}
