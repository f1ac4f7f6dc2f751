//! Plain text in any encoding: byte-order marks, UTF-16 and UTF-32 with or
//! without them, ISO-2022-JP, UTF-8 (even with a few stray bytes), and legacy
//! encodings guessed by chardetng, with a second opinion on single-byte
//! ones (DOS and Mac code pages among them).

use encoding_rs::Encoding;

use super::codepages::{self, Reading};
use super::{ExtractError, Extracted};

/// Bytes fed to the encoding detector: enough for a confident guess; the
/// whole document is then decoded with the guessed encoding.
const DETECT_SAMPLE_BYTES: usize = 256 << 10;
/// Bytes looked at to spot BOM-less UTF-16/32 by their zero bytes, or UTF-16
/// by what its code units decode to.
const WIDE_SNIFF_BYTES: usize = 4096;
/// Characters that separate words, lines or clauses in prose of any script:
/// spaces and line breaks, ideographic space, comma and full stop, full-width
/// comma, ASCII full stop and comma.
const WIDE_SEPARATORS: [char; 9] = [' ', '\n', '\r', '\u{3000}', '\u{3001}', '\u{3002}', '\u{FF0C}', '.', ','];
/// Share of separators, in percent of the decoded characters, that BOM-less
/// UTF-16 without zero bytes (Cyrillic, CJK...) must have to count as text.
/// Prose has well over this (a space every few words, a full stop every
/// sentence); random bytes hit one of 9 code units out of 65 536 about once
/// in 7 000 characters, so binary data does not pass for CJK text.
const WIDE_MIN_SEPARATOR_PERCENT: usize = 2;
/// Control characters (other than tab and line breaks) tolerated per thousand
/// decoded characters in BOM-less UTF-16: text has next to none.
const WIDE_MAX_CONTROLS_PER_MILLE: usize = 5;
/// Share of code units, in percent, that BOM-less UTF-16 without enough
/// separators must have in one block of 256 code points below U+2000
/// (besides the one of ASCII spaces, digits and punctuation) to count as
/// text. An alphabetic script lives in one such block (Thai, Greek,
/// Cyrillic, Hebrew, Arabic, Devanagari...), and Thai or Lao prose puts a
/// space only between clauses; random bytes spread over 256 blocks, and
/// ASCII read as UTF-16 falls in blocks from U+2020 up (`[[` is U+5B5B), so
/// neither passes.
const WIDE_MIN_ONE_BLOCK_PERCENT: usize = 90;
/// Invalid bytes tolerated, in percent of all non-ASCII bytes, for bytes that
/// are not valid UTF-8 to still be decoded as UTF-8 (with U+FFFD for the
/// stray bytes) rather than guessed as a legacy encoding. Legacy-encoded
/// text is far off: 60% (Big5, GBK, EUC-KR, Shift_JIS) to 100% (single-byte
/// code pages) of its non-ASCII bytes are invalid UTF-8, as only chance pairs
/// of its bytes form UTF-8 sequences.
const UTF8_MAX_INVALID_PERCENT: usize = 5;
/// Valid multi-byte UTF-8 sequences needed per invalid one for bytes that
/// are not valid UTF-8 to still be decoded as UTF-8. Single-byte code pages
/// form UTF-8 sequences only in mojibake ("Ã©"); CJK legacy encodings form
/// some by chance, but far fewer than the sequences they break: over every
/// substring of sample sentences in GBK, Big5, Shift_JIS, EUC-JP, EUC-KR and
/// windows-125x, none had more than twice as many valid as invalid.
const UTF8_VALID_PER_INVALID: usize = 2;
/// Escape sequences that switch ISO-2022-JP to JIS X 0208 (1978 and 1983),
/// JIS X 0201 Roman or half-width katakana: 7-bit text with one of them is
/// Japanese, not ASCII. The switch back to ASCII, `ESC ( B`, is left out:
/// terminal output (`tput sgr0`) has it too.
const ISO_2022_JP_ESCAPES: [&[u8]; 4] = [b"\x1B$B", b"\x1B$@", b"\x1B(J", b"\x1B(I"];

pub fn extract(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let (text, encoding, warnings) = decode_text(bytes);
    let mut extracted = Extracted { text, warnings, ..Default::default() };
    extracted.metadata.insert("encoding".into(), encoding.into());
    Ok(extracted)
}

