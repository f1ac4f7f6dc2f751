//! Engine tests: plain text.

use serde_json::json;

use crate::check;

#[test]
fn empty_file_is_a_document_with_zero_stats() {
    check("empty.txt", b"", &[("/size", json!(0)), ("/stats/words", json!(0)), ("/stats/characters", json!(0))]);
}

#[test]
fn utf8_prose_is_text_with_counted_words() {
    check(
        "note.txt",
        "Hello there, world. How are you?\nFine.\n".as_bytes(),
        &[("/format", json!("text")), ("/stats/words", json!(7)), ("/stats/lines", json!(2))],
    );
}
