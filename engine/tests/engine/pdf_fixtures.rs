//! PDFs written byte by byte for the tests: a small writer (objects numbered
//! from 1 in order, the cross-reference table computed) and the hostile
//! documents a reader must survive. Shared by the engine tests and the
//! integration tests (`tests/hostile.rs` includes this file by path).

use std::io::Write;

/// A PDF of `objects` (object 1 is the catalog), with a correct
/// cross-reference table and trailer.
pub fn pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    pdf_with_trailer(objects, "")
}

/// [`pdf`] with `extra` added to the trailer dictionary (e.g. `/Info 9 0 R`).
pub fn pdf_with_trailer(objects: &[Vec<u8>], extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(object);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R{extra} >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

/// A stream object: `dict` holds extra dictionary entries.
pub fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< /Length {}{dict} >>\nstream\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
    out
}

/// A Flate-compressed stream object.
pub fn deflated_stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    stream(&format!(" /Filter /FlateDecode{dict}"), &encoder.finish().unwrap())
}

pub const HELVETICA: &[u8] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>";

/// Catalog (1), a one-page tree (2), the page (3) with `resources`, its
/// content (4) and Helvetica (5); `more` become objects 6, 7, ...
pub fn one_page(resources: &str, content: Vec<u8>, more: Vec<Vec<u8>>) -> Vec<u8> {
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources {resources} >>")
            .into_bytes(),
        content,
        HELVETICA.to_vec(),
    ];
    objects.extend(more);
    pdf(&objects)
}

/// A PDF of one page per entry of `contents` (each page's content stream),
/// every page with Helvetica as `/F1`: catalog (1), page tree (2), the font
/// (3), then each page and its content.
pub fn helvetica_pages(contents: &[String]) -> Vec<u8> {
    let kids: Vec<String> = (0..contents.len()).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), contents.len()).into_bytes(),
        HELVETICA.to_vec(),
    ];
    for (i, content) in contents.iter().enumerate() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R /Resources << /Font << /F1 3 0 R >> >> >>",
                5 + 2 * i
            )
            .into_bytes(),
        );
        objects.push(stream("", content.as_bytes()));
    }
    pdf(&objects)
}

/// A page showing `text` at the top.
pub fn show(text: &str) -> String {
    format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET\n")
}

/// A Form XObject whose content is `content` and whose resources are `resources` (none when empty).
pub fn form(resources: &str, content: &str) -> Vec<u8> {
    let resources = if resources.is_empty() { String::new() } else { format!(" /Resources {resources}") };
    stream(&format!(" /Type /XObject /Subtype /Form /BBox [0 0 612 792]{resources}"), content.as_bytes())
}

/// `count` trivial pages, "Page 1" to "Page N", sharing resources and a
/// media box inherited from the root of the page tree.
pub fn many_pages(count: usize) -> Vec<u8> {
    let kids: Vec<String> = (0..count).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {count} /Resources << /Font << /F1 3 0 R >> >> /MediaBox [0 0 612 792] >>",
            kids.join(" ")
        )
        .into_bytes(),
        HELVETICA.to_vec(),
    ];
    for i in 0..count {
        objects.push(format!("<< /Type /Page /Parent 2 0 R /Contents {} 0 R >>", 5 + 2 * i).into_bytes());
        objects.push(stream("", show(&format!("Page {}", i + 1)).as_bytes()));
    }
    pdf(&objects)
}

/// Forms nested `depth` deep, each drawing the next; the last shows "Bottom".
pub fn form_chain(depth: usize) -> Vec<u8> {
    let mut more = Vec::new();
    for i in 0..depth {
        if i + 1 < depth {
            more.push(form(&format!("<< /XObject << /X {} 0 R >> >>", 7 + i), "/X Do"));
        } else {
            more.push(form("<< /Font << /F1 5 0 R >> >>", &show("Bottom")));
        }
    }
    one_page("<< /Font << /F1 5 0 R >> /XObject << /X 6 0 R >> >>", stream("", b"/X Do"), more)
}

/// Forms each drawing the next twice, `levels` deep: 2^(levels - 1) draws of the
/// last, which shows "Leaf".
pub fn form_doublings(levels: usize) -> Vec<u8> {
    let mut more = Vec::new();
    for i in 0..levels {
        if i + 1 < levels {
            more.push(form(&format!("<< /XObject << /X {} 0 R >> >>", 7 + i), "/X Do /X Do"));
        } else {
            more.push(form("<< /Font << /F1 5 0 R >> >>", &show("Leaf")));
        }
    }
    let mut content = show("Top").into_bytes();
    content.extend_from_slice(b"/X Do");
    one_page("<< /Font << /F1 5 0 R >> /XObject << /X 6 0 R >> >>", stream("", &content), more)
}

