//! Engine tests: PDFs that attack the reader (recursion, nesting, page
//! counts), metadata, and why a page gave no text.

use serde_json::{json, Value};

use crate::pdf_fixtures::{self, form, one_page, show, stream};
use crate::{analyze, check, check_text};

fn warnings(report: &Value) -> String {
    report["warnings"].to_string()
}

#[test]
fn every_hostile_pdf_gives_a_report_or_parse_failed() {
    // Each of these overflowed the stack, ran out of memory or never ended.
    for (name, bytes) in pdf_fixtures::hostile() {
        match analyze(name, &bytes) {
            Ok(report) => assert_eq!(report["format"], "pdf", "{name}: {report:#}"),
            Err(message) => assert!(message.starts_with("pdf: "), "{name}: {message}"),
        }
    }
}

#[test]
fn form_drawing_itself_is_cut_and_the_page_read() {
    for name in ["form_draws_itself.pdf", "forms_draw_each_other.pdf", "form_inherits_itself.pdf"] {
        let (_, bytes) = pdf_fixtures::hostile().into_iter().find(|(n, _)| *n == name).unwrap();
        let report = check_text(name, &bytes, &["Hello"]);
        assert!(warnings(&report).contains("draw themselves"), "{name}: {report:#}");
    }
}

#[test]
fn forms_nested_past_the_limit_are_not_drawn() {
    let report = check("chain.pdf", &pdf_fixtures::form_chain(5000), &[("/metadata/pages", json!(1))]);
    assert!(warnings(&report).contains("nested deeper than 28"), "{report:#}");
    // Within the limit, the innermost form is read.
    check_text("short-chain.pdf", &pdf_fixtures::form_chain(20), &["Bottom"]);
}

#[test]
fn forms_doubling_26_times_stop_at_the_page_budget() {
    let report = check_text("doublings.pdf", &pdf_fixtures::form_doublings(26), &["Top", "Leaf"]);
    assert!(warnings(&report).contains("truncated") && warnings(&report).contains("Form XObjects"), "{report:#}");
}

#[test]
fn deep_nesting_in_content_keeps_the_text_before_it() {
    for (name, warning) in [
        ("nested_saves.pdf", "flattened"),
        ("nested_text_objects.pdf", "tokens"),
        ("nested_arrays_in_content.pdf", "nested deeper"),
        ("nested_dicts_in_content.pdf", "nested deeper"),
    ] {
        let (_, bytes) = pdf_fixtures::hostile().into_iter().find(|(n, _)| *n == name).unwrap();
        assert!(bytes.len() < 64 << 10, "{name} is {} bytes", bytes.len());
        let report = check_text(name, &bytes, &["Hello"]);
        assert!(warnings(&report).contains(warning), "{name}: {report:#}");
    }
}

#[test]
fn broken_page_trees_still_give_their_page() {
    for name in ["page_tree_contains_itself.pdf", "nested_arrays_in_catalog.pdf", "reference_loop.pdf"] {
        let (_, bytes) = pdf_fixtures::hostile().into_iter().find(|(n, _)| *n == name).unwrap();
        check(name, &bytes, &[("/metadata/pages", json!(1))]);
        check_text(name, &bytes, &["Hello"]);
    }
}

#[test]
fn thousands_of_pages_are_all_read_in_order() {
    // Reading was quadratic in the pages: 4,000 took 15 to 30 seconds.
    let report = check("book.pdf", &pdf_fixtures::many_pages(4000), &[("/metadata/pages", json!(4000))]);
    let text = report["text"].as_str().unwrap();
    let first = text.find("Page 1\n").unwrap();
    let middle = text.find("Page 2000\n").unwrap();
    let last = text.find("Page 4000\n").unwrap();
    assert!(first < middle && middle < last, "pages out of order");
}

#[test]
fn images_drawn_on_a_page_do_not_stop_its_text() {
    // pdf-extract read an image's pixels as a content stream and gave up on
    // the page at the first image.
    let image = stream(
        " /Type /XObject /Subtype /Image /Width 2 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8",
        b"\x00(\xff",
    );
    let content =
        format!("{}q 10 0 0 10 72 600 cm /Im1 Do Q BT /F1 12 Tf 72 500 Td (After the image) Tj ET", show("Before"));
    let pdf =
        one_page("<< /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >>", stream("", content.as_bytes()), vec![image]);
    let report = check_text("image.pdf", &pdf, &["Before", "After the image"]);
    assert_eq!(report["warnings"], json!([]), "{report:#}");
}

