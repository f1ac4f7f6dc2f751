//! UAX #29 word boundaries for ASCII text, by a table of byte classes: the
//! same pieces as unicode-segmentation's `split_word_bounds`, without its
//! general state machine and character decoding, which made it the largest
//! single cost of analysing English prose.
//!
//! Only the rules that ASCII characters take part in apply (UAX #29, Word
//! Boundary Rules): WB3 (CR × LF), WB3a/b (breaks around newlines), WB3d
//! (spaces stay together), WB5-WB7 (letters, with `:` `.` `'` between two
//! letters), WB8-WB12 (digits, with `,` `;` `.` `'` between two digits),
//! WB13a/b (`_` joins letters and digits) and WB999 (break everywhere else).

/// The word-break property of an ASCII byte (UAX #29, table 3).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Cr,
    Lf,
    /// Vertical tab and form feed.
    Newline,
    /// The space (WSegSpace).
    Space,
    Letter,
    Digit,
    /// `:` (MidLetter).
    MidLetter,
    /// `.` (MidNumLet) and `'` (Single_Quote): between letters or digits.
    MidNumLetQ,
    /// `,` and `;` (MidNum).
    MidNum,
    /// `_` (ExtendNumLet).
    ExtendNumLet,
    Other,
}

const fn class_of(b: u8) -> Class {
    match b {
        b'\r' => Class::Cr,
        b'\n' => Class::Lf,
        0x0B | 0x0C => Class::Newline,
        b' ' => Class::Space,
        b'a'..=b'z' | b'A'..=b'Z' => Class::Letter,
        b'0'..=b'9' => Class::Digit,
        b':' => Class::MidLetter,
        b'.' | b'\'' => Class::MidNumLetQ,
        b',' | b';' => Class::MidNum,
        b'_' => Class::ExtendNumLet,
        _ => Class::Other,
    }
}

/// Every byte's class, looked up once per byte of text.
static CLASSES: [Class; 128] = {
    let mut table = [Class::Other; 128];
    let mut b = 0;
    while b < 128 {
        table[b] = class_of(b as u8);
        b += 1;
    }
    table
};

/// Calls `f` with each piece of ASCII `text` between word boundaries, as
/// `split_word_bounds` cuts it, and whether it is a word (holds a letter or
/// a digit, as `unicode_words` keeps them).
pub(super) fn for_each_ascii_piece<'a>(text: &'a str, mut f: impl FnMut(&'a str, bool)) {
    debug_assert!(text.is_ascii());
    let bytes = text.as_bytes();
    let class = |i: usize| bytes.get(i).map(|&b| CLASSES[usize::from(b & 0x7F)]);
    let mut start = 0;
    while start < bytes.len() {
        let first = CLASSES[usize::from(bytes[start] & 0x7F)];
        let mut end = start + 1;
        let mut is_word = false;
        match first {
            Class::Cr if class(end) == Some(Class::Lf) => end += 1,
            Class::Space => {
                while class(end) == Some(Class::Space) {
                    end += 1;
                }
            }
            Class::Letter | Class::Digit | Class::ExtendNumLet => {
                is_word = first != Class::ExtendNumLet;
                let mut last = first;
                while let Some(next) = class(end) {
                    last = match (last, next) {
                        // WB5, WB8, WB9, WB10, WB13a, WB13b.
                        (Class::Letter | Class::Digit, Class::Letter | Class::Digit)
                        | (Class::ExtendNumLet, Class::Letter | Class::Digit) => {
                            is_word = true;
                            end += 1;
                            next
                        }
                        (_, Class::ExtendNumLet) => {
                            end += 1;
                            next
                        }
                        // WB6, WB7: a letter, `:`, `.` or `'`, a letter.
                        (Class::Letter, Class::MidLetter | Class::MidNumLetQ)
                            if class(end + 1) == Some(Class::Letter) =>
                        {
                            end += 2;
                            Class::Letter
                        }
                        // WB11, WB12: a digit, `,`, `;`, `.` or `'`, a digit.
                        (Class::Digit, Class::MidNum | Class::MidNumLetQ) if class(end + 1) == Some(Class::Digit) => {
                            end += 2;
                            Class::Digit
                        }
                        _ => break,
                    };
                }
            }
            _ => {}
        }
        f(&text[start..end], is_word);
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use unicode_segmentation::UnicodeSegmentation;

    use super::for_each_ascii_piece;

    fn pieces(text: &str) -> Vec<(&str, bool)> {
        let mut out = Vec::new();
        for_each_ascii_piece(text, |piece, is_word| out.push((piece, is_word)));
        out
    }

    fn reference(text: &str) -> Vec<(&str, bool)> {
        text.split_word_bounds().map(|piece| (piece, piece.chars().any(char::is_alphanumeric))).collect()
    }

    #[test]
    fn cuts_prose_as_uax29_does() {
        for text in [
            "The committee's 3.14 and 1,000,000; e.g. a:b x_y __ _a 9_ \r\n\n\x0b\x0c  \t!! \"q\" 1'2 a'1 a.b.c. 1.a",
            "can't won't 2.5.3 -4 +1 (a) [b] {c} http://example.com/a?b=c&d=e x@y.z",
            "",
            "a",
            "_",
            "\r\r\n\n\r",
        ] {
            assert_eq!(pieces(text), reference(text), "{text:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn every_ascii_text_is_cut_as_uax29_cuts_it(text in "[a-cA-C0-2 .,;:'_\"\\r\\n\\x0b\\x0c\\t!#-]{0,40}") {
            prop_assert_eq!(pieces(&text), reference(&text));
        }

        #[test]
        fn any_ascii_bytes_are_cut_as_uax29_cuts_them(bytes in proptest::collection::vec(0u8..128, 0..64)) {
            let text = String::from_utf8(bytes).unwrap();
            prop_assert_eq!(pieces(&text), reference(&text));
        }
    }
}
