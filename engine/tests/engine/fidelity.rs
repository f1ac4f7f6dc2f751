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

/// Word (and LibreOffice saving DOCX) writes first-page and even-page
/// headers that nothing shows without `w:titlePg` or `w:evenAndOddHeaders`,
/// and each section's header again: every part was read, the same header
/// three times. Now the parts the sections show are read, each text once.
#[test]
fn docx_reads_the_headers_its_sections_show_once() {
    let section = |first: &str, title_page: bool| {
        format!(
            r#"<w:sectPr><w:headerReference w:type="default" r:id="rDefault"/><w:headerReference w:type="first" r:id="{first}"/><w:headerReference w:type="even" r:id="rEven"/><w:footerReference w:type="default" r:id="rFooter"/>{}</w:sectPr>"#,
            if title_page { "<w:titlePg/>" } else { "" }
        )
    };
    let document = format!(
        r#"<w:document xmlns:w="w" xmlns:r="r"><w:body><w:p><w:pPr>{}</w:pPr><w:r><w:t>First section.</w:t></w:r></w:p><w:p><w:r><w:t>Second section.</w:t></w:r></w:p>{}</w:body></w:document>"#,
        section("rFirst", false),
        section("rCover", true)
    );
    let rels = r#"<Relationships><Relationship Id="rDefault" Type="t/header" Target="header1.xml"/><Relationship Id="rFirst" Type="t/header" Target="header2.xml"/><Relationship Id="rEven" Type="t/header" Target="header3.xml"/><Relationship Id="rCover" Type="t/header" Target="header4.xml"/><Relationship Id="rFooter" Type="t/footer" Target="footer1.xml"/></Relationships>"#;
    let header = |text: &str| format!(r#"<w:hdr xmlns:w="w"><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:hdr>"#);
    let (default, first, even, cover) =
        (header("Running head"), header("Running head"), header("Even pages head"), header("Cover head"));
    let footer = r#"<w:ftr xmlns:w="w"><w:p><w:r><w:t>Page footer</w:t></w:r></w:p></w:ftr>"#;
    let docx = zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", document.as_bytes()),
        ("word/_rels/document.xml.rels", rels.as_bytes()),
        ("word/header1.xml", default.as_bytes()),
        ("word/header2.xml", first.as_bytes()),
        ("word/header3.xml", even.as_bytes()),
        ("word/header4.xml", cover.as_bytes()),
        ("word/footer1.xml", footer.as_bytes()),
    ]);
    let report = text_and_markdown("sections.docx", &docx);
    assert_eq!(
        lines(&report),
        ["First section.", "Second section.", "Running head", "Cover head", "Page footer"],
        "{report:#}"
    );
    // With even pages switched on in the settings, their header shows.
    let settings = r#"<w:settings xmlns:w="w"><w:evenAndOddHeaders/></w:settings>"#;
    let docx = zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", document.as_bytes()),
        ("word/_rels/document.xml.rels", rels.as_bytes()),
        ("word/settings.xml", settings.as_bytes()),
        ("word/header1.xml", default.as_bytes()),
        ("word/header3.xml", even.as_bytes()),
        ("word/header4.xml", cover.as_bytes()),
        ("word/footer1.xml", footer.as_bytes()),
    ]);
    let report = text_and_markdown("even.docx", &docx);
    assert!(lines(&report).contains(&"Even pages head".to_owned()), "{report:#}");
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

/// The non-empty lines of a report's text.
fn lines(report: &Value) -> Vec<String> {
    let text = report["text"].as_str().unwrap_or_default();
    text.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_owned).collect()
}

