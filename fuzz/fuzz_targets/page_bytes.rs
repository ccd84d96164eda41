//! Raw bytes as one Parquet page (header, compressed body) for Strata's own page decoder: any
//! input gives a decoded page or an error, never a panic or an out-of-bounds value.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // NOTE: no panic hook dance as in `table_bytes`: the page decoder runs outside the store's
    // panic guard, so every panic in it is a bug and must abort.
    strata_sstable::testing::fuzz_page_bytes(data);
});
