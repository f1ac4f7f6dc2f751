//! Languages whatlang's models leave out, told by what only they write:
//! scripts of one language (Lao, Tibetan, Thaana, Mongolian), letters of
//! one language among the others of its script (Kazakh қ and ұ among
//! Cyrillic, Pashto ښ among Arabic), and words no neighbour writes (Irish
//! `agus`, Basque `eta`, Galician `unha`, Icelandic `það`). whatlang names
//! such a text after its nearest neighbour (Galician as Portuguese, Maltese
//! as Italian, Kazakh as Belarusian) or calls it unreliable.

use std::sync::OnceLock;

use rustc_hash::FxHashMap;

use super::keywords::EVIDENCE_WORDS;
use super::words::for_each_lexical_piece;

/// A language of a shared script, known by its marker words and by the
/// letters it writes and its neighbours do not.
struct Marked {
    code: &'static str,
    script: whatlang::Script,
    /// Words frequent in the language and rare or absent in every language
    /// of its script that whatlang names (lowercase, NFC).
    words: &'static [&'static str],
    /// A word holding one of these letters counts as a marker word.
    letters: &'static [char],
    /// A word holding one of these letters, which the language does not
    /// write, counts against it.
    foreign: &'static [char],
}

use whatlang::Script::{Arabic, Cyrillic, Devanagari, Latin};

