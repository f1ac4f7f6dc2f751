//! XML: element text and CDATA, a line per element that holds text; the root
//! element, declared namespaces and the element count as metadata. Text that
//! is itself HTML (an RSS or Atom item's description, in CDATA or escaped)
//! is read as HTML: its tags dropped, its entities decoded.

use super::markup::decode_markup;
use super::xmltext::{walk, Node};
use super::{ExtractError, Extracted};

pub fn extract(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let (source, encoding) = decode_markup(bytes);
    let mut extracted = Extracted::default();
    extracted.set("encoding", encoding);
    let mut text = String::new();
    let mut root: Option<String> = None;
    let mut namespaces: Vec<String> = Vec::new();
    let mut elements = 0u64;
    let mut line = String::new();
    let flush = |line: &mut String, text: &mut String| {
        if holds_html(line) {
            *line = super::markup::fallback(line).text;
        }
        for part in line.lines() {
            let collapsed = part.split_whitespace().collect::<Vec<_>>().join(" ");
            if !collapsed.is_empty() {
                text.push_str(&collapsed);
                text.push('\n');
            }
        }
        line.clear();
    };
    let walked = walk(&source, |node| match node {
        Node::Open { name, attributes } => {
            elements += 1;
            if root.is_none() {
                root = Some(name.to_owned());
            }
            for (key, value) in attributes {
                if (key == "xmlns" || key.starts_with("xmlns:")) && !namespaces.contains(value) {
                    namespaces.push(value.clone());
                }
            }
            flush(&mut line, &mut text);
        }
        Node::Close { .. } => flush(&mut line, &mut text),
        Node::Text(t) => line.push_str(t),
    });
    flush(&mut line, &mut text);
    if let Err(err) = walked {
        if root.is_none() && text.is_empty() && !source.trim().is_empty() {
            return Err(ExtractError(err.0));
        }
        if !source.trim().is_empty() {
            extracted.warnings.push(err.0);
        }
    }
    extracted.set("root", root);
    extracted.set("namespaces", namespaces);
    extracted.set("elements", elements);
    extracted.text = text;
    Ok(extracted)
}

/// Whether element text looks like HTML: a tag (`<p>`, `</b>`, `<br/>`,
/// `<!--`) or a named entity left over from a second level of escaping.
fn holds_html(text: &str) -> bool {
    let bytes = text.as_bytes();
    let tag = memchr::memchr_iter(b'<', bytes).any(|at| {
        let next = bytes.get(at + 1).copied().unwrap_or(b' ');
        (next.is_ascii_alphabetic() || next == b'/' || next == b'!') && bytes[at..].contains(&b'>')
    });
    tag || ["&nbsp;", "&amp;", "&lt;", "&gt;", "&quot;", "&#"].iter().any(|entity| text.contains(entity))
}
