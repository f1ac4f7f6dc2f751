//! Engine tests: analysis of extracted text.

use serde_json::json;

use crate::{analyze, check};

const ENGLISH: &str = "The river flooded the valley after three days of heavy rain. Farmers moved their cattle to \
    higher ground while the town council opened the school as a shelter. By Friday the water had started to recede, \
    leaving mud and broken fences across the fields. The council promised help for every family that lost crops \
    to the flood, and volunteers from nearby villages arrived to clean the streets.";

const GERMAN: &str = "Der Fluss überflutete das Tal nach drei Tagen mit starkem Regen. Die Bauern brachten ihr Vieh \
    auf höher gelegene Weiden, während der Gemeinderat die Schule als Notunterkunft öffnete. Am Freitag begann das \
    Wasser zurückzugehen und hinterließ Schlamm und zerbrochene Zäune auf den Feldern.";

fn simhash_of(text: &str) -> u64 {
    let report = analyze("t.txt", text.as_bytes()).unwrap();
    u64::from_str_radix(report["fingerprint"]["simhash"].as_str().unwrap(), 16).unwrap()
}

#[test]
fn english_prose_gets_language_readability_and_keywords() {
    let report =
        check("flood.txt", ENGLISH.as_bytes(), &[("/language/code", json!("en")), ("/stats/sentences", json!(4))]);
    assert!(report["language"]["confidence"].as_f64().unwrap() > 0.5);
    let ease = report["readability"]["flesch_reading_ease"].as_f64().unwrap();
    assert!((40.0..100.0).contains(&ease), "{ease}");
    let grade = report["readability"]["flesch_kincaid_grade"].as_f64().unwrap();
    assert!((3.0..15.0).contains(&grade), "{grade}");
    let terms: Vec<&str> = report["keywords"].as_array().unwrap().iter().map(|k| k["term"].as_str().unwrap()).collect();
    assert!(!terms.is_empty() && terms.len() <= 10);
    assert!(terms.iter().all(|t| !["the", "and", "to", "of"].contains(t)), "stop words in {terms:?}");
    assert!(terms.iter().any(|t| t.contains("council") || t.contains("flood") || t.contains("rain")), "{terms:?}");
    assert_eq!(report["keywords"][0]["score"], 1.0);
}

#[test]
fn keyword_phrases_stop_at_paragraphs_and_cells_and_skip_bare_numbers() {
    let text = "Annual budget review\n\nLibrary expansion plans\n\nAnnual budget review\n\nLibrary expansion plans\n\n\
        Harbour dredging\t12.75\tRiver lock repairs\nHarbour dredging\t12.75\tRiver lock repairs\n";
    let report = check("minutes.txt", text.as_bytes(), &[]);
    let terms: Vec<&str> = report["keywords"].as_array().unwrap().iter().map(|k| k["term"].as_str().unwrap()).collect();
    assert!(terms.contains(&"annual budget review") && terms.contains(&"library expansion plans"), "{terms:?}");
    for term in &terms {
        assert!(!term.contains("review library") && !term.contains("plans harbour"), "across paragraphs: {terms:?}");
        assert!(!term.contains("dredging river") && !term.contains("12.75"), "across cells or a number: {terms:?}");
    }
}

#[test]
fn other_languages_are_named_and_get_no_english_readability() {
    check("tal.txt", GERMAN.as_bytes(), &[("/language/code", json!("de")), ("/readability", json!(null))]);
    let russian = "Река затопила долину после трёх дней сильного дождя. Фермеры перегнали скот на возвышенность, \
        а городской совет открыл школу как убежище для пострадавших семей.";
    check("ru.txt", russian.as_bytes(), &[("/language/code", json!("ru"))]);
    let chinese = "河水在连续三天的大雨之后淹没了山谷。农民们把牛群赶到了地势较高的地方，镇议会把学校开放作为避难所。\
        镇议会说，学校可以容纳所有的农民。山谷里的河水三天后退了。";
    let report = check("zh.txt", chinese.as_bytes(), &[("/language/code", json!("zh"))]);
    // Text without spaces still has words: each ideograph counts.
    assert!(report["stats"]["words"].as_u64().unwrap() > 30, "{}", report["stats"]);
    assert_eq!(report["stats"]["sentences"], 4);
    let terms: Vec<&str> = report["keywords"].as_array().unwrap().iter().map(|k| k["term"].as_str().unwrap()).collect();
    assert!(terms.contains(&"议会") && terms.contains(&"河水"), "{terms:?}");
}

