//! Where the block model's headings are in the plain text. Extractors build
//! the text and the blocks side by side; a heading is a line of the text of
//! its own (every extractor ends a heading's line), so each heading is found
//! as the first line at or after the previous one that has the same words.
//! A heading whose line is not found (it was cut off, or split over lines)
//! is left out: its section then joins the one before, which is safe.

use std::collections::HashMap;

use xxhash_rust::xxh3::xxh3_64;

use super::chunk::HeadingSpan;
use super::{plain, Block};

/// Most headings placed in the text. A document with more is a table of
/// contents or generated; chunks still break at paragraphs after it.
pub const MAX_HEADINGS: usize = 100_000;

/// The headings of `blocks` found in `text`, in order, as byte spans.
pub fn headings(text: &str, blocks: &[Block]) -> Vec<HeadingSpan> {
    let wanted: Vec<(u8, String)> = blocks
        .iter()
        .filter_map(|block| match block {
            Block::Heading { level, content } => {
                let words = normalised(&plain(content));
                (!words.is_empty()).then_some((*level, words))
            }
            _ => None,
        })
        .take(MAX_HEADINGS)
        .collect();
    if wanted.is_empty() {
        return Vec::new();
    }
    // Lines of the text by the hash of their words: each heading is then a
    // lookup, not a scan, however many headings are missing.
    let mut lines: HashMap<u64, Vec<(usize, usize)>> = HashMap::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let words = normalised(content);
        if !words.is_empty() && words.len() <= 1024 {
            let lead = content.len() - content.trim_start().len();
            let end = start + content.trim_end().len();
            lines.entry(xxh3_64(words.as_bytes())).or_default().push((start + lead, end));
        }
        start += line.len();
    }
    let mut found = Vec::new();
    let mut cursor = 0;
    for (level, words) in wanted {
        let Some(candidates) = lines.get(&xxh3_64(words.as_bytes())) else { continue };
        let i = candidates.partition_point(|(line_start, _)| *line_start < cursor);
        let hit =
            candidates[i..].iter().find(|(line_start, line_end)| normalised(&text[*line_start..*line_end]) == words);
        if let Some(&(line_start, line_end)) = hit {
            found.push(HeadingSpan { start: line_start, end: line_end, level, title: words });
            cursor = line_end;
        }
    }
    found
}

/// The words of a line joined by single spaces.
fn normalised(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for word in line.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Converts byte offsets into `text`, given in ascending order, to code
/// point offsets, in one pass.
pub struct CharOffsets<'a> {
    text: &'a str,
    byte: usize,
    char: usize,
}

impl<'a> CharOffsets<'a> {
    pub fn new(text: &'a str) -> Self {
        CharOffsets { text, byte: 0, char: 0 }
    }

    /// The code-point offset of byte `at` (clamped to the text, rounded
    /// down to a character boundary). Offsets before the last one asked
    /// restart the count.
    pub fn of(&mut self, at: usize) -> usize {
        let mut at = at.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        if at < self.byte {
            self.byte = 0;
            self.char = 0;
        }
        self.char += self.text[self.byte..at].chars().count();
        self.byte = at;
        self.char
    }
}
