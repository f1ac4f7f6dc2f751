//! `pages=2-3,7`: which pages of a paged document to read. A small fixed
//! list of ranges, so that the options stay `Copy` and hashable (they key
//! the result cache) and decode within a fixed size from the wire.

use serde::{Deserialize, Serialize};

/// Most ranges one selection may list. A client that needs more pages than
/// 32 ranges can name asks for most of the document: it can read it all.
pub const MAX_PAGE_RANGES: usize = 32;

/// Inclusive page ranges, numbered from 1, in the order given.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(try_from = "RawSelection", into = "RawSelection")]
pub struct PageSelection {
    ranges: [(u32, u32); MAX_PAGE_RANGES],
    len: u8,
}

/// The wire form, checked on decode.
#[derive(Serialize, Deserialize)]
struct RawSelection {
    ranges: [(u32, u32); MAX_PAGE_RANGES],
    len: u8,
}

impl TryFrom<RawSelection> for PageSelection {
    type Error = String;

    fn try_from(raw: RawSelection) -> Result<Self, String> {
        let len = raw.len as usize;
        if len == 0 || len > MAX_PAGE_RANGES {
            return Err(format!("a page selection holds 1 to {MAX_PAGE_RANGES} ranges"));
        }
        if raw.ranges[..len].iter().any(|(first, last)| *first == 0 || first > last) {
            return Err("a page range runs from page 1 upwards, first to last".into());
        }
        Ok(PageSelection { ranges: raw.ranges, len: raw.len })
    }
}

impl From<PageSelection> for RawSelection {
    fn from(selection: PageSelection) -> Self {
        RawSelection { ranges: selection.ranges, len: selection.len }
    }
}

impl PageSelection {
    /// Parses `2-3,7`: page numbers and inclusive ranges, comma-separated.
    pub fn parse(value: &str) -> Result<PageSelection, String> {
        let mut ranges = [(0u32, 0u32); MAX_PAGE_RANGES];
        let mut len = 0;
        for part in value.split(',') {
            let part = part.trim();
            let number = |s: &str| -> Result<u32, String> {
                match s.trim().parse::<u32>() {
                    Ok(n) if n >= 1 => Ok(n),
                    _ => Err(format!("{} is not a page number (pages count from 1)", crate::quoted(s))),
                }
            };
            let (first, last) = match part.split_once('-') {
                Some((first, last)) => (number(first)?, number(last)?),
                None => {
                    let n = number(part)?;
                    (n, n)
                }
            };
            if first > last {
                return Err(format!("page range {} runs backwards", crate::quoted(part)));
            }
            if len == MAX_PAGE_RANGES {
                return Err(format!("at most {MAX_PAGE_RANGES} page ranges"));
            }
            ranges[len] = (first, last);
            len += 1;
        }
        Ok(PageSelection { ranges, len: len as u8 })
    }

    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges[..self.len as usize]
    }

    pub fn contains(&self, page: u32) -> bool {
        self.ranges().iter().any(|(first, last)| (*first..=*last).contains(&page))
    }

    /// The highest page named.
    pub fn last(&self) -> u32 {
        self.ranges().iter().map(|(_, last)| *last).max().unwrap_or(0)
    }
}

impl std::fmt::Display for PageSelection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (first, last)) in self.ranges().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if first == last {
                write!(f, "{first}")?;
            } else {
                write!(f, "{first}-{last}")?;
            }
        }
        Ok(())
    }
}
