//! The visibility rule: what a reader at a snapshot sees.

use crate::{Entry, SeqNo, ValueKind, keys_equal};

/// Turns a stream of versions in internal key order into the user's view at `snapshot`.
///
/// For each user key, the newest version with `seq <= snapshot` decides: a
/// [`ValueKind::Put`] is yielded, a [`ValueKind::Delete`] hides the key. Versions newer
/// than the snapshot and versions older than the deciding one are skipped.
pub struct VisibleIter<I> {
    inner: I,
    snapshot: SeqNo,
    /// The user key whose deciding version was already seen.
    decided: LastKey,
}

/// The last key a stream yielded, for the older versions of it that follow: a copy in a
/// buffer reused for every key.
///
/// NOTE: a copy, not a clone of the entry's `Bytes`: a clone, and the drop of the one before,
/// are two atomic updates per entry of the shared count of the page (or memtable buffer) the
/// keys are slices of, which profiles of seeks with 100 `next`s showed among their largest
/// costs; keys are short.
#[derive(Debug, Default)]
pub struct LastKey {
    key: Vec<u8>,
    set: bool,
}

impl LastKey {
    /// Whether `key` is the last key.
    #[must_use]
    pub fn is(&self, key: &[u8]) -> bool {
        self.set && keys_equal(&self.key, key)
    }

    /// Makes `key` the last key.
    pub fn set(&mut self, key: &[u8]) {
        self.key.clear();
        self.key.extend_from_slice(key);
        self.set = true;
    }

    /// Forgets the last key: no key [`is`](Self::is) it until the next [`set`](Self::set).
    pub const fn clear(&mut self) {
        self.set = false;
    }
}

impl<I> VisibleIter<I> {
    /// The view of `inner` at `snapshot`.
    pub const fn new(inner: I, snapshot: SeqNo) -> Self {
        Self { inner, snapshot, decided: LastKey { key: Vec::new(), set: false } }
    }

    /// The snapshot this view reads at.
    pub const fn snapshot(&self) -> SeqNo {
        self.snapshot
    }
}

impl<I, E> Iterator for VisibleIter<I>
where
    I: Iterator<Item = Result<Entry, E>>,
{
    type Item = Result<Entry, E>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = match self.inner.next()? {
                Ok(e) => e,
                Err(e) => return Some(Err(e)),
            };
            if entry.seq > self.snapshot {
                continue;
            }
            if self.decided.is(&entry.key) {
                continue;
            }
            self.decided.set(&entry.key);
            if entry.kind == ValueKind::Put {
                return Some(Ok(entry));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::convert::Infallible;

    use proptest::prelude::*;

    use super::*;
    use crate::MergeIter;

    #[test]
    fn last_key_is_what_was_set_until_cleared() {
        let mut last = LastKey::default();
        assert!(!last.is(b""), "nothing is the last key before a set, not even the empty key");
        last.set(b"abc");
        assert!(last.is(b"abc") && !last.is(b"ab") && !last.is(b"abcd"));
        last.set(b"");
        assert!(last.is(b"") && !last.is(b"abc"));
        last.clear();
        assert!(!last.is(b""));
    }

    /// A write: key, is-delete, value. Its sequence number is its position + 1.
    type Op = (Vec<u8>, bool, Vec<u8>);

    fn model_at(ops: &[Op], snapshot: SeqNo) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut m = BTreeMap::new();
        for (i, (k, del, v)) in ops.iter().enumerate() {
            if i as u64 + 1 > snapshot {
                break;
            }
            if *del {
                m.remove(k);
            } else {
                m.insert(k.clone(), v.clone());
            }
        }
        m
    }

    proptest! {
        /// Writes spread over several sources (as memtables and tables hold them), merged and
        /// filtered at any snapshot, equal a map that applied the writes up to the snapshot.
        #[test]
        fn merged_view_matches_model(
            ops in prop::collection::vec((prop::collection::vec(0u8..5, 0..3), any::<bool>(), prop::collection::vec(any::<u8>(), 0..3)), 0..60),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
            snapshot in 0u64..70,
        ) {
            // Split the op log into consecutive segments; newer segments are earlier sources.
            let mut cut_points: Vec<usize> = cuts.iter().map(|c| c.index(ops.len() + 1)).collect();
            cut_points.push(0);
            cut_points.push(ops.len());
            cut_points.sort_unstable();
            cut_points.dedup();
            let mut sources = Vec::new();
            for w in cut_points.windows(2).rev() {
                let mut seg: Vec<Entry> = (w[0]..w[1]).map(|i| {
                    let (k, del, v) = &ops[i];
                    let seq = i as u64 + 1;
                    if *del { Entry::delete(k.clone(), seq) } else { Entry::put(k.clone(), seq, v.clone()) }
                }).collect();
                seg.sort_by(Entry::cmp_internal);
                sources.push(seg.into_iter().map(Ok::<_, Infallible>));
            }
            let got: Vec<(Vec<u8>, Vec<u8>)> = VisibleIter::new(MergeIter::new(sources), snapshot)
                .map(|e| { let e = e.unwrap(); (e.key.to_vec(), e.value.to_vec()) })
                .collect();
            let want: Vec<(Vec<u8>, Vec<u8>)> = model_at(&ops, snapshot).into_iter().collect();
            prop_assert_eq!(got, want);
        }
    }
}
