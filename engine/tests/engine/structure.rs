//! Engine tests: Markdown that keeps a document's shape, chunks (their
//! invariants, by example and by property), and pages with `pages=`.

use docmill_engine::structure::chunk::{chunk, ChunkOptions, HeadingSpan, PageSpan};
use docmill_engine::{Options, PageSelection};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::analyze_with;

/// The report of `bytes` with text, Markdown and (when `size` is given)
/// chunks of that size.
pub fn structured(filename: &str, bytes: &[u8], size: Option<u32>) -> Value {
    let options = Options {
        include_text: true,
        markdown: true,
        chunks: size.map(|size| ChunkOptions { size, overlap: 0 }),
        ..Options::default()
    };
    analyze_with(filename, bytes, options).unwrap_or_else(|err| panic!("{filename}: {err}"))
}

/// Asserts the whole Markdown of a document.
pub fn check_markdown(filename: &str, bytes: &[u8], expected: &str) -> Value {
    let report = structured(filename, bytes, None);
    assert_eq!(report["markdown"].as_str().unwrap_or_default(), expected, "{filename}: markdown");
    report
}

/// Asserts the chunk invariants on a report: exact code-point offsets, the
/// size bound, order, coverage of every non-whitespace character, and that
/// each of `headings` (in text order) starts a chunk and is inside none.
pub fn check_chunks(report: &Value, size: usize, headings: &[&str]) {
    let text: Vec<char> = report["text"].as_str().expect("text").chars().collect();
    let chunks = report["chunks"].as_array().expect("chunks");
    let mut covered = vec![false; text.len()];
    let mut previous_end = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        let (start, end) = (chunk["start"].as_u64().unwrap() as usize, chunk["end"].as_u64().unwrap() as usize);
        assert_eq!(chunk["index"], i, "{chunk}");
        assert!(start < end && end <= text.len(), "{chunk}");
        assert!(end - start <= size, "chunk over {size}: {chunk}");
        assert!(start >= previous_end, "chunks out of order or overlapping: {chunk}");
        let slice: String = text[start..end].iter().collect();
        assert_eq!(chunk["text"], slice, "text[start:end] is the chunk");
        covered[start..end].iter_mut().for_each(|c| *c = true);
        previous_end = end;
    }
    for (i, c) in text.iter().enumerate() {
        assert!(covered[i] || c.is_whitespace(), "character {i} ({c:?}) is in no chunk");
    }
    let mut from = 0;
    for heading in headings {
        let at = find_line(&text, heading, from).unwrap_or_else(|| panic!("heading {heading:?} not in the text"));
        assert!(
            chunks.iter().any(|chunk| chunk["start"] == at),
            "heading {heading:?} at {at} starts no chunk: {chunks:#?}"
        );
        for chunk in chunks {
            let (start, end) = (chunk["start"].as_u64().unwrap() as usize, chunk["end"].as_u64().unwrap() as usize);
            assert!(!(start < at && at < end), "chunk crosses heading {heading:?}: {chunk}");
        }
        from = at + 1;
    }
}

/// The code-point offset of the first line at or after `from` that is `line`.
fn find_line(text: &[char], line: &str, from: usize) -> Option<usize> {
    let wanted: Vec<char> = line.chars().collect();
    (from..text.len()).find(|&i| {
        (i == 0 || text[i - 1] == '\n')
            && text[i..].starts_with(&wanted)
            && text.get(i + wanted.len()).is_none_or(|c| *c == '\n')
    })
}

const GUIDE: &str = r#"<html><head><title>Guide</title><style>h1 {color: red}</style></head><body>
<h1>User guide</h1>
<p>Read <a href="https://example.com/docs">the docs</a> with <strong>care</strong> and <em>joy</em>.</p>
<h2>Install</h2>
<ol><li>Download</li><li>Unpack<ul><li>on Linux</li><li>on <b>Mac</b></li></ul></li><li>Run</li></ol>
<h2>Options</h2>
<table><tr><th>Flag</th><th>Meaning</th></tr><tr><td>--text</td><td>adds text | raw</td></tr><tr><td>-q</td></tr></table>
<pre>cargo run
  --release</pre>
