//! Engine tests: plain text from DOS and classic Mac OS code pages, and
//! Hungarian, which the web's encoding detector reads as Western text. The
//! bytes were encoded by Python's codecs (cp850, cp852, mac_roman,
//! mac_latin2, mac_cyrillic, iso8859_2), not by the tables under test.

use serde_json::json;

use crate::{check, check_text};

/// Each case: the bytes, the text they encode, and the encodings a reader
/// may name (IBM437 and IBM850 share every letter of French).
const CASES: &[(&[u8], &str, &[&str])] = &[
    (
        b"Le go\x96t du g\x83teau \x82tait d\x82licieux. O\x97 est la for\x88t ? \xB7 bient\x93t, ch\x8Are amie ; \
          l'\x82t\x82 est l\x85. \x80a co\x96te tr\x8As cher, gar\x87on.",
        "Le goût du gâteau était délicieux. Où est la forêt ? À bientôt, chère amie ; l'été est là. Ça coûte très \
         cher, garçon.",
        &["IBM850"],
    ),
    (
        b"P\xFD\xA1li\xE7 \xA7lu\x9Cou\x9Fk\xEC k\x85\xE5 \xA3p\xD8l \xD4\xA0belsk\x82 \xA2dy. \xACe\xE7tina je \
          kr\xA0sn\xEC jazyk, \xFDekl mi pan \xE6\x9Castn\xEC v Brn\xD8.",
        "Příliš žluťoučký kůň úpěl ďábelské ódy. Čeština je krásný jazyk, řekl mi pan Šťastný v Brně.",
        &["IBM852"],
    ),
    (
        b"Le go\x9Et du g\x89teau \x8Etait d\x8Elicieux. O\x9D est la for\x90t ? \xCB bient\x99t, ch\x8Fre amie ; \
          l'\x8Et\x8E est l\x88.",
        "Le goût du gâteau était délicieux. Où est la forêt ? À bientôt, chère amie ; l'été est là.",
        &["macintosh"],
    ),
    (
        b"\x9D\xF2\xEE \xF0\xF3\xF1\xF1\xEA\xE8\xE9 \xF2\xE5\xEA\xF1\xF2 \xE2 \xEA\xEE\xE4\xE8\xF0\xEE\xE2\xEA\xE5 \
          \x8C\xE0\xEA\xE8\xED\xF2\xEE\xF8. \x8C\xEE\xF1\xEA\xE2\xE0 \xE8 \x91\xE0\xED\xEA\xF2-\x8F\xE5\xF2\xE5\xF0\
          \xE1\xF3\xF0\xE3 \xE1\xEE\xEB\xFC\xF8\xE8\xE5 \xE3\xEE\xF0\xEE\xE4\xE0 \x90\xEE\xF1\xF1\xE8\xE8.",
        "Это русский текст в кодировке Макинтош. Москва и Санкт-Петербург большие города России.",
        &["x-mac-cyrillic"],
    ),
    (
        b"Za\xFD\x97\xB8\x8D g\xAB\xE6l\x88 ja\x90\xC4. \xFC\x97d\x90 jest pi\xABkna, a Krak\x97w te\xFD.",
        "Zażółć gęślą jaźń. Łódź jest piękna, a Kraków też.",
        &["x-mac-ce"],
    ),
    // Hungarian in ISO-8859-2: its ő and ű are windows-1252's õ and û.
    (
        b"\xD6t sz\xE9p sz\xFBz l\xE1ny \xF5r\xFClt \xEDr\xF3t ny\xFAz.",
        "Öt szép szűz lány őrült írót nyúz.",
        &["ISO-8859-2", "windows-1250"],
    ),
];

#[test]
fn dos_and_mac_code_pages_are_read_as_their_letters() {
    for (bytes, text, names) in CASES {
        let report = check_text("legacy.txt", bytes, &[text]);
        let encoding = report["metadata"]["encoding"].as_str().unwrap();
        assert!(names.contains(&encoding), "{text}: read as {encoding}");
    }
}

/// Hungarian in IBM852 reads without a case break as IBM850 too (its ő is
/// IBM850's ï): the reading whose letters one alphabet holds wins.
#[test]
fn hungarian_in_ibm852_is_not_french_in_ibm850() {
    let bytes = b"A dokumentumelemz\x8B rendszer beolvassa az oldal sz\x94veg\x82t. Ma Budapesten sz\x82p id\x8B \
                  van, de d\x82lut\xA0n eshet az es\x8B. Elolvassuk \x8Bket.";
    let report = check_text("hu.txt", bytes, &["dokumentumelemző", "szép idő", "eső", "őket"]);
    assert_eq!(report["metadata"]["encoding"], "IBM852", "{report:#}");
}

/// Text in windows-1252 and windows-1251 keeps its encoding: typographic
/// quotes, a few accents, names from many languages, Portuguese õ and ã,
/// Icelandic ð and þ, Serbian Cyrillic.
#[test]
fn western_and_cyrillic_text_keeps_its_encoding() {
    let western = [
        "He said “it’s fine” – and left. The café was closed… We’ll see.",
        "The résumé was sent to the naïve manager on Monday, and nobody replied at all.",
        "Ele põe o pão na mesa. A educação é importante para a nação. Não há soluções fáceis.",
        "Ég á þennan hest og hann er mjög fallegur. Það er góður dagur í dag.",
        "Anders Ångström worked in Zürich, then Montréal and São Paulo; Señor Müller said “naïve” twice.",
        "The price is €5 — or £4 • see © 2020 ® and ™ and 50°C ± 2 ½.",
    ];
    for text in western {
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
        let report = check_text("western.txt", &bytes, &[text]);
        assert_eq!(report["metadata"]["encoding"], "windows-1252", "{text}");
    }
    let serbian = "Ђорђе је рекао да ће доћи у среду. Његова кућа је велика, а љубав према њој још већа.";
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(serbian);
    check("sr.txt", &bytes, &[("/metadata/encoding", json!("windows-1251")), ("/text", json!(serbian))]);
}

/// A page declaring a DOS code page WHATWG has no label for is read by it.
#[test]
fn html_declaring_a_dos_code_page_is_read_by_it() {
    let mut page = b"<html><head><meta charset=\"cp852\"><title>t</title></head><body><p>".to_vec();
    page.extend_from_slice(b"\xACe\xE7tina je kr\xA0sn\xEC jazyk.");
    page.extend_from_slice(b"</p></body></html>");
    let report = check_text("page.html", &page, &["Čeština je krásný jazyk."]);
    assert_eq!(report["metadata"]["encoding"], "IBM852", "{report:#}");
}
