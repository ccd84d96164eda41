//! A merge that can copy row groups, timed copying and rewriting: a narrow update (an L0
//! table of 2,000 keys inside 1 % of the key range) merged into an L1 table of 400,000 keys
//! in row groups of 16,384 rows. Only the row group the update reaches must be rewritten;
//! the rest can be copied byte for byte (`ExecContext::copy_row_groups`).
//!
//! Entries: 16-byte keys, 100-byte values. `cargo bench -p strata-compaction --bench merge`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark: a failed step is a failed run")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_compaction::{CompactionTask, ExecContext, LevelState, TaskKind, execute};
use strata_core::Entry;
use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore};

const L1_KEYS: u64 = 400_000;

fn key(i: u64) -> String {
    format!("key{i:013}")
}

fn value(i: u64) -> Vec<u8> {
    // Random-looking bytes that no fast codec shrinks, as user values often are.
    (0..100u64).map(|j| ((i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (j % 56)) ^ j) as u8).collect()
}

fn narrow_update(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ParquetOptions { row_group_rows: 16_384, ..ParquetOptions::default() };
    let store = ParquetStore::open(dir.path(), opts).expect("open store");
    let l1 = (0..L1_KEYS).map(|i| Ok(Entry::put(key(i), i + 1, value(i))));
    let l1 = store.write_table(1, &mut l1.into_iter()).expect("write L1");
    // 2,000 keys between two existing keys each, inside 1 % of the range.
    let start = L1_KEYS / 2;
    let l0 = (0..2000u64).map(|i| Ok(Entry::put(format!("{}x", key(start + i * 2)), L1_KEYS + i + 1, value(i))));
    let l0 = store.write_table(2, &mut l0.into_iter()).expect("write L0");
    let state = LevelState { levels: vec![vec![l0], vec![l1]], ..Default::default() };
    let task = CompactionTask {
        kind: TaskKind::Merge,
        inputs: vec![(0, vec![2]), (1, vec![1])],
        output_level: 1,
        target_table_size: u64::MAX,
        reason: "bench".into(),
    };
    let next = AtomicU64::new(100);
    let mut g = c.benchmark_group("merge_narrow_update");
    g.throughput(Throughput::Elements(L1_KEYS + 2000));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for (name, copy) in [("copy_row_groups", true), ("rewrite_all", false)] {
        let ctx = ExecContext {
            snapshots: &[],
            bottommost: true,
            next_table_id: &|| next.fetch_add(1, Ordering::SeqCst),
            rate_limiter: None,
            max_subcompactions: 1,
            copy_row_groups: copy,
            zero_seqs_below: strata_core::MAX_SEQNO,
        };
        let out = execute(&store, &task, &state, &ctx).expect("merge");
        eprintln!("{name}: {} rows copied, {} rewritten", out.rows_copied, out.rows_rewritten);
        for (_, m) in &out.added {
            store.delete(m.id).expect("delete output");
        }
        g.bench_function(name, |b| {
            b.iter(|| {
                let out = execute(&store, &task, &state, &ctx).expect("merge");
                for (_, m) in &out.added {
                    store.delete(m.id).expect("delete output");
                }
                out.rows_copied
            })
        });
    }
    g.finish();
}

criterion_group!(benches, narrow_update);
criterion_main!(benches);
