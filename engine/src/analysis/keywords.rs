//! Keywords: RAKE-style phrases of whole words between stop words, in every
//! script. Words come from [`for_each_lexical_piece`]: UAX #29 for spaced
//! scripts, ICU4X's dictionaries for Chinese, Japanese, Thai, Lao, Khmer and
//! Burmese. Stop words follow the detected language, or, when none was
//! detected, the text's script and its own function words.

use super::words::{for_each_lexical_piece, is_cj, is_han, is_hangul, is_hiragana, is_thai, push_lowercase};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

// Stop-word lookups and the ranking's counts hash short words by the
// thousand per document: FxHash does so several times faster than the
// standard library's DoS-resistant SipHash, and the keys are the document's
// own words, whose worst case costs one document's analysis, not a server.
use rustc_hash::{FxHashMap, FxHashSet};

use crate::report::Keyword;

/// Keywords reported.
pub(super) const MAX_KEYWORDS: usize = 10;

/// Longest keyword phrase, in words.
pub(super) const MAX_PHRASE_WORDS: usize = 3;

/// Words looked at to find a stop-word list when no language was detected:
/// function words show within the first few sentences.
pub(super) const EVIDENCE_WORDS: usize = 1000;

/// Share of those words a language's stop list must hold to be used. Function
/// words make up a third to a half of running text; a short title or a list
/// of names holds few or none, and then no list is used.
pub(super) const MIN_EVIDENCE_SHARE: f64 = 0.15;

/// Languages with stop-word lists, by ISO 639-1 code.
pub(super) const STOPWORD_LANGUAGES: &[&str] = &[
    "af", "ar", "bg", "bn", "br", "ca", "cs", "da", "de", "el", "en", "eo", "es", "et", "eu", "fa", "fi", "fr", "ga",
    "gl", "ha", "he", "hi", "hr", "hu", "hy", "id", "it", "ja", "ko", "ku", "la", "lt", "lv", "mr", "nb", "nl", "pl",
    "pt", "ro", "ru", "sk", "sl", "so", "sv", "sw", "th", "tl", "tr", "uk", "ur", "vi", "yo", "zh",
];

/// Thai words the stop list holds that also begin nouns (การ-, ความ-, นัก-:
/// "the act of", "the quality of", "one who"): glued to the next word they
/// are part of it, not stop words.
const THAI_NOUN_PREFIXES: [&str; 3] = ["การ", "ความ", "นัก"];

/// Korean endings cut from the end of a word (서울은 → 서울, 수도입니다 →
/// 수도), longest first: the copula and the particles that seldom end a
/// noun themselves.
const KOREAN_ENDINGS: [&str; 17] = [
    "입니다",
    "에서는",
    "으로는",
    "이다",
    "에서",
    "에게",
    "으로",
    "까지",
    "부터",
    "에는",
    "에도",
    "은",
    "는",
    "을",
    "를",
    "의",
    "에",
];

/// Endings of Korean verbs and adjectives: formal (일합니다) and polite
/// (성공이네요, 없지요) endings, and the common forms of 하다 (휴학하고). A
/// word ending so is a predicate, not a keyword.
const KOREAN_PREDICATE_ENDINGS: [&str; 8] = ["니다", "요", "하고", "하는", "하여", "해서", "했다", "한다"];

pub(super) fn stopwords(code: &str) -> Option<&'static FxHashSet<&'static str>> {
    static TABLES: OnceLock<HashMap<&'static str, FxHashSet<&'static str>>> = OnceLock::new();
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

/// Each stop word of every list, with the lists that hold it: bit `i` for
/// `STOPWORD_LANGUAGES[i]`.
pub(super) fn stop_word_lists() -> &'static FxHashMap<&'static str, u64> {
    const _: () = assert!(STOPWORD_LANGUAGES.len() <= 64, "a bit per list");
    static TABLE: OnceLock<FxHashMap<&'static str, u64>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = FxHashMap::<&'static str, u64>::default();
        for (i, code) in STOPWORD_LANGUAGES.iter().enumerate() {
            for word in stopwords(code).into_iter().flatten() {
                *table.entry(word).or_default() |= 1 << i;
            }
        }
        table
    })
}

/// The stop words of each of a set of lists among the first
/// [`EVIDENCE_WORDS`] words of a text.
pub(super) struct StopWordHits {
    /// Words each list holds (lowercased), `tables` order.
    pub hits: Vec<usize>,
    /// Words read. A letter alone, outside the scripts written a syllable
    /// or a morpheme to the character, is a stop word once only, however
    /// often it comes: most lists hold the whole alphabet (a CSV of `m`/`f`
    /// columns read as Spanish, a Danish letter full of `A/S` as German).
    /// Numbers are no list's words, though most lists hold the digits.
    pub words: usize,
}

