//! OpenDocument files (text, spreadsheets, presentations, drawings): the
//! words of `content.xml`'s body in document order, notes and comments
//! after it, and `meta.xml`'s properties.

use super::xlsx::{MAX_TABS_BETWEEN_CELLS, MAX_WORKBOOK_TEXT_BYTES};
use super::xmltext::{attribute, walk, Node};
use super::zipsafe::Container;
use super::{ExtractError, Extracted};
use crate::structure::{plain_inlines, Block, Cell, MAX_TABLE_COLUMNS, MAX_TABLE_ROWS};
use crate::Options;

/// Times a spreadsheet's repeated cell or row with something in it is
/// written: a run of equal values in real sheets is short; one repeated
/// to the sheet's edge is usually formatting.
const MAX_REPEATS: usize = 64;

/// A spreadsheet's Markdown as an XLSX's: each sheet a heading and a table
/// of its rows; then its comments, a paragraph each.
fn sheet_blocks(names: &[String], rows: Vec<Vec<String>>, notes: &str, warnings: &mut Vec<String>) -> Vec<Block> {
    let mut blocks = Vec::new();
    for (name, rows) in names.iter().zip(rows) {
        blocks.push(Block::Heading { level: 1, content: plain_inlines(name) });
        if rows.len() > MAX_TABLE_ROWS {
            warnings.push(format!("truncated: sheet {name:?} in the Markdown cut at {MAX_TABLE_ROWS} rows"));
        }
        let table: Vec<Vec<Cell>> = rows
            .iter()
            .take(MAX_TABLE_ROWS)
            .map(|row| row.split('\t').take(MAX_TABLE_COLUMNS).map(|cell| plain_inlines(cell.trim())).collect())
            .collect();
        if !table.is_empty() {
            blocks.push(Block::Table(table));
        }
    }
    blocks
        .extend(notes.lines().filter(|line| !line.trim().is_empty()).map(|line| Block::Paragraph(plain_inlines(line))));
    blocks
}

/// How many times a cell or row stands (`table:number-columns-repeated`,
/// `table:number-rows-repeated`).
fn repeat_count(attributes: &[(String, String)], name: &str) -> usize {
    attribute(attributes, name).and_then(|n| n.parse::<usize>().ok()).unwrap_or(1).max(1)
}

/// Writes `out[from..]` (a cell with its tab, or a row with its line
/// break) `times - 1` more times: an empty cell as a tab each, up to
/// [`MAX_TABS_BETWEEN_CELLS`], one with text up to [`MAX_REPEATS`] times
/// while the text stays under [`MAX_WORKBOOK_TEXT_BYTES`]. False when the
/// text limit cut the repeats short.
fn repeat_tail(out: &mut String, from: usize, times: usize) -> bool {
    if times <= 1 {
        return true;
    }
    let Some(tail) = out.get(from..).map(str::to_owned) else { return true };
    let cap = if tail == "\t" { MAX_TABS_BETWEEN_CELLS as usize } else { MAX_REPEATS };
    for _ in 1..times.min(cap) {
        if out.len() + tail.len() > MAX_WORKBOOK_TEXT_BYTES {
            return false;
        }
        out.push_str(&tail);
    }
    true
}

