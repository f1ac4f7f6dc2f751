//! The README's examples, run as written: every command of its `sh` blocks
//! goes through `sh -c` (curl for real, `docmill` as the built binary)
//! against a real server, on files of the names the README uses, and each
//! answer is checked against what the README says it returns. The list of
//! commands is compared with the README first, so an example added,
//! changed or removed there fails here until its check follows.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::shared_store::{wait_store, TestDb};
use crate::util::{docmill_bin, pdf_of_pages, wait_until, Server};

const README: &str = include_str!("../README.md");

/// The address the README's examples use; the test's server replaces it.
const README_ADDR: &str = "127.0.0.1:8080";

/// The text of `notes.txt`, as the README's example report describes it.
const NOTES: &str = "Hello world. This is a test.\n";

/// Every command of the README's `sh` blocks, in order (the address as the
/// README writes it). Each has its check in [`check`].
const COMMANDS: &[&str] = &[
    "cargo run --release -- serve",
    "cargo test --workspace",
    "curl -F file=@report.pdf 'http://127.0.0.1:8080/v1/analyze?text=true'",
    "curl -X PUT --data-binary @notes.txt 'http://127.0.0.1:8080/v1/analyze?filename=notes.txt'",
    "curl http://127.0.0.1:8080/openapi.json",
    "curl http://127.0.0.1:8080/healthz",
    "curl http://127.0.0.1:8080/readyz",
    "curl http://127.0.0.1:8080/metrics",
    "curl http://127.0.0.1:8080/v1/pool",
    "curl -F file=@a.pdf -F file=@b.docx -F file=@c.txt http://127.0.0.1:8080/v1/batch",
    "curl -F file=@a.pdf -F file=@b.docx http://127.0.0.1:8080/v1/jobs",
    "curl http://127.0.0.1:8080/v1/jobs/ID",
    "curl http://127.0.0.1:8080/v1/jobs/ID/results",
    "curl -X DELETE http://127.0.0.1:8080/v1/jobs/ID",
    "curl 'http://127.0.0.1:8080/v1/jobs?limit=100&after=ID'",
    "docmill submit --server http://127.0.0.1:8080 --concurrency 4 --out results.ndjson ~/papers",
    "docmill submit --server http://127.0.0.1:8080 --out results.ndjson --resume ~/papers",
    "docmill analyze --text a.pdf b.docx",
    "docmill analyze --markdown a.pdf b.docx",
    "curl -F file=@report.docx 'http://127.0.0.1:8080/v1/analyze?markdown=true&chunks=1000&chunk_overlap=100'",
    "curl -F file=@book.pdf 'http://127.0.0.1:8080/v1/analyze?pages=2-3,7&text=true'",
    "su postgres -c \"psql -c 'CREATE ROLE docmill LOGIN'\"",
    "su postgres -c \"psql -c 'CREATE DATABASE docmill OWNER docmill'\"",
    "export DOCMILL_STORE='postgres://docmill@/docmill?host=/var/run/postgresql'",
    "docmill serve --bind 127.0.0.1:8081 --data-dir /var/lib/docmill/a &",
    "docmill serve --bind 127.0.0.1:8082 --data-dir /var/lib/docmill/b &",
];

/// The commands of the README's ```` ```sh ```` and ```` ```console ````
/// blocks: comment lines skipped, a trailing `# comment` cut, lines ending
/// in `\` joined.
fn readme_commands() -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_shell = false;
    let mut pending = String::new();
    for line in README.lines() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            in_shell = !in_shell && matches!(info.trim(), "sh" | "console" | "bash" | "shell");
            continue;
        }
        if !in_shell || trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let command = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
        let command = without_comment(command);
        if let Some(continued) = command.strip_suffix('\\') {
            pending.push_str(continued.trim_end());
            pending.push(' ');
            continue;
        }
        pending.push_str(command);
        commands.push(std::mem::take(&mut pending));
    }
    commands
}

/// `command` without a trailing shell comment (a `#` after a space, outside
/// quotes).
fn without_comment(command: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut previous = ' ';
    for (at, c) in command.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && previous.is_whitespace() => return command[..at].trim_end(),
            _ => {}
        }
        previous = c;
    }
    command.trim_end()
}

