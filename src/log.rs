//! Logging through `tracing`, set up so that it never blocks the server:
//! events are formatted on the thread that logs them (text or one JSON
//! object per line) and handed to tracing-appender's non-blocking writer,
//! whose one thread writes stderr. When stderr is slow (a full pipe, a
//! stalled terminal) lines are dropped and counted
//! (`docmill_log_lines_dropped_total`), never waited for.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

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

/// Lines that can repeat as fast as clients or retries come (a disk that
/// stays full: every refused upload, every stuck job document retried) are
/// logged at most once per this long each; the next one says how many were
/// held back meanwhile.
pub const REPEAT_INTERVAL: Duration = Duration::from_secs(10);

/// Distinct lines [`repeating`] keeps track of; past this it forgets them
/// all (they are a few fixed messages, so this never happens in practice).
const REPEATING_KEYS: usize = 64;

static REPEATING: Mutex<Option<HashMap<String, (Instant, u64)>>> = Mutex::new(None);

/// Whether the line `key` is to be logged now, at most once per
/// [`REPEAT_INTERVAL`]: `Some(n)` when it is, `n` being how many times it
/// was held back since the last time; `None` when it is held back.
pub fn repeating(key: &str) -> Option<u64> {
    let now = Instant::now();
    let mut guard = REPEATING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let seen = guard.get_or_insert_with(HashMap::new);
    if let Some((last, held)) = seen.get_mut(key) {
        if now.duration_since(*last) < REPEAT_INTERVAL {
            *held += 1;
            return None;
        }
        let said = *held;
        *last = now;
        *held = 0;
        return Some(said);
    }
    if seen.len() >= REPEATING_KEYS {
        seen.clear();
    }
    seen.insert(key.to_owned(), (now, 0));
    Some(0)
}

/// " (N more like it in the last 10 s, not logged)" after a line that
/// [`repeating`] held back N times, else nothing.
pub fn held_back(held: u64) -> String {
    if held == 0 {
        return String::new();
    }
    format!(" ({held} more like it in the last {} s, not logged)", REPEAT_INTERVAL.as_secs())
}
