//! The block model of Word documents: headings from
//! paragraph styles and outline levels, lists from numbering definitions
//! (bullet or ordered, with their level), tables (a merged cell's other
//! columns left empty), hyperlinks, bold and italic, footnotes at the end.

use std::collections::HashMap;

use super::xmltext::{attribute, walk, Node};
use super::zipsafe::Container;
use crate::structure::{Block, Builder, Kind, Style};

/// Steps followed up a chain of `basedOn` styles; real style sheets nest a
/// few, a loop in a damaged one must end.
const MAX_STYLE_CHAIN: usize = 16;

/// What a Word paragraph style says about structure.
#[derive(Default, Clone)]
struct WordStyle {
    name: String,
    based_on: Option<String>,
    outline: Option<u8>,
    numbering: Option<(String, u8)>,
}

/// Heading level of a style name such as `heading 2` or `Title`.
pub(super) fn level_of_name(name: &str) -> Option<u8> {
    let lower = name.trim().to_ascii_lowercase();
    if lower == "title" {
        return Some(1);
    }
    let level: u8 = lower.strip_prefix("heading")?.trim().parse().ok()?;
    (1..=6).contains(&level).then_some(level)
}

/// The list level Word's built-in list styles carry in their name: `List
/// Bullet 2` is a second-level bullet, whatever its numbering level says.
pub(super) fn list_level_of_name(name: &str) -> Option<u8> {
    let lower = name.trim().to_ascii_lowercase();
    let rest = lower.strip_prefix("list bullet").or_else(|| lower.strip_prefix("list number"))?;
    let level: u8 = rest.trim().parse().ok()?;
    (2..=9).contains(&level).then(|| level - 1)
}

fn word_styles(xml: &str) -> HashMap<String, WordStyle> {
    let mut styles = HashMap::new();
    let mut current: Option<(String, WordStyle)> = None;
    let _ = walk(xml, |node| match node {
        Node::Open { name: "style", attributes } => {
            let paragraph = attribute(attributes, "type").is_none_or(|kind| kind == "paragraph");
            current = match (paragraph, attribute(attributes, "styleId")) {
                (true, Some(id)) => Some((id.to_owned(), WordStyle::default())),
                _ => None,
            };
        }
        Node::Open { name, attributes } => {
            let Some((_, style)) = current.as_mut() else { return };
            let value = attribute(attributes, "val").unwrap_or_default();
            match name {
                "name" => style.name = value.to_owned(),
                "basedOn" => style.based_on = Some(value.to_owned()),
                "outlineLvl" => style.outline = value.parse().ok(),
                "numId" => style.numbering = Some((value.to_owned(), style.numbering.as_ref().map_or(0, |n| n.1))),
                "ilvl" => {
                    let id = style.numbering.as_ref().map(|n| n.0.clone()).unwrap_or_default();
                    style.numbering = Some((id, value.parse().unwrap_or(0)));
                }
                _ => {}
            }
        }
        Node::Close { name: "style" } => {
            if let Some((id, style)) = current.take() {
                styles.insert(id, style);
            }
        }
        _ => {}
    });
    styles
}

/// `(numId, level)` → ordered, from `numbering.xml`.
fn word_numbering(xml: &str) -> HashMap<(String, u8), bool> {
    let mut abstract_levels: HashMap<String, HashMap<u8, bool>> = HashMap::new();
    let mut nums: Vec<(String, String)> = Vec::new();
    let (mut abstract_id, mut level, mut num_id) = (None::<String>, 0u8, None::<String>);
    let _ = walk(xml, |node| match node {
        Node::Open { name, attributes } => match name {
            "abstractNum" => abstract_id = attribute(attributes, "abstractNumId").map(str::to_owned),
            "lvl" => level = attribute(attributes, "ilvl").and_then(|l| l.parse().ok()).unwrap_or(0),
            "numFmt" => {
                if let Some(id) = &abstract_id {
                    let format = attribute(attributes, "val").unwrap_or("decimal");
                    let ordered = !matches!(format, "bullet" | "none");
                    abstract_levels.entry(id.clone()).or_default().insert(level, ordered);
                }
            }
            "num" => num_id = attribute(attributes, "numId").map(str::to_owned),
            "abstractNumId" => {
                if let (Some(num), Some(target)) = (&num_id, attribute(attributes, "val")) {
                    nums.push((num.clone(), target.to_owned()));
                }
            }
            _ => {}
        },
        Node::Close { name: "abstractNum" } => abstract_id = None,
        Node::Close { name: "num" } => num_id = None,
        _ => {}
    });
    let mut out = HashMap::new();
    for (num, target) in nums {
        for (level, ordered) in abstract_levels.get(&target).into_iter().flatten() {
            out.insert((num.clone(), *level), *ordered);
        }
    }
    out
}

