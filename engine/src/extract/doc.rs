//! Word 97-2003 documents (`.doc`): the text through the piece table, the
//! main document first, then footnotes, headers and footers, comments,
//! endnotes and text boxes, as Word stores them; properties from
//! `SummaryInformation`.
//!
//! The File Information Block at the start of the `WordDocument` stream
//! says which table stream (`0Table` or `1Table`) holds the piece table
//! (`Clx`) and how many characters each part has. Each piece is a run of
//! characters stored either as UTF-16 or, "compressed", as Windows-1252.

use super::doc_structure::{self, ParagraphRun};
use super::ole::{self, u16_at, u32_at};
use super::{ExtractError, Extracted};
use crate::Options;

/// `wIdent` of a Word 97 or later File Information Block.
const WORD_97_IDENT: u16 = 0xA5EC;
/// Pieces a piece table may list: Word's own documents have a few per
/// edit; past this the table is not a real one.
const MAX_PIECES: usize = 1 << 20;

pub fn extract(bytes: &[u8], options: &Options) -> Result<Extracted, ExtractError> {
    let (mut file, cut_short) = ole::open(bytes)?;
    let word = ole::stream(&mut file, "/WordDocument")
        .ok_or_else(|| ExtractError("not a Word document: the WordDocument stream is missing".into()))?;
    if u16_at(&word, 0) != Some(WORD_97_IDENT) {
        return Err(ExtractError("a Word document older than Word 97, which is not read".into()));
    }
    let flags = u16_at(&word, 0x0A).unwrap_or(0);
    if flags & 0x0100 != 0 {
        return Err(ExtractError("the document is encrypted (password-protected)".into()));
    }
    let table_name = if flags & 0x0200 != 0 { "/1Table" } else { "/0Table" };
    let table = ole::stream(&mut file, table_name)
        .ok_or_else(|| ExtractError(format!("the {} stream is missing", &table_name[1..])))?;
    let fib = Fib::read(&word).ok_or_else(|| ExtractError("the File Information Block is cut short".into()))?;
    let pieces = pieces(&table, fib.clx).ok_or_else(|| ExtractError("the piece table is damaged".into()))?;
    let mut extracted = Extracted::default();
    if cut_short {
        extracted.warnings.push(ole::CUT_SHORT.into());
    }
    let mut characters = Characters::default();
    for piece in &pieces {
        piece.read(&word, &mut characters);
        if characters.units.len() >= fib.total_characters() {
            break;
        }
    }
    if characters.units.len() < fib.main {
        extracted.warnings.push("the piece table ends before the text the document announces".into());
    }
    // Which cell marks end a table row, from the paragraphs' properties;
    // without them, two marks in a row are taken for a row's end.
    let paragraphs = fib.paragraph_runs.and_then(|runs| doc_structure::paragraph_runs(&word, &table, runs));
    let rows = paragraphs.as_deref().map(row_ends).filter(|ends| !ends.is_empty());
    let main = fib.main.min(characters.units.len());
    if options.wants_structure() {
        let styles = fib.styles.map(|at| doc_structure::style_shapes(&table, at)).unwrap_or_default();
        let numbered = match (fib.lists, fib.list_overrides) {
            (Some(lists), Some(overrides)) => doc_structure::numbered_levels(&table, lists, overrides),
            _ => Default::default(),
        };
        extracted.blocks = doc_structure::blocks(
            &characters.units[..main],
            &characters.positions[..main.min(characters.positions.len())],
            paragraphs.as_deref().unwrap_or_default(),
            &styles,
            &numbered,
        );
    }
    let end = fib.total_characters().min(characters.units.len());
    let mut text = plain_text(&characters, 0..main, rows.as_deref());
    let rest = plain_text(&characters, main..end, rows.as_deref());
    if !rest.trim().is_empty() {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(rest.trim_start_matches('\n'));
    }
    extracted.text = text;
    ole::summary(&mut file, &mut extracted);
    Ok(extracted)
}

