//! Engine tests: Word, Excel and PowerPoint 97-2003 files, built here as
//! OLE compound files, read as `docx`, `xlsx` and `pptx` with their own
//! media types. They were a `binary` with no text.

use std::io::{Cursor, Write};

use serde_json::json;

use crate::{check, check_error};

/// An OLE compound file of `(stream, bytes)`.
fn compound(streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    for (name, bytes) in streams {
        file.create_stream(name).unwrap().write_all(bytes).unwrap();
    }
    file.flush().unwrap();
    file.into_inner().into_inner()
}

/// A `SummaryInformation` property set: a title and an author (code page
/// 1252 strings) and a creation time.
fn summary(title: &str, author: &str, created_unix: u64) -> Vec<u8> {
    let mut properties: Vec<(u32, Vec<u8>)> = Vec::new();
    properties.push((1, [2u32.to_le_bytes().as_slice(), &1252u16.to_le_bytes(), &[0, 0]].concat()));
    for (id, value) in [(2, title), (4, author)] {
        let mut bytes = 0x1Eu32.to_le_bytes().to_vec();
        bytes.extend((value.len() as u32 + 1).to_le_bytes());
        bytes.extend(value.as_bytes());
        bytes.push(0);
        while bytes.len() % 4 != 0 {
            bytes.push(0);
        }
        properties.push((id, bytes));
    }
    let ticks = (created_unix + 11_644_473_600) * 10_000_000;
    properties.push((12, [0x40u32.to_le_bytes().as_slice(), &ticks.to_le_bytes()].concat()));
    let mut set = Vec::new();
    let mut offset = 8 + properties.len() * 8;
    let mut index = Vec::new();
    for (id, bytes) in &properties {
        index.extend(id.to_le_bytes());
        index.extend((offset as u32).to_le_bytes());
        offset += bytes.len();
    }
    set.extend((offset as u32).to_le_bytes());
    set.extend((properties.len() as u32).to_le_bytes());
    set.extend(index);
    for (_, bytes) in &properties {
        set.extend(bytes);
    }
    let mut stream = vec![0xFE, 0xFF, 0, 0, 0, 0, 0, 0];
    stream.extend([0u8; 16]);
    stream.extend(1u32.to_le_bytes());
    stream.extend([0u8; 16]);
    stream.extend(48u32.to_le_bytes());
    stream.extend(set);
    stream
}

/// A Word 97 document: `main` is the main text, `notes` the footnotes'
/// characters after it. The first piece is stored compressed (one byte a
/// character), the second as UTF-16.
pub fn word(main: &str, notes: &str) -> Vec<u8> {
    word_with_rows(main, notes, &[])
}

/// A Word 97 document as [`word`] makes, whose characters at `row_ends`
/// (in the ASCII head of `main`) are marked as table rows' ends in the
/// paragraph properties (`sprmPFTtp`), as Word marks them.
fn word_with_rows(main: &str, notes: &str, row_ends: &[usize]) -> Vec<u8> {
    let rows: Vec<Papx> =
        row_ends.iter().map(|&at| Papx { chars: at..at + 1, style: 0, sprms: vec![0x17, 0x24, 1] }).collect();
    word_document(main, notes, &rows, &[])
}

/// Paragraph properties for the characters `chars` of the ASCII head of a
/// [`word_document`]'s text: a style (`istd`) and property changes.
pub struct Papx {
    pub chars: std::ops::Range<usize>,
    pub style: u16,
    pub sprms: Vec<u8>,
}

