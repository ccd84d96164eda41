//! Arbitrary and damaged table files (raw, bytes flipped, flipped with checksums recomputed,
//! truncated): opening, point lookups and scans give clean errors, never panics or wrong data.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_sstable::testing::fuzz_table_bytes(data);
});
