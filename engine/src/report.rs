//! The per-document report of the HTTP contract (`../shared/DESIGN.md`), as
//! serde types. The server adds `timing.queue_ms`; everything else is filled in
//! the worker.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `format` field: what the document is, decided by content for binary
/// formats and by extension, then content, among the text formats.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pdf,
    Docx,
    Xlsx,
    Pptx,
    Odt,
    Epub,
    Html,
    Xml,
    Markdown,
    Text,
    Csv,
    Json,
    Rtf,
    Image,
    #[default]
    Binary,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Xlsx => "xlsx",
            Format::Pptx => "pptx",
            Format::Odt => "odt",
            Format::Epub => "epub",
            Format::Html => "html",
            Format::Xml => "xml",
            Format::Markdown => "markdown",
            Format::Text => "text",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Rtf => "rtf",
            Format::Image => "image",
            Format::Binary => "binary",
        }
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default)]
pub struct Report {
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub media_type: String,
    pub format: Format,
    /// Format-specific metadata: `title`, `author`, `created`, `pages`,
    /// `encoding`, `valid`, ... Keys that do not apply are absent.
    pub metadata: Map<String, Value>,
    /// `None` when there is too little text to tell.
    pub language: Option<Language>,
    pub stats: Stats,
    /// `None` where the formulas do not apply (not English, no text).
    pub readability: Option<Readability>,
    pub keywords: Vec<Keyword>,
    pub fingerprint: Fingerprint,
    pub entities: Entities,
    /// The extracted text, only when the request asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The document as Markdown, only when the request asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markdown: Option<String>,
    /// Where each page read is in the text, for paged formats (PDF pages,
    /// PPTX slides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<Vec<Page>>,
    /// The text in chunks, only when the request asked for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<Vec<crate::structure::chunk::Chunk>>,
    pub warnings: Vec<String>,
    pub timing: Timing,
    /// Answered from the server's result cache, not analysed again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

/// One page of a paged document: its number (from 1) and where its text
/// is, in code points into the report's `text`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub number: u32,
    pub start: usize,
    pub end: usize,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct Language {
    /// ISO 639-1 where one exists, else ISO 639-3.
    pub code: String,
    pub confidence: f64,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub characters: u64,
    pub words: u64,
    pub sentences: u64,
    pub lines: u64,
    pub paragraphs: u64,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq)]
pub struct Readability {
    pub flesch_reading_ease: f64,
    pub flesch_kincaid_grade: f64,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
pub struct Keyword {
    pub term: String,
    pub score: f64,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    /// 64-bit SimHash as 16 lowercase hex digits; `None` when there is no text.
    pub simhash: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entities {
    pub emails: u64,
    pub urls: u64,
    pub phone_numbers: u64,
}

/// What the document cost. `queue_ms` is filled by the server; the rest is
/// measured inside the worker around this document alone.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    pub queue_ms: u64,
    pub analysis_ms: u64,
    pub cpu_ms: u64,
    pub peak_rss_bytes: u64,
    pub worker_pid: u32,
}
