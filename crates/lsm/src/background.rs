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
    if let Err(e) = lower_thread_priority(inner.options.compaction_nice) {
        tracing::warn!(error = %e, nice = inner.options.compaction_nice, "could not lower the compaction thread's priority");
    }
    loop {
        if inner.check_bg_error().is_ok()
            && let Some(task) = inner.claim_compaction(inner.options.enable_background_compaction)
        {
            if let Err(e) = inner.run_compaction(&task, false) {
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

/// Raises the calling thread's nice value to `nice` unless it is already that high (threads it
/// spawns afterwards inherit it). On Linux a nice value belongs to one thread; elsewhere this
/// does nothing.
#[cfg(target_os = "linux")]
pub(crate) fn lower_thread_priority(nice: i32) -> std::io::Result<()> {
    // SAFETY: `gettid` takes no arguments and cannot fail.
    let tid = unsafe { libc::gettid() } as libc::id_t;
    // SAFETY: `__errno_location` returns this thread's errno, valid for the thread's life;
    // `getpriority` returns -1 both for nice -1 and for an error, so errno tells them apart.
    let current = unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, tid)
    };
    if current == -1 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(0) {
            return Err(error);
        }
    }
    if current >= nice {
        return Ok(());
    }
    // SAFETY: `setpriority` takes no pointers; with `PRIO_PROCESS` and a thread id, Linux
    // changes that one thread's nice value.
    let ret = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
    if ret == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Lowers the calling thread's priority: on Linux only, where a nice value is per thread.
#[cfg(not(target_os = "linux"))]
pub(crate) fn lower_thread_priority(_nice: i32) -> std::io::Result<()> {
    Ok(())
}
