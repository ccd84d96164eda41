//! The compaction executor: carries out a task against a table store.

use std::collections::{HashMap, HashSet, VecDeque};
use std::iter::Peekable;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use strata_core::rate::Throttled;
use strata_core::{Entry, KeyRange, LastKey, MergeIter, Priority, RangeDelIndex, RateLimiter, SeqNo, ValueKind};
use strata_sstable::{CopyUnit, SsTableStore, TableMeta, TablePart};

use crate::range_del::wholly_deleted;
use crate::state::key_hull;
use crate::{CompactionTask, Error, LevelState, TableId, TaskKind};

/// What the executor needs besides the task and the store.
pub struct ExecContext<'a> {
    /// Sequence numbers of the live snapshots, ascending. A version that is the newest visible
    /// at one of them is kept.
    pub snapshots: &'a [SeqNo],
    /// Whether no table outside the inputs (in a level deeper than the output, or older data
    /// anywhere) can hold keys of the inputs' range, so tombstones with nothing older left to
    /// hide can go. [`is_bottommost`] computes it from the level state.
    pub bottommost: bool,
    /// Hands out a fresh table id for each output table.
    pub next_table_id: &'a (dyn Fn() -> TableId + Sync),
    /// Limits the bytes the merge writes per second, at low priority (flushes go first);
    /// `None` writes as fast as it can.
    pub rate_limiter: Option<&'a RateLimiter>,
    /// The most key ranges one merge is split into, merged in parallel on their own threads
    /// (1: no split). See [`execute`].
    pub max_subcompactions: usize,
    /// Whether a merge copies whole the units (row groups) that no other input overlaps and
    /// that hold nothing to drop, instead of rewriting their rows. See [`execute`].
    pub copy_row_groups: bool,
    /// A bottommost merge into L1 or deeper writes the oldest version of a key at sequence
    /// number 0 when every snapshot sees it and its number is below this one (see
    /// [`execute`]): the oldest sequence number data outside the tables may hold. An engine
    /// passes the oldest number in its memtables, which after an ingest can be older than a
    /// table's; `SeqNo::MAX` when nothing outside the tables can be older than them, 0 to
    /// never zero.
    pub zero_seqs_below: SeqNo,
}

impl std::fmt::Debug for ExecContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecContext")
            .field("snapshots", &self.snapshots)
            .field("bottommost", &self.bottommost)
            .field("rate_limiter", &self.rate_limiter.map(RateLimiter::bytes_per_sec))
            .field("max_subcompactions", &self.max_subcompactions)
            .field("copy_row_groups", &self.copy_row_groups)
            .field("zero_seqs_below", &self.zero_seqs_below)
            .finish_non_exhaustive()
    }
}

/// The result of a task: one manifest edit, to be applied atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionOutput {
    /// Tables leaving the tree, as `(level, id)`. Their files are not deleted by
    /// [`execute`]: the engine deletes them once no reader holds them.
    pub removed: Vec<(usize, TableId)>,
    /// Tables entering the tree, as `(level, meta)`: new tables for a merge, the inputs
    /// themselves for a move.
    pub added: Vec<(usize, TableMeta)>,
    /// Bytes of the input tables read (their file sizes); 0 for moves and drops.
    pub bytes_read: u64,
    /// Bytes of the tables written (their file sizes); 0 for moves and drops.
    pub bytes_written: u64,
    /// Rows the merge wrote into its outputs one by one (decoded, merged, encoded).
    pub rows_rewritten: u64,
    /// Rows the merge copied into its outputs inside whole units (row groups), undecoded.
    pub rows_copied: u64,
}

/// Rows a merge wrote, by how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RowCounts {
    rewritten: u64,
    copied: u64,
}

/// Carries out `task`, picked from `state`, against `store`.
///
/// * [`TaskKind::Merge`]: scans every input, merges them (L0 inputs newest first by
///   `max_seq`, then deeper levels), keeps for each user key its newest version and the
///   newest version visible at each of `ctx.snapshots`, drops the rest, and — when
///   `ctx.bottommost` — drops tombstones that no older kept version remains under. Output
///   tables of about `task.target_table_size` payload bytes are written with ids from
///   `ctx.next_table_id`, streamed; the versions of one user key never straddle two tables.
///   An output table that holds half its target ends where a table of the level below
///   `task.output_level` (in `state`) begins.
///   If a write fails, the tables already written by this task are deleted before the error
///   is returned. A merge of at least 4 MiB of input (or four target tables) is split into up to
///   `ctx.max_subcompactions` key ranges of about equal input bytes, cut at input tables'
///   first keys and at the store's [`split_keys`](SsTableStore::split_keys) (user keys, so
///   one user key's versions stay in one range), merged on their own threads;
///   the outputs come back in key order as one edit, exactly as one merge would write them
///   but for where tables are cut. A task with `target_table_size` `u64::MAX` (one output
///   table: a sorted run of L0) or with range tombstones is not split.
///
///   With `ctx.copy_row_groups`, a unit of an input ([`SsTableStore::copy_units`], a Parquet
///   row group) that lies wholly inside the merge's key range, whose key range no other unit
///   or table of the inputs touches and no range tombstone of the inputs covers, and that
///   holds one version per key and no tombstone, is copied into the output as it is
///   ([`TablePart::Copy`]): the merge would keep every row of it unchanged, so only its bytes
///   move. The output is the same data as a merge that rewrites every row.
/// * [`TaskKind::Move`]: no data I/O; the inputs' metadata (from [`SsTableStore::open`]) is
///   returned as added at `task.output_level`.
/// * [`TaskKind::Drop`]: no I/O; the inputs are returned as removed.
///
/// Input files are never deleted here (see [`CompactionOutput::removed`]).
///
/// # Errors
///
/// * [`Error::InvalidTask`] for a task without inputs, with a table listed twice, or a move
///   within one level;
/// * [`Error::TableNotInState`] when an input is not at its stated level of `state`;
/// * [`Error::Store`] when opening, scanning or writing a table fails (nothing of this task's
///   output is left behind).
pub fn execute<S: SsTableStore>(
    store: &S,
    task: &CompactionTask,
    state: &LevelState,
    ctx: &ExecContext<'_>,
) -> Result<CompactionOutput, Error> {
    let inputs = resolve_inputs(task, state)?;
    let removed: Vec<(usize, TableId)> = inputs.iter().map(|(level, t)| (*level, t.id)).collect();
    match task.kind {
        TaskKind::Drop => Ok(CompactionOutput {
            removed,
            added: Vec::new(),
            bytes_read: 0,
            bytes_written: 0,
            rows_rewritten: 0,
            rows_copied: 0,
        }),
        TaskKind::Move => {
            let added = inputs
                .iter()
                .map(|(_, t)| Ok((task.output_level, store.open(t.id)?)))
                .collect::<Result<Vec<_>, Error>>()?;
            Ok(CompactionOutput { removed, added, bytes_read: 0, bytes_written: 0, rows_rewritten: 0, rows_copied: 0 })
        }
        TaskKind::Merge => {
            let bytes_read = inputs.iter().map(|(_, t)| t.file_size).sum();
            let below = boundaries_below(state, task.output_level, &inputs);
            let (added, rows) = merge(store, task, inputs, &below, ctx)?;
            let bytes_written = added.iter().map(|m| m.file_size).sum();
            let added = added.into_iter().map(|m| (task.output_level, m)).collect();
            Ok(CompactionOutput {
                removed,
                added,
                bytes_read,
                bytes_written,
                rows_rewritten: rows.rewritten,
                rows_copied: rows.copied,
            })
        }
    }
}