#[test]
fn readme_lists_the_commands_this_test_checks() {
    let found = readme_commands();
    let expected: Vec<String> = COMMANDS.iter().map(|c| c.to_string()).collect();
    assert_eq!(found, expected, "the README's shell examples changed: give each its check in tests/readme.rs");
}

/// What a command printed and, for curl, the status it got.
struct Outcome {
    output: Output,
    status: Option<u16>,
    body: String,
}

impl Outcome {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }
    fn lines(&self) -> Vec<Value> {
        self.body.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }
    fn stdout_lines(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.output.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    }
    fn describe(&self) -> String {
        format!(
            "status {:?}, exit {:?}\nbody: {}\nstderr: {}",
            self.status,
            self.output.status.code(),
            self.body.chars().take(2000).collect::<String>(),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }
}

/// Runs one README command through `sh -c` in `work` (also `$HOME`, so
/// `~/papers` is there), with the server's address in place of the
/// README's and the job id in place of `ID`.
fn run(work: &Path, addr: &str, job: &str, command: &str) -> Outcome {
    let mut line = command.replace(README_ADDR, addr).replace("/v1/jobs/ID", &format!("/v1/jobs/{job}"));
    line = line.replace("after=ID", &format!("after={job}"));
    let curl = line.starts_with("curl ");
    if curl {
        line = format!("curl -sS -o .body -w '%{{http_code}}' {}", &line["curl ".len()..]);
    } else if let Some(rest) = line.strip_prefix("docmill ") {
        line = format!("'{}' {rest}", docmill_bin());
    }
    let output = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .current_dir(work)
        .env("HOME", work)
        .env_remove("DOCMILL_API_KEY")
        .output()
        .unwrap();
    if curl {
        assert!(output.status.success(), "{line}: curl failed: {}", String::from_utf8_lossy(&output.stderr));
        let status = String::from_utf8_lossy(&output.stdout).trim().parse().ok();
        let body = std::fs::read_to_string(work.join(".body")).unwrap_or_default();
        Outcome { output, status, body }
    } else {
        let body = String::from_utf8_lossy(&output.stdout).into_owned();
        Outcome { output, status: None, body }
    }
}

