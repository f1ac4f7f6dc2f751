//! Where one uploaded file waits while it arrives: a buffer up to
//! [`INLINE_MAX_BYTES`], then a memfd up to [`SPOOL_MEMORY_BYTES`] while all
//! in-memory spools together stay within [`SPOOL_MEMORY_BUDGET`], an unlinked
//! temporary file beyond. Every byte is hashed with SHA-256 as it arrives,
//! except in a spool made with [`Spool::hashing_later`]: there a file larger
//! than the buffer is left to the pool to hash ([`Digest::Later`]), which
//! does it while a worker analyses the file, off the round trip's critical
//! path.
//!
//! A chunk is hashed and written into the buffer or the memfd on the
//! runtime thread that read it (at most 64 KiB: a copy into memory either
//! way, tens of microseconds); writes to the spool file run on a blocking
//! thread. Handing each chunk of a memfd spool to a blocking thread, so
//! that hashing overlapped reception, made a 4 MiB round trip slower, not
//! faster (`docmill-bench large`, BENCHMARKS.md): 2 cores have no room for
//! a third busy thread, and each hand-off costs a wake-up.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::pool::{Digest as DocumentDigest, Document, OpenMemfd, INLINE_MAX_BYTES};

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

/// A complete upload, ready to dispatch.
pub struct Spooled {
    pub document: Document,
    pub digest: DocumentDigest,
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
    /// `None` in a spool whose digest is computed later, from the file.
    hasher: Option<Sha256>,
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
            hasher: Some(Sha256::new()),
            held: Held::Buffer(Vec::new()),
            reserved: 0,
        }
    }

    /// A spool that does not hash what arrives: a file small enough for
    /// the buffer is hashed when complete, a larger one is
    /// [`Digest::Later`](DocumentDigest::Later), for the pool to hash.
    pub fn hashing_later(dir: &Path, limit: u64) -> Spool {
        let mut spool = Spool::new(dir, limit);
        spool.hasher = None;
        spool
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
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&chunk);
        }
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
            match self.write_to_memfd(&chunk) {
                Ok(()) => return Ok(()),
                // Out of memory or of descriptors: the disk takes the upload,
                // which is not lost for it.
                Err(err) => tracing::warn!("cannot spool an upload in memory ({err}): spooling it to disk"),
            }
        }
        self.spill_to_disk(chunk).await
    }

    /// Appends `chunk` to the memfd, first creating it from the buffer. On a
    /// failure what the spool held is intact: the buffer, or the memfd's
    /// first `len` bytes.
    fn write_to_memfd(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        if let Held::Buffer(buffer) = &self.held {
            let mut memfd = OpenMemfd::new()?;
            memfd.write(buffer)?;
            self.held = Held::Memfd(memfd);
        }
        let Held::Memfd(memfd) = &mut self.held else { unreachable!() };
        memfd.write(chunk)
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
                    // Only what was written whole: a failed write may have
                    // left part of a chunk past it.
                    let len = memfd.len();
                    let mut memfd = memfd.into_file();
                    std::io::Seek::rewind(&mut memfd)?;
                    std::io::copy(&mut std::io::Read::take(&mut memfd, len), &mut file)?;
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
        let hashed = self.hasher.take().map(|hasher| hasher.finalize().into());
        self.reserve(0);
        let document = match std::mem::replace(&mut self.held, Held::Buffer(Vec::new())) {
            Held::Buffer(buffer) => Document::Memory(Bytes::from(buffer)),
            Held::Memfd(memfd) => Document::Sealed(memfd.seal().map_err(SpoolError::Io)?),
            Held::Disk(file) => Document::File(file),
        };
        let digest = match (hashed, &document) {
            (Some(digest), _) => DocumentDigest::Known(digest),
            (None, Document::Memory(bytes)) => DocumentDigest::Known(Sha256::digest(bytes).into()),
            (None, _) => DocumentDigest::Later,
        };
        Ok(Spooled { document, digest })
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