/// A Word 97 document of `main` and `notes`, with `paragraphs`' properties
/// (in one page) and `parts` of the table stream placed at the File
/// Information Block's pair of that index (the style sheet at 1, lists at
/// 73, list overrides at 74).
pub fn word_document(main: &str, notes: &str, paragraphs: &[Papx], parts: &[(usize, &[u8])]) -> Vec<u8> {
    let all: Vec<u16> = format!("{main}{notes}").encode_utf16().collect();
    let main_len = main.encode_utf16().count();
    let split = main.char_indices().take_while(|(_, c)| c.is_ascii()).count().min(main_len);
    let mut document = vec![0u8; 0x800];
    document[0..2].copy_from_slice(&0xA5ECu16.to_le_bytes());
    document[2..4].copy_from_slice(&0x00C1u16.to_le_bytes());
    document[0x0A..0x0C].copy_from_slice(&0x0200u16.to_le_bytes()); // 1Table
    let mut at = 32;
    document[at..at + 2].copy_from_slice(&14u16.to_le_bytes());
    at += 2 + 28;
    document[at..at + 2].copy_from_slice(&22u16.to_le_bytes());
    let longs = at + 2;
    document[longs + 12..longs + 16].copy_from_slice(&(main_len as u32).to_le_bytes());
    document[longs + 16..longs + 20].copy_from_slice(&((all.len() - main_len) as u32).to_le_bytes());
    at = longs + 88;
    document[at..at + 2].copy_from_slice(&93u16.to_le_bytes());
    let pairs = at + 2;
    // The text: the ASCII head compressed, the rest as UTF-16.
    let text_at = document.len();
    document.extend(all[..split].iter().map(|&unit| unit as u8));
    let wide_at = document.len();
    document.extend(all[split..].iter().flat_map(|unit| unit.to_le_bytes()));
    let mut plc = Vec::new();
    for cp in [0, split, all.len()] {
        plc.extend((cp as u32).to_le_bytes());
    }
    for (fc, compressed) in [(text_at, true), (wide_at, false)] {
        let fc = if compressed { (fc as u32 * 2) | 0x4000_0000 } else { fc as u32 };
        plc.extend([0u8, 0]);
        plc.extend(fc.to_le_bytes());
        plc.extend([0u8, 0]);
    }
    let mut clx = vec![0x01, 2, 0, 0xAA, 0xBB]; // a Prc to skip
    clx.push(0x02);
    clx.extend((plc.len() as u32).to_le_bytes());
    clx.extend(&plc);
    let mut table = vec![0u8; 16];
    let clx_at = table.len();
    table.extend(&clx);
    let pair = pairs + 33 * 8;
    document[pair..pair + 4].copy_from_slice(&(clx_at as u32).to_le_bytes());
    document[pair + 4..pair + 8].copy_from_slice(&(clx.len() as u32).to_le_bytes());
    for (index, part) in parts {
        let pair = pairs + index * 8;
        document[pair..pair + 4].copy_from_slice(&(table.len() as u32).to_le_bytes());
        document[pair + 4..pair + 8].copy_from_slice(&(part.len() as u32).to_le_bytes());
        table.extend(*part);
    }
    if !paragraphs.is_empty() {
        // One page of paragraph properties: a run between each two bounds,
        // with the properties of the paragraph covering it, if any.
        let mut bounds: Vec<u32> =
            paragraphs.iter().flat_map(|p| [p.chars.start, p.chars.end]).map(|at| (text_at + at) as u32).collect();
        bounds.sort_unstable();
        bounds.dedup();
        let runs = bounds.len() - 1;
        let mut page = vec![0u8; 512];
        for (i, bound) in bounds.iter().enumerate() {
            page[i * 4..i * 4 + 4].copy_from_slice(&bound.to_le_bytes());
        }
        let mut properties_at = 510usize;
        for paragraph in paragraphs {
            // PapxInFkp: cb (16-bit words), then the style and the sprms.
            let content = [paragraph.style.to_le_bytes().as_slice(), &paragraph.sprms].concat();
            let words = (content.len() + 2) / 2;
            properties_at -= words * 2;
            page[properties_at] = words as u8;
            page[properties_at + 1..properties_at + 1 + content.len()].copy_from_slice(&content);
            for run in 0..runs {
                let start = bounds[run] as usize - text_at;
                if paragraph.chars.contains(&start) {
                    page[(runs + 1) * 4 + run * 13] = (properties_at / 2) as u8;
                }
            }
        }
        page[511] = runs as u8;
        document.resize(document.len().next_multiple_of(512), 0);
        let page_number = document.len() / 512;
        document.extend(page);
        let plc_at = table.len();
        table.extend(bounds[0].to_le_bytes());
        table.extend(bounds[runs].to_le_bytes());
        table.extend((page_number as u32).to_le_bytes());
        let pair = pairs + 13 * 8;
        document[pair..pair + 4].copy_from_slice(&(plc_at as u32).to_le_bytes());
        document[pair + 4..pair + 8].copy_from_slice(&12u32.to_le_bytes());
    }
    let info = summary("Quarterly letter", "Grace Hopper", 1_709_299_805);
    compound(&[("WordDocument", &document), ("1Table", &table), ("\u{5}SummaryInformation", &info)])
}

