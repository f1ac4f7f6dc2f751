//! `docmill-bench handoff`: what it costs to hand a worker a small document
//! inline in its request frame against as a sealed memfd, over a Unix
//! socket pair in this process, with the worker's own receiving code
//! (`docmill_worker::handoff`). One round trip is: the server side builds
//! the frame (and for a memfd creates, fills and seals it), sends it; the
//! worker side receives it, decodes it (maps the memfd), reads every byte
//! once as the engine would, unmaps, and answers one byte.

use std::io::{IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use docmill_worker::handoff;
use docmill_worker::protocol::{self, AnalyzeRequest, Attached, AttachedKind, DocumentBody, ToWorker};
use nix::fcntl::{FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::socket::{self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType};

/// Document sizes compared.
const SIZES: [usize; 7] = [1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20];
/// Rounds per size and way; the median is reported.
const ROUNDS: usize = 5;
/// Length of one round.
const ROUND_TIME: Duration = Duration::from_millis(400);

#[derive(Clone, Copy)]
enum Way {
    Inline,
    Memfd,
}

pub fn run() {
    println!("docmill-bench handoff ({ROUNDS} rounds of {ROUND_TIME:?} per size and way; µs per round trip, median)");
    println!("{:>10} {:>10} {:>10} {:>14}", "size", "inline", "memfd", "memfd/inline");
    for size in SIZES {
        let document: Vec<u8> = b"plain words in a row. ".iter().copied().cycle().take(size).collect();
        let mut inline = Vec::new();
        let mut memfd = Vec::new();
        for round in 0..ROUNDS {
            // Alternate which goes first, so neither gains from order.
            if round % 2 == 0 {
                inline.push(round_trip_micros(&document, Way::Inline));
                memfd.push(round_trip_micros(&document, Way::Memfd));
            } else {
                memfd.push(round_trip_micros(&document, Way::Memfd));
                inline.push(round_trip_micros(&document, Way::Inline));
            }
        }
        let (inline, memfd) = (crate::median(inline), crate::median(memfd));
        println!("{:>8} K {inline:>10.1} {memfd:>10.1} {:>14.2}", size >> 10, memfd / inline);
    }
}

/// Mean microseconds per round trip over one round.
fn round_trip_micros(document: &[u8], way: Way) -> f64 {
    let (server, worker) =
        socket::socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC).unwrap();
    let max = document.len() + (64 << 10);
    let receiver = std::thread::spawn(move || {
        let mut ack = std::fs::File::from(worker.try_clone().unwrap());
        while let Ok(Some(received)) = handoff::recv_frame(worker.as_fd(), max) {
            let Ok(ToWorker::Analyze(request)) = protocol::decode_request(&received.body) else { panic!("bad frame") };
            let checksum = match request.document {
                DocumentBody::Inline(bytes) => checksum(bytes),
                DocumentBody::Attached(attached) => {
                    let mapped = handoff::map(&received.fds[0], &attached, max).unwrap();
                    checksum(mapped.bytes())
                }
            };
            ack.write_all(&[checksum]).unwrap();
        }
    });
    let mut acks = std::fs::File::from(server.try_clone().unwrap());
    let deadline = Instant::now() + ROUND_TIME;
    let started = Instant::now();
    let mut n = 0u64;
    while Instant::now() < deadline {
        match way {
            Way::Inline => send(&server, DocumentBody::Inline(document), None),
            Way::Memfd => {
                let fd = sealed_memfd(document);
                let attached = Attached { len: document.len() as u64, kind: AttachedKind::SealedMemfd };
                send(&server, DocumentBody::Attached(attached), Some(&fd));
            }
        }
        let mut byte = [0u8; 1];
        acks.read_exact(&mut byte).unwrap();
        n += 1;
    }
    let elapsed = started.elapsed();
    drop(acks);
    drop(server);
    receiver.join().unwrap();
    elapsed.as_secs_f64() * 1e6 / n as f64
}

/// Reads every byte once, as the engine's scan would.
fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, byte| sum.wrapping_add(*byte))
}

fn send(socket: &OwnedFd, document: DocumentBody<'_>, fd: Option<&OwnedFd>) {
    let frame = protocol::encode_request(&ToWorker::Analyze(AnalyzeRequest {
        task_id: 1,
        filename: "doc.txt",
        declared_type: None,
        options: protocol::Options::default(),
        digest: protocol::Digest::Compute,
        document,
    }));
    let raw = [fd.map_or(-1, |fd| fd.as_raw_fd())];
    let rights = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage] = if fd.is_some() { &rights } else { &[] };
    let mut sent =
        socket::sendmsg::<()>(socket.as_raw_fd(), &[IoSlice::new(&frame)], cmsgs, MsgFlags::MSG_NOSIGNAL, None)
            .unwrap();
    while sent < frame.len() {
        sent += nix::unistd::write(socket, &frame[sent..]).unwrap();
    }
}

/// As the server builds it (`pool::handoff`).
fn sealed_memfd(bytes: &[u8]) -> OwnedFd {
    let fd = memfd_create(c"docmill-document", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING).unwrap();
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes).unwrap();
    let fd = OwnedFd::from(file);
    let seals = SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL;
    nix::fcntl::fcntl(&fd, FcntlArg::F_ADD_SEALS(seals)).unwrap();
    fd
}
