//! The HTTP API of the contract: the shared state, the router that nests each
//! endpoint family's `routes()`, and the request metrics middleware. Handlers
//! only move bytes: they spool uploads and hand complete documents to the
//! [`Pool`]; no analysis runs on the event loop.
//!
//! # Layout
//!
//! - [`auth`]: API keys, and the tenant each request acts for.
//! - [`access`]: request ids and the access log, around every route.
//! - [`analyze`]: `/v1/analyze`, one document, interactive.
//! - [`answer`]: what a client's answer holds while it is read: the answer
//!   memory budget, and the send deadline on every connection.
//! - [`body`]: every request body: the progress deadline, and draining what
//!   a handler left unread before its answer goes out.
//! - [`batch`]: `/v1/batch`, many documents, streamed NDJSON.
//! - [`jobs`]: `/v1/jobs`, durable jobs (the work itself is in `crate::jobs`).
//! - [`probes`]: `/healthz`, `/readyz`, `/metrics`, `/v1/pool`.
//! - [`openapi`]: `/openapi.json` and `/docs`; [`page`]: the upload page at `/`.
//! - [`upload`]: streaming multipart parsing, spooling and body limits.

mod access;
mod analyze;
pub mod answer;
pub mod auth;
mod batch;
mod body;
mod disposition;
pub mod framework_errors;
mod jobs;
pub mod openapi;
mod page;
mod probes;
mod shared_jobs;
pub mod spool;
pub mod upload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use docmill_engine::structure::chunk;
use docmill_engine::{ChunkOptions, OcrLanguages, OcrMode, Options, PageSelection};
use serde::{Deserialize, Deserializer};

use crate::config::ServeConfig;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::pool::Pool;

pub struct AppState {
    pub pool: Arc<Pool>,
    pub metrics: Metrics,
    pub config: ServeConfig,
    /// `<data-dir>/spool`: uploads too large to keep in memory wait here,
    /// as unlinked files, until a worker is free.
    pub spool_dir: PathBuf,
    /// Durable async jobs, or why they are unavailable (a damaged job
    /// store): the rest of the API is served either way.
    pub jobs: Result<Arc<crate::jobs::Jobs>, String>,
    /// The API keys checked on `/v1/*` (and `/metrics` with a metrics key).
    pub api_keys: Arc<auth::ApiKeys>,
    /// Jobs in a PostgreSQL store shared by several nodes (`--store`),
    /// served instead of `jobs`.
    pub shared: Option<Arc<crate::jobs::SharedJobs>>,
    /// Answers waiting in memory for their clients (reports, batch lines,
    /// pages of job results) share this budget.
    pub answers: Arc<answer::AnswerBudget>,
}

impl AppState {
    /// The jobs subsystem, or the 503 that says why there is none.
    pub fn jobs(&self) -> Result<&Arc<crate::jobs::Jobs>, ApiError> {
        self.jobs.as_ref().map_err(|why| ApiError::jobs_unavailable(why))
    }
}

/// The most of a framework error's plain-text body kept as the message of
/// its JSON replacement; axum's rejection texts are a line or two.
const FRAMEWORK_MESSAGE_MAX: usize = 4 << 10;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(analyze::routes())
        .merge(batch::routes())
        .merge(jobs::routes())
        .merge(probes::routes())
        .merge(openapi::routes())
        .merge(page::routes())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(Arc::clone(&state.api_keys), auth::require_key))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), body::guard))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), track))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), access::log_requests))
        // Bodies are streamed and bounded by our own limits, per file and per
        // request; axum's default 2 MB cap on buffered extractors is moot.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// What connections past `--max-connections` (or a peer's past
/// `--max-connections-per-peer`, with `per_peer`) are served: the probes,
/// and a 503 for anything else, so a full server still says it is alive.
pub fn probe_router(state: Arc<AppState>, per_peer: bool) -> Router {
    let refusal = if per_peer { ApiError::too_many_peer_connections } else { ApiError::too_many_connections };
    Router::new()
        .merge(probes::routes())
        .fallback(move || async move { refusal() })
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), body::guard))
        .with_state(state)
}

async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    // A clone of the matched path is a reference count, not a copy.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    state.metrics.record(route, &method, response.status().as_u16(), started.elapsed());
    response
}

