//! Word boundaries in every script: UAX #29 for most, ICU4X's dictionaries for
//! the scripts written without spaces.

use icu_segmenter::options::WordBreakInvariantOptions;
use icu_segmenter::{WordSegmenter, WordSegmenterBorrowed};
use unicode_segmentation::UnicodeSegmentation;

use super::ascii_words::for_each_ascii_piece;

/// Scripts written without spaces between words, whose words only a
/// dictionary finds: Thai, Lao, Burmese, Khmer, Tai Tham and their
/// extensions. Without one, every letter would count as a word.
pub(super) fn is_dictionary_script(c: char) -> bool {
    matches!(c,
        '\u{0E00}'..='\u{0EFF}' // Thai, Lao
        | '\u{1000}'..='\u{109F}' // Myanmar
        | '\u{1780}'..='\u{17FF}' // Khmer
        | '\u{19E0}'..='\u{19FF}' // Khmer symbols
        | '\u{1A20}'..='\u{1AAF}' // Tai Tham
        | '\u{A9E0}'..='\u{A9FF}' // Myanmar extended-B
        | '\u{AA60}'..='\u{AA7F}' // Myanmar extended-A
    )
}

/// Calls `f` with each word of `text`, as [`for_each_piece`] finds them.
/// ASCII text takes the byte-class scanner of [`for_each_ascii_piece`];
/// other text without dictionary scripts unicode-segmentation's word
/// iterator, twice as quick as classifying every piece.
pub(super) fn for_each_word<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    if text.is_ascii() {
        for_each_ascii_piece(text, |piece, is_word| {
            if is_word {
                f(piece)
            }
        });
    } else if words_are_uax29(text) {
        text.unicode_words().for_each(f);
    } else {
        for_each_piece(text, |piece, is_word| {
            if is_word {
                f(piece)
            }
        });
    }
}

/// Whether [`for_each_word`] finds the words of `text` by UAX #29 alone
/// (as `unicode_words`), which it does unless a dictionary script is there.
pub(super) fn words_are_uax29(text: &str) -> bool {
    text.is_ascii() || !text.chars().any(is_dictionary_script)
}

