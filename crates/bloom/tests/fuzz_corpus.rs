//! Replays the `filter_bytes` fuzz corpus on stable Rust, so every input the fuzzer ever kept
//! (and every regression input) is checked by plain `cargo test`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::path::Path;

use strata_bloom::{BloomFilter, FilterPolicy};

#[test]
fn replay_filter_bytes_corpus() {
    strata_core::testing::replay_corpus("filter_bytes", 8, strata_bloom::testing::fuzz_filter_bytes);
}

/// Writes the seed corpus (run with `--ignored` after changing the filter format).
#[test]
#[ignore = "regenerates fuzz/corpus/filter_bytes"]
fn write_filter_bytes_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/filter_bytes");
    let filter = |policy, n: u32| {
        let mut f = BloomFilter::new(policy, n as usize).expect("policy");
        for i in 0..n {
            f.insert(format!("key{i:013}").as_bytes());
        }
        f.to_bytes()
    };
    // Mode byte 0: bytes as they are; 1: the fuzz function appends the CRC itself.
    let without_crc = |b: Vec<u8>| b[..b.len() - 4].to_vec();
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("valid-10bpk-100", [vec![0], filter(FilterPolicy::BitsPerKey(10.0), 100)].concat()),
        ("valid-fpr-1000", [vec![0], filter(FilterPolicy::FalsePositiveRate(0.01), 1000)].concat()),
        ("valid-empty", [vec![0], filter(FilterPolicy::default(), 0)].concat()),
        ("resealed-valid", [vec![1], without_crc(filter(FilterPolicy::default(), 50))].concat()),
        ("resealed-zero-hashes", {
            let mut b = without_crc(filter(FilterPolicy::default(), 50));
            b[8..12].copy_from_slice(&0u32.to_le_bytes());
            [vec![1], b].concat()
        }),
        ("resealed-huge-keys", {
            let mut b = without_crc(filter(FilterPolicy::default(), 50));
            b[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
            [vec![1], b].concat()
        }),
        ("resealed-word-count-lies", {
            let mut b = without_crc(filter(FilterPolicy::default(), 50));
            b[20..28].copy_from_slice(&(u64::MAX / 4).to_le_bytes());
            [vec![1], b].concat()
        }),
        ("raw-magic-only", vec![0, b'S', b'B', b'L', b'M']),
        ("raw-random", (0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        ("resealed-version-2", {
            let mut b = without_crc(filter(FilterPolicy::default(), 10));
            b[4] = 2;
            [vec![1], b].concat()
        }),
    ];
    for (name, data) in seeds {
        assert!(data.len() < 64 * 1024, "{name} is {} bytes", data.len());
        std::fs::write(dir.join(name), data).expect("write seed");
    }
}

/// Regression for a fuzz find: a filter whose reserved header field was nonzero decoded, and
/// re-encoded to different bytes. Decoding now rejects it as corrupt.
#[test]
fn nonzero_reserved_field_is_rejected_not_normalized() {
    let data = include_bytes!("../../../fuzz/corpus/filter_bytes/regression-reserved-field-nonzero");
    strata_bloom::testing::fuzz_filter_bytes(data);
}
