//! The shape of a Word 97-2003 document's main text, for Markdown and
//! chunks: headings from the paragraphs' styles (built-in heading styles, or
//! styles named "Heading N" or "Title") or outline levels, list items from
//! their list and level (numbered or bulleted as the list's level says; "List
//! Bullet 2" a level down), tables from the cell and row marks.
//!
//! The paragraphs' properties are in 512-byte pages (FKPs) the
//! `PlcBtePapx` lists: runs of the `WordDocument` stream, each with its
//! style (`istd`) and property changes (sprms). The style sheet (`STSH`), the
//! lists (`PlfLst`) and the list overrides (`PlfLfo`) are in the table stream.

use std::collections::HashMap;

use super::doc::Fields;
use super::office_structure::{level_of_name, list_level_of_name};
use super::ole::{u16_at, u32_at};
use crate::structure::{Block, Builder, Kind, Style};

const SPRM_IN_TABLE: u16 = 0x2416;
const SPRM_ROW_END: u16 = 0x2417;
const SPRM_INNER_ROW_END: u16 = 0x244C;
const SPRM_TABLE_DEPTH: u16 = 0x6649;
const SPRM_LIST_LEVEL: u16 = 0x260A;
const SPRM_LIST: u16 = 0x460B;
const SPRM_OUTLINE_LEVEL: u16 = 0x2640;
/// `nfc` of a list level whose label is a bullet, or that has none.
const NFC_BULLET: u8 = 23;
const NFC_NONE: u8 = 255;
/// Styles a style sheet may hold: Word's own have a few hundred.
const MAX_STYLES: usize = 4096;

/// The properties of a run of paragraphs: bytes `start..end` of the
/// `WordDocument` stream.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ParagraphRun {
    pub start: u32,
    pub end: u32,
    style: u16,
    /// The list override (`ilfo`, from 1) and level, for a list item.
    list: Option<(u16, u8)>,
    outline: Option<u8>,
    in_table: bool,
    /// The paragraph ends a table row (its mark is the row's).
    pub row_end: bool,
}

/// The paragraph runs of the pages the `PlcBtePapx` at `(at, len)` of the
/// table stream lists, sorted by start.
pub(super) fn paragraph_runs(word: &[u8], table: &[u8], (at, len): (usize, usize)) -> Option<Vec<ParagraphRun>> {
    let plc = table.get(at..at.checked_add(len)?)?;
    let pages = plc.len().checked_sub(4)? / 8;
    let mut runs = Vec::new();
    // Each page read once: a table naming one page over and over would
    // otherwise multiply its runs.
    let mut read = std::collections::HashSet::new();
    for i in 0..pages {
        let page_number = u32_at(plc, (pages + 1) * 4 + i * 4)? & 0x3F_FFFF;
        let Some(page) = word.get(page_number as usize * 512..page_number as usize * 512 + 512) else { continue };
        if !read.insert(page_number) {
            continue;
        }
        let count = usize::from(page[511]);
        for run in 0..count {
            let (Some(start), Some(end)) = (u32_at(page, run * 4), u32_at(page, run * 4 + 4)) else { break };
            let mut paragraph = ParagraphRun { start, end, ..ParagraphRun::default() };
            let offset = usize::from(*page.get((count + 1) * 4 + run * 13)?) * 2;
            // A run without properties is a plain paragraph, as one not
            // listed is.
            if offset != 0 {
                // PapxInFkp: a count of 16-bit words, then the style and the
                // property changes (sprms).
                let (size, from) = match page.get(offset)? {
                    0 => (usize::from(*page.get(offset + 1)?) * 2, offset + 2),
                    &count => (usize::from(count) * 2 - 1, offset + 1),
                };
                paragraph.style = u16_at(page, from).unwrap_or(0);
                if let Some(properties) = page.get(from + 2..(from + size).min(511)) {
                    read_properties(properties, &mut paragraph);
                }
                runs.push(paragraph);
            }
        }
    }
    runs.sort_unstable_by_key(|run| run.start);
    Some(runs)
}

/// Applies the sprms of `properties` that the shape needs.
fn read_properties(properties: &[u8], paragraph: &mut ParagraphRun) {
    let (mut list, mut level) = (None, 0u8);
    for_each_sprm(properties, |sprm, operand| {
        let byte = operand.first().copied().unwrap_or(0);
        match sprm {
            SPRM_IN_TABLE => paragraph.in_table = byte != 0,
            SPRM_TABLE_DEPTH => paragraph.in_table = u32_at(operand, 0).is_some_and(|depth| depth > 0),
            SPRM_ROW_END | SPRM_INNER_ROW_END => paragraph.row_end |= byte != 0,
            SPRM_LIST => list = u16_at(operand, 0),
            SPRM_LIST_LEVEL => level = byte.min(8),
            SPRM_OUTLINE_LEVEL => paragraph.outline = (byte < 9).then_some(byte),
            _ => {}
        }
    });
    // An `ilfo` of 0 (or 0xF801, "no list", from later Word) is no list.
    paragraph.list = list.filter(|ilfo| *ilfo != 0 && *ilfo < 0xF000).map(|ilfo| (ilfo, level));
}

