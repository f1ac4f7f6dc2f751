//! Markdown: the text without markup (link text kept, URLs dropped, code kept
//! as text); headings, links and code blocks counted; a title from YAML front
//! matter or the first level-one heading.

use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};

use super::text::decode_text;
use super::{ExtractError, Extracted};

pub fn extract(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let (source, encoding, warnings) = decode_text(bytes);
    let mut extracted = Extracted { warnings, ..Default::default() };
    extracted.set("encoding", encoding);
    let body = front_matter(&source, &mut extracted);
    let mut text = String::with_capacity(body.len());
    let (mut headings, mut links, mut code_blocks) = (0u64, 0u64, 0u64);
    let mut in_title = false;
    let mut title = String::new();
    for event in Parser::new(body) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                headings += 1;
                in_title = level == HeadingLevel::H1 && title.is_empty() && !extracted.metadata.contains_key("title");
            }
            Event::End(TagEnd::Heading(_)) => {
                in_title = false;
                text.push('\n');
            }
            Event::Start(Tag::Link { .. }) => links += 1,
            Event::Start(Tag::CodeBlock(_)) => code_blocks += 1,
            Event::End(
                TagEnd::Paragraph | TagEnd::Item | TagEnd::CodeBlock | TagEnd::TableRow | TagEnd::BlockQuote(_),
            ) => text.push('\n'),
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
    extracted.text = text;
    Ok(extracted)
}

/// Strips YAML front matter, taking simple `title:` and `author:` lines.
fn front_matter<'a>(source: &'a str, extracted: &mut Extracted) -> &'a str {
    let Some(rest) = source.strip_prefix("---\n").or_else(|| source.strip_prefix("---\r\n")) else { return source };
    let Some(end) = rest.find("\n---") else { return source };
    for line in rest[..end].lines() {
        if let Some((key, value)) = line.split_once(':') {
            let value = value.trim().trim_matches(['"', '\'']);
            match key.trim() {
                "title" => extracted.set("title", value),
                "author" => extracted.set("author", value),
                _ => {}
            }
        }
    }
    let after = &rest[end + 4..];
    after.split_once('\n').map(|(_, body)| body).unwrap_or("")
}
