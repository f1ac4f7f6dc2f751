//! An Excel 97-2003 workbook stream made safe for calamine's `Xls`, which
//! lays each sheet out as a dense grid from its first cell to its last and
//! reserves room for the area a sheet's `DIMENSIONS` record declares. A file
//! of a kilobyte naming cells A1 and IV65536, or declaring four billion
//! rows, would ask for gigabytes.
//!
//! So each sheet's cells are moved together before calamine sees them:
//! rows that hold no cell are dropped (the text has no line for them) and a
//! run of empty columns is kept at most [`MAX_TABS_BETWEEN_CELLS`] wide (as
//! many tabs as the text writes for it), so the grid follows the cells that
//! are really there. `DIMENSIONS` records are set to one cell.
//!
//! calamine gives each cell that names a shared string a copy of it: a
//! hundred kilobytes naming one 8,000-character string ten thousand times
//! would ask for 80 MB, a megabyte for a gigabyte. The strings' lengths are
//! read from the `SST` record, and the cells past [`shared_string_budget`]
//! characters of copies are turned into blank cells, which calamine skips.

use super::ole::{u16_at, u32_at};
use super::xlsx::MAX_TABS_BETWEEN_CELLS;
use super::ExtractError;

const BOF: u16 = 0x0809;
const FILEPASS: u16 = 0x002F;
const DIMENSIONS: u16 = 0x0200;
const SST: u16 = 0x00FC;
const CONTINUE: u16 = 0x003C;
const LABELSST: u16 = 0x00FD;
const BLANK: u16 = 0x0201;
/// Cells with a value, their row and column first: FORMULA, RSTRING,
/// LABELSST, NUMBER, LABEL, BOOLERR, RK.
const CELLS: [u16; 7] = [0x0006, 0x00D6, 0x00FD, 0x0203, 0x0204, 0x0205, 0x027E];
/// A run of RK cells along a row: row, first column, …, last column.
const MULRK: u16 = 0x00BD;

/// Characters of shared strings the cells may copy together (a tab each
/// besides): the workbook text's own limit.
const MAX_SHARED_STRING_CHARS: u64 = super::xlsx::MAX_WORKBOOK_TEXT_BYTES as u64;

/// The characters a workbook stream's cells may copy from its shared
/// strings: sixteen for each byte of the stream (a cell's record takes 14,
/// so cells averaging more than 200 characters of copies), at least 16 Mi,
/// at most [`MAX_SHARED_STRING_CHARS`].
pub fn shared_string_budget(stream_len: usize) -> u64 {
    (16 * stream_len as u64).clamp(16 << 20, MAX_SHARED_STRING_CHARS)
}

/// A workbook stream made ready for calamine.
pub struct Compacted {
    pub stream: Vec<u8>,
    /// The grid cells the sheets take.
    pub grid: u64,
    /// Cells left out, their shared strings past the limit.
    pub blanked: u64,
}

/// The stream with its cells moved together, and its cells past
/// `max_shared_chars` of shared strings blanked.
pub fn compact(stream: &[u8], max_shared_chars: u64) -> Result<Compacted, ExtractError> {
    // Each substream's (a sheet's, or an embedded chart's) rows and columns.
    let mut used: Vec<(Vec<u16>, Vec<u16>)> = Vec::new();
    // The last SST record's body past its counts, and its CONTINUE records.
    let mut shared: Vec<&[u8]> = Vec::new();
    let mut in_shared = false;
    for record in records(stream) {
        in_shared = record.kind == SST || (in_shared && record.kind == CONTINUE);
        match record.kind {
            FILEPASS => return Err(ExtractError("the workbook is encrypted (password-protected)".into())),
            BOF => used.push((Vec::new(), Vec::new())),
            SST => shared = vec![record.body.get(8..).unwrap_or_default()],
            CONTINUE if in_shared => shared.push(record.body),
            _ => {
                let Some((row, first, last)) = record.cells() else { continue };
                if let Some((rows, columns)) = used.last_mut() {
                    rows.push(row);
                    columns.extend(first..=last);
                }
            }
        }
    }
    let lengths = shared_string_lengths(&shared);
    let (mut copied, mut blanked) = (0u64, 0u64);
    let maps: Vec<Map> = used.into_iter().map(|(rows, columns)| Map::new(rows, columns)).collect();
    let grid = maps.iter().map(Map::grid).sum();
    let mut out = stream.to_vec();
    let mut substream: Option<usize> = None;
    for record in records(stream) {
        let body = record.at + 4;
        match record.kind {
            BOF => substream = Some(substream.map_or(0, |n| n + 1)),
            DIMENSIONS => one_cell_dimensions(&mut out[body..body + record.len]),
            LABELSST => {
                if let Some(index) = u32_at(record.body, 6) {
                    copied += lengths.get(index as usize).map_or(0, |chars| u64::from(*chars) + 1);
                    if copied > max_shared_chars {
                        put_u16(&mut out, record.at, BLANK);
                        blanked += 1;
                    }
                }
            }
            _ => {}
        }
        if let (Some((row, first, last)), Some(map)) = (record.cells(), substream.and_then(|n| maps.get(n))) {
            put_u16(&mut out, body, map.row(row));
            put_u16(&mut out, body + 2, map.column(first));
            if record.kind == MULRK {
                put_u16(&mut out, body + record.len - 2, map.column(last));
            }
        }
    }
    Ok(Compacted { stream: out, grid, blanked })
}