/// Whether the merge of `task` may drop tombstones: no table outside its inputs overlaps the
/// inputs' key range while holding a version older than the newest input version. Newer
/// tables (L0 flushes above a deeper merge) do not matter: a tombstone never hides newer data.
#[must_use]
pub fn is_bottommost(state: &LevelState, task: &CompactionTask) -> bool {
    let ids: HashSet<TableId> = task.input_ids().collect();
    let inputs: Vec<&TableMeta> = state.levels.iter().flatten().filter(|t| ids.contains(&t.id)).collect();
    let Some((lo, hi)) = key_hull(inputs.iter().copied()) else {
        return false;
    };
    let newest = inputs.iter().map(|t| t.max_seq).max().unwrap_or(SeqNo::MAX);
    !state.levels.iter().flatten().any(|t| !ids.contains(&t.id) && t.overlaps(&lo, &hi) && t.min_seq < newest)
}

/// Where the tables one level below `output_level` start, inside the inputs' key hull, in
/// key order: a merge ends its output tables there once they are half full (see [`Chunk`]).
/// None for a merge into L0, whose tables overlap anyway.
fn boundaries_below(state: &LevelState, output_level: usize, inputs: &[(usize, &TableMeta)]) -> Vec<Bytes> {
    if output_level == 0 {
        return Vec::new();
    }
    let Some((lo, hi)) = key_hull(inputs.iter().map(|(_, t)| *t)) else {
        return Vec::new();
    };
    // NOTE: a level below L0 is sorted by first key, so the starts come in key order.
    state.overlapping(output_level + 1, &lo, &hi).map(|t| t.min_key.clone()).filter(|k| *k > lo).collect()
}

/// The task's inputs as `(level, summary)`, checked against the state.
fn resolve_inputs<'s>(task: &CompactionTask, state: &'s LevelState) -> Result<Vec<(usize, &'s TableMeta)>, Error> {
    if task.input_count() == 0 {
        return Err(Error::invalid_task(format!("{} task has no inputs", task.kind.as_str())));
    }
    let mut seen = HashSet::new();
    let mut inputs = Vec::with_capacity(task.input_count());
    for (level, id) in task.input_tables() {
        if !seen.insert(id) {
            return Err(Error::invalid_task(format!("table {id} is listed twice")));
        }
        if task.kind == TaskKind::Move && level == task.output_level {
            return Err(Error::invalid_task(format!("move of table {id} from level {level} to itself")));
        }
        let table = state.level(level).iter().find(|t| t.id == id).ok_or(Error::TableNotInState { id, level })?;
        inputs.push((level, table));
    }
    Ok(inputs)
}

/// The least input bytes a merge needs before it is split into subcompactions (or four output
/// tables' worth, if less): below it, threads cost more than they save.
const MIN_SUBCOMPACTION_BYTES: u64 = 4 << 20;

