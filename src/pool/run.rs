//! [`Pool::run`]: what the pool knows about a document by content (the
//! quarantine, the result cache) around its dispatch, and a large upload
//! hashed while a worker analyses it.

use docmill_engine::Options;

use super::{digest, Digest, Lane, Pool, RawReport, Task, TaskError};

impl Pool {
    /// Queues a task and waits for its result. Interactive tasks are refused
    /// with [`TaskError::Overloaded`] at once when their lane is full; bulk
    /// tasks wait for room. Dropping the returned future cancels the task: a
    /// queued one is skipped, a running one's worker is killed.
    pub async fn run(&self, mut task: Task, lane: Lane) -> Result<RawReport, TaskError> {
        let sha256 = match task.digest {
            Digest::Known(digest) => digest,
            Digest::Later if !task.use_cache && !self.memo.any_quarantined() => {
                return self.run_hashing_alongside(task, lane).await;
            }
            Digest::Later | Digest::Alongside(_) => {
                let digest = digest::compute(&task.document).await.map_err(hash_failed)?;
                task.digest = Digest::Known(digest);
                digest
            }
        };
        if let Some(failure) = self.memo.quarantined(sha256) {
            return Err(TaskError::Quarantined(Box::new(failure)));
        }
        let options = task.options;
        let extension = docmill_engine::detect::extension(&task.filename);
        if task.use_cache {
            if let Some(report) = self.memo.cached(sha256, options, &extension) {
                return Ok(report.cache_hit(task.filename));
            }
        }
        let result = self.dispatch(task, lane).await;
        self.record(sha256, options, &extension, &result);
        result
    }

    /// Runs a task whose digest nothing needs before it runs, hashing the
    /// document on a hasher thread (as nice as a worker) while a worker
    /// analyses it, then writing the digest into the report.
    async fn run_hashing_alongside(&self, mut task: Task, lane: Lane) -> Result<RawReport, TaskError> {
        let hashing = digest::start(&task.document).map_err(hash_failed)?;
        let (known, computed) = tokio::sync::watch::channel(None);
        task.digest = Digest::Alongside(computed);
        let options = task.options;
        let extension = docmill_engine::detect::extension(&task.filename);
        let stopper = hashing.stopper();
        let hashed = async {
            let digest = hashing.await?;
            known.send_replace(Some(digest));
            Ok::<_, std::io::Error>(digest)
        };
        let dispatched = async {
            let result = self.dispatch(task, lane).await;
            // Refused, or failed in a way that strikes nothing: the digest
            // is not needed, and a 503 waits for no hashing.
            if matches!(&result, Err(failure) if !strikes(failure)) {
                stopper.stop();
            }
            result
        };
        let (result, digest) = tokio::join!(dispatched, hashed);
        let sha256 = match (digest, &result) {
            (Ok(digest), _) => digest,
            // The task's own failure says more than the hashing's.
            (Err(_), Err(_)) => return result,
            (Err(err), Ok(_)) => return Err(hash_failed(err)),
        };
        let result = result.and_then(|mut report| {
            report
                .set_deferred_sha256(&sha256)
                .map_err(|why| TaskError::Internal(format!("the worker's report {why}")))?;
            Ok(report)
        });
        self.record(sha256, options, &extension, &result);
        result
    }

    /// What a task's ending teaches the memo: its report, or a strike
    /// against the document.
    fn record(&self, sha256: [u8; 32], options: Options, extension: &str, result: &Result<RawReport, TaskError>) {
        match result {
            Ok(report) => self.memo.remember(sha256, options, extension, report),
            Err(failure) if strikes(failure) => self.memo.strike(sha256, failure),
            Err(_) => {}
        }
    }
}

/// A failure that counts against the document in the quarantine.
fn strikes(failure: &TaskError) -> bool {
    matches!(failure, TaskError::Crashed(_) | TaskError::TimedOut(_))
}

fn hash_failed(err: std::io::Error) -> TaskError {
    TaskError::Internal(format!("cannot hash the spooled upload: {err}"))
}
