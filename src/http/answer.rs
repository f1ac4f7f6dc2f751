//! What the server holds while a client reads its answer. Two limits, one
//! per way a reader can hurt the service:
//!
//! - **The answer memory budget** ([`AnswerBudget`]): every report, batch
//!   line and page of job results waiting in memory for its client holds a
//!   [`Reservation`] of its size until its last byte is dropped. Without it,
//!   clients that ask for large answers and read them slowly (or not at all)
//!   made the server hold each whole: a thousand readers of one job's 80 MB
//!   result, for no work at all, were 80 GB. Past the budget, batches and
//!   job results wait for room (they stream, and their clients are told
//!   nothing but a slower answer) and `/v1/analyze` is shed with 503; the
//!   last [`INTERACTIVE_ANSWER_RESERVE`] of it is `/v1/analyze`'s alone.
//! - **The send deadline** ([`SendDeadline`]): a connection whose client
//!   takes no answer bytes (fewer than [`MIN_SEND_PROGRESS_BYTES`]) for
//!   `--body-timeout` while the server waits to write is closed, which drops
//!   what it held.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Future;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use crate::waiting::Waiting;

/// All answers waiting in memory for their clients hold at most this much
/// together. Four of the largest reports a worker may send (96 MiB frames,
/// `docmill_worker::protocol::MAX_RESPONSE_FRAME`) do not fit, so slow
/// readers of large answers cannot take the server's memory; thousands of
/// ordinary reports (kilobytes each) do, so ordinary traffic never waits.
pub const ANSWER_MEMORY_BUDGET: usize = 256 << 20;
/// The part of [`ANSWER_MEMORY_BUDGET`] that batches and job results never
/// wait for: it is left to `/v1/analyze`, so clients that hold batch or
/// job answers unread cannot get interactive requests shed. Room for
/// hundreds of ordinary reports, or a large one.
pub const INTERACTIVE_ANSWER_RESERVE: usize = 64 << 20;

/// What counts as the client reading: the send deadline's clock is reset
/// only once this many answer bytes went out since the last reset, so a
/// client reading one byte a second cannot hold its answer forever. The
/// same rule as a request body's (`body::MIN_PROGRESS_BYTES`).
pub const MIN_SEND_PROGRESS_BYTES: u64 = super::body::MIN_PROGRESS_BYTES;

/// Bytes of answers held in memory, against [`ANSWER_MEMORY_BUDGET`].
pub struct AnswerBudget {
    capacity: usize,
    in_use: Mutex<usize>,
    freed: Notify,
    /// Answers (batch documents, results pages) waiting for room now.
    waiting: AtomicUsize,
}

impl Default for AnswerBudget {
    fn default() -> Self {
        AnswerBudget {
            capacity: ANSWER_MEMORY_BUDGET,
            in_use: Mutex::new(0),
            freed: Notify::new(),
            waiting: AtomicUsize::new(0),
        }
    }
}

impl AnswerBudget {
    /// Bytes held now.
    pub fn in_use(&self) -> usize {
        *self.in_use.lock().unwrap()
    }

    /// Answers waiting for room now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// True when answers already hold the whole budget: `/v1/analyze` is
    /// shed.
    pub fn is_exhausted(&self) -> bool {
        *self.in_use.lock().unwrap() >= self.capacity
    }

    /// What batches and job results may fill: all but the interactive
    /// reserve.
    fn bulk_capacity(&self) -> usize {
        self.capacity.saturating_sub(INTERACTIVE_ANSWER_RESERVE)
    }

    /// Takes `bytes` of the budget for a batch or job answer, waiting until
    /// they fit beside the interactive reserve. An answer larger than that
    /// waits until nothing else is held.
    pub async fn reserve(self: &Arc<Self>, bytes: usize) -> Reservation {
        let mut waiting = None;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut in_use = self.in_use.lock().unwrap();
                if *in_use == 0 || *in_use + bytes <= self.bulk_capacity() {
                    *in_use += bytes;
                    return Reservation { budget: Arc::clone(self), bytes };
                }
            }
            waiting.get_or_insert_with(|| Waiting::new(&self.waiting));
            freed.await;
        }
    }

    /// Waits until answers leave room beside the interactive reserve: work
    /// whose answer is not yet known (a batch's next document) starts only
    /// then.
    pub async fn room(&self) {
        let mut waiting = None;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if *self.in_use.lock().unwrap() < self.bulk_capacity() {
                return;
            }
            waiting.get_or_insert_with(|| Waiting::new(&self.waiting));
            freed.await;
        }
    }

    /// Takes `bytes` of the budget at once, over it if need be: for an
    /// answer that is already in memory (a report back from a worker),
    /// so that what it holds is counted against the answers that follow.
    pub fn reserve_now(self: &Arc<Self>, bytes: usize) -> Reservation {
        *self.in_use.lock().unwrap() += bytes;
        Reservation { budget: Arc::clone(self), bytes }
    }
}

