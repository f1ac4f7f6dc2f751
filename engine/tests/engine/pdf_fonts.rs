//! Engine tests: fonts the PDF reader's own parsers fail on or cannot map to
//! characters. Each used to lose its page's text (a panic inside the reader,
//! or glyphs without Unicode); now the text the font encodes is read, with
//! no warning.

use serde_json::json;

use crate::check;
use crate::pdf_fixtures::{self, page_with_font, stream, widths};

fn assert_reads(name: &str, pdf: &[u8], words: &str) {
    let report = check(name, pdf, &[("/metadata/pages_without_text", json!(0))]);
    let text = report["text"].as_str().unwrap_or_default();
    assert_eq!(text.split_whitespace().collect::<Vec<_>>().join(" "), words, "{name}: {report:#}");
    assert_eq!(report["warnings"], json!([]), "{name}: {report:#}");
}

#[test]
fn type1_program_in_binary_segments_keeps_the_font_encoding() {
    assert_reads("pfb.pdf", &pdf_fixtures::type1_pfb_font(), "Hello World");
}

#[test]
fn differences_past_one_byte_and_odd_encodings_are_read_around() {
    // /Differences with a code past 255 and a string among the names; the
    // codes in range still read.
    let font = format!(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Custom {} /Encoding << /Type /Encoding /Differences [1 /H /e /l /o (junk) 300 /x /y] >> >>",
        widths()
    );
    let pdf = page_with_font(
        &font,
        "BT /F1 12 Tf 72 720 Td <01020303> Tj ET\nBT /F1 12 Tf 90 720 Td <04> Tj ET\nBT /F2 12 Tf 72 700 Td (World) Tj ET\n",
        vec![b"<< >>".to_vec(), pdf_fixtures::HELVETICA.to_vec()],
    );
    assert_reads("differences.pdf", &pdf, "Hello World");
    // An /Encoding that is a number: the font's standard encoding is used.
    let font = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding 42 >>";
    let pdf = page_with_font(
        font,
        "BT /F1 12 Tf 72 720 Td (Hello) Tj ET\nBT /F2 12 Tf 72 700 Td (World) Tj ET\n",
        vec![b"<< >>".to_vec(), pdf_fixtures::HELVETICA.to_vec()],
    );
    assert_reads("encoding-number.pdf", &pdf, "Hello World");
}

#[test]
fn references_to_missing_objects_read_as_null() {
    // The font's descriptor and the encoding's differences point at objects
    // the file does not have.
    let font = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding 40 0 R /FontDescriptor 41 0 R >>";
    let pdf = page_with_font(
        font,
        "BT /F1 12 Tf 72 720 Td (Hello) Tj ET\nBT /F2 12 Tf 72 700 Td (World) Tj ET\n",
        vec![b"<< >>".to_vec(), pdf_fixtures::HELVETICA.to_vec()],
    );
    assert_reads("dangling.pdf", &pdf, "Hello World");
}

