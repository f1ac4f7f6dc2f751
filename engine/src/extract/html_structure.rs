//! The block model of a parsed HTML page (and of EPUB chapters): headings
//! h1–h6, lists with their nesting, tables, preformatted code, links and
//! emphasis, from the same tree the visible text is read from.

use ego_tree::iter::Edge;
use scraper::{Html, Node};

use super::markup::{BLOCKS, HIDDEN};
use crate::structure::{Builder, Kind, Style};

/// Feeds the page's visible content to `builder`.
pub fn blocks(document: &Html, builder: &mut Builder) {
    let mut hidden_depth = 0usize;
    // Open lists, innermost last: whether each is ordered.
    let mut lists: Vec<bool> = Vec::new();
    let (mut bold, mut italic, mut code) = (0usize, 0usize, 0usize);
    let mut links: Vec<Option<String>> = Vec::new();
    let mut pre_depth = 0usize;
    let mut pre_text = String::new();
    let style = |bold: usize, italic: usize, code: usize, links: &[Option<String>]| Style {
        bold: bold > 0,
        italic: italic > 0,
        code: code > 0,
        link: links.iter().rev().find_map(Clone::clone),
    };
    for edge in document.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Element(element) => {
                    let name = element.name();
                    if HIDDEN.contains(&name) {
                        hidden_depth += 1;
                        continue;
                    }
                    if hidden_depth > 0 {
                        continue;
                    }
                    if pre_depth > 0 {
                        if name == "pre" {
                            pre_depth += 1;
                        } else if name == "br" {
                            pre_text.push('\n');
                        }
                        continue;
                    }
                    match name {
                        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                            builder.start(Kind::Heading(name.as_bytes()[1] - b'0'));
                        }
                        "ul" | "ol" | "menu" => {
                            builder.flush();
                            lists.push(name == "ol");
                        }
                        "li" => {
                            let ordered = lists.last().copied().unwrap_or(false);
                            let depth = lists.len().saturating_sub(1).min(u8::MAX as usize) as u8;
                            builder.start(Kind::Item { ordered, depth });
                        }
                        "table" => builder.start_table(),
                        "tr" => builder.start_row(),
                        "td" | "th" => builder.start_cell(),
                        "pre" => {
                            pre_depth = 1;
                            pre_text.clear();
                        }
                        "br" => builder.line_break(),
                        "strong" | "b" => bold += 1,
                        "em" | "i" => italic += 1,
                        "code" | "kbd" | "samp" | "tt" => code += 1,
                        "a" => links.push(element.attr("href").map(str::to_owned)),
                        _ if BLOCKS.contains(&name) => builder.flush(),
                        _ => {}
                    }
                }
                Node::Text(text) if hidden_depth == 0 => {
                    if pre_depth > 0 {
                        pre_text.push_str(text);
                    } else {
                        builder.text(text, &style(bold, italic, code, &links));
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                let Node::Element(element) = node.value() else { continue };
                let name = element.name();
                if HIDDEN.contains(&name) {
                    hidden_depth = hidden_depth.saturating_sub(1);
                    continue;
                }
                if hidden_depth > 0 {
                    continue;
                }
                if pre_depth > 0 {
                    if name == "pre" {
                        pre_depth -= 1;
                        if pre_depth == 0 {
                            builder.code(&pre_text);
                        }
                    }
                    continue;
                }
                match name {
                    "ul" | "ol" | "menu" => {
                        builder.flush();
                        lists.pop();
                    }
                    "td" | "th" => builder.end_cell(),
                    "tr" => builder.end_row(),
                    "table" => builder.end_table(),
                    "strong" | "b" => bold = bold.saturating_sub(1),
                    "em" | "i" => italic = italic.saturating_sub(1),
                    "code" | "kbd" | "samp" | "tt" => code = code.saturating_sub(1),
                    "a" => {
                        links.pop();
                    }
                    _ if BLOCKS.contains(&name) => builder.flush(),
                    _ => {}
                }
            }
        }
    }
}
