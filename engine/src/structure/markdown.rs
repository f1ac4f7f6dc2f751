//! Blocks to Markdown: CommonMark, with GFM pipe tables and footnotes.
//! Headings keep their levels, list items their nesting and kind, tables
//! get a header row, links and emphasis are kept; text is escaped so that
//! nothing in it reads as markup. Footnotes come last.

use super::{Block, Inline, Style};

/// Renders the blocks; stops (and says so by returning `true`) once the
/// output passes `max_bytes`.
pub fn render(blocks: &[Block], max_bytes: usize) -> (String, bool) {
    let mut out = String::new();
    // Ordered item numbers per depth, and the indent of each depth's
    // content (the width of its parents' markers).
    let mut numbers = [0u32; super::MAX_LIST_DEPTH as usize + 1];
    let mut indents = [0usize; super::MAX_LIST_DEPTH as usize + 2];
    let mut in_list = false;
    let mut footnotes = Vec::new();
    for block in blocks {
        if out.len() > max_bytes {
            out.truncate(floor_char_boundary(&out, max_bytes));
            return (out, true);
        }
        let is_item = matches!(block, Block::Item { .. });
        if in_list && !is_item {
            out.push('\n');
            numbers = [0; super::MAX_LIST_DEPTH as usize + 1];
        }
        in_list = is_item;
        match block {
            Block::Heading { level, content } => {
                for _ in 0..*level {
                    out.push('#');
                }
                out.push(' ');
                out.push_str(inline_line(content).trim());
                out.push_str("\n\n");
            }
            Block::Paragraph(content) => {
                out.push_str(&inlines(content, false));
                out.push_str("\n\n");
            }
            Block::Item { ordered, depth, content } => {
                let depth = (*depth).min(super::MAX_LIST_DEPTH) as usize;
                for number in &mut numbers[depth + 1..] {
                    *number = 0;
                }
                let indent = indents[depth];
                let marker = if *ordered {
                    numbers[depth] += 1;
                    format!("{}. ", numbers[depth])
                } else {
                    numbers[depth] = 0;
                    "- ".to_owned()
                };
                indents[depth + 1] = indent + marker.len();
                push_indent(&mut out, indent);
                out.push_str(&marker);
                let text = inlines(content, false);
                for (i, line) in text.split('\n').enumerate() {
                    if i > 0 {
                        out.push('\n');
                        push_indent(&mut out, indent + marker.len());
                    }
                    out.push_str(line);
                }
                out.push('\n');
            }
            Block::Table(rows) => table(&mut out, rows),
            Block::Code(text) => {
                let mut fence = "```".to_owned();
                while text.contains(&fence) {
                    fence.push('`');
                }
                out.push_str(&fence);
                out.push('\n');
                out.push_str(text);
                out.push('\n');
                out.push_str(&fence);
                out.push_str("\n\n");
            }
            Block::Footnote { label, content } => footnotes.push((label, content)),
        }
    }
    if in_list {
        out.push('\n');
    }
    for (label, content) in footnotes {
        out.push_str(&format!("[^{}]: {}\n\n", footnote_label(label), inline_line(content)));
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    if !out.is_empty() {
        out.push('\n');
    }
    let cut = out.len() > max_bytes;
    if cut {
        out.truncate(floor_char_boundary(&out, max_bytes));
    }
    (out, cut)
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn push_indent(out: &mut String, width: usize) {
    for _ in 0..width {
        out.push(' ');
    }
}

fn table(out: &mut String, rows: &[Vec<Vec<Inline>>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
    for (i, row) in rows.iter().enumerate() {
        out.push('|');
        for column in 0..columns {
            // Text has its pipes escaped already.
            let cell = row.get(column).map(|cell| inline_line(cell)).unwrap_or_default();
            out.push(' ');
            out.push_str(cell.trim());
            out.push_str(" |");
        }
        out.push('\n');
        if i == 0 {
            out.push('|');
            for _ in 0..columns {
                out.push_str(" --- |");
            }
            out.push('\n');
        }
    }
    out.push('\n');
}

/// Inline content on one line (headings, cells, footnotes): breaks become
/// spaces.
fn inline_line(content: &[Inline]) -> String {
    inlines(content, true)
}

/// Inline content as Markdown. Runs of one style are merged, emphasis
/// markers are put around the text without its outer spaces (CommonMark
/// does not open emphasis before a space), and links wrap their runs.
fn inlines(content: &[Inline], one_line: bool) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < content.len() {
        match &content[i] {
            Inline::Break if one_line => out.push(' '),
            Inline::Break => out.push_str("\\\n"),
            Inline::FootnoteRef(label) => out.push_str(&format!("[^{}]", footnote_label(label))),
            Inline::Text(_, style) => {
                // The runs of one link together.
                let link = style.link.clone();
                let mut j = i;
                let mut inner = String::new();
                while let Some(Inline::Text(text, style)) = content.get(j) {
                    if style.link != link {
                        break;
                    }
                    // Merge following runs of the same marks.
                    let mut merged = text.clone();
                    while let Some(Inline::Text(next, next_style)) = content.get(j + 1) {
                        if next_style != style {
                            break;
                        }
                        merged.push_str(next);
                        j += 1;
                    }
                    let at_line_start = (out.is_empty() || out.ends_with('\n')) && inner.is_empty();
                    styled(&mut inner, &merged, style, at_line_start);
                    j += 1;
                }
                match link.as_deref().filter(|url| safe_url(url)) {
                    Some(url) if !inner.trim().is_empty() => {
                        let (lead, rest) = split_outer_spaces(&inner);
                        let (body, trail) = (rest.trim_end(), &rest[rest.trim_end().len()..]);
                        out.push_str(lead);
                        out.push('[');
                        out.push_str(body);
                        out.push_str("](");
                        out.push_str(&link_destination(url));
                        out.push(')');
                        out.push_str(trail);
                    }
                    _ => out.push_str(&inner),
                }
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out
}

fn split_outer_spaces(text: &str) -> (&str, &str) {
    let lead = text.len() - text.trim_start().len();
    text.split_at(lead)
}

fn styled(out: &mut String, text: &str, style: &Style, at_line_start: bool) {
    let (lead, rest) = split_outer_spaces(text);
    let body = rest.trim_end();
    let trail = &rest[body.len()..];
    out.push_str(lead);
    if body.is_empty() {
        out.push_str(trail);
        return;
    }
    if style.code {
        let mut ticks = "`".to_owned();
        while body.contains(&ticks) {
            ticks.push('`');
        }
        let pad = if body.starts_with('`') || body.ends_with('`') { " " } else { "" };
        out.push_str(&format!("{ticks}{pad}{body}{pad}{ticks}"));
    } else {
        let marker = match (style.bold, style.italic) {
            (true, true) => "***",
            (true, false) => "**",
            (false, true) => "*",
            (false, false) => "",
        };
        out.push_str(marker);
        escape(out, body, at_line_start && lead.is_empty() && marker.is_empty());
        out.push_str(marker);
    }
    out.push_str(trail);
}

/// Link targets that may be rendered as links: no script URLs.
fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    let script = ["javascript:", "vbscript:", "data:"].iter().any(|scheme| lower.starts_with(scheme));
    !script && !lower.is_empty()
}

/// A link destination: in angle brackets when it holds spaces or
/// parentheses, with those brackets escaped.
fn link_destination(url: &str) -> String {
    // A pipe would end a table cell even inside a link.
    let url = url.trim().replace('|', "%7C");
    let url = url.as_str();
    if url.contains([' ', '(', ')', '<', '>', '\n']) {
        let escaped = url.replace('\n', "").replace('<', "\\<").replace('>', "\\>");
        format!("<{escaped}>")
    } else {
        url.to_owned()
    }
}

/// Footnote labels are kept to characters that cannot end or break one.
fn footnote_label(label: &str) -> String {
    let cleaned: String = label.chars().filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_')).collect();
    if cleaned.is_empty() {
        "note".into()
    } else {
        cleaned
    }
}

/// Escapes what Markdown would read as markup: inline punctuation anywhere,
/// and block markers (`#`, `-`, `+`, `>`, `1.`) at the start of a line.
fn escape(out: &mut String, text: &str, at_line_start: bool) {
    let mut line_start = at_line_start;
    let mut digits = String::new();
    for c in text.chars() {
        if line_start {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            if !digits.is_empty() {
                out.push_str(&digits);
                digits.clear();
                if matches!(c, '.' | ')') {
                    out.push('\\');
                }
            } else if matches!(c, '#' | '-' | '+' | '=' | '~') {
                out.push('\\');
            }
            line_start = false;
        }
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '|') {
            out.push('\\');
        }
        out.push(c);
        if c == '\n' {
            line_start = true;
        }
    }
    out.push_str(&digits);
}
