//! Engine tests: the Markdown, chunks and pages of office documents, generated
//! by python-docx, python-pptx and odfpy when they are installed (`.ci/run`
//! installs them; without them these tests say loudly that they did not
//! run), and of documents written here.

use std::process::Command;

use docmill_engine::{Options, PageSelection};
use serde_json::json;

use crate::analyze_with;
use crate::containers::zip;
use crate::structure::{check_chunks, structured};

/// The document a Python script writes to the path in `sys.argv[1]`, or
/// `None` (with a loud message) when `module` is not installed.
fn generated(module: &str, script: &str) -> Option<Vec<u8>> {
    let probe = Command::new("python3").args(["-c", &format!("import {module}")]).output();
    if !probe.is_ok_and(|output| output.status.success()) {
        loud!("SKIPPED: python3 module {module} is not installed; this test did not run (.ci/run installs it)");
        return None;
    }
    // One file per script run: tests run in parallel in one process.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("docmill-structure-{}-{run}-{module}", std::process::id()));
    let output = Command::new("python3").args(["-c", script]).arg(&path).output().unwrap();
    assert!(output.status.success(), "python failed: {}", String::from_utf8_lossy(&output.stderr));
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    Some(bytes)
}

const WORD_SCRIPT: &str = r#"
import sys, docx
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml.shared import OxmlElement, qn
d = docx.Document()
d.add_heading('Annual report', 0)
d.add_heading('Summary', 1)
p = d.add_paragraph('Sales rose ')
p.add_run('sharply').bold = True
p.add_run(' and costs fell ')
p.add_run('slightly').italic = True
p.add_run('.')
d.add_paragraph('first point', style='List Bullet')
d.add_paragraph('nested point', style='List Bullet 2')
d.add_paragraph('step one', style='List Number')
d.add_paragraph('step two', style='List Number')
d.add_heading('Figures', 2)
t = d.add_table(rows=3, cols=2)
for (r, c), text in {(0, 0): 'Region', (0, 1): 'Sales', (1, 0): 'North', (1, 1): '12', (2, 0): 'South', (2, 1): '7'}.items():
    t.cell(r, c).text = text
p = d.add_paragraph('Visit ')
link = OxmlElement('w:hyperlink')
link.set(qn('r:id'), d.part.relate_to('https://example.com/report', RELATIONSHIP_TYPE.HYPERLINK, is_external=True))
run = OxmlElement('w:r'); text = OxmlElement('w:t'); text.text = 'our site'; run.append(text); link.append(run)
p._p.append(link)
d.add_heading('Outlook', 1)
d.add_paragraph('Steady. ' * 30)
d.save(sys.argv[1])
"#;

#[test]
fn docx_headings_lists_tables_and_links_as_markdown() {
    let Some(bytes) = generated("docx", WORD_SCRIPT) else { return };
    let report = structured("report.docx", &bytes, Some(100));
    let markdown = report["markdown"].as_str().unwrap();
    for expected in [
        "# Annual report\n\n# Summary\n\nSales rose **sharply** and costs fell *slightly*.\n\n",
        "- first point\n",
        "1. step one\n2. step two\n",
        "## Figures\n\n| Region | Sales |\n| --- | --- |\n| North | 12 |\n| South | 7 |\n",
        "Visit [our site](https://example.com/report)\n",
        "# Outlook\n\nSteady.",
    ] {
        assert!(markdown.contains(expected), "markdown lacks {expected:?}:\n{markdown}");
    }
    assert!(markdown.contains("  - nested point\n"), "a second-level bullet nests:\n{markdown}");
    check_chunks(&report, 100, &["Annual report", "Summary", "Figures", "Outlook"]);
    let chunks = report["chunks"].as_array().unwrap();
    let steady = chunks.iter().find(|c| c["text"].as_str().unwrap().contains("Steady")).unwrap();
    assert_eq!(steady["headings"], json!(["Outlook"]), "Title and Heading 1 are both level 1");
    let sales = chunks.iter().find(|c| c["text"].as_str().unwrap().contains("North")).unwrap();
    assert_eq!(sales["headings"], json!(["Summary", "Figures"]));
    assert!(report["text"].as_str().unwrap().starts_with("Annual report\n\nSummary\n\nSales rose sharply"));
}

