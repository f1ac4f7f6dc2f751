//! How a document reaches a worker: inline in the request frame when it is
//! small, otherwise as a descriptor sent with the frame over the worker's
//! request socket (`SCM_RIGHTS`), which the worker maps read-only. An
//! in-memory spool is copied once into a sealed `memfd`; a disk spool goes
//! as its own file, opened again read-only. Nothing of the document passes
//! through the socket itself.

use std::ffi::CStr;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use bytes::Bytes;
use docmill_worker::protocol::{Attached, AttachedKind, DocumentBody};
use nix::fcntl::{FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};

use super::Document;

/// Documents up to this size travel inline in the request frame; larger
/// ones as a sealed memfd. `docmill-bench handoff` (BENCHMARKS.md,
/// "Descriptor hand-off") measured a memfd round trip at 43–72 µs for 1–16
/// KiB against 14–30 µs inline: a memfd costs a fixed set of system calls
/// on both sides (memfd_create, write, seal, fstat, F_GET_SEALS, mmap,
/// munmap, close) and fresh shared-memory pages, so small documents stay
/// inline. Up to 64 KiB the inline copy stays under about 40 µs and the
/// frame goes in one piece (a Unix socket buffer holds 208 KiB by default).
/// Above it, an inline frame is a copy made on a runtime thread and sent in
/// pieces, each waiting for the worker, and the worker holds a private copy
/// of the document that counts against its recycling threshold, while a
/// memfd is mapped as shared pages (an upload is spooled straight into
/// one, other documents are copied into one off the runtime threads). End
/// to end, a 4 MiB document took the same time either way (42.7 ms by
/// memfd, 43.4 ms inline, same run).
pub const INLINE_MAX_BYTES: usize = 64 << 10;

/// Name of the memfds, as `/proc/<pid>/fd` shows them.
const MEMFD_NAME: &CStr = c"docmill-document";

/// The seals that make a memfd safe to map in a worker: it can no longer be
/// written, shrunk (a mapping read past a shrunk end is a SIGBUS) or grown,
/// and no seal can be added or removed any more.
fn seals() -> SealFlag {
    SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL
}

/// A document ready to send, kept for a second try on another worker.
pub(super) enum Prepared {
    Inline(Bytes),
    /// The descriptor stays open (and its contents immutable) until the
    /// task's answer: a memfd is sealed, and the spool file is never
    /// truncated by the server.
    Attached {
        fd: OwnedFd,
        attached: Attached,
    },
}

impl Prepared {
    pub(super) fn len(&self) -> u64 {
        match self {
            Prepared::Inline(bytes) => bytes.len() as u64,
            Prepared::Attached { attached, .. } => attached.len,
        }
    }

    /// What the request frame says about the document.
    pub(super) fn body(&self) -> DocumentBody<'_> {
        match self {
            Prepared::Inline(bytes) => DocumentBody::Inline(bytes),
            Prepared::Attached { attached, .. } => DocumentBody::Attached(*attached),
        }
    }

    /// The descriptor to send with the frame, if any.
    pub(super) fn fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Prepared::Inline(_) => None,
            Prepared::Attached { fd, .. } => Some(fd.as_fd()),
        }
    }
}

/// Turns a spooled document into what a worker is sent. Building a memfd or
/// reopening a spool file are blocking system calls, so they run off the
/// runtime's threads. An upload spooled into a memfd is sent as it is.
pub(super) async fn prepare(document: Document) -> io::Result<Prepared> {
    match document {
        Document::Memory(bytes) if bytes.len() <= INLINE_MAX_BYTES => Ok(Prepared::Inline(bytes)),
        Document::Memory(bytes) => {
            tokio::task::spawn_blocking(move || sealed_memfd(&bytes)).await.map_err(io::Error::other)?
        }
        Document::Sealed(memfd) => Ok(memfd.prepared()),
        Document::File(file) => {
            tokio::task::spawn_blocking(move || read_only_spool(&file)).await.map_err(io::Error::other)?
        }
    }
}

/// A memfd being filled, to be sealed with [`seals`] once complete: how an
/// upload larger than [`INLINE_MAX_BYTES`] is spooled in memory, so that
/// the worker maps the very pages the upload was written into.
pub struct OpenMemfd {
    file: std::fs::File,
    len: u64,
}

