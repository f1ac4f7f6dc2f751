//! What the worker's seccomp filter costs per system call: times the calls a
//! worker makes for every document (`getrusage`, `pread` of `/proc/self/status`,
//! `pwrite` of `/proc/self/clear_refs`, pipe `write` and `read`) before and
//! after `sandbox::confine`, in one process. Timings are printed, never
//! asserted.
//!
//! Run: `cargo run --release -p docmill-worker --example seccomp_cost`

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::time::Instant;

use docmill_worker::sandbox::{self, Confinement};

/// Calls per measurement: enough for a stable median on a noisy machine.
const CALLS: usize = 200_000;
const ROUNDS: usize = 7;

fn per_call_ns(status: &File, clear_refs: &File, pipe: &mut (File, File)) -> [f64; 4] {
    let time = |f: &mut dyn FnMut()| {
        let mut rounds: Vec<f64> = (0..ROUNDS)
            .map(|_| {
                let started = Instant::now();
                for _ in 0..CALLS {
                    f();
                }
                started.elapsed().as_nanos() as f64 / CALLS as f64
            })
            .collect();
        rounds.sort_by(|a, b| a.total_cmp(b));
        rounds[ROUNDS / 2]
    };
    let mut buf = [0u8; 64];
    [
        time(&mut || {
            let _ = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF);
        }),
        time(&mut || {
            let _ = status.read_at(&mut buf, 0);
        }),
        time(&mut || {
            let _ = clear_refs.write_at(b"5", 0);
        }),
        time(&mut || {
            let _ = pipe.1.write_all(b"x");
            let _ = pipe.0.read_exact(&mut buf[..1]);
        }),
    ]
}

fn main() {
    let status = File::open("/proc/self/status").unwrap();
    let clear_refs = std::fs::OpenOptions::new().write(true).open("/proc/self/clear_refs").unwrap();
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    let mut pipe = (File::from(read_end), File::from(write_end));
    let before = per_call_ns(&status, &clear_refs, &mut pipe);
    sandbox::confine(&Confinement { user: None, seccomp: true }, nix::unistd::getppid()).unwrap();
    let after = per_call_ns(&status, &clear_refs, &mut pipe);
    println!("ns per call (median of {ROUNDS} x {CALLS}), without and with the seccomp filter:");
    for (i, name) in
        ["getrusage", "pread /proc/self/status (64 B)", "pwrite clear_refs", "pipe write+read"].iter().enumerate()
    {
        println!("  {name:32} {:8.0} {:8.0}  (+{:.0} ns)", before[i], after[i], after[i] - before[i]);
    }
}