/// RTF headers and footers (`{\header ...}`, `{\footerl ...}`, ...) were
/// skipped while DOCX reads its header and footer parts. The same document
/// written both ways now reads the same: body, table rows as lines of
/// cells, then the footnote, then the header, then the footer.
#[test]
fn rtf_headers_footers_and_tables_read_as_docx_reads_them() {
    let document = r#"<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>Body text.</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r></w:p><w:tbl><w:tr><w:tc><w:p><w:r><w:t>Name</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Note</w:t></w:r></w:p></w:tc></w:tr><w:tr><w:tc><w:p><w:r><w:t>Ada</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>first line</w:t></w:r></w:p><w:p><w:r><w:t>second line</w:t></w:r></w:p></w:tc></w:tr></w:tbl><w:p><w:r><w:t>After the table.</w:t></w:r></w:p></w:body></w:document>"#;
    let footnotes = r#"<w:footnotes xmlns:w="w"><w:footnote w:id="1"><w:p><w:r><w:t>Note text.</w:t></w:r></w:p></w:footnote></w:footnotes>"#;
    let header = r#"<w:hdr xmlns:w="w"><w:p><w:r><w:t>Running head</w:t></w:r></w:p></w:hdr>"#;
    let footer = r#"<w:ftr xmlns:w="w"><w:p><w:r><w:t>Page footer</w:t></w:r></w:p></w:ftr>"#;
    let docx = zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", document.as_bytes()),
        ("word/footnotes.xml", footnotes.as_bytes()),
        ("word/header1.xml", header.as_bytes()),
        ("word/footer1.xml", footer.as_bytes()),
    ]);
    // Word's way: headers and footers before the body, a row's properties
    // repeated before its `\row`, paragraphs in cells ended by `\par`.
    let rtf = br"{\rtf1\ansi\deff0{\fonttbl{\f0 Times;}}{\info{\title T}}{\headerr \pard\plain Running head\par}{\footerr \pard\plain Page footer\par}{\*\headerf \pard\plain \par}
\pard\plain Body text.{\super\chftn{\footnote\pard\plain\chftn Note text.}}\par
\trowd\cellx2000\cellx4000\pard\plain\intbl Name\cell\pard\plain\intbl Note\cell\pard\plain\intbl{\trowd\cellx2000\cellx4000\row}
\trowd\cellx2000\cellx4000\pard\plain\intbl Ada\cell\pard\plain\intbl first line\par\pard\plain\intbl second line\cell\pard\plain\intbl{\trowd\cellx2000\cellx4000\row}
\pard\plain After the table.\par}";
    let expected = [
        "Body text.",
        "Name\tNote",
        "Ada\tfirst line second line",
        "After the table.",
        "Note text.",
        "Running head",
        "Page footer",
    ];
    let docx_report = text_and_markdown("both.docx", &docx);
    let rtf_report = text_and_markdown("both.rtf", rtf);
    assert_eq!(lines(&docx_report), expected, "{docx_report:#}");
    assert_eq!(lines(&rtf_report), expected, "{rtf_report:#}");
}

/// LibreOffice ends every table row with `\cell\row`, and the cell
/// separator before `\row` left each row with a trailing tab, and a row
/// holding a nested table with a stray line of a lone tab. Rows now end
/// where their last cell does. The fixture is LibreOffice's own output
/// for a two-column HTML table, its cell borders left out.
#[test]
fn rtf_table_rows_from_libreoffice_have_no_stray_tabs() {
    let row = |a: &str, b: &str| {
        format!(
            r"\trowd\trql\ltrrow\trpaddft3\trpaddt0\trpaddfl3\trpaddl0\clvertalc\cellx691\clvertalc\cellx1247\pard\plain \s20\loch\nowidctlpar\noline\intbl\ql\nowidctlpar\noline\ltrpar{{\loch
{a}}}\cell\pard\plain \s20\loch\nowidctlpar\noline\intbl\ql\nowidctlpar\noline\ltrpar{{\loch
{b}}}\cell\row\pard"
        )
    };
    let rtf = format!(
        r"{{\rtf1\ansi\deff0\adeflang1025{{\fonttbl{{\f0\froman\fprq2\fcharset0 Liberation Serif;}}}}{{\stylesheet{{\s0\snext0 Normal;}}}}{{\info{{\creatim\yr2026\mo12\dy1\hr19\min51}}}}\formshade\paperh15840\paperw12240\sectd\pgwsxn12240\pghsxn15840\pard\plain \s16\loch\sl276\slmult1\sb0\sa140\ql\ltrpar{{\loch
Before the table.}}
\par {}\pard\plain \s16\loch\sl276\slmult1\sb0\sa140\ql\ltrpar{{\loch
After the table.}}
\par }}",
        row("Name", "Age") + &row("Alice", "30") + &row("Bob", "25")
    );
    let report = text_and_markdown("lo.rtf", rtf.as_bytes());
    assert_eq!(
        report["text"],
        json!("Before the table.\nName\tAge\nAlice\t30\nBob\t25\nAfter the table.\n"),
        "{report:#}"
    );
}

