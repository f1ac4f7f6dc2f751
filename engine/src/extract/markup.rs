//! What HTML and XML readers share: decoding markup by its declared charset,
//! the element tables, and a linear tag scanner that reads text out of
//! markup too deeply nested (or too broken) for a parser.

use scraper::Html;

use super::codepages;
use super::text::decode_text;

/// Decodes markup honouring a BOM, then an `encoding="..."` declaration
/// (a WHATWG label, or one of the DOS and Mac code pages of
/// [`codepages`]), then content sniffing.
///
/// A declaration is overruled by bytes that are valid UTF-8 with non-ASCII
/// characters in them: pages saved as UTF-8 by an editor keep the
/// `charset=ISO-8859-1` or `windows-1252` their template had, and read by
/// the declaration every accented letter, Cyrillic word or CJK character
/// would turn to mojibake. Legacy-encoded text is next to never valid UTF-8
/// (chance byte pairs seldom form UTF-8 sequences). A declared UTF-16 is
/// read as UTF-8 too, as browsers do: a declaration readable as ASCII means
/// the bytes are not UTF-16.
pub fn decode_markup(bytes: &[u8]) -> (String, &'static str) {
    if encoding_rs::Encoding::for_bom(bytes).is_none() && !bytes.starts_with(b"\x00") {
        let head = &bytes[..bytes.len().min(1024)];
        let head_text = String::from_utf8_lossy(head);
        if let Some(label) = declared_encoding(&head_text) {
            if let Some(mut encoding) = encoding_rs::Encoding::for_label(label.as_bytes()) {
                if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
                    encoding = encoding_rs::UTF_8;
                }
                let valid_utf8 = std::str::from_utf8(bytes).is_ok();
                if encoding != encoding_rs::UTF_8 && valid_utf8 && !bytes.is_ascii() {
                    encoding = encoding_rs::UTF_8;
                }
                if encoding != encoding_rs::UTF_8 || valid_utf8 {
                    let (text, _) = encoding.decode_without_bom_handling(bytes);
                    return (text.into_owned(), encoding.name());
                }
            } else if let Some(page) = codepages::table_for_label(&label) {
                if bytes.is_ascii() || std::str::from_utf8(bytes).is_err() {
                    return (page.decode(bytes), page.name);
                }
            }
        }
    }
    let (text, encoding, _) = decode_text(bytes);
    (text, encoding)
}

/// The `encoding` of an XML declaration or the charset of an HTML meta tag.
pub fn declared_encoding(head: &str) -> Option<String> {
    let lower = head.to_ascii_lowercase();
    let after = if lower.trim_start().starts_with("<?xml") {
        let declaration_end = lower.find("?>")?;
        let at = lower[..declaration_end].find("encoding")?;
        &head[at + "encoding".len()..declaration_end]
    } else {
        let at = lower.find("charset")?;
        &head[at + "charset".len()..]
    };
    let value: String = after
        .trim_start_matches(|c: char| c.is_whitespace() || c == '=' || c == '"' || c == '\'')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        .collect();
    (!value.is_empty()).then_some(value)
}

/// Elements that never have content or an end tag.
const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input", "keygen", "link",
    "meta", "param", "source", "track", "wbr",
];

/// Elements whose end tag may be left out: the next one of their kind (or
/// their parent's end) closes them, so a run of them is no nesting. Not
/// counted by [`nesting_depth`].
const IMPLIED_END: &[&str] = &[
    "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot", "colgroup", "caption",
    "rb", "rt", "rp", "rtc", "html", "head", "body",
];

/// Elements whose content is raw text up to their end tag, not markup; all
/// but `textarea` and `title` hidden.
const RAW_TEXT: &[&str] = &["script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title"];

pub(super) const HIDDEN: &[&str] =
    &["script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object"];
/// Elements a browser shows as blocks (the HTML standard's rendering
/// section), old ones too: `center` and `dir` still open many pages.
pub(super) const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "tfoot",
    "thead",
    "tr",
    "ul",
    "title",
    "body",
    "html",
    "caption",
    "option",
    "center",
    "legend",
    "hgroup",
    "menu",
    "dir",
    "search",
    "listing",
];

/// Blocks followed by a blank line.
pub(super) const PARAGRAPHS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "table",
    "ul",
    "ol",
    "dl",
    "figure",
    "section",
    "article",
];

