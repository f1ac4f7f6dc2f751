//! E-mail (RFC 5322 with MIME, `.eml`): subject, sender, recipients, date
//! and attachment names as metadata; the subject and the body as text, each
//! body part decoded from its transfer encoding and charset, HTML bodies
//! read as text. Attachments are named, not read. The report's `format` is
//! `text` (the contract has no e-mail format), its `media_type`
//! `message/rfc822`.
//!
//! Parsed by `mail-parser`, which never recurses on nested parts, so a
//! message of a hundred thousand nested multiparts is no stack hazard.

use mail_parser::{Address, MessageParser, MimeHeaders};

use super::{text, ExtractError, Extracted};

/// Recipients and attachments listed in the metadata; the rest are counted.
const MAX_LISTED: usize = 100;

pub fn extract(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let Some(message) = MessageParser::default().parse(bytes) else {
        let mut extracted = text::extract(bytes)?;
        extracted.warnings.push("not a readable e-mail message: read as plain text".into());
        return Ok(extracted);
    };
    let mut extracted = Extracted::default();
    let subject = message.subject().unwrap_or_default().trim().to_owned();
    extracted.set("title", subject.as_str());
    extracted.set("author", message.from().and_then(first_address));
    let recipients: Vec<String> =
        [message.to(), message.cc()].into_iter().flatten().flat_map(addresses).take(MAX_LISTED).collect();
    if !recipients.is_empty() {
        extracted.set("to", recipients);
    }
    if let Some(date) = message.date() {
        extracted.set("created", date.to_rfc3339());
    }
    let attachments: Vec<String> = message
        .attachments()
        .take(MAX_LISTED)
        .map(|part| part.attachment_name().unwrap_or("(unnamed)").to_owned())
        .collect();
    extracted.set("attachments", message.attachment_count());
    if !attachments.is_empty() {
        extracted.set("attachment_names", attachments);
    }
    let mut body = String::new();
    if !subject.is_empty() {
        body.push_str(&subject);
        body.push_str("\n\n");
    }
    // The plain-text alternative of each body part; an HTML-only part comes
    // out as its text.
    for index in 0..message.text_body_count() {
        if let Some(part) = message.body_text(index) {
            body.push_str(part.replace("\r\n", "\n").trim());
            body.push_str("\n\n");
        }
    }
    extracted.text = body;
    Ok(extracted)
}

/// "Name <address>", or whichever of the two there is.
fn render(name: Option<&str>, address: Option<&str>) -> Option<String> {
    match (name.map(str::trim).filter(|n| !n.is_empty()), address) {
        (Some(name), Some(address)) => Some(format!("{name} <{address}>")),
        (Some(name), None) => Some(name.to_owned()),
        (None, Some(address)) => Some(address.to_owned()),
        (None, None) => None,
    }
}

fn first_address(address: &Address<'_>) -> Option<String> {
    address.first().and_then(|a| render(a.name(), a.address()))
}

fn addresses<'a>(address: &'a Address<'a>) -> impl Iterator<Item = String> + 'a {
    address.iter().filter_map(|a| render(a.name(), a.address()))
}
