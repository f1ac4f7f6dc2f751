//! A second opinion on chardetng's guess for single-byte text. chardetng
//! knows the WHATWG encodings of the web; text files also come from DOS
//! (code pages 437, 850, 852) and classic Mac OS (Mac Roman, Mac Central
//! European, Mac Cyrillic), and Hungarian with its ő and ű is told from
//! windows-1252 (which has õ and û in their places) by its letters alone.
//! Each candidate decodes a sample, and the reading whose non-ASCII
//! characters look most like letters of words wins.

use std::borrow::Cow;

use encoding_rs::Encoding;

/// Bytes of the document scored for each candidate.
const SCORE_SAMPLE_BYTES: usize = 64 << 10;

/// A single-byte code page, by the characters of its upper half.
pub struct CodePage {
    pub name: &'static str,
    high: &'static [char; 128],
}

impl CodePage {
    pub fn decode(&self, bytes: &[u8]) -> String {
        let mut text = String::with_capacity(bytes.len() + bytes.len() / 2);
        for &b in bytes {
            text.push(if b < 0x80 { char::from(b) } else { self.high[usize::from(b - 0x80)] });
        }
        text
    }
}

/// An encoding to decode a document with.
#[derive(Clone, Copy)]
pub enum Reading {
    Whatwg(&'static Encoding),
    Table(&'static CodePage),
}

impl Reading {
    pub fn name(self) -> &'static str {
        match self {
            Reading::Whatwg(encoding) => encoding.name(),
            Reading::Table(page) => page.name,
        }
    }

    /// The text and whether malformed sequences were replaced.
    pub fn decode(self, bytes: &[u8]) -> (Cow<'_, str>, bool) {
        match self {
            Reading::Whatwg(encoding) => encoding.decode_without_bom_handling(bytes),
            Reading::Table(page) => (Cow::Owned(page.decode(bytes)), false),
        }
    }
}

pub static IBM437: CodePage = CodePage { name: "IBM437", high: &IBM437_HIGH };
pub static IBM850: CodePage = CodePage { name: "IBM850", high: &IBM850_HIGH };
pub static IBM852: CodePage = CodePage { name: "IBM852", high: &IBM852_HIGH };
pub static X_MAC_CE: CodePage = CodePage { name: "x-mac-ce", high: &X_MAC_CE_HIGH };

/// The code page a declared charset names, for the labels WHATWG does not
/// know (its `ibm866`, `macintosh` and `x-mac-cyrillic` are encoding_rs's).
pub fn table_for_label(label: &str) -> Option<&'static CodePage> {
    match label.trim().to_ascii_lowercase().as_str() {
        "ibm437" | "ibm-437" | "cp437" | "437" | "cspc8codepage437" => Some(&IBM437),
        "ibm850" | "ibm-850" | "cp850" | "850" | "cspc850multilingual" => Some(&IBM850),
        "ibm852" | "ibm-852" | "cp852" | "852" | "cspcp852" => Some(&IBM852),
        "x-mac-ce" | "x-mac-centraleurroman" | "maccentraleurope" | "mac-centraleurope" | "maccentraleuropean" => {
            Some(&X_MAC_CE)
        }
        _ => None,
    }
}

/// The readings tried against chardetng's, in the order that wins a tie.
fn candidates() -> [Reading; 11] {
    [
        Reading::Whatwg(encoding_rs::WINDOWS_1252),
        Reading::Whatwg(encoding_rs::WINDOWS_1250),
        Reading::Whatwg(encoding_rs::ISO_8859_2),
        Reading::Whatwg(encoding_rs::WINDOWS_1251),
        Reading::Whatwg(encoding_rs::IBM866),
        Reading::Table(&IBM850),
        Reading::Table(&IBM437),
        Reading::Table(&IBM852),
        Reading::Whatwg(encoding_rs::MACINTOSH),
        Reading::Table(&X_MAC_CE),
        Reading::Whatwg(encoding_rs::X_MAC_CYRILLIC),
    ]
}

