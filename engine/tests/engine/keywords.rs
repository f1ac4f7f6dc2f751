//! Engine tests: keywords in every script are whole words or phrases of
//! whole words, without stop words, whether or not a language was detected.

use serde_json::json;

use crate::check;

/// The keyword terms of a text document, best first.
fn keywords_of(filename: &str, bytes: &[u8]) -> Vec<String> {
    let report = check(filename, bytes, &[]);
    report["keywords"].as_array().unwrap().iter().map(|k| k["term"].as_str().unwrap().to_owned()).collect()
}

const JAPANESE: &str = "フィンセント・ファン・ゴッホはオランダの画家です。ゴッホの作品は世界中で愛されています。\
    ゴッホは多くの自画像を描きました。ゴッホの絵画は美術館に展示されています。画家としてのゴッホは生前に認められませんでした。";

const CHINESE: &str = "埃利奥特是一位著名的诗人。埃利奥特出生于美国，后来移居伦敦。他写了很多关于伦敦的诗歌。\
    埃利奥特的诗歌影响了整个现代文学。现代文学的研究者经常讨论埃利奥特的作品。";

const THAI: &str = "เพนซอร์เป็นนักเขียนที่มีชื่อเสียงในประเทศไทย หนังสือของเพนซอร์ขายดีมาก \
    นักเขียนคนนี้เขียนหนังสือหลายเล่ม ผู้อ่านชอบหนังสือของเพนซอร์";

const KOREAN: &str = "서울은 대한민국의 수도입니다. 서울에서 많은 사람들이 일합니다. 한국어를 배우는 학생들이 \
    서울을 방문합니다. 서울의 지하철은 매우 편리합니다.";

const GERMAN: &str = "Die Donaudampfschifffahrtsgesellschaft betreibt Schiffe auf der Donau. Die \
    Donaudampfschifffahrtsgesellschaft wurde im Jahr 1829 gegründet. Das Bundesverfassungsgericht hat über die \
    Haftpflichtversicherung entschieden, und das Bundesverfassungsgericht bleibt bei seiner Meinung.";

/// Katakana names came out as bigrams (`ゴッ`, `ッホ`); now each keyword is
/// a dictionary word, particles (`の`, `は`) and endings removed.
#[test]
fn japanese_keywords_are_whole_words() {
    let terms = keywords_of("ja.txt", JAPANESE.as_bytes());
    assert_eq!(
        terms,
        ["ゴッホ", "画家", "オランダ", "ファン", "フィンセント", "世界中", "作品", "多く", "展示", "生前"],
        "Japanese keywords"
    );
}

/// Shift_JIS text is decoded, then gets keywords like any Japanese text.
#[test]
fn shift_jis_japanese_gets_keywords() {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(JAPANESE);
    assert!(!unmappable);
    let report =
        check("sjis.txt", &bytes, &[("/metadata/encoding", json!("Shift_JIS")), ("/language/code", json!("ja"))]);
    let terms: Vec<&str> = report["keywords"].as_array().unwrap().iter().map(|k| k["term"].as_str().unwrap()).collect();
    assert_eq!(terms.first(), Some(&"ゴッホ"), "{terms:?}");
}

/// A transliterated name the dictionary lacks (埃利奥特) came out as
/// bigrams (`利奥`, `埃利`); it is kept whole, and stop words (的, 是) go.
#[test]
fn chinese_keywords_keep_names_whole_and_drop_stop_words() {
    let terms = keywords_of("zh.txt", CHINESE.as_bytes());
    assert!(terms.iter().any(|t| t == "埃利奥特"), "{terms:?}");
    assert!(terms.iter().any(|t| t == "现代文学") && terms.iter().any(|t| t == "伦敦"), "{terms:?}");
    for term in &terms {
        assert!(!term.contains("利奥") || term.contains("埃利奥特"), "a cut name: {terms:?}");
        assert!(!term.contains('的') && !term.starts_with('是') && !term.ends_with('是'), "a stop word: {terms:?}");
    }
}

/// Thai keywords were syllables joined by spaces (`เพ นซ อร์`): now words,
/// an unknown name whole, nothing across a space (a clause break in Thai).
#[test]
fn thai_keywords_are_words_not_syllables() {
    let terms = keywords_of("th.txt", THAI.as_bytes());
    for word in ["เพนซอร์", "ประเทศไทย", "นักเขียน", "หนังสือ"]
    {
        assert!(terms.iter().any(|t| t == word), "{word} missing: {terms:?}");
    }
    for term in &terms {
        assert!(!term.contains(' '), "across a space: {terms:?}");
        assert!(!["เพ", "นซ", "อร์", "ของ", "ที่", "นัก"].contains(&term.as_str()), "a fragment or stop word: {terms:?}");
    }
}

