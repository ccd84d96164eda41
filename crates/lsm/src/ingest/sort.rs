//! Turning input rows, in whatever order they come, into one stream of unique keys in
//! ascending order, with bounded memory.
//!
//! * Sorted input (keys never decrease across the files, in the order given) is streamed:
//!   [`SortedRows`] reads the files again and drops all but the last row of each key.
//! * Otherwise rows are buffered up to [`IngestOptions::sort_memory`] bytes, sorted (stably,
//!   so equal keys stay in input order), reduced to one row per key, and spilled as a run:
//!   a temporary table in a local store of its own. Run `r` holds its rows at sequence
//!   number `r + 1`, so the k-way merge of the runs ([`MergeIter`]) yields each key's row
//!   from the latest run first, and "last row wins" across runs is "first version wins".
//!   Input that fits in one buffer is never spilled.
//!
//! A temporary table never enters the manifest; on success and on error they are deleted at
//! once ([`TempTables`]), and the next open deletes any a crash left.

use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use strata_core::{Entry, KeyRange, MergeIter};
use strata_sstable::{SsTableStore, TableId};

use super::escape;
use super::input::{Batches, InputFile};
use super::{DuplicateKeys, IngestOptions, IngestPhase, Progress};
use crate::{Error, Result};

/// A row's place in the input, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowAt {
    pub(crate) file: u32,
    pub(crate) row: u64,
}

fn duplicate(files: &[InputFile], key: &[u8], first: RowAt, second: RowAt) -> Error {
    Error::invalid_input(
        &files[second.file as usize].path,
        format!(
            "row {}: key `{}` repeats row {} of {} (set IngestOptions::duplicates to LastWins to keep the last row)",
            second.row,
            escape(key),
            first.row,
            files[first.file as usize].path.display()
        ),
    )
}

/// A repeat found when merging runs, which keep the file of each row but not its number.
fn duplicate_in_files(files: &[InputFile], key: &[u8], first: u32, second: u32) -> Error {
    Error::invalid_input(
        &files[second as usize].path,
        format!(
            "key `{}` appears more than once in the input (also in {}; set IngestOptions::duplicates to LastWins to keep the last row)",
            escape(key),
            files[first as usize].path.display()
        ),
    )
}

/// What the key-only pass found.
pub(crate) struct KeyCheck {
    /// Keys never decrease across the files in the given order.
    pub(crate) sorted: bool,
    /// The smallest and largest key, when `sorted` (else found while sorting).
    pub(crate) bounds: Option<(Bytes, Bytes)>,
}

/// Reads the key column of every file to learn whether the input is already sorted,
/// stopping at the first key smaller than the one before it. With
/// [`DuplicateKeys::Error`], a repeated key in sorted input is the error it names.
pub(crate) fn check_keys(files: &[InputFile], options: &IngestOptions, progress: &Progress) -> Result<KeyCheck> {
    let mut first: Option<Bytes> = None;
    let mut prev: Option<(Vec<u8>, RowAt)> = None;
    let mut done = 0;
    for (f, file) in files.iter().enumerate() {
        for batch in file.batches(true)? {
            let batch = batch?;
            for i in 0..batch.len() {
                let key = batch.key(i);
                let at = RowAt { file: f as u32, row: batch.first_row + i as u64 };
                if let Some((p, p_at)) = &mut prev {
                    match key.cmp(&p[..]) {
                        std::cmp::Ordering::Less => return Ok(KeyCheck { sorted: false, bounds: None }),
                        std::cmp::Ordering::Equal if options.duplicates == DuplicateKeys::Error => {
                            return Err(duplicate(files, key, *p_at, at));
                        }
                        _ => {}
                    }
                    p.clear();
                    p.extend_from_slice(key);
                    *p_at = at;
                } else {
                    first = Some(Bytes::copy_from_slice(key));
                    prev = Some((key.to_vec(), at));
                }
            }
            done += batch.len() as u64;
            progress.report(IngestPhase::Checking, done);
        }
    }
    let bounds = first.zip(prev.map(|(k, _)| Bytes::from(k)));
    Ok(KeyCheck { sorted: true, bounds })
}