/// How many of the first [`EVIDENCE_WORDS`] words of `text`, lowercased,
/// each of `tables` (lists of [`STOPWORD_LANGUAGES`], by code) holds: one
/// lookup a word in [`stop_word_lists`].
pub(super) fn stop_word_hits(text: &str, tables: &[(&str, &FxHashSet<&str>)]) -> StopWordHits {
    let lists = stop_word_lists();
    let bits: Vec<u32> = tables
        .iter()
        .map(|(code, _)| {
            let bit = STOPWORD_LANGUAGES.iter().position(|listed| listed == code);
            bit.expect("a table is one of the listed languages'") as u32
        })
        .collect();
    let mut tally = StopWordHits { hits: vec![0; tables.len()], words: 0 };
    let mut lower = String::new();
    let mut letters_seen = FxHashSet::default();
    for_each_lexical_piece(text, |piece, is_word| {
        if !is_word || tally.words >= EVIDENCE_WORDS {
            return;
        }
        let mut chars = piece.chars();
        let letter_alone = match (chars.next(), chars.next()) {
            (Some(c), None) => c.is_alphabetic() && !(is_cj(c) || is_hangul(c) || is_thai(c)),
            _ => false,
        };
        tally.words += 1;
        if piece.bytes().any(|b| b.is_ascii_digit()) || (letter_alone && !letters_seen.insert(piece)) {
            return;
        }
        lower.clear();
        lower.extend(piece.chars().flat_map(char::to_lowercase));
        if let Some(&held_by) = lists.get(lower.as_str()) {
            for (count, bit) in tally.hits.iter_mut().zip(&bits) {
                *count += usize::from(held_by >> bit & 1 == 1);
            }
        }
    });
    tally
}

/// The stop-word list a text of unknown language needs: by script for the
/// scripts one language owns here (Hangul, kana, Thai, Chinese characters
/// alone), otherwise the list holding the largest share of its first words,
/// if that share is at least [`MIN_EVIDENCE_SHARE`].
pub(super) fn stopwords_by_evidence(text: &str) -> Option<&'static FxHashSet<&'static str>> {
    let (mut letters, mut hangul, mut kana, mut han, mut thai) = (0usize, 0usize, 0usize, 0usize, 0usize);
    for c in text.chars().filter(|c| c.is_alphabetic()).take(EVIDENCE_WORDS * 4) {
        letters += 1;
        match c {
            _ if is_hangul(c) => hangul += 1,
            _ if is_han(c) => han += 1,
            _ if is_cj(c) => kana += 1,
            _ if is_thai(c) => thai += 1,
            _ => {}
        }
    }
    let by_script = if hangul * 2 > letters {
        Some("ko")
    } else if kana > 0 && (kana + han) * 2 > letters {
        Some("ja")
    } else if han * 2 > letters {
        Some("zh")
    } else if thai * 2 > letters {
        Some("th")
    } else {
        None
    };
    if let Some(code) = by_script {
        return stopwords(code);
    }
    let tables: Vec<(&str, &FxHashSet<&str>)> = std::iter::once("en")
        .chain(STOPWORD_LANGUAGES.iter().copied().filter(|code| *code != "en"))
        .filter_map(|code| Some((code, stopwords(code)?)))
        .collect();
    let StopWordHits { hits, words } = stop_word_hits(text, &tables);
    // The first of equals wins: English, then alphabetical order.
    let (best, count) = hits.iter().enumerate().fold((0, 0), |best, (i, n)| if *n > best.1 { (i, *n) } else { best });
    (count > 0 && count as f64 >= MIN_EVIDENCE_SHARE * words as f64).then(|| tables[best].1)
}

/// A candidate phrase, as spans of [`Phrases::arena`]: how it reads (words
/// joined by a space, or by nothing in scripts written without spaces) and,
/// within it, its words (for the scores), `words` indexing
/// [`Phrases::words`].
struct Phrase {
    term: Range<u32>,
    words: Range<u32>,
}

/// Cuts text into candidate phrases at stop words, punctuation, tabs and
/// blank lines. The phrases' text is written once, into one buffer, and
/// spans of it stand for phrases and words: no allocation a word.
struct Phrases {
    /// The phrases' terms one after another; the current one is its tail.
    arena: String,
    /// Each phrase word's span of `arena`.
    words: Vec<Range<u32>>,
    done: Vec<Phrase>,
    /// Where the current phrase starts in `arena` and in `words`.
    current: (u32, u32),
    /// Single Chinese characters in a row that are not stop words: a name
    /// the dictionary lacks (埃利奥特) comes out one character at a time,
    /// and is kept whole.
    han_run: String,
    han_run_glued: bool,
    /// A Thai noun prefix waiting to see whether a word follows it.
    thai_prefix: Option<String>,
}

