//! The wire between the server and a worker: length-prefixed frames whose body
//! is `bincode` 2 (serde mode). This is the only module that knows the encoding,
//! so swapping bincode out touches this file alone.
//!
//! A frame is a little-endian `u32` body length followed by the body. The reader
//! checks the length against a maximum *before* allocating, and every decode is
//! bounded by a bincode limit as well, so a corrupt length prefix or a lying
//! container length cannot make either side allocate without bound.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Bytes of the length prefix in front of every frame.
pub const FRAME_HEADER_LEN: usize = 4;

/// Largest response frame a worker may send. A report carries at most
/// `engine::MAX_TEXT_BYTES` of text plus small fields; anything larger is a
/// garbage frame and the worker is treated as crashed.
pub const MAX_RESPONSE_FRAME: usize = 96 << 20;

/// Per-decode allocation bound handed to bincode, above any legal frame (the
/// request frame carries the document, which the server caps at
/// `--max-upload-bytes`, at most 4 GiB by the `u32` prefix).
const DECODE_LIMIT: usize = u32::MAX as usize;

pub use crate::report_layout::{parse_sha256, parse_simhash, splice_points, TIMING_KEY};

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_little_endian().with_variable_int_encoding().with_limit::<DECODE_LIMIT>()
}

#[derive(Debug)]
pub enum ProtocolError {
    /// The peer closed the channel in the middle of a frame.
    Truncated,
    /// A length prefix above the maximum for this direction.
    TooLarge {
        len: usize,
        max: usize,
    },
    /// The body did not decode.
    Malformed(String),
    Io(io::Error),
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::Truncated => write!(f, "frame cut short by end of stream"),
            ProtocolError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max}")
            }
            ProtocolError::Malformed(why) => write!(f, "malformed frame: {why}"),
            ProtocolError::Io(err) => write!(f, "pipe error: {err}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

pub use docmill_engine::Options;

/// Server → worker: analyse one document.
#[derive(Serialize, Deserialize, Debug)]
pub struct AnalyzeRequest<'a> {
    pub task_id: u64,
    pub filename: &'a str,
    /// The Content-Type the client declared; a hint only, never trusted over
    /// content sniffing.
    pub declared_type: Option<&'a str>,
    pub options: Options,
    /// Who hashes the document for the report's `sha256`.
    pub digest: Digest,
    #[serde(borrow)]
    pub document: DocumentBody<'a>,
}

/// Where the report's `sha256` comes from.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// The worker hashes the document.
    Compute,
    /// Computed by the server while the upload streamed in, so the worker
    /// does not hash the document a second time.
    Given([u8; 32]),
    /// The server hashes the document while the worker analyses it: the
    /// worker writes [`DEFERRED_DIGEST`] in the report's `sha256`, and the
    /// server writes the real digest over it.
    Deferred,
}

/// What a worker writes as a report's `sha256` (64 zeros in hex) when the
/// digest is [`Digest::Deferred`].
pub const DEFERRED_DIGEST: [u8; 32] = [0; 32];

impl Digest {
    /// What the engine is given as the document's digest.
    pub fn for_engine(self) -> Option<[u8; 32]> {
        match self {
            Digest::Compute => None,
            Digest::Given(digest) => Some(digest),
            Digest::Deferred => Some(DEFERRED_DIGEST),
        }
    }
}

/// Where the document of an [`AnalyzeRequest`] is.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentBody<'a> {
    /// In the frame itself: small documents, for which a descriptor costs
    /// more than the copy.
    Inline(#[serde(with = "serde_bytes")] &'a [u8]),
    /// In the one descriptor sent with the frame (`SCM_RIGHTS`), which the
    /// worker maps read-only.
    Attached(Attached),
}

/// A document handed over as a descriptor: what it must be, checked by the
/// worker with `fstat` and `fcntl` before it maps it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attached {
    /// Its size in bytes; `fstat` must agree.
    pub len: u64,
    pub kind: AttachedKind,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachedKind {
    /// An in-memory spool copied into a `memfd` sealed against writing,
    /// shrinking and growing.
    SealedMemfd,
    /// The server's spool file, opened read-only; the server never
    /// truncates it while the task runs.
    SpoolFile,
}