impl OpenMemfd {
    pub fn new() -> io::Result<OpenMemfd> {
        let fd = memfd_create(MEMFD_NAME, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)?;
        Ok(OpenMemfd { file: std::fs::File::from(fd), len: 0 })
    }

    /// Appends `bytes`: a copy into shared-memory pages, no disk involved.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written whole so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The file, to copy from; its offset is wherever the writes left it.
    pub fn into_file(self) -> std::fs::File {
        self.file
    }

    /// Seals the contents: from here on nobody can change them.
    pub fn seal(self) -> io::Result<SealedMemfd> {
        nix::fcntl::fcntl(&self.file, FcntlArg::F_ADD_SEALS(seals()))?;
        Ok(SealedMemfd { file: self.file, len: self.len })
    }
}

/// A complete document in a memfd sealed with [`seals`].
pub struct SealedMemfd {
    file: std::fs::File,
    len: u64,
}

impl SealedMemfd {
    /// The file, to read the document from (from its start: `pread`, or
    /// rewind first).
    pub fn into_file(self) -> std::fs::File {
        self.file
    }

    /// Another descriptor of the same memfd, to read the document from
    /// (with `pread`) while this one goes to a worker.
    pub fn reader(&self) -> io::Result<std::fs::File> {
        self.file.try_clone()
    }

    fn prepared(self) -> Prepared {
        let attached = Attached { len: self.len, kind: AttachedKind::SealedMemfd };
        Prepared::Attached { fd: OwnedFd::from(self.file), attached }
    }
}

/// How much of a file is read at a time once it is known to go into a memfd.
const READ_CHUNK_BYTES: usize = 256 << 10;

/// Reads a document from `file` as an upload is spooled: hashed as it is
/// read, in memory up to [`INLINE_MAX_BYTES`], else straight into a sealed
/// memfd that the worker maps as it is (one copy, not a buffer and then a
/// memfd). Never more than `max_bytes` is read, whatever size the file
/// claimed: `Ok(None)` when it holds more. Blocking: call it off the
/// runtime's threads.
pub fn read_document(file: std::fs::File, max_bytes: u64) -> io::Result<Option<(Document, [u8; 32])>> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let claimed = file.metadata()?.len();
    let mut limited = file.take(max_bytes.saturating_add(1));
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity((claimed as usize).min(INLINE_MAX_BYTES) + 1);
    (&mut limited).take(INLINE_MAX_BYTES as u64 + 1).read_to_end(&mut head)?;
    if head.len() as u64 > max_bytes {
        return Ok(None);
    }
    hasher.update(&head);
    if head.len() <= INLINE_MAX_BYTES {
        return Ok(Some((Document::Memory(Bytes::from(head)), hasher.finalize().into())));
    }
    let mut memfd = OpenMemfd::new()?;
    memfd.write(&head)?;
    drop(head);
    let mut chunk = vec![0; READ_CHUNK_BYTES];
    loop {
        let n = match limited.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&chunk[..n]);
        memfd.write(&chunk[..n])?;
    }
    if memfd.len > max_bytes {
        return Ok(None);
    }
    Ok(Some((Document::Sealed(memfd.seal()?), hasher.finalize().into())))
}

/// A copy of `bytes` in a memfd sealed with [`seals`].
pub(super) fn sealed_memfd(bytes: &[u8]) -> io::Result<Prepared> {
    let mut memfd = OpenMemfd::new()?;
    memfd.write(bytes)?;
    Ok(memfd.seal()?.prepared())
}

/// The spool file opened again, read-only, through `/proc/self/fd` (the
/// spool is an unlinked temporary file, so it has no other name): the
/// worker is handed a descriptor it cannot write through.
fn read_only_spool(file: &std::fs::File) -> io::Result<Prepared> {
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    let reopened = std::fs::OpenOptions::new().read(true).open(path)?;
    let len = reopened.metadata()?.len();
    Ok(Prepared::Attached { fd: reopened.into(), attached: Attached { len, kind: AttachedKind::SpoolFile } })
}
