//! Engine tests: format detection by content and extension.

use serde_json::json;

use crate::{check, check_error};

#[test]
fn binary_formats_are_recognised_whatever_the_name() {
    let pdf = crate::pdf_rtf::simple_pdf("Detected by content", None);
    check("report.txt", &pdf, &[("/format", json!("pdf")), ("/media_type", json!("application/pdf"))]);
    check("notes.txt", br"{\rtf1\ansi Hello}", &[("/format", json!("rtf"))]);
    let docx = crate::containers::docx(&["Body"], None);
    check("archive.zip", &docx, &[("/format", json!("docx"))]);
    check("noextension", &docx, &[("/format", json!("docx"))]);
}

#[test]
fn other_binaries_get_a_sniffed_media_type() {
    let png =
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89";
    // An image the engine decodes is `image`, whatever its name, with the
    // size its header declares.
    check(
        "picture.txt",
        png,
        &[("/format", json!("image")), ("/media_type", json!("image/png")), ("/metadata/width", json!(1))],
    );
    let heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic\x00\x00\x00\x00";
    check("photo.heic", heic, &[("/format", json!("binary")), ("/media_type", json!("image/heic"))]);
    check("notes.txt", b"BM is how this text starts", &[("/format", json!("text"))]);
    let gzip = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x01\x00\x00\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00";
    check("data", gzip, &[("/format", json!("binary")), ("/media_type", json!("application/gzip"))]);
    let report = check("blob.bin", &[0u8, 1, 2, 3, 255, 254, 0, 0, 7], &[("/format", json!("binary"))]);
    assert_eq!(report["stats"]["words"], 0);
}

#[test]
fn a_known_extension_decides_among_text_formats() {
    check("data.json", b"{not json", &[("/format", json!("json")), ("/metadata/valid", json!(false))]);
    check("table.tsv", b"a\tb\n1\t2\n", &[("/format", json!("csv")), ("/metadata/delimiter", json!("\t"))]);
    check("page.htm", b"plain words", &[("/format", json!("html"))]);
    check("readme.md", b"plain words", &[("/format", json!("markdown"))]);
    check("feed.rss", b"<rss><channel><title>T</title></channel></rss>", &[("/format", json!("xml"))]);
    check("notes.txt", b"<html><body>looks like html</body></html>", &[("/format", json!("text"))]);
}

#[test]
fn content_decides_without_a_known_extension() {
    check(
        "page",
        b"<!DOCTYPE html><html><head><title>T</title></head><body>x</body></html>",
        &[("/format", json!("html"))],
    );
    check(
        "doc",
        b"<?xml version=\"1.0\"?>\n<!DOCTYPE r [ <!ENTITY e \"x\"> ]>\n<r>text</r>",
        &[("/format", json!("xml"))],
    );
    check("data.unknown", br#"{"a": [1, 2, {"b": "c"}]}"#, &[("/format", json!("json"))]);
    check("export", b"name,age,city\nAda,36,London\nAlan,41,Wilmslow\n", &[("/format", json!("csv"))]);
    check(
        "README",
        b"# Title\n\nSome *text* with a [link](https://example.com).\n\n- one\n- two\n",
        &[("/format", json!("markdown"))],
    );
    check("letter", b"Dear reader,\nthis is plain text.\n", &[("/format", json!("text"))]);
}

#[test]
fn wide_and_legacy_encodings_are_text_not_binary() {
    let utf16: Vec<u8> =
        "Plain text in UTF-16 without a byte order mark.".encode_utf16().flat_map(u16::to_le_bytes).collect();
    check("wide", &utf16, &[("/format", json!("text")), ("/metadata/encoding", json!("UTF-16LE"))]);
    let (cyrillic, _, _) = encoding_rs::WINDOWS_1251.encode("Привет, мир! Это обычный текст на русском языке.");
    check("ru", &cyrillic, &[("/format", json!("text"))]);
}

/// A zip named as an office document whose contents say no format (the
/// package lacks its main part, or is cut short before any part's name) was
/// a silent `binary` report; read as what it is named, it fails with what is
/// wrong with it. A zip named as a zip stays `binary`.
#[test]
fn a_broken_office_zip_fails_as_what_it_is_named() {
    let no_main_part = crate::containers::zip(&[("[Content_Types].xml", b"<Types/>"), ("other.xml", b"<a/>")]);
    check_error("report.docx", &no_main_part, "word/document.xml is missing");
    check_error("cut.docx", &no_main_part[..40], "damaged zip container");
    check_error("sheet.xlsx", &no_main_part, "xlsx");
    check("bundle.zip", &no_main_part, &[("/format", json!("binary")), ("/media_type", json!("application/zip"))]);
}