/// The parts of a Word document its structure needs.
struct WordParts<'a> {
    pub document: &'a str,
    pub styles: Option<String>,
    pub numbering: Option<String>,
    /// Relationship id → target URL (hyperlinks).
    pub links: HashMap<String, String>,
    pub footnotes: Option<String>,
    pub endnotes: Option<String>,
    /// SmartArt diagrams' data parts, which hold their text.
    pub diagrams: Vec<String>,
}

/// One paragraph's properties, gathered as its `pPr` is read.
#[derive(Default)]
struct Paragraph {
    style: Option<String>,
    outline: Option<u8>,
    num_id: Option<String>,
    level: Option<u8>,
}

/// The blocks of a Word document whose body is `document`, then of its
/// SmartArt diagrams' data parts (`diagrams`), then of its footnotes and endnotes.
pub fn docx_blocks(
    container: &mut Container<'_>,
    document: &str,
    diagrams: &[String],
    warnings: &mut Vec<String>,
) -> Vec<Block> {
    let parts = WordParts {
        document,
        diagrams: diagrams.iter().filter_map(|part| container.read_text(part)).collect(),
        styles: container.read_text("word/styles.xml"),
        numbering: container.read_text("word/numbering.xml"),
        links: container
            .read_text("word/_rels/document.xml.rels")
            .map(|rels| external_targets(&rels))
            .unwrap_or_default(),
        footnotes: container.read_text("word/footnotes.xml"),
        endnotes: container.read_text("word/endnotes.xml"),
    };
    let mut builder = Builder::default();
    docx(&parts, &mut builder);
    if builder.tables_cut {
        warnings.push(super::html::table_cut_warning());
    }
    builder.finish()
}

fn docx(parts: &WordParts<'_>, builder: &mut Builder) {
    let styles = parts.styles.as_deref().map(word_styles).unwrap_or_default();
    let numbering = parts.numbering.as_deref().map(word_numbering).unwrap_or_default();
    // A style's heading level and numbering, following `basedOn`.
    let resolve = |id: &str| -> (Option<u8>, Option<(String, u8)>) {
        let (mut level, mut number) = (None, None);
        let mut at = styles.get(id);
        for _ in 0..MAX_STYLE_CHAIN {
            let Some(style) = at else { break };
            level = level.or_else(|| level_of_name(&style.name)).or(style.outline.filter(|o| *o < 6).map(|o| o + 1));
            number = number.or_else(|| {
                let (id, level) = style.numbering.clone()?;
                Some((id, list_level_of_name(&style.name).unwrap_or(level)))
            });
            at = style.based_on.as_deref().and_then(|base| styles.get(base));
        }
        (level, number)
    };
    let kind_of = |paragraph: &Paragraph| -> Kind {
        let (style_level, style_number) = paragraph.style.as_deref().map(resolve).unwrap_or_default();
        if let Some(level) = paragraph.outline.filter(|o| *o < 6).map(|o| o + 1).or(style_level) {
            return Kind::Heading(level);
        }
        let number = match (&paragraph.num_id, style_number) {
            (Some(id), style) => Some((id.clone(), paragraph.level.or(style.map(|s| s.1)).unwrap_or(0))),
            (None, Some((id, level))) => Some((id, paragraph.level.unwrap_or(level))),
            (None, None) => None,
        };
        match number {
            Some((id, level)) if id != "0" => {
                Kind::Item { ordered: numbering.get(&(id.clone(), level)).copied().unwrap_or(false), depth: level }
            }
            _ => Kind::Paragraph,
        }
    };
    word_body(parts.document, &parts.links, builder, &kind_of);
    for diagram in &parts.diagrams {
        word_body(diagram, &parts.links, builder, &kind_of);
    }
    for (part, prefix) in [(&parts.footnotes, ""), (&parts.endnotes, "e")] {
        if let Some(xml) = part {
            word_notes(xml, prefix, builder);
        }
    }
}