/// Hostile documents, each small, that crashed or hung a reader: with the
/// text "Hello" where one is drawn before the hostile part.
pub fn hostile() -> Vec<(&'static str, Vec<u8>)> {
    let fonts = "<< /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >>";
    let hello = || stream("", format!("{}/X1 Do", show("Hello")).as_bytes());
    let mut deep_q = show("Hello").into_bytes();
    deep_q.extend_from_slice(&b"q ".repeat(600_000));
    let mut deep_bt = show("Hello").into_bytes();
    deep_bt.extend_from_slice(&b"BT ".repeat(1_500_000));
    let mut deep_array = show("Hello").into_bytes();
    deep_array.extend_from_slice(&b"[".repeat(200_000));
    let mut deep_dict = show("Hello").into_bytes();
    deep_dict.extend_from_slice(&b"<< /A ".repeat(100_000));
    let page =
        |parent: &str, extra: &str| format!("<< /Type /Page /Parent {parent} /Contents 4 0 R{extra} >>").into_bytes();
    vec![
        ("form_draws_itself.pdf", one_page(fonts, hello(), vec![form("<< /XObject << /X1 6 0 R >> >>", "/X1 Do")])),
        (
            "forms_draw_each_other.pdf",
            one_page(
                fonts,
                hello(),
                vec![
                    form("<< /XObject << /X2 7 0 R >> >>", "/X2 Do"),
                    form("<< /XObject << /X1 6 0 R >> >>", "/X1 Do"),
                ],
            ),
        ),
        // No resources of its own: the form draws with the page's, which name it.
        ("form_inherits_itself.pdf", one_page(fonts, hello(), vec![form("", &format!("{}/X1 Do", show("Again")))])),
        ("form_chain.pdf", form_chain(5000)),
        ("form_doublings.pdf", form_doublings(26)),
        ("form_doublings_deep.pdf", form_doublings(40)),
        ("nested_saves.pdf", one_page(fonts, deflated_stream("", &deep_q), vec![])),
        ("nested_text_objects.pdf", one_page(fonts, deflated_stream("", &deep_bt), vec![])),
        ("nested_arrays_in_content.pdf", one_page(fonts, deflated_stream("", &deep_array), vec![])),
        ("nested_dicts_in_content.pdf", one_page(fonts, deflated_stream("", &deep_dict), vec![])),
        (
            "nested_arrays_in_catalog.pdf",
            pdf(&[
                format!("<< /Type /Catalog /Pages 2 0 R /Junk {} >>", "[".repeat(100_000)).into_bytes(),
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
                page("2 0 R", " /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >>"),
                stream("", show("Hello").as_bytes()),
                HELVETICA.to_vec(),
            ]),
        ),
        (
            "page_tree_contains_itself.pdf",
            pdf(&[
                b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
                b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 1 /Parent 2 0 R >>".to_vec(),
                page("3 0 R", " /Resources << /Font << /F1 5 0 R >> >>"),
                stream("", show("Hello").as_bytes()),
                HELVETICA.to_vec(),
            ]),
        ),
        (
            "page_is_its_own_parent.pdf",
            pdf(&[
                b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
                page("3 0 R", ""),
                stream("", show("Hello").as_bytes()),
                HELVETICA.to_vec(),
            ]),
        ),
        (
            "reference_loop.pdf",
            pdf(&[
                b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
                page("2 0 R", " /MediaBox 6 0 R /Resources << /Font << /F1 5 0 R >> >>"),
                stream("", show("Hello").as_bytes()),
                HELVETICA.to_vec(),
                b"7 0 R".to_vec(),
                b"6 0 R".to_vec(),
            ]),
        ),
    ]
}

/// One page showing `content` in font F1 (object 5) next to Helvetica (F2),
/// with `font` as object 5 and `more` from object 6 on.
pub fn page_with_font(font: &str, content: &str, more: Vec<Vec<u8>>) -> Vec<u8> {
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R /F2 7 0 R >> >> >>".to_vec(),
        stream("", content.as_bytes()),
        font.as_bytes().to_vec(),
    ];
    objects.extend(more);
    pdf(&objects)
}

/// Widths for every one-byte code.
pub fn widths() -> String {
    format!("/FirstChar 0 /LastChar 255 /Widths [{}]", vec!["500"; 256].join(" "))
}

/// A page whose font embeds a Type 1 program as a PFB file (binary segment
/// headers before the clear text), which pdf-extract's encoding parser
/// panicked on: "Hello" in that font, then "World" in Helvetica.
pub fn type1_pfb_font() -> Vec<u8> {
    // The program's encoding vector gives codes 1 to 5 the letters of "Hello".
    let mut program = b"\x80\x01\x90\x00\x00\x00%!PS-AdobeFont-1.0: ABCDEF+Custom 001.000\n".to_vec();
    program.extend_from_slice(
        b"/FontName /ABCDEF+Custom def\n/Encoding 256 array\n0 1 255 {1 index exch /.notdef put} for\n",
    );
    program
        .extend_from_slice(b"dup 1 /H put\ndup 2 /e put\ndup 3 /l put\ndup 4 /o put\ndup 5 /space put\nreadonly def\n");
    program.extend_from_slice(
        b"currentfile eexec\n\x80\x02\x10\x00\x00\x00\xd9\xd6\x6f\x63\x3b\x84\x6a\x98\x9b\x99\x74\xef",
    );
    let font = format!("<< /Type /Font /Subtype /Type1 /BaseFont /ABCDEF+Custom {} /FontDescriptor 6 0 R >>", widths());
    let descriptor = b"<< /Type /FontDescriptor /FontName /ABCDEF+Custom /Flags 32 /FontBBox [0 0 1000 1000] /ItalicAngle 0 /Ascent 800 /Descent -200 /CapHeight 700 /StemV 80 /FontFile 8 0 R >>".to_vec();
    page_with_font(
        &font,
        "BT /F1 12 Tf 72 720 Td <0102030304> Tj ET\nBT /F2 12 Tf 72 700 Td (World) Tj ET\n",
        vec![descriptor, HELVETICA.to_vec(), stream(" /Length1 200 /Length2 16 /Length3 0", &program)],
    )
}