/// The rows of sorted input, last row of each key only, in key order.
pub(crate) struct SortedRows<'a> {
    files: &'a [InputFile],
    file: usize,
    batches: Option<Batches<'a>>,
    batch: Option<(super::input::Batch, usize)>,
    pending: Option<(Bytes, Bytes)>,
    progress: &'a Progress,
    done: u64,
    failed: bool,
}

impl<'a> SortedRows<'a> {
    pub(crate) fn new(files: &'a [InputFile], progress: &'a Progress) -> Self {
        Self { files, file: 0, batches: None, batch: None, pending: None, progress, done: 0, failed: false }
    }

    /// The next input row, in input order.
    fn next_row(&mut self) -> Result<Option<(Bytes, Bytes, PathBuf)>> {
        loop {
            if let Some((batch, i)) = &mut self.batch
                && *i < batch.len()
            {
                let row = (Bytes::copy_from_slice(batch.key(*i)), Bytes::copy_from_slice(batch.value(*i)));
                *i += 1;
                return Ok(Some((row.0, row.1, self.files[self.file].path.clone())));
            }
            if let Some((batch, _)) = self.batch.take() {
                self.done += batch.len() as u64;
                self.progress.report(IngestPhase::Writing, self.done);
            }
            if let Some(batches) = &mut self.batches {
                if let Some(batch) = batches.next() {
                    self.batch = Some((batch?, 0));
                    continue;
                }
                self.batches = None;
                self.file += 1;
            }
            let Some(file) = self.files.get(self.file) else { return Ok(None) };
            self.batches = Some(file.batches(false)?);
        }
    }

    fn step(&mut self) -> Result<Option<(Bytes, Bytes)>> {
        loop {
            let Some((key, value, path)) = self.next_row()? else { return Ok(self.pending.take()) };
            match self.pending.take() {
                None => self.pending = Some((key, value)),
                Some((p, pv)) => match key.cmp(&p) {
                    // A repeated key: the later row replaces the earlier one (the key-only
                    // pass already refused repeats when they are an error).
                    std::cmp::Ordering::Equal => self.pending = Some((key, value)),
                    std::cmp::Ordering::Greater => {
                        self.pending = Some((key, value));
                        return Ok(Some((p, pv)));
                    }
                    std::cmp::Ordering::Less => {
                        return Err(Error::invalid_input(path, "the file changed while it was being ingested"));
                    }
                },
            }
        }
    }
}

impl Iterator for SortedRows<'_> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let r = self.step().transpose();
        self.failed = matches!(r, Some(Err(_)));
        r
    }
}

/// Temporary tables, deleted when dropped.
pub(crate) struct TempTables<'a, S: SsTableStore> {
    store: &'a S,
    pub(crate) ids: Vec<TableId>,
}

impl<'a, S: SsTableStore> TempTables<'a, S> {
    pub(crate) const fn new(store: &'a S) -> Self {
        Self { store, ids: Vec::new() }
    }
}

impl<S: SsTableStore> Drop for TempTables<'_, S> {
    fn drop(&mut self) {
        for &id in &self.ids {
            if let Err(e) = self.store.delete(id) {
                tracing::warn!(table = id, error = %e, "could not delete a temporary ingest table; the next open will");
            }
        }
    }
}

/// One buffered row: where its key and value sit in the arena, and where it came from.
struct Slot {
    start: usize,
    key_len: u32,
    value_len: u32,
    at: RowAt,
}

/// The bytes one buffered row costs beyond its key and value.
const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

