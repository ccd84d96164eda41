//! Page maximum keys laid out for a binary search that stays in the CPU cache.
//!
//! A point lookup first finds the page whose key range can hold its key: the first page whose
//! maximum key is at or after it. With the maximums as separately allocated byte strings, every
//! step of that search is two cache misses (the bound, then its bytes), a dozen steps for a
//! table of ten thousand pages, and profiles of cold lookups showed it as their largest cost
//! after the I/O. Here the maximums are cut into the prefix they all share and one big-endian
//! word of the 8 bytes after it, so the search runs over a contiguous `u64` array and compares
//! whole keys only between pages whose words tie. A second, eight times smaller array holds
//! the last word of each cache line of words, so a search reads that array (small enough to
//! stay cached across lookups) and then a single line of words.

use std::cmp::Ordering;

/// The maximum keys of a row group's pages, as a shared prefix plus one word per page.
#[derive(Debug, Default)]
pub(crate) struct MaxKeys {
    /// The longest prefix every maximum starts with.
    prefix: Box<[u8]>,
    /// Per page: the 8 bytes of its maximum after `prefix`, zero-padded, big-endian.
    words: Box<[u64]>,
    /// The last word of each run of [`LINE`] words (the last, shorter run included).
    line_ends: Box<[u64]>,
}

/// Words per 64-byte cache line.
const LINE: usize = 8;

/// The first 8 bytes of `b`, zero-padded, as a big-endian word: `word(a) < word(b)` implies
/// `a < b` and `word(a) > word(b)` implies `a > b` (ties say nothing).
fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    u64::from_be_bytes(w)
}

impl MaxKeys {
    /// Lays out `maxes`, the pages' maximum keys in page order.
    pub(crate) fn new<'a>(maxes: impl Iterator<Item = &'a [u8]> + Clone) -> Self {
        let mut prefix: Option<&[u8]> = None;
        for m in maxes.clone() {
            prefix = Some(match prefix {
                None => m,
                Some(p) => &p[..p.iter().zip(m).take_while(|(a, b)| a == b).count()],
            });
        }
        let prefix = prefix.unwrap_or_default();
        let words: Box<[u64]> = maxes.map(|m| word(&m[prefix.len()..])).collect();
        let line_ends = words.chunks(LINE).map(|line| line[line.len() - 1]).collect();
        Self { prefix: prefix.into(), words, line_ends }
    }

    /// The first page whose word is at or after `w` (`words.len()` if none is): the line
    /// from `line_ends`, then the page within the line.
    fn lower_bound(&self, w: u64) -> usize {
        let line = self.line_ends.partition_point(|&x| x < w);
        if line == self.line_ends.len() {
            return self.words.len();
        }
        let start = line * LINE;
        let words = &self.words[start..self.words.len().min(start + LINE)];
        start + words.partition_point(|&x| x < w)
    }

    /// The first page whose maximum is at or after `key`; `cmp(i)` orders page `i`'s maximum
    /// against `key`, and is called only for pages whose word ties with the key's.
    pub(crate) fn first_not_below(&self, key: &[u8], cmp: impl Fn(usize) -> Ordering) -> usize {
        let n = self.words.len();
        let p = self.prefix.len();
        let head = &key[..p.min(key.len())];
        match head.cmp(&self.prefix[..head.len()]) {
            // Before the shared prefix, or a proper prefix of it: before every maximum.
            Ordering::Less => return 0,
            Ordering::Equal if key.len() < p => return 0,
            Ordering::Greater => return n,
            Ordering::Equal => {}
        }
        let w = word(&key[p..]);
        let lo = self.lower_bound(w);
        // Pages whose word ties with the key's (rare: then whole keys decide among them).
        let hi = if self.words.get(lo) == Some(&w) { lo + self.words[lo..].partition_point(|&x| x <= w) } else { lo };
        let (mut a, mut b) = (lo, hi);
        while a < b {
            let m = a + (b - a) / 2;
            if cmp(m).is_lt() {
                a = m + 1;
            } else {
                b = m;
            }
        }
        a
    }

    /// Heap bytes held.
    pub(crate) fn memory_size(&self) -> usize {
        self.prefix.len() + (self.words.len() + self.line_ends.len()) * 8
    }
}

#[cfg(test)]
mod tests {
    use super::MaxKeys;
    use proptest::prelude::*;

    fn check(maxes: &[Vec<u8>], key: &[u8]) {
        let index = MaxKeys::new(maxes.iter().map(Vec::as_slice));
        let got = index.first_not_below(key, |i| maxes[i].as_slice().cmp(key));
        let want = maxes.partition_point(|m| m.as_slice() < key);
        assert_eq!(got, want, "maxes {maxes:?} key {key:?}");
    }

    #[test]
    fn finds_the_first_page_at_or_after_the_key() {
        let maxes: Vec<Vec<u8>> = ["key00000000000199", "key00000000000399", "key0000000000059", "key00000000000599"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let mut sorted = maxes.clone();
        sorted.sort();
        for key in ["", "k", "key", "key00000000000199", "key000000000001990", "key0000000000059", "kez", "key1"] {
            check(&sorted, key.as_bytes());
        }
        check(&[], b"a");
        check(&[b"same".to_vec(), b"same".to_vec()], b"same");
        check(&[vec![], vec![0], vec![0, 0]], &[0]);
    }

    proptest! {
        #[test]
        fn agrees_with_a_plain_binary_search(
            mut maxes in prop::collection::vec(
                prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 0xff]), 0..14), 0..40),
            key in prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 0xff]), 0..14),
            shared in prop::collection::vec(any::<u8>(), 0..4),
        ) {
            // A common prefix on every key, as real tables have.
            for m in &mut maxes {
                m.splice(0..0, shared.iter().copied());
            }
            maxes.sort();
            check(&maxes, &key);
            let mut with_prefix = shared.clone();
            with_prefix.extend_from_slice(&key);
            check(&maxes, &with_prefix);
        }
    }
}
