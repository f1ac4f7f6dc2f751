//! Text and metadata extraction, one module per format. Every extractor gets
//! the whole document and returns what it could read plus warnings, or an
//! [`ExtractError`] when it could read nothing.

mod chart;
mod cjk_radicals;
mod codepages;
mod csv;
mod doc;
mod doc_structure;
mod email;
mod epub;
mod html;
mod html_structure;
mod image;
pub(crate) mod json;
mod markdown;
mod markdown_structure;
mod markup;
mod odt;
mod odt_structure;
mod office;
mod office_structure;
mod ole;
mod pdf;
mod pdf_actualtext;
mod pdf_annotations;
mod pdf_cmap;
mod pdf_content;
mod pdf_fonts;
mod pdf_guard;
mod pdf_headings;
mod pdf_layout;
mod pdf_lengths;
mod pdf_lists;
mod pdf_meta;
mod pdf_repair;
mod pdf_truetype;
mod ppt;
mod rtf;
mod slide_structure;
pub mod text;
mod xls;
mod xls_records;
mod xlsx;
mod xlsx_comments;
mod xml;
mod xmltext;
mod zipsafe;

pub(crate) use office::package_main_part;
pub(crate) use ole::media_type as ole_media_type;

use serde_json::{Map, Value};

use super::detect::{Detected, EMAIL};
use crate::ocr::Session;
use crate::report::Format;
use crate::structure::chunk::PageSpan;
use crate::structure::{Block, Inline};
use crate::Options;

#[derive(Debug, Default, Clone)]
pub struct Extracted {
    pub text: String,
    pub metadata: Map<String, Value>,
    pub warnings: Vec<String>,
    /// The document's shape, filled only when the options ask for Markdown
    /// or chunks, and only by extractors of formats that have one.
    pub blocks: Vec<Block>,
    /// For paged formats: where each page read is in `text`, in bytes.
    pub pages: Vec<PageSpan>,
    /// For paged formats: how many pages the document has (read or not).
    pub page_total: Option<u32>,
}

impl Extracted {
    /// Sets a metadata field unless the value is empty.
    fn set(&mut self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        let empty = match &value {
            Value::Null => true,
            Value::String(s) => s.trim().is_empty(),
            _ => false,
        };
        if !empty {
            let value = match value {
                Value::String(s) => Value::String(s.trim().to_owned()),
                other => other,
            };
            self.metadata.insert(key.to_owned(), value);
        }
    }
}

/// Nothing could be read from the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractError(pub String);

impl std::fmt::Display for ExtractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Extracts text and metadata; images and scanned PDF pages go through `ocr`.
pub fn extract(
    detected: &Detected,
    bytes: &[u8],
    options: &Options,
    ocr: &mut Session<'_>,
) -> Result<Extracted, ExtractError> {
    let mut extracted = match detected.format {
        Format::Binary => Ok(Extracted::default()),
        Format::Image => image::extract(bytes, &detected.media_type, options, ocr),
        Format::Text if detected.media_type == EMAIL => email::extract(bytes),
        Format::Text => text::extract(bytes),
        Format::Json if detected.media_type == crate::detect::JSON_LINES => json::extract_lines(bytes),
        Format::Json => json::extract(bytes),
        Format::Csv => csv::extract(bytes, options),
        Format::Html => html::extract(bytes, options),
        Format::Xml => xml::extract(bytes),
        Format::Markdown => markdown::extract(bytes, options),
        Format::Rtf => rtf::extract(bytes),
        Format::Pdf => pdf::extract(bytes, options, ocr),
        Format::Docx if detected.media_type == ole::WORD => doc::extract(bytes, options),
        Format::Docx => office::docx(bytes, options),
        Format::Pptx if detected.media_type == ole::POWERPOINT => ppt::extract(bytes),
        Format::Pptx => office::pptx(bytes, options),
        Format::Xlsx if detected.media_type == ole::EXCEL => xls::extract(bytes, options),
        Format::Xlsx => xlsx::xlsx(bytes, options),
        Format::Odt => odt::odt(bytes, options),
        Format::Epub => epub::extract(bytes, options),
    }?;
    drop_soft_hyphens(&mut extracted);
    Ok(extracted)
}

/// U+00AD SOFT HYPHEN marks where a word may be hyphenated at a line end
/// and is invisible everywhere else (HTML `&shy;`, RTF `\u173`, a literal
/// one in DOCX, ODT, plain text or Markdown). Left in, it splits the word
/// for every search ("re\u{AD}sume" is not "resume") and for the word
/// counts. The elements some formats write instead (DOCX
/// `<w:softHyphen/>`, ODT `<text:soft-hyphen/>`, RTF `\-`) give no text.
const SOFT_HYPHEN: char = '\u{AD}';

/// Drops [`SOFT_HYPHEN`] from the text, the blocks and string metadata of
/// every format, in one place so that no extractor can forget it; page
/// spans move back by the bytes dropped before them.
fn drop_soft_hyphens(extracted: &mut Extracted) {
    if extracted.text.contains(SOFT_HYPHEN) {
        let dropped: Vec<usize> = extracted.text.match_indices(SOFT_HYPHEN).map(|(at, _)| at).collect();
        let moved = |offset: usize| offset - dropped.partition_point(|&at| at < offset) * SOFT_HYPHEN.len_utf8();
        for page in &mut extracted.pages {
            page.start = moved(page.start);
            page.end = moved(page.end);
        }
        extracted.text.retain(|c| c != SOFT_HYPHEN);
    }
    for value in extracted.metadata.values_mut() {
        if let Value::String(s) = value {
            s.retain(|c| c != SOFT_HYPHEN);
        }
    }
    let inlines = |content: &mut Vec<Inline>| {
        for inline in content {
            if let Inline::Text(s, _) = inline {
                s.retain(|c| c != SOFT_HYPHEN);
            }
        }
    };
    for block in &mut extracted.blocks {
        match block {
            Block::Heading { content, .. }
            | Block::Paragraph(content)
            | Block::Item { content, .. }
            | Block::Footnote { content, .. } => inlines(content),
            Block::Table(rows) => rows.iter_mut().flatten().for_each(inlines),
            Block::Code(s) => s.retain(|c| c != SOFT_HYPHEN),
        }
    }
}

/// ISO 8601 from a PDF date (`D:20230102030405+01'00'`) or an RTF/other
/// date already split into parts; `None` when the parts make no date.
fn iso_datetime(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<String> {
    let valid = (1..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61;
    valid.then(|| format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}"))
}
