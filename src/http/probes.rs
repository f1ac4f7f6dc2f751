//! The control plane: `/healthz`, `/readyz`, `/metrics` and `/v1/pool`. None
//! of them waits on a worker.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;
use crate::error::RETRY_AFTER_SECS;
use crate::pool::Restart;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/pool", get(pool_status))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.pool.not_ready_reason() {
        // Analysis is available without jobs: ready, with the reason jobs
        // are not.
        None => match &state.jobs {
            // Analysis is served either way; jobs wait for the store.
            _ if state.shared.is_some() => match state.shared.as_ref().and_then(|shared| shared.not_ready()) {
                None => Json(json!({"status": "ready"})).into_response(),
                Some(why) => {
                    Json(json!({"status": "ready", "reason": format!("jobs are unavailable: {why}")})).into_response()
                }
            },
            Ok(_) => Json(json!({"status": "ready"})).into_response(),
            Err(why) => {
                Json(json!({"status": "ready", "reason": format!("jobs are unavailable: {why}")})).into_response()
            }
        },
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
    let body = state.metrics.render(&state.pool, (state.answers.in_use() as u64, state.answers.waiting() as u64));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn pool_status(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let pool = &state.pool;
    let restarts: serde_json::Map<String, serde_json::Value> =
        Restart::ALL.iter().map(|&restart| (restart.as_str().to_owned(), pool.restarts.get(restart).into())).collect();
    let ocr = match pool.ocr_status() {
        Some(status) => json!({
            "available": status.engine.is_some(),
            "engine": status.engine,
            "languages": status.languages,
            "loaded": status.loaded,
            "unavailable": status.unavailable,
        }),
        None => serde_json::Value::Null,
    };
    Json(json!({
        "workers": pool.workers(),
        "queue": {"depth": pool.queue_depth(), "capacity": pool.config().queue_capacity},
        "restarts": restarts,
        "ocr": ocr,
    }))
}
