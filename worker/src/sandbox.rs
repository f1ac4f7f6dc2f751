//! The worker's confinement, applied once after boot and before the first
//! document is read: an unprivileged uid when the server runs as root, no
//! capabilities, rlimits, `PR_SET_NO_NEW_PRIVS`, Landlock where the kernel
//! has it, and a seccomp-bpf allow-list of the few system calls that analysing
//! a document needs. A forbidden call kills the whole worker
//! (`SECCOMP_RET_KILL_PROCESS`, seen by the supervisor as `SIGSYS`).
//!
//! Everything a worker needs from the file system is opened before
//! [`confine`] runs (its request socket and response pipe, its `/proc/self`
//! accounting files); after it, a worker can read and write the descriptors
//! it holds, receive a document's descriptor and map it read-only, manage its memory,
//! start threads (not processes), read clocks and its own CPU time, and exit.
//! ARCHITECTURE.md lists every allowed call and why it is needed.
//!
//! This is the worker crate's one module allowed `unsafe`: Landlock and the
//! capability and bounding-set calls have no safe wrapper.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::os::fd::AsFd;

use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::Signal;
use nix::unistd::{self, Gid, Pid, Uid};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

/// Descriptors a confined worker may hold: stdin, stdout, stderr, its
/// request socket and response pipe, three `/proc/self` files and the one
/// document descriptor of the task at hand, with room to spare. It opens nothing
/// after boot (seccomp forbids it), so this only bounds what a bug could
/// leak, e.g. through `dup`, which the filter also refuses.
pub const MAX_WORKER_FILES: u64 = 16;

/// The account a worker switches to when the server runs as root, resolved
/// by the server at start-up (from `/etc/passwd`, which a worker can no
/// longer read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// What [`confine`] applies.
#[derive(Clone, Debug)]
pub struct Confinement {
    /// Switch to this account (the server runs as root).
    pub user: Option<WorkerUser>,
    /// Install the seccomp filter. Off only to measure what the filter costs
    /// (`DOCMILL_WORKER_SECCOMP=off`, documented for benchmarks only).
    pub seccomp: bool,
}

/// Why a worker could not be confined; the worker then exits at boot and the
/// supervisor backs off, so an unconfinable worker never sees a document.
#[derive(Debug)]
pub enum SandboxError {
    Credentials(String),
    Limits(String),
    Seccomp(String),
}

impl fmt::Display for SandboxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SandboxError::Credentials(why) => write!(f, "cannot drop privileges: {why}"),
            SandboxError::Limits(why) => write!(f, "cannot set resource limits: {why}"),
            SandboxError::Seccomp(why) => write!(f, "cannot install the seccomp filter: {why}"),
        }
    }
}

impl std::error::Error for SandboxError {}

/// Confines the calling process for good. `parent` is the supervisor: a
/// change of uid clears the parent-death signal, which is set again here.
/// Returns the Landlock ABI version applied, if the kernel has Landlock.
pub fn confine(confinement: &Confinement, parent: Pid) -> Result<Option<u32>, SandboxError> {
    one_malloc_arena();
    if let Some(user) = &confinement.user {
        switch_user(user, parent)?;
    }
    drop_capabilities()?;
    set_limits()?;
    nix::sys::prctl::set_no_new_privs().map_err(|err| SandboxError::Credentials(format!("no_new_privs: {err}")))?;
    let landlock = landlock::restrict();
    if confinement.seccomp {
        install_seccomp()?;
    }
    Ok(landlock)
}

/// glibc gives each new thread its own malloc arena, and shrinking such an
/// arena reads `/proc/sys/vm/overcommit_memory`, an `open` the filter kills.
/// With a single arena threads allocate from the main heap, which never
/// does; a worker runs one thread at a time (a parser thread while the loop
/// waits), so the arenas bought nothing.
fn one_malloc_arena() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt takes plain integers and locks the allocator itself;
    // it only bounds arenas made from now on.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Becomes `user` for good (real, effective and saved ids), with no
