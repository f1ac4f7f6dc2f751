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
