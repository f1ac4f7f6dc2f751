//! Uploads: request bodies are streamed, never buffered whole. Each file is
//! spooled (memory up to [`SPOOL_MEMORY_BYTES`] while all spools together stay
//! within [`SPOOL_MEMORY_BUDGET`], an unlinked temporary file beyond), hashed
//! as it arrives, and refused the moment it passes its limit, after which the
//! rest of the body is read and discarded (up to a bound) so the client sees
//! the status instead of a broken pipe.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use std::io::Write;

use super::disposition::{self, Filename};
use crate::error::ApiError;
use crate::pool::{Document, OpenMemfd, INLINE_MAX_BYTES};

/// Files up to this size stay in memory; larger ones go to a temporary file,
/// so many concurrent large uploads cost disk, not RAM.
pub const SPOOL_MEMORY_BYTES: usize = 4 << 20;
/// All uploads being received keep at most this much in memory together;
/// past it, further uploads spool to disk from their first byte. Without it,
/// clients that stall mid-upload would each pin up to [`SPOOL_MEMORY_BYTES`]
/// (100 of them: 400 MiB); with it, memory held by uploads stays bounded
/// however many there are. 64 MiB keeps 16 maximal uploads in memory, more
/// than the workers of a typical machine can take at once.
pub const SPOOL_MEMORY_BUDGET: usize = 64 << 20;

/// Bytes of [`SPOOL_MEMORY_BUDGET`] reserved by live spools.
static SPOOL_MEMORY_IN_USE: AtomicUsize = AtomicUsize::new(0);

/// Reserves `bytes` of the shared budget; false when it would overflow.
fn reserve_spool_memory(bytes: usize) -> bool {
    SPOOL_MEMORY_IN_USE
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            used.checked_add(bytes).filter(|total| *total <= SPOOL_MEMORY_BUDGET)
        })
        .is_ok()
}

fn release_spool_memory(bytes: usize) {
    SPOOL_MEMORY_IN_USE.fetch_sub(bytes, Ordering::AcqRel);
}
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

/// A complete upload, ready to dispatch.
pub struct Spooled {
    pub document: Document,
    pub sha256: [u8; 32],
}

pub enum SpoolError {
    TooLarge,
    Io(std::io::Error),
}

/// Where a spool keeps what has arrived of its file.
enum Held {
    /// Up to [`INLINE_MAX_BYTES`]: a buffer, which goes to the worker inline
    /// in its request frame.
    Buffer(Vec<u8>),
    /// Past it, up to [`SPOOL_MEMORY_BYTES`] within the shared budget: a
    /// memfd, sealed when complete and mapped by the worker as it is, so a
    /// large upload is copied once (from the socket's buffers into it), not
    /// into a growing buffer and then again into a memfd for the worker.
    Memfd(OpenMemfd),
    /// Beyond: an unlinked temporary file.
    Disk(std::fs::File),
}

/// One file being received.
pub struct Spool {
    /// Where large files are spooled (`<data-dir>/spool`).
    dir: PathBuf,
    limit: u64,
    size: u64,
    hasher: Sha256,
    held: Held,
    /// Bytes of [`SPOOL_MEMORY_BUDGET`] this spool holds (a buffer's
    /// capacity, a memfd's length), given back on drop or when the file is
    /// complete.
    reserved: usize,
}

impl Spool {
    pub fn new(dir: &Path, limit: u64) -> Spool {
        Spool {
            dir: dir.to_owned(),
            limit,
            size: 0,
            hasher: Sha256::new(),
            held: Held::Buffer(Vec::new()),
            reserved: 0,
        }
    }

    /// Makes this spool's share of the budget `target` bytes, taking more or
    /// giving some back; false (and no change) when the budget cannot give.
    fn reserve(&mut self, target: usize) -> bool {
        if target > self.reserved {
            if !reserve_spool_memory(target - self.reserved) {
                return false;
            }
        } else {
            release_spool_memory(self.reserved - target);
        }
        self.reserved = target;
        true
    }