/// Which wide encoding BOM-less bytes look like, from where their zero bytes
/// fall: ASCII-range text in UTF-16LE has a zero at every odd offset. Text in
/// other scripts has few zero bytes, so UTF-16 is then judged by its
/// decoded characters.
fn sniff_wide(bytes: &[u8]) -> Option<&'static str> {
    let head = &bytes[..bytes.len().min(WIDE_SNIFF_BYTES) & !3];
    if head.len() < 8 {
        return None;
    }
    let mut zeros = [0usize; 4];
    for (i, b) in head.iter().enumerate() {
        if *b == 0 {
            zeros[i % 4] += 1;
        }
    }
    let quarter = head.len() / 4;
    let mostly = |n: usize| n * 10 >= quarter * 7;
    let rarely = |n: usize| n * 20 <= quarter;
    if mostly(zeros[1]) && mostly(zeros[2]) && mostly(zeros[3]) && rarely(zeros[0]) {
        return Some("UTF-32LE");
    }
    if mostly(zeros[0]) && mostly(zeros[1]) && mostly(zeros[2]) && rarely(zeros[3]) {
        return Some("UTF-32BE");
    }
    let (even, odd) = (zeros[0] + zeros[2], zeros[1] + zeros[3]);
    let half = head.len() / 2;
    if odd * 10 >= half * 3 && even * 20 <= half {
        return Some("UTF-16LE");
    }
    if even * 10 >= half * 3 && odd * 20 <= half {
        return Some("UTF-16BE");
    }
    sniff_utf16_by_content(bytes)
}

/// UTF-16 in any script, without a BOM: an even length, code units that
/// decode without unpaired surrogates to text with almost no control
/// characters and a real share of separators. When both byte orders pass,
/// the one with more separators wins.
fn sniff_utf16_by_content(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() % 2 != 0 {
        return None;
    }
    let head = &bytes[..bytes.len().min(WIDE_SNIFF_BYTES)];
    // UTF-16 has a NUL or another C0 control byte in every separator below
    // U+0100 and in every code unit of the scripts below U+2000, and is
    // almost never valid UTF-8: valid UTF-8 without such bytes (every
    // ordinary text file) is not scored, which would cost a pass over the
    // head of each one.
    let controls = head.iter().any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c));
    let utf8 = match std::str::from_utf8(head) {
        Ok(_) => true,
        // Cut inside a character at the end of the head, not malformed.
        Err(err) => err.error_len().is_none(),
    };
    if utf8 && !controls {
        return None;
    }
    let truncated = head.len() < bytes.len();
    let le = utf16_text_score(head, true, truncated);
    let be = utf16_text_score(head, false, truncated);
    match (le, be) {
        (Some(le), Some(be)) if be > le => Some("UTF-16BE"),
        (Some(_), _) => Some("UTF-16LE"),
        (None, Some(_)) => Some("UTF-16BE"),
        (None, None) => None,
    }
}

/// Separators per thousand characters when `head` reads as UTF-16 text in the
/// given byte order, `None` when it does not. A surrogate pair cut by the end
/// of a `truncated` head is not held against it.
fn utf16_text_score(head: &[u8], little_endian: bool, truncated: bool) -> Option<usize> {
    let mut units: Vec<u16> = head
        .chunks_exact(2)
        .map(|pair| {
            let raw = [pair[0], pair[1]];
            if little_endian {
                u16::from_le_bytes(raw)
            } else {
                u16::from_be_bytes(raw)
            }
        })
        .collect();
    if truncated && units.last().is_some_and(|u| (0xD800..0xDC00).contains(u)) {
        units.pop();
    }
    // Code units by their block of 256 code points (the high byte), for
    // alphabetic scripts that separate words seldom.
    let mut blocks = [0usize; 256];
    for unit in &units {
        blocks[usize::from(unit >> 8)] += 1;
    }
    let (mut chars, mut controls, mut separators, mut letters) = (0usize, 0usize, 0usize, 0usize);
    for decoded in char::decode_utf16(units) {
        let c = decoded.ok()?;
        chars += 1;
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            controls += 1;
        }
        if WIDE_SEPARATORS.contains(&c) {
            separators += 1;
        }
        if c.is_alphabetic() {
            letters += 1;
        }
    }
    let one_script = || {
        let busiest = blocks[1..0x20].iter().max().copied().unwrap_or(0);
        (busiest + blocks[0]) * 100 >= chars * WIDE_MIN_ONE_BLOCK_PERCENT
            && busiest * 100 >= chars * WIDE_MIN_ONE_BLOCK_PERCENT / 2
            && letters * 100 >= chars * WIDE_MIN_ONE_BLOCK_PERCENT / 2
    };
    let text_like = chars >= 4
        && controls * 1000 <= chars * WIDE_MAX_CONTROLS_PER_MILLE
        && (separators * 100 >= chars * WIDE_MIN_SEPARATOR_PERCENT || one_script());
    text_like.then(|| separators * 1000 / chars)
}

fn decode_utf32(bytes: &[u8], little_endian: bool) -> (String, bool) {
    let mut text = String::with_capacity(bytes.len() / 4);
    let mut malformed = bytes.len() % 4 != 0;
    for chunk in bytes.chunks_exact(4) {
        let raw = [chunk[0], chunk[1], chunk[2], chunk[3]];
        let value = if little_endian { u32::from_le_bytes(raw) } else { u32::from_be_bytes(raw) };
        match char::from_u32(value) {
            Some(c) => text.push(c),
            None => {
                text.push('\u{FFFD}');
                malformed = true;
            }
        }
    }
    (text, malformed)
}

