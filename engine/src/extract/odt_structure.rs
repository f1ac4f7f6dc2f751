//! The block model of an OpenDocument text: headings (`text:h` and outline
//! levels of paragraph styles), lists with their list style's kind per
//! level, tables (covered cells left empty), links, bold and italic from
//! text styles, notes at the end.

use std::collections::HashMap;

use super::xmltext::{attribute, walk, Node};
use crate::structure::{Block, Builder, Kind, Style};

/// What OpenDocument styles say: text styles' bold and italic, list styles'
/// kind per level (ordered or not), paragraph styles' outline level.
#[derive(Default)]
struct OdfStyles {
    text: HashMap<String, (bool, bool)>,
    lists: HashMap<(String, u8), bool>,
    outline: HashMap<String, u8>,
}

fn odf_styles(xml: &str, styles: &mut OdfStyles) {
    let mut current: Option<(String, String)> = None;
    let mut list: Option<String> = None;
    let _ = walk(xml, |node| match node {
        Node::Open { name: "style", attributes } => {
            let style_name = attribute(attributes, "name").unwrap_or_default().to_owned();
            let family = attribute(attributes, "family").unwrap_or_default().to_owned();
            if family == "paragraph" {
                if let Some(level) = attribute(attributes, "default-outline-level").and_then(|l| l.parse().ok()) {
                    styles.outline.insert(style_name.clone(), level);
                }
            }
            current = Some((style_name, family));
        }
        Node::Open { name: "text-properties", attributes } => {
            if let Some((style_name, family)) = &current {
                if family == "text" {
                    let bold = attribute(attributes, "font-weight")
                        .is_some_and(|w| w == "bold" || w.parse::<u32>().is_ok_and(|w| w >= 600));
                    let italic = attribute(attributes, "font-style").is_some_and(|s| s == "italic" || s == "oblique");
                    styles.text.insert(style_name.clone(), (bold, italic));
                }
            }
        }
        Node::Close { name: "style" } => current = None,
        Node::Open { name: "list-style", attributes } => list = attribute(attributes, "name").map(str::to_owned),
        Node::Close { name: "list-style" } => list = None,
        Node::Open { name: kind @ ("list-level-style-number" | "list-level-style-bullet"), attributes } => {
            if let (Some(list), Some(level)) = (&list, attribute(attributes, "level").and_then(|l| l.parse().ok())) {
                styles.lists.insert((list.clone(), level), kind == "list-level-style-number");
            }
        }
        _ => {}
    });
}

