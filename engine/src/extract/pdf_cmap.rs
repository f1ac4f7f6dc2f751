//! Type0 fonts whose `/Encoding` is an embedded CMap stream (fpdf2 writes
//! one for every font it embeds, mapping each code to a CID with
//! `begincidchar`). The text extractor reads only CID ranges from such a
//! stream, and not even those right, and gives up on the page; so a font
//! whose embedded CMap has two-byte codes becomes `Identity-H` (or `-V`),
//! its codes standing for themselves, and its glyph widths, given per CID,
//! are given per code instead. Its ToUnicode map is by code already.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use pdf_extract::{Document, Object, ObjectId};

/// Most codes one embedded CMap may map: two-byte codes are 65,536 at
/// most, so more entries are forged.
const MAX_CMAP_CODES: usize = 65_536;

/// Rewrites each Type0 font with an embedded two-byte CMap and a ToUnicode
/// map as described in the module documentation. A CMap that uses another
/// one, has codes of other lengths or does not parse is left as it is.
pub fn identity_for_embedded_cmaps(document: &mut Document) {
    let mut fixes = Vec::new();
    for (id, object) in &document.objects {
        let Object::Dictionary(font) = object else { continue };
        let type0 = font.get(b"Subtype").and_then(Object::as_name).is_ok_and(|name| name == b"Type0");
        let Ok(Object::Reference(cmap)) = font.get(b"Encoding") else { continue };
        if !type0 || !font.has(b"ToUnicode") {
            continue;
        }
        let Some(Object::Stream(stream)) = document.objects.get(cmap) else { continue };
        if stream.dict.has(b"Filter") {
            continue;
        }
        let vertical = stream.dict.get(b"WMode").and_then(Object::as_i64).is_ok_and(|mode| mode == 1);
        if let Some((codes, vertical_in_cmap)) = code_to_cid(&stream.content) {
            fixes.push((*id, codes, vertical || vertical_in_cmap));
        }
    }
    for (font, codes, vertical) in fixes {
        let descendant =
            document.get_dictionary(font).ok().and_then(|font| font.get(b"DescendantFonts").ok()).and_then(|fonts| {
                match fonts {
                    Object::Array(fonts) => fonts.first().cloned(),
                    Object::Reference(r) => match document.objects.get(r) {
                        Some(Object::Array(fonts)) => fonts.first().cloned(),
                        _ => None,
                    },
                    _ => None,
                }
            });
        let identity = codes.iter().all(|(code, cid)| u32::from(*code) == *cid);
        if let (Some(Object::Reference(descendant)), false) = (descendant, identity) {
            rekey_widths(document, descendant, &codes);
        }
        if let Ok(Object::Dictionary(font)) = document.get_object_mut(font) {
            let name = if vertical { "Identity-V" } else { "Identity-H" };
            font.set("Encoding", Object::Name(name.as_bytes().to_vec()));
        }
    }
}

/// The descendant font's `/W` widths, given per CID, given per code.
fn rekey_widths(document: &mut Document, descendant: ObjectId, codes: &BTreeMap<u16, u32>) {
    let Ok(dict) = document.get_dictionary(descendant) else { return };
    let w = match dict.get(b"W") {
        Ok(Object::Array(w)) => w.clone(),
        Ok(Object::Reference(r)) => match document.objects.get(r) {
            Some(Object::Array(w)) => w.clone(),
            _ => return,
        },
        _ => return,
    };
    let wanted: BTreeSet<u32> = codes.values().copied().collect();
    let Some(by_cid) = widths_by_cid(&w, &wanted) else { return };
    let mut rekeyed = Vec::new();
    for (code, cid) in codes {
        if let Some(width) = by_cid.get(cid) {
            rekeyed.push(Object::Integer(i64::from(*code)));
            rekeyed.push(Object::Array(vec![width.clone()]));
        }
    }
    if let Ok(Object::Dictionary(dict)) = document.get_object_mut(descendant) {
        dict.set("W", Object::Array(rekeyed));
    }
}

/// The widths a `/W` array (`c [w ...]` and `c_first c_last w` forms)
/// gives the CIDs in `wanted`; `None` when the array is malformed. A range
/// costs only the wanted CIDs in it, however wide it claims to be.
fn widths_by_cid(w: &[Object], wanted: &BTreeSet<u32>) -> Option<HashMap<u32, Object>> {
    let mut widths = HashMap::new();
    let mut i = 0;
    while i < w.len() {
        let first = u32::try_from(w[i].as_i64().ok()?).ok()?;
        match w.get(i + 1)? {
            Object::Array(list) => {
                for (offset, width) in list.iter().enumerate() {
                    let cid = first.checked_add(u32::try_from(offset).ok()?)?;
                    if wanted.contains(&cid) {
                        widths.insert(cid, width.clone());
                    }
                }
                i += 2;
            }
            last => {
                let last = u32::try_from(last.as_i64().ok()?).ok()?;
                let width = w.get(i + 2)?;
                if first <= last {
                    for cid in wanted.range(first..=last) {
                        widths.insert(*cid, width.clone());
                    }
                }
                i += 3;
            }
        }
    }
    Some(widths)
}

