//! Checkpoints: an openable copy of the database at one sequence number, taken while
//! writes continue.
//!
//! 1. Seal the active memtable under the log lock. Every write up to `seq`, the last
//!    sequence number assigned at that moment, is now in a sealed memtable or a table.
//! 2. Wait until the flush thread has written every memtable sealed so far to L0.
//! 3. Under the manifest lock, take the tree state and the live `Version` together. Holding
//!    the `Version` pins its tables: a compaction may drop them from the tree meanwhile, but
//!    their files are deleted only when the last holder lets go.
//! 4. Link (or copy) each table into the destination through the table store, then write a
//!    fresh manifest there describing exactly that tree, and point `CURRENT` at it. There
//!    is no log: nothing after `seq` belongs to the checkpoint.
//!
//! Flushes go oldest first and each memtable holds a contiguous run of sequence numbers, so
//! the tables of step 3 hold exactly the writes up to some `S >= seq` (more memtables may
//! have been flushed while step 2 waited). That `S` is the checkpoint's sequence number.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use strata_compaction::CompactionPolicy;
use strata_core::SeqNo;
use strata_memtable::Memtable;
use strata_sstable::{SsTableStore, TableExport};

use crate::manifest::LocalManifest;
use crate::state::{Inner, lock};
use crate::{Error, Result};

/// What [`Db::checkpoint`](crate::Db::checkpoint) made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointInfo {
    /// The checkpoint holds every write with a sequence number up to this one, and none
    /// after it.
    pub seq: SeqNo,
    /// Tables in the checkpoint.
    pub tables: usize,
    /// Of those, how many are hard links shared with the source database.
    pub linked: usize,
    /// Bytes copied for the tables that could not be linked.
    pub copied_bytes: u64,
}

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> Inner<M, S, C> {
    pub(crate) fn checkpoint(&self, dest: &Path) -> Result<CheckpointInfo> {
        self.check_bg_error()?;
        let created_dir = self.prepare_checkpoint_dir(dest)?;
        let result = self.write_checkpoint(dest);
        if result.is_err() {
            // Leave the destination as it was found (absent or empty): a half-made
            // checkpoint has no manifest and would only confuse the next attempt.
            for name in self.fs.list_dir(dest).unwrap_or_default() {
                let _ = self.fs.remove_file(&dest.join(name));
            }
            if created_dir {
                let _ = std::fs::remove_dir(dest);
            }
        }
        result
    }

    /// Checks that `dest` is absent or empty and creates it; returns whether it was created.
    fn prepare_checkpoint_dir(&self, dest: &Path) -> Result<bool> {
        if self.fs.exists(dest) {
            let names = self.fs.list_dir(dest).map_err(|e| Error::io(dest, e))?;
            if !names.is_empty() {
                return Err(Error::invalid_input(
                    dest,
                    format!(
                        "a checkpoint needs an absent or empty directory, and this one holds {} entries",
                        names.len()
                    ),
                ));
            }
            return Ok(false);
        }
        self.fs.create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Best effort: the checkpoint's own files are synced below; this makes its
            // directory entry durable too where the platform allows.
            let _ = self.fs.sync_dir(parent);
        }
        Ok(true)
    }

    fn write_checkpoint(&self, dest: &Path) -> Result<CheckpointInfo> {
        // 1. Seal: the log lock keeps a write group from committing in between.
        let (sealed_seq, boundary) = {
            let mut wal = lock(&self.wal);
            let seq = wal.last_seq;
            if !self.current().active.mem.is_empty() {
                self.rotate_memtable_locked(&mut wal)?;
            }
            (seq, self.current().active.wal_number)
        };
        // 2. Every memtable older than the active one at the seal is flushed.
        self.wait_until(|inner| Ok(inner.current().immutables.iter().all(|m| m.wal_number >= boundary)))?;
        // 3. The tree and the version that matches it; the version pins the files.
        let (mut tree, version) = {
            let manifest = lock(&self.manifest);
            (manifest.tree.clone(), Arc::clone(&self.current().version))
        };
        let seq = tree.levels.iter().flatten().map(|t| t.max_seq).fold(sealed_seq, SeqNo::max);
        // 4. The tables, then the manifest that names them.
        let mut info = CheckpointInfo { seq, tables: 0, linked: 0, copied_bytes: 0 };
        let ids: HashSet<_> = tree.levels.iter().flatten().map(|t| t.id).collect();
        debug_assert_eq!(ids, version.all_ids(), "the tree and the version are read under one lock");
        for level in &tree.levels {
            for table in level {
                match self.store.export_table(table.id, dest)? {
                    TableExport::Linked => info.linked += 1,
                    TableExport::Copied(bytes) => info.copied_bytes += bytes,
                }
                info.tables += 1;
            }
        }
        self.fs.sync_dir(dest).map_err(|e| Error::io(dest, e))?;
        drop(version);

        let number = self.next_file.load(Ordering::Relaxed).max(ids.iter().max().map_or(1, |m| m + 1));
        tree.last_seq = seq;
        tree.log_number = number + 1;
        tree.next_file_number = number + 2;
        // The manifest and CURRENT are written last: until CURRENT exists the destination
        // is not a database, so a crash before it leaves nothing that could be opened.
        // A checkpoint is a local database, whatever this one's manifest is.
        tree.writer_epoch = 0;
        drop(LocalManifest::create(&self.fs, dest, number, &tree)?);
        Ok(info)
    }
}