/// Merges the inputs into new tables, in up to `ctx.max_subcompactions` key ranges at once;
/// on error deletes what it wrote.
fn merge<S: SsTableStore>(
    store: &S,
    task: &CompactionTask,
    mut inputs: Vec<(usize, &TableMeta)>,
    below: &[Bytes],
    ctx: &ExecContext<'_>,
) -> Result<(Vec<TableMeta>, RowCounts), Error> {
    // Newest data first: L0 by max_seq descending, then each deeper level in key order.
    inputs.sort_by(|(la, a), (lb, b)| la.cmp(lb).then_with(|| crate::level_order(*la, a, b)));
    let min_bytes = MIN_SUBCOMPACTION_BYTES.min(task.target_table_size.saturating_mul(4));
    // A range tombstone is one row at its first key that reaches to its end: cut into key
    // ranges, the ranges after its start would not see it. Such merges run whole.
    // A task asking for one output table (a sorted run of L0) runs whole too.
    let has_range_tombstones = inputs.iter().any(|(_, t)| !t.range_tombstones.is_empty());
    let one_output = task.target_table_size == u64::MAX;
    let max_ranges = if has_range_tombstones || one_output { 1 } else { ctx.max_subcompactions };
    let split_keys: Vec<Vec<Bytes>> = if max_ranges > 1 {
        // NOTE: split keys only place the cuts; a table that cannot give them (or fails to)
        // counts at its first key, and its scan reports any real error.
        inputs
            .iter()
            .map(|(_, t)| store.split_keys(t.id, SPLIT_KEYS_PER_RANGE * max_ranges).unwrap_or_default())
            .collect()
    } else {
        Vec::new()
    };
    let ranges = split_ranges(&inputs, &split_keys, task.output_level, max_ranges, min_bytes);
    let unread = unread_inputs(&inputs, ctx.snapshots);
    let results: Vec<Result<Merged, Error>> = if let [only] = ranges.as_slice() {
        vec![merge_range(store, task, &inputs, &unread, only, below, ctx)]
    } else {
        strata_core::parallel::on_threads(
            &ranges,
            |range| merge_range(store, task, &inputs, &unread, range, below, ctx),
            || Err(Error::invalid_task("a subcompaction panicked")),
        )
    };
    let mut written = Vec::new();
    let mut rows = RowCounts::default();
    let mut taken: HashMap<TableId, u64> = HashMap::new();
    let mut first_error = None;
    for r in results {
        match r {
            Ok(merged) => {
                written.extend(merged.tables);
                rows.rewritten += merged.rows.rewritten;
                rows.copied += merged.rows.copied;
                for (id, n) in merged.taken {
                    *taken.entry(id).or_default() += n;
                }
            }
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    let first_error = first_error.or_else(|| count_mismatch(store, &inputs, &unread, &taken));
    if let Some(e) = first_error {
        for meta in &written {
            // NOTE: best effort, as in `merge_range`.
            let _ = store.delete(meta.id);
        }
        return Err(e);
    }
    Ok((written, rows))
}

/// Split keys asked of the store per key range wanted: cuts then fall within an eighth of
/// a range's share of bytes.
const SPLIT_KEYS_PER_RANGE: usize = 8;

/// Cuts the inputs' key space into up to `max` ranges of about equal input bytes; one range
/// (everything) when the input is under `min_bytes` or `max <= 1`.
///
/// Each input is a run of pieces of equal bytes, starting at its first key and at each of
/// its `split_keys` (from [`SsTableStore::split_keys`], index for index with `inputs`;
/// missing entries count as none), and cuts fall at piece starts. Tables that span the whole
/// key space, like fresh L0 tables of random keys, can thus be cut too. When no input has
/// split keys, the cuts follow the inputs at `output_level` if there are at least two: their
/// key ranges are disjoint and they usually hold most of the bytes, while upper-level tables
/// would count all their bytes at their first key.
fn split_ranges(
    inputs: &[(usize, &TableMeta)],
    split_keys: &[Vec<Bytes>],
    output_level: usize,
    max: usize,
    min_bytes: u64,
) -> Vec<KeyRange> {
    let total: u64 = inputs.iter().map(|(_, t)| t.file_size).sum();
    if max <= 1 || total < min_bytes {
        return vec![KeyRange::all()];
    }
    let no_keys = Vec::new();
    let keys_of = |i: usize| split_keys.get(i).unwrap_or(&no_keys);
    let sampled = (0..inputs.len()).any(|i| !keys_of(i).is_empty());
    let lower = inputs.iter().filter(|(l, _)| *l == output_level).count();
    // (piece start, piece bytes), over the inputs the cuts follow.
    let mut pieces: Vec<(&Bytes, u64)> = Vec::new();
    for (i, (level, t)) in inputs.iter().enumerate() {
        if !sampled && lower >= 2 && *level != output_level {
            continue;
        }
        let keys = keys_of(i);
        let each = t.file_size / (keys.len() as u64 + 1);
        pieces.push((&t.min_key, t.file_size - each * keys.len() as u64));
        pieces.extend(keys.iter().map(|k| (k, each)));
    }
    let total: u64 = pieces.iter().map(|(_, bytes)| bytes).sum();
    pieces.sort_by(|a, b| a.0.cmp(b.0));
    let mut cuts: Vec<Bytes> = Vec::new();
    let mut passed = 0u64;
    for (start, bytes) in &pieces {
        // A cut at this piece's start leaves `passed` bytes (the pieces starting before it)
        // to the ranges before; cut when that reaches the next share.
        let share = total * (cuts.len() as u64 + 1) / max as u64;
        // A cut must start after the first key of all (a range before it would be empty) and
        // after the previous cut.
        let after = cuts.last().unwrap_or(pieces[0].0);
        if passed >= share && cuts.len() + 1 < max && after < *start {
            cuts.push((*start).clone());
        }
        passed += bytes;
    }
    KeyRange::cut_at(cuts)
}

/// The inputs a merge drops without reading them: each wholly under a newer range tombstone
/// of another input, with no snapshot between, holds nothing any reader sees.
fn unread_inputs(inputs: &[(usize, &TableMeta)], snapshots: &[SeqNo]) -> HashSet<TableId> {
    let mut snapshots = snapshots.to_vec();
    snapshots.sort_unstable();
    snapshots.dedup();
    let range_dels = RangeDelIndex::new(inputs.iter().flat_map(|(_, t)| t.range_tombstones.iter().cloned()));
    inputs.iter().filter(|(_, t)| wholly_deleted(&range_dels, t, &snapshots).is_some()).map(|(_, t)| t.id).collect()
}

/// Checks that the merge took every row of its inputs (RocksDB's
/// `compaction_verify_record_count`): each input not `unread` must have given as many rows, scanned or copied, as its metadata says it
/// holds. A scan that ended early, or key ranges or copied units that missed rows, would
/// otherwise drop data in silence once the inputs are deleted. A mismatch is corruption
/// naming the input.
fn count_mismatch<S: SsTableStore>(
    store: &S,
    inputs: &[(usize, &TableMeta)],
    unread: &HashSet<TableId>,
    taken: &HashMap<TableId, u64>,
) -> Option<Error> {
    inputs.iter().find_map(|(_, t)| {
        let got = taken.get(&t.id).copied().unwrap_or(0);
        if got == t.entries || unread.contains(&t.id) {
            return None;
        }
        let file = store.table_file(t.id).unwrap_or_else(|| format!("table {}", t.id).into());
        Some(Error::Store(strata_sstable::Error::Corruption {
            file,
            reason: format!("a compaction took {got} rows of this table, which holds {}", t.entries),
        }))
    })
}

/// What a merge of one key range wrote, and the rows it took of each input.
struct Merged {
    tables: Vec<TableMeta>,
    rows: RowCounts,
    /// Rows of each input scanned or copied.
    taken: Vec<(TableId, u64)>,
}

/// Merges the inputs' entries in `range` into new tables, leaving out the `unread` inputs; on
/// error deletes what it wrote.
fn merge_range<S: SsTableStore>(
    store: &S,
    task: &CompactionTask,
    inputs: &[(usize, &TableMeta)],
    unread: &HashSet<TableId>,
    range: &KeyRange,
    below: &[Bytes],
    ctx: &ExecContext<'_>,
) -> Result<Merged, Error> {
    let mut snapshots = ctx.snapshots.to_vec();
    snapshots.sort_unstable();
    snapshots.dedup();
    let range_dels = RangeDelIndex::new(inputs.iter().flat_map(|(_, t)| t.range_tombstones.iter().cloned()));
    let live: Vec<&TableMeta> = inputs
        .iter()
        .filter(|(_, t)| range.overlaps(&t.min_key, &t.max_key) && !unread.contains(&t.id))
        .map(|(_, t)| *t)
        .collect();
    let copies = if ctx.copy_row_groups { plan_copies(store, &live, range, task.output_level)? } else { Vec::new() };
    let scanned: Vec<Arc<AtomicU64>> = live.iter().map(|_| Arc::default()).collect();
    let scans = live
        .iter()
        .zip(&scanned)
        .map(|(t, n)| {
            let skipped: Vec<&CopyUnit> = copies.iter().filter(|u| u.table == t.id).collect();
            let pieces =
                around(range, &skipped).iter().map(|piece| store.scan_once(t.id, piece)).collect::<Result<_, _>>()?;
            Ok(Pieces { pieces, rows: Arc::clone(n) })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    // Counted now: `copies` moves into the stream below.
    let copied_rows: Vec<u64> =
        live.iter().map(|t| copies.iter().filter(|u| u.table == t.id).map(|u| u.rows).sum()).collect();
    let visible = RangeDelFilter { inner: MergeIter::new(scans), range_dels, snapshots: snapshots.clone() };
    // A merge into L0 (size-tiered, FIFO) keeps every sequence number: L0 tables are ordered
    // by their newest one.
    let merged = GcIter::new(visible, snapshots, ctx.bottommost).zero_seqs(if task.output_level > 0 {
        ctx.zero_seqs_below
    } else {
        0
    });
    let throttled = Throttled::new(merged, ctx.rate_limiter, Priority::Low).peekable();
    let mut stream = WithCopies { inner: throttled, copies: copies.into(), rate_limiter: ctx.rate_limiter }.peekable();
    let target = task.target_table_size.max(1);
    let mut written: Vec<TableMeta> = Vec::new();
    let mut rows = RowCounts::default();
    while stream.peek().is_some() {
        let id = (ctx.next_table_id)();
        let mut chunk = Chunk {
            source: &mut stream,
            target,
            bytes: 0,
            last_key: None,
            reach: None,
            below,
            next_below: 0,
            rows: &mut rows,
        };
        // Each output is opened here, on the compaction's thread, so the first read of it does
        // not pay for opening it (reading its metadata, indexes and filters); an output that
        // cannot be opened fails the task.
        let result = store.write_table_parts(id, task.output_level, &mut chunk).and_then(|meta| {
            written.push(meta);
            store.open(id)
        });
        match result {
            Ok(_) => {}
            Err(e) => {
                for meta in &written {
                    // NOTE: best effort; the write error is the one worth reporting, and a
                    // table left behind is unreferenced (the engine sweeps unknown files).
                    let _ = store.delete(meta.id);
                }
                return Err(e.into());
            }
        }
    }
    let taken =
        live.iter().zip(&scanned).zip(&copied_rows).map(|((t, n), c)| (t.id, n.load(Ordering::Relaxed) + c)).collect();
    Ok(Merged { tables: written, rows, taken })
}

/// The units of `tables` (the inputs of a merge over `range`) to copy whole: each lies in
/// `range`, touches the key range of no other unit of the inputs (nor of an input that has no
/// units), lies under no range tombstone of the inputs, holds nothing to drop, and is laid
/// out as a table of `output_level` would be (codec and filter sizing). In key order.
fn plan_copies<S: SsTableStore>(
    store: &S,
    tables: &[&TableMeta],
    range: &KeyRange,
    output_level: usize,
) -> Result<Vec<CopyUnit>, Error> {
    // (first key, last key, the unit): every unit of every input, or the whole table for an
    // input without units.
    let mut extents: Vec<(Bytes, Bytes, Option<CopyUnit>)> = Vec::new();
    for t in tables {
        let units = store.copy_units(t.id, output_level)?;
        if units.is_empty() {
            extents.push((t.min_key.clone(), t.max_key.clone(), None));
        }
        extents.extend(units.into_iter().map(|u| (u.min_key.clone(), u.max_key.clone(), Some(u))));
    }
    extents.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let under_range_tombstone = |min: &Bytes, max: &Bytes| {
        tables.iter().flat_map(|t| &t.range_tombstones).any(|rt| rt.start <= *max && rt.end > *min)
    };
    let mut copies = Vec::new();
    // The furthest last key of the extents before the current one.
    let mut reach: Option<&Bytes> = None;
    for (i, (min, max, unit)) in extents.iter().enumerate() {
        let alone = reach.is_none_or(|r| r < min) && extents.get(i + 1).is_none_or(|next| next.0 > *max);
        if let Some(unit) = unit
            && alone
            && unit.holds_nothing_to_drop()
            && unit.fits_level
            && range.contains(min)
            && range.contains(max)
            && !under_range_tombstone(min, max)
        {
            copies.push(unit.clone());
        }
        reach = Some(reach.map_or(max, |r| r.max(max)));
    }
    Ok(copies)
}

/// `range` without the key ranges of `skipped` (in key order, disjoint, inside `range`): the
/// pieces of a table still to scan when those units are copied.
fn around(range: &KeyRange, skipped: &[&CopyUnit]) -> Vec<KeyRange> {
    let own = |b: Bound<&[u8]>| match b {
        Bound::Included(k) => Bound::Included(Bytes::copy_from_slice(k)),
        Bound::Excluded(k) => Bound::Excluded(Bytes::copy_from_slice(k)),
        Bound::Unbounded => Bound::Unbounded,
    };
    let mut pieces = Vec::with_capacity(skipped.len() + 1);
    let mut start = own(range.start());
    for unit in skipped {
        pieces.push(KeyRange::new(start, Bound::Excluded(unit.min_key.clone())));
        start = Bound::Excluded(unit.max_key.clone());
    }
    pieces.push(KeyRange::new(start, own(range.end())));
    pieces.retain(|p| !p.is_empty());
    pieces
}

/// Scans of one table's pieces, one after the other.
struct Pieces<I> {
    pieces: VecDeque<I>,
    /// Rows given so far (errors not counted), for the merge's count check.
    rows: Arc<AtomicU64>,
}

impl<I: Iterator<Item = Result<T, E>>, T, E> Iterator for Pieces<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        loop {
            let item = self.pieces.front_mut()?.next();
            match item {
                Some(Ok(_)) => {
                    // NOTE: this iterator is the counter's one writer, so a load and a store
                    // do, without the locked add `fetch_add` costs on every row.
                    self.rows.store(self.rows.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    return item;
                }
                Some(Err(_)) => return item,
                None => {
                    self.pieces.pop_front();
                }
            }
        }
    }
}

/// The merged stream with the copied units put in their places, as table parts. Nothing in
/// the stream lies inside a copied unit's key range (the planner chose units nobody else
/// touches, and their own tables are scanned around them).
struct WithCopies<'a, I: Iterator> {
    inner: Peekable<I>,
    copies: VecDeque<CopyUnit>,
    rate_limiter: Option<&'a RateLimiter>,
}

impl<I, E> Iterator for WithCopies<'_, I>
where
    I: Iterator<Item = Result<Entry, E>>,
{
    type Item = Result<TablePart, E>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(unit) = self.copies.front() {
            let copy_now = match self.inner.peek() {
                None => true,
                Some(Ok(next)) => next.key > unit.max_key,
                Some(Err(_)) => false,
            };
            if copy_now {
                let unit = self.copies.pop_front()?;
                if let Some(limiter) = self.rate_limiter {
                    limiter.request(unit.charged_bytes, Priority::Low);
                }
                return Some(Ok(TablePart::Copy(unit)));
            }
        }
        self.inner.next().map(|item| item.map(TablePart::Entry))
    }
}

/// Feeds one output table: parts until about `target` bytes, then up to the end of the
/// current user key and past the end of every range tombstone it holds (so the next table's
/// first key lies beyond this table's extent). Counts the rows it passes on in `rows`.
///
/// Once the table holds half of `target`, it also ends where a table of the level below
/// begins (`below`), as RocksDB cuts at its "grandparent" boundaries: a table pushed down
/// later then overlaps only the tables below that lie within its range, not one more at
/// each end. Over random-write streams of 2 to 32 GiB the simulator counts 5 to 14 % fewer
/// bytes written with these cuts (up to 2 % more around 1 GiB), and a 24M-key fillrandom
/// wrote 16 % fewer (2.31 bytes per user byte against 2.74; `docs/benchmarks.md`). Up to
/// 14M keys, where merges below L1 are still moves, it changes little.
struct Chunk<'s, I: Iterator> {
    source: &'s mut Peekable<I>,
    target: u64,
    bytes: u64,
    last_key: Option<Bytes>,
    /// The furthest end of a range tombstone fed so far.
    reach: Option<Bytes>,
    /// First keys of the tables one level below the output, in key order.
    below: &'s [Bytes],
    /// Index in `below` of the first boundary past every key fed so far.
    next_below: usize,
    rows: &'s mut RowCounts,
}