#[test]
fn docx_footnotes_come_last_and_merged_cells_stay_empty() {
    let w = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;
    let document = format!(
        r#"<w:document {w}><w:body><w:p><w:pPr><w:outlineLvl w:val="1"/></w:pPr><w:r><w:t>Outlined</w:t></w:r></w:p><w:p><w:r><w:t>Claim</w:t></w:r><w:r><w:footnoteReference w:id="2"/></w:r><w:r><w:t>.</w:t></w:r></w:p><w:tbl><w:tr><w:tc><w:tcPr><w:gridSpan w:val="2"/></w:tcPr><w:p><w:r><w:t>Wide</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>C</w:t></w:r></w:p></w:tc></w:tr><w:tr><w:tc><w:p><w:r><w:t>a</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>b</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>c</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:body></w:document>"#
    );
    let footnotes = format!(
        r#"<w:footnotes {w}><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote><w:footnote w:id="2"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> A source.</w:t></w:r></w:p></w:footnote></w:footnotes>"#
    );
    let bytes = zip(&[("word/document.xml", document.as_bytes()), ("word/footnotes.xml", footnotes.as_bytes())]);
    let report = structured("notes.docx", &bytes, None);
    assert_eq!(
        report["markdown"],
        "## Outlined\n\nClaim[^2].\n\n| Wide |  | C |\n| --- | --- | --- |\n| a | b | c |\n\n[^2]: A source.\n"
    );
}

const DECK_SCRIPT: &str = r#"
import sys
from pptx import Presentation
from pptx.util import Inches
deck = Presentation()
slide = deck.slides.add_slide(deck.slide_layouts[1])
slide.shapes.title.text = 'Quarterly review'
body = slide.placeholders[1].text_frame
body.text = 'Revenue up'
p = body.add_paragraph(); p.text = 'in Europe'; p.level = 1
p = body.add_paragraph(); p.text = 'Costs flat'
slide.notes_slide.notes_text_frame.text = 'Mention the weather.'
slide = deck.slides.add_slide(deck.slide_layouts[5])
slide.shapes.title.text = 'Numbers'
table = slide.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
for (r, c), text in {(0, 0): 'Item', (0, 1): 'Count', (1, 0): 'Chairs', (1, 1): '4'}.items():
    table.cell(r, c).text = text
slide = deck.slides.add_slide(deck.slide_layouts[1])
slide.shapes.title.text = 'Thanks'
slide.placeholders[1].text_frame.text = 'Questions?'
deck.save(sys.argv[1])
"#;

#[test]
fn pptx_slides_are_pages_with_titles_lists_tables_and_notes() {
    let Some(bytes) = generated("pptx", DECK_SCRIPT) else { return };
    let report = structured("deck.pptx", &bytes, Some(64));
    let markdown = report["markdown"].as_str().unwrap();
    let expected =
        "# Quarterly review\n\n- Revenue up\n  - in Europe\n- Costs flat\n\n**Notes:** Mention the weather.\n\n\
                    # Numbers\n\n| Item | Count |\n| --- | --- |\n| Chairs | 4 |\n\n# Thanks\n\n- Questions?\n";
    assert_eq!(markdown, expected);
    let text: Vec<char> = report["text"].as_str().unwrap().chars().collect();
    let pages = report["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 3);
    let page_text = |i: usize| -> String {
        let (start, end) = (pages[i]["start"].as_u64().unwrap() as usize, pages[i]["end"].as_u64().unwrap() as usize);
        text[start..end].iter().collect()
    };
    assert!(page_text(0).contains("Quarterly review") && page_text(0).contains("Mention the weather."));
    assert!(page_text(1).contains("Chairs") && !page_text(1).contains("Thanks"));
    check_chunks(&report, 64, &["Quarterly review", "Numbers", "Thanks"]);
    let last = report["chunks"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["page"].clone(), last["headings"].clone()), (json!(3), json!(["Thanks"])));

    let options = Options { include_text: true, pages: Some(PageSelection::parse("2").unwrap()), ..Options::default() };
    let second = analyze_with("deck.pptx", &bytes, options).unwrap();
    let text = second["text"].as_str().unwrap();
    assert!(text.contains("Chairs") && !text.contains("Quarterly") && !text.contains("Thanks"), "{text:?}");
    assert_eq!(second["metadata"]["slides"], 3);
}

const ODT_SCRIPT: &str = r#"
import sys
from odf.opendocument import OpenDocumentText
from odf.style import Style, TextProperties
from odf.text import H, P, List, ListItem, ListStyle, ListLevelStyleBullet, ListLevelStyleNumber, A, Span
from odf.table import Table, TableColumn, TableRow, TableCell
doc = OpenDocumentText()
bold = Style(name='Bold', family='text'); bold.addElement(TextProperties(fontweight='bold'))
doc.automaticstyles.addElement(bold)
numbered = ListStyle(name='Numbered'); numbered.addElement(ListLevelStyleNumber(level=1, numformat='1'))
bullets = ListStyle(name='Bullets'); bullets.addElement(ListLevelStyleBullet(level=1, bulletchar='*')); bullets.addElement(ListLevelStyleBullet(level=2, bulletchar='-'))
doc.automaticstyles.addElement(numbered); doc.automaticstyles.addElement(bullets)
doc.text.addElement(H(outlinelevel=1, text='Plan'))
p = P(text='See '); p.addElement(A(href='https://example.org/plan', text='the plan')); p.addText(' and '); p.addElement(Span(stylename=bold, text='act'))
doc.text.addElement(p)
doc.text.addElement(H(outlinelevel=2, text='Steps'))
steps = List(stylename=numbered)
for text in ['Plan', 'Do']:
    item = ListItem(); item.addElement(P(text=text)); steps.addElement(item)
