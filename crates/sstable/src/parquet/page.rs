//! A decoded page: the rows of one page of the key column, with the same rows of the other
//! three columns, in internal key order.

use std::cmp::Ordering;

use strata_core::{Entry, SeqNo, ValueKind, VersionedValue};

use super::decode::BinaryColumn;

/// Rows decoded from a table, compact: the binary columns stay the decompressed page bytes
/// plus a `u32` offset per row (keys and values are handed out as zero-copy `Bytes` slices of
/// them), sequence numbers and kinds are plain arrays.
#[derive(Debug)]
pub(crate) struct DecodedPage {
    keys: BinaryColumn,
    values: BinaryColumn,
    seqs: Vec<u64>,
    kinds: Vec<ValueKind>,
}

impl DecodedPage {
    /// Puts the four columns of the same rows together; `Err` if their lengths differ.
    pub(crate) fn new(
        keys: BinaryColumn,
        seqs: Vec<u64>,
        kinds: Vec<ValueKind>,
        values: BinaryColumn,
    ) -> Result<Self, String> {
        let n = keys.len();
        if seqs.len() != n || kinds.len() != n || values.len() != n {
            return Err(format!(
                "columns disagree on the page's rows: {n} keys, {} seqs, {} kinds, {} values",
                seqs.len(),
                kinds.len(),
                values.len()
            ));
        }
        Ok(Self { keys, values, seqs, kinds })
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

    pub(crate) fn version(&self, i: usize) -> VersionedValue {
        VersionedValue { seq: self.seqs[i], kind: self.kinds[i], value: self.values.get_bytes(i) }
    }

    pub(crate) fn entry(&self, i: usize) -> Entry {
        Entry { key: self.keys.get_bytes(i), seq: self.seqs[i], kind: self.kinds[i], value: self.values.get_bytes(i) }
    }

    /// Heap bytes held, for the block cache's budget.
    pub(crate) fn memory_size(&self) -> usize {
        self.keys.memory_size()
            + self.values.memory_size()
            + self.seqs.capacity() * 8
            + self.kinds.capacity()
            + size_of::<Self>()
    }
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