impl<I: Iterator> Chunk<'_, I> {
    /// Moves past the boundaries below at or before `key`, now in the table: a binary search,
    /// as each output table starts its walk from the first boundary.
    fn pass_boundaries(&mut self, key: &Bytes) {
        self.next_below += self.below.get(self.next_below..).map_or(0, |rest| rest.partition_point(|s| s <= key));
    }
}

/// The first user key of a part.
fn first_key(part: &TablePart) -> &Bytes {
    match part {
        TablePart::Entry(e) => &e.key,
        TablePart::Copy(unit) => &unit.min_key,
    }
}

impl<I, E> Iterator for Chunk<'_, I>
where
    I: Iterator<Item = Result<TablePart, E>>,
{
    type Item = Result<TablePart, E>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(Ok(next)) = self.source.peek()
            && (self.bytes >= self.target
                || (self.bytes >= self.target / 2
                    && self.below.get(self.next_below).is_some_and(|start| first_key(next) >= start)))
            && self.last_key.as_ref() != Some(first_key(next))
            && self.reach.as_ref().is_none_or(|reach| reach < first_key(next))
        {
            return None;
        }
        let item = self.source.next()?;
        match &item {
            Ok(TablePart::Entry(entry)) => {
                self.bytes += entry.charged_len();
                self.rows.rewritten += 1;
                if entry.kind == ValueKind::RangeDelete && self.reach.as_ref().is_none_or(|r| *r < entry.value) {
                    self.reach = Some(entry.value.clone());
                }
                if self.last_key.as_ref() != Some(&entry.key) {
                    self.pass_boundaries(&entry.key);
                    self.last_key = Some(entry.key.clone());
                }
            }
            Ok(TablePart::Copy(unit)) => {
                self.bytes += unit.charged_bytes;
                self.rows.copied += unit.rows;
                self.pass_boundaries(&unit.max_key);
                self.last_key = Some(unit.max_key.clone());
            }
            Err(_) => {}
        }
        Some(item)
    }
}

