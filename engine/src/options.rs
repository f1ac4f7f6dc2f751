//! What a client can ask of the engine for one document.

use serde::{Deserialize, Serialize};

pub use crate::structure::chunk::ChunkOptions;
pub use crate::structure::pages::PageSelection;

/// Options a client can set per document.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Options {
    /// Include the extracted text in the report (`text=true`).
    pub include_text: bool,
    /// Add the document as Markdown (`markdown=true`).
    #[serde(default)]
    pub markdown: bool,
    /// Add chunks of the text (`chunks=N`, `chunk_overlap=K`).
    #[serde(default)]
    pub chunks: Option<ChunkOptions>,
    /// Read only these pages of a paged document (`pages=2-3,7`).
    #[serde(default)]
    pub pages: Option<PageSelection>,
}

impl Options {
    /// Whether the extractors should build the block model: only the
    /// Markdown and the chunks need it.
    pub fn wants_structure(&self) -> bool {
        self.markdown || self.chunks.is_some()
    }
}
