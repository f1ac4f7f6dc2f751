//! The worker loop fed documents as descriptors over its request socket, as
//! the server does: a sealed memfd and a read-only spool file are analysed
//! like the same bytes inline; a descriptor that is not what its frame says
//! (unsealed, the wrong size, writable, missing, unasked for) ends the worker
//! with `EXIT_BAD_DESCRIPTOR` before it maps anything or answers.

use std::fs::File;
use std::io::{IoSlice, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::thread::JoinHandle;

use docmill_worker::protocol::{
    self, AnalyzeRequest, Attached, AttachedKind, DocumentBody, FromWorker, Outcome, ToWorker,
};
use docmill_worker::worker_loop::{self, OcrDefaults, ProcFiles, WorkerConfig, EXIT_BAD_DESCRIPTOR};
use nix::fcntl::{FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::socket::{self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType};

const MAX_DOCUMENT: usize = 64 << 20;

/// A worker loop on a thread, as the supervisor would start it (without
/// the sandbox, which a test process cannot take back).
struct Worker {
    requests: OwnedFd,
    responses: File,
    thread: JoinHandle<i32>,
}

impl Worker {
    fn start() -> Worker {
        let (server_end, worker_end) =
            socket::socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC).unwrap();
        let (read, write) = nix::unistd::pipe().unwrap();
        let thread = std::thread::spawn(move || {
            let config = WorkerConfig {
                max_document_bytes: MAX_DOCUMENT,
                recycle_private_bytes: u64::MAX,
                ocr: OcrDefaults::default(),
            };
            worker_loop::run(worker_end, File::from(write), ProcFiles::open().unwrap(), &config, Err("no OCR in tests"))
        });
        let mut worker = Worker { requests: server_end, responses: File::from(read), thread };
        assert!(matches!(worker.answer(), Some(FromWorker::Ready { .. })));
        worker
    }

    /// Sends one request frame with `fds` attached to its first byte.
    fn send(&self, document: DocumentBody<'_>, fds: &[&OwnedFd]) {
        let frame = protocol::encode_request(&ToWorker::Analyze(AnalyzeRequest {
            task_id: 7,
            filename: "prose.txt",
            declared_type: Some("text/plain"),
            options: protocol::Options::default(),
            digest: protocol::Digest::Compute,
            document,
        }));
        let raw: Vec<i32> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
        let rights = [ControlMessage::ScmRights(&raw)];
        let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &rights };
        let sent = socket::sendmsg::<()>(
            self.requests.as_raw_fd(),
            &[IoSlice::new(&frame[..1])],
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .unwrap();
        assert_eq!(sent, 1);
        let mut rest = File::from(self.requests.try_clone().unwrap());
        rest.write_all(&frame[1..]).unwrap();
    }

    /// The next answer, `None` once the worker has closed its pipe.
    fn answer(&mut self) -> Option<FromWorker> {
        let body = protocol::read_frame(&mut self.responses, protocol::MAX_RESPONSE_FRAME).unwrap()?;
        Some(protocol::decode_response(&body).unwrap())
    }

    /// Analyses `document` sent as `fd` and returns the report as JSON.
    fn report(&mut self, document: DocumentBody<'_>, fds: &[&OwnedFd]) -> serde_json::Value {
        self.send(document, fds);
        match self.answer() {
            Some(FromWorker::Done(result)) => match result.outcome {
                Outcome::Report(report) => serde_json::from_slice(&report.json).unwrap(),
                Outcome::Error { message, .. } => panic!("the worker refused the document: {message}"),
            },
            other => panic!("expected a report, got {other:?}"),
        }
    }

    /// Sends a request the worker must refuse, and returns its exit status
    /// after checking it answered nothing.
    fn refused(mut self, document: DocumentBody<'_>, fds: &[&OwnedFd]) -> i32 {
        self.send(document, fds);
        assert!(self.answer().is_none(), "the worker answered a request it should have refused");
        self.thread.join().unwrap()
    }

    fn stop(self) -> i32 {
        drop(self.requests);
        self.thread.join().unwrap()
    }
}

fn prose(len: usize) -> Vec<u8> {
    let sentence = b"The quick brown fox jumps over the lazy dog near the river bank. ";
    sentence.iter().copied().cycle().take(len).collect()
}

fn memfd(bytes: &[u8], seals: Option<SealFlag>) -> OwnedFd {
    let fd = memfd_create(c"test-document", MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING).unwrap();
    let mut file = File::from(fd);
    file.write_all(bytes).unwrap();
    let fd = OwnedFd::from(file);
    if let Some(seals) = seals {
        nix::fcntl::fcntl(&fd, FcntlArg::F_ADD_SEALS(seals)).unwrap();
    }
    fd
}

fn all_seals() -> SealFlag {
    SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL
}

fn attached(len: usize, kind: AttachedKind) -> DocumentBody<'static> {
    DocumentBody::Attached(Attached { len: len as u64, kind })
}

