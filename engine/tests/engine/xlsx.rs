//! Engine tests: XLSX workbooks built in the tests, from the ordinary (cells,
//! dates) to the hostile (a declared dimension of the whole sheet).

use serde_json::json;

use crate::containers::zip;
use crate::{check, check_error};

/// A one-sheet workbook named `Budget` whose `<worksheet>` holds `sheet_xml`
/// (everything inside `<worksheet>`), with styles 1-3 the built-in date,
/// date-time and time formats.
fn workbook(sheet_xml: &str) -> Vec<u8> {
    let workbook = br#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Budget" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    let rels = br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
    let sheet = format!(
        r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{sheet_xml}</worksheet>"#
    );
    let styles = br#"<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="22"/><xf numFmtId="21"/></cellXfs></styleSheet>"#;
    let content_types = br#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
    zip(&[
        ("[Content_Types].xml", content_types),
        ("_rels/.rels", br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", rels),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
        ("xl/styles.xml", styles),
    ])
}

#[test]
fn xlsx_cells_by_sheet() {
    let bytes = workbook(
        r#"<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Item</t></is></c><c r="B1" t="inlineStr"><is><t>Cost</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>Paper</t></is></c><c r="B2"><v>12.5</v></c><c r="D2" t="b"><v>1</v></c></row><row r="3"><c r="A3" s="1"><v>45352</v></c><c r="B3" s="2"><v>45352.5625</v></c><c r="C3" s="3"><v>0.75</v></c></row></sheetData>"#,
    );
    let report = check(
        "budget.xlsx",
        &bytes,
        &[
            ("/format", json!("xlsx")),
            ("/metadata/sheets", json!(1)),
            ("/metadata/sheet_names", json!(["Budget"])),
            ("/warnings", json!([])),
        ],
    );
    assert_eq!(
        report["text"],
        json!("Budget\nItem\tCost\nPaper\t12.5\t\ttrue\n2024-03-01\t2024-03-01T13:30:00\t18:00:00\n\n"),
        "cells in columns, dates as ISO 8601 with a T"
    );
}

/// A worker died (SIGABRT) allocating a dense grid the size of a declared
/// dimension: one cell in each far corner of the sheet.
#[test]
fn xlsx_whole_sheet_dimension_is_not_allocated() {
    let bytes = workbook(
        r#"<dimension ref="A1:XFD1048576"/><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>corner</t></is></c></row><row r="1048576"><c r="XFD1048576"><v>42</v></c></row></sheetData>"#,
    );
    let report = check("corners.xlsx", &bytes, &[("/format", json!("xlsx")), ("/warnings", json!([]))]);
    // The far cell keeps its place to the right, within a bounded run of tabs.
    let tabs = "\t".repeat(16);
    assert_eq!(report["text"], json!(format!("Budget\ncorner\n{tabs}42\n\n")));
}

/// The shape the attack used: one cell in the last corner, the whole sheet
/// declared.
#[test]
fn xlsx_one_cell_in_the_last_corner() {
    let bytes = workbook(
        r#"<dimension ref="A1:XFD1048576"/><sheetData><row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>far away</t></is></c></row></sheetData>"#,
    );
    check("corner.xlsx", &bytes, &[("/text", json!("Budget\nfar away\n\n")), ("/stats/words", json!(3))]);
}

/// calamine reserves room for the shared strings a workbook announces: a
/// count of a trillion aborted the process.
#[test]
fn xlsx_lying_shared_string_count_is_refused() {
    let mut bytes = workbook(r#"<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData>"#);
    // Rebuilt with the shared strings part added.
    let sst = br#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1000000000000"><si><t>only one</t></si></sst>"#;
    bytes = with_entry(&bytes, "xl/sharedStrings.xml", sst);
    check_error("strings.xlsx", &bytes, "shared strings");
    // The same workbook telling the truth is read.
    let honest = String::from_utf8_lossy(sst).replace("1000000000000", "1");
    let bytes = with_entry(&bytes, "xl/sharedStrings.xml", honest.as_bytes());
    check("strings.xlsx", &bytes, &[("/text", json!("Budget\nonly one\n\n"))]);
}

/// A sheet whose XML breaks off keeps the rows before the break.
#[test]
fn xlsx_damaged_sheet_keeps_the_rows_before_the_damage() {
    let bytes = workbook(
        r#"<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>kept row</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>lost"#,
    );
    let report = check("damaged.xlsx", &bytes, &[("/format", json!("xlsx"))]);
    assert!(report["text"].as_str().unwrap().contains("kept row\n"), "{report:#}");
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("sheet \\\"Budget\\\""), "the damage is reported: {warnings}");
}

/// `bytes` (a zip) with the entry `name` replaced or added.
fn with_entry(bytes: &[u8], name: &str, content: &[u8]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        let entry_name = entry.name().unwrap().into_owned();
        if entry_name != name {
            entries.push((entry_name, data));
        }
    }
    entries.push((name.to_owned(), content.to_vec()));
    let borrowed: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    zip(&borrowed)
}

