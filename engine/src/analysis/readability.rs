//! Flesch reading ease and Flesch-Kincaid grade, for English text.

use unicode_segmentation::UnicodeSegmentation;

use crate::report::{Readability, Stats};

/// English syllables by vowel groups, less a silent final "e".
pub(super) fn syllables(word: &str) -> u32 {
    let is_vowel = |b: u8| matches!(b.to_ascii_lowercase(), b'a' | b'e' | b'i' | b'o' | b'u' | b'y');
    let mut count = 0u32;
    let mut previous_vowel = false;
    for b in word.bytes() {
        let vowel = is_vowel(b);
        if vowel && !previous_vowel {
            count += 1;
        }
        previous_vowel = vowel;
    }
    let lower_end = |suffix: &[u8]| {
        word.len() >= suffix.len() && word.as_bytes()[word.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    if lower_end(b"e") && !lower_end(b"le") && count > 1 {
        count -= 1;
    }
    count.max(1)
}

/// Words and syllables counted for the Flesch scores: words of ASCII
/// letters and apostrophes only, so numbers and foreign words do not skew
/// them.
#[derive(Default)]
pub(super) struct SyllableCounts {
    words: u64,
    syllables: u64,
}

impl SyllableCounts {
    pub(super) fn add(&mut self, word: &str) {
        if word.bytes().all(|b| b.is_ascii_alphabetic() || b == b'\'') {
            self.words += 1;
            self.syllables += syllables(word) as u64;
        }
    }
}

/// The Flesch scores from the words of `text` as `unicode_words` finds them.
pub(super) fn readability(text: &str, stats: &Stats) -> Option<Readability> {
    let mut counts = SyllableCounts::default();
    text.unicode_words().for_each(|word| counts.add(word));
    readability_of(&counts, stats)
}

pub(super) fn readability_of(counts: &SyllableCounts, stats: &Stats) -> Option<Readability> {
    if stats.sentences == 0 || counts.words == 0 {
        return None;
    }
    let (words, total_syllables) = (counts.words, counts.syllables);
    let words_per_sentence = words as f64 / stats.sentences as f64;
    let syllables_per_word = total_syllables as f64 / words as f64;
    let round = |x: f64| (x * 100.0).round() / 100.0;
    Some(Readability {
        flesch_reading_ease: round(206.835 - 1.015 * words_per_sentence - 84.6 * syllables_per_word),
        flesch_kincaid_grade: round(0.39 * words_per_sentence + 11.8 * syllables_per_word - 15.59),
    })
}
