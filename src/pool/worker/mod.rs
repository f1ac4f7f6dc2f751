//! One worker's life as the server sees it: boot (wait for its `Ready`),
//! serve tasks over its request socket and response pipe, retire.
//! [`WorkerTask::retire`] is the one place that kills a worker and counts
//! why.
//!
//! While small documents keep coming and the worker answers them quickly,
//! up to [`PIPELINE_DEPTH`] tasks are sent ahead of its answers: the worker
//! finds its next document waiting instead of sleeping until the server
//! wakes to send it, and one read of the response pipe (`wire`) takes
//! several answers. A worker works through its tasks in the order sent, so
//! the first unanswered one is the one it is on: that task alone is
//! charged with a crash or a deadline (which runs from the answer before
//! it), and the ones behind it, never started, go back to the queue as they
//! were.

pub(super) mod failure;
mod wire;

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use docmill_worker::protocol::{self, AnalyzeRequest, ErrorCode, FromWorker, Outcome, ToWorker};
use tokio::net::unix::pipe;
use tokio::time::Instant;

use super::handoff;
use super::{Document, Pool, Queued, RawReport, Restart, TaskError, WorkerState};
use crate::supervisor::channel::RequestSocket;
use failure::{fail, log_failure};
use wire::{Responses, WireError};

/// Most tasks a worker holds at once: the one it is on and those sent
/// ahead of its answer.
pub const PIPELINE_DEPTH: usize = 4;
/// Largest document sent ahead of the worker's answer. Four of them stay
/// well inside a request socket's send buffer, so sending one never waits
/// for the worker (which would hold up watching the deadline).
pub const PIPELINE_MAX_BYTES: u64 = 16 << 10;
/// Tasks are sent ahead only while the worker's last task took less CPU
/// time than this: the tasks queued behind a slow document wait for it, and
/// a document that is slow once is often slow again. CPU time, not time
/// taken, so that a machine whose cores are all busy (when sending ahead
/// saves the most) does not turn it off.
const PIPELINE_AFTER_TASK_UNDER: Duration = Duration::from_millis(20);
/// The tasks sent behind a task the worker has been on this long are
/// queued again for any worker (the copies this worker holds are answered
/// into the void), so a document that turns out slow, or a worker stopped
/// under it, holds up no other document for long.
const TAKE_BACK_AFTER: Duration = Duration::from_millis(250);
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
pub(super) struct WorkerTask {
    pool: Arc<Pool>,
    worker_id: u64,
    pid: i32,
    requests: RequestSocket,
    responses: Responses,
    tasks_done: u64,
    /// CPU time the worker had used by its last message (boot, answer, pong).
    cpu_at_last_answer: Duration,
    /// When the worker last answered anything (a ping is due
    /// [`PING_INTERVAL`] after; the task it is on started then at the
    /// latest).
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
    /// Tasks sent and not yet answered, in the order sent: the first is
    /// the one the worker is on.
    in_flight: VecDeque<InFlight>,
    /// A task taken to send ahead that may not be (too large, or already
    /// tried on a worker that failed): it goes alone, once the worker has
    /// answered everything before it.
    held: Option<Queued>,
    /// The worker's last task took under [`PIPELINE_AFTER_TASK_UNDER`] of
    /// CPU time.
    fast: bool,
}

/// A task sent to the worker.
struct InFlight {
    /// `None` once taken back for another worker: the worker's answer to
    /// it, if it comes, is thrown away.
    queued: Option<Queued>,
    task_id: u64,
    queue_ms: u64,
    sent: Instant,
}

/// How the exchange over the task the worker is on ended.
enum Ending {
    Answer(Result<FromWorker, WireError>),
    Deadline,
    ClientGone,
    /// The task has run [`TAKE_BACK_AFTER`] with others sent behind it.
    TakeBack,
}

impl WorkerTask {
    /// Drives one worker from boot until it dies or is retired.
    pub(super) async fn run(pool: Arc<Pool>, worker_id: u64, pid: i32, requests: OwnedFd, responses: OwnedFd) {
        let (requests, responses) = match (RequestSocket::new(requests), pipe::Receiver::from_owned_fd(responses)) {
            (Ok(tx), Ok(rx)) => (tx, Responses::new(rx)),
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
            in_flight: VecDeque::with_capacity(PIPELINE_DEPTH),
            held: None,
            fast: false,
        };
        if !worker.boot().await {
            return;
        }
        while let Some(queued) = worker.wait_for_task().await {
            if let Err(restart) = worker.serve(queued).await {
                worker.give_back();
                worker.retire(restart);
                return;
            }
        }
    }