/// Ends the text's line, unless it is empty or already ended.
pub(super) fn newline(text: &mut String) {
    let trimmed = text.trim_end_matches([' ', '\t']).len();
    text.truncate(trimmed);
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
}

/// What a visible element's start tag does, in both readers: blocks start
/// a line, cells are tab-separated, links and headings are counted.
pub(super) fn open_element(name: &str, href: bool, text: &mut String, (links, headings): (&mut u64, &mut u64)) {
    if name == "a" && href {
        *links += 1;
    }
    if matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6") {
        *headings += 1;
    }
    if BLOCKS.contains(&name) {
        newline(text);
    }
    if matches!(name, "td" | "th") && !text.ends_with('\n') && !text.is_empty() {
        text.push('\t');
    }
}

/// A tag found by [`Tags`].
struct TagAt {
    /// Lowercase name.
    name: String,
    closing: bool,
    self_closing: bool,
    /// Whether it has an `href` attribute.
    href: bool,
    /// Byte offsets of the `<` and after the `>`.
    start: usize,
    end: usize,
}

/// The tags of a page in order, in one linear pass, without building a tree:
/// comments, doctypes and processing instructions are stepped over and a
/// `<` that starts no tag is text. Raw-text elements' content is not
/// searched for tags (the caller skips to their end with [`raw_text_end`]).
struct Tags {
    /// The source in ASCII lowercase, for names and end tags: same offsets.
    lower: String,
    at: usize,
}

impl Tags {
    fn new(source: &str) -> Self {
        Tags { lower: source.to_ascii_lowercase(), at: 0 }
    }

    /// The next tag at or after `self.at`, leaving `self.at` after it.
    fn next_tag(&mut self) -> Option<TagAt> {
        let bytes = self.lower.as_bytes();
        loop {
            let start = self.at + self.lower[self.at..].find('<')?;
            let rest = &self.lower[start..];
            if let Some(comment) = rest.strip_prefix("<!--") {
                self.at = comment.find("-->").map_or(bytes.len(), |end| start + 4 + end + 3);
                continue;
            }
            if rest.starts_with("<!") || rest.starts_with("<?") {
                self.at = rest.find('>').map_or(bytes.len(), |end| start + end + 1);
                continue;
            }
            let closing = rest.starts_with("</");
            let name_start = start + if closing { 2 } else { 1 };
            if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
                self.at = start + 1;
                continue;
            }
            let mut i = name_start;
            while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>') {
                i += 1;
            }
            let name = self.lower[name_start..i].to_owned();
            // Attributes, up to the `>` not inside a quoted value.
            let mut href = false;
            let mut previous = 0u8;
            while i < bytes.len() && bytes[i] != b'>' {
                let b = bytes[i];
                if matches!(b, b'"' | b'\'') && previous == b'=' {
                    i = self.lower[i + 1..].find(b as char).map_or(bytes.len(), |end| i + 1 + end);
                } else if b == b'h'
                    && self.lower[i..].starts_with("href")
                    && matches!(bytes[i - 1], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'"' | b'\'' | b'/')
                    && !bytes.get(i + 4).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-')
                {
                    href = true;
                }
                if !b.is_ascii_whitespace() {
                    previous = b;
                }
                i += 1;
            }
            let end = (i + 1).min(bytes.len());
            let self_closing = bytes[..i.min(bytes.len())].last() == Some(&b'/');
            self.at = end;
            return Some(TagAt { name, closing, self_closing, href, start, end });
        }
    }

    /// For a raw-text element just opened: where its content ends (its end
    /// tag or the end of the page); moves past the end tag.
    fn raw_text_end(&mut self, name: &str) -> usize {
        let closing = format!("</{name}");
        match self.lower[self.at..].find(&closing) {
            Some(found) => {
                let end = self.at + found;
                self.at = self.lower[end..].find('>').map_or(self.lower.len(), |close| end + close + 1);
                end
            }
            None => {
                self.at = self.lower.len();
                self.lower.len()
            }
        }
    }
}