impl Phrases {
    fn new(text_len: usize) -> Phrases {
        // Phrases keep about half of a text's bytes: most of the rest is
        // stop words, spaces and punctuation.
        Phrases {
            arena: String::with_capacity(text_len / 2),
            words: Vec::with_capacity(text_len / 12),
            done: Vec::with_capacity(text_len / 24),
            current: (0, 0),
            han_run: String::new(),
            han_run_glued: false,
            thai_prefix: None,
        }
    }

    fn current_words(&self) -> usize {
        self.words.len() - self.current.1 as usize
    }

    fn end(&mut self) {
        if self.current_words() > 0 {
            let (term, words) = (self.current.0..offset(self.arena.len()), self.current.1..offset(self.words.len()));
            self.done.push(Phrase { term, words });
        }
        self.current = (offset(self.arena.len()), offset(self.words.len()));
    }

    fn push(&mut self, word: &str, glued: bool) {
        // In scripts written without spaces, a space ends a clause.
        let unspaced = |c: Option<char>| c.is_some_and(|c| is_cj(c) || is_thai(c));
        let before = if self.current_words() == 0 { None } else { self.arena.chars().next_back() };
        let after = word.chars().next();
        let spaced_apart = !glued && (unspaced(after) || unspaced(before));
        // Nor does a phrase run from Chinese or Japanese into Latin letters
        // written against them (収入report).
        let script_change = glued && unspaced(before) != unspaced(after);
        if self.current_words() == MAX_PHRASE_WORDS || spaced_apart || script_change {
            self.end();
        }
        if self.current_words() > 0 && !glued {
            self.arena.push(' ');
        }
        let start = offset(self.arena.len());
        self.arena.push_str(word);
        self.words.push(start..offset(self.arena.len()));
    }

    fn flush_han_run(&mut self) {
        match self.han_run.chars().count() {
            0 => {}
            // One character alone is too ambiguous to be a keyword.
            1 => self.end(),
            _ => {
                let run = std::mem::take(&mut self.han_run);
                self.push(&run, self.han_run_glued);
                self.han_run = run;
            }
        }
        self.han_run.clear();
    }

    fn term(&self, phrase: &Phrase) -> &str {
        &self.arena[span(&phrase.term)]
    }

    fn words<'a>(&'a self, phrase: &Phrase) -> impl Iterator<Item = &'a str> + 'a {
        self.words[span(&phrase.words)].iter().map(|word| &self.arena[span(word)])
    }
}

/// A position in [`Phrases`]' buffers: keywords read at most a document's
/// text, which the engine bounds far below 4 GiB.
fn offset(at: usize) -> u32 {
    u32::try_from(at).expect("keyword text is under 4 GiB")
}

fn span(range: &Range<u32>) -> Range<usize> {
    range.start as usize..range.end as usize
}

