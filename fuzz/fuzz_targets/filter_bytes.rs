//! Arbitrary bytes (with or without a valid checksum) decoded as a persisted Bloom filter:
//! a clean error or a filter that answers queries and round-trips, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_bloom::testing::fuzz_filter_bytes(data);
});
