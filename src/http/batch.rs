//! `POST /v1/batch`: many file parts in, NDJSON out, one line per document as
//! each completes, then a summary. Documents are dispatched as their parts
//! arrive, so analysis overlaps the upload; when the pool is busy the upload is
//! read more slowly (backpressure), never shed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use docmill_engine::Options;

use super::answer::{self, AnswerBudget, Reservation};
use super::upload::{FilePart, MultipartFiles};
use super::{content_type, AnalyzeQuery, AppState};
use crate::error::ApiError;
use crate::ndjson::{summary_line, ResultLine, SummaryEntry};
use crate::pool::{Lane, Task, TaskError};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/batch", post(batch))
}

/// Lines buffered between the documents and a slow reader of the response
/// (their bytes are bounded by the answer memory budget).
const LINE_BUFFER: usize = 64;

async fn batch(
    State(state): State<Arc<AppState>>,
    Query(query): Query<AnalyzeQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let limits = (state.config.pool.max_upload_bytes, state.config.max_request_bytes);
    // A bad query is refused before the body is read; the body guard
    // drains what is left unread, so the client still sees the 400.
    let options = query.options()?;
    let mut files = MultipartFiles::new(content_type(&headers), body, &state.spool_dir, limits.0, limits.1)?;
    // The status is only known once there is a file part: a request with
    // none is a 400, not an empty stream.
    let first = match files.next_file().await {
        Ok(Some(file)) => file,
        Ok(None) => return Err(ApiError::bad_request("no file part in the upload")),
        Err(err) => {
            files.drain().await;
            return Err(err);
        }
    };
    let (line_tx, line_rx) = mpsc::channel::<[Bytes; 3]>(LINE_BUFFER);
    tokio::spawn(run_batch(state, files, first, options, line_tx, started));
    let stream = grouped(line_rx).flat_map(|lines| {
        futures_util::stream::iter(
            lines.into_iter().flatten().filter(|piece| !piece.is_empty()).map(Ok::<_, Infallible>),
        )
    });
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(stream)).into_response())
}

/// How long a line that is ready waits for others to go out with it.
/// Small documents complete tens of microseconds apart, and a write to the
/// client's connection per line cost the server a fifth of its CPU time
/// (a send through the TCP stack and a wakeup of the client each); a
/// couple of milliseconds is nothing beside a batch's own time.
const LINGER: Duration = Duration::from_millis(2);
/// Most lines that go out in one write: hyper writes up to 16 buffers at
/// once.
const LINES_PER_WRITE: usize = 16;
/// Lines past this many bytes go out without waiting for more.
const BYTES_PER_WRITE: usize = 64 << 10;

/// The lines as they come, in groups of those ready within [`LINGER`] of
/// the first (at most [`LINES_PER_WRITE`], or [`BYTES_PER_WRITE`]), so that
/// the connection writes a group at once. The last group goes as soon as
/// the channel closes.
fn grouped(rx: mpsc::Receiver<[Bytes; 3]>) -> impl futures_util::Stream<Item = Vec<[Bytes; 3]>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        let first = rx.recv().await?;
        let deadline = tokio::time::Instant::now() + LINGER;
        let size = |line: &[Bytes; 3]| line.iter().map(Bytes::len).sum::<usize>();
        let mut bytes = size(&first);
        let mut lines = vec![first];
        while lines.len() < LINES_PER_WRITE && bytes < BYTES_PER_WRITE {
            let next = match rx.try_recv() {
                Ok(line) => line,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(line)) => line,
                    Ok(None) | Err(_) => break,
                },
            };
            bytes += size(&next);
            lines.push(next);
        }
        Some((lines, rx))
    })
}

/// A document's outcome on its way to the client: its line in pieces
/// ([`ResultLine::pieces`]), what the summary needs of its report (`None`
/// for an error line), its slot among the batch's documents in flight
/// (none for a part refused before it reached the pool), and the line's
/// share of the answer memory budget, taken as soon as the line is made.
struct Done {
    line: [Bytes; 3],
    entry: Option<SummaryEntry>,
    slot: Option<OwnedSemaphorePermit>,
    reservation: Reservation,
}

/// Lines up to this size go out in one piece: copying a small report's
/// bytes costs less than the two more chunks of the response (and their
/// write vectors) that its pieces would make.
const JOIN_UP_TO_BYTES: usize = 16 << 10;

fn joined_if_small(pieces: [Bytes; 3]) -> [Bytes; 3] {
    let len: usize = pieces.iter().map(Bytes::len).sum();
    if len > JOIN_UP_TO_BYTES || pieces[1..].iter().all(Bytes::is_empty) {
        return pieces;
    }
    [Bytes::from(crate::pool::joined(&pieces)), Bytes::new(), Bytes::new()]
}

impl Done {
    fn of(line: &ResultLine, slot: Option<OwnedSemaphorePermit>, answers: &Arc<AnswerBudget>) -> Done {
        let entry = line.result.as_ref().ok().map(|report| SummaryEntry::of(line.index, report));
        let line = joined_if_small(line.pieces());
        let reservation = answers.reserve_now(line.iter().map(Bytes::len).sum());
        Done { line, entry, slot, reservation }
    }
}