    /// Waits for the worker's `Ready`; false if it did not boot.
    async fn boot(&mut self) -> bool {
        match tokio::time::timeout(BOOT_TIMEOUT, self.responses.next()).await {
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
            let ping_due = self.last_heard + PING_INTERVAL;
            let queued = tokio::select! {
                queued = self.pool.next_task() => queued?,
                wrote = self.responses.wrote_unasked() => {
                    match wrote {
                        Err(_) if self.pool.is_draining() => {}
                        Err(_) => {
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
            self.responses.next().await
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

    /// Runs `first` on the worker, and the tasks sent ahead of its answers
    /// while it stays quick, until every task sent is answered. `Err` names
    /// why the worker must be replaced now; the tasks it had not started
    /// are still in `in_flight` and `held`, for [`WorkerTask::give_back`].
    async fn serve(&mut self, first: Queued) -> Result<(), Restart> {
        self.pool.set_state(self.worker_id, WorkerState::Busy);
        self.held = Some(first);
        loop {
            if self.in_flight.is_empty() {
                match self.held.take() {
                    Some(queued) => self.send(queued).await?,
                    None => break,
                }
                continue;
            }
            self.top_up().await?;
            self.answer_head().await?;
        }
        self.pool.set_state(self.worker_id, WorkerState::Idle);
        Ok(())
    }

    /// Sends tasks ahead of the worker's answers while it is quick, no
    /// other worker is waiting for work, and its quota has room.
    async fn top_up(&mut self) -> Result<(), Restart> {
        while self.fast
            && self.held.is_none()
            && self.in_flight.len() < PIPELINE_DEPTH
            && self.tasks_done + (self.in_flight.len() as u64) < self.quota
            && !self.pool.workers_waiting()
        {
            let Some(queued) = self.pool.try_next_task() else { break };
            if queued.reply.is_closed() {
                continue;
            }
            if pipelinable(&queued) {
                self.pool.counters.sent_ahead.fetch_add(1, Ordering::Relaxed);
                self.send(queued).await?;
            } else {
                self.held = Some(queued);
            }
        }
        Ok(())
    }

    /// Sends a task to the worker and adds it to `in_flight`. A document
    /// that cannot be handed over is answered at once.
    async fn send(&mut self, mut queued: Queued) -> Result<(), Restart> {
        let queue_ms = queued.enqueued.elapsed().as_millis() as u64;
        let prepared = match queued.prepared.take() {
            Some(prepared) => prepared,
            None => {
                let document = std::mem::replace(&mut queued.task.document, Document::Memory(bytes::Bytes::new()));
                match handoff::prepare(document).await {
                    Ok(prepared) => prepared,
                    Err(err) => {
                        let error = TaskError::Internal(format!("cannot hand the spooled upload to a worker: {err}"));
                        fail(&self.pool, queued.reply, error);
                        return Ok(());
                    }
                }
            }
        };
        let task_id = self.pool.next_task_id.fetch_add(1, Ordering::Relaxed);
        let frame = protocol::encode_request(&ToWorker::Analyze(AnalyzeRequest {
            task_id,
            filename: &queued.task.filename,
            declared_type: queued.task.declared_type.as_deref(),
            options: queued.task.options,
            digest: queued.task.digest.wire(),
            document: prepared.body(),
        }));
        // What was sent is kept until the answer, for another try should
        // this worker fail under the document.
        let sent = tokio::time::timeout(self.pool.config.task_timeout, self.requests.send(&frame, prepared.fd())).await;
        drop(frame);
        queued.prepared = Some(prepared);
        self.in_flight.push_back(InFlight { queued: Some(queued), task_id, queue_ms, sent: Instant::now() });
        match sent {
            Ok(Ok(())) => Ok(()),
            // The worker is gone, or reads nothing: the task it is on
            // answers for it.
            Ok(Err(_)) => Err(self.head_failed(Ending::Answer(Err(WireError::Closed))).await),
            Err(_) => Err(self.head_failed(Ending::Deadline).await),
        }
    }

    /// Waits for the answer to the task the worker is on, within its
    /// deadline (which runs from when the worker started it: it was sent,
    /// or the worker answered the one before it), and answers its client.
    async fn answer_head(&mut self) -> Result<(), Restart> {
        let timeout = self.pool.config.task_timeout;
        let started = self.in_flight.front().expect("a task in flight").sent.max(self.last_heard);
        let result = loop {
            let waiting_behind = self.in_flight.iter().skip(1).any(|task| task.queued.is_some());
            let head = self.in_flight.front_mut().expect("a task in flight");
            let head_task_id = head.task_id;
            let client_gone = async {
                match &mut head.queued {
                    Some(queued) => queued.reply.closed().await,
                    None => std::future::pending().await,
                }
            };
            let ending = tokio::select! {
                answer = self.responses.next() => Ending::Answer(answer),
                _ = tokio::time::sleep_until(started + timeout) => Ending::Deadline,
                _ = client_gone => Ending::ClientGone,
                _ = tokio::time::sleep_until(started + TAKE_BACK_AFTER), if waiting_behind => Ending::TakeBack,
            };
            match ending {
                Ending::Answer(Ok(FromWorker::Done(result))) if result.task_id == head_task_id => break result,
                Ending::TakeBack => self.take_back(),
                ending => return Err(self.head_failed(ending).await),
            }
        };
        let InFlight { queued, queue_ms, .. } = self.in_flight.pop_front().expect("a task in flight");
        let pool = Arc::clone(&self.pool);
        let cpu_used = Duration::from_micros(result.cpu_micros).saturating_sub(self.cpu_at_last_answer);
        self.fast = cpu_used < PIPELINE_AFTER_TASK_UNDER;
        self.tasks_done += 1;
        self.heard(result.cpu_micros);
        self.last_busy = Instant::now();
        pool.set_tasks_done(self.worker_id, self.tasks_done);
        let retire =
            result.recycle || self.tasks_done >= self.quota || result.private_bytes > pool.config.recycle_private_bytes;
        // A task taken back is answered by the worker that took it over.
        let Some(queued) = queued else {
            return if retire { Err(Restart::Recycled) } else { Ok(()) };
        };
        let reply = match result.outcome {
            Outcome::Report(json) => match RawReport::from_worker(json, &queued.task.filename) {
                Ok(mut report) => {
                    report.set_queue_ms(queue_ms);
                    Ok(report)
                }
                Err(why) => Err(TaskError::Internal(format!("worker sent an unusable report: {why}"))),
            },
            Outcome::Error { code: ErrorCode::ParseFailed, message } => {
                // A worker asks to be replaced after a parse error only
                // when the parser panicked.
                if result.recycle {
                    log_failure(&queued, self.pid, &message);
                }
                Err(TaskError::ParseFailed(message))
            }
            Outcome::Error { code: ErrorCode::BadRequest, message } => Err(TaskError::BadRequest(message)),
        };
        pool.count_outcome(&reply);
        let _ = queued.reply.send(reply);
        if retire {
            return Err(Restart::Recycled);
        }
        Ok(())
    }

    /// Queues the tasks sent behind the one the worker is on again, for any
    /// worker, as they were (none of their tries used).
    fn take_back(&mut self) {
        for task in self.in_flight.iter_mut().skip(1) {
            if let Some(mut queued) = task.queued.take() {
                self.pool.counters.taken_back.fetch_add(1, Ordering::Relaxed);
                queued.taken_back = true;
                if !queued.reply.is_closed() {
                    self.pool.requeue(queued);
                }
            }
        }
    }

    /// Puts the tasks the worker had not started back in the queue as they
    /// were, using none of their tries: nothing went wrong under them.
    fn give_back(&mut self) {
        for queued in self.in_flight.drain(..).filter_map(|task| task.queued) {
            if !queued.reply.is_closed() {
                self.pool.requeue(queued);
            }
        }
        if let Some(queued) = self.held.take() {
            self.pool.requeue(queued);
        }
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

/// Whether a task may be sent ahead of the worker's answer: a small
/// document, inline in its frame, on its first try (one that was under a
/// worker that failed goes alone, so that it alone is charged should it
/// fail again), not taken back before.
fn pipelinable(queued: &Queued) -> bool {
    let len = match (&queued.prepared, &queued.task.document) {
        (Some(handoff::Prepared::Inline(bytes)), _) => bytes.len(),
        (None, Document::Memory(bytes)) => bytes.len(),
        _ => return false,
    };
    len as u64 <= PIPELINE_MAX_BYTES
        && !queued.retried
        && queued.outside_kills == 0
        && queued.stops == 0
        && !queued.taken_back
}
