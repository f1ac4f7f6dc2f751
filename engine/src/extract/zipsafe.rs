//! Bounded reading of zip containers (OOXML, ODF, EPUB): caps on entries,
//! on each entry's and on the total decompressed bytes, so a zip bomb ends in
//! a typed error or a truncated result with a warning, never in an OOM.

use std::io::{Cursor, Read, Write};
use std::rc::Rc;

use super::ExtractError;

/// Entries a container may list. Office documents have tens to hundreds;
/// a hundred thousand entries is an attack on the central directory.
pub const MAX_ENTRIES: usize = 20_000;
/// Decompressed bytes of one entry. The largest XML part of a real document
/// (a big spreadsheet's sheet) stays well below.
pub const MAX_ENTRY_BYTES: u64 = 256 << 20;
/// Decompressed bytes read from one container in all.
pub const MAX_TOTAL_BYTES: u64 = 512 << 20;

/// A container's bytes: the file's own, or a zip rebuilt from a damaged one,
/// shared between the archive reader and [`Container::bytes`].
#[derive(Clone)]
enum Bytes<'a> {
    Borrowed(&'a [u8]),
    Rebuilt(Rc<[u8]>),
}

impl AsRef<[u8]> for Bytes<'_> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(bytes) => bytes,
            Bytes::Rebuilt(bytes) => bytes,
        }
    }
}

pub struct Container<'a> {
    archive: zip::ZipArchive<Cursor<Bytes<'a>>>,
    source: Bytes<'a>,
    read_so_far: u64,
    pub warnings: Vec<String>,
    /// Sum of the sizes the entries declare.
    pub declared: u64,
}

