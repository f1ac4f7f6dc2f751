//! Fonts made safe for pdf-extract before it reads them. It panics on a
//! font it cannot parse, and the whole page's text is lost with it:
//! an embedded Type 1 program its encoding parser chokes on, an `/Encoding`
//! that is neither a name nor a dictionary, `/Differences` with codes past
//! 255 or entries of other types, a compact (CFF) font program that does
//! not parse. Each is rewritten here into what the parser reads, keeping
//! the text the font encodes: the Type 1 program becomes its own encoding
//! vector alone (read by a tolerant scan of its clear-text part), the other
//! entries lose only what no reader could use. References to objects the
//! file does not have become `null`, as the PDF specification reads them.

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};

use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream};

/// Codes of a simple font: one byte.
const MAX_SIMPLE_CODE: i64 = 255;
/// Objects nested deeper than this inside one object are left as they are
/// when dangling references are nulled; lopdf refuses to parse nesting past
/// about a hundred levels, so real documents never come near.
const MAX_OBJECT_DEPTH: usize = 256;

/// Makes every font of the document safe for pdf-extract (see the module
/// documentation).
pub fn sanitize(document: &mut Document) {
    null_dangling_references(document);
    let fonts: Vec<ObjectId> =
        document.objects.iter().filter(|(_, object)| object.as_dict().is_ok_and(is_font)).map(|(id, _)| *id).collect();
    let mut programs_done = HashSet::new();
    for id in fonts {
        if let Ok(Object::Dictionary(font)) = document.get_object_mut(id) {
            fix_direct_encoding(font);
        }
        let encoding = document.get_dictionary(id).ok().and_then(|font| font.get(b"Encoding").ok()).cloned();
        if let Some(Object::Reference(encoding)) = encoding {
            match document.get_object_mut(encoding) {
                Ok(Object::Dictionary(dict)) => {
                    fix_differences(dict);
                }
                Ok(Object::Name(_)) => {}
                _ => {
                    if let Ok(Object::Dictionary(font)) = document.get_object_mut(id) {
                        font.remove(b"Encoding");
                    }
                }
            }
        }
        fix_programs(document, id, &mut programs_done);
        scale_type3_widths(document, id);
    }
}

/// A Type 3 font's `/Widths` in thousandths of its em, as pdf-extract
/// reads every font's widths. They are in the font's own glyph space, which
/// its `/FontMatrix` maps to text space: Chromium's Type 3 fonts use 2048
/// units to the em, so their glyphs were read twice as wide as drawn, and a
/// glyph's end overlapped the next word (table cells and words ran together,
/// "NameValue").
fn scale_type3_widths(document: &mut Document, id: ObjectId) {
    let Ok(font) = document.get_dictionary(id) else { return };
    if !font.get(b"Subtype").and_then(Object::as_name).is_ok_and(|s| s == b"Type3") {
        return;
    }
    let resolve = |object: &Object| match object {
        Object::Reference(r) => document.get_object(*r).ok().cloned(),
        other => Some(other.clone()),
    };
    let number = |object: &Object| match resolve(object)? {
        Object::Integer(i) => Some(i as f64),
        Object::Real(r) => Some(f64::from(r)),
        _ => None,
    };
    let Some(Object::Array(matrix)) = font.get(b"FontMatrix").ok().and_then(resolve) else { return };
    let Some(scale) = matrix.first().and_then(number).map(|a| a.abs() * 1000.0) else { return };
    // The usual 1/1000 needs nothing; a matrix that is no scale at all is
    // left alone.
    if !scale.is_finite() || scale <= 0.0 || (scale - 1.0).abs() < 1e-6 {
        return;
    }
    let Some(Object::Array(widths)) = font.get(b"Widths").ok().and_then(resolve) else { return };
    let scaled: Vec<Object> =
        widths.iter().map(|w| number(w).map_or_else(|| w.clone(), |w| Object::Real((w * scale) as f32))).collect();
    if let Ok(Object::Dictionary(font)) = document.get_object_mut(id) {
        font.set("Widths", Object::Array(scaled));
    }
}

/// A font dictionary: `/Type /Font`, or (the type left out, as some
/// producers do) a font subtype with a `/BaseFont`.
fn is_font(dict: &Dictionary) -> bool {
    let name = |key: &[u8]| dict.get(key).and_then(Object::as_name).ok();
    name(b"Type").is_some_and(|t| t == b"Font")
        || (dict.has(b"BaseFont")
            && name(b"Subtype").is_some_and(|s| matches!(s, b"Type1" | b"MMType1" | b"TrueType" | b"Type0" | b"Type3")))
}

