//! Uploads: request bodies are streamed, never buffered whole. Each file is
//! spooled ([`super::spool`]: memory, a memfd, or an unlinked temporary
//! file), hashed as it arrives, and refused the moment it passes its limit,
//! after which the rest of the body is read and discarded (up to a bound) so
//! the client sees the status instead of a broken pipe.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::disposition::{self, Filename};
use super::spool::{spool_error, Spool, Spooled};
use crate::error::ApiError;
use axum::body::Body;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};

/// After a refusal (413, 503) at most this much of the rest of the body is
/// read and thrown away before answering; a client sending more than this
/// after being refused gets the status and a closed connection.
pub const DRAIN_MAX_BYTES: u64 = 256 << 20;
/// And for at most this long, so a slow client cannot hold a refusal open.
pub const DRAIN_MAX_TIME: Duration = Duration::from_secs(10);
/// Cap on one part's header block. multer buffers a part's headers until the
/// blank line without a bound of its own; this stops a client from making the
/// server buffer megabytes of "headers".
pub const MAX_PART_HEADER_BYTES: usize = 16 << 10;
/// multer pulls from its stream until the stream has nothing ready, copying
/// everything into its own buffer: fed by a fast client while the spool
/// waits on the disk, it would buffer the whole upload. The stream in front
/// of it yields after this many bytes, so multer hands them on (and the
/// spool's pace reaches the client through TCP) before it reads more.
pub const MULTIPART_READ_AHEAD_BYTES: usize = 64 << 10;

/// Reads and discards what is left of a body, within [`DRAIN_MAX_BYTES`] and
/// [`DRAIN_MAX_TIME`]; true when the body ended within them.
pub async fn drain<S, E>(mut stream: S) -> bool
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let deadline = Instant::now() + DRAIN_MAX_TIME;
    let mut drained = 0u64;
    while drained < DRAIN_MAX_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(Ok(chunk))) => drained += chunk.len() as u64,
            Ok(None) => return true,
            _ => return false,
        }
    }
    false
}

/// A file part of a multipart upload.
pub struct FilePart {
    pub filename: String,
    pub declared_type: Option<String>,
    /// The spooled file, or why this file alone was refused.
    pub content: Result<Spooled, ApiError>,
}

/// Streams the file parts of a `multipart/form-data` body one at a time.
/// The body as multer reads it, which can be taken back from under multer
/// once it stopped at an error: the rest is then drained by hand.
type RawBody = Arc<std::sync::Mutex<Option<axum::body::BodyDataStream>>>;

struct Detachable(RawBody);

impl Stream for Detachable {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        match self.0.lock().unwrap().as_mut() {
            Some(body) => body.poll_next_unpin(cx),
            None => std::task::Poll::Ready(None),
        }
    }
}

pub struct MultipartFiles {
    multipart: multer::Multipart<'static>,
    raw: RawBody,
    headers_too_large: Arc<AtomicBool>,
    spool_dir: PathBuf,
    per_file_limit: u64,
    /// Files are spooled with [`Spool::hashing_later`].
    hash_later: bool,
    pub files_seen: usize,
    /// The filename of the part being read when the body broke off.
    broken_part: Option<String>,
}

