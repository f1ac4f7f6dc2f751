//! The near-duplicate fingerprint: a 64-bit SimHash over word shingles.

use super::words::push_lowercase;
use xxhash_rust::xxh3::xxh3_64;

/// Words per SimHash shingle: long enough that reordered boilerplate does
/// not look alike, short enough that one edited word changes few shingles.
pub(super) const SHINGLE_WORDS: usize = 3;

/// SimHash fingerprints at most this many bits apart mark near-duplicates.
/// Calibrated by the tests: a page with a few words changed stays within it;
/// unrelated texts land near 32 bits apart.
pub const NEAR_DUPLICATE_MAX_DISTANCE: u32 = 6;

/// Hashes added to the byte-wide lanes of [`BitCounts`] before they are
/// flushed into the wide counters: a lane byte holds at most 255.
const LANE_FLUSH_HASHES: u32 = 255;

/// Bits that differ between two fingerprints.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// For each byte value, a `u64` whose byte `k` is bit `k` of the value:
/// adding it to a lane counts eight bits of a hash with one addition.
const SPREAD: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut value = 0;
    while value < 256 {
        let mut bit = 0;
        while bit < 8 {
            if value >> bit & 1 == 1 {
                table[value] |= 1 << (bit * 8);
            }
            bit += 1;
        }
        value += 1;
    }
    table
};

/// How many of the hashes added so far have each of the 64 bits set.
/// Eight lanes of eight byte counters take a hash in eight table additions
/// instead of 64 increments; they are flushed before a byte can overflow.
struct BitCounts {
    lanes: [u64; 8],
    in_lanes: u32,
    ones: [u64; 64],
    hashes: u64,
}

impl BitCounts {
    fn new() -> Self {
        BitCounts { lanes: [0; 8], in_lanes: 0, ones: [0; 64], hashes: 0 }
    }

    fn add(&mut self, hash: u64) {
        for (lane, byte) in self.lanes.iter_mut().zip(hash.to_le_bytes()) {
            *lane += SPREAD[byte as usize];
        }
        self.hashes += 1;
        self.in_lanes += 1;
        if self.in_lanes == LANE_FLUSH_HASHES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        for (byte_index, lane) in self.lanes.iter_mut().enumerate() {
            for (bit, count) in lane.to_le_bytes().into_iter().enumerate() {
                self.ones[byte_index * 8 + bit] += u64::from(count);
            }
            *lane = 0;
        }
        self.in_lanes = 0;
    }

    /// Bit `b` is set when more hashes had it set than not.
    fn fingerprint(mut self) -> u64 {
        self.flush();
        let hashes = self.hashes;
        self.ones
            .iter()
            .enumerate()
            .fold(0u64, |hash, (bit, ones)| if 2 * ones > hashes { hash | 1 << bit } else { hash })
    }
}

/// Bytes of words the shingle buffer keeps behind the current shingle
/// before they are dropped from its front in one move: per word, a shingle
/// then costs an append, not a shift of the whole buffer.
const SHINGLE_BUFFER_SLACK: usize = 4096;

/// Builds the SimHash word by word: lowercase shingles of
/// [`SHINGLE_WORDS`] words joined by a space, each hashed with XXH3. Words
/// are appended to one buffer whose tail is the current shingle, so no word
/// is allocated and none is moved until [`SHINGLE_BUFFER_SLACK`] bytes of
/// older words are dropped at once.
pub(super) struct Shingler {
    counts: BitCounts,
    /// Lowercase words joined by single spaces; the last
    /// [`SHINGLE_WORDS`] of them, from `starts[0]`, are the shingle.
    buffer: String,
    /// Where the last words begin in `buffer`, oldest first.
    starts: [usize; SHINGLE_WORDS],
    words: usize,
}

impl Shingler {
    pub(super) fn new() -> Self {
        Shingler { counts: BitCounts::new(), buffer: String::new(), starts: [0; SHINGLE_WORDS], words: 0 }
    }

    pub(super) fn add(&mut self, word: &str) {
        let held = self.words.min(SHINGLE_WORDS);
        if held == SHINGLE_WORDS {
            // The oldest word leaves the shingle; drop what lies before the
            // next one once enough has piled up.
            let keep_from = self.starts[1];
            if keep_from >= SHINGLE_BUFFER_SLACK {
                self.buffer.drain(..keep_from);
                for start in &mut self.starts {
                    *start = start.saturating_sub(keep_from);
                }
            }
            self.starts.rotate_left(1);
        }
        if held > 0 {
            self.buffer.push(' ');
        }
        self.starts[held.min(SHINGLE_WORDS - 1)] = self.buffer.len();
        push_lowercase(&mut self.buffer, word);
        self.words += 1;
        if self.words >= SHINGLE_WORDS {
            self.counts.add(xxh3_64(&self.buffer.as_bytes()[self.starts[0]..]));
        }
    }

    /// The fingerprint. A text of fewer words than a shingle hashes each
    /// of its words alone.
    pub(super) fn finish(mut self) -> u64 {
        if self.words < SHINGLE_WORDS {
            for i in 0..self.words {
                let end = if i + 1 < self.words { self.starts[i + 1] - 1 } else { self.buffer.len() };
                self.counts.add(xxh3_64(&self.buffer.as_bytes()[self.starts[i]..end]));
            }
        }
        self.counts.fingerprint()
    }
}

/// 64-bit SimHash over lowercase word shingles.
#[cfg(test)]
pub(super) fn simhash(text: &str) -> u64 {
    use super::words::for_each_word;
    let mut shingler = Shingler::new();
    for_each_word(text, |word| shingler.add(word));
    shingler.finish()
}

#[cfg(test)]
mod tests {
    use super::super::words::for_each_word;
    use super::*;

    /// The fingerprint as first written: a counter per bit, one String per word.
    fn simhash_reference(text: &str) -> u64 {
        let mut counts = [0i64; 64];
        let mut window: std::collections::VecDeque<String> = Default::default();
        let add = |hash: u64, counts: &mut [i64; 64]| {
            for (bit, count) in counts.iter_mut().enumerate() {
                *count += if hash >> bit & 1 == 1 { 1 } else { -1 };
            }
        };
        let mut total = 0;
        for_each_word(text, |word| {
            total += 1;
            if window.len() == SHINGLE_WORDS {
                window.pop_front();
            }
            window.push_back(word.to_lowercase());
            if window.len() == SHINGLE_WORDS {
                let shingle = window.iter().map(String::as_str).collect::<Vec<_>>().join(" ");
                add(xxh3_64(shingle.as_bytes()), &mut counts);
            }
        });
        if total < SHINGLE_WORDS {
            for word in window {
                add(xxh3_64(word.as_bytes()), &mut counts);
            }
        }
        counts.iter().enumerate().fold(0, |hash, (bit, count)| if *count > 0 { hash | 1 << bit } else { hash })
    }

    #[test]
    fn fingerprint_matches_the_per_bit_counters() {
        let long = "Ein Haus am See, ΟΔΟΣ Σίσυφος; the quick brown fox 3.14 jumps. ".repeat(300);
        for text in ["", "one", "two words", "Three Words Here", "four words are here", long.as_str()] {
            assert_eq!(simhash(text), simhash_reference(text), "{text:.40}");
        }
    }
}
