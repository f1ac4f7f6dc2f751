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
    let cases: [(&'static encoding_rs::Encoding, &str, &str); 6] = [
        (
            encoding_rs::KOI8_U,
            "Это русский текст в кодировке КОИ-8. Москва и Санкт-Петербург - большие города России.",
            "KOI8-R",
        ),
        (
            encoding_rs::KOI8_U,
            "Це український текст у кодуванні КОІ-8. Київ і Львів - великі міста України, їх люблять.",
            "KOI8-U",
        ),
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

/// `text` in UTF-16, without a byte order mark.
fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    text.encode_utf16().flat_map(|u| if little_endian { u.to_le_bytes() } else { u.to_be_bytes() }).collect()
}

#[test]
fn bomless_utf16_in_non_latin_scripts_is_text() {
    let cases = [
        "Это русский текст без метки порядка байтов.\nМосква и Санкт-Петербург — большие города.\n",
        "这是中文文本。北京的天气很好，明天也会是晴天。\n我们去公园散步吧。",
        "これは日本語のテキストです。東京都の天気は晴れです。明日も晴れるでしょう。",
        "日本語　全角スペース、読点、句点。",
    ];
    for text in cases {
        for (little_endian, name) in [(true, "UTF-16LE"), (false, "UTF-16BE")] {
            let bytes = utf16(text, little_endian);
            let report = check("wide", &bytes, &[("/format", json!("text")), ("/metadata/encoding", json!(name))]);
            assert_eq!(report["text"].as_str().unwrap().trim_end(), text.trim_end(), "{name}");
            assert_eq!(report["warnings"], json!([]), "{name}: {text}");
            check("wide.txt", &bytes, &[("/metadata/encoding", json!(name))]);
        }
    }
}

/// Thai puts a space only between clauses, too few for the separator
/// test, and its UTF-16LE bytes (`xx 0E`) read as control characters: a
/// BOM-less UTF-16 Thai file was `binary`. Text in one alphabetic script
/// keeps its code units in one block of 256, and is text whatever its spaces.
#[test]
fn bomless_utf16_thai_is_text() {
    let thai = "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจใกล้ริมฝั่งแม่น้ำ ทุกเช้าชาวนาชราเดินไปตลาดพร้อมตะกร้าผักสดและขายให้กับคนในหมู่บ้าน\n";
    let text = thai.repeat(3);
    for (little_endian, name) in [(true, "UTF-16LE"), (false, "UTF-16BE")] {
        let bytes = utf16(&text, little_endian);
        for filename in ["thai", "thai.txt"] {
            let report = check(
                filename,
                &bytes,
                &[("/format", json!("text")), ("/metadata/encoding", json!(name)), ("/language/code", json!("th"))],
            );
            assert_eq!(report["text"], json!(text), "{name}");
        }
    }
    // ASCII read two bytes at a time falls in one block too (`[[` is
    // U+5B5B), but above the alphabetic scripts: it stays ASCII.
    check("brackets.txt", "[".repeat(4000).as_bytes(), &[("/metadata/encoding", json!("US-ASCII"))]);
}

#[test]
fn random_bytes_are_binary_not_utf16() {
    // xorshift32: deterministic bytes with no structure.
    let mut state = 0x9E37_79B9u32;
    let mut random = Vec::with_capacity(4096);
    while random.len() < 4096 {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        random.extend_from_slice(&state.to_le_bytes());
    }
    check("random", &random, &[("/format", json!("binary"))]);
    // Without zero bytes, which would give random data away on their own.
    let nonzero: Vec<u8> = random.iter().map(|b| *b.max(&1)).collect();
    check("random", &nonzero, &[("/format", json!("binary"))]);
    check("random.txt", &nonzero, &[("/format", json!("binary"))]);
}

#[test]
fn utf8_with_a_stray_byte_stays_utf8_with_a_warning() {
    let text = "Le comité a décidé de réunir l'assemblée générale en été. Les élèves et les enseignants \
                étaient présents ; après la séance, le président a remercié les bénévoles pour leur générosité \
                et leur fidélité. La prochaine réunion aura lieu à la mairie, près de l'église, \
                où le député présentera le budget détaillé de l'année.\n";
    let mut bytes = text.as_bytes().to_vec();
    let at = text.find("Les élèves").unwrap();
    bytes.insert(at, 0xFF);
    let report = check_text("stray.txt", &bytes, &["Le comité a décidé", "\u{FFFD}Les élèves", "député"]);
    assert_eq!(report["metadata"]["encoding"], "UTF-8");
    assert!(!report["text"].as_str().unwrap().contains("Ã"));
    let warnings = report["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("malformed UTF-8")), "{warnings:?}");
    // The same text in windows-1252 is nearly all invalid UTF-8: still legacy.
    let (legacy, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    let report = check_text("legacy.txt", &legacy, &["Le comité a décidé", "député"]);
    assert_eq!(report["metadata"]["encoding"], "windows-1252");
    assert_eq!(report["warnings"], json!([]));
}

#[test]
fn iso_2022_jp_is_detected_and_decoded() {
    let text = "これは日本語のテキストです。ISO-2022-JP で書かれています。東京都の天気は晴れです。";
    let (bytes, _, _) = encoding_rs::ISO_2022_JP.encode(text);
    assert!(bytes.is_ascii() && bytes.contains(&0x1B));
    let report = check_text("mail.txt", &bytes, &[text]);
    assert_eq!(report["metadata"]["encoding"], "ISO-2022-JP");
    assert!(!report["text"].as_str().unwrap().contains('\u{1B}'));
    check("mail", &bytes, &[("/format", json!("text")), ("/metadata/encoding", json!("ISO-2022-JP"))]);
    // Terminal output switches back to ASCII with `ESC ( B` too: still ASCII.
    check("colours.log", b"\x1B[1mbold\x1B(B\x1B[m and plain\n", &[("/metadata/encoding", json!("US-ASCII"))]);
}

/// A short UTF-8 sentence with one stray Latin-1 byte ("augment\xE9") was
/// read as windows-1252, garbling its other accents ("rÃ©gions"): one bad
/// byte among a dozen non-ASCII ones is over the share tolerated, but its
/// six valid sequences outnumber it. Short legacy texts stay legacy.
#[test]
fn short_utf8_with_one_stray_byte_stays_utf8() {
    let text = "Le rapport montre que les recettes ont augment\u{E9} dans les régions où les coûts sont restés \
                maîtrisés et notés.\n";
    let cut = text.find(" dans").unwrap();
    let bytes = [&encoding_rs::WINDOWS_1252.encode(&text[..cut]).0, &text.as_bytes()[cut..]].concat();
    let report = check_text("short.txt", &bytes, &["augment\u{FFFD} dans les régions", "maîtrisés"]);
    assert_eq!(report["metadata"]["encoding"], "UTF-8", "{report:#}");
    for legacy in ["Café au lait, très bon.", "naïve façade – “quoted”", "Größe: 5 m²"] {
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(legacy);
        let report = check_text("legacy.txt", &bytes, &[legacy]);
        assert_eq!(report["metadata"]["encoding"], "windows-1252", "{report:#}");
    }
}

/// JSON Lines were read as CSV (the commas inside each line became cell
/// breaks) or, named `.json`, as one invalid JSON document whose text was
/// the raw punctuation.
#[test]
fn json_lines_are_json_values_one_a_line() {
    let lines =
        b"{\"name\": \"Ann\", \"city\": \"Oslo, Norway\"}\n{\"name\": \"Bob\", \"note\": \"likes tea, coffee\"}\n\n";
    let strings = "Ann\nOslo, Norway\nBob\nlikes tea, coffee\n";
    for name in ["people.ndjson", "people.jsonl"] {
        crate::check(
            name,
            lines,
            &[
                ("/format", json!("json")),
                ("/media_type", json!("application/x-ndjson")),
                ("/metadata/valid", json!(true)),
                ("/metadata/records", json!(2)),
                ("/text", json!(strings)),
            ],
        );
    }
    let report = crate::check(
        "people.json",
        lines,
        &[("/format", json!("json")), ("/metadata/valid", json!(false)), ("/text", json!(strings))],
    );
    assert!(report["warnings"][0].as_str().unwrap().contains("JSON Lines"), "{report:#}");
    let broken = crate::check(
        "broken.ndjson",
        b"{\"a\": \"fine words\"}\n{broken\n",
        &[("/metadata/valid", json!(false)), ("/metadata/records", json!(1))],
    );
    assert!(broken["warnings"][0].as_str().unwrap().contains("line 2"), "{broken:#}");
}
