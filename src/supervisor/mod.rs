//! The fork server. [`start`] forks it from `main` while the process is still
//! single-threaded, before any tokio runtime exists; from then on it is the only
//! process that forks. It forks the initial workers and every replacement,
//! reaps them, and hands the server each worker's request socket and
//! response pipe over a Unix socket with `SCM_RIGHTS`.
//!
//! This is the one module allowed `unsafe`: it forks and turns raw descriptors
//! received from the kernel into owned ones.
#![allow(unsafe_code)]

pub mod channel;
pub mod client;

use std::collections::HashMap;
use std::fs::File;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use docmill_worker::ocr;
use docmill_worker::protocol::{self, FromSupervisor, ToSupervisor};
use docmill_worker::sandbox::{self, Confinement};
use docmill_worker::worker_loop::{self, ProcFiles, WorkerConfig, EXIT_BOOT_FAILED};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{self, SigHandler, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{self, ForkResult, Pid};

/// First wait after a worker fails at boot; doubled per consecutive failure.
const BOOT_BACKOFF_START: Duration = Duration::from_millis(250);
/// Longest wait between boot attempts: slow enough that a broken deployment
/// costs nothing, quick enough to recover soon after the cause is fixed.
const BOOT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Niceness workers add to the server's: analysis saturating every core
/// must not delay the server's event loop, so probes and 503s still answer
/// at once. Added, not set, so a service started with `nice` keeps its
/// workers below it, never above.
const WORKER_NICENESS: i32 = 10;

/// The time slice the server's threads (the runtime's and its blocking
/// pool's) ask the scheduler for (Linux 6.12 and later, EEVDF:
/// `sched_setattr`'s `sched_runtime` for a normal thread). A thread with a
/// shorter slice than the one running gets the core when it wakes, instead
/// of waiting out the other's slice (1.4 ms by default on the 2-core
/// development machines, as `/proc/PID/task/TID/sched` shows): a probe, a
/// 503 or a worker's answer is dealt with at once while clients and workers
/// keep the cores busy. 100 µs is the shortest the kernel takes; a thread
/// that runs longer is only preempted more often, its share of the CPU
/// stays the same.
pub const RUNTIME_THREAD_SLICE_NS: u64 = 100_000;

/// `struct sched_attr` of `sched_setattr(2)`, its first version.
#[repr(C)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

/// Makes the calling thread as nice as a worker relative to the server
/// ([`WORKER_NICENESS`] more; niceness is per thread on Linux). There is no
/// way back without privileges: call it on a thread of its own.
pub fn as_nice_as_a_worker() {
    // SAFETY: nice has no memory-safety preconditions; the kernel caps
    // the result at 19.
    unsafe {
        libc::nice(WORKER_NICENESS);
    }
}

/// Asks for [`RUNTIME_THREAD_SLICE_NS`] for the calling thread, keeping its
/// policy (normal) and niceness. Older kernels ignore the slice; failing is
/// harmless (the thread keeps the default), so the result is not reported.
pub fn request_short_slice() {
    // SAFETY: getpriority has no memory-safety preconditions.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: libc::SCHED_OTHER as u32,
        sched_flags: 0,
        sched_nice: nice,
        sched_priority: 0,
        sched_runtime: RUNTIME_THREAD_SLICE_NS,
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: `attr` is a valid `sched_attr` of the size it states, read by
    // the kernel for the duration of the call; pid 0 is this thread.
    unsafe {
        libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0);
    }
}

/// What a worker process is given at fork.
#[derive(Clone, Debug)]
pub struct SupervisorConfig {
    pub n_workers: usize,
    /// Address-space limit of each worker (`--worker-memory`).
    pub worker_memory: u64,
    pub max_document_bytes: usize,
    pub recycle_private_bytes: u64,
    /// How each worker is confined before its first document.
    pub confinement: Confinement,
    /// OCR defaults; the supervisor loads Tesseract with them before it
    /// forks the first worker.
    pub ocr: docmill_worker::worker_loop::OcrDefaults,
}