/// The external sort: buffer, sort, spill runs, merge.
pub(crate) struct Sorter<'a, 't, S: SsTableStore> {
    files: &'a [InputFile],
    store: &'a S,
    duplicates: DuplicateKeys,
    budget: usize,
    arena: Vec<u8>,
    slots: Vec<Slot>,
    runs: &'t mut TempTables<'a, S>,
    next_id: &'a dyn Fn() -> TableId,
    bounds: Option<(Bytes, Bytes)>,
}

/// The sorted rows, ready to be written: from memory, or merged from spilled runs.
pub(crate) enum Sorted {
    Memory { arena: Vec<u8>, slots: Vec<(usize, u32, u32)> },
    Runs(Vec<TableId>),
}

impl<'a, 't, S: SsTableStore> Sorter<'a, 't, S> {
    pub(crate) fn new(
        files: &'a [InputFile],
        store: &'a S,
        options: &IngestOptions,
        runs: &'t mut TempTables<'a, S>,
        next_id: &'a dyn Fn() -> TableId,
    ) -> Self {
        Self {
            files,
            store,
            duplicates: options.duplicates,
            budget: options.sort_memory,
            arena: Vec::new(),
            slots: Vec::new(),
            runs,
            next_id,
            bounds: None,
        }
    }

    /// Reads every file into sorted runs.
    pub(crate) fn run(mut self, progress: &Progress) -> Result<(Sorted, (Bytes, Bytes))> {
        let mut done = 0;
        for (f, file) in self.files.iter().enumerate() {
            for batch in file.batches(false)? {
                let batch = batch?;
                for i in 0..batch.len() {
                    let (key, value) = (batch.key(i), batch.value(i));
                    self.track_bounds(key);
                    let start = self.arena.len();
                    self.arena.extend_from_slice(key);
                    self.arena.extend_from_slice(value);
                    let at = RowAt { file: f as u32, row: batch.first_row + i as u64 };
                    // Lengths fit: keys and values were checked against MAX_KEY_LEN and
                    // MAX_VALUE_LEN (256 MiB) when the batch was decoded.
                    self.slots.push(Slot { start, key_len: key.len() as u32, value_len: value.len() as u32, at });
                    if self.arena.len() + self.slots.len() * SLOT_BYTES >= self.budget {
                        self.spill()?;
                    }
                }
                done += batch.len() as u64;
                progress.report(IngestPhase::Sorting, done);
            }
        }
        let bounds = self.bounds.take().unwrap_or_default();
        if self.runs.ids.is_empty() {
            let slots = self.sort_and_dedup()?;
            let slots = slots.iter().map(|s| (s.start, s.key_len, s.value_len)).collect();
            return Ok((Sorted::Memory { arena: std::mem::take(&mut self.arena), slots }, bounds));
        }
        if !self.slots.is_empty() {
            self.spill()?;
        }
        Ok((Sorted::Runs(self.runs.ids.clone()), bounds))
    }

    fn track_bounds(&mut self, key: &[u8]) {
        match &mut self.bounds {
            None => self.bounds = Some((Bytes::copy_from_slice(key), Bytes::copy_from_slice(key))),
            Some((min, max)) => {
                if key < &min[..] {
                    *min = Bytes::copy_from_slice(key);
                } else if key > &max[..] {
                    *max = Bytes::copy_from_slice(key);
                }
            }
        }
    }

    fn key(&self, s: &Slot) -> &[u8] {
        &self.arena[s.start..s.start + s.key_len as usize]
    }

    /// Sorts the buffer by key, keeping input order among equal keys, and keeps the last
    /// row of each key (or fails on a repeat).
    fn sort_and_dedup(&mut self) -> Result<Vec<Slot>> {
        let mut slots = std::mem::take(&mut self.slots);
        slots.sort_by(|a, b| self.key(a).cmp(self.key(b)));
        let mut out: Vec<Slot> = Vec::with_capacity(slots.len());
        for s in slots {
            if let Some(last) = out.last_mut()
                && self.key(last) == self.key(&s)
            {
                if self.duplicates == DuplicateKeys::Error {
                    return Err(duplicate(self.files, self.key(&s), last.at, s.at));
                }
                *last = s;
                continue;
            }
            out.push(s);
        }
        Ok(out)
    }

