//! Hostile documents of a few kilobytes against the real server: each must be
//! answered with a report or `parse_failed`, and no worker may die for it.

use crate::pdf_fixtures;
use crate::util::Server;

#[test]
fn hostile_pdfs_are_answered_and_kill_no_worker() {
    let server = Server::start(&["--workers", "2", "--job-timeout", "30"]);
    server.wait_workers_ready(2);
    for (name, bytes) in pdf_fixtures::hostile() {
        let response = server.analyze(name, &bytes);
        match response.status {
            200 => assert_eq!(response.json()["format"], "pdf", "{name}: {}", response.text()),
            422 => assert_eq!(response.error_code(), "parse_failed", "{name}"),
            other => panic!("{name}: status {other}: {}\nserver stderr:\n{}", response.text(), server.stderr()),
        }
    }
    assert_eq!(server.restarts("crashed"), 0, "workers died; server stderr:\n{}", server.stderr());
    assert_eq!(server.restarts("timed_out"), 0, "a document ran into the deadline");
}

#[test]
fn thousands_of_pages_fit_in_the_deadline() {
    // Page handling was quadratic: 4,000 trivial pages took 15 to 30 s.
    let server = Server::start(&["--workers", "1", "--job-timeout", "20"]);
    let response = server.analyze("book.pdf", &pdf_fixtures::many_pages(4000));
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["metadata"]["pages"], 4000);
}

#[test]
fn a_font_the_reader_panicked_on_is_read_and_recycles_no_worker() {
    let server = Server::start(&["--workers", "1", "--job-timeout", "30"]);
    server.wait_workers_ready(1);
    let response = server.analyze("type1.pdf", &pdf_fixtures::type1_pfb_font());
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["warnings"], serde_json::json!([]), "{}", response.text());
    assert_eq!(response.json()["stats"]["words"], 2, "{}", response.text());
    for cause in ["crashed", "recycled"] {
        assert_eq!(server.restarts(cause), 0, "{cause}; server stderr:\n{}", server.stderr());
    }
}
