//! What a client can ask of the engine for one document.

use serde::{Deserialize, Serialize};

/// Options a client can set per document.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Options {
    /// Include the extracted text in the report (`text=true`).
    pub include_text: bool,
}
