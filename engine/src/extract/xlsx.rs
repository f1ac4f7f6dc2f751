//! XLSX workbooks through calamine's streaming cell reader: each sheet's
//! cells in row order as tab-separated lines, dates as ISO 8601, document
//! properties as metadata.
//!
//! Nothing is allocated by what a workbook declares (a sheet's `dimension`,
//! the shared-string count): a file of a kilobyte may declare the whole
//! 16,384 × 1,048,576 grid. Memory follows the cells that are really there.

use std::fmt::Write as _;
use std::io::Cursor;

use calamine::{DataRef, Reader, XlsxError};

use super::office::{ooxml_properties, refuse_encrypted};
use super::zipsafe::{Container, MAX_ENTRY_BYTES, MAX_TOTAL_BYTES};
use super::{ExtractError, Extracted};
use crate::structure::{plain_inlines, Block, Cell, MAX_TABLE_COLUMNS, MAX_TABLE_ROWS};
use crate::Options;

/// Tabs written for the empty columns before a cell (one per column, up to
/// this many). Ordinary sheets keep their columns aligned; a row with cells
/// in columns A and XFD does not become 16 KB of tabs, so the text stays
/// about as large as the sheet's XML.
pub const MAX_TABS_BETWEEN_CELLS: u32 = 16;

/// Text read from one workbook. Shared strings are the way a small file
/// expands (a long string referenced by every cell); past this the
/// remaining cells are dropped with a `truncated` warning. It is the
/// decompressed-size cap of one part: a sheet whose XML holds its own text
/// never reaches it.
pub const MAX_WORKBOOK_TEXT_BYTES: usize = MAX_ENTRY_BYTES as usize;

/// Shared strings a workbook may announce in `<sst uniqueCount>`. calamine
/// reserves room for that many before reading one, so a lying count would
/// abort the process; at 24 bytes a string this is 384 MiB of address space
/// at most, far above the unique strings of real workbooks (Excel's own
/// sheets hold about a million rows).
pub const MAX_DECLARED_SHARED_STRINGS: u64 = 16 << 20;

pub fn xlsx(bytes: &[u8], options: &Options) -> Result<Extracted, ExtractError> {
    refuse_encrypted(bytes)?;
    let mut container = Container::open(bytes)?;
    if container.declared > MAX_TOTAL_BYTES {
        return Err(ExtractError(format!(
            "spreadsheet declares {} MiB of decompressed data, above the {} MiB limit",
            container.declared >> 20,
            MAX_TOTAL_BYTES >> 20
        )));
    }
    refuse_lying_shared_strings(&mut container)?;
    let mut extracted = Extracted::default();
    ooxml_properties(&mut container, &mut extracted);
    extracted.metadata.remove("pages");
    extracted.warnings.append(&mut container.warnings);
    // The container's bytes: the file itself, or the zip rebuilt from a
    // file cut short (its warnings already say so).
    let mut comments = super::xlsx_comments::sheet_comments(&mut container);
    let mut workbook = calamine::Xlsx::new(Cursor::new(container.bytes()))
        .map_err(|err| ExtractError(format!("unreadable workbook: {err}")))?;
    let names = workbook.sheet_names();
    let mut text = String::new();
    for name in &names {
        if text.len() >= MAX_WORKBOOK_TEXT_BYTES {
            extracted.warnings.push(format!(
                "truncated: sheet {name:?} and those after it not read: the workbook's text passed {} MiB",
                MAX_WORKBOOK_TEXT_BYTES >> 20
            ));
            break;
        }
        text.push_str(name);
        text.push('\n');
        let budget = MAX_WORKBOOK_TEXT_BYTES.saturating_sub(text.len());
        let mut sheet = read_sheet(&mut workbook, name, budget);
        if let Some(err) = sheet.error.take() {
            extracted.warnings.push(format!("sheet {name:?}: {err}"));
        }
        if sheet.uncomputed_formulas > 0 {
            extracted.warnings.push(format!(
                "sheet {name:?}: {} formula cells have no stored result (the workbook was never recalculated): their values are not in the text",
                sheet.uncomputed_formulas
            ));
        }
        if sheet.truncated {
            extracted.warnings.push(format!(
                "truncated: sheet {name:?} cut where the workbook's text passed {} MiB",
                MAX_WORKBOOK_TEXT_BYTES >> 20
            ));
        }
        if options.wants_structure() {
            // Each sheet a heading and a table, in the Markdown.
            extracted.blocks.push(Block::Heading { level: 1, content: plain_inlines(name) });
            let rows = sheet.table_rows();
            if rows.len() > MAX_TABLE_ROWS {
                extracted
                    .warnings
                    .push(format!("truncated: sheet {name:?} in the Markdown cut at {MAX_TABLE_ROWS} rows"));
            }
            if !rows.is_empty() {
                extracted.blocks.push(Block::Table(rows.into_iter().take(MAX_TABLE_ROWS).collect()));
            }
        }
        sheet.write_rows(&mut text);
        // The sheet's comments follow its cells, a line each.
        for comment in comments.remove(name.as_str()).unwrap_or_default() {
            text.push_str(&comment);
            text.push('\n');
            if options.wants_structure() {
                extracted.blocks.push(Block::Paragraph(plain_inlines(&comment)));
            }
        }
        text.push('\n');
    }
    extracted.set("sheets", names.len());
    extracted.set("sheet_names", names);
    extracted.text = text;
    Ok(extracted)
}

