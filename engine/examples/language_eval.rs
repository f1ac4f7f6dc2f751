//! Language detection against labelled sentences: `language_eval DIR`
//! reads `DIR/<code>.txt` (ISO 639-1 code, one sentence per line), detects
//! the language of each sentence and of each run of three, and prints, per
//! language, how many were named right, how many got no language, and what
//! the wrong answers were. Languages written two ways that readers treat as
//! one (Bosnian, Croatian and Serbian in Latin letters; Malay and
//! Indonesian; the two written Norwegians) count each other as right. The
//! last line is the mean wall time of the text analysis of a sample.

use std::collections::BTreeMap;

use docmill_engine::analysis::analyze_text;

const CLOSE: [&[&str]; 3] = [&["bs", "hr", "sr"], &["ms", "id"], &["nb", "nn", "no"]];

fn right(expected: &str, got: &str) -> bool {
    expected == got || CLOSE.iter().any(|group| group.contains(&expected) && group.contains(&got))
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: language_eval DIR");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("a readable directory").flatten().map(|e| e.path()).collect();
    files.sort();
    let mut totals: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let mut spent = std::time::Duration::ZERO;
    for path in files {
        if path.extension().is_none_or(|e| e != "txt") {
            continue;
        }
        let code = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let text = std::fs::read_to_string(&path).expect("UTF-8 sentences");
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| l.chars().count() >= 40).collect();
        let singles: Vec<String> = lines.iter().take(20).map(|l| (*l).to_owned()).collect();
        let triples: Vec<String> = lines.chunks_exact(3).take(20).map(|c| c.join(" ")).collect();
        for (kind, samples) in [("one", &singles), ("three", &triples)] {
            let (mut n, mut ok, mut none) = (0, 0, 0);
            let mut wrong: BTreeMap<String, usize> = BTreeMap::new();
            for sample in samples {
                n += 1;
                let started = std::time::Instant::now();
                let language = analyze_text(sample).language;
                spent += started.elapsed();
                match language {
                    None => none += 1,
                    Some(l) if right(&code, &l.code) => ok += 1,
                    Some(l) => *wrong.entry(l.code).or_default() += 1,
                }
            }
            let total = totals.entry(kind).or_default();
            total.0 += n;
            total.1 += ok;
            total.2 += none;
            if ok < n {
                println!("{code:4} {kind:5} {ok:3}/{n:<3} none {none:<3} {wrong:?}");
            }
        }
    }
    let mut samples = 0;
    for (kind, (n, ok, none)) in totals {
        println!("{kind}: {ok}/{n} right, {none} without a language, {} wrong", n - ok - none);
        samples += n;
    }
    println!("{:.1} µs of text analysis a sample", spent.as_secs_f64() * 1e6 / samples.max(1) as f64);
}