doc.text.addElement(steps)
points = List(stylename=bullets)
item = ListItem(); item.addElement(P(text='outer'))
inner = List(); inner_item = ListItem(); inner_item.addElement(P(text='inner')); inner.addElement(inner_item); item.addElement(inner)
points.addElement(item)
doc.text.addElement(points)
table = Table(name='T'); table.addElement(TableColumn(numbercolumnsrepeated=2))
for row in [['Name', 'Value'], ['x', '1']]:
    tr = TableRow()
    for value in row:
        cell = TableCell(); cell.addElement(P(text=value)); tr.addElement(cell)
    table.addElement(tr)
doc.text.addElement(table)
doc.save(sys.argv[1])
"#;

#[test]
fn odt_headings_lists_tables_and_links_as_markdown() {
    let Some(bytes) = generated("odf", ODT_SCRIPT) else { return };
    let report = structured("plan.odt", &bytes, Some(64));
    assert_eq!(
        report["markdown"],
        "# Plan\n\nSee [the plan](https://example.org/plan) and **act**\n\n## Steps\n\n1. Plan\n2. Do\n- outer\n  - inner\n\n\
         | Name | Value |\n| --- | --- |\n| x | 1 |\n"
    );
    check_chunks(&report, 64, &["Plan", "Steps"]);
}

#[test]
fn xlsx_sheets_are_headings_with_pipe_tables() {
    let workbook = br#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Budget" sheetId="1" r:id="rId1"/><sheet name="Staff" sheetId="2" r:id="rId2"/></sheets></workbook>"#;
    let rels = br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml"/></Relationships>"#;
    let cell = |at: &str, text: &str| format!(r#"<c r="{at}" t="inlineStr"><is><t>{text}</t></is></c>"#);
    let sheet = |rows: &[&[(&str, &str)]]| {
        let rows: String = rows
            .iter()
            .enumerate()
            .map(|(i, cells)| {
                format!("<row r=\"{}\">{}</row>", i + 1, cells.iter().map(|(at, t)| cell(at, t)).collect::<String>())
            })
            .collect();
        format!(
            r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>"#
        )
    };
    let budget = sheet(&[&[("A1", "Item"), ("B1", "Cost")], &[("A2", "Paper | A4"), ("B2", "12")]]);
    let staff = sheet(&[&[("A1", "Name")], &[("A2", "Ada")]]);
    let content_types = br#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#;
    let bytes = zip(&[
        ("[Content_Types].xml", content_types),
        ("_rels/.rels", br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", rels),
        ("xl/worksheets/sheet1.xml", budget.as_bytes()),
        ("xl/worksheets/sheet2.xml", staff.as_bytes()),
    ]);
    let report = structured("book.xlsx", &bytes, Some(64));
    assert_eq!(
        report["markdown"],
        "# Budget\n\n| Item | Cost |\n| --- | --- |\n| Paper \\| A4 | 12 |\n\n# Staff\n\n| Name |\n| --- |\n| Ada |\n"
    );
    check_chunks(&report, 64, &["Budget", "Staff"]);
}

#[test]
fn csv_is_a_pipe_table_cut_past_the_row_limit_with_a_warning() {
    let report = structured("small.csv", b"name,qty\napples,3\n", None);
    assert_eq!(report["markdown"], "| name | qty |\n| --- | --- |\n| apples | 3 |\n");
    let rows = docmill_engine::structure::MAX_TABLE_ROWS + 5;
    let big: String = (0..rows).map(|i| format!("{i},x\n")).collect();
    let report = structured("big.csv", big.as_bytes(), None);
    let markdown = report["markdown"].as_str().unwrap();
    assert_eq!(markdown.lines().count(), docmill_engine::structure::MAX_TABLE_ROWS + 1, "rows and the header rule");
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w.as_str().unwrap().starts_with("truncated: tables in the Markdown cut")),
        "{warnings:?}"
    );
    assert!(report["text"].as_str().unwrap().contains(&format!("{}\tx", rows - 1)), "the text keeps every row");
}