#[test]
fn thai_words_are_found_by_dictionary_not_counted_per_letter() {
    // "Thai is a language spoken by more than 60 million people. Thailand's
    // official language is Thai. Thai is written without spaces between
    // words." About 25 words in 117 characters.
    let thai = "ภาษาไทยเป็นภาษาที่มีผู้พูดมากกว่า 60 ล้านคน ประเทศไทยมีภาษาราชการคือภาษาไทย \
        ภาษาไทยเขียนโดยไม่มีการเว้นวรรคระหว่างคำ ภาษาไทยเป็นภาษาราชการ";
    let report = check("th.txt", thai.as_bytes(), &[("/language/code", json!("th"))]);
    let words = report["stats"]["words"].as_u64().unwrap();
    assert!((20..=45).contains(&words), "Thai words counted per letter? {}", report["stats"]);
    let terms: Vec<&str> = report["keywords"].as_array().unwrap().iter().map(|k| k["term"].as_str().unwrap()).collect();
    assert!(terms.iter().any(|t| t.contains("ภาษา")), "keywords: {terms:?}");
    assert!(terms.iter().all(|t| t.chars().count() > 1), "single letters as keywords: {terms:?}");
}

#[test]
fn a_document_in_two_scripts_is_not_certain_of_its_language() {
    let english = check("en.txt", ENGLISH.as_bytes(), &[("/language/code", json!("en"))]);
    assert!(english["language"]["confidence"].as_f64().unwrap() > 0.9, "{}", english["language"]);
    let russian = "Река затопила долину после трёх дней сильного дождя. Фермеры перегнали скот на возвышенность, \
        а городской совет открыл школу как убежище для пострадавших семей.";
    let mixed = format!("{ENGLISH}\n\n{russian}\n\n{russian}");
    let report = check("mixed.txt", mixed.as_bytes(), &[]);
    let confidence = report["language"]["confidence"].as_f64().unwrap();
    assert!((0.2..0.8).contains(&confidence), "half the letters are another script's: {}", report["language"]);
    let japanese = "川の水は三日間の大雨の後、谷を覆いました。農家の人たちは牛を高い所へ移し、町の議会は学校を避難所として開きました。";
    let report = check("ja.txt", japanese.as_bytes(), &[("/language/code", json!("ja"))]);
    assert!(
        report["language"]["confidence"].as_f64().unwrap() > 0.9,
        "kana and kanji are one script: {}",
        report["language"]
    );
}

/// Japanese or Chinese prose with a few English words (headings, table
/// cells, product names) was named after the English words, as French,
/// Dutch or nothing: whatlang takes the script with the most letters and
/// counts kana and Chinese characters as three scripts.
#[test]
fn cjk_prose_with_some_english_words_is_named_by_its_cjk() {
    let japanese = "素早い茶色の狐が川岸の近くで怠け者の犬を飛び越えます。毎朝、年老いた農夫は新鮮な野菜の入ったかごを持って市場へ歩いて行き、村の人々に売っています。";
    let chinese = "敏捷的棕色狐狸跳过了河岸边那只懒惰的狗。每天早上，老农夫都会带着装满新鲜蔬菜的篮子走到市场，把它们卖给村里的人们。";
    let korean = "빠른 갈색 여우가 강둑 근처에서 게으른 개를 뛰어넘습니다. 매일 아침 늙은 농부는 신선한 채소가 담긴 바구니를 들고 시장으로 걸어갑니다.";
    let english = "Introduction\n\nQuarterly sales table with product names\n\nFinal remarks and contact details.";
    for (code, prose) in [("ja", japanese), ("zh", chinese), ("ko", korean)] {
        let mixed = format!("{english}\n\n{prose}\n");
        let report = check("mixed.txt", mixed.as_bytes(), &[("/language/code", json!(code))]);
        let confidence = report["language"]["confidence"].as_f64().unwrap();
        assert!(confidence < 0.9, "part of the text is English: {}", report["language"]);
    }
    // The other way round, English with a Japanese name in it stays English.
    let english_prose = format!("{ENGLISH} The report was written in 東京 by 山田.");
    check("en.txt", english_prose.as_bytes(), &[("/language/code", json!("en"))]);
}

