//! Analysis of extracted text: statistics, language, readability, keywords,
//! SimHash fingerprint and entity counts.
//!
//! Statistics, the fingerprint and entities cover the whole text. Language
//! detection and keywords, the costly steps, look at a bounded sample of a
//! long text, and the report says so in its warnings.

use std::collections::HashMap;
use std::sync::OnceLock;

use icu_segmenter::options::WordBreakInvariantOptions;
use icu_segmenter::WordSegmenter;
use unicode_segmentation::UnicodeSegmentation;
use xxhash_rust::xxh3::xxh3_64;

use crate::report::{Entities, Keyword, Language, Readability, Stats};

/// Text given to the language detector: a few pages tell the language as well
/// as a whole book does, at a fraction of the cost.
pub const LANGUAGE_SAMPLE_BYTES: usize = 64 << 10;
/// Text scored for keywords. Keyword statistics stabilise long before this.
pub const KEYWORD_SAMPLE_BYTES: usize = 512 << 10;
/// Fewer words than this are too few to name a language honestly.
const MIN_WORDS_FOR_LANGUAGE: usize = 5;
/// Keywords reported.
const MAX_KEYWORDS: usize = 10;
/// Longest keyword phrase, in words.
const MAX_PHRASE_WORDS: usize = 3;
/// Words per SimHash shingle: long enough that reordered boilerplate does
/// not look alike, short enough that one edited word changes few shingles.
const SHINGLE_WORDS: usize = 3;

/// SimHash fingerprints at most this many bits apart mark near-duplicates.
/// Calibrated by the tests: a page with a few words changed stays within it;
/// unrelated texts land near 32 bits apart.
pub const NEAR_DUPLICATE_MAX_DISTANCE: u32 = 6;

/// Bits that differ between two fingerprints.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

#[derive(Debug, Default, Clone)]
pub struct TextAnalysis {
    pub stats: Stats,
    pub language: Option<Language>,
    pub readability: Option<Readability>,
    pub keywords: Vec<Keyword>,
    pub simhash: Option<u64>,
    pub entities: Entities,
    pub warnings: Vec<String>,
}

/// Builds the stop-word tables once, so a fork server shares them.
pub fn warm_up() {
    for code in STOPWORD_LANGUAGES {
        stopwords(code);
    }
}

pub fn analyze_text(text: &str) -> TextAnalysis {
    let mut analysis = TextAnalysis { stats: stats(text), entities: entities(text), ..Default::default() };
    if analysis.stats.words == 0 {
        return analysis;
    }
    analysis.simhash = Some(simhash(text));

    let language_sample = prefix(text, LANGUAGE_SAMPLE_BYTES);
    let detected = detect_language(language_sample);
    if language_sample.len() < text.len() {
        analysis.warnings.push(format!(
            "sampled: language detected on the first {} KiB of {} KiB of text",
            LANGUAGE_SAMPLE_BYTES >> 10,
            text.len() >> 10
        ));
    }
    let keyword_sample = prefix(text, KEYWORD_SAMPLE_BYTES);
    if keyword_sample.len() < text.len() {
        analysis.warnings.push(format!(
            "sampled: keywords computed on the first {} KiB of {} KiB of text",
            KEYWORD_SAMPLE_BYTES >> 10,
            text.len() >> 10
        ));
    }
    let code = detected.as_ref().map(|language| language.code.as_str());
    analysis.keywords = keywords(keyword_sample, code);
    if code == Some("en") {
        analysis.readability = readability(text, &analysis.stats);
    }
    analysis.language = detected;
    analysis
}

/// The longest prefix of `text` of at most `max` bytes, cut at a character.
fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

fn is_sentence_end(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | '…' | '‼' | '⁇' | '؟' | '।')
}

/// Scripts written without spaces, whose sentence ends need none after them.
fn is_cjk_end(c: char) -> bool {
    matches!(c, '。' | '！' | '？')
}

