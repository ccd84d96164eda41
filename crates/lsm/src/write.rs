//! The write path: group commit, then the memtable.
//!
//! A writer that finds no group committing leads a group of its own batch at once. Otherwise
//! it queues up (spinning, then yielding, then asleep: see [`PendingWrite::wait`]); when the
//! group ends, the writer at the front of the queue becomes the leader, takes every queued
//! batch, gives them consecutive sequence numbers, writes them to the log with one system
//! call and (if any writer asked, or `wal_sync = "every_write"`) one fsync, inserts them into
//! the memtable, publishes the new sequence number, and hands leadership to the next waiting
//! writer.
//! Readers never see part of a batch: the visible sequence number moves past a batch only
//! after all of it is in the memtable.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::{Duration, Instant};

use strata_memtable::Memtable;
use strata_sstable::SsTableStore;

use crate::batch::WriteBatch;
use crate::state::{Inner, MemHandle, SuperVersion, WalState, lock};
use crate::wal::WalWriter;
use crate::{Result, WalSync, WriteOptions};

/// The most payload bytes one group commits, so a leader's own write is not delayed
/// without bound by a flood of followers.
const MAX_GROUP_BYTES: usize = 4 << 20;

/// A queued writer's turn, as its leader sets it.
const WAITING: u8 = 0;
/// The queued writer leads the next group.
const LEAD: u8 = 1;
/// A leader committed the writer's batch; its result is in `PendingWrite::result`.
const DONE: u8 = 2;

/// How many rounds a queued writer spins before it yields. A group commits in microseconds;
/// sleeping costs a futex wait, a wake-up system call from the leader and two context
/// switches, which measured as a third of all time with two writing threads on two cores.
const SPIN_ROUNDS: u32 = 256;

/// How long a queued writer yields its core, after spinning, before it sleeps. With more
/// writers than cores the yielding lets the leader run; 200 µs measured ahead of 50 µs at
/// two, four and eight writing threads (RocksDB yields for up to 100 µs).
const YIELD_FOR: Duration = Duration::from_micros(200);

pub(crate) struct PendingWrite {
    batch: WriteBatch,
    sync: bool,
    /// `WAITING`, `LEAD` or `DONE`.
    turn: AtomicU8,
    /// The group's result, set before `turn` becomes `DONE`.
    result: Mutex<Option<Result<()>>>,
    /// The queued writer's thread, unparked when its turn changes.
    thread: Thread,
}

impl PendingWrite {
    fn new(batch: WriteBatch, sync: bool) -> Self {
        Self { batch, sync, turn: AtomicU8::new(WAITING), result: Mutex::new(None), thread: std::thread::current() }
    }

    /// Tells the queued writer that it leads the next group.
    fn lead(&self) {
        self.turn.store(LEAD, Ordering::Release);
        // Wakes the writer if it sleeps; otherwise its next `park` returns at once, which
        // every `park` caller must allow for anyway.
        self.thread.unpark();
    }

    /// Tells the queued writer that its batch is committed, with `result`.
    fn done(&self, result: Result<()>) {
        *lock(&self.result) = Some(result);
        self.turn.store(DONE, Ordering::Release);
        self.thread.unpark();
    }

    /// The result a leader set with [`done`](Self::done).
    #[expect(clippy::expect_used, reason = "`done` stores the result before the turn it publishes")]
    fn take_result(&self) -> Result<()> {
        lock(&self.result).take().expect("invariant: a writer told DONE has its result")
    }

    /// Waits, on the writer's own thread, until its turn is `LEAD` or `DONE`: spinning a
    /// little, then yielding the core for up to [`YIELD_FOR`], then sleeping.
    ///
    /// A writer waiting for an fsync sleeps at once: one whose own write is synced, or any
    /// while `syncing` (a leader waits for one). An fsync takes longer than a wake-up, and
    /// yielding threads took the cores that the next leader's wake-up and the disk's
    /// completion work needed: synced writes from four threads ran 20 % slower.
    fn wait(&self, syncing: &AtomicBool) -> u8 {
        let turn = || self.turn.load(Ordering::Acquire);
        let syncing = || self.sync || syncing.load(Ordering::Relaxed);
        for _ in 0..SPIN_ROUNDS {
            if turn() != WAITING {
                return turn();
            }
            if syncing() {
                break;
            }
            std::hint::spin_loop();
        }
        let started = Instant::now();
        while started.elapsed() < YIELD_FOR && !syncing() {
            if turn() != WAITING {
                return turn();
            }
            std::thread::yield_now();
        }
        loop {
            match turn() {
                WAITING => std::thread::park(),
                turn => return turn,
            }
        }
    }
}

