//! The block model of a PDF, from its laid-out pages: headings told by font
//! size against the document's body text (or by the PDF's own outline),
//! tables from tab-separated rows, lists from bullets and numbering
//! ([`pdf_lists`]), paragraphs for the rest. Conservative: a
//! wrong heading is worse than a missed one, so a heading is a paragraph of
//! one short line, clearly larger than the body text, that is not a running
//! header and does not read as a sentence.

use std::collections::HashMap;

use super::pdf_lists::{self, Item};
use crate::structure::{is_wide_unspaced, plain_inlines, Block, Inline, Style, MAX_TABLE_COLUMNS, MAX_TABLE_ROWS};

/// A line this much larger than the body text may be a heading: 15% is
/// above the jitter of one font rendered at one size (a few per cent) and
/// below the usual step from body to the smallest heading (about 20%).
const HEADING_SIZE_RATIO: f64 = 1.15;
/// Body text is told from at least this many characters; a page of a few
/// words gives no body size to compare with.
const MIN_BODY_CHARS: usize = 200;
/// Longest heading line, in characters; longer lines are text set large.
const MAX_HEADING_CHARS: usize = 120;
/// A large line on this many pages or more is a running header or footer.
const RUNNING_PAGES: usize = 3;

/// One page as the extractor laid it out: its tidied text and the font size
/// of each of its lines, in order (empty when the page was read by the
/// fallback reader, which knows no sizes).
pub struct LaidOutPage {
    pub number: u32,
    pub text: String,
    pub sizes: Vec<f64>,
}

/// A paragraph of a laid-out page: its lines, each with its font size when
/// known.
type Paragraph<'a> = Vec<(&'a str, Option<f64>)>;

