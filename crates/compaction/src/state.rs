//! What a policy sees of the tree: table summaries by level.

use std::collections::HashSet;

use bytes::Bytes;
use strata_core::SeqNo;
use strata_sstable::TableMeta;

use crate::TableId;

/// What a policy knows of one table: no I/O is needed to build or read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    /// The table's id.
    pub id: TableId,
    /// Size of the table's file in bytes.
    pub size: u64,
    /// The smallest user key.
    pub min_key: Bytes,
    /// The largest user key.
    pub max_key: Bytes,
    /// The smallest sequence number.
    pub min_seq: SeqNo,
    /// The largest sequence number.
    pub max_seq: SeqNo,
    /// Number of entries (versions), tombstones included.
    pub entries: u64,
    /// Number of tombstones.
    pub tombstones: u64,
    /// When the table was written, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

impl TableSummary {
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

impl From<&TableMeta> for TableSummary {
    fn from(meta: &TableMeta) -> Self {
        Self {
            id: meta.id,
            size: meta.file_size,
            min_key: meta.min_key.clone(),
            max_key: meta.max_key.clone(),
            min_seq: meta.min_seq,
            max_seq: meta.max_seq,
            entries: meta.entries,
            tombstones: meta.tombstones,
            created_at_ms: meta.created_at_ms,
        }
    }
}

/// The tree's shape, as a policy sees it.
///
/// * `levels[0]` is L0: its tables may overlap and are ordered **newest first** (by
///   `max_seq` descending). Under size-tiered and FIFO compaction every table of L0 is one
///   sorted run.
/// * `levels[i]` for `i >= 1`: tables sorted by `min_key` whose key ranges do not overlap.
/// * `compacting`: tables that are inputs of a task still running; a policy never picks them.
/// * `now_ms`: the current time in milliseconds since the Unix epoch (FIFO's age limit).
#[derive(Debug, Clone, Default)]
pub struct LevelState {
    /// Tables by level; see the type's documentation for the order within a level.
    pub levels: Vec<Vec<TableSummary>>,
    /// Tables that are inputs of running tasks.
    pub compacting: HashSet<TableId>,
    /// The current time in milliseconds since the Unix epoch.
    pub now_ms: u64,
}

impl LevelState {
    /// The tables of `level` (empty when the level does not exist).
    #[must_use]
    pub fn level(&self, level: usize) -> &[TableSummary] {
        self.levels.get(level).map_or(&[], Vec::as_slice)
    }

    /// Total bytes of the tables of `level`.
    #[must_use]
    pub fn level_bytes(&self, level: usize) -> u64 {
        self.level(level).iter().map(|t| t.size).sum()
    }

    /// Total bytes of every table.
    #[must_use]
    pub fn total_bytes(&self) -> u64 {
        self.levels.iter().flatten().map(|t| t.size).sum()
    }

    /// Number of tables in all levels.
    #[must_use]
    pub fn table_count(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// The level and summary of table `id`.
    #[must_use]
    pub fn find(&self, id: TableId) -> Option<(usize, &TableSummary)> {
        self.levels
            .iter()
            .enumerate()
            .find_map(|(level, tables)| tables.iter().find(|t| t.id == id).map(|t| (level, t)))
    }

    /// Whether table `id` is an input of a running task.
    #[must_use]
    pub fn is_compacting(&self, id: TableId) -> bool {
        self.compacting.contains(&id)
    }

    /// The tables of `level` whose key range shares a key with `[min, max]`.
    pub fn overlapping<'a>(
        &'a self,
        level: usize,
        min: &'a [u8],
        max: &'a [u8],
    ) -> impl Iterator<Item = &'a TableSummary> + 'a {
        self.level(level).iter().filter(move |t| t.overlaps(min, max))
    }

    /// Number of sorted runs a point lookup may visit: one per L0 table plus one per
    /// non-empty deeper level.
    #[must_use]
    pub fn sorted_runs(&self) -> usize {
        self.level(0).len() + self.levels.iter().skip(1).filter(|l| !l.is_empty()).count()
    }
}

/// The smallest `min_key` and largest `max_key` of `tables`, or `None` when there are none.
pub(crate) fn key_hull<'a>(tables: impl IntoIterator<Item = &'a TableSummary>) -> Option<(Bytes, Bytes)> {
    tables.into_iter().fold(None, |hull, t| match hull {
        None => Some((t.min_key.clone(), t.max_key.clone())),
        Some((lo, hi)) => Some((lo.min(t.min_key.clone()), hi.max(t.max_key.clone()))),
    })
}