<h3>Deep</h3><p>Code is <code>x = 1</code>, *not* markup.</p>
<script>document.write("hidden")</script>
</body></html>"#;

#[test]
fn html_headings_lists_tables_links_and_code_as_markdown() {
    let expected = "# User guide

Read [the docs](https://example.com/docs) with **care** and *joy*.

## Install

1. Download
2. Unpack
   - on Linux
   - on **Mac**
3. Run

## Options

| Flag | Meaning |
| --- | --- |
| \\--text | adds text \\| raw |
| \\-q |  |

```
cargo run
  --release
```

### Deep

Code is `x = 1`, \\*not\\* markup.
";
    let report = check_markdown("guide.html", GUIDE.as_bytes(), expected);
    assert!(!report["text"].as_str().unwrap().contains('#'), "text stays plain");
}

#[test]
fn html_chunks_break_at_headings_with_their_section_paths() {
    let report = structured("guide.html", GUIDE.as_bytes(), Some(64));
    check_chunks(&report, 64, &["User guide", "Install", "Options", "Deep"]);
    let chunks = report["chunks"].as_array().unwrap();
    let path_of = |needle: &str| {
        chunks.iter().find(|c| c["text"].as_str().unwrap().contains(needle)).map(|c| c["headings"].clone())
    };
    assert_eq!(path_of("the docs"), Some(json!(["User guide"])));
    assert_eq!(path_of("on Linux"), Some(json!(["User guide", "Install"])));
    assert_eq!(path_of("Code is"), Some(json!(["User guide", "Options", "Deep"])));
    assert!(chunks.iter().all(|c| c["page"].is_null()), "HTML has no pages");
}

#[test]
fn markdown_source_is_normalised_with_tables_and_footnotes() {
    let source = "---\ntitle: Notes\n---\n# Notes\n\nSome *emphasis* and a [link](http://a.example/x).[^1]\n\n\
                  * one\n* two\n  1. deep\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn main() {}\n```\n\n\
                  [^1]: The footnote.\n";
    let expected = "# Notes

Some *emphasis* and a [link](http://a.example/x).[^1]

- one
- two
  1. deep

| a | b |
| --- | --- |
| 1 | 2 |

```
fn main() {}
```

[^1]: The footnote.
";
    check_markdown("notes.md", source.as_bytes(), expected);
}

#[test]
fn plain_text_markdown_is_its_paragraphs_escaped() {
    let report = check_markdown(
        "a.txt",
        b"# not a heading\nsecond line\n\n* star\n",
        "\\# not a heading\\\nsecond line\n\n\\* star\n",
    );
    assert_eq!(report["pages"], Value::Null, "a text file has no pages");
}

#[test]
fn long_sections_break_at_paragraphs_then_sentences_then_words() {
    let paragraph = "This sentence is short. ".repeat(5);
    let html = format!("<h1>Title</h1><p>{paragraph}</p><p>{paragraph}</p><h2>Next</h2><p>{}</p>", "word ".repeat(60));
    let report = structured("long.html", html.as_bytes(), Some(130));
    check_chunks(&report, 130, &["Title", "Next"]);
    let chunks = report["chunks"].as_array().unwrap();
    let texts: Vec<&str> = chunks.iter().map(|c| c["text"].as_str().unwrap()).collect();
    // The first section: the heading and a paragraph fit; the second
    // paragraph is one chunk of its own (it fits in 130).
    assert!(texts[0].starts_with("Title\n\nThis sentence"), "{texts:#?}");
    assert!(texts[0].ends_with("\n\n"), "broken at the paragraph: {texts:#?}");
    assert!(texts[1].starts_with("This sentence") && texts[1].trim_end().ends_with("short."), "{texts:#?}");
    // The last section has no sentences: it breaks between words.
    let last = texts.last().unwrap();
    assert!(last.starts_with("word") && !last.starts_with("wor "), "{texts:#?}");
    assert!(texts.iter().filter(|t| t.contains("word")).all(|t| t.trim_end().ends_with("word")), "{texts:#?}");
}

#[test]
fn overlap_repeats_the_end_of_the_previous_chunk_within_its_section() {
    let html = format!("<h1>A</h1><p>{}</p><h1>B</h1><p>tail</p>", "alpha beta gamma delta. ".repeat(20));
    let options =
        Options { include_text: true, chunks: Some(ChunkOptions { size: 100, overlap: 30 }), ..Options::default() };
    let report = analyze_with("o.html", html.as_bytes(), options).unwrap();
    let text: Vec<char> = report["text"].as_str().unwrap().chars().collect();
    let chunks = report["chunks"].as_array().unwrap();
    let b_at = find_line(&text, "B", 0).unwrap();
    let mut overlapped = 0;
    for pair in chunks.windows(2) {
        let (end, start) = (pair[0]["end"].as_u64().unwrap(), pair[1]["start"].as_u64().unwrap());
        assert!(start <= end, "no gap: {pair:?}");
        if start < end {
            overlapped += 1;
            assert!(end - start <= 30, "overlap at most 30: {pair:?}");
        }
        assert!(pair[1]["end"].as_u64() > pair[0]["end"].as_u64(), "progress");
    }
    assert!(overlapped >= 3, "{chunks:#?}");
    assert!(chunks.iter().any(|c| c["start"] == b_at), "the next section starts fresh, without overlap");
    for chunk in chunks {
        let (start, end) = (chunk["start"].as_u64().unwrap() as usize, chunk["end"].as_u64().unwrap() as usize);
        assert!(end - start <= 100);
        assert_eq!(chunk["text"], text[start..end].iter().collect::<String>());
    }
}

#[test]
fn invalid_chunk_options_are_refused() {
    for (size, overlap) in [(10, 0), (100_001, 0), (100, 100)] {
        let options = Options { chunks: Some(ChunkOptions { size, overlap }), ..Options::default() };
        let err = analyze_with("a.txt", b"text", options).unwrap_err();
        assert!(err.contains("chunks must be 64 to 100000"), "{err}");
    }
}

/// A PDF of one page per entry, each page's lines as `(font size, text)`
/// from the top down.
pub fn paged_pdf(pages: &[&[(f64, &str)]]) -> Vec<u8> {
    let contents: Vec<String> = pages
        .iter()
        .map(|lines| {
            let mut content = String::new();
            let mut y = 740.0;
            for (size, text) in lines.iter() {
                content.push_str(&format!("BT /F1 {size} Tf 72 {y} Td ({text}) Tj ET\n"));
                y -= size * 1.6;
            }
            content
        })
        .collect();
    crate::pdf_fixtures::helvetica_pages(&contents)
}

fn three_pages() -> Vec<u8> {
    paged_pdf(&[
        &[(12.0, "Page one text."), (12.0, "More of page one.")],
        &[(12.0, "Page two text.")],
        &[(12.0, "Page three text.")],
    ])
}

#[test]
fn pdf_pages_have_their_offsets_into_the_text() {
    let report = structured("three.pdf", &three_pages(), Some(64));
    let text: Vec<char> = report["text"].as_str().unwrap().chars().collect();
    let pages = report["pages"].as_array().expect("pages");
    assert_eq!(pages.len(), 3, "{pages:?}");
    for (i, (page, needle)) in pages.iter().zip(["Page one text.", "Page two text.", "Page three text."]).enumerate() {
        assert_eq!(page["number"], i + 1);
        let (start, end) = (page["start"].as_u64().unwrap() as usize, page["end"].as_u64().unwrap() as usize);
        let slice: String = text[start..end].iter().collect();
        assert!(slice.starts_with(needle), "page {}: {slice:?}", i + 1);
        if i > 0 {
            assert_eq!(pages[i - 1]["end"], page["start"], "pages are contiguous");
        }
    }
    assert_eq!(pages[2]["end"], text.len());
    let chunk_pages: Vec<Value> = report["chunks"].as_array().unwrap().iter().map(|c| c["page"].clone()).collect();
    assert_eq!(chunk_pages.first(), Some(&json!(1)));
    assert_eq!(chunk_pages.last(), Some(&json!(3)), "{report:#}");
}

#[test]
fn pdf_pages_selection_reads_only_those_pages() {
    let pages = PageSelection::parse("2-3").unwrap();
    let options = Options { include_text: true, pages: Some(pages), ..Options::default() };
    let report = analyze_with("three.pdf", &three_pages(), options).unwrap();
    let text = report["text"].as_str().unwrap();
    assert!(!text.contains("Page one") && text.contains("Page two") && text.contains("Page three"), "{text:?}");
    assert_eq!(report["metadata"]["pages"], 3, "the document's total");
    let numbers: Vec<Value> = report["pages"].as_array().unwrap().iter().map(|p| p["number"].clone()).collect();
    assert_eq!(numbers, vec![json!(2), json!(3)]);
    assert_eq!(report["pages"][0]["start"], 0);
}

#[test]
fn a_page_range_beyond_the_document_is_a_bad_request() {
    let options = Options { pages: Some(PageSelection::parse("2,4-5").unwrap()), ..Options::default() };
    let err = analyze_with("three.pdf", &three_pages(), options).unwrap_err();
    assert_eq!(err, "pages=2,4-5: the document has 3 pages");
}

#[test]
fn pages_of_a_document_without_pages_are_ignored_with_a_warning() {
    let options = Options { pages: Some(PageSelection::parse("1").unwrap()), ..Options::default() };
    let report = analyze_with("a.txt", b"plain text", options).unwrap();
    assert_eq!(report["warnings"], json!(["pages=1 ignored: a text document has no pages"]));
}

#[test]
fn page_selections_parse_or_say_why_not() {
    assert_eq!(PageSelection::parse("2-3,7").unwrap().ranges(), &[(2, 3), (7, 7)]);
    for bad in ["", "0", "3-2", "a", "1-", "-4", &"1,".repeat(40)] {
        assert!(PageSelection::parse(bad).is_err(), "{bad:?} parsed");
    }
}

/// Text made of words, sentence ends, line and paragraph breaks and some
/// characters beyond ASCII; headings on some of its lines; pages over it.
fn document() -> impl Strategy<Value = (String, Vec<HeadingSpan>, Vec<PageSpan>)> {
    let token = prop_oneof![
        4 => Just("word"),
        2 => Just("λέξη"),
        1 => Just("日本語。"),
        1 => Just("supercalifragilisticexpialidociousandthensome"),
        3 => Just(" "),
        1 => Just(". "),
        1 => Just("\n"),
        1 => Just("\n\n"),
    ];
    (
        prop::collection::vec(token, 0..400),
        prop::collection::vec((any::<prop::sample::Index>(), 1u8..=6), 0..8),
        1usize..5,
    )
        .prop_map(|(tokens, heading_picks, n_pages)| {
            let text: String = tokens.concat();
            let line_starts: Vec<usize> = std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .filter(|i| *i < text.len())
                .collect();
            let mut headings: Vec<HeadingSpan> = Vec::new();
            let mut picked: Vec<(usize, u8)> = heading_picks
                .iter()
                .filter(|_| !line_starts.is_empty())
                .map(|(index, level)| (line_starts[index.index(line_starts.len())], *level))
                .collect();
            picked.retain(|(start, _)| !text[*start..].starts_with(char::is_whitespace));
            picked.sort();
            picked.dedup_by_key(|(start, _)| *start);
            for (start, level) in picked {
                let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
                headings.push(HeadingSpan { start, end, level, title: format!("h{start}") });
            }
            let mut bounds: Vec<usize> = (0..=n_pages).map(|i| i * text.len() / n_pages).collect();
            for bound in &mut bounds {
                while !text.is_char_boundary(*bound) {
                    *bound += 1;
                }
            }
            let pages = bounds
                .windows(2)
                .enumerate()
                .map(|(i, pair)| PageSpan { number: i as u32 + 1, start: pair[0], end: pair[1] })
                .collect();
            (text, headings, pages)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn chunks_keep_their_invariants((text, headings, pages) in document(), size in 64u32..200, overlap_share in 0u32..3) {
        let overlap = size * overlap_share / 4;
        let chunks = chunk(&text, &headings, &pages, ChunkOptions { size, overlap });
        let chars: Vec<char> = text.chars().collect();
        let char_of = |byte: usize| text[..byte].chars().count();
        let heading_starts: Vec<usize> = headings.iter().map(|h| char_of(h.start)).collect();
        let mut covered = vec![false; chars.len()];
        for (i, c) in chunks.iter().enumerate() {
            prop_assert_eq!(c.index, i);
            prop_assert!(c.start < c.end && c.end <= chars.len());
            prop_assert!(c.end - c.start <= size as usize);
            prop_assert_eq!(&c.text, &chars[c.start..c.end].iter().collect::<String>());
            for h in &heading_starts {
                prop_assert!(!(c.start < *h && *h < c.end), "chunk {:?} crosses a heading at {}", c, h);
            }
            if i > 0 {
                let p = &chunks[i - 1];
                prop_assert!(c.start >= p.start && c.end > p.end, "order");
                prop_assert!(p.end - c.start.min(p.end) <= overlap as usize, "overlap bound");
            }
            // The heading path: the titles of the innermost headings before
            // the chunk, by level.
            let mut path: Vec<(u8, String)> = Vec::new();
            for (h, start) in headings.iter().zip(&heading_starts) {
                if *start <= c.start {
                    while path.last().is_some_and(|(level, _)| *level >= h.level) {
                        path.pop();
                    }
                    path.push((h.level, h.title.clone()));
                }
            }
            prop_assert_eq!(&c.headings, &path.into_iter().map(|(_, t)| t).collect::<Vec<_>>());
            let page = pages.iter().find(|p| char_of(p.start) <= c.start && c.start < char_of(p.end)).map(|p| p.number);
            prop_assert_eq!(c.page, page);
            covered[c.start..c.end].iter_mut().for_each(|x| *x = true);
        }
        for (i, ch) in chars.iter().enumerate() {
            prop_assert!(covered[i] || ch.is_whitespace(), "char {} {:?} uncovered", i, ch);
        }
        for h in &heading_starts {
            prop_assert!(chunks.iter().any(|c| c.start == *h), "heading at {} starts no chunk", h);
        }
    }
}

#[test]
fn pdf_headings_by_font_size_but_not_running_headers_or_large_sentences() {
    let body = "Body text of this report runs on for a good while here";
    let pages: Vec<Vec<(f64, &str)>> = (0..3)
        .map(|i| {
            let mut lines = vec![(32.0, "Acme Corp Report")];
            if i == 0 {
                lines.extend([(24.0, "Introduction"), (11.0, body), (11.0, body), (18.0, "Scope and aims")]);
            } else {
                lines.extend([(18.0, if i == 1 { "Methods" } else { "Results" }), (11.0, body), (11.0, body)]);
            }
            lines.push((26.0, "This large line is a sentence."));
            lines.extend([(11.0, body), (11.0, body)]);
            lines
        })
        .collect();
    let borrowed: Vec<&[(f64, &str)]> = pages.iter().map(Vec::as_slice).collect();
    let report = structured("report.pdf", &paged_pdf(&borrowed), Some(400));
    let markdown = report["markdown"].as_str().unwrap();
    let headings: Vec<&str> = markdown.lines().filter(|line| line.starts_with('#')).collect();
    assert_eq!(headings, ["# Introduction", "## Scope and aims", "## Methods", "## Results"], "{markdown}");
    check_chunks(&report, 400, &["Introduction", "Scope and aims", "Methods", "Results"]);
    let chunks = report["chunks"].as_array().unwrap();
    let methods = chunks.iter().find(|c| c["text"].as_str().unwrap().starts_with("Methods")).unwrap();
    assert_eq!((methods["headings"].clone(), methods["page"].clone()), (json!(["Introduction", "Methods"]), json!(2)));
}

#[test]
fn html_merged_cells_keep_their_text_first_and_leave_the_rest_empty() {
    let page = r#"<html><body><table>
<tr><th>Region</th><th colspan="2">Sales</th><th>Notes</th></tr>
<tr><td rowspan="2">North</td><td>12</td><td>14</td><td>up</td></tr>
<tr><td>9</td><td>8</td><td rowspan="3">flat</td></tr>
<tr><td>South</td><td colspan="2" rowspan="2">n/a</td></tr>
<tr><td>East</td></tr>
</table></body></html>"#;
    let expected = "| Region | Sales |  | Notes |
| --- | --- | --- | --- |
| North | 12 | 14 | up |
|  | 9 | 8 | flat |
| South | n/a |  |  |
| East |  |  |  |
";
    check_markdown("sales.html", page.as_bytes(), expected);
}

#[test]
fn pdf_bullets_and_numbering_become_lists_but_lone_markers_stay_text() {
    let body = "The committee met on Monday and reviewed the plans for next year";
    // \225 is the bullet glyph in WinAnsiEncoding.
    let lines: &[(f64, &str)] = &[
        (11.0, body),
        (11.0, body),
        (11.0, "We agreed on these points:"),
        (11.0, "\\225 Bread and butter for the trip"),
        (11.0, "\\225 Fresh milk from the farm"),
        (11.0, "\\225 Apples"),
        (20.0, "Steps"),
        (11.0, "1. Pack the bags"),
        (11.0, "2. Lock the door"),
        (11.0, "3. Leave early"),
        (16.0, "Closing"),
        (11.0, "1. This single numbered line is text"),
        (16.0, "Dashes"),
        (11.0, "- 5 degrees were measured in the night"),
        (11.0, body),
    ];
    let report = structured("list.pdf", &paged_pdf(&[lines]), None);
    let markdown = report["markdown"].as_str().unwrap();
    assert!(
        markdown.contains(
            "We agreed on these points:\n\n- Bread and butter for the trip\n- Fresh milk from the farm\n- Apples\n"
        ),
        "{markdown}"
    );
    assert!(markdown.contains("# Steps\n\n1. Pack the bags\n2. Lock the door\n3. Leave early\n"), "{markdown}");
    assert!(markdown.contains("1\\. This single numbered line is text"), "a lone number stays text: {markdown}");
    assert!(!markdown.contains("\n- 5 degrees"), "a lone dash stays text: {markdown}");
    assert!(report["text"].as_str().unwrap().contains("• Bread and butter"), "text keeps the glyphs");
}

#[test]
fn html_chinese_broken_across_source_lines_joins_without_a_space() {
    // As a browser shows it: a line end between two Chinese or Japanese
    // characters is no space; one next to a Latin word or in Korean is.
    check_markdown(
        "cjk.html",
        "<p>委员会批\n准了预算。\n見積もり\nOK 위원회는\n예산을</p>".as_bytes(),
        "委员会批准了预算。見積もり OK 위원회는 예산을\n",
    );
}
