//! Chunks for retrieval: a pure function of the plain text, where its
//! headings are and where its pages are. Chunks come in order, never cross a
//! heading (each section starts a chunk), are at most `size` code points, and
//! break at a paragraph, else a line, else a sentence, else a word, else
//! anywhere. Together they cover every non-whitespace character of the text;
//! `text[start..end]` (in code points) is each chunk's text.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Smallest chunk size a client may ask for: below it chunks are fragments
/// of sentences, useless to a retriever.
pub const MIN_CHUNK_SIZE: u32 = 64;
/// Largest chunk size a client may ask for: far above any embedding model's
/// context, so a larger value is a mistake, not a need.
pub const MAX_CHUNK_SIZE: u32 = 100_000;

/// What a client asked to be chunked: `size` code points at most, the last
/// `overlap` code points of a chunk repeated at the start of the next one of
/// the same section. Valid when `MIN..=MAX` holds for `size` and `overlap <
/// size` (checked where it is parsed and where it is decoded).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChunkOptions {
    pub size: u32,
    pub overlap: u32,
}

impl ChunkOptions {
    pub fn is_valid(&self) -> bool {
        (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.size) && self.overlap < self.size
    }
}

/// A heading's place in the text, in bytes; `level` 1 to 6.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadingSpan {
    pub start: usize,
    pub end: usize,
    pub level: u8,
    pub title: String,
}

/// A page's place in the text, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageSpan {
    pub number: u32,
    pub start: usize,
    pub end: usize,
}

/// One chunk of the report; `start` and `end` in code points.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub index: usize,
    pub text: String,
    pub start: usize,
    pub end: usize,
    /// Titles of the sections the chunk is in, outermost first.
    pub headings: Vec<String>,
    /// The page the chunk starts on, for paged formats.
    pub page: Option<u32>,
}

/// A place in the text, in bytes and in code points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct At {
    byte: usize,
    char: usize,
}

/// Cuts `text` into chunks. `headings` and `pages` must be in text order
/// and at character boundaries (as [`super::locate`] gives them); spans that
/// are not are ignored.
pub fn chunk(text: &str, headings: &[HeadingSpan], pages: &[PageSpan], options: ChunkOptions) -> Vec<Chunk> {
    let size = options.size.max(1) as usize;
    let overlap = (options.overlap as usize).min(size - 1);
    let mut chunks = Vec::new();
    // Section starts: the text's start and every heading's.
    let mut starts: Vec<(usize, Option<&HeadingSpan>)> = vec![(0, None)];
    for heading in headings {
        let last = starts.last().map_or(0, |(start, _)| *start);
        if heading.start >= last && heading.start < text.len() && text.is_char_boundary(heading.start) {
            if heading.start == last {
                starts.pop();
            }
            starts.push((heading.start, Some(heading)));
        }
    }
    let mut path: Vec<(u8, &str)> = Vec::new();
    let mut at = At { byte: 0, char: 0 };
    for (i, (section_start, heading)) in starts.iter().enumerate() {
        let section_end = starts.get(i + 1).map_or(text.len(), |(start, _)| *start);
        if let Some(heading) = heading {
            while path.last().is_some_and(|(level, _)| *level >= heading.level) {
                path.pop();
            }
            path.push((heading.level, heading.title.as_str()));
        }
        at = advance_to(text, at, *section_start);
        let titles: Vec<String> = path.iter().map(|(_, title)| (*title).to_owned()).collect();
        let section_start = at;
        let mut from = at;
        // Breaks are looked for after this point (the end of the previous
        // chunk: an overlap is never cut again).
        let mut fresh = at;
        while from.byte < section_end && !text[fresh.byte..section_end].trim().is_empty() {
            let limit = advance_chars(text, from, size, section_end);
            let cut = if limit.byte == section_end { limit } else { best_break(text, fresh, limit) };
            chunks.push(Chunk {
                index: chunks.len(),
                text: text[from.byte..cut.byte].to_owned(),
                start: from.char,
                end: cut.char,
                headings: titles.clone(),
                page: page_at(pages, from.byte),
            });
            fresh = cut;
            from = if overlap > 0 && cut.byte < section_end {
                // Never back to or before this chunk's own start.
                Some(overlap_start(text, section_start, cut, overlap))
                    .filter(|start| start.byte > from.byte)
                    .unwrap_or(cut)
            } else {
                cut
            };
        }
        at = fresh.max_by_byte(at);
    }
    chunks
}

