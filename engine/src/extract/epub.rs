//! EPUB: `META-INF/container.xml` names the package document; its spine gives
//! the reading order of the XHTML chapters, whose visible text is extracted;
//! its Dublin Core metadata gives title, author, language and date.

use std::collections::HashMap;

use super::html::{visible_text, MAX_PARSE_DEPTH};
use super::markup::{fallback, nesting_depth};
use super::xmltext::{attribute, walk, Node};
use super::zipsafe::{resolve_part, Container};
use super::{ExtractError, Extracted};
use crate::structure::{Builder, Style};
use crate::Options;

pub fn extract(bytes: &[u8], options: &Options) -> Result<Extracted, ExtractError> {
    let mut container = Container::open(bytes)?;
    let mut extracted = Extracted::default();
    let manifest_xml = container
        .read_text("META-INF/container.xml")
        .ok_or_else(|| ExtractError("not an EPUB: META-INF/container.xml is missing".into()))?;
    let mut package_path = None;
    let _ = walk(&manifest_xml, |node| {
        if let Node::Open { name: "rootfile", attributes } = node {
            if package_path.is_none() {
                package_path = attribute(attributes, "full-path").map(str::to_owned);
            }
        }
    });
    let package_path = package_path.ok_or_else(|| ExtractError("EPUB container names no package document".into()))?;
    let package = container
        .read_text(&package_path)
        .ok_or_else(|| ExtractError(format!("EPUB package document {package_path} is missing")))?;
    let base = package_path.rsplit_once('/').map(|(dir, _)| format!("{dir}/")).unwrap_or_default();

    let mut items: HashMap<String, String> = HashMap::new();
    let mut spine: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_metadata = false;
    let walked = walk(&package, |node| match node {
        Node::Open { name, attributes } => {
            match name {
                "metadata" => in_metadata = true,
                "item" => {
                    if let (Some(id), Some(href)) = (attribute(attributes, "id"), attribute(attributes, "href")) {
                        items.insert(id.to_owned(), href.to_owned());
                    }
                }
                "itemref" => {
                    if let Some(idref) = attribute(attributes, "idref") {
                        spine.push(idref.to_owned());
                    }
                }
                _ => {}
            }
            current = name.to_owned();
        }
        Node::Close { name } => {
            if name == "metadata" {
                in_metadata = false;
            }
            current.clear();
        }
        Node::Text(text) if in_metadata => {
            let field = match current.as_str() {
                "title" if !extracted.metadata.contains_key("title") => "title",
                "creator" if !extracted.metadata.contains_key("author") => "author",
                "language" => "language",
                "date" if !extracted.metadata.contains_key("created") => "created",
                "publisher" => "publisher",
                _ => return,
            };
            extracted.set(field, text);
        }
        Node::Text(_) => {}
    });
    if let Err(err) = walked {
        extracted.warnings.push(format!("{package_path}: {}", err.0));
    }

    let mut text = String::new();
    let mut chapters = 0u64;
    let mut builder = options.wants_structure().then(Builder::default);
    for idref in &spine {
        let Some(href) = items.get(idref) else {
            extracted.warnings.push(format!("spine item {idref:?} is not in the manifest"));
            continue;
        };
        let path = resolve_part(&base, href);
        match container.read(&path) {
            Some(chapter) => {
                let (source, _) = super::markup::decode_markup(&chapter);
                let chapter_text = if nesting_depth(&source, MAX_PARSE_DEPTH) > MAX_PARSE_DEPTH {
                    extracted.warnings.push(format!(
                        "chapter {path}: markup nested deeper than {MAX_PARSE_DEPTH} elements, too deep for a full \
                         parse: text read by stripping tags"
                    ));
                    let text = fallback(&source).text;
                    if let Some(builder) = builder.as_mut() {
                        for paragraph in text.split("\n\n") {
                            builder.text(paragraph, &Style::default());
                            builder.flush();
                        }
                    }
                    text
                } else {
                    let document = scraper::Html::parse_document(&source);
                    if let Some(builder) = builder.as_mut() {
                        super::html_structure::blocks(&document, builder);
                        builder.flush();
                    }
                    visible_text(&document).0
                };
                chapters += 1;
                if !chapter_text.is_empty() {
                    text.push_str(&chapter_text);
                    text.push_str("\n\n");
                }
            }
            None => extracted.warnings.push(format!("chapter {path} is missing")),
        }
    }
    extracted.set("chapters", chapters);
    extracted.warnings.append(&mut container.warnings);
    extracted.text = text;
    if let Some(builder) = builder {
        if builder.tables_cut {
            extracted.warnings.push(super::html::table_cut_warning());
        }
        extracted.blocks = builder.finish();
    }
    Ok(extracted)
}
