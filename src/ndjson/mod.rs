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
use serde::ser::{Serialize, Serializer};
use serde_json::json;

use crate::error::ApiError;
use crate::pool::RawReport;

pub use docmill_worker::protocol::{parse_sha256, parse_simhash};
pub use near_duplicates::{near_duplicate_groups, SummaryEntry};

/// One finished document of a batch or job.
pub struct ResultLine {
    pub index: usize,
    pub filename: String,
    pub result: Result<RawReport, ApiError>,
}

impl ResultLine {
    /// The NDJSON line of the contract, newline included, in the pieces it
    /// is written in: a report's line is `{"index":N,"filename":…,"report":`
    /// and the report's head, the worker's bytes (shared, not copied), then
    /// the report's tail and `}`; an error line is one piece and two empty
    /// ones. The keys are in the order the contract's examples give.
    pub fn pieces(&self) -> [Bytes; 3] {
        match &self.result {
            Ok(report) => {
                let mut before = Vec::with_capacity(48 + self.filename.len());
                before.extend_from_slice(b"{\"index\":");
                before.extend_from_slice(self.index.to_string().as_bytes());
                before.extend_from_slice(b",\"filename\":");
                serde_json::to_writer(&mut before, &self.filename).expect("a string serialises");
                before.extend_from_slice(b",\"report\":");
                report.chunks_between(&before, b"}\n")
            }
            Err(err) => {
                let value = json!({"index": self.index, "filename": self.filename, "error": err.to_json()});
                let mut line = serde_json::to_vec(&value).expect("a line serialises");
                line.push(b'\n');
                [Bytes::from(line), Bytes::new(), Bytes::new()]
            }
        }
    }

    /// The line in one piece, newline included.
    pub fn to_line(&self) -> Vec<u8> {
        crate::pool::joined(&self.pieces())
    }
}

impl SummaryEntry {
    /// What the summary needs of a report, from the figures the worker sent
    /// beside its JSON.
    pub fn of(index: usize, report: &RawReport) -> SummaryEntry {
        let summary = report.summary();
        SummaryEntry { index, sha256: summary.sha256, simhash: summary.simhash }
    }
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

#[cfg(test)]
mod tests {
    use docmill_engine::report::Report;
    use docmill_worker::protocol::{self, ReportJson, ReportSummary};

    use super::*;

    /// `bytes` analysed by the engine and sent as a worker sends it, asked
    /// to leave the digest to the server when `deferred`.
    fn raw_report(filename: &str, bytes: &[u8], deferred: bool) -> RawReport {
        let sha256 = deferred.then_some(protocol::DEFERRED_DIGEST);
        let input = docmill_engine::Input { filename, declared_type: None, sha256, bytes };
        let report = docmill_engine::analyze(&input, &docmill_engine::Options::default()).unwrap();
        let json = serde_json::to_vec(&report).unwrap();
        let (filename_end, timing_at) = protocol::splice_points(&json, filename, &report.timing).unwrap();
        let summary = ReportSummary::of(&report);
        let raw = ReportJson { json, filename_end: filename_end as u32, timing_at: timing_at as u32, summary };
        RawReport::from_worker(raw, filename).unwrap()
    }

    /// The line as it was made before lines were spliced: the report decoded,
    /// then encoded again inside the line's object.
    fn decoded_line(index: usize, filename: &str, raw: &RawReport) -> Vec<u8> {
        let report: Report = serde_json::from_slice(&raw.to_json()).unwrap();
        let mut line = serde_json::to_vec(&json!({"index": index, "filename": filename, "report": report})).unwrap();
        line.push(b'\n');
        line
    }

    /// What the summary read of a decoded report.
    fn decoded_entry(index: usize, raw: &RawReport) -> SummaryEntry {
        let report: Report = serde_json::from_slice(&raw.to_json()).unwrap();
        let simhash = report.fingerprint.simhash.as_deref().and_then(parse_simhash);
        SummaryEntry { index, sha256: parse_sha256(&report.sha256), simhash }
    }

    fn spliced_and_decoded_agree(index: usize, filename: &str, raw: RawReport) {
        let line = ResultLine { index, filename: filename.into(), result: Ok(raw) };
        let Ok(raw) = &line.result else { unreachable!() };
        assert_eq!(
            String::from_utf8(line.to_line()).unwrap(),
            String::from_utf8(decoded_line(index, filename, raw)).unwrap()
        );
        let pieces = line.pieces();
        assert_eq!(pieces[1].as_ptr(), raw.chunks()[1].as_ptr(), "the worker's bytes are shared, not copied");
        let made = pieces[0].len() + pieces[2].len();
        assert!(made < 400 + 4 * filename.len(), "only a head and a tail are made: {made} bytes");
        let value: serde_json::Value = serde_json::from_slice(&line.to_line()).unwrap();
        let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["index", "filename", "report"]);
        assert_eq!(SummaryEntry::of(index, raw), decoded_entry(index, raw));
    }

    #[test]
    fn a_spliced_report_line_is_the_decoded_line_byte_for_byte() {
        let prose = "The quiet river runs past the old mill. Its wheel turns all day long. ".repeat(40);
        let name = "a \"quoted\" näme\\.txt";
        let mut raw = raw_report(name, prose.as_bytes(), false);
        raw.set_queue_ms(3);
        assert!(raw.summary().simhash.is_some() && raw.summary().sha256.is_some());
        spliced_and_decoded_agree(7, name, raw.clone());
        // A cache hit answers under another name, with `cached` last.
        spliced_and_decoded_agree(123_456, "other\n.txt", raw.cache_hit("other\n.txt".into()));

        // The server's digest over the worker's placeholder.
        let mut deferred = raw_report(name, prose.as_bytes(), true);
        assert_eq!(deferred.summary().sha256, Some(protocol::DEFERRED_DIGEST));
        let digest = raw.summary().sha256.unwrap();
        deferred.set_deferred_sha256(&digest).unwrap();
        spliced_and_decoded_agree(0, name, deferred.clone());
        spliced_and_decoded_agree(1, "copy.txt", deferred.cache_hit("copy.txt".into()));
        assert_eq!(SummaryEntry::of(0, &deferred), SummaryEntry::of(0, &raw), "the same bytes, the same entry");

        // No text, no SimHash.
        spliced_and_decoded_agree(2, "empty.txt", raw_report("empty.txt", b"", false));
    }

    #[test]
    fn an_error_line_is_one_piece() {
        let err = ApiError::bad_request("no \"such\" thing");
        let line = ResultLine { index: 4, filename: "x.txt".into(), result: Err(err) };
        let [whole, second, third] = line.pieces();
        assert!(second.is_empty() && third.is_empty());
        assert_eq!(line.to_line(), whole);
        let value: serde_json::Value = serde_json::from_slice(&whole).unwrap();
        assert_eq!((value["index"].as_u64(), value["error"]["code"].as_str()), (Some(4), Some("bad_request")));
        assert!(whole.ends_with(b"}\n"));
    }
}
