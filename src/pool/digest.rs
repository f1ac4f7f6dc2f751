//! A document's SHA-256 as the pool knows it when it takes the task, and
//! the hashing of a spooled document the upload did not hash as it arrived.
//!
//! An interactive upload of more than [`super::INLINE_MAX_BYTES`] is not
//! hashed on its way in: hashing was a third of the runtime thread's work
//! per chunk, on the critical path of the round trip. When the task needs
//! no digest before it runs (no result cache asked for, nothing
//! quarantined), the pool hands the document to a worker at once and hashes
//! it on one of [`HASHER_THREADS`] threads while the worker analyses it;
//! the worker writes a placeholder for `sha256`, and the server writes the
//! digest over it ([`super::RawReport::set_deferred_sha256`]). Those
//! threads are as nice as a worker: at the server's niceness one would take
//! a core from the very worker it runs beside whenever anything else wants
//! the other one.

use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use docmill_worker::protocol;
use sha2::{Digest as _, Sha256};

use super::Document;

/// Bytes read at a time when a spooled document is hashed.
const HASH_READ_BYTES: usize = 256 << 10;

/// What the pool knows of a document's SHA-256.
#[derive(Clone, Debug)]
pub enum Digest {
    /// Computed while the upload streamed in, or stored with a job's
    /// document.
    Known([u8; 32]),
    /// Not computed yet: the pool hashes the spooled document itself.
    Later,
    /// Being computed while a worker analyses the document; sent here once
    /// done, for the log line of a failure.
    Alongside(tokio::sync::watch::Receiver<Option<[u8; 32]>>),
}

impl Digest {
    /// The digest, when it is known by now.
    pub fn known(&self) -> Option<[u8; 32]> {
        match self {
            Digest::Known(digest) => Some(*digest),
            Digest::Later => None,
            Digest::Alongside(computed) => *computed.borrow(),
        }
    }

    /// The digest once it is known: at once unless it is being computed;
    /// `None` if its computation failed or was given up.
    pub(super) async fn wait(&self) -> Option<[u8; 32]> {
        match self {
            Digest::Alongside(computed) => {
                let mut computed = computed.clone();
                computed.wait_for(Option::is_some).await.ok().and_then(|digest| *digest)
            }
            known => known.known(),
        }
    }

    /// What the worker is told about it.
    pub(super) fn wire(&self) -> protocol::Digest {
        match self {
            Digest::Known(digest) => protocol::Digest::Given(*digest),
            // Not reached: the pool hashes a `Later` document before it
            // queues it or while it runs. Were it, the worker would hash.
            Digest::Later => protocol::Digest::Compute,
            Digest::Alongside(_) => protocol::Digest::Deferred,
        }
    }
}

/// A document being hashed off the runtime: a future of its digest.
/// Dropped before it is done, it stops the hashing at its next read.
pub(super) struct Hashing {
    digest: tokio::sync::oneshot::Receiver<io::Result<[u8; 32]>>,
    stop: Arc<AtomicBool>,
}

impl Hashing {
    /// Stops the hashing at its next read: its digest is no longer wanted.
    pub fn stop(&self) {
        self.stopper().stop();
    }

    /// What stops this hashing from elsewhere while it is awaited.
    pub fn stopper(&self) -> Stopper {
        Stopper(Arc::clone(&self.stop))
    }
}

pub(super) struct Stopper(Arc<AtomicBool>);

impl Stopper {
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Future for Hashing {
    type Output = io::Result<[u8; 32]>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.digest)
            .poll(cx)
            .map(|sent| sent.unwrap_or_else(|_| Err(io::Error::other("the hashing ended without a digest"))))
    }
}