/// Server → worker: one frame each.
#[derive(Serialize, Deserialize, Debug)]
// One value per frame, encoded or decoded and dropped at once: boxing the
// request (its options hold an inline page selection) would only add an
// allocation per task.
#[allow(clippy::large_enum_variant)]
pub enum ToWorker<'a> {
    #[serde(borrow)]
    Analyze(AnalyzeRequest<'a>),
    /// Are you alive? Sent to idle workers; answered with
    /// [`FromWorker::Pong`] carrying the same `nonce`.
    Ping { nonce: u64 },
}

/// The typed failures a worker reports for one document.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The document could not be parsed (including an engine panic).
    ParseFailed,
    /// The options do not fit the document (a page range beyond its end).
    BadRequest,
}

/// Worker → server.
#[derive(Serialize, Deserialize, Debug)]
pub enum FromWorker {
    /// Sent once after boot (and confinement), before the first request is
    /// read. `cpu_micros` here and below is the worker's CPU time so far, so
    /// the server can tell a worker that ran out of time from one that was
    /// stopped or starved.
    /// `ocr` is what OCR it loaded, for `/v1/pool`.
    Ready { pid: u32, cpu_micros: u64, ocr: OcrStatus },
    /// The answer to one [`AnalyzeRequest`].
    Done(TaskResult),
    /// The answer to a [`ToWorker::Ping`].
    Pong { nonce: u64, cpu_micros: u64 },
}

/// What OCR a worker loaded at boot, for `/v1/pool`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct OcrStatus {
    /// `tesseract 5.3.0`, or `None` when OCR is unavailable.
    pub engine: Option<String>,
    /// Installed languages (traineddata), sorted.
    pub languages: Vec<String>,
    /// Language sets loaded at start (`ocr_lang=` values read without a
    /// warning; a set of loaded single languages is read too).
    pub loaded: Vec<String>,
    /// Why OCR is unavailable (the loader's error), when it is.
    pub unavailable: Option<String>,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct TaskResult {
    pub task_id: u64,
    pub outcome: Outcome,
    /// The worker's private (not shared copy-on-write) memory after the task.
    pub private_bytes: u64,
    /// The worker wants to be replaced (it caught a panic and its state can
    /// no longer be trusted).
    pub recycle: bool,
    /// The worker's CPU time so far, after this task.
    pub cpu_micros: u64,
}

#[derive(Serialize, Deserialize, Debug)]
pub enum Outcome {
    /// The report as JSON (its metadata is free-form JSON, which a
    /// non-self-describing encoding cannot carry as a value), laid out so
    /// the server can answer it without parsing it.
    Report(ReportJson),
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// A report as the worker serialised it, with where the server splices in
/// the fields it owns, and the few figures the server needs itself.
///
/// The JSON opens with `{"filename":<the request's file name>` and ends
/// with `"timing":{...}}` (`cached` is false, so absent): the server copies
/// the bytes in between as they are and writes its own file name (a cache
/// hit's may differ), timing (with `queue_ms`) and `cached`.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ReportJson {
    #[serde(with = "serde_bytes")]
    pub json: Vec<u8>,
    /// Where the file name's value ends: the `,` before `"size"`.
    pub filename_end: u32,
    /// Where `"timing":` starts, after the last `,` of the report.
    pub timing_at: u32,
    pub summary: ReportSummary,
}

/// What the server reads of a report without parsing its JSON: the
/// per-format figures of `/metrics`, the cache's size estimate, the timing
/// it completes, and the fingerprints a batch or job summary groups
/// near-duplicates by.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportSummary {
    pub format: docmill_engine::report::Format,
    pub size: u64,
    pub timing: docmill_engine::report::Timing,
    /// The report's `sha256` as its 32 bytes (the placeholder when the
    /// digest is [`Digest::Deferred`]); `None` if it is not 64 hex digits.
    pub sha256: Option<[u8; 32]>,
    /// The report's `fingerprint.simhash` as its 64 bits.
    pub simhash: Option<u64>,
}

impl ReportSummary {
    pub fn of(report: &docmill_engine::report::Report) -> ReportSummary {
        ReportSummary {
            format: report.format,
            size: report.size,
            timing: report.timing,
            sha256: parse_sha256(&report.sha256),
            simhash: report.fingerprint.simhash.as_deref().and_then(parse_simhash),
        }
    }
}

/// Largest control message between the server and the supervisor. Control
/// messages are small fixed-shape records; anything larger is a bug.
pub const MAX_CONTROL_MESSAGE: usize = 4096;

