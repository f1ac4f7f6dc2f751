//! What a forked, already confined worker runs: announce readiness, then read
//! one request frame (with the document inline, or as a descriptor it maps
//! read-only), analyse it (or answer a ping), measure what it cost, answer,
//! and repeat until the server closes the request socket.
//!
//! A panic inside the engine is caught here and answered as `ParseFailed`
//! naming it; the worker then exits so the pool replaces it, because a panic
//! may have left state half-updated. Anything worse (abort, signal, running out
//! of memory) simply ends the process, and the server sees the pipe close.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use nix::sys::resource::{getrusage, UsageWho};

use crate::handoff::{self, HandoffError, Mapped};
use crate::heap::{self, TrimAfter};
use crate::ocr::{self, Tesseract};
use crate::protocol::{
    self, DocumentBody, ErrorCode, FromWorker, Outcome, ReportJson, ReportSummary, TaskResult, ToWorker,
};
use docmill_engine::{self as engine, Input, OcrContext, OcrLanguages, OcrMode, Recognizer};

/// Exit status of a worker that could not start; the supervisor backs off
/// instead of forking replacements in a loop (gunicorn's `WORKER_BOOT_ERROR`).
pub const EXIT_BOOT_FAILED: i32 = 3;
/// Exit status of a worker that received a frame it could not decode: the
/// server and the worker disagree on the wire, which no retry fixes.
pub const EXIT_PROTOCOL: i32 = 4;

/// Room for the request's fields around the document bytes in a frame.
pub const REQUEST_FRAME_SLACK: usize = 64 << 10;
/// Exit status of a worker handed a document descriptor that is not what
/// its frame says (size, seals, access mode, count): a server bug, refused
/// before anything is mapped.
pub const EXIT_BAD_DESCRIPTOR: i32 = 5;

/// Panic lines a worker writes for one document. The parsers' panics are
/// caught page by page and font by font, so one hostile PDF can panic
/// thousands of times; past the first few, one line counts the rest.
pub const PANIC_LINES_PER_TASK: u32 = 3;

/// Panics during the current task, counted by the panic hook.
static PANICS_THIS_TASK: AtomicU32 = AtomicU32::new(0);

/// The current task's file name, for the panic hook's line: an operator
/// reading the log learns which document made the parser panic.
static CURRENT_DOCUMENT: Mutex<String> = Mutex::new(String::new());

fn set_current_document(filename: &str) {
    let mut current = CURRENT_DOCUMENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    current.clear();
    current.push_str(filename);
}