    pub async fn push(&mut self, chunk: Bytes) -> Result<(), SpoolError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(SpoolError::TooLarge);
        }
        self.hasher.update(&chunk);
        let held = self.size as usize;
        let in_buffer = matches!(self.held, Held::Buffer(_));
        if in_buffer && held <= INLINE_MAX_BYTES {
            // Grow geometrically, as a Vec would, but count every byte. The
            // first chunk is taken at its size: most small uploads arrive in
            // one, and a larger first reservation would be allocated and
            // freed per request.
            let capacity = if held <= self.reserved { self.reserved } else { held.max(self.reserved * 2) };
            let capacity = capacity.min(INLINE_MAX_BYTES);
            if self.reserve(capacity) {
                let Held::Buffer(buffer) = &mut self.held else { unreachable!() };
                buffer.reserve_exact(capacity - buffer.len());
                buffer.extend_from_slice(&chunk);
                return Ok(());
            }
        } else if !matches!(self.held, Held::Disk(_)) && held <= SPOOL_MEMORY_BYTES && self.reserve(held) {
            if let Held::Buffer(buffer) = &self.held {
                let mut memfd = OpenMemfd::new().map_err(SpoolError::Io)?;
                memfd.write(buffer).map_err(SpoolError::Io)?;
                self.held = Held::Memfd(memfd);
            }
            let Held::Memfd(memfd) = &mut self.held else { unreachable!() };
            return memfd.write(&chunk).map_err(SpoolError::Io);
        }
        self.spill_to_disk(chunk).await
    }

    /// Appends `chunk` to the spool file, moving what memory held into it
    /// first. The chunk is written from a blocking thread that owns it, so
    /// no buffer outlives the write (a buffered async file would keep one
    /// per upload).
    async fn spill_to_disk(&mut self, chunk: Bytes) -> Result<(), SpoolError> {
        let held = std::mem::replace(&mut self.held, Held::Buffer(Vec::new()));
        let dir = self.dir.clone();
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let mut file = match held {
                Held::Disk(file) => file,
                Held::Buffer(buffer) => {
                    let mut file = tempfile::tempfile_in(dir)?;
                    file.write_all(&buffer)?;
                    file
                }
                Held::Memfd(memfd) => {
                    let mut file = tempfile::tempfile_in(dir)?;
                    let mut memfd = memfd.into_file();
                    std::io::Seek::rewind(&mut memfd)?;
                    std::io::copy(&mut memfd, &mut file)?;
                    file
                }
            };
            file.write_all(&chunk)?;
            Ok(file)
        })
        .await
        .map_err(|err| SpoolError::Io(std::io::Error::other(err)))?
        .map_err(SpoolError::Io)?;
        self.reserve(0);
        self.held = Held::Disk(file);
        Ok(())
    }

    /// The complete file. Its memory leaves the budget: from here on it is
    /// bounded by the queue it waits in, not by how many clients upload.
    pub async fn finish(mut self) -> Result<Spooled, SpoolError> {
        let sha256: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        self.reserve(0);
        let document = match std::mem::replace(&mut self.held, Held::Buffer(Vec::new())) {
            Held::Buffer(buffer) => Document::Memory(Bytes::from(buffer)),
            Held::Memfd(memfd) => Document::Sealed(memfd.seal().map_err(SpoolError::Io)?),
            Held::Disk(file) => Document::File(file),
        };
        Ok(Spooled { document, sha256 })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        release_spool_memory(self.reserved);
    }
}

pub fn spool_error(err: SpoolError, limit: u64) -> ApiError {
    match err {
        SpoolError::TooLarge => {
            ApiError::payload_too_large(format!("a file exceeds the upload limit of {limit} bytes"))
        }
        SpoolError::Io(err) => ApiError::from_io("cannot spool the upload", &err),
    }
}

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
pub struct MultipartFiles {
    multipart: multer::Multipart<'static>,
    headers_too_large: Arc<AtomicBool>,
    spool_dir: PathBuf,
    per_file_limit: u64,
    pub files_seen: usize,
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
                "expected multipart/form-data, got {:?}",
                if content_type.is_empty() { "no Content-Type" } else { content_type }
            )));
        }
        let boundary = multer::parse_boundary(content_type)
            .map_err(|err| ApiError::bad_request(format!("bad multipart Content-Type: {err}")))?;
        let headers_too_large = Arc::new(AtomicBool::new(false));
        let stream = HeaderCap::new(
            body.into_data_stream().map_err(std::io::Error::other),
            &boundary,
            Arc::clone(&headers_too_large),
        );
        let constraints = multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(request_limit));
        Ok(MultipartFiles {
            multipart: multer::Multipart::with_constraints(stream, boundary, constraints),
            headers_too_large,
            spool_dir: spool_dir.to_owned(),
            per_file_limit,
            files_seen: 0,
        })
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
                    "the filename* parameter {raw:?} is not UTF-8 or ISO-8859-1 percent-encoding; send filename=\"...\" too"
                ));
                return Ok(Some(FilePart { filename, declared_type, content: Err(refusal) }));
            }
            if let Some(encoding) = field.headers().get("content-transfer-encoding") {
                let encoding = encoding.to_str().unwrap_or("").trim().to_ascii_lowercase();
                if !matches!(encoding.as_str(), "7bit" | "8bit" | "binary") {
                    let refusal = ApiError::bad_request(format!(
                        "Content-Transfer-Encoding {encoding:?} is not supported: send the file's raw bytes"
                    ));
                    return Ok(Some(FilePart { filename, declared_type, content: Err(refusal) }));
                }
            }
            let mut spool = Spool::new(&self.spool_dir, self.per_file_limit);
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
                    Err(err) => return Err(self.multer_error(err)),
                }
            }
            let content = spool.finish().await.map_err(|err| spool_error(err, self.per_file_limit));
            return Ok(Some(FilePart { filename, declared_type, content }));
        }
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
