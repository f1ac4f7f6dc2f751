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