pub struct WorkerConfig {
    /// Largest document the server will send (`--max-upload-bytes`).
    pub max_document_bytes: usize,
    /// Private memory after a task above which the server recycles the worker.
    pub recycle_private_bytes: u64,
    /// OCR for requests that do not say (`--ocr`, `--ocr-lang`), and its
    /// page limit (`--ocr-max-pages`).
    pub ocr: OcrDefaults,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct OcrDefaults {
    pub mode: OcrMode,
    pub languages: OcrLanguages,
    pub max_pages: usize,
}

/// The worker's own `/proc/self` files, opened at boot: once the sandbox is
/// in place a worker cannot open anything, so its per-task accounting reads
/// and writes these descriptors at offset 0 (each read of a `/proc` file at
/// offset 0 renders it afresh).
pub struct ProcFiles {
    /// Writing `5` resets the peak resident set (`VmHWM`).
    clear_refs: File,
    status: File,
    /// Sizes in pages; its second field is the resident set. Rendered in
    /// a fraction of what `status` costs.
    statm: File,
    /// The page size in KiB, read at boot.
    page_kib: u64,
    /// Private memory; absent on kernels without it.
    smaps_rollup: Option<File>,
}

/// Set by [`ProcFiles::start_task`], read by [`ProcFiles::finish_task`].
struct TaskMeter {
    cpu_before: u64,
    /// `ru_maxrss` at the end will be this task's peak.
    exact: bool,
}

/// One task's measured cost.
struct TaskUsage {
    /// The worker's CPU time so far, in µs.
    cpu_after: u64,
    cpu_ms: u64,
    peak_rss_bytes: u64,
    rss_bytes: u64,
}

/// One `getrusage(RUSAGE_SELF)`.
struct Usage {
    /// User and system time so far.
    cpu_micros: u64,
    max_rss_kib: u64,
}

impl Usage {
    fn now() -> Usage {
        match getrusage(UsageWho::RUSAGE_SELF) {
            Ok(usage) => {
                let micros = |tv: nix::sys::time::TimeVal| tv.tv_sec() as u64 * 1_000_000 + tv.tv_usec() as u64;
                Usage {
                    cpu_micros: micros(usage.user_time()) + micros(usage.system_time()),
                    max_rss_kib: usage.max_rss().max(0) as u64,
                }
            }
            Err(_) => Usage { cpu_micros: 0, max_rss_kib: u64::MAX },
        }
    }
}

/// Longest `/proc/self/statm` read: seven numbers of at most 20 digits.
const STATM_MAX: usize = 256;

/// Largest `/proc/self` file read: `status` is about 1.5 KiB.
const PROC_FILE_MAX: usize = 16 << 10;

impl ProcFiles {
    pub fn open() -> std::io::Result<ProcFiles> {
        Ok(ProcFiles {
            clear_refs: std::fs::OpenOptions::new().write(true).open("/proc/self/clear_refs")?,
            status: File::open("/proc/self/status")?,
            statm: File::open("/proc/self/statm")?,
            page_kib: nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
                .ok()
                .flatten()
                .map_or(4, |bytes| bytes as u64 / 1024),
            smaps_rollup: File::open("/proc/self/smaps_rollup").ok(),
        })
    }

    fn reset_peak(&self) {
        let _ = self.clear_refs.write_at(b"5", 0);
    }

    /// The resident set now, in KiB, from `statm`.
    fn resident_kib(&self) -> Option<u64> {
        // One read: the file is rendered whole and is far shorter than this.
        let mut buf = [0u8; STATM_MAX];
        let n = self.statm.read_at(&mut buf, 0).ok()?;
        let statm = std::str::from_utf8(&buf[..n]).ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        Some(pages * self.page_kib)
    }

    /// Resets the peak resident set and starts measuring one task.
    fn start_task(&self) -> TaskMeter {
        self.reset_peak();
        let usage = Usage::now();
        // `ru_maxrss` is the larger of this process's peak (just reset to
        // the resident set) and the peak its threads had when they exited
        // (the kernel folds it in at each thread's exit, and nothing resets
        // that). When it is no more than the resident set now, no exited
        // thread's peak is above it, so at the end of the task it is this
        // task's peak: a thread exiting during the task had at most that.
        let exact = self.resident_kib().is_some_and(|resident| usage.max_rss_kib <= resident);
        TaskMeter { cpu_before: usage.cpu_micros, exact }
    }

    /// What the task cost: CPU time, the peak and current resident sets.
    /// `status` (`VmHWM`) is read only when `ru_maxrss` cannot be this
    /// task's peak: after a thread exited at a higher peak than the
    /// resident set when the task began (a large PDF's reader thread).
    fn finish_task(&self, meter: TaskMeter) -> TaskUsage {
        let usage = Usage::now();
        let resident_kib = self.resident_kib();
        let (peak_kib, resident_kib) = match resident_kib {
            Some(resident) if meter.exact => (usage.max_rss_kib, resident),
            _ => {
                let status = self.status();
                (kib_field(&status, "VmHWM:").unwrap_or(0), kib_field(&status, "VmRSS:").unwrap_or(0))
            }
        };
        TaskUsage {
            cpu_after: usage.cpu_micros,
            cpu_ms: usage.cpu_micros.saturating_sub(meter.cpu_before) / 1000,
            peak_rss_bytes: peak_kib * 1024,
            rss_bytes: resident_kib * 1024,
        }
    }

