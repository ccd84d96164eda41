//! Writing a table: a sorted entry stream in, one Parquet file out.
//!
//! Memory stays bounded whatever the table's size: entries are encoded in batches of at most
//! [`BATCH_ROWS`] rows, the Parquet encoder holds one row group at a time, and the Bloom filter
//! of a row group is built from 8-byte key hashes when the row group closes. What grows with
//! the table is small: the finished filters (about 1.25 bytes per key at 10 bits per key), the
//! page index and the block CRCs (4 bytes per 4 KiB of file).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow_array::builder::{BinaryBuilder, UInt8Builder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use strata_bloom::{BloomFilter, FilterPolicy};
use strata_core::fs::{FileSystem, WritableFile};
use strata_core::{Bytes, Entry, RangeTombstone, SeqNo, ValueKind, compare_internal};

use super::file::from_parquet;
use super::layout::{PARQUET_MAGIC, RowGroupCounts, TRAILER_LEN, Trailer, meta_to_kv, row_groups_to_kv, seal_section};
use super::names::temp_path;
use super::schema::{Sample, schema, writer_properties};
use super::table::OpenTable;
use crate::options::{MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::{Compression, CopyUnit, Error, ParquetOptions, Result, TableId, TableMeta, TablePart};

/// Rows per record batch handed to the encoder.
const BATCH_ROWS: usize = 4096;
/// A batch is also cut at this many key and value bytes (Arrow's `Binary` offsets are 32-bit).
const BATCH_BYTES: usize = 8 << 20;

/// The sample of values that decides whether a table's values are compressed: its first
/// values up to this many bytes (counting 4 per value, so empty values end it too) or
/// [`SAMPLE_ROWS`] rows.
const SAMPLE_VALUE_BYTES: usize = 64 << 10;
const SAMPLE_ROWS: usize = 4096;

/// The entries among the sampled first parts of a table.
fn sample_rows(head: &[Result<TablePart>]) -> impl Iterator<Item = &Entry> {
    head.iter().filter_map(|p| match p {
        Ok(TablePart::Entry(e)) => Some(e),
        _ => None,
    })
}

/// Whether `opts.compression` saves at least `opts.min_compression_saving` of the bytes of
/// `values` (a sample), cut into pages as the writer cuts them (`value_page_rows` rows, or
/// `data_page_size` bytes) and compressed page by page.
fn values_compress<'a>(opts: &ParquetOptions, values: impl Iterator<Item = &'a [u8]>) -> bool {
    if opts.min_compression_saving <= 0.0 {
        return true;
    }
    let compressed_len = |page: &[u8]| -> usize {
        match opts.compression {
            Compression::None => page.len(),
            Compression::Lz4 => lz4_flex::block::compress(page).len(),
            Compression::Snappy => snap::raw::Encoder::new().compress_vec(page).map_or(page.len(), |c| c.len()),
            Compression::Zstd(level) => zstd::bulk::compress(page, level).map_or(page.len(), |c| c.len()),
        }
    };
    let (mut raw, mut stored, mut rows) = (0usize, 0usize, 0usize);
    let mut page = Vec::new();
    let mut values = values.peekable();
    while let Some(v) = values.next() {
        // A DELTA_LENGTH_BYTE_ARRAY page holds the values back to back, after a stream of
        // their lengths that is a few bytes when values are of one size (left out here).
        page.extend_from_slice(v);
        rows += 1;
        if rows == opts.value_rows() || page.len() >= opts.data_page_size || values.peek().is_none() {
            raw += page.len();
            stored += compressed_len(&page);
            page.clear();
            rows = 0;
        }
    }
    raw == 0 || (stored as f64) <= raw as f64 * (1.0 - opts.min_compression_saving)
}

/// Removes the temporary file unless the write succeeded.
struct TempFile<'a> {
    fs: &'a dyn FileSystem,
    path: PathBuf,
    armed: bool,
}

impl Drop for TempFile<'_> {
    fn drop(&mut self) {
        if self.armed {
            // NOTE: best effort; a leftover `.parquet.tmp` is removed when the store is next
            // opened (see `is_temp_file`).
            let _ = self.fs.remove_file(&self.path);
        }
    }
}

/// The sink under the Parquet encoder: it checksums every 4 KiB block on the way to the
/// file, and once [`retain`](Self::retain) is called it holds back what follows (the page
/// index and the footer) so [`finish`](Self::finish) can put the Strata section between them
/// without reading the file back.
struct ChecksummingSink<W> {
    inner: W,
    /// Bytes per checksummed block.
    block: usize,
    /// CRC32 of every complete block passed on so far.
    crcs: Vec<u32>,
    /// The bytes after the last complete block: under one block before `retain`, everything
    /// written since after it.
    pending: Vec<u8>,
    /// From `retain` on, how many bytes at the start of `pending` were already passed on.
    passed_on: Option<usize>,
}

