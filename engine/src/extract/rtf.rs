//! RTF: a small parser of our own. Text with paragraph and line breaks, tabs,
//! `\'hh` escapes through the current font's code page (its `\fcharset`) or
//! else the document's, `\uN` characters (surrogate pairs joined), and
//! destinations (font tables, pictures, `\*` groups) skipped; footnotes,
//! then headers, then footers come after the body (the order DOCX gives
//! them), text boxes where they are anchored; table rows are lines of
//! tab-separated cells; the `\info` group gives title, author and dates.

use encoding_rs::Encoding;

use super::{iso_datetime, ExtractError, Extracted};

/// Deepest group nesting followed. Real RTF nests a few dozen levels;
/// deeper input only exists to exhaust parsers.
const MAX_GROUP_DEPTH: usize = 1024;

/// Destinations whose content is not document text.
const SKIPPED: &[&str] = &[
    "fonttbl",
    "colortbl",
    "stylesheet",
    "pict",
    "object",
    "themedata",
    "colorschememapping",
    "datastore",
    "latentstyles",
    "listtable",
    "listoverridetable",
    "rsidtbl",
    "generator",
    "xmlnstbl",
    "mmathPr",
    "filetbl",
    "revtbl",
    "bkmkstart",
    "bkmkend",
    "fldinst",
    "shp",
    "shpinst",
    "sp",
    "nonshppict",
    "blipuid",
    "wgrffmtfilter",
    "pgdsctbl",
    "listtext",
    // The same text again for readers without nested tables, which this one
    // reads (`\nestcell`, `\nestrow`).
    "nonesttables",
];

/// The code page of a font's `\fcharset` (a Windows character set number).
/// Text in a font declaring one is in that code page whatever `\ansicpg`
/// says: a Cyrillic font is often the only sign of windows-1251. Character
/// sets not listed (1, default; 2, symbol; Mac ones) leave the document's.
const CHARSET_CODE_PAGES: &[(i32, u16)] = &[
    (0, 1252),
    (128, 932),
    (129, 949),
    (134, 936),
    (136, 950),
    (161, 1253),
    (162, 1254),
    (163, 1258),
    (177, 1255),
    (178, 1256),
    (186, 1257),
    (204, 1251),
    (222, 874),
    (238, 1250),
];

#[derive(Clone)]
struct Group {
    skip: bool,
    /// Which `\info` field this group fills, if any.
    info: Option<&'static str>,
    /// Characters to drop after a `\uN` (`\ucN`).
    unicode_skip: usize,
    /// The font selected by `\fN`, if any.
    font: Option<i32>,
    /// Inside the font table, where `\fN` defines a font instead.
    font_table: bool,
    /// Inside a `\upr` group but not its `\ud` part: the ANSI copy of text
    /// written again in Unicode, held back in case the Unicode copy is
    /// missing.
    upr_ansi: bool,
    /// Inside a footnote, an endnote (`\footnote`) or a comment
    /// (`\annotation`), whose text goes after the body.
    note: bool,
    /// Text a reviewer deleted with changes tracked (`\deleted`, until
    /// `\deleted0` or `\plain`): not the document's text, as a DOCX's
    /// `w:del` runs are not.
    deleted: bool,
    /// Inside a page header or footer (`\header`, `\footerl`, ...), whose
    /// text goes after the notes.
    margin: Option<Margin>,
    /// Inside a shape (`\shp`): whether text outside the shape was skipped,
    /// and the depth of the shape's group. Shapes are skipped but for their
    /// text (`\shptxt`, a text box's content).
    shape: Option<(bool, usize)>,
}

/// Which of a page's margins a `\header...` or `\footer...` group fills.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Margin {
    Header,
    Footer,
}

