//! Engine tests: DOCX, PPTX, ODT and EPUB built in the tests, and zip bombs.

use std::io::Write;

use serde_json::json;

use crate::{check, check_error, check_text};

/// A zip of `(name, content)` entries, deflated.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in entries {
        let options = zip::write::SimpleFileOptions::default();
        writer.start_file(*name, options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn core_properties(title: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"><dc:title>{title}</dc:title><dc:creator>Ada Lovelace</dc:creator><dcterms:created>2024-05-01T10:00:00Z</dcterms:created></cp:coreProperties>"#
    )
}

pub fn docx(paragraphs: &[&str], title: Option<&str>) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<w:p><w:pPr><w:tabs><w:tab w:val=\"left\"/></w:tabs></w:pPr><w:r><w:t>{p}</w:t></w:r></w:p>"))
        .collect();
    let document = format!(
        r#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}<w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell one</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>cell two</w:t></w:r></w:p></w:tc></w:tr></w:tbl><w:p><w:r><w:t xml:space="preserve">split </w:t></w:r><w:r><w:t>run</w:t><w:tab/><w:t>after tab</w:t></w:r></w:p></w:body></w:document>"#
    );
    let mut entries: Vec<(&str, Vec<u8>)> = vec![
        ("[Content_Types].xml", b"<Types/>".to_vec()),
        ("word/document.xml", document.into_bytes()),
        ("word/footer1.xml", br#"<w:ftr xmlns:w="w"><w:p><w:r><w:t>Page footer</w:t></w:r></w:p></w:ftr>"#.to_vec()),
    ];
    if let Some(title) = title {
        entries.push(("docProps/core.xml", core_properties(title).into_bytes()));
        entries.push(("docProps/app.xml", b"<Properties><Pages>3</Pages></Properties>".to_vec()));
    }
    let borrowed: Vec<(&str, &[u8])> = entries.iter().map(|(n, c)| (*n, c.as_slice())).collect();
    zip(&borrowed)
}

#[test]
fn docx_body_tables_footers_and_properties() {
    let bytes = docx(&["First paragraph.", "Second paragraph."], Some("Quarterly report"));
    let report = check(
        "q3.docx",
        &bytes,
        &[
            ("/format", json!("docx")),
            ("/metadata/title", json!("Quarterly report")),
            ("/metadata/author", json!("Ada Lovelace")),
            ("/metadata/created", json!("2024-05-01T10:00:00Z")),
            ("/metadata/pages", json!(3)),
        ],
    );
    let text = report["text"].as_str().unwrap();
    assert!(text.starts_with("First paragraph.\n\nSecond paragraph.\n\n"), "{text:?}");
    assert_eq!(report["stats"]["paragraphs"], 5, "two paragraphs, the table, a paragraph and the footer");
    assert!(text.contains("cell one\tcell two\n"), "{text:?}");
    assert!(text.contains("split run\tafter tab"), "{text:?}");
    assert!(text.contains("Page footer"), "{text:?}");
}

#[test]
fn docx_text_boxes_count_once_not_with_their_fallback_copy() {
    let document = br#"<w:document xmlns:w="w" xmlns:mc="mc"><w:body><w:p><w:r><w:t>Body text.</w:t></w:r><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent><w:p><w:r><w:t>Boxed remark</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice><mc:Fallback><w:pict><v:textbox><w:txbxContent><w:p><w:r><w:t>Boxed remark</w:t></w:r></w:p></w:txbxContent></v:textbox></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p></w:body></w:document>"#;
    let bytes = zip(&[("[Content_Types].xml", b"<Types/>"), ("word/document.xml", document)]);
    let report = check_text("box.docx", &bytes, &["Body text.", "Boxed remark"]);
    assert_eq!(report["text"].as_str().unwrap().matches("Boxed remark").count(), 1, "{report:#}");
}

/// Word writes a non-breaking hyphen as an element of its own
/// (`<w:noBreakHyphen/>`), not a character in the text: "co-operate" read
/// as "cooperate", in the text and in the Markdown.
#[test]
fn docx_non_breaking_hyphen_is_kept() {
    let document = br#"<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>We co</w:t><w:noBreakHyphen/><w:t>operate.</w:t></w:r></w:p></w:body></w:document>"#;
    let bytes = zip(&[("[Content_Types].xml", b"<Types/>"), ("word/document.xml", document)]);
    check_text("hyphen.docx", &bytes, &["We co\u{2011}operate."]);
    let options = docmill_engine::Options { markdown: true, ..Default::default() };
    let report = crate::analyze_with("hyphen.docx", &bytes, options).unwrap();
    assert!(report["markdown"].as_str().unwrap().contains("We co\u{2011}operate."), "{report:#}");
}

