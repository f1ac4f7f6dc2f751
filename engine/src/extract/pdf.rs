//! PDF: text in reading order through pdf-extract, page by page, with lopdf's
//! own extractor as a fallback for a page pdf-extract fails on; the Info
//! dictionary for title, author, dates and producer. An encrypted PDF with an
//! empty user password is read; any other is a typed "encrypted" error.

use std::panic::{self, AssertUnwindSafe};

use pdf_extract::{Document, Object};

use super::pdf_layout::PageLines;
use super::{iso_datetime, ExtractError, Extracted};
use crate::ocr::{pdf_images, Session};
use crate::options::OcrMode;

/// Pages whose text is extracted; the rest are counted but skipped, with a
/// `truncated` warning. Several thousand pages of text is already a book.
const MAX_PAGES: usize = 5000;
/// A page reading with fewer letters and digits than this is compared with
/// lopdf's reading of the same page.
const MIN_PAGE_LETTERS: usize = 16;

pub fn extract(bytes: &[u8], ocr: &mut Session<'_>) -> Result<Extracted, ExtractError> {
    let loaded = panic::catch_unwind(AssertUnwindSafe(|| Document::load_mem(bytes)))
        .map_err(|_| ExtractError("the PDF parser failed on this file".into()))?;
    let mut extracted = Extracted::default();
    let mut document = match loaded {
        Ok(document) => document,
        Err(err) => {
            let message = err.to_string();
            if message.to_ascii_lowercase().contains("encrypt") || message.to_ascii_lowercase().contains("password") {
                return Err(ExtractError(format!("encrypted: {message}")));
            }
            // A damaged cross-reference table is the commonest breakage;
            // readers rebuild it by scanning for objects, and so do we.
            let rebuilt = rebuild_xref(bytes)
                .and_then(|fixed| panic::catch_unwind(AssertUnwindSafe(|| Document::load_mem(&fixed))).ok()?.ok());
            match rebuilt {
                Some(document) => {
                    extracted.warnings.push(format!("damaged PDF ({message}); cross-reference table rebuilt"));
                    document
                }
                None => return Err(ExtractError(format!("not a readable PDF: {message}"))),
            }
        }
    };
    // lopdf decrypts at load when the empty user password opens the file,
    // and leaves the /Encrypt entry in place when it does not.
    let encrypted = document.was_encrypted() || document.is_encrypted();
    if document.is_encrypted() {
        let decrypted =
            panic::catch_unwind(AssertUnwindSafe(|| document.decrypt(""))).map(|r| r.is_ok()).unwrap_or(false);
        if !decrypted {
            return Err(ExtractError("encrypted: this PDF needs a password".into()));
        }
    }
    extracted.set("encrypted", encrypted);
    inflate_streams(&mut document, &mut extracted.warnings);
    map_unicode_cmaps(&mut document);
    info_metadata(&document, &mut extracted);
    let pages = document.get_pages();
    extracted.set("pages", pages.len());
    let mut text = String::new();
    let mut failed_pages = Vec::new();
    let mut partial_pages = Vec::new();
    for (done, (page_number, page_id)) in pages.iter().enumerate() {
        if done == MAX_PAGES {
            extracted.warnings.push(format!("truncated: text of the first {MAX_PAGES} of {} pages", pages.len()));
            break;
        }
        let mut lines = PageLines::default();
        let rendered =
            panic::catch_unwind(AssertUnwindSafe(|| pdf_extract::output_doc_page(&document, &mut lines, *page_number)));
        let rendered_ok = matches!(rendered, Ok(Ok(())));
        // A page the renderer gave up on keeps the text drawn before.
        let mut page_text = lines.text();
        // pdf-extract misreads some font encodings (CID fonts without a
        // usable ToUnicode map, Type 3 fonts) and yields nothing or symbol
        // soup; lopdf's own extractor decodes some of those. Keep whichever
        // reading has more letters and digits.
        let letters = |text: &str| text.chars().filter(|c| c.is_alphanumeric()).count();
        if !rendered_ok || letters(&page_text) < MIN_PAGE_LETTERS {
            if let Ok(Ok(fallback)) = panic::catch_unwind(AssertUnwindSafe(|| document.extract_text(&[*page_number]))) {
                if letters(&fallback) > letters(&page_text) {
                    page_text = fallback;
                }
            }
        }
        // A scanned page: its image read by OCR when it has no text layer
        // worth the name (or always, with `ocr=on`).
        let wants_ocr = ocr.mode == OcrMode::On || letters(&page_text) < MIN_PAGE_LETTERS;
        if wants_ocr {
            if let Some(scan) = pdf_images::largest_image(&document, *page_id) {
                if ocr.possible() {
                    match pdf_images::decode_page_image(&document, *page_id, scan) {
                        Ok(image) => {
                            if let Some(read) = ocr.read_page(*page_number as usize, image) {
                                page_text = read;
                            }
                        }
                        Err(err) => {
                            ocr.warn(format!("page {page_number}: its image could not be read by OCR: {}", err.0))
                        }
                    }
                }
            }
        }
        if !rendered_ok && letters(&page_text) == 0 {
            failed_pages.push(*page_number);
        } else if !rendered_ok {
            partial_pages.push(*page_number);
        }
        text.push_str(page_text.trim_matches('\n'));
        text.push_str("\n\n");
    }
    let listed = |pages: &[u32]| {
        let shown: Vec<String> = pages.iter().take(10).map(u32::to_string).collect();
        let more = if pages.len() > 10 { ", ..." } else { "" };
        format!("{} pages ({}{more})", pages.len(), shown.join(", "))
    };
    if !failed_pages.is_empty() {
        extracted.warnings.push(format!("no text could be read from {}", listed(&failed_pages)));
    }
    if !partial_pages.is_empty() {
        extracted
            .warnings
            .push(format!("the text of {} may be incomplete: the reader stopped early", listed(&partial_pages)));
    }
    if !pages.is_empty() && failed_pages.len() == pages.len() && text.trim().is_empty() {
        return Err(ExtractError("no page of this PDF could be read".into()));
    }
    extracted.text = tidy(&text);
    Ok(extracted)
}

