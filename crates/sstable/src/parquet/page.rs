//! Decoded rows of a table: a page for point lookups, a batch for scans.

use std::cmp::Ordering;

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt8Type, UInt64Type};
use arrow_array::{Array, BinaryArray, RecordBatch};
use arrow_buffer::{Buffer, ScalarBuffer};
use strata_core::{Bytes, Entry, SeqNo, ValueKind, VersionedValue};

use super::schema::{KEY, KIND, SEQ, VALUE};

/// Lets an Arrow buffer back `Bytes`, so keys and values are handed out without copying.
struct ArrowOwned(Buffer);

impl AsRef<[u8]> for ArrowOwned {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

/// Rows decoded from a table, in internal key order.
pub(crate) struct DecodedRows {
    keys: BinaryArray,
    values: BinaryArray,
    seqs: ScalarBuffer<u64>,
    kinds: Box<[ValueKind]>,
    key_data: Bytes,
    value_data: Bytes,
}

impl DecodedRows {
    /// Checks the batch's shape and values; `Err` says what is wrong.
    pub(crate) fn from_batch(batch: &RecordBatch) -> Result<Self, String> {
        if batch.num_columns() != 4 {
            return Err(format!("batch has {} columns, expected 4", batch.num_columns()));
        }
        for (i, c) in batch.columns().iter().enumerate() {
            if c.null_count() != 0 {
                return Err(format!("column {i} holds nulls"));
            }
        }
        let keys = batch.column(KEY).as_binary_opt::<i32>().ok_or("key column is not Binary")?.clone();
        let values = batch.column(VALUE).as_binary_opt::<i32>().ok_or("value column is not Binary")?.clone();
        let seqs =
            batch.column(SEQ).as_primitive_opt::<UInt64Type>().ok_or("seq column is not UInt64")?.values().clone();
        let kinds = batch
            .column(KIND)
            .as_primitive_opt::<UInt8Type>()
            .ok_or("kind column is not UInt8")?
            .values()
            .iter()
            .map(|&b| ValueKind::from_u8(b).map_err(|e| e.to_string()))
            .collect::<Result<Box<[ValueKind]>, String>>()?;
        let key_data = Bytes::from_owner(ArrowOwned(keys.values().clone()));
        let value_data = Bytes::from_owner(ArrowOwned(values.values().clone()));
        Ok(Self { keys, values, seqs, kinds, key_data, value_data })
    }

    pub(crate) fn len(&self) -> usize {
        self.kinds.len()
    }

    #[inline]
    pub(crate) fn key(&self, i: usize) -> &[u8] {
        self.keys.value(i)
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

    fn slice(data: &Bytes, array: &BinaryArray, i: usize) -> Bytes {
        let offsets = array.value_offsets();
        data.slice(offsets[i] as usize..offsets[i + 1] as usize)
    }

    pub(crate) fn version(&self, i: usize) -> VersionedValue {
        VersionedValue { seq: self.seq(i), kind: self.kinds[i], value: Self::slice(&self.value_data, &self.values, i) }
    }

    pub(crate) fn entry(&self, i: usize) -> Entry {
        Entry {
            key: Self::slice(&self.key_data, &self.keys, i),
            seq: self.seq(i),
            kind: self.kinds[i],
            value: Self::slice(&self.value_data, &self.values, i),
        }
    }

    /// Heap bytes held, for the block cache's budget.
    pub(crate) fn memory_size(&self) -> usize {
        self.keys.get_array_memory_size()
            + self.values.get_array_memory_size()
            + self.seqs.len() * 8
            + self.kinds.len()
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