/// A title with an entity or character reference in it ("R&amp;D plan
/// &#8211; 2024") kept only the text after the last reference ("2024"):
/// the XML reader hands text over in pieces around each reference. DOCX
/// core properties, ODT metadata and EPUB package metadata all read it whole.
#[test]
fn titles_with_entities_are_read_whole() {
    let core = r#"<cp:coreProperties xmlns:cp="c" xmlns:dc="d"><dc:title>R&amp;D plan &#8211; 2024</dc:title><dc:creator>Ben &amp; Jerry</dc:creator></cp:coreProperties>"#;
    let document = r#"<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>Body.</w:t></w:r></w:p></w:body></w:document>"#;
    let docx = zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", document.as_bytes()),
        ("docProps/core.xml", core.as_bytes()),
    ]);
    let meta = r#"<office:document-meta xmlns:office="o" xmlns:dc="d" xmlns:meta="m"><office:meta><dc:title>R&amp;D plan &#8211; 2024</dc:title><meta:initial-creator>Ben &amp; Jerry</meta:initial-creator></office:meta></office:document-meta>"#;
    let content = r#"<office:document-content xmlns:office="o" xmlns:text="t"><office:body><office:text><text:p>Body.</text:p></office:text></office:body></office:document-content>"#;
    let odt = zip(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", content.as_bytes()),
        ("meta.xml", meta.as_bytes()),
    ]);
    let container = r#"<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="book.opf"/></rootfiles></container>"#;
    let opf = r#"<package xmlns="http://www.idpf.org/2007/opf" xmlns:dc="http://purl.org/dc/elements/1.1/"><metadata><dc:title>R&amp;D plan &#8211; 2024</dc:title><dc:creator>Ben &amp; Jerry</dc:creator></metadata><manifest><item id="c" href="c.xhtml" media-type="application/xhtml+xml"/></manifest><spine><itemref idref="c"/></spine></package>"#;
    let chapter = r#"<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Body.</p></body></html>"#;
    let epub = zip(&[
        ("mimetype", b"application/epub+zip"),
        ("META-INF/container.xml", container.as_bytes()),
        ("book.opf", opf.as_bytes()),
        ("c.xhtml", chapter.as_bytes()),
    ]);
    for (filename, bytes) in [("plan.docx", &docx), ("plan.odt", &odt), ("plan.epub", &epub)] {
        let report = text_and_markdown(filename, bytes);
        assert_eq!(report["metadata"]["title"], json!("R&D plan \u{2013} 2024"), "{filename}: {report:#}");
        assert_eq!(report["metadata"]["author"], json!("Ben & Jerry"), "{filename}: {report:#}");
    }
}

