//! A report as the worker wrote it: JSON the server answers without parsing
//! it. The server owns three fields, `filename` (a cache hit answers under
//! the new request's name), `timing.queue_ms` and `cached`; the worker lays
//! its JSON out so that they are at the very start and the very end
//! ([`protocol::splice_points`]), and the server writes them around the
//! worker's bytes, which are shared (reference-counted), never copied, on
//! their way to the client. When the server hashed the document while the
//! worker analysed it, it also writes `sha256`, the field after `size`,
//! over the worker's placeholder. Batch and job lines are spliced the same way
//! ([`RawReport::chunks_between`]), and their summaries read the digest and
//! SimHash from the worker's [`ReportSummary`]: no path decodes the JSON.

use bytes::{BufMut, Bytes, BytesMut};
use docmill_engine::report::Timing;
use docmill_worker::protocol::{self, ReportJson, ReportSummary, TIMING_KEY};

#[derive(Clone, Debug)]
pub struct RawReport {
    /// The worker's JSON, file name and timing as the worker wrote them.
    json: Bytes,
    filename_end: usize,
    timing_at: usize,
    summary: ReportSummary,
    /// The file name to answer under, when it is not the worker's.
    filename: Option<String>,
    /// Where the worker's placeholder `sha256` starts, and the digest in
    /// hex to answer instead.
    sha256: Option<(usize, [u8; 64])>,
    cached: bool,
}

impl RawReport {
    /// Checks where the worker says the server's fields are; `Err` says why
    /// the report cannot be used.
    pub fn from_worker(report: ReportJson, filename: &str) -> Result<RawReport, String> {
        let points = protocol::splice_points(&report.json, filename, &report.summary.timing);
        if points != Some((report.filename_end as usize, report.timing_at as usize)) {
            return Err("its JSON is not laid out as announced".into());
        }
        Ok(RawReport {
            json: Bytes::from(report.json),
            filename_end: report.filename_end as usize,
            timing_at: report.timing_at as usize,
            summary: report.summary,
            filename: None,
            sha256: None,
            cached: false,
        })
    }

    /// Answers with `digest` as the report's `sha256`, in place of the
    /// placeholder ([`protocol::DEFERRED_DIGEST`]) the worker was asked to
    /// write; `Err` when the JSON has no such placeholder there.
    pub fn set_deferred_sha256(&mut self, digest: &[u8; 32]) -> Result<(), String> {
        let at = placeholder_at(&self.json, self.filename_end)
            .filter(|at| at + 64 < self.timing_at)
            .ok_or("has no placeholder digest after its size")?;
        self.sha256 = Some((at, spell(digest)));
        self.summary.sha256 = Some(*digest);
        Ok(())
    }

    pub fn summary(&self) -> &ReportSummary {
        &self.summary
    }

    /// Bytes of the worker's JSON (the cache's size estimate).
    pub fn json_len(&self) -> usize {
        self.json.len()
    }

    pub fn set_queue_ms(&mut self, queue_ms: u64) {
        self.summary.timing.queue_ms = queue_ms;
    }

    /// This report answering another request from the result cache.
    pub fn cache_hit(&self, filename: String) -> RawReport {
        let mut hit = self.clone();
        hit.filename = Some(filename);
        hit.cached = true;
        hit.summary.timing.queue_ms = 0;
        hit
    }

    /// The report's JSON in pieces: the server's head, the worker's bytes
    /// (shared, not copied), the server's tail.
    pub fn chunks(&self) -> [Bytes; 3] {
        self.chunks_between(b"", b"")
    }

    /// [`RawReport::chunks`] with `before` written at the start of the head
    /// and `after` at the end of the tail: a line that holds the report
    /// costs two small buffers whatever the report's size.
    pub fn chunks_between(&self, before: &[u8], after: &[u8]) -> [Bytes; 3] {
        let head = match (before, &self.filename, &self.sha256) {
            ([], None, None) => self.json.slice(..self.filename_end),
            (_, name, sha256) => {
                let mut head = Vec::with_capacity(before.len() + 160);
                head.extend_from_slice(before);
                match name {
                    None => head.extend_from_slice(&self.json[..self.filename_end]),
                    Some(name) => {
                        head.extend_from_slice(b"{\"filename\":");
                        serde_json::to_writer(&mut head, name).expect("a string serialises");
                    }
                }
                if let Some((at, spelled)) = sha256 {
                    head.extend_from_slice(&self.json[self.filename_end..*at]);
                    head.extend_from_slice(spelled);
                }
                Bytes::from(head)
            }
        };
        let body_from = self.sha256.map_or(self.filename_end, |(at, _)| at + 64);
        let body = self.json.slice(body_from..self.timing_at);
        let mut tail = BytesMut::with_capacity(160 + after.len());
        tail.put_slice(TIMING_KEY);
        tail.put_slice(&timing_json(&self.summary.timing));
        if self.cached {
            tail.put_slice(b",\"cached\":true");
        }
        tail.put_u8(b'}');
        tail.put_slice(after);
        [head, body, tail.freeze()]
    }

    /// The report's JSON in one piece.
    pub fn to_json(&self) -> Vec<u8> {
        joined(&self.chunks())
    }
}

/// `pieces` one after another, in one buffer.
pub fn joined(pieces: &[Bytes]) -> Vec<u8> {
    let mut all = Vec::with_capacity(pieces.iter().map(Bytes::len).sum());
    for piece in pieces {
        all.extend_from_slice(piece);
    }
    all
}