/// The reading to decode `bytes` with, given chardetng's `guess`: the guess
/// itself unless another single-byte reading scores better on a sample.
/// Multi-byte guesses (CJK) are kept.
pub fn second_guess(bytes: &[u8], guess: &'static Encoding) -> Reading {
    let guessed = Reading::Whatwg(guess);
    if !guess.is_single_byte() {
        return guessed;
    }
    let mut sample = &bytes[..bytes.len().min(SCORE_SAMPLE_BYTES)];
    // Not a character cut in two, but a sample ending mid-word is scored
    // as a word's end: drop the last partial word.
    if sample.len() < bytes.len() {
        if let Some(space) = sample.iter().rposition(|b| b.is_ascii_whitespace()) {
            sample = &sample[..space];
        }
    }
    let guessed_score = score(&guessed.decode(sample).0);
    if guessed_score.bad == 0 && guessed_score.foreign_letters == 0 && !hungarian_in_western(guess, sample) {
        return guessed;
    }
    let mut best = (guessed, guessed_score);
    for candidate in candidates() {
        if candidate.name() == guess.name() {
            continue;
        }
        let candidate_score = score(&candidate.decode(sample).0);
        if candidate_score.rank() > best.1.rank() {
            best = (candidate, candidate_score);
        }
    }
    if best.0.name() == guess.name() && hungarian_in_western(guess, sample) {
        return Reading::Whatwg(encoding_rs::WINDOWS_1250);
    }
    best.0
}

/// How much a decoded sample looks like text: non-ASCII letters inside
/// words whose case and script agree with their neighbours count for it;
/// control characters, letters whose case or script breaks the word's, and
/// symbols inside words count against it. Between readings that score the
/// same, the one whose accented Latin letters one language's alphabet holds
/// best wins (Hungarian's ő, not a French ï among ö and á).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Score {
    good: usize,
    bad: usize,
    /// Accented Latin letters outside the alphabet that holds most of them.
    foreign_letters: usize,
}

impl Score {
    fn total(self) -> isize {
        self.good as isize - 2 * self.bad as isize
    }

    fn rank(self) -> (isize, std::cmp::Reverse<usize>) {
        (self.total(), std::cmp::Reverse(self.foreign_letters))
    }
}

/// The accented letters (lower case) of languages written in Latin script
/// with single-byte code pages.
const ALPHABETS: &[&str] = &[
    "àâæçéèêëîïôœùûüÿ",       // French
    "äöüß",                   // German
    "áéíñóúü",                // Spanish
    "áâãàçéêíóôõú",           // Portuguese
    "àèéìíîòóùú",             // Italian
    "àçèéíïòóúü",             // Catalan
    "éèëïöüê",                // Dutch
    "æøåé",                   // Danish, Norwegian
    "åäöé",                   // Swedish
    "äöåšž",                  // Finnish
    "áðéíóúýþæö",             // Icelandic
    "æøáðíóúý",               // Faroese
    "ąćęłńóśźż",              // Polish
    "áčďéěíňóřšťúůýž",        // Czech
    "áäčďéíĺľňóôŕšťúýž",      // Slovak
    "čšžćđ",                  // Slovenian, Croatian, Bosnian
    "áéíóöőúüű",              // Hungarian
    "ăâîșțşţ",                // Romanian
    "çğıöşüâîû",              // Turkish
    "äöõüšž",                 // Estonian
    "āčēģīķļņšūž",            // Latvian
    "ąčęėįšųūž",              // Lithuanian
    "çë",                     // Albanian
    "áéíóú",                  // Irish
    "âêîôûŵŷáàëï",            // Welsh
    "ċġħżàèìòù",              // Maltese
    "äéë",                    // Luxembourgish
    "êëéèîïôûŉ",              // Afrikaans
    "àáâãèéêìíòóôõùúýăđĩũơư", // Vietnamese (tone marks combining)
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
    Hebrew,
    Arabic,
    Thai,
    Other,
}

fn script(c: char) -> Script {
    match c {
        'a'..='z' | 'A'..='Z' | '\u{C0}'..='\u{24F}' | '\u{1E00}'..='\u{1EFF}' => Script::Latin,
        '\u{370}'..='\u{3FF}' => Script::Greek,
        '\u{400}'..='\u{52F}' => Script::Cyrillic,
        '\u{590}'..='\u{5FF}' => Script::Hebrew,
        '\u{600}'..='\u{6FF}' | '\u{750}'..='\u{77F}' => Script::Arabic,
        '\u{E00}'..='\u{E7F}' => Script::Thai,
        _ => Script::Other,
    }
}

/// A letter for the purpose of scoring: the ordinal indicators ª and º and
/// the micro sign are letters to Unicode but not inside words.
fn is_letter(c: char) -> bool {
    c.is_alphabetic() && !matches!(c, 'ª' | 'º' | 'µ')
}

/// Characters that sit between two letters in real words: apostrophes,
/// the Catalan middle dot, hyphens and the soft hyphen.
fn joins_words(c: char) -> bool {
    matches!(c, '’' | '·' | '\u{2010}' | '\u{2011}' | '\u{AD}')
}

