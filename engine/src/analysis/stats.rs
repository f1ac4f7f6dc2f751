//! Counts over the whole text: characters, sentences, lines, paragraphs,
//! with the word count found by the caller's pass over the words.

use crate::report::Stats;

pub(super) fn is_sentence_end(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '…' | '‼' | '⁇' | '؟' | '।')
}

/// Scripts written without spaces, whose sentence ends need none after them.
pub(super) fn is_cjk_end(c: char) -> bool {
    matches!(c, '。' | '！' | '？')
}

pub(super) fn stats(text: &str, words: u64) -> Stats {
    let mut sentences = 0u64;
    let mut in_sentence = false;
    let mut chars = text.chars().peekable();
    let mut characters = 0u64;
    while let Some(c) = chars.next() {
        characters += 1;
        if c.is_alphanumeric() {
            in_sentence = true;
        } else if is_sentence_end(c) && in_sentence {
            // Swallow runs like "?!" or "...", then require a space, a
            // closing quote or the end, so "3.14" and "e.g.x" stay whole.
            while chars.peek().is_some_and(|n| is_sentence_end(*n) || matches!(n, '"' | '\'' | '”' | '’' | ')')) {
                chars.next();
                characters += 1;
            }
            if is_cjk_end(c) || chars.peek().is_none_or(|n| n.is_whitespace()) {
                sentences += 1;
                in_sentence = false;
            }
        }
    }
    if in_sentence {
        sentences += 1;
    }
    let lines = text.lines().count() as u64;
    let mut paragraphs = 0u64;
    let mut in_paragraph = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            in_paragraph = false;
        } else if !in_paragraph {
            paragraphs += 1;
            in_paragraph = true;
        }
    }
    Stats { characters, words, sentences, lines, paragraphs }
}