/// calamine reserves `uniqueCount` strings up front; a count no real
/// workbook has is refused before calamine sees it.
fn refuse_lying_shared_strings(container: &mut Container<'_>) -> Result<(), ExtractError> {
    let parts: Vec<String> =
        container.names().into_iter().filter(|name| name.to_ascii_lowercase().ends_with("sharedstrings.xml")).collect();
    for part in parts {
        let Some(head) = container.read_head(&part, 4096) else { continue };
        let head = String::from_utf8_lossy(&head);
        let Some(at) = head.find("uniqueCount") else { continue };
        let digits: String = head[at + "uniqueCount".len()..]
            .trim_start_matches(|c: char| c.is_whitespace() || c == '=' || c == '"' || c == '\'')
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        // Too many digits for a u64 is too many strings as well.
        let count = digits.parse::<u64>().unwrap_or(u64::MAX);
        if !digits.is_empty() && count > MAX_DECLARED_SHARED_STRINGS {
            return Err(ExtractError(format!(
                "{part} declares {digits} shared strings, above the limit of {MAX_DECLARED_SHARED_STRINGS}"
            )));
        }
    }
    Ok(())
}

/// One sheet's cells as they were read: their text in one buffer, and for
/// each its position and the span of its text, so a million cells cost 16
/// bytes each beside their text.
#[derive(Default)]
pub(super) struct SheetCells {
    text: String,
    /// `(row, column, start, end)` of each non-empty cell, `start..end`
    /// into `text`.
    cells: Vec<(u32, u32, u32, u32)>,
    error: Option<XlsxError>,
    truncated: bool,
    /// Formula cells without a stored result.
    uncomputed_formulas: usize,
}

fn read_sheet(workbook: &mut calamine::Xlsx<Cursor<&[u8]>>, name: &str, budget: usize) -> SheetCells {
    let mut sheet = SheetCells::default();
    let mut reader = match workbook.worksheet_cells_reader(name) {
        Ok(reader) => reader,
        // A chart sheet holds no cells.
        Err(XlsxError::NotAWorksheet(_)) => return sheet,
        Err(err) => {
            sheet.error = Some(err);
            return sheet;
        }
    };
    loop {
        let cell = match reader.next_cell_with_formula_metadata() {
            Ok(Some(cell)) => cell,
            Ok(None) => break,
            // What was read before the damage is kept.
            Err(err) => {
                sheet.error = Some(err);
                break;
            }
        };
        let start = sheet.text.len();
        let (row, column) = cell.pos;
        if !sheet.push(row, column, &cell.value) {
            // A formula whose result the file never stored (a workbook
            // written by a library, never opened in a spreadsheet
            // application): its value is not in the file to read.
            if cell.formula.is_some() {
                sheet.uncomputed_formulas += 1;
            }
            continue;
        }
        if sheet.text.len() > budget {
            sheet.cells.pop();
            sheet.text.truncate(start);
            sheet.truncated = true;
            break;
        }
    }
    sheet
}

impl SheetCells {
    /// Bytes of text the cells hold.
    pub(super) fn len(&self) -> usize {
        self.text.len()
    }

    /// Writes a cell's text and keeps its place; false, keeping nothing,
    /// when the cell shows no text. Offsets fit in `u32`: callers stop
    /// below [`MAX_WORKBOOK_TEXT_BYTES`].
    pub(super) fn push(&mut self, row: u32, column: u32, value: &DataRef<'_>) -> bool {
        let start = self.text.len();
        write_cell(value, &mut self.text);
        if self.text[start..].trim().is_empty() {
            self.text.truncate(start);
            return false;
        }
        self.cells.push((row, column, start as u32, self.text.len() as u32));
        true
    }

