//! Integration tests: the real `docmill` binary over real sockets.

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
mod pool_faults;
mod readme;
mod refusals;
mod sandbox;
mod shared_store;
mod shutdown;
mod stalls;
mod storage;
mod structure;
mod submit;
mod web;
