//! Format detection. Binary formats are recognised by content whatever the
//! file is called (a PDF named `.txt` is a PDF); among text formats a known
//! extension decides, and content decides when the extension is missing or
//! unknown.

use std::io::{Cursor, Read};

use crate::extract::text::decode_text;
use crate::report::Format;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub format: Format,
    /// IANA media type.
    pub media_type: String,
}

/// The media type of e-mail messages, which the e-mail extractor reads.
pub const EMAIL: &str = "message/rfc822";

/// Bytes sniffed to tell text from binary and to recognise text formats.
const SNIFF_BYTES: usize = 8192;
/// Readers accept a PDF header this far into the file (after junk such as
/// a mail header or a BOM), so detection does too.
const PDF_HEADER_WINDOW: usize = 1024;
/// Largest JSON document parsed whole to decide whether an extensionless
/// file is JSON; larger ones are judged by their opening bytes.
const JSON_SNIFF_MAX_BYTES: usize = 16 << 20;
/// Bytes of a zip's `mimetype` entry read to identify an ODF or EPUB.
const MIMETYPE_MAX_BYTES: u64 = 256;

/// The media type of JSON Lines (`.jsonl`, `.ndjson`), one JSON value a line.
pub const JSON_LINES: &str = "application/x-ndjson";

/// The OpenDocument kinds read as `odt`: text, spreadsheets, presentations
/// and drawings keep their words in the same markup (`text:p` in the
/// body's tables, frames and pages); `media_type` says which it is.
const OPENDOCUMENT_KINDS: [&str; 8] = [
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.text-master",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.spreadsheet-template",
    "application/vnd.oasis.opendocument.presentation",
    "application/vnd.oasis.opendocument.presentation-template",
    "application/vnd.oasis.opendocument.graphics",
    "application/vnd.oasis.opendocument.graphics-template",
];
/// Most read of an OOXML package's relationships (`_rels/.rels`) to find
/// its main part: producers write a few hundred bytes.
const PACKAGE_RELS_MAX_BYTES: u64 = 64 << 10;

fn detected(format: Format, media_type: &str) -> Detected {
    Detected { format, media_type: media_type.to_owned() }
}

/// All that detection reads from a file name: its extension, lowercased
/// (empty without one). A cache of reports keys on it, since the same bytes
/// named `.csv` and `.md` are different documents.
pub fn extension(filename: &str) -> String {
    filename.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).unwrap_or_default()
}

pub fn detect(filename: &str, bytes: &[u8]) -> Detected {
    let extension = extension(filename);
    if let Some(found) = binary_by_magic(bytes, &extension) {
        return found;
    }
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    if looks_binary(head) {
        let sniffed = file_format::FileFormat::from_bytes(bytes);
        let media_type = match sniffed.media_type() {
            "text/plain" => "application/octet-stream",
            other => other,
        };
        return detected(Format::Binary, media_type);
    }
    if let Some(found) = text_by_extension(&extension) {
        return found;
    }
    text_by_content(bytes, head)
}

