//! Reading an external Parquet file for ingest: schema checks, then key and value bytes
//! batch by batch, with every row checked (no nulls, within the size limits).
//!
//! Any Parquet writer's file is accepted (pyarrow, DuckDB, Spark): the key and value
//! columns may be binary or string, in any of arrow's layouts (plain, large, view, fixed
//! size), dictionary-encoded or not, and compressed with any codec those tools write.
//! Damage is [`Error::Corruption`] naming the file; a wrong schema, a bad row or a codec
//! this build cannot decode is [`Error::InvalidInput`] naming the file and saying what is
//! wrong.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;

use super::{ExtraColumns, IngestOptions};
use crate::{Error, MAX_KEY_LEN, MAX_VALUE_LEN, Result};

/// Rows per decoded batch: large enough to amortize decoding, small enough to keep a
/// batch's memory modest with large values.
const BATCH_ROWS: usize = 8192;

/// Why this build cannot read pages compressed with `codec`, as a hint for the user; `None`
/// when it can: the codecs Strata's own tables use always, GZIP and BROTLI (Spark's, Hive's
/// and Athena's choices) with the features of those names (on by default). No Rust Parquet
/// reader decodes LZO.
fn unreadable(codec: Compression) -> Option<&'static str> {
    match codec {
        Compression::UNCOMPRESSED
        | Compression::SNAPPY
        | Compression::LZ4
        | Compression::LZ4_RAW
        | Compression::ZSTD(_) => None,
        Compression::GZIP(_) => (!cfg!(feature = "gzip")).then_some(" (build Strata with its `gzip` feature)"),
        Compression::BROTLI(_) => (!cfg!(feature = "brotli")).then_some(" (build Strata with its `brotli` feature)"),
        Compression::LZO => Some(" (rewrite it with SNAPPY, ZSTD, LZ4 or GZIP, for example with DuckDB's COPY)"),
    }
}

/// Refuses, before any row is read, a file whose key or value column (the root columns
/// `roots`) is compressed with a codec this build cannot decode: the file is sound, so this
/// is [`Error::InvalidInput`] naming the codec, not damage.
fn check_codecs(path: &Path, builder: &ParquetRecordBatchReaderBuilder<File>, roots: [usize; 2]) -> Result<()> {
    let schema = builder.parquet_schema();
    for group in builder.metadata().row_groups() {
        for (leaf, chunk) in group.columns().iter().enumerate() {
            if leaf >= schema.num_columns() || !roots.contains(&schema.get_column_root_idx(leaf)) {
                continue;
            }
            let codec = chunk.compression();
            if let Some(hint) = unreadable(codec) {
                return Err(Error::invalid_input(
                    path,
                    format!(
                        "column `{}` is compressed with {codec}, which this build cannot read{hint}",
                        chunk.column_path().string()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One input file whose schema has been checked.
#[derive(Debug)]
pub(crate) struct InputFile {
    pub(crate) path: PathBuf,
    /// Root column indices of the key and value columns.
    key_column: usize,
    value_column: usize,
    /// Rows, from the file's metadata.
    pub(crate) rows: u64,
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::corruption(path, format!("not a readable Parquet file: {e}"))
}

/// A reader of `path` that types its columns from the Parquet schema alone. The arrow schema
/// a writer may embed is skipped: it can ask for dictionary arrays (pyarrow's dictionary
/// columns, pandas' categoricals), which hold the same bytes as plain ones.
fn builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).map_err(|e| corrupt(path, e))
}

fn is_bytes(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
    )
}

impl InputFile {
    /// Opens `path` and checks its schema against `options`.
    pub(crate) fn open(path: &Path, options: &IngestOptions) -> Result<Self> {
        let builder = builder(path)?;
        let schema = builder.schema();
        let find = |name: &str, role: &str| -> Result<usize> {
            let (i, field) = schema.column_with_name(name).ok_or_else(|| {
                let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                Error::invalid_input(
                    path,
                    format!(
                        "no {role} column `{name}` (columns: {}); set the column names in IngestOptions",
                        names.join(", ")
                    ),
                )
            })?;
            if !is_bytes(field.data_type()) {
                return Err(Error::invalid_input(
                    path,
                    format!("the {role} column `{name}` is {}, but must be binary or string", field.data_type()),
                ));
            }
            Ok(i)
        };
        let key_column = find(&options.key_column, "key")?;
        let value_column = find(&options.value_column, "value")?;
        if key_column == value_column {
            return Err(Error::invalid_input(path, "the key and value columns are the same column"));
        }
        if options.extra_columns == ExtraColumns::Reject {
            let extra: Vec<_> = schema
                .fields()
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != key_column && i != value_column)
                .map(|(_, f)| f.name().as_str())
                .collect();
            if !extra.is_empty() {
                return Err(Error::invalid_input(
                    path,
                    format!(
                        "columns other than key and value: {} (drop them, or set IngestOptions::extra_columns to Ignore)",
                        extra.join(", ")
                    ),
                ));
            }
        }
        check_codecs(path, &builder, [key_column, value_column])?;
        let rows = u64::try_from(builder.metadata().file_metadata().num_rows())
            .map_err(|_| corrupt(path, "negative row count"))?;
        Ok(Self { path: path.to_owned(), key_column, value_column, rows })
    }

    /// The file's rows in batches; `keys_only` reads the key column alone.
    pub(crate) fn batches(&self, keys_only: bool) -> Result<Batches<'_>> {
        let builder = builder(&self.path)?;
        let columns = if keys_only { vec![self.key_column] } else { vec![self.key_column, self.value_column] };
        let mask = ProjectionMask::roots(builder.parquet_schema(), columns);
        let reader =
            builder.with_projection(mask).with_batch_size(BATCH_ROWS).build().map_err(|e| corrupt(&self.path, e))?;
        // The projection keeps the file's column order.
        let key_first = keys_only || self.key_column < self.value_column;
        Ok(Batches { file: self, reader, key_first, keys_only, row: 0 })
    }
}

/// The batches of one input file.
pub(crate) struct Batches<'a> {
    file: &'a InputFile,
    reader: ParquetRecordBatchReader,
    key_first: bool,
    keys_only: bool,
    /// The index in the file of the next batch's first row.
    row: u64,
}

impl Iterator for Batches<'_> {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match self.reader.next()? {
            Ok(b) => b,
            Err(e) => return Some(Err(corrupt(&self.file.path, e))),
        };
        let first_row = self.row;
        self.row += batch.num_rows() as u64;
        Some(Batch::new(&self.file.path, &batch, first_row, self.key_first, self.keys_only))
    }
}