fn word_body(xml: &str, links: &HashMap<String, String>, builder: &mut Builder, kind_of: &dyn Fn(&Paragraph) -> Kind) {
    let mut fallback_depth = 0usize;
    let mut paragraph_depth = 0usize;
    let mut paragraph = Paragraph::default();
    let mut style = Style::default();
    let (mut in_text, mut in_run_properties) = (false, false);
    let mut span = 1usize;
    let mut runs = super::office::HiddenRuns::default();
    // What the text reader skips too: fallback copies, text a tracked change
    // moved away, ruby readings, hidden text.
    let _ = walk(xml, |node| match node {
        Node::Open { name: "Fallback" | "moveFrom" | "rt", .. } => fallback_depth += 1,
        Node::Close { name: "Fallback" | "moveFrom" | "rt" } => fallback_depth = fallback_depth.saturating_sub(1),
        _ if fallback_depth > 0 => {}
        Node::Open { name, attributes } if runs.open(name, attributes) && name != "r" => {}
        Node::Close { name } if runs.close(name) && name != "r" => {}
        Node::Open { name, .. } if runs.hidden() && name != "r" => {}
        Node::Open { name, attributes } => {
            let value = attribute(attributes, "val");
            let on = value.is_none_or(|v| !matches!(v, "0" | "false" | "off"));
            match name {
                "p" => {
                    paragraph_depth += 1;
                    if paragraph_depth == 1 {
                        paragraph = Paragraph::default();
                    } else {
                        builder.text(" ", &Style::default());
                    }
                }
                "pStyle" if paragraph_depth == 1 => paragraph.style = value.map(str::to_owned),
                "outlineLvl" if paragraph_depth == 1 => paragraph.outline = value.and_then(|v| v.parse().ok()),
                "numId" if paragraph_depth == 1 && !in_run_properties => paragraph.num_id = value.map(str::to_owned),
                "ilvl" if paragraph_depth == 1 => paragraph.level = value.and_then(|v| v.parse().ok()),
                "r" => {
                    style.bold = false;
                    style.italic = false;
                }
                "rPr" => in_run_properties = true,
                "b" if in_run_properties => style.bold = on,
                "i" if in_run_properties => style.italic = on,
                "t" => in_text = true,
                "tab" if !in_run_properties => builder.text(" ", &style),
                "noBreakHyphen" => builder.text("\u{2011}", &style),
                "br" | "cr" if attribute(attributes, "type").is_none_or(|kind| kind == "textWrapping") => {
                    builder.line_break()
                }
                "hyperlink" => {
                    style.link = attribute(attributes, "id")
                        .and_then(|id| links.get(id).cloned())
                        .or_else(|| attribute(attributes, "anchor").map(|anchor| format!("#{anchor}")));
                }
                "footnoteReference" => builder.footnote_ref(attribute(attributes, "id").unwrap_or_default()),
                "endnoteReference" => {
                    builder.footnote_ref(&format!("e{}", attribute(attributes, "id").unwrap_or_default()))
                }
                "tbl" => builder.start_table(),
                "tr" => builder.start_row(),
                "tc" => {
                    builder.start_cell();
                    span = 1;
                }
                "gridSpan" => span = value.and_then(|v| v.parse().ok()).unwrap_or(1).clamp(1, 64),
                _ => {}
            }
        }
        Node::Close { name } => match name {
            "p" => {
                paragraph_depth = paragraph_depth.saturating_sub(1);
                if paragraph_depth == 0 {
                    builder.set_kind(kind_of(&paragraph));
                    builder.flush();
                }
            }
            "rPr" => in_run_properties = false,
            "t" => in_text = false,
            "hyperlink" => style.link = None,
            "tc" => {
                builder.end_cell();
                for _ in 1..span {
                    builder.empty_cell();
                }
            }
            "tr" => builder.end_row(),
            "tbl" => builder.end_table(),
            _ => {}
        },
        Node::Text(text) if in_text && !runs.hidden() => builder.text(text, &style),
        Node::Text(_) => {}
    });
}

/// Footnotes (or endnotes) of their part, but for the separator lines Word
/// keeps among them.
fn word_notes(xml: &str, prefix: &str, builder: &mut Builder) {
    let mut notes: Vec<(String, Builder)> = Vec::new();
    let mut in_text = false;
    let _ = walk(xml, |node| match node {
        Node::Open { name: "footnote" | "endnote", attributes } => {
            let separator = attribute(attributes, "type").is_some_and(|kind| kind != "normal");
            if !separator {
                let id = attribute(attributes, "id").unwrap_or_default();
                notes.push((format!("{prefix}{id}"), Builder::default()));
            }
        }
        Node::Open { name: "t", .. } => in_text = true,
        Node::Close { name: "t" } => in_text = false,
        Node::Close { name: "p" } => {
            if let Some((_, note)) = notes.last_mut() {
                note.text(" ", &Style::default());
            }
        }
        Node::Text(text) if in_text => {
            if let Some((_, note)) = notes.last_mut() {
                note.text(text, &Style::default());
            }
        }
        _ => {}
    });
    for (label, mut note) in notes {
        builder.footnote(&label, note.take_inlines());
    }
}

/// External targets (hyperlinks) of a relationships part, by id.
pub fn external_targets(rels: &str) -> HashMap<String, String> {
    let mut targets = HashMap::new();
    let _ = walk(rels, |node| {
        if let Node::Open { name: "Relationship", attributes } = node {
            let external = attribute(attributes, "TargetMode").is_some_and(|mode| mode == "External");
            if let (true, Some(id), Some(target)) =
                (external, attribute(attributes, "Id"), attribute(attributes, "Target"))
            {
                targets.insert(id.to_owned(), target.to_owned());
            }
        }
    });
    targets
}
