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
//!
//! With the manifest in a [`ManifestStore`] step 2 also fences earlier writers: the latest
//! manifest is committed again under the next writer epoch before anything else is written,
//! and this writer's table ids start at its epoch's own range ([`epoch_first_id`]), so a
//! fenced writer still finishing a flush cannot write a table under an id this one uses.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use strata_core::fs::FileSystem;
use strata_core::{Entry, ManifestStore, SeqNo};
use strata_memtable::Memtable;
use strata_sstable::{SsTableStore, TableId};

use crate::manifest::{LocalManifest, Manifest, RemoteManifest, TreeState, parse_manifest_name, sort_levels};
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

/// Where a database's manifest lives.
#[derive(Debug, Clone)]
pub(crate) enum ManifestSource {
    /// `CURRENT` and `MANIFEST-*` files in the data directory.
    Local,
    /// Objects in a store, for a writer.
    Remote(Arc<dyn ManifestStore>),
    /// Objects in a store, for a read-only opener.
    ReadOnly(Arc<dyn ManifestStore>),
}

/// The first table id of writer epoch `epoch`: each epoch numbers its files from its own
/// range of 2^40, so no two writers of one store ever name a table alike.
pub(crate) const fn epoch_first_id(epoch: u64) -> u64 {
    epoch << 40
}

/// Opens a read-only view: the latest remote manifest, no log, nothing written or deleted.
pub(crate) fn recover_read_only(store: Arc<dyn ManifestStore>) -> Result<Recovered> {
    let (manifest, tree) = RemoteManifest::open_read_only(store)?;
    Ok(Recovered {
        next_file: tree.next_file_number,
        tree,
        manifest: Manifest::Remote(manifest),
        wal_number: 0,
        replay: ReplayStats::default(),
    })
}

pub(crate) fn recover<M: Memtable, S: SsTableStore>(
    fs: &Arc<dyn FileSystem>,
    dir: &Path,
    options: &Options,
    store: &S,
    new_memtable: &dyn Fn() -> M,
    source: &ManifestSource,
) -> Result<Recovered> {
    let (mut remote, mut tree) = match source {
        ManifestSource::Local => match LocalManifest::recover(fs, dir)? {
            Some((tree, _number)) => (None, tree),
            None if options.create_if_missing => (None, TreeState::default()),
            None => return Err(Error::NotFound { dir: dir.to_owned() }),
        },
        ManifestSource::Remote(manifests) => {
            let (manifest, tree) = RemoteManifest::claim(Arc::clone(manifests), options.create_if_missing)?;
            (Some(manifest), tree)
        }
        ManifestSource::ReadOnly(manifests) => return recover_read_only(Arc::clone(manifests)),
    };
    let first_id = remote.as_ref().map_or(1, |m| epoch_first_id(m.epoch()));

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
    let next_file = AtomicU64::new(tree.next_file_number.max(highest + 1).max(first_id));
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
    tree.log_number = wal_number;
    tree.last_seq = tree.last_seq.max(replay.last_seq);
    let (manifest, manifest_number) = match remote.take() {
        Some(mut remote) => {
            tree.next_file_number = next_file.load(Ordering::Relaxed);
            remote.commit_tree(&tree)?;
            (Manifest::Remote(remote), None)
        }
        None => {
            let number = allocate();
            tree.next_file_number = next_file.load(Ordering::Relaxed);
            (Manifest::Local(LocalManifest::create(fs, dir, number, &tree)?), Some(number))
        }
    };

    // The new manifest is durable: everything it does not name can go.
    for &n in &segments {
        remove(fs, &dir.join(wal::segment_name(n)));
    }
    for name in &names {
        // A local manifest other than the new one, or any left from when the database was
        // local, if its manifest is now remote.
        if parse_manifest_name(name).is_some_and(|n| Some(n) != manifest_number) || name == "CURRENT.tmp" {
            remove(fs, &dir.join(name));
        }
    }
    let live_ids: std::collections::HashSet<TableId> = tree.levels.iter().flatten().map(|t| t.id).collect();
    for id in stored_tables {
        if !live_ids.contains(&id) {
            tracing::info!(table = id, "deleting an orphan table left by an interrupted flush or compaction");
            store.delete_orphan(id)?;
        }
    }
    // Sort runs of an ingest cut short.
    let runs = dir.join(crate::ingest::RUNS_DIR);
    for name in fs.list_dir(&runs).unwrap_or_default() {
        remove(fs, &runs.join(name));
    }
    Ok(Recovered { tree, manifest, wal_number, next_file: next_file.load(Ordering::Relaxed), replay })
}

fn remove(fs: &Arc<dyn FileSystem>, path: &Path) {
    if let Err(e) = fs.remove_file(path) {
        tracing::warn!(file = %path.display(), error = %e, "could not delete an obsolete file");
    }
}