/// Where text goes: the body, the `\info` fields, or the ANSI copy of a
/// `\upr` group.
struct Output {
    text: String,
    info: std::collections::BTreeMap<&'static str, String>,
    /// `\info` fields whose group has closed with a value: a second group
    /// for the same field (Word writes `\author` in `\upr` and plain) adds
    /// nothing to it.
    info_done: std::collections::HashSet<&'static str>,
    /// The open `\upr` groups, innermost last.
    upr: Vec<Upr>,
    /// Footnotes and endnotes, each ending in a line break.
    notes: String,
    /// Headers and footers, each ending in a line break.
    headers: String,
    footers: String,
    /// The depth of the shape whose text box was read: its `\shprslt`, the
    /// same text again for readers without shapes, is then skipped.
    shape_text_at: Option<usize>,
}

/// An open `\upr` group: its depth in the group stack, whether its `\ud`
/// (Unicode) part was seen, and its ANSI copy as `(info field or body,
/// text)` pieces.
struct Upr {
    depth: usize,
    saw_unicode: bool,
    held: Vec<(Option<&'static str>, String)>,
}

impl Output {
    /// Sends text to the document body or to the `\info` field being read.
    fn emit(&mut self, stack: &[Group], s: &str) {
        let Some(group) = stack.last() else { return };
        if group.upr_ansi {
            if let Some(upr) = self.upr.last_mut() {
                if group.info.is_some() || !group.skip {
                    upr.held.push((group.info, s.to_owned()));
                }
                return;
            }
        }
        if let Some(field) = group.info {
            if !self.info_done.contains(field) {
                self.info.entry(field).or_default().push_str(s);
            }
        } else if !group.skip && !group.deleted {
            self.body_of(group).push_str(s);
        }
    }

    /// The text [`Output::emit`] writes to for a group, when that is not
    /// an `\info` field or held-back `\upr` text.
    fn body_mut(&mut self, stack: &[Group]) -> Option<&mut String> {
        let group =
            stack.last().filter(|group| !group.skip && !group.deleted && group.info.is_none() && !group.upr_ansi)?;
        Some(self.body_of(group))
    }

    /// A table row ends: its last cell's separator is dropped, as DOCX
    /// rows have none after their last cell, and the line ends.
    fn end_row(&mut self, stack: &[Group]) {
        if let Some(body) = self.body_mut(stack) {
            if body.ends_with('\t') {
                body.pop();
            }
        }
        self.emit(stack, "\n");
    }

    /// A paragraph ends inside a table cell: a space, so that the row stays
    /// one line, as DOCX cells join their paragraphs.
    fn end_cell_paragraph(&mut self, stack: &[Group]) {
        match self.body_mut(stack) {
            Some(body) if body.is_empty() || body.ends_with(['\t', '\n', ' ']) => {}
            _ => self.emit(stack, " "),
        }
    }

    /// The text a group's body text goes to: a note, a header, a footer or
    /// the document body.
    fn body_of(&mut self, group: &Group) -> &mut String {
        match group.margin {
            _ if group.note => &mut self.notes,
            Some(Margin::Header) => &mut self.headers,
            Some(Margin::Footer) => &mut self.footers,
            None => &mut self.text,
        }
    }