/// Whether no snapshot in `snapshots` (ascending) lies in `[from, to)`.
pub(crate) fn no_snapshot_between(snapshots: &[SeqNo], from: SeqNo, to: SeqNo) -> bool {
    snapshots.get(snapshots.partition_point(|&s| s < from)).is_none_or(|&s| s >= to)
}

/// Drops the point versions a range tombstone of the inputs deletes in every view: those with
/// a covering tombstone newer than them and no snapshot in between (such a snapshot would
/// still see the version). Range tombstones themselves pass through.
struct RangeDelFilter<I> {
    inner: I,
    range_dels: RangeDelIndex,
    snapshots: Vec<SeqNo>,
}

impl<I, E> Iterator for RangeDelFilter<I>
where
    I: Iterator<Item = Result<Entry, E>>,
{
    type Item = Result<Entry, E>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let item = self.inner.next()?;
            if let Ok(e) = &item
                && e.kind != ValueKind::RangeDelete
                && let Some(t) = self.range_dels.min_covering_above(&e.key, e.seq)
                && no_snapshot_between(&self.snapshots, e.seq, t)
            {
                continue;
            }
            return Some(item);
        }
    }
}

/// The garbage-collection rule over a stream in internal key order.
///
/// For each user key, walking versions newest to oldest, a version is kept when it is the
/// newest, or the newest with `seq <= s` for some live snapshot `s` (equivalently: some
/// snapshot lies in `[seq, seq of the next newer version)`). When `bottommost`, kept
/// tombstones at the old end of a key's kept versions are dropped too: with nothing older
/// under them, every reader sees "absent" either way. Exact duplicates (same key and
/// sequence number, from two sources) keep the first, which comes from the newer source.
///
/// Range tombstones are not versions of their first key: they are kept (in order) whatever
/// the versions around them, except at the bottom once every snapshot sees them, when every
/// version they delete is gone (see [`RangeDelFilter`]) and nothing older lies below.
///
/// With [`Self::zero_seqs`] (a bottommost merge into a sorted level), the oldest kept
/// version of a key, when a put that every snapshot sees, is written with sequence number 0,
/// as RocksDB does: no reader can tell (it is visible at every snapshot and nothing older lies
/// below; a range tombstone kept beside it is one that some snapshot does not see, so newer
/// than it, and covers it at 0 as it did before), and the `seq` column of a bottom level, a
/// few bytes per row of random-order sequence numbers, becomes runs of zeros that a page index
/// shows without the pages being read. "Nothing older" must hold outside the tables too: an
/// ingested table is numbered after writes still in the memtables (a range tombstone there
/// may cover its keys at a lower number), so only versions older than the memtables' oldest
/// (`zero_below`) are zeroed.
///
/// Buffers only the kept versions of one key (at most one more than there are snapshots).
pub(crate) struct GcIter<I> {
    inner: I,
    snapshots: Vec<SeqNo>,
    bottommost: bool,
    /// Versions numbered below this may be written at 0 (0: none).
    zero_below: SeqNo,
    /// The user key being read (a copy: see [`LastKey`]) and the sequence number of its
    /// last version seen.
    current: LastKey,
    current_seq: SeqNo,
    /// Kept versions of the current key.
    kept: Vec<Entry>,
    /// Finished versions, ready to yield.
    ready: VecDeque<Entry>,
    /// The last range tombstone kept, to drop an exact duplicate from an older source.
    last_range: Option<(Bytes, SeqNo)>,
    done: bool,
}

