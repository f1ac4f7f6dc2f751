//! One worker's life as the server sees it: boot (wait for its `Ready`),
//! serve tasks one at a time over its request socket and response pipe,
//! retire. [`WorkerTask::retire`]
//! is the one place that kills a worker and counts why.

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use docmill_worker::protocol::{self, AnalyzeRequest, ErrorCode, FromWorker, Outcome, ToWorker};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::time::Instant;

use super::handoff;
use super::registry::cpu_and_stopped;
use super::{Document, Pool, Queued, RawReport, Reply, Restart, TaskError, WorkerState};
use crate::supervisor::channel::RequestSocket;

/// How long a freshly forked worker may take to say it is ready.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an idle worker is asked whether it still answers. A worker
/// stopped (SIGSTOP) or wedged while idle is found within this plus
/// [`PING_TIMEOUT`], and replaced before work reaches it.
const PING_INTERVAL: Duration = Duration::from_secs(2);
/// How long a ping may go unanswered. An idle worker answers within
/// microseconds; a second covers a machine whose cores are all busy (idle
/// workers run at the same niceness as busy ones, so they are scheduled).
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// A worker out of work for longer than this is pinged before it is handed
/// a task, so a worker stopped while idle does not swallow a document until
/// the task deadline. Workers of a busy pool are never out of work this
/// long, so this costs nothing under load.
const PING_BEFORE_TASK_AFTER: Duration = Duration::from_millis(250);
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

pub(super) struct WorkerTask {
    pool: Arc<Pool>,
    worker_id: u64,
    pid: i32,
    requests: RequestSocket,
    responses: pipe::Receiver,
    tasks_done: u64,
    /// CPU time the worker had used by its last message (boot, answer, pong).
    cpu_at_last_answer: Duration,
    /// When the worker last answered anything (a ping is due
    /// [`PING_INTERVAL`] after).
    last_heard: Instant,
    /// When the worker booted or last finished a task: a worker that has
    /// been out of work for [`PING_BEFORE_TASK_AFTER`] is pinged before it
    /// takes one.
    last_busy: Instant,
    next_ping: u64,
    /// Tasks before this worker is recycled: `--max-jobs-per-worker` less a
    /// per-worker jitter, so workers started together do not all retire at
    /// once.
    quota: u64,
}

/// How a task's exchange with the worker ended.
enum Ending {
    Answer(Result<FromWorker, WireError>),
    Deadline,
    ClientGone,
}

enum WireError {
    /// The pipe closed: the worker is gone.
    Closed,
    /// The worker wrote something that is not a valid frame.
    Garbage(String),
}

