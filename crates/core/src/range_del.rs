//! Range tombstones: one record that deletes every older version of every key in a range.
//!
//! A range tombstone travels through the engine as an [`Entry`] of kind
//! [`ValueKind::RangeDelete`] whose key is the range's first key and whose value is its end
//! (exclusive), so memtables, the log and tables carry it unchanged. Readers do not find it by
//! key: they gather the tombstones of every source they consult into a [`RangeDelIndex`],
//! which cuts them into disjoint fragments so the tombstones covering a key are one binary
//! search away.

use bytes::Bytes;

use crate::{Entry, SeqNo, ValueKind};

/// Deletes every version older than `seq` of every key in `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RangeTombstone {
    /// The first key deleted.
    pub start: Bytes,
    /// The first key after the range (exclusive).
    pub end: Bytes,
    /// The tombstone's sequence number: versions below it are deleted, newer ones are not.
    pub seq: SeqNo,
}

impl RangeTombstone {
    /// A tombstone over `[start, end)` at `seq`.
    pub fn new(start: impl Into<Bytes>, end: impl Into<Bytes>, seq: SeqNo) -> Self {
        Self { start: start.into(), end: end.into(), seq }
    }

    /// Whether `key` lies in `[start, end)`.
    #[must_use]
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= &self.start[..] && key < &self.end[..]
    }

    /// The entry that carries this tombstone: key `start`, value `end`.
    #[must_use]
    pub fn to_entry(&self) -> Entry {
        Entry { key: self.start.clone(), seq: self.seq, kind: ValueKind::RangeDelete, value: self.end.clone() }
    }

    /// The tombstone an entry of kind [`ValueKind::RangeDelete`] carries; `None` for other
    /// kinds.
    #[must_use]
    pub fn from_entry(entry: &Entry) -> Option<Self> {
        (entry.kind == ValueKind::RangeDelete).then(|| Self::new(entry.key.clone(), entry.value.clone(), entry.seq))
    }
}

/// One piece of the key space and the tombstones that cover all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fragment {
    start: Bytes,
    end: Bytes,
    /// Sequence numbers of the covering tombstones, descending, without duplicates.
    seqs: Vec<SeqNo>,
}

/// Range tombstones cut into disjoint, sorted fragments, each with the sequence numbers of
/// every tombstone covering it, as RocksDB and Pebble fragment them: which tombstones cover a
/// key is one binary search.
///
/// ```
/// use strata_core::{RangeDelIndex, RangeTombstone};
///
/// let index = RangeDelIndex::new([RangeTombstone::new("b", "f", 10), RangeTombstone::new("d", "h", 20)]);
/// assert_eq!(index.max_covering(b"c", 100), Some(10));
/// assert_eq!(index.max_covering(b"e", 100), Some(20));
/// assert_eq!(index.max_covering(b"e", 15), Some(10)); // a reader at 15 does not see 20
/// assert_eq!(index.max_covering(b"h", 100), None); // ends are exclusive
/// assert!(index.deletes(b"e", 12, 100) && !index.deletes(b"e", 25, 100));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeDelIndex {
    fragments: Vec<Fragment>,
    tombstones: Vec<RangeTombstone>,
}

impl RangeDelIndex {
    /// Fragments `tombstones` (in any order; empty ranges are ignored).
    pub fn new(tombstones: impl IntoIterator<Item = RangeTombstone>) -> Self {
        let mut tombstones: Vec<RangeTombstone> = tombstones.into_iter().filter(|t| t.start < t.end).collect();
        tombstones.sort_unstable();
        tombstones.dedup();
        let mut points: Vec<&Bytes> = tombstones.iter().flat_map(|t| [&t.start, &t.end]).collect();
        points.sort_unstable();
        points.dedup();
        // Sweep the boundaries in order, keeping the tombstones that have started and not
        // ended; tombstones are sorted by start, so they join the sweep in order.
        let mut fragments = Vec::new();
        let mut active: Vec<&RangeTombstone> = Vec::new();
        let mut next = 0;
        for pair in points.windows(2) {
            let (lo, hi) = (pair[0], pair[1]);
            active.retain(|t| t.end > *lo);
            while next < tombstones.len() && tombstones[next].start <= *lo {
                active.push(&tombstones[next]);
                next += 1;
            }
            if active.is_empty() {
                continue;
            }
            let mut seqs: Vec<SeqNo> = active.iter().map(|t| t.seq).collect();
            seqs.sort_unstable_by(|a, b| b.cmp(a));
            seqs.dedup();
            fragments.push(Fragment { start: lo.clone(), end: hi.clone(), seqs });
        }
        Self { fragments, tombstones }
    }