/// The blocks of an OpenDocument text (`content.xml`, with `styles.xml`
/// for the named styles).
pub fn odt_blocks(content: &str, named_styles: Option<&str>) -> Vec<Block> {
    let mut styles = OdfStyles::default();
    if let Some(xml) = named_styles {
        odf_styles(xml, &mut styles);
    }
    odf_styles(content, &mut styles);
    let mut builder = Builder::default();
    let mut in_body = false;
    // Open lists: their style name (inherited from the enclosing list).
    let mut lists: Vec<Option<String>> = Vec::new();
    let mut item_pending = false;
    let mut spans: Vec<(bool, bool)> = Vec::new();
    let mut link: Option<String> = None;
    let mut note: Option<(String, Builder)> = None;
    let mut in_citation = false;
    let (mut skip_depth, mut annotation_depth) = (0usize, 0usize);
    let mut notes: Vec<(String, Vec<crate::structure::Inline>)> = Vec::new();
    let style_now = |spans: &[(bool, bool)], link: &Option<String>| Style {
        bold: spans.iter().any(|s| s.0),
        italic: spans.iter().any(|s| s.1),
        code: false,
        link: link.clone(),
    };
    let _ = walk(content, |node| {
        let target = match note.as_mut() {
            Some((_, note_builder)) if !in_citation => note_builder,
            _ => &mut builder,
        };
        match node {
            Node::Open { name: "body", .. } => in_body = true,
            Node::Close { name: "body" } => in_body = false,
            _ if !in_body => {}
            // The tracked changes' record: deleted text, who changed what
            // when. A ruby's reading and a comment's author and date are no
            // text either.
            Node::Open { name, .. }
                if matches!(name, "tracked-changes" | "ruby-text")
                    || (annotation_depth > 0 && matches!(name, "creator" | "date")) =>
            {
                skip_depth += 1
            }
            Node::Close { name }
                if matches!(name, "tracked-changes" | "ruby-text")
                    || (annotation_depth > 0 && matches!(name, "creator" | "date")) =>
            {
                skip_depth = skip_depth.saturating_sub(1)
            }
            _ if skip_depth > 0 => {}
            Node::Open { name: "annotation", .. } => annotation_depth += 1,
            Node::Close { name: "annotation" } => annotation_depth = annotation_depth.saturating_sub(1),
            Node::Open { name, attributes } => match name {
                "h" => {
                    let level = attribute(attributes, "outline-level").and_then(|l| l.parse().ok()).unwrap_or(1u8);
                    item_pending = false;
                    target.start(Kind::Heading(level.clamp(1, 6)));
                }
                "p" => {
                    let kind = if std::mem::take(&mut item_pending) {
                        let depth = lists.len().saturating_sub(1);
                        let style = lists.iter().rev().find_map(Clone::clone).unwrap_or_default();
                        let ordered = styles.lists.get(&(style, depth as u8 + 1)).copied().unwrap_or(false);
                        Kind::Item { ordered, depth: depth.min(u8::MAX as usize) as u8 }
                    } else {
                        match attribute(attributes, "style-name").and_then(|s| styles.outline.get(s)) {
                            Some(level) => Kind::Heading((*level).clamp(1, 6)),
                            None => Kind::Paragraph,
                        }
                    };
                    target.start(kind);
                }
                "list" => {
                    target.flush();
                    let style = attribute(attributes, "style-name").map(str::to_owned);
                    let inherited = style.or_else(|| lists.last().cloned().flatten());
                    lists.push(inherited);
                }
                "list-item" | "list-header" => item_pending = true,
                "span" => {
                    let marks = attribute(attributes, "style-name").and_then(|s| styles.text.get(s)).copied();
                    spans.push(marks.unwrap_or((false, false)));
                }
                "a" => link = attribute(attributes, "href").map(str::to_owned),
                "tab" | "s" => target.text(" ", &style_now(&spans, &link)),
                "line-break" => target.line_break(),
                "table" => target.start_table(),
                "table-row" => target.start_row(),
                "table-cell" => target.start_cell(),
                "covered-table-cell" => target.empty_cell(),
                "note" => note = Some((String::new(), Builder::default())),
                "note-citation" => in_citation = true,
                _ => {}
            },
            Node::Close { name } => match name {
                "h" | "p" => target.flush(),
                "list" => {
                    target.flush();
                    lists.pop();
                }
                "span" => {
                    spans.pop();
                }
                "a" => link = None,
                "table-cell" => target.end_cell(),
                "table-row" => target.end_row(),
                "table" => target.end_table(),
                "note-citation" => in_citation = false,
                "note" => {
                    if let Some((label, mut note_builder)) = note.take() {
                        note_builder.flush();
                        let content: Vec<crate::structure::Inline> = note_builder
                            .finish()
                            .into_iter()
                            .flat_map(|block| match block {
                                Block::Paragraph(content) => content,
                                _ => Vec::new(),
                            })
                            .collect();
                        builder.footnote_ref(&label);
                        notes.push((label, content));
                    }
                }
                _ => {}
            },
            Node::Text(text) if in_citation => {
                if let Some((label, _)) = note.as_mut() {
                    label.push_str(text.trim());
                }
            }
            Node::Text(text) => target.text(text, &style_now(&spans, &link)),
        }
    });
    for (label, content) in notes {
        builder.footnote(&label, content);
    }
    builder.finish()
}