#[test]
fn short_texts_in_shared_scripts_are_named_when_their_stop_words_agree() {
    // Hindi, Marathi, Hebrew, Arabic, Urdu: whatlang guesses each right but
    // calls its guess unreliable; the language's own stop words confirm it.
    for (text, code) in [
        ("मेरा नाम राम है। मैं दिल्ली में रहता हूँ। मुझे किताबें पढ़ना पसंद है।", "hi"),
        ("शिक्षा मानव जीवन का आधार है। इसके बिना व्यक्ति का विकास संभव नहीं है।", "hi"),
        ("माझे नाव राम आहे. मी पुण्यात राहतो आणि मला पुस्तके वाचायला आवडतात.", "mr"),
        ("גם אני רוצה ללכת איתך לים", "he"),
        ("هذا هو الكتاب الذي قرأته أمس", "ar"),
        ("میں کل بازار گیا اور کتاب خریدی", "ur"),
    ] {
        let report = check("short.txt", text.as_bytes(), &[("/language/code", json!(code))]);
        let confidence = report["language"]["confidence"].as_f64().unwrap();
        assert!(confidence > 0.0 && confidence <= 1.0, "{text}: {}", report["language"]);
    }
    // Without a confirming list (Nepali has none, and this sentence has one
    // of the words that mark Nepali, not two), or without stop words (a
    // list of names), or with the marks only Yiddish writes, no language.
    for text in [
        "मेरो नाम राम हो। म काठमाडौंमा बस्छु र मलाई किताब पढ्न मन पर्छ।",
        "भारत दिल्ली मुंबई कोलकाता चेन्नई बेंगलुरु",
        "גם אַני רוצה ללכת איתך לים",
    ] {
        check("short.txt", text.as_bytes(), &[("/language", json!(null))]);
    }
}

#[test]
fn too_little_text_has_no_language() {
    check("hello.txt", b"Hello world", &[("/language", json!(null)), ("/readability", json!(null))]);
}

#[test]
fn near_duplicates_are_close_and_unrelated_texts_far() {
    use docmill_engine::analysis::{hamming, NEAR_DUPLICATE_MAX_DISTANCE};
    let original = format!("{ENGLISH} {ENGLISH}");
    let edited = original.replacen("three days", "four days", 1).replacen("Friday", "Saturday", 1);
    let near = hamming(simhash_of(&original), simhash_of(&edited));
    assert!(near <= NEAR_DUPLICATE_MAX_DISTANCE, "an edited copy is {near} bits away");
    let far = hamming(simhash_of(ENGLISH), simhash_of(GERMAN));
    assert!(far > NEAR_DUPLICATE_MAX_DISTANCE * 2, "unrelated texts only {far} bits apart");
    assert_eq!(simhash_of(ENGLISH), simhash_of(ENGLISH), "deterministic");
}

#[test]
fn entities_are_counted() {
    let text = "Contact sales@example.com or +44 20 7946 0958, see https://example.com/docs and www.example.org. \
                Invoice 2024-03-01, total 1234567.";
    check(
        "contact.txt",
        text.as_bytes(),
        &[("/entities/emails", json!(1)), ("/entities/urls", json!(2)), ("/entities/phone_numbers", json!(1))],
    );
}

#[test]
fn long_text_is_sampled_and_says_so() {
    let long = format!("{ENGLISH}\n").repeat(2000);
    let report = check("long.txt", long.as_bytes(), &[("/language/code", json!("en"))]);
    let warnings = report["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().starts_with("sampled")), "{warnings:?}");
    assert_eq!(report["stats"]["sentences"], 4 * 2000);
}
