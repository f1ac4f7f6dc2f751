//! Logging through `tracing`, set up so that it never blocks the server:
//! events are formatted on the thread that logs them (text or one JSON
//! object per line) and handed to tracing-appender's non-blocking writer,
//! whose one thread writes stderr. When stderr is slow (a full pipe, a
//! stalled terminal) lines are dropped and counted
//! (`docmill_log_lines_dropped_total`), never waited for.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};

use crate::config::LogFormat;

/// Lines held while the writer thread catches up; past this they are
/// dropped. At ~200 bytes a line that is under 2 MiB of memory, and several
/// seconds of a busy access log.
const LOG_BUFFER_LINES: usize = 8192;

/// The writer thread collects the lines waiting for it into one buffer of
/// this size and writes it at once (flushing after each batch), rather
/// than a `write` per line: a busy access log costs a system call per
/// batch, not per request. 64 KiB holds a few hundred lines.
const LOG_WRITE_BUFFER_BYTES: usize = 64 << 10;

static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Installs the global subscriber. Call after the supervisor is forked: the
/// writer is a thread. Keep the guard until the process exits; dropping it
/// flushes the lines still buffered.
pub fn init(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_BUFFER_LINES)
        .thread_name("docmill-log")
        .finish(std::io::BufWriter::with_capacity(LOG_WRITE_BUFFER_BYTES, std::io::stderr()));
    let _ = DROPPED.set(writer.error_counter());
    let builder = tracing_subscriber::fmt().with_writer(writer).with_max_level(tracing::Level::INFO).with_target(false);
    // A second init (tests, or a subcommand that logs twice) keeps the first.
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
    };
    guard
}

/// Log lines dropped because stderr could not keep up.
pub fn dropped() -> u64 {
    DROPPED.get().map_or(0, |counter| counter.dropped_lines() as u64)
}
