//! Excel 97-2003 workbooks (`.xls`, BIFF8) through calamine: the text as an
//! XLSX's (each sheet after a line with its name, a row a line of
//! tab-separated cells), properties from `SummaryInformation`.
//!
//! calamine lays each sheet out as a dense grid from its first cell to its
//! last: the workbook stream is compacted first (`xls_records.rs`), and one
//! with more than [`MAX_GRID_CELLS`] cells is refused; cells that would
//! copy its shared strings past the text's limit are left out.

use std::io::{Cursor, Write};

use calamine::{Data, DataRef, Reader};

use super::xlsx::{SheetCells, MAX_WORKBOOK_TEXT_BYTES};
use super::{ole, xls_records};
use super::{ExtractError, Extracted};
use crate::structure::{plain_inlines, Block, MAX_TABLE_ROWS};
use crate::Options;

/// Cells the sheets' grids may hold together once compacted (each 56 bytes
/// in calamine's grids): 224 MiB.
pub const MAX_GRID_CELLS: u64 = 4 << 20;

pub fn extract(bytes: &[u8], options: &Options) -> Result<Extracted, ExtractError> {
    let (mut file, cut_short) = ole::open(bytes)?;
    let stream = ole::stream(&mut file, "/Workbook")
        .or_else(|| ole::stream(&mut file, "/Book"))
        .ok_or_else(|| ExtractError("not an Excel workbook: the Workbook stream is missing".into()))?;
    let shared_budget = xls_records::shared_string_budget(stream.len());
    let xls_records::Compacted { stream, grid, blanked } = xls_records::compact(&stream, shared_budget)?;
    if grid > MAX_GRID_CELLS {
        return Err(ExtractError(format!("the workbook has {grid} cells, above the limit of {MAX_GRID_CELLS}")));
    }
    let compacted = workbook_file(&stream)?;
    let mut workbook = calamine::Xls::new(Cursor::new(compacted.as_slice()))
        .map_err(|err| ExtractError(format!("unreadable workbook: {err}")))?;
    let mut extracted = Extracted::default();
    if cut_short {
        extracted.warnings.push(ole::CUT_SHORT.into());
    }
    if blanked > 0 {
        extracted.warnings.push(format!(
            "truncated: {blanked} cells left out, their copies of the shared strings past {} Mi characters",
            shared_budget >> 20
        ));
    }
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
                    sheet.push(top + row as u32, left + column as u32, &as_ref(value));
                    if text.len() + sheet.len() > MAX_WORKBOOK_TEXT_BYTES {
                        break;
                    }
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

/// A compound file holding only `stream` as the workbook, for calamine.
fn workbook_file(stream: &[u8]) -> Result<Vec<u8>, ExtractError> {
    let failed = |err: std::io::Error| ExtractError(format!("workbook: {err}"));
    // Version 3 (512-byte sectors), as Excel writes: calamine refuses a
    // version 4 file whose small streams hold nothing.
    let buffer = Cursor::new(Vec::with_capacity(stream.len() + (64 << 10)));
    let mut file = cfb::CompoundFile::create_with_version(cfb::Version::V3, buffer).map_err(failed)?;
    file.create_stream("/Workbook").and_then(|mut out| out.write_all(stream)).map_err(failed)?;
    file.flush().map_err(failed)?;
    Ok(file.into_inner().into_inner())
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
