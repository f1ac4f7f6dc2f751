//! The scanned image of a PDF page, decoded directly from its image XObject:
//! JPEG (`DCTDecode`), CCITT Group 4 fax (`CCITTFaxDecode`, `K < 0`) and
//! Flate or uncompressed samples in grey, RGB, CMYK or an indexed palette.
//! A scanner writes one image covering the page; the largest image the page
//! draws is taken as that scan. Pages drawn with vector graphics (no image)
//! are not rendered.

use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream};

use super::raster::{self, check_pixels, luma, GrayImage, RasterError};

/// Points in an inch: PDF user space is in points.
const POINTS_PER_INCH: f64 = 72.0;

/// The page's largest image, as grey pixels at its resolution on the page.
pub fn decode_page_image(document: &Document, page_id: ObjectId, stream: &Stream) -> Result<GrayImage, RasterError> {
    let dict = &stream.dict;
    let int =
        |key: &[u8]| dict.get(key).ok().and_then(|o| document.dereference(o).ok()).and_then(|(_, o)| o.as_i64().ok());
    let width = int(b"Width").filter(|w| *w > 0 && *w <= u32::MAX as i64).ok_or_else(|| no("Width"))? as u32;
    let height = int(b"Height").filter(|h| *h > 0 && *h <= u32::MAX as i64).ok_or_else(|| no("Height"))? as u32;
    check_pixels(width, height)?;
    let filters: Vec<Vec<u8>> =
        match dict.get(b"Filter").ok().and_then(|o| document.dereference(o).ok()).map(|(_, o)| o) {
            Some(Object::Name(name)) => vec![name.clone()],
            Some(Object::Array(items)) => items.iter().filter_map(|o| o.as_name().ok().map(<[u8]>::to_vec)).collect(),
            _ => Vec::new(),
        };
    let last = filters.last().map(Vec::as_slice);
    let mut image = match last {
        Some(b"DCTDecode") => {
            let jpeg = undo_leading_filters(stream, &filters)?;
            raster::decode(&jpeg)?
        }
        Some(b"CCITTFaxDecode") => {
            let fax = undo_leading_filters(stream, &filters)?;
            ccitt(&fax, width, height, decode_params(document, dict))?
        }
        Some(b"JPXDecode") => return Err(RasterError("JPEG 2000 page images are not supported".into())),
        Some(b"JBIG2Decode") => return Err(RasterError("JBIG2 page images are not supported".into())),
        _ => {
            if filters.iter().any(|f| f == b"FlateDecode") {
                check_inflated_size(stream, width, height)?;
            }
            let samples = stream.decompressed_content().map_err(|err| RasterError(err.to_string()))?;
            samples_to_gray(document, dict, &samples, width, height)?
        }
    };
    image.ppi = page_ppi(document, page_id, image.width);
    Ok(image)
}

fn no(key: &str) -> RasterError {
    RasterError(format!("the page image has no valid /{key}"))
}

/// The `Image` XObject with the most pixels among the page's resources:
/// the scan, on a scanned page.
pub fn largest_image(document: &Document, page_id: ObjectId) -> Option<&Stream> {
    let (own, inherited) = document.get_page_resources(page_id).ok()?;
    let mut resources: Vec<&Dictionary> = own.into_iter().collect();
    resources.extend(inherited.iter().filter_map(|id| document.get_dictionary(*id).ok()));
    let mut best: Option<(u64, &Stream)> = None;
    for resource in resources {
        let Ok(xobjects) =
            resource.get(b"XObject").and_then(|o| document.dereference(o)).and_then(|(_, o)| o.as_dict())
        else {
            continue;
        };
        for (_, entry) in xobjects.iter() {
            let Ok((_, Object::Stream(stream))) = document.dereference(entry) else { continue };
            if !stream.dict.get(b"Subtype").and_then(Object::as_name).is_ok_and(|name| name == b"Image") {
                continue;
            }
            let side = |key: &[u8]| stream.dict.get(key).and_then(Object::as_i64).unwrap_or(0).max(0) as u64;
            let pixels = side(b"Width") * side(b"Height");
            if best.is_none_or(|(most, _)| pixels > most) {
                best = Some((pixels, stream));
            }
        }
    }
    best.map(|(_, stream)| stream)
}

