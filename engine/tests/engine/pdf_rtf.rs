//! Engine tests: PDF (documents written by a tiny PDF writer here) and RTF.

use serde_json::json;

use crate::{check, check_error, check_text};

/// A one-page PDF showing `text` in Helvetica, with an Info dictionary when
/// `title` is given. Offsets in the cross-reference table are computed.
pub fn simple_pdf(text: &str, title: Option<&str>) -> Vec<u8> {
    let content = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
    pdf_with_content(format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()).as_bytes(), title)
}

/// A one-page PDF whose content stream is the object `content` (dictionary
/// and stream), with Helvetica as /F1.
pub fn pdf_with_content(content: &[u8], title: Option<&str>) -> Vec<u8> {
    let helvetica = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";
    pdf_with_font(content, &[helvetica], title)
}

/// A one-page PDF with the content stream object `content` and /F1 the
/// first of `font` (objects 5, 6, ... in order, for its parts).
fn pdf_with_font(content: &[u8], font: &[&str], title: Option<&str>) -> Vec<u8> {
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        content.to_vec(),
    ];
    objects.extend(font.iter().map(|part| part.as_bytes().to_vec()));
    if let Some(title) = title {
        objects.push(
            format!("<< /Title ({title}) /Author (Ada Lovelace) /CreationDate (D:20240102030405Z) >>").into_bytes(),
        );
    }
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        pdf.extend_from_slice(object);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    let info = if title.is_some() { format!(" /Info {} 0 R", objects.len()) } else { String::new() };
    pdf.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    pdf
}

#[test]
fn pdf_text_and_info() {
    let pdf = simple_pdf("Quarterly figures improved", Some("Q3 Report"));
    let report = check(
        "q3.pdf",
        &pdf,
        &[
            ("/format", json!("pdf")),
            ("/metadata/title", json!("Q3 Report")),
            ("/metadata/author", json!("Ada Lovelace")),
            ("/metadata/created", json!("2024-01-02T03:04:05Z")),
            ("/metadata/pages", json!(1)),
            ("/metadata/encrypted", json!(false)),
        ],
    );
    assert!(report["text"].as_str().unwrap().contains("Quarterly figures improved"), "{report}");
}

/// [`simple_pdf`] encrypted by the standard security handler, `version` 2
/// (RC4, 128-bit) or 4 (AES-128), with the owner password "owner".
fn encrypted_pdf(text: &str, user_password: &str, version: u8) -> Vec<u8> {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use pdf_extract::encryption::crypt_filters::{Aes128CryptFilter, CryptFilter};
    use pdf_extract::{Document, EncryptionState, EncryptionVersion, Object, Permissions, StringFormat};

    let mut document = Document::load_mem(&simple_pdf(text, Some("Sealed minutes"))).expect("plain PDF loads");
    let id = Object::String(b"docmill-test-id!".to_vec(), StringFormat::Hexadecimal);
    document.trailer.set("ID", Object::Array(vec![id.clone(), id]));
    let owner_password = "owner";
    let permissions = Permissions::default();
    let version = match version {
        2 => EncryptionVersion::V2 { document: &document, owner_password, user_password, key_length: 128, permissions },
        4 => {
            let filter: Arc<dyn CryptFilter> = Arc::new(Aes128CryptFilter);
            EncryptionVersion::V4 {
                document: &document,
                encrypt_metadata: true,
                crypt_filters: BTreeMap::from([(b"StdCF".to_vec(), filter)]),
                stream_filter: b"StdCF".to_vec(),
                string_filter: b"StdCF".to_vec(),
                owner_password,
                user_password,
                permissions,
            }
        }
        other => panic!("no encryption version {other} here"),
    };
    let state = EncryptionState::try_from(version).expect("encryption state");
    document.encrypt(&state).expect("encrypts");
    let mut bytes = Vec::new();
    document.save_to(&mut bytes).expect("saves");
    assert!(!bytes.windows(text.len()).any(|w| w == text.as_bytes()), "the text is not in the clear");
    bytes
}

