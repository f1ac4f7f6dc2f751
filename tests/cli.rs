//! `docmill analyze`: the pool without HTTP, NDJSON out.

use crate::util::{request, run_cli, write_file, Server};

#[test]
fn analyze_prints_one_line_per_file_in_order() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.txt", b"First document. It has two sentences.");
    write_file(dir.path(), "b.txt", b"Second one.");
    write_file(dir.path(), "empty.txt", b"");
    let output =
        run_cli(dir.path(), &["analyze", "--workers", "2", "--text", "a.txt", "missing.txt", "b.txt", "empty.txt"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0]["filename"], "a.txt");
    assert_eq!(lines[0]["stats"]["sentences"], 2);
    assert_eq!(lines[0]["text"], "First document. It has two sentences.");
    assert_eq!(lines[1]["filename"], "missing.txt");
    assert_eq!(lines[1]["error"]["code"], "not_found");
    assert_eq!(lines[2]["filename"], "b.txt");
    assert_eq!(lines[3]["size"], 0);
    assert_eq!(output.status.code(), Some(1), "a failed file makes the exit status 1");
}

#[test]
fn analyze_reports_crashes_per_file_and_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "crash.bin", b"DOCMILL-FAULT:segv");
    write_file(dir.path(), "ok.txt", b"Fine.");
    let output = run_cli(dir.path(), &["analyze", "--workers", "1", "crash.bin", "ok.txt"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["error"]["code"], "worker_crashed");
    assert_eq!(lines[1]["format"], "text");
}

#[test]
fn analyze_reads_large_files_whole_and_stops_at_the_limit_whatever_the_size_said() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    // 1 MiB: more than goes inline to a worker, so it is read into a memfd.
    let large: Vec<u8> = b"The river ran past the mill. ".iter().copied().cycle().take(1 << 20).collect();
    write_file(dir.path(), "large.txt", &large);
    // `/dev/zero` says it is empty and never ends.
    let output = run_cli(
        dir.path(),
        &["analyze", "--workers", "1", "--max-upload-bytes", "2MiB", "large.txt", "/dev/zero", "large.txt"],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let digest: String = sha2::Sha256::digest(&large).iter().map(|byte| format!("{byte:02x}")).collect();
    for line in [&lines[0], &lines[2]] {
        assert_eq!(line["size"], 1 << 20, "{line}");
        assert_eq!(line["sha256"], digest.as_str());
        assert_eq!(line["stats"]["sentences"], lines[0]["stats"]["sentences"]);
    }
    assert!(lines[0]["stats"]["words"].as_u64().unwrap() > 100_000, "{}", lines[0]["stats"]);
    assert_eq!(lines[1]["filename"], "/dev/zero");
    assert_eq!(lines[1]["error"]["code"], "payload_too_large", "{}", lines[1]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run_cli(dir.path(), &["analyze"]).status.code(), Some(2));
    assert_eq!(run_cli(dir.path(), &["serve", "--workers", "zero"]).status.code(), Some(2));
    assert_eq!(run_cli(dir.path(), &["serve", "--runtime-threads", "0"]).status.code(), Some(2));
    assert_eq!(run_cli(dir.path(), &["frobnicate"]).status.code(), Some(2));
    let all_ok = run_cli(dir.path(), &["analyze", "--workers", "1", "/dev/null"]);
    assert_eq!(all_ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&all_ok.stderr));
}

/// The flag blocks of a `--help` text: each starts at a line whose first
/// non-blank character is `-`, and runs to the next.
fn flag_blocks(help: &str) -> Vec<(String, String)> {
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('-') && line.len() - trimmed.len() <= 8 {
            let long = trimmed.split([' ', ',']).find(|word| word.starts_with("--")).unwrap_or(trimmed);
            blocks.push((long.trim_end_matches(['<', '=']).to_string(), String::new()));
        }
        if let Some((_, text)) = blocks.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    blocks
}

