//! A worker's log lines. Workers share the service's stderr, so each line
//! goes out whole in one `write` (two workers never interleave halves of
//! their lines), and a line stderr cannot take at once is dropped rather than
//! waited for: a full pipe nobody reads must not hold a worker in the middle
//! of a document until its deadline kills it.

use std::fmt;
use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Longest line written; a pipe takes up to `PIPE_BUF` (4096) bytes in one
/// atomic write.
const MAX_LINE_BYTES: usize = 4000;

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Lines dropped since the worker started because stderr could not take them.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Writes one line (a newline is added) to stderr, or drops it.
pub fn line(args: fmt::Arguments<'_>) {
    let mut text = args.to_string();
    if text.len() > MAX_LINE_BYTES {
        let mut end = MAX_LINE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text.push('\n');
    let stderr = std::io::stderr();
    let mut fds = [PollFd::new(stderr.as_fd(), PollFlags::POLLOUT)];
    let writable = matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
        && fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLOUT));
    if !writable || stderr.lock().write_all(text.as_bytes()).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// `eprintln!` for workers: the line whole, or not at all.
#[macro_export]
macro_rules! log_line {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}
