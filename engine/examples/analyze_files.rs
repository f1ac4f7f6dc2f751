//! The engine in-process on the files given, for profiling:
//! `analyze_files [--repeat N] FILE...` analyses each file N times (once by
//! default) and prints, per file, its size, format and the wall time of one
//! analysis. Run it under `valgrind --tool=callgrind` to count instructions
//! of the analysis alone (`docmill analyze` does the work in worker
//! processes, which callgrind does not follow by default).
//! `analyze_files --reports FILE...` prints each file's report instead, one
//! JSON line each with its timing zeroed, to compare two builds' reports.

use std::time::Instant;

use docmill_engine::Options;
use docmill_engine::{self as engine, Input};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut repeat = 1;
    if args.first().is_some_and(|a| a == "--reports") {
        return print_reports(&args[1..]);
    }
    if args.first().is_some_and(|a| a == "--repeat") {
        repeat = args.get(1).and_then(|n| n.parse().ok()).expect("usage: analyze_files [--repeat N] FILE...");
        args.drain(..2);
    }
    assert!(!args.is_empty(), "usage: analyze_files [--repeat N] FILE...");
    for path in &args {
        let bytes = std::fs::read(path).unwrap_or_else(|err| panic!("cannot read {path}: {err}"));
        let started = Instant::now();
        let mut format = String::new();
        for _ in 0..repeat {
            let input = Input { filename: path, declared_type: None, sha256: None, bytes: &bytes };
            format = match engine::analyze(&input, &Options::default()) {
                Ok(report) => format!("{:?}", report.format),
                Err(err) => format!("error: {err}"),
            };
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0 / repeat as f64;
        println!("{path}\t{} bytes\t{format}\t{ms:.2} ms", bytes.len());
    }
}

fn print_reports(paths: &[String]) {
    for path in paths {
        let bytes = std::fs::read(path).unwrap_or_else(|err| panic!("cannot read {path}: {err}"));
        let input = Input { filename: path, declared_type: None, sha256: None, bytes: &bytes };
        match engine::analyze(&input, &Options::default()) {
            Ok(mut report) => {
                report.timing = Default::default();
                println!("{}", serde_json::to_string(&report).expect("a report serialises"));
            }
            Err(err) => println!("{path}\terror: {err}"),
        }
    }
}