/// The server's end of the control socket, and the supervisor's pid.
pub struct SupervisorHandle {
    pub control: OwnedFd,
    pub pid: Pid,
}

/// Forks the supervisor. Must be called while the process has one thread.
pub fn start(config: SupervisorConfig) -> std::io::Result<SupervisorHandle> {
    let threads = std::fs::read_dir("/proc/self/task").map(|dir| dir.count()).unwrap_or(1);
    assert_eq!(threads, 1, "the supervisor must be forked before any thread starts");
    let (server_end, supervisor_end) =
        socket::socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
    let server_pid = unistd::getpid();
    // SAFETY: the process is single-threaded (checked above), so the child
    // cannot inherit a lock held by another thread.
    match unsafe { unistd::fork() }? {
        ForkResult::Parent { child } => {
            drop(supervisor_end);
            Ok(SupervisorHandle { control: server_end, pid: child })
        }
        ForkResult::Child => {
            drop(server_end);
            let code = Supervisor::new(config, supervisor_end, server_pid).map(|mut s| s.run()).unwrap_or(1);
            std::process::exit(code);
        }
    }
}

/// Dies with `parent`: the kernel sends SIGKILL when the thread that forked us
/// exits, and if `parent` already died before the request took effect we are
/// orphaned and leave now.
fn die_with_parent(parent: Pid) {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if unistd::getppid() != parent {
        std::process::exit(1);
    }
}

fn ignore_interrupts() {
    // SAFETY: installing SIG_IGN runs no code in signal context.
    unsafe {
        let _ = signal::signal(Signal::SIGINT, SigHandler::SigIgn);
        let _ = signal::signal(Signal::SIGTERM, SigHandler::SigIgn);
    }
}

struct Supervisor {
    config: SupervisorConfig,
    /// Tesseract with its models, or why OCR is unavailable; each worker
    /// inherits it at fork.
    ocr: Result<ocr::Tesseract, String>,
    control: OwnedFd,
    sigchld: SignalFd,
    /// Live (not yet reaped) workers by id. Only this process reaps them, so a
    /// pid in this map cannot have been reused: killing it is race-free.
    live: HashMap<u64, Pid>,
    next_worker_id: u64,
    consecutive_boot_failures: u32,
    next_spawn_at: Instant,
    shutting_down: bool,
}

impl Supervisor {
    fn new(config: SupervisorConfig, control: OwnedFd, server_pid: Pid) -> nix::Result<Self> {
        die_with_parent(server_pid);
        ignore_interrupts();
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.thread_block()?;
        let sigchld = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        // Read-only tables are built once here and shared copy-on-write;
        // so are Tesseract and its models, which no worker could load once
        // confined. The supervisor stays single-threaded: with
        // `OMP_THREAD_LIMIT=1` Tesseract starts no thread, and it recognises
        // nothing here.
        docmill_engine::warm_up();
        let ocr = ocr::init(&config.ocr.languages);
        // Loading freed what it only needed for a moment (the orientation
        // model read to list the languages, parsing buffers). Freed heap stays
        // resident, and every worker forked from here would hold it too.
        docmill_worker::heap::trim();
        Ok(Supervisor {
            ocr,
            config,
            control,
            sigchld,
            live: HashMap::new(),
            next_worker_id: 1,
            consecutive_boot_failures: 0,
            next_spawn_at: Instant::now(),
            shutting_down: false,
        })
    }