/// The marked languages. A word counts for every language it marks.
const MARKED: &[Marked] = &[
    Marked {
        code: "is",
        script: Latin,
        words: &[
            "að", "sem", "ekki", "það", "þetta", "hann", "hún", "með", "fyrir", "voru", "hafa", "hefur", "verið",
            "eða", "þess", "því", "sér", "sig", "þeir", "þær", "þau", "vegna", "líka", "mjög", "eftir", "skal",
            "einnig", "þegar", "þar", "hér", "ég", "þú", "okkar", "allir", "öllum", "hvers", "hvað", "sínum", "hans",
            "hennar", "þeirra", "öll", "mega", "honum", "henni", "skulu", "verða", "allra",
        ],
        letters: &['þ', 'ð'],
        foreign: &[],
    },
    Marked {
        code: "fo",
        script: Latin,
        words: &[
            "hetta", "ikki", "eisini", "hevur", "verður", "skulu", "teir", "tað", "tær", "hjá", "millum", "mugu",
            "hvør", "øll", "onnur", "sínum", "hon", "tey", "okkara", "hvørjum", "nøkur", "eftir",
        ],
        letters: &['ð'],
        foreign: &[],
    },
    Marked {
        code: "ga",
        script: Latin,
        words: &[
            "agus", "ní", "níl", "bhí", "tá", "sé", "sí", "siad", "mé", "tú", "seo", "atá", "chun", "faoi", "leis",
            "gur", "nuair", "cé", "dá", "bhfuil", "gach", "freisin", "iad", "aon", "bheith", "beidh", "acu", "orthu",
            "dhá", "níos", "eile", "idir", "roimh", "thar", "chuig", "ón", "dtí", "mhaith", "cheart", "ceart", "chomh",
        ],
        letters: &[],
        foreign: &[],
    },
    Marked {
        code: "gd",
        script: Latin,
        words: &[
            "agus", "tha", "bha", "chan", "cha", "airson", "anns", "bho", "gu", "ri", "gun", "bhith", "nam", "nan",
            "chaidh", "dè", "aige", "aice", "orra", "dhaibh", "còir", "chòir", "seo", "iad", "eile", "aon", "gach",
            "fhèin", "sam", "bith", "bhi", "thoirt",
        ],
        letters: &[],
        foreign: &[],
    },
    Marked {
        code: "eu",
        script: Latin,
        words: &[
            "eta", "bat", "dute", "dira", "zen", "ere", "baina", "edo", "hau", "hori", "bere", "izan", "egin", "duen",
            "dela", "zuen", "ziren", "gure", "dago", "beste", "oso", "baino", "behar", "dituzte", "nahi", "baita",
            "bezala", "zaio", "zuten", "ditu", "zituen", "dituen", "direla", "egiten", "izango", "eman", "gabe",
            "guztiek", "guztiak", "inork", "bai", "hala", "horrela", "ezin", "dute", "zituzten",
        ],
        letters: &[],
        foreign: &[],
    },
    Marked {
        code: "gl",
        script: Latin,
        words: &[
            "non", "unha", "unhas", "polo", "pola", "polos", "polas", "coa", "coas", "moi", "tamén", "xa", "aínda",
            "dende", "cunha", "nunha", "dunha", "iso", "cando", "teñen", "noso", "nosa", "súa", "súas", "ningún",
            "ningunha", "máis", "despois", "entón", "xunto", "lle", "lles", "sen", "xeral", "cun", "dun", "nun",
            "ademais", "fixo", "facer",
        ],
        letters: &[],
        foreign: &[],
    },
    Marked {
        code: "mt",
        script: Latin,
        words: &[
            "huwa", "hija", "minn", "dawn", "jew", "kull", "biex", "wkoll", "ukoll", "kien", "kienet", "jkun", "hemm",
            "fejn", "fuq", "bejn", "tal", "tad", "tat", "tas", "fil", "mill", "lill", "bil", "ta'", "xi", "kif",
            "sabiex",
        ],
        letters: &['ħ', 'ġ', 'ċ'],
        foreign: &[],
    },
    Marked {
        code: "sq",
        script: Latin,
        words: &[
            "dhe", "të", "në", "një", "për", "që", "është", "janë", "së", "nga", "nuk", "edhe", "kanë", "ky", "kjo",
            "këto", "ata", "ato", "ajo", "mund", "shumë", "tij", "saj", "tyre", "më", "kur", "ose", "deri", "midis",
            "çdo", "asnjë", "gjithë", "secili", "kush", "duhet",
        ],
        letters: &[],
        foreign: &[],
    },
    Marked {
        code: "lb",
        script: Latin,
        words: &[
            "ass", "sinn", "net", "fir", "déi", "gëtt", "huet", "hunn", "awer", "wéi", "eng", "ech", "hien", "kee",
            "keng", "méi", "dës", "vun", "iwwer", "ënner", "tëscht", "duerch", "kënnen", "wou", "sech", "säin", "seng",
            "hirer", "hiren", "hire", "sou", "ginn", "mat", "vu", "engem", "enger", "eiser", "gouf", "goufen", "dass",
            "wann", "hei", "elo", "schonn", "nëmmen", "zanter", "virun", "soll", "sollen", "deem", "dësem", "dëst",
            "eis", "iech",
        ],
        letters: &[],
        foreign: &[],
    },
    Marked {
        code: "sw",
        script: Latin,
        words: &[
            "katika", "kuwa", "hii", "huo", "hiyo", "yake", "wake", "lakini", "pia", "sana", "bila", "kila", "mtu",
            "watu", "haki", "yoyote", "yao", "wao", "zao", "hata", "wakati", "baada", "kabla", "ambao", "ambayo",
            "ambaye", "hayo", "hivyo", "kutoka", "juu", "chini", "kati", "nchi", "kwa", "kwamba", "ili", "wa", "cha",
            "vya",
        ],
        letters: &[],
        foreign: &[],
    },
    Marked {
        code: "yo",
        script: Latin,
        words: &[
            "àti",
            "wọ́n",
            "fún",
            "láti",
            "jẹ́",
            "ṣe",
            "náà",
            "yìí",
            "gbogbo",
            "ẹni",
            "ènìyàn",
            "tàbí",
            "nínú",
            "pẹ̀lú",
            "rẹ̀",
            "wọn",
            "ìjọba",
            "kò",
            "sí",
            "ní",
            "tí",
            "kí",
            "ó",
            "pé",
        ],
        letters: &['ṣ', 'ẹ', 'ọ'],
        foreign: &[],
    },
    Marked {
        code: "ha",
        script: Latin,
        words: &[
            "shi", "ita", "wannan", "cikin", "kuma", "amma", "zuwa", "daga", "ake", "suka", "yana", "tana", "ana",
            "duk", "kowa", "kowane", "haka", "wanda", "wadda", "mutum", "mutane", "tsakanin", "domin", "saboda",
            "akwai", "babu", "lokacin", "inda", "yadda", "kuma", "ba", "ko",
        ],
        letters: &['ɗ', 'ƙ', 'ɓ'],
        foreign: &[],
    },
    Marked {
        code: "so",
        script: Latin,
        words: &[
            "iyo", "waa", "oo", "ee", "ah", "wax", "ayaa", "kale", "waxaa", "uu", "ayuu", "ayay", "aad", "lagu", "loo",
            "laga", "xaq", "xuquuq", "qof", "kasta", "dadka", "sida", "inay", "inuu", "haddii", "ahaan", "ugu", "ilaa",
            "kala", "kuwa", "markii", "xitaa", "waxay", "ama", "ka", "ku",
        ],
        letters: &[],
        foreign: &[],
    },
    Marked {
        code: "mg",
        script: Latin,
        words: &[
            "ny", "sy", "ary", "amin'ny", "tsy", "izy", "ireo", "eo", "an'ny", "izao", "mba", "tamin'ny", "manana",
            "olona", "rehetra", "zo", "koa", "azy", "azo", "momba", "noho", "nefa", "raha",
        ],
        letters: &[],
        foreign: &[],
    },
    Marked {
        code: "ku",
        script: Latin,
        words: &[
            "û", "ji", "jî", "ev", "ew", "wê", "wî", "hene", "heye", "nav", "dikare", "divê", "tê", "ye", "yê", "yên",
            "mafê", "mafên", "kes", "hev", "dema", "piştî", "berî", "hemû", "xwe", "ku", "jê",
        ],
        letters: &[],
        foreign: &[],
    },
    Marked {
        code: "ht",
        script: Latin,
        words: &[
            "ak", "nan", "pou", "gen", "yon", "moun", "sou", "nou", "mwen", "epi", "lè", "kòm", "tankou", "dwe",
            "genyen", "chak", "okenn", "kote", "paske", "kapab", "fè", "sila", "lòt", "dwa", "libète",
        ],
        letters: &[],
        foreign: &[],
    },
    // Narrower alphabets first: a tie goes to the language listed first.
    Marked {
        code: "mn",
        script: Cyrillic,
        words: &[
            "болон",
            "нь",
            "юм",
            "байна",
            "энэ",
            "тэр",
            "бөгөөд",
            "гэж",
            "гэсэн",
            "байгаа",
            "бол",
            "хүн",
            "их",
            "байсан",
            "ба",
            "л",
            "нэг",
            "бүх",
            "эрх",
        ],
        letters: &['ө', 'ү'],
        foreign: &['ң', 'ә', 'ғ', 'қ', 'ұ', 'һ', 'җ', 'ҙ', 'ҫ', 'ҡ', 'ӣ', 'ӯ', 'ҳ', 'ҷ', 'ў', 'і'],
    },
    Marked {
        code: "ky",
        script: Cyrillic,
        words: &[
            "жана",
            "менен",
            "үчүн",
            "деп",
            "бул",
            "да",
            "болгон",
            "эмне",
            "бир",
            "ал",
            "алар",
            "дагы",
            "эле",
            "же",
            "бирок",
            "болуп",
            "келген",
            "керек",
        ],
        letters: &['ң', 'ө', 'ү'],
        foreign: &['ә', 'ғ', 'қ', 'ұ', 'һ', 'җ', 'ҙ', 'ҫ', 'ҡ', 'ӣ', 'ӯ', 'ҳ', 'ҷ', 'ў', 'і'],
    },
    Marked {
        code: "kk",
        script: Cyrillic,
        words: &["және", "мен", "бұл", "үшін", "деп", "бар", "оның", "олар"],
        letters: &['ә', 'ғ', 'қ', 'ұ', 'һ', 'ң', 'ө', 'ү'],
        foreign: &['җ', 'ҙ', 'ҫ', 'ҡ', 'ӣ', 'ӯ', 'ҷ', 'ў'],
    },
    Marked {
        code: "tt",
        script: Cyrillic,
        words: &["һәм", "белән", "өчен", "бу", "дә"],
        letters: &['ә', 'ө', 'ү', 'җ', 'ң', 'һ'],
        foreign: &['ғ', 'қ', 'ұ', 'ҙ', 'ҫ', 'ҡ', 'ӣ', 'ӯ', 'ҳ', 'ҷ', 'ў', 'і'],
    },
    Marked {
        code: "ba",
        script: Cyrillic,
        words: &["һәм", "менән", "өсөн", "был"],
        letters: &['ә', 'ө', 'ү', 'ҙ', 'ҫ', 'ҡ', 'ғ', 'ң', 'һ'],
        foreign: &['җ', 'ұ', 'қ', 'ӣ', 'ӯ', 'ҳ', 'ҷ', 'ў', 'і'],
    },
    Marked {
        code: "tg",
        script: Cyrillic,
        words: &["ва", "дар", "ки", "бо", "барои"],
        letters: &['ӣ', 'ӯ', 'ҳ', 'ҷ', 'ғ', 'қ'],
        foreign: &['ә', 'ң', 'ө', 'ү', 'ұ', 'һ', 'җ', 'ҙ', 'ҫ', 'ҡ', 'ў', 'і', 'ы', 'щ', 'ь', 'ц'],
    },
    Marked {
        code: "uz",
        script: Cyrillic,
        words: &["ва", "билан", "учун", "бу", "ҳам"],
        letters: &['ҳ', 'қ', 'ғ'],
        foreign: &['ә', 'ң', 'ө', 'ү', 'ұ', 'һ', 'җ', 'ҙ', 'ҫ', 'ҡ', 'ӣ', 'ӯ', 'ҷ', 'і', 'ї', 'є', 'ы', 'щ', 'ь'],
    },
    Marked {
        code: "ne",
        script: Devanagari,
        words: &[
            "छ",
            "छन्",
            "र",
            "मा",
            "भएको",
            "गरेको",
            "हुन्छ",
            "छैन",
            "थियो",
            "पनि",
            "यो",
            "त्यो",
            "गर्न",
            "हुने",
            "गरी",
            "भने",
            "गर्ने",
            "हुन",
            "भन्ने",
            "उनी",
            "उनको",
            "हामी",
            "तपाईं",
            "सक्छ",
            "गरेका",
            "रहेको",
        ],
        letters: &[],
        foreign: &[],
    },
    Marked {
        code: "ps",
        script: Arabic,
        words: &["د", "په", "چې", "دا", "یې", "ته", "سره", "کې"],
        letters: &['ټ', 'ډ', 'ړ', 'ږ', 'ښ', 'ګ', 'ڼ', 'ۍ', 'ې', 'ځ', 'څ'],
        foreign: &[],
    },
    Marked {
        code: "ku",
        script: Arabic,
        words: &["لە", "بە", "کە", "ئەم", "ئەو", "بۆ"],
        letters: &['ڕ', 'ڵ', 'ۆ', 'ێ', 'ە', 'ڤ'],
        foreign: &[],
    },
    Marked {
        code: "ug",
        script: Arabic,
        words: &["ۋە", "بىلەن", "ئۈچۈن", "بۇ"],
        letters: &['ۈ', 'ۇ', 'ۋ', 'ې', 'ە', 'ۆ'],
        foreign: &[],
    },
    Marked {
        code: "sd",
        script: Arabic,
        words: &["۽", "جي", "جو", "کي", "۾", "تي"],
        letters: &['ٻ', 'ڄ', 'ڃ', 'ڇ', 'ڏ', 'ڊ', 'ڌ', 'ڍ', 'ڙ', 'ڦ', 'ڪ', 'ڱ', 'ڳ'],
        foreign: &[],
    },
];

