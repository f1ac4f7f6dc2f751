//! Bounded reading of zip containers (OOXML, ODF, EPUB): caps on entries,
//! on each entry's and on the total decompressed bytes, so a zip bomb ends in
//! a typed error or a truncated result with a warning, never in an OOM.

use std::io::{Cursor, Read};

use super::ExtractError;

/// Entries a container may list. Office documents have tens to hundreds;
/// a hundred thousand entries is an attack on the central directory.
pub const MAX_ENTRIES: usize = 20_000;
/// Decompressed bytes of one entry. The largest XML part of a real document
/// (a big spreadsheet's sheet) stays well below.
pub const MAX_ENTRY_BYTES: u64 = 256 << 20;
/// Decompressed bytes read from one container in all.
pub const MAX_TOTAL_BYTES: u64 = 512 << 20;

pub struct Container<'a> {
    archive: zip::ZipArchive<Cursor<&'a [u8]>>,
    read_so_far: u64,
    pub warnings: Vec<String>,
    /// Sum of the sizes the entries declare.
    pub declared: u64,
}

impl<'a> Container<'a> {
    pub fn open(bytes: &'a [u8]) -> Result<Container<'a>, ExtractError> {
        let archive = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|err| ExtractError(format!("damaged zip container: {err}")))?;
        let mut archive = archive;
        if archive.len() > MAX_ENTRIES {
            return Err(ExtractError(format!("zip container lists {} entries, above {MAX_ENTRIES}", archive.len())));
        }
        // Declared sizes first: a container announcing more than the limits
        // is refused before anything is inflated. (Reading still counts real
        // bytes, as declared sizes can lie.)
        let mut declared = 0u64;
        for index in 0..archive.len() {
            if let Ok(entry) = archive.by_index_raw(index) {
                declared = declared.saturating_add(entry.size());
            }
        }
        if declared > MAX_TOTAL_BYTES * 4 {
            return Err(ExtractError(format!(
                "zip container declares {} MiB decompressed, above the {} MiB limit: refused as a zip bomb",
                declared >> 20,
                (MAX_TOTAL_BYTES * 4) >> 20
            )));
        }
        Ok(Container { archive, read_so_far: 0, warnings: Vec::new(), declared })
    }

    pub fn names(&self) -> Vec<String> {
        self.archive.file_names().filter_map(|n| n.ok()).map(|n| n.into_owned()).collect()
    }

    /// The entry's bytes, `None` when it is absent. Past a cap the entry is
    /// cut and a `truncated` warning recorded.
    pub fn read(&mut self, name: &str) -> Option<Vec<u8>> {
        let budget = MAX_ENTRY_BYTES.min(MAX_TOTAL_BYTES.saturating_sub(self.read_so_far));
        let entry = match self.archive.by_name(name) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => return None,
            Err(err) => {
                self.warnings.push(format!("{name}: {err}"));
                return None;
            }
        };
        let mut bytes = Vec::new();
        let read = entry.take(budget + 1).read_to_end(&mut bytes);
        if let Err(err) = read {
            self.warnings.push(format!("{name}: damaged entry: {err}"));
        }
        if bytes.len() as u64 > budget {
            bytes.truncate(budget as usize);
            self.warnings.push(format!("truncated: {name} decompresses past the container limits"));
        }
        self.read_so_far += bytes.len() as u64;
        Some(bytes)
    }

    /// An entry as text (XML parts are UTF-8 or declare otherwise).
    pub fn read_text(&mut self, name: &str) -> Option<String> {
        let bytes = self.read(name)?;
        Some(super::xml::decode_markup(&bytes).0)
    }
}