/// One decoded batch: the key and (unless keys only) value bytes of its rows, checked.
pub(crate) struct Batch {
    keys: Column,
    values: Option<Column>,
    /// The index in the file of this batch's first row.
    pub(crate) first_row: u64,
}

impl Batch {
    fn new(path: &Path, batch: &RecordBatch, first_row: u64, key_first: bool, keys_only: bool) -> Result<Self> {
        let (k, v) = if keys_only {
            (0, None)
        } else if key_first {
            (0, Some(1))
        } else {
            (1, Some(0))
        };
        let keys = Column::new(path, batch.column(k), "key", first_row, MAX_KEY_LEN)?;
        let values = v.map(|v| Column::new(path, batch.column(v), "value", first_row, MAX_VALUE_LEN)).transpose()?;
        Ok(Self { keys, values, first_row })
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.array.len()
    }

    pub(crate) fn key(&self, i: usize) -> &[u8] {
        self.keys.get(i)
    }

    /// The value of row `i`; empty when the batch was read keys only.
    pub(crate) fn value(&self, i: usize) -> &[u8] {
        self.values.as_ref().map_or(&[], |v| v.get(i))
    }
}

/// A binary or string column, checked for nulls and sizes.
struct Column {
    array: ArrayRef,
}

impl Column {
    fn new(path: &Path, array: &ArrayRef, role: &str, first_row: u64, max: usize) -> Result<Self> {
        let column = Self { array: array.clone() };
        if array.null_count() > 0 {
            let i = (0..array.len()).find(|&i| array.is_null(i)).unwrap_or(0);
            return Err(Error::invalid_input(path, format!("row {}: the {role} is null", first_row + i as u64)));
        }
        if let Some(i) = (0..array.len()).find(|&i| column.get(i).len() > max) {
            return Err(Error::invalid_input(
                path,
                format!(
                    "row {}: a {role} of {} bytes exceeds the limit of {max} bytes",
                    first_row + i as u64,
                    column.get(i).len()
                ),
            ));
        }
        Ok(column)
    }

    fn get(&self, i: usize) -> &[u8] {
        let a = &self.array;
        match a.data_type() {
            DataType::Binary => a.as_binary::<i32>().value(i),
            DataType::LargeBinary => a.as_binary::<i64>().value(i),
            DataType::BinaryView => a.as_binary_view().value(i),
            DataType::FixedSizeBinary(_) => a.as_fixed_size_binary().value(i),
            DataType::Utf8 => a.as_string::<i32>().value(i).as_bytes(),
            DataType::LargeUtf8 => a.as_string::<i64>().value(i).as_bytes(),
            DataType::Utf8View => a.as_string_view().value(i).as_bytes(),
            // The schema check admits only the types above, and a batch has the schema's types.
            _ => &[],
        }
    }
}
