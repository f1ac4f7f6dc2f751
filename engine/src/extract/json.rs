//! JSON: validity, top-level type and size; the text for analysis is the
//! string values, not the punctuation.
//!
//! Read by a small scanner of our own rather than serde_json: serde_json
//! refuses nesting past 128 levels (its recursion limit) and numbers outside
//! the range of f64 (`1e999`), yet RFC 8259 allows both, so a valid document
//! was reported invalid. The scanner never recurses (open arrays and objects
//! are an explicit stack, one byte a level, so never more than the input) and
//! only checks a number's grammar, never its value.

use std::collections::HashSet;

use super::text::decode_text;
use super::{ExtractError, Extracted};

pub fn extract(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let (text, encoding, warnings) = decode_text(bytes);
    let mut extracted = Extracted { warnings, ..Default::default() };
    extracted.set("encoding", encoding);
    let mut strings = String::new();
    match scan(&text, Some(&mut strings)) {
        Ok(summary) => {
            extracted.set("valid", true);
            match summary.top_level {
                "object" => extracted.set("keys", summary.members),
                "array" => extracted.set("items", summary.members),
                _ => {}
            }
            extracted.set("top_level", summary.top_level);
            extracted.text = strings;
        }
        Err(err) => {
            extracted.set("valid", false);
            let lines = read_lines(&text);
            if lines.invalid.is_none() && lines.records >= 2 {
                // JSON Lines under a `.json` name (many tools write them
                // so): not one JSON document, but every line is one.
                let records = lines.records;
                extracted.set("records", records);
                extracted
                    .warnings
                    .push(format!("not one JSON document but {records} of them, one a line (JSON Lines)"));
                extracted.text = lines.strings;
                return Ok(extracted);
            }
            if !text.trim().is_empty() {
                let (line, column) = err.line_column(&text);
                extracted.warnings.push(format!("invalid JSON at line {line}, column {column}: {}", err.message));
            }
            extracted.text = text;
        }
    }
    Ok(extracted)
}

/// JSON Lines (`.jsonl`, `.ndjson`): one JSON value a line. `valid` when
/// every line that is not blank is one; `records` counts those lines; the
/// text is their string values, as a JSON document's.
pub fn extract_lines(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let (text, encoding, warnings) = decode_text(bytes);
    let mut extracted = Extracted { warnings, ..Default::default() };
    extracted.set("encoding", encoding);
    let lines = read_lines(&text);
    extracted.set("valid", lines.invalid.is_none());
    extracted.set("records", lines.records);
    if let Some((line, column, message)) = lines.invalid {
        extracted.warnings.push(format!("invalid JSON at line {line}, column {column}: {message}"));
    }
    extracted.text = lines.strings;
    Ok(extracted)
}

/// `text` read as JSON Lines.
struct Lines {
    /// The values' strings, and the lines that are not values as they are
    /// (so that their words still count).
    strings: String,
    /// Lines that are JSON values.
    records: usize,
    /// The first line that is not: its number, the column, why.
    invalid: Option<(usize, usize, &'static str)>,
}

fn read_lines(text: &str) -> Lines {
    let mut lines = Lines { strings: String::new(), records: 0, invalid: None };
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let before = lines.strings.len();
        match scan(line, Some(&mut lines.strings)) {
            Ok(_) => lines.records += 1,
            Err(err) => {
                lines.strings.truncate(before);
                lines.strings.push_str(line);
                lines.strings.push('\n');
                lines.invalid.get_or_insert((number + 1, err.line_column(line).1, err.message));
            }
        }
    }
    lines
}

/// Whether `text` is one JSON value (RFC 8259), at any depth.
pub fn is_valid(text: &str) -> bool {
    scan(text, None).is_ok()
}

/// What a valid document holds at its top level.
struct Summary {
    top_level: &'static str,
    /// Distinct keys of a top-level object (a repeated key counts once, as
    /// when the object is read into a map), or items of a top-level array.
    members: usize,
}

/// Where the document stops being JSON, and why.
struct SyntaxError {
    /// Byte offset of the offending character (or the end).
    at: usize,
    message: &'static str,
}

