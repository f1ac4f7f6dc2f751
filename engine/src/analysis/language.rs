//! Language detection on a sample, with a confidence scaled by the share of
//! the text written in the language's script.

use unicode_segmentation::UnicodeSegmentation;

use rustc_hash::FxHashSet;

use super::keywords::{stop_word_hits, stopwords, MIN_EVIDENCE_SHARE};
use super::plain_english::is_plain_english;
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

/// How many Latin letters one character of a script written a syllable or a
/// morpheme to the character (Chinese characters, kana, Hangul) counts for
/// when the scripts of a document are weighed against each other: an
/// English word takes five or six letters where Chinese or Japanese takes
/// two or three characters, so two is on the side of the Latin letters.
const SYLLABIC_CHARACTER_WEIGHT: usize = 2;

pub(super) fn detect_language(sample: &str) -> Option<Language> {
    if sample.unicode_words().take(MIN_WORDS_FOR_LANGUAGE).count() < MIN_WORDS_FOR_LANGUAGE {
        return None;
    }
    // whatlang names the language of the script with the most letters, and
    // counts kana and Chinese characters as three scripts: Japanese prose
    // with English table headers or product names read as a few Latin words
    // (in French or Dutch, or in no language at all). When another script
    // (kana and Chinese characters as one) outweighs that one, the language
    // is detected on the letters of that script alone.
    // ASCII letters are all Latin: one script, nothing to weigh, and the
    // script count (a pass over the sample, a tenth of a small document's
    // analysis) is whatlang's own.
    // Plain English prose needs no trigram profiles: its stop words tell
    // it, at a small share of whatlang's cost, with whatlang's answer.
    if sample.is_ascii() && is_plain_english(sample) {
        return Some(Language { code: "en".to_owned(), confidence: 1.0 });
    }
    let info = if sample.is_ascii() { whatlang::detect(sample)? } else { detect_by_weightiest_script(sample)? };
    if !info.is_reliable() && !confirmed_by_stop_words(sample, info.lang()) {
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

/// Whether the stop words of `sample` confirm whatlang's guess `lang`,
/// which whatlang itself judged unreliable. whatlang marks most short texts
/// in the scripts a few languages share (Devanagari: Hindi, Marathi,
/// Nepali; Hebrew: Hebrew, Yiddish; Arabic: Arabic, Persian, Urdu) as
/// unreliable, even when its guess is right: a sentence of Hindi got no
/// language. The guess stands when its language's stop words are at least
/// two of the sample's words and [`MIN_EVIDENCE_SHARE`] of them, and more
/// than those of every other language of the script that has a list. A
/// language without a list (Nepali, Yiddish) is never confirmed, and
/// Hebrew letters with the marks only Yiddish writes (װ, ײ, אַ, אָ) confirm
/// no Hebrew. Latin and Cyrillic, whose languages share many stop words,
/// are left to whatlang.
fn confirmed_by_stop_words(sample: &str, lang: whatlang::Lang) -> bool {
    use whatlang::Lang;
    let rivals: &[&str] = match lang {
        Lang::Hin | Lang::Mar => &["hi", "mr"],
        Lang::Heb => &["he"],
        Lang::Ara | Lang::Pes | Lang::Urd => &["ar", "fa", "ur"],
        _ => return false,
    };
    if lang == Lang::Heb && has_yiddish_marks(sample) {
        return false;
    }
    let code = iso639_1(lang.code());
    let tables: Vec<(&str, &FxHashSet<&str>)> =
        rivals.iter().filter_map(|rival| Some((*rival, stopwords(rival)?))).collect();
    let (hits, words) = stop_word_hits(sample, &tables);
    let Some(own) = tables.iter().position(|(rival, _)| *rival == code) else { return false };
    let strongest_rival = hits.iter().enumerate().filter(|(i, _)| *i != own).map(|(_, n)| *n).max().unwrap_or(0);
    hits[own] >= 2 && hits[own] as f64 >= MIN_EVIDENCE_SHARE * words as f64 && hits[own] > strongest_rival
}

/// Yiddish writes the ligatures װ, ױ, ײ and alef with patah or qamats (אַ,
/// אָ), which Hebrew prose does not.
fn has_yiddish_marks(text: &str) -> bool {
    let mut previous = ' ';
    text.chars().any(|c| {
        let yiddish = matches!(c, '\u{05F0}'..='\u{05F2}' | '\u{FB1F}' | '\u{FB2E}' | '\u{FB2F}')
            || (previous == '\u{05D0}' && matches!(c, '\u{05B7}' | '\u{05B8}'));
        previous = c;
        yiddish
    })
}

/// whatlang's answer on the letters of the weightiest script of `sample`
/// (see [`dominant_script`]), or on the whole sample when that is the
/// script whatlang would pick anyway.
fn detect_by_weightiest_script(sample: &str) -> Option<whatlang::Info> {
    let counts = whatlang::dev::raw_detect_script(sample).counters;
    let main = counts.first().map(|(script, _)| *script)?;
    let dominant = dominant_script(&counts)?;
    if same_family(main, dominant) {
        return whatlang::detect(sample);
    }
    let only: String = sample
        .chars()
        .map(|c| {
            let in_family = !c.is_alphabetic()
                || whatlang::detect_script(c.encode_utf8(&mut [0; 4])).is_some_and(|s| same_family(s, dominant));
            if in_family {
                c
            } else {
                ' '
            }
        })
        .collect();
    whatlang::detect(&only)
}

/// Chinese characters and the two kana are one family: Japanese writes all
/// three, and whatlang tells Chinese from Japanese by their mix.
fn same_family(a: whatlang::Script, b: whatlang::Script) -> bool {
    use whatlang::Script::{Hiragana, Katakana, Mandarin};
    let han = |s| matches!(s, Mandarin | Hiragana | Katakana);
    a == b || (han(a) && han(b))
}

/// The script whose family has the most weight in `counts`, syllabic
/// characters counted [`SYLLABIC_CHARACTER_WEIGHT`] times; `None` without
/// letters.
fn dominant_script(counts: &[(whatlang::Script, usize)]) -> Option<whatlang::Script> {
    use whatlang::Script::{Hangul, Hiragana, Katakana, Mandarin};
    let weight = |script| match script {
        Mandarin | Hiragana | Katakana | Hangul => SYLLABIC_CHARACTER_WEIGHT,
        _ => 1,
    };
    let family_weight = |script| {
        counts
            .iter()
            .filter(|(other, _)| same_family(script, *other))
            .map(|(other, n)| n * weight(*other))
            .sum::<usize>()
    };
    counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(script, _)| (*script, family_weight(*script)))
        // The first of equal weights: `counts` is sorted by count.
        .fold(None, |best: Option<(whatlang::Script, usize)>, (script, w)| match best {
            Some((_, best_w)) if best_w >= w => best,
            _ => Some((script, w)),
        })
        .map(|(script, _)| script)
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
