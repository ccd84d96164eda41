//! Random operation sequences against every memtable variant, checked against a model.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata_memtable::testing::fuzz_memtable_ops(data);
});