impl<W: Write> ChecksummingSink<W> {
    fn new(inner: W, block: usize) -> Self {
        Self { inner, block, crcs: Vec::new(), pending: Vec::with_capacity(block), passed_on: None }
    }

    /// Holds back everything written from now on.
    fn retain(&mut self) {
        self.passed_on = Some(self.pending.len());
    }

    /// Where the held-back bytes start in the file.
    fn pending_start(&self) -> u64 {
        (self.crcs.len() * self.block) as u64
    }

    /// Writes the held-back page index, then the Strata section made from `filters` and the
    /// block CRCs, then the footer; returns the file's final size.
    ///
    /// The footer's offsets all point before the section, so moving the footer back changes
    /// nothing Parquet readers see.
    fn finish(mut self, path: &Path, filters: &[Vec<u8>]) -> Result<(W, u64)> {
        let bad = |reason: &str| Error::Io { file: path.to_owned(), source: std::io::Error::other(reason.to_owned()) };
        let start = self.pending_start();
        let passed_on = self.passed_on.ok_or_else(|| bad("nothing held back"))?;
        let held = std::mem::take(&mut self.pending);
        let tail = held.len().checked_sub(8).map(|at| &held[at..]).ok_or_else(|| bad("encoder wrote no footer"))?;
        if &tail[4..] != PARQUET_MAGIC {
            return Err(bad("encoder output does not end in PAR1"));
        }
        let meta_len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize;
        // Offset of the footer within `held`; the footer is written only after `retain`.
        let split = held
            .len()
            .checked_sub(8 + meta_len)
            .filter(|&s| s >= passed_on)
            .ok_or_else(|| bad("footer not held back"))?;
        let (index, footer) = held.split_at(split);
        let data_end = start + index.len() as u64;
        for block in index.chunks(self.block) {
            self.crcs.push(crc32fast::hash(block));
        }

        let filters_len: u64 = filters.iter().map(|f| f.len() as u64).sum();
        let trailer = Trailer {
            data_end,
            filters_len,
            num_filters: u32::try_from(filters.len()).map_err(|_| bad("too many row groups"))?,
            footer_crc: crc32fast::hash(&footer[..meta_len]),
            block_size: self.block as u64,
        };
        debug_assert_eq!(trailer.num_blocks(), self.crcs.len() as u64);
        let section_len = trailer.section_len().ok_or_else(|| bad("section too large"))? as usize;
        let mut section = Vec::with_capacity(section_len);
        for f in filters {
            section.extend_from_slice(f);
        }
        for f in filters {
            section.extend_from_slice(&(f.len() as u32).to_le_bytes());
        }
        for crc in &self.crcs {
            section.extend_from_slice(&crc.to_le_bytes());
        }
        section.extend_from_slice(&trailer.encode());
        debug_assert_eq!(section.len(), section_len);
        debug_assert_eq!(TRAILER_LEN, 48);
        seal_section(&mut section);

        let io = Error::io(path);
        let written = self
            .inner
            .write_all(&index[passed_on..])
            .and_then(|()| self.inner.write_all(&section))
            .and_then(|()| self.inner.write_all(footer))
            .and_then(|()| self.inner.flush());
        written.map_err(io)?;
        Ok((self.inner, data_end + section.len() as u64 + footer.len() as u64))
    }
}

impl<W: Write> Write for ChecksummingSink<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.passed_on.is_some() {
            self.pending.extend_from_slice(buf);
            return Ok(buf.len());
        }
        self.inner.write_all(buf)?;
        let mut rest = buf;
        while !rest.is_empty() {
            let take = (self.block - self.pending.len()).min(rest.len());
            // A whole block straight from `buf` needs no copy.
            if self.pending.is_empty() && take == self.block {
                self.crcs.push(crc32fast::hash(&rest[..take]));
            } else {
                self.pending.extend_from_slice(&rest[..take]);
                if self.pending.len() == self.block {
                    self.crcs.push(crc32fast::hash(&self.pending));
                    self.pending.clear();
                }
            }
            rest = &rest[take..];
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct Batch {
    keys: BinaryBuilder,
    seqs: UInt64Builder,
    kinds: UInt8Builder,
    values: BinaryBuilder,
    rows: usize,
    bytes: usize,
}

impl Batch {
    fn new() -> Self {
        Self {
            keys: BinaryBuilder::new(),
            seqs: UInt64Builder::new(),
            kinds: UInt8Builder::new(),
            values: BinaryBuilder::new(),
            rows: 0,
            bytes: 0,
        }
    }

    fn push(&mut self, e: &Entry) {
        self.keys.append_value(&e.key);
        self.seqs.append_value(e.seq);
        self.kinds.append_value(e.kind.as_u8());
        self.values.append_value(&e.value);
        self.rows += 1;
        self.bytes += e.payload_len();
    }

    #[expect(clippy::expect_used, reason = "the columns match the schema by construction")]
    fn take(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.keys.finish()),
            Arc::new(self.seqs.finish()),
            Arc::new(self.kinds.finish()),
            Arc::new(self.values.finish()),
        ];
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(schema(), columns).expect("columns match the schema by construction")
    }
}

