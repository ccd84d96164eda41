//! Database options: serde-deserializable, with builder methods, validated once at open.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use strata_compaction::PolicyConfig;
use strata_memtable::{MemtableKind, MemtableOptions};
use strata_sstable::{Compression, ParquetOptions};

use crate::{Error, Result};

/// When the write-ahead log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalSync {
    /// Only writes with [`WriteOptions::sync`] wait for an fsync. A process crash loses
    /// nothing acknowledged (the OS has the bytes); a machine crash or power loss can lose
    /// the writes since the last fsync.
    #[default]
    None,
    /// Every write waits for an fsync, shared by all writers committing at the same time
    /// (group commit): nothing acknowledged is lost even on power loss.
    EveryWrite,
}

/// What opening does when the newest log segment holds bytes that are not a valid record.
///
/// A crash can tear the last write, leaving a partial record at the end of the log; that
/// write was never acknowledged as synced and is dropped in every mode. The modes differ
/// when valid records follow the damaged bytes, which a torn write cannot produce (log
/// segments are written strictly by appending, and never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalRecovery {
    /// Only a torn tail is dropped. Damage followed by valid records is
    /// [`crate::Error::Corruption`] naming the segment and both offsets: the records after
    /// it may have been acknowledged, so the database refuses to open rather than lose them
    /// without a word. The default.
    #[default]
    TornTail,
    /// Recover to the last record before the first damage and drop everything after it,
    /// valid or not (RocksDB's point-in-time recovery). Use this to open a database that
    /// `torn_tail` refused, accepting the loss of the writes after the damage; a warning
    /// names what was dropped. After a power loss with unsynced writes (`wal_sync = "none"`)
    /// the file system may persist later pages of the log before earlier ones, which looks
    /// like damage followed by valid records; this mode opens such a log.
    PointInTime,
}

/// Per-write options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// Wait until the write is fsynced to the log. Concurrent writers share one fsync.
    pub sync: bool,
}

impl WriteOptions {
    /// Options for a write that must survive power loss once acknowledged.
    #[must_use]
    pub const fn synced() -> Self {
        Self { sync: true }
    }
}

/// Page compression of tables, by the names used in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompressionName {
    /// No compression.
    None,
    /// Snappy.
    Snappy,
    /// LZ4: fast to decode, which point lookups want. The default.
    #[default]
    Lz4,
    /// Zstandard at [`TableOptions::zstd_level`].
    Zstd,
}

