//! The fault walk: every create, write, fsync, directory sync, rename and delete the engine
//! does in a workload that flushes, rotates the log, compacts and writes the manifest is
//! failed in turn (with `EIO` or `ENOSPC`, once or from then on), on an in-memory
//! [`FaultFs`].
//!
//! Each run checks that the failure surfaces as a clean error (never a panic or a hang), that
//! reads still answer correctly and writes are refused with [`Error::ReadOnly`] (or keep
//! working), and that after a simulated power cut and a reopen without faults the store holds
//! every write acknowledged before the last sync or flush, then a prefix of the later ones
//! (never half a batch). A second power cut right after recovery must change nothing. Runs
//! with a lasting `ENOSPC` (a full disk) first reopen without a crash, as a process that saw
//! the error and restarted once space was freed: then nothing acknowledged may be missing.
//!
//! `STRATA_FAULT_WALK_ALL=1` walks every operation instead of a sample.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;

use strata::testing::{Change, FaultError, FaultFs, OpKind, Oracle, State, Workload};
use strata::{Db, Error, Options, PolicyConfig, WriteBatch, WriteOptions};
use strata_sstable::testing::MemFs;

const DIR: &str = "/db";
const OPS: u64 = 1_200;

fn options() -> Options {
    Options {
        max_memtable_size: 64 << 10,
        max_background_jobs: 1,
        compaction: PolicyConfig::Leveled {
            l0_trigger: 2,
            base_level_bytes: 64 << 10,
            level_multiplier: 4,
            target_table_size: 32 << 10,
            num_levels: 4,
            intra_l0_merge: false,
        },
        ..Options::default()
    }
}

/// The write stream: a batch every tenth operation, a delete, or a put, over 300 keys.
const WORKLOAD: Workload = Workload { keys: 300, period: 10, value_len: 150, value_step: 50, value_steps: 5 };

fn op(i: u64) -> (WriteBatch, Change) {
    WORKLOAD.op(i)
}

fn scan(db: &Db) -> State {
    let mut state: State =
        db.iter(..).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect::<Result<_, _>>().expect("scan");
    // The probe write after a failure may or may not have landed; it is not the oracle's.
    state.remove(&b"probe"[..]);
    state
}

/// A failure must be an I/O-level error or a refusal, never a claim of corruption.
fn assert_clean(e: &Error, what: &str) {
    assert!(
        matches!(e, Error::Io { .. } | Error::ReadOnly(_) | Error::Table(_) | Error::Compaction(_)),
        "{what}: unexpected kind of error: {e:?}"
    );
}

/// Runs the workload until it ends or an error surfaces; returns the oracle of what was
/// written and the error, if any.
fn workload(fs: &FaultFs) -> (Oracle, Option<String>) {
    let mut oracle = Oracle::new();
    let db = match Db::open_on(fs.shared(), DIR, options()) {
        Ok(db) => db,
        Err(e) => {
            assert_clean(&e, "open");
            return (oracle, Some(format!("open: {e}")));
        }
    };
    let mut failure = None;
    for i in 0..OPS {
        let (batch, change) = op(i);
        let sync = i % 50 == 0;
        match db.write(batch, WriteOptions { sync }) {
            Ok(()) => {
                oracle.acked(change);
                if sync {
                    oracle.durable();
                }
            }
            Err(e) => {
                assert_clean(&e, &format!("write {i}"));
                oracle.in_flight(change);
                failure = Some(format!("write {i}: {e}"));
                break;
            }
        }
        let step = match i {
            400 => db.flush().map(|()| oracle.durable()),
            800 => db.compact_range(..),
            _ => Ok(()),
        };
        if let Err(e) = step {
            assert_clean(&e, &format!("flush or compaction after write {i}"));
            failure = Some(format!("after write {i}: {e}"));
            break;
        }
    }
    if failure.is_some() {
        // Reads still answer from what was acknowledged.
        for (k, v) in oracle.latest() {
            let got = db.get(k).unwrap_or_else(|e| panic!("a read after the failure failed: {e}"));
            assert_eq!(got.as_deref(), Some(&v[..]), "a read after the failure gave a wrong value");
        }
        // Writes are refused with a clear error, or still work.
        if let Err(e) = db.put("probe", "x") {
            assert!(matches!(e, Error::ReadOnly(_)), "a write after a failure must be refused as ReadOnly: {e:?}");
        }
    } else {
        assert_eq!(&scan(&db), oracle.latest(), "the workload's reads disagree with the model");
    }
    drop(db);
    (oracle, failure)
}