/// A library (openpyxl, say) writes formulas without their results; only a
/// spreadsheet application computes them. The values are not in the file,
/// and the report says so instead of reading the cells as silently empty.
#[test]
fn xlsx_formulas_without_stored_results_are_named_in_a_warning() {
    let bytes = workbook(
        r#"<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Net</t></is></c><c r="B1"><v>100</v></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>Tax</t></is></c><c r="B2"><f>B1*0.2</f></c></row><row r="3"><c r="A3" t="inlineStr"><is><t>Total</t></is></c><c r="B3"><f>SUM(B1:B2)</f><v></v></c><c r="C3"><f>B3*2</f><v>240</v></c></row></sheetData>"#,
    );
    let report = check("formulas.xlsx", &bytes, &[("/format", json!("xlsx"))]);
    assert_eq!(report["text"], json!("Budget\nNet\t100\nTax\nTotal\t\t240\n\n"), "a stored result is read");
    assert_eq!(
        report["warnings"],
        json!([
            "sheet \"Budget\": 2 formula cells have no stored result (the workbook was never recalculated): their values are not in the text"
        ])
    );
}

/// Cell comments were missing from the text (DOCX and ODT comments are
/// read): each sheet's follow its cells. A sheet with current Excel's
/// threaded comments also has legacy copies telling old versions to
/// upgrade; those are not read.
#[test]
fn xlsx_comments_follow_their_sheet() {
    let ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    let rel = |id: &str, kind: &str, target: &str| {
        format!(
            r#"<Relationship Id="{id}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{kind}" Target="{target}"/>"#
        )
    };
    let rels = |list: &[String]| {
        format!(
            r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{}</Relationships>"#,
            list.concat()
        )
    };
    let workbook = format!(
        r#"<workbook xmlns="{ns}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Plan" sheetId="1" r:id="rId1"/><sheet name="Costs" sheetId="2" r:id="rId2"/></sheets></workbook>"#
    );
    let workbook_rels =
        rels(&[rel("rId1", "worksheet", "worksheets/sheet1.xml"), rel("rId2", "worksheet", "worksheets/sheet2.xml")]);
    let sheet = |value: &str| {
        format!(
            r#"<worksheet xmlns="{ns}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>{value}</t></is></c></row></sheetData></worksheet>"#
        )
    };
    let (sheet1, sheet2) = (sheet("Launch"), sheet("Paper"));
    let sheet1_rels = rels(&[rel("rId1", "comments", "../comments1.xml")]);
    let sheet2_rels = rels(&[
        rel("rId1", "comments", "../comments2.xml"),
        "<Relationship Id=\"rId2\" Type=\"http://schemas.microsoft.com/office/2017/10/relationships/threadedComment\" Target=\"../threadedComments/threadedComment1.xml\"/>".to_owned(),
    ]);
    let legacy = |text: &str| {
        format!(
            r#"<comments xmlns="{ns}"><authors><author>Bob</author></authors><commentList><comment ref="A1" authorId="0"><text><r><rPr><b/></rPr><t>Bob:</t></r><r><t xml:space="preserve">&#10;{text}</t></r></text></comment></commentList></comments>"#
        )
    };
    let comments1 = legacy("Check the launch date");
    let comments2 = legacy("[Threaded comment] Your version of Excel allows you to read this threaded comment");
    let threaded = r#"<ThreadedComments xmlns="http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments"><threadedComment ref="A1" id="{1}"><text>Is paper still this price?</text></threadedComment><threadedComment ref="A1" id="{2}" parentId="{1}"><text>Yes, until May.</text></threadedComment></ThreadedComments>"#;
    let package_rels = rels(&["<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/>".to_owned()]);
    let bytes = zip(&[
        ("[Content_Types].xml", b"<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>"),
        ("_rels/.rels", package_rels.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", workbook_rels.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet1.as_bytes()),
        ("xl/worksheets/sheet2.xml", sheet2.as_bytes()),
        ("xl/worksheets/_rels/sheet1.xml.rels", sheet1_rels.as_bytes()),
        ("xl/worksheets/_rels/sheet2.xml.rels", sheet2_rels.as_bytes()),
        ("xl/comments1.xml", comments1.as_bytes()),
        ("xl/comments2.xml", comments2.as_bytes()),
        ("xl/threadedComments/threadedComment1.xml", threaded.as_bytes()),
    ]);
    check(
        "plan.xlsx",
        &bytes,
        &[(
            "/text",
            json!("Plan\nLaunch\nBob: Check the launch date\n\nCosts\nPaper\nIs paper still this price?\nYes, until May.\n\n"),
        )],
    );
}