/// A Word text box anchored right after a word of its paragraph ran into
/// it ("Before box.Boxed remark"): the box's text is kept apart, and read
/// once though Word writes it twice (DrawingML and a VML fallback).
#[test]
fn docx_text_boxes_do_not_join_the_words_around_them() {
    let text_box = |text: &str| format!("<w:txbxContent><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:txbxContent>");
    let document = format!(
        r#"<w:document xmlns:w="w" xmlns:mc="mc" xmlns:wps="wps" xmlns:v="v"><w:body><w:p><w:r><w:t>Before box.</w:t></w:r><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wps:wsp><wps:txbx>{}</wps:txbx></wps:wsp></w:drawing></mc:Choice><mc:Fallback><w:pict><v:shape><v:textbox>{}</v:textbox></v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p><w:p><w:r><w:t>Old</w:t></w:r><w:r><w:pict><v:shape><v:textbox>{}</v:textbox></v:shape></w:pict></w:r></w:p></w:body></w:document>"#,
        text_box("Boxed remark"),
        text_box("Boxed remark"),
        text_box("VML box")
    );
    let docx = zip(&[("[Content_Types].xml", b"<Types/>"), ("word/document.xml", document.as_bytes())]);
    let report = text_and_markdown("boxes.docx", &docx);
    let words: Vec<&str> = report["text"].as_str().unwrap().split_whitespace().collect();
    assert_eq!(words, ["Before", "box.", "Boxed", "remark", "Old", "VML", "box"], "{report:#}");
}

/// A DOCX whose body is `word/document2.xml` (so its package relationships
/// say; some producers name it so) was reported as a `binary` zip with no
/// text: the relationship now names the body, for detection and reading.
#[test]
fn docx_body_found_through_the_package_relationships() {
    let rels = r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="/word/document2.xml"/></Relationships>"#;
    let document = r#"<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>Body of the second part.</w:t></w:r></w:p></w:body></w:document>"#;
    let docx = zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("_rels/.rels", rels.as_bytes()),
        ("word/document2.xml", document.as_bytes()),
    ]);
    for filename in ["second.docx", "second"] {
        let report = text_and_markdown(filename, &docx);
        assert_eq!(report["format"], json!("docx"), "{filename}: {report:#}");
        assert_eq!(report["text"].as_str().unwrap().trim(), "Body of the second part.", "{filename}: {report:#}");
    }
}

/// SmartArt's text (a process diagram's steps) was missing from PPTX and
/// DOCX: the slide or body only names the diagram's data part, which holds
/// the text. A slide reads it after its own text, before its notes.
#[test]
fn smartart_text_is_read_from_the_diagram_data() {
    let data = r#"<dgm:dataModel xmlns:dgm="d" xmlns:a="a"><dgm:ptLst><dgm:pt modelId="0" type="doc"><dgm:prSet/><dgm:t><a:bodyPr/><a:p><a:endParaRPr/></a:p></dgm:t></dgm:pt><dgm:pt modelId="1"><dgm:prSet/><dgm:t><a:bodyPr/><a:lstStyle/><a:p><a:r><a:t>Plan the work</a:t></a:r></a:p></dgm:t></dgm:pt><dgm:pt modelId="2" type="parTrans"><dgm:prSet/></dgm:pt><dgm:pt modelId="3"><dgm:t><a:p><a:r><a:t>Ship it</a:t></a:r></a:p></dgm:t></dgm:pt></dgm:ptLst><dgm:cxnLst/></dgm:dataModel>"#;
    let rel = |target: &str, kind: &str| {
        format!(
            r#"<Relationships xmlns="r"><Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{kind}" Target="{target}"/></Relationships>"#
        )
    };
    let slide = r#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>Roadmap</a:t></a:r></a:p></p:txBody></p:sp><p:graphicFrame/></p:spTree></p:cSld></p:sld>"#;
    let slide_rels = rel("../diagrams/data1.xml", "diagramData");
    let pptx = zip(&[
        ("ppt/presentation.xml", b"<p:presentation/>"),
        ("ppt/slides/slide1.xml", slide.as_bytes()),
        ("ppt/slides/_rels/slide1.xml.rels", slide_rels.as_bytes()),
        ("ppt/diagrams/data1.xml", data.as_bytes()),
    ]);
    let report = text_and_markdown("roadmap.pptx", &pptx);
    assert_eq!(lines(&report), ["Roadmap", "Plan the work", "Ship it"], "{report:#}");
    let page_end = report["pages"][0]["end"].as_u64().unwrap() as usize;
    assert!(report["text"].as_str().unwrap()[..page_end].contains("Ship it"), "{report:#}");
    assert!(report["markdown"].as_str().unwrap().contains("Ship it"), "{report:#}");

    let document = r#"<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>Roadmap</w:t></w:r></w:p><w:p><w:r><w:drawing/></w:r></w:p></w:body></w:document>"#;
    let document_rels = rel("diagrams/data1.xml", "diagramData");
    let docx = zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", document.as_bytes()),
        ("word/_rels/document.xml.rels", document_rels.as_bytes()),
        ("word/diagrams/data1.xml", data.as_bytes()),
    ]);
    let report = text_and_markdown("roadmap.docx", &docx);
    assert_eq!(lines(&report), ["Roadmap", "Plan the work", "Ship it"], "{report:#}");
    assert!(report["markdown"].as_str().unwrap().contains("Ship it"), "{report:#}");
}

