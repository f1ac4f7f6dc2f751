//! The server's end of a worker's request socket: frames written without
//! blocking the runtime, each able to carry one descriptor (`SCM_RIGHTS`)
//! with its first bytes, which is how a document reaches a worker.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The server's end of a worker's request socket, non-blocking and driven
/// by the runtime.
pub struct RequestSocket(AsyncFd<OwnedFd>);

impl RequestSocket {
    pub fn new(fd: OwnedFd) -> io::Result<RequestSocket> {
        nix::fcntl::fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        // SAFETY: the AsyncFd takes ownership of the descriptor, so it stays
        // open for as long as it is registered and is deregistered before it
        // closes.
        Ok(RequestSocket(unsafe { AsyncFd::register_with_interest(fd, Interest::WRITABLE) }?))
    }

    /// Writes one frame, with `fd` attached to its first bytes.
    pub async fn send(&self, frame: &[u8], fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
        let mut sent = 0;
        let mut fd = fd;
        while sent < frame.len() {
            let mut guard = self.0.writable().await?;
            let raw = [fd.map_or(-1, |fd| fd.as_raw_fd())];
            let rights = [ControlMessage::ScmRights(&raw)];
            let cmsgs: &[ControlMessage] = if fd.is_some() { &rights } else { &[] };
            let iov = [IoSlice::new(&frame[sent..])];
            let flags = MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT;
            match guard.try_io(|socket| {
                sendmsg::<()>(socket.get_ref().as_raw_fd(), &iov, cmsgs, flags, None).map_err(io::Error::from)
            }) {
                Ok(Ok(n)) => {
                    sent += n;
                    // The descriptor went with these bytes.
                    fd = None;
                }
                Ok(Err(err)) if err.raw_os_error() == Some(Errno::EINTR as i32) => {}
                Ok(Err(err)) => return Err(err),
                Err(_would_block) => {}
            }
        }
        Ok(())
    }
}
