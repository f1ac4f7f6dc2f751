//! The server's one error type: every failure a client can see maps to a
//! status and a code of the contract, as `{"error": {"code", "message"}}`.
//! Internal details of 5xx errors are logged, not sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::pool::TaskError;

/// Seconds a shed client is told to wait: about one typical analysis.
pub const RETRY_AFTER_SECS: u64 = 1;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this path")
    }
    pub fn request_timeout(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", message)
    }
    pub fn payload_too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }
    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message)
    }
    pub fn overloaded() -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "the queue is full; retry later")
    }
    pub fn too_many_connections() -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "too many connections are open; retry later")
    }
    /// `--max-connections-per-peer`: this client holds its share already.
    pub fn too_many_peer_connections() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many connections are open from this address; retry on one already open, or later",
        )
    }
    pub fn shutting_down() -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "the server is shutting down")
    }
    /// The disk under `--data-dir` is full (or over quota): the request can
    /// be retried once space returns.
    pub fn insufficient_storage(what: &str) -> ApiError {
        if let Some(held) = crate::log::repeating(what) {
            tracing::error!("{what}: no space left under the data directory{}", crate::log::held_back(held));
        }
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient_storage",
            format!("{what}: the server's disk is full; retry once space is freed"),
        )
    }
    /// Storing more would eat into the space kept for work already
    /// accepted: 507, with `why`, retryable once space is freed.
    pub fn storage_reserved(why: &str) -> ApiError {
        if let Some(held) = crate::log::repeating(why) {
            tracing::warn!("{why}{}", crate::log::held_back(held));
        }
        ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient_storage",
            format!("{why}; retry once space is freed"),
        )
    }
    /// An I/O failure while storing something: 507 when the disk is full,
    /// else an internal error.
    pub fn from_io(what: &str, err: &std::io::Error) -> ApiError {
        match err.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT) => ApiError::insufficient_storage(what),
            _ => ApiError::internal(format!("{what}: {err}")),
        }
    }
    /// A framework error response (a rejected query string or path, a
    /// method not allowed) in the contract's shape. Statuses outside the
    /// contract's table become the nearest one in it (400 or 500).
    pub fn from_status(status: StatusCode, message: impl Into<String>) -> ApiError {
        let (status, code) = match status {
            StatusCode::UNAUTHORIZED => (status, "unauthorized"),
            StatusCode::NOT_FOUND => (status, "not_found"),
            StatusCode::METHOD_NOT_ALLOWED => (status, "method_not_allowed"),
            StatusCode::REQUEST_TIMEOUT => (status, "request_timeout"),
            StatusCode::PAYLOAD_TOO_LARGE => (status, "payload_too_large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (status, "unsupported_media_type"),
            StatusCode::SERVICE_UNAVAILABLE => (status, "overloaded"),
            StatusCode::INSUFFICIENT_STORAGE => (status, "insufficient_storage"),
            status if status.is_server_error() => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            _ => (StatusCode::BAD_REQUEST, "bad_request"),
        };
        ApiError::new(status, code, message)
    }
    /// Jobs cannot be served (the job store is damaged or cannot be opened);
    /// everything else can.
    pub fn jobs_unavailable(why: &str) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", format!("jobs are unavailable: {why}"))
    }
    pub fn internal(detail: impl Into<String>) -> ApiError {
        let detail = detail.into();
        tracing::error!("internal error: {detail}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }

    /// The body of an error as a batch/NDJSON `error` object.
    pub fn to_json(&self) -> serde_json::Value {
        json!({"code": self.code, "message": self.message})
    }
}

impl From<TaskError> for ApiError {
    fn from(err: TaskError) -> ApiError {
        match err {
            TaskError::ParseFailed(message) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "parse_failed", message),
            TaskError::BadRequest(message) => ApiError::bad_request(message),
            TaskError::Crashed(message) | TaskError::KilledFromOutside(message) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "worker_crashed", message)
            }
            TaskError::TimedOut(limit) => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!("analysis took longer than {:.3}s; the worker was stopped", limit.as_secs_f64()),
            ),
            TaskError::Overloaded => ApiError::overloaded(),
            TaskError::Quarantined(failure) => {
                let mut error = ApiError::from(*failure);
                error.message = format!(
                    "not analysed again: {} times this document crashed or stalled a worker and then its replacement; last time: {}",
                    crate::pool::memo::QUARANTINE_STRIKES,
                    error.message
                );
                error
            }
            TaskError::Unavailable(why) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", format!("no worker can take work: {why}"))
            }
            TaskError::ShuttingDown => ApiError::shutting_down(),
            TaskError::Internal(detail) => ApiError::internal(detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}