#[test]
fn a_word_97_document_has_its_text_fields_tables_and_notes() {
    let main = "Dear reader,\r\u{13} HYPERLINK \"https://example.com\" \u{14}the site\u{15} says hello\u{2}.\r\
        Name\u{7}Total\u{7}\u{7}Ann\u{7}12\u{7}\u{7}Grüße aus Köln — 東京\r";
    let bytes = word(main, "\u{2} The footnote.\r");
    let report = check(
        "letter.doc",
        &bytes,
        &[
            ("/format", json!("docx")),
            ("/media_type", json!("application/msword")),
            ("/metadata/title", json!("Quarterly letter")),
            ("/metadata/author", json!("Grace Hopper")),
            ("/metadata/created", json!("2024-03-01T13:30:05Z")),
            ("/warnings", json!([])),
        ],
    );
    assert_eq!(
        report["text"],
        "Dear reader,\n\nthe site says hello.\n\nName\tTotal\nAnn\t12\nGrüße aus Köln — 東京\n\n The footnote.\n\n",
        "{report:#}"
    );
    // A row's empty last cell, told from the row's end by the paragraph
    // properties (two marks in a row were taken for the row's end).
    let table = word_with_rows("Name\u{7}\u{7}\u{7}Ann\u{7}12\u{7}\u{7}After.\r", "", &[6, 14]);
    check("table.doc", &table, &[("/text", json!("Name\t\nAnn\t12\nAfter.\n\n"))]);
    // Told by its streams, whatever it is called.
    check("attachment.bin", &bytes, &[("/format", json!("docx")), ("/media_type", json!("application/msword"))]);
}

#[test]
fn a_word_document_without_its_piece_table_is_a_parse_failure_not_a_crash() {
    let mut document = vec![0u8; 0x400];
    document[0..2].copy_from_slice(&0xA5ECu16.to_le_bytes());
    document[0x0A..0x0C].copy_from_slice(&0x0200u16.to_le_bytes());
    check_error("broken.doc", &compound(&[("WordDocument", &document)]), "1Table");
    document[0x0A..0x0C].copy_from_slice(&0x0300u16.to_le_bytes());
    check_error("locked.doc", &compound(&[("WordDocument", &document), ("1Table", &[0; 64])]), "encrypted");
}

/// One BIFF8 record.
fn record(kind: u16, body: &[u8]) -> Vec<u8> {
    [kind.to_le_bytes().as_slice(), &(body.len() as u16).to_le_bytes(), body].concat()
}

/// An Excel 97 workbook of one sheet named `name` with `cells`: `(row,
/// column, text)`, numbers when the text parses as one.
pub fn excel(name: &str, cells: &[(u16, u16, &str)]) -> Vec<u8> {
    excel_with_dimensions(name, (0, 0, 0, 0), cells)
}

/// An Excel 97 workbook as [`excel`] makes, its sheet's `DIMENSIONS`
/// record declaring rows `first..last` and columns `first..last`.
fn excel_with_dimensions(name: &str, (rf, rl, cf, cl): (u32, u32, u16, u16), cells: &[(u16, u16, &str)]) -> Vec<u8> {
    let dimensions =
        [rf.to_le_bytes().as_slice(), &rl.to_le_bytes(), &cf.to_le_bytes(), &cl.to_le_bytes(), &[0, 0]].concat();
    let mut sheet = record(0x0200, &dimensions);
    for (row, column, text) in cells {
        let head = [row.to_le_bytes(), column.to_le_bytes(), 0u16.to_le_bytes()].concat();
        match text.parse::<f64>() {
            Ok(number) => sheet.extend(record(0x0203, &[head.as_slice(), &number.to_le_bytes()].concat())),
            Err(_) => {
                let body = [head.as_slice(), &(text.len() as u16).to_le_bytes(), &[0], text.as_bytes()].concat();
                sheet.extend(record(0x0204, &body));
            }
        }
    }
    workbook(name, &[], &sheet)
}