    /// The loop: wait for an event (a command, a child exit, a spawn due),
    /// handle it, reap, top the pool up.
    fn run(&mut self) -> i32 {
        loop {
            let timeout = if self.live.len() < self.config.n_workers && !self.shutting_down {
                let wait = self.next_spawn_at.saturating_duration_since(Instant::now());
                PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX)
            } else {
                PollTimeout::NONE
            };
            let (control_ready, control_hangup) = {
                let mut fds = [
                    PollFd::new(self.control.as_fd(), PollFlags::POLLIN),
                    PollFd::new(self.sigchld.as_fd(), PollFlags::POLLIN),
                ];
                match nix::poll::poll(&mut fds, timeout) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(_) => return 1,
                }
                let revents = fds[0].revents().unwrap_or(PollFlags::empty());
                (revents.contains(PollFlags::POLLIN), revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR))
            };
            let server_gone = if control_ready { !self.handle_command() } else { control_hangup };
            if server_gone {
                self.shutting_down = true;
            }
            while let Ok(Some(_)) = self.sigchld.read_signal() {}
            self.reap();
            if self.shutting_down {
                for pid in self.live.values() {
                    let _ = signal::kill(*pid, Signal::SIGKILL);
                }
                while !self.live.is_empty() {
                    match waitpid(None, None) {
                        Ok(status) => self.forget(status),
                        Err(Errno::EINTR) => {}
                        Err(_) => break,
                    }
                }
                return 0;
            }
            self.top_up();
        }
    }

    /// Handles one command; false when the server is gone or asked to stop.
    fn handle_command(&mut self) -> bool {
        let mut buf = [0u8; protocol::MAX_CONTROL_MESSAGE];
        let received = match socket::recv(self.control.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(Errno::EINTR | Errno::EAGAIN) => return true,
            Err(_) => return false,
        };
        match protocol::decode_control::<ToSupervisor>(&buf[..received]) {
            Ok(ToSupervisor::Kill { worker_id }) => {
                if let Some(pid) = self.live.get(&worker_id) {
                    let _ = signal::kill(*pid, Signal::SIGKILL);
                }
                true
            }
            Ok(ToSupervisor::Shutdown) | Err(_) => false,
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(status) => self.forget(status),
            }
        }
    }

    /// Records a reaped child and tells the server how it ended.
    fn forget(&mut self, status: WaitStatus) {
        let (pid, code, signal) = match status {
            WaitStatus::Exited(pid, code) => (pid, Some(code), None),
            WaitStatus::Signaled(pid, signal, _) => (pid, None, Some(signal as i32)),
            _ => return,
        };
        let Some(worker_id) = self.live.iter().find(|(_, p)| **p == pid).map(|(id, _)| *id) else {
            return;
        };
        self.live.remove(&worker_id);
        if code == Some(EXIT_BOOT_FAILED) {
            self.consecutive_boot_failures += 1;
            let backoff = BOOT_BACKOFF_START
                .saturating_mul(1 << self.consecutive_boot_failures.min(16).saturating_sub(1))
                .min(BOOT_BACKOFF_MAX);
            self.next_spawn_at = Instant::now() + backoff;
            self.send(
                &FromSupervisor::BootFailing {
                    consecutive: self.consecutive_boot_failures,
                    retry_in_ms: backoff.as_millis() as u64,
                },
                &[],
            );
        } else {
            self.consecutive_boot_failures = 0;
        }
        self.send(&FromSupervisor::Exited { worker_id, pid: pid.as_raw(), code, signal }, &[]);
    }

    fn top_up(&mut self) {
        while self.live.len() < self.config.n_workers && Instant::now() >= self.next_spawn_at {
            if let Err(err) = self.spawn() {
                eprintln!("docmill supervisor: cannot fork a worker: {err}");
                self.next_spawn_at = Instant::now() + BOOT_BACKOFF_START;
                return;
            }
        }
    }

    fn spawn(&mut self) -> nix::Result<()> {
        // Requests travel on a stream socket, not a pipe, so that a request
        // can carry its document as a descriptor (SCM_RIGHTS).
        let (request_write, request_read) =
            socket::socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)?;
        let (response_read, response_write) = unistd::pipe2(OFlag::O_CLOEXEC)?;
        let supervisor_pid = unistd::getpid();
        let worker_id = self.next_worker_id;
        self.next_worker_id += 1;
        // SAFETY: the supervisor is single-threaded: it never starts a thread.
        match unsafe { unistd::fork() }? {
            ForkResult::Child => {
                // Close every descriptor that is not this worker's: the
                // server's ends of its socket and pipe and the supervisor's own.
                drop(request_write);
                drop(response_read);
                let _ = unistd::close(self.control.as_raw_fd());
                let _ = unistd::close(self.sigchld.as_raw_fd());
                let code = boot_worker(&self.config, self.ocr.as_ref(), supervisor_pid, request_read, response_write);
                std::process::exit(code);
            }
            ForkResult::Parent { child } => {
                drop(request_read);
                drop(response_write);
                self.live.insert(worker_id, child);
                self.send(
                    &FromSupervisor::Spawned { worker_id, pid: child.as_raw() },
                    &[request_write.as_raw_fd(), response_read.as_raw_fd()],
                );
                // Our copies close here: from now on the worker and the
                // server hold the only ends, so either side's death is an
                // EOF or EPIPE for the other.
                Ok(())
            }
        }
    }

    fn send(&self, message: &FromSupervisor, fds: &[RawFd]) {
        let bytes = protocol::encode_control(message);
        let iov = [IoSlice::new(&bytes)];
        let rights = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
        loop {
            match socket::sendmsg::<()>(self.control.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
                Err(Errno::EINTR) => continue,
                _ => return,
            }
        }
    }
}

