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

use super::ole::u16_at;
use super::xlsx::MAX_TABS_BETWEEN_CELLS;
use super::ExtractError;

const BOF: u16 = 0x0809;
const FILEPASS: u16 = 0x002F;
const DIMENSIONS: u16 = 0x0200;
/// Cells with a value, their row and column first: FORMULA, RSTRING,
/// LABELSST, NUMBER, LABEL, BOOLERR, RK.
const CELLS: [u16; 7] = [0x0006, 0x00D6, 0x00FD, 0x0203, 0x0204, 0x0205, 0x027E];
/// A run of RK cells along a row: row, first column, …, last column.
const MULRK: u16 = 0x00BD;

/// The stream with its cells moved together, and the grid cells the
/// sheets take then.
pub fn compact(stream: &[u8]) -> Result<(Vec<u8>, u64), ExtractError> {
    // Each substream's (a sheet's, or an embedded chart's) rows and columns.
    let mut used: Vec<(Vec<u16>, Vec<u16>)> = Vec::new();
    for record in records(stream) {
        match record.kind {
            FILEPASS => return Err(ExtractError("the workbook is encrypted (password-protected)".into())),
            BOF => used.push((Vec::new(), Vec::new())),
            _ => {
                let Some((row, first, last)) = record.cells() else { continue };
                if let Some((rows, columns)) = used.last_mut() {
                    rows.push(row);
                    columns.extend(first..=last);
                }
            }
        }
    }
    let maps: Vec<Map> = used.into_iter().map(|(rows, columns)| Map::new(rows, columns)).collect();
    let grid = maps.iter().map(Map::grid).sum();
    let mut out = stream.to_vec();
    let mut substream: Option<usize> = None;
    for record in records(stream) {
        let body = record.at + 4;
        match record.kind {
            BOF => substream = Some(substream.map_or(0, |n| n + 1)),
            DIMENSIONS => one_cell_dimensions(&mut out[body..body + record.len]),
            _ => {
                let (Some((row, first, last)), Some(map)) = (record.cells(), substream.and_then(|n| maps.get(n)))
                else {
                    continue;
                };
                put_u16(&mut out, body, map.row(row));
                put_u16(&mut out, body + 2, map.column(first));
                if record.kind == MULRK {
                    put_u16(&mut out, body + record.len - 2, map.column(last));
                }
            }
        }
    }
    Ok((out, grid))
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
    use super::Map;

    #[test]
    fn columns_keep_their_order_and_at_most_sixteen_empty_between() {
        let map = Map::new(vec![7, 65535, 7], vec![3, 4, 200, 255]);
        assert_eq!((map.row(7), map.row(65535)), (0, 1));
        assert_eq!([3, 4, 200, 255].map(|c| map.column(c)), [0, 1, 17, 33]);
        assert_eq!(map.grid(), 2 * 34);
    }
}
