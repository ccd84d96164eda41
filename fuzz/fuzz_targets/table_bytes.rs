//! Arbitrary and damaged table files (raw, bytes flipped, flipped with checksums recomputed,
//! truncated): opening, point lookups and scans give clean errors, never panics or wrong data.
#![no_main]

use std::sync::Once;

static DECODER_PANICS_ARE_CAUGHT: Once = Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // libFuzzer's panic hook aborts on every panic, even one the store catches. The store
    // turns a panic inside the Parquet and Arrow decoders into Error::Corruption (they are not
    // panic-free on malformed pages), so let those unwind to its guard; any other panic, and
    // any panic that escapes the store, still aborts and is reported.
    DECODER_PANICS_ARE_CAUGHT.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !strata_sstable::testing::inside_decoder_guard() {
                abort(info);
            }
        }));
    });
    strata_sstable::testing::fuzz_table_bytes(data);
});
