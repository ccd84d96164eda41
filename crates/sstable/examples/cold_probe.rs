//! Cold point lookups, timed as the best of many batches (robust on a shared machine).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, reason = "a measuring tool")]
use std::time::Instant;
use strata_core::{Entry, MAX_SEQNO};
use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore};

fn key(i: u64) -> String {
    format!("key{:013}", i * 2)
}

fn main() {
    let n: u64 = std::env::args().nth(1).map_or(1_000_000, |a| a.parse().unwrap());
    let lookups: u64 = std::env::args().nth(2).map_or(1000, |a| a.parse().unwrap());
    let batches: u64 = std::env::args().nth(3).map_or(200, |a| a.parse().unwrap());
    let cache: usize = std::env::args().nth(4).map_or(0, |a| a.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    // Sixth argument: rows per page (the default when absent).
    let page_rows = std::env::args().nth(6).map_or(ParquetOptions::default().page_rows, |a| a.parse().unwrap());
    let opts = ParquetOptions { block_cache_bytes: 0, sync: false, page_rows, ..ParquetOptions::default() };
    let w = ParquetStore::open(dir.path(), opts.clone()).unwrap();
    w.write_table(1, &mut (0..n).map(|i| Ok(Entry::put(key(i), i + 1, format!("value-{i:026}"))))).unwrap();
    let s = ParquetStore::open(dir.path(), ParquetOptions { block_cache_bytes: cache, ..opts }).unwrap();
    s.open(1).unwrap();
    // Fifth argument "miss": keys between stored keys (the Bloom filter answers almost all).
    let miss = std::env::args().nth(5).is_some_and(|a| a == "miss");
    let keys: Vec<Vec<u8>> = (0..lookups)
        .map(|j| if miss { format!("key{:013}", (j * 7919 % n) * 2 + 1) } else { key(j * 7919 % n) }.into_bytes())
        .collect();
    let mut best = f64::MAX;
    let mut sum = 0.0;
    for _ in 0..batches {
        let t = Instant::now();
        for k in &keys {
            std::hint::black_box(s.get(1, k, MAX_SEQNO).unwrap());
        }
        let per = t.elapsed().as_secs_f64() * 1e6 / lookups as f64;
        best = best.min(per);
        sum += per;
    }
    println!(
        "n={n} get (cache {cache}, miss {miss}): best batch {best:.2} us/lookup, mean {:.2} us",
        sum / batches as f64
    );
}