#[test]
fn pptx_slides_in_order_with_notes() {
    let slide = |text: &str| {
        format!(
            r#"<p:sld xmlns:p="p" xmlns:a="a"><p:txBody><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sld>"#
        )
    };
    let (s1, s2, s10) = (slide("Slide one"), slide("Slide two"), slide("Slide ten"));
    let bytes = zip(&[
        ("ppt/presentation.xml", b"<p:presentation/>"),
        ("ppt/slides/slide10.xml", s10.as_bytes()),
        ("ppt/slides/slide2.xml", s2.as_bytes()),
        ("ppt/slides/slide1.xml", s1.as_bytes()),
        ("ppt/notesSlides/notesSlide1.xml", slide("Speaker note").as_bytes()),
    ]);
    let report = check("deck.pptx", &bytes, &[("/format", json!("pptx")), ("/metadata/slides", json!(3))]);
    let text = report["text"].as_str().unwrap();
    let (one, two, ten) =
        (text.find("Slide one").unwrap(), text.find("Slide two").unwrap(), text.find("Slide ten").unwrap());
    assert!(one < two && two < ten, "numeric slide order: {text:?}");
    assert!(text.contains("Speaker note"));
}

/// A notes page's slide-number placeholder holds a field whose text is
/// `<number>` (and a slide's, the number last drawn): it read as the notes'
/// last word.
#[test]
fn pptx_slide_number_fields_are_not_text() {
    let notes = r#"<p:notes xmlns:p="p" xmlns:a="a"><p:sp><p:txBody><a:p><a:r><a:t>Mention the budget.</a:t></a:r></a:p></p:txBody></p:sp><p:sp><p:nvSpPr><p:nvPr><p:ph type="sldNum"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:fld id="{1}" type="slidenum"><a:t>&lt;number&gt;</a:t></a:fld></a:p></p:txBody></p:sp></p:notes>"#;
    let slide = r#"<p:sld xmlns:p="p" xmlns:a="a"><p:txBody><a:p><a:r><a:t>Budget</a:t></a:r></a:p><a:p><a:fld type="slidenum"><a:t>7</a:t></a:fld></a:p></p:txBody></p:sld>"#;
    let bytes = zip(&[
        ("ppt/presentation.xml", b"<p:presentation/>"),
        ("ppt/slides/slide1.xml", slide.as_bytes()),
        ("ppt/notesSlides/notesSlide1.xml", notes.as_bytes()),
    ]);
    let report = check("deck.pptx", &bytes, &[]);
    let text = report["text"].as_str().unwrap();
    assert!(text.contains("Budget") && text.contains("Mention the budget."), "{text:?}");
    assert!(!text.contains("number") && !text.contains('7'), "{text:?}");
}

#[test]
fn pptx_slides_in_the_order_the_deck_shows_them() {
    // Slide 3 was moved to the front: presentation.xml lists it first, and
    // each slide's notes follow their slide (a slide is one page).
    let slide = |text: &str| {
        format!(
            r#"<p:sld xmlns:p="p" xmlns:a="a"><p:txBody><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sld>"#
        )
    };
    let presentation = br#"<p:presentation xmlns:p="p" xmlns:r="r"><p:sldIdLst><p:sldId id="258" r:id="rId4"/><p:sldId id="256" r:id="rId2"/><p:sldId id="257" r:id="rId3"/></p:sldIdLst></p:presentation>"#;
    let rels = br#"<Relationships><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide1.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="/ppt/slides/slide2.xml"/><Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide3.xml"/></Relationships>"#;
    let notes_rel = br#"<Relationships><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide" Target="../notesSlides/notesSlide1.xml"/></Relationships>"#;
    let (s1, s2, s3, n) = (slide("Agenda"), slide("Figures"), slide("Title page"), slide("Notes on the title"));
    let bytes = zip(&[
        ("ppt/presentation.xml", presentation),
        ("ppt/_rels/presentation.xml.rels", rels),
        ("ppt/slides/slide1.xml", s1.as_bytes()),
        ("ppt/slides/slide2.xml", s2.as_bytes()),
        ("ppt/slides/slide3.xml", s3.as_bytes()),
        ("ppt/slides/_rels/slide3.xml.rels", notes_rel),
        ("ppt/notesSlides/notesSlide1.xml", n.as_bytes()),
    ]);
    let report = check("moved.pptx", &bytes, &[("/format", json!("pptx")), ("/metadata/slides", json!(3))]);
    let text = report["text"].as_str().unwrap();
    let at = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle} missing: {text:?}"));
    assert!(at("Title page") < at("Agenda") && at("Agenda") < at("Figures"), "deck order: {text:?}");
    assert!(at("Title page") < at("Notes on the title") && at("Notes on the title") < at("Agenda"), "{text:?}");
    assert_eq!(text.matches("Notes on the title").count(), 1, "{text:?}");
}

