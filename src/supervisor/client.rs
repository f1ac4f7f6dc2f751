//! The server's side of the control socket: what the pool uses to hear about
//! workers (spawned with their pipes, exited, failing at boot) and to ask for
//! kills and the final shutdown. The pool never touches the raw descriptor.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use docmill_worker::protocol::{self, FromSupervisor, ToSupervisor};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{self, ControlMessageOwned, MsgFlags};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;

use super::SupervisorHandle;

/// How long the supervisor has to exit once asked at shutdown before it is
/// killed: it kills its workers and exits at once unless it is stopped.
const SUPERVISOR_EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A message from the supervisor; with `Spawned` come the worker's request
/// socket and the read end of its response pipe.
pub type Message = (FromSupervisor, Vec<OwnedFd>);

pub struct SupervisorClient {
    control: AsyncFd<OwnedFd>,
    pid: Pid,
}

impl SupervisorClient {
    /// Registers the server's end of the control socket with the runtime, in
    /// non-blocking mode. Must run inside the runtime.
    pub fn connect(handle: SupervisorHandle) -> std::io::Result<SupervisorClient> {
        nix::fcntl::fcntl(&handle.control, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        // SAFETY: the AsyncFd takes ownership of the descriptor, so it stays
        // open for as long as it is registered and is deregistered before it
        // closes.
        let control = unsafe { AsyncFd::register_with_interest(handle.control, tokio::io::Interest::READABLE) }?;
        Ok(SupervisorClient { control, pid: handle.pid })
    }

    /// The next message; `Ok(None)` once the supervisor has closed its end.
    pub async fn recv(&self) -> std::io::Result<Option<Message>> {
        loop {
            let mut guard = self.control.readable().await?;
            match guard.try_io(|fd| receive(fd.get_ref().as_raw_fd()).map_err(std::io::Error::from)) {
                Err(_would_block) => continue,
                Ok(result) => return result,
            }
        }
    }

    /// Asks the supervisor to SIGKILL a worker it has not reaped yet.
    pub fn kill(&self, worker_id: u64) -> nix::Result<()> {
        self.send(&ToSupervisor::Kill { worker_id })
    }

    /// Tells the supervisor to stop its workers and exit, and waits until it
    /// has.
    pub async fn shutdown(&self) {
        let _ = self.send(&ToSupervisor::Shutdown);
        let pid = self.pid;
        let _ = tokio::task::spawn_blocking(move || wait_for_exit(pid, SUPERVISOR_EXIT_WAIT)).await;
    }

    /// Small datagrams on a socket with room do not block.
    fn send(&self, message: &ToSupervisor) -> nix::Result<()> {
        let bytes = protocol::encode_control(message);
        socket::send(self.control.get_ref().as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT)
            .map(|_| ())
    }
}

/// Receives one control message on the server's end.
fn receive(control: RawFd) -> nix::Result<Option<Message>> {
    let mut buf = [0u8; protocol::MAX_CONTROL_MESSAGE];
    let mut cmsg_space = nix::cmsg_space!([RawFd; 2]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let message = socket::recvmsg::<()>(control, &mut iov, Some(&mut cmsg_space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut fds = Vec::new();
    for cmsg in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            for fd in received {
                // SAFETY: the kernel just installed this descriptor for us and
                // nothing else refers to it, so we may own it.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    let len = message.bytes;
    if len == 0 {
        return Ok(None);
    }
    match protocol::decode_control::<FromSupervisor>(&buf[..len]) {
        Ok(decoded) => Ok(Some((decoded, fds))),
        Err(_) => Err(Errno::EBADMSG),
    }
}

/// Waits for the supervisor to exit (blocking; call off the runtime).
fn wait_for_exit(pid: Pid, within: std::time::Duration) {
    let deadline = std::time::Instant::now() + within;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Ok(WaitStatus::StillAlive) => {
                // Stopped (SIGSTOP) or stuck: it would hold the exit forever.
                // Its workers die with it (PR_SET_PDEATHSIG).
                tracing::error!(
                    "the worker supervisor did not exit within {:.1}s of being asked; killing it",
                    within.as_secs_f64()
                );
                let _ = kill(pid, Signal::SIGKILL);
                while let Err(Errno::EINTR) = waitpid(pid, None) {}
                return;
            }
            Err(Errno::EINTR) => continue,
            _ => return,
        }
    }
}