/// What the File Information Block says of the text.
struct Fib {
    /// The piece table's place in the table stream.
    clx: (usize, usize),
    /// Characters of the main document.
    main: usize,
    /// Characters of the other parts, in the order they follow it.
    others: usize,
    /// Where the table of paragraph-property pages (`PlcBtePapx`) is.
    paragraph_runs: Option<(usize, usize)>,
    /// Where the style sheet (`STSH`), the lists (`PlfLst`) and the list
    /// overrides (`PlfLfo`) are.
    styles: Option<(usize, usize)>,
    lists: Option<(usize, usize)>,
    list_overrides: Option<(usize, usize)>,
}

impl Fib {
    fn read(word: &[u8]) -> Option<Fib> {
        // FibBase (32 bytes), then three arrays, each after its count:
        // 16-bit values, 32-bit values, and (offset, length) pairs.
        let shorts = usize::from(u16_at(word, 32)?);
        let longs_at = 34 + shorts * 2;
        let longs = usize::from(u16_at(word, longs_at)?);
        let long = |i: usize| (i < longs).then(|| u32_at(word, longs_at + 2 + i * 4)).flatten().map(|v| v as usize);
        let pairs_at = longs_at + 2 + longs * 4;
        let pairs = usize::from(u16_at(word, pairs_at)?);
        let pair = |i: usize| {
            let at = pairs_at + 2 + i * 8;
            (i < pairs).then(|| Some((u32_at(word, at)? as usize, u32_at(word, at + 4)? as usize))).flatten()
        };
        // ccpText, then ccpFtn, ccpHdd, (reserved), ccpAtn, ccpEdn,
        // ccpTxbx, ccpHdrTxbx.
        let main = long(3)?;
        let others = [4, 5, 7, 8, 9, 10].iter().filter_map(|&i| long(i)).fold(0usize, usize::saturating_add);
        let present = |i: usize| pair(i).filter(|(_, len)| *len > 0);
        Some(Fib {
            clx: pair(33)?,
            main,
            others,
            paragraph_runs: pair(13),
            styles: present(1),
            lists: present(73),
            list_overrides: present(74),
        })
    }

    fn total_characters(&self) -> usize {
        self.main.saturating_add(self.others)
    }
}

/// A run of characters of the text, and where its bytes are.
struct Piece {
    characters: usize,
    offset: usize,
    compressed: bool,
}

impl Piece {
    fn read(&self, word: &[u8], out: &mut Characters) {
        if self.compressed {
            let Some(bytes) = word.get(self.offset..self.offset.saturating_add(self.characters).min(word.len())) else {
                return;
            };
            let (decoded, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            // Windows-1252 has one UTF-16 unit a byte.
            out.units.extend(decoded.encode_utf16());
            out.positions.extend((0..bytes.len()).map(|k| (self.offset + k) as u32));
        } else {
            let end = self.offset.saturating_add(self.characters.saturating_mul(2)).min(word.len());
            let Some(bytes) = word.get(self.offset..end) else { return };
            out.units.extend(bytes.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])));
            out.positions.extend((0..bytes.len() / 2).map(|k| (self.offset + 2 * k) as u32));
        }
    }
}

#[derive(Default)]
struct Characters {
    units: Vec<u16>,
    /// Where each unit's bytes are in the `WordDocument` stream.
    positions: Vec<u32>,
}

/// The byte ranges of the `WordDocument` stream whose paragraphs end a
/// table row (`sprmPFTtp` or `sprmPFInnerTtp` set), sorted.
fn row_ends(paragraphs: &[ParagraphRun]) -> Vec<(u32, u32)> {
    paragraphs.iter().filter(|run| run.row_end).map(|run| (run.start, run.end)).collect()
}

/// Word's fields: a begin mark (0x13), the field's code (`HYPERLINK "…"`,
/// `PAGE`), a separator (0x14), its result, an end mark (0x15); nested.
#[derive(Default)]
pub(super) struct Fields(Vec<bool>);

impl Fields {
    /// Whether the character `unit` is text to read: neither a field's
    /// mark nor in a field's code. Each open field: true once past its
    /// separator (showing the result).
    pub(super) fn reads(&mut self, unit: u32) -> bool {
        match unit {
            0x13 => self.0.push(false),
            0x14 => {
                if let Some(showing) = self.0.last_mut() {
                    *showing = true;
                }
            }
            0x15 => {
                self.0.pop();
            }
            _ => return self.0.last() != Some(&false),
        }
        false
    }
}

