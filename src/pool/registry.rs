//! What the pool knows about its workers, for `/v1/pool`, `/readyz` and
//! `/metrics`: each live worker's state, the ways a worker ends and how often
//! each happened, and how the supervisor saw each worker exit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Serialize;
use tokio::sync::oneshot;

/// How long a worker task waits for the supervisor to report how a dead
/// worker ended, to name the signal or exit status in the client's error.
const EXIT_STATUS_WAIT: Duration = Duration::from_secs(2);
/// Exit statuses kept for worker tasks that have not asked yet.
const MAX_REMEMBERED_EXITS: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    Booting,
    Idle,
    Busy,
    Retiring,
}

impl WorkerState {
    pub const ALL: [WorkerState; 4] =
        [WorkerState::Booting, WorkerState::Idle, WorkerState::Busy, WorkerState::Retiring];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Booting => "booting",
            WorkerState::Idle => "idle",
            WorkerState::Busy => "busy",
            WorkerState::Retiring => "retiring",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct WorkerInfo {
    pub pid: i32,
    pub state: WorkerState,
    /// Tasks this worker has answered (`jobs_done` in the contract).
    #[serde(rename = "jobs_done")]
    pub tasks_done: u64,
    /// Resident memory, read from `/proc` when asked for.
    pub rss_bytes: u64,
}

/// Every way a worker that booted is replaced. Each is counted once, where
/// the worker's task retires it (`worker::WorkerTask::retire`).
///
/// How the supervisor saw the process end is reported beside it: a signal
/// (`SIGKILL` from us for every cause but `Crashed`; `SIGKILL` from outside or
/// the OOM killer, `SIGSEGV`, `SIGABRT` for `Crashed`), or an exit status
/// (`worker_loop::EXIT_BOOT_FAILED` for a worker that could not start, which
/// is not a restart but a boot failure, counted in [`Counters`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// It died on its own (signal, abort, exit), or wrote garbage.
    Crashed,
    /// It ran past the deadline and was killed.
    TimedOut,
    /// It reached its task quota, kept too much memory, or caught a panic.
    Recycled,
    /// Its client left mid-task, so it was killed to free the CPU.
    Cancelled,
    /// It was idle and did not answer a ping in time: stopped (SIGSTOP) or
    /// wedged. It was killed before a document was handed to it.
    Unresponsive,
}

impl Restart {
    pub const ALL: [Restart; 5] =
        [Restart::Crashed, Restart::TimedOut, Restart::Recycled, Restart::Cancelled, Restart::Unresponsive];

    pub fn as_str(self) -> &'static str {
        match self {
            Restart::Crashed => "crashed",
            Restart::TimedOut => "timed_out",
            Restart::Recycled => "recycled",
            Restart::Cancelled => "cancelled",
            Restart::Unresponsive => "unresponsive",
        }
    }
}

/// Restart counts by cause, as `/v1/pool` and `/metrics` report them.
#[derive(Default)]
pub struct Restarts([AtomicU64; Restart::ALL.len()]);

impl Restarts {
    pub fn count(&self, restart: Restart) {
        self.0[restart as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, restart: Restart) -> u64 {
        self.0[restart as usize].load(Ordering::Relaxed)
    }
}

#[derive(Default)]
pub struct Counters {
    pub documents_ok: AtomicU64,
    pub documents_failed: AtomicU64,
    pub boot_failures: AtomicU64,
    pub spawned: AtomicU64,
    /// Tasks sent to a worker before it answered the one it was on.
    pub sent_ahead: AtomicU64,
    /// Tasks sent ahead and queued again for any worker because the task
    /// before them ran long.
    pub taken_back: AtomicU64,
}

enum ExitSlot {
    Waiting(oneshot::Sender<Exit>),
    Exited(Exit),
}

/// How a worker ended: the words for a log line or an error message, and
/// whether it was `SIGKILL`ed by someone other than the pool (an operator,
/// the OOM killer), which says nothing about the document it was reading.
/// The pool's own kills (deadline, cancellation, recycling) end a worker
/// only after its task has been answered or given up.
#[derive(Clone, Debug)]
pub struct Exit {
    pub how: String,
    pub killed_from_outside: bool,
}

impl Exit {
    pub fn new(pid: i32, code: Option<i32>, signal: Option<i32>) -> Exit {
        Exit { how: describe_exit(pid, code, signal), killed_from_outside: signal == Some(libc::SIGKILL) }
    }
}

/// How each worker ended, as the supervisor reported it, kept until the
/// worker's task asks (it may ask before or after the report arrives).
#[derive(Default)]
pub struct Exits(Mutex<HashMap<u64, ExitSlot>>);

impl Exits {
    pub fn record(&self, worker_id: u64, how: Exit) {
        let mut exits = self.0.lock().unwrap();
        match exits.remove(&worker_id) {
            Some(ExitSlot::Waiting(waiter)) => {
                let _ = waiter.send(how);
            }
            _ => {
                if exits.len() >= MAX_REMEMBERED_EXITS {
                    if let Some(oldest) = exits.keys().min().copied() {
                        exits.remove(&oldest);
                    }
                }
                exits.insert(worker_id, ExitSlot::Exited(how));
            }
        }
    }