/// How tables are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TableOptions {
    /// Page compression. Default `lz4`.
    pub compression: CompressionName,
    /// Zstandard level, 1 to 22, used when `compression = "zstd"`. Default 3.
    pub zstd_level: i32,
    /// Rows per data page; a cold point lookup decodes one page. Default 64 (about a 4 KiB
    /// block of 16-byte keys and 100-byte values after LZ4: four times fewer bytes per cache
    /// miss than 256 rows, for tables about 7 % larger).
    pub page_rows: usize,
    /// Rows per data page of the `value` column, at most `page_rows`. Default 32: a cold
    /// point lookup decompresses and checksums its value page up to the value, so value pages
    /// half as long as the key page halve those bytes, for tables about 1 % larger.
    pub value_page_rows: usize,
    /// Rows per Parquet row group. Default 131,072.
    pub row_group_rows: usize,
    /// Encoded bytes at which a row group closes before it reaches `row_group_rows`: what a
    /// flush or merge holds in memory per table it writes. Default 16 MiB; at least 64 KiB.
    pub row_group_max_bytes: usize,
    /// Bloom filter bits per key. Default 10 (about 1% false positives). With
    /// `monkey_filters`, the average over all levels instead.
    pub bloom_bits_per_key: f64,
    /// Bits per key by the level a table is written for: entry `i` for level `i`, the last
    /// for every deeper level (RocksDB users know this as per-level filter settings).
    /// Empty (the default): `bloom_bits_per_key` everywhere. Each in 1 to 64.
    pub bloom_bits_per_level: Vec<f64>,
    /// Compression by the level a table is written for: entry `i` for level `i`, the last for
    /// every deeper level, `compression` when empty (the default). For example
    /// `["none", "lz4", "lz4", "zstd"]`: nothing for L0, whose tables are rewritten soonest,
    /// zstd from L3 down, where most bytes live (zstd at `zstd_level`).
    pub compression_per_level: Vec<CompressionName>,
    /// Spread the filter memory of `bloom_bits_per_key` per key across the levels by the
    /// Monkey rule (`strata_bloom::monkey_bits_per_key`): each level's false-positive rate
    /// proportional to its size, so the small upper levels get more bits, the large bottom
    /// level fewer, and a lookup that misses pays fewer false positives in total for the
    /// same memory. Uses the leveled policy's `num_levels` and `level_multiplier`, and
    /// assumes a tree that fills all `num_levels` levels: a shallower tree spends more than
    /// `bloom_bits_per_key` per key on average, so set `num_levels` to the depth the data
    /// reaches (or give `bloom_bits_per_level` yourself). Ignored when
    /// `bloom_bits_per_level` is set. Default `false`.
    pub monkey_filters: bool,
    /// Also write Parquet's own Bloom filter on the `key` column, for external engines that
    /// skip row groups with it (Strata's lookups use their own filter either way). Keys are
    /// sorted, so row-group min/max statistics already send a key-equality query to at most
    /// one row group of a table; the filter only lets such a query skip that row group when
    /// the key is absent. It costs one byte per key: 1.6 % of a table of 100-byte values, and
    /// of every byte flushes and compactions write. Default `false`; turn it on when external
    /// engines look up absent keys in the files often.
    pub parquet_bloom_filter: bool,
    /// The least share of the value column's bytes compression must save, judged on a sample
    /// of each table's first values, for values to be stored compressed; otherwise the table's
    /// values are stored uncompressed (keys, sequence numbers and kinds are compressed either
    /// way), as RocksDB stores a block whose compression saves under 12.5 %. Values that are
    /// random, encrypted or already compressed then cost a copy on a cache miss instead of a
    /// decompression that gains nothing. Default 0.125; 0 always compresses. Allowed 0 to 1.
    pub min_compression_saving: f64,
    /// Read local tables through a read-only memory map, so a page that misses the block
    /// cache but sits in the OS page cache costs no system call and no copy (every read is
    /// still checksummed). Tables in an object store are read as before. Turn it off where
    /// another process might truncate a live table file: a read past the new end would end
    /// the process with SIGBUS. Default `true`.
    pub mmap_reads: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        let p = ParquetOptions::default();
        Self {
            compression: CompressionName::Lz4,
            zstd_level: 3,
            page_rows: p.page_rows,
            value_page_rows: p.value_page_rows,
            row_group_rows: p.row_group_rows,
            row_group_max_bytes: p.row_group_max_bytes,
            bloom_bits_per_key: 10.0,
            bloom_bits_per_level: Vec::new(),
            compression_per_level: Vec::new(),
            monkey_filters: false,
            parquet_bloom_filter: p.parquet_bloom_filter,
            min_compression_saving: p.min_compression_saving,
            mmap_reads: p.mmap_reads,
        }
    }
}