/// A marked language needs marker words of at least two kinds, at least
/// this many of them and this share of the sample's words, more than any
/// other language of its script.
const MIN_MARKED_WORDS: isize = 2;
const MIN_MARKED_SHARE: f64 = 0.12;

/// Galician writes the articles and contractions of Portuguese (`os`, `ao`,
/// `do`, `á`) with the prepositions and articles of Spanish (`un`, `con`,
/// `en`): neither neighbour writes both, so together they mark Galician.
const GALICIAN_LIKE_PORTUGUESE: &[&str] = &["os", "ao", "aos", "do", "á", "ás", "na", "nas"];
const GALICIAN_LIKE_SPANISH: &[&str] = &["un", "con", "en", "quen"];

/// The evidence for one marked language.
#[derive(Default)]
struct Tally {
    hits: isize,
    /// The first marker word, and whether another one followed it.
    first: Option<String>,
    two_kinds: bool,
}

/// Bit `i` stands for `MARKED[i]`.
type Languages = u32;

/// Which marked languages each marker word marks, and each letter marks or
/// is foreign to; built once.
struct Index {
    words: FxHashMap<&'static str, Languages>,
    letters: FxHashMap<char, (Languages, Languages)>,
}

fn index() -> &'static Index {
    const _: () = assert!(MARKED.len() <= Languages::BITS as usize, "a bit per marked language");
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index = Index { words: FxHashMap::default(), letters: FxHashMap::default() };
        for (i, marked) in MARKED.iter().enumerate() {
            let bit = 1 << i;
            for word in marked.words {
                *index.words.entry(word).or_default() |= bit;
            }
            for c in marked.letters {
                assert!(!c.is_ascii(), "marker letters are looked up in words outside ASCII only");
                index.letters.entry(*c).or_default().0 |= bit;
            }
            for c in marked.foreign {
                index.letters.entry(*c).or_default().1 |= bit;
            }
        }
        index
    })
}