/// Appends `word` lowercased to `out`, as `str::to_lowercase` would write
/// it: ASCII byte by byte, other text by character, and words with a
/// capital sigma (whose lowercase depends on where it stands) by the
/// standard library itself.
pub(super) fn push_lowercase(out: &mut String, word: &str) {
    if word.is_ascii() {
        let start = out.len();
        out.push_str(word);
        out[start..].make_ascii_lowercase();
    } else if word.contains('\u{03A3}') {
        out.push_str(&word.to_lowercase());
    } else {
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
}

/// Bytes of Thai, Lao, Khmer or Burmese text per call that ICU4X's LSTM
/// model may cut again where its dictionary failed. The model finds words
/// the dictionary lacks (โอเพน|ซอร์ส, not โอ|เพ|นซ|อร์|ส) but runs about 27
/// times slower (0.25 MB/s); only runs the dictionary cut into slivers go
/// to it, and no more than this, a few seconds of keywords' text at most.
pub(super) const LSTM_BUDGET_BYTES: usize = 64 << 10;

/// Dictionary pieces of at most this many characters, [`SLIVERS_IN_A_ROW`]
/// of them in a row, mark a run the dictionary could not read.
const SLIVER_CHARS: usize = 2;
const SLIVERS_IN_A_ROW: usize = 3;

/// Calls `f` with each piece of `text` between word boundaries (UAX #29, as
/// `split_word_bounds`) and whether it is a word (holds a letter or digit).
/// Runs of dictionary scripts are cut by ICU4X's dictionaries instead, where
/// UAX #29 would cut after every letter. Chinese and Japanese keep UAX #29's
/// one word per ideograph, the count word processors give.
pub(super) fn for_each_piece<'a>(text: &'a str, f: impl FnMut(&'a str, bool)) {
    segment(text, is_dictionary_script, 0, f);
}

/// Calls `f` with each piece of `text` as [`for_each_piece`] does, except
/// that Chinese and Japanese are cut into dictionary words too (ゴッホ,
/// 共和国), and Thai-family runs the dictionary cut into slivers are cut
/// again by ICU4X's LSTM model (within [`LSTM_BUDGET_BYTES`]), as keywords
/// need.
pub(super) fn for_each_lexical_piece<'a>(text: &'a str, f: impl FnMut(&'a str, bool)) {
    segment(text, |c| is_dictionary_script(c) || is_cj(c), LSTM_BUDGET_BYTES, f);
}

/// UAX #29 pieces, with the runs of characters `in_dictionary_run` accepts
/// cut by ICU4X's dictionaries, and up to `lstm_budget` bytes of the runs
/// the dictionary cut into slivers cut by its LSTM model instead.
fn segment<'a>(
    text: &'a str,
    in_dictionary_run: impl Fn(char) -> bool,
    mut lstm_budget: usize,
    mut f: impl FnMut(&'a str, bool),
) {
    fn plain<'a>(text: &'a str, f: &mut impl FnMut(&'a str, bool)) {
        if text.is_ascii() {
            return for_each_ascii_piece(text, f);
        }
        for piece in text.split_word_bounds() {
            f(piece, piece.chars().any(char::is_alphanumeric));
        }
    }
    fn segment_bounds(segmenter: WordSegmenterBorrowed<'_>, run: &str) -> Vec<(usize, bool)> {
        let mut breaks = segmenter.segment_str(run);
        let mut bounds = Vec::new();
        while let Some(at) = breaks.next() {
            bounds.push((at, breaks.is_word_like()));
        }
        bounds
    }
    if text.is_ascii() || !text.chars().any(&in_dictionary_run) {
        plain(text, &mut f);
        return;
    }
    let dictionary = WordSegmenter::new_dictionary(WordBreakInvariantOptions::default());
    let lstm = WordSegmenter::new_lstm(WordBreakInvariantOptions::default());
    let mut rest = text;
    while !rest.is_empty() {
        let Some(start) = rest.find(&in_dictionary_run) else {
            plain(rest, &mut f);
            break;
        };
        plain(&rest[..start], &mut f);
        let run = &rest[start..];
        let end = run.find(|c: char| !in_dictionary_run(c)).unwrap_or(run.len());
        let (run, after) = run.split_at(end);
        let mut bounds = segment_bounds(dictionary, run);
        if lstm_budget >= run.len() && run.starts_with(is_dictionary_script) && has_slivers(run, &bounds) {
            lstm_budget -= run.len();
            bounds = segment_bounds(lstm, run);
        }
        let mut last = 0;
        let mut word_like = false;
        for (i, &(at, is_word_like)) in bounds.iter().enumerate() {
            word_like |= is_word_like;
            // A break before a vowel sign or tone mark, or one that leaves a
            // consonant alone, splits a syllable: the dictionary lacks the
            // word and cut it in the wrong place. The pieces stay together.
            let next = bounds.get(i + 1).map_or(run.len(), |(next, _)| *next);
            let lone_consonant = next > at
                && run[at..next].chars().eq(run[at..next].chars().take(1))
                && run[at..].starts_with(|c| matches!(c, '\u{0E01}'..='\u{0E2E}'));
            if at > last && !run[at..].starts_with(cannot_begin_word) && !lone_consonant {
                f(&run[last..at], word_like);
                last = at;
                word_like = false;
            }
        }
        rest = after;
    }
}

/// Whether the breaks cut `run` into [`SLIVERS_IN_A_ROW`] pieces of at most
/// [`SLIVER_CHARS`] characters in a row.
fn has_slivers(run: &str, bounds: &[(usize, bool)]) -> bool {
    let mut in_a_row = 0;
    let mut last = 0;
    for &(at, _) in bounds {
        if at > last {
            in_a_row = if run[last..at].chars().count() <= SLIVER_CHARS { in_a_row + 1 } else { 0 };
            if in_a_row >= SLIVERS_IN_A_ROW {
                return true;
            }
            last = at;
        }
    }
    false
}

/// Thai and Lao vowel signs and tone marks that follow a consonant, so
/// that no word begins with one.
fn cannot_begin_word(c: char) -> bool {
    matches!(c,
        '\u{0E30}'..='\u{0E3A}' | '\u{0E45}' | '\u{0E47}'..='\u{0E4E}'
        | '\u{0EB0}'..='\u{0EBC}' | '\u{0EC8}'..='\u{0ECE}'
    )
}

/// Chinese characters and Japanese kana, which ICU4X's dictionary cuts into
/// words: CJK ideographs (and extension A, compatibility ideographs), the
/// iteration mark 々, hiragana, katakana and halfwidth katakana.
pub(super) fn is_cj(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{3005}'
        | '\u{3040}'..='\u{30FF}'
        | '\u{FF66}'..='\u{FF9F}'
    )
}

/// A Chinese character (not kana).
pub(super) fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{F900}'..='\u{FAFF}' | '\u{3005}')
}

pub(super) fn is_hiragana(c: char) -> bool {
    matches!(c, '\u{3041}'..='\u{309F}')
}

pub(super) fn is_hangul(c: char) -> bool {
    matches!(c, '\u{AC00}'..='\u{D7A3}' | '\u{1100}'..='\u{11FF}' | '\u{3130}'..='\u{318F}')
}

pub(super) fn is_thai(c: char) -> bool {
    matches!(c, '\u{0E00}'..='\u{0E7F}')
}