impl MultipartFiles {
    /// Checks the Content-Type and sets up the reader: 415 when the body is
    /// not multipart at all, 400 when it is but has no boundary.
    pub fn new(
        content_type: Option<&str>,
        body: Body,
        spool_dir: &Path,
        per_file_limit: u64,
        request_limit: u64,
    ) -> Result<Self, ApiError> {
        let content_type = content_type.unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if mime != "multipart/form-data" {
            return Err(ApiError::unsupported_media_type(format!(
                "expected multipart/form-data, got {}",
                docmill_engine::quoted(if content_type.is_empty() { "no Content-Type" } else { content_type })
            )));
        }
        let boundary = multer::parse_boundary(content_type)
            .map_err(|err| ApiError::bad_request(format!("bad multipart Content-Type: {err}")))?;
        let headers_too_large = Arc::new(AtomicBool::new(false));
        let raw: RawBody = Arc::new(std::sync::Mutex::new(Some(body.into_data_stream())));
        let stream = HeaderCap::new(
            Detachable(Arc::clone(&raw)).map_err(std::io::Error::other),
            &boundary,
            Arc::clone(&headers_too_large),
        );
        let constraints = multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(request_limit));
        Ok(MultipartFiles {
            multipart: multer::Multipart::with_constraints(stream, boundary, constraints),
            raw,
            headers_too_large,
            spool_dir: spool_dir.to_owned(),
            per_file_limit,
            hash_later: false,
            files_seen: 0,
            broken_part: None,
        })
    }

    /// Leaves the digest of a file larger than a spool's buffer to the pool
    /// ([`Spool::hashing_later`]).
    pub fn hashing_later(mut self) -> Self {
        self.hash_later = true;
        self
    }

    /// The next file part, spooled whole; non-file fields are skipped. A
    /// file refused on its own (too large, an unsupported encoding) comes
    /// back with its error, and the reader can go on to the next part; an
    /// error of the body as a whole ends the reading.
    pub async fn next_file(&mut self) -> Result<Option<FilePart>, ApiError> {
        loop {
            let field = match self.multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => return Ok(None),
                Err(err) => return Err(self.multer_error(err)),
            };
            let disposition = field
                .headers()
                .get(http::header::CONTENT_DISPOSITION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            // multer reads only a plain `filename`; `filename*` (RFC 8187),
            // which wins where both are given, is read here.
            let named = disposition::filename(&disposition);
            let (filename, undecodable) = match (named, field.file_name()) {
                (Some(Filename::Name(name)), _) => (name, None),
                (Some(Filename::Undecodable(raw)), _) => (raw.clone(), Some(raw)),
                (None, Some(name)) => (name.to_owned(), None),
                (None, None) => continue,
            };
            self.files_seen += 1;
            let declared_type = field.content_type().map(|mime| mime.to_string());
            if let Some(raw) = undecodable {
                let refusal = ApiError::bad_request(format!(
                    "the filename* parameter {} is not UTF-8 or ISO-8859-1 percent-encoding; send filename=\"...\" too",
                    docmill_engine::quoted(&raw)
                ));
                return Ok(Some(FilePart { filename, declared_type, content: Err(refusal) }));
            }
            if let Some(encoding) = field.headers().get("content-transfer-encoding") {
                let encoding = encoding.to_str().unwrap_or("").trim().to_ascii_lowercase();
                if !matches!(encoding.as_str(), "7bit" | "8bit" | "binary") {
                    let refusal = ApiError::bad_request(format!(
                        "Content-Transfer-Encoding {} is not supported: send the file's raw bytes",
                        docmill_engine::quoted(&encoding)
                    ));
                    return Ok(Some(FilePart { filename, declared_type, content: Err(refusal) }));
                }
            }
            let mut spool = if self.hash_later {
                Spool::hashing_later(&self.spool_dir, self.per_file_limit)
            } else {
                Spool::new(&self.spool_dir, self.per_file_limit)
            };
            let mut field = field;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        if let Err(err) = spool.push(chunk).await {
                            // The rest of this part is skipped by the next
                            // `next_field`, read but never stored.
                            let refusal = spool_error(err, self.per_file_limit);
                            return Ok(Some(FilePart { filename, declared_type, content: Err(refusal) }));
                        }
                    }
                    Ok(None) => break,
                    Err(err) => {
                        self.broken_part = Some(filename);
                        return Err(self.multer_error(err));
                    }
                }
            }
            let content = spool.finish().await.map_err(|err| spool_error(err, self.per_file_limit));
            return Ok(Some(FilePart { filename, declared_type, content }));
        }
    }

    /// The filename of the part the body broke off in, if it broke off
    /// within a file part.
    pub fn broken_part(&self) -> Option<&str> {
        self.broken_part.as_deref()
    }

    fn multer_error(&self, err: multer::Error) -> ApiError {
        if super::body::is_stall(&err) {
            return ApiError::request_timeout(
                std::error::Error::source(&err).map_or(err.to_string(), |e| e.to_string()),
            );
        }
        if self.headers_too_large.load(Ordering::Relaxed) {
            return ApiError::bad_request(format!("a part's headers exceed {MAX_PART_HEADER_BYTES} bytes"));
        }
        match err {
            multer::Error::StreamSizeExceeded { limit } => {
                ApiError::payload_too_large(format!("the request exceeds the limit of {limit} bytes"))
            }
            other => ApiError::bad_request(format!("malformed multipart body: {other}")),
        }
    }

    /// Reads and discards the rest of the body (bounded) after the reading
    /// stopped at an error of the body as a whole (past `--max-request-bytes`,
    /// malformed), which multer cannot read past: a client that writes its
    /// whole body before reading then sees the rest of the answer, not a
    /// broken pipe. True when the body ended within the bounds.
    pub async fn drain_after_error(self) -> bool {
        let raw = Arc::clone(&self.raw);
        drop(self);
        let rest = raw.lock().unwrap().take();
        match rest {
            Some(rest) => drain(rest).await,
            None => true,
        }
    }

    /// Reads and discards the rest of the body (bounded).
    pub async fn drain(mut self) {
        let deadline = Instant::now() + DRAIN_MAX_TIME;
        let mut drained = 0u64;
        while drained < DRAIN_MAX_BYTES && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            let field = match tokio::time::timeout(left, self.multipart.next_field()).await {
                Ok(Ok(Some(field))) => field,
                _ => return,
            };
            let mut field = field;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, field.chunk()).await {
                    Ok(Ok(Some(chunk))) => {
                        drained += chunk.len() as u64;
                        if drained >= DRAIN_MAX_BYTES {
                            return;
                        }
                    }
                    Ok(Ok(None)) => break,
                    _ => return,
                }
            }
        }
    }
}