    /// A group closes: an `\info` field it filled is done, and a `\upr`
    /// group without a Unicode part gives its ANSI copy after all.
    fn close(&mut self, closed: &Group, depth: usize, parent: &Group) {
        if (closed.note && !parent.note) || (closed.margin.is_some() && parent.margin.is_none()) {
            let part = self.body_of(closed);
            if !part.is_empty() && !part.ends_with('\n') {
                part.push('\n');
            }
        }
        if closed.shape.is_some_and(|(_, at)| at == depth) && self.shape_text_at == Some(depth) {
            self.shape_text_at = None;
        }
        if let Some(field) = closed.info.filter(|_| !closed.upr_ansi) {
            if self.info.get(field).is_some_and(|value| !value.trim().is_empty()) {
                self.info_done.insert(field);
            }
        }
        if self.upr.last().is_some_and(|upr| upr.depth == depth) {
            let upr = self.upr.pop().expect("just checked");
            if !upr.saw_unicode {
                for (field, s) in upr.held {
                    match field {
                        Some(field) if !self.info_done.contains(field) => {
                            self.info.entry(field).or_default().push_str(&s)
                        }
                        Some(_) => {}
                        None => self.body_of(closed).push_str(&s),
                    }
                }
            }
        }
    }
}

pub fn extract(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    if !bytes.trim_ascii_start().starts_with(b"{\\rtf") {
        return Err(ExtractError("not RTF: no {\\rtf header".into()));
    }
    let mut extracted = Extracted::default();
    let mut encoding: &'static Encoding = encoding_rs::WINDOWS_1252;
    let mut out = Output {
        text: String::new(),
        info: Default::default(),
        info_done: Default::default(),
        upr: Vec::new(),
        notes: String::new(),
        headers: String::new(),
        footers: String::new(),
        shape_text_at: None,
    };
    let mut dates: Vec<(&'static str, [u32; 5])> = Vec::new();
    let mut date_target: Option<usize> = None;
    let mut stack: Vec<Group> = vec![Group {
        skip: false,
        info: None,
        unicode_skip: 1,
        font: None,
        font_table: false,
        upr_ansi: false,
        note: false,
        deleted: false,
        margin: None,
        shape: None,
    }];
    // Code pages of the fonts whose `\fcharset` names one; the default font
    // (`\deffN`); the font being defined in the font table.
    let mut font_encodings = std::collections::HashMap::<i32, &'static Encoding>::new();
    let mut default_font: Option<i32> = None;
    let mut defining_font: Option<i32> = None;
    // A `\uN` high surrogate waiting for its low half in the next `\uN`.
    let mut high_surrogate: Option<u32> = None;
    let mut pending_bytes: Vec<u8> = Vec::new();
    let mut skip_chars = 0usize;
    let mut i = 0;
    let mut first_in_group = false;
    // In a paragraph of a table (`\intbl`), until `\pard` resets the
    // paragraph or `\row` ends the row.
    let mut in_table = false;

    macro_rules! flush {
        () => {
            if !pending_bytes.is_empty() {
                let font = stack.last().and_then(|group| group.font).or(default_font);
                let current = font.and_then(|font| font_encodings.get(&font)).copied().unwrap_or(encoding);
                let (decoded, _) = current.decode_without_bom_handling(&pending_bytes);
                out.emit(&stack, &decoded);
                pending_bytes.clear();
            }
        };
    }

    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'{' => {
                flush!();
                if stack.len() >= MAX_GROUP_DEPTH {
                    return Err(ExtractError(format!("RTF groups nested deeper than {MAX_GROUP_DEPTH}")));
                }
                let top = stack.last().cloned().expect("the root group is never popped");
                stack.push(top);
                first_in_group = true;
                i += 1;
                continue;
            }
            b'}' => {
                flush!();
                if stack.len() > 1 {
                    let depth = stack.len();
                    let closed = stack.pop().expect("more than the root group");
                    out.close(&closed, depth, stack.last().expect("the root group is never popped"));
                }
                date_target = None;
                i += 1;
            }
            b'\\' => {
                let (word, param, next) = control(bytes, i + 1);
                i = next;
                if word != "'" && word != "*" {
                    flush!();
                }
                // Only a `\uN` (its fallback skipped) may follow a high surrogate.
                if !matches!(word.as_str(), "u" | "uc" | "'") {
                    high_surrogate = None;
                }
                let group = stack.last_mut().expect("the root group is never popped");
                match word.as_str() {
                    "*" => group.skip = true,
                    "'" => {
                        let hex = bytes.get(i..i + 2).and_then(|pair| std::str::from_utf8(pair).ok());
                        if let Some(byte) = hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                            if skip_chars > 0 {
                                skip_chars -= 1;
                            } else {
                                pending_bytes.push(byte);
                                high_surrogate = None;
                            }
                            i += 2;
                        }
                    }
                    "u" => {
                        if let Some(n) = param {
                            let code = if n < 0 { n + 65536 } else { n } as u32;
                            let code = match (high_surrogate.take(), code) {
                                (_, 0xD800..=0xDBFF) => {
                                    high_surrogate = Some(code);
                                    None
                                }
                                (Some(high), 0xDC00..=0xDFFF) => {
                                    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00))
                                }
                                // A lone surrogate is no character: dropped.
                                (_, code) => char::from_u32(code),
                            };
                            if let Some(c) = code {
                                out.emit(&stack, c.encode_utf8(&mut [0; 4]));
                            }
                            skip_chars = stack.last().map(|g| g.unicode_skip).unwrap_or(1);
                        }
                    }
                    "f" if group.font_table => defining_font = param,
                    "f" => group.font = param,
                    "plain" => {
                        group.font = None;
                        group.deleted = false;
                    }
                    "deleted" => group.deleted = param != Some(0),
                    "deff" => default_font = param,
                    "fcharset" if group.font_table => {
                        let code_page = param
                            .and_then(|set| CHARSET_CODE_PAGES.iter().find(|(charset, _)| *charset == set))
                            .and_then(|(_, code_page)| codepage::to_encoding(*code_page));
                        if let (Some(font), Some(found)) = (defining_font, code_page) {
                            font_encodings.insert(font, found);
                        }
                    }
                    "uc" => group.unicode_skip = param.unwrap_or(1).clamp(0, 16) as usize,
                    "ansicpg" => {
                        if let Some(found) = param.and_then(|cp| codepage::to_encoding(cp as u16)) {
                            encoding = found;
                        }
                    }
                    "intbl" => in_table = true,
                    "pard" => in_table = false,
                    "par" if in_table => out.end_cell_paragraph(&stack),
                    "par" | "line" | "sect" | "page" => out.emit(&stack, "\n"),
                    "row" => {
                        in_table = false;
                        out.end_row(&stack);
                    }
                    "tab" | "cell" | "nestcell" => out.emit(&stack, "\t"),
                    // A nested row ends inside its `{\*\nesttableprops ...}`
                    // group: the line ends where that group is.
                    "nestrow" => {
                        let outside = stack.len().saturating_sub(1).max(1);
                        out.end_row(&stack[..outside]);
                    }
                    "emdash" => out.emit(&stack, "—"),
                    "endash" => out.emit(&stack, "–"),
                    "bullet" => out.emit(&stack, "•"),
                    "lquote" => out.emit(&stack, "‘"),
                    "rquote" => out.emit(&stack, "’"),
                    "ldblquote" => out.emit(&stack, "“"),
                    "rdblquote" => out.emit(&stack, "”"),
                    "~" => out.emit(&stack, "\u{a0}"),
                    "\\" | "{" | "}" => out.emit(&stack, &word),
                    "info" => group.skip = true,
                    "upr" => {
                        group.upr_ansi = true;
                        out.upr.push(Upr { depth: stack.len(), saw_unicode: false, held: Vec::new() });
                    }
                    // The Unicode part of a `\upr` group (`{\*\ud ...}`): read
                    // as its parent is, despite the `\*`.
                    "ud" if group.upr_ansi => {
                        let parent_skip = stack.len() >= 2 && stack[stack.len() - 2].skip;
                        let group = stack.last_mut().expect("the root group is never popped");
                        group.upr_ansi = false;
                        group.skip = parent_skip;
                        if let Some(upr) = out.upr.last_mut() {
                            upr.saw_unicode = true;
                        }
                    }
                    // A footnote or endnote (`{\*\footnote ...}` from some
                    // writers), or a comment (`{\*\annotation ...}`, its
                    // author and id in `\*\atnauthor` and `\*\atnid`
                    // groups before it, skipped): read as its parent is,
                    // despite the `\*`, after the body, as a DOCX's comments.
                    "footnote" | "annotation" => {
                        let parent_skip = stack.len() >= 2 && stack[stack.len() - 2].skip;
                        let group = stack.last_mut().expect("the root group is never popped");
                        group.skip = parent_skip;
                        group.note = true;
                    }
                    // Headers and footers, for all pages or the left, right
                    // or first ones: read as their parent is, even when
                    // marked `\*`, like footnotes.
                    "header" | "headerl" | "headerr" | "headerf" | "footer" | "footerl" | "footerr" | "footerf" => {
                        let parent_skip = stack.len() >= 2 && stack[stack.len() - 2].skip;
                        let group = stack.last_mut().expect("the root group is never popped");
                        group.skip = parent_skip;
                        group.margin = Some(if word.starts_with("header") { Margin::Header } else { Margin::Footer });
                    }
                    "shp" if first_in_group => {
                        let outer =
                            group.shape.map_or(stack.len() >= 2 && stack[stack.len() - 2].skip, |(outer, _)| outer);
                        let depth = stack.len();
                        let group = stack.last_mut().expect("the root group is never popped");
                        group.shape = Some((outer, depth));
                        group.skip = true;
                    }
                    "shptxt" => {
                        if let Some((outer, at)) = group.shape {
                            group.skip = outer;
                            out.shape_text_at = Some(at);
                        }
                    }
                    "shprslt" if group.shape.is_some_and(|(_, at)| out.shape_text_at == Some(at)) => {
                        group.skip = true;
                    }
                    "title" | "author" | "subject" | "company" | "operator" | "keywords" => {
                        group.info = Some(match word.as_str() {
                            "title" => "title",
                            "author" => "author",
                            "subject" => "subject",
                            "company" => "company",
                            "operator" => "operator",
                            _ => "keywords",
                        });
                    }
                    "creatim" | "revtim" => {
                        dates.push((if word == "creatim" { "created" } else { "modified" }, [0, 1, 1, 0, 0]));
                        date_target = Some(dates.len() - 1);
                    }
                    "yr" | "mo" | "dy" | "hr" | "min" => {
                        if let (Some(target), Some(value)) = (date_target, param) {
                            let slot = ["yr", "mo", "dy", "hr", "min"].iter().position(|w| *w == word).unwrap_or(0);
                            dates[target].1[slot] = value.max(0) as u32;
                        }
                    }
                    other if first_in_group && SKIPPED.contains(&other) => {
                        group.skip = true;
                        group.font_table = other == "fonttbl";
                    }
                    _ => {}
                }
                first_in_group = false;
                continue;
            }
            b'\r' | b'\n' => i += 1,
            _ => {
                if skip_chars > 0 {
                    skip_chars -= 1;
                } else {
                    pending_bytes.push(b);
                    high_surrogate = None;
                }
                i += 1;
            }
        }
        first_in_group = false;
    }
    flush!();
    for (field, value) in out.info {
        extracted.set(field, value);
    }
    for (field, [year, month, day, hour, minute]) in dates {
        if let Some(date) = iso_datetime(year, month, day, hour, minute, 0) {
            extracted.set(field, date);
        }
    }
    extracted.set("encoding", encoding.name());
    extracted.text = out.text;
    for part in [out.notes, out.headers, out.footers] {
        if !part.trim().is_empty() {
            if !extracted.text.is_empty() && !extracted.text.ends_with('\n') {
                extracted.text.push('\n');
            }
            extracted.text.push_str(&part);
        }
    }
    Ok(extracted)
}

/// Reads a control word or symbol after a backslash: its name, numeric
/// parameter and the index after it (and after one delimiting space).
fn control(bytes: &[u8], start: usize) -> (String, Option<i32>, usize) {
    let Some(&first) = bytes.get(start) else { return (String::new(), None, start) };
    if !first.is_ascii_alphabetic() {
        return ((first as char).to_string(), None, start + 1);
    }
    let mut end = start;
    while end < bytes.len() && bytes[end].is_ascii_alphabetic() && end - start < 32 {
        end += 1;
    }
    let word = String::from_utf8_lossy(&bytes[start..end]).into_owned();
    let mut param_end = end;
    if param_end < bytes.len() && bytes[param_end] == b'-' {
        param_end += 1;
    }
    while param_end < bytes.len() && bytes[param_end].is_ascii_digit() && param_end - end < 10 {
        param_end += 1;
    }
    let param = std::str::from_utf8(&bytes[end..param_end]).ok().and_then(|p| p.parse::<i32>().ok());
    let mut next = if param.is_some() { param_end } else { end };
    if next < bytes.len() && bytes[next] == b' ' {
        next += 1;
    }
    (word, param, next)
}