fn score(text: &str) -> Score {
    let mut score = Score::default();
    let (mut south_slavic, mut je) = (0, false);
    let mut accented: Vec<(char, usize)> = Vec::new();
    let mut chars = text.chars();
    let (mut prev, mut cur) = (None, chars.next());
    while let Some(c) = cur {
        let next = chars.next();
        if !c.is_ascii() {
            judge(prev, c, next, &mut score);
            south_slavic += usize::from(is_south_slavic(c));
            je |= matches!(c, 'ј' | 'Ј');
            if script(c) == Script::Latin && is_letter(c) {
                let lower = c.to_lowercase().next().unwrap_or(c);
                match accented.iter_mut().find(|(letter, _)| *letter == lower) {
                    Some((_, count)) => *count += 1,
                    None => accented.push((lower, 1)),
                }
            }
        }
        (prev, cur) = (Some(c), next);
    }
    // Serbian and Macedonian write ј in nearly every sentence; their other
    // letters without it are Russian capitals read in the wrong Cyrillic
    // code page (Mac Cyrillic's А-Я are windows-1251's Ђ-џ).
    if !je {
        score.bad += south_slavic;
    }
    let letters: usize = accented.iter().map(|(_, count)| count).sum();
    let held = |alphabet: &str| -> usize {
        accented.iter().filter(|(letter, _)| alphabet.contains(*letter)).map(|(_, count)| count).sum()
    };
    score.foreign_letters = letters - ALPHABETS.iter().map(|alphabet| held(alphabet)).max().unwrap_or(0);
    score
}

/// The Cyrillic letters of Serbian and Macedonian that Russian, Ukrainian
/// and Belarusian lack, but for ј and ѕ.
fn is_south_slavic(c: char) -> bool {
    matches!(c, 'Ђ' | 'Ѓ' | 'Љ' | 'Њ' | 'Ћ' | 'Ќ' | 'Џ' | 'ђ' | 'ѓ' | 'љ' | 'њ' | 'ћ' | 'ќ' | 'џ')
}

fn judge(prev: Option<char>, c: char, next: Option<char>, score: &mut Score) {
    let letter_before = prev.filter(|p| is_letter(*p));
    let letter_after = next.filter(|n| is_letter(*n));
    if c.is_control() || c == '\u{FFFD}' {
        score.bad += 1;
    } else if is_letter(c) {
        let foreign = [letter_before, letter_after].into_iter().flatten().any(|n| script(n) != script(c));
        let upper_after_lower = c.is_uppercase() && letter_before.is_some_and(char::is_lowercase);
        let lower_among_upper = c.is_lowercase()
            && letter_before.is_some_and(char::is_uppercase)
            && letter_after.is_some_and(char::is_uppercase);
        if foreign || upper_after_lower || lower_among_upper {
            score.bad += 1;
        } else if letter_before.is_some() && letter_after.is_some() {
            score.good += 1;
        }
    } else if (letter_before.is_some() && letter_after.is_some() && !joins_words(c))
        || (('\u{2500}'..='\u{25FF}').contains(&c) && (letter_before.is_some() || letter_after.is_some()))
    {
        score.bad += 1;
    }
}