/// A chart's words (its title, axis titles, series names and category
/// labels) were missing from PPTX, DOCX and XLSX: the slide, body or sheet's
/// drawing only names the chart part. Its numbers are not text, and labels
/// repeated by every series are read once.
#[test]
fn chart_titles_series_and_labels_are_read_with_their_slide_body_or_sheet() {
    let chart = r#"<c:chartSpace xmlns:c="c" xmlns:a="a"><c:chart><c:title><c:tx><c:rich><a:p><a:r><a:t>Revenue by quarter</a:t></a:r></a:p></c:rich></c:tx></c:title><c:plotArea><c:lineChart><c:ser><c:tx><c:strRef><c:f>Data!$B$1</c:f><c:strCache><c:pt idx="0"><c:v>Europe</c:v></c:pt></c:strCache></c:strRef></c:tx><c:cat><c:strRef><c:strCache><c:pt idx="0"><c:v>Q1</c:v></c:pt><c:pt idx="1"><c:v>Q2</c:v></c:pt></c:strCache></c:strRef></c:cat><c:val><c:numRef><c:numCache><c:pt idx="0"><c:v>1250.5</c:v></c:pt><c:pt idx="1"><c:v>1377</c:v></c:pt></c:numCache></c:numRef></c:val></c:ser><c:ser><c:tx><c:v>Asia</c:v></c:tx><c:cat><c:strRef><c:strCache><c:pt idx="0"><c:v>Q1</c:v></c:pt><c:pt idx="1"><c:v>Q2</c:v></c:pt></c:strCache></c:strRef></c:cat></c:ser></c:lineChart></c:plotArea></c:chart></c:chartSpace>"#;
    let words = ["Revenue by quarter", "Europe", "Q1", "Q2", "Asia"];
    let rels = |list: &[(&str, &str)]| {
        let list: String = list
            .iter()
            .enumerate()
            .map(|(i, (target, kind))| {
                format!(
                    r#"<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{kind}" Target="{target}"/>"#
                )
            })
            .collect();
        format!(
            r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{list}</Relationships>"#
        )
    };

    let slide = r#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>Results</a:t></a:r></a:p></p:txBody></p:sp><p:graphicFrame/></p:spTree></p:cSld></p:sld>"#;
    let note = r#"<p:notes xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>Say it slowly</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:notes>"#;
    let slide_rels = rels(&[("../charts/chart1.xml", "chart"), ("../notesSlides/notesSlide1.xml", "notesSlide")]);
    let pptx = zip(&[
        ("ppt/presentation.xml", b"<p:presentation/>"),
        ("ppt/slides/slide1.xml", slide.as_bytes()),
        ("ppt/slides/_rels/slide1.xml.rels", slide_rels.as_bytes()),
        ("ppt/charts/chart1.xml", chart.as_bytes()),
        ("ppt/notesSlides/notesSlide1.xml", note.as_bytes()),
    ]);
    let report = text_and_markdown("results.pptx", &pptx);
    let expected: Vec<&str> = std::iter::once("Results").chain(words).chain(["Say it slowly"]).collect();
    assert_eq!(lines(&report), expected, "the chart before the notes: {report:#}");
    assert!(!report["text"].as_str().unwrap().contains("1250"), "{report:#}");
    assert!(report["markdown"].as_str().unwrap().contains("Revenue by quarter"), "{report:#}");

    let document = r#"<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>Results</w:t></w:r></w:p><w:p><w:r><w:drawing/></w:r></w:p></w:body></w:document>"#;
    let docx = zip(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", document.as_bytes()),
        ("word/_rels/document.xml.rels", rels(&[("charts/chart1.xml", "chart")]).as_bytes()),
        ("word/charts/chart1.xml", chart.as_bytes()),
    ]);
    let report = text_and_markdown("results.docx", &docx);
    let expected: Vec<&str> = std::iter::once("Results").chain(words).collect();
    assert_eq!(lines(&report), expected, "{report:#}");
    assert!(report["markdown"].as_str().unwrap().contains("Asia"), "{report:#}");

    let workbook = r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Data" sheetId="1" r:id="rId0"/></sheets></workbook>"#;
    let sheet = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Quarter</t></is></c></row></sheetData></worksheet>"#;
    let xlsx = zip(&[
        ("[Content_Types].xml", b"<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>"),
        ("_rels/.rels", rels(&[("xl/workbook.xml", "officeDocument")]).as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels(&[("worksheets/sheet1.xml", "worksheet")]).as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
        ("xl/worksheets/_rels/sheet1.xml.rels", rels(&[("../drawings/drawing1.xml", "drawing")]).as_bytes()),
        ("xl/drawings/drawing1.xml", b"<xdr:wsDr xmlns:xdr=\"x\"/>"),
        ("xl/drawings/_rels/drawing1.xml.rels", rels(&[("../charts/chart1.xml", "chart")]).as_bytes()),
        ("xl/charts/chart1.xml", chart.as_bytes()),
    ]);
    let report = text_and_markdown("results.xlsx", &xlsx);
    let expected: Vec<&str> = ["Data", "Quarter"].into_iter().chain(words).collect();
    assert_eq!(lines(&report), expected, "{report:#}");
    assert!(report["markdown"].as_str().unwrap().contains("Revenue by quarter"), "{report:#}");
}