/// Options of a database. Every field has a default that suits a laptop; invalid values
/// are rejected by [`crate::Db::open`] with an error naming the field.
///
/// From TOML:
///
/// ```
/// let options: strata::Options = toml::from_str(r#"
///     memtable_type = "enhanced_skiplist"
///     max_memtable_size = 33554432
///     wal_sync = "every_write"
///     [compaction]
///     policy = "size_tiered"
///     [table]
///     compression = "zstd"
/// "#).unwrap();
/// assert_eq!(options.memtable_type, strata_memtable::MemtableKind::EnhancedSkipList);
/// options.validate().unwrap();
/// ```
///
/// From JSON:
///
/// ```
/// let options: strata::Options =
///     serde_json::from_str(r#"{ "memtable_type": "trie", "max_immutable_memtables": 4 }"#).unwrap();
/// assert_eq!(options.max_immutable_memtables, 4);
/// ```
///
/// With builder methods:
///
/// ```
/// use strata::{Options, WalSync};
/// let options = Options::default().memtable_type("vector").unwrap().max_memtable_size(8 << 20).wal_sync(WalSync::EveryWrite);
/// options.validate().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// The data directory, when opening with [`crate::Db::open_with`]. [`crate::Db::open`]
    /// takes the directory as an argument instead.
    pub data_dir: Option<PathBuf>,
    /// Create the database if the directory holds none. Default `true`.
    pub create_if_missing: bool,
    /// The memtable variant, by name: `enhanced_skiplist` (default), `skiplist`, `sorted`,
    /// `vector`, `trie`, `linked_list`, `hash_skiplist`, `hash_linked_list`.
    pub memtable_type: MemtableKind,
    /// Key-prefix length of the hash memtables. Default 8.
    pub memtable_prefix_len: usize,
    /// Bucket count of the hash memtables; `None` for the variant's default.
    pub memtable_buckets: Option<usize>,
    /// A memtable is sealed and flushed once it holds this many bytes. Default 64 MiB;
    /// allowed 64 KiB to 4 GiB.
    pub max_memtable_size: usize,
    /// Sealed memtables waiting for flush before writes stall. Default 2; allowed 1 to 64.
    pub max_immutable_memtables: usize,
    /// The Bloom filter each memtable keeps in front of point reads, as a share of
    /// `max_memtable_size` in bytes (RocksDB's `memtable_prefix_bloom_size_ratio` over whole
    /// keys): a read skips the memtables whose filter rules its key out instead of searching
    /// them. Default 0.01 (655 KiB for a 64 MiB memtable, about 12.5 bits and 0.6 % false
    /// positives per entry of 16-byte keys and 100-byte values); allowed 0 to 0.25, 0 keeps
    /// no filter. The filter is allocated with its memtable and not counted towards its size.
    pub memtable_filter_ratio: f64,
    /// When the log is fsynced. Default `none` (see [`WalSync`]).
    pub wal_sync: WalSync,
    /// How damage in the newest log segment is treated at open. Default `torn_tail` (see
    /// [`WalRecovery`]).
    pub wal_recovery: WalRecovery,
    /// Whether the log is appended through a shared memory map of space reserved ahead of
    /// its end (a copy into the page cache per write group) instead of a `write` system call
    /// per group: a write is as safe either way once it returns (it survives the process
    /// being killed; [`WalSync`] decides when it is on disk). Linux only, where the file
    /// system can reserve space (`fallocate`); elsewhere the log is written. Default `true`:
    /// on a 2-core machine the system call was a quarter of a single writer's time.
    pub wal_mmap: bool,
    /// Run compactions on background threads. Default `true`; when off, only
    /// `compact_range` compacts.
    pub enable_background_compaction: bool,
    /// Background compaction threads. Default 2; allowed 1 to 64.
    pub max_background_jobs: usize,
    /// The nice value background merges below L0 (and their subcompactions) run at, on
    /// Linux: 0 to 19, higher yields the CPU more readily. Default 10, so a compaction
    /// burst on a machine with few cores delays foreground reads and writes less (their
    /// tail latency) and takes the idle CPU all the same. Merges out of L0 keep the
    /// process's priority: writers wait on L0 alone (its slowdown and stop triggers), so an
    /// L0 merge that yielded to them would only hold them back longer.
    /// 0 keeps the process's priority, as does a process already running at a higher nice
    /// value. Flushes and `compact_range` run at the priority of their thread. No effect on
    /// other systems.
    pub compaction_nice: i32,
    /// Bytes per second that flushes and compactions together may write (entries' keys and
    /// values before compression), as a token bucket shared by both: flushes take their bytes
    /// at once and never wait (a waiting flush would stall writers), compactions wait until
    /// the bucket has paid for everything taken before them. Bounds how much disk bandwidth a
    /// compaction burst takes from the foreground. Default 0: no limit.
    pub compaction_rate_bytes_per_sec: u64,
    /// The most key ranges one compaction is split into, merged in parallel (RocksDB's
    /// subcompactions): a compaction of at least 4 MiB is cut into ranges of about equal
    /// input bytes, at input tables' first keys and at the split keys the table store reads
    /// from its page index. Default 2; allowed 1 to 64 (1: no split). On a 2-vCPU machine, 2
    /// made a full compaction of 1M keys 1.3-1.5× faster, sequential or random.
    ///
    /// All of them are used by `compact_range`, and by any compaction while L0 holds
    /// `l0_slowdown_trigger` tables or more; other background compactions take at most one
    /// fewer range than the machine has cores, so reads and writes keep a core (on two
    /// cores, one range).
    pub max_subcompactions: usize,
    /// Whether a compaction copies whole the row groups of its inputs that no other input
    /// overlaps and that hold one version per key and no tombstone, byte for byte, instead
    /// of decoding and re-encoding their rows (the same data either way). Default true.
    pub copy_row_groups: bool,
    /// Whether each table a flush, a merge or an ingest writes is read back whole and
    /// checked, as [`Db::verify`](crate::Db::verify) checks a table (point lookups of every
    /// key included), before it is installed. A problem fails the flush, compaction or
    /// ingest as [`Error::Corruption`](crate::Error::Corruption) naming the table, which is
    /// deleted: after a flush or compaction the database turns read-only with the log
    /// segment or input tables kept, and a failed ingest ingests nothing. Like RocksDB's
    /// `paranoid_file_checks`. Writes wait for it only while an ingest commits; flushes and
    /// compactions take longer (a full compaction of 1M keys, 2.3 times as long). Default
    /// `false`.
    pub verify_new_tables: bool,
    /// Compaction bytes one iterator pays for with each overlapping L0 table it visits beyond
    /// the first (a seek that a single L0 table would have served from one source). Once
    /// those payments cover the bytes of the policy's task for reads
    /// ([`CompactionPolicy::pick_for_reads`](strata_compaction::CompactionPolicy::pick_for_reads);
    /// leveled: L0 merged into one table, or into L1 when L0 is the larger), and the policy
    /// has nothing else to do, a background thread runs it, so a tree that stopped taking
    /// writes below L0's trigger does not leave every scan merging several L0 tables for good.
    /// As in LevelDB's seek compaction, one wasted seek is taken to cost what compacting
    /// about 16 KiB does. Default 16 KiB; 0 turns it off.
    pub seek_compaction_bytes: u64,
    /// The compaction policy and its parameters (`policy = "leveled" | "size_tiered" | "fifo"`).
    pub compaction: PolicyConfig,
    /// With this many L0 tables, writes are paced so compaction can catch up: each write
    /// group pays for its bytes at [`Self::delayed_write_rate`], a rate that falls by a fifth
    /// with each table L0 gains meanwhile and comes back as L0 shrinks (a group sleeps once
    /// its debt reaches 100 µs; `Stats::slowdowns` counts paced groups). Default 20.
    pub l0_slowdown_trigger: usize,
    /// Bytes per second (keys and values) writers may write while L0 is at or over
    /// [`Self::l0_slowdown_trigger`], before L0's growth slows them further (RocksDB's option
    /// of the same name). Default 16 MiB/s; at least 16 KiB/s.
    pub delayed_write_rate: u64,
    /// With this many L0 tables, writes wait for compaction. Default 36; must exceed
    /// `l0_slowdown_trigger`.
    pub l0_stop_trigger: usize,
    /// How tables are written.
    pub table: TableOptions,
    /// Byte budget of the cache of decoded table pages. Default 64 MiB.
    pub block_cache_bytes: usize,
    /// Whether a full block cache caches a page only on its second miss within a while (a
    /// doorkeeper, as in TinyLFU), reading it in place the first time: with data many times
    /// the cache, most pages a point read decodes would be evicted unused, and caching them
    /// costs more than the read. Pages read again soon are cached as before. Default `true`;
    /// `false` caches every page a read decodes.
    pub block_cache_admission: bool,
    /// Byte budget of the cache of open tables (metadata, indexes, filters). Default 256 MiB.
    pub table_cache_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            data_dir: None,
            create_if_missing: true,
            memtable_type: MemtableKind::default(),
            memtable_prefix_len: MemtableOptions::default().prefix_len,
            memtable_buckets: None,
            max_memtable_size: 64 << 20,
            max_immutable_memtables: 2,
            memtable_filter_ratio: 0.01,
            wal_sync: WalSync::None,
            wal_recovery: WalRecovery::TornTail,
            wal_mmap: true,
            enable_background_compaction: true,
            max_background_jobs: 2,
            compaction_nice: 10,
            compaction_rate_bytes_per_sec: 0,
            max_subcompactions: 2,
            copy_row_groups: true,
            verify_new_tables: false,
            seek_compaction_bytes: 16 << 10,
            compaction: PolicyConfig::default(),
            l0_slowdown_trigger: 20,
            delayed_write_rate: 16 << 20,
            l0_stop_trigger: 36,
            table: TableOptions::default(),
            block_cache_bytes: 64 << 20,
            block_cache_admission: true,
            table_cache_bytes: 256 << 20,
        }
    }
}

