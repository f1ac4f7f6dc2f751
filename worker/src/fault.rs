//! Fault injection for the pool's tests (feature `fault-injection`, debug
//! builds only). A document whose bytes start with `DOCMILL-FAULT:<kind>` makes
//! the worker misbehave in that way before the engine sees it; any other
//! document is analysed normally.

use std::fs::File;
use std::io::Write;
use std::time::Duration;

use nix::sys::signal::{self, SigSet, Signal};

const PREFIX: &[u8] = b"DOCMILL-FAULT:";

pub fn inject(document: &[u8], responses: &mut File) {
    let Some(rest) = document.strip_prefix(PREFIX) else { return };
    let kind_len = rest.iter().position(|b| b.is_ascii_whitespace()).unwrap_or(rest.len());
    let kind = String::from_utf8_lossy(&rest[..kind_len]).into_owned();
    match kind.as_str() {
        "panic" => panic!("injected panic"),
        "abort" => std::process::abort(),
        "segv" => {
            // The first SIGSEGV reaches the runtime's stack-overflow handler,
            // which finds no guard-page hit, restores the default action and
            // returns; the second one kills the process as a real fault would.
            let _ = signal::raise(Signal::SIGSEGV);
            let _ = signal::raise(Signal::SIGSEGV);
        }
        "exit" => std::process::exit(7),
        "stack" => {
            overflow_stack(1);
        }
        "hang" => {
            // Block SIGTERM so only SIGKILL ends this worker, then spin.
            let mut set = SigSet::empty();
            set.add(Signal::SIGTERM);
            let _ = set.thread_block();
            loop {
                std::hint::spin_loop();
            }
        }
        "alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 64 << 20]);
            }
        }
        // What the sandbox forbids: each of these kills the worker with
        // SIGSYS under the seccomp filter. Without it they succeed and the
        // document is analysed as usual.
        "open" => {
            let _ = std::fs::File::open("/etc/passwd");
        }
        "socket" => {
            let _ = std::net::UdpSocket::bind("127.0.0.1:0");
        }
        "fork" => {
            if let Ok(mut child) = std::process::Command::new("/bin/true").spawn() {
                let _ = child.wait();
            }
        }
        "exec" => {
            let _ = nix::unistd::execv(c"/bin/true", &[c"/bin/true"]);
        }
        // What the sandbox allows: a thread with a large stack, as a parser
        // that recurses deeply would use.
        "thread" => {
            let spawned = std::thread::Builder::new().name("deep".into()).stack_size(64 << 20).spawn(|| {
                let depth = std::hint::black_box(1000u64);
                (0..depth).sum::<u64>()
            });
            let sum = spawned.expect("a thread under the sandbox").join().expect("the thread finished");
            assert_eq!(sum, 499_500);
        }
        "garbage" => {
            let _ = responses.write_all(b"\x10\x00\x00\x00this is not a frame!");
            std::thread::sleep(Duration::from_secs(3600));
        }
        "stall" => {
            // A length prefix promising more than is ever sent.
            let _ = responses.write_all(b"\x00\x01\x00\x00\x01\x02");
            std::thread::sleep(Duration::from_secs(3600));
        }
        _ => {
            if let Some(millis) = kind.strip_prefix("sleep-").and_then(|ms| ms.parse::<u64>().ok()) {
                std::thread::sleep(Duration::from_millis(millis));
            }
            if let Some(count) = kind.strip_prefix("caught-panics-").and_then(|n| n.parse::<u32>().ok()) {
                // Panics a parser catches itself (page by page, say), after
                // which the document is analysed as usual.
                for _ in 0..count {
                    let _ = std::panic::catch_unwind(|| panic!("injected caught panic"));
                }
            }
            if let Some(mib) = kind.strip_prefix("leak-").and_then(|n| n.parse::<usize>().ok()) {
                // Memory kept after the job, as a leaking parser would.
                Vec::leak(vec![1u8; mib << 20]);
            }
        }
    }
}

#[allow(unconditional_recursion)]
fn overflow_stack(depth: u64) -> u64 {
    let frame = [depth; 512];
    overflow_stack(std::hint::black_box(frame)[0] + 1) + frame[1]
}