/// Old pages' `<center>` and forms' `<legend>` are blocks in browsers, but
/// their text ran into the next words ("Welcometo our site").
#[test]
fn html_center_legend_and_menu_are_blocks() {
    let html = b"<html><body><center>Welcome</center>to our site<fieldset><legend>Contact</legend>Name</fieldset>\
                 <menu><li>Home</li></menu><dir><li>Files</li></dir><hgroup>Title</hgroup>End</body></html>";
    let report = text_and_markdown("old.html", html);
    let words: Vec<&str> = report["text"].as_str().unwrap().split_whitespace().collect();
    assert_eq!(
        words,
        ["Welcome", "to", "our", "site", "Contact", "Name", "Home", "Files", "Title", "End"],
        "{report:#}"
    );
    let markdown: Vec<&str> = report["markdown"].as_str().unwrap().split_whitespace().collect();
    assert!(markdown.contains(&"Welcome") && markdown.contains(&"Contact"), "{report:#}");
}

/// Text a tracked change moved was read twice, where it was (`moveFrom`)
/// and where it went (`moveTo`), and Japanese ruby readings ran into the
/// ideographs they annotate ("とうきょう東京"): only the text Word shows is read.
#[test]
fn docx_moved_text_and_ruby_readings_are_read_once() {
    let document = r#"<w:document xmlns:w="w"><w:body><w:p><w:r><w:t xml:space="preserve">Start </w:t></w:r><w:moveFrom w:id="1"><w:r><w:t>moved</w:t></w:r></w:moveFrom><w:r><w:t xml:space="preserve"> middle </w:t></w:r><w:moveTo w:id="2"><w:r><w:t>moved</w:t></w:r></w:moveTo><w:r><w:t xml:space="preserve"> end.</w:t></w:r></w:p><w:p><w:ruby><w:rubyPr/><w:rt><w:r><w:t>とうきょう</w:t></w:r></w:rt><w:rubyBase><w:r><w:t>東京</w:t></w:r></w:rubyBase></w:ruby><w:r><w:t>に行きます。</w:t></w:r></w:p></w:body></w:document>"#;
    let docx = zip(&[("[Content_Types].xml", b"<Types/>"), ("word/document.xml", document.as_bytes())]);
    let report = text_and_markdown("moves.docx", &docx);
    let words: Vec<&str> = report["text"].as_str().unwrap().split_whitespace().collect();
    assert_eq!(words, ["Start", "middle", "moved", "end.", "東京に行きます。"], "{report:#}");
    let markdown: Vec<&str> = report["markdown"].as_str().unwrap().split_whitespace().collect();
    assert_eq!(markdown, words, "{report:#}");
}