#[test]
fn pdf_encrypted_with_an_empty_user_password_is_read() {
    for version in [2, 4] {
        let pdf = encrypted_pdf("Budget approved unanimously", "", version);
        let report = check(
            "minutes.pdf",
            &pdf,
            &[
                ("/format", json!("pdf")),
                ("/metadata/encrypted", json!(true)),
                ("/metadata/title", json!("Sealed minutes")),
                ("/metadata/pages", json!(1)),
            ],
        );
        let text = report["text"].as_str().unwrap_or_default();
        assert!(text.contains("Budget approved unanimously"), "version {version}: {report:#}");
    }
}

#[test]
fn pdf_that_needs_a_password_is_an_encrypted_error() {
    for version in [2, 4] {
        let pdf = encrypted_pdf("Budget approved unanimously", "s3cret", version);
        check_error("locked.pdf", &pdf, "encrypted");
    }
}

#[test]
fn pdf_with_a_broken_cross_reference_table_is_rebuilt() {
    let mut pdf = simple_pdf("Recovered text", None);
    // Point startxref at nonsense, as a truncated or re-saved file would.
    let at = pdf.windows(9).rposition(|w| w == b"startxref").unwrap();
    pdf.truncate(at);
    pdf.extend_from_slice(b"startxref\n999999\n%%EOF\n");
    let report = check_text("broken.pdf", &pdf, &["Recovered text"]);
    assert!(report["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("rebuilt")));
}

#[test]
fn pdf_cut_before_its_cross_reference_table_is_rebuilt_from_its_catalog() {
    // An interrupted download: every object is there, the xref table and the
    // trailer naming /Root are not.
    let mut pdf = simple_pdf("Everything before the cut", Some("Partial"));
    let xref = pdf.windows(6).position(|w| w == b"\nxref\n").unwrap();
    pdf.truncate(xref + 1);
    let report = check_text("partial.pdf", &pdf, &["Everything before the cut"]);
    assert_eq!(report["metadata"]["pages"], 1, "{report:#}");
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("rebuilt"), "{warnings}");
}

#[test]
fn pdf_stream_inflating_past_the_limit_is_cut_with_a_warning() {
    use std::io::Write;

    // 48 MiB of spaces after the text deflate to about 50 KiB: a small file
    // that would make the parser hold a huge stream.
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(b"BT /F1 12 Tf 72 720 Td (Before the padding) Tj ET\n").unwrap();
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..48 {
        encoder.write_all(&spaces).unwrap();
    }
    let deflated = encoder.finish().unwrap();
    assert!(deflated.len() < 1 << 20);
    let mut content = format!("<< /Length {} /Filter /FlateDecode >>\nstream\n", deflated.len()).into_bytes();
    content.extend_from_slice(&deflated);
    content.extend_from_slice(b"\nendstream");
    let report = check_text("bomb.pdf", &pdf_with_content(&content, None), &["Before the padding"]);
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("truncated") && warnings.contains("inflate"), "{warnings}");
}

#[test]
fn compressed_pdf_content_is_read() {
    use std::io::Write;

    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(b"BT /F1 12 Tf 72 720 Td (Deflated words) Tj ET").unwrap();
    let deflated = encoder.finish().unwrap();
    let mut content = format!("<< /Length {} /Filter [/FlateDecode] >>\nstream\n", deflated.len()).into_bytes();
    content.extend_from_slice(&deflated);
    content.extend_from_slice(b"\nendstream");
    let report = check_text("deflated.pdf", &pdf_with_content(&content, None), &["Deflated words"]);
    assert_eq!(report["warnings"], serde_json::json!([]), "{report:#}");
}

