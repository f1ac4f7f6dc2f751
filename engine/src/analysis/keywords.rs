//! Keywords: RAKE-style phrases between stop words for spaced scripts,
//! character bigrams for Chinese and Japanese.

use super::words::{for_each_piece, is_cjk};
use std::collections::HashMap;
use std::sync::OnceLock;

use crate::report::Keyword;

/// Keywords reported.
pub(super) const MAX_KEYWORDS: usize = 10;

/// Longest keyword phrase, in words.
pub(super) const MAX_PHRASE_WORDS: usize = 3;

/// Languages with stop-word lists, by ISO 639-1 code.
pub(super) const STOPWORD_LANGUAGES: &[&str] = &[
    "af", "ar", "bg", "bn", "ca", "cs", "da", "de", "el", "en", "eo", "es", "et", "fa", "fi", "fr", "he", "hi", "hr",
    "hu", "hy", "id", "it", "ja", "ko", "la", "lt", "lv", "mr", "nb", "nl", "pl", "pt", "ro", "ru", "sk", "sl", "sv",
    "th", "tl", "tr", "uk", "ur", "vi", "zh",
];

pub(super) fn stopwords(code: &str) -> Option<&'static std::collections::HashSet<&'static str>> {
    static TABLES: OnceLock<HashMap<&'static str, std::collections::HashSet<&'static str>>> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        STOPWORD_LANGUAGES
            .iter()
            .filter_map(|code| {
                // Norwegian Bokmål's list is filed under Norwegian.
                let lookup = if *code == "nb" { "no" } else { code };
                stop_words::lookup(lookup).map(|words| (*code, words.iter().copied().collect()))
            })
            .collect()
    });
    tables.get(code)
}

/// Top keywords by a RAKE-style score: text is cut into candidate phrases at
/// stop words and punctuation; a word scores its co-occurrence degree over
/// its frequency, a phrase the sum of its words. Scores are scaled so the
/// best is 1.0; higher is more relevant. Ties break alphabetically.
pub(super) fn keywords(text: &str, language: Option<&str>) -> Vec<Keyword> {
    // Chinese and Japanese have no spaces: frequent character bigrams stand
    // in for words. (Thai, Lao, Khmer and Burmese are cut by a dictionary in
    // `for_each_piece`.)
    if matches!(language, Some("zh" | "ja")) {
        return cjk_keywords(text);
    }
    let stop = language.and_then(stopwords);
    let is_stop = |word: &str| stop.is_some_and(|set| set.contains(word)) || (stop.is_none() && word.len() < 3);
    let mut phrases: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    // Newlines since the last word: a blank line ends a paragraph, and a
    // phrase does not run from one paragraph (or table cell) into the next.
    let mut newlines = 0;
    for_each_piece(text, |piece, is_word| {
        if !is_word {
            newlines += piece.matches('\n').count();
            let boundary = piece.chars().any(|c| !c.is_whitespace() || c == '\t') || newlines > 1;
            if boundary && !current.is_empty() {
                phrases.push(std::mem::take(&mut current));
            }
            return;
        }
        newlines = 0;
        // Underscores mark emphasis in plain-text books (`_Walton_`).
        let word = piece.trim_matches('_').to_lowercase();
        let useless = word.chars().count() < 2 || !word.chars().any(char::is_alphabetic) || is_stop(&word);
        if useless || current.len() == MAX_PHRASE_WORDS {
            if !current.is_empty() {
                phrases.push(std::mem::take(&mut current));
            }
            if useless {
                return;
            }
        }
        current.push(word);
    });
    if !current.is_empty() {
        phrases.push(current);
    }
    let mut frequency: HashMap<&str, f64> = HashMap::new();
    let mut degree: HashMap<&str, f64> = HashMap::new();
    for phrase in &phrases {
        for word in phrase {
            *frequency.entry(word).or_default() += 1.0;
            *degree.entry(word).or_default() += phrase.len() as f64;
        }
    }
    let mut scored: HashMap<String, f64> = HashMap::new();
    let mut seen: HashMap<String, u32> = HashMap::new();
    for phrase in &phrases {
        let joined = phrase.join(" ");
        let score: f64 = phrase.iter().map(|w| degree[w.as_str()] / frequency[w.as_str()]).sum();
        *seen.entry(joined.clone()).or_default() += 1;
        scored.insert(joined, score);
    }
    // A phrase seen once in a long text is noise: prefer repeated phrases.
    let repeated = seen.values().filter(|n| **n > 1).count() >= MAX_KEYWORDS;
    let mut ranked: Vec<(String, f64)> = scored
        .into_iter()
        .filter(|(phrase, _)| !repeated || seen[phrase] > 1)
        .map(|(phrase, score)| {
            let weight = score * (1.0 + (seen[&phrase] as f64).ln());
            (phrase, weight)
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(MAX_KEYWORDS);
    let best = ranked.first().map(|(_, score)| *score).unwrap_or(1.0).max(f64::MIN_POSITIVE);
    ranked.into_iter().map(|(term, score)| Keyword { term, score: (score / best * 1000.0).round() / 1000.0 }).collect()
}

/// Function characters that make bigrams meaningless ("的", "の", ...).
pub(super) const CJK_STOP_CHARS: &str = "的一是了在不和有也这那就都而及与之其或个们上为着以于被把让从对向到这些了吗呢吧啊の にはをがでとも たしてるれかなこそうい。、";

/// Keywords of Chinese or Japanese text: character bigrams inside runs of
/// CJK characters, by frequency, without bigrams holding a function
/// character; scaled so the best is 1.0.
pub(super) fn cjk_keywords(text: &str) -> Vec<Keyword> {
    let mut counts: HashMap<(char, char), u32> = HashMap::new();
    let mut previous: Option<char> = None;
    for c in text.chars() {
        if is_cjk(c) && !CJK_STOP_CHARS.contains(c) {
            if let Some(p) = previous {
                *counts.entry((p, c)).or_default() += 1;
            }
            previous = Some(c);
        } else {
            previous = None;
        }
    }
    let mut ranked: Vec<(String, u32)> =
        counts.into_iter().filter(|(_, n)| *n > 1).map(|((a, b), n)| (format!("{a}{b}"), n)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(MAX_KEYWORDS);
    let best = ranked.first().map(|(_, n)| *n).unwrap_or(1) as f64;
    ranked.into_iter().map(|(term, n)| Keyword { term, score: (n as f64 / best * 1000.0).round() / 1000.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_language_has_stop_words() {
        for code in STOPWORD_LANGUAGES {
            assert!(stopwords(code).is_some_and(|set| set.len() > 10), "no stop words for {code}");
        }
    }
}