impl At {
    fn max_by_byte(self, other: At) -> At {
        if self.byte >= other.byte {
            self
        } else {
            other
        }
    }
}

/// Moves forward to byte `target`, counting code points.
fn advance_to(text: &str, at: At, target: usize) -> At {
    if target <= at.byte {
        return at;
    }
    At { byte: target, char: at.char + text[at.byte..target].chars().count() }
}

/// `n` code points on from `at`, or `end` if that comes first.
fn advance_chars(text: &str, at: At, n: usize, end: usize) -> At {
    match text[at.byte..end].char_indices().nth(n) {
        Some((offset, _)) => At { byte: at.byte + offset, char: at.char + n },
        None => advance_to(text, at, end),
    }
}

/// Where the next chunk starts when it repeats the end of the one ending at
/// `cut`: at most `overlap` code points back, not before the section, moved
/// forward to the start of a word when there is one.
fn overlap_start(text: &str, section_start: At, cut: At, overlap: usize) -> At {
    let back = overlap.min(cut.char - section_start.char);
    let mut byte = cut.byte;
    for (offset, _) in text[section_start.byte..cut.byte].char_indices().rev().take(back) {
        byte = section_start.byte + offset;
    }
    let mut start = At { byte, char: cut.char - back };
    // Do not start in the middle of a word: skip to after the next space.
    let preceded_by_space = text[..start.byte].chars().next_back().is_none_or(char::is_whitespace);
    if !preceded_by_space {
        let window = &text[start.byte..cut.byte];
        if let Some(space) = window.find(char::is_whitespace) {
            let after = window[space..].find(|c: char| !c.is_whitespace()).map_or(window.len(), |i| space + i);
            start = advance_to(text, start, start.byte + after);
        }
    }
    start
}

/// Ends of sentences that need no space after them (CJK full stops).
fn closes_sentence_alone(c: char) -> bool {
    matches!(c, '。' | '！' | '？')
}

/// The best place to end a chunk that starts before `fresh` and may end at
/// `limit` at the latest: after a blank line, else a line end, else a
/// sentence end, else a space; in the window's second half if any such place
/// is there, else anywhere after `fresh`; else at `limit`.
fn best_break(text: &str, fresh: At, limit: At) -> At {
    let window = &text[fresh.byte..limit.byte];
    let half = window.len() / 2;
    // The last break of each kind (paragraph, line, sentence, word), in the
    // second half and anywhere, as byte offsets into the window.
    let mut late = [None; 4];
    let mut any = [None; 4];
    let mut run_start: Option<usize> = None;
    let mut newlines = 0;
    let mut before_run: Option<char> = None;
    let mut previous: Option<char> = None;
    let mut record = |kind: usize, offset: usize| {
        if offset == 0 {
            return;
        }
        any[kind] = Some(offset);
        if offset >= half {
            late[kind] = Some(offset);
        }
    };
    let end_run = |offset: usize, newlines: usize, before: Option<char>, record: &mut dyn FnMut(usize, usize)| {
        let kind = if newlines >= 2 {
            0
        } else if newlines == 1 {
            1
        } else if before.is_some_and(|c| matches!(c, '.' | '!' | '?' | '…' | ';' | ':') || closes_sentence_alone(c)) {
            2
        } else {
            3
        };
        record(kind, offset);
    };
    for (offset, c) in window.char_indices() {
        if c.is_whitespace() {
            if run_start.is_none() {
                run_start = Some(offset);
                newlines = 0;
                before_run = previous;
            }
            if c == '\n' {
                newlines += 1;
            }
        } else {
            if run_start.take().is_some() {
                end_run(offset, newlines, before_run, &mut record);
            } else if previous.is_some_and(closes_sentence_alone) {
                record(2, offset);
            }
        }
        previous = Some(c);
    }
    if run_start.is_some() {
        end_run(window.len(), newlines, before_run, &mut record);
    }
    let chosen = (0..4).find_map(|kind| late[kind]).or_else(|| (0..4).find_map(|kind| any[kind]));
    match chosen {
        Some(offset) => advance_to(text, fresh, fresh.byte + offset),
        None => limit,
    }
}

/// The page holding byte `at`.
fn page_at(pages: &[PageSpan], at: usize) -> Option<u32> {
    let i = pages.partition_point(|page| page.start <= at);
    let page = pages.get(i.checked_sub(1)?)?;
    (at < page.end || (at == page.end && i == pages.len())).then_some(page.number)
}
