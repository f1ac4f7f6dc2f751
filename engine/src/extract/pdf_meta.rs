//! PDF metadata: the Info dictionary (title, author, subject, producer,
//! creator, dates), then the catalog's XMP packet for what the Info
//! dictionary lacks. Dates keep their offset from UTC when they state one.

use pdf_extract::{Document, Object};
use serde_json::Value;

use super::xmltext::{self, Node};
use super::{iso_datetime, Extracted};

/// Largest XMP packet read. Real packets are a few KiB (tens with embedded
/// thumbnails); past this the metadata stream is not XMP worth reading.
const MAX_XMP_BYTES: usize = 4 << 20;

/// The Info dictionary, then XMP where the Info dictionary says nothing.
pub fn metadata(document: &Document, extracted: &mut Extracted) {
    info_metadata(document, extracted);
    if let Some(xmp) = xmp(document) {
        merge_xmp(xmp, extracted);
    }
}

fn info_metadata(document: &Document, extracted: &mut Extracted) {
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

/// PDFDocEncoding's characters 0x18–0x1F (spacing accents), where Latin-1
/// has control codes (PDF 32000-1, Annex D.2).
const PDF_DOC_ACCENTS: [char; 8] =
    ['\u{2D8}', '\u{2C7}', '\u{2C6}', '\u{2D9}', '\u{2DD}', '\u{2DB}', '\u{2DA}', '\u{2DC}'];

/// PDFDocEncoding's characters 0x80–0xA0 (bullet, dashes, quotes,
/// ligatures, euro), where Latin-1 has control codes; 0x9F is unassigned.
const PDF_DOC_PUNCTUATION: [char; 33] = [
    '\u{2022}', '\u{2020}', '\u{2021}', '\u{2026}', '\u{2014}', '\u{2013}', '\u{192}', '\u{2044}', '\u{2039}',
    '\u{203A}', '\u{2212}', '\u{2030}', '\u{201E}', '\u{201C}', '\u{201D}', '\u{2018}', '\u{2019}', '\u{201A}',
    '\u{2122}', '\u{FB01}', '\u{FB02}', '\u{141}', '\u{152}', '\u{160}', '\u{178}', '\u{17D}', '\u{131}', '\u{142}',
    '\u{153}', '\u{161}', '\u{17E}', '\u{FFFD}', '\u{20AC}',
];

/// PDF text strings are UTF-16BE with a BOM (UTF-8 with one since PDF 2.0),
/// or PDFDocEncoding. Producers also write UTF-16LE with its BOM, and UTF-8
/// without one: bytes that are valid UTF-8 and not ASCII are read as UTF-8,
/// since PDFDocEncoding text almost never forms UTF-8 sequences by chance.
fn pdf_text_string(bytes: &[u8]) -> String {
    let utf16 = |rest: &[u8], unit: fn([u8; 2]) -> u16| {
        let units: Vec<u16> = rest.chunks_exact(2).map(|p| unit([p[0], p[1]])).collect();
        String::from_utf16_lossy(&units)
    };
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, u16::from_be_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8_lossy(rest).into_owned();
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_owned();
    }
    bytes
        .iter()
        .map(|&b| match b {
            0x18..=0x1F => PDF_DOC_ACCENTS[usize::from(b - 0x18)],
            0x80..=0xA0 => PDF_DOC_PUNCTUATION[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

/// `D:YYYYMMDDHHmmSSOHH'mm'` to ISO 8601; missing parts default to the
/// start, and the offset (`Z`, `+01'00'`) is kept when there is one.
fn pdf_date(raw: &str) -> Option<String> {
    let raw = raw.trim().trim_start_matches("D:");
    let digits: String = raw.chars().take_while(char::is_ascii_digit).collect();
    let offset = utc_offset(raw[digits.len()..].trim_start());
    let part = |from: usize, len: usize, default: u32| -> Option<u32> {
        match digits.get(from..from + len) {
            Some(s) => s.parse().ok(),
            None => Some(default),
        }
    };
    if digits.len() < 4 {
        return None;
    }
    let date =
        iso_datetime(part(0, 4, 0)?, part(4, 2, 1)?, part(6, 2, 1)?, part(8, 2, 0)?, part(10, 2, 0)?, part(12, 2, 0)?)?;
    Some(date + &offset)
}

/// An offset from UTC as ISO 8601 writes it (`Z`, `+01:00`), from the
/// forms PDF and XMP dates use (`Z`, `+01'00'`, `-0500`, `+01:00`); empty
/// when there is none or it makes no sense.
fn utc_offset(rest: &str) -> String {
    let mut chars = rest.chars();
    let sign = match chars.next() {
        Some('Z' | 'z') => return "Z".into(),
        Some(sign @ ('+' | '-')) => sign,
        _ => return String::new(),
    };
    let digits: String = chars.filter(char::is_ascii_digit).take(4).collect();
    let hours: u32 = digits.get(..2).and_then(|h| h.parse().ok()).unwrap_or(99);
    let minutes: u32 = digits.get(2..4).map_or(Some(0), |m| m.parse().ok()).unwrap_or(99);
    if hours > 23 || minutes > 59 {
        return String::new();
    }
    format!("{sign}{hours:02}:{minutes:02}")
}

/// An XMP date (ISO 8601: `2014-03-04`, `2014-03-04T09:05:57.25+01:00`)
/// in the report's form, seconds included.
fn xmp_date(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let (date, time) = raw.split_once('T').unwrap_or((raw, ""));
    let mut parts = date.split('-').map(|part| part.parse::<u32>().ok());
    let year = parts.next()??;
    let month = parts.next().unwrap_or(Some(1))?;
    let day = parts.next().unwrap_or(Some(1))?;
    let clock_end = time.find(['Z', 'z', '+', '-']).unwrap_or(time.len());
    let mut clock = time[..clock_end].split(':').map(|part| part.split('.').next().unwrap_or("").parse::<u32>().ok());
    let hour = clock.next().flatten().unwrap_or(0);
    let minute = clock.next().flatten().unwrap_or(0);
    let second = clock.next().flatten().unwrap_or(0);
    let date = iso_datetime(year, month, day, hour, minute, second)?;
    Some(date + &utc_offset(&time[clock_end..]))
}

/// What an XMP packet says, by the Info entries it stands for.
#[derive(Default, Debug)]
struct Xmp {
    title: Option<String>,
    creators: Vec<String>,
    description: Option<String>,
    created: Option<String>,
    modified: Option<String>,
    producer: Option<String>,
    creator_tool: Option<String>,
}

/// The properties read, by local name (`dc:title`, `xmp:CreateDate`, ...).
const XMP_PROPERTIES: [&str; 7] =
    ["title", "creator", "description", "CreateDate", "ModifyDate", "Producer", "CreatorTool"];

impl Xmp {
    fn set(&mut self, property: &str, value: String) {
        let value = value.trim().to_owned();
        if value.is_empty() {
            return;
        }
        let slot = match property {
            "creator" => {
                self.creators.push(value);
                return;
            }
            "title" => &mut self.title,
            "description" => &mut self.description,
            "CreateDate" => &mut self.created,
            "ModifyDate" => &mut self.modified,
            "Producer" => &mut self.producer,
            _ => &mut self.creator_tool,
        };
        slot.get_or_insert(value);
    }
}

/// The catalog's `/Metadata` stream read as XMP: properties as elements
/// (`dc:creator` holding an `rdf:Seq` of `rdf:li`, `dc:title` an `rdf:Alt`
/// whose `x-default` entry wins) or as attributes of `rdf:Description`.
fn xmp(document: &Document) -> Option<Xmp> {
    let stream = document.catalog().ok()?.get_deref(b"Metadata", document).ok()?.as_stream().ok()?;
    let bytes = stream.decompressed_content().unwrap_or_else(|_| stream.content.clone());
    let xml = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_XMP_BYTES)]);
    let mut found = Xmp::default();
    // The property being read, the text gathered, and its list items (with
    // whether each is the x-default language).
    let mut property: Option<(String, usize)> = None;
    let mut text = String::new();
    let mut items: Vec<(bool, String)> = Vec::new();
    let mut depth = 0usize;
    let mut item_default = false;
    // A malformed packet gives what was read before the damage.
    let _ = xmltext::walk(&xml, |node| match node {
        Node::Open { name, attributes } => {
            depth += 1;
            if property.is_none() {
                for (key, value) in attributes {
                    let local = key.rsplit_once(':').map_or(key.as_str(), |(_, local)| local);
                    if XMP_PROPERTIES.contains(&local) {
                        found.set(local, value.clone());
                    }
                }
                if XMP_PROPERTIES.contains(&name) {
                    property = Some((name.to_owned(), depth));
                    text.clear();
                    items.clear();
                }
            } else if name == "li" {
                text.clear();
                item_default = xmltext::attribute(attributes, "lang") == Some("x-default");
            }
        }
        Node::Text(chunk) => {
            if property.is_some() {
                text.push_str(chunk);
            }
        }
        Node::Close { name } => {
            if let Some((open, at)) = &property {
                if name == "li" {
                    items.push((item_default, std::mem::take(&mut text)));
                } else if depth == *at && name == open {
                    let open = open.clone();
                    if items.is_empty() {
                        found.set(&open, std::mem::take(&mut text));
                    } else if open == "creator" {
                        for (_, item) in items.drain(..) {
                            found.set(&open, item);
                        }
                    } else {
                        let chosen = items.iter().position(|(default, _)| *default).unwrap_or(0);
                        found.set(&open, items.swap_remove(chosen).1);
                        items.clear();
                    }
                    property = None;
                }
            }
            depth = depth.saturating_sub(1);
        }
    });
    Some(found)
}

/// XMP fills what the Info dictionary lacks. Several XMP creators make
/// `author` a list, unless the Info dictionary names someone else.
fn merge_xmp(xmp: Xmp, extracted: &mut Extracted) {
    let fields = [
        ("title", xmp.title),
        ("subject", xmp.description),
        ("producer", xmp.producer),
        ("creator", xmp.creator_tool),
        ("created", xmp.created.as_deref().and_then(xmp_date)),
        ("modified", xmp.modified.as_deref().and_then(xmp_date)),
    ];
    for (field, value) in fields {
        if let Some(value) = value {
            if !extracted.metadata.contains_key(field) {
                extracted.set(field, value);
            }
        }
    }
    let info_author = extracted.metadata.get("author").and_then(Value::as_str).map(str::to_owned);
    match (info_author, xmp.creators.as_slice()) {
        (_, []) => {}
        (None, [only]) => extracted.set("author", only.as_str()),
        (None, several) => extracted.set("author", several.to_vec()),
        (Some(info), several) if several.len() > 1 => {
            // The Info dictionary often holds the first creator, or all of
            // them joined into one string.
            let joined = |separator: &str| several.join(separator) == info;
            if several[0] == info || joined(", ") || joined("; ") || joined(",") || joined(";") {
                extracted.set("author", several.to_vec());
            }
        }
        _ => {}
    }
}