/// Runs in the forked child: confine it, then enter the worker loop.
///
/// The order matters. Everything a worker will ever need from the file
/// system or the kernel's wider API is set up first, while it may; then
/// `sandbox::confine` closes the door for good; only then does the worker
/// announce itself ready and read its first document.
fn boot_worker(
    config: &SupervisorConfig,
    tesseract: Result<&ocr::Tesseract, &String>,
    supervisor: Pid,
    requests: OwnedFd,
    responses: OwnedFd,
) -> i32 {
    die_with_parent(supervisor);
    let _ = SigSet::all().thread_unblock();
    let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
    if setrlimit(Resource::RLIMIT_AS, config.worker_memory, config.worker_memory).is_err() {
        docmill_worker::log_line!("docmill worker: cannot apply the memory limit of {} bytes", config.worker_memory);
        return EXIT_BOOT_FAILED;
    }
    // SAFETY: nice has no memory-safety preconditions; the kernel caps
    // the result at 19.
    unsafe {
        libc::nice(WORKER_NICENESS);
    }
    // With `RUST_BACKTRACE` set, a failed allocation prints a backtrace
    // before it aborts, which reads the working directory and the
    // executable: calls the sandbox kills, so a worker out of memory would
    // look like a sandbox violation. A worker's backtraces go nowhere useful
    // anyway (its panics are one line each).
    // SAFETY: the worker is the forked child's only thread, so nothing
    // reads the environment meanwhile.
    unsafe {
        std::env::remove_var("RUST_BACKTRACE");
        std::env::remove_var("RUST_LIB_BACKTRACE");
    }
    let proc_files = match ProcFiles::open() {
        Ok(files) => files,
        Err(err) => {
            docmill_worker::log_line!("docmill worker: cannot open its /proc/self accounting files: {err}");
            return EXIT_BOOT_FAILED;
        }
    };
    // ── Before the sandbox: per-worker initialisation that reads files,
    // loads libraries or starts threads goes here (Tesseract and its models
    // were loaded by the supervisor, and came with the fork). After
    // `confine`, opening a file or mapping executable memory kills the
    // worker.
    if let Err(err) = sandbox::confine(&config.confinement, supervisor) {
        docmill_worker::log_line!("docmill worker: {err}");
        return EXIT_BOOT_FAILED;
    }
    // ── Confined from here on.
    let worker_config = WorkerConfig {
        max_document_bytes: config.max_document_bytes,
        recycle_private_bytes: config.recycle_private_bytes,
        ocr: config.ocr,
    };
    let tesseract = tesseract.map_err(String::as_str);
    worker_loop::run(requests, File::from(responses), proc_files, &worker_config, tesseract)
}
