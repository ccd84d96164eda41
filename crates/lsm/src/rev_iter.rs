//! Reverse iteration: keys in descending order, read as a series of short forward windows
//! from the end of the range back to its start.
//!
//! Each step picks a window `[start, end)` just below the last one, reads it with the forward
//! iterator ([`DbIter`], with its visibility rule, range tombstones and merge), and yields
//! its pairs last first. The window's start is the nearest of what each source can say
//! cheaply about the keys below `end`:
//!
//! * a table: [`SsTableStore::key_before`], for the Parquet store the first key of the page
//!   holding the table's last key before `end`, or of a page further back (from the page
//!   index, no data read), so a step reads a few pages of each table;
//! * a memtable: [`Memtable::key_before`], about [`MEM_KEYS_PER_PAGE`] distinct keys back per
//!   page.
//!
//! The first [`ONE_PAGE_STEPS`] steps span one page, and each later one twice the pages of
//! the one before, up to [`MAX_STEP_PAGES`]: reading the hundred or so keys before a key
//! reads about what a forward seek does, and a long reverse scan pays a step's seek once
//! per 16 pages.
//!
//! Any start below `end` gives the right answer, since a window is read whole; a near one
//! keeps the step short. Every window is read from the same pinned super version at the same
//! snapshot, so the iterator sees one unchanging view, as the forward one does.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use strata_core::{KeyRange, SeqNo};
use strata_memtable::Memtable;
use strata_sstable::SsTableStore;

use crate::Result;
use crate::iter::DbIter;
use crate::state::SuperVersion;

/// A memtable's share of a step, in distinct keys per table page the step spans: a step
/// starts no further back than this many keys (times its pages) below its end in any
/// memtable.
const MEM_KEYS_PER_PAGE: usize = 32;

/// Steps that span one table page, at the start of an iteration: reading back the hundred or
/// so keys before a key (a reverse seek) takes two or three, and costs what its forward
/// counterpart does (larger steps read rows it does not return).
const ONE_PAGE_STEPS: usize = 3;

/// The most table pages one step spans. After the first steps, each spans twice the pages
/// of the one before, so that a long reverse scan pays the seek a step costs only once per
/// this many pages.
const MAX_STEP_PAGES: usize = 16;

/// An iterator over `(key, value)` pairs in descending key order, as of one snapshot.
///
/// Items are `Result`s, as [`DbIter`]'s are: the iterator ends after yielding an error.
///
/// It reads the range back to front a window at a time, each read forward and yielded last
/// first: the first three windows hold about one page of each table and up to 32 keys of
/// each memtable, and each later one twice as much as the one before, up to 16 pages. A
/// reverse scan costs about one seek per window on top of a forward scan's work.
pub struct DbRevIter<M: Memtable + 'static, S: SsTableStore> {
    sv: Arc<SuperVersion<M>>,
    store: Arc<S>,
    snapshot: SeqNo,
    /// The start of the range.
    start: Bound<Bytes>,
    /// The end of the next window; `None` once the window that reaches `start` is read.
    end: Option<Bound<Bytes>>,
    /// The pairs of the window read last, in key order, yielded from the back.
    window: Vec<(Bytes, Bytes)>,
    /// Table pages the next window spans.
    pages: usize,
    /// Windows read so far.
    windows: usize,
}

impl<M: Memtable + 'static, S: SsTableStore> DbRevIter<M, S> {
    pub(crate) fn new(sv: Arc<SuperVersion<M>>, store: &Arc<S>, range: &KeyRange, snapshot: SeqNo) -> Self {
        let owned = |b: Bound<&[u8]>| b.map(Bytes::copy_from_slice);
        Self {
            sv,
            store: Arc::clone(store),
            snapshot,
            start: owned(range.start()),
            end: (!range.is_empty()).then(|| owned(range.end())),
            window: Vec::new(),
            pages: 1,
            windows: 0,
        }
    }

    /// Where the window that ends at `end` starts: the nearest key before `end` that some
    /// source offers, or `None` when none lies after the range's start (the window then
    /// reaches it).
    fn window_start(&self, end: Option<&[u8]>) -> Result<Option<Bytes>> {
        let after_start = |k: &[u8]| match &self.start {
            Bound::Unbounded => true,
            Bound::Included(s) | Bound::Excluded(s) => k > &s[..],
        };
        let mut best: Option<Bytes> = None;
        let before_end = end.map_or(Bound::Unbounded, |e| Bound::Excluded(Bytes::copy_from_slice(e)));
        let range = KeyRange::new(self.start.clone(), before_end);
        let version = &self.sv.version;
        for level in 0..version.levels.len() {
            let tables = version.overlapping(level, &range);
            // Below L0 a level's tables are disjoint: only the last can hold the nearest key.
            let tables = if level == 0 { tables } else { &tables[tables.len().saturating_sub(1)..] };
            for t in tables {
                // L0's tables are all listed, whatever their keys.
                let holds_one_before = end.is_none_or(|e| t.meta.min_key[..] < *e);
                if t.meta.min_seq > self.snapshot || !holds_one_before {
                    continue;
                }
                let key = self.store.key_before(t.meta.id, end, self.pages - 1)?;
                let key = key.unwrap_or_else(|| t.meta.min_key.clone());
                if best.as_ref().is_none_or(|b| key > b) {
                    best = Some(key);
                }
            }
        }
        let start = self.start.as_ref().map(|s| &s[..]);
        for m in std::iter::once(&self.sv.active).chain(&self.sv.immutables) {
            // The key its share of the memtable's keys back: when it is nearer than any start
            // so far, the memtable holds more than its share after that start, and the step
            // starts there instead.
            let Some(key) = m.mem.key_before(start, end, MEM_KEYS_PER_PAGE * self.pages - 1) else { continue };
            if best.as_ref().is_none_or(|b| key > b) {
                best = Some(key);
            }
        }
        // A start at or past `end` (from a store that broke `key_before`'s contract) would
        // not move the iteration back: read back to the range's start instead.
        Ok(best.filter(|k| after_start(k) && end.is_none_or(|e| k[..] < *e)))
    }

    /// Reads the window that ends at `end` into `self.window`, and sets the next one's end.
    fn read_window(&mut self, end: Bound<Bytes>) -> Result<()> {
        let end_key = match &end {
            Bound::Included(k) | Bound::Excluded(k) => Some(&k[..]),
            Bound::Unbounded => None,
        };
        let from = self.window_start(end_key)?;
        let start = from.clone().map_or_else(|| self.start.clone(), Bound::Included);
        let window = KeyRange::new(start, end);
        for pair in DbIter::new(Arc::clone(&self.sv), &self.store, &window, self.snapshot) {
            self.window.push(pair?);
        }
        self.end = from.map(Bound::Excluded);
        self.windows += 1;
        if self.windows >= ONE_PAGE_STEPS {
            self.pages = (self.pages * 2).min(MAX_STEP_PAGES);
        }
        Ok(())
    }
}

impl<M: Memtable + 'static, S: SsTableStore> Iterator for DbRevIter<M, S> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(pair) = self.window.pop() {
                return Some(Ok(pair));
            }
            let end = self.end.take()?;
            if let Err(e) = self.read_window(end) {
                self.window.clear();
                return Some(Err(e));
            }
        }
    }
}

impl<M: Memtable + 'static, S: SsTableStore> std::fmt::Debug for DbRevIter<M, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbRevIter").field("snapshot", &self.snapshot).field("end", &self.end).finish_non_exhaustive()
    }
}
