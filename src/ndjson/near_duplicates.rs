//! Near-duplicate groups among the documents of a batch or job, found without
//! comparing every pair: exact copies meet in a hash map by sha256, SimHash
//! fingerprints in LSH bands (two fingerprints at most
//! [`NEAR_DUPLICATE_MAX_DISTANCE`] bits apart agree exactly on at least one
//! band, by pigeonhole), and only fingerprints sharing a band are compared.
//! A union-find joins what matched into groups: the connected components of
//! "same bytes, or SimHash within the distance".

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use docmill_engine::analysis::{hamming, NEAR_DUPLICATE_MAX_DISTANCE};

/// Bands the 64 SimHash bits are cut into: one more than the number of bits
/// two near-duplicates may differ in, so that at least one band holds none
/// of the differing bits and both land in the same bucket of that band.
const BANDS: u32 = NEAR_DUPLICATE_MAX_DISTANCE + 1;

const _: () = assert!(BANDS <= 64, "a band needs at least one bit");

/// What the summary needs from each successful document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryEntry {
    pub index: usize,
    /// `None` only for results recorded before sha256s were stored apart.
    pub sha256: Option<[u8; 32]>,
    pub simhash: Option<u64>,
}

/// Bits `[start, end)` of the 64 that band `band` covers; the bands are as
/// equal as 64 / [`BANDS`] allows.
fn band_bits(band: u32) -> (u32, u32) {
    (band * 64 / BANDS, (band + 1) * 64 / BANDS)
}

fn band_value(simhash: u64, band: u32) -> u64 {
    let (start, end) = band_bits(band);
    let width = end - start;
    (simhash >> start) & (u64::MAX >> (64 - width))
}

/// Disjoint sets over `0..n`, by size with path halving.
struct UnionFind {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> UnionFind {
        UnionFind { parent: (0..n).collect(), size: vec![1; n] }
    }

    fn find(&mut self, mut at: usize) -> usize {
        while self.parent[at] != at {
            self.parent[at] = self.parent[self.parent[at]];
            at = self.parent[at];
        }
        at
    }

    fn union(&mut self, a: usize, b: usize) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a] < self.size[b] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b] = a;
        self.size[a] += self.size[b];
    }
}

/// The groups of two or more documents that are copies or near-duplicates of
/// each other, as document indexes: each group ascending, groups ordered by
/// their first member.
///
/// Memory is linear in the entries. Time is linear plus the comparisons
/// within each band's buckets of distinct fingerprints: identical
/// fingerprints are merged before banding, so ten thousand copies cost one
/// bucket entry, and pairs already grouped are not compared again.
pub fn near_duplicate_groups(entries: &[SummaryEntry]) -> Vec<Vec<usize>> {
    let mut order: Vec<&SummaryEntry> = entries.iter().collect();
    order.sort_by_key(|entry| entry.index);
    let mut sets = UnionFind::new(order.len());

    let mut first_with_sha: HashMap<[u8; 32], usize> = HashMap::with_capacity(order.len());
    let mut first_with_simhash: HashMap<u64, usize> = HashMap::with_capacity(order.len());
    for (position, entry) in order.iter().enumerate() {
        if let Some(sha256) = entry.sha256 {
            match first_with_sha.entry(sha256) {
                Entry::Occupied(first) => sets.union(*first.get(), position),
                Entry::Vacant(slot) => {
                    slot.insert(position);
                }
            }
        }
        if let Some(simhash) = entry.simhash {
            match first_with_simhash.entry(simhash) {
                Entry::Occupied(first) => sets.union(*first.get(), position),
                Entry::Vacant(slot) => {
                    slot.insert(position);
                }
            }
        }
    }
    drop(first_with_sha);

    // One (band value, fingerprint, position) per distinct fingerprint,
    // re-sorted for each band so that a bucket is a run of equal band values.
    let mut keyed: Vec<(u64, u64, usize)> =
        first_with_simhash.into_iter().map(|(simhash, position)| (0, simhash, position)).collect();
    for band in 0..BANDS {
        for key in &mut keyed {
            key.0 = band_value(key.1, band);
        }
        keyed.sort_unstable();
        for bucket in keyed.chunk_by(|a, b| a.0 == b.0) {
            for (at, &(_, simhash, position)) in bucket.iter().enumerate() {
                for &(_, other_simhash, other_position) in &bucket[at + 1..] {
                    if hamming(simhash, other_simhash) <= NEAR_DUPLICATE_MAX_DISTANCE
                        && sets.find(position) != sets.find(other_position)
                    {
                        sets.union(position, other_position);
                    }
                }
            }
        }
    }

    let mut group_of_root: HashMap<usize, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (position, entry) in order.iter().enumerate() {
        let root = sets.find(position);
        if sets.size[root] < 2 {
            continue;
        }
        let group = *group_of_root.entry(root).or_insert_with(|| {
            groups.push(Vec::with_capacity(sets.size[root]));
            groups.len() - 1
        });
        groups[group].push(entry.index);
    }
    groups
}

