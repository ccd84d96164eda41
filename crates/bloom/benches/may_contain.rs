//! `may_contain` on a filter of 1,000,000 keys at 10 bits per key: hits and misses.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strata_bloom::{BloomFilter, FilterPolicy};

const KEYS: u64 = 1_000_000;

fn key(i: u64) -> [u8; 16] {
    let mut k = *b"user/0000000000\0";
    k[5..13].copy_from_slice(&i.to_be_bytes());
    k
}

fn bench(c: &mut Criterion) {
    let mut filter = BloomFilter::new(FilterPolicy::default(), KEYS as usize).expect("valid policy");
    for i in 0..KEYS {
        filter.insert(&key(i));
    }
    let mut g = c.benchmark_group("bloom_may_contain");
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("hit", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            black_box(filter.may_contain(black_box(&key(i))))
        })
    });
    let mut j = KEYS;
    g.bench_function("miss", |b| {
        b.iter(|| {
            j += 1;
            black_box(filter.may_contain(black_box(&key(j))))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
