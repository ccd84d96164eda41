//! Sequence numbers, value kinds and the internal key order.

use std::cmp::Ordering;

use crate::Error;

/// A sequence number. Every write gets the next one; higher is newer.
pub type SeqNo = u64;

/// The highest sequence number: reading at `MAX_SEQNO` sees every write.
pub const MAX_SEQNO: SeqNo = u64::MAX;

/// The highest sequence number a write may take: 2^56 - 1, as RocksDB's. At ten million
/// writes a second that lasts over two hundred years, so a larger number read from a log or
/// manifest is corruption, and numbering the writes after it can never overflow.
pub const MAX_WRITE_SEQNO: SeqNo = (1 << 56) - 1;

/// What a version of a key says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ValueKind {
    /// The key holds the value.
    Put = 0,
    /// A tombstone: the key is deleted, and every older version is hidden.
    Delete = 1,
    /// A range tombstone: the entry's key is the first key of the range and its value the
    /// end (exclusive); it deletes every older version of every key in the range (see
    /// [`RangeTombstone`](crate::RangeTombstone)).
    RangeDelete = 2,
}

impl ValueKind {
    /// The byte this kind is stored as.
    #[must_use]
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Decodes a stored byte.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValueKind`] for any byte other than 0 or 1.
    pub const fn from_u8(byte: u8) -> Result<Self, Error> {
        match byte {
            0 => Ok(Self::Put),
            1 => Ok(Self::Delete),
            2 => Ok(Self::RangeDelete),
            other => Err(Error::InvalidValueKind(other)),
        }
    }

    /// Whether this is a point tombstone (a [`Self::Delete`]; a range tombstone carries its
    /// end key as its value and is not one).
    #[must_use]
    pub const fn is_delete(self) -> bool {
        matches!(self, Self::Delete)
    }
}

impl TryFrom<u8> for ValueKind {
    type Error = Error;

    fn try_from(byte: u8) -> Result<Self, Error> {
        Self::from_u8(byte)
    }
}

/// The internal key order: user key ascending, then sequence number descending.
///
/// The newest version of a key sorts first, so a forward scan meets it before older ones,
/// and a seek to `(key, snapshot)` lands on the newest version visible at `snapshot`.
#[inline]
#[must_use]
pub fn compare_internal(a_key: &[u8], a_seq: SeqNo, b_key: &[u8], b_seq: SeqNo) -> Ordering {
    cmp_user_keys(a_key, b_key).then_with(|| b_seq.cmp(&a_seq))
}

/// [`cmp_keys`] as a call of its own.
///
/// NOTE: inlined into `compare_internal`, the word loop grew every merge and iterator that
/// orders entries past what the compiler would inline into its caller: seeks with 100 nexts
/// lost 7 %, though the merge heap of scans gained. One call keeps the gain and the callers
/// small.
#[inline(never)]
fn cmp_user_keys(a: &[u8], b: &[u8]) -> Ordering {
    cmp_keys(a, b)
}

/// Orders user keys like `<[u8] as Ord>::cmp`, faster for short keys: eight bytes at a time
/// as big-endian words, inline, instead of a call to `memcmp` (which profiles showed as the
/// largest single cost of point lookups, and of the merge heap of scans).
#[inline]
#[must_use]
pub fn cmp_keys(a: &[u8], b: &[u8]) -> Ordering {
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

/// Whether two user keys are equal, like `a == b`, without a call to `memcmp` for keys of 8
/// to 16 bytes: two words of each (overlapping for shorter keys) decide.
#[inline]
#[must_use]
pub fn keys_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() <= 16
        && let (Some(ah), Some(bh), Some(at), Some(bt)) =
            (a.first_chunk::<8>(), b.first_chunk::<8>(), a.last_chunk::<8>(), b.last_chunk::<8>())
    {
        return ah == bh && at == bt;
    }
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

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

    proptest::proptest! {
        /// Keys drawn from a small alphabet share long prefixes, so the word compare reaches
        /// every length of tail and every position of the first difference.
        #[test]
        fn cmp_keys_orders_random_keys_like_slices(
            a in proptest::collection::vec(0u8..3, 0..80),
            b in proptest::collection::vec(0u8..3, 0..80),
        ) {
            proptest::prop_assert_eq!(cmp_keys(&a, &b), a.cmp(&b));
            proptest::prop_assert_eq!(cmp_keys(&a, &a), std::cmp::Ordering::Equal);
            proptest::prop_assert_eq!(keys_equal(&a, &b), a == b);
            proptest::prop_assert!(keys_equal(&a, &a));
        }
    }

    #[test]
    fn newer_versions_sort_first_within_a_key() {
        assert_eq!(compare_internal(b"a", 9, b"a", 3), Ordering::Less);
        assert_eq!(compare_internal(b"a", 3, b"a", 9), Ordering::Greater);
        assert_eq!(compare_internal(b"a", 3, b"a", 3), Ordering::Equal);
    }

    #[test]
    fn user_key_order_dominates_sequence() {
        assert_eq!(compare_internal(b"a", 1, b"b", 100), Ordering::Less);
        // A key that is a prefix of another sorts before it whatever the sequences.
        assert_eq!(compare_internal(b"a", 1, b"ab", 100), Ordering::Less);
        assert_eq!(compare_internal(b"", 0, b"\0", MAX_SEQNO), Ordering::Less);
    }

    #[test]
    fn value_kind_round_trips_and_rejects_unknown_bytes() {
        for kind in [ValueKind::Put, ValueKind::Delete, ValueKind::RangeDelete] {
            assert_eq!(ValueKind::from_u8(kind.as_u8()), Ok(kind));
        }
        assert_eq!(ValueKind::try_from(3), Err(Error::InvalidValueKind(3)));
        assert!(ValueKind::Delete.is_delete());
        assert!(!ValueKind::Put.is_delete());
        assert!(!ValueKind::RangeDelete.is_delete());
    }
}
