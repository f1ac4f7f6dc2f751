//! Engine tests: what other producers write in ways of their own: soft
//! hyphens in every format, CRLF inside CSV cells, RTF headers and footers,
//! and LibreOffice's RTF tables.

use docmill_engine::Options;
use serde_json::{json, Value};

use crate::analyze_with;
use crate::containers::zip;

/// The report with its text and its Markdown.
fn text_and_markdown(filename: &str, bytes: &[u8]) -> Value {
    let options = Options { include_text: true, markdown: true, ..Options::default() };
    analyze_with(filename, bytes, options).unwrap_or_else(|err| panic!("{filename}: {err}"))
}

/// A soft hyphen (`&shy;`, U+00AD) stayed in the text, so a search for
/// "resume" missed "re&shy;sume". It is dropped from the text and the
/// Markdown of every format, and the elements DOCX and ODT write for it
/// give nothing either.
#[test]
fn soft_hyphens_do_not_split_words() {
    let html = b"<html><head><title>Re&shy;sume</title></head><body><p>My re&shy;sume is long.</p></body></html>";
    let docx_body = "<w:document xmlns:w=\"w\"><w:body><w:p><w:r><w:t>My re</w:t><w:softHyphen/><w:t>sume is \
                     long\u{AD}er.</w:t></w:r></w:p></w:body></w:document>";
    let docx = zip(&[("[Content_Types].xml", b"<Types/>"), ("word/document.xml", docx_body.as_bytes())]);
    let odt_content = "<office:document-content xmlns:office=\"o\" xmlns:text=\"t\"><office:body><office:text>\
                       <text:p>My re<text:soft-hyphen/>sume is long\u{AD}er.</text:p></office:text></office:body>\
                       </office:document-content>";
    let odt = zip(&[("mimetype", b"application/vnd.oasis.opendocument.text"), ("content.xml", odt_content.as_bytes())]);
    let rtf = br"{\rtf1\ansi\deff0{\fonttbl{\f0 Times;}}\pard My re\-sume is long\u173?er.\par}";
    let cases: [(&str, &[u8], &str); 6] = [
        ("cv.html", html, "My resume is long."),
        ("cv.docx", &docx, "My resume is longer."),
        ("cv.odt", &odt, "My resume is longer."),
        ("cv.rtf", rtf, "My resume is longer."),
        ("cv.txt", "My re\u{AD}sume is long\u{AD}er.\n".as_bytes(), "My resume is longer."),
        ("cv.md", "My re&shy;sume is long\u{AD}er.\n".as_bytes(), "My resume is longer."),
    ];
    for (filename, bytes, sentence) in cases {
        let report = text_and_markdown(filename, bytes);
        let text = report["text"].as_str().unwrap();
        let markdown = report["markdown"].as_str().unwrap();
        assert_eq!(text.trim(), sentence, "{filename}: text in {report:#}");
        assert_eq!(markdown.trim(), sentence, "{filename}: Markdown in {report:#}");
    }
    let report = text_and_markdown("cv.html", html);
    assert_eq!(report["metadata"]["title"], json!("Resume"), "{report:#}");
}

/// Dropping soft hyphens shortens the text before a page: the page's span
/// moves with it and still starts at its own first word.
#[test]
fn soft_hyphens_dropped_before_a_page_keep_its_span() {
    let slide = |text: &str| {
        format!(
            r#"<p:sld xmlns:p="p" xmlns:a="a"><p:txBody><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sld>"#
        )
    };
    let (one, two) = (slide("Re\u{AD}sume, soft\u{AD}ly hy\u{AD}phen\u{AD}ated"), slide("Second slide"));
    let bytes = zip(&[
        ("ppt/presentation.xml", b"<p:presentation/>"),
        ("ppt/slides/slide1.xml", one.as_bytes()),
        ("ppt/slides/slide2.xml", two.as_bytes()),
    ]);
    let report = text_and_markdown("deck.pptx", &bytes);
    let text: Vec<char> = report["text"].as_str().unwrap().chars().collect();
    let page = |index: usize| {
        let span = &report["pages"][index];
        let (start, end) = (span["start"].as_u64().unwrap() as usize, span["end"].as_u64().unwrap() as usize);
        text[start..end].iter().collect::<String>()
    };
    assert_eq!(page(0).trim(), "Resume, softly hyphenated", "{report:#}");
    assert_eq!(page(1).trim(), "Second slide", "{report:#}");
}

/// A quoted cell over two lines of a CRLF file kept its `\r` ("multi\r\nline"):
/// line ends inside cells are `\n` whether written CRLF, LF or a lone CR.
#[test]
fn csv_line_ends_inside_quoted_cells_are_newlines() {
    let csv = b"name,note\r\n\"Ada\",\"first\r\nsecond\"\r\n\"Grace\",\"old\rmac\"\r\n\"Alan\",\"unix\nline\"\r\n";
    let report = text_and_markdown("notes.csv", csv);
    assert_eq!(
        report["text"],
        json!("name\tnote\nAda\tfirst\nsecond\nGrace\told\nmac\nAlan\tunix\nline\n"),
        "{report:#}"
    );
    assert_eq!(report["metadata"]["rows"], json!(4), "{report:#}");
    assert!(!report["markdown"].as_str().unwrap().contains('\r'), "{report:#}");
}
