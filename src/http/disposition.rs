//! The file name in a `Content-Disposition` header (RFC 6266): `filename*`
//! (RFC 8187: `UTF-8''percent-encoded`) preferred over a plain `filename`, as
//! browsers and .NET clients send both; quoted strings with their escapes.
//! multer reads only the plain form, and only in parts; `PUT` bodies and
//! parts with both forms come through here.

/// What a `Content-Disposition` value names, if anything.
#[derive(Debug, PartialEq, Eq)]
pub enum Filename {
    /// A usable name.
    Name(String),
    /// Only a `filename*` this server cannot decode (an unknown charset or
    /// broken percent-encoding), and no plain `filename` to fall back on.
    Undecodable(String),
}

/// The file name a `Content-Disposition` value gives; `None` when it gives
/// none.
pub fn filename(disposition: &str) -> Option<Filename> {
    let mut plain = None;
    let mut extended = None;
    for (name, value) in parameters(disposition) {
        match name.to_ascii_lowercase().as_str() {
            "filename" => plain = Some(value),
            "filename*" => extended = Some(value),
            _ => {}
        }
    }
    match (extended.as_deref().map(decode_extended), plain) {
        (Some(Some(decoded)), _) => Some(Filename::Name(decoded)),
        (_, Some(plain)) => Some(Filename::Name(plain)),
        (Some(None), None) => Some(Filename::Undecodable(extended.unwrap_or_default())),
        (None, None) => None,
    }
}

/// The `name=value` parameters after the disposition type, values unquoted.
fn parameters(disposition: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = match disposition.find(';') {
        Some(at) => &disposition[at + 1..],
        None => return out,
    };
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut unquoted = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((at, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            unquoted.push(escaped);
                        }
                    }
                    '"' => {
                        end = at + 1;
                        break;
                    }
                    c => unquoted.push(c),
                }
            }
            value = unquoted;
            rest = &quoted[end.min(quoted.len())..];
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.push((name, value));
    }
    out
}

/// Decodes `charset'language'percent-encoded` (RFC 8187). UTF-8 and
/// ISO-8859-1 are the charsets the RFC requires; others are not decoded.
fn decode_extended(value: &str) -> Option<String> {
    let mut pieces = value.splitn(3, '\'');
    let charset = pieces.next()?.to_ascii_lowercase();
    let _language = pieces.next()?;
    let encoded = pieces.next()?;
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut input = encoded.bytes();
    while let Some(byte) = input.next() {
        if byte == b'%' {
            let high = (input.next()? as char).to_digit(16)?;
            let low = (input.next()? as char).to_digit(16)?;
            bytes.push((high * 16 + low) as u8);
        } else {
            bytes.push(byte);
        }
    }
    match charset.as_str() {
        "utf-8" => String::from_utf8(bytes).ok(),
        "iso-8859-1" => Some(bytes.iter().map(|&b| b as char).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(disposition: &str) -> Option<String> {
        match filename(disposition) {
            Some(Filename::Name(name)) => Some(name),
            _ => None,
        }
    }

    #[test]
    fn plain_quoted_and_extended_names() {
        assert_eq!(name("attachment; filename=report.pdf").as_deref(), Some("report.pdf"));
        assert_eq!(
            name(r#"form-data; name="file"; filename="a \"quoted\" name.txt""#).as_deref(),
            Some(r#"a "quoted" name.txt"#)
        );
        assert_eq!(name("attachment; filename*=UTF-8''%E2%82%AC%20rates.txt").as_deref(), Some("€ rates.txt"));
        assert_eq!(name("attachment; filename*=iso-8859-1'en'%A3%20rates.txt").as_deref(), Some("£ rates.txt"));
        // Both forms, as .NET sends them: the extended one wins.
        assert_eq!(
            name(r#"form-data; name=file; filename="na?ve.txt"; filename*=utf-8''na%C3%AFve.txt"#).as_deref(),
            Some("naïve.txt")
        );
        assert_eq!(name("inline"), None);
        assert_eq!(name("form-data; name=\"field\""), None);
    }

    #[test]
    fn undecodable_extended_names_fall_back_or_are_reported() {
        assert_eq!(name(r#"attachment; filename="plain.txt"; filename*=koi8-r''%C1"#).as_deref(), Some("plain.txt"));
        assert_eq!(filename("attachment; filename*=UTF-8''%ZZ"), Some(Filename::Undecodable("UTF-8''%ZZ".into())));
    }
}