    fn status(&self) -> String {
        read_at_start(&self.status)
    }

    /// Memory this worker holds on its own: private pages, not the
    /// copy-on-write pages it still shares with the supervisor it was forked
    /// from.
    fn private_bytes(&self) -> u64 {
        let Some(rollup) = &self.smaps_rollup else {
            return kib_field(&self.status(), "VmRSS:").unwrap_or(0) * 1024;
        };
        let rollup = read_at_start(rollup);
        let clean = kib_field(&rollup, "Private_Clean:").unwrap_or(0);
        let dirty = kib_field(&rollup, "Private_Dirty:").unwrap_or(0);
        (clean + dirty) * 1024
    }
}

/// Reads a `/proc/self` file whole. These files are rendered afresh by each
/// read (a read at an offset renders the whole file again and skips to it),
/// and a read asking for more than the file holds returns all of it: a short
/// read is the end, so a file costs one rendering, not a second one to find
/// the end (a `status` rendering is a good part of a small document's
/// accounting).
fn read_at_start(file: &File) -> String {
    let mut buf = vec![0u8; PROC_FILE_MAX];
    let mut filled = 0;
    while filled < buf.len() {
        let wanted = buf.len() - filled;
        match file.read_at(&mut buf[filled..], filled as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                filled += n;
                if n < wanted {
                    break;
                }
            }
        }
    }
    buf.truncate(filled);
    String::from_utf8(buf).unwrap_or_default()
}

