//! Writing ten times the memtable size from one thread while compactions run: no write
//! waits on compaction unless L0 reaches its stop trigger, and the test shows which.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata::{Db, Options, PolicyConfig};

#[test]
fn ten_memtables_of_writes_while_compaction_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let memtable = 256 << 10;
    let options = Options {
        max_memtable_size: memtable,
        compaction: PolicyConfig::Leveled {
            l0_trigger: 2,
            base_level_bytes: 512 << 10,
            level_multiplier: 4,
            target_table_size: 256 << 10,
            num_levels: 5,
            intra_l0_merge: false,
        },
        // The writer's priority: at the default nice 10, a writer at full speed on a loaded
        // machine can starve compaction for the whole run, and nothing would overlap.
        compaction_nice: 0,
        ..Options::default()
    };
    let db = Db::open(dir.path(), options.clone()).expect("open");
    let value = vec![b'v'; 100];
    let mut written = 0;
    let mut i = 0u64;
    // Ten memtables, then on until a compaction has finished during the writes (a writer
    // faster than the compaction thread is scheduled would otherwise end first).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while written < 10 * memtable || (db.stats().compactions == 0 && std::time::Instant::now() < deadline) {
        let key = format!("key{:016}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000);
        db.put(key.clone(), value.clone()).expect("put");
        written += key.len() + value.len();
        i += 1;
    }
    db.flush().expect("flush");
    let stats = db.stats();
    println!(
        "{i} writes: {} flushes, {} compactions, {} flush stalls, {} L0 stop stalls, {} slowdowns, L0 {} tables",
        stats.flushes,
        stats.compactions,
        stats.flush_stalls,
        stats.l0_stop_stalls,
        stats.slowdowns,
        stats.levels[0].tables
    );
    assert!(stats.memtables_sealed >= 8, "the run must seal memtables: {stats:?}");
    assert!(stats.compactions > 0, "compactions must run during the writes: {stats:?}");
    // L0 never got near the stop trigger, so no write may have waited on compaction.
    assert_eq!(stats.l0_stop_stalls, 0, "a write waited on compaction below the stop trigger");
    assert_eq!(stats.slowdowns, 0, "a write was slowed below the slowdown trigger");
    assert!(stats.levels[0].tables < options.l0_slowdown_trigger);
    // Waiting for a flush is a memtable stall, counted separately, and only happens when
    // max_immutable_memtables memtables are already sealed.
    assert_eq!(
        db.iter(..).count() as u64,
        (0..i)
            .map(|j| j.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000)
            .collect::<std::collections::HashSet<_>>()
            .len() as u64
    );
}

#[test]
fn the_stop_trigger_stalls_writes_until_compaction_catches_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = Options {
        max_memtable_size: 64 << 10,
        l0_slowdown_trigger: 2,
        l0_stop_trigger: 3,
        // The policy compacts L0 from 2 tables on, so at the slowdown trigger compaction
        // has work that can shrink L0, and slowing writes helps it catch up.
        compaction: PolicyConfig::Leveled {
            l0_trigger: 2,
            base_level_bytes: 64 << 20,
            level_multiplier: 10,
            target_table_size: 1 << 20,
            num_levels: 3,
            intra_l0_merge: false,
        },
        ..Options::default()
    };
    let db = Db::open(dir.path(), options).expect("open");
    for i in 0..20_000u32 {
        db.put(format!("key{i:06}"), vec![b'x'; 100]).expect("put");
    }
    db.flush().expect("flush");
    let stats = db.stats();
    assert!(stats.slowdowns > 0, "L0 at the slowdown trigger must slow writes: {stats:?}");
    assert!(stats.slowdown_micros > 0, "paced writes sleep off their debt: {stats:?}");
    assert!(stats.levels[0].tables <= 3, "L0 exceeded its stop trigger: {stats:?}");
    assert_eq!(db.iter(..).count(), 20_000);
}

/// Regression: FIFO keeps every table in L0 by design; once L0 passed the stop trigger,
/// writes waited for a compaction FIFO would never pick, and hung.
#[test]
fn fifo_past_the_l0_stop_trigger_does_not_hang_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = Options {
        max_memtable_size: 64 << 10,
        l0_slowdown_trigger: 2,
        l0_stop_trigger: 3,
        compaction: PolicyConfig::Fifo { max_total_bytes: 1 << 40, max_age_ms: None },
        ..Options::default()
    };
    let path = dir.path().to_owned();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let db = Db::open(&path, options).expect("open");
        for i in 0..20_000u32 {
            db.put(format!("key{i:06}"), vec![b'x'; 100]).expect("put");
        }
        db.flush().expect("flush");
        let stats = db.stats();
        done.send((stats.levels[0].tables, stats.l0_stop_stalls, db.iter(..).count())).expect("report");
    });
    let (l0, stop_stalls, count) =
        finished.recv_timeout(std::time::Duration::from_secs(120)).expect("writes hung behind the L0 stop trigger");
    assert!(l0 > 3, "FIFO keeps its tables in L0 ({l0} there)");
    assert_eq!(stop_stalls, 0, "nothing can shrink L0, so nothing may wait for it");
    assert_eq!(count, 20_000);
}
