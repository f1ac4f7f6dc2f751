//! Request ids and the access log. Every request runs in a `request` span
//! carrying its id (the client's `x-request-id` when it sent a sane one,
//! else a fresh one), so every line logged on its behalf names it; the
//! response echoes the id. When the response body has been sent (or the
//! client left), one line gives method, path, status, bytes and duration:
//! always for a 5xx, for every request with `--access-log`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tracing::Instrument;

use super::AppState;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-chosen request id kept; longer ones (or ones with spaces
/// or control characters) are replaced, so a client cannot stuff the log.
const MAX_REQUEST_ID_LEN: usize = 128;

pub async fn log_requests(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{:016x}", fastrand::u64(..)));
    let id_value = HeaderValue::from_str(&request_id).expect("checked or generated as visible ASCII");
    request.headers_mut().insert(&REQUEST_ID, id_value.clone());
    let span = tracing::info_span!("request", request_id = %request_id);
    let line = AccessLine {
        method: request.method().clone(),
        path: request.uri().path().to_owned(),
        status: StatusCode::OK,
        request_id,
        started: Instant::now(),
        always: state.config.access_log,
    };
    let response = next.run(request).instrument(span).await;
    let (mut parts, body) = response.into_parts();
    parts.headers.insert(&REQUEST_ID, id_value);
    let line = AccessLine { status: parts.status, ..line };
    Response::from_parts(parts, Body::new(LoggedBody { inner: body, line: Some(line), bytes: 0 }))
}

/// What the access line says, written once the body is done.
struct AccessLine {
    method: Method,
    path: String,
    status: StatusCode,
    request_id: String,
    started: Instant,
    /// `--access-log`: a line for every request, not only for 5xx.
    always: bool,
}

impl AccessLine {
    fn write(self, bytes: u64, ending: &str) {
        let status = self.status.as_u16();
        let duration_ms = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        macro_rules! line {
            ($level:ident, $message:literal) => {
                tracing::$level!(
                    method = %self.method,
                    path = %self.path,
                    status,
                    bytes,
                    duration_ms,
                    request_id = %self.request_id,
                    ending = %ending,
                    $message
                )
            };
        }
        if self.status.is_server_error() {
            line!(error, "request failed");
        } else if self.always {
            line!(info, "request");
        }
    }
}

/// The response body, counted as it goes out.
struct LoggedBody {
    inner: Body,
    line: Option<AccessLine>,
    bytes: u64,
}

impl LoggedBody {
    fn finish(&mut self, ending: &str) {
        if let Some(line) = self.line.take() {
            line.write(self.bytes, ending);
        }
    }
}

impl http_body::Body for LoggedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => this.finish("complete"),
            Poll::Ready(Some(Err(_))) => this.finish("body_error"),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        // An empty body may never be polled; a body dropped before its end
        // means the client went away mid-response.
        let ending = if http_body::Body::is_end_stream(&self.inner) { "complete" } else { "client_gone" };
        self.finish(ending);
    }
}