/// An ODT with tracked changes read its deleted text and the record of who
/// changed what when ("x2020-01-01T00:00:00deletedword"), a footnote
/// glued its number to its text inside the sentence ("broken 1notebody
/// end"), and a comment its author and date. The deletions are gone now,
/// notes and comments follow the body as in DOCX, in the text and (the
/// deletions) in the Markdown.
#[test]
fn odt_tracked_deletions_notes_and_comments_are_not_in_the_sentence() {
    let content = br#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:dc="d"><office:body><office:text><text:tracked-changes><text:changed-region text:id="c1"><text:deletion><office:change-info><dc:creator>Editor</dc:creator><dc:date>2020-01-01T00:00:00</dc:date></office:change-info><text:p>deletedword</text:p></text:deletion></text:changed-region></text:tracked-changes><text:p>Kept <text:change text:change-id="c1"/>words with a note<text:note text:note-class="footnote"><text:note-citation>1</text:note-citation><text:note-body><text:p>Note body.</text:p></text:note-body></text:note> and a comment<office:annotation><dc:creator>Reviewer</dc:creator><dc:date>2021-02-03T00:00:00</dc:date><text:p>Comment body.</text:p></office:annotation> end.</text:p></office:text></office:body></office:document-content>"#;
    let bytes = zip(&[("mimetype", b"application/vnd.oasis.opendocument.text"), ("content.xml", content)]);
    check(
        "changes.odt",
        &bytes,
        &[("/text", json!("Kept words with a note and a comment end.\n\nNote body.\nComment body.\n"))],
    );
    let options = docmill_engine::Options { markdown: true, ..Default::default() };
    let report = crate::analyze_with("changes.odt", &bytes, options).unwrap();
    let markdown = report["markdown"].as_str().unwrap();
    assert!(
        !markdown.contains("deletedword") && !markdown.contains("Editor") && !markdown.contains("Reviewer"),
        "{markdown}"
    );
}

#[test]
fn odt_text_and_meta() {
    let content = br#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:table="tb"><office:automatic-styles><style>not text</style></office:automatic-styles><office:body><office:text><text:h>Chapter</text:h><text:p>One<text:s text:c="2"/>two<text:tab/>three<text:line-break/>four</text:p><table:table><table:table-row><table:table-cell><text:p>x</text:p></table:table-cell><table:table-cell><text:p>y</text:p></table:table-cell></table:table-row></table:table></office:text></office:body></office:document-content>"#;
    let meta = br#"<office:document-meta xmlns:office="o" xmlns:meta="m" xmlns:dc="d"><office:meta><dc:title>Open title</dc:title><meta:initial-creator>Grace</meta:initial-creator><meta:creation-date>2023-01-02T03:04:05</meta:creation-date><meta:document-statistic meta:page-count="7"/></office:meta></office:document-meta>"#;
    let bytes =
        zip(&[("mimetype", b"application/vnd.oasis.opendocument.text"), ("content.xml", content), ("meta.xml", meta)]);
    let report = check(
        "doc.odt",
        &bytes,
        &[
            ("/format", json!("odt")),
            ("/metadata/title", json!("Open title")),
            ("/metadata/author", json!("Grace")),
            ("/metadata/created", json!("2023-01-02T03:04:05")),
            ("/metadata/pages", json!(7)),
        ],
    );
    let text = report["text"].as_str().unwrap();
    assert!(text.contains("Chapter\n\nOne  two\tthree\nfour\n\n"), "{text:?}");
    assert!(text.contains("x\ty\n") && !text.contains("not text"), "{text:?}");
}

#[test]
fn epub_chapters_in_spine_order() {
    let container = br#"<container><rootfiles><rootfile full-path="OEBPS/content.opf"/></rootfiles></container>"#;
    let opf = br#"<package xmlns:dc="http://purl.org/dc/elements/1.1/"><metadata><dc:title>A Tale</dc:title><dc:creator>Anon</dc:creator><dc:language>en</dc:language></metadata><manifest><item id="c2" href="text/ch%202.xhtml"/><item id="c1" href="text/ch1.xhtml"/></manifest><spine><itemref idref="c1"/><itemref idref="c2"/></spine></package>"#;
    let bytes = zip(&[
        ("mimetype", b"application/epub+zip"),
        ("META-INF/container.xml", container),
        ("OEBPS/content.opf", opf),
        ("OEBPS/text/ch1.xhtml", b"<html><body><h1>One</h1><p>It was a dark night.</p></body></html>"),
        (
            "OEBPS/text/ch 2.xhtml",
            b"<html><head><style>p{}</style></head><body><p>Then morning came.</p></body></html>",
        ),
    ]);
    let report = check(
        "tale.epub",
        &bytes,
        &[
            ("/format", json!("epub")),
            ("/metadata/title", json!("A Tale")),
            ("/metadata/author", json!("Anon")),
            ("/metadata/chapters", json!(2)),
        ],
    );
    let text = report["text"].as_str().unwrap();
    assert!(text.find("dark night").unwrap() < text.find("morning came").unwrap(), "{text:?}");
}

