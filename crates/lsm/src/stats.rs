//! Engine counters.

use std::sync::atomic::AtomicU64;

use strata_sstable::StoreStats;

/// Live counters, bumped with relaxed atomics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) writes: AtomicU64,
    pub(crate) write_groups: AtomicU64,
    pub(crate) wal_syncs: AtomicU64,
    pub(crate) user_bytes: AtomicU64,
    pub(crate) flush_stalls: AtomicU64,
    pub(crate) l0_stop_stalls: AtomicU64,
    pub(crate) stall_micros: AtomicU64,
    pub(crate) slowdowns: AtomicU64,
    pub(crate) slowdown_micros: AtomicU64,
    pub(crate) memtables_sealed: AtomicU64,
    pub(crate) flushes: AtomicU64,
    pub(crate) flush_bytes: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) compaction_bytes_read: AtomicU64,
    pub(crate) compaction_bytes_written: AtomicU64,
    pub(crate) compaction_rows_rewritten: AtomicU64,
    pub(crate) compaction_rows_copied: AtomicU64,
    /// Overlapping L0 tables iterators visited beyond the first, since the last task that
    /// took L0 (`Options::seek_compaction_bytes`).
    pub(crate) l0_extra_seeks: AtomicU64,
    pub(crate) seek_compactions: AtomicU64,
}

/// One level of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelStats {
    /// Tables on the level.
    pub tables: usize,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// A snapshot of the engine's counters and shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Write calls acknowledged (a batch counts once).
    pub writes: u64,
    /// Group commits: log writes shared by concurrent writers.
    pub write_groups: u64,
    /// Log fsyncs.
    pub wal_syncs: u64,
    /// Bytes of keys and values written by users.
    pub user_bytes: u64,
    /// Writes that waited because `max_immutable_memtables` memtables awaited flush.
    pub flush_stalls: u64,
    /// Writes that waited for compaction because L0 reached `l0_stop_trigger`. Compaction
    /// never makes a write wait otherwise.
    pub l0_stop_stalls: u64,
    /// Total time writers spent in stalls, in microseconds.
    pub stall_micros: u64,
    /// Write groups paced because L0 reached its slowdown trigger
    /// (`Options::l0_slowdown_trigger`; most of them pass without sleeping).
    pub slowdowns: u64,
    /// Total time write groups slept to keep to the slowdown's pace, in microseconds.
    pub slowdown_micros: u64,
    /// Memtables sealed.
    pub memtables_sealed: u64,
    /// Memtables flushed to tables.
    pub flushes: u64,
    /// Bytes of tables written by flushes.
    pub flush_bytes: u64,
    /// Compactions completed.
    pub compactions: u64,
    /// Bytes compactions read.
    pub compaction_bytes_read: u64,
    /// Bytes of tables compactions wrote.
    pub compaction_bytes_written: u64,
    /// Rows compactions wrote one by one (decoded, merged, encoded).
    pub compaction_rows_rewritten: u64,
    /// Rows compactions copied inside whole row groups, undecoded
    /// (`Options::copy_row_groups`).
    pub compaction_rows_copied: u64,
    /// Compactions run because iterators kept visiting several L0 tables
    /// (`Options::seek_compaction_bytes`), counted in `compactions` too.
    pub seek_compactions: u64,
    /// Time compactions waited for `Options::compaction_rate_bytes_per_sec`, in µs.
    pub compaction_throttled_micros: u64,
    /// Bytes held by the active memtable.
    pub active_memtable_bytes: usize,
    /// Sealed memtables awaiting flush.
    pub immutable_memtables: usize,
    /// Per level, tables and bytes.
    pub levels: Vec<LevelStats>,
    /// The last sequence number visible to readers.
    pub last_seq: u64,
    /// Live snapshots.
    pub snapshots: usize,
    /// The table store's counters (page reads, filter hits, caches).
    pub store: StoreStats,
}

impl Stats {
    /// Writes that waited, for any reason.
    #[must_use]
    pub const fn stalls(&self) -> u64 {
        self.flush_stalls + self.l0_stop_stalls
    }

    /// Bytes written to tables (flushes and compactions) per byte written by users.
    #[must_use]
    pub fn write_amplification(&self) -> f64 {
        if self.user_bytes == 0 {
            return 0.0;
        }
        (self.flush_bytes + self.compaction_bytes_written) as f64 / self.user_bytes as f64
    }

    /// Total bytes of live tables.
    #[must_use]
    pub fn table_bytes(&self) -> u64 {
        self.levels.iter().map(|l| l.bytes).sum()
    }
}
