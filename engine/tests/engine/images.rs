//! Engine tests: images are the `image` format with their declared size,
//! whatever their name; without an OCR engine (as here: the engine is pure
//! and these tests give it none), a warning says how to enable OCR. Reading
//! text by OCR is tested with the real Tesseract in `worker/tests/ocr.rs`.

use std::io::Cursor;

use docmill_engine::{self as engine, Input, OcrMode, Options};
use image::{DynamicImage, ImageFormat};
use serde_json::{json, Value};

use crate::check;

/// A grey gradient `width` × `height`, encoded as `format`.
fn picture(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let gray = image::GrayImage::from_fn(width, height, |x, y| image::Luma([((x + y) % 256) as u8]));
    let image = match format {
        ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP => {
            DynamicImage::ImageRgb8(DynamicImage::ImageLuma8(gray).to_rgb8())
        }
        _ => DynamicImage::ImageLuma8(gray),
    };
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A TIFF with one page per size given.
fn multipage_tiff(sizes: &[(u32, u32)]) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let mut encoder = tiff::encoder::TiffEncoder::new(&mut out).unwrap();
    for (width, height) in sizes {
        let pixels = vec![200u8; (*width * *height) as usize];
        encoder.write_image::<tiff::encoder::colortype::Gray8>(*width, *height, &pixels).unwrap();
    }
    out.into_inner()
}

fn warnings(report: &Value) -> String {
    report["warnings"].to_string()
}

#[test]
fn every_decodable_image_format_is_an_image_with_its_size() {
    for (format, media_type) in [
        (ImageFormat::Png, "image/png"),
        (ImageFormat::Jpeg, "image/jpeg"),
        (ImageFormat::Bmp, "image/bmp"),
        (ImageFormat::Gif, "image/gif"),
        (ImageFormat::WebP, "image/webp"),
        (ImageFormat::Tiff, "image/tiff"),
    ] {
        let bytes = picture(64, 48, format);
        let report = check(
            "upload.bin",
            &bytes,
            &[
                ("/format", json!("image")),
                ("/media_type", json!(media_type)),
                ("/metadata/width", json!(64)),
                ("/metadata/height", json!(48)),
                ("/stats/words", json!(0)),
                ("/metadata/ocr", Value::Null),
            ],
        );
        let warnings = warnings(&report);
        assert!(warnings.contains("OCR unavailable (no OCR engine is loaded)"), "{media_type}: {warnings}");
        assert!(warnings.contains("apt-get install tesseract-ocr tesseract-ocr-eng"), "{media_type}: {warnings}");
    }
}

#[test]
fn a_multi_page_tiff_counts_its_pages() {
    let tiff = multipage_tiff(&[(40, 30), (20, 10), (20, 10)]);
    check(
        "scan.tif",
        &tiff,
        &[("/format", json!("image")), ("/metadata/pages", json!(3)), ("/metadata/width", json!(40))],
    );
}

#[test]
fn ocr_off_says_the_image_was_not_read() {
    let png = picture(32, 32, ImageFormat::Png);
    let input = Input { filename: "a.png", declared_type: None, sha256: None, bytes: &png };
    let options = Options { ocr: Some(OcrMode::Off), ..Default::default() };
    let report = serde_json::to_value(engine::analyze(&input, &options).unwrap()).unwrap();
    assert_eq!(report["warnings"], json!(["OCR is off (ocr=off): text in images was not read"]));
}

#[test]
fn an_image_whose_header_is_garbage_is_a_report_with_a_warning() {
    for (name, bytes) in
        [("broken.png", &b"\x89PNG\r\n\x1a\nnot a chunk at all"[..]), ("broken.tif", b"II*\0\xff\xff\xff\xff")]
    {
        let report = check(name, bytes, &[("/format", json!("image")), ("/metadata/width", Value::Null)]);
        assert!(warnings(&report).contains("the image could not be read"), "{name}: {report:#}");
    }
}
