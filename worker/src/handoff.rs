//! The worker's end of the request socket: frames that may carry the
//! document as a descriptor (`SCM_RIGHTS`), and that descriptor mapped
//! read-only for the engine.
//!
//! The server hands over a sealed `memfd` (an in-memory spool) or its spool
//! file opened read-only (a disk spool). The worker never opens anything: it
//! checks what it was given with `fstat` and `fcntl` on the descriptor
//! itself, maps it `PROT_READ`/`MAP_PRIVATE`, and unmaps it after the task.
//! A descriptor that does not match what the frame says (size, kind, seals,
//! access mode) is a [`HandoffError`], never a mapping: reading a mapping
//! past the end of a file that shrank would be a `SIGBUS`, so a memfd must
//! carry the seals that forbid shrinking, and a spool file is one the server
//! owns and never truncates while a task runs (ARCHITECTURE.md).
//!
//! Besides `sandbox`, the worker crate's one module allowed `unsafe`: taking
//! ownership of a received descriptor and mapping it have no safe wrapper.
#![allow(unsafe_code)]

use std::fmt;
use std::io::{self, IoSliceMut};
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SealFlag};
use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use crate::protocol::{self, Attached, ProtocolError};

/// Descriptors one request frame may carry: the document, at most.
/// Anything more is a protocol error (and is closed at once).
const MAX_FDS_PER_FRAME: usize = 1;

/// The seals a memfd must carry before the worker maps it: nobody can
/// shrink it (which would make a read of the mapping a `SIGBUS`), grow it or
/// write to it while the engine reads it.
const REQUIRED_SEALS: SealFlag = SealFlag::from_bits_truncate(
    SealFlag::F_SEAL_SHRINK.bits() | SealFlag::F_SEAL_GROW.bits() | SealFlag::F_SEAL_WRITE.bits(),
);

/// Why a received descriptor was not mapped.
#[derive(Debug, PartialEq, Eq)]
pub enum HandoffError {
    /// The frame announced a document descriptor and none came, or one came
    /// for a frame that announced none, or more than one came.
    Descriptors { expected: usize, received: usize },
    /// The kernel dropped descriptors (`MSG_CTRUNC`): the worker is out of
    /// descriptor slots or the control buffer was too small.
    Truncated,
    /// `fstat` says something other than the frame.
    Mismatch(String),
    /// A memfd without the seals that make mapping it safe.
    NotSealed,
    /// A spool file this worker could write to.
    Writable,
    /// A system call on the descriptor failed.
    Sys(&'static str, Errno),
}

impl fmt::Display for HandoffError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandoffError::Descriptors { expected, received } => {
                write!(f, "the frame carries {received} descriptors, {expected} expected")
            }
            HandoffError::Truncated => write!(f, "descriptors were dropped by the kernel (MSG_CTRUNC)"),
            HandoffError::Mismatch(why) => write!(f, "the document descriptor does not match the frame: {why}"),
            HandoffError::NotSealed => {
                write!(f, "the document memfd is not sealed against writing, shrinking and growing")
            }
            HandoffError::Writable => write!(f, "the spool file descriptor is not read-only"),
            HandoffError::Sys(call, errno) => write!(f, "{call} on the document descriptor: {errno}"),
        }
    }
}

impl std::error::Error for HandoffError {}

/// A received frame: its body, and the descriptors that came with it.
pub struct Received {
    pub body: Vec<u8>,
    pub fds: Vec<OwnedFd>,
    /// The kernel dropped descriptors it could not install.
    pub truncated: bool,
}

/// Reads one frame from the request socket, collecting every descriptor
/// that arrives with its bytes. The server sends a document's descriptor
/// with its frame's first bytes, and this reads no further than the frame's
/// end, so the descriptors that arrive while one frame is read belong to it
/// even when the server has sent the next frames already (a Unix stream
/// socket hands over a descriptor with the bytes it was sent with).
/// `Ok(None)` is a clean end of stream at a frame boundary.
pub fn recv_frame(socket: BorrowedFd<'_>, max: usize) -> Result<Option<Received>, ProtocolError> {
    let mut received = Received { body: Vec::new(), fds: Vec::new(), truncated: false };
    let mut header = [0u8; protocol::FRAME_HEADER_LEN];
    let filled = recv_into(socket, &mut header, &mut received)?;
    if filled == 0 {
        return Ok(None);
    }
    if filled < header.len() {
        return Err(ProtocolError::Truncated);
    }
    let len = protocol::body_len(header, max)?;
    let mut body = vec![0u8; len];
    let filled = recv_into(socket, &mut body, &mut received)?;
    if filled < len {
        return Err(ProtocolError::Truncated);
    }
    received.body = body;
    Ok(Some(received))
}

