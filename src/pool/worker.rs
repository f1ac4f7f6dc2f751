//! One worker's life as the server sees it: boot (wait for its `Ready`),
//! serve tasks one at a time over its pipes, retire. [`WorkerTask::retire`]
//! is the one place that kills a worker and counts why.

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use docmill_engine::report::Report;
use docmill_worker::protocol::{self, AnalyzeRequest, ErrorCode, FromWorker, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;

use super::{Pool, Queued, Reply, Restart, TaskError, WorkerState};

/// How long a freshly forked worker may take to say it is ready.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct WorkerTask {
    pool: Arc<Pool>,
    worker_id: u64,
    pid: i32,
    requests: pipe::Sender,
    responses: pipe::Receiver,
    tasks_done: u64,
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
        let (requests, responses) =
            match (pipe::Sender::from_owned_fd(requests), pipe::Receiver::from_owned_fd(responses)) {
                (Ok(tx), Ok(rx)) => (tx, rx),
                _ => {
                    tracing::error!("worker {pid}: its pipes are not usable");
                    pool.kill(worker_id);
                    return;
                }
            };
        let max = pool.config.max_tasks_per_worker;
        let jitter = worker_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) % (max / 10 + 1);
        let quota = max.saturating_sub(jitter).max(1);
        let mut worker = WorkerTask { pool, worker_id, pid, requests, responses, tasks_done: 0, quota };
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
            Ok(Ok(FromWorker::Ready { ocr, .. })) => {
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
    /// OOM) is noticed here, before a task is handed to it.
    async fn wait_for_task(&mut self) -> Option<Queued> {
        loop {
            let mut probe = [0u8; 1];
            let queued = tokio::select! {
                queued = self.pool.next_task() => queued?,
                read = self.responses.read(&mut probe) => {
                    match read {
                        Ok(0) | Err(_) if self.pool.is_draining() => {}
                        Ok(0) | Err(_) => {
                            let how = self.pool.exits.wait(self.worker_id).await;
                            tracing::error!("idle worker {} died: {how}", self.pid);
                            self.retire(Restart::Crashed);
                        }
                        Ok(_) => {
                            tracing::error!("idle worker {} wrote unasked; killing it", self.pid);
                            self.retire(Restart::Crashed);
                        }
                    }
                    return None;
                }
            };
            if queued.reply.is_closed() {
                // The client left while the task was queued: no CPU for
                // nobody.
                continue;
            }
            return Some(queued);
        }
    }

    /// Runs one task on the worker and answers it. `Err` names why the
    /// worker must be replaced now.
    async fn serve(&mut self, mut queued: Queued) -> Result<(), Restart> {
        let pool = Arc::clone(&self.pool);
        pool.set_state(self.worker_id, WorkerState::Busy);
        let queue_ms = queued.enqueued.elapsed().as_millis() as u64;
        let bytes = match queued.task.document.load().await {
            Ok(bytes) => bytes,
            Err(err) => {
                let error = TaskError::Internal(format!("cannot read the spooled upload: {err}"));
                fail(&pool, queued.reply, error);
                pool.set_state(self.worker_id, WorkerState::Idle);
                return Ok(());
            }
        };
        // Every way the worker fails this document is logged naming it, in
        // the request's span, so an operator can find the file again.
        let size = bytes.len();
        let sha256 = queued.task.sha256.map_or_else(|| "unknown".to_owned(), |digest| hex(&digest));
        let (filename, span, pid) = (&queued.task.filename, &queued.span, self.pid);
        let log_failure = |what: &str| tracing::error!(parent: span, filename = %filename, size, sha256 = %sha256, worker_pid = pid, "{what}");
        let task_id = pool.next_task_id.fetch_add(1, Ordering::Relaxed);
        let frame = protocol::encode_request(&AnalyzeRequest {
            task_id,
            filename: &queued.task.filename,
            declared_type: queued.task.declared_type.as_deref(),
            options: queued.task.options,
            sha256: queued.task.sha256,
            bytes: &bytes,
        });
        drop(bytes);
        let deadline = tokio::time::Instant::now() + pool.config.task_timeout;
        let exchange = async {
            self.requests.write_all(&frame).await.map_err(|_| WireError::Closed)?;
            read_message(&mut self.responses).await
        };
        let ending = tokio::select! {
            answer = exchange => Ending::Answer(answer),
            _ = tokio::time::sleep_until(deadline) => Ending::Deadline,
            _ = queued.reply.closed() => Ending::ClientGone,
        };
        drop(frame);
        match ending {
            Ending::Answer(Ok(FromWorker::Done(result))) if result.task_id == task_id => {
                self.tasks_done += 1;
                let reply = match result.outcome {
                    Outcome::Report(json) => match serde_json::from_slice::<Report>(&json) {
                        Ok(mut report) => {
                            report.timing.queue_ms = queue_ms;
                            Ok(report)
                        }
                        Err(err) => Err(TaskError::Internal(format!("worker sent an unreadable report: {err}"))),
                    },
                    Outcome::Error { code: ErrorCode::ParseFailed, message } => {
                        // A worker asks to be replaced after a parse error
                        // only when the parser panicked.
                        if result.recycle {
                            log_failure(&message);
                        }
                        Err(TaskError::ParseFailed(message))
                    }
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
                fail(&pool, queued.reply, TaskError::Crashed(message));
                Err(Restart::Crashed)
            }
            Ending::Answer(Err(WireError::Garbage(why))) => {
                let message = format!("worker {} sent a malformed response ({why}) and was replaced", self.pid);
                log_failure(&message);
                fail(&pool, queued.reply, TaskError::Crashed(message));
                Err(Restart::Crashed)
            }
            Ending::Answer(Err(WireError::Closed)) => {
                let how = pool.exits.wait(self.worker_id).await;
                log_failure(&format!("{how} while analysing a document"));
                fail(&pool, queued.reply, TaskError::Crashed(format!("{how} while analysing this document")));
                Err(Restart::Crashed)
            }
            Ending::Deadline => {
                log_failure(&format!(
                    "analysis took longer than {:.3}s; worker {pid} was stopped",
                    pool.config.task_timeout.as_secs_f64()
                ));
                fail(&pool, queued.reply, TaskError::TimedOut(pool.config.task_timeout));
                Err(Restart::TimedOut)
            }
            Ending::ClientGone => Err(Restart::Cancelled),
        }
    }

    /// Kills the worker (the supervisor reaps it and forks a replacement)
    /// and counts why. Killing a worker that already died is harmless: the
    /// supervisor has not reaped it yet, or no longer knows it.
    fn retire(&self, restart: Restart) {
        if restart == Restart::Recycled {
            self.pool.set_state(self.worker_id, WorkerState::Retiring);
        }
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