/// PDF, RTF, zip-based office formats and other binaries with a signature.
fn binary_by_magic(bytes: &[u8], extension: &str) -> Option<Detected> {
    let window = &bytes[..bytes.len().min(PDF_HEADER_WINDOW)];
    if window.windows(5).any(|w| w == b"%PDF-") {
        return Some(detected(Format::Pdf, "application/pdf"));
    }
    let unbommed = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if unbommed.starts_with(b"{\\rtf") {
        return Some(detected(Format::Rtf, "application/rtf"));
    }
    if let Some(media_type) = image_by_magic(bytes) {
        return Some(detected(Format::Image, media_type));
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        let found = zip_container_format(bytes);
        // A zip its name calls an office document, whose contents say no
        // format (a package missing its main part, a zip cut short before
        // any part's name): read as what it is named, its reader says what
        // is wrong with it, rather than a silent `binary`.
        if found.format == Format::Binary && found.media_type == "application/zip" {
            if let Some(named) = ooxml_by_extension(extension) {
                return Some(named);
            }
        }
        return Some(found);
    }
    if bytes.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        // A password-protected OOXML file is an OLE container holding the
        // encrypted package; its extension says which format it protects.
        let encrypted_package = "EncryptedPackage".encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>();
        if bytes.windows(encrypted_package.len()).any(|w| w == encrypted_package.as_slice()) {
            if let Some(found) = ooxml_by_extension(extension) {
                return Some(found);
            }
        }
        // Word, Excel and PowerPoint 97-2003 are read as the formats that
        // replaced them, told by the streams they hold whatever the name. A
        // container that cannot be opened (a file cut short) is told by its
        // name, and reading it says what is wrong, rather than a silent
        // `binary`.
        let by_name = match extension {
            "doc" | "dot" => Some("application/msword"),
            "xls" | "xlt" => Some("application/vnd.ms-excel"),
            "ppt" | "pps" => Some("application/vnd.ms-powerpoint"),
            _ => None,
        };
        match crate::extract::ole_media_type(bytes).or(by_name) {
            Some(media_type @ "application/msword") => return Some(detected(Format::Docx, media_type)),
            Some(media_type @ "application/vnd.ms-excel") => return Some(detected(Format::Xlsx, media_type)),
            Some(media_type @ "application/vnd.ms-powerpoint") => return Some(detected(Format::Pptx, media_type)),
            _ => {}
        }
        let media_type = if extension == "msg" { "application/vnd.ms-outlook" } else { "application/x-ole-storage" };
        return Some(detected(Format::Binary, media_type));
    }
    None
}

/// The image formats the engine decodes (and so can read by OCR), by
/// signature. Other images (HEIC, AVIF, JPEG 2000, ...) stay `binary`.
fn image_by_magic(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"\xFF\xD8\xFF") {
        Some("image/jpeg")
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") || bytes.starts_with(b"II+\0") {
        Some("image/tiff")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"BM") && bytes.len() >= 18 {
        // "BM" alone starts plenty of text; the DIB header size is one of
        // the few the format defines.
        let header = u32::from_le_bytes([bytes[14], bytes[15], bytes[16], bytes[17]]);
        matches!(header, 12 | 40 | 52 | 56 | 64 | 108 | 124).then_some("image/bmp")
    } else {
        None
    }
}

