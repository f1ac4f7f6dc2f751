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
    let (characters, sentences) = if text.is_ascii() {
        (text.len() as u64, ascii_sentences(text.as_bytes()))
    } else {
        (text.bytes().filter(|b| (*b as i8) >= -0x40).count() as u64, sentences(text))
    };
    let (lines, paragraphs) = lines_and_paragraphs(text);
    Stats { characters, words, sentences, lines, paragraphs }
}

/// Whitespace as `char::is_whitespace` has it, among ASCII bytes.
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ')
}

/// Sentences: a run holding a letter or digit, ended by a sentence end
/// (runs like "?!" or "..." and closing quotes swallowed) followed by
/// white space or the end, so "3.14" and "e.g.x" stay whole; CJK ends need
/// no space after them.
fn sentences(text: &str) -> u64 {
    let mut sentences = 0u64;
    let mut in_sentence = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() {
            in_sentence = true;
        } else if is_sentence_end(c) && in_sentence {
            while chars.peek().is_some_and(|n| is_sentence_end(*n) || matches!(n, '"' | '\'' | '”' | '’' | ')')) {
                chars.next();
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
    sentences
}

/// [`sentences`] for ASCII text, jumping from event to event: outside a
/// sentence only a letter or digit matters, inside one only `.`, `!` or `?`,
/// found by `memchr3`.
fn ascii_sentences(bytes: &[u8]) -> u64 {
    let mut sentences = 0u64;
    let mut i = 0;
    loop {
        let Some(start) = bytes[i..].iter().position(u8::is_ascii_alphanumeric) else { return sentences };
        i += start + 1;
        loop {
            let Some(end) = memchr::memchr3(b'.', b'!', b'?', &bytes[i..]) else { return sentences + 1 };
            i += end + 1;
            while i < bytes.len() && matches!(bytes[i], b'.' | b'!' | b'?' | b'"' | b'\'' | b')') {
                i += 1;
            }
            if i == bytes.len() || is_ascii_space(bytes[i]) {
                sentences += 1;
                break;
            }
        }
    }
}

/// Lines as `str::lines` counts them, and paragraphs: runs of lines that
/// are not blank (white space only). Lines are found with `memchr`, and a
/// line is mostly known not to be blank from its first byte.
fn lines_and_paragraphs(text: &str) -> (u64, u64) {
    let (mut lines, mut paragraphs) = (0u64, 0u64);
    let mut in_paragraph = false;
    let mut line_of = |line: &str| {
        lines += 1;
        let blank = match line.bytes().find(|b| !is_ascii_space(*b)) {
            None => true,
            Some(b) if b.is_ascii() => false,
            Some(_) => line.trim().is_empty(),
        };
        if blank {
            in_paragraph = false;
        } else if !in_paragraph {
            paragraphs += 1;
            in_paragraph = true;
        }
    };
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
        line_of(&text[start..end]);
        start = end + 1;
    }
    if start < text.len() {
        line_of(&text[start..]);
    }
    (lines, paragraphs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: [&str; 12] = [
        "",
        "One. Two! Three? Four",
        "Pi is 3.14, e.g.x is one word... \"Quoted.\" (Aside.) End",
        "...?! no letters first. Then one.",
        "Trailing dot.",
        "a.\n\nb.\r\n\r\n  \n\tc",
        "\n\n\nx\n",
        "wait.'s it.'\tnext",
        "   ",
        "line\x0b. vertical tab\x0cform feed.",
        "1. 2. 3.",
        "no end at all\n",
    ];

    #[test]
    fn ascii_sentences_match_the_character_rules() {
        for text in SAMPLES {
            assert_eq!(ascii_sentences(text.as_bytes()), sentences(text), "{text:?}");
        }
    }

    #[test]
    fn lines_and_paragraphs_match_str_lines() {
        for text in SAMPLES.iter().copied().chain(["a\n\u{00A0}\nb", "\u{3000}\nx\n\ny"]) {
            let mut paragraphs = 0;
            let mut in_paragraph = false;
            for line in text.lines() {
                if line.trim().is_empty() {
                    in_paragraph = false;
                } else if !in_paragraph {
                    paragraphs += 1;
                    in_paragraph = true;
                }
            }
            assert_eq!(lines_and_paragraphs(text), (text.lines().count() as u64, paragraphs), "{text:?}");
        }
    }
}
