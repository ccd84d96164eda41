//! Writing a 10,000,000-entry table keeps the writer's heap bounded.
//!
//! `#[ignore]`d: it takes longer than a debug test run should. Run it with
//! `cargo test -p strata-sstable --release --test bounded_memory_10m -- --ignored --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use strata_core::Entry;
use strata_sstable::{ParquetOptions, ParquetStore, SsTableStore};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator and only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
#[ignore = "writes 10M entries; run explicitly in release"]
fn ten_million_entry_table_is_written_in_bounded_memory() {
    const N: u64 = 10_000_000;
    let dir = tempfile::tempdir().unwrap();
    let store = ParquetStore::open(dir.path(), ParquetOptions::default()).unwrap();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = std::time::Instant::now();
    let meta = store
        .write_table(1, &mut (0..N).map(|i| Ok(Entry::put(format!("key{i:013}"), i + 1, format!("value-{i:026}")))))
        .unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    eprintln!(
        "10M entries: {:.1} s, file {} MB, peak writer heap {} MB",
        t.elapsed().as_secs_f64(),
        meta.file_size >> 20,
        peak >> 20
    );
    assert_eq!(meta.entries, N);
    // The input is ~550 MB of keys and values; the writer may hold a row group, filters and
    // index, not the table.
    assert!(peak < 96 << 20, "peak heap {} MB is not bounded", peak >> 20);
}