/// Builds the marker tables, so a fork server shares them.
pub(super) fn warm_up() {
    index();
}

/// The marked language of `sample`, written in `script`, with the share of
/// its words it marks; `None` when no marked language has enough.
pub(super) fn marked_language(sample: &str, script: whatlang::Script) -> Option<(&'static str, f64)> {
    let of_script: Languages = MARKED.iter().enumerate().filter(|(_, m)| m.script == script).map(|(i, _)| 1 << i).sum();
    if of_script == 0 {
        return None;
    }
    let index = index();
    let galician = MARKED.iter().position(|m| m.code == "gl").map_or(0, |i| 1 << i) & of_script;
    let mut tallies: Vec<Tally> = MARKED.iter().map(|_| Tally::default()).collect();
    let (mut like_portuguese, mut like_spanish) = (0isize, 0isize);
    let mut words = 0usize;
    let mut lower = String::new();
    for_each_lexical_piece(sample, |piece, is_word| {
        if !is_word || words >= EVIDENCE_WORDS {
            return;
        }
        words += 1;
        lower.clear();
        lower.extend(piece.chars().flat_map(char::to_lowercase));
        let mut marks = index.words.get(lower.as_str()).copied().unwrap_or(0);
        let mut foreign = 0;
        // Every marker letter is outside ASCII.
        if !lower.is_ascii() {
            for c in lower.chars() {
                if let Some((marked, unwritten)) = index.letters.get(&c) {
                    marks |= marked;
                    foreign |= unwritten;
                }
            }
        }
        let (marks, foreign) = (marks & of_script & !foreign, foreign & of_script);
        if galician != 0 && marks & galician == 0 {
            like_portuguese += isize::from(GALICIAN_LIKE_PORTUGUESE.contains(&lower.as_str()));
            like_spanish += isize::from(GALICIAN_LIKE_SPANISH.contains(&lower.as_str()));
        }
        if marks | foreign == 0 {
            return;
        }
        for (i, tally) in tallies.iter_mut().enumerate() {
            let bit = 1 << i;
            if foreign & bit != 0 {
                tally.hits -= 1;
            } else if marks & bit != 0 {
                tally.hits += 1;
                match &tally.first {
                    None => tally.first = Some(lower.clone()),
                    Some(first) => tally.two_kinds |= *first != lower,
                }
            }
        }
    });
    if galician != 0 && like_portuguese > 0 && like_spanish > 0 {
        let tally = &mut tallies[galician.trailing_zeros() as usize];
        tally.hits += like_portuguese + like_spanish;
        tally.two_kinds = true;
    }
    // The first of the most, among the script's: a tie goes to the language
    // listed first.
    let best =
        (0..MARKED.len()).filter(|i| of_script & (1 << i) != 0).fold(None, |best: Option<usize>, i| match best {
            Some(b) if tallies[b].hits >= tallies[i].hits => Some(b),
            _ => Some(i),
        })?;
    let tally = &tallies[best];
    let share = tally.hits as f64 / words.max(1) as f64;
    (tally.two_kinds && tally.hits >= MIN_MARKED_WORDS && share >= MIN_MARKED_SHARE).then(|| (MARKED[best].code, share))
}