/// Server → supervisor, one datagram each.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum ToSupervisor {
    /// SIGKILL this worker if it is still alive (timeout, cancel, recycle).
    Kill { worker_id: u64 },
    /// Kill every worker, stop forking and exit.
    Shutdown,
}

/// Supervisor → server, one datagram each.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum FromSupervisor {
    /// A worker was forked. The datagram carries two descriptors as
    /// `SCM_RIGHTS`: the server's end of its request socket (a Unix stream
    /// socket, so a request can carry the document's descriptor), then the
    /// read end of its response pipe.
    Spawned { worker_id: u64, pid: i32 },
    /// A worker was reaped. `signal` is set when a signal killed it, `code`
    /// when it exited.
    Exited { worker_id: u64, pid: i32, code: Option<i32>, signal: Option<i32> },
    /// Workers keep failing at boot; the supervisor waits before the next fork.
    BootFailing { consecutive: u32, retry_in_ms: u64 },
}

pub fn encode_control<T: Serialize>(message: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(message, config()).expect("encoding into a Vec cannot fail")
}

pub fn decode_control<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ProtocolError> {
    if bytes.len() > MAX_CONTROL_MESSAGE {
        return Err(ProtocolError::TooLarge { len: bytes.len(), max: MAX_CONTROL_MESSAGE });
    }
    let (message, _) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|err| ProtocolError::Malformed(err.to_string()))?;
    Ok(message)
}

/// Room in a frame for everything but its few variable-length fields.
const FRAME_FIELDS_ROOM: usize = 256;

/// `value` as a frame, in a buffer allocated once: `capacity` is the size
/// of its variable-length fields (grown a doubling at a time, a 1 KiB
/// document's frame took nine reallocations).
fn encode_frame<T: Serialize>(value: &T, capacity: usize) -> Vec<u8> {
    let mut frame = Vec::with_capacity(FRAME_HEADER_LEN + FRAME_FIELDS_ROOM + capacity);
    frame.resize(FRAME_HEADER_LEN, 0);
    bincode::serde::encode_into_std_write(value, &mut frame, config()).expect("encoding into a Vec cannot fail");
    let body_len = u32::try_from(frame.len() - FRAME_HEADER_LEN).expect("frame above 4 GiB");
    frame[..FRAME_HEADER_LEN].copy_from_slice(&body_len.to_le_bytes());
    frame
}

pub fn encode_request(request: &ToWorker<'_>) -> Vec<u8> {
    let capacity = match request {
        ToWorker::Analyze(request) => {
            let inline = match request.document {
                DocumentBody::Inline(bytes) => bytes.len(),
                DocumentBody::Attached(_) => 0,
            };
            request.filename.len() + request.declared_type.map_or(0, str::len) + inline
        }
        ToWorker::Ping { .. } => 0,
    };
    encode_frame(request, capacity)
}

pub fn encode_response(response: &FromWorker) -> Vec<u8> {
    let capacity = match response {
        FromWorker::Done(TaskResult { outcome: Outcome::Report(report), .. }) => report.json.len(),
        FromWorker::Done(TaskResult { outcome: Outcome::Error { message, .. }, .. }) => message.len(),
        FromWorker::Ready { .. } | FromWorker::Pong { .. } => FRAME_FIELDS_ROOM,
    };
    encode_frame(response, capacity)
}

/// Decodes a request body; borrows the document bytes from `body`.
pub fn decode_request(body: &[u8]) -> Result<ToWorker<'_>, ProtocolError> {
    let (request, used) = bincode::serde::borrow_decode_from_slice(body, config())
        .map_err(|err| ProtocolError::Malformed(err.to_string()))?;
    if used != body.len() {
        return Err(ProtocolError::Malformed("trailing bytes after request".into()));
    }
    Ok(request)
}

pub fn decode_response(body: &[u8]) -> Result<FromWorker, ProtocolError> {
    let (response, used) =
        bincode::serde::decode_from_slice(body, config()).map_err(|err| ProtocolError::Malformed(err.to_string()))?;
    if used != body.len() {
        return Err(ProtocolError::Malformed("trailing bytes after response".into()));
    }
    Ok(response)
}

/// The body length announced by a frame header, checked against `max`.
pub fn body_len(header: [u8; FRAME_HEADER_LEN], max: usize) -> Result<usize, ProtocolError> {
    let len = u32::from_le_bytes(header) as usize;
    if len > max {
        return Err(ProtocolError::TooLarge { len, max });
    }
    Ok(len)
}