impl<I> GcIter<I> {
    /// `snapshots` must be sorted ascending.
    pub(crate) fn new(inner: I, snapshots: Vec<SeqNo>, bottommost: bool) -> Self {
        Self {
            inner,
            snapshots,
            bottommost,
            zero_below: 0,
            current: LastKey::default(),
            current_seq: 0,
            kept: Vec::new(),
            ready: VecDeque::new(),
            last_range: None,
            done: false,
        }
    }

    /// Writes the oldest kept version of each key with sequence number 0 when it is a put
    /// every snapshot sees and its number is below `below` (see the type's docs); only for a
    /// bottommost merge (0: never).
    pub(crate) fn zero_seqs(mut self, below: SeqNo) -> Self {
        self.zero_below = if self.bottommost { below } else { 0 };
        self
    }

    /// Whether a snapshot sees the version `seq` whose next newer version is `newer`.
    fn visible_at_snapshot(&self, seq: SeqNo, newer: SeqNo) -> bool {
        let i = self.snapshots.partition_point(|&s| s < seq);
        self.snapshots.get(i).is_some_and(|&s| s < newer)
    }

    fn keep_range_tombstone(&mut self, entry: Entry) {
        let seen_by_all = no_snapshot_between(&self.snapshots, 0, entry.seq);
        if (self.bottommost && seen_by_all) || self.last_range.as_ref() == Some(&(entry.key.clone(), entry.seq)) {
            return;
        }
        if !self.current.is(&entry.key) {
            // A new user key starts with this tombstone; its point versions (older) follow.
            self.finish_key();
            self.current.clear();
        }
        self.last_range = Some((entry.key.clone(), entry.seq));
        self.kept.push(entry);
    }

    fn finish_key(&mut self) {
        if self.bottommost {
            while self.kept.last().is_some_and(|e| e.kind == ValueKind::Delete) {
                self.kept.pop();
            }
        }
        if let Some(oldest) = self.kept.last_mut()
            && oldest.seq < self.zero_below
            && oldest.kind == ValueKind::Put
            && no_snapshot_between(&self.snapshots, 0, oldest.seq)
        {
            oldest.seq = 0;
        }
        self.ready.extend(self.kept.drain(..));
    }
}