fn stats(text: &str) -> Stats {
    let mut words = 0u64;
    for_each_word(text, |_| words += 1);
    let mut sentences = 0u64;
    let mut in_sentence = false;
    let mut chars = text.chars().peekable();
    let mut characters = 0u64;
    while let Some(c) = chars.next() {
        characters += 1;
        if c.is_alphanumeric() {
            in_sentence = true;
        } else if is_sentence_end(c) && in_sentence {
            // Swallow runs like "?!" or "...", then require a space, a
            // closing quote or the end, so "3.14" and "e.g.x" stay whole.
            while chars.peek().is_some_and(|n| is_sentence_end(*n) || matches!(n, '"' | '\'' | '”' | '’' | ')')) {
                chars.next();
                characters += 1;
            }
            if is_cjk_end(c) || chars.peek().is_none_or(|n| n.is_whitespace()) {
                sentences += 1;
                in_sentence = false;
            }
        }
    }
    if in_sentence {
        sentences += 1;
    }
    let lines = text.lines().count() as u64;
    let mut paragraphs = 0u64;
    let mut in_paragraph = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            in_paragraph = false;
        } else if !in_paragraph {
            paragraphs += 1;
            in_paragraph = true;
        }
    }
    Stats { characters, words, sentences, lines, paragraphs }
}

/// ISO 639-1 for whatlang's ISO 639-3 codes, where one exists.
fn iso639_1(code3: &str) -> &str {
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

fn detect_language(sample: &str) -> Option<Language> {
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
    let confidence = info.confidence() * script_share(sample, info.lang(), info.script());
    let confidence = (confidence * 1000.0).round() / 1000.0;
    Some(Language { code: iso639_1(info.lang().code()).to_owned(), confidence })
}

/// The share of the letters of `text` written in `script`, counting the
/// scripts Japanese and Korean mix with Chinese characters as one.
fn script_share(text: &str, language: whatlang::Lang, script: whatlang::Script) -> f64 {
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

/// English syllables by vowel groups, less a silent final "e".
fn syllables(word: &str) -> u32 {
    let lower: Vec<u8> = word.bytes().map(|b| b.to_ascii_lowercase()).collect();
    let is_vowel = |b: u8| matches!(b, b'a' | b'e' | b'i' | b'o' | b'u' | b'y');
    let mut count = 0u32;
    let mut previous_vowel = false;
    for &b in &lower {
        let vowel = is_vowel(b);
        if vowel && !previous_vowel {
            count += 1;
        }
        previous_vowel = vowel;
    }
    if lower.ends_with(b"e") && !lower.ends_with(b"le") && count > 1 {
        count -= 1;
    }
    count.max(1)
}

fn readability(text: &str, stats: &Stats) -> Option<Readability> {
    if stats.sentences == 0 {
        return None;
    }
    let mut words = 0u64;
    let mut total_syllables = 0u64;
    for word in text.unicode_words().filter(|w| w.chars().all(|c| c.is_ascii_alphabetic() || c == '\'')) {
        words += 1;
        total_syllables += syllables(word) as u64;
    }
    if words == 0 {
        return None;
    }
    let words_per_sentence = words as f64 / stats.sentences as f64;
    let syllables_per_word = total_syllables as f64 / words as f64;
    let round = |x: f64| (x * 100.0).round() / 100.0;
    Some(Readability {
        flesch_reading_ease: round(206.835 - 1.015 * words_per_sentence - 84.6 * syllables_per_word),
        flesch_kincaid_grade: round(0.39 * words_per_sentence + 11.8 * syllables_per_word - 15.59),
    })
}

/// Languages with stop-word lists, by ISO 639-1 code.
const STOPWORD_LANGUAGES: &[&str] = &[
    "af", "ar", "bg", "bn", "ca", "cs", "da", "de", "el", "en", "eo", "es", "et", "fa", "fi", "fr", "he", "hi", "hr",
    "hu", "hy", "id", "it", "ja", "ko", "la", "lt", "lv", "mr", "nb", "nl", "pl", "pt", "ro", "ru", "sk", "sl", "sv",
    "th", "tl", "tr", "uk", "ur", "vi", "zh",
];

fn stopwords(code: &str) -> Option<&'static std::collections::HashSet<&'static str>> {
    static TABLES: OnceLock<HashMap<&'static str, std::collections::HashSet<&'static str>>> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        STOPWORD_LANGUAGES
            .iter()
            .filter_map(|code| {
                // Norwegian Bokmål's list is filed under Norwegian.
                let lookup = if *code == "nb" { "no" } else { code };
                stop_words::lookup(lookup).map(|words| (*code, words.iter().copied().collect()))
            })
            .collect()
    });
    tables.get(code)
}

