//! Flushing sealed memtables to L0 tables.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use strata_compaction::CompactionPolicy;
use strata_core::rate::Throttled;
use strata_core::{Entry, KeyRange, Priority};
use strata_memtable::Memtable;
use strata_sstable::{SsTableStore, TableId, TableMeta};

use crate::manifest::VersionEdit;
use crate::state::{Inner, MemHandle, SuperVersion, lock};
use crate::{Error, Result, wal};

/// The least a memtable must hold before a flush someone waits for is cut into key ranges
/// written at once: below it, threads cost more than they save.
const MIN_SPLIT_FLUSH_BYTES: usize = 4 << 20;

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> Inner<M, S, C> {
    /// The oldest sealed memtable, if any waits for flush.
    pub(crate) fn oldest_immutable(&self) -> Option<Arc<MemHandle<M>>> {
        self.current().immutables.last().cloned()
    }

    /// Writes `mem` as L0 tables (one, or one per key range when [`Self::flush_cuts`] gives
    /// cuts), records them in the manifest, drops the memtable, and deletes log segments no
    /// memtable needs any more.
    pub(crate) fn flush_memtable(&self, mem: &Arc<MemHandle<M>>) -> Result<()> {
        let started = std::time::Instant::now();
        let metas = if mem.mem.is_empty() {
            Vec::new()
        } else {
            let ranges = KeyRange::cut_at(self.flush_cuts(mem));
            let written: Vec<Result<TableMeta>> = strata_core::parallel::on_threads(
                &ranges,
                |range| self.write_l0_table(mem, range),
                || Err(Error::io(&self.dir, std::io::Error::other("a flush thread panicked"))),
            );
            // The tables must hold every version the memtable does (RocksDB's
            // `flush_verify_memtable_count`): a memtable whose iteration lost an entry would
            // otherwise lose it for good once its log segment is deleted. The memtable is
            // sealed, so its count no longer moves; on a mismatch the segment is kept and the
            // database turns read-only.
            let failure = written.iter().find_map(|w| w.as_ref().err().cloned()).or_else(|| {
                let (rows, held) = (written.iter().flatten().map(|m| m.entries).sum::<u64>(), mem.mem.len() as u64);
                (rows != held).then(|| {
                    Error::corruption(
                        self.dir.join(wal::segment_name(mem.wal_number)),
                        format!(
                            "a flush of the memtable of this log segment wrote {rows} entries where the memtable holds {held}; the segment is kept"
                        ),
                    )
                })
            });
            if let Some(e) = failure {
                for meta in written.iter().flatten() {
                    // NOTE: best effort; a table no manifest names is removed at the next open.
                    let _ = self.store.delete(meta.id);
                }
                return Err(e);
            }
            let metas: Vec<TableMeta> = written.into_iter().flatten().collect();
            self.stats.flushes.fetch_add(1, Ordering::Relaxed);
            self.stats.flush_bytes.fetch_add(metas.iter().map(|m| m.file_size).sum(), Ordering::Relaxed);
            metas
        };
        // The oldest log segment still needed is the one of the next-oldest memtable.
        let sv = self.current();
        let position = sv.immutables.iter().position(|m| Arc::ptr_eq(m, mem));
        let log_number = match position {
            Some(i) if i > 0 => sv.immutables[i - 1].wal_number,
            _ => sv.active.wal_number,
        };
        let logged: Vec<(TableId, u64, u64)> = metas.iter().map(|m| (m.id, m.entries, m.file_size)).collect();
        let edit = VersionEdit {
            added: metas.into_iter().map(|m| (0, m)).collect(),
            removed: Vec::new(),
            log_number: Some(log_number),
            next_file_number: Some(self.next_file.load(Ordering::Relaxed)),
            last_seq: Some(self.visible_seq.load(Ordering::Acquire)),
            writer_epoch: None,
        };
        self.log_and_install(&edit, |sv, version| SuperVersion {
            active: Arc::clone(&sv.active),
            immutables: sv.immutables.iter().filter(|m| !Arc::ptr_eq(m, mem)).cloned().collect(),
            version,
        })?;
        self.delete_logs_below(log_number);
        let ms = started.elapsed().as_millis();
        for (table, entries, bytes) in logged {
            tracing::info!(table, entries, bytes, ms, "flushed a memtable to L0");
        }
        Ok(())
    }

    /// Writes the entries of `mem` in `range` as an L0 table, and opens it.
    fn write_l0_table(&self, mem: &MemHandle<M>, range: &KeyRange) -> Result<TableMeta> {
        let id = self.allocate_file_number();
        let entries = mem.mem.range(range).map(Ok::<Entry, strata_sstable::Error>);
        let mut entries = Throttled::new(entries, self.rate_limiter.as_ref(), Priority::High);
        let meta = self.store.write_table_at(id, 0, &mut entries)?;
        // Opened here, on the flush's thread, so the first read of the new table does not
        // pay for opening it; a table that cannot be opened fails the flush.
        self.store.open(id)?;
        if let Err(problem) = self.check_new_table(0, &meta) {
            // NOTE: best effort; a table no manifest names is removed at the next open.
            let _ = self.store.delete(id);
            return Err(problem);
        }
        Ok(meta)
    }

    /// Where to cut `mem` into key ranges written at once: none unless a caller waits for
    /// the flush ([`BgState::flush_waiters`](crate::state::BgState)), the memtable holds at
    /// least [`MIN_SPLIT_FLUSH_BYTES`] and no range tombstone (a tombstone is one entry at its
    /// first key, which a later range would not see), and `max_subcompactions` allows more
    /// than one range. Then one user key per range after the first, at equal entry counts,
    /// so every version of a key stays in one table.
    fn flush_cuts(&self, mem: &MemHandle<M>) -> Vec<Bytes> {
        let parts = self.options.max_subcompactions;
        let written = mem.mem.approximate_memory_usage().saturating_sub(mem.empty_bytes);
        if parts < 2 || written < MIN_SPLIT_FLUSH_BYTES || mem.has_range_dels() || lock(&self.bg).flush_waiters == 0 {
            return Vec::new();
        }
        let n = mem.mem.len();
        let mut cuts: Vec<Bytes> = Vec::with_capacity(parts - 1);
        let mut i = 0usize;
        let mut first: Option<Bytes> = None;
        mem.mem.visit_range(&KeyRange::all(), &mut |key, _, _, _| {
            let first = first.get_or_insert_with(|| Bytes::copy_from_slice(key));
            let due = n * (cuts.len() + 1) / parts;
            // A cut starts a new user key: never the first key, nor the last cut again.
            if i >= due && key != first.as_ref() && cuts.last().is_none_or(|c| key != c.as_ref()) {
                cuts.push(Bytes::copy_from_slice(key));
            }
            i += 1;
            cuts.len() + 1 < parts
        });
        cuts
    }

    fn delete_logs_below(&self, log_number: u64) {
        let Ok(names) = self.fs.list_dir(&self.dir) else { return };
        for name in names {
            if wal::parse_segment_name(&name).is_some_and(|n| n < log_number)
                && let Err(e) = self.fs.remove_file(&self.dir.join(&name))
            {
                tracing::warn!(file = %name, error = %e, "could not delete an obsolete log segment");
            }
        }
    }
}
