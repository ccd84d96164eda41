//! The background threads: one flushes sealed memtables, `max_background_jobs` compact
//! (each background merge that does not take tables out of L0 on a thread of its own at
//! `Options::compaction_nice`).

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
            let result = at_priority(inner.compaction_nice(&task), || inner.run_compaction(&task, false));
            if let Err(e) = result {
                inner.set_bg_error(e);
            }
            continue;
        }
        if wait_for_work(inner) {
            return;
        }
    }
}

/// Runs `work` at the process's priority on this thread when `nice` is `None`, else on a
/// thread of its own (named `strata-merge`) whose nice value is raised to `nice` first, so
/// that the threads it spawns (a merge's subcompactions) inherit it. A nice value cannot be
/// lowered again without privileges, which is why the raised one is not this thread's.
pub(crate) fn at_priority<T: Send>(
    nice: Option<i32>,
    work: impl FnOnce() -> crate::Result<T> + Send,
) -> crate::Result<T> {
    let Some(nice) = nice else { return work() };
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("strata-merge".to_owned())
            .spawn_scoped(scope, || {
                if let Err(e) = lower_thread_priority(nice) {
                    tracing::warn!(error = %e, nice, "could not lower a compaction's priority");
                }
                work()
            })
            .map_err(|e| crate::Error::io("a compaction thread", e))?;
        thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::expect_used, reason = "a test: a failed step is a failed test")]
    use super::at_priority;

    /// The calling thread's nice value, from `/proc`.
    fn own_nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        stat[stat.rfind(')').expect("comm") + 2..].split(' ').nth(16).expect("nice").parse().expect("a number")
    }

    #[test]
    fn work_at_a_nice_value_runs_on_a_thread_of_its_own_and_leaves_the_caller_alone() {
        let base = own_nice();
        let caller = std::thread::current().id();
        let (nice, name, thread) = at_priority(Some(base.max(5) + 1), || {
            let me = std::thread::current();
            Ok((own_nice(), me.name().map(str::to_owned), me.id()))
        })
        .expect("the work's result");
        assert_eq!(nice, base.max(5) + 1);
        assert_eq!(name.as_deref(), Some("strata-merge"));
        assert_ne!(thread, caller);
        assert_eq!(own_nice(), base, "the caller keeps its priority");
        // Without a nice value the work runs here, and errors come back either way.
        let here = at_priority(None, || Ok((own_nice(), std::thread::current().id()))).expect("result");
        assert_eq!(here, (base, caller));
        let failed: crate::Result<()> = at_priority(Some(19), || Err(crate::Error::Closed));
        assert!(matches!(failed, Err(crate::Error::Closed)), "{failed:?}");
    }
}
