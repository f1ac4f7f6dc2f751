//! Word boundaries in every script: UAX #29 for most, ICU4X's dictionaries for
//! the scripts written without spaces.

use icu_segmenter::options::WordBreakInvariantOptions;
use icu_segmenter::WordSegmenter;
use unicode_segmentation::UnicodeSegmentation;

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
/// Text without dictionary scripts takes unicode-segmentation's word
/// iterator, whose ASCII fast path is twice as quick as classifying every
/// piece.
pub(super) fn for_each_word<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    if text.is_ascii() || !text.chars().any(is_dictionary_script) {
        text.unicode_words().for_each(f);
    } else {
        for_each_piece(text, |piece, is_word| {
            if is_word {
                f(piece)
            }
        });
    }
}

/// Calls `f` with each piece of `text` between word boundaries (UAX #29, as
/// `split_word_bounds`) and whether it is a word (holds a letter or digit).
/// Runs of dictionary scripts are cut by ICU4X's dictionaries instead, where
/// UAX #29 would cut after every letter. Chinese and Japanese keep UAX #29's
/// one word per ideograph, the count word processors give.
pub(super) fn for_each_piece<'a>(text: &'a str, mut f: impl FnMut(&'a str, bool)) {
    fn plain<'a>(text: &'a str, f: &mut impl FnMut(&'a str, bool)) {
        for piece in text.split_word_bounds() {
            f(piece, piece.chars().any(char::is_alphanumeric));
        }
    }
    if text.is_ascii() || !text.chars().any(is_dictionary_script) {
        plain(text, &mut f);
        return;
    }
    let segmenter = WordSegmenter::new_dictionary(WordBreakInvariantOptions::default());
    let mut rest = text;
    while !rest.is_empty() {
        let Some(start) = rest.find(is_dictionary_script) else {
            plain(rest, &mut f);
            break;
        };
        plain(&rest[..start], &mut f);
        let run = &rest[start..];
        let end = run.find(|c: char| !is_dictionary_script(c)).unwrap_or(run.len());
        let (run, after) = run.split_at(end);
        let mut breaks = segmenter.segment_str(run);
        let mut last = 0;
        while let Some(at) = breaks.next() {
            if at > last {
                f(&run[last..at], breaks.is_word_like());
            }
            last = at;
        }
        rest = after;
    }
}

pub(super) fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{3040}'..='\u{30FF}' | '\u{F900}'..='\u{FAFF}')
}
