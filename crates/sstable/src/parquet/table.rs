//! An open table: its file, footer, page index and filters, and point lookups in it.

use std::cell::RefCell;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression as Codec, Type as PhysicalType};
use parquet::bloom_filter::Sbbf;
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::page_index::index_reader::{decode_column_index, decode_offset_index};
use parquet::file::statistics::Statistics;
use strata_bloom::{BloomFilter, FilterPolicy};
use strata_core::fs::{FileMap, FileSystem};
use strata_core::{Bytes, RangeTombstone, SeqNo, ValueKind, VersionedValue, cmp_keys};

use super::bounds::MaxKeys;
use super::chunk::ColumnChunk;
use super::decode;
use super::decode::BinaryColumn;
use super::file::{TableFile, from_parquet, guard_decoder, read_at};
use super::layout::{
    PARQUET_MAGIC, RowGroupCounts, TRAILER_LEN, Trailer, meta_from_kv, row_groups_from_kv, section_crc_ok,
};
use super::layout::{filter_description, filter_from_kv};
use super::page::{DecodedPage, KeyPart};
use super::schema::{KEY, KIND, NAMES, SEQ, VALUE};
use super::schema::{codec_of, parquet_columns};
use crate::cache::block_cache::{BlockCache, CachedPart, PageKey, Part, Probe, ScanAdmission};
use crate::stats::Counters;
use crate::{Compression, CopyUnit, Error, Result, TableId, TableMeta};

/// A row group: its key bounds (from the row-group statistics) and its key column's pages'
/// (their rows are the key chunk's, [`OpenTable::rows_of`]).
pub(crate) struct RowGroupSpan {
    pub(crate) min: Bytes,
    pub(crate) max: Bytes,
    /// Each page's minimum and maximum key (from the column index; possibly truncated, but
    /// always bounds), end to end in page order: one allocation for the row group, where a
    /// pair of `Bytes` per page took 64 bytes of handles and two allocations.
    bounds: Box<[u8]>,
    /// Where each bound ends in `bounds`: page `p`'s minimum ends at `bound_ends[2 * p]` and
    /// its maximum at `bound_ends[2 * p + 1]`.
    bound_ends: Box<[u32]>,
    /// The pages' maximums, for the search of [`Self::first_page`].
    maxes: MaxKeys,
}

impl RowGroupSpan {
    /// The first page whose maximum key is at or after `key` ([`Self::page_count`] if none is).
    pub(crate) fn first_page(&self, key: &[u8]) -> usize {
        self.maxes.first_not_below(key, |p| cmp_keys(self.page_max(p), key))
    }

    /// The first page whose maximum key is after `key` ([`Self::page_count`] if none is):
    /// pages' maximums ascend, so this skips those that end at `key` itself.
    pub(crate) fn first_page_after(&self, key: &[u8]) -> usize {
        self.maxes.first_not_below(key, |p| cmp_keys(self.page_max(p), key).then(std::cmp::Ordering::Less))
    }

    /// Pages of the key column.
    pub(crate) fn page_count(&self) -> usize {
        self.bound_ends.len() / 2
    }

    /// A lower bound of page `p`'s keys.
    pub(crate) fn page_min(&self, p: usize) -> &[u8] {
        bound(&self.bounds, &self.bound_ends, 2 * p)
    }

    /// An upper bound of page `p`'s keys.
    pub(crate) fn page_max(&self, p: usize) -> &[u8] {
        bound(&self.bounds, &self.bound_ends, 2 * p + 1)
    }

    /// Bytes of memory the row group's key bounds take.
    fn memory_size(&self) -> usize {
        self.maxes.memory_size()
            + self.bounds.len()
            + self.bound_ends.len() * size_of::<u32>()
            + self.min.len()
            + self.max.len()
            + size_of::<Self>()
    }
}

/// Bound `i` of a row group's page bounds laid end to end in `bounds`, each ending at its
/// entry of `ends` (`2 * p` is page `p`'s minimum, `2 * p + 1` its maximum).
fn bound<'a>(bounds: &'a [u8], ends: &[u32], i: usize) -> &'a [u8] {
    let start = i.checked_sub(1).map_or(0, |prev| ends[prev] as usize);
    &bounds[start..ends[i] as usize]
}

/// The OS page size [`OpenTable::release_rows`] aligns what it releases to, so that it keeps
/// the pages its range begins and ends in (4 KiB; with larger pages it may release those,
/// which the next read of them faults back in).
const RELEASE_ALIGN: u64 = 4096;

/// The largest read or decompression buffer a thread keeps between point lookups that read
/// pages in place; a larger one (a page of huge values) is freed after its lookup.
const MAX_KEPT_BUFFER: usize = 1 << 20;

