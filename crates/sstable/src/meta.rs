//! What a table is, in a few numbers.

use strata_core::{Bytes, RangeTombstone, SeqNo};

/// The identifier of a table within a store; the manifest refers to tables by it.
pub type TableId = u64;

/// The summary of a written table: everything the engine needs without opening it.
///
/// The level a table sits on is the manifest's business, not the table's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableMeta {
    /// The table's id.
    pub id: TableId,
    /// Size of the table's file in bytes.
    pub file_size: u64,
    /// Number of entries (versions), tombstones included.
    pub entries: u64,
    /// Number of point tombstones.
    pub tombstones: u64,
    /// The smallest user key.
    pub min_key: Bytes,
    /// The largest user key, or the end of the widest range tombstone when that lies further:
    /// `[min_key, max_key]` is every key the table can say something about, and tables of one
    /// sorted level never share a key of it.
    pub max_key: Bytes,
    /// The smallest sequence number.
    pub min_seq: SeqNo,
    /// The largest sequence number.
    pub max_seq: SeqNo,
    /// When the table was written, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// The table's range tombstones (rows of kind `RangeDelete`), sorted. Usually empty.
    pub range_tombstones: Vec<RangeTombstone>,
}

impl TableMeta {
    /// Whether `key` lies within `[min_key, max_key]`.
    #[must_use]
    pub fn may_contain_key(&self, key: &[u8]) -> bool {
        key >= &self.min_key[..] && key <= &self.max_key[..]
    }

    /// Whether the table's key range `[min_key, max_key]` shares a key with `[min, max]`.
    #[must_use]
    pub fn overlaps(&self, min: &[u8], max: &[u8]) -> bool {
        &self.min_key[..] <= max && &self.max_key[..] >= min
    }

    /// Whether the key ranges of two tables share a key.
    #[must_use]
    pub fn overlaps_table(&self, other: &Self) -> bool {
        self.overlaps(&other.min_key, &other.max_key)
    }
}

/// The last key a table holding keys up to `last_key` and `range_tombstones` can say something
/// about: `last_key`, or the furthest tombstone end (kept as an inclusive bound, one key wider
/// than the tombstone reaches, so extents stay conservative).
#[must_use]
pub fn extent_end(last_key: Bytes, range_tombstones: &[RangeTombstone]) -> Bytes {
    range_tombstones.iter().map(|t| &t.end).filter(|end| **end > last_key).max().cloned().unwrap_or(last_key)
}