    fn sort(&mut self) {
        // Sheets list their cells in order; a stable sort keeps the last of
        // two cells at one position last, and that one wins.
        if !self.cells.is_sorted_by_key(|(row, column, ..)| (*row, *column)) {
            self.cells.sort_by_key(|(row, column, ..)| (*row, *column));
        }
    }

    /// The rows as table rows for the block model (one more than
    /// [`MAX_TABLE_ROWS`] at most, so the caller can tell it cut), empty
    /// columns as empty cells as in the text.
    pub(super) fn table_rows(&mut self) -> Vec<Vec<Cell>> {
        self.sort();
        let first_column = self.cells.iter().map(|(_, column, ..)| *column).min().unwrap_or(0);
        let mut rows: Vec<Vec<Cell>> = Vec::new();
        let mut current: Option<(u32, u32)> = None;
        for (index, &(row, column, start, end)) in self.cells.iter().enumerate() {
            if self.cells.get(index + 1).is_some_and(|next| (next.0, next.1) == (row, column)) {
                continue;
            }
            if current.is_none_or(|(current_row, _)| current_row != row) {
                if rows.len() > MAX_TABLE_ROWS {
                    break;
                }
                rows.push(Vec::new());
                current = Some((row, first_column));
            }
            let (_, next_column) = current.expect("a row is open");
            let cells = rows.last_mut().expect("a row is open");
            let gap = (column - next_column).min(MAX_TABS_BETWEEN_CELLS);
            for _ in 0..gap {
                if cells.len() < MAX_TABLE_COLUMNS {
                    cells.push(Vec::new());
                }
            }
            if cells.len() < MAX_TABLE_COLUMNS {
                cells.push(plain_inlines(self.text[start as usize..end as usize].trim()));
            }
            current = Some((row, column + 1));
        }
        rows
    }

    /// The cells row by row, each row one line of tab-separated cells, the
    /// columns counted from the leftmost cell of the sheet.
    pub(super) fn write_rows(mut self, out: &mut String) {
        self.sort();
        let first_column = self.cells.iter().map(|(_, column, ..)| *column).min().unwrap_or(0);
        let mut index = 0;
        while index < self.cells.len() {
            let row = self.cells[index].0;
            let mut previous_column = None;
            while index < self.cells.len() && self.cells[index].0 == row {
                let (_, column, start, end) = self.cells[index];
                index += 1;
                if self.cells.get(index).is_some_and(|next| (next.0, next.1) == (row, column)) {
                    continue;
                }
                let gap = match previous_column {
                    None => column - first_column,
                    Some(previous) => column - previous,
                };
                out.extend(std::iter::repeat_n('\t', gap.min(MAX_TABS_BETWEEN_CELLS) as usize));
                out.push_str(&self.text[start as usize..end as usize]);
                previous_column = Some(column);
            }
            out.push('\n');
        }
    }
}

/// A cell as a reader of the sheet sees it. Dates and times are stored as
/// day counts; they are written as ISO 8601 (`2024-03-01`,
/// `2024-03-01T13:30:00`, `13:30:00`), durations as hours:minutes:seconds,
/// so that a date reads as a date and not as 45352.
fn write_cell(cell: &DataRef<'_>, out: &mut String) {
    match cell {
        DataRef::Empty => {}
        DataRef::SharedString(text) => out.push_str(text),
        DataRef::String(text) => out.push_str(text),
        DataRef::DateTime(when) if when.is_duration() => {
            let seconds = (when.as_f64() * 86_400.0).round() as i64;
            let sign = if seconds < 0 { "-" } else { "" };
            let seconds = seconds.abs();
            let _ = write!(out, "{sign}{}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
        }
        DataRef::DateTime(when) => {
            let (year, month, day, hour, minute, second, _) = when.to_ymd_hms_milli();
            if (0.0..1.0).contains(&when.as_f64()) {
                let _ = write!(out, "{hour:02}:{minute:02}:{second:02}");
            } else if (hour, minute, second) == (0, 0, 0) {
                let _ = write!(out, "{year:04}-{month:02}-{day:02}");
            } else {
                let _ = write!(out, "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
            }
        }
        DataRef::Int(n) => {
            let _ = write!(out, "{n}");
        }
        DataRef::Float(x) => {
            let _ = write!(out, "{x}");
        }
        DataRef::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        DataRef::DateTimeIso(text) | DataRef::DurationIso(text) => out.push_str(text),
        DataRef::Error(err) => {
            let _ = write!(out, "{err}");
        }
    }
}
