//! Language detection on a sample, with a confidence scaled by the share of
//! the text written in the language's script.

use unicode_segmentation::UnicodeSegmentation;

use rustc_hash::FxHashSet;

use super::keywords::{stop_word_hits, stopwords, StopWordHits, MIN_EVIDENCE_SHARE, STOPWORD_LANGUAGES};
use super::more_languages::{marked_language, one_language_script};
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
    if let Some((code, share)) = one_language_script(sample) {
        return Some(Language { code: code.to_owned(), confidence: rounded(share) });
    }
    let (text, info) = if sample.is_ascii() {
        (std::borrow::Cow::Borrowed(sample), whatlang::detect(sample)?)
    } else {
        detect_by_weightiest_script(sample)?
    };
    // A language whatlang does not know, told by its own words or letters,
    // whatever whatlang made of it.
    if let Some((code, marked_share)) = marked_language(&text, info.script()) {
        let confidence =
            script_share(sample, info.lang(), info.script()) * (marked_share / CERTAIN_MARKED_SHARE).min(1.0);
        return Some(Language { code: code.to_owned(), confidence: rounded(confidence) });
    }
    let code =
        if info.is_reliable() { iso639_1(info.lang().code()) } else { chosen_by_stop_words(&text, info.lang())? };
    // whatlang's confidence is about the language within its script, and is
    // 1.0 for most texts. A document half in another script is only half
    // this language: scale by the share of letters in the language's script.
    // ASCII letters are all Latin, so an ASCII sample is wholly in its script.
    let share = if sample.is_ascii() && info.script() == whatlang::Script::Latin {
        1.0
    } else {
        script_share(sample, info.lang(), info.script())
    };
    Some(Language { code: code.to_owned(), confidence: rounded(info.confidence() * share) })
}

/// A marked language (see [`marked_language`]) whose marker words are this
/// share of the sample's words is certain; fewer make it less so.
const CERTAIN_MARKED_SHARE: f64 = 0.4;

fn rounded(confidence: f64) -> f64 {
    (confidence * 1000.0).round() / 1000.0
}

/// How many of whatlang's candidates are weighed by their stop words when
/// it is unsure of the first.
const CANDIDATES: usize = 3;

/// The language of `sample` among whatlang's first [`CANDIDATES`] guesses
/// (`first` and the next ones of its script), chosen by their stop words,
/// when whatlang judged its first guess unreliable. whatlang marks most
/// sentences unreliable, even when its guess is right ("A final decision
/// will be made in August.", a sentence of Hindi), and is unsure between
/// close languages (Danish and Norwegian, Dutch and Afrikaans). The
/// candidate whose stop words are the most of the sample's words wins, the
/// earlier guess on a tie; a language outside the candidates wins with half
/// as many again and two more (lists differ in length, English's is the
/// longest). The winner needs at least two of the sample's words and
/// [`MIN_EVIDENCE_SHARE`] of them; `None` otherwise. A first guess without
/// a stop-word list (Nepali, Yiddish) is never confirmed nor
/// replaced, and Hebrew letters with the marks only Yiddish writes (װ, ײ,
/// אַ, אָ) confirm no Hebrew.
fn chosen_by_stop_words(sample: &str, first: whatlang::Lang) -> Option<&'static str> {
    if first == whatlang::Lang::Heb && has_yiddish_marks(sample) {
        return None;
    }
    let first_code = iso639_1(first.code());
    stopwords(first_code)?;
    let tables: Vec<(&str, &FxHashSet<&str>)> =
        STOPWORD_LANGUAGES.iter().filter_map(|code| Some((*code, stopwords(code)?))).collect();
    let StopWordHits { hits, words } = stop_word_hits(sample, &tables);
    let position = |code: &str| tables.iter().position(|(listed, _)| *listed == code);
    let hits_of = |code: &str| position(code).map_or(0, |i| hits[i]);
    let enough = |n: usize| n >= 2 && n as f64 >= MIN_EVIDENCE_SHARE * words as f64;
    // The language with the most hits of all (the first listed of equals).
    let (overall, overall_hits) =
        tables.iter().zip(&hits).fold(
            (first_code, 0),
            |(code, n), ((listed, _), hits)| if *hits > n { (*listed, *hits) } else { (code, n) },
        );
    // The first guess with as many as any: no other candidate can beat it,
    // and whatlang need not be asked for them.
    if hits_of(first_code) >= overall_hits {
        return enough(overall_hits).then_some(first_code);
    }
    let script = whatlang::detect_script(sample)?;
    let mut candidates = vec![first];
    while candidates.len() < CANDIDATES {
        let Some(next) = whatlang::Detector::with_denylist(candidates.clone()).detect(sample) else { break };
        if next.script() != script {
            break;
        }
        candidates.push(next.lang());
    }
    // The first of the most hits among whatlang's candidates, in its order;
    // then the language with the most of all, when it has more (whatlang
    // missed English in "A paragraph in 'Large Size' style." and named it
    // German).
    let (mut best, mut most) = (first_code, hits_of(first_code));
    for lang in &candidates[1..] {
        let code = iso639_1(lang.code());
        if stopwords(code).is_some() && hits_of(code) > most {
            (best, most) = (code, hits_of(code));
        }
    }
    if 2 * overall_hits >= 3 * most && overall_hits >= most + 2 {
        (best, most) = (overall, overall_hits);
    }
    enough(most).then_some(best)
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
/// script whatlang would pick anyway, with the text it was given.
fn detect_by_weightiest_script(sample: &str) -> Option<(std::borrow::Cow<'_, str>, whatlang::Info)> {
    let counts = whatlang::dev::raw_detect_script(sample).counters;
    let main = counts.first().map(|(script, _)| *script)?;
    let dominant = dominant_script(&counts)?;
    if same_family(main, dominant) {
        return Some((sample.into(), whatlang::detect(sample)?));
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
    let info = whatlang::detect(&only)?;
    Some((only.into(), info))
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
