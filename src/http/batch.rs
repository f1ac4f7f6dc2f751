//! `POST /v1/batch`: many file parts in, NDJSON out, one line per document as
//! each completes, then a summary. Documents are dispatched as their parts
//! arrive, so analysis overlaps the upload; when the pool is busy the upload is
//! read more slowly (backpressure), never shed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use docmill_engine::Options;

use super::answer::{self, Reservation};
use super::upload::{FilePart, MultipartFiles};
use super::{content_type, AnalyzeQuery, AppState};
use crate::error::ApiError;
use crate::ndjson::{summary_line, ResultLine, SummaryEntry, RENDER_INLINE_BYTES};
use crate::pool::{Lane, RawReport, Task, TaskError};

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
    let (line_tx, line_rx) = mpsc::channel::<Bytes>(LINE_BUFFER);
    tokio::spawn(run_batch(state, files, first, options, line_tx, started));
    let stream = futures_util::stream::unfold(line_rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok::<_, Infallible>(line), rx))
    });
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(stream)).into_response())
}

/// A document's outcome on its way to the client: its slot among the
/// batch's documents in flight, and its report's share of the answer
/// memory budget (none for a part refused before it reached the pool).
struct Done {
    line: Rendered,
    slot: Option<OwnedSemaphorePermit>,
    reservation: Option<Reservation>,
}

/// A document's line as the client gets it, and what the summary needs of
/// its report (`None` for an error line).
struct Rendered {
    line: Bytes,
    entry: Option<SummaryEntry>,
}

impl Rendered {
    fn of(line: &ResultLine) -> Rendered {
        let entry = line.result.as_ref().ok().map(|report| SummaryEntry::of(line.index, report));
        Rendered { line: line.to_line(), entry }
    }
}

async fn run_batch(
    state: Arc<AppState>,
    mut files: MultipartFiles,
    first: FilePart,
    options: Options,
    line_tx: mpsc::Sender<Bytes>,
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
    let answers = Arc::clone(&state.answers);

    let collector = {
        let line_tx = line_tx.clone();
        tokio::spawn(async move {
            let (mut documents, mut failed) = (0, 0);
            let mut fingerprints = Vec::new();
            while let Some(Done { line: rendered, slot, reservation }) = done_rx.recv().await {
                documents += 1;
                match rendered.entry {
                    Some(entry) => fingerprints.push(entry),
                    None => failed += 1,
                }
                let line = rendered.line;
                let reservation = reservation.unwrap_or_else(|| answers.reserve_now(line.len()));
                drop(slot);
                if line_tx.send(answer::held(line, reservation)).await.is_err() {
                    return;
                }
            }
            // Grouping near-duplicates is CPU work in the number of
            // documents: keep it off the event loop.
            let summary = tokio::task::spawn_blocking(move || {
                let mut line = summary_line(documents, failed, &fingerprints, started.elapsed().as_millis() as u64);
                line.push('\n');
                Bytes::from(line)
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
                    let line = Rendered::of(&ResultLine { index, filename: String::new(), result: Err(err) });
                    let _ = done_tx.send(Done { line, slot: None, reservation: None });
                    break;
                }
            },
        };
        let spooled = match part.content {
            Ok(spooled) => spooled,
            Err(err) => {
                let line = Rendered::of(&ResultLine { index, filename: part.filename, result: Err(err) });
                let _ = done_tx.send(Done { line, slot: None, reservation: None });
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
            // keeps that share until the client has read it.
            let result = tokio::select! {
                result = async {
                    answers.room().await;
                    pool.run(task, Lane::Bulk).await
                } => result,
                _ = client.closed() => Err(TaskError::Abandoned),
            };
            let json_len = result.as_ref().map_or(0, RawReport::json_len);
            let reservation = answers.reserve_now(json_len);
            let filename = part.filename;
            let render = {
                let filename = filename.clone();
                move || {
                    let result = result.and_then(|raw| raw.report().map_err(TaskError::unreadable_report));
                    Rendered::of(&ResultLine { index, filename, result: result.map_err(ApiError::from) })
                }
            };
            let line = if json_len <= RENDER_INLINE_BYTES {
                render()
            } else {
                tokio::task::spawn_blocking(render).await.unwrap_or_else(|err| {
                    let err = ApiError::internal(format!("cannot write the document's line: {err}"));
                    Rendered::of(&ResultLine { index, filename, result: Err(err) })
                })
            };
            let _ = done_tx.send(Done { line, slot: Some(permit), reservation: Some(reservation) });
        });
        index += 1;
    }
    drop(done_tx);
    drop(line_tx);
    let _ = collector.await;
}