/// The row groups of a table being written: the Strata filters and `strata.row_groups` counts
/// of those finished, and what is gathered of the one being encoded.
#[derive(Default)]
struct RowGroups {
    filters: Vec<Vec<u8>>,
    counts: Vec<RowGroupCounts>,
    /// Of the row group being encoded: its rows, the hash of each of its keys, its tombstones.
    rows: usize,
    hashes: Vec<u64>,
    tombstones: u64,
    range_tombstones: u64,
}

impl RowGroups {
    /// Counts `e`, the next row of the row group being encoded; `new_key` when its key differs
    /// from the previous row's.
    fn add(&mut self, e: &Entry, new_key: bool) {
        // A key whose versions straddle two row groups goes into both filters.
        if new_key || self.rows == 0 {
            self.hashes.push(BloomFilter::key_hash(&e.key));
        }
        self.rows += 1;
        self.tombstones += u64::from(e.kind.is_delete());
        self.range_tombstones += u64::from(e.kind == ValueKind::RangeDelete);
    }

    /// Finishes the row group being encoded: its filter, sized by `filter`, and its counts.
    fn close(&mut self, filter: FilterPolicy) -> Result<()> {
        let built = BloomFilter::from_key_hashes(filter, &self.hashes)
            .map_err(|e| Error::InvalidOptions { field: "filter", reason: e.to_string() })?;
        self.filters.push(built.to_bytes());
        self.counts.push(RowGroupCounts {
            keys: self.hashes.len() as u64,
            tombstones: self.tombstones,
            range_tombstones: self.range_tombstones,
        });
        self.hashes.clear();
        (self.rows, self.tombstones, self.range_tombstones) = (0, 0, 0);
        Ok(())
    }

    /// Records a row group copied whole as `unit`, with its serialized filter.
    fn copied(&mut self, filter: Vec<u8>, unit: &CopyUnit) {
        self.filters.push(filter);
        self.counts.push(RowGroupCounts {
            keys: unit.distinct_keys,
            tombstones: unit.tombstones,
            range_tombstones: unit.range_tombstones,
        });
    }
}

/// The Parquet encoder of one table: row groups encoded from record batches, or copied whole
/// from another table.
struct Encoder<W: Write + Send> {
    file: SerializedFileWriter<W>,
    columns: ArrowRowGroupWriterFactory,
    /// The column writers of the row group being encoded.
    in_progress: Option<Vec<ArrowColumnWriter>>,
}

impl<W: Write + Send> Encoder<W> {
    fn new(sink: W, props: WriterProperties) -> parquet::errors::Result<Self> {
        let (file, columns) = ArrowWriter::try_new(sink, schema(), Some(props))?.into_serialized_writer()?;
        Ok(Self { file, columns, in_progress: None })
    }

    fn write(&mut self, batch: &RecordBatch) -> parquet::errors::Result<()> {
        let writers = match &mut self.in_progress {
            Some(writers) => writers,
            none => none.insert(self.columns.create_column_writers(self.file.flushed_row_groups().len())?),
        };
        let mut writers = writers.iter_mut();
        for (field, column) in batch.schema_ref().fields().iter().zip(batch.columns()) {
            for leaf in compute_leaves(field, column)? {
                let writer = writers.next().ok_or_else(|| ParquetError::General("more leaves than writers".into()))?;
                writer.write(&leaf)?;
            }
        }
        Ok(())
    }

    /// What the row group being encoded would take, encoded.
    fn in_progress_size(&self) -> usize {
        self.in_progress.iter().flatten().map(ArrowColumnWriter::get_estimated_total_bytes).sum()
    }

