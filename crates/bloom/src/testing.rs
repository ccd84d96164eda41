//! Fuzzing entry points (feature `testing`), callable from ordinary tests so `cargo test`
//! replays the fuzz corpus on stable Rust.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "test support: its checks panic on a broken promise, as a test does"
)]

use crate::{BloomFilter, Error};

/// The logic of the `filter_bytes` fuzz target: decodes `data` with
/// [`BloomFilter::from_bytes`] and, when that succeeds, queries the filter and round-trips it.
///
/// The first byte picks how the rest is used: even, as it is (almost always rejected by the
/// checksum); odd, with a correct CRC32 appended, so the fuzzer reaches the header checks and
/// the queries behind them.
///
/// # Panics
///
/// When decoding or querying panics (the bug the fuzzer looks for), when a decode error is
/// not [`Error::Corrupt`] or [`Error::UnsupportedVersion`], or when a decoded filter does not
/// survive `to_bytes`/`from_bytes` unchanged.
pub fn fuzz_filter_bytes(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut bytes = rest.to_vec();
    if mode % 2 == 1 {
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
    }
    let filter = match BloomFilter::from_bytes(&bytes) {
        Ok(f) => f,
        Err(Error::Corrupt { .. } | Error::UnsupportedVersion { .. }) => return,
        Err(e) => panic!("decoding gave an unexpected error: {e}"),
    };
    for key in [&b""[..], b"a", b"key0000000000001", rest] {
        let _ = filter.may_contain(key);
    }
    for chunk in rest.chunks(8).take(16) {
        let _ = filter.may_contain(chunk);
        let _ = filter.may_contain_hash(BloomFilter::key_hash(chunk));
    }
    let _ = (filter.num_bits(), filter.num_hashes(), filter.inserted(), filter.memory_usage());
    let _ = filter.expected_false_positive_rate();
    let again = BloomFilter::from_bytes(&filter.to_bytes()).expect("a decoded filter re-encodes to valid bytes");
    assert_eq!(again, filter, "a decoded filter changes on a round trip");
    assert_eq!(again.to_bytes(), bytes, "a decoded filter does not re-encode to its own bytes");
}