/// An Excel 97 workbook of one sheet named `name`: `globals` are records
/// for the workbook's globals, `sheet` the sheet's records.
fn workbook(name: &str, globals: &[u8], sheet: &[u8]) -> Vec<u8> {
    let bof =
        |kind: u16| record(0x0809, &[0x00, 0x06, kind as u8, (kind >> 8) as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let sheet_record = |offset: u32| {
        let mut body = offset.to_le_bytes().to_vec();
        body.extend([0, 0, name.len() as u8, 0]);
        body.extend(name.as_bytes());
        record(0x0085, &body)
    };
    let globals_len = bof(0x0005).len() + sheet_record(0).len() + globals.len() + record(0x000A, &[]).len();
    let mut stream = bof(0x0005);
    stream.extend(sheet_record(globals_len as u32));
    stream.extend(globals);
    stream.extend(record(0x000A, &[]));
    stream.extend(bof(0x0010));
    stream.extend(sheet);
    stream.extend(record(0x000A, &[]));
    compound(&[("Workbook", &stream)])
}

/// A `LABELSST` cell: the shared string `index` at `row`, `column`.
fn shared_label(row: u16, column: u16, index: u32) -> Vec<u8> {
    record(0x00FD, &[row.to_le_bytes().as_slice(), &column.to_le_bytes(), &[0, 0], &index.to_le_bytes()].concat())
}

/// Excel keeps a sheet's text in the workbook's shared strings, a string
/// cut across `CONTINUE` records going on with a byte of flags. A megabyte
/// of cells naming one long string again and again would have calamine
/// copy it for each: the copies stop at sixteen characters for each byte
/// of the workbook (16 Mi characters at least), the cells past them left
/// out with a warning.
#[test]
fn an_excel_workbook_reads_its_shared_strings_and_cannot_copy_them_into_gigabytes() {
    let count = |n: u32| [n.to_le_bytes(), n.to_le_bytes()].concat();
    let sst = [
        count(2).as_slice(),
        &[3, 0, 0],
        b"Ol\xe1",
        &[6, 0, 1],
        &"Zü".encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>(),
    ]
    .concat();
    let globals = [record(0x00FC, &sst), record(0x003C, &[[0x00].as_slice(), b"rich"].concat())].concat();
    let sheet = [shared_label(0, 0, 0), shared_label(0, 1, 1), shared_label(1, 0, 1)].concat();
    check("shared.xls", &workbook("Shared", &globals, &sheet), &[("/text", json!("Shared\nOlá\tZürich\nZürich\n\n"))]);

    let long = format!("{}end", "spreadsheet ".repeat(650));
    let sst = [count(1).as_slice(), &(long.len() as u16).to_le_bytes(), &[0], long.as_bytes()].concat();
    let cells: Vec<u8> = (0..60_000u32).flat_map(|n| shared_label((n / 2) as u16, (n % 2) as u16, 0)).collect();
    let bytes = workbook("Bomb", &record(0x00FC, &sst), &cells);
    assert!(bytes.len() < 1 << 20, "{} bytes asking for {} MB of copies", bytes.len(), (60_000 * long.len()) >> 20);
    let report = check("bomb.xls", &bytes, &[("/format", json!("xlsx"))]);
    let text = report["text"].as_str().unwrap();
    let copies = text.matches(long.as_str()).count();
    assert_eq!(copies, (16 << 20) / (long.len() + 1), "{} bytes of text", text.len());
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("cells left out"), "{warnings}");
}

#[test]
fn an_excel_97_workbook_has_its_rows_as_an_xlsx_does() {
    let bytes = excel("Sales", &[(0, 0, "Region"), (0, 1, "Total"), (1, 0, "North"), (1, 1, "12.5"), (3, 4, "far")]);
    check(
        "book.xls",
        &bytes,
        &[
            ("/format", json!("xlsx")),
            ("/media_type", json!("application/vnd.ms-excel")),
            ("/metadata/sheets", json!(1)),
            ("/metadata/sheet_names", json!(["Sales"])),
            ("/text", json!("Sales\nRegion\tTotal\nNorth\t12.5\n\t\t\t\tfar\n\n")),
        ],
    );
    // A workbook stream past the compound file's small-stream size.
    let labels: Vec<String> = (0..2000).map(|i| format!("row {i}")).collect();
    let cells: Vec<(u16, u16, &str)> =
        labels.iter().enumerate().map(|(i, label)| (i as u16, 0, label.as_str())).collect();
    let report = check("rows.xls", &excel("Rows", &cells), &[("/format", json!("xlsx"))]);
    let text = report["text"].as_str().unwrap();
    assert_eq!(text.lines().filter(|line| line.starts_with("row ")).count(), 2000, "{report:#}");
}

/// Two cells at opposite corners would make calamine lay out the whole
/// 65,536 × 256 grid (a gigabyte) for a file of a kilobyte, and a
/// `DIMENSIONS` record declaring four billion rows would have it reserve
/// room for them: the cells are moved together first, and the text is as
/// an XLSX's (a run of empty columns at most 16 tabs).
#[test]
fn an_excel_workbook_with_far_apart_cells_or_lying_dimensions_is_read_in_little_memory() {
    let bytes = excel("Wide", &[(0, 0, "corner"), (65535, 255, "other corner")]);
    let tabs = "\t".repeat(16);
    check("corners.xls", &bytes, &[("/text", json!(format!("Wide\ncorner\n{tabs}other corner\n\n")))]);
    let lying = excel_with_dimensions("Huge", (0, u32::MAX, 0, 256), &[(2, 1, "one cell")]);
    check("dimensions.xls", &lying, &[("/text", json!("Huge\none cell\n\n")), ("/metadata/sheets", json!(1))]);
}

/// A PowerPoint record: version 0xF makes it a container.
fn ppt_record(version: u16, instance: u16, kind: u16, body: &[u8]) -> Vec<u8> {
    [(version | instance << 4).to_le_bytes().as_slice(), &kind.to_le_bytes(), &(body.len() as u32).to_le_bytes(), body]
        .concat()
}

fn chars(text: &str) -> Vec<u8> {
    ppt_record(0, 0, 0x0FA0, &text.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>())
}

fn slide_persist(slide_id: u32) -> Vec<u8> {
    ppt_record(0, 0, 0x03F3, &[[0u8; 12].as_slice(), &slide_id.to_le_bytes(), &[0; 4]].concat())
}

/// A shape's text inside a drawing, as PowerPoint nests it.
fn drawing(text: &[u8]) -> Vec<u8> {
    ppt_record(0xF, 0, 0x040C, &ppt_record(0xF, 0, 0xF002, &ppt_record(0xF, 0, 0xF00D, text)))
}

/// A deck of two slides and a master, the second slide with notes.
pub fn deck() -> Vec<u8> {
    let slide_list = [
        slide_persist(256),
        chars("Title one\rSecond paragraph"),
        slide_persist(257),
        ppt_record(0, 0, 0x0FA8, b"Title two"),
    ]
    .concat();
    let master_list = ppt_record(0xF, 1, 0x0FF0, &chars("Click to edit Master title style"));
    let document = ppt_record(0xF, 0, 0x03E8, &[master_list, ppt_record(0xF, 0, 0x0FF0, &slide_list)].concat());
    let master = ppt_record(0xF, 0, 0x03F8, &drawing(&chars("Click to edit Master text styles")));
    let slide_one =
        ppt_record(0xF, 0, 0x03EE, &drawing(&[chars("A text box"), chars("Title one\rSecond paragraph")].concat()));
    let slide_two = ppt_record(0xF, 0, 0x03EE, &drawing(&chars("*")));
    let notes_atom = ppt_record(0, 0, 0x03F1, &[257u32.to_le_bytes(), [0; 4]].concat());
    let notes =
        ppt_record(0xF, 0, 0x03F0, &[notes_atom, drawing(&[chars("Note for two"), chars("*")].concat())].concat());
    let stream = [document, master, slide_one, notes, slide_two].concat();
    compound(&[("PowerPoint Document", &stream), ("Current User", &[0; 16])])
}

#[test]
fn a_powerpoint_97_deck_has_each_slide_with_its_notes_and_no_master_text() {
    let bytes = deck();
    check(
        "deck.ppt",
        &bytes,
        &[
            ("/format", json!("pptx")),
            ("/media_type", json!("application/vnd.ms-powerpoint")),
            ("/metadata/slides", json!(2)),
            ("/text", json!("Title one\n\nSecond paragraph\n\nA text box\n\nTitle two\n\nNote for two\n\n")),
        ],
    );
}

/// A file cut short (an interrupted download) was a silent `binary`: one
/// whose directory survives is read (filled out to its last sector, with a
/// warning, when it must be); one cut before it, and named as what it was,
/// fails with `parse_failed` saying why.
#[test]
fn office_97_files_cut_short_are_read_or_refused_never_a_silent_binary() {
    let labels: Vec<String> = (0..3000).map(|i| format!("row {i}")).collect();
    let cells: Vec<(u16, u16, &str)> =
        labels.iter().enumerate().map(|(i, label)| (i as u16, 0, label.as_str())).collect();
    for (name, whole, format) in [
        ("letter.doc", word(&"A sentence of the letter.\r".repeat(300), ""), "docx"),
        ("book.xls", excel("Rows", &cells), "xlsx"),
        ("deck.ppt", deck(), "pptx"),
    ] {
        let cut = &whole[..whole.len() - 1];
        let report = crate::analyze(name, cut).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(report["format"], format, "{name}: {report:#}");
        assert!(report["stats"]["words"].as_u64().unwrap() > 0, "{name}: {report:#}");
        check_error(name, &whole[..1024], "OLE compound file");
    }
}

/// A persist directory: each id with its record's offset, one entry each.
fn persist_directory(entries: &[(u32, u32)]) -> Vec<u8> {
    let body: Vec<u8> =
        entries.iter().flat_map(|(id, offset)| [id | 1 << 20, *offset]).flat_map(u32::to_le_bytes).collect();
    ppt_record(0, 0, 0x1772, &body)
}

/// A `UserEditAtom`: the save before it, its persist directory, and the
/// document's persist id.
fn user_edit(last_edit: u32, directory: u32, document_id: u32) -> Vec<u8> {
    let body = [0u32, 0x0003_0000, last_edit, directory, document_id, 4, 1]
        .iter()
        .flat_map(|word| word.to_le_bytes())
        .collect::<Vec<u8>>();
    ppt_record(0, 0, 0x0FF5, &body)
}

/// A deck saved once in full, then fast-saved after its first slide's text
/// was changed and the slides swapped: the stream holds both versions of
/// that slide and of the document. Both versions were read, the old text
/// with the new, in the order they were written.
#[test]
fn a_fast_saved_powerpoint_deck_is_read_as_last_saved() {
    let slide_list = |slides: &[(u32, u32, &str)]| {
        let atoms: Vec<u8> = slides
            .iter()
            .flat_map(|(persist_id, slide_id, title)| {
                let mut persist = slide_persist(*slide_id);
                persist[8..12].copy_from_slice(&persist_id.to_le_bytes());
                [persist, chars(title)].concat()
            })
            .collect();
        ppt_record(0xF, 0, 0x03E8, &ppt_record(0xF, 0, 0x0FF0, &atoms))
    };
    let slide = |text: &str| ppt_record(0xF, 0, 0x03EE, &drawing(&chars(text)));
    let mut stream = Vec::new();
    let place = |stream: &mut Vec<u8>, record: Vec<u8>| {
        let at = stream.len() as u32;
        stream.extend(record);
        at
    };
    // The full save: the document (persist id 1) lists slide A (2), then B (3).
    let document = place(&mut stream, slide_list(&[(2, 256, "Old title"), (3, 257, "Title B")]));
    let slide_a = place(&mut stream, slide("Old box"));
    let slide_b = place(&mut stream, slide("Second slide box"));
    let directory = place(&mut stream, persist_directory(&[(1, document), (2, slide_a), (3, slide_b)]));
    let first_edit = place(&mut stream, user_edit(0, directory, 1));
    // The fast save: slide A again, and a document listing B before A.
    let slide_a = place(&mut stream, slide("New box"));
    let document = place(&mut stream, slide_list(&[(3, 257, "Title B"), (2, 256, "New title")]));
    let directory = place(&mut stream, persist_directory(&[(1, document), (2, slide_a)]));
    let last_edit = place(&mut stream, user_edit(first_edit, directory, 1));
    let current_user = [[0u8; 16].as_slice(), &last_edit.to_le_bytes()].concat();
    let bytes = compound(&[("PowerPoint Document", &stream), ("Current User", &current_user)]);
    check(
        "fast.ppt",
        &bytes,
        &[("/metadata/slides", json!(2)), ("/text", json!("Title B\n\nSecond slide box\n\nNew title\n\nNew box\n\n"))],
    );
    // A `Current User` pointing nowhere, or at an edit that names itself as
    // the one before: the stream is read whole, as before there was a chain.
    let mut looping = stream.clone();
    let at = last_edit as usize + 16;
    looping[at..at + 4].copy_from_slice(&last_edit.to_le_bytes());
    let nowhere = [[0u8; 16].as_slice(), &u32::MAX.to_le_bytes()].concat();
    for (stream, current_user) in [(&stream, nowhere), (&looping, current_user)] {
        let bytes = compound(&[("PowerPoint Document", stream), ("Current User", &current_user)]);
        check("whole.ppt", &bytes, &[("/metadata/slides", json!(4))]);
    }
}