/// A share of the [`AnswerBudget`], given back on drop.
pub struct Reservation {
    budget: Arc<AnswerBudget>,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        *self.budget.in_use.lock().unwrap() -= self.bytes;
        self.budget.freed.notify_waiters();
    }
}

/// `bytes`, with `reservation` given back only when the last piece of them
/// is dropped (hyper may still hold a piece in its write buffer after the
/// body has ended).
pub fn held(bytes: Bytes, reservation: Reservation) -> Bytes {
    struct Owner(Bytes, #[allow(dead_code)] Reservation);
    impl AsRef<[u8]> for Owner {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }
    Bytes::from_owner(Owner(bytes, reservation))
}

/// `pieces` of one answer, with `reservation` given back only when the last
/// of them is dropped, whichever that is.
pub fn held_pieces<const N: usize>(pieces: [Bytes; N], reservation: Reservation) -> [Bytes; N] {
    struct Owner(Bytes, #[allow(dead_code)] Arc<Reservation>);
    impl AsRef<[u8]> for Owner {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }
    let reservation = Arc::new(reservation);
    pieces.map(|piece| if piece.is_empty() { piece } else { Bytes::from_owner(Owner(piece, Arc::clone(&reservation))) })
}

/// A connection's stream with the send deadline: a write that cannot go out
/// (the client's receive window is full) for `timeout` in all, counted only
/// while the server waits and reset by every [`MIN_SEND_PROGRESS_BYTES`]
/// written, fails with `TimedOut`, and hyper closes the connection.
pub struct SendDeadline<T> {
    inner: T,
    timeout: Duration,
    /// Bytes written since the clock was last reset.
    progress: u64,
    /// Time spent waiting to write since the last reset.
    waited: Duration,
    /// Set while a write waits.
    waiting: Option<(Instant, Pin<Box<tokio::time::Sleep>>)>,
}

impl<T> SendDeadline<T> {
    pub fn new(inner: T, timeout: Duration) -> SendDeadline<T> {
        SendDeadline { inner, timeout, progress: 0, waited: Duration::ZERO, waiting: None }
    }

    /// Accounts one write's outcome; `Err` once the deadline has passed.
    fn account(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match polled {
            Poll::Pending => {
                let left = self.timeout.saturating_sub(self.waited);
                let (_, sleep) =
                    self.waiting.get_or_insert_with(|| (Instant::now(), Box::pin(tokio::time::sleep(left))));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client took no answer bytes for --body-timeout",
                )))
            }
            Poll::Ready(Ok(written)) => {
                if let Some((since, _)) = self.waiting.take() {
                    self.waited += since.elapsed();
                }
                self.progress += written as u64;
                if self.progress >= MIN_SEND_PROGRESS_BYTES {
                    self.progress = 0;
                    self.waited = Duration::ZERO;
                }
                Poll::Ready(Ok(written))
            }
            failed => failed,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for SendDeadline<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for SendDeadline<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.account(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.account(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_hold_their_reservation_until_the_last_is_dropped() {
        let budget = Arc::new(AnswerBudget::default());
        let pieces = [Bytes::from_static(b"head"), Bytes::new(), Bytes::from(vec![7u8; 1000])];
        let [head, empty, body] = held_pieces(pieces, budget.reserve_now(1004));
        assert_eq!(budget.in_use(), 1004);
        let kept = body.slice(10..20);
        drop((head, empty, body));
        assert_eq!(budget.in_use(), 1004, "a slice of a piece still holds it");
        drop(kept);
        assert_eq!(budget.in_use(), 0);
        let [_, body, _] =
            held_pieces([Bytes::new(), Bytes::from_static(b"tail"), Bytes::new()], budget.reserve_now(4));
        assert_eq!(budget.in_use(), 4);
        drop(body);
        assert_eq!(budget.in_use(), 0, "empty pieces hold nothing");
    }
}