impl SyntaxError {
    /// One-based line and column (in characters) of the error.
    fn line_column(&self, text: &str) -> (usize, usize) {
        let before = &text[..self.at.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }
}

/// What the scanner expects next.
#[derive(Clone, Copy, PartialEq)]
enum Expect {
    /// Any value.
    Value,
    /// A value or `]`, just after `[`.
    ValueOrEnd,
    /// A key or `}`, just after `{`.
    KeyOrEnd,
    /// A key, after a comma in an object.
    Key,
    /// A comma or the end of the enclosing array or object (or of the document).
    Separator,
}

#[derive(Clone, Copy, PartialEq)]
enum Container {
    Array,
    Object,
}

/// Checks `text` against the JSON grammar in one pass, appending every string
/// value (not keys), each followed by a newline, to `strings` when given.
fn scan(text: &str, mut strings: Option<&mut String>) -> Result<Summary, SyntaxError> {
    let bytes = text.as_bytes();
    let mut stack: Vec<Container> = Vec::new();
    let mut top_level = "";
    let mut top_keys: HashSet<String> = HashSet::new();
    let mut top_items = 0usize;
    let mut expect = Expect::Value;
    let mut i = 0;
    let fail = |at: usize, message: &'static str| Err(SyntaxError { at, message });
    loop {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else {
            return if stack.is_empty() && expect == Expect::Separator {
                Ok(Summary { top_level, members: if top_level == "object" { top_keys.len() } else { top_items } })
            } else if stack.is_empty() {
                fail(i, "EOF while parsing a value")
            } else if stack.last() == Some(&Container::Array) {
                fail(i, "EOF while parsing a list")
            } else {
                fail(i, "EOF while parsing an object")
            };
        };
        match expect {
            Expect::Value | Expect::ValueOrEnd => {
                if expect == Expect::ValueOrEnd && b == b']' {
                    stack.pop();
                    i += 1;
                    expect = Expect::Separator;
                    continue;
                }
                if stack.len() == 1 {
                    top_items += 1;
                }
                let kind = match b {
                    b'{' => {
                        stack.push(Container::Object);
                        i += 1;
                        expect = Expect::KeyOrEnd;
                        "object"
                    }
                    b'[' => {
                        stack.push(Container::Array);
                        i += 1;
                        expect = Expect::ValueOrEnd;
                        "array"
                    }
                    b'"' => {
                        let out = strings.as_deref_mut();
                        i = string(bytes, i, out)?;
                        if let Some(out) = strings.as_deref_mut() {
                            out.push('\n');
                        }
                        expect = Expect::Separator;
                        "string"
                    }
                    b'-' | b'0'..=b'9' => {
                        i = number(bytes, i)?;
                        expect = Expect::Separator;
                        "number"
                    }
                    b't' | b'f' | b'n' => {
                        let (word, kind) = match b {
                            b't' => ("true", "boolean"),
                            b'f' => ("false", "boolean"),
                            _ => ("null", "null"),
                        };
                        if !bytes[i..].starts_with(word.as_bytes()) {
                            return fail(i, "expected ident");
                        }
                        i += word.len();
                        expect = Expect::Separator;
                        kind
                    }
                    _ => return fail(i, "expected value"),
                };
                if top_level.is_empty() {
                    top_level = kind;
                }
            }
            Expect::KeyOrEnd | Expect::Key => {
                if expect == Expect::KeyOrEnd && b == b'}' {
                    stack.pop();
                    i += 1;
                    expect = Expect::Separator;
                    continue;
                }
                if b != b'"' {
                    return fail(i, "key must be a string");
                }
                let mut key = String::new();
                i = string(bytes, i, (stack.len() == 1).then_some(&mut key))?;
                if stack.len() == 1 {
                    top_keys.insert(key);
                }
                while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(b':') => i += 1,
                    Some(_) => return fail(i, "expected `:`"),
                    None => return fail(i, "EOF while parsing an object"),
                }
                expect = Expect::Value;
            }
            Expect::Separator => {
                let Some(&container) = stack.last() else { return fail(i, "trailing characters") };
                match (container, b) {
                    (Container::Array, b',') => expect = Expect::Value,
                    (Container::Object, b',') => expect = Expect::Key,
                    (Container::Array, b']') | (Container::Object, b'}') => {
                        stack.pop();
                    }
                    (Container::Array, _) => return fail(i, "expected `,` or `]`"),
                    (Container::Object, _) => return fail(i, "expected `,` or `}`"),
                }
                i += 1;
            }
        }
    }
}