    /// Whether the index holds no tombstone.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tombstones.is_empty()
    }

    /// The tombstones, sorted and without duplicates.
    #[must_use]
    pub fn tombstones(&self) -> &[RangeTombstone] {
        &self.tombstones
    }

    /// The sequence numbers of the tombstones covering `key`, descending.
    fn covering(&self, key: &[u8]) -> &[SeqNo] {
        let i = self.fragments.partition_point(|f| &f.start[..] <= key);
        match i.checked_sub(1).map(|i| &self.fragments[i]) {
            Some(f) if key < &f.end[..] => &f.seqs,
            _ => &[],
        }
    }

    /// The newest tombstone covering `key` that a reader at `snapshot` sees.
    #[must_use]
    pub fn max_covering(&self, key: &[u8], snapshot: SeqNo) -> Option<SeqNo> {
        let seqs = self.covering(key);
        seqs.get(seqs.partition_point(|&s| s > snapshot)).copied()
    }

    /// The oldest tombstone covering `key` that is newer than `seq`: the one that deletes the
    /// version `seq` first.
    #[must_use]
    pub fn min_covering_above(&self, key: &[u8], seq: SeqNo) -> Option<SeqNo> {
        let seqs = self.covering(key);
        seqs[..seqs.partition_point(|&s| s > seq)].last().copied()
    }

    /// Whether a reader at `snapshot` sees version `seq` of `key` deleted by a tombstone.
    #[must_use]
    pub fn deletes(&self, key: &[u8], seq: SeqNo, snapshot: SeqNo) -> bool {
        self.max_covering(key, snapshot).is_some_and(|t| t > seq)
    }

    /// The oldest tombstone that covers every key of `[min, max]` (both inclusive) and is
    /// newer than `seq`, if any: a table whose keys lie in `[min, max]` and whose versions are
    /// all at or below `seq` is wholly deleted by it.
    #[must_use]
    pub fn min_covering_span_above(&self, min: &[u8], max: &[u8], seq: SeqNo) -> Option<SeqNo> {
        self.tombstones.iter().filter(|t| t.seq > seq && &t.start[..] <= min && max < &t.end[..]).map(|t| t.seq).min()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn naive_covering(ts: &[RangeTombstone], key: &[u8]) -> Vec<SeqNo> {
        let mut seqs: Vec<SeqNo> = ts.iter().filter(|t| t.contains(key)).map(|t| t.seq).collect();
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        seqs.dedup();
        seqs
    }

    #[test]
    fn entries_carry_tombstones_both_ways() {
        let t = RangeTombstone::new("a", "c", 7);
        let e = t.to_entry();
        assert_eq!((e.kind, &e.key[..], &e.value[..], e.seq), (ValueKind::RangeDelete, &b"a"[..], &b"c"[..], 7));
        assert_eq!(RangeTombstone::from_entry(&e), Some(t));
        assert_eq!(RangeTombstone::from_entry(&Entry::put("a", 1, "c")), None);
    }

    #[test]
    fn empty_and_inverted_ranges_cover_nothing() {
        let index = RangeDelIndex::new([RangeTombstone::new("b", "b", 3), RangeTombstone::new("c", "a", 4)]);
        assert!(index.is_empty());
        assert_eq!(index.max_covering(b"b", 9), None);
    }

    #[test]
    fn span_cover_needs_one_tombstone_over_the_whole_span() {
        let index = RangeDelIndex::new([RangeTombstone::new("a", "m", 10), RangeTombstone::new("m", "z", 20)]);
        assert_eq!(index.min_covering_span_above(b"b", b"l", 5), Some(10));
        assert_eq!(index.min_covering_span_above(b"b", b"l", 10), None);
        // Two adjacent tombstones together cover [b, n], but neither alone does.
        assert_eq!(index.min_covering_span_above(b"b", b"n", 5), None);
    }

    fn key() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(0u8..4, 0..3)
    }

    proptest! {
        /// Every query answers as a scan of all tombstones would.
        #[test]
        fn fragments_answer_as_a_scan_of_every_tombstone(
            raw in prop::collection::vec((key(), key(), 1u64..20), 0..12),
            probes in prop::collection::vec((key(), 0u64..22), 1..20),
        ) {
            let ts: Vec<RangeTombstone> = raw.iter().map(|(a, b, s)| RangeTombstone::new(a.clone(), b.clone(), *s)).collect();
            let index = RangeDelIndex::new(ts.clone());
            for (k, seq) in &probes {
                let want = naive_covering(&ts, k);
                prop_assert_eq!(index.covering(k), &want[..]);
                prop_assert_eq!(index.max_covering(k, *seq), want.iter().copied().find(|&s| s <= *seq));
                prop_assert_eq!(index.min_covering_above(k, *seq), want.iter().copied().filter(|&s| s > *seq).min());
            }
            // Fragments are disjoint, sorted and non-empty.
            for w in index.fragments.windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
            prop_assert!(index.fragments.iter().all(|f| f.start < f.end && !f.seqs.is_empty()));
        }
    }
}
