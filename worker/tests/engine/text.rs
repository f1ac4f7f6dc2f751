//! Engine tests: plain text in many encodings.

use serde_json::json;

use crate::{check, check_text};

#[test]
fn empty_file_is_a_document_with_zero_stats() {
    check(
        "empty.txt",
        b"",
        &[("/size", json!(0)), ("/stats/words", json!(0)), ("/stats/characters", json!(0)), ("/language", json!(null))],
    );
}

#[test]
fn utf8_prose_is_text_with_counted_words() {
    check(
        "note.txt",
        "Hello there, world. How are you?\nFine.\n".as_bytes(),
        &[
            ("/format", json!("text")),
            ("/stats/words", json!(7)),
            ("/stats/lines", json!(2)),
            ("/stats/sentences", json!(3)),
        ],
    );
}

#[test]
fn byte_order_marks_decide_the_encoding() {
    let mut utf16be = vec![0xFE, 0xFF];
    utf16be.extend("Grüße aus Köln".encode_utf16().flat_map(u16::to_be_bytes));
    check_text("be.txt", &utf16be, &["Grüße aus Köln"]);
    check("be.txt", &utf16be, &[("/metadata/encoding", json!("UTF-16BE"))]);
    let mut utf32le = vec![0xFF, 0xFE, 0, 0];
    utf32le.extend("naïve café".chars().flat_map(|c| (c as u32).to_le_bytes()));
    check_text("le32.txt", &utf32le, &["naïve café"]);
    check("le32.txt", &utf32le, &[("/metadata/encoding", json!("UTF-32LE"))]);
    let mut utf8 = b"\xEF\xBB\xBF".to_vec();
    utf8.extend_from_slice("déjà vu".as_bytes());
    let report = check_text("bom.txt", &utf8, &["déjà vu"]);
    assert!(!report["text"].as_str().unwrap().starts_with('\u{FEFF}'));
}

#[test]
fn legacy_encodings_are_detected_and_decoded() {
    let cases: [(&'static encoding_rs::Encoding, &str, &str); 4] = [
        (
            encoding_rs::SHIFT_JIS,
            "これは日本語のテキストです。東京都の天気は晴れです。明日も晴れるでしょう。",
            "Shift_JIS",
        ),
        (
            encoding_rs::WINDOWS_1251,
            "Это русский текст в кодировке Windows. Москва и Санкт-Петербург — большие города.",
            "windows-1251",
        ),
        (encoding_rs::EUC_KR, "이것은 한국어 텍스트입니다. 서울의 날씨는 맑습니다. 내일도 맑을 것입니다.", "EUC-KR"),
        (encoding_rs::GBK, "这是中文文本。北京的天气很好。明天也会是晴天，我们去公园散步吧。", "GBK"),
    ];
    for (encoding, text, name) in cases {
        let (bytes, _, _) = encoding.encode(text);
        let report = check_text("legacy.txt", &bytes, &[text]);
        assert_eq!(report["metadata"]["encoding"], name, "{text}");
    }
}

#[test]
fn malformed_utf8_is_decoded_with_a_warning_not_rejected() {
    let report = check("broken.txt", b"valid start \xFF\xFE then more text", &[("/format", json!("text"))]);
    assert!(report["text"].as_str().unwrap().contains("then more text"));
}
