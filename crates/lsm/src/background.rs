//! The background threads: one flushes sealed memtables, `max_background_jobs` compact.

use std::sync::Arc;
use std::time::Duration;

use strata_compaction::CompactionPolicy;
use strata_memtable::Memtable;
use strata_sstable::SsTableStore;

use crate::state::{Inner, lock};

/// How long an idle thread sleeps before looking for work again even without a signal.
const IDLE: Duration = Duration::from_millis(200);

pub(crate) fn flush_loop<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static>(
    inner: &Arc<Inner<M, S, C>>,
) {
    loop {
        if let Some(mem) = inner.oldest_immutable() {
            if inner.check_bg_error().is_err() {
                // Keep the data in memory (and in the log); a reopen will retry.
                if wait_for_work(inner) {
                    return;
                }
                continue;
            }
            lock(&inner.bg).flushing = true;
            let result = inner.flush_memtable(&mem);
            lock(&inner.bg).flushing = false;
            if let Err(e) = result {
                inner.set_bg_error(e);
            }
            continue;
        }
        // Drain every sealed memtable before honouring a shutdown.
        if wait_for_work(inner) {
            return;
        }
    }
}

pub(crate) fn compaction_loop<M: Memtable + 'static, S: SsTableStore + 'static, C: CompactionPolicy + 'static>(
    inner: &Arc<Inner<M, S, C>>,
) {
    loop {
        if inner.check_bg_error().is_ok()
            && let Some(task) = inner.claim_compaction(inner.options.enable_background_compaction)
        {
            if let Err(e) = inner.run_compaction(&task) {
                inner.set_bg_error(e);
            }
            continue;
        }
        if wait_for_work(inner) {
            return;
        }
    }
}

/// Sleeps until something changes; returns whether the database is shutting down.
fn wait_for_work<M, S, C>(inner: &Inner<M, S, C>) -> bool {
    let bg = lock(&inner.bg);
    if bg.shutdown {
        return true;
    }
    let epoch = bg.epoch;
    let (bg, _) = inner
        .bg_cv
        .wait_timeout_while(bg, IDLE, |bg| !bg.shutdown && bg.epoch == epoch)
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    bg.shutdown
}
