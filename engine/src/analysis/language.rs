//! Language detection on a sample, with a confidence scaled by the share of
//! the text written in the language's script.

use unicode_segmentation::UnicodeSegmentation;

use crate::report::Language;

/// Fewer words than this are too few to name a language honestly.
pub(super) const MIN_WORDS_FOR_LANGUAGE: usize = 5;

/// ISO 639-1 for whatlang's ISO 639-3 codes, where one exists.
pub(super) fn iso639_1(code3: &str) -> &str {
    match code3 {
        "epo" => "eo",
        "eng" => "en",
        "rus" => "ru",
        "cmn" => "zh",
        "spa" => "es",
        "por" => "pt",
        "ita" => "it",
        "ben" => "bn",
        "fra" => "fr",
        "deu" => "de",
        "ukr" => "uk",
        "kat" => "ka",
        "ara" => "ar",
        "hin" => "hi",
        "jpn" => "ja",
        "heb" => "he",
        "yid" => "yi",
        "pol" => "pl",
        "amh" => "am",
        "jav" => "jv",
        "kor" => "ko",
        "nob" => "nb",
        "dan" => "da",
        "swe" => "sv",
        "fin" => "fi",
        "tur" => "tr",
        "nld" => "nl",
        "hun" => "hu",
        "ces" => "cs",
        "ell" => "el",
        "bul" => "bg",
        "bel" => "be",
        "mar" => "mr",
        "kan" => "kn",
        "ron" => "ro",
        "slv" => "sl",
        "hrv" => "hr",
        "srp" => "sr",
        "mkd" => "mk",
        "lit" => "lt",
        "lav" => "lv",
        "est" => "et",
        "tam" => "ta",
        "vie" => "vi",
        "urd" => "ur",
        "tha" => "th",
        "guj" => "gu",
        "uzb" => "uz",
        "pan" => "pa",
        "aze" => "az",
        "ind" => "id",
        "tel" => "te",
        "pes" => "fa",
        "mal" => "ml",
        "ori" => "or",
        "mya" => "my",
        "nep" => "ne",
        "sin" => "si",
        "khm" => "km",
        "tuk" => "tk",
        "aka" => "ak",
        "zul" => "zu",
        "sna" => "sn",
        "afr" => "af",
        "lat" => "la",
        "slk" => "sk",
        "cat" => "ca",
        "tgl" => "tl",
        "hye" => "hy",
        "cym" => "cy",
        other => other,
    }
}

pub(super) fn detect_language(sample: &str) -> Option<Language> {
    if sample.unicode_words().take(MIN_WORDS_FOR_LANGUAGE).count() < MIN_WORDS_FOR_LANGUAGE {
        return None;
    }
    let info = whatlang::detect(sample)?;
    if !info.is_reliable() {
        return None;
    }
    // whatlang's confidence is about the language within its script, and is
    // 1.0 for most texts. A document half in another script is only half
    // this language: scale by the share of letters in the language's script.
    // ASCII letters are all Latin, so an ASCII sample is wholly in its script.
    let share = if sample.is_ascii() && info.script() == whatlang::Script::Latin {
        1.0
    } else {
        script_share(sample, info.lang(), info.script())
    };
    let confidence = info.confidence() * share;
    let confidence = (confidence * 1000.0).round() / 1000.0;
    Some(Language { code: iso639_1(info.lang().code()).to_owned(), confidence })
}

/// The share of the letters of `text` written in `script`, counting the
/// scripts Japanese and Korean mix with Chinese characters as one.
pub(super) fn script_share(text: &str, language: whatlang::Lang, script: whatlang::Script) -> f64 {
    use whatlang::{Lang, Script};

    let counts = whatlang::dev::raw_detect_script(text).counters;
    let total: usize = counts.iter().map(|(_, count)| count).sum();
    let family = |other: Script| match language {
        Lang::Jpn => matches!(other, Script::Hiragana | Script::Katakana | Script::Mandarin),
        Lang::Kor => matches!(other, Script::Hangul | Script::Mandarin),
        _ => other == script,
    };
    let own: usize = counts.iter().filter(|(other, _)| family(*other)).map(|(_, count)| count).sum();
    if total == 0 {
        1.0
    } else {
        own as f64 / total as f64
    }
}
