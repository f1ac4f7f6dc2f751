//! Spreadsheets of a kilobyte that declare far more than they hold (the
//! whole 16,384 × 1,048,576 grid, a trillion shared strings): uploaded to the
//! real server under a small worker memory cap, each gets a report or a
//! `parse_failed`, and no worker dies.

use serde_json::Value;

use crate::util::Server;

/// CRC-32 (IEEE), bit by bit: the zip entries below are a few hundred bytes.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A zip of `(name, content)` entries, stored uncompressed.
fn stored_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut directory = Vec::new();
    for (name, content) in entries {
        let offset = out.len() as u32;
        let (crc, size, name_len) = (crc32(content), content.len() as u32, name.len() as u16);
        let fixed = |out: &mut Vec<u8>| {
            out.extend_from_slice(&20u16.to_le_bytes()); // version needed
            out.extend_from_slice(&[0; 4]); // flags, method: stored
            out.extend_from_slice(&[0, 0, 0x21, 0]); // time, date (1980-01-01)
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&name_len.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // extra field length
        };
        out.extend_from_slice(b"PK\x03\x04");
        fixed(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(content);
        directory.extend_from_slice(b"PK\x01\x02");
        directory.extend_from_slice(&20u16.to_le_bytes()); // version made by
        fixed(&mut directory);
        directory.extend_from_slice(&[0; 8]); // comment length, disk, attributes
        directory.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        directory.extend_from_slice(&offset.to_le_bytes());
        directory.extend_from_slice(name.as_bytes());
    }
    let directory_offset = out.len() as u32;
    out.extend_from_slice(&directory);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(directory.len() as u32).to_le_bytes());
    out.extend_from_slice(&directory_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out
}

/// A one-sheet workbook whose sheet holds `sheet_data` and whose shared
/// strings part, when given, is `shared_strings`.
fn workbook(sheet_data: &str, shared_strings: Option<&str>) -> Vec<u8> {
    let sheet = format!(
        r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{sheet_data}</worksheet>"#
    );
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", br#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#),
        ("_rels/.rels", br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#),
        ("xl/workbook.xml", br#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#),
        ("xl/_rels/workbook.xml.rels", br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ];
    if let Some(strings) = shared_strings {
        entries.push(("xl/sharedStrings.xml", strings.as_bytes()));
    }
    stored_zip(&entries)
}

/// Uploads each document to a one-worker server capped at 256 MiB: each is
/// answered 200 or 422 `parse_failed`, and `/v1/pool` counts no crash.
fn check_survives(documents: &[(&str, Vec<u8>, u16)]) {
    let server = Server::start(&["--workers", "1", "--worker-memory", "256MiB"]);
    for (name, bytes, want) in documents {
        assert!(bytes.len() < 2048, "{name} is meant to be small: {} bytes", bytes.len());
        let response = server.analyze(name, bytes);
        assert_eq!(response.status, *want, "{name}: {}", response.text());
        if *want == 422 {
            assert_eq!(response.error_code(), "parse_failed", "{name}");
        } else {
            assert_eq!(response.json()["format"], "xlsx", "{name}: {}", response.text());
        }
    }
    let pool: Value = server.get_json("/v1/pool");
    assert_eq!(pool["restarts"]["crashed"], 0, "a worker died: {pool}\n{}", server.stderr());
}

#[test]
fn xlsx_declaring_the_whole_sheet_kills_no_worker() {
    let corner = r#"<dimension ref="A1:XFD1048576"/><sheetData><row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>"#;
    let corners = r#"<dimension ref="A1:XFD1048576"/><sheetData><row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row></sheetData>"#;
    let strings = r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="999999999999"><si><t>x</t></si></sst>"#;
    let one_string = r#"<sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row></sheetData>"#;
    check_survives(&[
        ("corner.xlsx", workbook(corner, None), 200),
        ("corners.xlsx", workbook(corners, None), 200),
        ("strings.xlsx", workbook(one_string, Some(strings)), 422),
    ]);
}
