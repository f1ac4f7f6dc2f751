//! Engine tests: OpenDocument spreadsheets, presentations and drawings, read
//! as `odt` with their own media type. They were a `binary` with no text.

use serde_json::json;

use crate::check;
use crate::containers::zip;

const SPREADSHEET: &[u8] = b"application/vnd.oasis.opendocument.spreadsheet";

fn spreadsheet(tables: &str) -> Vec<u8> {
    let content = format!(
        r#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:table="tb" xmlns:dc="d"><office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document-content>"#
    );
    zip(&[("mimetype", SPREADSHEET), ("content.xml", content.as_bytes())])
}

fn cell(text: &str) -> String {
    format!("<table:table-cell><text:p>{text}</text:p></table:table-cell>")
}

/// LibreOffice writes a run of equal cells or rows once with a count, and
/// pads rows to the sheet's edge with a repeated empty cell: the text has
/// the rows as XLSX's do (a line each, tab-separated, no trailing tabs, no
/// empty rows), each sheet after a line with its name.
#[test]
fn a_spreadsheet_has_its_sheets_and_rows_as_an_xlsx_does() {
    let tables = format!(
        r#"<table:table table:name="Sales"><table:table-row>{}{}<table:table-cell table:number-columns-repeated="1020"/></table:table-row><table:table-row table:number-rows-repeated="3"><table:table-cell table:number-columns-repeated="1024"/></table:table-row><table:table-row><table:table-cell table:number-columns-repeated="2"/><table:table-cell table:number-columns-repeated="3"><text:p>same</text:p></table:table-cell><table:table-cell><text:p>last</text:p><office:annotation><dc:creator>Ann</dc:creator><text:p>Check this.</text:p></office:annotation></table:table-cell></table:table-row><table:table-row table:number-rows-repeated="2">{}</table:table-row><table:table-row table:number-rows-repeated="1048000"><table:table-cell table:number-columns-repeated="1024"/></table:table-row></table:table><table:table table:name="Notes"><table:table-row>{}</table:table-row></table:table>"#,
        cell("Region"),
        cell("Total"),
        cell("twice"),
        cell("Remember the milk"),
    );
    check(
        "book.ods",
        &spreadsheet(&tables),
        &[
            ("/format", json!("odt")),
            ("/media_type", json!("application/vnd.oasis.opendocument.spreadsheet")),
            ("/metadata/sheets", json!(2)),
            ("/metadata/sheet_names", json!(["Sales", "Notes"])),
            (
                "/text",
                json!("Sales\nRegion\tTotal\n\t\tsame\tsame\tsame\tlast\ntwice\ntwice\n\nNotes\nRemember the milk\n\nCheck this.\n"),
            ),
            ("/warnings", json!([])),
        ],
    );
    let options = docmill_engine::Options { markdown: true, ..Default::default() };
    let report = crate::analyze_with("book.ods", &spreadsheet(&tables), options).unwrap();
    let markdown = report["markdown"].as_str().unwrap();
    assert!(markdown.starts_with("# Sales\n\n| Region | Total |"), "{markdown}");
    assert!(markdown.contains("|  |  | same | same | same | last |\n| twice |"), "{markdown}");
    assert!(markdown.contains("# Notes\n\n| Remember the milk |"), "{markdown}");
}

/// A cell repeated to the sheet's edge, in a row repeated to its bottom,
/// is not written a million times over.
#[test]
fn a_repeated_cell_with_text_is_written_a_bounded_number_of_times() {
    let tables = r#"<table:table table:name="S"><table:table-row table:number-rows-repeated="1048576"><table:table-cell table:number-columns-repeated="16384"><text:p>spam</text:p></table:table-cell></table:table-row></table:table>"#;
    let report = check("spam.ods", &spreadsheet(tables), &[("/format", json!("odt"))]);
    let text = report["text"].as_str().unwrap();
    assert!(text.len() < 1 << 20, "{} bytes of text", text.len());
    assert_eq!(text.lines().nth(1).unwrap().split('\t').count(), 64, "a row of the first 64 of its repeats");
}

