//! The Arrow schema of a table and the Parquet writer settings.

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowSchemaConverter;
use parquet::basic::{Compression as Codec, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::{ColumnPath, SchemaDescriptor};

use crate::parquet::decode::MAX_PAGE_ROWS;
use crate::{Compression, ParquetOptions};

/// Column positions.
pub(crate) const KEY: usize = 0;
pub(crate) const SEQ: usize = 1;
pub(crate) const KIND: usize = 2;
pub(crate) const VALUE: usize = 3;

/// Column names, as other engines see them.
pub(crate) const NAMES: [&str; 4] = ["key", "seq", "kind", "value"];

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(NAMES[KEY], DataType::Binary, false),
        Field::new(NAMES[SEQ], DataType::UInt64, false),
        Field::new(NAMES[KIND], DataType::UInt8, false),
        Field::new(NAMES[VALUE], DataType::Binary, false),
    ]))
});

/// `key: Binary, seq: UInt64, kind: UInt8, value: Binary`, none nullable.
pub(crate) fn schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

/// The Parquet columns the writer makes of [`schema`]: a row group is appended to a new table
/// as it is only when its columns are exactly these (`None` if the conversion failed, which
/// then copies nothing).
pub(crate) fn parquet_columns() -> Option<&'static SchemaDescriptor> {
    static COLUMNS: LazyLock<Option<SchemaDescriptor>> =
        LazyLock::new(|| ArrowSchemaConverter::new().convert(&SCHEMA).ok());
    COLUMNS.as_ref()
}

/// Rows per write batch inside the Parquet encoder: page size limits are checked between
/// batches, so this bounds how far a page can overshoot `data_page_size`.
const ENCODER_BATCH_ROWS: usize = 64;

/// Rows per encoder batch: the largest divisor of both `page_rows` and the value column's page
/// rows, at most [`ENCODER_BATCH_ROWS`] (64 with the defaults).
fn encoder_batch_rows(opts: &ParquetOptions) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let both = gcd(opts.page_rows, opts.value_rows());
    (1..=both.min(ENCODER_BATCH_ROWS)).rev().find(|d| both % d == 0).unwrap_or(1)
}

/// Parquet's codec for `compression`.
pub(crate) fn codec_of(compression: Compression) -> Codec {
    match compression {
        Compression::None => Codec::UNCOMPRESSED,
        Compression::Snappy => Codec::SNAPPY,
        Compression::Lz4 => Codec::LZ4_RAW,
        // NOTE: the level was validated by ParquetOptions::validate.
        Compression::Zstd(level) => Codec::ZSTD(ZstdLevel::try_new(level).unwrap_or_default()),
    }
}

/// How many key pages one `seq` or `kind` page spans where the rows are expected to be alike
/// (see [`Sample`]).
pub(crate) const LONG_PAGE_FACTOR: usize = 16;

/// What the table writer learned from a table's first rows, which sets how it is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sample {
    /// The `value` column is stored compressed; `false` stores it uncompressed whatever the
    /// codec (see [`ParquetOptions::min_compression_saving`]).
    pub(crate) compress_values: bool,
    /// Every sampled row is a put: the table most likely holds no deletions.
    pub(crate) puts_only: bool,
    /// Every sampled row is a put at sequence number 0, as a merge below L0 writes the
    /// versions every reader sees: the table is most likely all such rows.
    pub(crate) settled: bool,
}

/// Rows per page of a `seq` or `kind` column: `page_rows`, so that a cold lookup decodes the
/// page of its key page's rows and no more, or, where the sample says every row most likely
/// holds the same number (`alike`), [`LONG_PAGE_FACTOR`] times that. Such a page's column
/// index says it holds one number, so no lookup or scan reads it; what it costs is its header
/// and index entries, and those of pages every 64 rows came to 1.7 bytes a row for the two
/// columns, 2.6 % of a table of 100-byte values.
fn alike_page_rows(opts: &ParquetOptions, alike: bool) -> usize {
    if alike { opts.page_rows.saturating_mul(LONG_PAGE_FACTOR).min(MAX_PAGE_ROWS) } else { opts.page_rows }
}