    /// Writes the buffer as the next run. A row's value is stored behind the index of its
    /// file (u32 LE) so a repeat found in the merge can name both files.
    fn spill(&mut self) -> Result<()> {
        let slots = self.sort_and_dedup()?;
        let seq = self.runs.ids.len() as u64 + 1;
        let id = (self.next_id)();
        let arena = &self.arena;
        let mut entries = slots.iter().map(|s| {
            let key = &arena[s.start..s.start + s.key_len as usize];
            let value = &arena[s.start + s.key_len as usize..s.start + s.key_len as usize + s.value_len as usize];
            let mut tagged = Vec::with_capacity(4 + value.len());
            tagged.extend_from_slice(&s.at.file.to_le_bytes());
            tagged.extend_from_slice(value);
            Ok(Entry::put(Bytes::copy_from_slice(key), seq, tagged))
        });
        self.runs.ids.push(id);
        self.store.write_table(id, &mut entries)?;
        tracing::debug!(table = id, rows = slots.len(), "spilled an ingest sort run");
        self.arena.clear();
        Ok(())
    }
}

/// The rows of the spilled runs, merged: one per key, from the latest run.
pub(crate) struct MergedRuns<'a, S: SsTableStore> {
    merge: MergeIter<S::Scan, strata_sstable::Error>,
    files: &'a [InputFile],
    duplicates: DuplicateKeys,
    /// The key and file of the row last yielded.
    last: Option<(Bytes, u32)>,
    failed: bool,
    progress: &'a Progress,
    done: u64,
}

impl<'a, S: SsTableStore> MergedRuns<'a, S> {
    pub(crate) fn new(
        store: &S,
        runs: &[TableId],
        files: &'a [InputFile],
        duplicates: DuplicateKeys,
        progress: &'a Progress,
    ) -> Result<Self> {
        let scans = runs.iter().rev().map(|&id| store.scan(id, &KeyRange::all())).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { merge: MergeIter::new(scans), files, duplicates, last: None, failed: false, progress, done: 0 })
    }

    fn step(&mut self) -> Result<Option<(Bytes, Bytes)>> {
        loop {
            let Some(entry) = self.merge.next().transpose()? else { return Ok(None) };
            let file = entry.value.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
            let Some(file) = file.filter(|&f| (f as usize) < self.files.len()) else {
                return Err(Error::corruption(Path::new("<ingest sort run>"), "a run row lacks its file index"));
            };
            if let Some((last, last_file)) = &self.last
                && *last == entry.key
            {
                // An older run's row for the same key: the newer one was already taken.
                if self.duplicates == DuplicateKeys::Error {
                    return Err(duplicate_in_files(self.files, &entry.key, file, *last_file));
                }
                continue;
            }
            self.done += 1;
            if self.done.is_multiple_of(8192) {
                self.progress.report(IngestPhase::Writing, self.done);
            }
            self.last = Some((entry.key.clone(), file));
            return Ok(Some((entry.key, entry.value.slice(4..))));
        }
    }
}

impl<S: SsTableStore> Iterator for MergedRuns<'_, S> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let r = self.step().transpose();
        self.failed = matches!(r, Some(Err(_)));
        r
    }
}

/// The rows of an in-memory sort, in key order.
pub(crate) fn memory_rows(arena: &[u8], slots: &[(usize, u32, u32)]) -> impl Iterator<Item = Result<(Bytes, Bytes)>> {
    slots.iter().map(move |&(start, k, v)| {
        let key: Range<usize> = start..start + k as usize;
        let value = key.end..key.end + v as usize;
        Ok((Bytes::copy_from_slice(&arena[key]), Bytes::copy_from_slice(&arena[value])))
    })
}
