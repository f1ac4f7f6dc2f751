//! The block model of PowerPoint slides: the title placeholder as a
//! heading, content placeholders' paragraphs as list items at their level,
//! tables, links, bold and italic; a notes slide as one paragraph.

use std::collections::HashMap;

use super::xmltext::{attribute, walk, Node};
use crate::structure::{Block, Builder, Kind, Style};

/// What a PowerPoint shape holds, by its placeholder type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SlideShape {
    /// A slide title: one heading.
    Title,
    /// A content placeholder: its paragraphs are list items.
    Body,
    /// Any other text (text boxes, subtitles, footers): paragraphs.
    Other,
}

/// The blocks of one slide (`notes` false) or of its notes slide (`notes`
/// true: only the notes placeholder's text, as one paragraph led by
/// "Notes:"). `links` are the part's external relationship targets.
pub fn pptx_part(xml: &str, links: &HashMap<String, String>, notes: bool, builder: &mut Builder) {
    let mut fallback_depth = 0usize;
    let mut shape = SlideShape::Other;
    let mut in_shape = false;
    let (mut level, mut numbered, mut bulleted) = (0u8, false, true);
    let mut style = Style::default();
    let mut in_text = false;
    let mut in_run_properties = false;
    let mut notes_builder = Builder::default();
    let _ = walk(xml, |node| {
        let wanted = !notes || shape == SlideShape::Body;
        let target: &mut Builder = if notes { &mut notes_builder } else { builder };
        match node {
            Node::Open { name: "Fallback", .. } => fallback_depth += 1,
            Node::Close { name: "Fallback" } => fallback_depth = fallback_depth.saturating_sub(1),
            _ if fallback_depth > 0 => {}
            Node::Open { name, attributes } => match name {
                "sp" => {
                    in_shape = true;
                    shape = SlideShape::Other;
                }
                "ph" if in_shape => {
                    shape = match attribute(attributes, "type") {
                        Some("title" | "ctrTitle") => SlideShape::Title,
                        None | Some("body" | "obj") => SlideShape::Body,
                        Some(_) => SlideShape::Other,
                    };
                    if shape == SlideShape::Title && !notes {
                        target.start(Kind::Heading(1));
                    }
                }
                "p" => {
                    (level, numbered, bulleted) = (0, false, true);
                    if shape == SlideShape::Title || (notes && wanted) {
                        target.text(" ", &Style::default());
                    }
                }
                "pPr" => level = attribute(attributes, "lvl").and_then(|l| l.parse().ok()).unwrap_or(0),
                "buAutoNum" => numbered = true,
                "buNone" => bulleted = false,
                "r" => style = Style::default(),
                "rPr" => {
                    in_run_properties = true;
                    style.bold = attribute(attributes, "b").is_some_and(|b| b == "1" || b == "true");
                    style.italic = attribute(attributes, "i").is_some_and(|i| i == "1" || i == "true");
                }
                "hlinkClick" if in_run_properties => {
                    style.link = attribute(attributes, "id").and_then(|id| links.get(id).cloned());
                }
                "t" => in_text = true,
                "br" if wanted => target.line_break(),
                "tbl" if !notes => target.start_table(),
                "tr" if !notes => target.start_row(),
                "tc" if !notes => target.start_cell(),
                _ => {}
            },
            Node::Close { name } => match name {
                "sp" => {
                    if shape == SlideShape::Title && !notes {
                        target.flush();
                    }
                    in_shape = false;
                    shape = SlideShape::Other;
                }
                "p" if !notes && shape != SlideShape::Title => {
                    let kind = if shape == SlideShape::Body && (bulleted || numbered) {
                        Kind::Item { ordered: numbered, depth: level }
                    } else {
                        Kind::Paragraph
                    };
                    target.set_kind(kind);
                    target.flush();
                }
                "rPr" => in_run_properties = false,
                "t" => in_text = false,
                "tc" if !notes => target.end_cell(),
                "tr" if !notes => target.end_row(),
                "tbl" if !notes => target.end_table(),
                _ => {}
            },
            Node::Text(text) if in_text && wanted => target.text(text, &style),
            Node::Text(_) => {}
        }
    });
    if notes {
        let mut content = notes_builder.take_inlines();
        crate::structure::trim_inlines(&mut content);
        if !content.is_empty() {
            let bold = Style { bold: true, ..Style::default() };
            let mut paragraph = vec![crate::structure::Inline::Text("Notes:".into(), bold)];
            paragraph.push(crate::structure::Inline::Text(" ".into(), Style::default()));
            paragraph.extend(content);
            builder.flush();
            builder.blocks.push(Block::Paragraph(paragraph));
        }
    }
}
