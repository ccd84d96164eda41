//! The k-way merge of sorted entry streams.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;

use crate::Entry;

/// Merges several streams, each sorted in internal key order, into one sorted stream.
///
/// Sources are given newest first. When two sources hold the same internal key (same user
/// key and sequence number), the entry from the earlier (newer) source comes first. Every
/// version is yielded; apply [`crate::VisibleIter`] for the user's view.
///
/// An error from a source is yielded once, after which the iterator is finished: a reader
/// that skipped the failed source would silently return wrong data.
pub struct MergeIter<I, E>
where
    I: Iterator<Item = Result<Entry, E>>,
{
    sources: Vec<I>,
    heap: BinaryHeap<HeapItem>,
    started: bool,
    failed: bool,
}

struct HeapItem {
    entry: Entry,
    source: usize,
}

impl Ord for HeapItem {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the smallest internal key, then the newest
        // source, is on top.
        other.entry.cmp_internal(&self.entry).then_with(|| other.source.cmp(&self.source))
    }
}

impl PartialOrd for HeapItem {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for HeapItem {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for HeapItem {}

impl<I, E> MergeIter<I, E>
where
    I: Iterator<Item = Result<Entry, E>>,
{
    /// Merges `sources`, newest first.
    #[must_use]
    pub fn new(sources: Vec<I>) -> Self {
        let heap = BinaryHeap::with_capacity(sources.len());
        Self { sources, heap, started: false, failed: false }
    }

    /// Pulls the next entry of `source` into the heap.
    fn advance(&mut self, source: usize) -> Result<(), E> {
        if let Some(next) = self.sources[source].next() {
            self.heap.push(HeapItem { entry: next?, source });
        }
        Ok(())
    }
}

impl<I, E> Iterator for MergeIter<I, E>
where
    I: Iterator<Item = Result<Entry, E>>,
{
    type Item = Result<Entry, E>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if !self.started {
            self.started = true;
            for source in 0..self.sources.len() {
                if let Err(e) = self.advance(source) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        // The smallest entry is replaced in place by its source's next one, which sifts down
        // once (no comparison at all with one source left), instead of a pop and a push.
        let mut top = self.heap.peek_mut()?;
        match self.sources[top.source].next() {
            Some(Ok(next)) => Some(Ok(std::mem::replace(&mut top.entry, next))),
            Some(Err(e)) => {
                PeekMut::pop(top);
                self.failed = true;
                Some(Err(e))
            }
            None => Some(Ok(PeekMut::pop(top).entry)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use proptest::prelude::*;

    use super::*;
    use crate::ValueKind;

    fn sorted_sources(mut parts: Vec<Vec<Entry>>) -> Vec<std::vec::IntoIter<Result<Entry, Infallible>>> {
        parts
            .iter_mut()
            .map(|p| {
                p.sort_by(Entry::cmp_internal);
                p.dedup_by(|a, b| a.cmp_internal(b) == Ordering::Equal);
                p.drain(..).map(Ok).collect::<Vec<_>>().into_iter()
            })
            .collect()
    }

    fn entry_strategy() -> impl Strategy<Value = Entry> {
        (prop::collection::vec(0u8..4, 0..3), 0u64..50, any::<bool>(), prop::collection::vec(any::<u8>(), 0..4))
            .prop_map(|(k, seq, del, v)| if del { Entry::delete(k, seq) } else { Entry::put(k, seq, v) })
    }

    proptest! {
        #[test]
        fn merge_yields_the_sorted_union(parts in prop::collection::vec(prop::collection::vec(entry_strategy(), 0..20), 0..6)) {
            let sources = sorted_sources(parts);
            let mut expected: Vec<Entry> = sources.iter().flat_map(|s| s.clone().map(Result::unwrap)).collect();
            expected.sort_by(Entry::cmp_internal);
            let merged: Vec<Entry> = MergeIter::new(sources).map(Result::unwrap).collect();
            prop_assert_eq!(merged.len(), expected.len());
            for (m, e) in merged.iter().zip(&expected) {
                prop_assert_eq!(m.cmp_internal(e), Ordering::Equal);
            }
        }
    }

    #[test]
    fn equal_internal_keys_prefer_the_newer_source() {
        let newer = vec![Ok::<_, Infallible>(Entry::put("k", 5, "new"))];
        let older = vec![Ok(Entry::put("k", 5, "old"))];
        let merged: Vec<Entry> =
            MergeIter::new(vec![newer.into_iter(), older.into_iter()]).map(Result::unwrap).collect();
        assert_eq!(&merged[0].value[..], b"new");
        assert_eq!(&merged[1].value[..], b"old");
    }

    #[test]
    fn an_error_ends_the_stream() {
        let good = vec![Ok(Entry::put("a", 1, "x")), Ok(Entry::put("c", 1, "x"))];
        let bad = vec![Ok(Entry::put("b", 1, "x")), Err("disk on fire")];
        let out: Vec<Result<Entry, &str>> = MergeIter::new(vec![good.into_iter(), bad.into_iter()]).collect();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].as_ref().map(|e| e.kind), Ok(ValueKind::Put));
        assert_eq!(out[1], Err("disk on fire"));
    }
}
