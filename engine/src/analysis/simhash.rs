//! The near-duplicate fingerprint: a 64-bit SimHash over word shingles.

use super::words::for_each_word;
use xxhash_rust::xxh3::xxh3_64;

/// Words per SimHash shingle: long enough that reordered boilerplate does
/// not look alike, short enough that one edited word changes few shingles.
pub(super) const SHINGLE_WORDS: usize = 3;

/// SimHash fingerprints at most this many bits apart mark near-duplicates.
/// Calibrated by the tests: a page with a few words changed stays within it;
/// unrelated texts land near 32 bits apart.
pub const NEAR_DUPLICATE_MAX_DISTANCE: u32 = 6;

/// Bits that differ between two fingerprints.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// 64-bit SimHash over lowercase word shingles.
pub(super) fn simhash(text: &str) -> u64 {
    let mut counts = [0i64; 64];
    let mut window: std::collections::VecDeque<String> = std::collections::VecDeque::with_capacity(SHINGLE_WORDS);
    let mut shingle = String::new();
    let add = |hash: u64, counts: &mut [i64; 64]| {
        for (bit, count) in counts.iter_mut().enumerate() {
            if hash >> bit & 1 == 1 {
                *count += 1;
            } else {
                *count -= 1;
            }
        }
    };
    let mut total_words = 0usize;
    for_each_word(text, |word| {
        total_words += 1;
        if window.len() == SHINGLE_WORDS {
            window.pop_front();
        }
        window.push_back(word.to_lowercase());
        if window.len() == SHINGLE_WORDS {
            shingle.clear();
            for (i, w) in window.iter().enumerate() {
                if i > 0 {
                    shingle.push(' ');
                }
                shingle.push_str(w);
            }
            add(xxh3_64(shingle.as_bytes()), &mut counts);
        }
    });
    if total_words < SHINGLE_WORDS {
        for word in window {
            add(xxh3_64(word.as_bytes()), &mut counts);
        }
    }
    counts.iter().enumerate().fold(0u64, |hash, (bit, count)| if *count > 0 { hash | 1 << bit } else { hash })
}