/// ISO-2022-JP: 7-bit bytes that switch to a Japanese character set
/// somewhere. Without the check its escape sequences would be taken for
/// ASCII and kept in the text.
fn is_iso_2022_jp(bytes: &[u8]) -> bool {
    memchr::memchr(0x1B, bytes)
        .is_some_and(|first| bytes.is_ascii() && bytes[first..].windows(3).any(|w| ISO_2022_JP_ESCAPES.contains(&w)))
}

/// Whether bytes that are not valid UTF-8 are still UTF-8 damaged by a few
/// stray bytes: a cut-off download, a byte flipped, a stray Latin-1
/// character pasted in. Decoding those as a legacy encoding would garble
/// every other non-ASCII character. Either the invalid bytes are few among
/// the non-ASCII ones, or the valid multi-byte sequences outnumber the
/// invalid ones [`UTF8_VALID_PER_INVALID`] to one, which a short text with a
/// single stray byte ("augment\xE9 ... r\xC3\xA9gions") passes.
fn is_mostly_utf8(bytes: &[u8]) -> bool {
    let (mut invalid_bytes, mut invalid_sequences, mut valid_sequences) = (0, 0, 0);
    let mut rest = bytes;
    loop {
        let (valid_up_to, error) = match std::str::from_utf8(rest) {
            Ok(_) => (rest.len(), None),
            Err(err) => (err.valid_up_to(), Some(err)),
        };
        valid_sequences += rest[..valid_up_to].iter().filter(|b| **b >= 0xC0).count();
        let Some(err) = error else { break };
        let bad = err.error_len().unwrap_or(rest.len() - valid_up_to);
        invalid_bytes += bad;
        invalid_sequences += 1;
        rest = &rest[valid_up_to + bad..];
    }
    let non_ascii = bytes.iter().filter(|b| !b.is_ascii()).count();
    invalid_bytes * 100 < non_ascii * UTF8_MAX_INVALID_PERCENT
        || valid_sequences > invalid_sequences * UTF8_VALID_PER_INVALID
}

/// Decodes a document of unknown encoding. Returns the text, the encoding's
/// name (WHATWG/IANA spelling) and warnings.
pub fn decode_text(bytes: &[u8]) -> (String, &'static str, Vec<String>) {
    let mut warnings = Vec::new();
    let (text, name, malformed) = if let Some(rest) = bytes.strip_prefix(b"\x00\x00\xFE\xFF") {
        let (text, bad) = decode_utf32(rest, false);
        (text, "UTF-32BE", bad)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE\x00\x00") {
        let (text, bad) = decode_utf32(rest, true);
        (text, "UTF-32LE", bad)
    } else if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let (text, bad) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        (text.into_owned(), encoding.name(), bad)
    } else if let Some(wide) = sniff_wide(bytes) {
        match wide {
            "UTF-32LE" | "UTF-32BE" => {
                let (text, bad) = decode_utf32(bytes, wide == "UTF-32LE");
                (text, wide, bad)
            }
            _ => {
                let encoding = if wide == "UTF-16LE" { encoding_rs::UTF_16LE } else { encoding_rs::UTF_16BE };
                let (text, bad) = encoding.decode_without_bom_handling(bytes);
                (text.into_owned(), encoding.name(), bad)
            }
        }
    } else if is_iso_2022_jp(bytes) {
        let (text, bad) = encoding_rs::ISO_2022_JP.decode_without_bom_handling(bytes);
        (text.into_owned(), encoding_rs::ISO_2022_JP.name(), bad)
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        let name = if bytes.is_ascii() { "US-ASCII" } else { "UTF-8" };
        (text.to_owned(), name, false)
    } else if is_mostly_utf8(bytes) {
        let (text, bad) = encoding_rs::UTF_8.decode_without_bom_handling(bytes);
        (text.into_owned(), encoding_rs::UTF_8.name(), bad)
    } else {
        let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
        let sample = &bytes[..bytes.len().min(DETECT_SAMPLE_BYTES)];
        detector.feed(sample, sample.len() == bytes.len());
        let guess = detector.guess(None, chardetng::Utf8Detection::Allow);
        let reading = codepages::second_guess(bytes, guess);
        let (text, bad) = reading.decode(bytes);
        // The WHATWG KOI8-U decoder (chardetng's answer for both) is KOI8-R
        // with the Ukrainian letters added: without them the file is KOI8-R,
        // the Russian encoding.
        let koi8_u = matches!(reading, Reading::Whatwg(encoding) if encoding == encoding_rs::KOI8_U);
        let name = if koi8_u && !text.contains(['ґ', 'є', 'і', 'ї', 'Ґ', 'Є', 'І', 'Ї']) {
            "KOI8-R"
        } else {
            reading.name()
        };
        (text.into_owned(), name, bad)
    };
    if malformed {
        warnings.push(format!("malformed {name} sequences were replaced with U+FFFD"));
    }
    (text, name, warnings)
}
