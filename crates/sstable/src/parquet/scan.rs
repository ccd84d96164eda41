//! Range scans: a streaming iterator over a table's entries in a key range.
//!
//! A scan starts the way a point lookup does: the row-group statistics and the page index
//! locate the first page that can hold the start key (two binary searches, no I/O), and that
//! page comes from the block cache. Most scans the engine opens are seeks that read a few
//! dozen entries, so opening one costs about as much as a warm point lookup.
//!
//! # Block cache policy
//!
//! * The first [`CACHED_PAGES`] pages a scan reads go through the block cache like a point
//!   lookup's page: a hit is used, a miss is decoded and inserted. Short scans (seeks) thus
//!   share their pages with point lookups and with each other.
//! * Past those, the scan still uses a page the cache holds, but on a miss it streams the
//!   following pages with Parquet's batch reader in windows that double in size (from
//!   [`CACHED_PAGES`] pages up to the rest of the row group), without inserting anything. A
//!   long scan therefore neither evicts the point-lookup working set nor pays a reader's setup
//!   per page, and the work done past the cached pages stays proportional to the rows read.
//!
//! Every byte decoded comes through [`TableFile`](super::file::TableFile)'s checksummed reads,
//! cached or not.

use std::ops::Bound;
use std::sync::Arc;

use parquet::arrow::arrow_reader::ParquetRecordBatchReader;
use strata_core::{Entry, KeyRange};

use super::file::{from_arrow, guard_decoder};
use super::page::{DecodedRows, cmp_keys};
use super::table::OpenTable;
use crate::cache::block_cache::BlockCache;
use crate::stats::Counters;
use crate::{Error, Result};

/// Pages a scan reads through the block cache (inserting what it decodes) before it streams.
const CACHED_PAGES: usize = 4;
/// The most rows per decoded batch while streaming.
const STREAM_BATCH_ROWS: usize = 8192;

/// Every version of every key in a range of one table, in internal key order.
///
/// It owns an `Arc` of the open table, so it stays valid after the store drops the table from
/// its cache (or deletes the file, on Unix). Pages outside the range are never read. The first
/// few pages a scan reads go through the block cache (so a seek costs about what a point lookup
/// does); past them it streams the rest without inserting, so a long scan does not evict the
/// pages point lookups need.
pub struct ParquetScan {
    table: Arc<OpenTable>,
    cache: Arc<BlockCache>,
    counters: Arc<Counters>,
    range: KeyRange,
    /// The next page to read, `(row group, page)`; `None` once the range's end is reached.
    next_page: Option<(usize, usize)>,
    /// Pages read so far, from the cache or from disk.
    pages: usize,
    /// Streams the rows of a window of pages after the first [`CACHED_PAGES`].
    stream: Option<ParquetRecordBatchReader>,
    /// The current page or streamed batch, its next row, and the end of the range's rows in it.
    rows: Option<Arc<DecodedRows>>,
    pos: usize,
    end: usize,
    /// Until a row at or after the start bound is found, new rows are searched for it.
    ///
    /// NOTE: a page's index bounds may be truncated (keys over 64 bytes), so the first page
    /// chosen by its bounds can hold only keys before the start; the search then continues in
    /// the next page.
    seeking: bool,
    /// Set after the last row, or after an error was yielded.
    done: bool,
}

impl ParquetScan {
    pub(crate) fn new(
        table: Arc<OpenTable>,
        cache: Arc<BlockCache>,
        counters: Arc<Counters>,
        range: &KeyRange,
    ) -> Self {
        let next_page = if range.is_empty() { None } else { first_page(&table, range) };
        Self {
            table,
            cache,
            counters,
            range: range.clone(),
            next_page,
            pages: 0,
            stream: None,
            rows: None,
            pos: 0,
            end: 0,
            seeking: !matches!(range.start(), Bound::Unbounded),
            done: false,
        }
    }

