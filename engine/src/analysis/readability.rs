//! Flesch reading ease and Flesch-Kincaid grade, for English text.

use unicode_segmentation::UnicodeSegmentation;

use crate::report::{Readability, Stats};

/// English syllables by vowel groups, less a silent final "e".
pub(super) fn syllables(word: &str) -> u32 {
    let lower: Vec<u8> = word.bytes().map(|b| b.to_ascii_lowercase()).collect();
    let is_vowel = |b: u8| matches!(b, b'a' | b'e' | b'i' | b'o' | b'u' | b'y');
    let mut count = 0u32;
    let mut previous_vowel = false;
    for &b in &lower {
        let vowel = is_vowel(b);
        if vowel && !previous_vowel {
            count += 1;
        }
        previous_vowel = vowel;
    }
    if lower.ends_with(b"e") && !lower.ends_with(b"le") && count > 1 {
        count -= 1;
    }
    count.max(1)
}

pub(super) fn readability(text: &str, stats: &Stats) -> Option<Readability> {
    if stats.sentences == 0 {
        return None;
    }
    let mut words = 0u64;
    let mut total_syllables = 0u64;
    for word in text.unicode_words().filter(|w| w.chars().all(|c| c.is_ascii_alphabetic() || c == '\'')) {
        words += 1;
        total_syllables += syllables(word) as u64;
    }
    if words == 0 {
        return None;
    }
    let words_per_sentence = words as f64 / stats.sentences as f64;
    let syllables_per_word = total_syllables as f64 / words as f64;
    let round = |x: f64| (x * 100.0).round() / 100.0;
    Some(Readability {
        flesch_reading_ease: round(206.835 - 1.015 * words_per_sentence - 84.6 * syllables_per_word),
        flesch_kincaid_grade: round(0.39 * words_per_sentence + 11.8 * syllables_per_word - 15.59),
    })
}
