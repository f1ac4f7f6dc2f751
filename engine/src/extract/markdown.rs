//! Markdown: the text without markup (link text kept, URLs dropped, code kept
//! as text); headings, links and code blocks counted; a title from YAML or
//! TOML front matter or the first level-one heading.

use pulldown_cmark::{Event, HeadingLevel, Options as Syntax, Parser, Tag, TagEnd};

use super::text::decode_text;
use super::{ExtractError, Extracted};
use crate::Options;

pub fn extract(bytes: &[u8], options: &Options) -> Result<Extracted, ExtractError> {
    let (source, encoding, warnings) = decode_text(bytes);
    let mut extracted = Extracted { warnings, ..Default::default() };
    extracted.set("encoding", encoding);
    let body = front_matter(&source, &mut extracted);
    let mut text = String::with_capacity(body.len());
    let (mut headings, mut links, mut code_blocks) = (0u64, 0u64, 0u64);
    let mut in_title = false;
    let mut title = String::new();
    // Set at the end of a list, which has already ended its last item's line:
    // the item holding a nested list then adds no newline of its own.
    let mut list_ended = false;
    let mut list_depth = 0usize;
    // GFM as the Markdown output reads it: without these, a table's pipes
    // and dashes, `~~` and `[ ]` would be left in the text as characters.
    let syntax =
        Syntax::ENABLE_TABLES | Syntax::ENABLE_FOOTNOTES | Syntax::ENABLE_STRIKETHROUGH | Syntax::ENABLE_TASKLISTS;
    for event in Parser::new_ext(body, syntax) {
        let after_list = std::mem::replace(&mut list_ended, false);
        // A tight list item's text is no paragraph, so nothing ends its line
        // before a nested list or block: start one here, or nested items
        // would run together ("alphabeta").
        if let Event::Start(
            Tag::Item
            | Tag::List(_)
            | Tag::BlockQuote(_)
            | Tag::CodeBlock(_)
            | Tag::Paragraph
            | Tag::Heading { .. }
            | Tag::Table(_),
        ) = event
        {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
        }
        match &event {
            Event::Start(Tag::List(_)) => list_depth += 1,
            Event::End(TagEnd::List(_)) => list_depth = list_depth.saturating_sub(1),
            _ => {}
        }
        match event {
            Event::End(TagEnd::List(_)) => {
                list_ended = true;
                if list_depth == 0 {
                    end_block(&mut text);
                }
            }
            Event::End(TagEnd::Table) => end_block(&mut text),
            Event::End(TagEnd::Item) if after_list => {}
            Event::Start(Tag::Heading { level, .. }) => {
                headings += 1;
                in_title = level == HeadingLevel::H1 && title.is_empty() && !extracted.metadata.contains_key("title");
            }
            Event::End(TagEnd::Heading(_)) => {
                in_title = false;
                end_block(&mut text);
            }
            Event::Start(Tag::Link { .. }) => links += 1,
            Event::Start(Tag::CodeBlock(_)) => code_blocks += 1,
            // A row's cells are separated by tabs; the last one by none.
            Event::End(TagEnd::TableRow | TagEnd::TableHead) => {
                if text.ends_with('\t') {
                    text.pop();
                }
                text.push('\n');
            }
            // Blocks are separated by a blank line, as in plain text, so
            // that they count as paragraphs; a list's items (and a loose
            // item's paragraphs) by a line break only.
            Event::End(TagEnd::Paragraph | TagEnd::CodeBlock | TagEnd::BlockQuote(_)) if list_depth > 0 => {
                text.push('\n')
            }
            Event::End(TagEnd::Paragraph | TagEnd::CodeBlock | TagEnd::BlockQuote(_)) => end_block(&mut text),
            Event::End(TagEnd::Item) => text.push('\n'),
            Event::End(TagEnd::TableCell) => text.push('\t'),
            Event::Text(t) | Event::Code(t) => {
                if in_title {
                    title.push_str(&t);
                }
                text.push_str(&t);
            }
            Event::SoftBreak => text.push(' '),
            Event::HardBreak => text.push('\n'),
            _ => {}
        }
    }
    if !title.is_empty() {
        extracted.set("title", title);
    }
    extracted.set("headings", headings);
    extracted.set("links", links);
    extracted.set("code_blocks", code_blocks);
    // One line break ends the text, as a plain text file's does.
    text.truncate(text.trim_end_matches('\n').len());
    if !text.is_empty() {
        text.push('\n');
    }
    extracted.text = text;
    if options.wants_structure() {
        let mut builder = crate::structure::Builder::default();
        super::markdown_structure::blocks(body, &mut builder);
        if builder.tables_cut {
            extracted.warnings.push(super::html::table_cut_warning());
        }
        extracted.blocks = builder.finish();
    }
    Ok(extracted)
}

/// Strips front matter, YAML between `---` lines or TOML between `+++` lines
/// (as Hugo writes it), taking simple top-level `title` and `author` fields:
/// `title: ...` in YAML, `title = "..."` in TOML. The parser is given no
/// metadata-block option, so the block is cut here, before it.
/// Ends a block with a blank line (once, however many blocks end there).
fn end_block(text: &mut String) {
    if text.is_empty() {
        return;
    }
    while !text.ends_with("\n\n") {
        text.push('\n');
    }
}

fn front_matter<'a>(source: &'a str, extracted: &mut Extracted) -> &'a str {
    let (fence, separator) = if source.starts_with("---") {
        ("---", ':')
    } else if source.starts_with("+++") {
        ("+++", '=')
    } else {
        return source;
    };
    let rest = &source[fence.len()..];
    let Some(rest) = rest.strip_prefix('\n').or_else(|| rest.strip_prefix("\r\n")) else { return source };
    let Some(end) = rest.find(&format!("\n{fence}")) else { return source };
    for line in rest[..end].lines() {
        // A TOML table header starts a table whose keys are not the page's.
        if separator == '=' && line.trim_start().starts_with('[') {
            break;
        }
        if let Some((key, value)) = line.split_once(separator) {
            let value = value.trim().trim_matches(['"', '\'']);
            match key.trim() {
                "title" => extracted.set("title", value),
                "author" => extracted.set("author", value),
                _ => {}
            }
        }
    }
    let after = &rest[end + 1 + fence.len()..];
    after.split_once('\n').map(|(_, body)| body).unwrap_or("")
}
