//! CSV and TSV: delimiter, rows, columns and header; the text is the cells,
//! tab-separated, a row per line.

use super::text::decode_text;
use super::{ExtractError, Extracted};
use crate::detect::csv_delimiter;
use crate::structure::{plain_inlines, Block, MAX_TABLE_COLUMNS, MAX_TABLE_ROWS};
use crate::Options;

/// Rows read; past it the rest is counted only by the warning.
const MAX_ROWS: usize = 5_000_000;

pub fn extract(bytes: &[u8], options: &Options) -> Result<Extracted, ExtractError> {
    let (text, encoding, warnings) = decode_text(bytes);
    let mut extracted = Extracted { warnings, ..Default::default() };
    extracted.set("encoding", encoding);
    let delimiter = csv_delimiter(&text, false).unwrap_or(if text.contains('\t') { '\t' } else { ',' });
    let rows = parse(&text, delimiter, &mut extracted.warnings);
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    extracted.metadata.insert("delimiter".into(), delimiter.to_string().into());
    extracted.set("rows", rows.len());
    extracted.set("columns", columns);
    let header = looks_like_header(&rows).then(|| rows[0].clone());
    extracted.metadata.insert("header".into(), header.map(Into::into).unwrap_or(serde_json::Value::Null));
    let mut out = String::with_capacity(text.len());
    for row in &rows {
        out.push_str(&row.join("\t"));
        out.push('\n');
    }
    extracted.text = out;
    if options.wants_structure() && !rows.is_empty() {
        if rows.len() > MAX_TABLE_ROWS {
            extracted.warnings.push(super::html::table_cut_warning());
        }
        extracted.blocks.push(Block::Table(table_rows(&rows)));
    }
    Ok(extracted)
}

/// Rows of text cells as table rows, within the table limits.
pub(super) fn table_rows(rows: &[Vec<String>]) -> Vec<Vec<crate::structure::Cell>> {
    rows.iter()
        .take(MAX_TABLE_ROWS)
        .map(|row| row.iter().take(MAX_TABLE_COLUMNS).map(|cell| plain_inlines(cell.trim())).collect())
        .collect()
}

/// RFC 4180 fields: quotes around a field allow delimiters, newlines and
/// doubled quotes inside it. A line end inside a quoted field is kept as
/// `\n` whether it was written CRLF (as RFC 4180 and Excel write it) or a
/// lone CR: the cell's text is the same whichever system saved it.
fn parse(text: &str, delimiter: char, warnings: &mut Vec<String>) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else if c == '\r' {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                field.push('\n');
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            c if c == delimiter => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                if rows.len() == MAX_ROWS {
                    warnings.push(format!("truncated: only the first {MAX_ROWS} rows were read"));
                    return rows;
                }
            }
            c => field.push(c),
        }
    }
    if quoted {
        warnings.push("unterminated quoted field at the end".into());
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// A first row of non-numeric, distinct, non-empty cells over rows that have
/// numbers in some column is a header; so is one over at least one row when
/// every first-row cell is short text.
fn looks_like_header(rows: &[Vec<String>]) -> bool {
    let Some(first) = rows.first() else { return false };
    if rows.len() < 2 || first.is_empty() {
        return false;
    }
    let numeric = |s: &str| s.trim().parse::<f64>().is_ok();
    let mut seen = std::collections::HashSet::new();
    first.iter().all(|cell| !cell.trim().is_empty() && !numeric(cell) && cell.len() <= 64 && seen.insert(cell.trim()))
}
