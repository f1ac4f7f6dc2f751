//! Streams whose `/Length` is wrong. A writer that edits a stream and not
//! its length, or a transfer that turns line ends into others, leaves the
//! declared length a few bytes off; the parser then cannot find the
//! stream's `endstream`, drops the whole object, and a page's content is
//! gone. Readers take the data up to `endstream` instead, and so does this
//! repair, before the file is parsed.

use memchr::memmem;

/// Digits of a `/Length` that is rewritten: more is no real stream.
const MAX_LENGTH_DIGITS: usize = 12;

/// The file with each direct `/Length` that does not end at its stream's
/// `endstream` corrected, and how many were; `None` when all are right.
/// A corrected length is written in the old one's place, padded with
/// spaces, so that no offset moves; one that needs more digits than the old
/// had moves what follows (the cross-reference table is then rebuilt by the
/// caller when the parser says it is damaged).
pub fn fix_stream_lengths(bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    let streams = memmem::Finder::new(b"stream");
    let ends = memmem::Finder::new(b"endstream");
    let mut edits: Vec<(usize, usize, usize)> = Vec::new();
    let mut at = 0;
    while let Some(found) = streams.find(&bytes[at..]) {
        let keyword = at + found;
        at = keyword + b"stream".len();
        if keyword >= 3 && &bytes[keyword - 3..keyword] == b"end" {
            continue;
        }
        let data = match bytes.get(at..at + 2) {
            Some([b'\r', b'\n']) => at + 2,
            Some([b'\n', _]) | Some([b'\r', _]) => at + 1,
            _ => continue,
        };
        let Some((digits_at, digits_len, declared)) = declared_length(&bytes[..keyword]) else { continue };
        if ends_at_endstream(bytes, data.saturating_add(declared)) {
            at = data + declared;
            continue;
        }
        let Some(end) = ends.find(&bytes[data..]).map(|found| data + found) else { break };
        let mut actual = end - data;
        if bytes[data..end].ends_with(b"\r\n") {
            actual -= 2;
        } else if bytes[data..end].ends_with(b"\n") || bytes[data..end].ends_with(b"\r") {
            actual -= 1;
        }
        edits.push((digits_at, digits_len, actual));
        at = end + b"endstream".len();
    }
    if edits.is_empty() {
        return None;
    }
    let mut fixed = Vec::with_capacity(bytes.len() + edits.len() * 4);
    let mut copied = 0;
    for &(digits_at, digits_len, actual) in &edits {
        fixed.extend_from_slice(&bytes[copied..digits_at]);
        let digits = actual.to_string();
        fixed.extend_from_slice(digits.as_bytes());
        fixed.extend(std::iter::repeat_n(b' ', digits_len.saturating_sub(digits.len())));
        copied = digits_at + digits_len;
    }
    fixed.extend_from_slice(&bytes[copied..]);
    Some((fixed, edits.len()))
}

/// True when `endstream` follows `at`, after at most one end of line: all
/// the parser allows.
fn ends_at_endstream(bytes: &[u8], at: usize) -> bool {
    let Some(rest) = bytes.get(at..) else { return false };
    let rest = rest
        .strip_prefix(b"\r\n")
        .or_else(|| rest.strip_prefix(b"\n"))
        .or_else(|| rest.strip_prefix(b"\r"))
        .unwrap_or(rest);
    rest.starts_with(b"endstream")
}

/// The direct `/Length` of the dictionary that ends just before a `stream`
/// keyword: where its digits are, how many, and their value. An indirect
/// length (`/Length 12 0 R`) is left to the parser.
fn declared_length(before: &[u8]) -> Option<(usize, usize, usize)> {
    // The dictionary starts after its object's `obj` keyword; a stream's
    // dictionary is rarely longer than a few kilobytes.
    let window_start = before.len().saturating_sub(16 << 10);
    let window = &before[window_start..];
    let dict_start = memmem::rfind(window, b"obj").map_or(0, |at| at + 3);
    let dict = &window[dict_start..];
    // Not `/Length1` and the like, of font programs.
    let key = memmem::find_iter(dict, b"/Length")
        .filter(|&at| !dict.get(at + b"/Length".len()).is_some_and(u8::is_ascii_alphanumeric))
        .last()?;
    let mut i = key + b"/Length".len();
    while dict.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    let digits_start = i;
    while dict.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let digits = &dict[digits_start..i];
    if digits.is_empty() || digits.len() > MAX_LENGTH_DIGITS {
        return None;
    }
    // `12 0 R`: a reference, not a number.
    let after = &dict[i..];
    let trimmed = after.iter().position(|c| !c.is_ascii_whitespace()).map_or(&after[after.len()..], |p| &after[p..]);
    if trimmed.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let value = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((window_start + dict_start + digits_start, digits.len(), value))
}

#[cfg(test)]
mod tests {
    use super::fix_stream_lengths;

    #[test]
    fn a_length_a_few_bytes_off_is_set_to_the_data_before_endstream() {
        let pdf = b"1 0 obj\n<< /Length 12 >>\nstream\nBT (Hi) Tj ET\nendstream\nendobj\n";
        let (fixed, count) = fix_stream_lengths(pdf).unwrap();
        assert_eq!(count, 1);
        assert_eq!(&fixed[..], &b"1 0 obj\n<< /Length 13 >>\nstream\nBT (Hi) Tj ET\nendstream\nendobj\n"[..]);
        let longer = b"1 0 obj\n<< /Length 9 >>\nstream\nBT (Hi) Tj ET\nendstream\nendobj\n";
        assert!(fix_stream_lengths(longer).unwrap().0.starts_with(b"1 0 obj\n<< /Length 13 >>"));
        let shorter = b"1 0 obj\n<< /Length 130 >>\nstream\nBT (Hi) Tj ET\nendstream\nendobj\n";
        assert!(fix_stream_lengths(shorter).unwrap().0.starts_with(b"1 0 obj\n<< /Length 13  >>"));
    }

    #[test]
    fn right_indirect_and_font_lengths_are_left_alone() {
        assert!(fix_stream_lengths(b"1 0 obj\n<< /Length 13 >>\nstream\nBT (Hi) Tj ET\nendstream\nendobj\n").is_none());
        assert!(
            fix_stream_lengths(b"1 0 obj\n<< /Length 2 0 R >>\nstream\nBT (Hi) Tj ET\nendstream\nendobj\n").is_none()
        );
        assert!(fix_stream_lengths(b"1 0 obj\n<< /Length1 5 >>\nstream\nBT (Hi) Tj ET\nendstream\nendobj\n").is_none());
        let font = b"1 0 obj\n<< /Length 13 /Length1 5 >>\nstream\nBT (Hi) Tj ET\nendstream\nendobj\n";
        assert!(fix_stream_lengths(font).is_none());
        // Blanks before `endstream` are data to the parser: they count.
        let blanks = b"1 0 obj\n<< /Length 13 >>\nstream\nBT (Hi) Tj ET\n \nendstream\nendobj\n";
        assert!(fix_stream_lengths(blanks).unwrap().0.starts_with(b"1 0 obj\n<< /Length 15 >>"));
    }
}