    /// Closes the row group being encoded, if any.
    fn flush(&mut self) -> parquet::errors::Result<()> {
        let Some(writers) = self.in_progress.take() else { return Ok(()) };
        let mut row_group = self.file.next_row_group()?;
        for writer in writers {
            writer.close()?.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }

    /// The file writer, to finish the file with (every row group is closed by then).
    fn into_file(self) -> SerializedFileWriter<W> {
        self.file
    }

    /// Appends row group `index` of `table` as it is: its column chunks' bytes, read and
    /// checked against the source's block CRCs, with their statistics, page index and
    /// Parquet Bloom filter.
    fn copy_row_group(&mut self, table: &OpenTable, index: usize) -> Result<()> {
        let chunks = table.row_group_chunks(index)?;
        let failed = |e: ParquetError| from_parquet(table.path(), e);
        let mut row_group = self.file.next_row_group().map_err(failed)?;
        for chunk in chunks {
            row_group.append_column(&table.file, chunk).map_err(failed)?;
        }
        row_group.close().map_err(failed)?;
        Ok(())
    }
}

/// Writes table `id` as `path` through `fs` (see [`crate::SsTableStore::write_table_parts`]);
/// `tables` opens the tables that copied units come from.
pub(crate) fn write_table(
    fs: &dyn FileSystem,
    path: &Path,
    id: TableId,
    opts: &ParquetOptions,
    parts: &mut dyn Iterator<Item = Result<TablePart>>,
    tables: &dyn Fn(TableId) -> Result<Arc<OpenTable>>,
) -> Result<TableMeta> {
    if fs.exists(path) {
        return Err(Error::TableExists { file: path.to_owned() });
    }
    let tmp_path = temp_path(path);
    let mut file: Box<dyn WritableFile> = fs.create(&tmp_path).map_err(Error::io(&tmp_path))?;
    let mut guard = TempFile { fs, path: tmp_path.clone(), armed: true };
    let parquet_err =
        |source: parquet::errors::ParquetError| Error::Encode { file: path.to_owned(), source: Box::new(source) };
    let sink = ChecksummingSink::new(BufWriter::with_capacity(1 << 20, &mut *file), opts.checksum_block_size);
    // The first entries are taken ahead as the sample that decides whether values compress
    // and how long the `seq` and `kind` pages are (see `Sample`), then written first.
    let mut head = Vec::new();
    let mut sampled = 0usize;
    while sampled < SAMPLE_VALUE_BYTES && head.len() < SAMPLE_ROWS {
        let Some(item) = parts.next() else { break };
        let stop = item.is_err();
        if let Ok(TablePart::Entry(e)) = &item {
            sampled += 4 + e.value.len();
        }
        head.push(item);
        if stop {
            break;
        }
    }
    let compress_values = values_compress(opts, sample_rows(&head).map(|e| &e.value[..]));
    let sampled_all = |f: &dyn Fn(&Entry) -> bool| {
        let mut rows = sample_rows(&head).peekable();
        rows.peek().is_some() && rows.all(f)
    };
    let sample = Sample {
        compress_values,
        puts_only: sampled_all(&|e| e.kind == ValueKind::Put),
        settled: sampled_all(&|e| e.kind == ValueKind::Put && e.seq == 0),
    };
    let mut writer = Encoder::new(sink, writer_properties(opts, sample)).map_err(parquet_err)?;

    let mut batch = Batch::new();
    let mut groups = RowGroups::default();
    let mut prev: Option<(Bytes, SeqNo)> = None;
    let (mut entries_n, mut tombstones) = (0u64, 0u64);
    let mut range_tombstones = Vec::new();
    let (mut min_seq, mut max_seq) = (SeqNo::MAX, 0);
    let mut min_key = Bytes::new();

    // Ends the row group being encoded, if any: its last batch, its column chunks, its filter.
    let end_row_group = |writer: &mut Encoder<_>, batch: &mut Batch, groups: &mut RowGroups| -> Result<()> {
        if batch.rows > 0 {
            writer.write(&batch.take()).map_err(parquet_err)?;
        }
        if groups.rows > 0 {
            writer.flush().map_err(parquet_err)?;
            groups.close(opts.filter)?;
        }
        Ok(())
    };
    let out_of_order = |index: u64, reason: String| Error::OutOfOrder { file: path.to_owned(), index, reason };

    for item in head.into_iter().chain(parts) {
        let index = entries_n;
        let part = item.map_err(|source| Error::Source { file: path.to_owned(), source: Box::new(source) })?;
        let e = match part {
            TablePart::Entry(e) => e,
            TablePart::Copy(asked) => {
                let source = tables(asked.table)?;
                // What is copied is described by the source itself; the part only names it.
                let unit = source.copy_unit(asked.index).ok_or(Error::Unsupported {
                    what: "copying a row group of a table without `strata.row_groups` or exact key statistics",
                })?;
                if let Some((pk, _)) = &prev
                    && *pk >= unit.min_key
                {
                    let reason = format!("copied rows from {:?} do not sort after the key {pk:?}", unit.min_key);
                    return Err(out_of_order(index, reason));
                }
                // The row group being encoded ends here: the copy is a row group of its own.
                end_row_group(&mut writer, &mut batch, &mut groups)?;
                writer.copy_row_group(&source, unit.index)?;
                groups.copied(source.filter_bytes(unit.index), &unit);
                range_tombstones.extend(source.range_tombstones_in(&unit));
                if prev.is_none() {
                    min_key = unit.min_key.clone();
                }
                entries_n += unit.rows;
                tombstones += unit.tombstones;
                min_seq = min_seq.min(unit.min_seq);
                max_seq = max_seq.max(unit.max_seq);
                // Sequence number 0 sorts after every version of the key: whatever follows
                // must have a greater key.
                prev = Some((unit.max_key, 0));
                continue;
            }
        };
        if e.key.len() > MAX_KEY_LEN {
            return Err(Error::EntryTooLarge {
                file: path.to_owned(),
                what: "key",
                index,
                len: e.key.len(),
                max: MAX_KEY_LEN,
            });
        }
        if e.value.len() > MAX_VALUE_LEN {
            let len = e.value.len();
            return Err(Error::EntryTooLarge { file: path.to_owned(), what: "value", index, len, max: MAX_VALUE_LEN });
        }
        let new_key = match &prev {
            None => {
                min_key = e.key.clone();
                true
            }
            Some((pk, ps)) => {
                if !compare_internal(pk, *ps, &e.key, e.seq).is_lt() {
                    let reason =
                        format!("({:?}, seq {}) does not sort after the previous ({:?}, seq {})", e.key, e.seq, pk, ps);
                    return Err(out_of_order(index, reason));
                }
                pk != &e.key
            }
        };
        groups.add(&e, new_key);
        entries_n += 1;
        tombstones += u64::from(e.kind.is_delete());
        range_tombstones.extend(RangeTombstone::from_entry(&e));
        min_seq = min_seq.min(e.seq);
        max_seq = max_seq.max(e.seq);
        batch.push(&e);
        prev = Some((e.key, e.seq));

        let rg_full = groups.rows >= opts.row_group_rows;
        if batch.rows >= BATCH_ROWS || batch.bytes >= BATCH_BYTES || rg_full {
            writer.write(&batch.take()).map_err(parquet_err)?;
            if rg_full || writer.in_progress_size() >= opts.row_group_max_bytes {
                end_row_group(&mut writer, &mut batch, &mut groups)?;
            }
        }
    }
    let Some((last_key, _)) = prev else {
        return Err(Error::EmptyTable { file: path.to_owned() });
    };
    let max_key = crate::meta::extent_end(last_key, &range_tombstones);
    range_tombstones.sort_unstable();
    end_row_group(&mut writer, &mut batch, &mut groups)?;

    let created_at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut meta = TableMeta {
        id,
        file_size: 0,
        entries: entries_n,
        tombstones,
        min_key,
        max_key,
        min_seq,
        max_seq,
        created_at_ms,
        range_tombstones,
    };
    let mut encoder = writer.into_file();
    for kv in meta_to_kv(&meta, &format!("{:?}", opts.filter)) {
        encoder.append_key_value_metadata(kv);
    }
    encoder.append_key_value_metadata(row_groups_to_kv(&groups.counts));
    // Everything from here on (the page index and the footer) is held back, so the Strata
    // section can go between them.
    encoder.inner_mut().retain();
    let sink = encoder.into_inner().map_err(parquet_err)?;
    let (buffered, file_size) = sink.finish(&tmp_path, &groups.filters)?;
    drop(buffered);
    meta.file_size = file_size;
    if opts.sync {
        file.sync().map_err(Error::io(&tmp_path))?;
    }
    drop(file);
    fs.rename(&tmp_path, path).map_err(Error::io(path))?;
    guard.armed = false;
    if opts.sync {
        sync_dir(fs, path)?;
    }
    Ok(meta)
}

/// Makes a rename or removal in `path`'s directory durable.
pub(crate) fn sync_dir(fs: &dyn FileSystem, path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs.sync_dir(dir).map_err(Error::io(dir))
}