/// A page showing `visual` (one Tj, glyphs left to right) in an unembedded
/// font whose codes are UTF-16 code units (the predefined UniJIS-UCS2-H
/// CMap) and no ToUnicode map, as many CJK PDFs have it.
fn ucs2_pdf(visual: &str) -> Vec<u8> {
    let hex: String = visual.encode_utf16().map(|unit| format!("{unit:04X}")).collect();
    let stream = format!("BT /F1 12 Tf 72 720 Td <{hex}> Tj ET");
    let content = format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len());
    let font = [
        "<< /Type /Font /Subtype /Type0 /BaseFont /HeiseiMin-W3 /Encoding /UniJIS-UCS2-H /DescendantFonts [6 0 R] >>",
        "<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HeiseiMin-W3 /CIDSystemInfo << /Registry (Adobe) /Ordering (Japan1) /Supplement 2 >> /FontDescriptor 7 0 R /DW 1000 >>",
        "<< /Type /FontDescriptor /FontName /HeiseiMin-W3 /Flags 6 /FontBBox [-123 -257 1001 910] /ItalicAngle 0 /Ascent 723 /Descent -241 /CapHeight 709 /StemV 69 >>",
    ];
    pdf_with_font(content.as_bytes(), &font, None)
}

#[test]
fn pdf_with_a_predefined_unicode_cmap_font_is_read() {
    let text = "委員会は予算を承認した";
    check_text("cid.pdf", &ucs2_pdf(text), &[text]);
}

#[test]
fn right_to_left_text_placed_as_seen_is_read_in_reading_order() {
    // Hebrew as a page shows it, left to right: "Department : 01001
    // Division:00 Employee:11" read from the right, numbers kept as they are.
    let visual = "11:דבוע 00:ףגא 01001 : הקלחמ (ןוכיתה)";
    check_text("he.pdf", &ucs2_pdf(visual), &["(התיכון) מחלקה : 01001 אגף:00 עובד:11"]);
    // "The committee approved the budget" with an English word inside.
    check_text("mixed.pdf", &ucs2_pdf("Excel ב ביצקתה תא הרשיא הדעווה"), &["הוועדה אישרה את התקציב ב Excel"]);
}

#[test]
fn unmapped_glyphs_leave_no_control_characters_in_the_text() {
    let report = check_text("nul.pdf", &simple_pdf("Visible\\000\\000\\001 words", None), &["Visible", "words"]);
    let text = report["text"].as_str().unwrap();
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
}

/// A content stream object showing `stream` (PDF operators) uncompressed.
fn content_object(stream: &str) -> Vec<u8> {
    format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()).into_bytes()
}

#[test]
fn double_spaced_lines_stay_in_their_paragraph() {
    // Lines 24 points apart in 12-point type, and a 48-point gap between
    // the paragraphs.
    let stream = "BT /F1 12 Tf 72 700 Td (First line of the opening paragraph) Tj \
        0 -24 Td (second line of the opening paragraph) Tj 0 -24 Td (third line of the opening paragraph) Tj \
        0 -48 Td (First line of the closing paragraph) Tj 0 -24 Td (second line of the closing paragraph) Tj ET";
    let report =
        check("spaced.pdf", &pdf_with_content(&content_object(stream), None), &[("/stats/paragraphs", json!(2))]);
    let text = report["text"].as_str().unwrap();
    assert!(
        text.contains("opening paragraph\nsecond line of the opening paragraph\nthird line")
            && text.contains("third line of the opening paragraph\n\nFirst line of the closing"),
        "{text:?}"
    );
}

#[test]
fn table_cells_on_one_baseline_are_kept_apart_by_tabs() {
    let stream = "BT /F1 10 Tf 72 700 Td (Item) Tj 150 0 Td (Cost) Tj -150 -14 Td (Paper) Tj 150 0 Td (12.50) Tj ET";
    let report =
        check_text("table.pdf", &pdf_with_content(&content_object(stream), None), &["Item\tCost\nPaper\t12.50"]);
    assert_eq!(report["stats"]["paragraphs"], 1);
}

#[test]
fn garbage_after_a_pdf_header_is_a_typed_error() {
    check_error("junk.pdf", b"%PDF-1.7\nthis is not a pdf at all", "pdf");
}