/// Top keywords by a RAKE-style score: text is cut into candidate phrases at
/// stop words and punctuation; a word scores its co-occurrence degree over
/// its frequency, a phrase the sum of its words. Scores are scaled so the
/// best is 1.0; higher is more relevant. Ties break alphabetically.
pub(super) fn keywords(text: &str, language: Option<&str>) -> Vec<Keyword> {
    let stop = language.and_then(stopwords).or_else(|| stopwords_by_evidence(text));
    let is_stop = |word: &str| {
        stop.is_some_and(|set| {
            set.contains(word)
                // A dictionary word of Chinese function characters (我的,
                // 也不) is a function word too.
                || (word.chars().all(is_han) && word.chars().all(|c| set.contains(c.encode_utf8(&mut [0; 4]) as &str)))
        })
            || (stop.is_none() && word.len() < 3)
            // Words all in hiragana are particles, endings and auxiliaries.
            || word.chars().all(is_hiragana)
    };
    let mut phrases = Phrases::new(text.len());
    // Newlines since the last word: a blank line ends a paragraph, and a
    // phrase does not run from one paragraph (or table cell) into the next.
    let mut newlines = 0;
    // Whether the piece before was a word, with no space between.
    let mut glued = false;
    // The current word, lowercase: one buffer, copied only for the words a
    // phrase keeps.
    let mut word = String::new();
    for_each_lexical_piece(text, |piece, is_word| {
        if !is_word {
            phrases.flush_han_run();
            phrases.thai_prefix = None;
            newlines += piece.matches('\n').count();
            let boundary = piece.chars().any(|c| !c.is_whitespace() || c == '\t') || newlines > 1;
            if boundary {
                phrases.end();
            }
            glued = false;
            return;
        }
        newlines = 0;
        let was_glued = std::mem::replace(&mut glued, true);
        // Underscores mark emphasis in plain-text books (`_Walton_`).
        word.clear();
        push_lowercase(&mut word, piece.trim_matches('_'));
        let mut chars = word.chars();
        let (first, second) = (chars.next().unwrap_or(' '), chars.next());
        if is_han(first) && second.is_none() {
            if is_stop(&word) {
                phrases.flush_han_run();
                phrases.end();
            } else {
                if phrases.han_run.is_empty() {
                    phrases.han_run_glued = was_glued;
                }
                phrases.han_run.push(first);
            }
            return;
        }
        phrases.flush_han_run();
        if is_hangul(first) {
            strip_korean_ending(&mut word);
            if KOREAN_PREDICATE_ENDINGS.iter().any(|ending| word.ends_with(ending)) {
                phrases.end();
                return;
            }
        }
        if let Some(prefix) = phrases.thai_prefix.take() {
            if was_glued && is_thai(first) {
                word.insert_str(0, &prefix);
            }
        }
        let stop_word = is_stop(&word);
        if stop_word && was_glued && THAI_NOUN_PREFIXES.contains(&word.as_str()) {
            phrases.end();
            phrases.thai_prefix = Some(word.clone());
            return;
        }
        let useless = stop_word || word.chars().nth(1).is_none() || !word.chars().any(char::is_alphabetic);
        if useless {
            phrases.end();
            return;
        }
        phrases.push(&word, was_glued);
    });
    phrases.flush_han_run();
    phrases.end();
    rank(&phrases)
}

/// Cuts one of [`KOREAN_ENDINGS`] off the end of a Korean word when at
/// least two syllables remain.
fn strip_korean_ending(word: &mut String) {
    for ending in KOREAN_ENDINGS {
        if let Some(stem) = word.strip_suffix(ending) {
            if stem.chars().count() >= 2 {
                word.truncate(stem.len());
                return;
            }
        }
    }
}

/// RAKE scores of the phrases, the best [`MAX_KEYWORDS`] scaled to 1.0.
fn rank(phrases: &Phrases) -> Vec<Keyword> {
    // Each word's frequency and degree.
    let mut counts: FxHashMap<&str, (f64, f64)> = FxHashMap::default();
    counts.reserve(phrases.words.len() / 2);
    for phrase in &phrases.done {
        let degree = phrase.words.len() as f64;
        for word in phrases.words(phrase) {
            let (frequency, degrees) = counts.entry(word).or_default();
            *frequency += 1.0;
            *degrees += degree;
        }
    }
    // Each phrase's score and how often it was seen.
    let mut scored: FxHashMap<&str, (f64, u32)> = FxHashMap::default();
    scored.reserve(phrases.done.len());
    for phrase in &phrases.done {
        let score: f64 = phrases.words(phrase).map(|word| counts[word].1 / counts[word].0).sum();
        let (best, seen) = scored.entry(phrases.term(phrase)).or_default();
        *best = score;
        *seen += 1;
    }
    // A phrase seen once in a long text is noise: prefer repeated phrases.
    let repeated = scored.values().filter(|(_, seen)| *seen > 1).count() >= MAX_KEYWORDS;
    let mut ranked: Vec<(&str, f64)> = scored
        .into_iter()
        .filter(|(_, (_, seen))| !repeated || *seen > 1)
        .map(|(phrase, (score, seen))| (phrase, score * (1.0 + f64::from(seen).ln())))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked.truncate(MAX_KEYWORDS);
    let best = ranked.first().map(|(_, score)| *score).unwrap_or(1.0).max(f64::MIN_POSITIVE);
    ranked
        .into_iter()
        .map(|(term, score)| Keyword { term: term.to_owned(), score: (score / best * 1000.0).round() / 1000.0 })
        .collect()
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

    #[test]
    fn korean_endings_are_cut_only_when_a_stem_remains() {
        for (word, stem) in
            [("서울은", "서울"), ("한국어를", "한국어"), ("서울에서", "서울"), ("수도입니다", "수도"), ("나는", "나는")]
        {
            let mut word = word.to_owned();
            strip_korean_ending(&mut word);
            assert_eq!(word, stem);
        }
    }
}