/// supplementary groups. Leaving uid 0 clears the effective and permitted
/// capabilities; the bounding set is emptied first, while we may.
fn switch_user(user: &WorkerUser, parent: Pid) -> Result<(), SandboxError> {
    let fail = |what: &str, err: nix::Error| SandboxError::Credentials(format!("{what}: {err}"));
    if user.uid == 0 {
        return Err(SandboxError::Credentials(format!("the worker user {} is root", user.name)));
    }
    for capability in 0..=last_capability() {
        // SAFETY: PR_CAPBSET_DROP takes plain integers and touches no memory.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, capability as libc::c_ulong, 0, 0, 0) };
        if rc != 0 {
            return Err(SandboxError::Credentials(format!(
                "dropping capability {capability} from the bounding set: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    let (uid, gid) = (Uid::from_raw(user.uid), Gid::from_raw(user.gid));
    unistd::setgroups(&[gid]).map_err(|err| fail("setgroups", err))?;
    unistd::setresgid(gid, gid, gid).map_err(|err| fail("setresgid", err))?;
    unistd::setresuid(uid, uid, uid).map_err(|err| fail("setresuid", err))?;
    if unistd::setuid(Uid::from_raw(0)).is_ok() || unistd::getuid().is_root() || unistd::geteuid().is_root() {
        return Err(SandboxError::Credentials("still root after switching user".into()));
    }
    // The kernel clears the parent-death signal when credentials change
    // (commit_creds); without it again, a worker would outlive its server.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|err| fail("PR_SET_PDEATHSIG", err))?;
    if unistd::getppid() != parent {
        std::process::exit(1);
    }
    Ok(())
}

/// The highest capability number this kernel knows.
fn last_capability() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(40)
}

/// Empties the effective, permitted, inheritable and ambient capability sets,
/// whatever uid we run as (a non-root server may hold file capabilities).
fn drop_capabilities() -> Result<(), SandboxError> {
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    /// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets in two 32-bit halves.
    const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = CapHeader { version: CAPABILITY_VERSION_3, pid: 0 };
    let data = [CapData { effective: 0, permitted: 0, inheritable: 0 }; 2];
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes plain integers. capset reads a
    // header and two data records that live on this stack frame, laid out as
    // <linux/capability.h> declares them (version 3).
    let (ambient, capset) = unsafe {
        (
            libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0),
            libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()),
        )
    };
    if ambient != 0 || capset != 0 {
        return Err(SandboxError::Credentials(format!("capset: {}", std::io::Error::last_os_error())));
    }
    Ok(())
}

fn set_limits() -> Result<(), SandboxError> {
    let fail = |what: &str, err: nix::Error| SandboxError::Limits(format!("{what}: {err}"));
    setrlimit(Resource::RLIMIT_NOFILE, MAX_WORKER_FILES, MAX_WORKER_FILES).map_err(|err| fail("NOFILE", err))?;
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(|err| fail("CORE", err))?;
    // No file may grow. The one regular file a worker can still write is an
    // inherited stderr redirected to a log file: a limit of 0 would kill the
    // worker (SIGXFSZ) on its first diagnostic, so then the limit is left,
    // and seccomp alone (no open, no dup) keeps the worker to that one file.
    if !stderr_is_regular_file() {
        setrlimit(Resource::RLIMIT_FSIZE, 0, 0).map_err(|err| fail("FSIZE", err))?;
    }
    // RLIMIT_NPROC is not lowered: it counts every thread of every process
    // of the uid (all workers share one), so no value forbids new processes
    // without also forbidding threads. The seccomp filter refuses process
    // creation instead (clone without CLONE_THREAD, fork, vfork, clone3).
    Ok(())
}

fn stderr_is_regular_file() -> bool {
    let stderr = std::io::stderr();
    nix::sys::stat::fstat(stderr.as_fd()).map(|stat| stat.st_mode & libc::S_IFMT == libc::S_IFREG).unwrap_or(false)
}

/// An allow-list: every system call not named here kills the process.
fn allowed_syscalls() -> Result<BTreeMap<i64, Vec<SeccompRule>>, SandboxError> {
    // Every argument checked is an int or has its flags in the low 32 bits,
    // so only those are compared (the upper half of an int is unspecified).
    let condition = |arg: u8, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
            .and_then(|condition| SeccompRule::new(vec![condition]))
            .map_err(|err| SandboxError::Seccomp(err.to_string()))
    };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let always = [
        // The pipes to the server, stderr, the /proc/self accounting files
        // (positioned reads and writes on descriptors opened at boot).
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_pread64,
        libc::SYS_pwrite64,
        libc::SYS_close,
        // The request socket: a frame and, with it, the document's
        // descriptor (SCM_RIGHTS). Receiving a descriptor opens nothing.
        libc::SYS_recvmsg,
        // Waiting for the next request with a timeout before trimming the
        // heap (`heap::readable_within`): on descriptors already held.
        libc::SYS_poll,
        libc::SYS_ppoll,
        // How the kernel resumes such a wait (and any sleep) after the
        // worker was stopped and continued (SIGSTOP, a debugger attaching):
        // it re-enters the interrupted call, nothing else.
        libc::SYS_restart_syscall,
        // The size and type of a received document descriptor, checked
        // before it is mapped (the system call itself, not glibc's
        // path-taking newfstatat).
        libc::SYS_fstat,
        // Memory: the allocator (brk and mmap arenas, mremap for growing
        // vectors, madvise when it trims), thread stacks and their guards.
        libc::SYS_brk,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_madvise,
        // Time and accounting: Instant (vDSO, the syscall as fallback), CPU
        // time per task.
        libc::SYS_clock_gettime,
        libc::SYS_clock_nanosleep,
        libc::SYS_getrusage,
        // Locks, parked threads, joins; the spin loops of std's locks.
        libc::SYS_futex,
        libc::SYS_sched_yield,
        // HashMap's random keys.
        libc::SYS_getrandom,
        // glibc's malloc sizes its arenas by the CPUs it may run on when a
        // thread first allocates.
        libc::SYS_sched_getaffinity,
        // Signals: the stack-overflow handler (alternate stack, resetting
        // the action and returning from it), panics that abort, and abort()
        // itself, which blocks signals and raises SIGABRT.
        libc::SYS_sigaltstack,
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_getpid,
        libc::SYS_gettid,
        // Thread start and end, as glibc does them.
        libc::SYS_set_robust_list,
        libc::SYS_rseq,
        libc::SYS_exit,
        libc::SYS_exit_group,
        // glibc tries clone3 first; the second filter answers ENOSYS so it
        // falls back to clone, whose flags this filter can inspect.
        libc::SYS_clone3,
    ];
    for syscall in always {
        rules.insert(syscall, Vec::new());
    }
    // New mappings and protections, but never executable: a parser bug
    // cannot be turned into injected code.
    let not_executable = || condition(2, SeccompCmpOp::MaskedEq(libc::PROT_EXEC as u64), 0);
    rules.insert(libc::SYS_mmap, vec![not_executable()?]);
    rules.insert(libc::SYS_mprotect, vec![not_executable()?]);
    // Threads, never processes: CLONE_THREAD requires CLONE_VM and
    // CLONE_SIGHAND, so what it creates shares this process and its filter.
    let thread_flag = libc::CLONE_THREAD as u64;
    rules.insert(libc::SYS_clone, vec![condition(0, SeccompCmpOp::MaskedEq(thread_flag), thread_flag)?]);
    // Signals to ourselves only (raise, abort).
    let own_pid = unistd::getpid().as_raw() as u32 as u64;
    rules.insert(libc::SYS_tgkill, vec![condition(0, SeccompCmpOp::Eq, own_pid)?]);
    // Descriptor queries only: std's debug builds check a descriptor with
    // F_GETFD before closing it; a received spool file must be read-only
    // (F_GETFL) and a received memfd sealed (F_GET_SEALS).
    rules.insert(
        libc::SYS_fcntl,
        vec![
            condition(1, SeccompCmpOp::Eq, libc::F_GETFD as u64)?,
            condition(1, SeccompCmpOp::Eq, libc::F_GETFL as u64)?,
            condition(1, SeccompCmpOp::Eq, libc::F_GET_SEALS as u64)?,
        ],
    );
    // Naming a new thread (std does it from inside the thread).
    rules.insert(libc::SYS_prctl, vec![condition(0, SeccompCmpOp::Eq, libc::PR_SET_NAME as u64)?]);
    Ok(rules)
}

fn install_seccomp() -> Result<(), SandboxError> {
    let fail = |err: &dyn fmt::Display| SandboxError::Seccomp(err.to_string());
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|err| fail(&err))?;
    let allow_list = SeccompFilter::new(allowed_syscalls()?, SeccompAction::KillProcess, SeccompAction::Allow, arch)
        .map_err(|err| fail(&err))?;
    // A second filter only to answer clone3 with ENOSYS; for any call the
    // stricter verdict of the two filters wins, so this one allows the rest
    // and the allow-list above decides.
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(|err| fail(&err))?;
    let allow_list: BpfProgram = allow_list.try_into().map_err(|err: seccompiler::BackendError| fail(&err))?;
    let clone3: BpfProgram = clone3.try_into().map_err(|err: seccompiler::BackendError| fail(&err))?;
    // TSYNC: any thread a library started at boot is confined too.
    seccompiler::apply_filter_all_threads(&clone3).map_err(|err| fail(&err))?;
    seccompiler::apply_filter_all_threads(&allow_list).map_err(|err| fail(&err))?;
    Ok(())
}

