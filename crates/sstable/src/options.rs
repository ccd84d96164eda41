//! Options of the Parquet store.

use strata_bloom::FilterPolicy;

use crate::{Error, Result};

/// The largest key a table accepts.
pub const MAX_KEY_LEN: usize = 64 * 1024;
/// The largest value a table accepts.
pub const MAX_VALUE_LEN: usize = 256 * 1024 * 1024;

/// The page compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression.
    None,
    /// Snappy.
    Snappy,
    /// LZ4 (the Parquet `LZ4_RAW` codec): fast to decode, which point lookups want.
    #[default]
    Lz4,
    /// Zstandard at a level in `1..=22`.
    Zstd(i32),
}

/// The block sizes (bytes covered by one block CRC) a table may have:
/// [`ParquetOptions::checksum_block_size`] picks one, a power of two.
pub(crate) const BLOCK_SIZES: std::ops::RangeInclusive<u64> = 512..=(1 << 20);

/// Options of a [`crate::ParquetStore`]. Checked once, by [`crate::ParquetStore::open`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParquetOptions {
    /// Page compression. Default LZ4.
    pub compression: Compression,
    /// Rows per data page of the `key`, `seq` and `kind` columns (the `value` column's are
    /// [`Self::value_page_rows`]). A cold point lookup decodes one key page, the `seq` and
    /// `kind` pages of the same rows (exactly one each, as the row limit is the same), and the
    /// value page holding its row. A table whose first rows are all puts at sequence number
    /// 0 (a merge's output below L0) has `seq` and `kind` pages 16 times as long, and one
    /// whose first rows are all puts has such `kind` pages: each holds one number, which the
    /// page index says, so they are not read. Default 64: about a 4 KiB block after LZ4 for
    /// 100-byte values, RocksDB's block size; 256 makes tables about 7 % smaller and a cache
    /// miss about four times the bytes. Allowed 1 to 1,048,576.
    pub page_rows: usize,
    /// Rows per data page of the `value` column, at most `page_rows` (a larger setting is
    /// `page_rows`). A cold point lookup decodes its value page up to the value, so a smaller
    /// value page halves the bytes it decompresses and checksums, while the key, `seq` and
    /// `kind` pages, whose page index the lookup searches, stay `page_rows` long. The encoder
    /// works in batches of rows that divide both limits, so a setting sharing few factors with
    /// `page_rows` (say 31 with 64) makes writing slower. Default 32.
    /// Allowed 1 to 1,048,576.
    pub value_page_rows: usize,
    /// Upper bound on the size of a data page before compression; it cuts pages of large
    /// values before `page_rows` is reached. Default 16 KiB; allowed 512 B to 16 MiB.
    pub data_page_size: usize,
    /// Rows per row group. Default 128 Ki; allowed 1 to 2^31.
    pub row_group_rows: usize,
    /// A row group is also closed when its encoded size reaches this many bytes, which bounds
    /// the writer's memory for large values: a writer holds its row group's encoded pages
    /// until the group closes. Default 16 MiB, above what a full row group of 100-byte values
    /// takes even uncompressed; with 1 KiB values it took a 1M-key load's peak anonymous
    /// memory from 405-441 MiB to 306 MiB against 64 MiB. At least 64 KiB.
    pub row_group_max_bytes: usize,
    /// How each row group's Bloom filter is sized. Default 10 bits per key.
    pub filter: FilterPolicy,
    /// Filter sizing by the level a table is written for (`SsTableStore::write_table_at`):
    /// entry `i` for level `i`, the last entry for every deeper level, [`Self::filter`] when
    /// empty (the default). Fill it with `strata_bloom::monkey_bits_per_key` to spend a
    /// filter-memory budget where it lowers the summed false-positive rate most.
    pub filter_per_level: Vec<FilterPolicy>,
    /// The least share of the value column's bytes the codec must save for values to be
    /// stored compressed. Before a table is written its first values (about 64 KiB) are cut
    /// into pages and compressed as a sample; when that saves less than this share, the table's
    /// `value` column is written uncompressed (its `key`, `seq` and `kind` columns are
    /// compressed either way), as RocksDB stores a block whose compression saves under 12.5 %
    /// raw. A cache miss then costs a checksum and a copy instead of a decompression that gains
    /// nothing, the usual case for values that are random, encrypted or already compressed.
    /// Default 0.125; 0 turns the check off (values are always compressed). Allowed 0 to 1.
    pub min_compression_saving: f64,
    /// Compression by the level a table is written for (`SsTableStore::write_table_at`):
    /// entry `i` for level `i`, the last entry for every deeper level, [`Self::compression`]
    /// when empty (the default). RocksDB's usual advice fits here too: a fast codec (or none)
    /// for the small upper levels, which are rewritten often, and zstd for the deep levels,
    /// which hold most of the bytes.
    pub compression_per_level: Vec<Compression>,
    /// Byte budget of the cache of decoded pages. Default 64 MiB; 0 disables caching.
    pub block_cache_bytes: usize,
    /// Whether a full block cache admits a page only on its second miss within a while (a
    /// doorkeeper, as in TinyLFU), reading it in place the first time. With data many times
    /// the cache, most pages a point lookup reads would be evicted before their next use, and
    /// decoding, inserting and freeing them cost more than the lookup; pages read again soon
    /// are cached as before. Until the cache is full every page is admitted. Default `true`;
    /// `false` caches every page a lookup decodes (plain CLOCK).
    pub block_cache_admission: bool,
    /// Byte budget of the cache of open tables (metadata, page indexes, filters). Default 256 MiB.
    ///
    /// An open table takes about 3.4 bytes a row with 16-byte keys and the default page sizes
    /// and filter (a third of it the filters at 10 bits a key, a third the page locations), so
    /// the default keeps every table of about 75 million entries open. With more, tables are
    /// closed and opened again as lookups reach them, each open reading the table's footer,
    /// page index and filters: size this to the data, as `strata stats` reports what open
    /// tables take.
    pub table_cache_bytes: usize,
    /// Whether to also write Parquet's own split-block Bloom filter on the `key` column (one
    /// byte per key of a full row group, about 3 % false positives), so external engines
    /// (DuckDB, DataFusion, Spark, Trino) can skip row groups on key equality. Strata's
    /// lookups use their own filter either way. Keys are sorted, so row-group statistics
    /// already narrow a key-equality query to one row group; the filter adds a byte per key to
    /// every table written. Default `false`.
    pub parquet_bloom_filter: bool,
    /// Bytes covered by one CRC32 of the table's data (a power of two, 512 B to 1 MiB). A read
    /// fetches and checks the whole blocks around the bytes it needs, so smaller blocks read
    /// less around a small page (a point lookup's key page is often under 1 KiB) for 4 bytes of
    /// checksum per block, kept in memory while the table is open. Default 1 KiB (0.4 %).
    /// Tables keep the size they were written with; any size is read.
    pub checksum_block_size: usize,
    /// Whether a written table is fsynced (and its directory) before `write_table` returns.
    /// Default `true`; turn off only for throwaway data.
    pub sync: bool,
    /// Whether open tables are read through a read-only memory map of their file, where the
    /// file system can map it (local files; not the object store): a page that misses the
    /// block cache but is in the OS page cache then costs no system call and no copy. Reads
    /// are checksummed either way. Default `true`. Turn it off where another process might
    /// truncate a live table file (a read past the new end would kill the process with
    /// SIGBUS), or to keep table pages out of this process's resident memory figures
    /// (compactions release the mapped pages they have read either way:
    /// [`SsTableStore::scan_once`](crate::SsTableStore::scan_once)).
    pub mmap_reads: bool,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        Self {
            compression: Compression::default(),
            page_rows: 64,
            value_page_rows: 32,
            data_page_size: 16 * 1024,
            row_group_rows: 128 * 1024,
            row_group_max_bytes: 16 * 1024 * 1024,
            filter: FilterPolicy::default(),
            filter_per_level: Vec::new(),
            compression_per_level: Vec::new(),
            min_compression_saving: 0.125,
            block_cache_bytes: 64 * 1024 * 1024,
            block_cache_admission: true,
            table_cache_bytes: 256 * 1024 * 1024,
            parquet_bloom_filter: false,
            checksum_block_size: 1024,
            sync: true,
            mmap_reads: true,
        }
    }
}