/// Most bytes one stream may inflate to. Page content streams of text run to
/// kilobytes, of dense drawings to a few megabytes; a stream of a gigabyte
/// of operators is a decompression bomb aimed at the parser's memory.
const MAX_STREAM_BYTES: usize = 32 << 20;
/// Most bytes all streams together may inflate to.
const MAX_INFLATED_BYTES: usize = 256 << 20;

/// Inflates every Flate-compressed stream text extraction may read (all but
/// images), at most [`MAX_STREAM_BYTES`] each and [`MAX_INFLATED_BYTES`] in
/// all, and stores it decoded, so that no later reader inflates a bomb. A
/// stream past the limits is cut (or, past the total, emptied) with a
/// `truncated` warning. Streams with further filters or predictors are left
/// to the parser when they are within the limits.
fn inflate_streams(document: &mut Document, warnings: &mut Vec<String>) {
    use std::io::Read;

    let mut total = 0usize;
    let mut cut = 0usize;
    for object in document.objects.values_mut() {
        let Object::Stream(stream) = object else { continue };
        if stream.dict.get(b"Subtype").and_then(Object::as_name).is_ok_and(|name| name == b"Image") {
            continue;
        }
        let Ok(filters) = stream.filters() else { continue };
        if filters.first() != Some(&&b"FlateDecode"[..]) {
            continue;
        }
        let plain = filters.len() == 1
            && stream
                .dict
                .get(b"DecodeParms")
                .and_then(Object::as_dict)
                .and_then(|params| params.get(b"Predictor"))
                .and_then(Object::as_i64)
                .map_or(true, |predictor| predictor <= 1);
        let budget = MAX_STREAM_BYTES.min(MAX_INFLATED_BYTES.saturating_sub(total));
        let mut output = Vec::new();
        let inflated =
            flate2::read::ZlibDecoder::new(stream.content.as_slice()).take(budget as u64 + 1).read_to_end(&mut output);
        if inflated.is_err() && output.is_empty() {
            // Corrupt or raw deflate: the parser's own decoder retries these.
            continue;
        }
        total += output.len().min(budget);
        if output.len() > budget {
            output.truncate(budget);
            cut += 1;
            stream.set_plain_content(output);
        } else if plain {
            stream.set_plain_content(output);
        }
    }
    if cut > 0 {
        warnings.push(format!(
            "truncated: {cut} PDF streams inflate past {} MiB each or {} MiB in all; they were cut there",
            MAX_STREAM_BYTES >> 20,
            MAX_INFLATED_BYTES >> 20
        ));
    }
}