#[test]
fn rtf_text_escapes_and_info() {
    let rtf = br"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Times;}}{\colortbl;\red0\green0\blue0;}{\info{\title Annual Letter}{\author Grace Hopper}{\creatim\yr2021\mo3\dy4\hr5\min6}}\pard Caf\'e9 au lait\par Second line\tab tabbed\par {\*\generator Hidden;}Unicode \u8364? euro\par}";
    let report = check(
        "letter.rtf",
        rtf,
        &[
            ("/format", json!("rtf")),
            ("/metadata/title", json!("Annual Letter")),
            ("/metadata/author", json!("Grace Hopper")),
            ("/metadata/created", json!("2021-03-04T05:06:00")),
        ],
    );
    let text = report["text"].as_str().unwrap();
    assert!(text.contains("Café au lait\nSecond line\ttabbed\n"), "{text:?}");
    assert!(text.contains("Unicode € euro"), "{text:?}");
    assert!(!text.contains("Times") && !text.contains("Hidden"), "{text:?}");
}

#[test]
fn deeply_nested_rtf_is_refused_not_a_stack_overflow() {
    let mut rtf = br"{\rtf1 ".to_vec();
    rtf.extend(std::iter::repeat_n(b'{', 100_000));
    check_error("deep.rtf", &rtf, "nested");
}

#[test]
fn rtf_font_charset_gives_the_code_page() {
    // Windows-1251 only by the font's \fcharset204, no \ansicpg.
    let rtf = br"{\rtf1\ansi\deff0{\fonttbl{\f0\fnil\fcharset204 Arial;}{\f1\fnil\fcharset0 Times;}{\f2\fnil\fcharset161 Greek;}}\f0 \'ca\'ee\'ec\'e8\'f2\'e5\'f2\par \f1 Caf\'e9\par {\f2 \'e1\'e3}\par Caf\'e9 \f0 \'c4\'e0\par}";
    let report = check_text("cyrillic.rtf", rtf, &["Комитет\n", "Café\n", "αγ\nCafé Да"]);
    assert!(!report["text"].as_str().unwrap().contains('Ê'), "{report}");
    // Without a font charset, the document's code page still applies.
    check_text("ansicpg.rtf", br"{\rtf1\ansi\ansicpg1251{\fonttbl{\f0 Arial;}}\f0 \'c4\'e0}", &["Да"]);
}

#[test]
fn rtf_unicode_surrogate_pairs_are_joined() {
    let rtf = br"{\rtf1\ansi\uc1 Smile \u-10179?\u-8704? and \u-10179\'3f\u-8704\'3f, lone \u-10179? end\par}";
    let report = check_text("emoji.rtf", rtf, &["Smile \u{1F600} and \u{1F600}, lone  end"]);
    assert!(!report["text"].as_str().unwrap().contains('?'), "{report}");
}

#[test]
fn cid_font_widths_given_as_one_range_keep_words_whole() {
    // A monospaced CID font (default width 0) whose widths are one `c_first c_last width`
    // range, as Chromium writes them, each glyph placed by its own `Td`
    // one advance (602.05/1000 of 12 points) after the one before.
    let text = "Results of the survey";
    let glyphs: Vec<String> = text.encode_utf16().map(|unit| format!("<{unit:04X}> Tj")).collect();
    let stream = format!("BT /F1 12 Tf 72 720 Td {} ET", glyphs.join(" 7.2246 0 Td "));
    let content = format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len());
    let font = [
        "<< /Type /Font /Subtype /Type0 /BaseFont /Mono /Encoding /UniJIS-UCS2-H /DescendantFonts [6 0 R] >>",
        "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Mono /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor 7 0 R /DW 0 /W [32 126 602.05] >>",
        "<< /Type /FontDescriptor /FontName /Mono /Flags 5 /FontBBox [0 -200 602 800] /ItalicAngle 0 /Ascent 760 /Descent -240 /CapHeight 700 /StemV 80 >>",
    ];
    check_text("mono.pdf", &pdf_with_font(content.as_bytes(), &font, None), &[text]);
}
