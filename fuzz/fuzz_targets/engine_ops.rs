//! Engine operation sequences (with reopens and power cuts) against a model. See `strata::testing::fuzz_engine_ops`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata::testing::fuzz_engine_ops(data);
});