/// The character count of each string of a shared string table (an
/// `XLUnicodeRichExtendedString` after another, across the `CONTINUE`
/// records), up to the first one cut short.
fn shared_string_lengths(segments: &[&[u8]]) -> Vec<u16> {
    let mut reader = Segments { segments, index: 0, at: 0 };
    let mut lengths = Vec::new();
    while let Some(chars) = reader.string() {
        lengths.push(chars);
    }
    lengths
}

/// A reader over a record's body and its continuations.
struct Segments<'a> {
    segments: &'a [&'a [u8]],
    index: usize,
    at: usize,
}

impl Segments<'_> {
    fn byte(&mut self) -> Option<u8> {
        loop {
            let segment = self.segments.get(self.index)?;
            if let Some(&byte) = segment.get(self.at) {
                self.at += 1;
                return Some(byte);
            }
            (self.index, self.at) = (self.index + 1, 0);
        }
    }

    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut out = [0; N];
        for byte in &mut out {
            *byte = self.byte()?;
        }
        Some(out)
    }

    /// Skips `n` bytes, across segments.
    fn skip(&mut self, mut n: usize) -> Option<()> {
        while n > 0 {
            let left = self.segments.get(self.index)?.len().saturating_sub(self.at);
            let step = left.min(n);
            (self.at, n) = (self.at + step, n - step);
            if n > 0 {
                (self.index, self.at) = (self.index + 1, 0);
            }
        }
        Some(())
    }

    /// One string's character count, the reader past it. Characters cut
    /// by a segment's end go on in the next after a byte of flags that
    /// says again whether they take one byte or two.
    fn string(&mut self) -> Option<u16> {
        let chars = u16::from_le_bytes(self.bytes()?);
        let flags = self.byte()?;
        let runs = if flags & 0x08 != 0 { usize::from(u16::from_le_bytes(self.bytes()?)) } else { 0 };
        let extra = if flags & 0x04 != 0 { u32::from_le_bytes(self.bytes()?) as usize } else { 0 };
        let (mut left, mut wide) = (usize::from(chars), flags & 0x01 != 0);
        while left > 0 {
            let width = if wide { 2 } else { 1 };
            let room = self.segments.get(self.index)?.len().saturating_sub(self.at) / width;
            let step = room.min(left);
            (self.at, left) = (self.at + step * width, left - step);
            if left > 0 {
                (self.index, self.at) = (self.index + 1, 0);
                wide = self.segments.get(self.index)?.first()? & 0x01 != 0;
                self.at = 1;
            }
        }
        self.skip(4 * runs + extra)?;
        Some(chars)
    }
}

struct Record<'a> {
    kind: u16,
    at: usize,
    len: usize,
    body: &'a [u8],
}

impl Record<'_> {
    /// The row and the first and last column of a cell record.
    fn cells(&self) -> Option<(u16, u16, u16)> {
        let (row, first) = (u16_at(self.body, 0)?, u16_at(self.body, 2)?);
        if self.kind == MULRK {
            let last = u16_at(self.body, self.body.len().checked_sub(2)?)?;
            // Six bytes a cell between the row and column and the last
            // column: a record that says otherwise is not read.
            let cells = usize::from(last.checked_sub(first)?) + 1;
            return (self.body.len() == 6 + 6 * cells).then_some((row, first, last));
        }
        CELLS.contains(&self.kind).then_some((row, first, first))
    }
}

/// The stream's records, up to the first one cut short.
fn records(stream: &[u8]) -> impl Iterator<Item = Record<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let kind = u16_at(stream, at)?;
        let len = usize::from(u16_at(stream, at + 2)?);
        let body = stream.get(at + 4..at + 4 + len)?;
        let record = Record { kind, at, len, body };
        at += 4 + len;
        Some(record)
    })
}

