//! The analysis engine: bytes in, [`Report`] out. Pure: no I/O, no threads, no
//! global state beyond read-only tables, so the worker loop, the tests and the
//! benchmarks all call the same [`analyze`].
//!
//! The pipeline is detect ([`detect`]) → extract text and metadata
//! ([`extract`]) → analyse the text ([`analysis`]) → assemble the report.

pub mod analysis;
pub mod detect;
pub mod extract;
pub mod ocr;
mod options;
pub mod report;
pub mod structure;

pub use ocr::{OcrContext, Recognizer};
pub use options::{quoted, ChunkOptions, OcrLanguages, OcrMode, Options, PageSelection};

use sha2::{Digest, Sha256};

use crate::report::{Fingerprint, Report};

/// Extracted text kept per document. Past it the text is cut at a character
/// boundary and the report carries a `truncated` warning: a 100 MiB upload of
/// plain text must not turn into several copies of itself in the worker and a
/// response frame the server refuses.
pub const MAX_TEXT_BYTES: usize = 64 << 20;

/// One document as the engine sees it.
pub struct Input<'a> {
    /// The client's name for the document: a label (and an extension hint for
    /// text formats), never a path.
    pub filename: &'a str,
    /// The declared Content-Type; never overrides sniffing.
    pub declared_type: Option<&'a str>,
    /// SHA-256 of `bytes` when the caller already has it.
    pub sha256: Option<[u8; 32]>,
    pub bytes: &'a [u8],
}

/// A document that could not be analysed at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalyzeError {
    ParseFailed(String),
    /// The options do not fit the document (a page beyond its last) or are
    /// invalid.
    BadRequest(String),
}

impl std::fmt::Display for AnalyzeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnalyzeError::ParseFailed(why) | AnalyzeError::BadRequest(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for AnalyzeError {}

/// Touches every read-only table so that a process that forks workers after
/// calling this shares them copy-on-write instead of building them per worker.
pub fn warm_up() {
    analysis::warm_up();
}

/// Analyses one document without OCR: images and scanned pages get a
/// warning that OCR is unavailable.
pub fn analyze(input: &Input<'_>, options: &Options) -> Result<Report, AnalyzeError> {
    analyze_with(input, options, OcrContext::none())
}

/// Analyses one document, reading images and scanned PDF pages with the
/// context's recogniser (see [`ocr`]).
pub fn analyze_with(input: &Input<'_>, options: &Options, ocr: OcrContext<'_>) -> Result<Report, AnalyzeError> {
    let sha256 = match input.sha256 {
        Some(digest) => hex(&digest),
        None => hex(&Sha256::digest(input.bytes)),
    };
    if options.chunks.is_some_and(|chunks| !chunks.is_valid()) {
        return Err(AnalyzeError::BadRequest(format!(
            "chunks must be {} to {} characters and the overlap less than that",
            structure::chunk::MIN_CHUNK_SIZE,
            structure::chunk::MAX_CHUNK_SIZE
        )));
    }
    let detected = detect::detect(input.filename, input.bytes);
    let mut session =
        ocr::Session::new(ocr, options.ocr.unwrap_or_default(), options.ocr_languages.unwrap_or_default());
    let mut extracted = extract::extract(&detected, input.bytes, options, &mut session)
        .map_err(|err| AnalyzeError::ParseFailed(format!("{}: {err}", detected.format.as_str())))?;
    session.finish(&mut extracted.metadata, &mut extracted.warnings);
    let mut text = extracted.text;
    let mut warnings = extracted.warnings;
    if let Some(selection) = options.pages {
        match extracted.page_total {
            Some(total) if selection.last() > total => {
                return Err(AnalyzeError::BadRequest(format!(
                    "pages={selection}: the document has {total} page{}",
                    if total == 1 { "" } else { "s" }
                )))
            }
            Some(_) => {}
            None => warnings
                .push(format!("pages={selection} ignored: a {} document has no pages", detected.format.as_str())),
        }
    }
    let truncated = text.len() > MAX_TEXT_BYTES;
    if truncated {
        let mut cut = MAX_TEXT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        warnings.push(format!("truncated: extracted text cut at {MAX_TEXT_BYTES} bytes"));
    }
    // Pages past a truncation end at it; those after it are gone.
    let pages = extracted.page_total.map(|_| {
        let mut pages = extracted.pages;
        pages.retain(|page| page.start < text.len() || (!truncated && page.start == text.len()));
        for page in &mut pages {
            page.end = page.end.min(text.len());
        }
        pages
    });
    let structure = structure::outputs(&text, extracted.blocks, pages.as_deref(), options, &mut warnings);
    let analysis = analysis::analyze_text(&text);
    warnings.extend(analysis.warnings);
    Ok(Report {
        filename: input.filename.to_owned(),
        size: input.bytes.len() as u64,
        sha256,
        media_type: detected.media_type,
        format: detected.format,
        metadata: extracted.metadata,
        language: analysis.language,
        stats: analysis.stats,
        readability: analysis.readability,
        keywords: analysis.keywords,
        fingerprint: Fingerprint { simhash: analysis.simhash.map(|hash| format!("{hash:016x}")) },
        entities: analysis.entities,
        text: options.include_text.then_some(text),
        markdown: structure.markdown,
        pages: structure.pages,
        chunks: structure.chunks,
        warnings,
        timing: Default::default(),
        cached: false,
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 0xf) as usize] as char);
    }
    out
}
