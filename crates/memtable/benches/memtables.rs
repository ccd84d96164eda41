//! Criterion benchmarks of every memtable variant: insert, point get and full scan of
//! 10,000 random 16-byte keys with 100-byte values (the same workload as
//! `strata bench --memtables`, at a size every variant finishes quickly).
//!
//! Run with `cargo bench -p strata-memtable --bench memtables`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use strata_core::{MAX_SEQNO, ValueKind};
use strata_memtable::{AnyMemtable, Memtable, MemtableKind, MemtableOptions};

const ENTRIES: usize = 10_000;

fn keys() -> Vec<[u8; 16]> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..ENTRIES)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&x.to_be_bytes());
            k[8..].copy_from_slice(&(i as u64).to_be_bytes());
            k
        })
        .collect()
}

fn filled(kind: MemtableKind, keys: &[[u8; 16]], value: &[u8]) -> AnyMemtable {
    let m = AnyMemtable::new(kind, &MemtableOptions::default()).expect("default options are valid");
    for (i, k) in keys.iter().enumerate() {
        m.insert(k, i as u64 + 1, ValueKind::Put, value);
    }
    m
}

fn bench(c: &mut Criterion) {
    let keys = keys();
    let value = [b'v'; 100];
    let mut insert = c.benchmark_group("insert_10k");
    insert.throughput(Throughput::Elements(ENTRIES as u64)).sample_size(10).measurement_time(Duration::from_secs(3));
    for kind in MemtableKind::ALL {
        insert.bench_function(kind.name(), |b| {
            b.iter_batched(
                || AnyMemtable::new(kind, &MemtableOptions::default()).expect("valid"),
                |m| {
                    for (i, k) in keys.iter().enumerate() {
                        m.insert(k, i as u64 + 1, ValueKind::Put, &value);
                    }
                    m
                },
                BatchSize::PerIteration,
            );
        });
    }
    insert.finish();

    let mut get = c.benchmark_group("get_10k");
    get.throughput(Throughput::Elements(ENTRIES as u64)).sample_size(10).measurement_time(Duration::from_secs(3));
    for kind in MemtableKind::ALL {
        let m = filled(kind, &keys, &value);
        get.bench_function(kind.name(), |b| {
            b.iter(|| {
                for k in keys.iter().rev() {
                    black_box(m.get(k, MAX_SEQNO));
                }
            });
        });
    }
    get.finish();

    let mut scan = c.benchmark_group("scan_10k");
    scan.throughput(Throughput::Elements(ENTRIES as u64)).sample_size(20).measurement_time(Duration::from_secs(2));
    for kind in MemtableKind::ALL {
        let m = filled(kind, &keys, &value);
        m.seal();
        scan.bench_function(kind.name(), |b| b.iter(|| black_box(m.iter().count())));
    }
    scan.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
