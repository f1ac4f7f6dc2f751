//! XLSX cell comments, read with their sheet: current Excel's threaded
//! comments where a sheet has them, else its notes (legacy comments); then
//! the words of the sheet's charts.

use std::collections::HashMap;

use super::office::relationships;
use super::xmltext::{attribute, walk, Node};
use super::zipsafe::Container;

/// Each sheet's comments in the order its parts list them, then its charts'
/// words, by sheet name.
/// A sheet with threaded comments has legacy copies of them too, which
/// only tell old versions of Excel that they cannot show them: those are
/// not read.
pub fn sheet_comments(container: &mut Container<'_>) -> HashMap<String, Vec<String>> {
    let mut found = HashMap::new();
    let Some(workbook) = container.read_text("xl/workbook.xml") else { return found };
    let targets = relationships(container, "xl/_rels/workbook.xml.rels", "xl");
    let mut sheets: Vec<(String, String)> = Vec::new();
    let _ = walk(&workbook, |node| {
        if let Node::Open { name: "sheet", attributes } = node {
            let (Some(name), Some(id)) = (attribute(attributes, "name"), attribute(attributes, "id")) else { return };
            if let Some(target) = targets.iter().find(|r| r.id == id) {
                sheets.push((name.to_owned(), target.target.clone()));
            }
        }
    });
    for (name, part) in sheets {
        let (folder, file) = part.rsplit_once('/').unwrap_or(("", &part));
        let rels = relationships(container, &format!("{folder}/_rels/{file}.rels"), folder);
        let threaded: Vec<&str> =
            rels.iter().filter(|r| r.kind.ends_with("/threadedComment")).map(|r| r.target.as_str()).collect();
        let parts = if threaded.is_empty() {
            rels.iter().filter(|r| r.kind.ends_with("/comments")).map(|r| r.target.as_str()).collect()
        } else {
            threaded
        };
        let mut comments = Vec::new();
        for part in parts {
            if let Some(xml) = container.read_text(part) {
                read_comments(&xml, &mut comments);
            }
        }
        // The words of the sheet's charts (titles, series, labels) after its
        // comments.
        for chart in super::chart::charts_under(container, &part) {
            if let Some(xml) = container.read_text(&chart) {
                comments.extend(super::chart::chart_lines(&xml));
            }
        }
        if !comments.is_empty() {
            found.insert(name, comments);
        }
    }
    found
}

/// The text of each `comment` (legacy: runs in its `text`) or
/// `threadedComment` (its `text`), but for phonetic readings (`rPh`).
fn read_comments(xml: &str, comments: &mut Vec<String>) {
    let (mut current, mut text_depth, mut phonetic_depth) = (String::new(), 0usize, 0usize);
    let _ = walk(xml, |node| match node {
        Node::Open { name: "text", .. } => text_depth += 1,
        Node::Close { name: "text" } => text_depth = text_depth.saturating_sub(1),
        Node::Open { name: "rPh", .. } => phonetic_depth += 1,
        Node::Close { name: "rPh" } => phonetic_depth = phonetic_depth.saturating_sub(1),
        Node::Close { name: "comment" | "threadedComment" } => {
            let comment = current.split_whitespace().collect::<Vec<_>>().join(" ");
            if !comment.is_empty() {
                comments.push(comment);
            }
            current.clear();
        }
        Node::Text(text) if text_depth > 0 && phonetic_depth == 0 => current.push_str(text),
        _ => {}
    });
}
