//! `Db::wait_for_compactions` returns once the background has flushed every sealed memtable
//! and the policy has nothing left to do: L0 under its trigger, each level within its target.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata::{Db, Options, PolicyConfig};

#[test]
fn returns_with_the_tree_settled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (trigger, base) = (2, 128 << 10);
    let options = Options {
        max_memtable_size: 64 << 10,
        compaction: PolicyConfig::Leveled {
            l0_trigger: trigger,
            base_level_bytes: base,
            level_multiplier: 4,
            target_table_size: 32 << 10,
            num_levels: 5,
            intra_l0_merge: true,
        },
        ..Options::default()
    };
    let db = Db::open(dir.path(), options).expect("open");
    for i in 0..40_000u64 {
        let key = format!("key{:08}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000);
        db.put(key, vec![b'v'; 64]).expect("put");
    }
    db.wait_for_compactions().expect("wait");
    let stats = db.stats();
    assert_eq!(stats.immutable_memtables, 0);
    assert!(stats.compactions > 0, "compactions ran");
    let tables = db.tables();
    assert!(tables[0].len() < trigger, "L0 at its trigger: {}", tables[0].len());
    for (level, target) in [(1, base), (2, base * 4), (3, base * 16)] {
        let bytes: u64 = tables.get(level).into_iter().flatten().map(|t| t.file_size).sum();
        assert!(bytes <= target, "L{level} holds {bytes} bytes over its target {target}");
    }
    // Nothing is pending, so a second wait returns at once and changes nothing.
    db.wait_for_compactions().expect("wait again");
    assert_eq!(db.stats().compactions, stats.compactions);
    db.close().expect("close");
}

#[test]
fn without_background_compaction_it_waits_for_flushes_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = Options { max_memtable_size: 64 << 10, enable_background_compaction: false, ..Options::default() };
    let db = Db::open(dir.path(), options).expect("open");
    // Six memtables: under L0's slowdown and stop triggers, which nothing would bring down.
    for i in 0..5_000u32 {
        db.put(format!("key{i:08}"), vec![b'v'; 64]).expect("put");
    }
    db.wait_for_compactions().expect("wait");
    assert_eq!(db.stats().immutable_memtables, 0);
    assert_eq!(db.stats().compactions, 0);
}