fn put_u16(out: &mut [u8], at: usize, value: u16) {
    out[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

/// A `DIMENSIONS` record (BIFF8's 32-bit rows, or BIFF5's 16-bit) set to
/// the first cell alone.
fn one_cell_dimensions(body: &mut [u8]) {
    body.fill(0);
    match body.len() {
        10 => {
            body[2] = 1;
            body[6] = 1;
        }
        14 | 16 => {
            body[4] = 1;
            body[10] = 1;
        }
        _ => {}
    }
}

/// Where a sheet's rows and columns move to.
struct Map {
    rows: Vec<u16>,
    /// The columns used, and where each moves.
    columns: Vec<(u16, u16)>,
}

impl Map {
    fn new(mut rows: Vec<u16>, mut columns: Vec<u16>) -> Map {
        rows.sort_unstable();
        rows.dedup();
        columns.sort_unstable();
        columns.dedup();
        let mut moved = Vec::with_capacity(columns.len());
        let mut previous: Option<(u16, u16)> = None;
        for column in columns {
            let to = match previous {
                None => 0,
                Some((from, to)) => to + (column - from).min(MAX_TABS_BETWEEN_CELLS as u16),
            };
            moved.push((column, to));
            previous = Some((column, to));
        }
        Map { rows, columns: moved }
    }

    fn row(&self, row: u16) -> u16 {
        self.rows.binary_search(&row).map_or(row, |index| index as u16)
    }

    fn column(&self, column: u16) -> u16 {
        self.columns.binary_search_by_key(&column, |(from, _)| *from).map_or(column, |index| self.columns[index].1)
    }

    fn grid(&self) -> u64 {
        let width = self.columns.last().map_or(0, |(_, to)| u64::from(*to) + 1);
        self.rows.len() as u64 * width
    }
}

#[cfg(test)]
mod tests {
    use super::{compact, shared_string_lengths, Map, BLANK, LABELSST};

    fn record(kind: u16, body: &[u8]) -> Vec<u8> {
        [kind.to_le_bytes().as_slice(), &(body.len() as u16).to_le_bytes(), body].concat()
    }

    #[test]
    fn shared_strings_are_measured_across_continue_records_and_their_runs() {
        // "abc" with two formatting runs; "hello" in two-byte characters
        // cut after "he", going on in one-byte ones; "" ; "xyz" with 3
        // bytes of phonetic data.
        let first = [&[3, 0, 0x08, 2, 0][..], b"abc", &[0; 8], &[5, 0, 0x01], &[b'h', 0, b'e', 0]].concat();
        let second = [&[0x00][..], b"llo", &[0, 0, 0], &[3, 0, 0x04, 3, 0, 0, 0], b"xyz", &[9, 9, 9]].concat();
        assert_eq!(shared_string_lengths(&[&first, &second]), [3, 5, 0, 3]);
        // A string cut short ends the table.
        assert_eq!(shared_string_lengths(&[&[2, 0, 0, b'a', b'b', 4, 0, 0, b'c']]), [2]);
    }

    #[test]
    fn cells_past_the_budget_of_shared_string_copies_are_blanked() {
        let long = "x".repeat(1000);
        let sst = [&[0; 8][..], &[232, 3, 0], long.as_bytes(), &[1, 0, 0, b'y']].concat();
        let label = |row: u16, index: u32| {
            record(LABELSST, &[row.to_le_bytes().as_slice(), &[0, 0, 0, 0], &index.to_le_bytes()].concat())
        };
        let mut stream = [record(0x0809, &[0; 16]), record(0x00FC, &sst), record(0x000A, &[])].concat();
        stream.extend(record(0x0809, &[0; 16]));
        for row in 0..10 {
            stream.extend(label(row, 0));
        }
        stream.extend(label(10, 1));
        stream.extend(record(0x000A, &[]));
        let compacted = compact(&stream, 5_005).unwrap();
        assert_eq!(compacted.blanked, 6, "five copies of 1,000 characters and their tabs fit, not six");
        let kinds: Vec<u16> = super::records(&compacted.stream).map(|r| r.kind).collect();
        assert_eq!(kinds.iter().filter(|&&k| k == LABELSST).count(), 5);
        assert_eq!(kinds.iter().filter(|&&k| k == BLANK).count(), 6, "the short string past the budget too");
        assert_eq!(compact(&stream, 1 << 20).unwrap().blanked, 0);
    }

    #[test]
    fn columns_keep_their_order_and_at_most_sixteen_empty_between() {
        let map = Map::new(vec![7, 65535, 7], vec![3, 4, 200, 255]);
        assert_eq!((map.row(7), map.row(65535)), (0, 1));
        assert_eq!([3, 4, 200, 255].map(|c| map.column(c)), [0, 1, 17, 33]);
        assert_eq!(map.grid(), 2 * 34);
    }
}
