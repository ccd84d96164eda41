//! Atomic write batches and their encoding in the write-ahead log.

use bytes::Bytes;
use strata_core::{SeqNo, ValueKind};

use crate::codec::{Reader, put_bytes, put_varint};
use crate::{Error, Result};

/// The largest key accepted, in bytes (64 KiB).
pub const MAX_KEY_LEN: usize = strata_sstable::MAX_KEY_LEN;
/// The largest value accepted, in bytes (256 MiB).
pub const MAX_VALUE_LEN: usize = strata_sstable::MAX_VALUE_LEN;

/// A group of puts and deletes applied atomically: after a crash either all of them are
/// there or none is, and no reader ever sees some without the others.
///
/// ```
/// let mut batch = strata::WriteBatch::new();
/// batch.put("account/alice", "90").put("account/bob", "110").delete("pending/42");
/// assert_eq!(batch.len(), 3);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub(crate) ops: Vec<(ValueKind, Bytes, Bytes)>,
    payload: usize,
}

impl WriteBatch {
    /// An empty batch.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put of `value` at `key`.
    pub fn put(&mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> &mut Self {
        let (key, value) = (key.into(), value.into());
        self.payload += key.len() + value.len();
        self.ops.push((ValueKind::Put, key, value));
        self
    }

    /// Adds a delete of `key`.
    pub fn delete(&mut self, key: impl Into<Bytes>) -> &mut Self {
        let key = key.into();
        self.payload += key.len();
        self.ops.push((ValueKind::Delete, key, Bytes::new()));
        self
    }

    /// Adds a range delete: every key in `[start, end)` written before this batch is deleted
    /// (one record, however many keys the range holds); a put in this batch or after it is
    /// not. An empty range (`start == end`) is no operation; `start > end` makes the write
    /// fail with [`Error::InvalidRange`].
    ///
    /// ```
    /// let mut batch = strata::WriteBatch::new();
    /// batch.delete_range("user/", "user0").put("user/7", "fresh");
    /// assert_eq!(batch.len(), 2);
    /// ```
    pub fn delete_range(&mut self, start: impl Into<Bytes>, end: impl Into<Bytes>) -> &mut Self {
        let (start, end) = (start.into(), end.into());
        if start == end {
            return self;
        }
        self.payload += start.len() + end.len();
        self.ops.push((ValueKind::RangeDelete, start, end));
        self
    }

    /// The number of operations.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch holds no operation.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Bytes of keys and values in the batch.
    #[must_use]
    pub const fn payload_bytes(&self) -> usize {
        self.payload
    }

    /// Checks every key and value against the size limits.
    pub(crate) fn validate(&self) -> Result<()> {
        for (kind, key, value) in &self.ops {
            if key.len() > MAX_KEY_LEN {
                return Err(Error::KeyTooLarge { len: key.len(), max: MAX_KEY_LEN });
            }
            if *kind == ValueKind::RangeDelete {
                if value.len() > MAX_KEY_LEN {
                    return Err(Error::KeyTooLarge { len: value.len(), max: MAX_KEY_LEN });
                }
                if key > value {
                    return Err(Error::InvalidRange { start: key.clone(), end: value.clone() });
                }
            }
            if value.len() > MAX_VALUE_LEN {
                return Err(Error::ValueTooLarge { len: value.len(), max: MAX_VALUE_LEN });
            }
        }
        if self.payload + 16 * self.ops.len() + 16 > crate::record::MAX_PAYLOAD {
            return Err(Error::BatchTooLarge { bytes: self.payload });
        }
        Ok(())
    }

    /// The WAL payload: `first_seq: u64 LE ‖ count: varint ‖ (kind: u8 ‖ key ‖ value)*`, keys
    /// and values as varint-length-prefixed bytes. Operation `i` gets sequence `first_seq + i`.
    pub(crate) fn encode(&self, first_seq: SeqNo, out: &mut Vec<u8>) {
        out.reserve(self.payload + 8 + 12 * self.ops.len());
        out.extend_from_slice(&first_seq.to_le_bytes());
        put_varint(out, self.ops.len() as u64);
        for (kind, key, value) in &self.ops {
            out.push(kind.as_u8());
            put_bytes(out, key);
            put_bytes(out, value);
        }
    }

    /// Decodes a WAL payload into its first sequence number and batch. `None` when the
    /// bytes are not a valid encoding.
    pub(crate) fn decode(payload: &[u8]) -> Option<(SeqNo, Self)> {
        let mut r = Reader::new(payload);
        let first_seq = r.u64_le()?;
        let count = r.varint()?;
        let mut batch = Self::new();
        for _ in 0..count {
            let kind = ValueKind::from_u8(r.u8()?).ok()?;
            let key = Bytes::copy_from_slice(r.bytes()?);
            let value = Bytes::copy_from_slice(r.bytes()?);
            match kind {
                ValueKind::Put => batch.put(key, value),
                ValueKind::Delete if value.is_empty() => batch.delete(key),
                ValueKind::Delete => return None,
                ValueKind::RangeDelete if key < value => batch.delete_range(key, value),
                ValueKind::RangeDelete => return None,
            };
        }
        // A record over the limits was not written by this engine, which validates every
        // batch before logging it: it is corrupt, and the memtable must never see it.
        batch.validate().ok()?;
        r.is_empty().then_some((first_seq, batch))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn batches_round_trip(
            seq in any::<u64>(),
            ops in prop::collection::vec((0u8..3, prop::collection::vec(any::<u8>(), 0..20), prop::collection::vec(any::<u8>(), 0..40)), 0..20),
        ) {
            let mut batch = WriteBatch::new();
            for (op, k, v) in ops {
                match op {
                    0 => { batch.put(k, v); }
                    1 => { batch.delete(k); }
                    _ => { let (a, b) = if k <= v { (k, v) } else { (v, k) }; batch.delete_range(a, b); }
                }
            }
            let mut out = Vec::new();
            batch.encode(seq, &mut out);
            prop_assert_eq!(WriteBatch::decode(&out), Some((seq, batch)));
        }

        #[test]
        fn garbage_decodes_to_none_or_a_batch_without_panicking(data in prop::collection::vec(any::<u8>(), 0..100)) {
            let _ = WriteBatch::decode(&data);
        }
    }

    #[test]
    fn limits_are_enforced_with_clear_errors() {
        let mut batch = WriteBatch::new();
        batch.put(vec![0u8; MAX_KEY_LEN + 1], "v");
        assert!(matches!(batch.validate(), Err(Error::KeyTooLarge { .. })));
        let mut ok = WriteBatch::new();
        ok.put(vec![0u8; MAX_KEY_LEN], "v");
        assert!(ok.validate().is_ok());
        let mut inverted = WriteBatch::new();
        inverted.delete_range("b", "a");
        assert!(matches!(inverted.validate(), Err(Error::InvalidRange { .. })));
        let mut empty = WriteBatch::new();
        empty.delete_range("a", "a");
        assert!(empty.is_empty());
        let mut long_end = WriteBatch::new();
        long_end.delete_range("a", vec![b'b'; MAX_KEY_LEN + 1]);
        assert!(matches!(long_end.validate(), Err(Error::KeyTooLarge { .. })));
        // A logged record over the limits does not decode: recovery calls it corrupt.
        for over in [batch, long_end] {
            let mut record = Vec::new();
            over.encode(7, &mut record);
            assert_eq!(WriteBatch::decode(&record), None);
        }
        let mut record = Vec::new();
        ok.encode(7, &mut record);
        assert_eq!(WriteBatch::decode(&record), Some((7, ok)));
    }
}
