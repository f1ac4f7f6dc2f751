//! A report as the worker wrote it: JSON the server answers without parsing
//! it. The server owns three fields, `filename` (a cache hit answers under
//! the new request's name), `timing.queue_ms` and `cached`; the worker lays
//! its JSON out so that they are at the very start and the very end
//! ([`protocol::splice_points`]), and the server writes them around the
//! worker's bytes, which are shared (reference-counted), never copied, on
//! their way to the client. Paths that need the report as a value (batch
//! lines, jobs, near-duplicate summaries) decode it there.

use bytes::{BufMut, Bytes, BytesMut};
use docmill_engine::report::{Report, Timing};
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
            cached: false,
        })
    }

    /// Bytes of the worker's JSON, what holding this report costs.
    pub fn json_bytes(&self) -> usize {
        self.json.len()
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
        let head = match &self.filename {
            None => self.json.slice(..self.filename_end),
            Some(name) => {
                let mut head = b"{\"filename\":".to_vec();
                serde_json::to_writer(&mut head, name).expect("a string serialises");
                Bytes::from(head)
            }
        };
        let body = self.json.slice(self.filename_end..self.timing_at);
        let mut tail = BytesMut::with_capacity(160);
        tail.put_slice(TIMING_KEY);
        tail.put_slice(&timing_json(&self.summary.timing));
        if self.cached {
            tail.put_slice(b",\"cached\":true");
        }
        tail.put_u8(b'}');
        [head, body, tail.freeze()]
    }

    /// The report's JSON in one piece.
    pub fn to_json(&self) -> Vec<u8> {
        let chunks = self.chunks();
        let mut json = Vec::with_capacity(chunks.iter().map(Bytes::len).sum());
        for chunk in &chunks {
            json.extend_from_slice(chunk);
        }
        json
    }

    /// The report as a value, for the paths that need one.
    pub fn report(&self) -> Result<Report, serde_json::Error> {
        serde_json::from_slice(&self.to_json())
    }
}

fn timing_json(timing: &Timing) -> Vec<u8> {
    serde_json::to_vec(timing).expect("timing serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_engine(filename: &str, bytes: &[u8]) -> (Report, ReportJson) {
        let input = docmill_engine::Input { filename, declared_type: None, sha256: None, bytes };
        let mut report = docmill_engine::analyze(&input, &docmill_engine::Options::default()).unwrap();
        report.timing = Timing { queue_ms: 0, analysis_ms: 12, cpu_ms: 11, peak_rss_bytes: 1 << 20, worker_pid: 42 };
        let json = serde_json::to_vec(&report).unwrap();
        let (filename_end, timing_at) = protocol::splice_points(&json, &report.filename, &report.timing).unwrap();
        let summary = ReportSummary { format: report.format, size: report.size, timing: report.timing };
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
        assert_eq!(answer.report().unwrap().timing, report.timing);

        let hit = answer.cache_hit("ünï\\code\n.txt".into());
        report.filename = "ünï\\code\n.txt".into();
        report.cached = true;
        report.timing.queue_ms = 0;
        assert_eq!(hit.to_json(), serde_json::to_vec(&report).unwrap());
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