impl<I, E> Iterator for GcIter<I>
where
    I: Iterator<Item = Result<Entry, E>>,
{
    type Item = Result<Entry, E>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.ready.pop_front() {
                return Some(Ok(entry));
            }
            if self.done {
                return None;
            }
            let entry = match self.inner.next() {
                None => {
                    self.finish_key();
                    self.done = true;
                    continue;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(Ok(entry)) => entry,
            };
            if entry.kind == ValueKind::RangeDelete {
                self.keep_range_tombstone(entry);
                continue;
            }
            let keep = if self.current.is(&entry.key) {
                if entry.seq == self.current_seq {
                    continue;
                }
                self.visible_at_snapshot(entry.seq, self.current_seq)
            } else {
                self.finish_key();
                self.current.set(&entry.key);
                true
            };
            self.current_seq = entry.seq;
            if keep {
                self.kept.push(entry);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::convert::Infallible;

    use proptest::prelude::*;
    use strata_core::{MAX_SEQNO, VisibleIter};

    use super::*;

    /// A one-entry table summary over `[min, max]` of `size` bytes, at sequence number 1.
    pub(crate) fn meta(id: TableId, min: &str, max: &str, size: u64) -> TableMeta {
        TableMeta {
            id,
            file_size: size,
            min_key: Bytes::copy_from_slice(min.as_bytes()),
            max_key: Bytes::copy_from_slice(max.as_bytes()),
            entries: 1,
            tombstones: 0,
            min_seq: 1,
            max_seq: 1,
            created_at_ms: 0,
            range_tombstones: Vec::new(),
        }
    }

    #[test]
    fn splits_cut_at_first_keys_into_ranges_of_about_equal_bytes() {
        let l1 = [meta(1, "a", "c", 10), meta(2, "d", "f", 10), meta(3, "g", "i", 10), meta(4, "j", "l", 10)];
        let l0 = meta(5, "b", "k", 8);
        let inputs: Vec<(usize, &TableMeta)> = std::iter::once((0, &l0)).chain(l1.iter().map(|t| (1, t))).collect();
        let starts = |ranges: &[KeyRange]| -> Vec<Option<Vec<u8>>> {
            ranges
                .iter()
                .map(|r| match r.start() {
                    Bound::Included(k) => Some(k.to_vec()),
                    _ => None,
                })
                .collect()
        };
        // 48 bytes in two: the cut goes where 24 bytes lie before it (a, b, d start before g).
        let two = split_ranges(&inputs, &[], 0, 2, 0);
        assert_eq!(starts(&two), vec![None, Some(b"g".to_vec())]);
        assert!(two[0].contains(b"f") && !two[0].contains(b"g") && two[1].contains(b"g"));
        let four = split_ranges(&inputs, &[], 0, 4, 0);
        assert_eq!(starts(&four), vec![None, Some(b"d".to_vec()), Some(b"g".to_vec()), Some(b"j".to_vec())]);
        // Too small, or one allowed: no split.
        assert_eq!(split_ranges(&inputs, &[], 0, 4, 49).len(), 1);
        assert_eq!(split_ranges(&inputs, &[], 0, 1, 0).len(), 1);
        // With the output level's tables to follow, L0's bytes do not skew the cuts: 40 bytes
        // of L1 in two halves.
        let two = split_ranges(&inputs, &[], 1, 2, 0);
        assert_eq!(starts(&two), vec![None, Some(b"g".to_vec())]);
        let l1_first = [(0, &l0), (1, &l1[0]), (1, &l1[1])];
        assert_eq!(starts(&split_ranges(&l1_first, &[], 1, 2, 0)), vec![None, Some(b"d".to_vec())]);
        // Every table starting at the same key: nowhere to cut.
        let same = [meta(1, "a", "z", 10), meta(2, "a", "y", 10)];
        let inputs: Vec<(usize, &TableMeta)> = same.iter().map(|t| (0, t)).collect();
        assert_eq!(split_ranges(&inputs, &[], 0, 2, 0).len(), 1);
        // ... unless the store gives split keys: each table is then pieces of 4, 2, 2 and 2
        // bytes (at a, c, e, g and a, d, h, m), and half of the 20 bytes lie before d.
        let keys = |ks: &[&str]| ks.iter().map(|k| Bytes::copy_from_slice(k.as_bytes())).collect::<Vec<_>>();
        let split = [keys(&["c", "e", "g"]), keys(&["d", "h", "m"])];
        assert_eq!(starts(&split_ranges(&inputs, &split, 0, 2, 0)), vec![None, Some(b"d".to_vec())]);
        // Split keys make the upper level count too: L0's 8 bytes are pieces of 4, 2 and 2 at
        // b, e and h, and 24 of the 48 bytes lie before e.
        let inputs: Vec<(usize, &TableMeta)> = std::iter::once((0, &l0)).chain(l1.iter().map(|t| (1, t))).collect();
        let split = [keys(&["e", "h"]), vec![], vec![], vec![], vec![]];
        assert_eq!(starts(&split_ranges(&inputs, &split, 1, 2, 0)), vec![None, Some(b"e".to_vec())]);
    }

    fn gc(entries: &[Entry], snapshots: &[SeqNo], bottommost: bool) -> Vec<Entry> {
        let source = entries.iter().cloned().map(Ok::<_, Infallible>);
        GcIter::new(source, snapshots.to_vec(), bottommost).map(|e| e.unwrap()).collect()
    }

    fn view(sources: Vec<Vec<Entry>>, snapshot: SeqNo) -> BTreeMap<Bytes, Bytes> {
        let sources = sources.into_iter().map(|s| s.into_iter().map(Ok::<_, Infallible>)).collect();
        VisibleIter::new(MergeIter::new(sources), snapshot).map(|e| e.unwrap()).map(|e| (e.key, e.value)).collect()
    }

    #[test]
    fn keeps_the_newest_and_one_version_per_snapshot() {
        let versions =
            vec![Entry::put("k", 10, "10"), Entry::put("k", 8, "8"), Entry::put("k", 5, "5"), Entry::put("k", 2, "2")];
        let seqs = |v: Vec<Entry>| v.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(gc(&versions, &[], false)), [10]);
        assert_eq!(seqs(gc(&versions, &[6], false)), [10, 5]);
        assert_eq!(seqs(gc(&versions, &[5, 9, 100], false)), [10, 8, 5]);
        assert_eq!(seqs(gc(&versions, &[1], false)), [10]);
    }

    #[test]
    fn tombstones_go_only_at_the_bottom_with_nothing_older_kept() {
        let versions = vec![Entry::delete("k", 10), Entry::put("k", 5, "5"), Entry::put("j", 3, "3")];
        // Not bottommost: the tombstone must stay to hide older data below.
        assert_eq!(gc(&versions, &[], false).len(), 2);
        // Bottommost, no snapshot: the tombstone and the value it hides both go.
        assert_eq!(gc(&versions, &[], true), [Entry::put("j", 3, "3")]);
        // A snapshot at 7 still sees 5: the tombstone must stay above it.
        assert_eq!(gc(&versions, &[7], true).len(), 3);
        // A tombstone that is the oldest kept version goes even when a snapshot sees it.
        let versions = vec![Entry::put("k", 10, "10"), Entry::delete("k", 6), Entry::put("k", 3, "3")];
        assert_eq!(gc(&versions, &[7], true), [Entry::put("k", 10, "10")]);
    }

    #[test]
    fn the_oldest_put_every_snapshot_sees_is_written_at_zero() {
        let zeroed = |entries: &[Entry], snapshots: &[SeqNo], bottommost: bool| {
            let source = entries.iter().cloned().map(Ok::<_, Infallible>);
            let out = GcIter::new(source, snapshots.to_vec(), bottommost).zero_seqs(SeqNo::MAX);
            out.map(|e| e.unwrap()).map(|e| (e.key, e.seq)).collect::<Vec<_>>()
        };
        let k = |seq| (Bytes::from_static(b"k"), seq);
        let versions = vec![Entry::put("k", 10, "10"), Entry::put("k", 5, "5"), Entry::put("k", 2, "2")];
        // No snapshot: one version, seen by all.
        assert_eq!(zeroed(&versions, &[], true), [k(0)]);
        // A snapshot at 6 keeps 5 for itself: 5 is seen by every snapshot, 10 is not.
        assert_eq!(zeroed(&versions, &[6], true), [k(10), k(0)]);
        // A snapshot at 3 does not see 5 (nor 10): 5 keeps its number, as 2 must stay below.
        assert_eq!(zeroed(&versions, &[3, 6], true), [k(10), k(5), k(0)]);
        // Not at the bottom: older data below may sit between, so nothing changes.
        assert_eq!(zeroed(&versions, &[], false), [k(10)]);
        // Not at or above the bound (the memtables' oldest number): such data may be older.
        let source = versions.iter().cloned().map(Ok::<_, Infallible>);
        let bounded: Vec<SeqNo> = GcIter::new(source, vec![], true).zero_seqs(10).map(|e| e.unwrap().seq).collect();
        assert_eq!(bounded, [10]);
        let source = versions.iter().cloned().map(Ok::<_, Infallible>);
        let bounded: Vec<SeqNo> = GcIter::new(source, vec![], true).zero_seqs(11).map(|e| e.unwrap().seq).collect();
        assert_eq!(bounded, [0]);
        // Only the oldest kept version, below a tombstone that keeps its number.
        let versions = vec![Entry::put("k", 10, "10"), Entry::delete("k", 6), Entry::put("k", 3, "3")];
        assert_eq!(zeroed(&versions, &[4, 7], true), [k(10), k(6), k(0)]);
    }

    #[test]
    fn exact_duplicates_keep_the_newer_source() {
        let versions = vec![Entry::put("k", 4, "new"), Entry::put("k", 4, "old")];
        assert_eq!(gc(&versions, &[], false), [Entry::put("k", 4, "new")]);
    }

    /// Inputs of a GC proptest: older data outside the compaction (sequence numbers before
    /// `entries`), and `entries` cut at `split` into an older and a newer input table, each
    /// sorted, with live snapshots picked among the sequence numbers.
    struct GcCase {
        older: Vec<Entry>,
        old_in: Vec<Entry>,
        new_in: Vec<Entry>,
        snapshots: Vec<SeqNo>,
    }

    impl GcCase {
        fn new(
            mut older: Vec<Entry>,
            entries: Vec<Entry>,
            split: prop::sample::Index,
            snaps: &[prop::sample::Index],
        ) -> Self {
            let max_seq = (older.len() + entries.len()) as u64;
            older.sort_by(Entry::cmp_internal);
            let cut = split.index(entries.len() + 1);
            let (mut old_in, mut new_in) = (entries[..cut].to_vec(), entries[cut..].to_vec());
            old_in.sort_by(Entry::cmp_internal);
            new_in.sort_by(Entry::cmp_internal);
            let mut snapshots: Vec<SeqNo> = snaps.iter().map(|s| s.index(max_seq as usize + 1) as SeqNo).collect();
            snapshots.sort_unstable();
            snapshots.dedup();
            Self { older, old_in, new_in, snapshots }
        }
    }

    /// The view at `snapshot` of sources that may hold range tombstones.
    fn view_with_ranges(sources: Vec<Vec<Entry>>, snapshot: SeqNo) -> BTreeMap<Bytes, Bytes> {
        let index = RangeDelIndex::new(sources.iter().flatten().filter_map(strata_core::RangeTombstone::from_entry));
        let sources = sources.into_iter().map(|s| s.into_iter().map(Ok::<_, Infallible>)).collect();
        VisibleIter::new(MergeIter::new(sources), snapshot)
            .map(|e| e.unwrap())
            .filter(|e| !index.deletes(&e.key, e.seq, snapshot))
            .map(|e| (e.key, e.value))
            .collect()
    }

    /// A put, a delete or a range delete over a few one-byte keys.
    fn ranged_op() -> impl Strategy<Value = (u8, u8, u8)> {
        (0u8..7, 0u8..3, 1u8..4)
    }

    proptest! {
        /// With range tombstones among the inputs, the filter and the GC rule together keep
        /// every snapshot's view, keep the output strictly ordered, and at the bottom with no
        /// snapshot leave no tombstone of either kind.
        #[test]
        fn range_tombstones_keep_every_snapshot_view(
            ops in prop::collection::vec(ranged_op(), 1..60),
            below in prop::collection::vec(ranged_op(), 0..10),
            split in any::<prop::sample::Index>(),
            snaps in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
            zero in any::<bool>(),
        ) {
            let mk = |(i, (k, what, len)): (usize, &(u8, u8, u8)), base: u64| {
                let seq = base + i as u64 + 1;
                let key = vec![b'a' + *k];
                match what {
                    0 => Entry::put(key, seq, format!("{seq}")),
                    1 => Entry::delete(key, seq),
                    _ => Entry::range_delete(key, vec![b'a' + *k + *len], seq),
                }
            };
            let older: Vec<Entry> = below.iter().enumerate().map(|e| mk(e, 0)).collect();
            let base = below.len() as u64;
            let entries: Vec<Entry> = ops.iter().enumerate().map(|e| mk(e, base)).collect();
            let GcCase { older, old_in, new_in, snapshots } = GcCase::new(older, entries, split, &snaps);
            let bottommost = older.is_empty();
            let range_dels = RangeDelIndex::new(
                new_in.iter().chain(&old_in).filter_map(strata_core::RangeTombstone::from_entry),
            );
            let merged = MergeIter::new(vec![new_in.clone().into_iter().map(Ok::<_, Infallible>), old_in.clone().into_iter().map(Ok)]);
            let filtered = RangeDelFilter { inner: merged, range_dels, snapshots: snapshots.clone() };
            let out: Vec<Entry> =
                GcIter::new(filtered, snapshots.clone(), bottommost).zero_seqs(if zero { SeqNo::MAX } else { 0 }).map(|e| e.unwrap()).collect();
            prop_assert!(out.windows(2).all(|w| w[0].cmp_internal(&w[1]).is_lt()));
            for snap in snapshots.iter().copied().chain([MAX_SEQNO]) {
                let want = view_with_ranges(vec![new_in.clone(), old_in.clone(), older.clone()], snap);
                let got = view_with_ranges(vec![out.clone(), older.clone()], snap);
                prop_assert_eq!(got, want, "snapshot {}", snap);
            }
            if bottommost && snapshots.is_empty() {
                prop_assert!(out.iter().all(|e| e.kind == ValueKind::Put));
            }
        }
    }

    fn op() -> impl Strategy<Value = (u8, bool)> {
        (0u8..6, prop::bool::weighted(0.3))
    }

    proptest! {
        /// Reading the GC output (plus any older data below it) at the newest sequence number
        /// and at every live snapshot answers exactly as reading the inputs did.
        #[test]
        fn gc_preserves_every_snapshot_view(
            ops in prop::collection::vec(op(), 1..80),
            below in prop::collection::vec(op(), 0..10),
            split in any::<prop::sample::Index>(),
            snaps in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
            zero in any::<bool>(),
        ) {
            let mk = |(i, (k, del)): (usize, &(u8, bool)), base: u64| {
                let seq = base + i as u64 + 1;
                let key = vec![b'a' + *k];
                if *del { Entry::delete(key, seq) } else { Entry::put(key, seq, format!("{seq}")) }
            };
            let older: Vec<Entry> = below.iter().enumerate().map(|e| mk(e, 0)).collect();
            let base = below.len() as u64;
            let entries: Vec<Entry> = ops.iter().enumerate().map(|e| mk(e, base)).collect();
            let GcCase { older, old_in, new_in, snapshots } = GcCase::new(older, entries, split, &snaps);
            let bottommost = older.is_empty();
            let merged = MergeIter::new(vec![new_in.clone().into_iter().map(Ok::<_, Infallible>), old_in.clone().into_iter().map(Ok)]);
            let out: Vec<Entry> =
                GcIter::new(merged, snapshots.clone(), bottommost).zero_seqs(if zero { SeqNo::MAX } else { 0 }).map(|e| e.unwrap()).collect();
            prop_assert!(out.windows(2).all(|w| w[0].cmp_internal(&w[1]).is_lt()));
            // Only a bottommost merge zeroes, and only puts every snapshot sees.
            let zeroed = out.iter().filter(|e| e.seq == 0).count();
            prop_assert!(zeroed == 0 || (zero && bottommost));
            prop_assert!(out.iter().all(|e| e.seq > 0 || (e.kind == ValueKind::Put)));
            for snap in snapshots.iter().copied().chain([MAX_SEQNO]) {
                let want = view(vec![new_in.clone(), old_in.clone(), older.clone()], snap);
                let got = view(vec![out.clone(), older.clone()], snap);
                prop_assert_eq!(got, want, "snapshot {}", snap);
            }
            // Nothing is kept that no reader can see.
            let per_key_limit = snapshots.len() + 1;
            let mut counts: BTreeMap<&Bytes, usize> = BTreeMap::new();
            for e in &out {
                *counts.entry(&e.key).or_default() += 1;
            }
            prop_assert!(counts.values().all(|&c| c <= per_key_limit));
            if bottommost && snapshots.is_empty() {
                prop_assert!(out.iter().all(|e| e.kind == ValueKind::Put));
            }
        }
    }
}
