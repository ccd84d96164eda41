//! Column chunks: where each column's pages are (from the offset index), and reading the rows
//! of a row range from them through Strata's own page decoder.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use parquet::basic::Compression as Codec;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::page_index::column_index::{ColumnIndexMetaData, PrimitiveColumnIndex};
use strata_core::ValueKind;

use super::decode::{
    BinaryColumn, MAX_PAGE_ROWS, PageRef, decode_binary_page, decode_i32_dictionary, decode_i32_prefix, decode_u64,
    decode_u64_prefix, lz4_value, read_page, read_page_in, value_range,
};
use super::file::TableFile;
use super::schema::{KIND, SEQ};
use crate::Result;

thread_local! {
    /// Each thread's buffers for a page read from the file and its decompressed body, reused
    /// by every page decode on the thread: a page is decoded into its own compact form (which
    /// the block cache keeps), so the bytes it was decoded from are scratch.
    static PAGE_BUFFERS: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// One data page of a column chunk: 16 bytes, as an open table holds one per page of every
/// column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageLoc {
    /// Where the page (header included) starts in the file, and its length.
    pub(crate) offset: u64,
    pub(crate) len: u32,
    /// Its first row within the row group (row groups of over `u32::MAX` rows are refused).
    first: u32,
}

impl PageLoc {
    /// Its first row within the row group.
    pub(crate) fn first_row(&self) -> u64 {
        u64::from(self.first)
    }
}

/// One column of one row group: its codec, its data pages, its dictionary page.
#[derive(Debug)]
pub(crate) struct ColumnChunk {
    pub(crate) codec: Codec,
    pub(crate) pages: Vec<PageLoc>,
    /// Rows in the row group (the end of the last page).
    pub(crate) num_rows: u64,
    /// The dictionary page's offset and length, if the chunk has one.
    dict: Option<(u64, u32)>,
    /// The decoded dictionary (`INT32` columns), read on first use.
    dict_values: OnceLock<Arc<[i32]>>,
    /// Per data page: the single value every row holds, when the column index says the page's
    /// minimum and maximum are equal, so the page need not be read at all. Only for `kind` and
    /// `seq`.
    uniform: Uniform,
}

/// Per data page of a `seq` or `kind` column chunk: the single value every row holds, where the
/// column index says its minimum and maximum are equal.
#[derive(Debug)]
enum Uniform {
    /// No page is uniform, or the column is not `seq` or `kind`.
    None,
    /// Every page holds this one value throughout: the usual `kind` chunk (puts only), and the
    /// `seq` chunk of a bottommost merge (all 0). Nothing kept per page.
    All(i64),
    /// Per page.
    Pages(Box<[Option<i64>]>),
}

