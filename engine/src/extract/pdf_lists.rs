//! Lists in a PDF's text: lines led by a bullet glyph or by a number that
//! counts up (`1.`, `2)`), with the lines that follow an item without a
//! marker continuing it. Conservative like the headings: a paragraph is a
//! list only when it (or it with its neighbours) holds two items or more of
//! one kind, so a lone `1. Introduction` or a dash opening a sentence stays
//! text.

use crate::structure::{Block, Inline, Style};

/// Glyphs that lead a bulleted item. `-`, `*` and `–` only when a space
/// follows (`-5` or `*emphasis*` are text); the others also when set
/// against the item's text, as some PDF producers place them.
const BULLETS: &[char] = &['•', '◦', '▪', '▫', '‣', '⁃', '●', '○', '■', '□', '►', '▶', '✓', '✔', '·'];
const ASCII_BULLETS: &[char] = &['-', '*', '–', '—'];
/// Longest item number read as a list marker: three digits; longer numbers
/// opening a line are amounts or years.
const MAX_NUMBER_DIGITS: usize = 3;

/// An item: ordered or not, its number when ordered, its text.
#[derive(Debug, PartialEq)]
pub struct Item {
    pub ordered: bool,
    pub number: u32,
    pub text: String,
}

/// The marker leading `line`, if any: `(ordered, number, rest)`.
fn marker(line: &str) -> Option<(bool, u32, &str)> {
    let line = line.trim_start();
    let first = line.chars().next()?;
    if BULLETS.contains(&first) || ASCII_BULLETS.contains(&first) {
        let rest = &line[first.len_utf8()..];
        let spaced = rest.starts_with([' ', '\t']);
        if !spaced && !BULLETS.contains(&first) {
            return None;
        }
        let rest = rest.trim_start();
        return rest
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '"' || c == '(')
            .then_some((false, 0, rest));
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 || digits > MAX_NUMBER_DIGITS {
        return None;
    }
    let rest = line[digits..].strip_prefix(['.', ')'])?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start();
    rest.chars().next().filter(|c| c.is_alphabetic())?;
    Some((true, line[..digits].parse().ok()?, rest))
}

/// The list that ends a paragraph: the number of lines before its first
/// marked line (text that leads into the list), and the items from there
/// on, each marked line starting one and unmarked lines continuing the
/// last. `None` when no line is marked, or the items mix bullets and
/// numbers or do not count up by one.
pub fn items(lines: &[&str]) -> Option<(usize, Vec<Item>)> {
    let lead = lines.iter().position(|line| marker(line).is_some())?;
    let mut out: Vec<Item> = Vec::new();
    for line in &lines[lead..] {
        match marker(line) {
            Some((ordered, number, rest)) => {
                if let Some(last) = out.last() {
                    if last.ordered != ordered || (ordered && number != last.number + 1) {
                        return None;
                    }
                }
                out.push(Item { ordered, number, text: rest.trim().to_owned() });
            }
            None => {
                let last = out.last_mut()?;
                last.text.push(' ');
                last.text.push_str(line.trim());
            }
        }
    }
    (!out.is_empty()).then_some((lead, out))
}

/// Whether `next` continues the list that ends with `last`.
pub fn continues(last: &Item, next: &Item) -> bool {
    last.ordered == next.ordered && (!next.ordered || next.number == last.number + 1)
}

/// The blocks of a list's items.
pub fn item_blocks(items: Vec<Item>) -> impl Iterator<Item = Block> {
    items.into_iter().map(|item| Block::Item {
        ordered: item.ordered,
        depth: 0,
        content: vec![Inline::Text(item.text, Style::default())],
    })
}