/// Gives every error response the contract's shape: the framework's own
/// (a query string or path its extractor rejects, written as plain text)
/// becomes `{"error": {"code", "message"}}` with the same status and text.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, FRAMEWORK_MESSAGE_MAX)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { text };
    let mut replaced = ApiError::from_status(status, message).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER, header::CONNECTION] {
        if let Some(value) = parts.headers.get(&name) {
            replaced.headers_mut().insert(name, value.clone());
        }
    }
    replaced
}

/// A boolean query parameter, strictly: `true`/`false`, `1`/`0`,
/// `yes`/`no` (any case). Anything else is refused, never read as false.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Flag, D::Error> {
        let raw = String::deserialize(deserializer)?;
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Flag(true)),
            "false" | "0" | "no" => Ok(Flag(false)),
            _ => Err(serde::de::Error::custom(format!(
                "expected true, false, 1, 0, yes or no, got {}",
                docmill_engine::quoted(&raw)
            ))),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct AnalyzeQuery {
    text: Option<Flag>,
    filename: Option<String>,
    /// `cache=true`: answer from the result cache when the same content was
    /// analysed recently (batches and jobs always do).
    cache: Option<Flag>,
    /// `markdown=true`: add the document as Markdown.
    markdown: Option<Flag>,
    /// `chunks=N`: add the text in chunks of at most N characters.
    chunks: Option<String>,
    /// `chunk_overlap=K`: repeat K characters of a chunk in the next.
    chunk_overlap: Option<String>,
    /// `pages=2-3,7`: read only these pages of a paged document.
    pages: Option<String>,
    /// `ocr=auto|on|off`; absent: the server's `--ocr`.
    ocr: Option<String>,
    /// `ocr_lang=eng+deu`; absent: the server's `--ocr-lang`.
    ocr_lang: Option<String>,
}

impl AnalyzeQuery {
    /// The engine options the query asks for; a value out of range or
    /// unreadable (a bad `ocr` or `ocr_lang` too) is a 400 `bad_request`.
    pub fn options(&self) -> Result<Options, ApiError> {
        let chunks = match (self.chunks.as_deref(), self.chunk_overlap.as_deref()) {
            (None, None) => None,
            (None, Some(_)) => return Err(ApiError::bad_request("chunk_overlap needs chunks=N")),
            (Some(size), overlap) => {
                let (min, max) = (chunk::MIN_CHUNK_SIZE, chunk::MAX_CHUNK_SIZE);
                let size = match size.trim().parse::<u32>() {
                    Ok(size) if (min..=max).contains(&size) => size,
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "chunks={}: a chunk size is {min} to {max} characters",
                            docmill_engine::quoted(size)
                        )))
                    }
                };
                let overlap = match overlap.map(|k| k.trim().parse::<u32>()) {
                    None => 0,
                    Some(Ok(overlap)) if overlap < size => overlap,
                    Some(_) => {
                        return Err(ApiError::bad_request(format!(
                            "chunk_overlap={}: an overlap is 0 to {} characters, less than the chunk size",
                            docmill_engine::quoted(overlap.unwrap_or_default()),
                            size - 1
                        )))
                    }
                };
                Some(ChunkOptions { size, overlap })
            }
        };
        let pages = match self.pages.as_deref() {
            None => None,
            Some(pages) => Some(
                PageSelection::parse(pages)
                    .map_err(|why| ApiError::bad_request(format!("pages={}: {why}", docmill_engine::quoted(pages))))?,
            ),
        };
        let ocr = match self.ocr.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(OcrMode::parse(raw).ok_or_else(|| {
                ApiError::bad_request(format!("ocr must be auto, on or off, not {}", docmill_engine::quoted(raw)))
            })?),
        };
        let ocr_languages = match self.ocr_lang.as_deref() {
            None | Some("") => None,
            Some(raw) => {
                Some(OcrLanguages::parse(raw).map_err(|why| ApiError::bad_request(format!("ocr_lang: {why}")))?)
            }
        };
        Ok(Options {
            include_text: self.text.unwrap_or_default().0,
            markdown: self.markdown.unwrap_or_default().0,
            chunks,
            pages,
            ocr,
            ocr_languages,
        })
    }

    fn use_cache(&self) -> bool {
        self.cache.unwrap_or_default().0
    }
}

pub fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
}
