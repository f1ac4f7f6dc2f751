//! Unicode for CID fonts that do not say what their glyphs are. A Type 0
//! font with an embedded TrueType program and no `/ToUnicode` map shows
//! glyph numbers only; pdf-extract reads no text from it, but the program's
//! own `cmap` table says which character each glyph draws (poppler reads it
//! so too). Each such font gets a `/ToUnicode` map built from that table,
//! through the font's CID-to-glyph map.

use std::collections::HashMap;

use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream};

/// Entries of one `beginbfchar` section: the CMap syntax allows 100.
const BFCHAR_SECTION: usize = 100;
/// Most glyphs mapped for one font, and CIDs read from a CID-to-glyph map:
/// glyph numbers are 16 bits, so no real font has more.
const MAX_GLYPHS: usize = 65_536;

/// Gives every Type 0 font with an embedded TrueType program and no
/// usable `/ToUnicode` map one built from the program's `cmap` table.
pub fn map_truetype_glyphs(document: &mut Document) {
    // A `/ToUnicode` that is not a stream (a name, say) maps nothing.
    let maps = |font: &Dictionary| {
        font.get(b"ToUnicode").ok().and_then(|map| resolve(document, map)).is_some_and(|map| map.as_stream().is_ok())
    };
    let fonts: Vec<ObjectId> = document
        .objects
        .iter()
        .filter(|(_, object)| {
            object.as_dict().is_ok_and(|font| {
                font.get(b"Subtype").and_then(Object::as_name).is_ok_and(|s| s == b"Type0")
                    && !maps(font)
                    && font
                        .get(b"Encoding")
                        .and_then(Object::as_name)
                        .is_ok_and(|e| e == b"Identity-H" || e == b"Identity-V")
            })
        })
        .map(|(id, _)| *id)
        .collect();
    for id in fonts {
        let Some(map) = document.get_dictionary(id).ok().and_then(|font| cid_to_unicode(document, font)) else {
            continue;
        };
        if map.is_empty() {
            continue;
        }
        let to_unicode = document.add_object(Stream::new(Dictionary::new(), cmap(&map)));
        if let Ok(Object::Dictionary(font)) = document.get_object_mut(id) {
            font.set("ToUnicode", Object::Reference(to_unicode));
        }
    }
}

fn resolve<'a>(document: &'a Document, object: &'a Object) -> Option<&'a Object> {
    match object {
        Object::Reference(id) => document.get_object(*id).ok(),
        other => Some(other),
    }
}

/// The character of each CID of the Type 0 `font`, from its descendant's
/// embedded TrueType program.
fn cid_to_unicode(document: &Document, font: &Dictionary) -> Option<Vec<(u16, char)>> {
    let descendants = resolve(document, font.get(b"DescendantFonts").ok()?)?.as_array().ok()?;
    let descendant = resolve(document, descendants.first()?)?.as_dict().ok()?;
    if descendant.get(b"Subtype").and_then(Object::as_name).ok()? != b"CIDFontType2" {
        return None;
    }
    let descriptor = resolve(document, descendant.get(b"FontDescriptor").ok()?)?.as_dict().ok()?;
    let program = resolve(document, descriptor.get(b"FontFile2").ok()?)?.as_stream().ok()?;
    let bytes = program.decompressed_content().unwrap_or_else(|_| program.content.clone());
    let glyph_chars = glyph_chars(&bytes)?;
    // CIDToGIDMap: Identity (the default), or two bytes a CID.
    let to_glyph: Option<Vec<u16>> = match descendant.get(b"CIDToGIDMap").ok().and_then(|m| resolve(document, m)) {
        Some(Object::Stream(stream)) => {
            let map = stream.decompressed_content().unwrap_or_else(|_| stream.content.clone());
            Some(map.chunks_exact(2).take(MAX_GLYPHS).map(|pair| u16::from_be_bytes([pair[0], pair[1]])).collect())
        }
        _ => None,
    };
    let mut map = Vec::new();
    match to_glyph {
        Some(to_glyph) => {
            for (cid, glyph) in to_glyph.iter().enumerate() {
                if let Some(c) = glyph_chars.get(glyph) {
                    map.push((cid as u16, *c));
                }
            }
        }
        None => map.extend(glyph_chars.iter().map(|(glyph, c)| (*glyph, *c))),
    }
    map.sort_unstable();
    Some(map)
}

/// The character each glyph of a TrueType program draws, by its Unicode
/// `cmap` subtables (the lowest code point when several map to one glyph).
fn glyph_chars(program: &[u8]) -> Option<HashMap<u16, char>> {
    let face = ttf_parser::Face::parse(program, 0).ok()?;
    let cmap = face.tables().cmap?;
    let mut chars: HashMap<u16, char> = HashMap::new();
    for subtable in cmap.subtables {
        if !subtable.is_unicode() {
            continue;
        }
        subtable.codepoints(|code| {
            let (Some(glyph), Some(c)) = (subtable.glyph_index(code), char::from_u32(code)) else { return };
            if glyph.0 == 0 || chars.len() >= MAX_GLYPHS || c.is_control() {
                return;
            }
            chars.entry(glyph.0).and_modify(|old| *old = (*old).min(c)).or_insert(c);
        });
    }
    Some(chars)
}

/// A ToUnicode CMap of two-byte codes.
fn cmap(map: &[(u16, char)]) -> Vec<u8> {
    let mut out = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CMapName /Glyphs-UCS2 def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    for section in map.chunks(BFCHAR_SECTION) {
        out.push_str(&format!("{} beginbfchar\n", section.len()));
        for (code, c) in section {
            let mut units = [0u16; 2];
            let hex: String = c.encode_utf16(&mut units).iter().map(|unit| format!("{unit:04X}")).collect();
            out.push_str(&format!("<{code:04X}> <{hex}>\n"));
        }
        out.push_str("endbfchar\n");
    }
    out.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    out.into_bytes()
}