impl WorkerTask {
    /// Drives one worker from boot until it dies or is retired.
    pub(super) async fn run(pool: Arc<Pool>, worker_id: u64, pid: i32, requests: OwnedFd, responses: OwnedFd) {
        let (requests, responses) = match (RequestSocket::new(requests), pipe::Receiver::from_owned_fd(responses)) {
            (Ok(tx), Ok(rx)) => (tx, rx),
            _ => {
                tracing::error!("worker {pid}: its request socket or response pipe is not usable");
                pool.kill(worker_id);
                return;
            }
        };
        let max = pool.config.max_tasks_per_worker;
        let jitter = worker_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) % (max / 10 + 1);
        let quota = max.saturating_sub(jitter).max(1);
        let mut worker = WorkerTask {
            pool,
            worker_id,
            pid,
            requests,
            responses,
            tasks_done: 0,
            cpu_at_last_answer: Duration::ZERO,
            last_heard: Instant::now(),
            last_busy: Instant::now(),
            next_ping: 1,
            quota,
        };
        if !worker.boot().await {
            return;
        }
        while let Some(queued) = worker.wait_for_task().await {
            if let Err(restart) = worker.serve(queued).await {
                worker.retire(restart);
                return;
            }
        }
    }

    /// Waits for the worker's `Ready`; false if it did not boot.
    async fn boot(&mut self) -> bool {
        match tokio::time::timeout(BOOT_TIMEOUT, read_message(&mut self.responses)).await {
            Ok(Ok(FromWorker::Ready { cpu_micros, ocr, .. })) => {
                self.heard(cpu_micros);
                self.last_busy = Instant::now();
                self.pool.booted(self.worker_id, ocr);
                true
            }
            // It died during boot; the supervisor reports how and backs off
            // if it keeps happening.
            Ok(Err(WireError::Closed)) => false,
            _ => {
                tracing::error!("worker {} did not boot properly; killing it", self.pid);
                self.pool.kill(self.worker_id);
                false
            }
        }
    }

    /// The next task for this worker. While idle, the response pipe is
    /// watched too: a worker that dies between tasks (killed from outside,
    /// OOM) is noticed here, before a task is handed to it. An idle worker is
    /// pinged every [`PING_INTERVAL`], and once more before it takes a task
    /// after a quiet spell; one that does not answer is replaced, and the
    /// task it was about to get goes back to the queue.
    async fn wait_for_task(&mut self) -> Option<Queued> {
        loop {
            let mut probe = [0u8; 1];
            let ping_due = self.last_heard + PING_INTERVAL;
            let queued = tokio::select! {
                queued = self.pool.next_task() => queued?,
                read = self.responses.read(&mut probe) => {
                    match read {
                        Ok(0) | Err(_) if self.pool.is_draining() => {}
                        Ok(0) | Err(_) => {
                            let exit = self.pool.exits.wait(self.worker_id).await;
                            tracing::error!("idle worker {} died: {}", self.pid, exit.how);
                            self.retire(Restart::Crashed);
                        }
                        Ok(_) => {
                            tracing::error!("idle worker {} wrote unasked; killing it", self.pid);
                            self.retire(Restart::Crashed);
                        }
                    }
                    return None;
                }
                _ = tokio::time::sleep_until(ping_due) => {
                    if let Err(restart) = self.ping().await {
                        self.retire(restart);
                        return None;
                    }
                    continue;
                }
            };
            if queued.reply.is_closed() {
                // The client left while the task was queued: no CPU for
                // nobody.
                continue;
            }
            if self.last_busy.elapsed() > PING_BEFORE_TASK_AFTER {
                if let Err(restart) = self.ping().await {
                    self.pool.requeue(queued);
                    self.retire(restart);
                    return None;
                }
            }
            return Some(queued);
        }
    }

    /// Asks an idle worker whether it still answers. `Err` names why it
    /// must be replaced.
    async fn ping(&mut self) -> Result<(), Restart> {
        let nonce = self.next_ping;
        self.next_ping += 1;
        let frame = protocol::encode_request(&ToWorker::Ping { nonce });
        let exchange = async {
            self.requests.send(&frame, None).await.map_err(|_| WireError::Closed)?;
            read_message(&mut self.responses).await
        };
        match tokio::time::timeout(PING_TIMEOUT, exchange).await {
            Ok(Ok(FromWorker::Pong { nonce: answered, cpu_micros })) if answered == nonce => {
                self.heard(cpu_micros);
                Ok(())
            }
            Ok(Err(WireError::Closed)) => {
                let exit = self.pool.exits.wait(self.worker_id).await;
                tracing::error!("idle worker {} died: {}", self.pid, exit.how);
                Err(Restart::Crashed)
            }
            Ok(_) => {
                tracing::error!("idle worker {} answered a ping with something else; killing it", self.pid);
                Err(Restart::Crashed)
            }
            Err(_) => {
                tracing::error!(
                    "idle worker {} did not answer a ping within {:?} (stopped or wedged); replacing it",
                    self.pid,
                    PING_TIMEOUT
                );
                Err(Restart::Unresponsive)
            }
        }
    }

    /// Records that the worker answered, with its CPU time so far.
    fn heard(&mut self, cpu_micros: u64) {
        self.cpu_at_last_answer = Duration::from_micros(cpu_micros);
        self.last_heard = Instant::now();
    }

    /// Runs one task on the worker and answers it. `Err` names why the
    /// worker must be replaced now.
    ///
    /// A worker that dies under a task, or that was stopped or starved
    /// until the deadline, is not taken as the document's fault the first
    /// time: the task goes back to the queue for another worker, and only a
    /// second such ending answers the client (and counts against the
    /// document in the quarantine).
    async fn serve(&mut self, mut queued: Queued) -> Result<(), Restart> {
        let pool = Arc::clone(&self.pool);
        pool.set_state(self.worker_id, WorkerState::Busy);
        let queue_ms = queued.enqueued.elapsed().as_millis() as u64;
        let prepared = match queued.prepared.take() {
            Some(prepared) => prepared,
            None => {
                let document = std::mem::replace(&mut queued.task.document, Document::Memory(bytes::Bytes::new()));
                match handoff::prepare(document).await {
                    Ok(prepared) => prepared,
                    Err(err) => {
                        let error = TaskError::Internal(format!("cannot hand the spooled upload to a worker: {err}"));
                        fail(&pool, queued.reply, error);
                        pool.set_state(self.worker_id, WorkerState::Idle);
                        return Ok(());
                    }
                }
            }
        };
        // Every way the worker fails this document is logged naming it, in
        // the request's span, so an operator can find the file again.
        let size = prepared.len();
        // The digest is spelled out only when a failure is logged. One being
        // computed while the worker ran is waited for off this task.
        let (digest, filename, span, pid) =
            (queued.task.digest.clone(), queued.task.filename.clone(), queued.span.clone(), self.pid);
        let log_failure = |what: &str| {
            let (filename, span, what) = (filename.clone(), span.clone(), what.to_owned());
            let log = move |digest: Option<[u8; 32]>| {
                let sha256 = digest.map_or_else(|| "unknown".to_owned(), |digest| hex(&digest));
                tracing::error!(parent: &span, filename = %filename, size, sha256 = %sha256, worker_pid = pid, "{what}")
            };
            match digest.known() {
                Some(known) => log(Some(known)),
                None => {
                    let digest = digest.clone();
                    tokio::spawn(async move { log(digest.wait().await) });
                }
            }
        };
        let task_id = pool.next_task_id.fetch_add(1, Ordering::Relaxed);
        let frame = protocol::encode_request(&ToWorker::Analyze(AnalyzeRequest {
            task_id,
            filename: &queued.task.filename,
            declared_type: queued.task.declared_type.as_deref(),
            options: queued.task.options,
            digest: queued.task.digest.wire(),
            document: prepared.body(),
        }));
        let deadline = tokio::time::Instant::now() + pool.config.task_timeout;
        let exchange = async {
            let frame = frame;
            self.requests.send(&frame, prepared.fd()).await.map_err(|_| WireError::Closed)?;
            drop(frame);
            read_message(&mut self.responses).await
        };
        let ending = tokio::select! {
            answer = exchange => Ending::Answer(answer),
            _ = tokio::time::sleep_until(deadline) => Ending::Deadline,
            _ = queued.reply.closed() => Ending::ClientGone,
        };
        // Kept until the answer, for a second try should this worker die
        // under the document.
        queued.prepared = Some(prepared);
        match ending {
            Ending::Answer(Ok(FromWorker::Done(result))) if result.task_id == task_id => {
                self.tasks_done += 1;
                self.heard(result.cpu_micros);
                self.last_busy = Instant::now();
                let reply = match result.outcome {
                    Outcome::Report(json) => match RawReport::from_worker(json, &queued.task.filename) {
                        Ok(mut report) => {
                            report.set_queue_ms(queue_ms);
                            Ok(report)
                        }
                        Err(why) => Err(TaskError::Internal(format!("worker sent an unusable report: {why}"))),
                    },
                    Outcome::Error { code: ErrorCode::ParseFailed, message } => {
                        // A worker asks to be replaced after a parse error
                        // only when the parser panicked.
                        if result.recycle {
                            log_failure(&message);
                        }
                        Err(TaskError::ParseFailed(message))
                    }
                    Outcome::Error { code: ErrorCode::BadRequest, message } => Err(TaskError::BadRequest(message)),
                };
                pool.count_outcome(&reply);
                let _ = queued.reply.send(reply);
                pool.set_tasks_done(self.worker_id, self.tasks_done);
                let retire = result.recycle
                    || self.tasks_done >= self.quota
                    || result.private_bytes > pool.config.recycle_private_bytes;
                if retire {
                    return Err(Restart::Recycled);
                }
                pool.set_state(self.worker_id, WorkerState::Idle);
                Ok(())
            }
            Ending::Answer(Ok(_)) => {
                let message = format!("worker {} sent an unexpected message and was replaced", self.pid);
                log_failure(&message);
                self.retry_or_fail(queued, TaskError::Crashed(message));
                Err(Restart::Crashed)
            }
            Ending::Answer(Err(WireError::Garbage(why))) => {
                let message = format!("worker {} sent a malformed response ({why}) and was replaced", self.pid);
                log_failure(&message);
                self.retry_or_fail(queued, TaskError::Crashed(message));
                Err(Restart::Crashed)
            }
            Ending::Answer(Err(WireError::Closed)) => {
                let exit = pool.exits.wait(self.worker_id).await;
                log_failure(&format!("{} while analysing a document", exit.how));
                let message = format!("{} while analysing this document", exit.how);
                if exit.killed_from_outside {
                    self.retry_after_outside_kill(queued, message);
                } else {
                    self.retry_or_fail(queued, TaskError::Crashed(message));
                }
                Err(Restart::Crashed)
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
                        log_failure(&format!(
                            "analysis took longer than {:.3}s; worker {pid} was stopped",
                            timeout.as_secs_f64()
                        ));
                        fail(&pool, queued.reply, TaskError::TimedOut(timeout));
                    }
                }
                Err(Restart::TimedOut)
            }
            Ending::ClientGone => Err(Restart::Cancelled),
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

    /// Kills the worker (the supervisor reaps it and forks a replacement)
    /// and counts why. Killing a worker that already died is harmless: the
    /// supervisor has not reaped it yet, or no longer knows it.
    fn retire(&self, restart: Restart) {
        // Whatever the cause, it takes no more work: until the supervisor
        // reports it reaped (a stopped supervisor does not), `/readyz` and
        // `/v1/pool` must not count it as a worker that can.
        self.pool.set_state(self.worker_id, WorkerState::Retiring);
        self.pool.kill(self.worker_id);
        self.pool.restarts.count(restart);
    }
}

/// Answers a task with an error and counts it.
fn fail(pool: &Pool, reply: Reply, error: TaskError) {
    pool.counters.documents_failed.fetch_add(1, Ordering::Relaxed);
    let _ = reply.send(Err(error));
}

/// Lower-case hex, as reports spell a sha256.
fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

async fn read_message(responses: &mut pipe::Receiver) -> Result<FromWorker, WireError> {
    let mut header = [0u8; protocol::FRAME_HEADER_LEN];
    responses.read_exact(&mut header).await.map_err(|_| WireError::Closed)?;
    let len =
        protocol::body_len(header, protocol::MAX_RESPONSE_FRAME).map_err(|err| WireError::Garbage(err.to_string()))?;
    let mut body = vec![0u8; len];
    responses.read_exact(&mut body).await.map_err(|_| WireError::Closed)?;
    protocol::decode_response(&body).map_err(|err| WireError::Garbage(err.to_string()))
}
