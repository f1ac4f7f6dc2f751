//! Page images as OCR takes them: 8-bit grey, one byte per pixel, rows
//! without padding. Image files are decoded into them with pure-Rust decoders
//! (`image`, `tiff`), after their declared size has been checked against
//! [`MAX_PAGE_PIXELS`], so a pixel bomb is a warning, never an allocation.

use std::io::Cursor;

/// Most pixels one page may have to be read by OCR. An A4 page scanned at
/// 600 dpi is 35 million pixels; past 50 million a page is either a poster
/// or a decompression bomb declaring huge dimensions, and decoding it (four
/// bytes a pixel for colour, then grey) would take hundreds of MiB of a
/// worker's memory.
pub const MAX_PAGE_PIXELS: u64 = 50_000_000;
/// Pages of a multi-page TIFF that are counted; past it the count stops (and
/// OCR reads at most `--ocr-max-pages` anyway).
pub const MAX_TIFF_PAGES: usize = 10_000;
/// Resolution assumed for an image that does not say: that of a typical scan.
pub const DEFAULT_PPI: u32 = 300;

/// An 8-bit grey page: 0 black, 255 white.
#[derive(Clone, PartialEq, Eq)]
pub struct GrayImage {
    pub width: u32,
    pub height: u32,
    /// `width * height` bytes, row by row.
    pub pixels: Vec<u8>,
    /// Pixels per inch, for the recogniser's sense of text size.
    pub ppi: u32,
}

impl std::fmt::Debug for GrayImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GrayImage({}x{} at {} ppi)", self.width, self.height, self.ppi)
    }
}

impl GrayImage {
    /// The page turned counterclockwise by `degrees` (90, 180 or 270), which
    /// makes upright a page that was turned clockwise that far.
    pub fn rotated_counterclockwise(&self, degrees: u16) -> GrayImage {
        let (w, h) = (self.width as usize, self.height as usize);
        let source = &self.pixels;
        let mut pixels = vec![255u8; w * h];
        let (width, height) = match degrees % 360 {
            90 => {
                // New (x, y) takes old (w-1-y, x); new width is old height.
                for y in 0..w {
                    for x in 0..h {
                        pixels[y * h + x] = source[x * w + (w - 1 - y)];
                    }
                }
                (h, w)
            }
            180 => {
                for (i, pixel) in pixels.iter_mut().enumerate() {
                    *pixel = source[w * h - 1 - i];
                }
                (w, h)
            }
            270 => {
                for y in 0..w {
                    for x in 0..h {
                        pixels[y * h + x] = source[(h - 1 - x) * w + y];
                    }
                }
                (h, w)
            }
            _ => return self.clone(),
        };
        GrayImage { width: width as u32, height: height as u32, pixels, ppi: self.ppi }
    }
}

/// A page that could not be turned into pixels, in words for a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RasterError(pub String);

/// Checks declared dimensions against [`MAX_PAGE_PIXELS`].
pub fn check_pixels(width: u32, height: u32) -> Result<(), RasterError> {
    let pixels = width as u64 * height as u64;
    if pixels > MAX_PAGE_PIXELS {
        return Err(RasterError(format!(
            "{width}×{height} pixels is over the limit of {} million pixels a page",
            MAX_PAGE_PIXELS / 1_000_000
        )));
    }
    if pixels == 0 {
        return Err(RasterError("the image has no pixels".into()));
    }
    Ok(())
}

/// Decoder memory allowed for one page: the page in RGBA with 16 bits a
/// channel, the worst case the decoders produce, plus working room.
fn decoder_limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PAGE_PIXELS * 8 + (64 << 20));
    limits
}

/// Width and height an image file declares, read from its header only.
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), RasterError> {
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|err| RasterError(err.to_string()))?;
    reader.into_dimensions().map_err(|err| RasterError(err.to_string()))
}

