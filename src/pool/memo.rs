//! What the pool remembers about documents by content: recent reports (a
//! result cache keyed by everything that decides a report: sha256, options
//! and the file name's extension, which decides among text formats; the
//! declared Content-Type never does, so it is not part of the key) and
//! documents that killed
//! workers (a quarantine), so a resubmitted poison document is answered at
//! once with its recorded failure instead of killing a third worker.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use docmill_engine::Options;

use super::error::TaskError;
use super::RawReport;

/// Memory the cache may hold, estimated from the reports' JSON and a fixed
/// allowance per report: enough for tens of thousands of typical reports.
const CACHE_BYTES: usize = 64 << 20;
/// Estimated bookkeeping of a cached report besides its JSON.
const REPORT_OVERHEAD_BYTES: usize = 512;
/// Failed requests after which a document is quarantined. A strike is a
/// request whose worker crashed or timed out and whose second try, on
/// another worker, ended the same way (a first death alone may be a kill
/// from outside); a timeout of a worker that kept a core busy strikes at
/// once.
pub const QUARANTINE_STRIKES: u32 = 2;
/// Documents tracked for strikes; the oldest are forgotten first.
const QUARANTINE_ENTRIES: usize = 10_000;

/// sha256, options, and the file name's extension as
/// `docmill_engine::detect::extension` reads it.
type Key = ([u8; 32], Options, String);

#[derive(Default)]
struct Cache {
    reports: HashMap<Key, (RawReport, usize)>,
    order: VecDeque<Key>,
    bytes: usize,
}

#[derive(Default)]
struct Strikes {
    by_document: HashMap<[u8; 32], (u32, TaskError)>,
    order: VecDeque<[u8; 32]>,
    /// Entries of `by_document` with [`QUARANTINE_STRIKES`] or more.
    quarantined: usize,
}

#[derive(Default)]
pub struct Memo {
    cache: Mutex<Cache>,
    strikes: Mutex<Strikes>,
}

impl Memo {
    pub fn cached(&self, sha256: [u8; 32], options: Options, extension: &str) -> Option<RawReport> {
        let key = (sha256, options, extension.to_owned());
        self.cache.lock().unwrap().reports.get(&key).map(|(report, _)| report.clone())
    }

    pub fn remember(&self, sha256: [u8; 32], options: Options, extension: &str, report: &RawReport) {
        // The extension counts too (twice: the map and the eviction order
        // hold a copy), so that long made-up extensions cannot outgrow the
        // budget.
        let size = REPORT_OVERHEAD_BYTES + report.json_len() + 2 * extension.len();
        if size > CACHE_BYTES / 4 {
            return;
        }
        let mut cache = self.cache.lock().unwrap();
        let key = (sha256, options, extension.to_owned());
        if cache.reports.contains_key(&key) {
            return;
        }
        while cache.bytes + size > CACHE_BYTES {
            let Some(oldest) = cache.order.pop_front() else { break };
            if let Some((_, freed)) = cache.reports.remove(&oldest) {
                cache.bytes -= freed;
            }
        }
        cache.reports.insert(key.clone(), (report.clone(), size));
        cache.order.push_back(key);
        cache.bytes += size;
    }

    /// The recorded failure of a quarantined document.
    pub fn quarantined(&self, sha256: [u8; 32]) -> Option<TaskError> {
        let strikes = self.strikes.lock().unwrap();
        match strikes.by_document.get(&sha256) {
            Some((count, error)) if *count >= QUARANTINE_STRIKES => Some(error.clone()),
            _ => None,
        }
    }

    /// True when some document is quarantined: then every document's
    /// digest is needed before it may go to a worker.
    pub fn any_quarantined(&self) -> bool {
        self.strikes.lock().unwrap().quarantined > 0
    }

    /// Counts a crash or timeout caused by this document.
    pub fn strike(&self, sha256: [u8; 32], error: &TaskError) {
        let mut guard = self.strikes.lock().unwrap();
        let strikes = &mut *guard;
        if !strikes.by_document.contains_key(&sha256) {
            if strikes.order.len() >= QUARANTINE_ENTRIES {
                if let Some(oldest) = strikes.order.pop_front() {
                    if strikes.by_document.remove(&oldest).is_some_and(|(count, _)| count >= QUARANTINE_STRIKES) {
                        strikes.quarantined -= 1;
                    }
                }
            }
            strikes.order.push_back(sha256);
        }
        let entry = strikes.by_document.entry(sha256).or_insert((0, error.clone()));
        entry.0 += 1;
        entry.1 = error.clone();
        if entry.0 == QUARANTINE_STRIKES {
            strikes.quarantined += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_counts_as_quarantined_from_its_last_strike_until_it_is_forgotten() {
        let memo = Memo::default();
        let crashed = TaskError::Crashed("killed by SIGSEGV".into());
        assert!(!memo.any_quarantined());
        memo.strike([1; 32], &crashed);
        assert!(!memo.any_quarantined(), "one strike is not a quarantine");
        for _ in 1..QUARANTINE_STRIKES + 2 {
            memo.strike([1; 32], &crashed);
        }
        assert!(memo.any_quarantined());
        assert!(memo.quarantined([1; 32]).is_some());
        // Strikes against other documents push the first one out.
        for i in 0..QUARANTINE_ENTRIES as u32 {
            let mut other = [0u8; 32];
            other[..4].copy_from_slice(&i.to_le_bytes());
            other[31] = 2;
            memo.strike(other, &crashed);
        }
        assert!(memo.quarantined([1; 32]).is_none());
        assert!(!memo.any_quarantined(), "the only quarantined document was forgotten");
    }
}