/// Landlock, best effort: where the kernel has it, the worker gives up every
/// file-system access right it knows of (and TCP bind/connect, and signals
/// or abstract sockets outside itself, on kernels that know those), with no
/// exceptions. Seccomp already refuses the calls; Landlock is the second
/// wall should a call slip through the allow-list one day.
mod landlock {
    const CREATE_RULESET_VERSION: u32 = 1 << 0;

    #[repr(C)]
    struct RulesetAttr {
        handled_access_fs: u64,
        handled_access_net: u64,
        scoped: u64,
    }

    /// File-system rights by ABI version: v1 has 13, v2 adds REFER, v3
    /// TRUNCATE, v5 IOCTL_DEV.
    fn fs_rights(abi: u32) -> u64 {
        let mut rights = (1u64 << 13) - 1;
        if abi >= 2 {
            rights |= 1 << 13;
        }
        if abi >= 3 {
            rights |= 1 << 14;
        }
        if abi >= 5 {
            rights |= 1 << 15;
        }
        rights
    }

    /// Returns the ABI version applied, `None` where Landlock is absent or
    /// refused.
    pub fn restrict() -> Option<u32> {
        // SAFETY: with a null attribute, size 0 and the VERSION flag the call
        // only returns the ABI version.
        let abi = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<RulesetAttr>(),
                0usize,
                CREATE_RULESET_VERSION,
            )
        };
        if abi < 1 {
            return None;
        }
        let abi = abi as u32;
        let attr = RulesetAttr {
            handled_access_fs: fs_rights(abi),
            // v4: bind and connect on TCP ports.
            handled_access_net: if abi >= 4 { 0b11 } else { 0 },
            // v6: abstract Unix sockets and signals outside the domain.
            scoped: if abi >= 6 { 0b11 } else { 0 },
        };
        let size = match abi {
            1..=3 => std::mem::size_of::<u64>(),
            4 | 5 => 2 * std::mem::size_of::<u64>(),
            _ => std::mem::size_of::<RulesetAttr>(),
        };
        // SAFETY: `attr` lives on this frame and `size` covers only the
        // fields this ABI version knows.
        let ruleset =
            unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, &attr as *const RulesetAttr, size, 0u32) };
        if ruleset < 0 {
            return None;
        }
        let ruleset = ruleset as libc::c_int;
        // SAFETY: `ruleset` is the descriptor just returned; restrict_self
        // takes it and flags 0, and it is closed once, right after.
        let restricted = unsafe {
            let rc = libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0u32);
            libc::close(ruleset);
            rc
        };
        (restricted == 0).then_some(abi)
    }
}
