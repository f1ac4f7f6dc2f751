//! Marked content with `/ActualText` (`/Span <</ActualText (...)>> BDC ...
//! EMC`): the text a run of glyphs stands for. LibreOffice writes one
//! around every shaped cluster of Devanagari (and other Indic scripts) whose
//! glyphs do not map one to one onto characters: the vowel sign drawn before
//! its consonant, conjuncts, ligatures. Its ToUnicode map gives each such
//! glyph the cluster it first met it in, so read glyph by glyph "किताब"
//! came out "हिकताब" and "है" as "ै".
//!
//! The text extractor knows nothing of marked content, so each such span's
//! glyphs are shown, before extraction, in a copy of their font whose
//! ToUnicode map gives the span's first code the actual text and every
//! other code of the span [`FILLER`], taken out of the page's text
//! afterwards. The copy shares the font's widths, so the glyphs keep their
//! places and the layout its word gaps.

use std::collections::HashMap;

use pdf_extract::content::{Content, Operation};
use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream};

/// What a span's other codes decode to: a noncharacter, which no text
/// holds, removed from the page's text after extraction.
pub const FILLER: char = '\u{FDD0}';
/// Font copies made for one document; spans past this are read glyph by
/// glyph as before.
const MAX_COPIES: usize = 4096;
/// Content stream bytes looked through for spans, per page.
const MAX_CONTENT_BYTES: usize = 16 << 20;

/// Font copies made so far: by the font's object and the codes they
/// map (to the span's text, then to [`FILLER`]), the copy's resource name
/// and object.
type Copies = HashMap<(ObjectId, Vec<(u32, String)>), (Vec<u8>, ObjectId)>;

/// Rewrites the content of each of `pages` that has `/ActualText` spans as
/// described in the module documentation (`pages`: those the content guard
/// saw naming `/ActualText`).
pub fn apply(document: &mut Document, pages: &[ObjectId]) {
    let mut copies = Copies::new();
    for &page in pages {
        let Ok(content) = document.get_page_content(page) else { continue };
        if content.len() > MAX_CONTENT_BYTES || memchr::memmem::find(&content, b"ActualText").is_none() {
            continue;
        }
        let Ok(decoded) = Content::decode(&content) else { continue };
        let Some(fonts) = font_resources(document, page) else { continue };
        let mut added: Vec<(Vec<u8>, ObjectId)> = Vec::new();
        let operations = rewrite(document, &fonts, decoded.operations, &mut copies, &mut added);
        if added.is_empty() {
            continue;
        }
        let Ok(bytes) = (Content { operations }).encode() else { continue };
        if add_fonts(document, page, &added) {
            let _ = document.change_page_content(page, bytes);
        }
    }
}

/// The page's `/Font` resources: name to font object.
fn font_resources(document: &Document, page: ObjectId) -> Option<HashMap<Vec<u8>, ObjectId>> {
    let page = document.get_dictionary(page).ok()?;
    let resources = resolve(document, page.get(b"Resources").ok()?)?.as_dict().ok()?;
    let fonts = resolve(document, resources.get(b"Font").ok()?)?.as_dict().ok()?;
    Some(fonts.iter().filter_map(|(name, font)| Some((name.clone(), font.as_reference().ok()?))).collect())
}

fn resolve<'a>(document: &'a Document, object: &'a Object) -> Option<&'a Object> {
    match object {
        Object::Reference(id) => document.get_object(*id).ok(),
        other => Some(other),
    }
}

/// Adds the font copies to the page's `/Font` resources, wherever that
/// dictionary lives; false when it cannot be reached.
fn add_fonts(document: &mut Document, page: ObjectId, added: &[(Vec<u8>, ObjectId)]) -> bool {
    let Ok(page_dict) = document.get_dictionary(page) else { return false };
    let resources_ref = page_dict.get(b"Resources").ok().and_then(|r| r.as_reference().ok());
    let fonts_ref = {
        let resources = match resources_ref {
            Some(id) => document.get_dictionary(id).ok(),
            None => page_dict.get(b"Resources").ok().and_then(|r| r.as_dict().ok()),
        };
        let Some(resources) = resources else { return false };
        resources.get(b"Font").ok().and_then(|f| f.as_reference().ok())
    };
    let fonts: Option<&mut Dictionary> = match (fonts_ref, resources_ref) {
        (Some(id), _) => document.get_dictionary_mut(id).ok(),
        (None, Some(id)) => {
            document.get_dictionary_mut(id).ok().and_then(|r| r.get_mut(b"Font").ok()?.as_dict_mut().ok())
        }
        (None, None) => document
            .get_dictionary_mut(page)
            .ok()
            .and_then(|p| p.get_mut(b"Resources").ok()?.as_dict_mut().ok())
            .and_then(|r| r.get_mut(b"Font").ok()?.as_dict_mut().ok()),
    };
    let Some(fonts) = fonts else { return false };
    for (name, id) in added {
        fonts.set(name.clone(), Object::Reference(*id));
    }
    true
}

