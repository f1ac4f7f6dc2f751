//! English recognised by its stop words alone, before the trigram detector.
//!
//! whatlang scores a Latin-script text against the trigram profiles of
//! every Latin-script language it knows, a few hundred thousand steps for a
//! page however plain the text. English prose is half stop words ("the",
//! "of", "and", "is"), most of which no other language writes, so when an
//! ASCII sample is thick with English stop words and thin in every other
//! list's, it is English, as whatlang would say too, and one hash lookup a
//! word tells so. Anything less plain goes to whatlang.

use super::keywords::{stop_word_lists, STOPWORD_LANGUAGES};
use super::words::for_each_word;

/// At least this many words: fewer leave too little to count.
const MIN_WORDS: u32 = 64;
/// English stop words are at least this share of the words ...
const MIN_ENGLISH_SHARE: f64 = 0.35;
/// ... and at least this many times the stop words of any other list.
const MIN_LEAD: u32 = 3;
/// Words longer than this are no stop word of any list.
const MAX_STOP_WORD_BYTES: usize = 24;

fn english_bit() -> usize {
    STOPWORD_LANGUAGES.iter().position(|code| *code == "en").expect("English has a stop list")
}

/// Builds the table once, so a fork server shares it.
pub(super) fn warm_up() {
    stop_word_lists();
}

/// Words in `sample` and the stop words of each list among them.
pub(super) fn stop_word_counts(sample: &str) -> (u32, [u32; 64]) {
    let table = stop_word_lists();
    let mut hits = [0u32; 64];
    let mut words = 0u32;
    let mut lower = [0u8; MAX_STOP_WORD_BYTES];
    for_each_word(sample, |word| {
        words += 1;
        let bytes = word.as_bytes();
        if bytes.len() > MAX_STOP_WORD_BYTES || !word.is_ascii() {
            return;
        }
        let lower = &mut lower[..bytes.len()];
        for (to, from) in lower.iter_mut().zip(bytes) {
            *to = from.to_ascii_lowercase();
        }
        let lower = std::str::from_utf8(lower).expect("ASCII lowercased is ASCII");
        if let Some(&lists) = table.get(lower) {
            let mut lists = lists;
            while lists != 0 {
                hits[lists.trailing_zeros() as usize] += 1;
                lists &= lists - 1;
            }
        }
    });
    (words, hits)
}

