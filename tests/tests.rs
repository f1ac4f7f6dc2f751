//! Integration tests: the real `docmill` binary over real sockets.

mod util;

mod batch;
mod cli;
mod http_api;
mod jobs;
mod lifecycle;
mod ocr;
mod pool_faults;
mod submit;
mod web;
