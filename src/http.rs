//! The HTTP API of the contract: routes, handlers and the request metrics
//! middleware. Handlers only move bytes: they spool uploads and hand complete
//! documents to the [`Pool`]; no analysis runs on the event loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use docmill_engine::Options;
use docmill_engine::report::Report;
use futures_util::TryStreamExt;
use serde::Deserialize;
use serde_json::json;

use crate::config::ServeConfig;
use crate::error::{ApiError, RETRY_AFTER_SECS};
use crate::metrics::Metrics;
use crate::pool::{JobSpec, Lane, Pool};
use crate::upload::{self, MultipartFiles, Spool, SpoolError};

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
        .route("/v1/analyze", post(analyze_multipart).put(analyze_raw))
        .route("/v1/batch", post(crate::batch::batch))
        .route("/v1/jobs", post(crate::jobs::create).get(crate::jobs::list))
        .route("/v1/jobs/{id}", get(crate::jobs::status).delete(crate::jobs::cancel))
        .route("/v1/jobs/{id}/results", get(crate::jobs::results))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/pool", get(pool_status))
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
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.record(&route, response.status().as_u16(), started.elapsed());
    response
}

#[derive(Deserialize, Default)]
pub struct AnalyzeQuery {
    text: Option<String>,
    filename: Option<String>,
    /// `cache=true`: answer from the result cache when the same content was
    /// analysed recently (batches and jobs always do).
    cache: Option<String>,
}

fn truthy(value: Option<&str>) -> bool {
    matches!(value.map(str::to_ascii_lowercase).as_deref(), Some("true" | "1" | "yes"))
}

impl AnalyzeQuery {
    pub fn options(&self) -> Options {
        Options { include_text: truthy(self.text.as_deref()) }
    }

    fn use_cache(&self) -> bool {
        truthy(self.cache.as_deref())
    }
}

pub fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

async fn analyze_multipart(
    State(state): State<Arc<AppState>>,
    Query(query): Query<AnalyzeQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Report>, ApiError> {
    let limits = (state.config.pool.max_upload_bytes, state.config.max_request_bytes);
    let mut files = MultipartFiles::new(content_type(&headers), body, &state.spool_dir, limits.0, limits.1)?;
    if state.pool.interactive_full() {
        files.drain().await;
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
    let spec = JobSpec {
        filename: first.filename,
        declared_type: first.declared_type,
        options: query.options(),
        sha256: Some(spooled.sha256),
        document: spooled.document,
        use_cache: query.use_cache(),
    };
    Ok(Json(state.pool.run(spec, Lane::Interactive).await?))
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
) -> Result<Json<Report>, ApiError> {
    let mut stream = body.into_data_stream().map_err(std::io::Error::other);
    if state.pool.interactive_full() {
        upload::drain(stream).await;
        return Err(ApiError::overloaded());
    }
    let limit = state.config.pool.max_upload_bytes;
    let mut spool = Spool::new(&state.spool_dir, limit);
    loop {
        match stream.try_next().await {
            Ok(Some(chunk)) => {
                if let Err(err) = spool.push(&chunk).await {
                    if matches!(err, SpoolError::TooLarge) {
                        upload::drain(stream).await;
                    }
                    return Err(upload::spool_error(err, limit));
                }
            }
            Ok(None) => break,
            Err(err) => return Err(ApiError::bad_request(format!("the upload was cut short: {err}"))),
        }
    }
    let spooled = spool.finish().await.map_err(|err| upload::spool_error(err, limit))?;
    let filename = query.filename.clone().filter(|name| !name.is_empty()).unwrap_or_else(|| "document".into());
    let declared_type = content_type(&headers).map(str::to_owned);
    let spec = JobSpec {
        filename,
        declared_type,
        options: query.options(),
        sha256: Some(spooled.sha256),
        document: spooled.document,
        use_cache: query.use_cache(),
    };
    Ok(Json(state.pool.run(spec, Lane::Interactive).await?))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.pool.not_ready_reason() {
        None => Json(json!({"status": "ready"})).into_response(),
        Some(reason) => {
            let mut response =
                (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "reason": reason})))
                    .into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            response
        }
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let body = state.metrics.render(&state.pool);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn pool_status(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    use std::sync::atomic::Ordering::Relaxed;
    let pool = &state.pool;
    let restarts = &pool.restarts;
    Json(json!({
        "workers": pool.workers(),
        "queue": {"depth": pool.queue_depth(), "capacity": pool.config().queue_capacity},
        "restarts": {
            "crashed": restarts.crashed.load(Relaxed),
            "timed_out": restarts.timed_out.load(Relaxed),
            "recycled": restarts.recycled.load(Relaxed),
            "cancelled": restarts.cancelled.load(Relaxed),
        },
    }))
}
