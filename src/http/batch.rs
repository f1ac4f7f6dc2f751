//! `POST /v1/batch`: many file parts in, NDJSON out, one line per document as
//! each completes, then a summary. Documents are dispatched as their parts
//! arrive, so analysis overlaps the upload; when the pool is busy the upload is
//! read more slowly (backpressure), never shed.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use docmill_engine::Options;

use super::answer::{self, AnswerBudget};
use super::upload::{FilePart, MultipartFiles};
use super::{content_type, AnalyzeQuery, AppState};
use crate::error::ApiError;
use crate::ndjson::{summary_line, ResultLine, SummaryEntry};
use crate::pool::{Lane, Task};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/batch", post(batch))
}

/// What a line held for its client costs beside its bytes (its place in
/// the line queue, the owners of its pieces and their reservation), counted
/// against the answer memory budget so that many small lines are bounded
/// as surely as a few large ones.
const LINE_OVERHEAD_BYTES: usize = 256;

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
    // Not bounded by a number of lines: the answer memory budget bounds
    // them (no part is read while it has no room). A bound of its own would
    // stop the upload of a client that sends its whole body before reading
    // its answer (most HTTP libraries do) long before the budget, and both
    // sides would wait on each other until the body timeout.
    let (line_tx, line_rx) = mpsc::unbounded_channel::<[Bytes; 3]>();
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
fn grouped(rx: mpsc::UnboundedReceiver<[Bytes; 3]>) -> impl futures_util::Stream<Item = Vec<[Bytes; 3]>> {
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

/// What the summary line needs of the batch so far: the documents answered,
/// how many of them failed, and the reports' fingerprints.
#[derive(Default)]
struct Tally {
    documents: usize,
    failed: usize,
    fingerprints: Vec<SummaryEntry>,
}

impl Tally {
    /// Counts a document's line and makes it: its pieces
    /// ([`ResultLine::pieces`]), holding their share of the answer memory
    /// budget until the client has read them.
    fn line(&mut self, line: &ResultLine, answers: &Arc<AnswerBudget>) -> [Bytes; 3] {
        self.documents += 1;
        match &line.result {
            Ok(report) => self.fingerprints.push(SummaryEntry::of(line.index, report)),
            Err(_) => self.failed += 1,
        }
        let pieces = joined_if_small(line.pieces());
        let reservation = answers.reserve_now(pieces.iter().map(Bytes::len).sum::<usize>() + LINE_OVERHEAD_BYTES);
        answer::held_pieces(pieces, reservation)
    }
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

/// The reader and the next file part it read.
type NextPart = (MultipartFiles, Result<Option<FilePart>, ApiError>);

/// Reads the next part once answers leave room in their memory budget: a
/// client that reads none of its lines stops its upload there, whatever its
/// parts make (a failed part's line too).
async fn next_part(mut files: MultipartFiles, answers: Arc<AnswerBudget>) -> NextPart {
    answers.room().await;
    let next = files.next_file().await;
    (files, next)
}

/// Reads the parts, dispatches each document as it arrives and writes each
/// line as its document completes, all in this one task: a document's
/// answer wakes only it (a task of its own per document, and one more to
/// collect their lines, cost two more wakeups a document, each apt to wake
/// the other runtime thread for nothing).
async fn run_batch(
    state: Arc<AppState>,
    files: MultipartFiles,
    first: FilePart,
    options: Options,
    line_tx: mpsc::UnboundedSender<[Bytes; 3]>,
    started: Instant,
) {
    // Documents of this batch in the pool at once. Past it the upload is not
    // read further, which is the backpressure: TCP slows the client down.
    // The queue is sized for bursts of interactive requests; one batch
    // keeps no more than a few documents per worker spooled ahead, so that
    // it ties up little disk and leaves the queue to others. A client that
    // reads nothing stops the batch once its lines fill the answer memory
    // budget (see `next_part`).
    let pool = &state.config.pool;
    let per_batch = pool.queue.min(crate::config::QUEUE_PER_WORKER * pool.workers).max(1);
    let mut tally = Tally::default();
    let mut in_flight = FuturesUnordered::new();
    let mut pending = Some(first);
    let mut index = 0;
    // The read of the next part, once begun, is polled until it ends (it
    // is not cancel-safe: dropped halfway, it would lose that part); it
    // owns the reader meanwhile. `None` between reads; `reader` is `None`
    // once the body is done or broke off.
    let mut reader = Some(files);
    let mut reading: Option<Pin<Box<dyn Future<Output = NextPart> + Send>>> = None;
    let mut draining = None;
    loop {
        let part = match pending.take() {
            Some(part) => Some(part),
            None if reader.is_none() && reading.is_none() && in_flight.is_empty() => break,
            None => {
                if reading.is_none() && in_flight.len() < per_batch {
                    let answers = Arc::clone(&state.answers);
                    reading = reader.take().map(|files| Box::pin(next_part(files, answers)) as Pin<Box<_>>);
                }
                let can_read = reading.is_some() && in_flight.len() < per_batch;
                tokio::select! {
                    biased;
                    // A client that hangs up cancels the batch's
                    // outstanding work (dropping a document's future takes
                    // it out of the queue, or stops its worker).
                    () = line_tx.closed() => return,
                    Some(line) = in_flight.next(), if !in_flight.is_empty() => {
                        if line_tx.send(tally.line(&line, &state.answers)).is_err() {
                            return;
                        }
                        None
                    }
                    (files, next) = async { reading.as_mut().expect("a read is under way").await }, if can_read => {
                        reading = None;
                        match next {
                            Ok(Some(part)) => {
                                reader = Some(files);
                                Some(part)
                            }
                            Ok(None) => None,
                            Err(err) => {
                                // The body broke off: what was dispatched
                                // still finishes; the break itself is
                                // reported as the next line. The rest of
                                // the body is read meanwhile, so a client
                                // still writing it reads every line.
                                let filename = files.broken_part().unwrap_or_default().to_owned();
                                draining = Some(tokio::spawn(files.drain_after_error()));
                                let line = ResultLine { index, filename, result: Err(err) };
                                if line_tx.send(tally.line(&line, &state.answers)).is_err() {
                                    return;
                                }
                                None
                            }
                        }
                    }
                }
            }
        };
        let Some(part) = part else { continue };
        let spooled = match part.content {
            Ok(spooled) => spooled,
            Err(err) => {
                let line = ResultLine { index, filename: part.filename, result: Err(err) };
                if line_tx.send(tally.line(&line, &state.answers)).is_err() {
                    return;
                }
                index += 1;
                continue;
            }
        };
        let task = Task {
            filename: part.filename.clone(),
            declared_type: part.declared_type,
            options,
            digest: spooled.digest,
            document: spooled.document,
            use_cache: true,
        };
        let (pool, answers) = (Arc::clone(&state.pool), Arc::clone(&state.answers));
        let filename = part.filename;
        in_flight.push(async move {
            // No document starts while answers fill the memory budget; a
            // report that comes back is counted at once, and its line
            // keeps that share until the client has read it.
            answers.room().await;
            let result = pool.run(task, Lane::Bulk).await;
            ResultLine { index, filename, result: result.map_err(ApiError::from) }
        });
        index += 1;
    }
    if let Some(draining) = draining {
        let _ = draining.await;
    }
    // Grouping near-duplicates is CPU work in the number of documents: keep
    // it off the event loop.
    let Tally { documents, failed, fingerprints } = tally;
    let summary = tokio::task::spawn_blocking(move || {
        let mut line = summary_line(documents, failed, &fingerprints, started.elapsed().as_millis() as u64);
        line.push('\n');
        [Bytes::from(line), Bytes::new(), Bytes::new()]
    });
    if let Ok(summary) = summary.await {
        let _ = line_tx.send(summary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &'static str) -> [Bytes; 3] {
        [Bytes::from_static(text.as_bytes()), Bytes::new(), Bytes::new()]
    }

    #[tokio::test]
    async fn lines_ready_together_go_out_together_and_the_last_at_once() {
        let (tx, rx) = mpsc::unbounded_channel();
        for _ in 0..20 {
            tx.send(line("{}\n")).unwrap();
        }
        let mut groups = Box::pin(grouped(rx));
        assert_eq!(groups.next().await.unwrap().len(), LINES_PER_WRITE);
        assert_eq!(groups.next().await.unwrap().len(), 4, "the rest, once no more came");
        tx.send(line("{\"summary\":{}}\n")).unwrap();
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