/// The pairs of the contract: each member of a group with the group's first.
pub fn pairs(groups: &[Vec<usize>]) -> impl Iterator<Item = [usize; 2]> + '_ {
    groups.iter().flat_map(|group| group[1..].iter().map(move |&member| [group[0], member]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64: a small deterministic generator, so a failure replays.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The definition, pair by pair: components of the graph whose edges
    /// join documents with the same sha256 or SimHash within the distance.
    fn brute_force(entries: &[SummaryEntry]) -> Vec<Vec<usize>> {
        let mut order: Vec<&SummaryEntry> = entries.iter().collect();
        order.sort_by_key(|entry| entry.index);
        let mut component: Vec<usize> = (0..order.len()).collect();
        for a in 0..order.len() {
            for b in a + 1..order.len() {
                let same_bytes = order[a].sha256.is_some() && order[a].sha256 == order[b].sha256;
                let near = match (order[a].simhash, order[b].simhash) {
                    (Some(x), Some(y)) => (x ^ y).count_ones() <= NEAR_DUPLICATE_MAX_DISTANCE,
                    _ => false,
                };
                if same_bytes || near {
                    let (from, to) = (component[b], component[a]);
                    for label in &mut component {
                        if *label == from {
                            *label = to;
                        }
                    }
                }
            }
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut seen = Vec::new();
        for (position, &label) in component.iter().enumerate() {
            if seen.contains(&label) {
                continue;
            }
            seen.push(label);
            let members: Vec<usize> =
                (position..order.len()).filter(|&p| component[p] == label).map(|p| order[p].index).collect();
            if members.len() > 1 {
                groups.push(members);
            }
        }
        groups
    }

    /// Fingerprints clustered around a few centres with 0 to 10 bits
    /// flipped, so that many pairs sit right at the distance; some documents
    /// without a SimHash, some byte-identical with another; indexes sparse
    /// and out of order.
    fn random_entries(random: &mut Random) -> Vec<SummaryEntry> {
        let n = random.below(120) as usize;
        let centres: Vec<u64> = (0..1 + random.below(5)).map(|_| random.next()).collect();
        let mut entries: Vec<SummaryEntry> = Vec::new();
        for position in 0..n {
            let mut simhash = centres[random.below(centres.len() as u64) as usize];
            for _ in 0..random.below(11) {
                simhash ^= 1 << random.below(64);
            }
            let mut sha256 = [0u8; 32];
            sha256[..8].copy_from_slice(&(position as u64).to_le_bytes());
            let mut entry = SummaryEntry { index: position * 3 + 1, sha256: Some(sha256), simhash: Some(simhash) };
            match random.below(10) {
                0 => entry.simhash = None,
                1 if !entries.is_empty() => {
                    entry.sha256 = entries[random.below(entries.len() as u64) as usize].sha256;
                }
                2 => entry.sha256 = None,
                _ => {}
            }
            entries.push(entry);
        }
        for at in (1..entries.len()).rev() {
            entries.swap(at, random.below(at as u64 + 1) as usize);
        }
        entries
    }

    #[test]
    fn grouping_equals_the_pairwise_definition_on_random_fingerprints() {
        let mut random = Random(0x5EED);
        let mut grouped = 0;
        for round in 0..400 {
            let entries = random_entries(&mut random);
            let expected = brute_force(&entries);
            assert_eq!(near_duplicate_groups(&entries), expected, "round {round}: {entries:?}");
            grouped += expected.len();
        }
        assert!(grouped > 400, "the generator makes groups to check ({grouped})");
    }

    #[test]
    fn a_group_of_k_gives_k_minus_one_pairs_with_its_first_member() {
        let entries: Vec<SummaryEntry> =
            (0..10_000).map(|index| SummaryEntry { index, sha256: Some([7; 32]), simhash: Some(42) }).collect();
        let groups = near_duplicate_groups(&entries);
        assert_eq!(groups, vec![(0..10_000).collect::<Vec<usize>>()]);
        let all: Vec<[usize; 2]> = pairs(&groups).collect();
        assert_eq!(all.len(), 9_999);
        assert!(all.iter().enumerate().all(|(at, pair)| *pair == [0, at + 1]));
    }

    #[test]
    fn fingerprints_seven_bits_apart_are_not_near_duplicates() {
        let entry = |index, simhash| SummaryEntry { index, sha256: Some([index as u8; 32]), simhash: Some(simhash) };
        let groups = near_duplicate_groups(&[entry(0, 0), entry(1, 0b111_1111), entry(2, 0b11_1111)]);
        assert_eq!(groups, vec![vec![0, 1, 2]], "1 and 2 join through 0 and each other");
        assert!(near_duplicate_groups(&[entry(0, 0), entry(1, 0b111_1111)]).is_empty());
    }
}