/// The fields that depend on the document, not on how it travelled.
fn essentials(report: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "size": report["size"], "format": report["format"], "stats": report["stats"],
        "keywords": report["keywords"], "fingerprint": report["fingerprint"], "language": report["language"],
    })
}

#[test]
fn a_sealed_memfd_and_a_read_only_spool_file_read_like_the_bytes_inline() {
    let document = prose(3 << 20);
    let mut worker = Worker::start();
    let inline = worker.report(DocumentBody::Inline(&document), &[]);
    assert_eq!(inline["size"], document.len());
    assert!(inline["stats"]["words"].as_u64().unwrap() > 500_000);

    let sealed = memfd(&document, Some(all_seals()));
    let from_memfd = worker.report(attached(document.len(), AttachedKind::SealedMemfd), &[&sealed]);
    assert_eq!(essentials(&from_memfd), essentials(&inline));

    let mut spool = tempfile::tempfile().unwrap();
    spool.write_all(&document).unwrap();
    let read_only = File::open(format!("/proc/self/fd/{}", spool.as_raw_fd())).unwrap();
    let read_only = OwnedFd::from(read_only);
    let from_file = worker.report(attached(document.len(), AttachedKind::SpoolFile), &[&read_only]);
    assert_eq!(essentials(&from_file), essentials(&inline));

    // The worker unmapped and closed the descriptors: an empty document
    // after them is its own report, and the worker still answers.
    let empty = memfd(b"", Some(all_seals()));
    let report = worker.report(attached(0, AttachedKind::SealedMemfd), &[&empty]);
    assert_eq!(report["size"], 0);
    assert_eq!(worker.stop(), 0);
}

#[test]
fn an_unsealed_memfd_is_refused() {
    let document = prose(200 << 10);
    let unsealed = memfd(&document, None);
    let status = Worker::start().refused(attached(document.len(), AttachedKind::SealedMemfd), &[&unsealed]);
    assert_eq!(status, EXIT_BAD_DESCRIPTOR);
    // Sealed against writing but still able to shrink: a SIGBUS risk.
    let shrinkable = memfd(&document, Some(SealFlag::F_SEAL_WRITE | SealFlag::F_SEAL_GROW));
    let status = Worker::start().refused(attached(document.len(), AttachedKind::SealedMemfd), &[&shrinkable]);
    assert_eq!(status, EXIT_BAD_DESCRIPTOR);
}

#[test]
fn a_descriptor_whose_size_is_not_the_frames_is_refused() {
    let document = prose(200 << 10);
    let sealed = memfd(&document, Some(all_seals()));
    // A frame that claims more than the memfd holds: mapping it and reading
    // the claimed length would fault past the end.
    let status = Worker::start().refused(attached(document.len() + 4096, AttachedKind::SealedMemfd), &[&sealed]);
    assert_eq!(status, EXIT_BAD_DESCRIPTOR);
    let status = Worker::start().refused(attached(document.len() - 1, AttachedKind::SealedMemfd), &[&sealed]);
    assert_eq!(status, EXIT_BAD_DESCRIPTOR);
    // Above the largest document the worker takes.
    let status = Worker::start().refused(attached(MAX_DOCUMENT + 1, AttachedKind::SealedMemfd), &[&sealed]);
    assert_eq!(status, EXIT_BAD_DESCRIPTOR);
}

#[test]
fn a_writable_spool_file_or_something_that_is_no_file_is_refused() {
    let document = prose(200 << 10);
    let mut spool = tempfile::tempfile().unwrap();
    spool.write_all(&document).unwrap();
    let writable = OwnedFd::from(spool);
    let status = Worker::start().refused(attached(document.len(), AttachedKind::SpoolFile), &[&writable]);
    assert_eq!(status, EXIT_BAD_DESCRIPTOR);
    let (socket_end, _other_end) =
        socket::socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC).unwrap();
    let status = Worker::start().refused(attached(document.len(), AttachedKind::SpoolFile), &[&socket_end]);
    assert_eq!(status, EXIT_BAD_DESCRIPTOR);
}

#[test]
fn a_missing_extra_or_unasked_descriptor_is_refused() {
    let document = prose(200 << 10);
    let sealed = memfd(&document, Some(all_seals()));
    let status = Worker::start().refused(attached(document.len(), AttachedKind::SealedMemfd), &[]);
    assert_eq!(status, EXIT_BAD_DESCRIPTOR);
    let status = Worker::start().refused(DocumentBody::Inline(&document), &[&sealed]);
    assert_eq!(status, EXIT_BAD_DESCRIPTOR);
    let second = memfd(&document, Some(all_seals()));
    let status = Worker::start().refused(attached(document.len(), AttachedKind::SealedMemfd), &[&sealed, &second]);
    assert_eq!(status, EXIT_BAD_DESCRIPTOR);
    // The worker's own descriptors are untouched by all this: the memfd
    // is still whole and sealed here.
    assert_eq!(nix::sys::stat::fstat(sealed.as_fd()).unwrap().st_size as usize, document.len());
}