/// A TrueType program of `chars.len()` glyphs (glyph 1 draws `chars[0]`,
/// ...): the tables a reader needs to map characters, no outlines.
fn truetype(chars: &[char]) -> Vec<u8> {
    let mut head = vec![0u8; 54];
    head[0..4].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    head[12..16].copy_from_slice(&0x5F0F_3CF5u32.to_be_bytes());
    head[18..20].copy_from_slice(&1000u16.to_be_bytes());
    let mut hhea = vec![0u8; 36];
    hhea[0..4].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    hhea[34..36].copy_from_slice(&1u16.to_be_bytes());
    let glyphs = chars.len() as u16 + 1;
    let mut maxp = 0x0000_5000u32.to_be_bytes().to_vec();
    maxp.extend_from_slice(&glyphs.to_be_bytes());
    // cmap: one Unicode subtable of format 12, a group per character.
    let mut sub = Vec::new();
    sub.extend_from_slice(&12u16.to_be_bytes());
    sub.extend_from_slice(&0u16.to_be_bytes());
    sub.extend_from_slice(&(16 + 12 * chars.len() as u32).to_be_bytes());
    sub.extend_from_slice(&0u32.to_be_bytes());
    sub.extend_from_slice(&(chars.len() as u32).to_be_bytes());
    // Groups in the order of their characters, as readers search them.
    let mut groups: Vec<(u32, u32)> = chars.iter().enumerate().map(|(i, c)| (*c as u32, i as u32 + 1)).collect();
    groups.sort_unstable();
    for (c, glyph) in groups {
        sub.extend_from_slice(&c.to_be_bytes());
        sub.extend_from_slice(&c.to_be_bytes());
        sub.extend_from_slice(&glyph.to_be_bytes());
    }
    let mut cmap = Vec::new();
    cmap.extend_from_slice(&0u16.to_be_bytes());
    cmap.extend_from_slice(&1u16.to_be_bytes());
    cmap.extend_from_slice(&0u16.to_be_bytes());
    cmap.extend_from_slice(&4u16.to_be_bytes());
    cmap.extend_from_slice(&12u32.to_be_bytes());
    cmap.extend_from_slice(&sub);
    let tables: [(&[u8; 4], Vec<u8>); 4] = [(b"cmap", cmap), (b"head", head), (b"hhea", hhea), (b"maxp", maxp)];
    let mut out = 0x0001_0000u32.to_be_bytes().to_vec();
    out.extend_from_slice(&[0, 4, 0, 64, 0, 2, 0, 0]);
    let mut offset = 12 + 16 * tables.len();
    let mut body = Vec::new();
    for (tag, data) in &tables {
        out.extend_from_slice(*tag);
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&(offset as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        body.extend_from_slice(data);
        while body.len() % 4 != 0 {
            body.push(0);
        }
        offset = 12 + 16 * tables.len() + body.len();
    }
    out.extend_from_slice(&body);
    out
}

#[test]
fn identity_cid_truetype_without_to_unicode_reads_through_the_font_cmap() {
    // Glyphs 1 to 8 draw "HeloWrd" and a space; the page shows glyph
    // numbers only, as CIDs through an Identity map.
    let program = truetype(&['H', 'e', 'l', 'o', ' ', 'W', 'r', 'd']);
    let font =
        "<< /Type /Font /Subtype /Type0 /BaseFont /ABCDEF+Sans /Encoding /Identity-H /DescendantFonts [6 0 R] >>";
    let descendant = b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /ABCDEF+Sans /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /CIDToGIDMap /Identity /FontDescriptor 8 0 R /DW 500 >>".to_vec();
    let descriptor = b"<< /Type /FontDescriptor /FontName /ABCDEF+Sans /Flags 4 /FontBBox [0 0 1000 1000] /ItalicAngle 0 /Ascent 800 /Descent -200 /CapHeight 700 /StemV 80 /FontFile2 9 0 R >>".to_vec();
    let pdf = page_with_font(
        font,
        "BT /F1 12 Tf 72 720 Td <00010002000300030004000500060004000700030008> Tj ET\n",
        vec![descendant, pdf_fixtures::HELVETICA.to_vec(), descriptor, stream("", &program)],
    );
    assert_reads("identity-truetype.pdf", &pdf, "Hello World");
}

#[test]
fn radicals_in_a_to_unicode_map_read_as_their_ideographs() {
    // Browsers' PDFs map the glyph of 文 to the Kangxi radical U+2F42 and
    // that of 页 to U+2EDA, the lowest code points the font gives it.
    let to_unicode = "/CIDInit /ProcSet findresource begin 12 dict begin begincmap 1 begincodespacerange <00> <FF> endcodespacerange 3 beginbfchar <01> <2F42> <02> <2EDA> <03> <5B57> endbfchar endcmap end end";
    let font = format!("<< /Type /Font /Subtype /Type1 /BaseFont /Custom {} /ToUnicode 6 0 R >>", widths());
    let pdf = page_with_font(
        &font,
        "BT /F1 12 Tf 72 720 Td <010302> Tj ET\nBT /F2 12 Tf 72 700 Td (Page) Tj ET\n",
        vec![stream("", to_unicode.as_bytes()), pdf_fixtures::HELVETICA.to_vec()],
    );
    assert_reads("radicals.pdf", &pdf, "文字页 Page");
}

/// fpdf2 gives every Type0 font an embedded CMap stream (`begincidchar`,
/// each code to a CID) as its `/Encoding`. The stream was dropped as an odd
/// encoding, the reader then gave up on the page (its Type0 fonts need
/// one), and the fallback reader's text came with "may be incomplete".
/// The font now reads as `Identity-H`, its widths moved from CIDs to codes:
/// the space, 250 units wide for CID 102, still parts the words.
#[test]
fn type0_font_with_an_embedded_cid_cmap_is_read() {
    let cmap = "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
        /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> def\n\
        /CMapName /Adobe-Identity-UCS def /CMapType 2 def\n\
        1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
        3 begincidchar <0001> 100 <0002> 101 <0003> 102 endcidchar\n\
        1 begincidrange <0004> <0005> 103 endcidrange\n\
        endcmap CMapName currentdict /CMap defineresource pop end end";
    let to_unicode = "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
        1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
        5 beginbfchar <0001> <0048> <0002> <0069> <0003> <0020> <0004> <4E16> <0005> <754C> endbfchar\n\
        endcmap CMapName currentdict /CMap defineresource pop end end";
    let pdf = page_with_font(
        "<< /Type /Font /Subtype /Type0 /BaseFont /Noto /Encoding 6 0 R /ToUnicode 8 0 R /DescendantFonts [9 0 R] >>",
        "BT /F1 12 Tf 72 720 Td <00010002000300040005> Tj ET\nBT /F2 12 Tf 72 700 Td (World) Tj ET\n",
        vec![
            stream(" /Type /CMap /CMapName /Adobe-Identity-UCS", cmap.as_bytes()),
            pdf_fixtures::HELVETICA.to_vec(),
            stream("", to_unicode.as_bytes()),
            b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /Noto /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor 10 0 R /DW 1000 /W [100 [600 300] 102 102 250 103 104 1000] >>".to_vec(),
            b"<< /Type /FontDescriptor /FontName /Noto /Flags 4 /FontBBox [0 0 1000 1000] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 700 /StemV 80 >>".to_vec(),
        ],
    );
    assert_reads("fpdf2.pdf", &pdf, "Hi 世界 World");
}

/// LibreOffice draws a Devanagari cluster whose glyphs are not one per
/// character (the vowel sign ि drawn before its consonant, a consonant
/// with a vowel sign ligated) inside `/Span <</ActualText ...>> BDC ...
/// EMC`, and its ToUnicode map gives each such glyph the cluster it first
/// met it in: glyph 1 (ि) reads "हि" everywhere, glyph 2 (the ह of है)
/// reads nothing. Read glyph by glyph, "किताब" came out "हिकताब" and "है"
/// as "ै". The span's actual text is read instead of its glyphs.
#[test]
fn actual_text_spans_are_read_instead_of_their_glyphs() {
    let to_unicode = "/CIDInit /ProcSet findresource begin 12 dict begin begincmap 1 begincodespacerange <00> <FF> \
                      endcodespacerange 9 beginbfchar <01> <0939093F> <03> <0915> <04> <0924> <05> <093E> <06> <092C> \
                      <07> <0928> <08> <094D> <09> <0926> <0A> <0940> endbfchar 1 beginbfchar <0B> <0948> endbfchar \
                      endcmap end end";
    let font = format!(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Custom /Encoding /WinAnsiEncoding {} /ToUnicode 6 0 R >>",
        widths()
    );
    let content = "BT /F1 12 Tf 72 720 Td /Span <</ActualText <FEFF0939093F>>> BDC <0102> Tj EMC <0708090A> Tj ET\n\
                   BT 1 0 0 1 72 700 Tm /Span <</ActualText <FEFF0915093F>>> BDC /F1 12 Tf <0103> Tj EMC \
                   /F1 12 Tf <040506> Tj ET\n\
                   BT /F1 12 Tf 72 680 Td /Span <</ActualText <FEFF0939>>> BDC <02> Tj EMC <0B> Tj ET\n\
                   BT /F2 12 Tf 72 660 Td (Page) Tj ET\n";
    let pdf = page_with_font(&font, content, vec![stream("", to_unicode.as_bytes()), pdf_fixtures::HELVETICA.to_vec()]);
    assert_reads("actualtext.pdf", &pdf, "हिन्दी किताब है Page");
}

#[test]
fn type3_widths_are_read_in_the_fonts_own_units() {
    // Chromium prints some text in Type 3 fonts of 2048 units to the em:
    // "Name" ends 40 points after it starts (16-point text), and "Value"
    // starts 6 points after that. Read as thousandths of an em, "Name"
    // would end past the start of "Value" and the two cells ran together.
    let font = "<< /Type /Font /Subtype /Type3 /FontBBox [0 0 2048 2048] /FontMatrix [0.00048828125 0 0 -0.00048828125 0 0] /CharProcs << >> /Resources << >> /Encoding << /Type /Encoding /Differences [1 /N /a /m /e /V /l /u] >> /FirstChar 1 /LastChar 7 /Widths [1479 1139 1593 909 1366 569 1024] >>";
    let pdf = page_with_font(
        font,
        "BT /F1 16 Tf 72 720 Td <01020304> Tj ET\nBT /F1 16 Tf 118 720 Td <0502060704> Tj ET\nBT /F2 12 Tf 72 700 Td (World) Tj ET\n",
        vec![b"<< >>".to_vec(), pdf_fixtures::HELVETICA.to_vec()],
    );
    assert_reads("type3.pdf", &pdf, "Name Value World");
}

#[test]
fn chinese_lines_of_one_paragraph_join_without_a_space() {
    // Chinese wraps anywhere, with no space at the line end: the Markdown
    // paragraph reads "委员会批准了预算。", not "委员会批 准了预算。".
    // English lines of the same paragraph still join with a space.
    let to_unicode = "/CIDInit /ProcSet findresource begin 12 dict begin begincmap 1 begincodespacerange <00> <FF> endcodespacerange 8 beginbfchar <01> <59D4> <02> <5458> <03> <4F1A> <04> <6279> <05> <51C6> <06> <4E86> <07> <9884> <08> <7B97> endbfchar 1 beginbfchar <09> <3002> endbfchar endcmap end end";
    let font = format!("<< /Type /Font /Subtype /Type1 /BaseFont /Custom {} /ToUnicode 6 0 R >>", widths());
    let pdf = page_with_font(
        &font,
        "BT /F1 12 Tf 72 720 Td <01020304> Tj ET\nBT /F1 12 Tf 72 706 Td <0506070809> Tj ET\nBT /F2 12 Tf 72 692 Td (Budget) Tj ET\nBT /F2 12 Tf 72 678 Td (approved) Tj ET\n",
        vec![stream("", to_unicode.as_bytes()), pdf_fixtures::HELVETICA.to_vec()],
    );
    let report = crate::structure::check_markdown("chinese.pdf", &pdf, "委员会批准了预算。 Budget approved\n");
    assert_eq!(report["text"], json!("委员会批\n准了预算。\nBudget\napproved\n\n"), "{report:#}");
}