/// Reads one frame body from a blocking reader. `Ok(None)` is a clean end of
/// stream at a frame boundary; a stream that ends inside a frame is
/// [`ProtocolError::Truncated`].
pub fn read_frame(reader: &mut impl Read, max: usize) -> Result<Option<Vec<u8>>, ProtocolError> {
    let mut header = [0u8; FRAME_HEADER_LEN];
    let mut filled = 0;
    while filled < FRAME_HEADER_LEN {
        match reader.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(ProtocolError::Truncated),
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(ProtocolError::Io(err)),
        }
    }
    let len = body_len(header, max)?;
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).map_err(|err| match err.kind() {
        io::ErrorKind::UnexpectedEof => ProtocolError::Truncated,
        _ => ProtocolError::Io(err),
    })?;
    Ok(Some(body))
}

/// Writes one already-encoded frame to a blocking writer.
pub fn write_frame(writer: &mut impl Write, frame: &[u8]) -> io::Result<()> {
    writer.write_all(frame)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_borrows_the_document() {
        let document = vec![7u8; 1 << 20];
        let frame = encode_request(&ToWorker::Analyze(AnalyzeRequest {
            task_id: 42,
            filename: "a.txt",
            declared_type: Some("text/plain"),
            options: Options { include_text: true, ..Options::default() },
            digest: Digest::Compute,
            document: DocumentBody::Inline(&document),
        }));
        // Raw bytes, not a sequence of varints: the frame is barely larger
        // than the document.
        assert!(frame.len() < document.len() + 64);
        let body = read_frame(&mut &frame[..], frame.len()).unwrap().unwrap();
        let ToWorker::Analyze(request) = decode_request(&body).unwrap() else { panic!("not a request") };
        assert_eq!(request.task_id, 42);
        assert_eq!(request.filename, "a.txt");
        assert_eq!(request.declared_type, Some("text/plain"));
        assert!(request.options.include_text);
        assert_eq!(request.document, DocumentBody::Inline(&document[..]));
    }

    #[test]
    fn a_reports_summary_carries_its_digest_and_simhash_through_a_frame() {
        let analyze = |bytes: &[u8], sha256| {
            let input = docmill_engine::Input { filename: "a.txt", declared_type: None, sha256, bytes };
            docmill_engine::analyze(&input, &Options::default()).unwrap()
        };
        let report = analyze(b"abc", None);
        let summary = ReportSummary::of(&report);
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(summary.sha256, parse_sha256(abc));
        assert_eq!(summary.sha256.unwrap()[..2], [0xba, 0x78]);
        let simhash = report.fingerprint.simhash.as_deref().unwrap();
        assert_eq!(summary.simhash.map(|bits| format!("{bits:016x}")).as_deref(), Some(simhash));

        let json = serde_json::to_vec(&report).unwrap();
        let (filename_end, timing_at) = splice_points(&json, "a.txt", &report.timing).unwrap();
        let done = FromWorker::Done(TaskResult {
            task_id: 3,
            outcome: Outcome::Report(ReportJson {
                json,
                filename_end: filename_end as u32,
                timing_at: timing_at as u32,
                summary,
            }),
            private_bytes: 0,
            recycle: false,
            cpu_micros: 0,
        });
        let frame = encode_response(&done);
        let body = read_frame(&mut &frame[..], frame.len()).unwrap().unwrap();
        let FromWorker::Done(TaskResult { outcome: Outcome::Report(decoded), .. }) = decode_response(&body).unwrap()
        else {
            panic!("not a report");
        };
        assert_eq!(decoded.summary, summary);

        // A deferred digest is the placeholder until the server writes it;
        // a document without text has no SimHash.
        let empty = ReportSummary::of(&analyze(b"", Digest::Deferred.for_engine()));
        assert_eq!((empty.sha256, empty.simhash), (Some(DEFERRED_DIGEST), None));
        assert_eq!(parse_sha256(&"g".repeat(64)), None);
        assert_eq!(parse_sha256(&abc[..62]), None);
    }

    #[test]
    fn ping_and_pong_round_trip() {
        let frame = encode_request(&ToWorker::Ping { nonce: 7 });
        let body = read_frame(&mut &frame[..], frame.len()).unwrap().unwrap();
        assert!(matches!(decode_request(&body).unwrap(), ToWorker::Ping { nonce: 7 }));
        let frame = encode_response(&FromWorker::Pong { nonce: 7, cpu_micros: 123 });
        let body = read_frame(&mut &frame[..], frame.len()).unwrap().unwrap();
        assert!(matches!(decode_response(&body).unwrap(), FromWorker::Pong { nonce: 7, cpu_micros: 123 }));
    }

    #[test]
    fn structure_options_round_trip_and_a_forged_page_selection_is_refused() {
        let options = Options {
            include_text: false,
            markdown: true,
            chunks: Some(docmill_engine::ChunkOptions { size: 512, overlap: 64 }),
            pages: Some(docmill_engine::PageSelection::parse("2-3,7").unwrap()),
            ocr: None,
            ocr_languages: None,
        };
        let request = AnalyzeRequest {
            task_id: 1,
            filename: "a.pdf",
            declared_type: None,
            options,
            digest: Digest::Compute,
            document: DocumentBody::Inline(b""),
        };
        let frame = encode_request(&ToWorker::Analyze(request));
        let ToWorker::Analyze(decoded) = decode_request(&frame[FRAME_HEADER_LEN..]).unwrap() else {
            panic!("not an analysis request");
        };
        assert_eq!(decoded.options, options);
        // The selection's length is its last byte before the (absent) OCR
        // mode and languages, digest and the empty inline document (its
        // variant and length): claim 200 ranges.
        let mut forged = frame[FRAME_HEADER_LEN..].to_vec();
        let len_at = forged.len() - 6;
        assert_eq!(forged[len_at], 2, "the length byte of two ranges");
        forged[len_at] = 200;
        assert!(matches!(decode_request(&forged), Err(ProtocolError::Malformed(_))));
    }

    #[test]
    fn ocr_options_travel_and_a_bad_language_list_is_malformed() {
        let languages = docmill_engine::OcrLanguages::parse("eng+deu").unwrap();
        let options = Options {
            include_text: false,
            ocr: Some(docmill_engine::OcrMode::Off),
            ocr_languages: Some(languages),
            ..Options::default()
        };
        let request = AnalyzeRequest {
            task_id: 1,
            filename: "scan.png",
            declared_type: None,
            options,
            digest: Digest::Compute,
            document: DocumentBody::Inline(b""),
        };
        let frame = encode_request(&ToWorker::Analyze(request));
        let body = read_frame(&mut &frame[..], frame.len()).unwrap().unwrap();
        let ToWorker::Analyze(decoded) = decode_request(&body).unwrap() else {
            panic!("not an analysis request");
        };
        assert_eq!(decoded.options, options);
        // The same frame with the list rewritten to a path is refused.
        let forged: Vec<u8> = body.iter().map(|b| if *b == b'+' { b'/' } else { *b }).collect();
        assert!(matches!(decode_request(&forged), Err(ProtocolError::Malformed(_))));
    }

    #[test]
    fn oversized_length_prefix_is_refused_before_allocating() {
        let header = u32::MAX.to_le_bytes();
        let err = read_frame(&mut &header[..], 1024).unwrap_err();
        assert!(matches!(err, ProtocolError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn frame_cut_short_is_truncated_and_clean_eof_is_none() {
        let frame = encode_response(&FromWorker::Ready { pid: 9, cpu_micros: 0, ocr: OcrStatus::default() });
        assert!(read_frame(&mut &frame[..0], 1024).unwrap().is_none());
        let err = read_frame(&mut &frame[..frame.len() - 1], 1024).unwrap_err();
        assert!(matches!(err, ProtocolError::Truncated), "{err}");
        let err = read_frame(&mut &frame[..2], 1024).unwrap_err();
        assert!(matches!(err, ProtocolError::Truncated), "{err}");
    }

    #[test]
    fn garbage_body_is_malformed_not_a_panic() {
        for garbage in [&b""[..], b"\xff\xff\xff\xff\xff\xff", b"\x01\xfe\xff\xff\xff\xff\x0f"] {
            assert!(decode_response(garbage).is_err());
            assert!(decode_request(garbage).is_err());
        }
    }

    #[test]
    fn lying_container_length_does_not_allocate_it() {
        // A Report outcome whose byte-string length claims ~4 GiB in a tiny body.
        let body = [1u8, 0, 0, 0xfc, 0xff, 0xff, 0xff, 0xf0];
        assert!(decode_response(&body).is_err());
    }
}