/// The stream's bytes with every filter before the image codec undone (a
/// JPEG wrapped in Flate, say).
fn undo_leading_filters(stream: &Stream, filters: &[Vec<u8>]) -> Result<Vec<u8>, RasterError> {
    if filters.len() <= 1 {
        return Ok(stream.content.clone());
    }
    let mut bytes = stream.content.clone();
    for filter in &filters[..filters.len() - 1] {
        bytes = match filter.as_slice() {
            b"FlateDecode" => {
                use std::io::Read;
                let mut out = Vec::new();
                flate2::read::ZlibDecoder::new(bytes.as_slice())
                    .take(raster::MAX_PAGE_PIXELS * 4)
                    .read_to_end(&mut out)
                    .map_err(|err| RasterError(err.to_string()))?;
                out
            }
            other => {
                return Err(RasterError(format!("filter {} before the image codec", String::from_utf8_lossy(other))))
            }
        };
    }
    Ok(bytes)
}

/// Refuses Flate data that inflates past what the declared pixels need (a
/// decompression bomb), before the parser inflates it without a bound.
fn check_inflated_size(stream: &Stream, width: u32, height: u32) -> Result<(), RasterError> {
    use std::io::Read;
    // Four 16-bit channels a pixel, plus a predictor byte a row.
    let most = width as u64 * height as u64 * 8 + height as u64;
    let inflated = std::io::copy(
        &mut flate2::read::ZlibDecoder::new(stream.content.as_slice()).take(most + 1),
        &mut std::io::sink(),
    )
    .unwrap_or(0);
    if inflated > most {
        return Err(RasterError(format!("the page image inflates past the {most} bytes its size needs")));
    }
    Ok(())
}

fn decode_params<'a>(document: &'a Document, dict: &'a Dictionary) -> Option<&'a Dictionary> {
    let params = document.dereference(dict.get(b"DecodeParms").ok()?).ok()?.1;
    match params {
        Object::Dictionary(params) => Some(params),
        Object::Array(items) => items.iter().rev().find_map(|o| document.dereference(o).ok()?.1.as_dict().ok()),
        _ => None,
    }
}

/// CCITT Group 4 (the `K < 0` of nearly every scanner's bilevel output).
fn ccitt(data: &[u8], width: u32, height: u32, params: Option<&Dictionary>) -> Result<GrayImage, RasterError> {
    let get = |key: &[u8]| params.and_then(|p| p.get(key).ok());
    let k = get(b"K").and_then(|o| o.as_i64().ok()).unwrap_or(0);
    if k >= 0 {
        return Err(RasterError("CCITT Group 3 page images are not supported".into()));
    }
    let black_is_1 = get(b"BlackIs1").and_then(|o| o.as_bool().ok()).unwrap_or(false);
    let columns = get(b"Columns").and_then(|o| o.as_i64().ok()).unwrap_or(1728).clamp(1, u16::MAX as i64) as u16;
    if columns as u32 != width || height > u16::MAX as u32 {
        return Err(RasterError("CCITT image size out of range".into()));
    }
    let mut pixels = Vec::with_capacity(width as usize * height as usize);
    let (black, white) = if black_is_1 { (255, 0) } else { (0, 255) };
    fax::decoder::decode_g4(data.iter().copied(), columns, Some(height as u16), |line| {
        if pixels.len() < width as usize * height as usize {
            pixels.extend(fax::decoder::pels(line, columns).map(|c| match c {
                fax::Color::Black => black,
                fax::Color::White => white,
            }));
        }
    })
    .ok_or_else(|| RasterError("the CCITT data did not decode".into()))?;
    pixels.resize(width as usize * height as usize, 255);
    Ok(GrayImage { width, height, pixels, ppi: raster::DEFAULT_PPI })
}

/// Raw samples (after Flate and predictors) to grey.
fn samples_to_gray(
    document: &Document,
    dict: &Dictionary,
    samples: &[u8],
    width: u32,
    height: u32,
) -> Result<GrayImage, RasterError> {
    let bits = dict.get(b"BitsPerComponent").and_then(Object::as_i64).unwrap_or(8);
    let image_mask = dict.get(b"ImageMask").and_then(Object::as_bool).unwrap_or(false);
    let space = dict.get(b"ColorSpace").ok().and_then(|o| document.dereference(o).ok()).map(|(_, o)| o);
    let (channels, palette) = color_space(document, space, image_mask)?;
    let bits = if image_mask { 1 } else { bits };
    if !matches!(bits, 1 | 2 | 4 | 8) {
        return Err(RasterError(format!("{bits} bits a sample is not supported")));
    }
    let (w, h) = (width as usize, height as usize);
    let row_bytes = (w * channels * bits as usize).div_ceil(8);
    if samples.len() < row_bytes * h {
        return Err(RasterError("the page image's data is cut short".into()));
    }
    let max = (1u32 << bits) - 1;
    let mut pixels = Vec::with_capacity(w * h);
    for row in samples.chunks(row_bytes).take(h) {
        let sample = |i: usize| -> u8 {
            let bit = i * bits as usize;
            let value = (row[bit / 8] >> (8 - bits as usize - bit % 8)) as u32 & max;
            if palette.is_some() {
                value as u8
            } else {
                (value * 255 / max) as u8
            }
        };
        for x in 0..w {
            let base = x * channels;
            let grey = match (&palette, channels) {
                (Some(table), _) => {
                    let index = sample(base) as usize;
                    table.get(index).copied().unwrap_or(255)
                }
                (None, 1) if image_mask => {
                    // A stencil mask: 0 paints (black) unless /Decode says otherwise.
                    if sample(base) == 0 {
                        0
                    } else {
                        255
                    }
                }
                (None, 1) => sample(base),
                (None, 3) => luma(sample(base), sample(base + 1), sample(base + 2)),
                (None, _) => {
                    let k = 255 - sample(base + 3) as u32;
                    (luma(255 - sample(base), 255 - sample(base + 1), 255 - sample(base + 2)) as u32 * k / 255) as u8
                }
            };
            pixels.push(grey);
        }
    }
    Ok(GrayImage { width, height, pixels, ppi: raster::DEFAULT_PPI })
}