    /// How a worker ended, once the supervisor has reaped it.
    pub async fn wait(&self, worker_id: u64) -> Exit {
        let waiter = {
            let mut exits = self.0.lock().unwrap();
            match exits.remove(&worker_id) {
                Some(ExitSlot::Exited(how)) => return how,
                _ => {
                    let (tx, rx) = oneshot::channel();
                    exits.insert(worker_id, ExitSlot::Waiting(tx));
                    rx
                }
            }
        };
        match tokio::time::timeout(EXIT_STATUS_WAIT, waiter).await {
            Ok(Ok(how)) => how,
            _ => {
                self.0.lock().unwrap().remove(&worker_id);
                Exit { how: "worker died (exit status not known)".into(), killed_from_outside: false }
            }
        }
    }
}

/// Resident set size of a process, from `/proc/PID/statm` (a memory-only
/// file: reading it does not touch the disk).
pub fn resident_bytes(pid: i32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().unwrap_or(4096) as u64;
    Some(pages * page_size)
}

/// CPU time a process has used so far, and whether it is stopped, from
/// `/proc/PID/stat` (memory-only, like `statm`).
pub fn cpu_and_stopped(pid: i32) -> Option<(Duration, bool)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    let state = fields.next()?;
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the state.
    let mut fields = fields.skip(10);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks_per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as u64;
    let cpu = Duration::from_micros((utime + stime) * 1_000_000 / ticks_per_second.max(1));
    Some((cpu, matches!(state, "T" | "t")))
}

/// "worker 1234 was killed by SIGSEGV" or "worker 1234 exited with status 3".
pub fn describe_exit(pid: i32, code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (_, Some(number)) => {
            let name =
                Signal::try_from(number).map(|s| s.as_str().to_owned()).unwrap_or_else(|_| format!("signal {number}"));
            let hint = match number {
                libc::SIGKILL => " (killed from outside, or out of memory)",
                libc::SIGSYS => " (it made a system call the sandbox forbids)",
                // Rust aborts when an allocation fails, and under the
                // address-space limit that is what a worker's abort
                // almost always is.
                libc::SIGABRT => " (it aborted: most often an allocation past --worker-memory)",
                _ => "",
            };
            format!("worker {pid} was killed by {name}{hint}")
        }
        (Some(code), None) => format!("worker {pid} exited with status {code}"),
        (None, None) => format!("worker {pid} ended"),
    }
}

/// Latency bucket bounds in seconds: from a cached probe to a document that
/// runs into the default job timeout.
pub const LATENCY_BUCKETS: [f64; 14] =
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// A latency histogram with the bucket bounds of [`LATENCY_BUCKETS`]
/// (cumulative counts, as Prometheus wants them).
#[derive(Default, Clone)]
pub struct Histogram {
    pub counts: [u64; LATENCY_BUCKETS.len()],
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, secs: f64) {
        for (bound, count) in LATENCY_BUCKETS.iter().zip(self.counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// What `/metrics` tells per format of the documents workers analysed.
#[derive(Default, Clone)]
pub struct FormatFigures {
    pub queue: Histogram,
    pub analysis: Histogram,
    pub bytes: u64,
}

/// [`FormatFigures`] by format. Formats are a closed set, so the label set
/// stays small whatever clients send.
#[derive(Default)]
pub struct Formats(Mutex<std::collections::BTreeMap<&'static str, FormatFigures>>);

impl Formats {
    pub fn observe(&self, report: &docmill_worker::protocol::ReportSummary) {
        let mut formats = self.0.lock().unwrap();
        let figures = formats.entry(report.format.as_str()).or_default();
        figures.queue.observe(report.timing.queue_ms as f64 / 1000.0);
        figures.analysis.observe(report.timing.analysis_ms as f64 / 1000.0);
        figures.bytes += report.size;
    }

    pub fn snapshot(&self) -> Vec<(&'static str, FormatFigures)> {
        self.0.lock().unwrap().iter().map(|(format, figures)| (*format, figures.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_and_state_come_from_proc_stat() {
        let pid = std::process::id() as i32;
        let (cpu, stopped) = cpu_and_stopped(pid).unwrap();
        assert!(!stopped, "a running test reads itself as stopped");
        let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
        let rusage = Duration::from_micros(
            (usage.user_time().tv_sec() + usage.system_time().tv_sec()) as u64 * 1_000_000
                + (usage.user_time().tv_usec() + usage.system_time().tv_usec()) as u64,
        );
        // Both count the same time, /proc in whole clock ticks (10 ms), read
        // first while other test threads may still run: a wrong unit would be
        // off by orders of magnitude.
        assert!(cpu <= rusage + Duration::from_millis(20), "/proc says {cpu:?}, getrusage {rusage:?}");
        assert!(cpu + Duration::from_millis(500) >= rusage, "/proc says {cpu:?}, getrusage {rusage:?}");
        assert!(cpu_and_stopped(i32::MAX).is_none());
    }
}
