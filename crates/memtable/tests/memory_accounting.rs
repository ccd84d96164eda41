//! `approximate_memory_usage` is within 25% of what the allocator really handed out, for
//! every variant, after 100,000 inserts of 16-byte keys and 100-byte values.
//!
//! This file is its own test binary with a single test, so no other test's allocations run
//! concurrently and pollute the count.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata_core::ValueKind;
use strata_core::alloc::{CountingAllocator, live_bytes, start_counting};
use strata_memtable::{AnyMemtable, Memtable, MemtableKind, MemtableOptions};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const ENTRIES: u64 = 100_000;

/// Fills `key` with 16 bytes derived from `i`: a well-mixed 8-byte head, so keys spread
/// across hash buckets and trie branches, then `i` itself, so keys are distinct.
fn make_key(i: u64, key: &mut [u8; 16]) {
    let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) ^ 0xA5A5_5A5A_0F0F_F0F0;
    key[..8].copy_from_slice(&mixed.to_be_bytes());
    key[8..].copy_from_slice(&i.to_be_bytes());
}

#[test]
fn reported_memory_is_within_25_percent_of_allocated() {
    start_counting();
    let value = [7u8; 100];
    let mut key = [0u8; 16];
    let mut report = Vec::new();
    for kind in MemtableKind::ALL {
        let started = std::time::Instant::now();
        let before = live_bytes();
        let m = AnyMemtable::new(kind, &MemtableOptions::default()).expect("default options are valid");
        for n in 0..ENTRIES {
            // The linked list inserts in O(n) per key in random order; descending order lands
            // every insert at the head so this test stays fast. Memory does not depend on order.
            if kind == MemtableKind::LinkedList {
                key[..8].copy_from_slice(&(ENTRIES - n).to_be_bytes());
                key[8..].copy_from_slice(&n.to_be_bytes());
            } else {
                make_key(n, &mut key);
            }
            m.insert(&key, n + 1, ValueKind::Put, &value);
        }
        let measured = (live_bytes() - before) as f64;
        let reported = m.approximate_memory_usage() as f64;
        let ratio = reported / measured;
        report.push(format!(
            "{kind:<18} measured {measured:>11.0} B  reported {reported:>11.0} B  ratio {ratio:.3}  ({:.1?})",
            started.elapsed()
        ));
        assert_eq!(m.len() as u64, ENTRIES);
        drop(m);
        assert!(
            (0.75..=1.25).contains(&ratio),
            "{kind}: reported {reported} vs measured {measured}\n{}",
            report.join("\n")
        );
    }
    println!("{}", report.join("\n"));
}