fn normalised(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Sizes compared at half-point steps.
fn size_key(size: f64) -> i64 {
    (size * 2.0).round() as i64
}

/// The blocks of the pages; `outline` is the PDF's outline as `(level,
/// title, page)`: a one-line paragraph with an entry's title on the entry's
/// page is a heading of its level, whatever its size.
pub fn blocks(pages: &[LaidOutPage], outline: &[(usize, String, u32)]) -> Vec<Block> {
    // Each page's paragraphs, each a list of (line, size if known).
    let mut laid: Vec<(u32, Vec<Paragraph<'_>>)> = Vec::new();
    let mut chars_by_size: HashMap<i64, usize> = HashMap::new();
    for page in pages {
        let lines: Vec<&str> = page.text.lines().filter(|line| !line.trim().is_empty()).collect();
        let sizes_known = lines.len() == page.sizes.len();
        let mut index = 0;
        let mut paragraphs = Vec::new();
        for paragraph in page.text.split("\n\n") {
            let mut out = Vec::new();
            for line in paragraph.lines().filter(|line| !line.trim().is_empty()) {
                let size = sizes_known.then(|| page.sizes[index]);
                index += 1;
                if let Some(size) = size {
                    *chars_by_size.entry(size_key(size)).or_default() += line.chars().count();
                }
                out.push((line, size));
            }
            if !out.is_empty() {
                paragraphs.push(out);
            }
        }
        laid.push((page.number, paragraphs));
    }
    let total: usize = chars_by_size.values().sum();
    let body = (total >= MIN_BODY_CHARS)
        .then(|| chars_by_size.iter().max_by_key(|(key, chars)| (**chars, -**key)).map(|(key, _)| *key as f64 / 2.0))
        .flatten();
    let outline: HashMap<(u32, String), usize> = outline
        .iter()
        .map(|(level, title, page)| ((*page, normalised(title)), *level))
        .filter(|((_, title), _)| !title.is_empty())
        .collect();

    // Candidates: one-line paragraphs, large or named by the outline.
    let candidate = |page: u32, paragraph: &[(&str, Option<f64>)]| -> Option<(String, Option<f64>)> {
        let [(line, size)] = paragraph else { return None };
        let line = line.trim();
        let key = normalised(line);
        if outline.contains_key(&(page, key.clone())) {
            return Some((key, *size));
        }
        let (body, size) = (body?, (*size)?);
        let reads_as_heading = size >= body * HEADING_SIZE_RATIO
            && line.chars().count() <= MAX_HEADING_CHARS
            && line.chars().any(char::is_alphabetic)
            && !line.ends_with(['.', ',', ';', ':'])
            && !line.contains('\t');
        reads_as_heading.then_some((key, Some(size)))
    };
    let mut pages_of: HashMap<String, usize> = HashMap::new();
    let mut heading_sizes: Vec<i64> = Vec::new();
    for (number, page) in &laid {
        let mut seen = Vec::new();
        for paragraph in page {
            if let Some((key, _)) = candidate(*number, paragraph) {
                if !seen.contains(&key) {
                    *pages_of.entry(key.clone()).or_default() += 1;
                    seen.push(key);
                }
            }
        }
    }
    let heading = |number: u32, paragraph: &[(&str, Option<f64>)]| {
        candidate(number, paragraph).filter(|(key, _)| pages_of.get(key).copied().unwrap_or(0) < RUNNING_PAGES)
    };
    // Levels: the distinct sizes of the headings, largest first.
    for (number, page) in &laid {
        for paragraph in page {
            if let Some((_, Some(size))) = heading(*number, paragraph) {
                heading_sizes.push(size_key(size));
            }
        }
    }
    heading_sizes.sort_unstable_by(|a, b| b.cmp(a));
    heading_sizes.dedup();

    let mut blocks = Vec::new();
    for (number, page) in &laid {
        // Each paragraph's list items, if it reads as a list: two items or
        // more, or one that a neighbouring paragraph's list continues.
        let mut lists: Vec<Option<(usize, Vec<Item>)>> = page
            .iter()
            .map(|paragraph| {
                let lines: Vec<&str> = paragraph.iter().map(|(line, _)| *line).collect();
                if heading(*number, paragraph).is_some() || (paragraph.len() >= 2 && is_table(paragraph)) {
                    None
                } else {
                    pdf_lists::items(&lines)
                }
            })
            .collect();
        let lone: Vec<bool> = (0..lists.len())
            .map(|i| {
                let Some((lead, items)) = &lists[i] else { return false };
                let after_previous = i > 0
                    && *lead == 0
                    && lists[i - 1]
                        .as_ref()
                        .and_then(|(_, previous)| previous.last())
                        .is_some_and(|last| pdf_lists::continues(last, &items[0]));
                let before_next = lists
                    .get(i + 1)
                    .and_then(|next| next.as_ref())
                    .filter(|(lead, _)| *lead == 0)
                    .and_then(|(_, next)| next.first())
                    .is_some_and(|next| pdf_lists::continues(items.last().unwrap(), next));
                items.len() < 2 && !after_previous && !before_next
            })
            .collect();
        for (i, paragraph) in page.iter().enumerate() {
            if let Some((key, size)) = heading(*number, paragraph) {
                let level = match outline.get(&(*number, key)) {
                    Some(level) => (*level).clamp(1, 6),
                    None => size
                        .and_then(|size| heading_sizes.iter().position(|s| *s == size_key(size)))
                        .map_or(6, |rank| rank + 1)
                        .min(6),
                };
                blocks.push(Block::Heading { level: level as u8, content: plain_inlines(paragraph[0].0.trim()) });
            } else if paragraph.len() >= 2 && is_table(paragraph) {
                let rows = paragraph
                    .iter()
                    .take(MAX_TABLE_ROWS)
                    .map(|(line, _)| {
                        line.split('\t').take(MAX_TABLE_COLUMNS).map(|c| plain_inlines(c.trim())).collect()
                    })
                    .collect();
                blocks.push(Block::Table(rows));
            } else if let Some((lead, items)) = lists[i].take().filter(|_| !lone[i]) {
                if lead > 0 {
                    blocks.push(text_paragraph(&paragraph[..lead]));
                }
                blocks.extend(pdf_lists::item_blocks(items));
            } else {
                blocks.push(text_paragraph(paragraph));
            }
        }
    }
    blocks
}

/// A paragraph of text: its lines joined by spaces, or without one between
/// two characters of Chinese or Japanese (written without spaces).
fn text_paragraph(lines: &[(&str, Option<f64>)]) -> Block {
    let mut content: Vec<Inline> = Vec::new();
    let mut last: Option<char> = None;
    for (line, _) in lines {
        let line = line.trim();
        let separator = match (last, line.chars().next()) {
            (None, _) => "",
            (Some(before), Some(after)) if is_wide_unspaced(before) && is_wide_unspaced(after) => "",
            _ => " ",
        };
        content.push(Inline::Text(format!("{separator}{line}"), Style::default()));
        last = line.chars().next_back().or(last);
    }
    Block::Paragraph(content)
}

/// Every line holds the same number (two or more) of tab-separated cells.
fn is_table(paragraph: &[(&str, Option<f64>)]) -> bool {
    let cells = paragraph[0].0.split('\t').count();
    cells >= 2 && paragraph.iter().all(|(line, _)| line.split('\t').count() == cells)
}
