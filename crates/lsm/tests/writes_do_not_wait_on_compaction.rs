//! Writing ten times the memtable size from one thread while compactions run: no write
//! waits on compaction unless L0 reaches its stop trigger, and the test shows which.

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
        },
        ..Options::default()
    };
    let db = Db::open(dir.path(), options.clone()).expect("open");
    let value = vec![b'v'; 100];
    let mut written = 0;
    let mut i = 0u64;
    while written < 10 * memtable {
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
        // A lazy policy: L0 piles up to the stop trigger before it compacts.
        compaction: PolicyConfig::Leveled {
            l0_trigger: 3,
            base_level_bytes: 64 << 20,
            level_multiplier: 10,
            target_table_size: 1 << 20,
            num_levels: 3,
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
    assert!(stats.levels[0].tables <= 3, "L0 exceeded its stop trigger: {stats:?}");
    assert_eq!(db.iter(..).count(), 20_000);
}