#[test]
fn zip_bombs_are_refused_or_cut_never_inflated() {
    // 300 MiB of zeros deflates to about 300 KiB.
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer.start_file("word/document.xml", zip::write::SimpleFileOptions::default()).unwrap();
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..300 {
        writer.write_all(&zeros).unwrap();
    }
    let bomb = writer.finish().unwrap().into_inner();
    assert!(bomb.len() < 2 << 20);
    match crate::analyze("bomb.docx", &bomb) {
        Ok(report) => assert!(
            report["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("truncated")),
            "{report}"
        ),
        Err(message) => assert!(message.contains("zip"), "{message}"),
    }
}

#[test]
fn containers_cut_short_give_what_precedes_the_cut() {
    // An interrupted download: the central directory at the end is gone,
    // and the last entry is cut inside its data.
    let whole = docx(&["Opening paragraph survives", "Second paragraph too"], Some("Cut"));
    let directory = whole.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    let cut = &whole[..directory - 10];
    let report = check_text("cut.docx", cut, &["Opening paragraph survives", "Second paragraph too"]);
    assert_eq!(report["format"], "docx");
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("recovered from their local headers"), "{warnings}");
    // Cut inside the body itself: an error, or the text before the cut with
    // a warning.
    let body = whole.windows(17).position(|w| w == b"word/document.xml").unwrap();
    match crate::analyze("inside.docx", &whole[..body + 120]) {
        Ok(report) => assert!(report["warnings"].to_string().contains("cut short"), "{report:#}"),
        Err(message) => assert!(message.contains("docx"), "{message}"),
    }
    // Parts named only past the first 64 KiB (a big thumbnail first) still
    // tell what the file is.
    let thumbnail: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let document =
        br#"<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>Behind the picture</w:t></w:r></w:p></w:body></w:document>"#;
    let late = zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("docProps/thumbnail.jpeg", &thumbnail),
        ("word/document.xml", document),
    ]);
    let directory = late.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    check_text("late.docx", &late[..directory], &["Behind the picture"]);
}

#[test]
fn damaged_containers_are_typed_errors() {
    // Half a document whose central directory and most entries are gone,
    // and nothing of its body: an error naming the format.
    let whole = docx(&["text"], None);
    let body = whole.windows(17).position(|w| w == b"word/document.xml").unwrap();
    check_error("cut.docx", &whole[..body + 17], "docx");
    let no_body = zip(&[("word/styles.xml", b"<styles/>"), ("[Content_Types].xml", b"<Types/>")]);
    // Without word/document.xml this zip is not a Word document at all:
    // named as one, it fails saying so.
    check_error("styles.docx", &no_body, "word/document.xml is missing");
    check("styles.zip", &no_body, &[("/format", json!("binary"))]);
    let _ = check_text;
}

/// Web exporters (html-docx-js and the like) write the whole document as
/// an imported HTML page (`w:altChunk`): the text was empty.
#[test]
fn a_docx_whose_body_imports_an_html_page_has_the_page_text() {
    let document = br#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><w:body><w:p><w:r><w:t>Before the import.</w:t></w:r></w:p><w:altChunk r:id="htmlChunk"/><w:altChunk r:id="textChunk"/><w:sectPr/></w:body></w:document>"#;
    let rels = br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="textChunk" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/aFChunk" Target="/word/notes.txt"/><Relationship Id="htmlChunk" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/aFChunk" Target="afchunk.htm"/></Relationships>"#;
    let page = b"<html><head><title>Export</title><style>p { color: red }</style></head><body><h1>Quarterly report</h1><p>Revenue grew in every region.</p></body></html>";
    let bytes = zip(&[
        ("word/document.xml", document),
        ("word/_rels/document.xml.rels", rels),
        ("word/afchunk.htm", page),
        ("word/notes.txt", b"A plain note."),
    ]);
    let report = check("export.docx", &bytes, &[("/format", json!("docx")), ("/warnings", json!([]))]);
    let text = report["text"].as_str().unwrap();
    let (before, heading, body, note) = (
        text.find("Before the import.").expect(text),
        text.find("Quarterly report").expect(text),
        text.find("Revenue grew in every region.").expect(text),
        text.find("A plain note.").expect(text),
    );
    assert!(before < heading && heading < body && body < note, "{text:?}");
    assert!(!text.contains("color"), "{text:?}");
    let options = docmill_engine::Options { markdown: true, ..Default::default() };
    let markdown =
        crate::analyze_with("export.docx", &bytes, options).unwrap()["markdown"].as_str().unwrap().to_owned();
    assert!(markdown.contains("Revenue grew in every region."), "{markdown}");
}