/// Runs the worker until the request socket closes; returns the exit status.
/// The caller has confined the process already: this reads and writes only
/// the descriptors it is given. `tesseract` was loaded before that (by the
/// supervisor, shared copy-on-write), or says why OCR is unavailable.
pub fn run(
    requests: OwnedFd,
    mut responses: File,
    proc_files: ProcFiles,
    config: &WorkerConfig,
    tesseract: Result<&Tesseract, &str>,
) -> i32 {
    #[cfg(feature = "fault-injection")]
    if std::env::var_os("DOCMILL_FAULT_BOOT").is_some() {
        crate::log_line!("docmill worker: boot failure injected by DOCMILL_FAULT_BOOT");
        return EXIT_BOOT_FAILED;
    }
    let pid = std::process::id();
    // One line per panic, without a backtrace: a panic in a parser is an
    // expected event (it becomes a typed error), not a crash report.
    panic::set_hook(Box::new(move |info| {
        if PANICS_THIS_TASK.fetch_add(1, Ordering::Relaxed) >= PANIC_LINES_PER_TASK {
            return;
        }
        let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        // The name is the client's: written quoted and escaped, and not
        // waited for should the panic be the hook's own lock holder's.
        let document = CURRENT_DOCUMENT.try_lock().map(|name| format!(" on {:?}", name.as_str())).unwrap_or_default();
        crate::log_line!("docmill worker {pid}: parser panicked{location}{document}");
    }));
    let ocr_context = OcrContext {
        recognizer: tesseract.ok().map(|t| t as &dyn Recognizer),
        unavailable: tesseract.err().unwrap_or(""),
        max_pages: config.ocr.max_pages,
    };
    let ready = FromWorker::Ready { pid, cpu_micros: cpu_micros(), ocr: ocr::status(tesseract) };
    let ready = protocol::encode_response(&ready);
    if protocol::write_frame(&mut responses, &ready).is_err() {
        return EXIT_BOOT_FAILED;
    }
    let max_frame = config.max_document_bytes.saturating_add(REQUEST_FRAME_SLACK);
    // What the worker held after its last task: the yardstick for whether a
    // task grew it enough to trim the heap afterwards.
    let mut settled_rss_bytes = kib_field(&proc_files.status(), "VmRSS:").unwrap_or(0) * 1024;
    let mut trim_pending = TrimAfter::Never;
    loop {
        // Trimmed here, once the answer is out (its client does not wait for
        // the trim) and the last task's frames, document and report are
        // dropped, so all of what the task freed goes back; a moderate
        // growth only once no request came for a while. A ping does not
        // cancel a pending trim; the next task's growth, measured from the
        // same settled size, decides anew.
        let trim_now = match trim_pending {
            TrimAfter::Never => false,
            TrimAfter::AtOnce => true,
            TrimAfter::Idle => !heap::readable_within(requests.as_fd(), heap::TRIM_WHEN_IDLE_AFTER),
        };
        if trim_now {
            heap::trim();
            trim_pending = TrimAfter::Never;
            settled_rss_bytes = kib_field(&proc_files.status(), "VmRSS:").unwrap_or(0) * 1024;
        }
        let received = match handoff::recv_frame(requests.as_fd(), max_frame) {
            Ok(Some(received)) => received,
            Ok(None) => return 0,
            Err(err) => {
                crate::log_line!("docmill worker {pid}: bad request frame: {err}");
                return EXIT_PROTOCOL;
            }
        };
        let request = match protocol::decode_request(&received.body) {
            Ok(ToWorker::Analyze(request)) => request,
            Ok(ToWorker::Ping { nonce }) => {
                if let Err(err) = check_descriptors(&received, 0) {
                    crate::log_line!("docmill worker {pid}: bad ping frame: {err}");
                    return EXIT_BAD_DESCRIPTOR;
                }
                let pong = protocol::encode_response(&FromWorker::Pong { nonce, cpu_micros: cpu_micros() });
                if responses.write_all(&pong).is_err() {
                    return 0;
                }
                continue;
            }
            Err(err) => {
                crate::log_line!("docmill worker {pid}: bad request frame: {err}");
                return EXIT_PROTOCOL;
            }
        };
        let mut mapped: Option<Mapped> = None;
        let document: &[u8] = match request.document {
            DocumentBody::Inline(bytes) => match check_descriptors(&received, 0) {
                Ok(()) => bytes,
                Err(err) => {
                    crate::log_line!("docmill worker {pid}: bad request frame: {err}");
                    return EXIT_BAD_DESCRIPTOR;
                }
            },
            DocumentBody::Attached(attached) => {
                let checked = check_descriptors(&received, 1)
                    .and_then(|()| handoff::map(&received.fds[0], &attached, config.max_document_bytes));
                match checked {
                    Ok(map) => mapped = Some(map),
                    Err(err) => {
                        crate::log_line!("docmill worker {pid}: bad document descriptor: {err}");
                        return EXIT_BAD_DESCRIPTOR;
                    }
                }
                mapped.as_ref().map_or(&[], Mapped::bytes)
            }
        };
        // Reset the peak-RSS high-water mark so the peak below is this task's.
        let meter = proc_files.start_task();
        set_current_document(request.filename);
        let started = Instant::now();
        let input = Input {
            filename: request.filename,
            declared_type: request.declared_type,
            sha256: request.digest.for_engine(),
            bytes: document,
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            #[cfg(feature = "fault-injection")]
            crate::fault::inject(document, &mut responses);
            let mut options = request.options;
            options.ocr.get_or_insert(config.ocr.mode);
            options.ocr_languages.get_or_insert(config.ocr.languages);
            engine::analyze_with(&input, &options, ocr_context)
        }));
        let analysis_ms = started.elapsed().as_millis() as u64;
        let panics = PANICS_THIS_TASK.swap(0, Ordering::Relaxed);
        if panics > PANIC_LINES_PER_TASK {
            crate::log_line!(
                "docmill worker {pid}: {} more parser panics in that document",
                panics - PANIC_LINES_PER_TASK
            );
        }
        let TaskUsage { cpu_after, cpu_ms, peak_rss_bytes, rss_bytes } = proc_files.finish_task(meter);
        trim_pending = TrimAfter::for_growth(peak_rss_bytes.saturating_sub(settled_rss_bytes));
        if trim_pending == TrimAfter::Never {
            settled_rss_bytes = rss_bytes;
        }

        let mut recycle = false;
        let outcome = match result {
            Ok(Ok(mut report)) => {
                report.timing.analysis_ms = analysis_ms;
                report.timing.cpu_ms = cpu_ms;
                report.timing.peak_rss_bytes = peak_rss_bytes;
                report.timing.worker_pid = pid;
                encode_report(&mut report)
            }
            Ok(Err(err)) => {
                let code = match err {
                    docmill_engine::AnalyzeError::ParseFailed(_) => ErrorCode::ParseFailed,
                    docmill_engine::AnalyzeError::BadRequest(_) => ErrorCode::BadRequest,
                };
                Outcome::Error { code, message: err.to_string() }
            }
            Err(payload) => {
                recycle = true;
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic payload".into());
                Outcome::Error { code: ErrorCode::ParseFailed, message: format!("the parser panicked: {what}") }
            }
        };
        let response = FromWorker::Done(TaskResult {
            task_id: request.task_id,
            outcome,
            // Private memory is at most the resident set; walking every
            // mapping for the exact figure is only worth it when the resident
            // set alone is over the cap.
            private_bytes: if rss_bytes > config.recycle_private_bytes {
                proc_files.private_bytes()
            } else {
                rss_bytes
            },
            recycle,
            cpu_micros: cpu_after,
        });
        // The mapping and the descriptor go before the answer, so a worker
        // never holds on to a document the server considers done.
        drop(mapped);
        drop(received);
        let frame = protocol::encode_response(&response);
        if responses.write_all(&frame).is_err() {
            return 0;
        }
        if recycle {
            return 0;
        }
    }
}

