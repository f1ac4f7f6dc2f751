//! Engine tests: RTF metadata and text written twice by Word, once in ANSI
//! and once in Unicode (`\upr` / `\ud`), read once.

use serde_json::json;

use crate::check;

/// An RTF document whose `\info` group holds `info` and whose body is `body`.
fn rtf(info: &str, body: &str) -> Vec<u8> {
    format!(r"{{\rtf1\ansi\ansicpg1252\deff0{{\fonttbl{{\f0 Times;}}}}{{\info{info}}}\pard {body}\par}}").into_bytes()
}

/// Word writes a title it cannot put in the ANSI code page twice: question
/// marks in `\upr`, the real text in its `\ud` part. The title came out as
/// both glued together (`?????ゾルゲ…`), and an author written both ways
/// doubled (`VMazelVMazel`).
#[test]
fn rtf_unicode_title_and_author_are_read_once() {
    let info = r"{\upr{\title ??? ?????}{\*\ud{\title \u12478?\u12523?\u12466?\u12392?\u23614?\u23822?}}}{\upr{\author VMazel}{\*\ud{\author VMazel}}}{\operator VMazel}";
    check(
        "sorge.rtf",
        &rtf(info, "Text"),
        &[
            ("/metadata/title", json!("ゾルゲと尾崎")),
            ("/metadata/author", json!("VMazel")),
            ("/metadata/operator", json!("VMazel")),
            ("/text", json!("Text\n")),
        ],
    );
}

/// A field written in two groups keeps the first: Word may repeat a plain
/// `\author` after its `\upr` copy.
#[test]
fn rtf_field_in_two_groups_is_not_doubled() {
    let info = r"{\title Annual report}{\author Grace Hopper}{\author Grace Hopper}";
    check(
        "twice.rtf",
        &rtf(info, "Body"),
        &[("/metadata/title", json!("Annual report")), ("/metadata/author", json!("Grace Hopper"))],
    );
}

/// Body text in `\upr` is read once, in its Unicode form; a `\upr` whose
/// Unicode part is missing still gives its ANSI text.
#[test]
fn rtf_body_text_in_upr_is_read_once() {
    let body = r"Before {\upr{Caf? ?}{\*\ud{Caf\u233? \u8364?}}} after. {\upr{only ansi}}";
    check("body.rtf", &rtf(r"{\title T}", body), &[("/text", json!("Before Café € after. only ansi\n"))]);
}

/// Footnotes came out of no RTF writer that marks them `{\*\footnote ...}`
/// (LibreOffice does), and text boxes (`\shptxt` inside `{\*\shpinst}`) from
/// none. A footnote now follows the body, as in DOCX; a text box's text is
/// where its shape is anchored, and the shape's result for readers without
/// shapes (`\shprslt`) does not repeat it.
#[test]
fn rtf_footnotes_and_text_boxes_are_read() {
    let body = r"Body with a note{\super\chftn{\*\footnote\chftn\pard\plain Note text here.}} and more.\par {\shp{\*\shpinst\shpleft0{\sp{\sn shapeType}{\sv 202}}{\shptxt\pard Boxed words\par}}{\shprslt\pard Boxed words\par}} After the box.\par {\footnote\pard Plain footnote.}";
    check(
        "notes.rtf",
        &rtf(r"{\title T}", body),
        &[(
            "/text",
            json!("Body with a note and more.\nBoxed words\n After the box.\n\nNote text here.\nPlain footnote.\n"),
        )],
    );
    // A shape inside a skipped destination stays skipped.
    let hidden = r"Seen.{\*\unknowndest{\shp{\*\shpinst{\shptxt Hidden}}}}";
    check("hidden.rtf", &rtf(r"{\title T}", hidden), &[("/text", json!("Seen.\n"))]);
}

/// Cells of a table nested in a cell end with `\nestcell`, not `\cell`, and
/// its rows with `\nestrow`: their words ran together ("innerone"
/// "innertwo" as "inneroneinnertwo"), followed by the copy written for
/// readers without nested tables (`\nonesttables`). Rows end without a
/// separator after their last cell, as DOCX rows do.
#[test]
fn rtf_nested_table_cells_are_separated() {
    let body = r"\intbl outer\cell \intbl\itap2 innerone\nestcell innertwo\nestcell{\*\nesttableprops\trowd\cellx100\cellx200\nestrow}{\nonesttables FALLBACK\par}\cell\row";
    check("nested.rtf", &rtf(r"{\title T}", body), &[("/text", json!("outer\tinnerone\tinnertwo\n\n\n"))]);
}

/// Word writes a tracked deletion as text marked `\deleted` and a comment
/// as `{\*\annotation ...}` after its author and id. The deleted words were
/// read as the document's text and the comment was dropped, where a DOCX's
/// deletions (`w:del`) are left out and its comments read after the body.
#[test]
fn rtf_tracked_deletions_are_left_out_and_comments_read() {
    let body = r"The budget was {\deleted\revauthdel1 fifty }{\revised\revauth1 sixty }thousand.\par {\deleted Struck paragraph.\par }Kept{\*\atnid JD}{\*\atnauthor Jane Doe}\chatn{\*\annotation{\*\atndate 1}\pard\plain Check this figure.} line.\par Back {\deleted gone\deleted0 here} again.";
    check(
        "tracked.rtf",
        &rtf(r"{\title T}", body),
        &[("/text", json!("The budget was sixty thousand.\nKept line.\nBack here again.\nCheck this figure.\n"))],
    );
}