fn invalid(field: &'static str, reason: String) -> Error {
    Error::InvalidOption { field, reason }
}

impl Options {
    /// Sets the memtable variant by name.
    ///
    /// # Errors
    ///
    /// [`Error::Memtable`] listing the valid names.
    pub fn memtable_type(mut self, name: &str) -> Result<Self> {
        self.memtable_type = name.parse()?;
        Ok(self)
    }

    /// Sets [`Options::max_memtable_size`].
    #[must_use]
    pub const fn max_memtable_size(mut self, bytes: usize) -> Self {
        self.max_memtable_size = bytes;
        self
    }

    /// Sets [`Options::max_immutable_memtables`].
    #[must_use]
    pub const fn max_immutable_memtables(mut self, n: usize) -> Self {
        self.max_immutable_memtables = n;
        self
    }

    /// Sets [`Options::wal_sync`].
    #[must_use]
    pub const fn wal_sync(mut self, mode: WalSync) -> Self {
        self.wal_sync = mode;
        self
    }

    /// Sets [`Options::wal_mmap`].
    #[must_use]
    pub const fn wal_mmap(mut self, on: bool) -> Self {
        self.wal_mmap = on;
        self
    }

    /// Sets [`Options::wal_recovery`].
    #[must_use]
    pub const fn wal_recovery(mut self, mode: WalRecovery) -> Self {
        self.wal_recovery = mode;
        self
    }