    /// Loads the next page or batch of rows; `Ok(false)` when the range has no more.
    fn load_rows(&mut self) -> Result<bool> {
        loop {
            if let Some(stream) = &mut self.stream {
                let next = match guard_decoder(self.table.path(), || Ok(stream.next())) {
                    Ok(next) => next,
                    Err(e) => {
                        self.stream = None;
                        return Err(e);
                    }
                };
                match next {
                    Some(Ok(batch)) => {
                        let rows =
                            DecodedRows::from_batch(&batch).map_err(|r| Error::corruption(self.table.path(), r))?;
                        self.set_rows(Arc::new(rows));
                        return Ok(true);
                    }
                    Some(Err(e)) => return Err(from_arrow(self.table.path(), e)),
                    None => self.stream = None,
                }
            }
            let Some((rg_idx, page_idx)) = self.next_page else { return Ok(false) };
            let Some(rg) = self.table.row_groups.get(rg_idx) else {
                self.next_page = None;
                return Ok(false);
            };
            let Some(span) = rg.pages.get(page_idx) else {
                self.next_page = Some((rg_idx + 1, 0));
                continue;
            };
            // Page minimums are lower bounds (a truncated one is a prefix), so a page whose
            // minimum is past the end holds no key in range, and neither does any page after it.
            if self.range.is_past_end(&span.min) {
                self.next_page = None;
                return Ok(false);
            }
            let rows = if self.pages < CACHED_PAGES {
                Some(self.table.page(rg_idx, page_idx, &self.cache, &self.counters)?)
            } else {
                self.table.cached_page(rg_idx, page_idx, &self.cache)
            };
            if let Some(rows) = rows {
                self.pages += 1;
                self.next_page = Some((rg_idx, page_idx + 1));
                self.set_rows(rows);
                return Ok(true);
            }
            // Stream a window as large as what was read so far (doubling), cut at the last page
            // the range reaches in this row group.
            let reachable = page_idx + rg.pages[page_idx..].partition_point(|p| !self.range.is_past_end(&p.min));
            let end_page = reachable.min(page_idx + self.pages.max(CACHED_PAGES));
            let first_row = span.first_row;
            let last = &rg.pages[end_page - 1];
            let rows = last.first_row + last.rows - first_row;
            let batch = (rows as usize).min(STREAM_BATCH_ROWS);
            let table = &self.table;
            self.stream = Some(guard_decoder(table.path(), || table.reader(rg_idx, first_row, rows, batch))?);
            Counters::add(&self.counters.pages_read, (end_page - page_idx) as u64);
            self.pages += end_page - page_idx;
            self.next_page = Some((rg_idx, end_page));
        }
    }

    /// Makes `rows` current: finds the range's start in it (while still seeking) and its end.
    fn set_rows(&mut self, rows: Arc<DecodedRows>) {
        self.pos = 0;
        if self.seeking {
            self.pos = match self.range.start() {
                Bound::Included(k) => rows.seek_key(k, false),
                Bound::Excluded(k) => rows.seek_key(k, true),
                Bound::Unbounded => 0,
            };
            self.seeking = self.pos == rows.len();
        }
        // NOTE: the end bound is found by one binary search per page instead of a comparison
        // per row; rows before `end` are in range, and a page that ends early ends the scan.
        self.end = match self.range.end() {
            Bound::Included(k) => rows.seek_key(k, true),
            Bound::Excluded(k) => rows.seek_key(k, false),
            Bound::Unbounded => rows.len(),
        };
        if self.end < rows.len() {
            self.next_page = None;
            self.stream = None;
        }
        self.rows = Some(rows);
    }
}

/// The first page that can hold a key of `range`: the first row group and, in it, the first page
/// whose maximum (an upper bound) is not before the range's start.
fn first_page(table: &OpenTable, range: &KeyRange) -> Option<(usize, usize)> {
    let start = match range.start() {
        Bound::Included(k) | Bound::Excluded(k) => k,
        Bound::Unbounded => return Some((0, 0)),
    };
    let rg_idx = table.row_groups.partition_point(|rg| cmp_keys(&rg.max, start).is_lt());
    let rg = table.row_groups.get(rg_idx)?;
    Some((rg_idx, rg.pages.partition_point(|p| cmp_keys(&p.max, start).is_lt())))
}

impl Iterator for ParquetScan {
    type Item = Result<Entry>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(rows) = &self.rows
                && self.pos < self.end
            {
                let i = self.pos;
                self.pos += 1;
                return Some(Ok(rows.entry(i)));
            }
            if self.done {
                return None;
            }
            self.rows = None;
            match self.load_rows() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    self.stream = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl std::fmt::Debug for ParquetScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetScan")
            .field("table", &self.table.meta.id)
            .field("range", &self.range)
            .field("pages", &self.pages)
            .finish_non_exhaustive()
    }
}
