//! Integration tests: the real `docmill` binary over real sockets.

mod util;

mod batch;
mod cli;
mod hostile;
mod hostile_xlsx;
mod http_api;
mod jobs;
mod lifecycle;
mod pool_faults;
mod structure;
mod submit;
mod web;