    /// Sets the compaction policy.
    #[must_use]
    pub fn compaction(mut self, policy: PolicyConfig) -> Self {
        self.compaction = policy;
        self
    }

    /// Sets [`Options::enable_background_compaction`].
    #[must_use]
    pub const fn background_compaction(mut self, on: bool) -> Self {
        self.enable_background_compaction = on;
        self
    }

    /// Sets the table compression.
    #[must_use]
    pub const fn compression(mut self, compression: CompressionName) -> Self {
        self.table.compression = compression;
        self
    }

    /// Bits of the Bloom filter in front of each memtable (`memtable_filter_ratio`); 0 for none.
    pub(crate) fn memtable_filter_bits(&self) -> usize {
        (self.max_memtable_size as f64 * self.memtable_filter_ratio * 8.0) as usize
    }

    /// Checks every option.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] naming the first field outside its allowed range.
    pub fn validate(&self) -> Result<()> {
        if !(64 << 10..=4 << 30).contains(&self.max_memtable_size) {
            return Err(invalid(
                "max_memtable_size",
                format!("{} is outside 65536..=4294967296 bytes", self.max_memtable_size),
            ));
        }
        if !(1..=64).contains(&self.max_immutable_memtables) {
            return Err(invalid(
                "max_immutable_memtables",
                format!("{} is outside 1..=64", self.max_immutable_memtables),
            ));
        }
        if !(0.0..=0.25).contains(&self.memtable_filter_ratio) {
            return Err(invalid(
                "memtable_filter_ratio",
                format!("{} is outside 0..=0.25", self.memtable_filter_ratio),
            ));
        }
        if !(1..=64).contains(&self.max_subcompactions) {
            return Err(invalid("max_subcompactions", format!("{} is outside 1..=64", self.max_subcompactions)));
        }
        if !(0..=19).contains(&self.compaction_nice) {
            return Err(invalid("compaction_nice", format!("{} is outside 0..=19", self.compaction_nice)));
        }
        if !(1..=64).contains(&self.max_background_jobs) {
            return Err(invalid("max_background_jobs", format!("{} is outside 1..=64", self.max_background_jobs)));
        }
        if self.delayed_write_rate < crate::pacing::MIN_RATE {
            return Err(invalid(
                "delayed_write_rate",
                format!("{} is below {} bytes per second", self.delayed_write_rate, crate::pacing::MIN_RATE),
            ));
        }
        if self.l0_slowdown_trigger == 0 || self.l0_stop_trigger <= self.l0_slowdown_trigger {
            return Err(invalid(
                "l0_stop_trigger",
                format!(
                    "l0_slowdown_trigger ({}) must be at least 1 and below l0_stop_trigger ({})",
                    self.l0_slowdown_trigger, self.l0_stop_trigger
                ),
            ));
        }
        self.memtable_options().validate().map_err(|e| invalid("memtable_prefix_len", e.to_string()))?;
        self.compaction.validate().map_err(|e| invalid("compaction", e.to_string()))?;
        self.parquet_options(true).validate().map_err(|e| invalid("table", e.to_string()))?;
        Ok(())
    }

