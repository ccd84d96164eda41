//! How long the orphans a writer finds at open have been obsolete.
//!
//! A table the writer deletes waits out [`ObjectOptions::gc_grace`](crate::ObjectOptions)
//! before its object goes, for readers still on an older manifest. Counted from the delete,
//! that wait outlives a writer that runs for less than the grace period (a command-line
//! write, a batch job): its obsolete tables were never deleted, and the next opener, finding
//! them as orphans, waited from its own start again. The bucket kept every table any such
//! writer made obsolete.
//!
//! An orphan is a table the manifest read at open does not name, so it has been obsolete
//! since that manifest's commit at the latest, and its grace period is counted from there.
//! Both times are the object store's (that manifest's and the writer's first commit's
//! `Last-Modified`), so no clock but the store's is trusted.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How much longer than it was, in milliseconds, a gap between two `Last-Modified` times
/// may look when both are truncated to whole seconds.
const TRUNCATION: i64 = 1_000;

/// Shared by a writer's manifest store, which learns the times, and its file system, which
/// counts orphans' grace period from them.
#[derive(Debug, Default)]
pub(crate) struct OrphanClock {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Whether the first read of the latest manifest happened (the one recovery builds on).
    read: bool,
    /// That manifest's `Last-Modified`, in milliseconds since the epoch (`None` when there
    /// was none).
    read_millis: Option<i64>,
    /// Once the writer's first commit is dated: how long orphans had been obsolete then, and
    /// when (on this process's clock) that was measured.
    obsolete: Option<(Duration, Instant)>,
}

impl OrphanClock {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes the latest manifest read, `Last-Modified` `millis`; only the first read counts.
    pub(crate) fn read(&self, millis: Option<i64>) {
        let mut s = self.state();
        if !s.read {
            s.read = true;
            s.read_millis = millis;
        }
    }

    /// Whether the first commit still needs dating: a manifest was read at open and no commit
    /// has been dated yet.
    pub(crate) fn wants_commit_time(&self) -> bool {
        let s = self.state();
        s.read_millis.is_some() && s.obsolete.is_none()
    }

    /// Dates the writer's first commit, `Last-Modified` `millis`. S3 gives `Last-Modified`
    /// in whole seconds (in its headers, and often in listings), so a second is taken off
    /// the gap: truncated times may make it look up to that much longer than it was.
    pub(crate) fn committed(&self, millis: i64) {
        let mut s = self.state();
        if let (Some(read), None) = (s.read_millis, s.obsolete) {
            let age = u64::try_from(millis.saturating_sub(read).saturating_sub(TRUNCATION)).unwrap_or(0);
            s.obsolete = Some((Duration::from_millis(age), Instant::now()));
        }
    }

    /// How long an orphan has been obsolete now, at least: zero until the first commit is
    /// dated.
    pub(crate) fn orphan_age(&self) -> Duration {
        self.state().obsolete.map_or(Duration::ZERO, |(age, at)| age + at.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_orphan_is_as_old_as_the_gap_between_the_manifest_read_and_the_first_commit() {
        let clock = OrphanClock::default();
        assert_eq!(clock.orphan_age(), Duration::ZERO);
        clock.read(Some(10_000));
        // Later reads (a writer checking the latest again) do not move it.
        clock.read(Some(50_000));
        assert!(clock.wants_commit_time());
        clock.committed(70_000);
        assert!(!clock.wants_commit_time());
        // Only the first commit dates it.
        clock.committed(90_000);
        let age = clock.orphan_age();
        // 60 s between the two, less the second that truncation may have added.
        assert!(age >= Duration::from_secs(59) && age < Duration::from_secs(69), "{age:?}");
    }

    #[test]
    fn without_a_manifest_read_or_a_commit_an_orphan_is_new() {
        let clock = OrphanClock::default();
        clock.read(None);
        assert!(!clock.wants_commit_time());
        clock.committed(70_000);
        assert_eq!(clock.orphan_age(), Duration::ZERO);
        // A store whose clock runs backwards, or a gap within truncation's second, gives no
        // age, never a negative one.
        for (read, committed) in [(70_000, 10_000), (10_000, 10_900)] {
            let clock = OrphanClock::default();
            clock.read(Some(read));
            clock.committed(committed);
            assert!(clock.orphan_age() < Duration::from_secs(1));
        }
    }
}
