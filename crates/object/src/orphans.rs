//! How long the orphans a writer finds at open have been obsolete.
//!
//! A table the writer deletes waits out [`ObjectOptions::gc_grace`](crate::ObjectOptions)
//! before its object goes, for readers still on an older manifest. Counted from the delete,
//! that wait outlives a writer that runs for less than the grace period (a command-line
//! write, a batch job): its obsolete tables were never deleted, and the next opener, finding
//! them as orphans, waited from its own start again. The bucket kept every table any such
//! writer made obsolete.
//!
//! So a writer that dooms a table also puts a doom marker, an empty object
//! `<prefix>/doomed/<table>`, and deletes it with the table. A writer that finds an orphan
//! (a table the manifest read at open does not name) counts its grace period from the
//! orphan's marker, or, without one, from the commit of that manifest (it has been
//! obsolete since then at the latest), and puts a marker for it if there was none, so the
//! writers after it count from there even if every one of them commits. Every time is the
//! object store's (a marker's, a manifest's and the writer's first commit's
//! `Last-Modified`), so no clock but the store's is trusted.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How much longer than it was, in milliseconds, a gap between two `Last-Modified` times
/// may look when both are truncated to whole seconds.
const TRUNCATION: i64 = 1_000;

/// Shared by a writer's manifest store, which learns the times, and its file system, which
/// counts orphans' grace period from them. Each time is set once.
#[derive(Debug, Default)]
pub(crate) struct OrphanClock {
    /// The `Last-Modified` of the manifest first read (the one recovery builds on), in
    /// milliseconds since the epoch; `None` inside when there was none.
    read: OnceLock<Option<i64>>,
    /// The writer's first commit: its `Last-Modified`, and when (on this process's clock)
    /// it was learned.
    committed: OnceLock<(i64, Instant)>,
}

impl OrphanClock {
    /// Notes the latest manifest read, `Last-Modified` `millis`; only the first read counts.
    pub(crate) fn read(&self, millis: Option<i64>) {
        let _ = self.read.set(millis);
    }

    /// Whether the first commit still needs dating.
    pub(crate) fn wants_commit_time(&self) -> bool {
        self.committed.get().is_none()
    }

    /// Dates the writer's first commit, `Last-Modified` `millis`; only the first counts.
    pub(crate) fn committed(&self, millis: i64) {
        let _ = self.committed.set((millis, Instant::now()));
    }

    /// How long ago, at least, the object store's clock read `millis`: its time now (the
    /// first commit's time plus what has passed since) less `millis`, less the second that
    /// truncation to whole seconds may add to a gap. Zero until the first commit is dated,
    /// and never negative.
    pub(crate) fn age_since(&self, millis: i64) -> Duration {
        let Some(&(committed, at)) = self.committed.get() else { return Duration::ZERO };
        let now = committed.saturating_add(i64::try_from(at.elapsed().as_millis()).unwrap_or(i64::MAX));
        Duration::from_millis(u64::try_from(now.saturating_sub(millis).saturating_sub(TRUNCATION)).unwrap_or(0))
    }

    /// How long an orphan with no doom marker has been obsolete, at least: since the commit
    /// of the manifest read at open (zero when there was none).
    pub(crate) fn orphan_age(&self) -> Duration {
        self.read.get().copied().flatten().map_or(Duration::ZERO, |millis| self.age_since(millis))
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
        assert_eq!(clock.orphan_age(), Duration::ZERO, "no age before the first commit is dated");
        assert!(clock.wants_commit_time());
        clock.committed(70_000);
        assert!(!clock.wants_commit_time());
        // Only the first commit dates it.
        clock.committed(90_000);
        // 60 s between the two, less the second that truncation may have added.
        let age = clock.orphan_age();
        assert!(age >= Duration::from_secs(59) && age < Duration::from_secs(69), "{age:?}");
        // A doom marker's time is measured on the same clock.
        let age = clock.age_since(40_000);
        assert!(age >= Duration::from_secs(29) && age < Duration::from_secs(39), "{age:?}");
    }

    #[test]
    fn without_a_manifest_read_or_with_a_clock_running_backwards_an_orphan_is_new() {
        let clock = OrphanClock::default();
        clock.read(None);
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
