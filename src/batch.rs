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
use bytes::Bytes;
use docmill_engine::analysis::{hamming, NEAR_DUPLICATE_MAX_DISTANCE};
use docmill_engine::report::Report;
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};

use crate::error::ApiError;
use crate::http::{content_type, AnalyzeQuery, AppState};
use crate::pool::{JobError, JobSpec, Lane};
use crate::upload::{FilePart, MultipartFiles};

/// Lines buffered between the documents and a slow reader of the response.
const LINE_BUFFER: usize = 64;

/// One finished document of a batch or job.
pub struct Outcome {
    pub index: usize,
    pub filename: String,
    pub result: Result<Report, ApiError>,
}

impl Outcome {
    /// The NDJSON line of the contract, newline included.
    pub fn to_line(&self) -> Bytes {
        let value = match &self.result {
            Ok(report) => json!({"index": self.index, "filename": self.filename, "report": report}),
            Err(err) => json!({"index": self.index, "filename": self.filename, "error": err.to_json()}),
        };
        let mut line = serde_json::to_vec(&value).expect("a line serialises");
        line.push(b'\n');
        Bytes::from(line)
    }
}

/// What the summary needs from each successful document.
pub struct Fingerprint {
    pub index: usize,
    pub sha256: String,
    pub simhash: Option<u64>,
}

impl Fingerprint {
    pub fn of(index: usize, report: &Report) -> Fingerprint {
        let simhash = report.fingerprint.simhash.as_deref().and_then(|hex| u64::from_str_radix(hex, 16).ok());
        Fingerprint { index, sha256: report.sha256.clone(), simhash }
    }
}

/// Index pairs `[i, j]` (i < j) of documents with the same bytes or SimHash
/// fingerprints within [`NEAR_DUPLICATE_MAX_DISTANCE`] bits.
pub fn near_duplicates(fingerprints: &mut [Fingerprint]) -> Vec<[usize; 2]> {
    fingerprints.sort_by_key(|f| f.index);
    let mut pairs = Vec::new();
    for (at, a) in fingerprints.iter().enumerate() {
        for b in &fingerprints[at + 1..] {
            let similar = match (a.simhash, b.simhash) {
                (Some(x), Some(y)) => hamming(x, y) <= NEAR_DUPLICATE_MAX_DISTANCE,
                _ => false,
            };
            if similar || a.sha256 == b.sha256 {
                pairs.push([a.index, b.index]);
            }
        }
    }
    pairs
}

pub fn summary_line(documents: usize, failed: usize, fingerprints: &mut [Fingerprint], started: Instant) -> Bytes {
    let summary = json!({"summary": {
        "documents": documents,
        "failed": failed,
        "near_duplicates": near_duplicates(fingerprints),
        "elapsed_ms": started.elapsed().as_millis() as u64,
    }});
    let mut line = serde_json::to_vec(&summary).expect("a summary serialises");
    line.push(b'\n');
    Bytes::from(line)
}

/// The summary line of a job's stored result lines.
pub fn summary_from_lines(lines: &[String], elapsed_ms: u64) -> String {
    let mut fingerprints = Vec::new();
    let mut failed = 0;
    for line in lines {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let index = value["index"].as_u64().unwrap_or(0) as usize;
        match value.get("report") {
            Some(report) => fingerprints.push(Fingerprint {
                index,
                sha256: report["sha256"].as_str().unwrap_or_default().to_owned(),
                simhash: report["fingerprint"]["simhash"].as_str().and_then(|hex| u64::from_str_radix(hex, 16).ok()),
            }),
            None => failed += 1,
        }
    }
    let summary = json!({"summary": {
        "documents": lines.len(),
        "failed": failed,
        "near_duplicates": near_duplicates(&mut fingerprints),
        "elapsed_ms": elapsed_ms,
    }});
    format!("{summary}\n")
}

pub async fn batch(
    State(state): State<Arc<AppState>>,
    Query(query): Query<AnalyzeQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let limits = (state.config.pool.max_upload_bytes, state.config.max_request_bytes);
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
    tokio::spawn(run_batch(state, files, first, query, line_tx, started));
    let stream = futures_util::stream::unfold(line_rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok::<_, Infallible>(line), rx))
    });
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(stream)).into_response())
}

async fn run_batch(
    state: Arc<AppState>,
    mut files: MultipartFiles,
    first: FilePart,
    query: AnalyzeQuery,
    line_tx: mpsc::Sender<Bytes>,
    started: Instant,
) {
    // Documents of this batch in the pool at once. Past it the upload is not
    // read further, which is the backpressure: TCP slows the client down.
    let in_flight = Arc::new(Semaphore::new(state.config.pool.queue.max(1)));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Outcome>();

    let collector = {
        let line_tx = line_tx.clone();
        tokio::spawn(async move {
            let (mut documents, mut failed) = (0, 0);
            let mut fingerprints = Vec::new();
            while let Some(outcome) = done_rx.recv().await {
                documents += 1;
                match &outcome.result {
                    Ok(report) => fingerprints.push(Fingerprint::of(outcome.index, report)),
                    Err(_) => failed += 1,
                }
                if line_tx.send(outcome.to_line()).await.is_err() {
                    return;
                }
            }
            let _ = line_tx.send(summary_line(documents, failed, &mut fingerprints, started)).await;
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
                    let _ = done_tx.send(Outcome { index, filename: String::new(), result: Err(err) });
                    break;
                }
            },
        };
        let spooled = match part.content {
            Ok(spooled) => spooled,
            Err(err) => {
                let _ = done_tx.send(Outcome { index, filename: part.filename, result: Err(err) });
                index += 1;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else { break };
        if line_tx.is_closed() {
            break;
        }
        let spec = JobSpec {
            filename: part.filename.clone(),
            declared_type: part.declared_type,
            options: query.options(),
            sha256: Some(spooled.sha256),
            document: spooled.document,
            use_cache: true,
        };
        let pool = Arc::clone(&state.pool);
        let done_tx = done_tx.clone();
        let client = line_tx.clone();
        tokio::spawn(async move {
            // A client that hangs up cancels the batch's outstanding work.
            let result = tokio::select! {
                result = pool.run(spec, Lane::Bulk) => result,
                _ = client.closed() => Err(JobError::ShuttingDown),
            };
            drop(permit);
            let _ = done_tx.send(Outcome { index, filename: part.filename, result: result.map_err(ApiError::from) });
        });
        index += 1;
    }
    drop(done_tx);
    drop(line_tx);
    let _ = collector.await;
}
