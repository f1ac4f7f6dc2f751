//! Every request body passes through [`ClientBody`], put in place by the
//! [`guard`] middleware. It does two things no handler has to remember:
//!
//! - **A deadline on progress.** A body that makes no progress for
//!   `--body-timeout` while the server waits for it ends with an error; the
//!   connection is then closed, with a 408 where a response can still be
//!   sent. Only time the server spends waiting counts (a batch that stops
//!   reading for backpressure does not make its client late), and a trickle
//!   of a few bytes is not progress (see [`MIN_PROGRESS_BYTES`]).
//! - **Drain before refusing.** A handler that answers without reading the
//!   whole body (415, 404, 405, 400, a body malformed early) drops it; the
//!   unread rest comes back to the middleware, which reads and discards it
//!   (bounded) before the response goes out, so a client that writes the
//!   whole body before reading sees the status instead of a broken pipe.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::Future;
use http_body::Frame;

use super::{upload, AppState};
use crate::error::ApiError;

/// What counts as progress: the waiting clock is reset only once this many
/// bytes arrived since the last reset. A client sending one byte a second
/// would otherwise hold its connection forever; any real upload moves
/// 16 KiB within a body timeout (at the default 30 s that is 546 bytes/s).
pub const MIN_PROGRESS_BYTES: u64 = 16 << 10;

/// The error a body ends with when its client stalls.
#[derive(Debug)]
pub struct BodyStalled(pub Duration);

impl std::fmt::Display for BodyStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body made no progress for {:.3}s (--body-timeout)", self.0.as_secs_f64())
    }
}

impl std::error::Error for BodyStalled {}

/// True when `err`, or an error it wraps, is [`BodyStalled`]. `io::Error`
/// hides its payload from `source()`, so it is unwrapped by hand.
pub fn is_stall(mut err: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if err.is::<BodyStalled>() {
            return true;
        }
        let next = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
        match next {
            Some(inner) => err = inner,
            None => return false,
        }
    }
}

/// What a [`ClientBody`] leaves for the middleware.
#[derive(Default)]
struct Shared {
    /// The unread rest of a body its handler dropped.
    leftover: Mutex<Option<Body>>,
    stalled: AtomicBool,
}

pub struct ClientBody {
    inner: Option<Body>,
    shared: Arc<Shared>,
    timeout: Duration,
    /// Bytes since the waiting clock was last reset.
    progress: u64,
    /// Time spent waiting for the client since the last reset.
    waited: Duration,
    /// Set while the server waits for the next frame.
    waiting: Option<(Instant, Pin<Box<tokio::time::Sleep>>)>,
    finished: bool,
}

impl ClientBody {
    fn new(inner: Body, shared: Arc<Shared>, timeout: Duration) -> ClientBody {
        ClientBody {
            inner: Some(inner),
            shared,
            timeout,
            progress: 0,
            waited: Duration::ZERO,
            waiting: None,
            finished: false,
        }
    }
}

impl HttpBody for ClientBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else { return Poll::Ready(None) };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Pending => {
                let left = this.timeout.saturating_sub(this.waited);
                let (_, sleep) =
                    this.waiting.get_or_insert_with(|| (Instant::now(), Box::pin(tokio::time::sleep(left))));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                // Dropping the body makes hyper close the connection once
                // the response (if any) is written.
                this.inner = None;
                this.shared.stalled.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(axum::Error::new(BodyStalled(this.timeout)))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some((since, _)) = this.waiting.take() {
                    this.waited += since.elapsed();
                }
                this.progress += frame.data_ref().map_or(0, |data| data.len() as u64);
                if this.progress >= MIN_PROGRESS_BYTES {
                    this.progress = 0;
                    this.waited = Duration::ZERO;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => {
                // The end, or a broken connection: nothing is left to drain.
                this.finished = true;
                other
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|inner| inner.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.as_ref().map(|inner| inner.size_hint()).unwrap_or_default()
    }
}

impl Drop for ClientBody {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(inner) = self.inner.take() {
            if !inner.is_end_stream() {
                *self.shared.leftover.lock().unwrap() = Some(inner);
            }
        }
    }
}

/// The middleware: wraps the body, and after the handler answers, turns a
/// stall into 408 and drains what the handler left unread.
pub async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let shared = Arc::new(Shared::default());
    let body = ClientBody::new(body, Arc::clone(&shared), state.config.body_timeout);
    let mut response = next.run(Request::from_parts(parts, Body::new(body))).await;
    if shared.stalled.load(Ordering::Relaxed) {
        // A streamed answer that already started keeps its status; its
        // stream reports the stall as a line.
        if !response.status().is_success() {
            response = ApiError::request_timeout(BodyStalled(state.config.body_timeout).to_string()).into_response();
        }
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let leftover = shared.leftover.lock().unwrap().take();
    if let Some(rest) = leftover {
        let rest = ClientBody::new(rest, Arc::default(), state.config.body_timeout);
        if !upload::drain(Body::new(rest).into_data_stream()).await {
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    response
}