/// Where the placeholder digest starts in a report's JSON whose file name
/// ends at `filename_end`: `,"size":N,"sha256":"` then 64 zeros and `"`.
fn placeholder_at(json: &[u8], filename_end: usize) -> Option<usize> {
    let rest = json.get(filename_end..)?.strip_prefix(b",\"size\":")?;
    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    let rest = rest[digits..].strip_prefix(b",\"sha256\":\"")?;
    let at = json.len() - rest.len();
    let placeholder = rest.get(..64)? == spell(&protocol::DEFERRED_DIGEST) && rest.get(64) == Some(&b'"');
    placeholder.then_some(at)
}

/// A digest in lower-case hex, as reports spell it.
fn spell(digest: &[u8; 32]) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut spelled = [0u8; 64];
    for (pair, byte) in spelled.chunks_exact_mut(2).zip(digest) {
        pair.copy_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
    }
    spelled
}

fn timing_json(timing: &Timing) -> Vec<u8> {
    serde_json::to_vec(timing).expect("timing serialises")
}

#[cfg(test)]
mod tests {
    use docmill_engine::report::Report;

    use super::*;

    /// A report of `bytes` as the engine makes it, with a worker's timing,
    /// and as the worker sends it.
    fn from_engine(filename: &str, bytes: &[u8]) -> (Report, ReportJson) {
        let input = docmill_engine::Input { filename, declared_type: None, sha256: None, bytes };
        let mut report = docmill_engine::analyze(&input, &docmill_engine::Options::default()).unwrap();
        report.timing = Timing { queue_ms: 0, analysis_ms: 12, cpu_ms: 11, peak_rss_bytes: 1 << 20, worker_pid: 42 };
        let json = serde_json::to_vec(&report).unwrap();
        let (filename_end, timing_at) = protocol::splice_points(&json, &report.filename, &report.timing).unwrap();
        let summary = ReportSummary::of(&report);
        let raw = ReportJson { json, filename_end: filename_end as u32, timing_at: timing_at as u32, summary };
        (report, raw)
    }

    #[test]
    fn spliced_json_is_the_report_serialised_with_the_servers_fields() {
        let (mut report, raw) = from_engine("a \"quoted\" name.txt", b"Plain words for a plain report. Two sentences.");
        let mut answer = RawReport::from_worker(raw, "a \"quoted\" name.txt").unwrap();
        answer.set_queue_ms(7);
        report.timing.queue_ms = 7;
        assert_eq!(answer.to_json(), serde_json::to_vec(&report).unwrap());
        assert_eq!(serde_json::from_slice::<Report>(&answer.to_json()).unwrap().timing, report.timing);

        let hit = answer.cache_hit("ünï\\code\n.txt".into());
        report.filename = "ünï\\code\n.txt".into();
        report.cached = true;
        report.timing.queue_ms = 0;
        assert_eq!(hit.to_json(), serde_json::to_vec(&report).unwrap());
    }

    #[test]
    fn a_deferred_digest_is_written_over_the_placeholder_and_survives_a_cache_hit() {
        let bytes = b"Words whose digest the server computes. Another sentence.";
        let name = "long \"name\" 12345.txt";
        let input = docmill_engine::Input {
            filename: name,
            declared_type: None,
            sha256: Some(protocol::DEFERRED_DIGEST),
            bytes,
        };
        let placeholder = docmill_engine::analyze(&input, &docmill_engine::Options::default()).unwrap();
        let json = serde_json::to_vec(&placeholder).unwrap();
        let (filename_end, timing_at) = protocol::splice_points(&json, name, &placeholder.timing).unwrap();
        let summary = ReportSummary::of(&placeholder);
        let raw = ReportJson { json, filename_end: filename_end as u32, timing_at: timing_at as u32, summary };
        let (mut expected, _) = from_engine(name, bytes);
        expected.timing = placeholder.timing;

        let mut answer = RawReport::from_worker(raw, name).unwrap();
        let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(bytes).into();
        answer.set_deferred_sha256(&digest).unwrap();
        assert_eq!(answer.to_json(), serde_json::to_vec(&expected).unwrap());
        assert_eq!(serde_json::from_slice::<Report>(&answer.to_json()).unwrap().sha256, expected.sha256);
        assert_eq!(answer.summary().sha256, Some(digest), "the summary's digest is the written one");

        let hit = answer.cache_hit("other.txt".into());
        expected.filename = "other.txt".into();
        expected.cached = true;
        assert_eq!(hit.to_json(), serde_json::to_vec(&expected).unwrap());

        // A report with a real digest has no placeholder to write over.
        let (_, with_digest) = from_engine(name, bytes);
        let mut answer = RawReport::from_worker(with_digest, name).unwrap();
        assert!(answer.set_deferred_sha256(&digest).is_err());
    }

    #[test]
    fn offsets_that_do_not_match_the_json_are_refused() {
        let (_, raw) = from_engine("a.txt", b"Some words.");
        assert!(RawReport::from_worker(raw.clone(), "b.txt").is_err(), "another file name");
        let mut shifted = raw.clone();
        shifted.timing_at -= 1;
        assert!(RawReport::from_worker(shifted, "a.txt").is_err());
        let mut shifted = raw.clone();
        shifted.filename_end += 1;
        assert!(RawReport::from_worker(shifted, "a.txt").is_err());
        let mut other_timing = raw.clone();
        other_timing.summary.timing.analysis_ms += 1;
        assert!(RawReport::from_worker(other_timing, "a.txt").is_err(), "a summary that is not the JSON's");
        let mut cut = raw;
        cut.json.truncate(cut.json.len() - 1);
        assert!(RawReport::from_worker(cut, "a.txt").is_err());
    }
}