#[test]
fn text_inside_a_form_is_read() {
    let pdf = one_page(
        "<< /Font << /F1 5 0 R >> /XObject << /Fm1 6 0 R >> >>",
        stream("", b"/Fm1 Do"),
        vec![form("<< /Font << /F1 5 0 R >> >>", &show("Drawn by a form"))],
    );
    let report = check_text("form.pdf", &pdf, &["Drawn by a form"]);
    assert_eq!(report["warnings"], json!([]), "{report:#}");
}

/// One page with the Info dictionary `info` (none when empty) and, when
/// given, an XMP packet as the catalog's metadata stream.
fn with_metadata(info: &str, xmp: Option<&str>) -> Vec<u8> {
    let catalog = if xmp.is_some() {
        "<< /Type /Catalog /Pages 2 0 R /Metadata 6 0 R >>"
    } else {
        "<< /Type /Catalog /Pages 2 0 R >>"
    };
    let mut objects = vec![
        catalog.as_bytes().to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        stream("", show("Minutes of the meeting").as_bytes()),
        pdf_fixtures::HELVETICA.to_vec(),
    ];
    objects.push(match xmp {
        Some(xmp) => pdf_fixtures::deflated_stream(" /Type /Metadata /Subtype /XML", xmp.as_bytes()),
        None => b"null".to_vec(),
    });
    if info.is_empty() {
        return pdf_fixtures::pdf(&objects);
    }
    objects.push(info.as_bytes().to_vec());
    pdf_fixtures::pdf_with_trailer(&objects, " /Info 7 0 R")
}

const XMP: &str = r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:pdf="http://ns.adobe.com/pdf/1.3/"
  xmp:CreateDate="2019-05-06T07:08:09.5-04:00" xmp:CreatorTool="Writer 7">
 <pdf:Producer>Typesetter 2.1</pdf:Producer>
 <xmp:ModifyDate>2019-05-07T10:00:00Z</xmp:ModifyDate>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
 <dc:title><rdf:Alt><rdf:li xml:lang="de">Protokoll</rdf:li><rdf:li xml:lang="x-default">Minutes &amp; motions</rdf:li></rdf:Alt></dc:title>
 <dc:creator><rdf:Seq><rdf:li>Ada Lovelace</rdf:li><rdf:li>Charles Babbage</rdf:li></rdf:Seq></dc:creator>
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"#;

#[test]
fn pdf_dates_keep_their_offset_from_utc() {
    let info = "<< /CreationDate (D:20140304090557+01'00') /ModDate (D:20140305120000Z) >>";
    check(
        "dated.pdf",
        &with_metadata(info, None),
        &[
            ("/metadata/created", json!("2014-03-04T09:05:57+01:00")),
            ("/metadata/modified", json!("2014-03-05T12:00:00Z")),
        ],
    );
    // No offset stated: none is invented.
    let info = "<< /CreationDate (D:20140304090557) /ModDate (D:2014) >>";
    check(
        "local.pdf",
        &with_metadata(info, None),
        &[("/metadata/created", json!("2014-03-04T09:05:57")), ("/metadata/modified", json!("2014-01-01T00:00:00"))],
    );
    check(
        "west.pdf",
        &with_metadata("<< /CreationDate (D:20140304090557-05'30) >>", None),
        &[("/metadata/created", json!("2014-03-04T09:05:57-05:30"))],
    );
}

#[test]
fn xmp_metadata_fills_what_the_info_dictionary_lacks() {
    // Only XMP: every field from it, both authors as a list.
    check(
        "xmp.pdf",
        &with_metadata("", Some(XMP)),
        &[
            ("/metadata/title", json!("Minutes & motions")),
            ("/metadata/author", json!(["Ada Lovelace", "Charles Babbage"])),
            ("/metadata/created", json!("2019-05-06T07:08:09-04:00")),
            ("/metadata/modified", json!("2019-05-07T10:00:00Z")),
            ("/metadata/producer", json!("Typesetter 2.1")),
            ("/metadata/creator", json!("Writer 7")),
        ],
    );
    // The Info dictionary wins where it has an entry; its author, the first
    // of XMP's two, becomes the list of both.
    let info = "<< /Title (Board minutes) /Author (Ada Lovelace) /Producer (Info Producer) /CreationDate (D:20190506070809Z) >>";
    check(
        "both.pdf",
        &with_metadata(info, Some(XMP)),
        &[
            ("/metadata/title", json!("Board minutes")),
            ("/metadata/author", json!(["Ada Lovelace", "Charles Babbage"])),
            ("/metadata/producer", json!("Info Producer")),
            ("/metadata/created", json!("2019-05-06T07:08:09Z")),
            ("/metadata/modified", json!("2019-05-07T10:00:00Z")),
        ],
    );
    // An Info author who is not among XMP's creators is kept as it is.
    check(
        "other.pdf",
        &with_metadata("<< /Author (Grace Hopper) >>", Some(XMP)),
        &[("/metadata/author", json!("Grace Hopper"))],
    );
}