/// An `/Encoding` held in the font dictionary itself.
fn fix_direct_encoding(font: &mut Dictionary) -> bool {
    match font.get_mut(b"Encoding") {
        Ok(Object::Dictionary(dict)) => fix_differences(dict),
        Ok(Object::Name(_) | Object::Reference(_)) | Err(_) => false,
        Ok(_) => {
            font.remove(b"Encoding");
            true
        }
    }
}

/// Keeps of `/Differences` the codes and glyph names a one-byte font can
/// use; anything else (a code past 255, a string, a number with a
/// fraction) goes.
fn fix_differences(encoding: &mut Dictionary) -> bool {
    let Ok(Object::Array(differences)) = encoding.get_mut(b"Differences") else {
        if encoding.has(b"Differences") {
            encoding.remove(b"Differences");
            return true;
        }
        return false;
    };
    let mut code = 0i64;
    let mut kept = Vec::with_capacity(differences.len());
    let mut changed = false;
    for item in differences.drain(..) {
        match item {
            Object::Integer(next) if (0..=MAX_SIMPLE_CODE).contains(&next) => {
                code = next;
                kept.push(item);
            }
            Object::Name(_) if code <= MAX_SIMPLE_CODE => {
                code += 1;
                kept.push(item);
            }
            Object::Name(_) => {
                code += 1;
                changed = true;
            }
            Object::Integer(_) => {
                // Names after a code out of range would land out of range.
                code = MAX_SIMPLE_CODE + 1;
                changed = true;
            }
            _ => changed = true,
        }
    }
    *differences = kept;
    changed
}

/// The embedded font programs of `font`'s descriptor: a Type 1 program is
/// replaced by its encoding vector alone; a compact font program that does
/// not parse is dropped (the font's `/Encoding` and `/ToUnicode` still say
/// what its codes are).
fn fix_programs(document: &mut Document, font: ObjectId, done: &mut HashSet<ObjectId>) -> bool {
    let Ok(font) = document.get_dictionary(font) else { return false };
    let is_type1 = font.get(b"Subtype").and_then(Object::as_name).is_ok_and(|s| s == b"Type1");
    let descriptor = match font.get(b"FontDescriptor") {
        Ok(Object::Reference(id)) => *id,
        _ => return false,
    };
    let Ok(dict) = document.get_dictionary(descriptor) else { return false };
    let program = |key: &[u8]| match dict.get(key) {
        Ok(Object::Reference(id)) => Some(*id),
        _ => None,
    };
    let (type1, compact) = (program(b"FontFile"), program(b"FontFile3"));
    let mut changed = false;
    if let Some(id) = type1.filter(|_| is_type1) {
        if done.insert(id) {
            if let Ok(Object::Stream(stream)) = document.get_object_mut(id) {
                let content = stream.decompressed_content().unwrap_or_else(|_| stream.content.clone());
                let vector = type1_encoding(&content);
                let mut dict = Dictionary::new();
                dict.set("Length1", Object::Integer(vector.len() as i64));
                *stream = Stream::new(dict, vector);
                changed = true;
            }
        }
    }
    if let Some(id) = compact {
        let parses = document.get_object(id).and_then(Object::as_stream).is_ok_and(|stream| {
            let content = stream.decompressed_content().unwrap_or_else(|_| stream.content.clone());
            let is_cff = stream.dict.get(b"Subtype").and_then(Object::as_name).is_ok_and(|s| s == b"Type1C");
            !is_cff || cff_parses(&content)
        });
        if !parses {
            if let Ok(Object::Dictionary(dict)) = document.get_object_mut(descriptor) {
                dict.remove(b"FontFile3");
                changed = true;
            }
        }
    }
    changed
}

/// Whether pdf-extract's CFF reader reads the program and each glyph name
/// of its encoding (the two places it would panic).
fn cff_parses(program: &[u8]) -> bool {
    panic::catch_unwind(AssertUnwindSafe(|| {
        let Some(table) = cff_parser::Table::parse(program) else { return false };
        let encoding = table.encoding.get_code_to_sid_table(&table.charset);
        encoding.into_iter().all(|(_, sid)| cff_parser::string_by_id(&table, sid).is_some())
    }))
    .unwrap_or(false)
}