async fn run_batch(
    state: Arc<AppState>,
    mut files: MultipartFiles,
    first: FilePart,
    options: Options,
    line_tx: mpsc::Sender<[Bytes; 3]>,
    started: Instant,
) {
    // Documents of this batch in the pool at once. Past it the upload is not
    // read further, which is the backpressure: TCP slows the client down.
    // The queue is sized for bursts of interactive requests; one batch
    // keeps no more than a few documents per worker spooled ahead, so that
    // it ties up little disk and leaves the queue to others.
    let pool = &state.config.pool;
    let per_batch = pool.queue.min(crate::config::QUEUE_PER_WORKER * pool.workers);
    let in_flight = Arc::new(Semaphore::new(per_batch.max(1)));
    // A document's slot is given back only once its line is queued for the
    // client: a client that reads nothing stops the batch after `per_batch`
    // documents, instead of their lines piling up while the upload goes on.
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();

    let collector = {
        let line_tx = line_tx.clone();
        tokio::spawn(async move {
            let (mut documents, mut failed) = (0, 0);
            let mut fingerprints = Vec::new();
            while let Some(Done { line, entry, slot, reservation }) = done_rx.recv().await {
                documents += 1;
                match entry {
                    Some(entry) => fingerprints.push(entry),
                    None => failed += 1,
                }
                drop(slot);
                if line_tx.send(answer::held_pieces(line, reservation)).await.is_err() {
                    return;
                }
            }
            // Grouping near-duplicates is CPU work in the number of
            // documents: keep it off the event loop.
            let summary = tokio::task::spawn_blocking(move || {
                let mut line = summary_line(documents, failed, &fingerprints, started.elapsed().as_millis() as u64);
                line.push('\n');
                [Bytes::from(line), Bytes::new(), Bytes::new()]
            });
            if let Ok(summary) = summary.await {
                let _ = line_tx.send(summary).await;
            }
        })
    };

    let mut next = Some(first);
    let mut index = 0;
    loop {
        let part = match next.take() {
            Some(part) => part,
            None => match files.next_file().await {
                Ok(Some(part)) => part,
                Ok(None) => break,
                Err(err) => {
                    // The body broke off: what was dispatched still finishes;
                    // the break itself is reported as the next line.
                    let line = ResultLine { index, filename: String::new(), result: Err(err) };
                    let _ = done_tx.send(Done::of(&line, None, &state.answers));
                    break;
                }
            },
        };
        let spooled = match part.content {
            Ok(spooled) => spooled,
            Err(err) => {
                let line = ResultLine { index, filename: part.filename, result: Err(err) };
                let _ = done_tx.send(Done::of(&line, None, &state.answers));
                index += 1;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else { break };
        if line_tx.is_closed() {
            break;
        }
        let task = Task {
            filename: part.filename.clone(),
            declared_type: part.declared_type,
            options,
            digest: spooled.digest,
            document: spooled.document,
            use_cache: true,
        };
        let pool = Arc::clone(&state.pool);
        let answers = Arc::clone(&state.answers);
        let done_tx = done_tx.clone();
        let client = line_tx.clone();
        tokio::spawn(async move {
            // A client that hangs up cancels the batch's outstanding work.
            // No document starts while answers fill the memory budget; a
            // report that comes back is counted at once, and its line
            // keeps that share until the client has read it. The line is
            // spliced around the worker's bytes, whatever their size, so it
            // is made here on the runtime thread.
            let result = tokio::select! {
                result = async {
                    answers.room().await;
                    pool.run(task, Lane::Bulk).await
                } => result,
                _ = client.closed() => Err(TaskError::Abandoned),
            };
            let line = ResultLine { index, filename: part.filename, result: result.map_err(ApiError::from) };
            let _ = done_tx.send(Done::of(&line, Some(permit), &answers));
        });
        index += 1;
    }
    drop(done_tx);
    drop(line_tx);
    let _ = collector.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &'static str) -> [Bytes; 3] {
        [Bytes::from_static(text.as_bytes()), Bytes::new(), Bytes::new()]
    }

    #[tokio::test]
    async fn lines_ready_together_go_out_together_and_the_last_at_once() {
        let (tx, rx) = mpsc::channel(64);
        for _ in 0..20 {
            tx.send(line("{}\n")).await.unwrap();
        }
        let mut groups = Box::pin(grouped(rx));
        assert_eq!(groups.next().await.unwrap().len(), LINES_PER_WRITE);
        assert_eq!(groups.next().await.unwrap().len(), 4, "the rest, once no more came");
        tx.send(line("{\"summary\":{}}\n")).await.unwrap();
        drop(tx);
        // Ready at the first poll: a closed channel is not waited on.
        let last = futures_util::FutureExt::now_or_never(groups.next()).expect("no wait").unwrap();
        assert_eq!(&last[0][0][..], b"{\"summary\":{}}\n");
        assert!(groups.next().await.is_none());
    }

    #[test]
    fn a_small_line_is_joined_into_one_piece_and_a_large_one_keeps_its_pieces() {
        let small = [Bytes::from_static(b"{\"index\":0,"), Bytes::from_static(b"\"a\":1"), Bytes::from_static(b"}\n")];
        let joined = joined_if_small(small);
        assert_eq!(&joined[0][..], b"{\"index\":0,\"a\":1}\n");
        assert!(joined[1].is_empty() && joined[2].is_empty());
        let body = Bytes::from(vec![b'x'; JOIN_UP_TO_BYTES]);
        let large = [Bytes::from_static(b"{"), body.clone(), Bytes::from_static(b"}")];
        let kept = joined_if_small(large);
        assert_eq!(kept[1].as_ptr(), body.as_ptr(), "the report's bytes are shared, not copied");
    }
}
