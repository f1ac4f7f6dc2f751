//! PDF metadata: the Info dictionary (title, author, subject, producer,
//! creator, dates).

use pdf_extract::{Document, Object};

use super::{iso_datetime, Extracted};

pub fn info_metadata(document: &Document, extracted: &mut Extracted) {
    let Ok(info) = document.trailer.get(b"Info") else { return };
    let info = match info {
        Object::Reference(id) => document.get_object(*id).ok(),
        other => Some(other),
    };
    let Some(Object::Dictionary(info)) = info else { return };
    let string = |key: &[u8]| -> Option<String> {
        match info.get(key).ok()? {
            Object::String(bytes, _) => Some(pdf_text_string(bytes)),
            Object::Reference(id) => match document.get_object(*id).ok()? {
                Object::String(bytes, _) => Some(pdf_text_string(bytes)),
                _ => None,
            },
            _ => None,
        }
    };
    for (key, field) in [
        (&b"Title"[..], "title"),
        (b"Author", "author"),
        (b"Subject", "subject"),
        (b"Producer", "producer"),
        (b"Creator", "creator"),
    ] {
        if let Some(value) = string(key) {
            extracted.set(field, value.trim_matches('\0'));
        }
    }
    for (key, field) in [(&b"CreationDate"[..], "created"), (b"ModDate", "modified")] {
        if let Some(date) = string(key).and_then(|raw| pdf_date(&raw)) {
            extracted.set(field, date);
        }
    }
}

/// PDF text strings are UTF-16BE with a BOM, or PDFDocEncoding (close enough
/// to Latin-1 for metadata).
fn pdf_text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        let units: Vec<u16> = rest.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes.iter().map(|b| *b as char).collect()
}

/// `D:YYYYMMDDHHmmSS...` to ISO 8601; missing parts default to the start.
fn pdf_date(raw: &str) -> Option<String> {
    let digits: String = raw.trim().trim_start_matches("D:").chars().take_while(char::is_ascii_digit).collect();
    let part = |from: usize, len: usize, default: u32| -> Option<u32> {
        match digits.get(from..from + len) {
            Some(s) => s.parse().ok(),
            None => Some(default),
        }
    };
    if digits.len() < 4 {
        return None;
    }
    iso_datetime(part(0, 4, 0)?, part(4, 2, 1)?, part(6, 2, 1)?, part(8, 2, 0)?, part(10, 2, 0)?, part(12, 2, 0)?)
}
