//! Property tests: arbitrary and mutated documents of every format give a
//! report or a typed error, never a panic, and a report's numbers agree
//! with its text.

use proptest::prelude::*;

use crate::analyze;

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a.pdf", crate::pdf_rtf::simple_pdf("Seed text for mutation", Some("Seed"))),
        ("a.docx", crate::containers::docx(&["Seed paragraph", "Another one"], Some("Seed"))),
        ("a.rtf", br"{\rtf1\ansi{\info{\title T}}\pard Seed \'e9 text\par{\*\x y}\u8364?}".to_vec()),
        ("a.html", b"<html><head><title>T</title></head><body><p>Seed <b>text</b></p><table><tr><td>1</td></tr></table></body></html>".to_vec()),
        ("a.xml", b"<?xml version=\"1.0\"?><r xmlns:x=\"u\"><x:a k=\"v\">Seed &amp; text</x:a><![CDATA[c]]></r>".to_vec()),
        ("a.md", b"---\ntitle: T\n---\n# Seed\n\nText with [a link](u) and `code`.\n\n- item\n".to_vec()),
        ("a.csv", b"h1,h2\n\"a,b\",c\n\"multi\nline\",d\n".to_vec()),
        ("a.json", br#"{"k": ["v", 1, {"n": null}], "s": "text"}"#.to_vec()),
        ("a.txt", "Seed text with ümlauts and 日本語.".as_bytes().to_vec()),
        ("a.doc", crate::legacy_office::word("Seed\r\u{13} PAGE \u{14}1\u{15} a\u{7}b\u{7}\u{7}ümlaut\r", "note\r")),
        ("a.xls", crate::legacy_office::excel("Seed", &[(0, 0, "a"), (1, 2, "3.5")])),
        ("a.ppt", crate::legacy_office::deck()),
    ]
}

fn mutate(seed: &[u8], edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for (at, value) in edits {
        if !bytes.is_empty() {
            let at = at % bytes.len();
            bytes[at] = *value;
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

fn check_consistent(filename: &str, bytes: &[u8]) {
    if let Ok(report) = analyze(filename, bytes) {
        assert_eq!(report["size"], bytes.len());
        let text = report["text"].as_str().unwrap_or_default();
        assert_eq!(report["stats"]["characters"], text.chars().count() as u64, "{filename}");
        if report["stats"]["words"] == 0 {
            assert!(report["fingerprint"]["simhash"].is_null());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_documents_never_panic(
        which in 0usize..12,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..12),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let seeds = seeds();
        let (name, seed) = &seeds[which % seeds.len()];
        check_consistent(name, &mutate(seed, &edits, cut));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        extension in prop::sample::select(vec!["pdf", "docx", "xlsx", "pptx", "odt", "epub", "html", "xml", "md", "csv", "json", "rtf", "txt", "", "bin"]),
    ) {
        check_consistent(&format!("f.{extension}"), &bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        for name in ["t.txt", "t.md", "t.csv", "t.json", "t.html", "t.xml", "t"] {
            check_consistent(name, text.as_bytes());
        }
    }
}
