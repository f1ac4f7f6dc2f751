//! A logger that never blocks the server: lines go through a bounded channel
//! to one thread that writes stderr. When stderr is slow (a full pipe, a
//! stalled terminal) lines are dropped and counted, not waited for.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::OnceLock;

/// Lines held while the writer thread catches up; past this they are dropped.
const LOG_BUFFER_LINES: usize = 4096;

static SENDER: OnceLock<SyncSender<String>> = OnceLock::new();
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Starts the writer thread. Call after the supervisor is forked: from here
/// on the process has threads.
pub fn init() {
    SENDER.get_or_init(|| {
        let (tx, rx) = mpsc::sync_channel::<String>(LOG_BUFFER_LINES);
        std::thread::Builder::new()
            .name("docmill-log".into())
            .spawn(move || {
                let stderr = std::io::stderr();
                for line in rx {
                    let _ = stderr.lock().write_all(line.as_bytes());
                }
            })
            .expect("cannot start the log thread");
        tx
    });
}

fn emit(level: &str, message: std::fmt::Arguments<'_>) {
    let line = format!("docmill {level}: {message}\n");
    match SENDER.get() {
        Some(tx) => {
            if tx.try_send(line).is_err() {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

pub fn error(message: std::fmt::Arguments<'_>) {
    emit("error", message);
}

pub fn info(message: std::fmt::Arguments<'_>) {
    emit("info", message);
}

pub fn warn(message: std::fmt::Arguments<'_>) {
    emit("warning", message);
}

/// Log lines dropped because stderr could not keep up.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}