fn ooxml_by_extension(extension: &str) -> Option<Detected> {
    Some(match extension {
        "docx" | "docm" => {
            detected(Format::Docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        }
        "xlsx" | "xlsm" => detected(Format::Xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        "pptx" | "pptm" => {
            detected(Format::Pptx, "application/vnd.openxmlformats-officedocument.presentationml.presentation")
        }
        _ => return None,
    })
}

/// Tells OOXML, ODF and EPUB apart by what the zip holds.
pub fn zip_container_format(bytes: &[u8]) -> Detected {
    let zip = || detected(Format::Binary, "application/zip");
    let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        // A damaged central directory (a file cut short): the local headers
        // before the cut still name the parts, which is enough to say what
        // the file is meant to be.
        let local_names = local_header_names(bytes);
        let under = |folder: &str| local_names.iter().any(|name| name.starts_with(folder.as_bytes()));
        let head = &bytes[..bytes.len().min(64 << 10)];
        let names = |name: &[u8]| head.windows(name.len()).any(|w| w == name);
        return if under("word/") {
            detected(Format::Docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        } else if under("xl/") {
            detected(Format::Xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        } else if under("ppt/") {
            detected(Format::Pptx, "application/vnd.openxmlformats-officedocument.presentationml.presentation")
        } else if names(b"mimetypeapplication/epub+zip") {
            detected(Format::Epub, "application/epub+zip")
        } else if let Some(kind) = OPENDOCUMENT_KINDS.iter().find(|kind| names(format!("mimetype{kind}").as_bytes())) {
            detected(Format::Odt, kind)
        } else {
            zip()
        };
    };
    let mut declared = String::new();
    if let Ok(entry) = archive.by_name("mimetype") {
        let _ = entry.take(MIMETYPE_MAX_BYTES).read_to_string(&mut declared);
    }
    let declared = declared.trim();
    match declared {
        "application/vnd.oasis.opendocument.text" | "application/vnd.oasis.opendocument.text-template" => {
            return detected(Format::Odt, "application/vnd.oasis.opendocument.text")
        }
        kind if OPENDOCUMENT_KINDS.contains(&kind) => return detected(Format::Odt, kind),
        "application/epub+zip" => return detected(Format::Epub, "application/epub+zip"),
        other if other.starts_with("application/vnd.oasis.opendocument.") && other.len() < 80 => {
            return detected(Format::Binary, other)
        }
        _ => {}
    }
    let names: Vec<String> = archive.file_names().filter_map(|n| n.ok()).map(|n| n.into_owned()).collect();
    let has = |name: &str| names.iter().any(|n| n.eq_ignore_ascii_case(name));
    if has("word/document.xml") {
        detected(Format::Docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    } else if has("xl/workbook.xml") {
        detected(Format::Xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    } else if has("ppt/presentation.xml") {
        detected(Format::Pptx, "application/vnd.openxmlformats-officedocument.presentationml.presentation")
    } else if let Some(format) = ooxml_by_main_part(&mut archive) {
        format
    } else if has("META-INF/container.xml") && names.iter().any(|n| n.ends_with(".opf")) {
        detected(Format::Epub, "application/epub+zip")
    } else if has("content.xml") && has("META-INF/manifest.xml") {
        detected(Format::Odt, "application/vnd.oasis.opendocument.text")
    } else {
        zip()
    }
}

/// An OOXML package whose main part is not where Word, Excel and PowerPoint
/// put it (`word/document2.xml`), told by the folder its relationships name.
fn ooxml_by_main_part(archive: &mut zip::ZipArchive<Cursor<&[u8]>>) -> Option<Detected> {
    let mut rels = String::new();
    archive.by_name("_rels/.rels").ok()?.take(PACKAGE_RELS_MAX_BYTES).read_to_string(&mut rels).ok()?;
    let main_part = crate::extract::package_main_part(&rels)?;
    archive.index_for_name(&main_part)?;
    let folder = main_part.split('/').next().unwrap_or_default();
    ooxml_by_extension(match folder {
        "word" => "docx",
        "xl" => "xlsx",
        "ppt" => "pptx",
        _ => return None,
    })
}

/// Names of the entries behind the zip local file headers (`PK\x03\x04`)
/// found anywhere in the bytes, at most a few thousand.
fn local_header_names(bytes: &[u8]) -> Vec<&[u8]> {
    const MAX_NAMES: usize = 4096;
    let mut names = Vec::new();
    for at in memchr::memmem::find_iter(bytes, b"PK\x03\x04").take(MAX_NAMES) {
        let Some(lengths) = bytes.get(at + 26..at + 28) else { break };
        let length = u16::from_le_bytes([lengths[0], lengths[1]]) as usize;
        if let Some(name) = bytes.get(at + 30..at + 30 + length) {
            names.push(name);
        }
    }
    names
}

/// Binary when the head has NUL bytes or many control characters that text
/// in no encoding would have. UTF-16/32 text is full of NULs, so those are
/// recognised first.
fn looks_binary(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") || head.starts_with(b"\x00\x00\xFE\xFF") {
        return false;
    }
    let (text, encoding, _) = decode_text(head);
    if encoding.starts_with("UTF-16") || encoding.starts_with("UTF-32") {
        // The wide sniffer matched: still binary if the decoded text is junk.
        let controls = text.chars().filter(|c| c.is_control() && !c.is_whitespace()).count();
        return controls * 10 > text.chars().count();
    }
    if head.contains(&0) {
        return true;
    }
    let controls = head.iter().filter(|b| matches!(**b, 0x01..=0x08 | 0x0E..=0x1A | 0x1C..=0x1F | 0x7F)).count();
    controls * 20 > head.len()
}

fn text_by_extension(extension: &str) -> Option<Detected> {
    Some(match extension {
        "json" | "geojson" | "jsonld" | "webmanifest" => detected(Format::Json, "application/json"),
        "jsonl" | "ndjson" | "ldjson" => detected(Format::Json, JSON_LINES),
        "csv" => detected(Format::Csv, "text/csv"),
        "tsv" | "tab" => detected(Format::Csv, "text/tab-separated-values"),
        "md" | "markdown" | "mdown" | "mkd" | "mkdn" | "mdwn" => detected(Format::Markdown, "text/markdown"),
        "html" | "htm" | "xhtml" | "shtml" => detected(Format::Html, "text/html"),
        "xml" | "xsd" | "xsl" | "xslt" | "rss" | "atom" | "svg" | "rdf" | "opf" | "ncx" | "fb2" | "kml" | "gpx"
        | "wsdl" | "xlf" | "xliff" | "plist" | "dbk" | "tei" => detected(Format::Xml, "application/xml"),
        "eml" => detected(Format::Text, EMAIL),
        "txt" | "text" | "log" | "srt" | "vtt" | "ini" | "cfg" | "conf" | "asc" | "nfo" => {
            detected(Format::Text, "text/plain")
        }
        _ => return None,
    })
}

fn text_by_content(bytes: &[u8], head: &[u8]) -> Detected {
    let (text, _, _) = decode_text(head);
    let trimmed = text.trim_start_matches('\u{FEFF}').trim_start();
    if trimmed.starts_with('<') {
        if let Some(found) = markup_kind(trimmed) {
            return found;
        }
    }
    if (trimmed.starts_with('{') || trimmed.starts_with('[')) && is_json(bytes, trimmed) {
        return detected(Format::Json, "application/json");
    }
    if looks_like_email(&text) {
        return detected(Format::Text, EMAIL);
    }
    if let Some(delimiter) = csv_delimiter(&text, head.len() < bytes.len()) {
        let media_type = if delimiter == '\t' { "text/tab-separated-values" } else { "text/csv" };
        return detected(Format::Csv, media_type);
    }
    if looks_like_markdown(&text) {
        return detected(Format::Markdown, "text/markdown");
    }
    detected(Format::Text, "text/plain")
}

/// An e-mail message: it opens with a header block (`Name: value` lines, and
/// folded lines starting with white space) holding `From:` and another of
/// the headers every mailer writes.
fn looks_like_email(text: &str) -> bool {
    let (mut fields, mut from, mut other) = (0, false, false);
    for line in text.lines().take(500) {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((name, _)) = line.split_once(':') else { return false };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return false;
        }
        fields += 1;
        match name.to_ascii_lowercase().as_str() {
            "from" => from = true,
            "subject" | "date" | "to" | "message-id" | "mime-version" | "received" | "return-path" => other = true,
            _ => {}
        }
    }
    fields >= 2 && from && other
}

/// HTML or XML from the first element, skipping a prolog, comments and a
/// doctype.
fn markup_kind(text: &str) -> Option<Detected> {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        let lower: String = rest.chars().take(16).collect::<String>().to_ascii_lowercase();
        if lower.starts_with("<!doctype html") {
            return Some(detected(Format::Html, "text/html"));
        }
        if rest.starts_with("<?") {
            rest = &rest[rest.find("?>")? + 2..];
        } else if rest.starts_with("<!--") {
            rest = &rest[rest.find("-->")? + 3..];
        } else if rest.starts_with("<!") {
            // A doctype with an internal subset ends at "]>".
            let end = match (rest.find('['), rest.find('>')) {
                (Some(open), Some(close)) if open < close => rest.find("]>")? + 2,
                (_, Some(close)) => close + 1,
                _ => return None,
            };
            rest = &rest[end..];
        } else {
            break;
        }
    }
    let name: String = rest
        .strip_prefix('<')?
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, ':' | '-' | '_' | '.'))
        .collect::<String>()
        .to_ascii_lowercase();
    if name.is_empty() {
        return None;
    }
    const HTML_ROOTS: &[&str] = &[
        "html", "head", "body", "div", "p", "table", "span", "meta", "title", "script", "a", "h1", "h2", "ul", "form",
        "link", "style", "br",
    ];
    if HTML_ROOTS.contains(&name.as_str()) {
        Some(detected(Format::Html, "text/html"))
    } else {
        Some(detected(Format::Xml, "application/xml"))
    }
}

