//! A lexical scan of PDF content streams (no parsing into objects): how many
//! tokens a stream holds, where it draws XObjects (`/Name Do`), how deep it
//! nests graphics states and operands, which operations only draw (paths,
//! colours, inline images); and the rewrite that drops what the guards in
//! `pdf_guard.rs` refuse, and the drawing the text readers would only hold. The text readers decode a content stream
//! into one operation per operator, copy the graphics state at every `q` and
//! give up on a whole stream whose operands nest past lopdf's limit, so these
//! are the numbers that bound their memory and decide whether they read on.

use std::ops::Range;

/// Graphics states (`q`) nested deeper than this are flattened: their `q` and
/// the matching `Q` are dropped. The reader copies the whole state at every
/// `q`, so a stream of millions of `q` is gigabytes; PDF 1.7's implementation
/// limits (Annex C) give 28 levels, and real documents stay far below 256.
pub const MAX_SAVE_DEPTH: usize = 256;
/// Arrays and dictionaries among one operation's operands nested deeper
/// than this end the stream there. lopdf refuses operands nested past 100
/// levels and then drops the whole stream; cutting before the operation
/// keeps the text drawn before it. Real operands nest two or three levels.
pub const MAX_OPERAND_DEPTH: usize = 32;
/// Tokens (operators and operands) of one content stream past which it is
/// cut. The readers hold a decoded stream whole, and were measured at about
/// 550 bytes and 3 µs a token at their peak (a million `BT` operators: 580
/// MB, 5.9 s), so this bounds one stream to about half a GiB of a worker's 2
/// GiB. A dense page of text is a few tens of thousands of tokens.
pub const MAX_CONTENT_TOKENS: usize = 1_000_000;
/// Tokens of drawing-only operations (see [`is_drawing`]) in one stream from
/// which they are taken out before the readers decode it. They cost the
/// readers the same ~550 bytes a token as text does and give no text: a
/// drawn chart of 65,000 strokes (about 330,000 tokens, 2.6 MB inflated)
/// held 150 MB of decoded operations. Below this (about 5 MB of them) the
/// stream is read as stored: a copy of it would save nothing worth its cost.
pub const MIN_DROPPED_DRAWING_TOKENS: usize = 10_000;

/// Whether an operator only draws: it builds, paints or clips a path, sets
/// a line style or a colour, or paints a shading. None of them changes the
/// text state, the current transformation matrix or the font (`gs` can set
/// a font, so it is not among them), and the text readers ignore paths and
/// colours, so taking them out leaves every glyph where it was.
fn is_drawing(operator: &[u8]) -> bool {
    matches!(
        operator,
        b"m" | b"l"
            | b"c"
            | b"v"
            | b"y"
            | b"h"
            | b"re"
            | b"S"
            | b"s"
            | b"f"
            | b"F"
            | b"f*"
            | b"B"
            | b"B*"
            | b"b"
            | b"b*"
            | b"n"
            | b"W"
            | b"W*"
            | b"w"
            | b"J"
            | b"j"
            | b"M"
            | b"d"
            | b"ri"
            | b"i"
            | b"CS"
            | b"cs"
            | b"SC"
            | b"SCN"
            | b"sc"
            | b"scn"
            | b"G"
            | b"g"
            | b"RG"
            | b"rg"
            | b"K"
            | b"k"
            | b"sh"
    )
}