pub fn odt(bytes: &[u8], options: &Options) -> Result<Extracted, ExtractError> {
    let mut container = Container::open(bytes)?;
    let mut extracted = Extracted::default();
    let content = container
        .read_text("content.xml")
        .ok_or_else(|| ExtractError("not an OpenDocument text: content.xml is missing".into()))?;
    let mut text = String::new();
    // Footnotes, endnotes and comments, which follow the body (as in DOCX)
    // instead of splitting its sentences.
    let mut notes = String::new();
    let mut in_body = false;
    let mut cell_depth = 0usize;
    // Inside what is not text: the tracked changes' record (deleted text
    // and who changed what when), a note's citation (its number), a ruby's
    // reading (set above the ideographs), a comment's author and date.
    let mut skip_depth = 0usize;
    let mut note_depth = 0usize;
    let mut annotation_depth = 0usize;
    // A spreadsheet's sheets (each named on a line before its rows, as
    // XLSX's are) and a presentation's or drawing's pages.
    let mut sheet_names = Vec::new();
    // Each sheet's rows for the Markdown's tables (when it is wanted).
    let mut sheet_rows: Vec<Vec<String>> = Vec::new();
    let mut pages = 0usize;
    let mut in_spreadsheet = false;
    let mut in_presentation = false;
    let mut in_drawing = false;
    // A spreadsheet writes a run of equal cells (or rows) once, with a
    // count: where the outermost cell and row being read began, and how
    // many times they stand.
    let (mut cell_start, mut cell_repeat) = (0usize, 1usize);
    let (mut row_start, mut row_repeat) = (0usize, 1usize);
    let mut repeats_cut = false;
    let walked = walk(&content, |node| {
        let out = if note_depth + annotation_depth > 0 { &mut notes } else { &mut text };
        match node {
            // A slide's number field stores `<number>`, not a number.
            Node::Open { name, .. }
                if matches!(name, "tracked-changes" | "note-citation" | "ruby-text")
                    || (annotation_depth > 0 && matches!(name, "creator" | "date"))
                    || ((in_presentation || in_drawing) && name == "page-number") =>
            {
                skip_depth += 1
            }
            Node::Close { name }
                if matches!(name, "tracked-changes" | "note-citation" | "ruby-text")
                    || (annotation_depth > 0 && matches!(name, "creator" | "date"))
                    || ((in_presentation || in_drawing) && name == "page-number") =>
            {
                skip_depth = skip_depth.saturating_sub(1)
            }
            _ if skip_depth > 0 => {}
            Node::Open { name, attributes } => match name {
                "body" => in_body = true,
                "spreadsheet" if in_body => in_spreadsheet = true,
                "presentation" if in_body => in_presentation = true,
                "drawing" if in_body => in_drawing = true,
                "table" if in_spreadsheet && note_depth + annotation_depth == 0 => {
                    let name = attribute(attributes, "name").unwrap_or_default().to_owned();
                    if !out.is_empty() && !out.ends_with("\n\n") {
                        out.push('\n');
                    }
                    out.push_str(&name);
                    out.push('\n');
                    sheet_names.push(name);
                    sheet_rows.push(Vec::new());
                }
                "page" if in_body => pages += 1,
                "note" => note_depth += 1,
                "annotation" => annotation_depth += 1,
                "table-cell" => {
                    cell_depth += 1;
                    if in_spreadsheet && cell_depth == 1 {
                        cell_start = out.len();
                        cell_repeat = repeat_count(attributes, "number-columns-repeated");
                    }
                }
                "table-row" if in_spreadsheet && cell_depth == 0 => {
                    row_start = out.len();
                    row_repeat = repeat_count(attributes, "number-rows-repeated");
                }
                // A text box (`draw:text-box`) sits in the paragraph it is
                // anchored to, often right after a word: without a space
                // the two read as one ("frameboxed").
                "text-box" if in_body && !out.is_empty() && !out.ends_with(char::is_whitespace) => out.push(' '),
                "tab" if in_body => out.push('\t'),
                "line-break" if in_body => out.push('\n'),
                "s" if in_body => {
                    let n = attribute(attributes, "c").and_then(|c| c.parse::<usize>().ok()).unwrap_or(1).min(64);
                    out.push_str(&" ".repeat(n));
                }
                _ => {}
            },
            Node::Close { name } => match name {
                "body" => in_body = false,
                "note" => note_depth = note_depth.saturating_sub(1),
                "annotation" => annotation_depth = annotation_depth.saturating_sub(1),
                "p" | "h" if note_depth + annotation_depth > 0 => out.push('\n'),
                "p" | "h" if in_body && cell_depth > 0 && !out.ends_with(['\t', '\n', ' ']) => out.push(' '),
                "p" | "h" if in_body && cell_depth > 0 => {}
                // An empty paragraph (spacing, or a field not read) adds no
                // blank lines.
                "p" | "h" if in_body && (out.is_empty() || out.ends_with("\n\n")) => {}
                "p" | "h" if in_body => out.push_str("\n\n"),
                "table" if in_body && !out.ends_with("\n\n") => out.push('\n'),
                "table-cell" => {
                    cell_depth = cell_depth.saturating_sub(1);
                    if out.ends_with(' ') {
                        out.pop();
                    }
                    out.push('\t');
                    if in_spreadsheet && cell_depth == 0 && cell_start < out.len() {
                        repeats_cut |= !repeat_tail(out, cell_start, cell_repeat);
                    }
                }
                "table-row" if in_spreadsheet && cell_depth == 0 && out.is_char_boundary(row_start) => {
                    // Rows as XLSX's are: no trailing tabs, no empty rows.
                    out.truncate(out.trim_end_matches('\t').len().max(row_start));
                    if out.len() > row_start {
                        out.push('\n');
                        if let Some(rows) = sheet_rows.last_mut().filter(|_| options.wants_structure()) {
                            let row = &out[row_start..out.len() - 1];
                            let room = (MAX_TABLE_ROWS + 1).saturating_sub(rows.len());
                            rows.extend(
                                std::iter::repeat_n(row, row_repeat.min(MAX_REPEATS).min(room)).map(str::to_owned),
                            );
                        }
                        repeats_cut |= !repeat_tail(out, row_start, row_repeat);
                    }
                }
                "table-row" if in_body => {
                    if out.ends_with('\t') {
                        out.pop();
                    }
                    out.push('\n');
                }
                _ => {}
            },
            Node::Text(t) if in_body => out.push_str(t),
            Node::Text(_) => {}
        }
    });
    // A text document's page headers and footers, from its master pages,
    // after the notes, as DOCX's follow its body.
    let margins = if in_spreadsheet || in_presentation || in_drawing {
        String::new()
    } else {
        container.read_text("styles.xml").map(|styles| page_margins(&styles)).unwrap_or_default()
    };
    for part in [&notes, &margins] {
        if !part.is_empty() {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(part);
        }
    }
    if let Err(err) = walked {
        extracted.warnings.push(format!("content.xml: {}", err.0));
    }
    if repeats_cut {
        extracted.warnings.push(format!(
            "truncated: cells a spreadsheet repeats written once past {} MiB of text",
            MAX_WORKBOOK_TEXT_BYTES >> 20
        ));
    }
    if in_spreadsheet {
        extracted.set("sheets", sheet_names.len());
        extracted.set("sheet_names", sheet_names.clone());
    } else if in_presentation {
        extracted.set("slides", pages);
    } else if pages > 0 {
        extracted.set("pages", pages);
    }
    if options.wants_structure() && in_spreadsheet {
        extracted.blocks = sheet_blocks(&sheet_names, sheet_rows, &notes, &mut extracted.warnings);
    } else if options.wants_structure() {
        let named_styles = container.read_text("styles.xml");
        extracted.blocks = super::odt_structure::odt_blocks(&content, named_styles.as_deref());
    }
    if let Some(meta) = container.read_text("meta.xml") {
        let mut current = String::new();
        let _ = walk(&meta, |node| match node {
            Node::Open { name, attributes } => {
                if name == "document-statistic" {
                    if let Some(pages) = attribute(attributes, "page-count").and_then(|p| p.parse::<u64>().ok()) {
                        extracted.set("pages", pages);
                    }
                }
                current = name.to_owned();
            }
            Node::Text(value) => {
                let field = match current.as_str() {
                    "title" => "title",
                    "initial-creator" => "author",
                    "creator" if !extracted.metadata.contains_key("author") => "author",
                    "creation-date" => "created",
                    "date" => "modified",
                    "language" => "language",
                    _ => return,
                };
                extracted.set(field, value);
            }
            Node::Close { .. } => current.clear(),
        });
    }
    extracted.warnings.append(&mut container.warnings);
    extracted.text = text;
    Ok(extracted)
}