/// A style sheet of `styles` (`sti`, name), as Word 97 writes one.
fn word_styles(styles: &[(u16, &str)]) -> Vec<u8> {
    let mut sheet = [18u16.to_le_bytes(), (styles.len() as u16).to_le_bytes(), 10u16.to_le_bytes()].concat();
    sheet.resize(2 + 18, 0);
    for (sti, name) in styles {
        let mut std = [sti.to_le_bytes().as_slice(), &[0; 8]].concat();
        std.extend((name.encode_utf16().count() as u16).to_le_bytes());
        std.extend(name.encode_utf16().chain([0]).flat_map(u16::to_le_bytes));
        sheet.extend((std.len() as u16).to_le_bytes());
        sheet.extend(std);
    }
    sheet
}

/// Lists of one level each (simple lists), by `nfc`, then the overrides
/// naming them in order (`ilfo` 1, 2, ...).
fn word_lists(formats: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut lists = (formats.len() as u16).to_le_bytes().to_vec();
    for i in 0..formats.len() {
        let mut lstf = vec![0u8; 28];
        lstf[..4].copy_from_slice(&(100 + i as u32).to_le_bytes());
        lstf[26] = 1; // fSimpleList
        lists.extend(lstf);
    }
    for &nfc in formats {
        let mut lvlf = vec![0u8; 28];
        lvlf[4] = nfc;
        lists.extend(lvlf);
        lists.extend([1u8, 0, b'x', 0]); // the label, one character
    }
    let mut overrides = (formats.len() as u32).to_le_bytes().to_vec();
    for i in 0..formats.len() {
        overrides.extend((100 + i as u32).to_le_bytes());
        overrides.extend([0u8; 12]);
    }
    (lists, overrides)
}

/// Word 97 documents were Markdown of plain paragraphs: no headings, no
/// lists, tables as tab-separated lines with escaped breaks. Their
/// paragraphs' styles, lists and table marks now give the blocks a DOCX
/// gives.
#[test]
fn doc_headings_lists_and_tables_as_markdown() {
    use crate::legacy_office::{word_document, Papx};
    let text = "Report\rIntro paragraph.\rApple\rPear\rStep one\rStep two\rSub point\rDetails\r\
        Name\u{7}Total\u{7}\u{7}Ann\u{7}12\u{7}\u{7}After.\r";
    let at = |needle: &str| text.find(needle).unwrap();
    let span = |needle: &str| at(needle)..at(needle) + needle.len() + 1;
    let item = |list: u8| vec![0x0B, 0x46, list, 0, 0x0A, 0x26, 0];
    let cell = vec![0x16, 0x24, 1];
    let row_end = vec![0x16, 0x24, 1, 0x17, 0x24, 1];
    let table_start = at("Name");
    let paragraphs = [
        Papx { chars: span("Report"), style: 1, sprms: vec![] },
        Papx { chars: span("Apple"), style: 0, sprms: item(1) },
        Papx { chars: span("Pear"), style: 0, sprms: item(1) },
        Papx { chars: span("Step one"), style: 0, sprms: item(2) },
        Papx { chars: span("Step two"), style: 0, sprms: item(2) },
        Papx { chars: span("Sub point"), style: 3, sprms: item(1) },
        Papx { chars: span("Details"), style: 2, sprms: vec![] },
        Papx { chars: table_start..table_start + 11, style: 0, sprms: cell.clone() },
        Papx { chars: table_start + 11..table_start + 12, style: 0, sprms: row_end.clone() },
        Papx { chars: table_start + 12..table_start + 19, style: 0, sprms: cell },
        Papx { chars: table_start + 19..table_start + 20, style: 0, sprms: row_end },
    ];
    let styles = word_styles(&[(0, "Normal"), (1, "heading 1"), (0xFFE, "Heading 2"), (0xFFE, "List Bullet 2")]);
    let (lists, overrides) = word_lists(&[23, 0]);
    let bytes = word_document(text, "", &paragraphs, &[(1, &styles), (73, &lists), (74, &overrides)]);
    let report = structured("report.doc", &bytes, None);
    assert_eq!(
        report["markdown"],
        json!(
            "# Report\n\nIntro paragraph.\n\n- Apple\n- Pear\n1. Step one\n2. Step two\n   - Sub point\n\n## Details\n\n\
             | Name | Total |\n| --- | --- |\n| Ann | 12 |\n\nAfter.\n"
        )
    );
    // The plain text is as it was.
    assert_eq!(
        report["text"],
        json!("Report\n\nIntro paragraph.\n\nApple\n\nPear\n\nStep one\n\nStep two\n\nSub point\n\nDetails\n\nName\tTotal\nAnn\t12\nAfter.\n\n")
    );
}
