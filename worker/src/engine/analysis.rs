//! Analysis of extracted text: statistics, language, readability, keywords,
//! SimHash fingerprint and entity counts.

use unicode_segmentation::UnicodeSegmentation;

use crate::report::{Entities, Keyword, Language, Readability, Stats};

#[derive(Debug, Default, Clone)]
pub struct TextAnalysis {
    pub stats: Stats,
    pub language: Option<Language>,
    pub readability: Option<Readability>,
    pub keywords: Vec<Keyword>,
    pub simhash: Option<u64>,
    pub entities: Entities,
    pub warnings: Vec<String>,
}

pub fn warm_up() {}

pub fn analyze_text(text: &str) -> TextAnalysis {
    // unicode-segmentation 1.13's sentence iterator overflows in `size_hint` on
    // an empty string.
    if text.is_empty() {
        return TextAnalysis::default();
    }
    let stats = Stats {
        characters: text.chars().count() as u64,
        words: text.unicode_words().count() as u64,
        sentences: text.unicode_sentences().filter(|s| s.unicode_words().next().is_some()).count() as u64,
        lines: text.lines().count() as u64,
        paragraphs: text.split("\n\n").filter(|p| !p.trim().is_empty()).count() as u64,
    };
    TextAnalysis { stats, ..Default::default() }
}

/// SimHash fingerprints at most this many bits apart mark near-duplicates.
pub const NEAR_DUPLICATE_MAX_DISTANCE: u32 = 3;

/// Bits that differ between two fingerprints.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}
