//! Version edits and manifest files, arbitrary or validly framed, are decoded and opened. See `strata::testing::fuzz_manifest_bytes`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    strata::testing::fuzz_manifest_bytes(data);
});