#[test]
fn a_presentation_has_its_slides_in_order_each_with_its_notes() {
    let page = |title: &str, body: &str, note: &str| {
        format!(
            r#"<draw:page><draw:frame><draw:text-box><text:p>{title}</text:p></draw:text-box></draw:frame><draw:frame><draw:text-box><text:list><text:list-item><text:p>{body}</text:p></text:list-item></text:list></draw:text-box></draw:frame><presentation:notes><draw:frame><draw:text-box><text:p>{note}</text:p></draw:text-box></draw:frame><draw:frame><draw:text-box><text:p><text:page-number>&lt;number&gt;</text:page-number></text:p></draw:text-box></draw:frame></presentation:notes></draw:page>"#
        )
    };
    let content = format!(
        r#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:draw="dr" xmlns:presentation="p"><office:body><office:presentation>{}{}</office:presentation></office:body></office:document-content>"#,
        page("Quarterly review", "Revenue grew in every region.", "Thank the sales team."),
        page("Next steps", "Hire two engineers.", "Ask for budget."),
    );
    let bytes =
        zip(&[("mimetype", b"application/vnd.oasis.opendocument.presentation"), ("content.xml", content.as_bytes())]);
    check(
        "deck.odp",
        &bytes,
        &[
            ("/format", json!("odt")),
            ("/media_type", json!("application/vnd.oasis.opendocument.presentation")),
            ("/metadata/slides", json!(2)),
            (
                "/text",
                json!("Quarterly review\n\nRevenue grew in every region.\n\nThank the sales team.\n\nNext steps\n\nHire two engineers.\n\nAsk for budget.\n\n"),
            ),
        ],
    );
}

/// A spreadsheet cut short (an interrupted download) is still told by the
/// `mimetype` its first entry names, and what survives is read.
#[test]
fn a_spreadsheet_cut_short_is_still_an_opendocument() {
    let mut tables = String::from(r#"<table:table table:name="Big">"#);
    for i in 0..2000 {
        tables.push_str(&format!("<table:table-row>{}</table:table-row>", cell(&format!("row number {i}"))));
    }
    tables.push_str("</table:table>");
    let content = format!(
        r#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:table="tb"><office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document-content>"#
    );
    // As OpenDocument writers do: the `mimetype` first and stored.
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    writer.start_file("mimetype", stored).unwrap();
    std::io::Write::write_all(&mut writer, SPREADSHEET).unwrap();
    writer.start_file("content.xml", zip::write::SimpleFileOptions::default()).unwrap();
    std::io::Write::write_all(&mut writer, content.as_bytes()).unwrap();
    let mut bytes = writer.finish().unwrap().into_inner();
    bytes.truncate(bytes.len() - 40);
    let report = crate::analyze("cut.ods", &bytes).unwrap();
    assert_eq!(report["media_type"], "application/vnd.oasis.opendocument.spreadsheet", "{report:#}");
    assert_eq!(report["format"], "odt", "{report:#}");
}

/// An OpenDocument text's page headers and footers are in `styles.xml`, on
/// its master pages, which were not read: the same document as DOCX, DOC or
/// RTF had them. A text box's text was glued to the word it follows.
#[test]
fn a_text_document_has_its_headers_footers_and_text_boxes_read() {
    let content = r#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:draw="d"><office:body><office:text><text:p>Anchor words before frame<draw:frame><draw:text-box><text:p>boxed flamingo</text:p></draw:text-box></draw:frame></text:p><text:p>After the frame.</text:p></office:text></office:body></office:document-content>"#;
    let styles = r#"<office:document-styles xmlns:office="o" xmlns:style="s" xmlns:text="t"><office:master-styles><style:master-page style:name="Standard"><style:header><text:p>Running header quetzal</text:p></style:header><style:header-left><text:p>Running header quetzal</text:p></style:header-left><style:footer><text:p>Page <text:page-number>3</text:page-number> of the report</text:p></style:footer></style:master-page></office:master-styles></office:document-styles>"#;
    let bytes = zip(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", content.as_bytes()),
        ("styles.xml", styles.as_bytes()),
    ]);
    check(
        "letter.odt",
        &bytes,
        &[(
            "/text",
            json!("Anchor words before frame boxed flamingo\n\nAfter the frame.\n\nRunning header quetzal\nPage of the report\n"),
        )],
    );
}