/// Decodes a single-image file (PNG, JPEG, BMP, GIF's first frame, WebP)
/// into grey, transparent pixels over white.
pub fn decode(bytes: &[u8]) -> Result<GrayImage, RasterError> {
    let (width, height) = dimensions(bytes)?;
    check_pixels(width, height)?;
    if let Some(image) = decode_jpeg_luma(bytes) {
        return Ok(image);
    }
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|err| RasterError(err.to_string()))?;
    reader.limits(decoder_limits());
    let decoded = reader.decode().map_err(|err| RasterError(err.to_string()))?;
    let pixels = if decoded.color().has_alpha() {
        decoded.to_luma_alpha8().pixels().map(|p| over_white(p.0[0], p.0[1])).collect()
    } else {
        decoded.to_luma8().into_raw()
    };
    Ok(GrayImage { width: decoded.width(), height: decoded.height(), pixels, ppi: DEFAULT_PPI })
}

/// A colour (YCbCr) or grey JPEG decoded straight to its luma channel, the
/// grey of BT.601 that [`luma`] computes for other images. Decoding to RGB
/// first and then to grey holds both at once: 4 bytes a pixel, 34 MB for a
/// letter page scanned at 300 dpi, against 1 byte a pixel here. `None` for
/// anything else (CMYK and other colour models, a JPEG this decoder refuses):
/// those take the general path.
fn decode_jpeg_luma(bytes: &[u8]) -> Option<GrayImage> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;

    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    // The size was checked against MAX_PAGE_PIXELS by the caller.
    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX)
        .jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().ok()?;
    if !matches!(decoder.input_colorspace()?, ColorSpace::YCbCr | ColorSpace::Luma) {
        return None;
    }
    let (width, height) = decoder.dimensions()?;
    let pixels = decoder.decode().ok()?;
    if decoder.output_colorspace()? != ColorSpace::Luma || pixels.len() != width * height {
        return None;
    }
    Some(GrayImage { width: width as u32, height: height as u32, pixels, ppi: DEFAULT_PPI })
}

fn over_white(luma: u8, alpha: u8) -> u8 {
    ((luma as u32 * alpha as u32 + 255 * (255 - alpha as u32)) / 255) as u8
}

/// A TIFF's pages: their count and declared sizes, from the directories
/// alone.
pub fn tiff_pages(bytes: &[u8]) -> Result<Vec<(u32, u32)>, RasterError> {
    let mut decoder = tiff_decoder(bytes)?;
    let mut pages = Vec::new();
    loop {
        pages.push(decoder.dimensions().map_err(|err| RasterError(err.to_string()))?);
        if pages.len() >= MAX_TIFF_PAGES || !decoder.more_images() || decoder.next_image().is_err() {
            return Ok(pages);
        }
    }
}

fn tiff_decoder(bytes: &[u8]) -> Result<tiff::decoder::Decoder<Cursor<&[u8]>>, RasterError> {
    let mut limits = tiff::decoder::Limits::default();
    limits.decoding_buffer_size = (MAX_PAGE_PIXELS * 8) as usize;
    tiff::decoder::Decoder::new(Cursor::new(bytes))
        .map(|decoder| decoder.with_limits(limits))
        .map_err(|err| RasterError(err.to_string()))
}