/// Hungarian read as windows-1252: ő and ű come out as õ and û, letters in
/// their place, so nothing looks out of order. Western European text with õ
/// or û has letters Hungarian lacks (ã, ç, è, ê, ä...); Hungarian has ö or
/// ü beside them, and all its other accented letters are the same bytes in
/// both encodings.
fn hungarian_in_western(guess: &'static Encoding, sample: &[u8]) -> bool {
    if guess != encoding_rs::WINDOWS_1252 {
        return false;
    }
    let (mut double_acute, mut umlaut) = (false, false);
    for &b in sample.iter().filter(|b| !b.is_ascii()) {
        match b {
            // õ û Õ Û in windows-1252: ő ű Ő Ű in windows-1250.
            0xF5 | 0xFB | 0xD5 | 0xDB => double_acute = true,
            // ö ü Ö Ü
            0xF6 | 0xFC | 0xD6 | 0xDC => umlaut = true,
            // á é í ó ú Á É Í Ó Ú
            0xE1 | 0xE9 | 0xED | 0xF3 | 0xFA | 0xC1 | 0xC9 | 0xCD | 0xD3 | 0xDA => {}
            // Typographic quotes and dashes, the same in both.
            0x84 | 0x93 | 0x94 | 0x96 | 0x97 | 0x91 | 0x92 | 0x85 => {}
            _ => return false,
        }
    }
    double_acute && umlaut
}
const IBM437_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', 'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û',
    'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', 'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡',
    '«', '»', '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', '└', '┴', '┬', '├', '─',
    '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█',
    '▄', '▌', '▐', '▀', 'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩', '≡', '±', '≥',
    '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{A0}',
];
const IBM850_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', 'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û',
    'ù', 'ÿ', 'Ö', 'Ü', 'ø', '£', 'Ø', '×', 'ƒ', 'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '®', '¬', '½', '¼', '¡',
    '«', '»', '░', '▒', '▓', '│', '┤', 'Á', 'Â', 'À', '©', '╣', '║', '╗', '╝', '¢', '¥', '┐', '└', '┴', '┬', '├', '─',
    '┼', 'ã', 'Ã', '╚', '╔', '╩', '╦', '╠', '═', '╬', '¤', 'ð', 'Ð', 'Ê', 'Ë', 'È', 'ı', 'Í', 'Î', 'Ï', '┘', '┌', '█',
    '▄', '¦', 'Ì', '▀', 'Ó', 'ß', 'Ô', 'Ò', 'õ', 'Õ', 'µ', 'þ', 'Þ', 'Ú', 'Û', 'Ù', 'ý', 'Ý', '¯', '´', '\u{AD}', '±',
    '‗', '¾', '¶', '§', '÷', '¸', '°', '¨', '·', '¹', '³', '²', '■', '\u{A0}',
];
const IBM852_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'ů', 'ć', 'ç', 'ł', 'ë', 'Ő', 'ő', 'î', 'Ź', 'Ä', 'Ć', 'É', 'Ĺ', 'ĺ', 'ô', 'ö', 'Ľ', 'ľ',
    'Ś', 'ś', 'Ö', 'Ü', 'Ť', 'ť', 'Ł', '×', 'č', 'á', 'í', 'ó', 'ú', 'Ą', 'ą', 'Ž', 'ž', 'Ę', 'ę', '¬', 'ź', 'Č', 'ş',
    '«', '»', '░', '▒', '▓', '│', '┤', 'Á', 'Â', 'Ě', 'Ş', '╣', '║', '╗', '╝', 'Ż', 'ż', '┐', '└', '┴', '┬', '├', '─',
    '┼', 'Ă', 'ă', '╚', '╔', '╩', '╦', '╠', '═', '╬', '¤', 'đ', 'Đ', 'Ď', 'Ë', 'ď', 'Ň', 'Í', 'Î', 'ě', '┘', '┌', '█',
    '▄', 'Ţ', 'Ů', '▀', 'Ó', 'ß', 'Ô', 'Ń', 'ń', 'ň', 'Š', 'š', 'Ŕ', 'Ú', 'ŕ', 'Ű', 'ý', 'Ý', 'ţ', '´', '\u{AD}', '˝',
    '˛', 'ˇ', '˘', '§', '÷', '¸', '°', '¨', '˙', 'ű', 'Ř', 'ř', '■', '\u{A0}',
];
const X_MAC_CE_HIGH: [char; 128] = [
    'Ä', 'Ā', 'ā', 'É', 'Ą', 'Ö', 'Ü', 'á', 'ą', 'Č', 'ä', 'č', 'Ć', 'ć', 'é', 'Ź', 'ź', 'Ď', 'í', 'ď', 'Ē', 'ē', 'Ė',
    'ó', 'ė', 'ô', 'ö', 'õ', 'ú', 'Ě', 'ě', 'ü', '†', '°', 'Ę', '£', '§', '•', '¶', 'ß', '®', '©', '™', 'ę', '¨', '≠',
    'ģ', 'Į', 'į', 'Ī', '≤', '≥', 'ī', 'Ķ', '∂', '∑', 'ł', 'Ļ', 'ļ', 'Ľ', 'ľ', 'Ĺ', 'ĺ', 'Ņ', 'ņ', 'Ń', '¬', '√', 'ń',
    'Ň', '∆', '«', '»', '…', '\u{A0}', 'ň', 'Ő', 'Õ', 'ő', 'Ō', '–', '—', '“', '”', '‘', '’', '÷', '◊', 'ō', 'Ŕ', 'ŕ',
    'Ř', '‹', '›', 'ř', 'Ŗ', 'ŗ', 'Š', '‚', '„', 'š', 'Ś', 'ś', 'Á', 'Ť', 'ť', 'Í', 'Ž', 'ž', 'Ū', 'Ó', 'Ô', 'ū', 'Ů',
    'Ú', 'ů', 'Ű', 'ű', 'Ų', 'ų', 'Ý', 'ý', 'ķ', 'Ż', 'Ł', 'ż', 'Ģ', 'ˇ',
];
