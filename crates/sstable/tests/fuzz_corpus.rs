//! Replays the `table_bytes` and `page_bytes` fuzz corpora on stable Rust, so every input the
//! fuzzer ever kept (and every regression input) is checked by plain `cargo test`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;

#[test]
fn replay_table_bytes_corpus() {
    strata_core::testing::replay_corpus("table_bytes", 8, strata_sstable::testing::fuzz_table_bytes);
}

#[test]
fn replay_page_bytes_corpus() {
    strata_core::testing::replay_corpus("page_bytes", 16, strata_sstable::testing::fuzz_page_bytes);
}

/// Writes the `page_bytes` seed corpus: real pages of every column in every codec, and a few
/// damaged ones (run with `--ignored` after changing the table format).
#[test]
#[ignore = "regenerates fuzz/corpus/page_bytes"]
fn write_page_bytes_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/page_bytes");
    std::fs::create_dir_all(&dir).expect("corpus directory");
    let seeds = strata_sstable::testing::fuzz_page_seeds();
    for (name, data) in &seeds {
        assert!(data.len() < 64 * 1024, "{name} is {} bytes", data.len());
        std::fs::write(dir.join(name), data).expect("write seed");
        // The same page with its row count off by one, and with its body cut short.
        let mut wrong_rows = data.clone();
        wrong_rows[1] = wrong_rows[1].wrapping_add(1);
        std::fs::write(dir.join(format!("{name}-wrong-rows")), wrong_rows).expect("write seed");
        std::fs::write(dir.join(format!("{name}-truncated")), &data[..data.len() - 1]).expect("write seed");
    }
}

/// Writes the seed corpus (run with `--ignored` after changing the table format).
#[test]
#[ignore = "regenerates fuzz/corpus/table_bytes"]
fn write_table_bytes_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/table_bytes");
    let table = strata_sstable::testing::fuzz_template_table();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("raw-valid-table", [&[0u8][..], &table].concat()),
        ("raw-random", [vec![0u8], random(300)].concat()),
        ("raw-par1-both-ends", [&[0u8][..], b"PAR1", &random(100), b"PAR1"].concat()),
        ("flip-one-data-byte", vec![1, 0x10, 0x02, 0x00, 0x40]),
        ("flip-one-footer-byte", vec![1, 0xf0, 0xff, 0xff, 0x01]),
        ("flip-many", [vec![1], random(64)].concat()),
        ("resealed-flip-data", vec![2, 0x10, 0x02, 0x00, 0x40]),
        ("resealed-flip-footer", vec![2, 0xf0, 0xff, 0xff, 0x01]),
        ("resealed-flip-many", [vec![2], random(64)].concat()),
        ("truncated", vec![3, 0x20, 0x00]),
    ];
    for (name, data) in seeds {
        assert!(data.len() < 64 * 1024, "{name} is {} bytes", data.len());
        std::fs::write(dir.join(name), data).expect("write seed");
    }
}

/// Regression for a fuzz find: parquet 60's `DELTA_BYTE_ARRAY` decoder panicked ("attempt to
/// add with overflow") on a key page whose block checksums had been recomputed over flipped
/// bytes. The store must answer `Error::Corruption` naming the file instead (the harness
/// checks that every error is one).
#[test]
fn delta_byte_array_decoder_panic_is_corruption() {
    let data = include_bytes!("../../../fuzz/corpus/table_bytes/regression-delta-byte-array-overflow-panic");
    strata_sstable::testing::fuzz_table_bytes(data);
}

/// Regression for a second fuzz find in the same decoder: a slice panic inside `bytes`,
/// called from parquet's `DELTA_BYTE_ARRAY` decoder, on a page with recomputed checksums.
#[test]
fn delta_byte_array_slice_panic_is_corruption() {
    let data = include_bytes!("../../../fuzz/corpus/table_bytes/regression-delta-byte-array-slice-panic");
    strata_sstable::testing::fuzz_table_bytes(data);
}