impl Drop for Hashing {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Threads that hash documents beside their analysis. Two keep up with
/// far more large documents a second than workers analyse (a thread hashes
/// gigabytes a second), and a fixed number bounds them however many large
/// uploads arrive at once; the rest wait their turn in the channel.
const HASHER_THREADS: usize = 2;

type HashJob = Box<dyn FnOnce() + Send>;

/// The hasher threads' queue, started on first use; `None` if no thread
/// could be started.
fn hashers() -> Option<&'static std::sync::mpsc::Sender<HashJob>> {
    static HASHERS: OnceLock<Option<std::sync::mpsc::Sender<HashJob>>> = OnceLock::new();
    HASHERS
        .get_or_init(|| {
            let (sender, jobs) = std::sync::mpsc::channel::<HashJob>();
            let jobs = Arc::new(Mutex::new(jobs));
            let mut started = 0;
            for n in 0..HASHER_THREADS {
                let jobs = Arc::clone(&jobs);
                let spawned = std::thread::Builder::new().name(format!("docmill-hash-{n}")).spawn(move || {
                    crate::supervisor::as_nice_as_a_worker();
                    loop {
                        let job = jobs.lock().unwrap().recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
                started += usize::from(spawned.is_ok());
            }
            (started > 0).then_some(sender)
        })
        .as_ref()
}

/// Starts hashing `document` on a hasher thread, as nice as a worker, to
/// run beside one (on a blocking thread if no hasher thread could be
/// started). The descriptor is duplicated, so the document itself goes on
/// to a worker meanwhile: a sealed memfd cannot change, and a spool file is
/// never written once complete.
pub(super) fn start(document: &Document) -> io::Result<Hashing> {
    let (job, hashing) = hash_job(document)?;
    match hashers() {
        Some(hashers) => {
            if let Err(refused) = hashers.send(job) {
                tokio::task::spawn_blocking(refused.0);
            }
        }
        None => drop(tokio::task::spawn_blocking(job)),
    }
    Ok(hashing)
}

/// The digest of `document`, computed on a blocking thread at the
/// server's niceness: the task waits for it.
pub(super) async fn compute(document: &Document) -> io::Result<[u8; 32]> {
    let (job, hashing) = hash_job(document)?;
    tokio::task::spawn_blocking(job);
    hashing.await
}

/// The work of hashing `document`, and the future of its digest.
fn hash_job(document: &Document) -> io::Result<(HashJob, Hashing)> {
    enum Source {
        Memory(bytes::Bytes),
        File(std::fs::File),
    }
    let source = match document {
        Document::Memory(bytes) => Source::Memory(bytes.clone()),
        Document::Sealed(memfd) => Source::File(memfd.reader()?),
        Document::File(file) => Source::File(file.try_clone()?),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (sender, digest) = tokio::sync::oneshot::channel();
    let stopped = Arc::clone(&stop);
    let job: HashJob = Box::new(move || {
        let digest = match source {
            Source::Memory(bytes) => Ok(Sha256::digest(&bytes).into()),
            Source::File(file) => hash_file(&file, &stopped),
        };
        let _ = sender.send(digest);
    });
    Ok((job, Hashing { digest, stop }))
}

/// SHA-256 of a file's whole content, read with `pread` (the descriptor's
/// offset, shared with the original, is left alone); an error once `stop`
/// is set.
fn hash_file(file: &std::fs::File, stop: &AtomicBool) -> io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; HASH_READ_BYTES];
    let mut offset = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::other("the digest is no longer wanted"));
        }
        let read = match file.read_at(&mut buffer, offset) {
            Ok(0) => return Ok(hasher.finalize().into()),
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buffer[..read]);
        offset += read as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[tokio::test]
    async fn a_spooled_document_hashes_to_its_bytes_digest_and_stays_readable_from_its_start() {
        let bytes: Vec<u8> = (0..(3 * HASH_READ_BYTES + 17)).map(|i| (i * 7 % 251) as u8).collect();
        let expected: [u8; 32] = Sha256::digest(&bytes).into();

        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&bytes).unwrap();
        let document = Document::File(file);
        assert_eq!(compute(&document).await.unwrap(), expected);

        let mut memfd = super::super::OpenMemfd::new().unwrap();
        memfd.write(&bytes).unwrap();
        let document = Document::Sealed(memfd.seal().unwrap());
        assert_eq!(compute(&document).await.unwrap(), expected);
        assert_eq!(compute(&document).await.unwrap(), expected, "hashing twice reads from the start again");

        let mut memfd = super::super::OpenMemfd::new().unwrap();
        memfd.write(&vec![1u8; 64 * HASH_READ_BYTES]).unwrap();
        let hashing = start(&Document::Sealed(memfd.seal().unwrap())).unwrap();
        hashing.stop();
        assert!(hashing.await.is_err(), "a stopped hashing gives no digest");

        let document = Document::Memory(bytes::Bytes::from(bytes));
        assert_eq!(compute(&document).await.unwrap(), expected);
        assert_eq!(
            compute(&Document::Memory(bytes::Bytes::new())).await.unwrap(),
            <[u8; 32]>::from(Sha256::digest(b""))
        );
    }
}