#[test]
fn malformed_xmp_gives_what_it_can_and_never_fails_the_document() {
    let broken = "<x:xmpmeta><rdf:RDF><rdf:Description><dc:title><rdf:Alt><rdf:li>Cut short";
    let report = check("broken-xmp.pdf", &with_metadata("", Some(broken)), &[("/metadata/pages", json!(1))]);
    assert!(report["text"].as_str().unwrap().contains("Minutes of the meeting"), "{report:#}");
}

#[test]
fn pages_without_text_say_why() {
    let image = || {
        stream(
            " /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8",
            b"\x80",
        )
    };
    let with_image = "<< /Font << /F1 5 0 R >> /XObject << /Im1 6 0 R >> >>";
    // A scan: the page is an image.
    let scan = one_page(with_image, stream("", b"q 612 0 0 792 0 0 cm /Im1 Do Q"), vec![image()]);
    let report = check("scan.pdf", &scan, &[("/metadata/pages_without_text", json!(1)), ("/stats/words", json!(0))]);
    assert!(
        warnings(&report).contains("no text layer on 1 pages (1)") && warnings(&report).contains("OCR"),
        "{report:#}"
    );
    // Text in a font whose glyphs map to no characters.
    let cid_font = [
        b"<< /Type /Font /Subtype /Type0 /BaseFont /Secret /Encoding /Identity-H /DescendantFonts [6 0 R] >>".to_vec(),
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Secret /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor 7 0 R /DW 1000 >>".to_vec(),
        b"<< /Type /FontDescriptor /FontName /Secret /Flags 4 /FontBBox [0 0 1000 1000] /ItalicAngle 0 /Ascent 800 /Descent -200 /CapHeight 700 /StemV 80 >>".to_vec(),
    ];
    let unmapped = pdf_fixtures::pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        stream("", b"BT /F1 12 Tf 72 720 Td <0001000200030004> Tj ET"),
        cid_font[0].clone(),
        cid_font[1].clone(),
        cid_font[2].clone(),
    ]);
    match analyze("unmapped.pdf", &unmapped) {
        Ok(report) if report["stats"]["words"] == 0 => {
            assert_eq!(report["metadata"]["pages_without_text"], 1, "{report:#}");
            assert!(warnings(&report).contains("no Unicode mapping"), "{report:#}");
        }
        Ok(report) => panic!("unmapped glyphs came out as text: {report:#}"),
        Err(message) => panic!("unmapped.pdf: {message}"),
    }
    // A content stream whose compression is broken.
    let damaged = one_page(with_image, stream(" /Filter /FlateDecode", b"this is not deflate data"), vec![image()]);
    let report = check("damaged.pdf", &damaged, &[("/metadata/pages_without_text", json!(1))]);
    assert!(warnings(&report).contains("damaged"), "{report:#}");
    // A blank page, and no page at all.
    let blank = one_page(with_image, stream("", b""), vec![image()]);
    let report = check("blank.pdf", &blank, &[("/metadata/pages_without_text", json!(1))]);
    assert!(warnings(&report).contains("draw neither text nor images"), "{report:#}");
    let no_pages = pdf_fixtures::pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [] /Count 0 >>".to_vec(),
    ]);
    let report = check("empty.pdf", &no_pages, &[("/metadata/pages", json!(0))]);
    assert!(warnings(&report).contains("no pages"), "{report:#}");
    // A page with text has no such warning and counts no page without text.
    let report = check("text.pdf", &with_metadata("", None), &[("/metadata/pages_without_text", json!(0))]);
    assert_eq!(report["warnings"], json!([]), "{report:#}");
}

