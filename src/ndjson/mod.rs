//! The NDJSON lines of `/v1/batch` and `/v1/jobs/{id}/results`: one line per
//! document, then a summary with the near-duplicates among them.
//!
//! # Layout
//!
//! - this module: the result line and the summary line;
//! - [`near_duplicates`]: grouping copies and near-duplicates in
//!   sub-quadratic time.

mod near_duplicates;

use bytes::Bytes;
use docmill_engine::report::Report;
use serde::ser::{Serialize, Serializer};
use serde_json::json;

use crate::error::ApiError;

pub use near_duplicates::{near_duplicate_groups, SummaryEntry};

/// Reports up to this size have their line made on the runtime thread that
/// got them. Decoding a report and encoding its line take milliseconds a
/// megabyte: a report with the text of a large document would hold that
/// thread, and every probe and upload waiting on it, for a noticeable time,
/// so a larger one is handed to a blocking thread, which costs a wake-up.
pub const RENDER_INLINE_BYTES: usize = 64 << 10;

/// One finished document of a batch or job.
pub struct ResultLine {
    pub index: usize,
    pub filename: String,
    pub result: Result<Report, ApiError>,
}

impl ResultLine {
    /// The NDJSON line of the contract, newline included.
    pub fn to_line(&self) -> Bytes {
        let value = match &self.result {
            Ok(report) => json!({"index": self.index, "filename": self.filename, "report": report}),
            Err(err) => json!({"index": self.index, "filename": self.filename, "error": err.to_json()}),
        };
        let mut line = serde_json::to_vec(&value).expect("a line serialises");
        line.push(b'\n');
        Bytes::from(line)
    }
}

impl SummaryEntry {
    pub fn of(index: usize, report: &Report) -> SummaryEntry {
        let simhash = report.fingerprint.simhash.as_deref().and_then(parse_simhash);
        SummaryEntry { index, sha256: parse_sha256(&report.sha256), simhash }
    }
}

/// A report's `fingerprint.simhash` (16 hex digits) as its 64 bits.
pub fn parse_simhash(hex: &str) -> Option<u64> {
    u64::from_str_radix(hex, 16).ok()
}

/// A report's `sha256` (64 hex digits) as its 32 bytes.
pub fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 32];
    for (at, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[at * 2..at * 2 + 2], 16).ok()?;
    }
    Some(digest)
}

/// The summary line of a batch or a finished job, without its newline. Its
/// size is linear in the documents: a group of k near-duplicates gives k − 1
/// pairs (each member with the group's first) and one group of k indexes.
pub fn summary_line(documents: usize, failed: usize, entries: &[SummaryEntry], elapsed_ms: u64) -> String {
    let groups = near_duplicate_groups(entries);
    let line = SummaryLine {
        summary: Summary {
            documents,
            failed,
            near_duplicates: Pairs(&groups),
            near_duplicate_groups: &groups,
            elapsed_ms,
        },
    };
    serde_json::to_string(&line).expect("a summary serialises")
}

#[derive(serde::Serialize)]
struct SummaryLine<'a> {
    summary: Summary<'a>,
}

#[derive(serde::Serialize)]
struct Summary<'a> {
    documents: usize,
    failed: usize,
    near_duplicates: Pairs<'a>,
    near_duplicate_groups: &'a [Vec<usize>],
    elapsed_ms: u64,
}

/// The pairs of the groups, written as they are read, never collected.
struct Pairs<'a>(&'a [Vec<usize>]);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(near_duplicates::pairs(self.0))
    }
}