/// A loanword the dictionary lacks came out in slivers (`โอเพนซ`, `สในประ`
/// from โอเพนซอร์สในประเทศ): such runs are cut again by the LSTM model.
#[test]
fn thai_loanwords_are_not_cut_into_slivers() {
    let text = "ลินุกซ์เป็นซอฟต์แวร์โอเพนซอร์สในประเทศไทย ผู้ใช้ลินุกซ์ชอบซอฟต์แวร์โอเพนซอร์ส \
        โอเพนออฟฟิศเป็นซอฟต์แวร์โอเพนซอร์สเช่นกัน";
    let terms = keywords_of("oss.txt", text.as_bytes());
    assert!(terms.iter().any(|t| t.contains("โอเพนซอร์ส")), "{terms:?}");
    assert!(terms.iter().any(|t| t.contains("ลินุกซ์")), "{terms:?}");
    for term in &terms {
        assert!(!term.ends_with("โอเพนซ") && !term.contains("สในประ") && !term.starts_with("นุ"), "a sliver: {terms:?}");
    }
}

/// Korean words carry their particles (서울은, 서울에서): the keyword is the
/// noun, and verbs in their formal ending are not keywords.
#[test]
fn korean_keywords_are_nouns_without_particles() {
    let terms = keywords_of("ko.txt", KOREAN.as_bytes());
    assert!(terms.iter().any(|t| t == "서울"), "{terms:?}");
    assert!(terms.iter().any(|t| t.contains("지하철")) && terms.iter().any(|t| t.contains("수도")), "{terms:?}");
    for term in &terms {
        assert!(!term.ends_with(['은', '는', '을', '를']) && !term.ends_with("니다"), "an ending: {terms:?}");
    }
}

/// German compounds are single words, and stay whole.
#[test]
fn german_compounds_stay_whole() {
    let terms = keywords_of("de.txt", GERMAN.as_bytes());
    for compound in ["donaudampfschifffahrtsgesellschaft", "bundesverfassungsgericht", "haftpflichtversicherung"] {
        assert!(terms.iter().any(|t| t.split(' ').any(|w| w == compound)), "{compound} missing: {terms:?}");
    }
    for term in &terms {
        assert!(term.split(' ').all(|w| !["die", "der", "das", "und", "hat", "bei"].contains(&w)), "{terms:?}");
    }
}

/// Short English loses its stop words from keywords (`the lazy dog`, and
/// `this` from the README's own example), whether or not it is long enough
/// to get a language: the text's own function words choose the English
/// list.
#[test]
fn short_english_loses_its_stop_words() {
    let fox = "The quick brown fox jumps over the lazy dog.";
    check("fox.txt", fox.as_bytes(), &[("/language/code", json!("en"))]);
    assert_eq!(keywords_of("fox.txt", fox.as_bytes()), ["quick brown fox", "lazy dog", "jumps"]);
    let readme = "Hello world. This is a test.\n";
    check("notes.txt", readme.as_bytes(), &[("/language/code", json!("en")), ("/keywords", json!([]))]);
    let memo = "Please send the invoice to the finance team before the end of the month.";
    let terms = keywords_of("memo.txt", memo.as_bytes());
    assert!(terms.iter().any(|t| t.contains("invoice")), "{terms:?}");
    assert!(terms.iter().all(|t| t.split(' ').all(|w| !["the", "to", "of", "before"].contains(&w))), "{terms:?}");
}

/// Without a detected language, the script chooses the list: a short
/// Japanese phrase loses its particles.
#[test]
fn short_japanese_without_a_language_loses_its_particles() {
    let text = "ゴッホの絵と東京の美術館";
    let report = check("short.txt", text.as_bytes(), &[]);
    let terms: Vec<&str> = report["keywords"].as_array().unwrap().iter().map(|k| k["term"].as_str().unwrap()).collect();
    assert!(terms.contains(&"ゴッホ") && terms.contains(&"美術館"), "{terms:?}");
    assert!(terms.iter().all(|t| !t.contains('の') && !t.contains('と')), "{terms:?}");
}

/// Dictionary words of function characters (我的, "my") are stop words
/// too, and a phrase does not run from Chinese or Japanese into Latin
/// letters written against it (収入report).
#[test]
fn cjk_phrases_stop_at_function_words_and_latin_letters() {
    let chinese = "这是我的选择。我的选择很重要。他们尊重我的选择。";
    let terms = keywords_of("choice.txt", chinese.as_bytes());
    assert!(terms.iter().any(|t| t == "选择"), "{terms:?}");
    assert!(terms.iter().all(|t| !t.contains("我的")), "{terms:?}");
    let japanese = "今月の収入reportです。先月の収入reportを見ました。収入reportは毎月届きます。";
    let terms = keywords_of("report.txt", japanese.as_bytes());
    assert!(terms.iter().any(|t| t == "収入") && terms.iter().any(|t| t == "report"), "{terms:?}");
    assert!(terms.iter().all(|t| !t.contains("入r")), "{terms:?}");
}
