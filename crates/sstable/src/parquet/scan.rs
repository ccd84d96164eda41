//! Range scans: a streaming iterator over a table's entries in a key range.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use parquet::arrow::arrow_reader::ParquetRecordBatchReader;
use strata_core::{Entry, KeyRange};

use super::file::from_arrow;
use super::page::DecodedRows;
use super::table::OpenTable;
use crate::stats::Counters;
use crate::{Error, Result};

/// Rows per decoded batch while scanning.
const SCAN_BATCH_ROWS: usize = 8192;

/// The rows of one row group a scan must read: the pages whose key bounds overlap the range.
struct Span {
    rg: usize,
    first_row: u64,
    rows: u64,
    pages: u64,
}

/// Every version of every key in a range of one table, in internal key order.
///
/// It owns an `Arc` of the open table, so it stays valid after the store drops the table from
/// its cache (or deletes the file, on Unix). Pages outside the range are never read; scans
/// bypass the block cache so a large scan does not evict the pages point lookups need.
pub struct ParquetScan {
    table: Arc<OpenTable>,
    counters: Arc<Counters>,
    range: KeyRange,
    spans: VecDeque<Span>,
    reader: Option<ParquetRecordBatchReader>,
    rows: Option<DecodedRows>,
    pos: usize,
    done: bool,
}

impl ParquetScan {
    pub(crate) fn new(table: Arc<OpenTable>, counters: Arc<Counters>, range: &KeyRange) -> Self {
        let mut spans = VecDeque::new();
        if !range.is_empty() {
            for (rg_idx, rg) in table.row_groups.iter().enumerate() {
                if !range.overlaps(&rg.min, &rg.max) {
                    continue;
                }
                let selected: Vec<_> = rg.pages.iter().filter(|p| range.overlaps(&p.min, &p.max)).collect();
                if let (Some(first), Some(last)) = (selected.first(), selected.last()) {
                    // Pages are sorted, so the selected ones are contiguous.
                    let rows = last.first_row + last.rows - first.first_row;
                    let pages = selected.len() as u64;
                    spans.push_back(Span { rg: rg_idx, first_row: first.first_row, rows, pages });
                }
            }
        }
        Self { table, counters, range: range.clone(), spans, reader: None, rows: None, pos: 0, done: false }
    }

    /// Loads the next decoded batch; `Ok(false)` at the end.
    fn next_batch(&mut self) -> Result<bool> {
        loop {
            if let Some(reader) = &mut self.reader {
                match reader.next() {
                    Some(Ok(batch)) => {
                        let rows =
                            DecodedRows::from_batch(&batch).map_err(|r| Error::corruption(self.table.path(), r))?;
                        self.pos = match self.range.start() {
                            Bound::Included(k) => rows.seek_key(k, false),
                            Bound::Excluded(k) => rows.seek_key(k, true),
                            Bound::Unbounded => 0,
                        };
                        self.rows = Some(rows);
                        return Ok(true);
                    }
                    Some(Err(e)) => return Err(from_arrow(self.table.path(), e)),
                    None => self.reader = None,
                }
            }
            let Some(span) = self.spans.pop_front() else { return Ok(false) };
            Counters::add(&self.counters.pages_read, span.pages);
            self.reader = Some(self.table.reader(span.rg, span.first_row, span.rows, SCAN_BATCH_ROWS)?);
        }
    }
}

impl Iterator for ParquetScan {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if let Some(rows) = &self.rows
                && self.pos < rows.len()
            {
                let i = self.pos;
                if self.range.is_past_end(rows.key(i)) {
                    self.done = true;
                    return None;
                }
                self.pos += 1;
                return Some(Ok(rows.entry(i)));
            }
            self.rows = None;
            match self.next_batch() {
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
            .finish_non_exhaustive()
    }
}