/// Gives Type0 fonts encoded by a predefined Unicode CMap (`UniJIS-UCS2-H`,
/// `UniGB-UTF16-V`, ...), common in Chinese, Japanese and Korean PDFs whose
/// fonts are not embedded, what the text extractor understands: such codes
/// are UTF-16 code units already, so the font becomes `Identity-H` (or `-V`)
/// with a ToUnicode map from each code to itself. Without it the extractor
/// refuses these fonts and their pages give no text.
fn map_unicode_cmaps(document: &mut Document) {
    let mut fonts = Vec::new();
    for (id, object) in &document.objects {
        let Object::Dictionary(font) = object else { continue };
        let is_type0 = font.get(b"Subtype").and_then(Object::as_name).is_ok_and(|name| name == b"Type0");
        let Ok(encoding) = font.get(b"Encoding").and_then(Object::as_name) else { continue };
        let unicode = encoding.starts_with(b"Uni")
            && (memfind(encoding, b"-UCS2-").is_some() || memfind(encoding, b"-UTF16-").is_some());
        if is_type0 && unicode && !font.has(b"ToUnicode") {
            let vertical = encoding.ends_with(b"-V");
            fonts.push((*id, vertical));
        }
    }
    if fonts.is_empty() {
        return;
    }
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CMapName /Identity-UCS2 def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    // Every high byte but the surrogates', 100 ranges a section at most.
    let highs: Vec<u32> = (0..=0xFFu32).filter(|high| !(0xD8..=0xDF).contains(high)).collect();
    for chunk in highs.chunks(100) {
        cmap.push_str(&format!("{} beginbfrange\n", chunk.len()));
        for high in chunk {
            cmap.push_str(&format!("<{high:02X}00> <{high:02X}FF> <{high:02X}00>\n"));
        }
        cmap.push_str("endbfrange\n");
    }
    cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    let to_unicode = document.add_object(pdf_extract::Stream::new(pdf_extract::Dictionary::new(), cmap.into_bytes()));
    for (id, vertical) in fonts {
        if let Ok(Object::Dictionary(font)) = document.get_object_mut(id) {
            let identity = if vertical { "Identity-V" } else { "Identity-H" };
            font.set("Encoding", Object::Name(identity.as_bytes().to_vec()));
            font.set("ToUnicode", Object::Reference(to_unicode));
        }
    }
}

/// Most objects a rebuilt cross-reference table may list: far above real
/// documents, low enough that a forged object number cannot make the table
/// huge.
const MAX_REBUILT_OBJECTS: u32 = 2_000_000;

