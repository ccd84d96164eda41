//! The `Memtable` trait: the contract every in-memory write buffer keeps.

use std::collections::VecDeque;
use std::ops::Bound;

use bytes::Bytes;
use strata_core::{Entry, KeyRange, SeqNo, ValueKind, VersionedValue};

/// What [`Memtable::visit_range`] calls per entry: key, sequence number, kind, value; it
/// returns whether to go on.
pub type EntryVisitor<'a> = dyn FnMut(&[u8], SeqNo, ValueKind, &[u8]) -> bool + 'a;

/// An in-memory, append-only write buffer of versioned entries.
///
/// A memtable receives every write after the write-ahead log and answers reads until it is
/// flushed to a table. It never removes anything: an overwrite or a delete is a new version
/// with a higher sequence number, and the whole memtable is dropped at once after its flush.
///
/// Every method takes `&self`. An implementation that is not lock-free synchronizes inside,
/// so one memtable can be shared by writers and readers on many threads.
///
/// # Contract
///
/// * `insert` of `(key, seq)` makes that version visible to every later `get` and `range`
///   on any thread. The engine never inserts the same `(key, seq)` twice.
/// * `get(key, snapshot)` returns the version of `key` with the highest `seq <= snapshot`,
///   or `None` when the memtable holds no such version. A tombstone is an answer: it says the
///   key is deleted, and the reader must not look in older data.
/// * `range(r)` yields every version of every key in `r` in internal key order (user key
///   ascending, then sequence descending), streaming: it must not copy the whole range up
///   front. Versions inserted while the iterator is live may or may not be yielded; a
///   reader filters them out by sequence number anyway.
/// * `approximate_memory_usage` is the heap memory the memtable holds: keys, values and the
///   structure's own overhead, within 25% of what the allocator handed out. The engine
///   calls it after every write to decide when to flush, so it must be O(1).
///
/// The `testing` module (feature `testing`) holds the conformance suite every
/// implementation runs: `strata_memtable::testing::conformance(|| MyMemtable::new())`.
pub trait Memtable: Send + Sync {
    /// The iterator [`Memtable::range`] returns.
    type Iter<'a>: Iterator<Item = Entry> + Send + 'a
    where
        Self: 'a;

    /// Adds one version of `key`.
    ///
    /// For a [`ValueKind::Delete`] the value is ignored and should be empty.
    fn insert(&self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]);

    /// The newest version of `key` with `seq <= snapshot`, tombstones included.
    fn get(&self, key: &[u8], snapshot: SeqNo) -> Option<VersionedValue>;

    /// Every version of every key in `range`, in internal key order.
    fn range(&self, range: &KeyRange) -> Self::Iter<'_>;

    /// Calls `visit` with every version of every key in `range`, in internal key order,
    /// borrowing its key and value, until `visit` returns `false`. What [`range`](Self::range)
    /// yields, without an owned copy per entry: a reader that keeps what it visits can copy
    /// many entries into one buffer. The default implementation goes through `range`.
    fn visit_range(&self, range: &KeyRange, visit: &mut EntryVisitor<'_>) {
        for e in self.range(range) {
            if !visit(&e.key, e.seq, e.kind, &e.value) {
                return;
            }
        }
    }

    /// A key held at or after `start` and before `end` (no end when `None`), to read back
    /// from: the greatest such key when `back` is 0; else one about `back` distinct keys
    /// below it, or the least such key when fewer are held; `None` when none is held. Every
    /// version counts, whatever its sequence number: the answer is a position, not a value.
    ///
    /// A reverse iterator starts each step of its read of the memtable here, with `start`
    /// the start of its range: any answer in the range is correct, and one about `back`
    /// keys back keeps the step near the size it wants. The default makes one pass of
    /// [`visit_range`](Self::visit_range) over `start..end`, O(keys there) (a hash variant's
    /// pass over one prefix reads one bucket), and steps back exactly `back` keys, as the
    /// ordered variants do in O((back + 1) log n) (`sorted`, `vector`, `skiplist`). The
    /// enhanced skip list answers in one search, `back` keys back on average (see its
    /// docs). The conformance suite checks that answers lie in the range, that `back` 0
    /// gives the greatest key, and that answers lie about `back` keys back on average.
    fn key_before(&self, start: Bound<&[u8]>, end: Option<&[u8]>, back: usize) -> Option<Bytes> {
        let start = start.map(Bytes::copy_from_slice);
        let end = end.map_or(Bound::Unbounded, |k| Bound::Excluded(Bytes::copy_from_slice(k)));
        // The last `back + 1` distinct keys visited, least first.
        let mut last: VecDeque<Vec<u8>> = VecDeque::with_capacity(back.saturating_add(1).min(1024));
        self.visit_range(&KeyRange::new(start, end), &mut |key, _, _, _| {
            if last.back().is_none_or(|l| l[..] != *key) {
                let reused = if last.len() > back { last.pop_front() } else { None };
                let slot = match reused {
                    Some(mut slot) => {
                        slot.clear();
                        slot.extend_from_slice(key);
                        slot
                    }
                    None => key.to_vec(),
                };
                last.push_back(slot);
            }
            true
        });
        last.pop_front().map(Bytes::from)
    }

    /// Every version of every key, in internal key order.
    fn iter(&self) -> Self::Iter<'_> {
        self.range(&KeyRange::all())
    }

    /// The number of versions held, exactly: the engine checks a flush's tables against it,
    /// and fails a flush whose tables hold a different number (see the conformance suite).
    fn len(&self) -> usize;

    /// Whether no version is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held: keys, values and structural overhead. O(1).
    fn approximate_memory_usage(&self) -> usize;

    /// Whether concurrent `insert` calls proceed in parallel. When `false`, inserts are
    /// still safe from many threads but are serialized inside.
    fn supports_concurrent_inserts(&self) -> bool;

    /// Marks the memtable immutable: no insert follows. A variant may reorganize itself
    /// here (the `vector` memtable sorts). Calling it twice is harmless.
    fn seal(&self) {}
}

/// Whether `key` lies at or after the range start `start`.
pub(crate) fn not_below(start: Bound<&[u8]>, key: &[u8]) -> bool {
    match start {
        Bound::Included(s) => key >= s,
        Bound::Excluded(s) => key > s,
        Bound::Unbounded => true,
    }
}

/// [`Memtable::key_before`] for an ordered structure, from `before`, its search for the
/// greatest key before an end: the greatest key before `end`, stepped back `back` times,
/// never below `start`.
pub(crate) fn step_back(
    start: Bound<&[u8]>,
    end: Option<&[u8]>,
    back: usize,
    before: impl Fn(Option<&[u8]>) -> Option<Bytes>,
) -> Option<Bytes> {
    let in_range = |key: &Bytes| not_below(start, key);
    let mut at = before(end).filter(in_range)?;
    for _ in 0..back {
        match before(Some(&at)).filter(in_range) {
            Some(key) => at = key,
            None => break,
        }
    }
    Some(at)
}
