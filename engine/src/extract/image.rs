//! Images (PNG, JPEG, TIFF with its pages, BMP, GIF, WebP): width, height
//! and page count from the headers; text only by OCR, page by page.

use super::{ExtractError, Extracted};
use crate::ocr::{raster, Session};
use crate::structure::chunk::PageSpan;
use crate::Options;

/// A TIFF's pages are pages as a PDF's are: `pages=` selects among them and
/// the report has their spans.
pub fn extract(
    bytes: &[u8],
    media_type: &str,
    options: &Options,
    ocr: &mut Session<'_>,
) -> Result<Extracted, ExtractError> {
    let mut extracted = Extracted::default();
    let tiff = media_type == "image/tiff";
    let pages = if tiff { raster::tiff_pages(bytes) } else { raster::dimensions(bytes).map(|size| vec![size]) };
    // An image whose header does not decode is still an image (its
    // signature said so), reported with what could be read.
    let pages = match pages {
        Ok(pages) => pages,
        Err(err) => match png_header_size(bytes) {
            Some(size) => {
                extracted.warnings.push(format!("the image is damaged: {}", err.0));
                vec![size]
            }
            None => {
                extracted.warnings.push(format!("the image could not be read: {}", err.0));
                return Ok(extracted);
            }
        },
    };
    let (width, height) = pages[0];
    extracted.set("width", width);
    extracted.set("height", height);
    if tiff {
        extracted.set("pages", pages.len());
        extracted.page_total = Some(pages.len() as u32);
    }
    let possible = ocr.possible();
    for (index, (width, height)) in pages.iter().enumerate() {
        let number = index + 1;
        if tiff && options.pages.is_some_and(|selection| !selection.contains(number as u32)) {
            continue;
        }
        let start = extracted.text.len();
        if possible {
            read_page(bytes, tiff, index, (*width, *height), ocr, &mut extracted.text);
        }
        if tiff {
            extracted.pages.push(PageSpan { number: number as u32, start, end: extracted.text.len() });
        }
    }
    // One line break at the end, as the other formats.
    if extracted.text.ends_with("\n\n") {
        extracted.text.pop();
    }
    Ok(extracted)
}

/// Reads page `index` (from 0) by OCR onto `text`, followed by a blank line.
fn read_page(bytes: &[u8], tiff: bool, index: usize, size: (u32, u32), ocr: &mut Session<'_>, text: &mut String) {
    let number = index + 1;
    let (width, height) = size;
    let page_name = if tiff { format!("page {number}") } else { "the image".to_owned() };
    if let Err(err) = raster::check_pixels(width, height) {
        ocr.warn(format!("{page_name} was not read by OCR: {}", err.0));
        return;
    }
    let decode = || if tiff { raster::decode_tiff_page(bytes, index) } else { raster::decode(bytes) };
    match decode() {
        Ok(image) => {
            let read = ocr.read_page(number, image, &mut || decode().ok());
            if let Some(read) = read.filter(|read| !read.is_empty()) {
                text.push_str(read.trim_end());
                text.push_str("\n\n");
            }
        }
        Err(err) => ocr.warn(format!("{page_name} could not be decoded for OCR: {}", err.0)),
    }
}

/// Width and height from a PNG's IHDR chunk alone, for a file cut short
/// before the decoder would report them.
fn png_header_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    let be = |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    Some((be(16)?, be(20)?))
}
