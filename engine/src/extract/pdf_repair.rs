//! Repairs made to a PDF before reading it: streams inflated within limits
//! (decompression bombs cut), fonts with predefined Unicode CMaps given a
//! ToUnicode map, CID fonts' width ranges spelt out, and a damaged or missing cross-reference table rebuilt by
//! scanning for objects.

use std::collections::HashSet;

use pdf_extract::{Document, Object, ObjectId};

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
/// to the parser when they are within the limits. Returns the streams that
/// do not inflate at all: damaged, their content lost.
pub fn inflate_streams(document: &mut Document, warnings: &mut Vec<String>) -> HashSet<ObjectId> {
    use std::io::Read;

    let mut total = 0usize;
    let mut cut = 0usize;
    let mut damaged = HashSet::new();
    for (id, object) in document.objects.iter_mut() {
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
            if stream.decompressed_content().map_or(true, |content| content.is_empty()) {
                damaged.insert(*id);
            }
            continue;
        }
        total += output.len().min(budget);
        // The stream keeps what it stores for the whole reading: not the
        // spare capacity `read_to_end` grew into (up to as much again; for
        // the 117 streams of a 2.7 MB PDF with its fonts embedded, 11.2 MB
        // held for 5.8 MB inflated).
        if output.len() > budget {
            output.truncate(budget);
            cut += 1;
            output.shrink_to_fit();
            stream.set_plain_content(output);
        } else if plain {
            output.shrink_to_fit();
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
    damaged
}

/// Gives Type0 fonts encoded by a predefined Unicode CMap (`UniJIS-UCS2-H`,
/// `UniGB-UTF16-V`, ...), common in Chinese, Japanese and Korean PDFs whose
/// fonts are not embedded, what the text extractor understands: such codes
/// are UTF-16 code units already, so the font becomes `Identity-H` (or `-V`)
/// with a ToUnicode map from each code to itself. Without it the extractor
/// refuses these fonts and their pages give no text.
pub fn map_unicode_cmaps(document: &mut Document) {
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

/// Most glyph widths one CID font's ranges may spell out: CIDs are 16-bit
/// codes in the Identity encodings real fonts use, so more is forged.
const MAX_CID_WIDTHS: i64 = 65_536;

/// Rewrites the `c_first c_last width` ranges of CID fonts' `/W` arrays
/// (Chromium writes a monospaced font's widths as one such range) as
/// `c_first [width ...]`, the form the text extractor reads right: it
/// misreads the ranges as zero widths, and then every glyph stands apart
/// from the next and the text comes out letter-spaced (`R e s u l t s`).
pub fn expand_width_ranges(document: &mut Document) {
    let mut fixes: Vec<(ObjectId, Option<ObjectId>, Vec<Object>)> = Vec::new();
    for (id, object) in &document.objects {
        let Object::Dictionary(font) = object else { continue };
        let cid_font = font
            .get(b"Subtype")
            .and_then(Object::as_name)
            .is_ok_and(|name| name == b"CIDFontType2" || name == b"CIDFontType0");
        let Ok(w) = font.get(b"W") else { continue };
        if !cid_font {
            continue;
        }
        let (array, target) = match w {
            Object::Array(array) => (array, None),
            Object::Reference(r) => match document.objects.get(r) {
                Some(Object::Array(array)) => (array, Some(*r)),
                _ => continue,
            },
            _ => continue,
        };
        if let Some(expanded) = expanded_widths(array) {
            fixes.push((*id, target, expanded));
        }
    }
    for (font, target, expanded) in fixes {
        match target {
            Some(array) => {
                document.objects.insert(array, Object::Array(expanded));
            }
            None => {
                if let Ok(Object::Dictionary(font)) = document.get_object_mut(font) {
                    font.set("W", Object::Array(expanded));
                }
            }
        }
    }
}

/// The `/W` array with its ranges spelt out, or `None` when it has none (or
/// is malformed, or spells out more than [`MAX_CID_WIDTHS`]).
fn expanded_widths(w: &[Object]) -> Option<Vec<Object>> {
    let number = |object: &Object| match object {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    };
    let mut out = Vec::new();
    let (mut i, mut ranges, mut spelt) = (0, 0, 0i64);
    while i < w.len() {
        let Object::Integer(first) = w[i] else { return None };
        match w.get(i + 1)? {
            Object::Array(widths) => {
                out.push(w[i].clone());
                out.push(Object::Array(widths.clone()));
                i += 2;
            }
            Object::Integer(last) => {
                let width = number(w.get(i + 2)?)?;
                let count = last.checked_sub(first)?.checked_add(1)?;
                spelt += count;
                if count <= 0 || spelt > MAX_CID_WIDTHS {
                    return None;
                }
                out.push(Object::Integer(first));
                out.push(Object::Array((0..count).map(|_| Object::Real(width as f32)).collect()));
                ranges += 1;
                i += 3;
            }
            _ => return None,
        }
    }
    (ranges > 0).then_some(out)
}

/// Most objects a rebuilt cross-reference table may list: far above real
/// documents, low enough that a forged object number cannot make the table
/// huge.
const MAX_REBUILT_OBJECTS: u32 = 2_000_000;

/// The document with a fresh cross-reference table and trailer appended,
/// built from every `N G obj` found in the bytes (later ones win, as in an
/// incremental update).
pub fn rebuild_xref(bytes: &[u8]) -> Option<Vec<u8>> {
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
    memchr::memmem::find(haystack, needle)
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