/// The text of the page headers and footers of `styles.xml`'s master pages
/// (`style:header`, `style:footer` and their left-page and first-page
/// forms), each paragraph a line, the headers first; a header written the
/// same for several master pages is given once. Page numbers, counts, dates
/// and other fields of the page are what was last drawn, and left out.
fn page_margins(styles: &str) -> String {
    const MARGINS: [&str; 6] = ["header", "header-left", "header-first", "footer", "footer-left", "footer-first"];
    const FIELDS: [&str; 6] = ["page-number", "page-count", "date", "time", "file-name", "sheet-name"];
    let (mut headers, mut footers): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut current: Option<(bool, String)> = None;
    let mut in_master = false;
    let mut field_depth = 0usize;
    let _ = walk(styles, |node| match node {
        Node::Open { name: "master-page", .. } => in_master = true,
        Node::Close { name: "master-page" } => in_master = false,
        Node::Open { name, .. } if in_master && MARGINS.contains(&name) => {
            current = Some((name.starts_with("header"), String::new()));
        }
        Node::Close { name } if MARGINS.contains(&name) => {
            if let Some((header, text)) = current.take() {
                // A field left out leaves the spaces around it, `text:s` a
                // run of them: one is kept.
                let text = text
                    .split('\n')
                    .map(|line| line.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("\n");
                let text = text.trim().to_owned();
                let list = if header { &mut headers } else { &mut footers };
                if !text.is_empty() && !list.contains(&text) {
                    list.push(text);
                }
            }
        }
        Node::Open { name, .. } if current.is_some() && FIELDS.contains(&name) => field_depth += 1,
        Node::Close { name } if current.is_some() && FIELDS.contains(&name) => {
            field_depth = field_depth.saturating_sub(1);
        }
        Node::Open { name, .. } => {
            if let Some((_, text)) = current.as_mut().filter(|_| field_depth == 0) {
                match name {
                    "tab" => text.push('\t'),
                    "line-break" => text.push('\n'),
                    // Runs of spaces are collapsed to one below.
                    "s" => text.push(' '),
                    _ => {}
                }
            }
        }
        Node::Close { name: "p" | "h" } => {
            if let Some((_, text)) = current.as_mut() {
                text.push('\n');
            }
        }
        Node::Close { .. } => {}
        Node::Text(t) => {
            if let Some((_, text)) = current.as_mut().filter(|_| field_depth == 0) {
                text.push_str(t);
            }
        }
    });
    headers.iter().chain(&footers).map(|part| format!("{part}\n")).collect()
}
