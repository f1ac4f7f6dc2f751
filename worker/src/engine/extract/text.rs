//! Plain text.

use super::{ExtractError, Extracted};

pub fn extract(bytes: &[u8]) -> Result<Extracted, ExtractError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut extracted = Extracted { text: String::from_utf8_lossy(bytes).into_owned(), ..Default::default() };
    extracted.metadata.insert("encoding".into(), "UTF-8".into());
    Ok(extracted)
}