/// A Word document: a heading (outline level 1), a paragraph and a
/// second-level heading with its paragraph.
fn docx() -> Vec<u8> {
    let paragraph = |outline: Option<u8>, text: &str| {
        let props = outline.map(|o| format!("<w:pPr><w:outlineLvl w:val=\"{o}\"/></w:pPr>")).unwrap_or_default();
        format!("<w:p>{props}<w:r><w:t>{text}</w:t></w:r></w:p>")
    };
    let body = [
        paragraph(Some(0), "Summary"),
        paragraph(None, &"Sales rose in every region this year. ".repeat(40)),
        paragraph(Some(1), "Outlook"),
        paragraph(None, "Costs should stay flat next year."),
    ]
    .concat();
    let document = format!(
        r#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    );
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in [("[Content_Types].xml", "<Types/>".to_owned()), ("word/document.xml", document)] {
        writer.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        writer.write_all(content.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// The files of the names the README's examples use.
fn write_fixtures(work: &Path) {
    let write = |name: &str, bytes: &[u8]| std::fs::write(work.join(name), bytes).unwrap();
    write("report.pdf", &pdf_of_pages(&["Quarterly figures for the northern region."]));
    write("notes.txt", NOTES.as_bytes());
    write("a.pdf", &pdf_of_pages(&["Minutes of the annual meeting.", "Budget approved."]));
    write("b.docx", &docx());
    write("c.txt", b"Plain notes about the meeting and its budget.\n");
    write("report.docx", &docx());
    let pages: Vec<String> = (1..=8).map(|n| format!("Chapter page {n} of the book.")).collect();
    write("book.pdf", &pdf_of_pages(&pages.iter().map(String::as_str).collect::<Vec<_>>()));
    std::fs::create_dir_all(work.join("papers/2024")).unwrap();
    write("papers/one.txt", b"The first paper, on rivers.\n");
    write("papers/two.pdf", &pdf_of_pages(&["The second paper, on lakes."]));
    write("papers/2024/three.txt", b"The third paper, on the sea.\n");
}

/// Whether `actual` has what the README's `example` shows: `"…"` stands for
/// any value, the numbers of `timing` for any number, objects must have the
/// same keys.
fn matches_example(example: &Value, actual: &Value, path: &str) {
    match (example, actual) {
        (Value::String(dots), _) if dots == "…" => {}
        (Value::Number(_), Value::Number(_)) if path.contains(".timing.") => {}
        (Value::Object(want), Value::Object(have)) => {
            let (want_keys, have_keys): (Vec<_>, Vec<_>) = (want.keys().collect(), have.keys().collect());
            assert_eq!(want_keys, have_keys, "README's example report at {path}: keys differ from a real report");
            for (key, value) in want {
                matches_example(value, &have[key], &format!("{path}.{key}"));
            }
        }
        _ => assert_eq!(example, actual, "README's example report at {path}"),
    }
}

/// The JSON block after "A report (of `notes.txt`".
fn readme_report_example() -> Value {
    let from = README.find("A report (of `notes.txt`").expect("the README's example report");
    let block = &README[from..];
    let start = block.find("```json\n").unwrap() + "```json\n".len();
    let end = start + block[start..].find("```").unwrap();
    serde_json::from_str(&block[start..end]).expect("the README's example report is JSON")
}

/// The document lines of an NDJSON answer (without its summary).
fn documents(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|line| line.get("summary").is_none()).collect()
}

fn filenames(lines: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = documents(lines).iter().map(|l| l["filename"].as_str().unwrap().to_string()).collect();
    names.sort();
    names
}

#[test]
fn readme_examples_run_as_written() {
    if Command::new("curl").arg("--version").output().is_err() {
        loud!("\n*** readme_examples_run_as_written: DID NOT RUN: no curl (.ci/run installs it) ***\n");
        return;
    }
    assert!(
        README.contains(&format!("holding `{}`", NOTES.trim_end())),
        "the README's example report describes notes.txt"
    );
    let work = tempfile::tempdir().unwrap();
    write_fixtures(work.path());
    let server = Server::start(&["--workers", "2"]);
    let mut job = String::new();
    let mut nodes_block = Vec::new();
    for &command in COMMANDS {
        match command {
            // The two set-up commands: CI runs the second as it is
            // (`.ci/run`); this test's server is the first one's `serve` on
            // a free port instead of 8080.
            "cargo run --release -- serve" | "cargo test --workspace" => continue,
            _ if command.starts_with("su postgres")
                || command.starts_with("export DOCMILL_STORE")
                || command.starts_with("docmill serve") =>
            {
                nodes_block.push(command);
                continue;
            }
            _ => {}
        }
        let outcome = run(work.path(), &server.addr, &job, command);
        let what = format!("{command}\n{}", outcome.describe());
        check(command, &outcome, &server, &mut job, work.path(), &what);
    }
    several_nodes(&nodes_block);
}

/// Checks what one command of the "Using it" block gave.
fn check(command: &str, outcome: &Outcome, server: &Server, job: &mut String, work: &Path, what: &str) {
    let ok = || assert_eq!(outcome.status, Some(200), "{what}");
    match command {
        "curl -F file=@report.pdf 'http://127.0.0.1:8080/v1/analyze?text=true'" => {
            ok();
            let report = outcome.json();
            assert_eq!(report["format"], "pdf", "{what}");
            assert!(report["text"].as_str().unwrap().contains("Quarterly figures"), "{what}");
        }
        "curl -X PUT --data-binary @notes.txt 'http://127.0.0.1:8080/v1/analyze?filename=notes.txt'" => {
            ok();
            matches_example(&readme_report_example(), &outcome.json(), "report");
        }
        "curl http://127.0.0.1:8080/openapi.json" => {
            ok();
            let document = outcome.json();
            assert!(document["openapi"].as_str().unwrap().starts_with("3.1"), "{what}");
            for path in ["/v1/analyze", "/v1/batch", "/v1/jobs", "/v1/jobs/{id}", "/v1/jobs/{id}/results", "/v1/pool"] {
                assert!(document["paths"].get(path).is_some(), "{path} missing: {what}");
            }
        }
        "curl http://127.0.0.1:8080/healthz" | "curl http://127.0.0.1:8080/readyz" => ok(),
        "curl http://127.0.0.1:8080/metrics" => {
            ok();
            for metric in
                ["docmill_build_info{", "docmill_queue_wait_seconds_bucket", "docmill_process_cpu_seconds_total"]
            {
                assert!(outcome.body.contains(metric), "{metric}: {what}");
            }
        }
        "curl http://127.0.0.1:8080/v1/pool" => {
            ok();
            assert_eq!(outcome.json()["workers"].as_array().unwrap().len(), 2, "{what}");
        }
        "curl -F file=@a.pdf -F file=@b.docx -F file=@c.txt http://127.0.0.1:8080/v1/batch" => {
            ok();
            let lines = outcome.lines();
            assert_eq!(filenames(&lines), ["a.pdf", "b.docx", "c.txt"], "{what}");
            assert!(documents(&lines).iter().all(|line| line["report"].is_object()), "{what}");
            let summary = &lines.last().unwrap()["summary"];
            assert_eq!((summary["documents"].as_u64(), summary["failed"].as_u64()), (Some(3), Some(0)), "{what}");
        }
        "curl -F file=@a.pdf -F file=@b.docx http://127.0.0.1:8080/v1/jobs" => {
            assert_eq!(outcome.status, Some(202), "{what}");
            let created = outcome.json();
            // The answer shows the job as it is when the handler reads it
            // back: the executor may already have taken its first document.
            let status = created["status"].as_str().unwrap_or_default();
            assert!(["queued", "running", "done"].contains(&status), "{what}: status {status}");
            *job = created["id"].as_str().unwrap().to_string();
            wait_until(Duration::from_secs(20), "the job to finish", || {
                server.get_json(&format!("/v1/jobs/{job}"))["status"] == "done"
            });
        }
        "curl http://127.0.0.1:8080/v1/jobs/ID" => {
            ok();
            let status = outcome.json();
            assert_eq!(
                (status["id"].as_str(), status["status"].as_str()),
                (Some(job.as_str()), Some("done")),
                "{what}"
            );
            assert_eq!((status["progress"]["done"].as_u64(), status["progress"]["total"].as_u64()), (Some(2), Some(2)));
        }
        "curl http://127.0.0.1:8080/v1/jobs/ID/results" => {
            ok();
            let lines = outcome.lines();
            assert_eq!(filenames(&lines), ["a.pdf", "b.docx"], "{what}");
            assert_eq!(lines.last().unwrap()["summary"]["documents"], 2, "{what}");
        }
        "curl -X DELETE http://127.0.0.1:8080/v1/jobs/ID" => {
            ok();
            // A job that is over stays as it ended; the answer is its status.
            assert_eq!(
                (outcome.json()["id"].as_str(), outcome.json()["status"].as_str()),
                (Some(job.as_str()), Some("done"))
            );
        }
        "curl 'http://127.0.0.1:8080/v1/jobs?limit=100&after=ID'" => {
            ok();
            let listed = outcome.json();
            assert_eq!(listed["jobs"], serde_json::json!([]), "nothing is after the only job: {what}");
            let all = server.get_json("/v1/jobs?limit=100");
            assert_eq!(all["jobs"][0]["id"].as_str(), Some(job.as_str()), "{all}");
        }
        "docmill submit --server http://127.0.0.1:8080 --concurrency 4 --out results.ndjson ~/papers"
        | "docmill submit --server http://127.0.0.1:8080 --out results.ndjson --resume ~/papers" => {
            assert_eq!(outcome.output.status.code(), Some(0), "{what}");
            let written = std::fs::read_to_string(work.join("results.ndjson")).unwrap();
            let lines: Vec<Value> = written.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
            assert_eq!(lines.len(), 3, "one line per file, ever: {written}");
            assert!(lines.iter().all(|line| line["report"].is_object()), "{written}");
        }
        "docmill analyze --text a.pdf b.docx" | "docmill analyze --markdown a.pdf b.docx" => {
            assert_eq!(outcome.output.status.code(), Some(0), "{what}");
            let field = if command.contains("--text") { "text" } else { "markdown" };
            let lines = outcome.stdout_lines();
            let names: Vec<&str> = lines.iter().map(|line| line["filename"].as_str().unwrap()).collect();
            assert_eq!(names, ["a.pdf", "b.docx"], "in order: {what}");
            // One report per line, as the README says: not wrapped.
            assert!(lines.iter().all(|report| report[field].is_string()), "{field}: {what}");
        }
        "curl -F file=@report.docx 'http://127.0.0.1:8080/v1/analyze?markdown=true&chunks=1000&chunk_overlap=100'" => {
            ok();
            let report = outcome.json();
            let markdown = report["markdown"].as_str().unwrap();
            assert!(markdown.starts_with("# Summary\n") && markdown.contains("\n## Outlook\n"), "{what}");
            let chunks = report["chunks"].as_array().unwrap();
            assert!(chunks.len() >= 2, "{what}");
            assert!(chunks.iter().all(|c| c["text"].as_str().unwrap().chars().count() <= 1000), "{what}");
            assert_eq!(chunks.last().unwrap()["headings"], serde_json::json!(["Summary", "Outlook"]), "{what}");
        }
        "curl -F file=@book.pdf 'http://127.0.0.1:8080/v1/analyze?pages=2-3,7&text=true'" => {
            ok();
            let report = outcome.json();
            let numbers: Vec<u64> =
                report["pages"].as_array().unwrap().iter().map(|p| p["number"].as_u64().unwrap()).collect();
            assert_eq!(numbers, [2, 3, 7], "{what}");
            assert_eq!(report["metadata"]["pages"], 8, "{what}");
            let text = report["text"].as_str().unwrap();
            assert!(text.contains("page 7 ") && !text.contains("page 1 ") && !text.contains("page 4 "), "{what}");
        }
        other => panic!("no check for the README's example {other:?}"),
    }
}

/// The "Several nodes" block: the two `serve` lines as written, on free
/// ports and temporary data directories, sharing a database of their own
/// (the block's `su postgres` lines make that database on a real machine;
/// the test makes a throwaway one on `DOCMILL_TEST_PG` instead, and its URL
/// takes the place of the exported `DOCMILL_STORE`). A job posted to one
/// node is answered alike by the other.
fn several_nodes(block: &[&str]) {
    assert_eq!(block.len(), 5, "{block:?}");
    assert!(block[2].starts_with("export DOCMILL_STORE='postgres://"), "{block:?}");
    let Some(db) = TestDb::create("readme_examples_run_as_written (Several nodes)") else { return };
    let data = tempfile::tempdir().unwrap();
    let nodes: Vec<Server> = block[3..]
        .iter()
        .map(|command| {
            let line = command.strip_prefix("docmill ").unwrap().strip_suffix(" &").unwrap();
            let line = line.replace("/var/lib/docmill", &data.path().display().to_string());
            let mut args: Vec<String> = line.split(' ').map(str::to_string).collect();
            let bind = args.iter().position(|a| a == "--bind").unwrap() + 1;
            assert!(args[bind].starts_with("127.0.0.1:808"), "{command}");
            args[bind] = "127.0.0.1:0".into();
            args.extend(["--workers".into(), "1".into()]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Server::spawn(&args, &[("DOCMILL_STORE", &db.url)])
        })
        .collect();
    for node in &nodes {
        wait_store(node);
    }
    let created = nodes[0].post_files("/v1/jobs", &[("one.txt", b"A document for the shared store.")]);
    assert_eq!(created.status, 202, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_string();
    wait_until(Duration::from_secs(20), "the job to finish", || {
        nodes[1].get_json(&format!("/v1/jobs/{id}"))["status"] == "done"
    });
    assert_eq!(nodes[0].get_json(&format!("/v1/jobs/{id}")), nodes[1].get_json(&format!("/v1/jobs/{id}")));
}
