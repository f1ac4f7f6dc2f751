//! Microsoft's OLE compound files, the container of Word 97-2003 (`.doc`),
//! Excel 97-2003 (`.xls`) and PowerPoint 97-2003 (`.ppt`): which of them a
//! file is, its streams read within limits, and the document properties of
//! its `SummaryInformation` stream.

use std::borrow::Cow;
use std::io::{Cursor, Read};

use cfb::CompoundFile;

use super::zipsafe::MAX_ENTRY_BYTES;
use super::{ExtractError, Extracted};

pub const WORD: &str = "application/msword";
pub const EXCEL: &str = "application/vnd.ms-excel";
pub const POWERPOINT: &str = "application/vnd.ms-powerpoint";

pub type Ole<'a> = CompoundFile<Cursor<Cow<'a, [u8]>>>;

/// Opens the compound file. One cut short (an interrupted download) is
/// filled out with zeros to the sectors its allocation table counts, so
/// that what is there can still be read when its directory is; the flag
/// says so.
pub fn open(bytes: &[u8]) -> Result<(Ole<'_>, bool), ExtractError> {
    let err = match CompoundFile::open(Cursor::new(Cow::Borrowed(bytes))) {
        Ok(file) => return Ok((file, false)),
        Err(err) => err,
    };
    if let Some(length) = whole_length(bytes) {
        let mut filled = bytes.to_vec();
        filled.resize(length, 0);
        if let Ok(file) = CompoundFile::open(Cursor::new(Cow::Owned(filled))) {
            return Ok((file, true));
        }
    }
    Err(ExtractError(format!("unreadable OLE compound file: {err}")))
}

/// The length a compound file cut short had at least, by its header: the
/// sectors its allocation table maps (each table sector maps a sector's
/// worth of 4-byte entries), after the header's own sector. `None` when the
/// file is not shorter, or the header asks for more than a few times what
/// is there.
fn whole_length(bytes: &[u8]) -> Option<usize> {
    let sector = match u16_at(bytes, 30)? {
        9 => 512usize,
        12 => 4096,
        _ => return None,
    };
    let table_sectors = u32_at(bytes, 44)? as usize;
    let mapped = table_sectors.checked_mul(sector / 4)?.checked_add(1)?.checked_mul(sector)?;
    let length = mapped.max(bytes.len().next_multiple_of(sector));
    (length > bytes.len() && length <= bytes.len().saturating_mul(4).max(1 << 20)).then_some(length)
}

/// The warning for a file read after [`open`] filled it out.
pub const CUT_SHORT: &str = "the file is cut short (an incomplete download?): only what is there was read";

/// The format a compound file holds, by the stream each program writes:
/// Word's `WordDocument`, Excel's `Workbook` (`Book` before Excel 97),
/// PowerPoint's `PowerPoint Document`.
pub fn media_type(bytes: &[u8]) -> Option<&'static str> {
    let (file, _) = open(bytes).ok()?;
    if file.is_stream("/WordDocument") {
        Some(WORD)
    } else if file.is_stream("/Workbook") || file.is_stream("/Book") {
        Some(EXCEL)
    } else if file.is_stream("/PowerPoint Document") {
        Some(POWERPOINT)
    } else {
        None
    }
}

/// A stream's bytes, at most [`MAX_ENTRY_BYTES`] of them; `None` when the
/// file has no such stream or it cannot be read.
pub fn stream(file: &mut Ole<'_>, path: &str) -> Option<Vec<u8>> {
    let stream = file.open_stream(path).ok()?;
    let mut bytes = Vec::with_capacity(stream.len().min(MAX_ENTRY_BYTES) as usize);
    stream.take(MAX_ENTRY_BYTES).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

pub fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

pub fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// Sets title, subject, author, keywords, created, modified and pages from
/// the `SummaryInformation` property set, when the file has one.
pub fn summary(file: &mut Ole<'_>, extracted: &mut Extracted) {
    let Some(bytes) = stream(file, "/\u{5}SummaryInformation") else { return };
    let Some(set) = u32_at(&bytes, 44).map(|at| at as usize) else { return };
    let Some(count) = u32_at(&bytes, set + 4) else { return };
    let property = |id: u32| {
        (0..count.min(1024) as usize).find_map(|i| {
            let entry = set + 8 + i * 8;
            (u32_at(&bytes, entry)? == id).then(|| u32_at(&bytes, entry + 4).map(|at| set + at as usize))?
        })
    };
    let code_page = property(1).and_then(|at| u16_at(&bytes, at + 4)).unwrap_or(1252);
    let encoding = match code_page {
        65001 => encoding_rs::UTF_8,
        cp => codepage::to_encoding(cp).unwrap_or(encoding_rs::WINDOWS_1252),
    };
    let string = |id: u32| -> Option<String> {
        let at = property(id)?;
        let len = u32_at(&bytes, at + 4)? as usize;
        match u32_at(&bytes, at)? {
            0x1E => {
                let raw = bytes.get(at + 8..(at + 8).checked_add(len)?)?;
                Some(encoding.decode_without_bom_handling(raw).0.trim_end_matches('\0').trim().to_owned())
            }
            0x1F => {
                let raw = bytes.get(at + 8..(at + 8).checked_add(len.checked_mul(2)?)?)?;
                let units: Vec<u16> = raw.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect();
                Some(String::from_utf16_lossy(&units).trim_end_matches('\0').trim().to_owned())
            }
            _ => None,
        }
    };
    let time = |id: u32| -> Option<String> {
        let at = property(id)?;
        if u32_at(&bytes, at)? != 0x40 {
            return None;
        }
        let ticks = u64::from(u32_at(&bytes, at + 4)?) | (u64::from(u32_at(&bytes, at + 8)?) << 32);
        filetime_iso(ticks)
    };
    for (id, field) in [(2, "title"), (3, "subject"), (4, "author"), (5, "keywords")] {
        if let Some(value) = string(id) {
            extracted.set(field, value);
        }
    }
    for (id, field) in [(12, "created"), (13, "modified")] {
        if let Some(value) = time(id) {
            extracted.set(field, value);
        }
    }
    let pages = property(14).filter(|&at| u32_at(&bytes, at) == Some(3)).and_then(|at| u32_at(&bytes, at + 4));
    if let Some(pages) = pages.filter(|&pages| pages > 0) {
        extracted.set("pages", pages);
    }
}

/// A FILETIME (100 ns ticks since 1601-01-01 UTC) as ISO 8601 in UTC;
/// `None` for zero (never set) and for dates before 1980 or after 9999,
/// which no document was written on.
fn filetime_iso(ticks: u64) -> Option<String> {
    const UNIX_EPOCH_SECONDS: u64 = 11_644_473_600;
    let seconds = (ticks / 10_000_000).checked_sub(UNIX_EPOCH_SECONDS)? as i64;
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian
    // calendar, in 400-year eras).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    if !(1980..=9999).contains(&year) {
        return None;
    }
    Some(format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", of_day / 3600, of_day % 3600 / 60, of_day % 60))
}

#[cfg(test)]
mod tests {
    #[test]
    fn filetimes_are_utc_dates() {
        // 2024-03-01T13:30:05Z
        let unix = 1_709_299_805u64;
        assert_eq!(super::filetime_iso((unix + 11_644_473_600) * 10_000_000).as_deref(), Some("2024-03-01T13:30:05Z"));
        assert_eq!(super::filetime_iso(0), None);
    }
}