impl ColumnChunk {
    /// The column chunks of every row group, checked; `Err` says what is wrong.
    pub(crate) fn all(metadata: &ParquetMetaData, data_end: u64) -> Result<Vec<[ColumnChunk; 4]>, String> {
        let index = metadata.page_index().ok_or("the page index is missing")?;
        let mut out = Vec::with_capacity(metadata.num_row_groups());
        for (rg_idx, rg) in metadata.row_groups().iter().enumerate() {
            let num_rows =
                u64::try_from(rg.num_rows()).map_err(|_| format!("row group {rg_idx}: negative row count"))?;
            let chunk = |col: usize| -> Result<ColumnChunk, String> {
                let ctx = |what: &str| format!("row group {rg_idx} column {col}: {what}");
                let meta = rg.columns().get(col).ok_or_else(|| ctx("missing"))?;
                let locations = index.offset_index(rg_idx, col).ok_or_else(|| ctx("no offset index"))?;
                let mut pages = Vec::with_capacity(locations.page_locations().len());
                for (p, loc) in locations.page_locations().iter().enumerate() {
                    let offset = u64::try_from(loc.offset).map_err(|_| ctx("negative page offset"))?;
                    let len = u32::try_from(loc.compressed_page_size).map_err(|_| ctx("negative page size"))?;
                    let first_row = u64::try_from(loc.first_row_index).map_err(|_| ctx("negative first row"))?;
                    let prev_end = pages.last().map_or(0, |l: &PageLoc| l.first_row());
                    let ok_start = if p == 0 { first_row == 0 } else { first_row > prev_end };
                    if !ok_start || first_row >= num_rows || offset.saturating_add(u64::from(len)) > data_end {
                        return Err(ctx(&format!("page {p} is out of order or out of bounds")));
                    }
                    if first_row - prev_end > MAX_PAGE_ROWS as u64 && p > 0 {
                        return Err(ctx(&format!("page {} holds more rows than any Strata page", p - 1)));
                    }
                    let first = u32::try_from(first_row).map_err(|_| ctx("a row group of over 4 Gi rows"))?;
                    pages.push(PageLoc { offset, len, first });
                }
                let last = pages.last().ok_or_else(|| ctx("no pages"))?;
                if num_rows - last.first_row() > MAX_PAGE_ROWS as u64 {
                    return Err(ctx("the last page holds more rows than any Strata page"));
                }
                let dict = match meta.dictionary_page_offset() {
                    None => None,
                    Some(d) => {
                        let d = u64::try_from(d).map_err(|_| ctx("negative dictionary offset"))?;
                        let len = pages[0].offset.checked_sub(d).and_then(|l| u32::try_from(l).ok());
                        Some((d, len.filter(|&l| l > 0).ok_or_else(|| ctx("dictionary page out of place"))?))
                    }
                };
                let uniform = match (col, index.column_index(rg_idx, col)) {
                    (KIND, Some(ColumnIndexMetaData::INT32(ci))) => uniform_pages(ci, pages.len()),
                    (SEQ, Some(ColumnIndexMetaData::INT64(ci))) => uniform_pages(ci, pages.len()),
                    _ => Uniform::None,
                };
                Ok(ColumnChunk {
                    codec: meta.compression(),
                    pages,
                    num_rows,
                    dict,
                    dict_values: OnceLock::new(),
                    uniform,
                })
            };
            out.push([chunk(0)?, chunk(1)?, chunk(2)?, chunk(3)?]);
        }
        Ok(out)
    }

    /// Rows of page `p`: from its first row to the next page's (or the row group's end).
    pub(crate) fn page_rows(&self, p: usize) -> (u64, u64) {
        let start = self.pages[p].first_row();
        let end = self.pages.get(p + 1).map_or(self.num_rows, |n| n.first_row());
        (start, end)
    }

    /// Reads page `p` through this thread's reused buffers and hands it to `decode` with its
    /// row count; a decode error is corruption naming the page.
    fn decode_page<T>(
        &self,
        file: &TableFile,
        p: usize,
        decode: impl FnOnce(PageRef<'_>, usize) -> Result<T, String>,
    ) -> Result<T> {
        PAGE_BUFFERS.with_borrow_mut(|(read, scratch)| {
            let (page, rows) = self.page_in(file, p, read, scratch)?;
            decode(page, rows).map_err(|r| file.corruption(format!("page at {}: {r}", self.pages[p].offset)))
        })
    }

    /// Page `p` of a binary column (`key`, `value`), decoded into a column of its own.
    pub(crate) fn binary_page(&self, file: &TableFile, p: usize) -> Result<BinaryColumn> {
        PAGE_BUFFERS.with_borrow_mut(|(read, scratch)| {
            let (bytes, rows) = self.stored_page(file, p, read)?;
            decode_binary_page(bytes, self.codec, rows, scratch)
                .map_err(|r| file.corruption(format!("page at {}: {r}", self.pages[p].offset)))
        })
    }

    /// Page `p` as stored (checksummed; header and possibly compressed body), read into `read`
    /// or taken from the file's map, and its row count.
    fn stored_page<'a>(&self, file: &'a TableFile, p: usize, read: &'a mut Vec<u8>) -> Result<(&'a [u8], usize)> {
        let loc = self.pages[p];
        let bytes = file.read_verified_into(loc.offset, loc.len as usize, read)?;
        let (start, end) = self.page_rows(p);
        Ok((bytes, (end - start) as usize))
    }