#[test]
fn every_subcommands_help_gives_each_flag_its_default_env_var_and_an_example() {
    let dir = tempfile::tempdir().unwrap();
    for (subcommand, expected) in [
        ("serve", &["--bind", "--workers", "--job-timeout", "--job-ttl", "--log-format", "--access-log"][..]),
        ("analyze", &["--workers", "--text", "--max-upload-bytes"][..]),
        ("submit", &["--server", "--concurrency", "--resume", "--include", "--api-key"][..]),
    ] {
        let output = run_cli(dir.path(), &[subcommand, "--help"]);
        let help = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{subcommand} --help: {help}");
        assert!(help.contains("Examples:"), "{subcommand} --help has no examples:\n{help}");
        let blocks = flag_blocks(&help);
        for flag in expected {
            assert!(blocks.iter().any(|(name, _)| name == flag), "{subcommand} --help lacks {flag}:\n{help}");
        }
        for (flag, text) in blocks.iter().filter(|(name, _)| name != "--help" && name != "--version") {
            // Help is wrapped to the width: read it as one line.
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let env = format!("DOCMILL_{}", flag.trim_start_matches('-').replace('-', "_").to_ascii_uppercase());
            assert!(text.contains(&format!("[env: {env}")), "{subcommand} {flag} names no {env}:\n{text}");
            assert!(text.contains("e.g."), "{subcommand} {flag} has no example:\n{text}");
            if text.split(' ').nth(1).is_some_and(|word| word.starts_with('<')) {
                assert!(
                    text.contains("default") || text.contains("(required)"),
                    "{subcommand} {flag} takes a value but shows no default:\n{text}"
                );
            }
        }
    }
    let serve = String::from_utf8_lossy(&run_cli(dir.path(), &["serve", "--help"]).stdout).into_owned();
    assert!(serve.contains("[default: 127.0.0.1:8080]") && serve.contains("[default: 7d]"), "{serve}");

    let version = run_cli(dir.path(), &["--version"]);
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), format!("docmill {}", env!("CARGO_PKG_VERSION")));
    let completions = run_cli(dir.path(), &["completions", "bash"]);
    assert!(String::from_utf8_lossy(&completions.stdout).contains("complete -F _docmill"), "{completions:?}");
    let fish = run_cli(dir.path(), &["completions", "fish"]);
    assert!(String::from_utf8_lossy(&fish.stdout).contains("-l job-timeout"), "{fish:?}");
    let man = run_cli(dir.path(), &["man"]);
    assert!(String::from_utf8_lossy(&man.stdout).starts_with(".ie \\n(.g .ds Aq"), "{man:?}");
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH docmill 1"), "{man:?}");
    let pages = dir.path().join("man1");
    assert_eq!(run_cli(dir.path(), &["man", "--out-dir", "man1"]).status.code(), Some(0));
    let serve_page = std::fs::read_to_string(pages.join("docmill-serve.1")).unwrap();
    assert!(serve_page.contains("DOCMILL_JOB_TIMEOUT"), "{serve_page}");
}

#[test]
fn environment_variables_set_switches_and_the_flag_wins() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.txt", b"Some words here.");
    let analyze = |env: &[(&str, &str)], args: &[&str]| {
        let mut command = std::process::Command::new(crate::util::docmill_bin());
        command.current_dir(dir.path()).arg("analyze").args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.code(), stdout.lines().next().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()))
    };
    let (code, report) = analyze(&[("DOCMILL_TEXT", "true"), ("DOCMILL_WORKERS", "1")], &["a.txt"]);
    assert_eq!(code, Some(0));
    assert_eq!(report.unwrap()["text"], "Some words here.", "DOCMILL_TEXT=true is --text");
    let (_, report) = analyze(&[("DOCMILL_TEXT", "no")], &["--workers", "1", "a.txt"]);
    assert!(report.unwrap().get("text").is_none(), "DOCMILL_TEXT=no is off");
    // The flag wins over a variable that would not even parse.
    let (code, _) = analyze(&[("DOCMILL_WORKERS", "zero")], &["--workers", "1", "a.txt"]);
    assert_eq!(code, Some(0));
    let (code, _) = analyze(&[("DOCMILL_WORKERS", "zero")], &["a.txt"]);
    assert_eq!(code, Some(2), "a bad variable is a usage error");
}

#[test]
fn bad_durations_and_sizes_are_usage_errors_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in
        [("--job-timeout", "30x"), ("--job-ttl", "0"), ("--max-upload-bytes", "5 parsecs"), ("--bind", "8080")]
    {
        let output = run_cli(dir.path(), &["serve", flag, value]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
    }
}

#[test]
fn serve_takes_units_and_a_bare_port_listens_on_all_interfaces() {
    let server = Server::start(&[
        "--bind",
        ":0",
        "--workers",
        "1",
        "--job-timeout",
        "500ms",
        "--job-ttl",
        "7d",
        "--max-upload-bytes",
        "1KiB",
    ]);
    assert!(server.addr.starts_with("0.0.0.0:"), "{}", server.addr);
    let loopback = format!("127.0.0.1:{}", server.addr.rsplit(':').next().unwrap());
    assert_eq!(request(&loopback, "GET", "/healthz", &[], b"").status, 200);
    let too_big = request(&loopback, "PUT", "/v1/analyze?filename=big.txt", &[], &[b'a'; 2048]);
    assert_eq!(too_big.status, 413, "--max-upload-bytes 1KiB: {}", too_big.text());
    let slow = request(&loopback, "PUT", "/v1/analyze?filename=slow.bin", &[], b"DOCMILL-FAULT:sleep-5000");
    assert_eq!(slow.status, 504, "--job-timeout 500ms: {}", slow.text());
    assert!(slow.text().contains("0.500s"), "{}", slow.text());
}