/// Reopens without faults and without a crash, as after a process that saw the error closes
/// and restarts once the disk has space again: every acknowledged write must be there.
fn reopen_and_check(fs: &FaultFs, oracle: &mut Oracle, what: &str) {
    fs.clear_faults();
    let db = Db::open_on(fs.shared(), DIR, options())
        .unwrap_or_else(|e| panic!("{what}: reopen without a crash failed: {e}"));
    oracle.durable();
    oracle.recover(&scan(&db)).unwrap_or_else(|e| panic!("{what}: after a reopen without a crash: {e}"));
}

/// Crashes, reopens without faults and checks the oracle; then crashes again right after
/// recovery and checks nothing changed.
fn crash_and_check(fs: &FaultFs, mut oracle: Oracle, what: &str) {
    fs.clear_faults();
    fs.crash().expect("simulated crash");
    let db = Db::open_on(fs.shared(), DIR, options()).unwrap_or_else(|e| panic!("{what}: reopen failed: {e}"));
    let observed = scan(&db);
    oracle.recover(&observed).unwrap_or_else(|e| panic!("{what}: after the crash: {e}"));
    for (k, v) in oracle.latest().iter().step_by(7) {
        assert_eq!(db.get(k).expect("get after reopen").as_deref(), Some(&v[..]), "{what}: get after reopen");
    }
    drop(db);
    fs.crash().expect("second crash");
    let db = Db::open_on(fs.shared(), DIR, options()).unwrap_or_else(|e| panic!("{what}: second reopen failed: {e}"));
    assert_eq!(&scan(&db), oracle.latest(), "{what}: a crash right after recovery changed the data");
}

fn fresh() -> FaultFs {
    let fs = FaultFs::new(MemFs::shared());
    strata::FileSystem::create_dir_all(&fs, Path::new(DIR)).expect("mkdir");
    fs
}

/// Which occurrences of an operation to fail: the first dozen, then an even sample.
fn sample(total: u64) -> Vec<u64> {
    if std::env::var("STRATA_FAULT_WALK_ALL").is_ok_and(|v| v == "1") {
        return (1..=total + 1).collect();
    }
    let mut ns: Vec<u64> = (1..=total.min(12)).collect();
    let step = (total / 16).max(1);
    ns.extend((13..=total + 1).step_by(step as usize));
    ns.push(total + 1);
    ns.dedup();
    ns
}

fn walk(kind: OpKind) {
    // A run without faults says how many operations of this kind the workload does.
    let fs = fresh();
    let (oracle, failure) = workload(&fs);
    assert!(failure.is_none(), "the workload fails without faults: {failure:?}");
    let counts = fs.counts();
    crash_and_check(&fs, oracle, "no faults");
    let total = counts.get(kind);
    assert!(total > 0, "the workload does no {kind:?} at all");
    let (mut runs, mut surfaced) = (0, 0);
    for n in sample(total) {
        for (error, sticky) in [(FaultError::Eio, false), (FaultError::Enospc, true)] {
            let fs = fresh();
            if sticky {
                fs.fail_from(kind, n, error);
            } else {
                fs.fail_nth(kind, n, error);
            }
            let (oracle, failure) = workload(&fs);
            let fired = fs.counts().faults_fired;
            runs += 1;
            surfaced += usize::from(failure.is_some());
            let what = format!("{kind:?} #{n} failing with {error:?}{}", if sticky { " from then on" } else { "" });
            if fired > 0 || failure.is_some() {
                let what = format!("{what} ({})", failure.as_deref().unwrap_or("no error surfaced"));
                let mut oracle = oracle;
                if sticky {
                    reopen_and_check(&fs, &mut oracle, &what);
                }
                crash_and_check(&fs, oracle, &what);
            }
        }
    }
    eprintln!("{kind:?}: {total} operations per workload, {runs} runs with faults, {surfaced} surfaced as errors");
}

#[test]
fn failed_creates_are_survived() {
    walk(OpKind::Create);
}

#[test]
fn failed_writes_are_survived() {
    walk(OpKind::Write);
}

#[test]
fn failed_fsyncs_are_survived() {
    walk(OpKind::Sync);
}

#[test]
fn failed_directory_syncs_are_survived() {
    walk(OpKind::SyncDir);
}

#[test]
fn failed_renames_are_survived() {
    walk(OpKind::Rename);
}

#[test]
fn failed_deletes_are_survived() {
    walk(OpKind::Remove);
}