/// A token of a CMap: a hex string's bytes, an integer, or a name or
/// operator (names keep their `/`).
enum Token<'a> {
    Hex(Vec<u8>),
    Integer(i64),
    Word(&'a [u8]),
}

fn tokens(bytes: &[u8]) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() || matches!(b, b'[' | b']' | b'{' | b'}') {
            i += 1;
        } else if b == b'%' {
            while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"<<") || bytes[i..].starts_with(b">>") {
            i += 2;
        } else if b == b'<' {
            let end = bytes[i..].iter().position(|&c| c == b'>').map_or(bytes.len(), |p| i + p);
            let digits: Vec<u8> = bytes[i + 1..end].iter().copied().filter(u8::is_ascii_hexdigit).collect();
            let hex = digits
                .chunks(2)
                .map(|pair| {
                    let text = std::str::from_utf8(pair).unwrap_or("0");
                    // An odd last digit is followed by 0, as the PDF reference says.
                    u8::from_str_radix(&format!("{text:0<2}"), 16).unwrap_or(0)
                })
                .collect();
            out.push(Token::Hex(hex));
            i = end + 1;
        } else if b == b'(' {
            // Strings (the registry and ordering) say nothing of the codes.
            i = super::pdf_content::literal_end(bytes, i);
        } else {
            let start = i;
            i += 1;
            while i < bytes.len()
                && !bytes[i].is_ascii_whitespace()
                && !matches!(bytes[i], b'/' | b'<' | b'>' | b'[' | b']' | b'(' | b'{' | b'}' | b'%')
            {
                i += 1;
            }
            let word = &bytes[start..i];
            match std::str::from_utf8(word).ok().and_then(|text| text.parse::<i64>().ok()) {
                Some(n) => out.push(Token::Integer(n)),
                None => out.push(Token::Word(word)),
            }
        }
    }
    out
}

/// What an embedded CMap maps each two-byte code to, and whether it says it
/// is vertical (`/WMode 1`); `None` when it uses another CMap, has codes of
/// another length, maps nothing or too much.
fn code_to_cid(cmap: &[u8]) -> Option<(BTreeMap<u16, u32>, bool)> {
    let tokens = tokens(cmap);
    let mut codes = BTreeMap::new();
    let mut vertical = false;
    let two_bytes = |token: &Token<'_>| match token {
        Token::Hex(bytes) if bytes.len() == 2 => Some(u16::from_be_bytes([bytes[0], bytes[1]])),
        _ => None,
    };
    let cid = |token: &Token<'_>| match token {
        Token::Integer(n) => u32::try_from(*n).ok(),
        _ => None,
    };
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Word(b"usecmap") => return None,
            Token::Word(b"/WMode") => vertical = matches!(tokens.get(i + 1), Some(Token::Integer(1))),
            Token::Word(b"begincodespacerange") => {
                i += 1;
                while !matches!(tokens.get(i), Some(Token::Word(b"endcodespacerange")) | None) {
                    two_bytes(&tokens[i])?;
                    i += 1;
                }
            }
            Token::Word(b"begincidchar") => {
                i += 1;
                while !matches!(tokens.get(i), Some(Token::Word(b"endcidchar")) | None) {
                    codes.insert(two_bytes(&tokens[i])?, cid(tokens.get(i + 1)?)?);
                    i += 2;
                }
            }
            Token::Word(b"begincidrange") => {
                i += 1;
                while !matches!(tokens.get(i), Some(Token::Word(b"endcidrange")) | None) {
                    let (low, high) = (two_bytes(&tokens[i])?, two_bytes(tokens.get(i + 1)?)?);
                    let first = cid(tokens.get(i + 2)?)?;
                    for code in low..=high {
                        codes.insert(code, first.checked_add(u32::from(code - low))?);
                    }
                    i += 3;
                }
            }
            _ => {}
        }
        if codes.len() > MAX_CMAP_CODES {
            return None;
        }
        i += 1;
    }
    (!codes.is_empty()).then_some((codes, vertical))
}
