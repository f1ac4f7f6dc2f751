//! Integration tests: the real `docmill` binary over real sockets.

/// Says on the terminal that a check did not run. libtest captures what a
/// passing test prints with `println!` and `eprintln!`, so a skip reported
/// that way is never seen; a write to stderr itself is not captured.
macro_rules! loud {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// The engine tests' PDF writer and hostile PDFs, shared by path.
#[path = "../engine/tests/engine/pdf_fixtures.rs"]
#[allow(dead_code)]
mod pdf_fixtures;
mod util;

mod auth;
mod batch;
mod cache;
mod cli;
mod handoff;
mod hostile;
mod hostile_xlsx;
mod http_api;
mod job_store;
mod jobs;
mod lifecycle;
mod logging;
mod ocr;
mod peers;
mod pipelining;
mod pool_faults;
mod readme;
mod refusals;
mod sandbox;
mod shared_store;
mod shutdown;
mod slow_readers;
mod stalls;
mod storage;
mod structure;
mod submit;
mod submit_resume;
mod web;
