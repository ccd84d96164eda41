//! A streaming iterator for memtables that synchronize with a lock.
//!
//! Holding a lock for the life of an iterator would block writers for as long as a user
//! keeps it, and a lock guard cannot move between threads. Instead the iterator copies a
//! small chunk of entries under the lock, releases it, and seeks past the last entry it
//! yielded for the next chunk. Memtables never remove entries, so the seek always finds the
//! right place; entries inserted between chunks carry newer sequence numbers, which readers
//! filter out by snapshot anyway.

use std::collections::VecDeque;

use bytes::Bytes;
use strata_core::{Entry, KeyRange, SeqNo};

/// A structure that can copy out a chunk of its entries in internal key order.
///
/// Implement it for a memtable guarded by a lock, and [`ChunkedIter`] gives it a streaming
/// iterator that holds the lock only while it copies each chunk.
pub trait ChunkSource: Sync {
    /// Appends to `out`, in internal key order, up to `max` entries that lie in `range` and
    /// come strictly after `after` (or from the start of `range` when `after` is `None`).
    fn fill_chunk(&self, range: &KeyRange, after: Option<(&[u8], SeqNo)>, max: usize, out: &mut VecDeque<Entry>);
}

/// Entries the first chunk copies: a seek often takes only a few, so copying a full chunk up
/// front would be most of its cost.
const FIRST_CHUNK: usize = 16;
/// The most entries copied per lock acquisition: large enough to amortize the seek, small
/// enough that a writer never waits long. Chunks double from [`FIRST_CHUNK`] up to this.
const CHUNK: usize = 256;

/// A streaming iterator over a [`ChunkSource`], one chunk per lock acquisition.
pub struct ChunkedIter<'a, S: ?Sized> {
    source: &'a S,
    range: KeyRange,
    buf: VecDeque<Entry>,
    last: Option<(Bytes, SeqNo)>,
    /// Entries the next chunk copies.
    chunk: usize,
    exhausted: bool,
}

impl<'a, S: ChunkSource + ?Sized> ChunkedIter<'a, S> {
    /// An iterator over the entries of `source` in `range`.
    pub fn new(source: &'a S, range: &KeyRange) -> Self {
        Self {
            source,
            range: range.clone(),
            buf: VecDeque::new(),
            last: None,
            chunk: FIRST_CHUNK,
            exhausted: range.is_empty(),
        }
    }
}

impl<S: ChunkSource + ?Sized> Iterator for ChunkedIter<'_, S> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        if self.buf.is_empty() && !self.exhausted {
            let after = self.last.as_ref().map(|(k, s)| (&k[..], *s));
            self.source.fill_chunk(&self.range, after, self.chunk, &mut self.buf);
            self.exhausted = self.buf.len() < self.chunk;
            self.chunk = (self.chunk * 2).min(CHUNK);
        }
        let entry = self.buf.pop_front()?;
        self.last = Some((entry.key.clone(), entry.seq));
        Some(entry)
    }
}

impl<S: ?Sized> std::fmt::Debug for ChunkedIter<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedIter").field("range", &self.range).field("buffered", &self.buf.len()).finish()
    }
}
