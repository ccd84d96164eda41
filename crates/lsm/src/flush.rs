//! Flushing sealed memtables to L0 tables.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use strata_compaction::CompactionPolicy;
use strata_core::rate::Throttled;
use strata_core::{Entry, Priority};
use strata_memtable::Memtable;
use strata_sstable::SsTableStore;

use crate::manifest::VersionEdit;
use crate::state::{Inner, MemHandle, SuperVersion};
use crate::{Result, wal};

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static> Inner<M, S, C> {
    /// The oldest sealed memtable, if any waits for flush.
    pub(crate) fn oldest_immutable(&self) -> Option<Arc<MemHandle<M>>> {
        self.current().immutables.last().cloned()
    }

    /// Writes `mem` as an L0 table, records it in the manifest, drops the memtable, and
    /// deletes log segments no memtable needs any more.
    pub(crate) fn flush_memtable(&self, mem: &Arc<MemHandle<M>>) -> Result<()> {
        let started = std::time::Instant::now();
        let meta = if mem.mem.is_empty() {
            None
        } else {
            let id = self.allocate_file_number();
            let entries = mem.mem.iter().map(Ok::<Entry, strata_sstable::Error>);
            let mut entries = Throttled::new(entries, self.rate_limiter.as_ref(), Priority::High);
            let meta = self.store.write_table_at(id, 0, &mut entries)?;
            // Opened here, on the flush's thread, so the first read of the new table does not
            // pay for opening it; a table that cannot be opened fails the flush.
            self.store.open(id)?;
            self.stats.flushes.fetch_add(1, Ordering::Relaxed);
            self.stats.flush_bytes.fetch_add(meta.file_size, Ordering::Relaxed);
            Some(meta)
        };
        // The oldest log segment still needed is the one of the next-oldest memtable.
        let sv = self.current();
        let position = sv.immutables.iter().position(|m| Arc::ptr_eq(m, mem));
        let log_number = match position {
            Some(i) if i > 0 => sv.immutables[i - 1].wal_number,
            _ => sv.active.wal_number,
        };
        let logged = meta.as_ref().map(|m| (m.id, m.entries, m.file_size));
        let edit = VersionEdit {
            added: meta.into_iter().map(|m| (0, m)).collect(),
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
        if let Some((table, entries, bytes)) = logged {
            let ms = started.elapsed().as_millis();
            tracing::info!(table, entries, bytes, ms, "flushed a memtable to L0");
        }
        Ok(())
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