/// Top keywords by a RAKE-style score: text is cut into candidate phrases at
/// stop words and punctuation; a word scores its co-occurrence degree over
/// its frequency, a phrase the sum of its words. Scores are scaled so the
/// best is 1.0; higher is more relevant. Ties break alphabetically.
fn keywords(text: &str, language: Option<&str>) -> Vec<Keyword> {
    // Chinese and Japanese have no spaces: frequent character bigrams stand
    // in for words. (Thai, Lao, Khmer and Burmese are cut by a dictionary in
    // `for_each_piece`.)
    if matches!(language, Some("zh" | "ja")) {
        return cjk_keywords(text);
    }
    let stop = language.and_then(stopwords);
    let is_stop = |word: &str| stop.is_some_and(|set| set.contains(word)) || (stop.is_none() && word.len() < 3);
    let mut phrases: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    // Newlines since the last word: a blank line ends a paragraph, and a
    // phrase does not run from one paragraph (or table cell) into the next.
    let mut newlines = 0;
    for_each_piece(text, |piece, is_word| {
        if !is_word {
            newlines += piece.matches('\n').count();
            let boundary = piece.chars().any(|c| !c.is_whitespace() || c == '\t') || newlines > 1;
            if boundary && !current.is_empty() {
                phrases.push(std::mem::take(&mut current));
            }
            return;
        }
        newlines = 0;
        // Underscores mark emphasis in plain-text books (`_Walton_`).
        let word = piece.trim_matches('_').to_lowercase();
        let useless = word.chars().count() < 2 || !word.chars().any(char::is_alphabetic) || is_stop(&word);
        if useless || current.len() == MAX_PHRASE_WORDS {
            if !current.is_empty() {
                phrases.push(std::mem::take(&mut current));
            }
            if useless {
                return;
            }
        }
        current.push(word);
    });
    if !current.is_empty() {
        phrases.push(current);
    }
    let mut frequency: HashMap<&str, f64> = HashMap::new();
    let mut degree: HashMap<&str, f64> = HashMap::new();
    for phrase in &phrases {
        for word in phrase {
            *frequency.entry(word).or_default() += 1.0;
            *degree.entry(word).or_default() += phrase.len() as f64;
        }
    }
    let mut scored: HashMap<String, f64> = HashMap::new();
    let mut seen: HashMap<String, u32> = HashMap::new();
    for phrase in &phrases {
        let joined = phrase.join(" ");
        let score: f64 = phrase.iter().map(|w| degree[w.as_str()] / frequency[w.as_str()]).sum();
        *seen.entry(joined.clone()).or_default() += 1;
        scored.insert(joined, score);
    }
    // A phrase seen once in a long text is noise: prefer repeated phrases.
    let repeated = seen.values().filter(|n| **n > 1).count() >= MAX_KEYWORDS;
    let mut ranked: Vec<(String, f64)> = scored
        .into_iter()
        .filter(|(phrase, _)| !repeated || seen[phrase] > 1)
        .map(|(phrase, score)| {
            let weight = score * (1.0 + (seen[&phrase] as f64).ln());
            (phrase, weight)
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(MAX_KEYWORDS);
    let best = ranked.first().map(|(_, score)| *score).unwrap_or(1.0).max(f64::MIN_POSITIVE);
    ranked.into_iter().map(|(term, score)| Keyword { term, score: (score / best * 1000.0).round() / 1000.0 }).collect()
}

/// Scripts written without spaces between words, whose words only a
/// dictionary finds: Thai, Lao, Burmese, Khmer, Tai Tham and their
/// extensions. Without one, every letter would count as a word.
fn is_dictionary_script(c: char) -> bool {
    matches!(c,
        '\u{0E00}'..='\u{0EFF}' // Thai, Lao
        | '\u{1000}'..='\u{109F}' // Myanmar
        | '\u{1780}'..='\u{17FF}' // Khmer
        | '\u{19E0}'..='\u{19FF}' // Khmer symbols
        | '\u{1A20}'..='\u{1AAF}' // Tai Tham
        | '\u{A9E0}'..='\u{A9FF}' // Myanmar extended-B
        | '\u{AA60}'..='\u{AA7F}' // Myanmar extended-A
    )
}

/// Calls `f` with each word of `text`, as [`for_each_piece`] finds them.
/// Text without dictionary scripts takes unicode-segmentation's word
/// iterator, whose ASCII fast path is twice as quick as classifying every
/// piece.
fn for_each_word<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    if text.is_ascii() || !text.chars().any(is_dictionary_script) {
        text.unicode_words().for_each(f);
    } else {
        for_each_piece(text, |piece, is_word| {
            if is_word {
                f(piece)
            }
        });
    }
}

/// Calls `f` with each piece of `text` between word boundaries (UAX #29, as
/// `split_word_bounds`) and whether it is a word (holds a letter or digit).
/// Runs of dictionary scripts are cut by ICU4X's dictionaries instead, where
/// UAX #29 would cut after every letter. Chinese and Japanese keep UAX #29's
/// one word per ideograph, the count word processors give.
fn for_each_piece<'a>(text: &'a str, mut f: impl FnMut(&'a str, bool)) {
    fn plain<'a>(text: &'a str, f: &mut impl FnMut(&'a str, bool)) {
        for piece in text.split_word_bounds() {
            f(piece, piece.chars().any(char::is_alphanumeric));
        }
    }
    if text.is_ascii() || !text.chars().any(is_dictionary_script) {
        plain(text, &mut f);
        return;
    }
    let segmenter = WordSegmenter::new_dictionary(WordBreakInvariantOptions::default());
    let mut rest = text;
    while !rest.is_empty() {
        let Some(start) = rest.find(is_dictionary_script) else {
            plain(rest, &mut f);
            break;
        };
        plain(&rest[..start], &mut f);
        let run = &rest[start..];
        let end = run.find(|c: char| !is_dictionary_script(c)).unwrap_or(run.len());
        let (run, after) = run.split_at(end);
        let mut breaks = segmenter.segment_str(run);
        let mut last = 0;
        while let Some(at) = breaks.next() {
            if at > last {
                f(&run[last..at], breaks.is_word_like());
            }
            last = at;
        }
        rest = after;
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{3040}'..='\u{30FF}' | '\u{F900}'..='\u{FAFF}')
}

/// Function characters that make bigrams meaningless ("的", "の", ...).
const CJK_STOP_CHARS: &str = "的一是了在不和有也这那就都而及与之其或个们上为着以于被把让从对向到这些了吗呢吧啊の にはをがでとも たしてるれかなこそうい。、";

/// Keywords of Chinese or Japanese text: character bigrams inside runs of
/// CJK characters, by frequency, without bigrams holding a function
/// character; scaled so the best is 1.0.
fn cjk_keywords(text: &str) -> Vec<Keyword> {
    let mut counts: HashMap<(char, char), u32> = HashMap::new();
    let mut previous: Option<char> = None;
    for c in text.chars() {
        if is_cjk(c) && !CJK_STOP_CHARS.contains(c) {
            if let Some(p) = previous {
                *counts.entry((p, c)).or_default() += 1;
            }
            previous = Some(c);
        } else {
            previous = None;
        }
    }
    let mut ranked: Vec<(String, u32)> =
        counts.into_iter().filter(|(_, n)| *n > 1).map(|((a, b), n)| (format!("{a}{b}"), n)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(MAX_KEYWORDS);
    let best = ranked.first().map(|(_, n)| *n).unwrap_or(1) as f64;
    ranked.into_iter().map(|(term, n)| Keyword { term, score: (n as f64 / best * 1000.0).round() / 1000.0 }).collect()
}

/// 64-bit SimHash over lowercase word shingles.
fn simhash(text: &str) -> u64 {
    let mut counts = [0i64; 64];
    let mut window: std::collections::VecDeque<String> = std::collections::VecDeque::with_capacity(SHINGLE_WORDS);
    let mut shingle = String::new();
    let add = |hash: u64, counts: &mut [i64; 64]| {
        for (bit, count) in counts.iter_mut().enumerate() {
            if hash >> bit & 1 == 1 {
                *count += 1;
            } else {
                *count -= 1;
            }
        }
    };
    let mut total_words = 0usize;
    for_each_word(text, |word| {
        total_words += 1;
        if window.len() == SHINGLE_WORDS {
            window.pop_front();
        }
        window.push_back(word.to_lowercase());
        if window.len() == SHINGLE_WORDS {
            shingle.clear();
            for (i, w) in window.iter().enumerate() {
                if i > 0 {
                    shingle.push(' ');
                }
                shingle.push_str(w);
            }
            add(xxh3_64(shingle.as_bytes()), &mut counts);
        }
    });
    if total_words < SHINGLE_WORDS {
        for word in window {
            add(xxh3_64(word.as_bytes()), &mut counts);
        }
    }
    counts.iter().enumerate().fold(0u64, |hash, (bit, count)| if *count > 0 { hash | 1 << bit } else { hash })
}

fn entities(text: &str) -> Entities {
    Entities { emails: count_emails(text), urls: count_urls(text), phone_numbers: count_phone_numbers(text) }
}

fn is_email_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

fn count_emails(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut count = 0;
    for at in memchr_iter(b'@', bytes) {
        let local = bytes[..at].iter().rev().take_while(|b| is_email_local(**b)).count();
        let domain_len = bytes[at + 1..].iter().take_while(|b| is_domain(**b)).count();
        let domain = text[at + 1..at + 1 + domain_len].trim_end_matches(['.', '-']);
        let Some((name, tld)) = domain.rsplit_once('.') else { continue };
        if local > 0 && !name.is_empty() && tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()) {
            count += 1;
        }
    }
    count
}

fn memchr_iter(needle: u8, haystack: &[u8]) -> impl Iterator<Item = usize> + '_ {
    haystack.iter().enumerate().filter(move |(_, b)| **b == needle).map(|(i, _)| i)
}

fn count_urls(text: &str) -> u64 {
    let lower = text.to_ascii_lowercase();
    let mut count = 0;
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("http").or_else(|| rest.find("www.")) {
        let candidate = &rest[at..];
        let scheme = ["https://", "http://", "www."].iter().find(|p| candidate.starts_with(**p));
        let before_ok = at == 0 || !rest.as_bytes()[at - 1].is_ascii_alphanumeric();
        match scheme {
            Some(prefix) if before_ok => {
                let host = &candidate[prefix.len()..];
                let host_len = host.bytes().take_while(|b| is_domain(*b)).count();
                if host[..host_len].contains('.') || (prefix.starts_with("http") && host_len > 0) {
                    count += 1;
                }
                rest = &candidate[prefix.len() + host_len..];
            }
            _ => rest = &candidate[4..],
        }
    }
    count
}

/// Phone numbers: 7 to 15 digits in at least two groups separated by spaces,
/// dashes, dots or parentheses, or after a `+`. Plain runs of digits, dates
/// (`2024-01-31`, `31.01.2024`) and decimals are not phone numbers.
fn count_phone_numbers(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let is_part = |b: u8| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'+');
    let mut count = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let boundary =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'.' | b'-' | b'/' | b'+'));
        if !(boundary && (b.is_ascii_digit() || b == b'+' || b == b'(')) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        while end < bytes.len() && is_part(bytes[end]) {
            // A space continues the number only before another digit group.
            if bytes[end] == b' ' && !bytes.get(end + 1).is_some_and(|n| n.is_ascii_digit() || *n == b'(') {
                break;
            }
            if bytes[end] == b'+' {
                break;
            }
            end += 1;
        }
        while end > start && !(bytes[end - 1].is_ascii_digit() || bytes[end - 1] == b')') {
            end -= 1;
        }
        let candidate = &text[start..end];
        let groups: Vec<usize> =
            candidate.split(|c: char| !c.is_ascii_digit()).filter(|g| !g.is_empty()).map(str::len).collect();
        let digits: usize = groups.iter().sum();
        let international = candidate.starts_with('+');
        let date = groups.len() == 3
            && ((groups[0] == 4 && groups[1] <= 2 && groups[2] <= 2)
                || (groups[0] <= 2 && groups[1] <= 2 && groups[2] == 4));
        let decimal = groups.len() == 2 && candidate.contains('.') && !candidate.contains([' ', '-', '(']);
        let followed_ok = end >= bytes.len() || !bytes[end].is_ascii_alphanumeric();
        if (7..=15).contains(&digits)
            && (international || groups.len() >= 2)
            && !date
            && !decimal
            && followed_ok
            && groups.iter().all(|g| *g <= 8)
        {
            count += 1;
        }
        i = end.max(start + 1);
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_told_from_dates_and_plain_numbers() {
        assert_eq!(count_phone_numbers("Call +1 415 555 2671 or (212) 555-0199 today."), 2);
        assert_eq!(count_phone_numbers("Tel. 030 1234567 / +49 30 1234567"), 2);
        assert_eq!(count_phone_numbers("On 2024-01-31 and 31.01.2024 we paid 1234567890 in 1999."), 0);
    }

    #[test]
    fn every_listed_language_has_stop_words() {
        for code in STOPWORD_LANGUAGES {
            assert!(stopwords(code).is_some_and(|set| set.len() > 10), "no stop words for {code}");
        }
    }

    #[test]
    fn emails_and_urls_are_counted() {
        let text = "Write to jane.doe@example.com or ops@mail.example.org; see https://example.com/a, \
                    http://x.io and www.example.net. Not an email: a@b, user@localhost.";
        assert_eq!(count_emails(text), 2);
        assert_eq!(count_urls(text), 3);
    }
}