/// What [`scan`] found in one content stream.
#[derive(Debug, Default)]
pub struct Scan {
    /// Tokens up to the cut, if any.
    pub tokens: usize,
    /// Each `Do`: the bytes of its operands and operator, and the XObject
    /// name when the operands are exactly one name.
    pub invocations: Vec<(Range<usize>, Option<Vec<u8>>)>,
    /// Operators that show text (`Tj`, `TJ`, `'`, `"`).
    pub text_operators: usize,
    /// Inline images (`BI`).
    pub inline_images: usize,
    /// `q` operators nested past [`MAX_SAVE_DEPTH`] and the `Q` closing them.
    pub excess_saves: Vec<Range<usize>>,
    /// Comments (`%` to the end of the line). lopdf's content parser stops
    /// at a comment followed by a blank line and drops the rest of the
    /// stream, so they are taken out before it reads.
    pub comments: Vec<Range<usize>>,
    /// Where the stream must end: at the token past [`MAX_CONTENT_TOKENS`],
    /// or at the operation whose operands nest past [`MAX_OPERAND_DEPTH`].
    pub cut: Option<usize>,
    /// Drawing-only operations with their operands, inline images (`BI` to
    /// `EI`) and graphics states that only draw (`q` to `Q`, see
    /// [`SaveGroup`]), runs of them one range.
    pub drawing: Vec<Range<usize>>,
    /// Tokens in `drawing`.
    pub drawing_tokens: usize,
    /// The edits that spell the next-line text operators `'` and `"` out as
    /// the operations they stand for (PDF 32000-1, 9.4.3: `T* string Tj`,
    /// and `aw Tw ac Tc` before that for `"`), which pdf-extract does not
    /// know: it skipped their text, the whole body of a Ghostscript PDF.
    pub next_line_shows: Vec<Edit>,
}

/// Bytes of a stream replaced by others (an insertion where the range is
/// empty), spaces around them included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub range: Range<usize>,
    pub with: &'static [u8],
}

impl Scan {
    /// Whether the drawing is worth taking out (at least
    /// [`MIN_DROPPED_DRAWING_TOKENS`]).
    pub fn drops_drawing(&self) -> bool {
        self.drawing_tokens >= MIN_DROPPED_DRAWING_TOKENS
    }
}

