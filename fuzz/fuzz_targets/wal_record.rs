//! WAL segments, arbitrary, torn or with bytes flipped, are replayed: clean errors, torn tails drop exactly the cut records. See `strata::testing::fuzz_wal_bytes`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata::testing::fuzz_wal_bytes(data);
});