#[derive(Default)]
pub(crate) struct WriteQueue {
    pending: VecDeque<Arc<PendingWrite>>,
    /// Whether some writer is leading; when not, `pending` is empty.
    leader: bool,
}

impl<M: Memtable + 'static, S: SsTableStore + 'static, C: strata_compaction::CompactionPolicy + 'static>
    Inner<M, S, C>
{
    pub(crate) fn write(&self, batch: WriteBatch, options: WriteOptions) -> Result<()> {
        batch.validate()?;
        if batch.is_empty() {
            return Ok(());
        }
        self.check_bg_error()?;
        let sync = options.sync || self.options.wal_sync == WalSync::EveryWrite;
        let mut queue = lock(&self.writers);
        if !queue.leader {
            // No group is committing and none waits (`pending` is empty without a leader):
            // lead a group of this batch alone, without queueing it. Writers arriving
            // meanwhile queue up for the next group, as behind any leader.
            queue.leader = true;
            drop(queue);
            let result = self.commit_group(std::iter::once(&batch), sync);
            self.pass_leadership();
            return result;
        }
        // NOTE: queued under the same lock that saw the leader: a leader ending in between
        // would find no one to hand over to, and this writer would wait for ever.
        let me = Arc::new(PendingWrite::new(batch, sync));
        queue.pending.push_back(Arc::clone(&me));
        drop(queue);
        if me.wait(&self.wal_syncing) == DONE {
            return me.take_result();
        }

        // We lead: take a group from the front of the queue (we are at its front).
        let group: Vec<Arc<PendingWrite>> = {
            let mut queue = lock(&self.writers);
            let mut bytes = 0;
            let mut group = Vec::new();
            while let Some(w) = queue.pending.front() {
                if !group.is_empty() && bytes + w.batch.payload_bytes() > MAX_GROUP_BYTES {
                    break;
                }
                bytes += w.batch.payload_bytes();
                group.extend(queue.pending.pop_front());
            }
            group
        };
        debug_assert!(Arc::ptr_eq(&group[0], &me), "the leader heads its group");
        let result = self.commit_group(group.iter().map(|w| &w.batch), group.iter().any(|w| w.sync));
        for w in &group[1..] {
            w.done(result.clone());
        }
        self.pass_leadership();
        result
    }

    /// Ends a leader's turn: the writer at the front of the queue leads the next group, or,
    /// when none waits, the next writer to arrive does.
    fn pass_leadership(&self) {
        let mut queue = lock(&self.writers);
        match queue.pending.front() {
            Some(next) => next.lead(),
            None => queue.leader = false,
        }
    }

    /// Logs `group`'s batches (synced when `sync`), inserts them into the memtable and makes
    /// them visible.
    fn commit_group<'a>(&self, group: impl Iterator<Item = &'a WriteBatch> + Clone, sync: bool) -> Result<()> {
        self.make_room(group.clone().map(|w| w.payload_bytes() as u64).sum())?;
        let mut wal = lock(&self.wal);
        let base = wal.last_seq;
        // Each batch takes the sequence numbers after the batches before it in the group.
        let mut seq = base;
        let writer = wal.writer()?;
        let encoded = writer.append_with(group.clone(), |w, out| {
            w.encode(seq + 1, out);
            seq += w.len() as u64;
        });
        let logged = encoded.and_then(|()| {
            if sync {
                self.stats.wal_syncs.fetch_add(1, Ordering::Relaxed);
                self.while_syncing(|| writer.sync())
            } else {
                Ok(())
            }
        });
        if let Err(e) = logged {
            // The log may hold part of this group; a later write must not follow it.
            self.set_bg_error(e.clone());
            return Err(e);
        }
        wal.last_seq = seq;
        wal.logged_seq = seq;
        let sv = self.current();
        let (mut bytes, mut writes) = (0, 0);
        let mut next_seq = base + 1;
        sv.active.note_first_seq(next_seq);
        for w in group {
            writes += 1;
            for (kind, key, value) in &w.ops {
                sv.active.insert(key, next_seq, *kind, value);
                next_seq += 1;
            }
            bytes += w.payload_bytes() as u64;
        }
        debug_assert_eq!(next_seq, seq + 1, "the memtable got the sequence numbers the log did");
        self.visible_seq.store(seq, Ordering::Release);
        drop(wal);
        self.stats.write_groups.fetch_add(1, Ordering::Relaxed);
        self.stats.writes.fetch_add(writes, Ordering::Relaxed);
        self.stats.user_bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Runs an fsync of the log, with [`Inner::wal_syncing`] set meanwhile.
    fn while_syncing<T>(&self, sync: impl FnOnce() -> T) -> T {
        self.wal_syncing.store(true, Ordering::Relaxed);
        let result = sync();
        self.wal_syncing.store(false, Ordering::Relaxed);
        result
    }

    /// Before a group of `bytes` commits: seals a full memtable (starting a new log segment),
    /// waits while too many memtables await flush or L0 has reached its stop trigger, and
    /// keeps to the slowdown's pace while L0 is at or over its slowdown trigger.
    fn make_room(&self, bytes: u64) -> Result<()> {
        let mut slowed = false;
        loop {
            self.check_bg_error()?;
            let sv = self.current();
            let l0 = sv.version.table_count(0);
            let compaction_on = self.options.enable_background_compaction;
            // Backpressure only helps while compaction can shrink L0: a FIFO policy under its
            // size bound keeps every table in L0 on purpose, and waiting on it would hang.
            if compaction_on && l0 >= self.options.l0_stop_trigger && self.compaction_can_shrink_l0() {
                self.stall(&self.stats.l0_stop_stalls, "L0 reached l0_stop_trigger", |inner| {
                    inner.current().version.table_count(0) < inner.options.l0_stop_trigger
                        || !inner.compaction_can_shrink_l0()
                })?;
                continue;
            }
            if !slowed {
                slowed = true;
                self.pace(bytes, l0, compaction_on && l0 >= self.options.l0_slowdown_trigger);
            }
            if sv.active.filled_bytes() < self.options.max_memtable_size {
                return Ok(());
            }
            if sv.immutables.len() >= self.options.max_immutable_memtables {
                let limit = self.options.max_immutable_memtables;
                self.stall(&self.stats.flush_stalls, "too many memtables await flush", |inner| {
                    inner.current().immutables.len() < limit
                })?;
                continue;
            }
            self.rotate_memtable()?;
            return Ok(());
        }
    }

    /// Keeps a group of `bytes` to the slowdown's pace ([`crate::pacing`]) when `slow` (L0 at
    /// or over its slowdown trigger) and compaction can shrink L0; otherwise forgets the pace.
    fn pace(&self, bytes: u64, l0: usize, slow: bool) {
        if !(slow && self.compaction_can_shrink_l0()) {
            // Most groups pass here: they take the pacer's lock only to end a slowdown.
            if self.pacing.load(Ordering::Relaxed) {
                self.pacing.store(false, Ordering::Relaxed);
                lock(&self.pacer).reset();
            }
            return;
        }
        self.pacing.store(true, Ordering::Relaxed);
        let mut pacer = lock(&self.pacer);
        self.stats.slowdowns.fetch_add(1, Ordering::Relaxed);
        let wait = pacer.admit(bytes, l0, Instant::now());
        drop(pacer);
        if !wait.is_zero() {
            let started = Instant::now();
            std::thread::sleep(wait);
            self.stats.slowdown_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// Whether a compaction is running or the policy has one to start: only then can a
    /// writer waiting for L0 to shrink expect it to.
    fn compaction_can_shrink_l0(&self) -> bool {
        let bg = lock(&self.bg);
        if bg.running_compactions > 0 {
            return true;
        }
        let state = self.current().version.level_state(&bg.compacting, crate::compact::now_ms());
        drop(bg);
        self.policy.pick(&state).is_some()
    }

    /// Blocks until `ready` holds, counting the stall. The writer wakes the moment a flush
    /// or compaction changes the state (see [`Inner::wait_until`]).
    fn stall(&self, counter: &AtomicU64, why: &'static str, ready: impl Fn(&Self) -> bool) -> Result<()> {
        let started = Instant::now();
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(why, "write stall");
        let waited = self.wait_until(|inner| Ok(ready(inner)));
        self.stats.stall_micros.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        waited
    }

    /// Appends the close seal to the log, unless a failure left the log's end unknown (a
    /// failed append may have written part of a record, which must stay a torn tail).
    pub(crate) fn seal_log(&self) -> Result<()> {
        if lock(&self.bg_error).is_some() {
            return Ok(());
        }
        let mut wal = lock(&self.wal);
        let logged_seq = wal.logged_seq;
        match &mut wal.writer {
            Some(writer) => writer.seal(logged_seq),
            None => Ok(()),
        }
    }

    /// Seals the active memtable and starts a new one with a new log segment. The sealed
    /// segment is synced first: only the newest segment may end torn.
    pub(crate) fn rotate_memtable(&self) -> Result<()> {
        let mut wal = lock(&self.wal);
        self.rotate_memtable_locked(&mut wal)
    }

    /// [`Inner::rotate_memtable`] for a caller that already holds the log lock (so no write
    /// group can commit between its decision to seal and the seal).
    pub(crate) fn rotate_memtable_locked(&self, wal: &mut WalState) -> Result<()> {
        let writer = wal.writer()?;
        if let Err(e) = self.while_syncing(|| writer.sync()) {
            self.set_bg_error(e.clone());
            return Err(e);
        }
        let number = self.allocate_file_number();
        let writer = match WalWriter::create(&self.fs, &self.dir, number, self.options.wal_mmap) {
            Ok(w) => w,
            Err(e) => {
                self.set_bg_error(e.clone());
                return Err(e);
            }
        };
        wal.writer = Some(writer);
        let fresh = Arc::new(MemHandle::new((self.new_memtable)(), number, self.options.memtable_filter_bits()));
        let replaced = self.install(|sv| {
            sv.active.mem.seal();
            let mut immutables = Vec::with_capacity(sv.immutables.len() + 1);
            immutables.push(Arc::clone(&sv.active));
            immutables.extend(sv.immutables.iter().cloned());
            SuperVersion { active: fresh, immutables, version: Arc::clone(&sv.version) }
        });
        // NOTE: dropped here, under the log's lock; it shares its version with the new super
        // version, so no table is deleted by this drop.
        drop(replaced);
        self.stats.memtables_sealed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test: a failed step is a failed test")]

    use std::sync::mpsc;

    use super::*;
    use crate::Error;

    /// Queues a `PendingWrite` (synced when `sync`) made on a thread of its own, whose `wait`
    /// returns the turn it saw and, when `DONE`, the result; `pause` lets the waiter go to
    /// sleep first.
    fn told(sync: bool, pause: Duration, tell: impl FnOnce(&PendingWrite)) -> (u8, Option<Result<()>>) {
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let me = Arc::new(PendingWrite::new(WriteBatch::new(), sync));
            tx.send(Arc::clone(&me)).unwrap();
            let turn = me.wait(&AtomicBool::new(false));
            (turn, (turn == DONE).then(|| me.take_result()))
        });
        let pending = rx.recv().unwrap();
        std::thread::sleep(pause);
        tell(&pending);
        waiter.join().unwrap()
    }

    #[test]
    fn a_queued_writer_learns_its_turn_whether_spinning_or_asleep() {
        // At once (the waiter spins or yields, or sleeps at once when synced), and after it
        // has long gone to sleep.
        for (sync, pause) in [false, true].into_iter().flat_map(|s| [(s, Duration::ZERO), (s, YIELD_FOR * 100)]) {
            let (turn, result) = told(sync, pause, PendingWrite::lead);
            assert!(turn == LEAD && result.is_none(), "lead after {pause:?}: {turn} {result:?}");
            let (turn, result) = told(sync, pause, |w| w.done(Ok(())));
            assert_eq!(turn, DONE);
            assert!(matches!(result, Some(Ok(()))), "done after {pause:?}: {result:?}");
            let (turn, result) = told(sync, pause, |w| w.done(Err(Error::Locked { dir: "db".into() })));
            assert_eq!(turn, DONE);
            assert!(
                matches!(result, Some(Err(Error::Locked { .. }))),
                "the group's error reaches the writer: {result:?}"
            );
        }
    }
}
