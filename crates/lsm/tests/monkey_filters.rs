//! Filter sizing by level: tables are written with the bits per key planned for the level
//! they are written for (`bloom_bits_per_level`, or the Monkey plan of `monkey_filters`),
//! the measured false-positive rates follow, and the data reads back the same.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata::{Db, Options, PolicyConfig, TableOptions};

fn bits_and_fp(db: &Db, level: usize) -> (f64, f64) {
    let tables = &db.tables()[level];
    assert!(!tables.is_empty(), "level {level} holds tables");
    let (mut bytes, mut entries, mut fp) = (0u64, 0u64, 0.0);
    for t in tables {
        bytes += db.store().describe(t.id).expect("describe").filter_bytes as u64;
        entries += t.entries;
        fp += db.store().measure_filter_false_positives(t.id, 20_000).expect("measure") * t.entries as f64;
    }
    (bytes as f64 * 8.0 / entries as f64, fp / entries as f64)
}

#[test]
fn the_monkey_plan_gives_deeper_levels_fewer_bits_within_the_budget() {
    let options = Options {
        table: TableOptions { bloom_bits_per_key: 10.0, monkey_filters: true, ..TableOptions::default() },
        ..Options::default()
    };
    let planned = options.filter_bits_per_level();
    let PolicyConfig::Leveled { num_levels, level_multiplier, .. } = options.compaction else {
        panic!("leveled is the default policy")
    };
    assert_eq!(planned.len(), num_levels);
    assert!(planned.windows(2).all(|w| w[0] >= w[1]), "{planned:?}");
    // The same memory as 10 bits everywhere: levels sized 1, 1, T, T², ...
    let sizes: Vec<f64> = (0..num_levels).map(|l| (level_multiplier as f64).powi(l.saturating_sub(1) as i32)).collect();
    let used: f64 = planned.iter().zip(&sizes).map(|(b, n)| b * n).sum();
    let budget = 10.0 * sizes.iter().sum::<f64>();
    assert!((used - budget).abs() < 1e-6 * budget, "{used} vs {budget}");
    println!("Monkey plan for 10 bits/key over {num_levels} levels, ratio {level_multiplier}: {planned:.2?}");
}

#[test]
fn tables_get_the_bits_planned_for_their_level() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = Options {
        max_memtable_size: 256 << 10,
        enable_background_compaction: false,
        compaction: PolicyConfig::Leveled {
            l0_trigger: 4,
            base_level_bytes: 1 << 20,
            level_multiplier: 10,
            target_table_size: 256 << 10,
            num_levels: 4,
            intra_l0_merge: false,
        },
        table: TableOptions { bloom_bits_per_level: vec![16.0, 5.0], ..TableOptions::default() },
        ..Options::default()
    };
    let planned = options.filter_bits_per_level();
    let db = Db::open(dir.path(), options).expect("open");
    for i in 0..20_000u32 {
        db.put(format!("key{i:08}"), vec![b'v'; 40]).expect("put");
    }
    db.compact_range(..).expect("compact to the bottom");
    for i in 0..2_000u32 {
        db.put(format!("new{i:08}"), vec![b'w'; 40]).expect("put");
    }
    db.flush().expect("flush to L0");
    let (top_bits, top_fp) = bits_and_fp(&db, 0);
    let bottom = db.tables().len() - 1;
    assert!(bottom >= 1, "compact_range moved the data below L0");
    let (bottom_bits, bottom_fp) = bits_and_fp(&db, bottom);
    println!(
        "planned {planned:?}; L0 {top_bits:.1} bits/key, {:.3}% false positives; L{bottom} {bottom_bits:.1} bits/key, {:.3}%",
        100.0 * top_fp,
        100.0 * bottom_fp
    );
    assert!((top_bits - planned[0]).abs() < 1.0, "L0 filters follow the plan: {top_bits} vs {}", planned[0]);
    assert!(
        (bottom_bits - planned[planned.len().min(bottom + 1) - 1]).abs() < 1.0,
        "bottom filters follow the plan: {bottom_bits} vs {}",
        planned[planned.len().min(bottom + 1) - 1]
    );
    assert!(top_fp < bottom_fp, "more bits, fewer false positives");
    assert_eq!(db.get("key00012345").expect("get").as_deref(), Some(&[b'v'; 40][..]));
    assert_eq!(db.get("new00001999").expect("get").as_deref(), Some(&[b'w'; 40][..]));
    assert_eq!(db.get("key99999999").expect("get"), None);
}