fn is_json(bytes: &[u8], head: &str) -> bool {
    if bytes.len() <= JSON_SNIFF_MAX_BYTES {
        let (text, _, _) = decode_text(bytes);
        return crate::extract::json::is_valid(&text);
    }
    let opening: String = head.chars().filter(|c| !c.is_whitespace()).take(2).collect();
    matches!(opening.as_str(), "{\"" | "[{" | "[\"" | "[[") || opening.starts_with('[')
}

/// The delimiter of CSV-like text: the same number (at least two) of fields
/// in every one of at least two records, quotes honoured (a quoted field may
/// hold delimiters and newlines). With several candidates, the most fields win.
pub fn csv_delimiter(text: &str, truncated: bool) -> Option<char> {
    let mut best: Option<(char, usize)> = None;
    for delimiter in [',', '\t', ';', '|'] {
        let mut counts = record_field_counts(text, delimiter, 50);
        if truncated && counts.len() > 2 {
            counts.pop();
        }
        let Some(&first) = counts.first() else { continue };
        if counts.len() >= 2 && first >= 2 && counts.iter().all(|c| *c == first) && best.is_none_or(|(_, n)| first > n)
        {
            best = Some((delimiter, first));
        }
    }
    best.map(|(delimiter, _)| delimiter)
}