/// Calls `f` with each sprm of `properties` and its operand.
pub(super) fn for_each_sprm(mut properties: &[u8], mut f: impl FnMut(u16, &[u8])) {
    while let Some(sprm) = u16_at(properties, 0) {
        // The operand's size is in the sprm's top three bits.
        let (size, skip) = match sprm >> 13 {
            0 | 1 => (1, 0),
            2 | 4 | 5 => (2, 0),
            3 => (4, 0),
            7 => (3, 0),
            _ => match sprm {
                // sprmTDefTable: a 16-bit size, counting one of its bytes.
                0xD608 => (usize::from(u16_at(properties, 2).unwrap_or(0)).saturating_sub(1), 2),
                // The others, sprmPChgTabs among them: an 8-bit size.
                _ => (usize::from(*properties.get(2).unwrap_or(&0)), 1),
            },
        };
        let Some(operand) = properties.get(2 + skip..2 + skip + size) else { break };
        f(sprm, operand);
        properties = &properties[2 + skip + size..];
    }
}

/// What a paragraph style (by `istd`) makes of its paragraphs.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct StyleShape {
    /// Word's built-in "heading 1" to "heading 9" (`sti` 1 to 9) and
    /// "Title" (`sti` 62, level 1), or a style of its own named so.
    heading: Option<u8>,
    /// The list level Word's built-in list styles carry in their name:
    /// "List Bullet 2" is a second-level bullet, whatever its list level.
    list_level: Option<u8>,
}

/// The shape of each style of the style sheet at `(at, len)`, by `istd`.
pub(super) fn style_shapes(table: &[u8], (at, len): (usize, usize)) -> Vec<StyleShape> {
    let Some(sheet) = table.get(at..at.saturating_add(len).min(table.len())) else { return Vec::new() };
    let (Some(header), Some(styles)) = (u16_at(sheet, 0), u16_at(sheet, 2)) else { return Vec::new() };
    let base = usize::from(u16_at(sheet, 4).unwrap_or(10));
    let mut pos = 2 + usize::from(header);
    let mut shapes = Vec::new();
    for _ in 0..usize::from(styles).min(MAX_STYLES) {
        let Some(size) = u16_at(sheet, pos) else { break };
        let std = sheet.get(pos + 2..(pos + 2 + usize::from(size)).min(sheet.len())).unwrap_or_default();
        pos += 2 + usize::from(size);
        let Some(first) = u16_at(std, 0) else {
            shapes.push(StyleShape::default());
            continue;
        };
        let name = style_name(std, base).unwrap_or_default();
        let heading = match first & 0x0FFF {
            sti @ 1..=9 => Some(sti as u8),
            62 => Some(1),
            _ => level_of_name(&name),
        };
        shapes.push(StyleShape { heading, list_level: list_level_of_name(&name) });
    }
    shapes
}

/// A style's name (`xstzName`), after its fixed part of `base` bytes.
fn style_name(std: &[u8], base: usize) -> Option<String> {
    let chars = usize::from(u16_at(std, base)?).min(255);
    let units: Vec<u16> = (0..chars).map_while(|i| u16_at(std, base + 2 + 2 * i)).collect();
    Some(String::from_utf16_lossy(&units))
}

