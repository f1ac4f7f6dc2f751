//! A worker's response pipe read frame by frame through a buffer: one
//! `read` takes every answer the worker has written since the last, so a
//! worker that answers several pipelined tasks costs the server one wakeup,
//! not one a task. Reading is cancel-safe: bytes read stay in the buffer
//! when the future that read them is dropped in a `select!`.

use docmill_worker::protocol::{self, FromWorker};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

/// What the buffer reads at a time, and keeps between frames; a larger
/// frame is read into room made for it and the room given back after.
const BUFFER_BYTES: usize = 64 << 10;
/// Most room made for a frame ahead of its bytes.
const GROW_BY: usize = 1 << 20;

pub(super) enum WireError {
    /// The pipe closed: the worker is gone.
    Closed,
    /// The worker wrote something that is not a valid frame.
    Garbage(String),
}

pub(super) struct Responses {
    pipe: pipe::Receiver,
    buffer: Vec<u8>,
    /// Where the unread bytes in `buffer` start.
    start: usize,
}

impl Responses {
    pub(super) fn new(pipe: pipe::Receiver) -> Responses {
        Responses { pipe, buffer: Vec::with_capacity(BUFFER_BYTES), start: 0 }
    }

    /// The next frame. Cancel-safe.
    pub(super) async fn next(&mut self) -> Result<FromWorker, WireError> {
        loop {
            let unread = &self.buffer[self.start..];
            let mut wanted = protocol::FRAME_HEADER_LEN;
            if let Some(header) = unread.get(..protocol::FRAME_HEADER_LEN) {
                let header = header.try_into().expect("a header's length");
                let len = protocol::body_len(header, protocol::MAX_RESPONSE_FRAME)
                    .map_err(|err| WireError::Garbage(err.to_string()))?;
                wanted += len;
                if let Some(body) = unread.get(protocol::FRAME_HEADER_LEN..wanted) {
                    let message = protocol::decode_response(body).map_err(|err| WireError::Garbage(err.to_string()));
                    self.consumed(wanted);
                    return message;
                }
            }
            self.make_room(wanted);
            match self.pipe.read_buf(&mut self.buffer).await {
                Ok(0) | Err(_) => return Err(WireError::Closed),
                Ok(_) => {}
            }
        }
    }

    /// True when a whole frame or part of one is waiting in the buffer.
    fn holds_bytes(&self) -> bool {
        self.start < self.buffer.len()
    }

    /// Waits for an idle worker, which should say nothing, to write:
    /// `Ok` once it wrote anything, `Err` when the pipe closed.
    pub(super) async fn wrote_unasked(&mut self) -> Result<(), WireError> {
        if self.holds_bytes() {
            return Ok(());
        }
        self.make_room(1);
        match self.pipe.read_buf(&mut self.buffer).await {
            Ok(0) | Err(_) => Err(WireError::Closed),
            Ok(_) => Ok(()),
        }
    }

    fn consumed(&mut self, len: usize) {
        self.start += len;
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
            if self.buffer.capacity() > BUFFER_BYTES {
                self.buffer = Vec::with_capacity(BUFFER_BYTES);
            }
        }
    }

    /// Room to read more of a frame of `wanted` bytes into. The room grows
    /// with what arrives, at most [`GROW_BY`] a read past what is held, so
    /// a frame is held only as far as it has been written: a worker that
    /// announces a huge frame and writes little of it costs the server
    /// little until its deadline.
    fn make_room(&mut self, wanted: usize) {
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.reserve(wanted.saturating_sub(self.buffer.len()).clamp(4096, GROW_BY));
    }
}