/// Components a pixel and, for `Indexed`, the palette as grey.
fn color_space(
    document: &Document,
    space: Option<&Object>,
    image_mask: bool,
) -> Result<(usize, Option<Vec<u8>>), RasterError> {
    if image_mask {
        return Ok((1, None));
    }
    let named = |name: &[u8]| -> Option<usize> {
        match name {
            b"DeviceGray" | b"CalGray" | b"G" => Some(1),
            b"DeviceRGB" | b"CalRGB" | b"RGB" => Some(3),
            b"DeviceCMYK" | b"CMYK" => Some(4),
            _ => None,
        }
    };
    match space {
        None => Ok((1, None)),
        Some(Object::Name(name)) => named(name).map(|n| (n, None)).ok_or_else(|| unsupported_space(name)),
        Some(Object::Array(items)) => {
            let family = items.first().and_then(|o| o.as_name().ok()).unwrap_or(b"");
            match family {
                b"ICCBased" => {
                    let stream = items.get(1).and_then(|o| document.dereference(o).ok()).map(|(_, o)| o);
                    let n = match stream {
                        Some(Object::Stream(s)) => s.dict.get(b"N").and_then(Object::as_i64).unwrap_or(3),
                        _ => 3,
                    };
                    match n {
                        1 | 3 | 4 => Ok((n as usize, None)),
                        _ => Err(unsupported_space(b"ICCBased")),
                    }
                }
                b"Indexed" | b"I" => {
                    let base = items.get(1).and_then(|o| document.dereference(o).ok()).map(|(_, o)| o);
                    let (base_channels, _) = color_space(document, base, false)?;
                    let table = match items.get(3).and_then(|o| document.dereference(o).ok()).map(|(_, o)| o) {
                        Some(Object::String(bytes, _)) => bytes.clone(),
                        Some(Object::Stream(s)) => s.decompressed_content().unwrap_or_else(|_| s.content.clone()),
                        _ => return Err(unsupported_space(b"Indexed")),
                    };
                    let greys = table
                        .chunks(base_channels)
                        .map(|p| match p {
                            [g] => *g,
                            [r, g, b] => luma(*r, *g, *b),
                            [c, m, y, k] => (luma(255 - c, 255 - m, 255 - y) as u32 * (255 - *k as u32) / 255) as u8,
                            _ => 255,
                        })
                        .collect();
                    Ok((1, Some(greys)))
                }
                other => named(other).map(|n| (n, None)).ok_or_else(|| unsupported_space(other)),
            }
        }
        Some(_) => Err(unsupported_space(b"?")),
    }
}

fn unsupported_space(name: &[u8]) -> RasterError {
    RasterError(format!("colour space {} is not supported", String::from_utf8_lossy(name)))
}

/// The image's resolution on the page: its width in pixels over the page's
/// width in inches (the scan covers the page).
fn page_ppi(document: &Document, page_id: ObjectId, image_width: u32) -> u32 {
    let media_box = document
        .get_dictionary(page_id)
        .ok()
        .and_then(|page| page.get(b"MediaBox").ok())
        .and_then(|o| document.dereference(o).ok())
        .and_then(|(_, o)| o.as_array().ok())
        .and_then(|items| {
            let n: Vec<f64> = items.iter().filter_map(|o| o.as_float().ok().map(f64::from)).collect();
            (n.len() == 4).then(|| (n[2] - n[0]).abs())
        });
    match media_box {
        Some(points) if points > 1.0 => {
            let ppi = image_width as f64 / (points / POINTS_PER_INCH);
            (ppi.round() as u32).clamp(70, 1200)
        }
        _ => raster::DEFAULT_PPI,
    }
}