#[test]
fn text_in_annotation_appearances_is_read() {
    // A filled-in form field and a free-text note: their text is only in
    // their appearance streams. A hidden annotation stays unread.
    let field = form("<< /Font << /F1 5 0 R >> >>", "BT /F1 10 Tf 2 2 Td (Filled in field) Tj ET");
    let note = form("<< /Font << /F1 5 0 R >> >>", "BT /F1 10 Tf 2 2 Td (A reviewer note) Tj ET");
    let hidden = form("<< /Font << /F1 5 0 R >> >>", "BT /F1 10 Tf 2 2 Td (Never shown) Tj ET");
    let pdf = pdf_fixtures::pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> /Annots [6 0 R 8 0 R 10 0 R] >>".to_vec(),
        stream("", show("Page body").as_bytes()),
        pdf_fixtures::HELVETICA.to_vec(),
        b"<< /Type /Annot /Subtype /Widget /Rect [72 600 300 620] /AP << /N 7 0 R >> >>".to_vec(),
        field,
        b"<< /Type /Annot /Subtype /FreeText /Rect [72 500 300 520] /AP << /N 9 0 R >> >>".to_vec(),
        note,
        b"<< /Type /Annot /Subtype /Widget /F 2 /Rect [72 400 300 420] /AP << /N 11 0 R >> >>".to_vec(),
        hidden,
    ]);
    let report = check_text("annotated.pdf", &pdf, &["Page body", "Filled in field", "A reviewer note"]);
    assert!(!report["text"].as_str().unwrap().contains("Never shown"), "{report:#}");
}

#[test]
fn comments_in_content_streams_do_not_hide_the_text() {
    // A scanner's page: a comment and a blank line, the scan, then its
    // invisible text layer (render mode 3), in three content streams.
    let pdf = pdf_fixtures::pdf(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [4 0 R 6 0 R 7 0 R] /Resources << /Font << /F1 5 0 R >> /XObject << /Im1 8 0 R >> >> >>".to_vec(),
        stream("", b"% SCANNER_TEXT_LAYER\n\n"),
        pdf_fixtures::HELVETICA.to_vec(),
        stream("", b"q 612 0 0 792 0 0 cm /Im1 Do Q % the page image\n"),
        stream("", b"BT 3 Tr /F1 12 Tf 72 720 Td (Recognised words) Tj ET\n% end\n\n"),
        stream(" /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8", b"\x80"),
    ]);
    let report = check("scan-with-text.pdf", &pdf, &[("/metadata/pages_without_text", json!(0))]);
    assert!(report["text"].as_str().unwrap_or_default().contains("Recognised words"), "{report:#}");
    // The only warning there may be is about OCR of the page image.
    let warnings = report["warnings"].as_array().unwrap();
    assert!(warnings.iter().all(|w| w.as_str().unwrap().starts_with("OCR")), "{report:#}");
}

#[test]
fn a_page_drawing_thousands_of_strokes_reads_as_without_them() {
    // A printed chart held the readers' memory at 150 MB for 561 characters:
    // its strokes are taken out before they decode the page, and the text,
    // moved by `cm` inside and outside graphics states, must come out the
    // same, in the same places.
    let text = format!(
        "{}q 1 0 0 1 0 -300 cm BT /F1 12 Tf 72 600 Td (Below the chart) Tj ET Q \
         1 0 0 1 0 -500 cm BT /F1 12 Tf 72 700 Td (Footnote under everything) Tj ET",
        show("Chart title")
    );
    let strokes: String = (0..5000)
        .map(|i| format!("q 1 0 0 1 {} {} cm 0.5 w 0 0.2 0.8 RG 0 0 m 3 {} l S Q n\n", i % 500, i / 10, i % 7))
        .collect();
    let (title, rest) = text.split_at(show("Chart title").len());
    let charted = format!("{title}{strokes}{rest}{strokes}");
    let page = |content: &str| one_page("<< /Font << /F1 5 0 R >> >>", stream("", content.as_bytes()), vec![]);
    let plain = analyze("plain.pdf", &page(&text)).unwrap();
    let report =
        check_text("chart.pdf", &page(&charted), &["Chart title", "Below the chart", "Footnote under everything"]);
    assert_eq!(report["text"], plain["text"], "{report:#}");
    assert_eq!(report["warnings"], json!([]), "{report:#}");
}