fn is_white(c: u8) -> bool {
    matches!(c, b'\0' | b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

fn is_delimiter(c: u8) -> bool {
    matches!(c, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

fn is_regular(c: u8) -> bool {
    !is_white(c) && !is_delimiter(c)
}

/// The end of the literal string opening at `at` (balanced parentheses,
/// backslash escapes), or the end of the bytes.
pub(super) fn literal_end(bytes: &[u8], at: usize) -> usize {
    let mut depth = 0usize;
    let mut i = at;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The end of an inline image's data, which starts after `ID` and one white
/// byte and runs to an `EI` between white bytes (or the end of the stream).
fn inline_image_end(bytes: &[u8], data_start: usize) -> usize {
    let mut i = data_start;
    while let Some(found) = memchr::memmem::find(&bytes[i.min(bytes.len())..], b"EI") {
        let at = i + found;
        let white_before = at > 0 && is_white(bytes[at - 1]);
        let white_after = bytes.get(at + 2).is_none_or(|c| is_white(*c));
        if white_before && white_after {
            return at + 2;
        }
        i = at + 2;
    }
    bytes.len()
}

/// A graphics state being scanned (`q` seen, its `Q` not yet). One that
/// only draws and moves the coordinate system (`cm`) leaves nothing behind
/// at its `Q` that text could depend on, so it goes whole with the drawing,
/// `q` to `Q`: printed charts wrap each stroke in one.
struct SaveGroup {
    /// Where its `q` starts.
    start: usize,
    /// Where the operation before its `q` ended.
    after: usize,
    /// Tokens before its `q`, and [`Scan::drawing_tokens`] then.
    tokens_before: usize,
    drawing_tokens: usize,
    /// Nothing but drawing, `cm` and groups that only draw so far.
    only_draws: bool,
}

/// Scans `bytes` as a content stream, token by token, in one pass.
pub fn scan(bytes: &[u8]) -> Scan {
    let mut found = Scan::default();
    // Where the operands of the coming operator start, how many tokens they
    // are, and the last one when it is a name.
    let mut operands_start: Option<usize> = None;
    let mut operand_tokens = 0usize;
    // Where the coming operator's first and second operands end.
    let mut operand_ends = [0usize; 2];
    let mut last_name: Option<Range<usize>> = None;
    let mut nesting = 0usize;
    let mut saves = 0usize;
    // Where the last operation ended: a drawing operation right after a
    // drawing one extends its range.
    let mut last_operation_end = 0usize;
    let mut inline_image_start = None;
    // The graphics states open now, up to MAX_SAVE_DEPTH of them.
    let mut groups: Vec<SaveGroup> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if is_white(c) {
            i += 1;
            continue;
        }
        if c == b'%' {
            let start = i;
            while i < bytes.len() && !matches!(bytes[i], b'\r' | b'\n') {
                i += 1;
            }
            found.comments.push(start..i);
            continue;
        }
        let start = i;
        let mut name = None;
        let mut operator = None;
        match c {
            b'(' => i = literal_end(bytes, i),
            b'<' if bytes.get(i + 1) == Some(&b'<') => {
                i += 2;
                nesting += 1;
            }
            b'<' => i = memchr::memchr(b'>', &bytes[i..]).map_or(bytes.len(), |end| i + end + 1),
            b'>' if bytes.get(i + 1) == Some(&b'>') => {
                i += 2;
                nesting = nesting.saturating_sub(1);
            }
            b'[' => {
                i += 1;
                nesting += 1;
            }
            b']' => {
                i += 1;
                nesting = nesting.saturating_sub(1);
            }
            b'/' => {
                i += 1;
                while i < bytes.len() && is_regular(bytes[i]) {
                    i += 1;
                }
                name = Some(start + 1..i);
            }
            c if is_delimiter(c) => i += 1,
            _ => {
                while i < bytes.len() && is_regular(bytes[i]) {
                    i += 1;
                }
                let word = &bytes[start..i];
                let keyword = word[0].is_ascii_alphabetic() || matches!(word[0], b'\'' | b'"');
                if keyword && nesting == 0 && !matches!(word, b"true" | b"false" | b"null") {
                    operator = Some(word);
                }
            }
        }
        found.tokens += 1;
        if found.tokens > MAX_CONTENT_TOKENS {
            found.tokens -= 1;
            found.cut = Some(operands_start.unwrap_or(start));
            return found;
        }
        if nesting > MAX_OPERAND_DEPTH {
            found.cut = Some(operands_start.unwrap_or(start));
            return found;
        }
        let Some(operator) = operator else {
            operands_start.get_or_insert(start);
            if let Some(end) = operand_ends.get_mut(operand_tokens) {
                *end = i;
            }
            operand_tokens += 1;
            last_name = name;
            continue;
        };
        let operation_start = operands_start.unwrap_or(start);
        let mut drawing = is_drawing(operator);
        match operator {
            b"Do" => {
                let name = match (&last_name, operand_tokens) {
                    (Some(range), 1) => Some(bytes[range.clone()].to_vec()),
                    _ => None,
                };
                found.invocations.push((operands_start.unwrap_or(start)..i, name));
            }
            b"q" => {
                saves += 1;
                if saves > MAX_SAVE_DEPTH {
                    found.excess_saves.push(start..i);
                }
            }
            b"Q" => {
                if saves > MAX_SAVE_DEPTH {
                    found.excess_saves.push(start..i);
                }
                saves = saves.saturating_sub(1);
            }
            b"ID" => {
                i = inline_image_end(bytes, i + 1);
                drawing = inline_image_start.is_some();
                // Its `BI`.
                operand_tokens += usize::from(drawing);
            }
            b"BI" => {
                found.inline_images += 1;
                inline_image_start = Some(start);
            }
            b"'" if operand_tokens == 1 => {
                found.text_operators += 1;
                found.next_line_shows.push(Edit { range: operation_start..operation_start, with: b" T* " });
                found.next_line_shows.push(Edit { range: start..i, with: b" Tj " });
            }
            b"\"" if operand_tokens == 3 => {
                found.text_operators += 1;
                let [word_spacing, char_spacing] = operand_ends;
                found.next_line_shows.push(Edit { range: word_spacing..word_spacing, with: b" Tw " });
                found.next_line_shows.push(Edit { range: char_spacing..char_spacing, with: b" Tc T* " });
                found.next_line_shows.push(Edit { range: start..i, with: b" Tj " });
            }
            b"Tj" | b"TJ" | b"'" | b"\"" => found.text_operators += 1,
            _ => {}
        }
        if operator != b"BI" {
            // The image's dictionary counts as the operands of its `ID`.
            let operation_start = inline_image_start.take().unwrap_or(operation_start);
            if drawing {
                found.drawing_tokens += operand_tokens + 1;
                match found.drawing.last_mut() {
                    Some(last) if last.end == last_operation_end => last.end = i,
                    _ => found.drawing.push(operation_start..i),
                }
            }
            match operator {
                b"q" if saves <= MAX_SAVE_DEPTH => groups.push(SaveGroup {
                    start: operation_start,
                    after: last_operation_end,
                    tokens_before: found.tokens - 1 - operand_tokens,
                    drawing_tokens: found.drawing_tokens,
                    only_draws: true,
                }),
                b"Q" if saves < MAX_SAVE_DEPTH => match groups.pop() {
                    Some(group) if group.only_draws => {
                        while found.drawing.last().is_some_and(|last| last.start >= group.start) {
                            found.drawing.pop();
                        }
                        found.drawing_tokens = group.drawing_tokens + (found.tokens - group.tokens_before);
                        match found.drawing.last_mut() {
                            Some(last) if last.end == group.after => last.end = i,
                            _ => found.drawing.push(group.start..i),
                        }
                    }
                    Some(_) => {
                        if let Some(parent) = groups.last_mut() {
                            parent.only_draws = false;
                        }
                    }
                    None => {}
                },
                b"q" | b"Q" | b"cm" => {}
                _ if drawing => {}
                _ => {
                    if let Some(group) = groups.last_mut() {
                        group.only_draws = false;
                    }
                }
            }
            last_operation_end = i;
        }
        operands_start = None;
        operand_tokens = 0;
        last_name = None;
    }
    found
}

/// `bytes` with each of `drops` replaced by a space, the `edits` made, and
/// everything from `cut` on left out. In the order of their starts, an edit
/// or drop that starts inside an earlier drop goes with it.
pub fn rewrite(bytes: &[u8], drops: &[Range<usize>], edits: &[Edit], cut: Option<usize>) -> Vec<u8> {
    let end = cut.unwrap_or(bytes.len()).min(bytes.len());
    let mut all: Vec<Edit> = drops.iter().map(|range| Edit { range: range.clone(), with: b" " }).collect();
    all.extend(edits.iter().cloned());
    // Stable: an insertion stays before the replacement that follows it.
    all.sort_by_key(|edit| edit.range.start);
    let mut out = Vec::with_capacity(end + 8 * edits.len());
    let mut at = 0;
    for edit in all.iter().filter(|edit| edit.range.end <= end) {
        if edit.range.start < at {
            continue;
        }
        out.extend_from_slice(&bytes[at..edit.range.start]);
        out.extend_from_slice(edit.with);
        at = edit.range.end;
    }
    out.extend_from_slice(&bytes[at..end]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_invocations_outside_strings_and_inline_images() {
        let content = b"q (a /X Do in a string \\) still) Tj /Im1 Do BI /W 1 ID \x00 EI Q /F0 Do 1 2 Do";
        let scan = scan(content);
        let names: Vec<_> = scan.invocations.iter().map(|(_, name)| name.clone()).collect();
        assert_eq!(names, vec![Some(b"Im1".to_vec()), Some(b"F0".to_vec()), None]);
        let (range, _) = &scan.invocations[0];
        assert_eq!(&content[range.clone()], b"/Im1 Do");
    }

    #[test]
    fn next_line_text_operators_are_spelled_out() {
        let content = b"BT 14 TL (one) Tj (two) ' 2 0.5 (three)\" <66> ' ET";
        let scan = scan(content);
        assert_eq!(scan.text_operators, 4);
        let fixed = rewrite(content, &[], &scan.next_line_shows, None);
        let words: Vec<&[u8]> = fixed.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty()).collect();
        let expected: Vec<&[u8]> = vec![
            b"BT", b"14", b"TL", b"(one)", b"Tj", b"T*", b"(two)", b"Tj", b"2", b"Tw", b"0.5", b"Tc", b"T*",
            b"(three)", b"Tj", b"T*", b"<66>", b"Tj", b"ET",
        ];
        assert_eq!(words, expected, "{}", String::from_utf8_lossy(&fixed));
    }

    #[test]
    fn drawing_goes_in_runs_and_text_stays() {
        let content = b"q 1 0 0 1 5 5 cm 0.5 w 1 2 m 3 4 l S BT /F1 12 Tf (Hi) Tj ET \
                        1 g 0 0 10 10 re f BI /W 1 /H 1 ID \x00\x01 EI 2 2 m % note\n 4 4 l S Q";
        let scan = scan(content);
        let dropped: Vec<&[u8]> = scan.drawing.iter().map(|range| &content[range.clone()]).collect();
        assert_eq!(
            dropped,
            vec![
                &b"0.5 w 1 2 m 3 4 l S"[..],
                &b"1 g 0 0 10 10 re f BI /W 1 /H 1 ID \x00\x01 EI 2 2 m % note\n 4 4 l S"[..]
            ]
        );
        assert_eq!(scan.drawing_tokens, 9 + 21);
        assert!(!scan.drops_drawing(), "too little drawing to be worth a copy");
        let mut ranges = scan.drawing.clone();
        ranges.extend(scan.comments.iter().cloned());
        ranges.sort_by_key(|range| range.start);
        assert_eq!(rewrite(content, &ranges, &[], None), b"q 1 0 0 1 5 5 cm   BT /F1 12 Tf (Hi) Tj ET   Q");
    }

    #[test]
    fn graphics_states_that_only_draw_go_whole() {
        let content = b"q 2 0 0 2 0 0 cm 1 1 m 2 2 l S Q q 1 0 0 1 9 9 cm Q BT (a) Tj ET \
                        q 3 0 0 3 0 0 cm q 0 g Q BT (b) Tj ET Q q q Q";
        let scan = scan(content);
        let dropped: Vec<&[u8]> = scan.drawing.iter().map(|range| &content[range.clone()]).collect();
        assert_eq!(
            dropped,
            vec![&b"q 2 0 0 2 0 0 cm 1 1 m 2 2 l S Q q 1 0 0 1 9 9 cm Q"[..], &b"q 0 g Q"[..], &b"q Q"[..],],
            "the state that shows text stays with its cm; an unclosed q stays"
        );
        assert_eq!(scan.drawing_tokens, 25 + 4 + 2);
    }

    #[test]
    fn a_stroked_chart_is_worth_dropping() {
        let content = b"0 0 m 1 1 l S ".repeat(MIN_DROPPED_DRAWING_TOKENS / 7 + 1);
        let scan = scan(&content);
        assert!(scan.drops_drawing());
        assert_eq!(scan.drawing.len(), 1, "one run");
    }

    #[test]
    fn deep_saves_are_dropped_in_pairs() {
        let mut content = b"q ".repeat(MAX_SAVE_DEPTH + 2);
        content.extend_from_slice(&b"Q ".repeat(MAX_SAVE_DEPTH + 2));
        let scan = scan(&content);
        assert_eq!(scan.excess_saves.len(), 4);
        let kept = rewrite(&content, &scan.excess_saves, &[], None);
        assert_eq!(kept.iter().filter(|c| **c == b'q').count(), MAX_SAVE_DEPTH);
        assert_eq!(kept.iter().filter(|c| **c == b'Q').count(), MAX_SAVE_DEPTH);
    }

    #[test]
    fn deep_operands_cut_before_their_operation() {
        let mut content = b"(kept) Tj 1 ".to_vec();
        content.extend_from_slice(&b"[".repeat(MAX_OPERAND_DEPTH + 1));
        let scan = scan(&content);
        assert_eq!(rewrite(&content, &[], &[], scan.cut), b"(kept) Tj ");
    }
}