    /// Reads page `p` (checksummed) into `read`, or takes it from the file's map, and, when
    /// compressed, decompresses it into `scratch`; the page borrows them.
    pub(crate) fn page_in<'a>(
        &self,
        file: &'a TableFile,
        p: usize,
        read: &'a mut Vec<u8>,
        scratch: &'a mut Vec<u8>,
    ) -> Result<(PageRef<'a>, usize)> {
        let (bytes, rows) = self.stored_page(file, p, read)?;
        let page = read_page_in(bytes, self.codec, scratch)
            .map_err(|r| file.corruption(format!("page at {}: {r}", self.pages[p].offset)))?;
        Ok((page, rows))
    }

    /// Value `row` of page `p` of a binary column, copied out of the file's map after
    /// checking only the blocks it relies on. Stored uncompressed (`PLAIN` or
    /// `DELTA_LENGTH_BYTE_ARRAY`): the page's header and lengths, and the value's own blocks
    /// (`PLAIN`: everything up to the value). `LZ4_RAW` with `DELTA_LENGTH_BYTE_ARRAY`:
    /// decompressed into `scratch` only up to the value, checking the compressed bytes that
    /// took. `None` for other codecs and encodings, or when the file is not mapped: the caller
    /// then reads the whole page.
    pub(crate) fn value_mapped(
        &self,
        file: &TableFile,
        p: usize,
        row: usize,
        scratch: &mut Vec<u8>,
    ) -> Result<Option<Bytes>> {
        if !matches!(self.codec, Codec::UNCOMPRESSED | Codec::LZ4_RAW) {
            return Ok(None);
        }
        let loc = self.pages[p];
        let Some(mut page) = file.unchecked(loc.offset, loc.len as usize)? else { return Ok(None) };
        let (start, end) = self.page_rows(p);
        let rows = (end - start) as usize;
        let bad = |r: String| file.corruption(format!("page at {}: {r}", loc.offset));
        if self.codec == Codec::LZ4_RAW {
            let bytes = page.bytes;
            let value = lz4_value(bytes, rows, row, scratch, |r| page.check(r), bad)?;
            return Ok(value.map(Bytes::copy_from_slice));
        }
        let range = value_range(page.bytes, rows, row, |r| page.check(r), bad)?;
        Ok(Some(Bytes::copy_from_slice(&page.bytes[range])))
    }

    /// The page holding row `row`: `near` if it does (the caller's guess, normally the key
    /// column's page of the same rows, which the `seq` and `kind` pages line up with unless
    /// they are long, see `schema::Sample`), else
    /// the page that does if every page before it is as long as the first (pages cut by a row
    /// limit, as the `value` column's shorter ones), else found by a binary search.
    pub(crate) fn page_of(&self, row: u64, near: usize) -> usize {
        let holds = |p: usize| {
            self.pages.get(p).is_some_and(|l| l.first_row() <= row)
                && self.pages.get(p + 1).is_none_or(|n| n.first_row() > row)
        };
        if holds(near) {
            return near;
        }
        if let Some(second) = self.pages.get(1)
            && second.first_row() > 0
        {
            let guess = usize::try_from(row / second.first_row()).unwrap_or(usize::MAX);
            if holds(guess) {
                return guess;
            }
        }
        self.pages.partition_point(|p| p.first_row() <= row).saturating_sub(1)
    }

    /// The page holding row `row` (`near` as in [`Self::page_of`]), its row count, and the
    /// row's index in it; `None` past the row group's last row.
    pub(crate) fn locate(&self, row: u64, near: usize) -> Option<(usize, usize, usize)> {
        if row >= self.num_rows {
            return None;
        }
        let p = self.page_of(row, near);
        let (start, end) = self.page_rows(p);
        Some((p, (end - start) as usize, (row - start) as usize))
    }

    /// The pages overlapping rows `[from, to)`, each with the part of it in range as
    /// `(page, first row in page, end row in page)`; `near` as in [`Self::page_of`].
    fn overlapping(&self, from: u64, to: u64, near: usize) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let first = self.page_of(from, near);
        (first..self.pages.len()).map_while(move |p| {
            let (start, end) = self.page_rows(p);
            (start < to).then(|| (p, (from.max(start) - start) as usize, (to.min(end) - start) as usize))
        })
    }

    /// The page that is exactly rows `[from, to)`, if one is, so it can be used as it is;
    /// `near` as in [`Self::page_of`].
    pub(crate) fn exact_page(&self, from: u64, to: u64, near: usize) -> Option<usize> {
        let p = self.page_of(from, near);
        (p < self.pages.len() && self.page_rows(p) == (from, to)).then_some(p)
    }

    /// The page holding all of rows `[from, to)`, and how many rows of it come before `from`;
    /// `near` as in [`Self::page_of`].
    pub(crate) fn covering_page(&self, from: u64, to: u64, near: usize) -> Option<(usize, usize)> {
        let p = self.page_of(from, near);
        let (start, end) = (p < self.pages.len()).then(|| self.page_rows(p))?;
        (start <= from && to <= end).then(|| (p, (from - start) as usize))
    }

    /// Rows `[from, to)` of a binary column: the page itself when it covers exactly those rows
    /// (zero-copy), else the overlapping pages' rows copied together.
    pub(crate) fn binary_rows(&self, file: &TableFile, from: u64, to: u64, near: usize) -> Result<BinaryColumn> {
        let decode = |p: usize| self.binary_page(file, p);
        if let Some(p) = self.exact_page(from, to, near) {
            return decode(p);
        }
        let parts: Vec<(BinaryColumn, usize, usize)> =
            self.overlapping(from, to, near).map(|(p, a, b)| Ok((decode(p)?, a, b))).collect::<Result<_>>()?;
        let refs: Vec<_> = parts.iter().map(|(c, a, b)| (c, *a, *b)).collect();
        BinaryColumn::gather(&refs).map_err(|r| file.corruption(r))
    }

    /// Rows `[from, to)` of the `seq` column.
    pub(crate) fn u64_rows(&self, file: &TableFile, from: u64, to: u64, near: usize) -> Result<Vec<u64>> {
        let mut out = Vec::with_capacity((to - from) as usize);
        let mut buf = Vec::new();
        for (p, a, b) in self.overlapping(from, to, near) {
            if let Some(v) = self.uniform_page(p) {
                // The column holds `u64` in Parquet's signed `INT64`.
                out.extend(std::iter::repeat_n(v as u64, b - a));
                continue;
            }
            self.decode_page(file, p, |page, rows| {
                if (a, b) == (0, rows) {
                    // The usual case, the page holds exactly the rows wanted: no staging copy.
                    return decode_u64(page, rows, &mut out);
                }
                // Rows past the last one wanted are not decoded (a long page holds more).
                buf.clear();
                decode_u64_prefix(page, rows, b, &mut buf)?;
                out.extend_from_slice(&buf[a..b]);
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// The value every row of page `p` holds, when the column index says there is one.
    pub(crate) fn uniform_page(&self, p: usize) -> Option<i64> {
        match &self.uniform {
            Uniform::None => None,
            Uniform::All(v) => (p < self.pages.len()).then_some(*v),
            Uniform::Pages(pages) => pages.get(p).copied().flatten(),
        }
    }

    /// Row `row` of the `kind` column, as [`Self::kind_rows`] gives it; with no allocation when
    /// its page holds one kind throughout (the usual case).
    pub(crate) fn kind_at(&self, file: &TableFile, row: u64, near: usize) -> Result<ValueKind> {
        if let Some(v) = self.uniform_page(self.page_of(row, near)) {
            return kind_of(file, v);
        }
        let kinds = self.kind_rows(file, row, row + 1, near)?;
        kinds.first().copied().ok_or_else(|| file.corruption(format!("no kind at row {row}")))
    }

    /// Rows `[from, to)` of the `kind` column. A page whose column index says every row holds
    /// the same kind is not read at all.
    pub(crate) fn kind_rows(&self, file: &TableFile, from: u64, to: u64, near: usize) -> Result<Vec<ValueKind>> {
        let kind = |v: i64| kind_of(file, v);
        let mut out = Vec::with_capacity((to - from) as usize);
        let mut buf = Vec::new();
        for (p, a, b) in self.overlapping(from, to, near) {
            if let Some(v) = self.uniform_page(p) {
                out.extend(std::iter::repeat_n(kind(v)?, b - a));
                continue;
            }
            // The dictionary is read before the page: both go through this thread's buffers.
            let dict = match self.dict {
                Some(_) => Some(self.dictionary(file)?),
                None => None,
            };
            buf.clear();
            // Rows past the last one wanted are not decoded: a put-only table's long page may
            // hold a few deletions after all, and a lookup wants one row of it.
            self.decode_page(file, p, |page, rows| decode_i32_prefix(page, rows, b, dict.as_deref(), &mut buf))?;
            for &v in &buf[a..b] {
                out.push(kind(i64::from(v))?);
            }
        }
        Ok(out)
    }

    /// The chunk's dictionary, read and decoded on first use, then kept.
    fn dictionary(&self, file: &TableFile) -> Result<Arc<[i32]>> {
        if let Some(d) = self.dict_values.get() {
            return Ok(Arc::clone(d));
        }
        let Some((offset, len)) = self.dict else {
            return Err(file.corruption("dictionary-encoded column without a dictionary page".into()));
        };
        let bytes = file.read_verified(offset, len as usize)?;
        let bad = |r: String| file.corruption(format!("dictionary page at {offset}: {r}"));
        let page = read_page(&bytes, self.codec).map_err(bad)?;
        let values: Arc<[i32]> = decode_i32_dictionary(&page).map_err(bad)?.into();
        // NOTE: two threads may decode it at once; both results are the same.
        Ok(Arc::clone(self.dict_values.get_or_init(|| values)))
    }

    /// The raw bytes of data page `p` (header included) and its row count, for fuzz seeds.
    #[cfg(feature = "testing")]
    pub(crate) fn page_bytes(&self, file: &TableFile, p: usize) -> Result<(usize, Bytes)> {
        let loc = self.pages.get(p).ok_or_else(|| file.corruption(format!("no page {p}")))?;
        let (start, end) = self.page_rows(p);
        Ok(((end - start) as usize, file.read_verified(loc.offset, loc.len as usize)?))
    }

    /// The raw bytes of the dictionary page, if any, for fuzz seeds.
    #[cfg(feature = "testing")]
    pub(crate) fn dictionary_bytes(&self, file: &TableFile) -> Option<Bytes> {
        let (offset, len) = self.dict?;
        file.read_verified(offset, len as usize).ok()
    }

    /// Heap bytes held.
    pub(crate) fn memory_size(&self) -> usize {
        let uniform = match &self.uniform {
            Uniform::Pages(pages) => pages.len() * size_of::<Option<i64>>(),
            Uniform::None | Uniform::All(_) => 0,
        };
        self.pages.capacity() * size_of::<PageLoc>() + uniform + size_of::<Self>()
    }
}

/// Per page of a column index: the value every row holds, where its minimum and maximum are
/// equal; kept per page only when pages differ (a `seq` page is uniform only when a
/// bottommost merge wrote its rows at sequence number 0).
fn uniform_pages<T: Copy + PartialEq + Into<i64>>(ci: &PrimitiveColumnIndex<T>, pages: usize) -> Uniform {
    let uniform: Box<[Option<i64>]> = (0..pages)
        .map(|p| match (ci.min_value(p), ci.max_value(p)) {
            (Some(lo), Some(hi)) if lo == hi => Some((*lo).into()),
            _ => None,
        })
        .collect();
    match uniform.first() {
        _ if uniform.iter().all(Option::is_none) => Uniform::None,
        Some(&Some(v)) if uniform.iter().all(|&u| u == Some(v)) => Uniform::All(v),
        _ => Uniform::Pages(uniform),
    }
}

/// The kind stored as `v` in the `kind` column of `file`.
fn kind_of(file: &TableFile, v: i64) -> Result<ValueKind> {
    u8::try_from(v)
        .ok()
        .and_then(|b| ValueKind::from_u8(b).ok())
        .ok_or_else(|| file.corruption(format!("impossible kind {v}")))
}