/// The descriptors of a frame are exactly the `expected` number, and none
/// was dropped by the kernel.
fn check_descriptors(received: &handoff::Received, expected: usize) -> Result<(), HandoffError> {
    if received.truncated {
        return Err(HandoffError::Truncated);
    }
    if received.fds.len() != expected {
        return Err(HandoffError::Descriptors { expected, received: received.fds.len() });
    }
    Ok(())
}

/// Room left in a response frame for everything but the report.
const FRAME_OVERHEAD: usize = 64 << 10;

/// The report as JSON, within a response frame. Text full of characters JSON
/// must escape can grow several times over; then the text is left out with a
/// warning rather than sending a frame the server would refuse.
fn encode_report(report: &mut docmill_engine::report::Report) -> Outcome {
    let limit = protocol::MAX_RESPONSE_FRAME - FRAME_OVERHEAD;
    let mut json = Vec::with_capacity(json_capacity(report).min(limit));
    serde_json::to_writer(&mut json, &*report).expect("a report always serialises");
    // The largest parts go first: the text, then the chunks (a copy of
    // it), then the Markdown.
    let mut dropped: Vec<&str> = Vec::new();
    for field in ["text", "chunks", "markdown"] {
        if json.len() <= limit {
            break;
        }
        let removed = match field {
            "text" => report.text.take().is_some(),
            "chunks" => report.chunks.take().is_some(),
            _ => report.markdown.take().is_some(),
        };
        if removed {
            if !dropped.is_empty() {
                report.warnings.pop();
            }
            dropped.push(field);
            report.warnings.push(format!(
                "{} omitted: with it the report would exceed {} MiB",
                dropped.join(" and "),
                limit >> 20
            ));
            json = serde_json::to_vec(&*report).expect("a report always serialises");
        }
    }
    if json.len() <= limit {
        let Some((filename_end, timing_at)) = protocol::splice_points(&json, &report.filename, &report.timing) else {
            return Outcome::Error {
                code: ErrorCode::ParseFailed,
                message: "the report's JSON is not laid out as the server expects".into(),
            };
        };
        let summary = ReportSummary::of(report);
        // Both below the frame limit, so within u32.
        let (filename_end, timing_at) = (filename_end as u32, timing_at as u32);
        return Outcome::Report(ReportJson { json, filename_end, timing_at, summary });
    }
    Outcome::Error { code: ErrorCode::ParseFailed, message: format!("the report would exceed {} MiB", limit >> 20) }
}