/// Fields per record of the first `max_records` non-blank records.
fn record_field_counts(text: &str, delimiter: char, max_records: usize) -> Vec<usize> {
    let mut counts = Vec::new();
    let mut fields = 1;
    let mut quoted = false;
    let mut blank = true;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
            blank = false;
        } else if quoted {
            continue;
        } else if c == delimiter {
            fields += 1;
            blank = false;
        } else if c == '\n' {
            if !blank {
                counts.push(fields);
                if counts.len() == max_records {
                    return counts;
                }
            }
            fields = 1;
            blank = true;
        } else if !c.is_whitespace() {
            blank = false;
        }
    }
    if !blank {
        counts.push(fields);
    }
    counts
}

/// Conservative: several kinds of Markdown markup, or a lot of one.
fn looks_like_markdown(text: &str) -> bool {
    let mut headings = 0;
    let mut lists = 0;
    let mut fences = 0;
    let mut links = 0;
    let mut emphasis = 0;
    for line in text.lines().take(400) {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#')
            && trimmed.trim_start_matches('#').starts_with(' ')
            && line.len() - trimmed.len() < 4
        {
            headings += 1;
        }
        if trimmed.starts_with("- ") || trimmed.starts_with("* ") || trimmed.starts_with("+ ") {
            lists += 1;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fences += 1;
        }
        if line.contains("](") {
            links += 1;
        }
        if line.contains("**") || line.contains("__") {
            emphasis += 1;
        }
    }
    let kinds = [headings, lists, fences, links, emphasis].iter().filter(|n| **n > 0).count();
    (headings > 0 && kinds >= 2) || fences >= 2 || (links > 0 && kinds >= 2) || headings >= 3
}