/// A Type 1 font program of the encoding vector alone, in the form
/// pdf-extract's parser reads: `/Encoding 256 array`, a `dup CODE /NAME put`
/// for each code of the clear-text part of `program`, `readonly def`.
/// `StandardEncoding` (or no encoding found) gives an empty vector, which
/// leaves the font's own `/Encoding` in charge, as it would be.
fn type1_encoding(program: &[u8]) -> Vec<u8> {
    let clear = &program[..find(program, b"eexec").unwrap_or(program.len())];
    let mut out = b"/Encoding 256 array\n".to_vec();
    if let Some(start) = find(clear, b"/Encoding") {
        let tokens: Vec<&[u8]> = clear[start + b"/Encoding".len()..]
            .split(|c| c.is_ascii_whitespace() || matches!(c, b'[' | b']' | b'{' | b'}' | b'(' | b')'))
            .filter(|token| !token.is_empty())
            .take_while(|token| *token != b"def")
            .collect();
        for window in tokens.windows(4) {
            let [dup, code, name, put] = window else { continue };
            if *dup != b"dup" || *put != b"put" {
                continue;
            }
            let Some(code) = std::str::from_utf8(code).ok().and_then(|code| code.parse::<i64>().ok()) else { continue };
            let Some(name) = name.strip_prefix(b"/") else { continue };
            let plain = !name.is_empty() && name.iter().all(|c| c.is_ascii_graphic() && !b"()<>[]{}/%#".contains(c));
            if (0..=MAX_SIMPLE_CODE).contains(&code) && plain {
                out.extend_from_slice(format!("dup {code} /").as_bytes());
                out.extend_from_slice(name);
                out.extend_from_slice(b" put\n");
            }
        }
    }
    out.extend_from_slice(b"readonly def\n");
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Replaces every reference to an object the document does not have by
/// `null`: pdf-extract panics on one.
fn null_dangling_references(document: &mut Document) {
    let present: HashSet<ObjectId> = document.objects.keys().copied().collect();
    for object in document.objects.values_mut() {
        null_in(object, &present, 0);
    }
    let trailer = &mut document.trailer;
    for (_, value) in trailer.iter_mut() {
        null_in(value, &present, 0);
    }
}

fn null_in(object: &mut Object, present: &HashSet<ObjectId>, depth: usize) {
    if depth > MAX_OBJECT_DEPTH {
        return;
    }
    match object {
        Object::Reference(id) if !present.contains(id) => *object = Object::Null,
        Object::Array(items) => items.iter_mut().for_each(|item| null_in(item, present, depth + 1)),
        Object::Dictionary(dict) => null_in_dictionary(dict, present, depth),
        Object::Stream(stream) => null_in_dictionary(&mut stream.dict, present, depth),
        _ => {}
    }
}

/// A `null` entry of a dictionary is as good as none (the PDF specification
/// says so), and pdf-extract reads none but panics on some `null`s.
fn null_in_dictionary(dict: &mut Dictionary, present: &HashSet<ObjectId>, depth: usize) {
    let mut nulls = Vec::new();
    for (key, value) in dict.iter_mut() {
        null_in(value, present, depth + 1);
        if matches!(value, Object::Null) {
            nulls.push(key.clone());
        }
    }
    for key in nulls {
        dict.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type1_vector_keeps_codes_and_names_and_drops_the_rest() {
        let program = b"%!PS-AdobeFont-1.0: X\n/FontName /X def\n/Encoding 256 array\n0 1 255 {1 index exch /.notdef put} for\n\
            dup 65 /A put\ndup 300 /B put\ndup 66 /b#20c put\ndup 67 /C put\nreadonly def\ncurrentfile eexec\n\x80\x81dup 68 /D put";
        let vector = String::from_utf8(type1_encoding(program)).unwrap();
        assert_eq!(vector, "/Encoding 256 array\ndup 65 /A put\ndup 67 /C put\nreadonly def\n");
    }

    #[test]
    fn standard_encoding_gives_an_empty_vector() {
        let vector = type1_encoding(b"/Encoding StandardEncoding def\ncurrentfile eexec\x00\x01");
        assert_eq!(vector, b"/Encoding 256 array\nreadonly def\n");
    }

    #[test]
    fn differences_out_of_range_are_dropped() {
        let mut encoding = Dictionary::new();
        encoding.set(
            "Differences",
            Object::Array(vec![
                Object::Integer(65),
                Object::Name(b"A".to_vec()),
                Object::Real(1.5),
                Object::Integer(400),
                Object::Name(b"B".to_vec()),
                Object::Integer(255),
                Object::Name(b"C".to_vec()),
                Object::Name(b"D".to_vec()),
            ]),
        );
        assert!(fix_differences(&mut encoding));
        let kept = encoding.get(b"Differences").unwrap().as_array().unwrap();
        assert_eq!(
            kept,
            &vec![Object::Integer(65), Object::Name(b"A".to_vec()), Object::Integer(255), Object::Name(b"C".to_vec())]
        );
    }
}