/// Room for a report's JSON: its long strings as they are, and a few KiB
/// for the figures, keywords and entities. (Grown from nothing a doubling at
/// a time, a small document's report took five reallocations.)
fn json_capacity(report: &docmill_engine::report::Report) -> usize {
    let text = report.text.as_ref().map_or(0, String::len);
    let markdown = report.markdown.as_ref().map_or(0, String::len);
    let chunks = report.chunks.as_ref().map_or(0, |chunks| chunks.iter().map(|chunk| chunk.text.len() + 128).sum());
    text + markdown + chunks + (4 << 10)
}

fn cpu_micros() -> u64 {
    Usage::now().cpu_micros
}

fn kib_field(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_opened_once_read_afresh_each_time() {
        let _turn = crate::heap::tests::RESIDENT_SET.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let files = ProcFiles::open().unwrap();
        let before = kib_field(&files.status(), "VmRSS:").unwrap();
        // Every page touched, and kept in sight of the optimiser, so that a
        // release build cannot leave the allocation out.
        let hoard = std::hint::black_box(hoard(64 << 20));
        let after = kib_field(&files.status(), "VmRSS:").unwrap();
        assert!(after >= before + (60 << 10), "VmRSS {before} kB, then {after} kB with 64 MiB more");
        assert!(files.private_bytes() >= 60 << 20, "{}", files.private_bytes());
        drop(hoard);
        files.reset_peak();
        assert!(kib_field(&files.status(), "VmHWM:").unwrap() < after, "the peak was reset");
    }

    /// Touches every page of `bytes` bytes and keeps them.
    fn hoard(bytes: usize) -> Vec<u8> {
        let mut hoard = vec![0u8; bytes];
        for page in hoard.chunks_mut(4096) {
            page[0] = 1;
        }
        std::hint::black_box(hoard)
    }

    #[test]
    fn a_tasks_peak_is_its_own_even_after_a_thread_exited_at_a_higher_one() {
        let _turn = crate::heap::tests::RESIDENT_SET.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let files = ProcFiles::open().unwrap();
        let meter = files.start_task();
        let big = hoard(64 << 20);
        let first = files.finish_task(meter);
        assert!(first.peak_rss_bytes >= first.rss_bytes && first.rss_bytes >= 60 << 20, "{}", first.rss_bytes);
        // A thread exits while 64 MiB are resident: the kernel keeps that
        // peak in ru_maxrss from now on, whatever clear_refs says.
        std::thread::spawn(|| ()).join().unwrap();
        drop(big);
        let meter = files.start_task();
        let small = hoard(1 << 20);
        let second = files.finish_task(meter);
        assert!(second.peak_rss_bytes >= second.rss_bytes, "{} below {}", second.peak_rss_bytes, second.rss_bytes);
        assert!(
            second.peak_rss_bytes + (32 << 20) < first.peak_rss_bytes,
            "{} then {}",
            first.peak_rss_bytes,
            second.peak_rss_bytes
        );
        drop(small);
    }

    #[test]
    fn a_report_whose_escaped_text_overflows_a_frame_drops_the_text() {
        let _turn = crate::heap::tests::RESIDENT_SET.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut report = docmill_engine::report::Report { text: Some("\"".repeat(60 << 20)), ..Default::default() };
        match encode_report(&mut report) {
            Outcome::Report(report) => {
                assert!(report.json.len() < protocol::MAX_RESPONSE_FRAME);
                let value: serde_json::Value = serde_json::from_slice(&report.json).unwrap();
                assert!(value.get("text").is_none());
                assert!(value["warnings"][0].as_str().unwrap().starts_with("text omitted"));
            }
            Outcome::Error { message, .. } => panic!("{message}"),
        }
    }
}