/// The writer's properties for a table whose first rows gave `sample`.
pub(crate) fn writer_properties(opts: &ParquetOptions, sample: Sample) -> WriterProperties {
    let codec = codec_of(opts.compression);
    let col = |i: usize| ColumnPath::from(NAMES[i]);
    let compress_values = sample.compress_values;
    let builder = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_created_by(concat!("strata-sstable ", env!("CARGO_PKG_VERSION")).to_owned())
        .set_compression(codec)
        .set_column_compression(col(VALUE), if compress_values { codec } else { Codec::UNCOMPRESSED })
        .set_statistics_enabled(EnabledStatistics::Page)
        // Nothing prunes on values, and their page minima and maxima (up to 64 bytes each,
        // one pair per page) were half the page index: 2 % of a table of 100-byte values.
        .set_column_statistics_enabled(col(VALUE), EnabledStatistics::None)
        .set_data_page_size_limit(opts.data_page_size)
        .set_data_page_row_count_limit(opts.page_rows)
        // A cold lookup decodes its value page up to the value: smaller value pages halve
        // those bytes, while the key page, whose index every lookup searches, stays as it is.
        .set_column_data_page_row_count_limit(col(VALUE), opts.value_rows())
        .set_column_data_page_row_count_limit(col(SEQ), alike_page_rows(opts, sample.settled))
        .set_column_data_page_row_count_limit(col(KIND), alike_page_rows(opts, sample.puts_only))
        // Limits are checked between encoder batches; a batch that divides both row limits
        // makes the key, `seq` and `kind` columns cut their pages at the same rows (long
        // `seq` and `kind` pages at every sixteenth cut), and the value column exactly where
        // its own limit says.
        .set_write_batch_size(encoder_batch_rows(opts))
        // Row groups are cut by the table writer, which keeps one filter per row group.
        .set_max_row_group_row_count(None)
        .set_max_row_group_bytes(None)
        // A dictionary page would be one more read per cold lookup; keys and values are mostly
        // distinct anyway. `kind` holds two values, so its dictionary is tiny and its data
        // becomes one bit per row.
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(col(KIND), true)
        // Sorted keys share prefixes: delta encoding stores each key's suffix only.
        .set_column_encoding(col(KEY), Encoding::DELTA_BYTE_ARRAY)
        // Sequence numbers of neighbouring rows are close (often consecutive): their deltas
        // bit-pack to a few bits each, where PLAIN takes 8 bytes (see the measurements in the
        // commit that made this change).
        .set_column_encoding(col(SEQ), Encoding::DELTA_BINARY_PACKED)
        // PLAIN spends 4 bytes per value on its length; here the lengths are one
        // DELTA_BINARY_PACKED stream at the page's start (a few bytes when values are of one
        // size), and the values still lie back to back, read in place: 3.4 % of a table of
        // 100-byte values.
        .set_column_encoding(col(VALUE), Encoding::DELTA_LENGTH_BYTE_ARRAY)
        .set_sorting_columns(Some(vec![
            SortingColumn { column_idx: KEY as i32, descending: false, nulls_first: false },
            SortingColumn { column_idx: SEQ as i32, descending: true, nulls_first: false },
        ]));
    if !opts.parquet_bloom_filter {
        return builder.build();
    }
    // Written after each row group, inside the region the block CRCs cover. Sized for the
    // row group's rows (an upper bound on its distinct keys), not parquet's default of 1M.
    // parquet rounds a filter up to a power of two bytes: asked for 1 % it took 2 bytes per
    // key (1.6 % of a table of 100-byte values); parquet's default of 5 % rounds to 1 byte
    // per key, which holds about 3 % false positives.
    let ndv = opts.row_group_rows.min(1 << 24) as u64;
    builder
        .set_column_bloom_filter_enabled(col(KEY), true)
        .set_column_bloom_filter_fpp(col(KEY), 0.05)
        .set_column_bloom_filter_max_ndv(col(KEY), ndv)
        .build()
}