/// Reads the string starting at the quote at `start`, decoding it into `out`
/// when given; returns the index after the closing quote. An escaped lone
/// surrogate, allowed by the grammar, decodes as U+FFFD.
fn string(bytes: &[u8], start: usize, mut out: Option<&mut String>) -> Result<usize, SyntaxError> {
    let fail = |at: usize, message: &'static str| Err(SyntaxError { at, message });
    let mut i = start + 1;
    let mut run = i;
    // `bytes` came from a `str` and runs are cut only at ASCII bytes, so
    // every run is valid UTF-8.
    let push_run = |out: &mut Option<&mut String>, from: usize, to: usize| {
        if let Some(out) = out.as_deref_mut() {
            out.push_str(std::str::from_utf8(&bytes[from..to]).unwrap_or_default());
        }
    };
    let mut pending_high: Option<u32> = None;
    loop {
        let Some(&b) = bytes.get(i) else { return fail(i, "EOF while parsing a string") };
        match b {
            b'"' => {
                if pending_high.take().is_some() {
                    if let Some(out) = out.as_deref_mut() {
                        out.push('\u{FFFD}');
                    }
                }
                push_run(&mut out, run, i);
                return Ok(i + 1);
            }
            b'\\' => {
                push_run(&mut out, run, i);
                let Some(&escape) = bytes.get(i + 1) else { return fail(i + 1, "EOF while parsing a string") };
                let mut decoded = None;
                let mut unit = None;
                match escape {
                    b'"' => decoded = Some('"'),
                    b'\\' => decoded = Some('\\'),
                    b'/' => decoded = Some('/'),
                    b'b' => decoded = Some('\u{8}'),
                    b'f' => decoded = Some('\u{c}'),
                    b'n' => decoded = Some('\n'),
                    b'r' => decoded = Some('\r'),
                    b't' => decoded = Some('\t'),
                    b'u' => {
                        let hex = bytes.get(i + 2..i + 6).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                        let code =
                            hex.and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u32::from_str_radix(h, 16).ok());
                        match code {
                            Some(code) => unit = Some(code),
                            None => return fail(i, "invalid escape"),
                        }
                    }
                    _ => return fail(i, "invalid escape"),
                }
                i += if unit.is_some() { 6 } else { 2 };
                run = i;
                let Some(out) = out.as_deref_mut() else { continue };
                match unit {
                    Some(low @ 0xDC00..=0xDFFF) if pending_high.is_some() => {
                        let high = pending_high.take().unwrap_or_default();
                        let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                        out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                    }
                    Some(code) => {
                        if pending_high.take().is_some() {
                            out.push('\u{FFFD}');
                        }
                        if (0xD800..=0xDBFF).contains(&code) {
                            pending_high = Some(code);
                        } else {
                            out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                        }
                    }
                    None => {
                        if pending_high.take().is_some() {
                            out.push('\u{FFFD}');
                        }
                        out.extend(decoded);
                    }
                }
            }
            0..=0x1F => return fail(i, "control character (\\u0000-\\u001F) found while parsing a string"),
            _ => {
                if pending_high.take().is_some() {
                    if let Some(out) = out.as_deref_mut() {
                        out.push('\u{FFFD}');
                    }
                }
                i += 1;
            }
        }
    }
}

/// Checks the number starting at `start` against the grammar
/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`; its magnitude is
/// not looked at. Returns the index after it.
fn number(bytes: &[u8], start: usize) -> Result<usize, SyntaxError> {
    let digits = |mut i: usize| {
        let from = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i, i - from)
    };
    let mut i = start;
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    match bytes.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(i).0,
        _ => return Err(SyntaxError { at: i, message: "invalid number" }),
    }
    if bytes.get(i) == Some(&b'.') {
        let (end, count) = digits(i + 1);
        if count == 0 {
            return Err(SyntaxError { at: end, message: "invalid number" });
        }
        i = end;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let (end, count) = digits(i);
        if count == 0 {
            return Err(SyntaxError { at: end, message: "invalid number" });
        }
        i = end;
    }
    Ok(i)
}
