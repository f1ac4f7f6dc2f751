//! The NDJSON lines of `/v1/batch` and `/v1/jobs/{id}/results`: one line per
//! document, then a summary with the near-duplicates among them.

use std::time::Instant;

use bytes::Bytes;
use docmill_engine::analysis::{hamming, NEAR_DUPLICATE_MAX_DISTANCE};
use docmill_engine::report::Report;
use serde_json::json;

use crate::error::ApiError;

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

/// What the summary needs from each successful document.
pub struct SummaryEntry {
    pub index: usize,
    pub sha256: String,
    pub simhash: Option<u64>,
}

impl SummaryEntry {
    pub fn of(index: usize, report: &Report) -> SummaryEntry {
        let simhash = report.fingerprint.simhash.as_deref().and_then(|hex| u64::from_str_radix(hex, 16).ok());
        SummaryEntry { index, sha256: report.sha256.clone(), simhash }
    }
}

/// Index pairs `[i, j]` (i < j) of documents with the same bytes or SimHash
/// fingerprints within [`NEAR_DUPLICATE_MAX_DISTANCE`] bits.
pub fn near_duplicates(fingerprints: &mut [SummaryEntry]) -> Vec<[usize; 2]> {
    fingerprints.sort_by_key(|f| f.index);
    let mut pairs = Vec::new();
    for (at, a) in fingerprints.iter().enumerate() {
        for b in &fingerprints[at + 1..] {
            let similar = match (a.simhash, b.simhash) {
                (Some(x), Some(y)) => hamming(x, y) <= NEAR_DUPLICATE_MAX_DISTANCE,
                _ => false,
            };
            if similar || a.sha256 == b.sha256 {
                pairs.push([a.index, b.index]);
            }
        }
    }
    pairs
}

pub fn summary_line(documents: usize, failed: usize, fingerprints: &mut [SummaryEntry], started: Instant) -> Bytes {
    let summary = json!({"summary": {
        "documents": documents,
        "failed": failed,
        "near_duplicates": near_duplicates(fingerprints),
        "elapsed_ms": started.elapsed().as_millis() as u64,
    }});
    let mut line = serde_json::to_vec(&summary).expect("a summary serialises");
    line.push(b'\n');
    Bytes::from(line)
}

/// The summary line of a job's stored result lines.
pub fn summary_from_lines(lines: &[String], elapsed_ms: u64) -> String {
    let mut fingerprints = Vec::new();
    let mut failed = 0;
    for line in lines {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let index = value["index"].as_u64().unwrap_or(0) as usize;
        match value.get("report") {
            Some(report) => fingerprints.push(SummaryEntry {
                index,
                sha256: report["sha256"].as_str().unwrap_or_default().to_owned(),
                simhash: report["fingerprint"]["simhash"].as_str().and_then(|hex| u64::from_str_radix(hex, 16).ok()),
            }),
            None => failed += 1,
        }
    }
    let summary = json!({"summary": {
        "documents": lines.len(),
        "failed": failed,
        "near_duplicates": near_duplicates(&mut fingerprints),
        "elapsed_ms": elapsed_ms,
    }});
    format!("{summary}\n")
}
