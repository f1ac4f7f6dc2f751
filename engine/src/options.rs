//! What a client can ask of the engine for one document.

use serde::{Deserialize, Serialize};

pub use crate::structure::chunk::ChunkOptions;
pub use crate::structure::pages::PageSelection;

/// Options a client can set per document. `None` in an OCR field means "the
/// service's default" (`--ocr`, `--ocr-lang`), which the worker fills in.
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
    /// `ocr=auto|on|off`: when images and PDF pages are read by OCR.
    #[serde(default)]
    pub ocr: Option<OcrMode>,
    /// `ocr_lang=eng+deu`: the languages OCR reads, in Tesseract's syntax.
    #[serde(default)]
    pub ocr_languages: Option<OcrLanguages>,
}

impl Options {
    /// Whether the extractors should build the block model: only the
    /// Markdown and the chunks need it.
    pub fn wants_structure(&self) -> bool {
        self.markdown || self.chunks.is_some()
    }
}

/// When OCR runs.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum OcrMode {
    /// Images, and the PDF pages without a usable text layer.
    #[default]
    Auto,
    /// Every page that holds an image, its OCR reading replacing the text
    /// layer (which may be a bad OCR layer of its own).
    On,
    /// Never.
    Off,
}

impl OcrMode {
    pub fn parse(raw: &str) -> Option<OcrMode> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(OcrMode::Auto),
            "on" | "true" | "1" | "yes" => Some(OcrMode::On),
            "off" | "false" | "0" | "no" => Some(OcrMode::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OcrMode::Auto => "auto",
            OcrMode::On => "on",
            OcrMode::Off => "off",
        }
    }
}

/// Longest language list (`eng+deu+fra`...) in bytes: a dozen languages,
/// far more than anyone reads at once (each one slows recognition down), and
/// small enough to keep [`Options`] a plain `Copy` value.
pub const MAX_OCR_LANGUAGES_BYTES: usize = 96;
/// Longest single language name (`chi_tra_vert`, `script/Devanagari`).
const MAX_LANGUAGE_NAME_BYTES: usize = 32;

/// A Tesseract language list: names joined by `+`, each letters, digits and
/// `_`, optionally under `script/`. Nothing else (no dots, no other slashes),
/// so a name can never reach outside the traineddata directory.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OcrLanguages {
    len: u8,
    bytes: [u8; MAX_OCR_LANGUAGES_BYTES],
}

impl OcrLanguages {
    /// Names joined by `+`; spaces count as `+` too, since a `+` in a URL
    /// query arrives as a space.
    pub fn parse(raw: &str) -> Result<OcrLanguages, String> {
        let joined = raw.trim().replace(' ', "+");
        let raw = joined.as_str();
        if raw.is_empty() {
            return Err("an OCR language list cannot be empty".into());
        }
        if raw.len() > MAX_OCR_LANGUAGES_BYTES {
            return Err(format!("an OCR language list is at most {MAX_OCR_LANGUAGES_BYTES} bytes"));
        }
        for name in raw.split('+') {
            let bare = name.strip_prefix("script/").unwrap_or(name);
            let valid = !bare.is_empty()
                && name.len() <= MAX_LANGUAGE_NAME_BYTES
                && bare.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(format!(
                    "{name:?} is not a Tesseract language name (such as eng, deu, chi_sim; join several with +)"
                ));
            }
        }
        let mut bytes = [0u8; MAX_OCR_LANGUAGES_BYTES];
        bytes[..raw.len()].copy_from_slice(raw.as_bytes());
        Ok(OcrLanguages { len: raw.len() as u8, bytes })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("checked to be ASCII when parsed")
    }

    /// The single languages, in the order given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.as_str().split('+')
    }
}

impl Default for OcrLanguages {
    fn default() -> Self {
        OcrLanguages::parse("eng").expect("a valid name")
    }
}

impl std::fmt::Debug for OcrLanguages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl std::fmt::Display for OcrLanguages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OcrLanguages {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OcrLanguages {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        OcrLanguages::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Bytes of a client's value an error message quotes; past them it says
/// how long the value was. A 400 never sends back a whole query string the
/// client may have made 40 KB long.
pub const QUOTED_BYTES: usize = 48;

/// `value` quoted for an error message (as `{:?}` does), cut after
/// [`QUOTED_BYTES`] at a character boundary: `"1-2,1-2,…" (40000 bytes)`.
pub fn quoted(value: &str) -> String {
    if value.len() <= QUOTED_BYTES {
        return format!("{value:?}");
    }
    let mut end = QUOTED_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?} ({} bytes)", format!("{}…", &value[..end]), value.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_lists_take_tesseract_names_and_nothing_that_is_a_path() {
        assert_eq!(OcrLanguages::parse("eng+deu").unwrap().names().collect::<Vec<_>>(), ["eng", "deu"]);
        assert_eq!(OcrLanguages::parse(" chi_sim ").unwrap().as_str(), "chi_sim");
        assert!(OcrLanguages::parse("script/Latin").is_ok());
        assert_eq!(OcrLanguages::parse("eng deu").unwrap().as_str(), "eng+deu");
        for bad in ["", "eng+", "../eng", "eng.traineddata", "a/b", "script/", &"x".repeat(200)] {
            assert!(OcrLanguages::parse(bad).is_err(), "{bad:?}");
        }
    }
}