/// Whether the ASCII `sample` is English beyond doubt by its stop words.
pub(super) fn is_plain_english(sample: &str) -> bool {
    debug_assert!(sample.is_ascii());
    let (words, hits) = stop_word_counts(sample);
    let en = english_bit();
    let rival = hits.iter().enumerate().filter(|(i, _)| *i != en).map(|(_, n)| *n).max().unwrap_or(0);
    words >= MIN_WORDS && f64::from(hits[en]) >= MIN_ENGLISH_SHARE * f64::from(words) && hits[en] >= MIN_LEAD * rival
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENGLISH: &[&str] = &[
        "The committee met on Tuesday to review the proposals that had been submitted over the summer. \
         Most of the members agreed that the budget was too small for what the town wanted to do, and \
         several of them asked whether the work could be spread over two years instead of one. The chair \
         said that she would write to the council before the next meeting and report what it thought of \
         the idea. In the meantime, each of the groups that had made a proposal was asked to send in a \
         shorter version of its plan, with the costs set out line by line, so that they could be compared.",
        "When you install the package, it creates a configuration file in your home directory. You can \
         edit this file by hand, but it is usually easier to run the setup command again and answer the \
         questions it asks. If something goes wrong, the log file will tell you which step failed and why. \
         Most problems are caused by a missing dependency or by a network proxy that the installer does \
         not know about, and both of them can be fixed without starting over from the beginning.",
        "It was late in the evening when the train finally pulled into the station. There was no one on \
         the platform except an old man with a lantern, who looked at the passengers as if he had been \
         waiting for them all his life. We picked up our bags and followed him out into the street, where \
         the rain had turned the road into a river of mud, and for a long time none of us said a word.",
    ];

    const OTHERS: &[&str] = &[
        // French, German, Spanish, Dutch, Italian, Indonesian.
        "Le comité s'est réuni mardi pour examiner les propositions qui avaient été présentées pendant \
         l'été. La plupart des membres ont convenu que le budget était trop petit pour ce que la ville \
         voulait faire, et plusieurs d'entre eux ont demandé si le travail pouvait être réparti sur deux \
         ans au lieu d'un. La présidente a dit qu'elle écrirait au conseil avant la prochaine réunion.",
        "Der Ausschuss trat am Dienstag zusammen, um die Vorschläge zu prüfen, die im Laufe des Sommers \
         eingereicht worden waren. Die meisten Mitglieder waren sich einig, dass das Budget für das, was \
         die Stadt tun wollte, zu klein war, und mehrere von ihnen fragten, ob die Arbeit nicht auf zwei \
         Jahre statt auf eines verteilt werden könnte. Die Vorsitzende sagte, sie werde dem Rat schreiben.",
        "El comite se reunio el martes para revisar las propuestas que se habian presentado durante el \
         verano. La mayoria de los miembros estuvo de acuerdo en que el presupuesto era demasiado pequeno \
         para lo que la ciudad queria hacer, y varios de ellos preguntaron si el trabajo se podia repartir \
         en dos anos en lugar de uno. La presidenta dijo que escribiria al consejo antes de la reunion.",
        "De commissie kwam dinsdag bijeen om de voorstellen te bekijken die in de loop van de zomer waren \
         ingediend. De meeste leden waren het erover eens dat het budget te klein was voor wat de stad \
         wilde doen, en een aantal van hen vroeg of het werk niet over twee jaar in plaats van een kon \
         worden verdeeld. De voorzitter zei dat ze voor de volgende vergadering aan de raad zou schrijven.",
        "Il comitato si e riunito martedi per esaminare le proposte che erano state presentate durante \
         l'estate. La maggior parte dei membri era d'accordo sul fatto che il bilancio fosse troppo piccolo \
         per quello che la citta voleva fare, e molti di loro hanno chiesto se il lavoro potesse essere \
         distribuito su due anni invece di uno. La presidente ha detto che avrebbe scritto al consiglio.",
        "Panitia bertemu pada hari Selasa untuk meninjau usulan yang telah diajukan selama musim panas. \
         Sebagian besar anggota setuju bahwa anggaran itu terlalu kecil untuk apa yang ingin dilakukan \
         kota, dan beberapa dari mereka bertanya apakah pekerjaan itu dapat dibagi selama dua tahun, \
         bukan satu tahun. Ketua mengatakan bahwa dia akan menulis kepada dewan sebelum rapat berikutnya.",
    ];

    #[test]
    fn english_prose_is_told_by_its_stop_words_as_whatlang_tells_it() {
        for text in ENGLISH {
            assert!(is_plain_english(text), "{text}");
            let info = whatlang::detect(text).expect("whatlang names a language");
            assert_eq!((info.lang(), info.confidence()), (whatlang::Lang::Eng, 1.0), "{text}");
        }
    }

    #[test]
    fn other_languages_and_mixtures_are_left_to_whatlang() {
        for text in OTHERS {
            let ascii: String = text.chars().filter(char::is_ascii).collect();
            assert!(!is_plain_english(&ascii), "{ascii}");
        }
        // Half English, half Spanish: English's lead over Spanish is too
        // small to decide without the trigrams.
        let mixed = format!("{} {} {}", ENGLISH[0], OTHERS[2], OTHERS[2]);
        assert!(!is_plain_english(&mixed));
    }

    #[test]
    fn a_few_english_words_are_too_few() {
        assert!(!is_plain_english("The cat sat on the mat and it was the best of all of the days."));
        assert!(!is_plain_english(""));
    }

    #[test]
    fn stop_words_are_counted_whatever_their_case() {
        let (words, lower) = stop_word_counts(ENGLISH[1]);
        let (_, upper) = stop_word_counts(&ENGLISH[1].to_uppercase());
        assert!(words > 64);
        assert_eq!(lower, upper);
        assert!(lower[english_bit()] > words / 3);
    }
}