/// Scripts that write one language whatlang does not know, by Unicode block.
const ONE_LANGUAGE_SCRIPTS: &[(char, char, &str)] = &[
    ('\u{0E80}', '\u{0EFF}', "lo"),
    ('\u{0F00}', '\u{0FFF}', "bo"),
    ('\u{0780}', '\u{07BF}', "dv"),
    ('\u{1800}', '\u{18AF}', "mn"),
];

/// The language of `sample` when most of its letters are in a script of one
/// language whatlang does not know, with their share of the letters.
pub(super) fn one_language_script(sample: &str) -> Option<(&'static str, f64)> {
    if sample.is_ascii() {
        return None;
    }
    let mut counts = [0usize; ONE_LANGUAGE_SCRIPTS.len()];
    let mut letters = 0usize;
    for c in sample.chars().filter(|c| c.is_alphabetic() || is_mark(*c)).take(EVIDENCE_WORDS * 4) {
        letters += 1;
        if let Some(i) = ONE_LANGUAGE_SCRIPTS.iter().position(|(from, to, _)| (*from..=*to).contains(&c)) {
            counts[i] += 1;
        }
    }
    let (best, n) = counts.iter().enumerate().max_by_key(|(_, n)| **n)?;
    (*n * 2 > letters).then(|| (ONE_LANGUAGE_SCRIPTS[best].2, *n as f64 / letters as f64))
}

/// Vowel signs and other combining marks of the scripts above: Lao and
/// Tibetan write vowels as marks, which `char::is_alphabetic` counts only in
/// part.
fn is_mark(c: char) -> bool {
    ONE_LANGUAGE_SCRIPTS.iter().any(|(from, to, _)| (*from..=*to).contains(&c)) && !c.is_whitespace()
}
