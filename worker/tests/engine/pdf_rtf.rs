//! Engine tests: PDF (documents written by a tiny PDF writer here) and RTF.

use serde_json::json;

use crate::{check, check_error, check_text};

/// A one-page PDF showing `text` in Helvetica, with an Info dictionary when
/// `title` is given. Offsets in the cross-reference table are computed.
pub fn simple_pdf(text: &str, title: Option<&str>) -> Vec<u8> {
    let content = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
    ];
    if let Some(title) = title {
        objects.push(format!("<< /Title ({title}) /Author (Ada Lovelace) /CreationDate (D:20240102030405Z) >>"));
    }
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
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
            ("/metadata/created", json!("2024-01-02T03:04:05")),
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
