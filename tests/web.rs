//! What a browser and an API client see: the OpenAPI document (checked
//! against real answers), the docs page, and the upload page at `/`, driven
//! in headless Chromium when it is installed.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::util::Server;

/// Every endpoint of the contract, as the OpenAPI document must list it.
const CONTRACT: &[(&str, &str)] = &[
    ("/v1/analyze", "post"),
    ("/v1/analyze", "put"),
    ("/v1/batch", "post"),
    ("/v1/jobs", "post"),
    ("/v1/jobs", "get"),
    ("/v1/jobs/{id}", "get"),
    ("/v1/jobs/{id}", "delete"),
    ("/v1/jobs/{id}/results", "get"),
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),
    ("/v1/pool", "get"),
];

/// A validator for `#/components/schemas/NAME` of `document`.
fn validator(document: &Value, name: &str) -> jsonschema::Validator {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": document["components"],
    });
    jsonschema::validator_for(&schema).unwrap_or_else(|err| panic!("schema {name} does not compile: {err}"))
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|err| format!("{} at {}", err, err.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not match its schema: {errors:#?}\n{instance:#}");
}

#[test]
fn openapi_document_lists_the_contract_and_matches_real_answers() {
    let server = Server::start(&["--workers", "1"]);
    let response = server.get("/openapi.json");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let document = response.json();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    for (path, method) in CONTRACT {
        assert!(document["paths"][path][method].is_object(), "{method} {path} is not documented");
    }
    let parameters = document["paths"]["/v1/analyze"]["post"]["parameters"].as_array().unwrap();
    assert!(parameters.iter().any(|p| p["name"] == "text"), "text=true is not documented");

    let report = server.analyze("note.txt", b"A short note for the schema check. It has two sentences.\n");
    assert_eq!(report.status, 200);
    assert_valid(&validator(&document, "Report"), &report.json(), "a report");
    let html = server.analyze("page.html", b"<html><head><title>T</title></head><body><p>Hello.</p></body></html>");
    assert_valid(&validator(&document, "Report"), &html.json(), "an HTML report");

    let refused = server.get("/v1/jobs/not-a-job");
    assert_eq!(refused.status, 404);
    assert_valid(&validator(&document, "Error"), &refused.json(), "an error");

    let batch = server.post_files("/v1/batch", &[("a.txt", b"First document here."), ("b.bin", b"\x00\x01\x02")]);
    assert_eq!(batch.status, 200);
    let lines: Vec<Value> = batch.text().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let (summary, results) = lines.split_last().unwrap();
    for line in results {
        assert_valid(&validator(&document, "ResultLine"), line, "a batch line");
    }
    assert_valid(&validator(&document, "SummaryLine"), summary, "a summary line");
    assert_valid(&validator(&document, "Pool"), &server.get_json("/v1/pool"), "/v1/pool");

    // A schema that accepts anything would pass all of the above.
    let mut broken = report.json();
    broken["stats"]["words"] = json!("many");
    assert!(!validator(&document, "Report").is_valid(&broken), "the Report schema checks nothing");
}

#[test]
fn upload_page_and_docs_are_self_contained_html() {
    let server = Server::start(&["--workers", "1"]);
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = page.header("content-security-policy").expect("the page has a content security policy");
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"), "{csp}");
    let html = page.text();
    for needle in ["<input id=\"files\" type=\"file\" multiple>", "/v1/batch", "/v1/pool"] {
        assert!(html.contains(needle), "the page lacks {needle}");
    }
    for external in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!html.contains(external), "the page loads something from elsewhere: {external}");
    }
    let docs = server.get("/docs");
    assert_eq!(docs.status, 200);
    assert!(docs.text().contains("/openapi.json"));
}

/// Where Debian's Chromium lives, and the directory holding the
/// `playwright-core` package (`DOCMILL_PLAYWRIGHT_DIR`, as `.ci/run` sets it).
fn browser_tools() -> Result<(String, String), String> {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .ok_or("no Chromium at /usr/bin/chromium (apt-get install chromium)")?;
    let node_ok = Command::new("node").arg("--version").output().map(|out| out.status.success()).unwrap_or(false);
    if !node_ok {
        return Err("no node on PATH".into());
    }
    let dir = std::env::var("DOCMILL_PLAYWRIGHT_DIR").map_err(|_| "DOCMILL_PLAYWRIGHT_DIR is not set")?;
    if !Path::new(&dir).join("node_modules/playwright-core").exists() {
        return Err(format!("no playwright-core under {dir}/node_modules (npm install playwright-core there)"));
    }
    Ok((chromium.to_owned(), dir))
}

#[test]
fn upload_page_shows_reports_and_the_pool_in_a_browser() {
    let (chromium, playwright_dir) = match browser_tools() {
        Ok(tools) => tools,
        Err(why) => {
            loud!("\n*** SKIPPED upload_page_shows_reports_and_the_pool_in_a_browser: {why} ***\n");
            return;
        }
    };
    let server = Server::start(&["--workers", "2"]);
    let pids: Vec<i64> =
        server.get_json("/v1/pool")["workers"].as_array().unwrap().iter().map(|w| w["pid"].as_i64().unwrap()).collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/page.cjs");
    let screenshot = server.dir.path().join("page.png");
    let output = Command::new("node")
        .arg(&script)
        .arg(format!("http://{}/", server.addr))
        .arg(&chromium)
        .arg(&screenshot)
        .env("NODE_PATH", Path::new(&playwright_dir).join("node_modules"))
        .current_dir(&playwright_dir)
        .output()
        .expect("cannot run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser script failed:\n{stdout}\n{stderr}");
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|_| panic!("{stdout}"));
    // The report of the uploaded file appeared, with its format and words.
    assert_eq!(seen["rows"][0]["file"], "hello.txt", "{seen}");
    assert_eq!(seen["rows"][0]["format"], "text", "{seen}");
    assert_eq!(seen["rows"][0]["words"], "9", "{seen}");
    assert_eq!(seen["rows"][1]["file"], "page.html", "{seen}");
    assert_eq!(seen["rows"][1]["format"], "html", "{seen}");
    // Clicking a row shows its JSON.
    assert!(seen["expanded"].as_str().unwrap().contains("\"sha256\""), "{seen}");
    // The pool panel lists the workers' pids.
    let shown: Vec<i64> =
        seen["pids"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().parse().unwrap()).collect();
    for pid in &pids {
        assert!(shown.contains(pid), "pool panel shows {shown:?}, workers are {pids:?}");
    }
    assert!(screenshot.exists(), "no screenshot was taken");
}