/// Whether each list override (`ilfo`, from 1) numbers each of its nine
/// levels (rather than bulleting them), from the `PlfLst` and `PlfLfo` at
/// `lists` and `overrides` of the table stream.
pub(super) fn numbered_levels(
    table: &[u8],
    lists: (usize, usize),
    overrides: (usize, usize),
) -> HashMap<u16, [bool; 9]> {
    let part = |(at, len): (usize, usize)| table.get(at..at.saturating_add(len).min(table.len())).unwrap_or_default();
    // The levels follow the PlfLst in the table stream, past its length.
    let (lists, overrides) = (table.get(lists.0..).unwrap_or_default(), part(overrides));
    let mut by_list: HashMap<u32, [bool; 9]> = HashMap::new();
    let count = usize::from(u16_at(lists, 0).unwrap_or(0));
    // The LSTFs (28 bytes each), then their levels in the same order: one
    // for a simple list, nine for the others.
    let mut level_at = 2 + count * 28;
    for i in 0..count {
        let lstf = 2 + i * 28;
        let (Some(id), Some(&flags)) = (u32_at(lists, lstf), lists.get(lstf + 26)) else { break };
        let levels = if flags & 1 != 0 { 1 } else { 9 };
        let mut numbered = [false; 9];
        for slot in numbered.iter_mut().take(levels) {
            let Some(lvlf) = lists.get(level_at..level_at + 28) else { break };
            let nfc = lvlf[4];
            *slot = nfc != NFC_BULLET && nfc != NFC_NONE;
            let (chpx, papx) = (usize::from(lvlf[24]), usize::from(lvlf[25]));
            let label_at = level_at + 28 + papx + chpx;
            let label_chars = usize::from(u16_at(lists, label_at).unwrap_or(0));
            level_at = label_at + 2 + 2 * label_chars;
        }
        if levels == 1 {
            numbered = [numbered[0]; 9];
        }
        by_list.insert(id, numbered);
    }
    let overrides_count = u32_at(overrides, 0).unwrap_or(0) as usize;
    (0..overrides_count.min(overrides.len() / 16))
        .filter_map(|i| {
            let id = u32_at(overrides, 4 + i * 16)?;
            Some((u16::try_from(i + 1).ok()?, *by_list.get(&id)?))
        })
        .collect()
}

/// The main text's blocks: `units` are its UTF-16 units and `positions`
/// each one's byte in the `WordDocument` stream, where `runs` give the
/// paragraphs' properties.
pub(super) fn blocks(
    units: &[u16],
    positions: &[u32],
    runs: &[ParagraphRun],
    styles: &[StyleShape],
    numbered: &HashMap<u16, [bool; 9]>,
) -> Vec<Block> {
    let properties = |index: usize| {
        let position = positions.get(index).copied().unwrap_or(u32::MAX);
        let run = runs.partition_point(|run| run.start <= position);
        if run > 0 && position < runs[run - 1].end {
            runs[run - 1]
        } else {
            ParagraphRun::default()
        }
    };
    let mut builder = Builder::default();
    let style = Style::default();
    let (mut in_table, mut cell_open) = (false, false);
    let mut text = String::new();
    let mut fields = Fields::default();
    for (index, decoded) in char::decode_utf16(units.iter().copied()).enumerate() {
        let c = decoded.unwrap_or(char::REPLACEMENT_CHARACTER);
        if !fields.reads(u32::from(c)) {
            continue;
        }
        match u32::from(c) {
            // A paragraph's end, a cell's or a row's.
            0x0D | 0x07 => {
                let paragraph = properties(index);
                if paragraph.in_table && !in_table {
                    builder.start_table();
                    builder.start_row();
                    in_table = true;
                } else if !paragraph.in_table && in_table {
                    builder.end_table();
                    in_table = false;
                    cell_open = false;
                }
                if in_table && c == '\u{7}' && paragraph.row_end {
                    // The row's own mark, after its last cell's.
                    builder.end_row();
                    builder.start_row();
                } else if in_table {
                    if !cell_open {
                        builder.start_cell();
                        cell_open = true;
                    }
                    builder.text(&text, &style);
                    if c == '\u{7}' {
                        builder.end_cell();
                        cell_open = false;
                    } else {
                        // Paragraphs within a cell: joined by a space.
                        builder.text(" ", &style);
                    }
                } else {
                    builder.start(kind(&paragraph, styles, numbered));
                    builder.text(&text, &style);
                    builder.flush();
                }
                text.clear();
            }
            0x0B => text.push('\n'),
            0x09 => text.push('\t'),
            0x1E => text.push('\u{2011}'),
            0xA0 => text.push('\u{A0}'),
            0x00..=0x1F => {}
            _ => text.push(c),
        }
    }
    if !text.trim().is_empty() {
        builder.start(Kind::Paragraph);
        builder.text(&text, &style);
    }
    builder.finish()
}

/// What a paragraph outside a table is: a heading by its style or outline
/// level, a list item by its list, or a paragraph.
fn kind(paragraph: &ParagraphRun, styles: &[StyleShape], numbered: &HashMap<u16, [bool; 9]>) -> Kind {
    let style = styles.get(usize::from(paragraph.style)).copied().unwrap_or_default();
    if let Some(level) = style.heading.or(paragraph.outline.map(|level| level + 1)) {
        return Kind::Heading(level.min(6));
    }
    match paragraph.list {
        Some((list, level)) => Kind::Item {
            ordered: numbered.get(&list).is_some_and(|levels| levels[usize::from(level)]),
            depth: style.list_level.unwrap_or(level).max(level),
        },
        None => Kind::Paragraph,
    }
}