    pub(crate) const fn memtable_options(&self) -> MemtableOptions {
        MemtableOptions { prefix_len: self.memtable_prefix_len, bucket_count: self.memtable_buckets }
    }

    /// The table-store options these options imply, for opening a [`strata_sstable::ParquetStore`]
    /// yourself (for example to pass it to [`crate::Db::open_with_components`]).
    #[must_use]
    pub fn table_store_options(&self) -> ParquetOptions {
        self.parquet_options(true)
    }

    /// Filter bits per key by level: `bloom_bits_per_level`, or the Monkey allocation of
    /// `bloom_bits_per_key` when `monkey_filters` is on, or empty (uniform).
    #[must_use]
    pub fn filter_bits_per_level(&self) -> Vec<f64> {
        if !self.table.bloom_bits_per_level.is_empty() || !self.table.monkey_filters {
            return self.table.bloom_bits_per_level.clone();
        }
        let (levels, ratio) = match &self.compaction {
            strata_compaction::PolicyConfig::Leveled { num_levels, level_multiplier, .. } => {
                (*num_levels, *level_multiplier as f64)
            }
            _ => (1, 1.0),
        };
        strata_bloom::monkey_bits_per_key(self.table.bloom_bits_per_key, levels, ratio, 1.0)
    }

    pub(crate) fn parquet_options(&self, sync: bool) -> ParquetOptions {
        let codec = |name: CompressionName| match name {
            CompressionName::None => Compression::None,
            CompressionName::Snappy => Compression::Snappy,
            CompressionName::Lz4 => Compression::Lz4,
            CompressionName::Zstd => Compression::Zstd(self.table.zstd_level),
        };
        ParquetOptions {
            compression: codec(self.table.compression),
            compression_per_level: self.table.compression_per_level.iter().copied().map(codec).collect(),
            page_rows: self.table.page_rows,
            value_page_rows: self.table.value_page_rows,
            row_group_rows: self.table.row_group_rows,
            row_group_max_bytes: self.table.row_group_max_bytes,
            filter: strata_bloom::FilterPolicy::BitsPerKey(self.table.bloom_bits_per_key),
            filter_per_level: self
                .filter_bits_per_level()
                .into_iter()
                .map(strata_bloom::FilterPolicy::BitsPerKey)
                .collect(),
            block_cache_bytes: self.block_cache_bytes,
            block_cache_admission: self.block_cache_admission,
            table_cache_bytes: self.table_cache_bytes,
            parquet_bloom_filter: self.table.parquet_bloom_filter,
            min_compression_saving: self.table.min_compression_saving,
            mmap_reads: self.table.mmap_reads,
            sync,
            ..ParquetOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Options::default().validate().unwrap();
    }

    #[test]
    fn the_parquet_bloom_filter_can_be_asked_for_from_toml() {
        assert!(!Options::default().table_store_options().parquet_bloom_filter);
        let options: Options = toml::from_str("[table]\nparquet_bloom_filter = true\n").unwrap();
        assert!(options.table_store_options().parquet_bloom_filter);
    }

    #[test]
    fn block_cache_admission_is_on_by_default_and_can_be_turned_off() {
        assert!(Options::default().table_store_options().block_cache_admission);
        let options: Options = toml::from_str("block_cache_admission = false\n").unwrap();
        assert!(!options.table_store_options().block_cache_admission);
    }

    #[test]
    fn memory_mapped_reads_are_on_by_default_and_can_be_turned_off() {
        assert!(Options::default().table_store_options().mmap_reads);
        let options: Options = toml::from_str("[table]\nmmap_reads = false\n").unwrap();
        assert!(!options.table_store_options().mmap_reads);
    }

    #[test]
    fn the_value_compression_saving_reaches_the_store_and_is_checked() {
        assert_eq!(Options::default().table_store_options().min_compression_saving, 0.125);
        let options: Options = toml::from_str("[table]\nmin_compression_saving = 0.0\n").unwrap();
        assert_eq!(options.table_store_options().min_compression_saving, 0.0);
        let options: Options = toml::from_str("[table]\nmin_compression_saving = 2.0\n").unwrap();
        let e = options.validate().unwrap_err().to_string();
        assert!(e.contains("min_compression_saving"), "{e}");
    }

    #[test]
    fn errors_name_the_field() {
        let cases: Vec<(Options, &str)> = vec![
            (Options { max_memtable_size: 10, ..Options::default() }, "max_memtable_size"),
            (Options { max_immutable_memtables: 0, ..Options::default() }, "max_immutable_memtables"),
            (Options { max_background_jobs: 0, ..Options::default() }, "max_background_jobs"),
            (Options { delayed_write_rate: 1000, ..Options::default() }, "delayed_write_rate"),
            (Options { max_subcompactions: 0, ..Options::default() }, "max_subcompactions"),
            (Options { memtable_filter_ratio: 0.3, ..Options::default() }, "memtable_filter_ratio"),
            (Options { memtable_filter_ratio: f64::NAN, ..Options::default() }, "memtable_filter_ratio"),
            (Options { compaction_nice: 20, ..Options::default() }, "compaction_nice"),
            (Options { compaction_nice: -1, ..Options::default() }, "compaction_nice"),
            (Options { l0_stop_trigger: 5, ..Options::default() }, "l0_stop_trigger"),
            (Options { memtable_prefix_len: 0, ..Options::default() }, "memtable_prefix_len"),
            (
                Options {
                    table: TableOptions {
                        zstd_level: 99,
                        compression: CompressionName::Zstd,
                        ..TableOptions::default()
                    },
                    ..Options::default()
                },
                "table",
            ),
            (
                Options {
                    table: TableOptions { row_group_max_bytes: 1000, ..TableOptions::default() },
                    ..Options::default()
                },
                "row_group_max_bytes",
            ),
        ];
        for (options, field) in cases {
            let err = options.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err:?} does not name {field}");
        }
    }

    #[test]
    fn unknown_fields_and_names_are_rejected() {
        assert!(toml::from_str::<Options>("memtable_typo = \"trie\"").is_err());
        let err = toml::from_str::<Options>("memtable_type = \"btree\"").unwrap_err().to_string();
        assert!(err.contains("enhanced_skiplist"), "{err}");
        assert!(Options::default().memtable_type("btree").is_err());
    }
}