/// How deep elements nest, counting start tags of elements that hold content
/// less end tags, in linear time; stops counting past `limit`. An estimate
/// of the parser's stack of open elements, good enough to tell real pages
/// from hostile ones.
pub fn nesting_depth(source: &str, limit: usize) -> usize {
    let mut tags = Tags::new(source);
    let (mut depth, mut deepest) = (0usize, 0usize);
    while let Some(tag) = tags.next_tag() {
        let name = tag.name.as_str();
        if VOID.contains(&name) || IMPLIED_END.contains(&name) {
            continue;
        }
        if tag.closing {
            depth = depth.saturating_sub(1);
        } else if RAW_TEXT.contains(&name) {
            tags.raw_text_end(name);
        } else if !tag.self_closing {
            depth += 1;
            deepest = deepest.max(depth);
            if deepest > limit {
                break;
            }
        }
    }
    deepest
}

/// What [`fallback`] reads of a page.
pub struct Fallback {
    pub text: String,
    pub title: Option<String>,
    pub links: u64,
    pub headings: u64,
}

/// The visible text of a page too deeply nested to parse, in linear time:
/// tags stripped, the content of hidden elements (script, style and the
/// like) skipped, block elements on their own lines as in [`visible_text`],
/// entities decoded.
pub fn fallback(source: &str) -> Fallback {
    // Entities are decoded at the end, by the HTML parser given the text
    // alone (every `<` escaped, so no markup and no nesting): its full table
    // of named references, in linear time.
    let mut escaped = String::new();
    let mut title = None;
    let (mut links, mut headings) = (0u64, 0u64);
    let mut hidden_depth = 0usize;
    let mut tags = Tags::new(source);
    let mut text_start = 0;
    let push_text = |text: &mut String, run: &str| {
        for (i, word) in run.split_ascii_whitespace().enumerate() {
            if (i > 0 || run.starts_with(|c: char| c.is_ascii_whitespace()))
                && !text.is_empty()
                && !text.ends_with([' ', '\n', '\t'])
            {
                text.push(' ');
            }
            text.push_str(&word.replace('<', "&lt;"));
        }
        if run.ends_with(|c: char| c.is_ascii_whitespace()) && !text.is_empty() && !text.ends_with([' ', '\n', '\t']) {
            text.push(' ');
        }
    };
    loop {
        let tag = tags.next_tag();
        let run_end = tag.as_ref().map_or(source.len(), |tag| tag.start);
        if hidden_depth == 0 {
            push_text(&mut escaped, &source[text_start..run_end]);
        }
        let Some(tag) = tag else { break };
        text_start = tag.end;
        let name = tag.name.as_str();
        if HIDDEN.contains(&name) && name != "head" && !RAW_TEXT.contains(&name) {
            // The head is not hidden here: its end tag is often left out,
            // and its only text is the title, read below.
            if tag.closing {
                hidden_depth = hidden_depth.saturating_sub(1);
            } else if !tag.self_closing {
                hidden_depth += 1;
            }
            continue;
        }
        if tag.closing || hidden_depth > 0 {
            if !tag.closing && RAW_TEXT.contains(&name) {
                tags.raw_text_end(name);
                text_start = tags.at;
            } else if tag.closing && hidden_depth == 0 && BLOCKS.contains(&name) {
                newline(&mut escaped);
                if PARAGRAPHS.contains(&name) && !escaped.is_empty() && !escaped.ends_with("\n\n") {
                    escaped.push('\n');
                }
            }
            continue;
        }
        if RAW_TEXT.contains(&name) {
            let content_start = tags.at;
            let content_end = tags.raw_text_end(name);
            let content = &source[content_start..content_end];
            match name {
                "textarea" => push_text(&mut escaped, content),
                "title" if title.is_none() => {
                    let mut raw = String::new();
                    push_text(&mut raw, content);
                    title = Some(decode_entities(&raw));
                }
                _ => {}
            }
            text_start = tags.at;
            continue;
        }
        open_element(name, tag.href, &mut escaped, (&mut links, &mut headings));
    }
    let mut text = decode_entities(&escaped);
    let trimmed = text.trim_end().len();
    text.truncate(trimmed);
    Fallback { text, title, links, headings }
}

/// Decodes the character references of text holding no markup.
fn decode_entities(escaped: &str) -> String {
    if !escaped.contains('&') {
        return escaped.to_owned();
    }
    Html::parse_fragment(escaped).root_element().text().collect()
}