impl<'a> Container<'a> {
    pub fn open(bytes: &'a [u8]) -> Result<Container<'a>, ExtractError> {
        let mut warnings = Vec::new();
        let mut source = Bytes::Borrowed(bytes);
        let mut archive = match zip::ZipArchive::new(Cursor::new(source.clone())) {
            Ok(archive) => archive,
            Err(err) => {
                // A file cut short (an interrupted download or copy) has lost
                // its central directory, which sits at the end; the entries
                // before the cut are still there behind their local headers.
                let Some(salvaged) = salvage(bytes) else {
                    return Err(ExtractError(format!("damaged zip container: {err}")));
                };
                warnings.push(format!(
                    "damaged zip container ({err}): {} entries recovered from their local headers",
                    salvaged.entries
                ));
                warnings.extend(salvaged.cut.iter().map(|name| format!("truncated: {name} is cut short")));
                source = Bytes::Rebuilt(salvaged.zip.into());
                zip::ZipArchive::new(Cursor::new(source.clone()))
                    .map_err(|err| ExtractError(format!("damaged zip container: {err}")))?
            }
        };
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
        Ok(Container { archive, source, read_so_far: 0, warnings, declared })
    }

    /// The zip read: the file's own bytes, or the zip rebuilt from them.
    pub fn bytes(&self) -> &[u8] {
        self.source.as_ref()
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

    /// The first `max` decompressed bytes of an entry (its root element's
    /// attributes, say), without inflating the rest; `None` when it is
    /// absent or unreadable. Counts against no budget: it reads little.
    pub fn read_head(&mut self, name: &str, max: u64) -> Option<Vec<u8>> {
        let entry = self.archive.by_name(name).ok()?;
        let mut bytes = Vec::new();
        // A damaged entry still gives what came before the damage.
        let _ = entry.take(max).read_to_end(&mut bytes);
        Some(bytes)
    }

    /// An entry as text (XML parts are UTF-8 or declare otherwise).
    pub fn read_text(&mut self, name: &str) -> Option<String> {
        let bytes = self.read(name)?;
        Some(super::markup::decode_markup(&bytes).0)
    }
}

/// A zip rebuilt from the local headers of a damaged one.
pub struct Salvaged {
    /// A well-formed zip of the recovered entries, stored uncompressed.
    pub zip: Vec<u8>,
    pub entries: usize,
    /// Entries whose data ends early: what was there is kept.
    pub cut: Vec<String>,
}

/// Parts never read for text (pictures, media, fonts, embedded binaries):
/// not worth inflating when salvaging.
const SKIPPED_SUFFIXES: [&str; 15] = [
    ".png", ".jpg", ".jpeg", ".gif", ".emf", ".wmf", ".tif", ".tiff", ".bmp", ".mp4", ".wav", ".mp3", ".ttf", ".odttf",
    ".bin",
];

/// Recovers the entries of a zip whose central directory is lost by walking
/// its local file headers (`PK\x03\x04`), inflating stored and deflated
/// data within [`MAX_ENTRY_BYTES`] and [`MAX_TOTAL_BYTES`], and writes them
/// into a fresh zip. `None` when no entry could be recovered.
pub fn salvage(bytes: &[u8]) -> Option<Salvaged> {
    const LOCAL_HEADER: &[u8] = b"PK\x03\x04";
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64);
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut names = std::collections::HashSet::new();
    let mut cut = Vec::new();
    let mut total = 0u64;
    let mut position = 0;
    while let Some(found) = memchr::memmem::find(&bytes[position..], LOCAL_HEADER) {
        let header = position + found;
        position = header + LOCAL_HEADER.len();
        if names.len() >= MAX_ENTRIES || total >= MAX_TOTAL_BYTES {
            break;
        }
        let (Some(flags), Some(method), Some(compressed), Some(name_len), Some(extra_len)) =
            (u16_at(header + 6), u16_at(header + 8), u32_at(header + 18), u16_at(header + 26), u16_at(header + 28))
        else {
            break;
        };
        let data_start = header + 30 + name_len + extra_len;
        let Some(name) = bytes.get(header + 30..header + 30 + name_len) else { break };
        let name = String::from_utf8_lossy(name).into_owned();
        if data_start > bytes.len() || name.is_empty() || name.ends_with('/') || flags & 1 == 1 {
            continue;
        }
        // Sizes are known unless a data descriptor follows the data (flag
        // bit 3) or they live in a zip64 extra field; deflate ends by itself.
        let known = flags & 8 == 0 && compressed != u64::from(u32::MAX);
        let end = if known { (data_start as u64 + compressed).min(bytes.len() as u64) as usize } else { bytes.len() };
        let data = &bytes[data_start..end];
        let skip = SKIPPED_SUFFIXES.iter().any(|suffix| name.to_ascii_lowercase().ends_with(suffix));
        let budget = MAX_ENTRY_BYTES.min(MAX_TOTAL_BYTES - total);
        let (content, consumed, complete) = match method {
            _ if skip => continue,
            0 if known => (data.to_vec(), data.len(), data_start as u64 + compressed <= bytes.len() as u64),
            8 => inflate_raw(data, budget),
            _ => continue,
        };
        if content.is_empty() && !complete {
            continue;
        }
        if !names.insert(name.clone()) {
            continue;
        }
        if !complete {
            cut.push(name.clone());
        }
        total += content.len() as u64;
        if writer.start_file(name.as_str(), stored).is_err() || writer.write_all(&content).is_err() {
            return None;
        }
        position = data_start + consumed.max(1);
    }
    if names.is_empty() {
        return None;
    }
    let zip = writer.finish().ok()?.into_inner();
    Some(Salvaged { zip, entries: names.len(), cut })
}

/// Inflates a raw deflate stream to at most `budget` bytes: the output, the
/// input bytes it took, and whether the stream ended properly.
fn inflate_raw(data: &[u8], budget: u64) -> (Vec<u8>, usize, bool) {
    let mut inflater = flate2::Decompress::new(false);
    let mut output = Vec::with_capacity(data.len().saturating_mul(3).min(budget as usize));
    loop {
        if output.len() as u64 >= budget {
            output.truncate(budget as usize);
            return (output, inflater.total_in() as usize, false);
        }
        if output.capacity() == output.len() {
            let more = output.len().max(64 << 10).min((budget - output.len() as u64) as usize);
            output.reserve(more);
        }
        let before = (inflater.total_in(), inflater.total_out());
        let input = &data[inflater.total_in() as usize..];
        match inflater.decompress_vec(input, &mut output, flate2::FlushDecompress::None) {
            Ok(flate2::Status::StreamEnd) => return (output, inflater.total_in() as usize, true),
            Ok(_) if (inflater.total_in(), inflater.total_out()) == before => {
                return (output, inflater.total_in() as usize, false)
            }
            Ok(_) => {}
            Err(_) => return (output, inflater.total_in() as usize, false),
        }
    }
}

/// A part name from a reference inside the container (an EPUB manifest
/// href, an OOXML relationship target): relative to `folder`, or absolute
/// from the root when it starts with `/`; a `#fragment` dropped, `.` and
/// `..` resolved and percent-escapes decoded.
pub fn resolve_part(folder: &str, reference: &str) -> String {
    let reference = reference.split('#').next().unwrap_or(reference);
    let base = if reference.starts_with('/') { "" } else { folder };
    let mut parts: Vec<String> = base.split('/').filter(|p| !p.is_empty()).map(str::to_owned).collect();
    for part in percent_decode(reference).split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other.to_owned()),
        }
    }
    parts.join("/")
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
