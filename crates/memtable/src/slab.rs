//! Owned copies of borrowed entries, many to one allocation.
//!
//! An iterator that lends its memtable's bytes must still hand out owned [`Entry`]s. Copying
//! each key and value into its own `Bytes` costs two allocations per entry; a [`Slab`]
//! copies them into a shared buffer instead and hands out slices of it, so a short scan
//! costs one allocation and a flush one per [`MAX_SLAB`] bytes. The first buffer is small,
//! because a seek often takes a handful of entries, and each next one twice as large.

use bytes::BytesMut;
use strata_core::{Entry, SeqNo, ValueKind};

/// The first buffer's size: a short scan's entries.
const FIRST_SLAB: usize = 1024;
/// The largest buffer. A caller that keeps one entry keeps its whole buffer alive, so
/// this bounds what a kept entry can pin.
const MAX_SLAB: usize = 32 * 1024;

/// A growing series of buffers that entries are copied into. See the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Slab {
    buf: BytesMut,
    /// The size of the next buffer.
    next_size: usize,
}

impl Slab {
    /// An owned copy of one entry, sharing the current buffer with the entries before it.
    pub(crate) fn copy(&mut self, key: &[u8], seq: SeqNo, kind: ValueKind, value: &[u8]) -> Entry {
        let len = key.len() + value.len();
        if self.buf.capacity() - self.buf.len() < len {
            self.next_size = (self.next_size * 2).clamp(FIRST_SLAB, MAX_SLAB);
            // A fresh buffer rather than `reserve`: the old one is shared with entries handed
            // out, so it cannot grow in place, and a new one of our size is what we want.
            self.buf = BytesMut::with_capacity(len.max(self.next_size));
        }
        self.buf.extend_from_slice(key);
        let key = self.buf.split().freeze();
        self.buf.extend_from_slice(value);
        let value = self.buf.split().freeze();
        Entry { key, seq, kind, value }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_share_buffers_that_grow_and_large_entries_get_their_own() {
        let mut slab = Slab::default();
        let entries: Vec<Entry> = (0u32..2_000)
            .map(|i| {
                let value = vec![(i % 251) as u8; (i % 97) as usize];
                slab.copy(&i.to_be_bytes(), u64::from(i), ValueKind::Put, &value)
            })
            .collect();
        for (i, e) in (0u32..).zip(&entries) {
            assert_eq!(&e.key[..], i.to_be_bytes(), "key {i}");
            assert_eq!(e.value.len(), (i % 97) as usize, "value {i}");
            assert!(e.value.iter().all(|&b| b == (i % 251) as u8), "value {i}");
        }
        // Neighbours share a buffer: the first two keys are adjacent in memory.
        assert_eq!(entries[0].key.as_ptr().wrapping_add(4 + entries[0].value.len()), entries[1].key.as_ptr());
        assert_eq!(slab.next_size, MAX_SLAB, "buffers doubled up to the cap");

        let big = vec![7u8; 3 * MAX_SLAB];
        let e = slab.copy(b"big", 1, ValueKind::Put, &big);
        assert_eq!(&e.value[..], &big[..]);
        assert!(slab.copy(b"", 2, ValueKind::Delete, b"").value.is_empty());
    }
}