/// Passes a multipart body through unchanged while checking that no part's
/// header block (from a boundary line to the blank line) exceeds
/// [`MAX_PART_HEADER_BYTES`]; past it the stream ends with an error. It also
/// pauses after [`MULTIPART_READ_AHEAD_BYTES`] (see there).
struct HeaderCap<S> {
    inner: S,
    /// Bytes yielded since the stream last paused.
    since_pause: usize,
    delimiter: Vec<u8>,
    /// Bytes of header seen so far in the current part, when inside one.
    in_header: Option<usize>,
    /// The tail of the previous chunk, so a delimiter split across chunks is
    /// still found.
    carry: Vec<u8>,
    flag: Arc<AtomicBool>,
}

impl<S> HeaderCap<S> {
    fn new(inner: S, boundary: &str, flag: Arc<AtomicBool>) -> Self {
        let delimiter = format!("--{boundary}").into_bytes();
        HeaderCap { inner, since_pause: 0, delimiter, in_header: None, carry: Vec::new(), flag }
    }

    /// Updates the header state with `chunk`; false when a header block is
    /// too long. Matches lying wholly inside the carried tail were handled
    /// with the previous chunk and are skipped.
    fn check_chunk(&mut self, chunk: &[u8]) -> bool {
        let mut window = std::mem::take(&mut self.carry);
        let carried = window.len();
        window.extend_from_slice(chunk);
        let mut pos = 0;
        loop {
            match self.in_header {
                None => match memchr::memmem::find(&window[pos..], &self.delimiter) {
                    Some(at) if pos + at + self.delimiter.len() > carried => {
                        self.in_header = Some(0);
                        pos += at + self.delimiter.len();
                    }
                    Some(at) => pos += at + 1,
                    None => break,
                },
                Some(seen) => match memchr::memmem::find(&window[pos..], b"\r\n\r\n") {
                    Some(at) if pos + at + 4 > carried => {
                        if seen + at > MAX_PART_HEADER_BYTES {
                            return false;
                        }
                        self.in_header = None;
                        pos += at + 4;
                    }
                    Some(at) => pos += at + 1,
                    None => {
                        let fresh = window.len() - pos.max(carried);
                        if seen + fresh > MAX_PART_HEADER_BYTES {
                            return false;
                        }
                        self.in_header = Some(seen + fresh);
                        break;
                    }
                },
            }
        }
        let keep = self.delimiter.len().max(4).min(window.len());
        self.carry = window[window.len() - keep..].to_vec();
        true
    }
}

impl<S> Stream for HeaderCap<S>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Unpin,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.since_pause >= MULTIPART_READ_AHEAD_BYTES {
            // Ready again at once: this only ends multer's read loop.
            self.since_pause = 0;
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        let polled = self.inner.poll_next_unpin(cx);
        if polled.is_pending() {
            self.since_pause = 0;
        }
        if let std::task::Poll::Ready(Some(Ok(chunk))) = &polled {
            self.since_pause += chunk.len();
            let chunk = chunk.clone();
            if !self.check_chunk(&chunk) {
                self.flag.store(true, Ordering::Relaxed);
                return std::task::Poll::Ready(Some(Err(std::io::Error::other("part headers too large"))));
            }
        }
        polled
    }
}