/// The actual text of a `BDC` operation's properties, when given inline.
fn actual_text(operation: &Operation) -> Option<String> {
    let properties = operation.operands.get(1)?.as_dict().ok()?;
    let Object::String(bytes, _) = properties.get(b"ActualText").ok()? else { return None };
    Some(match bytes.strip_prefix(b"\xFE\xFF") {
        Some(utf16) => {
            let units: Vec<u16> = utf16.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]])).collect();
            String::from_utf16_lossy(&units)
        }
        None => bytes.iter().map(|&b| b as char).collect(),
    })
}

/// The strings a text-showing operation shows.
fn shown_strings(operation: &Operation) -> Vec<&[u8]> {
    fn string(object: &Object) -> Option<&[u8]> {
        match object {
            Object::String(bytes, _) => Some(bytes.as_slice()),
            _ => None,
        }
    }
    match operation.operator.as_str() {
        "Tj" | "'" => operation.operands.first().and_then(string).into_iter().collect(),
        "\"" => operation.operands.get(2).and_then(string).into_iter().collect(),
        "TJ" => match operation.operands.first() {
            Some(Object::Array(items)) => items.iter().filter_map(string).collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Bytes per code of a font: 2 for a Type0 font with an Identity CMap, 1
/// for a simple font, None for other CMaps (left as they are).
fn code_length(document: &Document, font: ObjectId) -> Option<usize> {
    let font = document.get_dictionary(font).ok()?;
    if font.get(b"Subtype").and_then(Object::as_name).ok()? != b"Type0" {
        return Some(1);
    }
    let encoding = font.get(b"Encoding").and_then(Object::as_name).ok()?;
    matches!(encoding, b"Identity-H" | b"Identity-V").then_some(2)
}

/// A span being read: where its operations start in the output, its text.
struct Span {
    start: usize,
    text: String,
    depth: usize,
}

/// The operations with each span's text-showing operations shown in a font
/// copy (made or reused through `copies`, new ones listed in `added`).
fn rewrite(
    document: &mut Document,
    fonts: &HashMap<Vec<u8>, ObjectId>,
    operations: Vec<Operation>,
    copies: &mut Copies,
    added: &mut Vec<(Vec<u8>, ObjectId)>,
) -> Vec<Operation> {
    let mut out: Vec<Operation> = Vec::with_capacity(operations.len());
    // The font and size set by Tf, saved by q and restored by Q.
    let mut font: Option<(Vec<u8>, Object)> = None;
    let mut saved = Vec::new();
    let mut depth = 0usize;
    let mut span: Option<Span> = None;
    for operation in operations {
        match operation.operator.as_str() {
            "q" => saved.push(font.clone()),
            "Q" => font = saved.pop().unwrap_or(None),
            "Tf" => {
                if let (Some(Object::Name(name)), Some(size)) = (operation.operands.first(), operation.operands.get(1))
                {
                    font = Some((name.clone(), size.clone()));
                }
            }
            "BMC" => depth += 1,
            "BDC" => {
                depth += 1;
                if span.is_none() {
                    if let Some(text) = actual_text(&operation) {
                        span = Some(Span { start: out.len() + 1, text, depth });
                    }
                }
            }
            "EMC" => {
                if span.as_ref().is_some_and(|s| s.depth == depth) {
                    let done = span.take().expect("span is open");
                    let shown = out.split_off(done.start);
                    out.extend(in_copy(document, fonts, shown, &done.text, font.clone(), copies, added));
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        out.push(operation);
    }
    out
}

/// A span's operations with its text shown in a font copy; as they were
/// when they show text in more than one font, or a code twice over the
/// first one, or in a font whose codes are not read here.
fn in_copy(
    document: &mut Document,
    fonts: &HashMap<Vec<u8>, ObjectId>,
    operations: Vec<Operation>,
    text: &str,
    font_after: Option<(Vec<u8>, Object)>,
    copies: &mut Copies,
    added: &mut Vec<(Vec<u8>, ObjectId)>,
) -> Vec<Operation> {
    // The font of each text-showing operation, replayed from the span's Tf
    // operations and the font current after it (the one set last, or the
    // one before the span when it sets none).
    let set_in_span: Vec<usize> =
        operations.iter().enumerate().filter(|(_, o)| o.operator == "Tf").map(|(i, _)| i).collect();
    let mut current: Option<(Vec<u8>, Object)> = if set_in_span.is_empty() { font_after.clone() } else { None };
    let mut used: Option<(Vec<u8>, Object)> = None;
    let mut codes: Vec<u32> = Vec::new();
    let mut length = None;
    for operation in &operations {
        if operation.operator == "Tf" {
            if let (Some(Object::Name(name)), Some(size)) = (operation.operands.first(), operation.operands.get(1)) {
                current = Some((name.clone(), size.clone()));
            }
            continue;
        }
        let strings = shown_strings(operation);
        if strings.is_empty() {
            continue;
        }
        let Some((name, size)) = current.clone() else { return operations };
        match &used {
            Some((used_name, _)) if *used_name != name => return operations,
            _ => used = Some((name.clone(), size)),
        }
        let Some(&font_id) = fonts.get(&name) else { return operations };
        let Some(bytes_per_code) = code_length(document, font_id) else { return operations };
        length = Some(bytes_per_code);
        for string in strings {
            for code in string.chunks(bytes_per_code) {
                codes.push(code.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)));
            }
        }
    }
    let (Some((name, _)), Some(length), Some(&first)) = (used, length, codes.first()) else { return operations };
    if codes[1..].contains(&first) {
        return operations;
    }
    let mut map: Vec<(u32, String)> = vec![(first, text.to_owned())];
    for &code in &codes[1..] {
        if !map.iter().any(|(c, _)| *c == code) {
            map.push((code, FILLER.to_string()));
        }
    }
    map[1..].sort();
    let key = (fonts[&name], map);
    let (copy_name, copy_id) = match copies.get(&key) {
        Some(copy) => copy.clone(),
        None => {
            if copies.len() >= MAX_COPIES {
                return operations;
            }
            let Some(copy) = copy_font(document, fonts[&name], &key.1, length) else { return operations };
            let copy_name = format!("DocmillActualText{}", copies.len()).into_bytes();
            copies.insert(key, (copy_name.clone(), copy));
            (copy_name, copy)
        }
    };
    // A copy made for another page is added to this one's resources too.
    if !added.iter().any(|(n, _)| *n == copy_name) {
        added.push((copy_name.clone(), copy_id));
    }
    let mut current = if set_in_span.is_empty() { font_after } else { None };
    let mut out = Vec::with_capacity(operations.len() + 4);
    for operation in operations {
        if operation.operator == "Tf" {
            if let (Some(Object::Name(n)), Some(size)) = (operation.operands.first(), operation.operands.get(1)) {
                current = Some((n.clone(), size.clone()));
            }
            out.push(operation);
            continue;
        }
        match (&current, shown_strings(&operation).is_empty()) {
            (Some((original, size)), false) => {
                out.push(Operation::new("Tf", vec![Object::Name(copy_name.clone()), size.clone()]));
                out.push(operation);
                out.push(Operation::new("Tf", vec![Object::Name(original.clone()), size.clone()]));
            }
            _ => out.push(operation),
        }
    }
    out
}

/// A copy of `font` with a ToUnicode map of `map` alone; None when the font
/// is no dictionary.
fn copy_font(document: &mut Document, font: ObjectId, map: &[(u32, String)], length: usize) -> Option<ObjectId> {
    let mut copy = document.get_dictionary(font).ok()?.clone();
    let digits = length * 2;
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CMapName /ActualText def\n/CMapType 2 def\n",
    );
    cmap.push_str(&format!(
        "1 begincodespacerange\n<{:0digits$X}> <{:0digits$X}>\nendcodespacerange\n",
        0,
        (1u64 << (8 * length)) - 1
    ));
    for section in map.chunks(100) {
        cmap.push_str(&format!("{} beginbfchar\n", section.len()));
        for (code, text) in section {
            let hex: String = text.encode_utf16().map(|unit| format!("{unit:04X}")).collect();
            cmap.push_str(&format!("<{code:0digits$X}> <{hex}>\n"));
        }
        cmap.push_str("endbfchar\n");
    }
    cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    let to_unicode = document.add_object(Stream::new(Dictionary::new(), cmap.into_bytes()));
    copy.set("ToUnicode", Object::Reference(to_unicode));
    Some(document.add_object(copy))
}