thread_local! {
    /// Per thread, the read and the decompression buffer of point lookups that read pages in
    /// place (no block cache, or pages it did not admit; at most `2 * MAX_KEPT_BUFFER` bytes
    /// kept), so such a lookup allocates nothing but its answer.
    static LOOKUP_BUFFERS: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` with this thread's lookup buffers (the read page, the decompressed page), then
/// drops either if it grew past [`MAX_KEPT_BUFFER`].
fn with_lookup_buffers<T>(f: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>) -> T) -> T {
    LOOKUP_BUFFERS.with(|buffers| match buffers.try_borrow_mut() {
        Ok(mut buffers) => {
            let (read, scratch) = &mut *buffers;
            let out = f(read, scratch);
            for b in [read, scratch] {
                if b.capacity() > MAX_KEPT_BUFFER {
                    *b = Vec::new();
                }
            }
            out
        }
        // NOTE: not reached (a lookup does not start another on its thread); fresh buffers
        // keep it correct if it ever is.
        Err(_) => f(&mut Vec::new(), &mut Vec::new()),
    })
}

/// What a point lookup found in one page.
enum InPage {
    /// The answer: the newest visible version of the key, or none; and for a put, the value
    /// page (of its row group) its value was read from.
    Answer(Option<VersionedValue>, Option<usize>),
    /// Every row of the page sorts before `(key, snapshot)`: the answer, if any, is further on.
    Further,
    /// The columns' pages do not align with the key page's rows: decode the whole page instead.
    Unaligned,
}

/// A summary of one table file, for tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDescription {
    /// The table's metadata.
    pub meta: TableMeta,
    /// Parquet row groups.
    pub row_groups: usize,
    /// Data pages of the key column.
    pub pages: usize,
    /// Bytes of Strata's Bloom filters (one per row group).
    pub filter_bytes: usize,
    /// The page compression codec, and the value column's when it differs (values that did not
    /// compress are stored uncompressed: `ParquetOptions::min_compression_saving`).
    pub compression: String,
    /// The writer that made the file, from the Parquet footer.
    pub created_by: Option<String>,
    /// Where the file's bytes go: one entry per column (`key`, `seq`, `kind`, `value`, in
    /// that order), then the page index, Parquet's own Bloom filter and Strata's filters
    /// (`filter_bytes`).
    pub bytes: Vec<ByteUse>,
}

/// Bytes one part of a table file takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteUse {
    /// The column's name, or `page index` / `parquet bloom filter` / `strata bloom filters`.
    pub part: String,
    /// Bytes in the file (compressed, headers included).
    pub stored: u64,
    /// Bytes before compression (the same as `stored` for uncompressed parts).
    pub raw: u64,
    /// Data pages of a column, in every row group; 0 for the parts that are not columns.
    pub pages: u64,
}

/// Everything needed to read a table without touching its metadata on disk again.
pub(crate) struct OpenTable {
    pub(crate) meta: TableMeta,
    /// Unique per opening; names this table's pages in the block cache.
    pub(crate) cache_id: u64,
    pub(crate) file: TableFile,
    metadata: Arc<ParquetMetaData>,
    pub(crate) row_groups: Vec<RowGroupSpan>,
    /// Per row group, where the pages of each column are.
    chunks: Vec<[ColumnChunk; 4]>,
    filters: Vec<BloomFilter>,
    /// Per row group, distinct keys and tombstones (`strata.row_groups`); `None` for files
    /// written before it was recorded, whose row groups are never copied.
    counts: Option<Vec<RowGroupCounts>>,
    memory: usize,
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl OpenTable {
    /// Opens and checks the table at `path`, reading it through `fs`, through a map of the
    /// file when `map` is set and `fs` can map it.
    pub(crate) fn open(
        fs: &dyn FileSystem,
        path: &Path,
        id: TableId,
        cache_id: u64,
        counters: Arc<Counters>,
        map: bool,
    ) -> Result<Self> {
        let corrupt = |reason: String| Error::corruption(path, reason);
        let file = match fs.open_read(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound { file: path.to_owned() });
            }
            Err(e) => return Err(Error::io(path)(e)),
        };
        let len = file.len().map_err(Error::io(path))?;
        let min_len = (4 + TRAILER_LEN + 8) as u64;
        if len < min_len {
            return Err(corrupt(format!("truncated: {len} bytes is shorter than any table ({min_len})")));
        }
        if read_at(&*file, path, 0, 4)? != PARQUET_MAGIC {
            return Err(corrupt("wrong magic at the start of the file (expected PAR1)".into()));
        }
        let tail = read_at(&*file, path, len - 8, 8)?;
        if &tail[4..] != PARQUET_MAGIC {
            return Err(corrupt("wrong magic at the end of the file (expected PAR1; truncated?)".into()));
        }
        let meta_len = u64::from(u32_le(&tail));
        let footer_start = len
            .checked_sub(8 + meta_len)
            .filter(|&s| s >= 4 + TRAILER_LEN as u64)
            .ok_or_else(|| corrupt(format!("footer length {meta_len} does not fit in a {len}-byte file")))?;
        let trailer = Trailer::decode(&read_at(&*file, path, footer_start - TRAILER_LEN as u64, TRAILER_LEN)?)
            .map_err(corrupt)?;
        let footer = read_at(&*file, path, footer_start, meta_len as usize)?;
        if crc32fast::hash(&footer) != trailer.footer_crc {
            return Err(corrupt("checksum mismatch in the Parquet footer".into()));
        }
        let section_len = trailer.section_len().ok_or_else(|| corrupt("impossible section length".into()))?;
        if trailer.data_end.checked_add(section_len) != Some(footer_start) || trailer.data_end < 4 {
            return Err(corrupt("Strata section does not end at the footer".into()));
        }
        let section = read_at(&*file, path, trailer.data_end, section_len as usize)?;
        if !section_crc_ok(&section) {
            return Err(corrupt("checksum mismatch in the Strata section".into()));
        }
        let filters_len = trailer.filters_len as usize;
        let n_filters = trailer.num_filters as usize;
        let lens_end = filters_len + 4 * n_filters;
        let mut filters = Vec::with_capacity(n_filters);
        let mut at = 0usize;
        for l in section[filters_len..lens_end].chunks_exact(4) {
            let l = u32_le(l) as usize;
            let bytes = section.get(at..at + l).filter(|_| at + l <= filters_len);
            let bytes = bytes.ok_or_else(|| corrupt("filter lengths overrun the filter area".into()))?;
            filters.push(
                BloomFilter::from_bytes(bytes).map_err(|e| corrupt(format!("row group {}: {e}", filters.len())))?,
            );
            at += l;
        }
        let block_crcs: Box<[u32]> =
            section[lens_end..section.len() - TRAILER_LEN].chunks_exact(4).map(u32_le).collect();
        let file_map = if map { file.map().map_err(Error::io(path))? } else { None };
        let map = file_map.as_ref().map(FileMap::bytes);
        let file = TableFile::new(
            file,
            map,
            file_map,
            path.to_owned(),
            len,
            trailer.data_end,
            trailer.block_size,
            block_crcs,
            counters,
        );

        let metadata = guard_decoder(path, || {
            let metadata = ParquetMetaDataReader::decode_metadata(&footer).map_err(|e| from_parquet(path, e))?;
            let mut reader =
                ParquetMetaDataReader::new_with_metadata(metadata).with_page_index_policy(PageIndexPolicy::Required);
            reader.read_page_indexes(&file).map_err(|e| from_parquet(path, e))?;
            reader.finish().map_err(|e| from_parquet(path, e))
        })?;

        let meta = meta_from_kv(metadata.file_metadata().key_value_metadata(), len).map_err(corrupt)?;
        if meta.id != id {
            return Err(corrupt(format!("file holds table {} where table {id} was expected", meta.id)));
        }
        if u64::try_from(metadata.file_metadata().num_rows()).ok() != Some(meta.entries) {
            return Err(corrupt("row count disagrees with strata.entries".into()));
        }
        if filters.len() != metadata.num_row_groups() {
            return Err(corrupt(format!("{} filters for {} row groups", filters.len(), metadata.num_row_groups())));
        }
        check_schema(&metadata).map_err(corrupt)?;
        let counts = row_groups_from_kv(metadata.file_metadata().key_value_metadata(), metadata.num_row_groups())
            .map_err(corrupt)?;
        let row_groups = row_group_spans(&metadata).map_err(corrupt)?;
        let chunks = ColumnChunk::all(&metadata, trailer.data_end).map_err(corrupt)?;
        // NOTE: what lookups and scans need of the page index is in `row_groups` and `chunks`
        // now. Parquet's own copy of it was the largest part of an open table (a third of the
        // table cache); only a row-group copy wants it again, and reads its row group's part.
        let metadata = Arc::new(metadata.into_builder().set_page_index(None).build());
        // The page index was read through the map, if there is one: nothing reads those bytes
        // again but a row-group copy, so they need not count as this process's memory.
        let index_ranges = metadata.row_groups().iter().flat_map(|rg| rg.columns());
        if let Some(span) =
            byte_hull(index_ranges.flat_map(|c| [c.column_index_range(), c.offset_index_range()]).flatten())
        {
            file.release(span);
        }
        let memory = metadata.memory_size()
            + chunks.iter().flatten().map(ColumnChunk::memory_size).sum::<usize>()
            + filters.iter().map(BloomFilter::memory_usage).sum::<usize>()
            + row_groups.iter().map(RowGroupSpan::memory_size).sum::<usize>()
            + file.memory_size();
        Ok(Self { meta, cache_id, file, metadata, row_groups, chunks, filters, counts, memory })
    }

    /// What `strata inspect` shows of the table.
    pub(crate) fn describe(&self) -> TableDescription {
        let metadata = &self.metadata;
        let codec_of =
            |col: usize| metadata.row_groups().first().and_then(|rg| rg.columns().get(col)).map(|c| c.compression());
        let codec = match (codec_of(KEY), codec_of(VALUE)) {
            (None, _) => "none".to_owned(),
            (Some(k), Some(v)) if v != k => format!("{k:?} (value: {v:?})"),
            (Some(k), _) => format!("{k:?}"),
        };
        let mut bytes: Vec<ByteUse> = NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let (stored, raw) = metadata.row_groups().iter().fold((0, 0), |(s, r), rg| {
                    let c = rg.column(i);
                    (s + c.compressed_size().max(0) as u64, r + c.uncompressed_size().max(0) as u64)
                });
                let pages = self.chunks.iter().map(|rg| rg[i].pages.len() as u64).sum();
                ByteUse { part: (*name).to_owned(), stored, raw, pages }
            })
            .collect();
        let (mut index, mut bloom) = (0u64, 0u64);
        for c in metadata.row_groups().iter().flat_map(|rg| rg.columns()) {
            index +=
                c.column_index_length().unwrap_or(0).max(0) as u64 + c.offset_index_length().unwrap_or(0).max(0) as u64;
            bloom += c.bloom_filter_length().unwrap_or(0).max(0) as u64;
        }
        let filter_bytes: usize = self.filters.iter().map(|f| f.num_bits().div_ceil(8)).sum();
        bytes.push(ByteUse { part: "page index".into(), stored: index, raw: index, pages: 0 });
        bytes.push(ByteUse { part: "parquet bloom filter".into(), stored: bloom, raw: bloom, pages: 0 });
        bytes.push(ByteUse {
            part: "strata bloom filters".into(),
            stored: filter_bytes as u64,
            raw: filter_bytes as u64,
            pages: 0,
        });
        TableDescription {
            bytes,
            meta: self.meta.clone(),
            row_groups: self.row_groups.len(),
            pages: self.row_groups.iter().map(RowGroupSpan::page_count).sum(),
            filter_bytes,
            compression: codec,
            created_by: metadata.file_metadata().created_by().map(str::to_owned),
        }
    }

    /// The lower bound of the page `back` pages before the one holding the last key before
    /// `end` (the last key of all when `None`), or of the first page when there are fewer,
    /// from the page index: no page is read. `None` when no page starts before `end`.
    pub(crate) fn key_before(&self, end: Option<&[u8]>, back: usize) -> Option<Bytes> {
        let before = |k: &[u8]| end.is_none_or(|end| k < end);
        let mut pages = self.row_groups.iter().rev().filter(|rg| before(&rg.min)).flat_map(|rg| {
            // The pages that start before `end`, last first: those before the first page
            // reaching `end` (the index's own search), and that page too if it starts before.
            let starting_before = match end {
                None => rg.page_count(),
                Some(end) => {
                    let p = rg.first_page(end);
                    p + usize::from(p < rg.page_count() && before(rg.page_min(p)))
                }
            };
            (0..starting_before).rev().map(move |p| rg.page_min(p))
        });
        let mut found = pages.next()?;
        for min in pages.take(back) {
            found = min;
        }
        before(found).then(|| Bytes::copy_from_slice(found))
    }

    /// Up to `parts - 1` page minimums that cut the table into `parts` runs of about equal
    /// rows (see [`crate::SsTableStore::split_keys`]). A minimum from the column index may be
    /// a truncated prefix of the page's first key; any key is a valid cut, so that only moves
    /// the cut a little. Cuts are kept ascending and after the table's first key.
    pub(crate) fn split_keys(&self, parts: usize) -> Vec<Bytes> {
        let total: u64 = self.chunks.iter().map(|c| c[KEY].num_rows).sum();
        let mut keys: Vec<Bytes> = Vec::new();
        if parts < 2 || total == 0 {
            return keys;
        }
        let mut passed = 0u64;
        let pages =
            self.row_groups.iter().zip(&self.chunks).flat_map(|(rg, c)| (0..rg.page_count()).map(move |p| (rg, c, p)));
        for (rg, chunks, p) in pages {
            let share = total * (keys.len() as u64 + 1) / parts as u64;
            let after = keys.last().unwrap_or(&self.meta.min_key);
            let min = rg.page_min(p);
            if passed >= share && keys.len() + 1 < parts && min > &after[..] && min <= &self.meta.max_key[..] {
                keys.push(Bytes::copy_from_slice(min));
            }
            let (from, to) = chunks[KEY].page_rows(p);
            passed += to - from;
        }
        keys
    }

    pub(crate) fn memory_size(&self) -> usize {
        self.memory
    }

    /// Every row group as a [`CopyUnit`] (see [`crate::SsTableStore::copy_units`]); none when
    /// the file does not record its row groups' keys and tombstones, or when a row group's key
    /// statistics are truncated (keys over parquet's statistics length): a copy needs the
    /// exact first and last keys.
    pub(crate) fn copy_units(&self, layout: &Layout) -> Vec<CopyUnit> {
        let Some(mut units) = (0..self.row_groups.len()).map(|i| self.copy_unit(i)).collect::<Option<Vec<_>>>() else {
            return Vec::new();
        };
        // Filter sizing and column types are the table's; the codec is each column chunk's.
        let file = self.metadata.file_metadata();
        let table_fits = filter_from_kv(file.key_value_metadata()) == Some(layout.filter.as_str())
            && parquet_columns().is_some_and(|ours| ours.columns() == file.schema_descr().columns());
        for unit in &mut units {
            let codec = self.metadata.row_group(unit.index).column(KEY).compression();
            unit.fits_level = table_fits && same_codec(codec, layout.codec);
        }
        units
    }

    /// Row group `index` as a [`CopyUnit`], with `fits_level` false; `None` when it cannot be
    /// copied (see [`Self::copy_units`]) or does not exist.
    pub(crate) fn copy_unit(&self, index: usize) -> Option<CopyUnit> {
        let counts = self.counts.as_ref()?.get(index)?;
        let rg = self.metadata.row_groups().get(index)?;
        if !rg.column(KEY).statistics().is_some_and(|s| s.min_is_exact() && s.max_is_exact()) {
            return None;
        }
        let Some(Statistics::Int64(seqs)) = rg.column(SEQ).statistics() else { return None };
        let (min_seq, max_seq) = (*seqs.min_opt()? as u64, *seqs.max_opt()? as u64);
        let rows = u64::try_from(rg.num_rows()).ok()?;
        let raw = |col: usize| {
            let c = rg.column(col);
            c.unencoded_byte_array_data_bytes().unwrap_or_else(|| c.uncompressed_size()).max(0) as u64
        };
        Some(CopyUnit {
            table: self.meta.id,
            index,
            min_key: self.row_groups[index].min.clone(),
            max_key: self.row_groups[index].max.clone(),
            rows,
            distinct_keys: counts.keys,
            tombstones: counts.tombstones,
            range_tombstones: counts.range_tombstones,
            min_seq,
            max_seq,
            charged_bytes: raw(KEY) + raw(VALUE) + 9 * rows,
            fits_level: false,
        })
    }

    /// Row group `index`'s column chunks as the parquet writer takes them to append them
    /// unchanged: metadata with statistics, page index and Parquet's Bloom filter (the last
    /// two read from the file and checked here).
    pub(crate) fn row_group_chunks(&self, index: usize) -> Result<Vec<ColumnCloseResult>> {
        let path = self.path();
        let rg = self.metadata.row_groups().get(index).ok_or_else(|| Error::Corruption {
            file: path.to_owned(),
            reason: format!("no row group {index} to copy ({} in the file)", self.metadata.num_row_groups()),
        })?;
        let rows = u64::try_from(rg.num_rows()).unwrap_or(0);
        rg.columns()
            .iter()
            .map(|col| {
                let (bloom_filter, column_index, offset_index) = guard_decoder(path, || {
                    let bloom = Sbbf::read_from_column_chunk(col, &self.file).map_err(|e| from_parquet(path, e))?;
                    let read = |range: Range<u64>| {
                        self.file
                            .read_verified(range.start, usize::try_from(range.end - range.start).unwrap_or(usize::MAX))
                    };
                    let column_index = col.column_index_range().map(|range| {
                        read(range)
                            .and_then(|b| decode_column_index(&b, col.column_type()).map_err(|e| from_parquet(path, e)))
                    });
                    let offset_index = col.offset_index_range().map(|range| {
                        read(range).and_then(|b| decode_offset_index(&b).map_err(|e| from_parquet(path, e)))
                    });
                    Ok((bloom, column_index.transpose()?, offset_index.transpose()?))
                })?;
                Ok(ColumnCloseResult {
                    bytes_written: col.compressed_size().max(0) as u64,
                    rows_written: rows,
                    metadata: col.clone(),
                    bloom_filter,
                    column_index,
                    offset_index,
                })
            })
            .collect()
    }

    /// Row group `index`'s Strata filter, serialized as the file stores it.
    pub(crate) fn filter_bytes(&self, index: usize) -> Vec<u8> {
        self.filters.get(index).map(BloomFilter::to_bytes).unwrap_or_default()
    }

    /// The table's range tombstones whose rows lie in `unit`'s key range (none when the unit
    /// holds none).
    pub(crate) fn range_tombstones_in(&self, unit: &CopyUnit) -> Vec<RangeTombstone> {
        if unit.range_tombstones == 0 {
            return Vec::new();
        }
        let inside = |t: &&RangeTombstone| unit.min_key <= t.start && t.start <= unit.max_key;
        self.meta.range_tombstones.iter().filter(inside).cloned().collect()
    }

    pub(crate) fn path(&self) -> &Path {
        self.file.path()
    }

    /// The newest version of `key` (whose filter hash is `hash`) visible at `snapshot`: key range, then row-group
    /// statistics, then the row group's Bloom filter, then the page index, then one page
    /// (the next one too when the key's versions continue across the boundary), then a binary
    /// search in it.
    pub(crate) fn get(
        &self,
        key: &[u8],
        hash: u64,
        snapshot: SeqNo,
        cache: &BlockCache,
        counters: &Counters,
    ) -> Result<Option<VersionedValue>> {
        // NOTE: the row groups' bounds are the table's key range, so the first row group that
        // could hold the key also answers the range check (two fewer key comparisons than
        // checking `meta`'s bounds first; this path is the filtered miss the engine hits in
        // every table it passes).
        let first = self.row_groups.partition_point(|rg| cmp_keys(&rg.max, key).is_lt());
        if self.row_groups.get(first).is_none_or(|rg| cmp_keys(&rg.min, key).is_gt()) {
            Counters::add(&counters.range_negatives, 1);
            return Ok(None);
        }
        let mut filtered = false;
        for rg_idx in first..self.row_groups.len() {
            let rg = &self.row_groups[rg_idx];
            if cmp_keys(&rg.min, key).is_gt() {
                break;
            }
            if !self.filters[rg_idx].may_contain_hash(hash) {
                filtered = true;
                continue;
            }
            let first_page = rg.first_page(key);
            for page_idx in first_page..rg.page_count() {
                if cmp_keys(rg.page_min(page_idx), key).is_gt() {
                    break;
                }
                let keys_key = self.cache_key(rg_idx, page_idx, Part::Keys);
                let probe = cache.probe::<KeyPart>(&keys_key);
                let admitted = matches!(probe, Probe::Admit);
                let head = match probe {
                    Probe::Hit(head) => head,
                    Probe::Admit | Probe::InPlace => {
                        if !admitted {
                            match self.lookup_uncached(rg_idx, page_idx, key, snapshot, counters)? {
                                InPage::Answer(found, value_page) => {
                                    if let Some(vp) = value_page {
                                        // Its value page was read too: a second read of it
                                        // admits it.
                                        cache.remember_miss(&self.cache_key(rg_idx, vp, Part::Values));
                                    }
                                    return Ok(found);
                                }
                                InPage::Further => continue,
                                InPage::Unaligned => {}
                            }
                        }
                        let head = Arc::new(self.decode_key_part(rg_idx, page_idx, counters)?);
                        if admitted {
                            cache.insert(keys_key, Arc::clone(&head));
                        }
                        head
                    }
                };
                let i = head.seek(key, snapshot);
                if i < head.len() {
                    if head.key(i) != key {
                        return Ok(None);
                    }
                    // A deletion's value is empty: only a put reads its value page.
                    let value = match head.kind(i) {
                        ValueKind::Put => self.value_of(rg_idx, page_idx, i, cache, counters)?,
                        ValueKind::Delete | ValueKind::RangeDelete => Bytes::new(),
                    };
                    return Ok(Some(VersionedValue { seq: head.seq(i), kind: head.kind(i), value }));
                }
                // Every row of this page sorts before (key, snapshot): the answer, if any, is
                // further on.
            }
        }
        let counter = if filtered { &counters.filter_negatives } else { &counters.range_negatives };
        Counters::add(counter, 1);
        Ok(None)
    }

    /// A point lookup in page `page` of row group `rg` that caches nothing (the store has no
    /// block cache, or the cache did not admit the page), so decoding whole parts would be
    /// thrown away: reads the key page and finds `key`'s rows by walking it
    /// only up to the first greater key, decodes the `seq` page only up to the row wanted (or
    /// not at all when its page index says it holds one number), and takes the value from the
    /// value page without building offsets for every row.
    ///
    fn lookup_uncached(
        &self,
        rg: usize,
        page: usize,
        key: &[u8],
        snapshot: SeqNo,
        counters: &Counters,
    ) -> Result<InPage> {
        with_lookup_buffers(|read, scratch| self.lookup_in(rg, page, key, snapshot, counters, read, scratch))
    }

    #[expect(clippy::too_many_arguments, reason = "the lookup's inputs plus its two reused buffers")]
    fn lookup_in(
        &self,
        rg: usize,
        page: usize,
        key: &[u8],
        snapshot: SeqNo,
        counters: &Counters,
        read: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Result<InPage> {
        let (from, to) = self.rows_of(rg, page);
        let chunks = &self.chunks[rg];
        let file = &self.file;
        // The `seq` page holds these rows and, in a settled table, the next fifteen key pages'.
        let (Some(kp), Some((sp, skip))) =
            (chunks[KEY].exact_page(from, to, page), chunks[SEQ].covering_page(from, to, page))
        else {
            return Ok(InPage::Unaligned);
        };
        let rows = (to - from) as usize;
        let bad = |what: &str, p: usize, r: String| {
            Error::corruption(self.path(), format!("row group {rg} page {page}: {what} page {p}: {r}"))
        };
        let (raw, n) = chunks[KEY].page_in(file, kp, read, scratch)?;
        if n != rows {
            return Ok(InPage::Unaligned);
        }
        let (lo, hi) = decode::find_key(raw, rows, key).map_err(|r| bad("key", kp, r))?;
        Counters::add(&counters.pages_read, 1);
        if lo == rows {
            // Every key sorts before `key`: the answer, if any, is further on.
            return Ok(InPage::Further);
        }
        if lo == hi {
            // The first key past `key` is in this page, so `key` is not in the table.
            return Ok(InPage::Answer(None, None));
        }
        // One sequence number throughout (0, below a bottommost merge): the page index says
        // so, and the page is not read. Otherwise the `seq` page is decoded up to the last
        // version of `key`; the key page's rows start `skip` rows into it.
        let uniform = chunks[SEQ].uniform_page(sp).map(|v| v as u64);
        let mut seqs = Vec::new();
        if uniform.is_none() {
            let (raw, seq_rows) = chunks[SEQ].page_in(file, sp, read, scratch)?;
            decode::decode_u64_prefix(raw, seq_rows, skip + hi, &mut seqs).map_err(|r| bad("seq", sp, r))?;
        }
        let seq_of = |i: usize| uniform.or_else(|| seqs.get(skip + i).copied());
        // Versions of a key are newest first: the first one visible at `snapshot`.
        let Some((row, seq)) = (lo..hi).find_map(|i| seq_of(i).filter(|&s| s <= snapshot).map(|s| (i, s))) else {
            return Ok(if hi == rows { InPage::Further } else { InPage::Answer(None, None) });
        };
        let r = from + row as u64;
        let kind = chunks[KIND].kind_at(file, r, page)?;
        // A deletion's value is empty: only a put reads its value page.
        let (value, value_page) = match kind {
            ValueKind::Put => {
                Counters::add(&counters.value_pages_read, 1);
                let located = self.value_page_of(rg, page, r)?;
                (self.value_at(rg, page, located, read, scratch)?, Some(located.0))
            }
            ValueKind::Delete | ValueKind::RangeDelete => (Bytes::new(), None),
        };
        Ok(InPage::Answer(Some(VersionedValue { seq, kind, value }), value_page))
    }

    /// Releases the mapped pages of row group `rg`'s column chunks from the process's
    /// resident memory ([`TableFile::release`]).
    pub(crate) fn release_row_group(&self, rg: usize) {
        let Some(group) = self.metadata.row_groups().get(rg) else { return };
        let chunks = group.columns().iter().map(|c| c.byte_range()).map(|(at, len)| at..at.saturating_add(len));
        if let Some(span) = byte_hull(chunks) {
            self.file.release(span);
        }
    }

    /// Releases the mapped pages of row group `rg` that hold only rows from `from` up to
    /// `rows.end`, column by column ([`TableFile::release`]), when the pages of `rows` come to
    /// `min_bytes` or more; returns whether it did. A scan that reads its row groups once
    /// thus gives back what it has passed as it goes, instead of holding a whole row group of
    /// every input until it leaves it.
    ///
    /// `from` is where the scan began in the row group: each release starts there, not at
    /// `rows.start`, because a fault on a page may map the pages around it again
    /// (fault-around, large folios), some of them released before, and the next release takes
    /// those too. Pages holding rows before `from` (another scan of the same table, as a
    /// parallel subcompaction's, may be reading them) and the page holding `rows.end` stay.
    pub(crate) fn release_rows(&self, rg: usize, from: u64, rows: Range<u64>, min_bytes: u64) -> bool {
        let Some(chunks) = self.chunks.get(rg) else { return false };
        let offset = |chunk: &ColumnChunk, row: u64| chunk.pages.get(chunk.page_of(row, 0)).map(|p| p.offset);
        let ends = chunks.each_ref().map(|chunk| offset(chunk, rows.end));
        let passed = chunks.iter().zip(ends).filter_map(|(chunk, end)| end?.checked_sub(offset(chunk, rows.start)?));
        if passed.sum::<u64>() < min_bytes {
            return false;
        }
        for (chunk, end) in chunks.iter().zip(ends) {
            if let (Some(start), Some(end)) = (offset(chunk, from), end) {
                let (start, end) = (start.next_multiple_of(RELEASE_ALIGN), end & !(RELEASE_ALIGN - 1));
                if end > start {
                    self.file.release(start..end);
                }
            }
        }
        true
    }

    /// A page of the key column with the matching rows of the other columns, for a scan: the
    /// key part from the block cache, or decoded from disk and, if `insert`, then cached. Its
    /// values are read value page by value page as the scan reaches their rows
    /// ([`Self::value_page_holding`]).
    pub(crate) fn page(
        &self,
        rg: usize,
        page: usize,
        cache: &BlockCache,
        counters: &Counters,
        insert: bool,
    ) -> Result<DecodedPage> {
        let head = self.key_part(rg, page, cache, counters, insert)?;
        Ok(DecodedPage::new(head, (rg, page), insert))
    }

    /// The value page holding row `row` of key page `page` of row group `rg`, and the row of
    /// the key page its first value belongs to (negative when the value page starts in the
    /// key page before): from the block cache, or decoded whole and then cached as
    /// `admission` says (asking the cache first, if it says to). Scans and point lookups
    /// cache the same value pages, so each finds what the other read.
    pub(crate) fn value_page_holding(
        &self,
        (rg, page): (usize, usize),
        row: usize,
        cache: &BlockCache,
        counters: &Counters,
        admission: &mut ScanAdmission,
    ) -> Result<(i64, Arc<BinaryColumn>)> {
        let (from, _) = self.rows_of(rg, page);
        let (vp, _, at) = self.value_page_of(rg, page, from + row as u64)?;
        let first = row as i64 - at as i64;
        let key = self.cache_key(rg, vp, Part::Values);
        if let Some(hit) = cache.get::<BinaryColumn>(&key) {
            return Ok((first, hit));
        }
        let values = Arc::new(self.decode_value_page(rg, vp, counters)?);
        if *admission == ScanAdmission::Ask {
            let admitted = cache.admit(&self.cache_key(rg, page, Part::ScanValues));
            *admission = if admitted { ScanAdmission::Cache } else { ScanAdmission::Skip };
        }
        if *admission == ScanAdmission::Cache {
            cache.insert(key, Arc::clone(&values));
        }
        Ok((first, values))
    }

    fn cache_key(&self, rg: usize, page: usize, part: Part) -> PageKey {
        (self.cache_id, rg as u32, page as u32, part)
    }

    /// Rows `[from, to)` of the row group that page `page` of row group `rg`'s key column
    /// holds.
    pub(crate) fn rows_of(&self, rg: usize, page: usize) -> (u64, u64) {
        self.chunks[rg][KEY].page_rows(page)
    }

    /// [`Error::Corruption`] unless a part decoded from page `page` of row group `rg` holds
    /// `n` rows, as the page index says.
    fn check_rows(&self, rg: usize, page: usize, what: &str, n: usize) -> Result<()> {
        let (from, to) = self.rows_of(rg, page);
        let rows = to - from;
        if n as u64 == rows {
            return Ok(());
        }
        Err(Error::corruption(self.path(), format!("row group {rg} page {page}: {n} {what}, index says {rows} rows")))
    }

    /// Part `part` of page `page` of row group `rg` from the block cache, or made by `decode`
    /// and, if `insert` and the cache admits it (as a point lookup's parts: once full, only a
    /// part that missed recently), then cached.
    fn cached<T: CachedPart>(
        &self,
        (rg, page, part): (usize, usize, Part),
        cache: &BlockCache,
        insert: bool,
        decode: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        let key = self.cache_key(rg, page, part);
        if let Some(hit) = cache.get::<T>(&key) {
            return Ok(hit);
        }
        let admitted = insert && cache.admit(&key);
        let made = Arc::new(decode()?);
        if admitted {
            cache.insert(key, Arc::clone(&made));
        }
        Ok(made)
    }

    /// The keys, sequence numbers and kinds of page `page` of row group `rg`, from the block
    /// cache, or decoded from disk and, if `insert`, then cached.
    fn key_part(
        &self,
        rg: usize,
        page: usize,
        cache: &BlockCache,
        counters: &Counters,
        insert: bool,
    ) -> Result<Arc<KeyPart>> {
        self.cached((rg, page, Part::Keys), cache, insert, || self.decode_key_part(rg, page, counters))
    }

    /// Decodes value page `vp` of row group `rg` from disk (a checksummed read), without
    /// caching it.
    fn decode_value_page(&self, rg: usize, vp: usize, counters: &Counters) -> Result<BinaryColumn> {
        // NOTE: the page is decoded to exactly the rows its offset index gives it (its header
        // must agree), so `values` holds the rows `locate` counted.
        let values = self.chunks[rg][VALUE].binary_page(&self.file, vp)?;
        Counters::add(&counters.value_pages_read, 1);
        Ok(values)
    }

    /// Value `row` of page `page` of row group `rg`: from the cached value page holding it;
    /// else from that value page decoded and cached, when the block cache admits it; else read
    /// in place from the value page, and only that value copied.
    fn value_of(&self, rg: usize, page: usize, row: usize, cache: &BlockCache, counters: &Counters) -> Result<Bytes> {
        let (from, _) = self.rows_of(rg, page);
        let located = self.value_page_of(rg, page, from + row as u64)?;
        let (vp, _, at) = located;
        let key = self.cache_key(rg, vp, Part::Values);
        match cache.probe::<BinaryColumn>(&key) {
            Probe::Hit(values) => Ok(values.get_bytes(at)),
            Probe::InPlace => self.value_in_place(rg, page, located, counters),
            Probe::Admit => {
                let values = Arc::new(self.decode_value_page(rg, vp, counters)?);
                cache.insert(key, Arc::clone(&values));
                Ok(values.get_bytes(at))
            }
        }
    }

    /// The value `located` ([`Self::value_page_of`]) in row group `rg` (for a row of key page
    /// `page`), read from its value page without decoding the page whole (walked to the row,
    /// then copied).
    fn value_in_place(
        &self,
        rg: usize,
        page: usize,
        located: (usize, usize, usize),
        counters: &Counters,
    ) -> Result<Bytes> {
        let value = with_lookup_buffers(|read, scratch| self.value_at(rg, page, located, read, scratch))?;
        Counters::add(&counters.value_pages_read, 1);
        Ok(value)
    }

    /// The value page holding row `r` of row group `rg` (a row of key page `page`), its row
    /// count, and the row's index in it.
    fn value_page_of(&self, rg: usize, page: usize, r: u64) -> Result<(usize, usize, usize)> {
        // NOTE: value pages are shorter than key pages by default (half as long), so the key
        // page's index is only a guess at the value page's.
        self.chunks[rg][VALUE]
            .locate(r, page)
            .ok_or_else(|| Error::corruption(self.path(), format!("row group {rg}: no value page holds row {r}")))
    }

    /// The value `located` ([`Self::value_page_of`]: value page, its rows, the row in it) in row
    /// group `rg` (for a row of key page `page`), copied out of its value page: from the
    /// file's map, checked only up to the value, when the page is stored uncompressed or in
    /// LZ4; else from the page read (and decompressed) into `read` and `scratch`.
    fn value_at(
        &self,
        rg: usize,
        page: usize,
        (vp, rows, row): (usize, usize, usize),
        read: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Result<Bytes> {
        let chunk = &self.chunks[rg][VALUE];
        if let Some(value) = chunk.value_mapped(&self.file, vp, row, scratch)? {
            return Ok(value);
        }
        let (raw, _) = chunk.page_in(&self.file, vp, read, scratch)?;
        let value = decode::binary_value(raw, rows, row)
            .map_err(|r| Error::corruption(self.path(), format!("row group {rg} page {page}: value page {vp}: {r}")))?;
        // NOTE: a copy of the value (the page lives in a reused buffer); no larger than the
        // decompression that produced it.
        Ok(Bytes::copy_from_slice(value))
    }

    /// Decodes the key part of page `page` of row group `rg` from disk (checksummed reads),
    /// without caching it: the key page, then the `seq` and `kind` pages holding the same rows
    /// (normally one each; when a column cut its pages elsewhere, every page overlapping the
    /// rows).
    fn decode_key_part(&self, rg: usize, page: usize, counters: &Counters) -> Result<KeyPart> {
        let (from, to) = self.rows_of(rg, page);
        let chunks = &self.chunks[rg];
        let file = &self.file;
        let keys = chunks[KEY].binary_rows(file, from, to, page)?;
        let seqs = chunks[SEQ].u64_rows(file, from, to, page)?;
        let kinds = chunks[KIND].kind_rows(file, from, to, page)?;
        let head = KeyPart::new(keys, seqs, kinds)
            .map_err(|r| Error::corruption(self.path(), format!("row group {rg} page {page}: {r}")))?;
        self.check_rows(rg, page, "rows", head.len())?;
        Counters::add(&counters.pages_read, 1);
        Ok(head)
    }
}

#[cfg(feature = "testing")]
impl OpenTable {
    /// The raw bytes of page `p` of column `col` in row group `rg`, and its rows.
    pub(crate) fn page_bytes_for_tests(&self, rg: usize, col: usize, p: usize) -> Result<(usize, Bytes)> {
        self.chunks[rg][col].page_bytes(&self.file, p)
    }

    /// The raw bytes of the dictionary page of column `col` in row group `rg`, if any.
    pub(crate) fn dictionary_bytes_for_tests(&self, rg: usize, col: usize) -> Option<Bytes> {
        self.chunks[rg][col].dictionary_bytes(&self.file)
    }
}

/// Checks that the file's columns are Strata's: names, physical types, and required (a page
/// of a required column holds no level bytes, which the page decoder relies on).
fn check_schema(metadata: &ParquetMetaData) -> std::result::Result<(), String> {
    let schema = metadata.file_metadata().schema_descr();
    let expected = [PhysicalType::BYTE_ARRAY, PhysicalType::INT64, PhysicalType::INT32, PhysicalType::BYTE_ARRAY];
    let found: Vec<_> = schema.columns().iter().map(|c| (c.name().to_owned(), c.physical_type())).collect();
    let ok = found.len() == 4
        && schema.columns().iter().zip(NAMES.iter().zip(expected)).all(|(c, (name, ty))| {
            c.name() == *name && c.physical_type() == ty && c.max_def_level() == 0 && c.max_rep_level() == 0
        });
    if ok { Ok(()) } else { Err(format!("columns {found:?} are not the Strata columns {NAMES:?}, all required")) }
}

impl OpenTable {
    /// The fraction of `probes` pseudo-random hashes (seeded by `seed`) that pass the row
    /// groups' filters, each row group weighted by its rows.
    pub(crate) fn filter_false_positive_rate(&self, probes: u32, seed: u64) -> f64 {
        let rows: Vec<u64> = self.chunks.iter().map(|c| c[KEY].num_rows).collect();
        let total: u64 = rows.iter().sum();
        if total == 0 || probes == 0 {
            return 0.0;
        }
        let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
        let mut weighted = 0.0;
        for (filter, &n) in self.filters.iter().zip(&rows) {
            let passed = (0..probes)
                .filter(|_| {
                    // SplitMix64: uniform 64-bit hashes, like those of keys the filter never saw.
                    state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let mut z = state;
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    filter.may_contain_hash(z ^ (z >> 31))
                })
                .count();
            weighted += passed as f64 / f64::from(probes) * n as f64;
        }
        weighted / total as f64
    }
}

/// How a table written for some level is laid out, as far as copying row groups cares: its
/// codec and its filter sizing (as `strata.filter` describes it).
pub(crate) struct Layout {
    codec: Codec,
    filter: String,
}

/// The layout of a table written with `compression` and `filter`.
pub(crate) fn layout_for(compression: Compression, filter: FilterPolicy) -> Layout {
    Layout { codec: codec_of(compression), filter: filter_description(&format!("{filter:?}")) }
}

/// The same codec, whatever its level (a file does not record zstd's level).
fn same_codec(a: Codec, b: Codec) -> bool {
    std::mem::discriminant(&a) == std::mem::discriminant(&b)
}

/// The smallest byte range holding every one of `ranges`; `None` when that is empty.
fn byte_hull(ranges: impl IntoIterator<Item = Range<u64>>) -> Option<Range<u64>> {
    let (start, end) = ranges.into_iter().fold((u64::MAX, 0), |(lo, hi), r| (lo.min(r.start), hi.max(r.end)));
    (start < end).then_some(start..end)
}

/// Extracts key bounds and page boundaries from the footer and page index, checking them.
fn row_group_spans(metadata: &ParquetMetaData) -> std::result::Result<Vec<RowGroupSpan>, String> {
    let index = metadata.page_index().ok_or("the page index is missing")?;
    let mut out = Vec::with_capacity(metadata.num_row_groups());
    for (rg_idx, rg) in metadata.row_groups().iter().enumerate() {
        let stats = rg.column(KEY).statistics().ok_or(format!("row group {rg_idx} has no key statistics"))?;
        let (Some(min), Some(max)) = (stats.min_bytes_opt(), stats.max_bytes_opt()) else {
            return Err(format!("row group {rg_idx} has no key min/max"));
        };
        let Some(ColumnIndexMetaData::BYTE_ARRAY(ci)) = index.column_index(rg_idx, KEY) else {
            return Err(format!("row group {rg_idx} has no key column index"));
        };
        let locations =
            index.offset_index(rg_idx, KEY).ok_or(format!("row group {rg_idx} has no offset index"))?.page_locations();
        if ci.num_pages() != locations.len() as u64 || locations.is_empty() {
            return Err(format!("row group {rg_idx}: column index and offset index disagree on the page count"));
        }
        let num_rows = u64::try_from(rg.num_rows()).map_err(|_| format!("row group {rg_idx}: negative row count"))?;
        let mut bounds = Vec::new();
        let mut bound_ends = Vec::with_capacity(2 * locations.len());
        for (p, loc) in locations.iter().enumerate() {
            let first_row = u64::try_from(loc.first_row_index).map_err(|_| "negative first row index")?;
            let end = match locations.get(p + 1) {
                Some(next) => u64::try_from(next.first_row_index).map_err(|_| "negative first row index")?,
                None => num_rows,
            };
            if (p == 0 && first_row != 0) || end <= first_row {
                return Err(format!("row group {rg_idx}: page {p} has no rows or starts out of order"));
            }
            let (Some(pmin), Some(pmax)) = (ci.min_value(p), ci.max_value(p)) else {
                return Err(format!("row group {rg_idx}: page {p} has no key min/max"));
            };
            for bound in [pmin, pmax] {
                bounds.extend_from_slice(bound);
                bound_ends.push(
                    u32::try_from(bounds.len())
                        .map_err(|_| format!("row group {rg_idx}: its pages' key bounds exceed 4 GiB"))?,
                );
            }
        }
        let maxes = MaxKeys::new((0..locations.len()).map(|p| bound(&bounds, &bound_ends, 2 * p + 1)));
        out.push(RowGroupSpan {
            min: Bytes::copy_from_slice(min),
            max: Bytes::copy_from_slice(max),
            bounds: bounds.into_boxed_slice(),
            bound_ends: bound_ends.into_boxed_slice(),
            maxes,
        });
    }
    Ok(out)
}
