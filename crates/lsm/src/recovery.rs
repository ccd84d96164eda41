//! Opening a database: lock, manifest, cleanup, log replay.
//!
//! 1. Take the lock file, so no second process opens the directory.
//! 2. Read the manifest named by `CURRENT` (or start empty when `create_if_missing`).
//! 3. Replay the log segments the manifest does not cover into a memtable, writing it out
//!    as L0 tables whenever it fills and at the end; the newest segment may end in a torn
//!    record, which is dropped.
//! 4. Write a fresh manifest holding the result and point `CURRENT` at it, then delete what
//!    a crash left behind: replayed segments, older manifests, and tables no manifest names
//!    (outputs of a flush or compaction that never committed).
//!
//! A crash anywhere in this sequence leaves the previous manifest in charge, and the next
//! open does the same work again.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use strata_core::fs::FileSystem;
use strata_core::{Entry, SeqNo};
use strata_memtable::Memtable;
use strata_sstable::{SsTableStore, TableId};

use crate::manifest::{Manifest, TreeState, parse_manifest_name, sort_levels};
use crate::wal::{self, ReplayStats};
use crate::{Error, Options, Result};

/// What recovery hands to the engine.
pub(crate) struct Recovered {
    pub(crate) tree: TreeState,
    pub(crate) manifest: Manifest,
    pub(crate) wal_number: u64,
    pub(crate) next_file: u64,
    pub(crate) replay: ReplayStats,
}

pub(crate) fn recover<M: Memtable, S: SsTableStore>(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    options: &Options,
    store: &S,
    new_memtable: &dyn Fn() -> M,
) -> Result<Recovered> {
    let mut tree = match Manifest::recover(fs, dir)? {
        Some((tree, _number)) => tree,
        None if options.create_if_missing => TreeState::default(),
        None => return Err(Error::NotFound { dir: dir.to_owned() }),
    };

    let names = fs.list_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut segments: Vec<u64> = names.iter().filter_map(|n| wal::parse_segment_name(n)).collect();
    segments.sort_unstable();
    // Table ids share the file-number space with log segments and manifests: none may be
    // handed out again, whoever's file it names.
    let stored_tables = store.list_tables()?;
    let highest = names
        .iter()
        .filter_map(|n| wal::parse_segment_name(n).or_else(|| parse_manifest_name(n)))
        .chain(stored_tables.iter().copied())
        .max()
        .unwrap_or(0);
    let next_file = AtomicU64::new(tree.next_file_number.max(highest + 1).max(1));
    let allocate = || next_file.fetch_add(1, Ordering::Relaxed);

    // Replay the segments the manifest does not cover.
    let live: Vec<u64> = segments.iter().copied().filter(|&n| n >= tree.log_number).collect();
    let mut mem = new_memtable();
    let mut empty_bytes = mem.approximate_memory_usage();
    let mut flushed = Vec::new();
    let mut flush_error = None;
    let flush = |mem: &M, flushed: &mut Vec<_>| -> Result<()> {
        if mem.is_empty() {
            return Ok(());
        }
        let mut entries = mem.iter().map(Ok::<Entry, strata_sstable::Error>);
        flushed.push(store.write_table_at(allocate(), 0, &mut entries)?);
        Ok(())
    };
    let replay = wal::replay(fs, dir, &live, options.wal_recovery, |first_seq: SeqNo, batch| {
        if flush_error.is_some() {
            return;
        }
        for (i, (kind, key, value)) in batch.ops.iter().enumerate() {
            mem.insert(key, first_seq + i as u64, *kind, value);
        }
        if mem.approximate_memory_usage().saturating_sub(empty_bytes) >= options.max_memtable_size {
            if let Err(e) = flush(&mem, &mut flushed) {
                flush_error = Some(e);
            }
            mem = new_memtable();
            empty_bytes = mem.approximate_memory_usage();
        }
    })?;
    if let Some(e) = flush_error {
        return Err(e);
    }
    flush(&mem, &mut flushed)?;
    if !flushed.is_empty() {
        tracing::info!(tables = flushed.len(), batches = replay.batches, "recovered the log into L0 tables");
    }
    if tree.levels.is_empty() {
        tree.levels.push(Vec::new());
    }
    tree.levels[0].extend(flushed);
    sort_levels(&mut tree.levels);

    let wal_number = allocate();
    let manifest_number = allocate();
    tree.log_number = wal_number;
    tree.last_seq = tree.last_seq.max(replay.last_seq);
    tree.next_file_number = next_file.load(Ordering::Relaxed);
    let manifest = Manifest::create(fs, dir, manifest_number, &tree)?;

    // The new manifest is durable: everything it does not name can go.
    for &n in &segments {
        remove(fs, &dir.join(wal::segment_name(n)));
    }
    for name in &names {
        if parse_manifest_name(name).is_some_and(|n| Some(n) != Some(manifest_number)) || name == "CURRENT.tmp" {
            remove(fs, &dir.join(name));
        }
    }
    let live_ids: std::collections::HashSet<TableId> = tree.levels.iter().flatten().map(|t| t.id).collect();
    for id in stored_tables {
        if !live_ids.contains(&id) {
            tracing::info!(table = id, "deleting an orphan table left by an interrupted flush or compaction");
            store.delete(id)?;
        }
    }
    Ok(Recovered { tree, manifest, wal_number, next_file: next_file.load(Ordering::Relaxed), replay })
}

fn remove(fs: &Arc<dyn FileSystem>, path: &Path) {
    if let Err(e) = fs.remove_file(path) {
        tracing::warn!(file = %path.display(), error = %e, "could not delete an obsolete file");
    }
}