/// Decodes page `index` (from 0) of a TIFF into grey.
pub fn decode_tiff_page(bytes: &[u8], index: usize) -> Result<GrayImage, RasterError> {
    use tiff::decoder::DecodingResult;
    use tiff::ColorType;

    let failed = |err: tiff::TiffError| RasterError(err.to_string());
    let mut decoder = tiff_decoder(bytes)?;
    decoder.seek_to_image(index).map_err(failed)?;
    let (width, height) = decoder.dimensions().map_err(failed)?;
    check_pixels(width, height)?;
    let color = decoder.colortype().map_err(failed)?;
    let ppi = tiff_ppi(&mut decoder).unwrap_or(DEFAULT_PPI);
    let decoded = decoder.read_image().map_err(failed)?;
    let n = width as usize * height as usize;
    let samples: Vec<u8> = match decoded {
        DecodingResult::U8(samples) => samples,
        DecodingResult::U16(samples) => samples.iter().map(|s| (s >> 8) as u8).collect(),
        _ => return Err(RasterError(format!("TIFF samples of type {color:?} are not supported"))),
    };
    let channels = match color {
        ColorType::Gray(1) => {
            // Bilevel rows are packed eight pixels a byte, each row padded.
            let stride = (width as usize).div_ceil(8);
            if samples.len() == n {
                // Already one sample a pixel (0 or 1, or 0 or 255).
                let max = samples.iter().copied().max().unwrap_or(0).max(1);
                let pixels = samples.iter().map(|s| (*s as u32 * 255 / max as u32) as u8).collect();
                return Ok(GrayImage { width, height, pixels, ppi });
            }
            if samples.len() < stride * height as usize {
                return Err(RasterError("bilevel TIFF data cut short".into()));
            }
            let mut pixels = Vec::with_capacity(n);
            for row in samples.chunks(stride).take(height as usize) {
                for x in 0..width as usize {
                    let bit = (row[x / 8] >> (7 - x % 8)) & 1;
                    pixels.push(if bit == 1 { 255 } else { 0 });
                }
            }
            return Ok(GrayImage { width, height, pixels, ppi });
        }
        ColorType::Gray(_) => 1,
        ColorType::GrayA(_) => 2,
        ColorType::RGB(_) | ColorType::YCbCr(_) => 3,
        ColorType::RGBA(_) => 4,
        ColorType::CMYK(_) => 4,
        other => return Err(RasterError(format!("TIFF colour type {other:?} is not supported"))),
    };
    if samples.len() < n * channels {
        return Err(RasterError("TIFF data cut short".into()));
    }
    let pixels = samples
        .chunks_exact(channels)
        .take(n)
        .map(|p| match (color, channels) {
            (_, 1) => p[0],
            (_, 2) => over_white(p[0], p[1]),
            (ColorType::CMYK(_), _) => {
                let k = 255 - p[3] as u32;
                let luma = luma(255 - p[0], 255 - p[1], 255 - p[2]) as u32;
                (luma * k / 255) as u8
            }
            (_, 3) => luma(p[0], p[1], p[2]),
            _ => over_white(luma(p[0], p[1], p[2]), p[3]),
        })
        .collect();
    Ok(GrayImage { width, height, pixels, ppi })
}

/// Pixels per inch from a TIFF's resolution tags.
fn tiff_ppi(decoder: &mut tiff::decoder::Decoder<Cursor<&[u8]>>) -> Option<u32> {
    use tiff::tags::Tag;
    let value = decoder.find_tag(Tag::XResolution).ok()??;
    let ppi = match value {
        tiff::decoder::ifd::Value::Rational(num, den) if den > 0 => num / den,
        _ => return None,
    };
    // Unit 3 is centimetres.
    let unit = decoder.find_tag_unsigned::<u16>(Tag::ResolutionUnit).ok().flatten().unwrap_or(2);
    let ppi = if unit == 3 { ppi * 254 / 100 } else { ppi };
    (72..=2400).contains(&ppi).then_some(ppi)
}

/// ITU-R BT.601 luma.
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 299 + g as u32 * 587 + b as u32 * 114) / 1000) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(width: u32, height: u32) -> GrayImage {
        let pixels = (0..width * height).map(|i| i as u8).collect();
        GrayImage { width, height, pixels, ppi: 300 }
    }

    #[test]
    fn four_quarter_turns_give_the_page_back() {
        let original = page(3, 2);
        let quarter = original.rotated_counterclockwise(90);
        assert_eq!((quarter.width, quarter.height), (2, 3));
        // Top-right pixel of the original is top-left once turned left.
        assert_eq!(quarter.pixels[0], original.pixels[2]);
        let back = quarter.rotated_counterclockwise(90).rotated_counterclockwise(180);
        assert_eq!(back, original);
        assert_eq!(original.rotated_counterclockwise(270).rotated_counterclockwise(90), original);
    }

    #[test]
    fn declared_pixel_bombs_are_refused_before_decoding() {
        assert!(check_pixels(100_000, 100_000).unwrap_err().0.contains("over the limit"));
        assert!(check_pixels(2480, 3508).is_ok());
    }
}
