//! A decoded page: the rows of one page of the key column, with the same rows of the other
//! three columns, in internal key order, as two separately cached parts.

use std::cmp::Ordering;
use std::sync::Arc;

use strata_core::{Entry, SeqNo, ValueKind, VersionedValue};

use super::decode::BinaryColumn;
use crate::cache::block_cache::CachedPart;

/// The key part of a page: its keys (the decompressed page bytes plus a `u32` offset per row,
/// handed out as zero-copy `Bytes`), sequence numbers and kinds. Small next to the values, and
/// all a lookup needs to find its row or learn the key is absent.
#[derive(Debug)]
pub(crate) struct KeyPart {
    keys: BinaryColumn,
    seqs: Vec<u64>,
    kinds: Vec<ValueKind>,
}

impl KeyPart {
    /// Puts the three columns of the same rows together; `Err` if their lengths differ.
    pub(crate) fn new(keys: BinaryColumn, seqs: Vec<u64>, kinds: Vec<ValueKind>) -> Result<Self, String> {
        let n = keys.len();
        if seqs.len() != n || kinds.len() != n {
            return Err(format!(
                "columns disagree on the page's rows: {n} keys, {} seqs, {} kinds",
                seqs.len(),
                kinds.len()
            ));
        }
        Ok(Self { keys, seqs, kinds })
    }

    pub(crate) fn len(&self) -> usize {
        self.seqs.len()
    }

    #[inline]
    pub(crate) fn key(&self, i: usize) -> &[u8] {
        self.keys.get(i)
    }

    #[inline]
    pub(crate) fn seq(&self, i: usize) -> SeqNo {
        self.seqs[i]
    }

    #[inline]
    pub(crate) fn kind(&self, i: usize) -> ValueKind {
        self.kinds[i]
    }

    /// The first row at or after `(key, snapshot)` in internal key order: if it holds `key`, it
    /// is the newest version of `key` visible at `snapshot`.
    pub(crate) fn seek(&self, key: &[u8], snapshot: SeqNo) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            // Internal key order: user key ascending, then sequence number descending.
            if cmp_keys(self.key(mid), key).then_with(|| snapshot.cmp(&self.seq(mid))).is_lt() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The first row whose user key is `>= key` (`after == false`) or `> key` (`after == true`).
    pub(crate) fn seek_key(&self, key: &[u8], after: bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let ord = cmp_keys(self.key(mid), key);
            if ord.is_lt() || (after && ord.is_eq()) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

impl CachedPart for KeyPart {
    fn memory_size(&self) -> usize {
        self.keys.memory_size() + self.seqs.capacity() * 8 + self.kinds.capacity() + size_of::<Self>()
    }
}

impl CachedPart for BinaryColumn {
    fn memory_size(&self) -> usize {
        BinaryColumn::memory_size(self) + size_of::<Self>()
    }
}

/// A whole page: its key part and its values, for scans.
#[derive(Debug)]
pub(crate) struct DecodedPage {
    head: Arc<KeyPart>,
    values: Arc<BinaryColumn>,
}

impl DecodedPage {
    /// Puts a page's two parts together. Each was checked against the page index's row count
    /// when it was decoded, so they hold the same rows.
    pub(crate) fn new(head: Arc<KeyPart>, values: Arc<BinaryColumn>) -> Self {
        debug_assert_eq!(head.len(), values.len());
        Self { head, values }
    }

    pub(crate) fn len(&self) -> usize {
        self.head.len()
    }

    /// See [`KeyPart::seek_key`].
    pub(crate) fn seek_key(&self, key: &[u8], after: bool) -> usize {
        self.head.seek_key(key, after)
    }

    pub(crate) fn entry(&self, i: usize) -> Entry {
        let h = &*self.head;
        Entry { key: h.keys.get_bytes(i), seq: h.seqs[i], kind: h.kinds[i], value: self.values.get_bytes(i) }
    }
}

/// Version `i` of a page from its key part and, for a put, its value part (`None` for a
/// deletion, whose value is empty and never read from disk).
pub(crate) fn version(head: &KeyPart, values: Option<&BinaryColumn>, i: usize) -> VersionedValue {
    VersionedValue { seq: head.seqs[i], kind: head.kinds[i], value: values.map(|v| v.get_bytes(i)).unwrap_or_default() }
}

/// Orders user keys like `<[u8] as Ord>::cmp`, faster for the short keys point lookups compare
/// a dozen times each: eight bytes at a time as big-endian words, inline, instead of a call to
/// `memcmp` (which profiles of the lookup path showed as their largest single cost).
#[inline]
pub(crate) fn cmp_keys(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    if n > 64 {
        return a.cmp(b);
    }
    let (mut x, mut y) = (a, b);
    while let (Some((xw, xr)), Some((yw, yr))) = (x.split_first_chunk::<8>(), y.split_first_chunk::<8>()) {
        let (xw, yw) = (u64::from_be_bytes(*xw), u64::from_be_bytes(*yw));
        if xw != yw {
            return xw.cmp(&yw);
        }
        (x, y) = (xr, yr);
    }
    for (p, q) in x.iter().zip(y) {
        if p != q {
            return p.cmp(q);
        }
    }
    x.len().cmp(&y.len())
}

#[cfg(test)]
mod tests {
    use super::cmp_keys;

    #[test]
    fn cmp_keys_orders_like_slices() {
        let keys: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![1],
            vec![0xff],
            b"key0000000000001".to_vec(),
            b"key0000000000002".to_vec(),
            b"key000000000000".to_vec(),
            b"key00000000000010".to_vec(),
            b"key0000100000001".to_vec(),
            vec![7; 100],
            vec![7; 101],
            [vec![7; 99], vec![8]].concat(),
        ];
        for a in &keys {
            for b in &keys {
                assert_eq!(cmp_keys(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }
}
