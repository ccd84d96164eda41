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
//!   lookup's page: a hit is used, a miss is decoded and inserted if the cache admits it
//!   (once full, a page that missed recently; see `BlockCache::admit`). Short scans (seeks)
//!   thus share their pages with point lookups and with each other, and with data many
//!   times the cache they do not churn it with pages read once.
//! * Past those, the scan still uses a page the cache holds, but on a miss it decodes the page
//!   with the same decoder and does not insert it. A long scan therefore does not evict the
//!   point-lookup working set, and pages are decoded one at a time, only when the iterator
//!   reaches them, so the work done stays proportional to the rows read.
//!
//! Every byte decoded comes through [`TableFile`](super::file::TableFile)'s checksummed reads,
//! cached or not.

use std::ops::Bound;
use std::sync::Arc;

use strata_core::{Entry, KeyRange, cmp_keys};

use super::page::DecodedPage;
use super::table::OpenTable;
use crate::Result;
use crate::cache::block_cache::BlockCache;
use crate::stats::Counters;

/// Pages a scan reads through the block cache (inserting what it decodes) before it stops
/// inserting.
const CACHED_PAGES: usize = 4;

/// Bytes of mapped pages a releasing scan lets pile up behind it in a row group before it
/// releases them.
const RELEASE_BYTES: u64 = 1 << 20;

/// Every version of every key in a range of one table, in internal key order.
///
/// It owns an `Arc` of the open table, so it stays valid after the store drops the table from
/// its cache (or deletes the file, on Unix). Pages outside the range are never read. The first
/// few pages a scan reads go through the block cache (so a seek costs about what a point lookup
/// does); past them it decodes pages without inserting them, so a long scan does not evict the
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
    /// The current page, its next row, and the end of the range's rows in it.
    rows: Option<DecodedPage>,
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
    /// Whether the pages the scan has passed are released from the process's memory
    /// ([`Self::releasing_behind`]).
    release_behind: bool,
    /// The row group being read, the row the scan began at in it, and the row before which
    /// its pages are released.
    released: Option<(usize, u64, u64)>,
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
            rows: None,
            pos: 0,
            end: 0,
            seeking: !matches!(range.start(), Bound::Unbounded),
            done: false,
            release_behind: false,
            released: None,
        }
    }

    /// The scan, releasing the mapped pages it has passed from the process's resident memory,
    /// a megabyte at a time and the rest of each row group as it leaves it: for a compaction,
    /// which reads each input once and would otherwise keep all of them resident until its
    /// inputs are deleted. Other readers of those pages fault them back in from the OS page
    /// cache.
    #[must_use]
    pub(crate) fn releasing_behind(mut self) -> Self {
        self.release_behind = true;
        self
    }

    /// Releases row group `rg` when this scan releases what it passes.
    fn leave_row_group(&mut self, rg: usize) {
        if self.release_behind {
            self.table.release_row_group(rg);
            self.released = None;
        }
    }

    /// Releases the pages of row group `rg` before row `row` when this scan releases what it
    /// passes and they come to [`RELEASE_BYTES`].
    fn pass_rows(&mut self, rg: usize, row: u64) {
        if !self.release_behind {
            return;
        }
        match &mut self.released {
            Some((at, from, to)) if *at == rg => {
                if row > *to && self.table.release_rows(rg, *from, *to..row, RELEASE_BYTES) {
                    *to = row;
                }
            }
            released => *released = Some((rg, row, row)),
        }
    }

    /// Loads the next page of rows; `Ok(false)` when the range has no more.
    fn load_rows(&mut self) -> Result<bool> {
        loop {
            let Some((rg_idx, page_idx)) = self.next_page else { return Ok(false) };
            let Some(rg) = self.table.row_groups.get(rg_idx) else {
                self.next_page = None;
                return Ok(false);
            };
            if page_idx >= rg.page_count() {
                self.leave_row_group(rg_idx);
                self.next_page = Some((rg_idx + 1, 0));
                continue;
            }
            // Page minimums are lower bounds (a truncated one is a prefix), so a page whose
            // minimum is past the end holds no key in range, and neither does any page after it.
            if self.range.is_past_end(rg.page_min(page_idx)) {
                self.leave_row_group(rg_idx);
                self.next_page = None;
                return Ok(false);
            }
            self.pass_rows(rg_idx, self.table.rows_of(rg_idx, page_idx).0);
            // Past the first pages, cached parts are used but nothing decoded is inserted.
            let insert = self.pages < CACHED_PAGES;
            let rows = self.table.page(rg_idx, page_idx, &self.cache, &self.counters, insert)?;
            self.pages += 1;
            self.next_page = Some((rg_idx, page_idx + 1));
            self.set_rows(rows);
            return Ok(true);
        }
    }

    /// Makes `rows` current: finds the range's start in it (while still seeking) and its end.
    fn set_rows(&mut self, rows: DecodedPage) {
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
        }
        self.rows = Some(rows);
    }
}

/// The first page that can hold a key of `range`: the first row group and, in it, the first page
/// whose maximum (an upper bound) is not before the range's start, or, for an exclusive start,
/// after it. A scan reopened just past a key (as the engine's iterators do past a hot key's
/// thousands of versions) thus skips the pages holding only that key without decoding them.
fn first_page(table: &OpenTable, range: &KeyRange) -> Option<(usize, usize)> {
    let (start, exclusive) = match range.start() {
        Bound::Included(k) => (k, false),
        Bound::Excluded(k) => (k, true),
        Bound::Unbounded => return Some((0, 0)),
    };
    let before = |max: &[u8]| {
        let order = cmp_keys(max, start);
        order.is_lt() || (exclusive && order.is_eq())
    };
    let rg_idx = table.row_groups.partition_point(|rg| before(&rg.max));
    let rg = table.row_groups.get(rg_idx)?;
    let page = if exclusive { rg.first_page_after(start) } else { rg.first_page(start) };
    Some((rg_idx, page))
}

impl Iterator for ParquetScan {
    type Item = Result<Entry>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(rows) = &mut self.rows
                && self.pos < self.end
            {
                let i = self.pos;
                self.pos += 1;
                let entry = rows.entry(i, &self.table, &self.cache, &self.counters);
                if entry.is_err() {
                    self.done = true;
                    self.rows = None;
                }
                return Some(entry);
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
