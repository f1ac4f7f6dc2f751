//! The block model of a Markdown document, from pulldown-cmark's events with
//! GFM tables and footnotes on: headings, nested lists, tables, code blocks,
//! links and emphasis, normalised on the way back out.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::structure::{Builder, Kind, Style};

pub fn blocks(body: &str, builder: &mut Builder) {
    let mut lists: Vec<bool> = Vec::new();
    let mut style = Style::default();
    let mut code_block: Option<String> = None;
    let mut footnote: Option<String> = None;
    let parser = Parser::new_ext(body, Options::ENABLE_TABLES | Options::ENABLE_FOOTNOTES);
    for event in parser {
        if let Some(code) = code_block.as_mut() {
            match event {
                Event::Text(text) => code.push_str(&text),
                Event::End(TagEnd::CodeBlock) => {
                    builder.code(&code_block.take().unwrap_or_default());
                }
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(tag) => match tag {
                Tag::Heading { level, .. } => builder.start(Kind::Heading(level as u8)),
                Tag::Paragraph if footnote.is_some() => builder.text(" ", &Style::default()),
                Tag::Paragraph | Tag::BlockQuote(_) => builder.flush(),
                Tag::List(start) => {
                    builder.flush();
                    lists.push(start.is_some());
                }
                Tag::Item => {
                    let ordered = lists.last().copied().unwrap_or(false);
                    let depth = lists.len().saturating_sub(1).min(u8::MAX as usize) as u8;
                    builder.start(Kind::Item { ordered, depth });
                }
                Tag::Table(_) => builder.start_table(),
                Tag::TableHead | Tag::TableRow => builder.start_row(),
                Tag::TableCell => builder.start_cell(),
                Tag::CodeBlock(_) => code_block = Some(String::new()),
                Tag::Strong => style.bold = true,
                Tag::Emphasis => style.italic = true,
                Tag::Link { dest_url, .. } => style.link = Some(dest_url.into_string()),
                Tag::FootnoteDefinition(label) => {
                    builder.flush();
                    footnote = Some(label.into_string());
                }
                _ => {}
            },
            Event::End(tag) => match tag {
                TagEnd::Heading(_) | TagEnd::BlockQuote(_) | TagEnd::Item => builder.flush(),
                TagEnd::Paragraph if footnote.is_none() => builder.flush(),
                TagEnd::List(_) => {
                    builder.flush();
                    lists.pop();
                }
                TagEnd::TableCell => builder.end_cell(),
                TagEnd::TableHead | TagEnd::TableRow => builder.end_row(),
                TagEnd::Table => builder.end_table(),
                TagEnd::Strong => style.bold = false,
                TagEnd::Emphasis => style.italic = false,
                TagEnd::Link => style.link = None,
                TagEnd::FootnoteDefinition => {
                    let content = builder.take_inlines();
                    if let Some(label) = footnote.take() {
                        builder.footnote(&label, content);
                    }
                }
                _ => {}
            },
            Event::Text(text) => builder.text(&text, &style),
            Event::Code(text) => builder.text(&text, &Style { code: true, ..style.clone() }),
            Event::FootnoteReference(label) => builder.footnote_ref(&label),
            Event::SoftBreak => builder.text(" ", &style),
            Event::HardBreak => builder.line_break(),
            _ => {}
        }
    }
}
