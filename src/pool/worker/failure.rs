//! What happens to the task a worker was on when the worker fails under
//! it: another try on another worker, or the client's answer, and a log
//! line naming the document.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::{Ending, InFlight, WireError, WorkerTask};
use crate::pool::registry::cpu_and_stopped;
use crate::pool::{Pool, Queued, Reply, Restart, TaskError};

/// A worker that got less than this share of one core during a task that
/// timed out was not running it (stopped, or starved by other processes):
/// the document gets one more try on another worker. A document that really
/// takes too long keeps its worker on a core all the time.
const STARVED_CPU_SHARE: f64 = 0.1;
/// Tries on another worker for a task whose worker was `SIGKILL`ed from
/// outside (an operator, the OOM killer, a chaos test). Several, since the
/// kill was not the document's doing; bounded, since each costs a worker
/// and a machine short of memory may go on killing whoever reads it.
pub const OUTSIDE_KILL_RETRIES: u8 = 3;
/// What [`WorkerTask::starved`] says of a worker found stopped.
const STOPPED: &str = "was stopped";

impl WorkerTask {
    /// Deals with the task the worker is on when the worker failed under
    /// it, and says why the worker must be replaced.
    ///
    /// A worker that dies under a task, or that was stopped or starved
    /// until the deadline, is not taken as the document's fault the first
    /// time: the task goes back to the queue for another worker, and only a
    /// second such ending answers the client (and counts against the
    /// document in the quarantine). Every way the worker fails a document is
    /// logged naming it, in the request's span, so an operator can find the
    /// file again.
    pub(super) async fn head_failed(&mut self, ending: Ending) -> Restart {
        let InFlight { queued, .. } = self.in_flight.pop_front().expect("a task in flight");
        let pool = Arc::clone(&self.pool);
        // A task taken back is another worker's now: nothing to answer or
        // charge here.
        let Some(mut queued) = queued else {
            return match ending {
                Ending::Deadline => Restart::TimedOut,
                Ending::ClientGone | Ending::TakeBack => Restart::Cancelled,
                Ending::Answer(_) => Restart::Crashed,
            };
        };
        match ending {
            Ending::Answer(Ok(_)) => {
                let message = format!("worker {} sent an unexpected message and was replaced", self.pid);
                log_failure(&queued, self.pid, &message);
                self.retry_or_fail(queued, TaskError::Crashed(message));
                Restart::Crashed
            }
            Ending::Answer(Err(WireError::Garbage(why))) => {
                let message = format!("worker {} sent a malformed response ({why}) and was replaced", self.pid);
                log_failure(&queued, self.pid, &message);
                self.retry_or_fail(queued, TaskError::Crashed(message));
                Restart::Crashed
            }
            Ending::Answer(Err(WireError::Closed)) => {
                let exit = pool.exits.wait(self.worker_id).await;
                log_failure(&queued, self.pid, &format!("{} while analysing a document", exit.how));
                let message = format!("{} while analysing this document", exit.how);
                if exit.killed_from_outside {
                    self.retry_after_outside_kill(queued, message);
                } else {
                    self.retry_or_fail(queued, TaskError::Crashed(message));
                }
                Restart::Crashed
            }
            Ending::Deadline => {
                let timeout = pool.config.task_timeout;
                match self.starved(timeout) {
                    // Stopped from outside: not the document's doing, so
                    // its one retry is kept for what may be.
                    Some(why @ STOPPED) if queued.stops < OUTSIDE_KILL_RETRIES => {
                        tracing::error!(
                            "worker {} {why} until the deadline; trying its document on another worker",
                            self.pid
                        );
                        queued.stops += 1;
                        pool.requeue(queued);
                    }
                    Some(why) if !queued.retried => {
                        tracing::error!(
                            "worker {} {why} until the deadline; trying its document on another worker",
                            self.pid
                        );
                        queued.retried = true;
                        pool.requeue(queued);
                    }
                    _ => {
                        log_failure(
                            &queued,
                            self.pid,
                            &format!(
                                "analysis took longer than {:.3}s; worker {} was stopped",
                                timeout.as_secs_f64(),
                                self.pid
                            ),
                        );
                        fail(&pool, queued.reply, TaskError::TimedOut(timeout));
                    }
                }
                Restart::TimedOut
            }
            // Its client left: the worker is killed to free the CPU.
            Ending::ClientGone => Restart::Cancelled,
            // Handled where the answer is waited for.
            Ending::TakeBack => unreachable!("taking back is not a failure"),
        }
    }

    /// The first time a worker fails under a task, the task is queued again
    /// for another worker; the second time, `error` is its answer.
    fn retry_or_fail(&self, mut queued: Queued, error: TaskError) {
        if queued.retried {
            fail(&self.pool, queued.reply, error);
            return;
        }
        if let TaskError::Crashed(why) = &error {
            tracing::error!("{why}; trying the document once more on another worker");
        }
        queued.retried = true;
        self.pool.requeue(queued);
    }

    /// A worker `SIGKILL`ed from outside under a task says nothing about the
    /// document: the task goes to another worker up to
    /// [`OUTSIDE_KILL_RETRIES`] times without using its one retry, and if
    /// the kills go on, it is answered `worker_crashed` without a strike
    /// against the document.
    fn retry_after_outside_kill(&self, mut queued: Queued, message: String) {
        if queued.outside_kills >= OUTSIDE_KILL_RETRIES {
            fail(&self.pool, queued.reply, TaskError::KilledFromOutside(message));
            return;
        }
        tracing::error!("{message}; killed from outside, so trying the document on another worker");
        queued.outside_kills += 1;
        self.pool.requeue(queued);
    }

    /// Why a worker that reached a task's deadline was not really running
    /// it, if it was not: stopped, or given under [`STARVED_CPU_SHARE`] of a
    /// core since its last answer.
    fn starved(&self, timeout: Duration) -> Option<&'static str> {
        let (cpu, stopped) = cpu_and_stopped(self.pid)?;
        if stopped {
            return Some(STOPPED);
        }
        let used = cpu.saturating_sub(self.cpu_at_last_answer);
        (used.as_secs_f64() < timeout.as_secs_f64() * STARVED_CPU_SHARE).then_some("got almost no CPU time")
    }
}

/// Logs that a worker failed under a task's document, naming the document.
/// The digest is spelled out only when a failure is logged; one still being
/// computed is waited for off the worker's task.
pub(super) fn log_failure(queued: &Queued, pid: i32, what: &str) {
    let size = queued.prepared.as_ref().map_or(0, |prepared| prepared.len());
    let (filename, span, what) = (queued.task.filename.clone(), queued.span.clone(), what.to_owned());
    let log = move |digest: Option<[u8; 32]>| {
        let sha256 = digest.map_or_else(|| "unknown".to_owned(), |digest| hex(&digest));
        tracing::error!(parent: &span, filename = %filename, size, sha256 = %sha256, worker_pid = pid, "{what}")
    };
    match queued.task.digest.known() {
        Some(known) => log(Some(known)),
        None => {
            let digest = queued.task.digest.clone();
            tokio::spawn(async move { log(digest.wait().await) });
        }
    }
}

/// Answers a task with an error and counts it.
pub(super) fn fail(pool: &Pool, reply: Reply, error: TaskError) {
    pool.counters.documents_failed.fetch_add(1, Ordering::Relaxed);
    let _ = reply.send(Err(error));
}

/// Lower-case hex, as reports spell a sha256.
fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}
