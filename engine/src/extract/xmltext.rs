//! A bounded walk over XML for the extractors: element opens and closes with
//! their attributes, and text with the five predefined entities and character
//! references resolved. Nothing else is ever expanded: no DTD, no internal or
//! external entity, so "billion laughs" and external fetches cannot happen.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Deepest nesting walked as elements. Real documents stay far below; deeper
/// input is either generated to exhaust a parser or broken. Elements below
/// it are not reported (so visitors' stacks stay bounded), their text is.
pub const MAX_XML_DEPTH: usize = 512;

pub enum Node<'a> {
    /// An element opens; `name` is its local name (prefix stripped).
    Open {
        name: &'a str,
        attributes: &'a [(String, String)],
    },
    Close {
        name: &'a str,
    },
    Text(&'a str),
}

/// What went wrong in a walk: it stopped early at malformed XML, or
/// flattened elements nested too deep. What could be read has been
/// delivered either way.
#[derive(Debug)]
pub struct XmlError(pub String);

fn local(name: &str) -> String {
    match name.rsplit_once(':') {
        Some((_, local)) => local.to_owned(),
        None => name.to_owned(),
    }
}

fn attributes(start: &BytesStart<'_>) -> Vec<(String, String)> {
    start
        .attributes()
        .with_checks(false)
        .filter_map(|attribute| attribute.ok())
        .map(|attribute| {
            let key = attribute.key.as_ref().to_owned();
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| attribute.value.clone().into_owned());
            (key, value)
        })
        .collect()
}

/// The value of an attribute by local name.
pub fn attribute<'a>(attributes: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(key, _)| key == name || key.rsplit_once(':').is_some_and(|(_, local)| local == name))
        .map(|(_, value)| value.as_str())
}

/// Visits `xml` node by node. Text comes whole between two tags: the reader
/// splits it at each entity or character reference ("R", "&", "D"), and a
/// visitor that keeps an element's text (a title) would keep only the last
/// piece.
pub fn walk(xml: &str, mut visit: impl FnMut(Node<'_>)) -> Result<(), XmlError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = false;
    let mut depth = 0usize;
    let mut flattened = false;
    let mut pending = String::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|err| XmlError(format!("malformed XML at byte {}: {err}", reader.buffer_position())));
        match event {
            Ok(Event::Text(text)) => {
                pending.push_str(&text.xml_content(quick_xml::XmlVersion::Implicit1_0));
                continue;
            }
            Ok(Event::CData(data)) => {
                pending.push_str(&data.into_inner());
                continue;
            }
            Ok(Event::GeneralRef(reference)) => {
                if let Ok(Some(c)) = reference.resolve_char_ref() {
                    pending.push(c);
                } else {
                    pending.push_str(match &*reference.into_inner() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        // Any other entity is left unexpanded, by design.
                        _ => "",
                    });
                }
                continue;
            }
            _ => {}
        }
        if !pending.is_empty() {
            visit(Node::Text(&pending));
            pending.clear();
        }
        match event? {
            Event::Start(start) => {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    flattened = true;
                    continue;
                }
                let name = local(start.name().as_ref());
                visit(Node::Open { name: &name, attributes: &attributes(&start) });
            }
            Event::Empty(_) if depth >= MAX_XML_DEPTH => flattened = true,
            Event::Empty(start) => {
                let name = local(start.name().as_ref());
                visit(Node::Open { name: &name, attributes: &attributes(&start) });
                visit(Node::Close { name: &name });
            }
            Event::End(end) => {
                if depth <= MAX_XML_DEPTH {
                    visit(Node::Close { name: &local(end.name().as_ref()) });
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof if flattened => {
                return Err(XmlError(format!(
                    "XML nested deeper than {MAX_XML_DEPTH} elements; deeper elements were read as text only"
                )))
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
    }
}
