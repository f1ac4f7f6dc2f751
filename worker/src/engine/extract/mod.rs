//! Text and metadata extraction, one module per format. Every extractor gets
//! the whole document and returns what it could read plus warnings, or an
//! [`ExtractError`] when it could read nothing.

mod text;

use serde_json::{Map, Value};

use crate::report::Format;

#[derive(Debug, Default, Clone)]
pub struct Extracted {
    pub text: String,
    pub metadata: Map<String, Value>,
    pub warnings: Vec<String>,
}

/// Nothing could be read from the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractError(pub String);

impl std::fmt::Display for ExtractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn extract(format: Format, bytes: &[u8]) -> Result<Extracted, ExtractError> {
    match format {
        Format::Binary => Ok(Extracted::default()),
        _ => text::extract(bytes),
    }
}
