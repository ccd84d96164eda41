//! On Linux, background merges below L0 run at `Options::compaction_nice`, on threads of their
//! own named `strata-merge`; the compaction threads that pick them, and so merges out of L0
//! (which writers wait on), keep the process's priority, as do the threads that write (the
//! caller's, the flush thread).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata::{Db, Options};

/// The nice value of each of this process's threads named `name`, from `/proc`.
fn nice_of_threads(name: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else { continue };
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        // Fields after the command (which ends at the last ')'): state is field 3, nice 19.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        found.push(after.split(' ').nth(16).unwrap().parse().unwrap());
    }
    found
}

fn own_nice() -> i32 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(16).unwrap().parse().unwrap()
}

/// A tree that keeps its compaction threads busy below L0: small memtables, a leveled policy
/// whose L1 holds little, random keys.
fn busy_below_l0(dir: &std::path::Path, nice: i32) -> Db {
    let options = Options {
        compaction_nice: nice,
        max_memtable_size: 64 << 10,
        compaction: strata::PolicyConfig::Leveled {
            l0_trigger: 2,
            base_level_bytes: 64 << 10,
            level_multiplier: 2,
            target_table_size: 32 << 10,
            num_levels: 6,
            intra_l0_merge: false,
        },
        ..Options::default()
    };
    Db::open(dir, options).unwrap()
}

#[test]
fn merges_below_l0_take_the_configured_nice_value_and_the_rest_keep_theirs() {
    let base = own_nice();
    let dir = tempfile::tempdir().unwrap();
    let nice = base.max(7);
    let db = busy_below_l0(dir.path(), 7);
    let mut merge_nices = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut i = 0u64;
    // Write until a merge below L0 has been seen running (they come and go).
    while merge_nices.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no merge below L0 seen; {:?}", db.stats());
        for _ in 0..2_000 {
            i += 1;
            db.put(format!("{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)), vec![b'v'; 100]).unwrap();
        }
        merge_nices.extend(nice_of_threads("strata-merge"));
        // Linux keeps 15 bytes of a thread's name: both are "strata-compact-".
        let loops = nice_of_threads("strata-compact-");
        assert!(loops.iter().all(|&n| n == base), "compaction threads at {loops:?}, the process at {base}");
    }
    assert_eq!(merge_nices, [nice].into(), "merges below L0 at the configured nice value");
    assert_eq!(nice_of_threads("strata-flush"), vec![base], "the flush thread keeps the process's priority");
    assert_eq!(own_nice(), base, "the caller's thread is untouched");
    db.close().unwrap();

    // With 0, no merge gets a thread of its own.
    let dir = tempfile::tempdir().unwrap();
    let db = busy_below_l0(dir.path(), 0);
    for i in 0..20_000u64 {
        db.put(format!("{:016x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)), vec![b'v'; 100]).unwrap();
        if i % 2_000 == 0 {
            assert!(nice_of_threads("strata-merge").is_empty(), "a merge thread with compaction_nice 0");
        }
    }
    assert!(db.stats().compactions > 0);
    db.close().unwrap();
}
