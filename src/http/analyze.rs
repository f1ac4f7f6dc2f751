//! `/v1/analyze`: one document, as a multipart part (`POST`) or as the raw
//! body (`PUT`), answered with its report. The interactive lane: shed with 503
//! when the queue is full.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures_util::TryStreamExt;

use super::answer::{self, AnswerBudget};
use super::disposition::{filename, Filename};
use super::spool::{self, Spool, SpoolError};
use super::upload::{self, MultipartFiles};
use super::{content_type, AnalyzeQuery, AppState};
use crate::error::ApiError;
use crate::pool::{Lane, RawReport, Task};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/analyze", post(analyze_multipart).put(analyze_raw))
}

async fn analyze_multipart(
    State(state): State<Arc<AppState>>,
    Query(query): Query<AnalyzeQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<ReportResponse, ApiError> {
    let limits = (state.config.pool.max_upload_bytes, state.config.max_request_bytes);
    // Hashed by the pool while a worker analyses it, when nothing needs the
    // digest first.
    let mut files =
        MultipartFiles::new(content_type(&headers), body, &state.spool_dir, limits.0, limits.1)?.hashing_later();
    let options = match query.options() {
        Ok(options) => options,
        Err(err) => return Err(refuse(files, err).await),
    };
    if state.pool.interactive_full() || state.answers.is_exhausted() {
        files.drain().await;
        state.pool.refusal_turn().await;
        return Err(ApiError::overloaded());
    }
    let first = match files.next_file().await {
        Ok(Some(file)) => file,
        Ok(None) => return Err(ApiError::bad_request("no file part in the upload")),
        Err(err) => return Err(refuse(files, err).await),
    };
    let spooled = match first.content {
        Ok(spooled) => spooled,
        Err(err) => return Err(refuse(files, err).await),
    };
    match files.next_file().await {
        Ok(None) => {}
        Ok(Some(_)) => {
            return Err(refuse(
                files,
                ApiError::bad_request("POST /v1/analyze takes one file part; send several to /v1/batch"),
            )
            .await)
        }
        Err(err) => return Err(refuse(files, err).await),
    }
    let task = Task {
        filename: first.filename,
        declared_type: first.declared_type,
        options,
        digest: spooled.digest,
        document: spooled.document,
        use_cache: query.use_cache(),
    };
    let report = state.pool.run(task, Lane::Interactive).await?;
    Ok(ReportResponse(report, Arc::clone(&state.answers)))
}

/// Drains what is left of a refused upload before the refusal is sent, so
/// the client reads the status instead of a reset connection.
async fn refuse(files: MultipartFiles, err: ApiError) -> ApiError {
    files.drain().await;
    err
}

async fn analyze_raw(
    State(state): State<Arc<AppState>>,
    Query(query): Query<AnalyzeQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<ReportResponse, ApiError> {
    let mut stream = body.into_data_stream().map_err(std::io::Error::other);
    let options = match query.options() {
        Ok(options) => options,
        Err(err) => {
            upload::drain(stream).await;
            return Err(err);
        }
    };
    if state.pool.interactive_full() || state.answers.is_exhausted() {
        upload::drain(stream).await;
        state.pool.refusal_turn().await;
        return Err(ApiError::overloaded());
    }
    let limit = state.config.pool.max_upload_bytes;
    // Hashed by the pool while a worker analyses it, when nothing needs
    // the digest first.
    let mut spool = Spool::hashing_later(&state.spool_dir, limit);
    loop {
        match stream.try_next().await {
            Ok(Some(chunk)) => {
                if let Err(err) = spool.push(chunk).await {
                    if matches!(err, SpoolError::TooLarge) {
                        upload::drain(stream).await;
                    }
                    return Err(spool::spool_error(err, limit));
                }
            }
            Ok(None) => break,
            Err(err) if super::body::is_stall(&err) => return Err(ApiError::request_timeout(err.to_string())),
            Err(err) => return Err(ApiError::bad_request(format!("the upload was cut short: {err}"))),
        }
    }
    let spooled = spool.finish().await.map_err(|err| spool::spool_error(err, limit))?;
    // `?filename=` first, then the body's own Content-Disposition.
    let disposition = headers.get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).and_then(filename);
    let filename = query
        .filename
        .clone()
        .or(match disposition {
            Some(Filename::Name(name)) => Some(name),
            _ => None,
        })
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "document".into());
    let declared_type = content_type(&headers).map(str::to_owned);
    let task = Task {
        filename,
        declared_type,
        options,
        digest: spooled.digest,
        document: spooled.document,
        use_cache: query.use_cache(),
    };
    let report = state.pool.run(task, Lane::Interactive).await?;
    Ok(ReportResponse(report, Arc::clone(&state.answers)))
}

/// A report answered as the worker wrote it, the server's fields spliced
/// in: the JSON is streamed in its pieces, never parsed or copied whole.
/// Its worker's bytes are counted against the answer memory budget until
/// the last of them is written.
struct ReportResponse(RawReport, Arc<AnswerBudget>);

impl IntoResponse for ReportResponse {
    fn into_response(self) -> Response {
        let [head, body, tail] = self.0.chunks();
        let reservation = self.1.reserve_now(body.len());
        let chunks = [head, answer::held(body, reservation), tail];
        let len: usize = chunks.iter().map(bytes::Bytes::len).sum();
        let stream = futures_util::stream::iter(chunks.map(Ok::<_, std::convert::Infallible>));
        let mut response = Body::from_stream(stream).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        response
    }
}
