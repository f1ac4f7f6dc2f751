//! The HTTP API of the contract: the shared state, the router that nests each
//! endpoint family's `routes()`, and the request metrics middleware. Handlers
//! only move bytes: they spool uploads and hand complete documents to the
//! [`Pool`]; no analysis runs on the event loop.
//!
//! # Layout
//!
//! - [`analyze`]: `/v1/analyze`, one document, interactive.
//! - [`batch`]: `/v1/batch`, many documents, streamed NDJSON.
//! - [`jobs`]: `/v1/jobs`, durable jobs (the work itself is in `crate::jobs`).
//! - [`probes`]: `/healthz`, `/readyz`, `/metrics`, `/v1/pool`.
//! - [`openapi`]: `/openapi.json` and `/docs`; [`page`]: the upload page at `/`.
//! - [`upload`]: streaming multipart parsing, spooling and body limits.

mod analyze;
mod batch;
mod disposition;
mod jobs;
pub mod openapi;
mod page;
mod probes;
pub mod upload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use docmill_engine::{OcrLanguages, OcrMode, Options};
use serde::Deserialize;

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
    /// Durable async jobs.
    pub jobs: Arc<crate::jobs::Jobs>,
}

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
        .layer(middleware::from_fn_with_state(Arc::clone(&state), track))
        // Bodies are streamed and bounded by our own limits, per file and per
        // request; axum's default 2 MB cap on buffered extractors is moot.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.record(&route, &method, response.status().as_u16(), started.elapsed());
    response
}

#[derive(Deserialize, Default)]
pub struct AnalyzeQuery {
    text: Option<String>,
    filename: Option<String>,
    /// `cache=true`: answer from the result cache when the same content was
    /// analysed recently (batches and jobs always do).
    cache: Option<String>,
    /// `ocr=auto|on|off`; absent: the server's `--ocr`.
    ocr: Option<String>,
    /// `ocr_lang=eng+deu`; absent: the server's `--ocr-lang`.
    ocr_lang: Option<String>,
}

fn truthy(value: Option<&str>) -> bool {
    matches!(value.map(str::to_ascii_lowercase).as_deref(), Some("true" | "1" | "yes"))
}

impl AnalyzeQuery {
    /// The engine options the query asks for; a bad `ocr` or `ocr_lang` is a
    /// 400.
    pub fn options(&self) -> Result<Options, ApiError> {
        let ocr = match self.ocr.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(
                OcrMode::parse(raw)
                    .ok_or_else(|| ApiError::bad_request(format!("ocr must be auto, on or off, not {raw:?}")))?,
            ),
        };
        let ocr_languages = match self.ocr_lang.as_deref() {
            None | Some("") => None,
            Some(raw) => {
                Some(OcrLanguages::parse(raw).map_err(|why| ApiError::bad_request(format!("ocr_lang: {why}")))?)
            }
        };
        Ok(Options { include_text: truthy(self.text.as_deref()), ocr, ocr_languages })
    }

    fn use_cache(&self) -> bool {
        truthy(self.cache.as_deref())
    }
}

pub fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
}