impl ParquetOptions {
    /// Rows per page of the `value` column: [`Self::value_page_rows`], at most
    /// [`Self::page_rows`].
    pub(crate) fn value_rows(&self) -> usize {
        self.value_page_rows.min(self.page_rows)
    }

    /// Checks every option.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOptions`] naming the first field outside its allowed range.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, reason: String| Err(Error::InvalidOptions { field, reason });
        let zstd_level_ok = |c: &Compression| !matches!(c, Compression::Zstd(level) if !(1..=22).contains(level));
        if !zstd_level_ok(&self.compression) {
            return bad("compression", format!("{:?}: the zstd level is outside 1..=22", self.compression));
        }
        if let Some((level, c)) = self.compression_per_level.iter().enumerate().find(|(_, c)| !zstd_level_ok(c)) {
            return bad("compression_per_level", format!("level {level}: {c:?}: the zstd level is outside 1..=22"));
        }
        if !(0.0..=1.0).contains(&self.min_compression_saving) {
            return bad("min_compression_saving", format!("{} is outside 0..=1", self.min_compression_saving));
        }
        if !(1..=1 << 20).contains(&self.page_rows) {
            return bad("page_rows", format!("{} is outside 1..=1048576", self.page_rows));
        }
        if !(1..=1 << 20).contains(&self.value_page_rows) {
            return bad("value_page_rows", format!("{} is outside 1..=1048576", self.value_page_rows));
        }
        if !(512..=16 << 20).contains(&self.data_page_size) {
            return bad("data_page_size", format!("{} is outside 512..=16777216", self.data_page_size));
        }
        if !(1..=1 << 31).contains(&self.row_group_rows) {
            return bad("row_group_rows", format!("{} is outside 1..=2147483648", self.row_group_rows));
        }
        let block = self.checksum_block_size as u64;
        if !block.is_power_of_two() || !BLOCK_SIZES.contains(&block) {
            return bad(
                "checksum_block_size",
                format!("{} is not a power of two in 512..=1048576", self.checksum_block_size),
            );
        }
        if self.row_group_max_bytes < 64 * 1024 {
            return bad("row_group_max_bytes", format!("{} is below 65536", self.row_group_max_bytes));
        }
        if let Err(e) = self.filter.validate() {
            return bad("filter", e.to_string());
        }
        for (level, policy) in self.filter_per_level.iter().enumerate() {
            if let Err(e) = policy.validate() {
                return bad("filter_per_level", format!("level {level}: {e}"));
            }
        }
        Ok(())
    }

    /// The compression of a table written for `level`.
    #[must_use]
    pub fn compression_for_level(&self, level: usize) -> Compression {
        self.compression_per_level.get(level).or(self.compression_per_level.last()).copied().unwrap_or(self.compression)
    }

    /// The filter sizing for a table written for `level`.
    #[must_use]
    pub fn filter_for_level(&self, level: usize) -> FilterPolicy {
        self.filter_per_level.get(level).or(self.filter_per_level.last()).copied().unwrap_or(self.filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_field() {
        assert!(ParquetOptions::default().validate().is_ok());
        let cases: [(ParquetOptions, &str); 9] = [
            (ParquetOptions { compression: Compression::Zstd(0), ..Default::default() }, "compression"),
            (ParquetOptions { data_page_size: 10, ..Default::default() }, "data_page_size"),
            (ParquetOptions { value_page_rows: 0, ..Default::default() }, "value_page_rows"),
            (ParquetOptions { row_group_rows: 0, ..Default::default() }, "row_group_rows"),
            (ParquetOptions { filter: FilterPolicy::BitsPerKey(0.0), ..Default::default() }, "filter"),
            (ParquetOptions { checksum_block_size: 1000, ..Default::default() }, "checksum_block_size"),
            (ParquetOptions { checksum_block_size: 256, ..Default::default() }, "checksum_block_size"),
            (ParquetOptions { min_compression_saving: 1.5, ..Default::default() }, "min_compression_saving"),
            (ParquetOptions { min_compression_saving: f64::NAN, ..Default::default() }, "min_compression_saving"),
        ];
        for (opts, field) in cases {
            let e = opts.validate().unwrap_err();
            assert!(matches!(e, Error::InvalidOptions { field: f, .. } if f == field), "{e}");
        }
    }
}
