//! Analysis of extracted text: statistics, language, readability, keywords,
//! SimHash fingerprint and entity counts.
//!
//! Statistics, the fingerprint and entities cover the whole text. Language
//! detection and keywords, the costly steps, look at a bounded sample of a
//! long text, and the report says so in its warnings.
//!
//! # Layout
//!
//! - [`words`]: where words are, in every script (UAX #29, dictionaries);
//!   `ascii_words`: UAX #29's boundaries for ASCII text, by byte classes.
//! - `stats`: characters, words, sentences, lines, paragraphs.
//! - `language`: language detection and its confidence; `plain_english`:
//!   English prose told by its stop words, before the trigram detector.
//! - `readability`: Flesch scores for English.
//! - `keywords`: RAKE-style phrases of whole words, stop words by language
//!   or by the text's own evidence.
//! - [`simhash`]: the near-duplicate fingerprint and its distance.
//! - `entities`: e-mail, URL and phone-number counts.

mod ascii_words;
mod entities;
mod keywords;
mod language;
mod more_languages;
mod plain_english;
mod readability;
pub mod simhash;
mod stats;
pub mod words;

use crate::report::{Entities, Keyword, Language, Readability, Stats};

use entities::entities;
use keywords::{keywords, stopwords, STOPWORD_LANGUAGES};
use language::detect_language;
use readability::{readability, readability_of, SyllableCounts};
use simhash::Shingler;
use stats::stats;
use words::{for_each_word, words_are_uax29};

pub use simhash::{hamming, NEAR_DUPLICATE_MAX_DISTANCE};

/// Text given to the language detector: a few pages tell the language as well
/// as a whole book does, at a fraction of the cost.
pub const LANGUAGE_SAMPLE_BYTES: usize = 64 << 10;

/// Text scored for keywords. Keyword statistics stabilise long before this.
pub const KEYWORD_SAMPLE_BYTES: usize = 512 << 10;

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

/// Builds the stop-word tables once, so a fork server shares them.
pub fn warm_up() {
    for code in STOPWORD_LANGUAGES {
        stopwords(code);
    }
    plain_english::warm_up();
    more_languages::warm_up();
}

pub fn analyze_text(text: &str) -> TextAnalysis {
    // One pass over the words feeds the count, the fingerprint's shingles
    // and, where the words are UAX #29's, readability's syllables.
    let uax29 = words_are_uax29(text);
    let mut words = 0u64;
    let mut shingler = Shingler::new();
    let mut syllables = SyllableCounts::default();
    for_each_word(text, |word| {
        words += 1;
        shingler.add(word);
        if uax29 {
            syllables.add(word);
        }
    });
    let mut analysis = TextAnalysis { stats: stats(text, words), entities: entities(text), ..Default::default() };
    if words == 0 {
        return analysis;
    }
    analysis.simhash = Some(shingler.finish());

    let language_sample = prefix(text, LANGUAGE_SAMPLE_BYTES);
    let detected = detect_language(language_sample);
    if language_sample.len() < text.len() {
        analysis.warnings.push(format!(
            "sampled: language detected on the first {} KiB of {} KiB of text",
            LANGUAGE_SAMPLE_BYTES >> 10,
            text.len() >> 10
        ));
    }
    let keyword_sample = prefix(text, KEYWORD_SAMPLE_BYTES);
    if keyword_sample.len() < text.len() {
        analysis.warnings.push(format!(
            "sampled: keywords computed on the first {} KiB of {} KiB of text",
            KEYWORD_SAMPLE_BYTES >> 10,
            text.len() >> 10
        ));
    }
    let code = detected.as_ref().map(|language| language.code.as_str());
    analysis.keywords = keywords(keyword_sample, code);
    if code == Some("en") {
        analysis.readability =
            if uax29 { readability_of(&syllables, &analysis.stats) } else { readability(text, &analysis.stats) };
    }
    analysis.language = detected;
    analysis
}

/// The longest prefix of `text` of at most `max` bytes, cut at a character.
fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}
