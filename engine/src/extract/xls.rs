//! Excel 97-2003 workbooks (`.xls`, BIFF8) through calamine: the text as an
//! XLSX's (each sheet after a line with its name, a row a line of
//! tab-separated cells), properties from `SummaryInformation`.
//!
//! calamine lays each sheet out as a dense grid from its first to its last
//! cell, so a file of a few kilobytes naming cells A1 and IV65536 would
//! take gigabytes: the grid the cells span is counted first, from the cell
//! records themselves, and a workbook past [`MAX_GRID_CELLS`] is refused.

use std::io::Cursor;

use calamine::{Data, DataRef, Reader};

use super::ole::{self, u16_at};
use super::xlsx::{write_cell, SheetCells, MAX_WORKBOOK_TEXT_BYTES};
use super::{ExtractError, Extracted};
use crate::structure::{plain_inlines, Block, MAX_TABLE_ROWS};
use crate::Options;

/// Cells the sheets' grids may hold together (each 56 bytes in calamine's
/// grids): 224 MiB.
pub const MAX_GRID_CELLS: u64 = 4 << 20;

pub fn extract(bytes: &[u8], options: &Options) -> Result<Extracted, ExtractError> {
    let mut file = ole::open(bytes)?;
    let stream = ole::stream(&mut file, "/Workbook")
        .or_else(|| ole::stream(&mut file, "/Book"))
        .ok_or_else(|| ExtractError("not an Excel workbook: the Workbook stream is missing".into()))?;
    let grid = grid_cells(&stream)?;
    if grid > MAX_GRID_CELLS {
        return Err(ExtractError(format!(
            "the workbook's cells span {grid} grid cells, above the limit of {MAX_GRID_CELLS}"
        )));
    }
    let mut workbook =
        calamine::Xls::new(Cursor::new(bytes)).map_err(|err| ExtractError(format!("unreadable workbook: {err}")))?;
    let mut extracted = Extracted::default();
    let names = workbook.sheet_names();
    let mut text = String::new();
    for name in &names {
        text.push_str(name);
        text.push('\n');
        let mut sheet = SheetCells::default();
        match workbook.worksheet_range(name) {
            Ok(range) => {
                let (top, left) = range.start().unwrap_or((0, 0));
                for (row, column, value) in range.used_cells() {
                    let start = sheet.text.len();
                    write_cell(&as_ref(value), &mut sheet.text);
                    if sheet.text[start..].trim().is_empty() {
                        sheet.text.truncate(start);
                        continue;
                    }
                    let (row, column) = (top + row as u32, left + column as u32);
                    sheet.cells.push((row, column, start as u32, sheet.text.len() as u32));
                }
            }
            Err(err) => extracted.warnings.push(format!("sheet {name:?}: {err}")),
        }
        if options.wants_structure() {
            extracted.blocks.push(Block::Heading { level: 1, content: plain_inlines(name) });
            let rows = sheet.table_rows();
            if !rows.is_empty() {
                extracted.blocks.push(Block::Table(rows.into_iter().take(MAX_TABLE_ROWS).collect()));
            }
        }
        sheet.write_rows(&mut text);
        text.push('\n');
        if text.len() > MAX_WORKBOOK_TEXT_BYTES {
            extracted.warnings.push(format!(
                "truncated: the workbook's text passed {} MiB after sheet {name:?}",
                MAX_WORKBOOK_TEXT_BYTES >> 20
            ));
            break;
        }
    }
    extracted.text = text;
    ole::summary(&mut file, &mut extracted);
    extracted.metadata.remove("pages");
    extracted.set("sheets", names.len());
    extracted.set("sheet_names", names);
    Ok(extracted)
}

fn as_ref(value: &Data) -> DataRef<'_> {
    match value {
        Data::Int(n) => DataRef::Int(*n),
        Data::Float(x) => DataRef::Float(*x),
        Data::String(s) => DataRef::String(s.clone()),
        Data::Bool(b) => DataRef::Bool(*b),
        Data::DateTime(when) => DataRef::DateTime(*when),
        Data::DateTimeIso(s) => DataRef::DateTimeIso(s.clone()),
        Data::DurationIso(s) => DataRef::DurationIso(s.clone()),
        Data::Error(err) => DataRef::Error(err.clone()),
        Data::Empty => DataRef::Empty,
    }
}

/// The grid cells calamine's sheets would hold: for each sheet (a `BOF`
/// record begins it), the rectangle from its first to its last value
/// cell. An encrypted workbook (`FILEPASS`) is refused here.
fn grid_cells(stream: &[u8]) -> Result<u64, ExtractError> {
    const BOF: u16 = 0x0809;
    const FILEPASS: u16 = 0x002F;
    // Cells with a value: FORMULA, RSTRING, LABELSST, NUMBER, LABEL,
    // BOOLERR, RK, and MULRK (a run of RK cells along a row).
    const CELLS: [u16; 7] = [0x0006, 0x00D6, 0x00FD, 0x0203, 0x0204, 0x0205, 0x027E];
    const MULRK: u16 = 0x00BD;
    let mut total = 0u64;
    let mut bounds: Option<(u16, u16, u16, u16)> = None;
    let area = |bounds: Option<(u16, u16, u16, u16)>| {
        bounds.map_or(0, |(top, bottom, left, right)| (u64::from(bottom - top) + 1) * (u64::from(right - left) + 1))
    };
    let mut pos = 0;
    while let (Some(kind), Some(len)) = (u16_at(stream, pos), u16_at(stream, pos + 2)) {
        let body = stream.get(pos + 4..(pos + 4 + usize::from(len)).min(stream.len())).unwrap_or_default();
        pos += 4 + usize::from(len);
        let mut cover = |row: u16, first: u16, last: u16| {
            let (top, bottom, left, right) = bounds.get_or_insert((row, row, first, last));
            *top = (*top).min(row);
            *bottom = (*bottom).max(row);
            *left = (*left).min(first);
            *right = (*right).max(last);
        };
        match kind {
            FILEPASS => return Err(ExtractError("the workbook is encrypted (password-protected)".into())),
            BOF => total += area(bounds.take()),
            MULRK => {
                if let (Some(row), Some(first), Some(last)) =
                    (u16_at(body, 0), u16_at(body, 2), body.len().checked_sub(2).and_then(|at| u16_at(body, at)))
                {
                    cover(row, first, last.max(first));
                }
            }
            kind if CELLS.contains(&kind) => {
                if let (Some(row), Some(column)) = (u16_at(body, 0), u16_at(body, 2)) {
                    cover(row, column, column);
                }
            }
            _ => {}
        }
    }
    Ok(total + area(bounds))
}
