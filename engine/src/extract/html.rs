//! HTML: the visible text (no script, style or head content), with block
//! elements on their own lines; title, description, author, language,
//! keywords and link and heading counts as metadata.

use ego_tree::iter::Edge;
use scraper::{Html, Node};

use super::markup::{decode_markup, fallback, nesting_depth, newline, open_element, BLOCKS, HIDDEN, PARAGRAPHS};
use super::{ExtractError, Extracted};
use crate::Options;

/// HTML parsed into a DOM. The tree costs several times the input, so a
/// larger page is cut here, with a warning.
pub const MAX_HTML_BYTES: usize = 32 << 20;

/// Deepest element nesting given to the HTML parser. The parser checks
/// element scope by walking its stack of open elements, so every tag costs
/// time in the depth and deep nesting is quadratic: 50,000 nested `<div>`s
/// take seconds, 200,000 over a minute. Real pages nest a few dozen levels;
/// deeper ones get their text from a linear scan instead ([`fallback`]).
pub const MAX_PARSE_DEPTH: usize = 4096;

pub fn extract(bytes: &[u8], options: &Options) -> Result<Extracted, ExtractError> {
    let (mut source, encoding) = decode_markup(bytes);
    let mut extracted = Extracted::default();
    extracted.set("encoding", encoding);
    if source.len() > MAX_HTML_BYTES {
        let mut cut = MAX_HTML_BYTES;
        while !source.is_char_boundary(cut) {
            cut -= 1;
        }
        source.truncate(cut);
        extracted.warnings.push(format!("truncated: only the first {} MiB of HTML were parsed", MAX_HTML_BYTES >> 20));
    }
    if nesting_depth(&source, MAX_PARSE_DEPTH) > MAX_PARSE_DEPTH {
        extracted.warnings.push(format!(
            "markup nested deeper than {MAX_PARSE_DEPTH} elements: too deep for a full parse, \
             text read by stripping tags and metadata limited to title, links and headings"
        ));
        let page = fallback(&source);
        if let Some(title) = page.title {
            extracted.set("title", title);
        }
        extracted.set("links", page.links);
        extracted.set("headings", page.headings);
        extracted.text = page.text;
        return Ok(extracted);
    }
    let document = Html::parse_document(&source);
    let (text, links, headings) = visible_text(&document);
    extracted.text = text;
    if options.wants_structure() {
        let mut builder = crate::structure::Builder::default();
        super::html_structure::blocks(&document, &mut builder);
        if builder.tables_cut {
            extracted.warnings.push(table_cut_warning());
        }
        extracted.blocks = builder.finish();
    }
    for element in document.root_element().descendants().filter_map(scraper::ElementRef::wrap) {
        let tag = element.value().name();
        match tag {
            "html" => {
                if let Some(lang) = element.value().attr("lang") {
                    extracted.set("language", lang);
                }
            }
            "title" if !extracted.metadata.contains_key("title") => {
                extracted
                    .set("title", element.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" "));
            }
            "meta" => {
                let name = element.value().attr("name").or_else(|| element.value().attr("property")).unwrap_or("");
                let content = element.value().attr("content").unwrap_or("");
                match name.to_ascii_lowercase().as_str() {
                    "description" | "og:description" if !extracted.metadata.contains_key("description") => {
                        extracted.set("description", content)
                    }
                    "author" => extracted.set("author", content),
                    "keywords" => extracted.set("keywords", content),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    extracted.set("links", links);
    extracted.set("headings", headings);
    Ok(extracted)
}

/// Whether an element and its content are not shown: one of the
/// [`HIDDEN`] elements, or one marked `hidden` (but not `hidden=until-found`,
/// whose content find-in-page shows) or `style="display: none"`.
pub(super) fn is_hidden(element: &scraper::node::Element) -> bool {
    HIDDEN.contains(&element.name())
        || element.attr("hidden").is_some_and(|value| !value.trim().eq_ignore_ascii_case("until-found"))
        || element.attr("style").is_some_and(|style| {
            let style: String = style.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
            style.split(';').any(|declaration| declaration.starts_with("display:none"))
        })
}

/// Visible text, with counts of links and headings on the way. Text in a
/// `pre` keeps its spaces and line breaks.
pub fn visible_text(document: &Html) -> (String, u64, u64) {
    let mut text = String::new();
    let mut hidden_depth = 0usize;
    let mut pre_depth = 0usize;
    let mut links = 0;
    let mut headings = 0;
    for edge in document.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(element) => {
                    let name = element.name();
                    if hidden_depth > 0 || is_hidden(element) {
                        hidden_depth += 1;
                    } else {
                        if name == "pre" {
                            pre_depth += 1;
                        }
                        let counts = (&mut links, &mut headings);
                        open_element(name, element.attr("href").is_some(), &mut text, counts);
                    }
                }
                Node::Text(t) if hidden_depth == 0 && pre_depth > 0 => text.push_str(t),
                Node::Text(t) if hidden_depth == 0 => {
                    let mut collapsed = String::new();
                    let starts_space = t.starts_with(char::is_whitespace);
                    let ends_space = t.ends_with(char::is_whitespace);
                    for (i, word) in t.split_whitespace().enumerate() {
                        if i > 0 {
                            collapsed.push(' ');
                        }
                        collapsed.push_str(word);
                    }
                    if collapsed.is_empty() {
                        if !t.is_empty() && !text.is_empty() && !text.ends_with([' ', '\n', '\t']) {
                            text.push(' ');
                        }
                        continue;
                    }
                    if starts_space && !text.is_empty() && !text.ends_with([' ', '\n', '\t']) {
                        text.push(' ');
                    }
                    text.push_str(&collapsed);
                    if ends_space {
                        text.push(' ');
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                if let Node::Element(element) = node.value() {
                    let name = element.name();
                    if hidden_depth > 0 {
                        hidden_depth -= 1;
                        continue;
                    }
                    if name == "pre" {
                        pre_depth = pre_depth.saturating_sub(1);
                    }
                    if BLOCKS.contains(&name) {
                        newline(&mut text);
                        // Paragraph-like blocks end with a blank line, as in
                        // plain text, so that they count as paragraphs.
                        if PARAGRAPHS.contains(&name) && !text.is_empty() && !text.ends_with("\n\n") {
                            text.push('\n');
                        }
                    }
                }
            }
        }
    }
    let trimmed = text.trim_end().len();
    text.truncate(trimmed);
    (text, links, headings)
}

/// The warning for a table cut at [`crate::structure::MAX_TABLE_ROWS`].
pub(super) fn table_cut_warning() -> String {
    format!("truncated: tables in the Markdown cut at {} rows", crate::structure::MAX_TABLE_ROWS)
}