/// Fills `buf` from the socket (fewer bytes only at end of stream),
/// keeping the descriptors that come along.
fn recv_into(socket: BorrowedFd<'_>, buf: &mut [u8], received: &mut Received) -> Result<usize, ProtocolError> {
    let mut filled = 0;
    while filled < buf.len() {
        let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS_PER_FRAME]);
        let mut iov = [IoSliceMut::new(&mut buf[filled..])];
        let message = match recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC) {
            Ok(message) => message,
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(ProtocolError::Io(io::Error::from(errno))),
        };
        if message.flags.contains(MsgFlags::MSG_CTRUNC) {
            received.truncated = true;
        }
        let bytes = message.bytes;
        if let Ok(cmsgs) = message.cmsgs() {
            for cmsg in cmsgs {
                if let ControlMessageOwned::ScmRights(fds) = cmsg {
                    for fd in fds {
                        // SAFETY: the kernel just installed this descriptor
                        // in this process for us; nothing else refers to it.
                        received.fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                    }
                }
            }
        }
        if bytes == 0 {
            break;
        }
        filled += bytes;
    }
    Ok(filled)
}

/// A document descriptor mapped read-only; unmapped when dropped.
pub struct Mapped {
    ptr: Option<NonNull<std::ffi::c_void>>,
    len: usize,
}

impl Mapped {
    pub fn bytes(&self) -> &[u8] {
        match self.ptr {
            // SAFETY: `ptr` is a live PROT_READ mapping of `len` bytes, made
            // by `map` and unmapped only in `drop`; the descriptor behind it
            // cannot shrink (sealed memfd, or a spool file the server never
            // truncates while the task runs), so every byte stays readable.
            Some(ptr) => unsafe { std::slice::from_raw_parts(ptr.as_ptr().cast::<u8>(), self.len) },
            None => &[],
        }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        if let Some(ptr) = self.ptr {
            // SAFETY: the mapping was made by `map` with this length, and the
            // only borrows of it (`bytes`) end before `self` is dropped.
            let _ = unsafe { munmap(ptr, self.len) };
        }
    }
}

/// Checks a received descriptor against what the frame says and maps it.
/// `max` is the largest document the worker takes.
pub fn map(fd: &OwnedFd, attached: &Attached, max: usize) -> Result<Mapped, HandoffError> {
    let len = usize::try_from(attached.len).map_err(|_| HandoffError::Mismatch("length beyond memory".into()))?;
    if len > max {
        return Err(HandoffError::Mismatch(format!("{len} bytes, above the maximum of {max}")));
    }
    let size = fstat_size(fd.as_fd())?;
    if size != attached.len {
        return Err(HandoffError::Mismatch(format!("the frame says {} bytes, fstat says {size}", attached.len)));
    }
    match attached.kind {
        protocol::AttachedKind::SealedMemfd => {
            let seals = nix::fcntl::fcntl(fd, FcntlArg::F_GET_SEALS).map_err(|errno| {
                if errno == Errno::EINVAL {
                    HandoffError::NotSealed
                } else {
                    HandoffError::Sys("F_GET_SEALS", errno)
                }
            })?;
            if !SealFlag::from_bits_truncate(seals).contains(REQUIRED_SEALS) {
                return Err(HandoffError::NotSealed);
            }
        }
        protocol::AttachedKind::SpoolFile => {
            let flags =
                nix::fcntl::fcntl(fd, FcntlArg::F_GETFL).map_err(|errno| HandoffError::Sys("F_GETFL", errno))?;
            if OFlag::from_bits_truncate(flags) & OFlag::O_ACCMODE != OFlag::O_RDONLY {
                return Err(HandoffError::Writable);
            }
        }
    }
    let Some(length) = NonZeroUsize::new(len) else { return Ok(Mapped { ptr: None, len: 0 }) };
    // SAFETY: a fresh private read-only mapping chosen by the kernel (no
    // address given), so it aliases nothing in this process; the file
    // behind it was checked above to be `len` bytes and cannot shrink.
    let ptr =
        unsafe { mmap(None, length, ProtFlags::PROT_READ, MapFlags::MAP_PRIVATE | MapFlags::MAP_POPULATE, fd, 0) }
            .map_err(|errno| HandoffError::Sys("mmap", errno))?;
    Ok(Mapped { ptr: Some(ptr), len })
}

/// The size and kind of a descriptor, by the `fstat` system call itself:
/// glibc's `fstat` is `newfstatat` with a path, which the sandbox refuses.
fn fstat_size(fd: BorrowedFd<'_>) -> Result<u64, HandoffError> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes one `struct stat` into the buffer it is given,
    // which is exactly that size and lives on this frame.
    let rc = unsafe { libc::syscall(libc::SYS_fstat, fd.as_raw_fd(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(HandoffError::Sys("fstat", Errno::last()));
    }
    // SAFETY: fstat succeeded, so it filled the buffer.
    let stat = unsafe { stat.assume_init() };
    if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(HandoffError::Mismatch("not a regular file".into()));
    }
    u64::try_from(stat.st_size).map_err(|_| HandoffError::Mismatch("negative size".into()))
}