/// The pieces of the piece table at `clx`: past the property runs (`Prc`,
/// type 1) comes the `Pcdt` (type 2), a list of n + 1 character positions
/// and n piece descriptors of 8 bytes.
fn pieces(table: &[u8], (at, len): (usize, usize)) -> Option<Vec<Piece>> {
    let clx = table.get(at..at.checked_add(len)?)?;
    let mut pos = 0;
    while *clx.get(pos)? == 1 {
        pos += 3 + usize::from(u16_at(clx, pos + 1)?);
    }
    if *clx.get(pos)? != 2 {
        return None;
    }
    let size = u32_at(clx, pos + 1)? as usize;
    let plc = clx.get(pos + 5..(pos + 5).checked_add(size)?)?;
    let count = plc.len().checked_sub(4)? / 12;
    if count == 0 || count > MAX_PIECES {
        return None;
    }
    let position = |i: usize| u32_at(plc, i * 4).map(|v| v as usize);
    let mut pieces = Vec::with_capacity(count);
    for i in 0..count {
        let (start, end) = (position(i)?, position(i + 1)?);
        let descriptor = (count + 1) * 4 + i * 8;
        let fc = u32_at(plc, descriptor + 2)?;
        let compressed = fc & 0x4000_0000 != 0;
        let offset = (fc & 0x3FFF_FFFF) as usize;
        pieces.push(Piece {
            characters: end.saturating_sub(start),
            offset: if compressed { offset / 2 } else { offset },
            compressed,
        });
    }
    Some(pieces)
}

/// Word's characters as plain text: paragraph marks and breaks as line
/// breaks, table cells tab-separated with a row a line, a field's result
/// without its code (`HYPERLINK "…"`, `PAGE`), and the marks of pictures,
/// notes and comments left out.
fn plain_text(characters: &Characters, range: std::ops::Range<usize>, row_ends: Option<&[(u32, u32)]>) -> String {
    let units = &characters.units[range.clone()];
    let mut text = String::with_capacity(units.len());
    let mut fields = Fields::default();
    let mut previous = 0u16;
    let mut index = range.start;
    let ends_row = |index: usize| {
        let position = characters.positions.get(index).copied().unwrap_or(u32::MAX);
        let ends = row_ends.unwrap_or_default();
        let run = ends.partition_point(|&(start, _)| start <= position);
        run > 0 && position < ends[run - 1].1
    };
    for decoded in char::decode_utf16(units.iter().copied()) {
        let c = decoded.unwrap_or(char::REPLACEMENT_CHARACTER);
        let at = index;
        index += c.len_utf16();
        let unit = u16::try_from(u32::from(c)).unwrap_or(0xFFFF);
        if !fields.reads(u32::from(c)) {
            previous = unit;
            continue;
        }
        match unit {
            0x0D => text.push_str("\n\n"),
            0x0B | 0x0C | 0x0E => text.push('\n'),
            // A cell's end, or a table row's (told by the paragraph
            // properties, or else by two marks in a row).
            0x07 if row_ends.map_or(previous == 0x07, |_| ends_row(at)) => {
                if text.ends_with('\t') {
                    text.pop();
                }
                text.push('\n');
            }
            0x07 => text.push('\t'),
            0x09 => text.push('\t'),
            0x1E => text.push('\u{2011}'),
            0x1F => text.push('\u{AD}'),
            0xA0 => text.push('\u{A0}'),
            // Pictures, drawn objects, note and comment references, and
            // other control characters.
            0x00..=0x1F => {}
            _ => text.push(c),
        }
        previous = unit;
    }
    // A paragraph mark ends each paragraph: one blank line between them.
    let mut tidy = String::with_capacity(text.len());
    let mut newlines = 0;
    for c in text.chars() {
        if c == '\n' {
            newlines += 1;
            if newlines <= 2 {
                tidy.push(c);
            }
        } else {
            newlines = 0;
            tidy.push(c);
        }
    }
    tidy
}