/// The next-line operators `'` and `"` (a line of text set on the line
/// below) were skipped: Ghostscript writes most lines with `'`, so PDFs from
/// ps2pdf, CUPS and PDF/A conversions lost nearly all their body text (76
/// of 2,376 words of one), with no warning. `"` also sets the spacing.
#[test]
fn text_set_with_the_next_line_operators_is_read() {
    let pdf = crate::pdf_fixtures::helvetica_pages(&[
        "BT /F1 12 Tf 14 TL 72 700 Td (The first line is long enough to fill most of the width) Tj \
         (Second line set with the quote operator) ' (Third line likewise) ' \
         0 0 (Fourth line set with the double quote operator) \" ET\n"
            .to_owned(),
    ]);
    let report = crate::check("ghostscript.pdf", &pdf, &[]);
    let text = report["text"].as_str().unwrap();
    let lines: Vec<&str> = text.lines().filter(|line| !line.trim().is_empty()).collect();
    assert_eq!(
        lines,
        [
            "The first line is long enough to fill most of the width",
            "Second line set with the quote operator",
            "Third line likewise",
            "Fourth line set with the double quote operator"
        ],
        "{report:#}"
    );
}

#[test]
fn cells_drawn_leftwards_along_a_line_stay_apart() {
    // A right-to-left page's table of English words, drawn in reading
    // order: "Name" in the right-hand cell, then "Value" left of it, on one
    // baseline. The words ran together ("NameValue", "alpha10").
    let pdf = crate::pdf_fixtures::helvetica_pages(&[
        "BT /F1 12 Tf 300 720 Td (Name) Tj ET\nBT /F1 12 Tf 240 720 Td (Value) Tj ET\n\
         BT /F1 12 Tf 300 704 Td (alpha) Tj ET\nBT /F1 12 Tf 260 704 Td (10) Tj ET\n"
            .to_owned(),
    ]);
    let report = crate::check("rtl-table.pdf", &pdf, &[]);
    assert_eq!(report["text"], serde_json::json!("Name Value\nalpha 10\n\n"), "{report:#}");
}

/// Info strings were read as Latin-1: PDFDocEncoding's dashes and quotes
/// (0x80–0xA0) came out as control characters, UTF-8 written without a BOM
/// as mojibake ("GrÃ¶ÃŸe") and UTF-16LE with its BOM as "ÿþL\0i\0...".
#[test]
fn pdf_info_strings_in_pdfdocencoding_utf8_and_utf16le() {
    let utf16le: String =
        "Little endian".encode_utf16().flat_map(|u| u.to_le_bytes()).map(|b| format!("{b:02X}")).collect();
    let info = format!(
        "<< /Title (\\215Minutes\\216 \\205 caf\\351 \\240) /Author (Größe Ünïcödé) /Subject <FFFE{utf16le}> >>"
    );
    check(
        "strings.pdf",
        &with_metadata(&info, None),
        &[
            ("/metadata/title", json!("\u{201C}Minutes\u{201D} \u{2013} caf\u{E9} \u{20AC}")),
            ("/metadata/author", json!("Größe Ünïcödé")),
            ("/metadata/subject", json!("Little endian")),
        ],
    );
}

/// A stream whose `/Length` is a few bytes off (an edited stream, line ends
/// changed in transit): the parser dropped the page's content, and the
/// text was empty; readers take the data up to `endstream`.
#[test]
fn a_content_stream_whose_length_is_wrong_is_read_up_to_its_endstream() {
    let content = "BT /F1 12 Tf 72 720 Td (A page whose stream length is off) Tj ET";
    for declared in [content.len() - 4, content.len() + 3, content.len() * 10] {
        let stream = format!("<< /Length {declared} >>\nstream\n{content}\nendstream");
        let bytes = crate::pdf_rtf::pdf_with_content(stream.as_bytes(), None);
        let report = crate::check("length.pdf", &bytes, &[("/stats/words", serde_json::json!(7))]);
        let warnings = report["warnings"].to_string();
        assert!(warnings.contains("/Length did not match"), "{declared}: {warnings}");
    }
}

/// A writer's stray space glyphs, one drawn back at the line's start and
/// one over the last letter of "Ans", were taken for the line's end: the
/// next letter, right after "Ans", looked a column away and the word was
/// cut with a tab ("Ans\tttelse").
#[test]
fn a_space_drawn_back_over_a_word_does_not_cut_it() {
    let pdf = crate::pdf_fixtures::helvetica_pages(&[
        "BT /F1 12 Tf 72 720 Td (Vedr: Ans) Tj ET\nBT /F1 12 Tf 72 720 Td ( ) Tj ET\n\
         BT /F1 12 Tf 121 720 Td ( ) Tj ET\nBT /F1 12 Tf 124.8 720 Td (ttelse af Navn) Tj ET\n"
            .to_owned(),
    ]);
    let report = crate::check("stray.pdf", &pdf, &[]);
    assert_eq!(report["text"], serde_json::json!("Vedr: Ansttelse af Navn\n\n"), "{report:#}");
}
