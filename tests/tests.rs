//! Integration tests: the real `docmill` binary over real sockets.

mod util;

mod cli;
mod http_api;
mod lifecycle;
mod pool_faults;
