//! The synthetic English prose the engine bench and the `prose_fixed`
//! example both analyse, so their figures are of the same text.

/// About `bytes` bytes of English sentences in a fixed, shuffled order, a
/// line break every seventh sentence.
pub fn prose(bytes: usize) -> Vec<u8> {
    let sentences = [
        "The committee reviewed the quarterly figures and approved the budget for next year.",
        "Several members asked whether the new warehouse would be finished before the winter.",
        "Engineers reported that the bridge inspection found no structural problems at all.",
        "A local bakery donated bread to the shelter, and volunteers delivered it on Sunday.",
        "Researchers published a study on river pollution that drew attention across the region.",
    ];
    let mut text = String::with_capacity(bytes + 128);
    let mut i = 0usize;
    while text.len() < bytes {
        text.push_str(sentences[i % sentences.len()]);
        text.push(if i % 7 == 6 { '\n' } else { ' ' });
        i = i.wrapping_mul(31).wrapping_add(17) % 1000;
    }
    text.into_bytes()
}