/// The document with a fresh cross-reference table and trailer appended,
/// built from every `N G obj` found in the bytes (later ones win, as in an
/// incremental update).
fn rebuild_xref(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut offsets: std::collections::BTreeMap<u32, (u64, u16)> = std::collections::BTreeMap::new();
    let mut i = 0;
    while let Some(found) = memfind(&bytes[i..], b"obj") {
        let at = i + found;
        i = at + 3;
        // Walk back over "N G " before "obj".
        let mut j = at;
        let mut numbers = Vec::new();
        for _ in 0..2 {
            while j > 0 && bytes[j - 1].is_ascii_whitespace() {
                j -= 1;
            }
            let end = j;
            while j > 0 && bytes[j - 1].is_ascii_digit() && end - j < 10 {
                j -= 1;
            }
            if j == end {
                break;
            }
            numbers.push(std::str::from_utf8(&bytes[j..end]).ok()?.parse::<u64>().ok()?);
        }
        let starts_line = j == 0 || bytes[j - 1].is_ascii_whitespace();
        if numbers.len() == 2 && starts_line && numbers[1] <= u16::MAX as u64 && numbers[0] < MAX_REBUILT_OBJECTS as u64
        {
            offsets.insert(numbers[1] as u32, (j as u64, numbers[0] as u16));
        }
    }
    // A file cut short (an interrupted download) has lost its trailer, and
    // with it /Root: the catalog is then the object typed /Catalog.
    let root = last_reference(bytes, b"/Root").or_else(|| catalog_object(bytes, &offsets))?;
    let info = last_reference(bytes, b"/Info");
    let size = offsets.keys().next_back()? + 1;
    let mut fixed = bytes.to_vec();
    fixed.push(b'\n');
    let xref_at = fixed.len();
    fixed.extend_from_slice(format!("xref\n0 {size}\n").as_bytes());
    for number in 0..size {
        match offsets.get(&number) {
            Some((offset, generation)) => {
                fixed.extend_from_slice(format!("{offset:010} {generation:05} n \n").as_bytes())
            }
            None => fixed.extend_from_slice(b"0000000000 65535 f \n"),
        }
    }
    let info = info.map(|(n, g)| format!(" /Info {n} {g} R")).unwrap_or_default();
    fixed.extend_from_slice(
        format!("trailer\n<< /Size {size} /Root {} {} R{info} >>\nstartxref\n{xref_at}\n%%EOF\n", root.0, root.1)
            .as_bytes(),
    );
    Some(fixed)
}

/// The object holding the last `/Type /Catalog` of the bytes: the one that
/// starts closest before it.
fn catalog_object(bytes: &[u8], offsets: &std::collections::BTreeMap<u32, (u64, u16)>) -> Option<(u32, u16)> {
    let mut found = None;
    let mut i = 0;
    while let Some(at) = memfind(&bytes[i..], b"/Catalog") {
        let at = i + at;
        i = at + 8;
        let before = bytes[..at].trim_ascii_end();
        if before.ends_with(b"/Type") {
            found = Some(at as u64);
        }
    }
    let at = found?;
    offsets
        .iter()
        .filter(|(_, (offset, _))| *offset <= at)
        .max_by_key(|(_, (offset, _))| *offset)
        .map(|(number, (_, generation))| (*number, *generation))
}

fn memfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The last `KEY N G R` in the bytes.
fn last_reference(bytes: &[u8], key: &[u8]) -> Option<(u32, u16)> {
    let at = bytes.windows(key.len()).rposition(|w| w == key)?;
    let rest =
        std::str::from_utf8(&bytes[at + key.len()..bytes.len().min(at + key.len() + 32)]).ok().or_else(|| {
            let end = (at + key.len() + 32).min(bytes.len());
            let slice = &bytes[at + key.len()..end];
            let valid = slice.iter().position(|b| !b.is_ascii()).unwrap_or(slice.len());
            std::str::from_utf8(&slice[..valid]).ok()
        })?;
    let mut parts = rest.split_whitespace();
    let number = parts.next()?.parse().ok()?;
    let generation = parts.next()?.parse().ok()?;
    (parts.next()?.starts_with('R')).then_some((number, generation))
}

/// Undoes what PDF text extraction tends to leave: ligature characters,
/// soft hyphens, control characters from unmapped glyphs and runs of blank
/// lines.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{00AD}' => {}
            // Glyphs without a Unicode mapping come out as NUL or other
            // control characters: they are not text.
            c if c.is_control() && !matches!(c, '\n' | '\t') => {}
            c => out.push(c),
        }
    }
    let mut result = String::with_capacity(out.len());
    let mut blank_run = 0;
    for line in out.lines() {
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        result.push_str(line.trim_end());
        result.push('\n');
    }
    result
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