/// Hidden text (`w:vanish`: Word neither shows nor prints it, and leaves it
/// out of what it copies) was read as body text. A paragraph mark's own
/// hiding hides no text, `w:val="0"` turns hiding off, and a text box's runs
/// are not hidden by the run that anchors them.
#[test]
fn docx_hidden_text_is_left_out() {
    let document = r#"<w:document xmlns:w="w"><w:body><w:p><w:pPr><w:rPr><w:vanish/></w:rPr></w:pPr><w:r><w:t xml:space="preserve">Shown </w:t></w:r><w:r><w:rPr><w:vanish/></w:rPr><w:t>secret</w:t><w:tab/></w:r><w:r><w:rPr><w:vanish w:val="0"/></w:rPr><w:t xml:space="preserve">visible </w:t></w:r><w:r><w:rPr><w:vanish/></w:rPr><w:drawing><w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent></w:drawing><w:t>hush</w:t></w:r><w:r><w:t xml:space="preserve"> end.</w:t></w:r></w:p></w:body></w:document>"#;
    let docx = zip(&[("[Content_Types].xml", b"<Types/>"), ("word/document.xml", document.as_bytes())]);
    let report = text_and_markdown("hidden.docx", &docx);
    let words: Vec<&str> = report["text"].as_str().unwrap().split_whitespace().collect();
    assert_eq!(words, ["Shown", "visible", "boxed", "end."], "{report:#}");
    let markdown = report["markdown"].as_str().unwrap();
    assert!(!markdown.contains("secret") && !markdown.contains("hush"), "{report:#}");
    assert!(markdown.contains("visible") && markdown.contains("end."), "{report:#}");
}

/// ODT ruby readings ran into their ideographs ("東京とうきょう") as DOCX's did.
#[test]
fn odt_ruby_readings_are_left_out() {
    let content = r#"<office:document-content xmlns:office="o" xmlns:text="t"><office:body><office:text><text:p><text:ruby><text:ruby-base>東京</text:ruby-base><text:ruby-text>とうきょう</text:ruby-text></text:ruby>に行きます。</text:p></office:text></office:body></office:document-content>"#;
    let odt = zip(&[("mimetype", b"application/vnd.oasis.opendocument.text"), ("content.xml", content.as_bytes())]);
    let report = text_and_markdown("ruby.odt", &odt);
    assert_eq!(report["text"].as_str().unwrap().trim(), "東京に行きます。", "{report:#}");
    assert_eq!(report["markdown"].as_str().unwrap().trim(), "東京に行きます。", "{report:#}");
}
