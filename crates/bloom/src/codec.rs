//! The persisted form of a filter.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "SBLM"
//! 4       2     format version (u16 LE), currently 1: seed SEED_V1, raw-bytes key hash
//! 6       2     reserved, zero
//! 8       4     number of hashes (u32 LE)
//! 12      8     keys inserted (u64 LE)
//! 20      8     number of 64-bit words W (u64 LE)
//! 28      8*W   the bit array, words LE
//! 28+8W   4     CRC32 (IEEE) of every preceding byte (u32 LE)
//! ```

use crate::{BloomFilter, Error, Result};

/// The format version [`BloomFilter::to_bytes`] writes and [`BloomFilter::from_bytes`] reads.
pub const FORMAT_VERSION: u16 = 1;

const MAGIC: &[u8; 4] = b"SBLM";
const HEADER_LEN: usize = 28;
const CRC_LEN: usize = 4;
/// More probes than this is no sane filter; the decoder treats it as damage.
const MAX_HASHES: u32 = 128;

impl BloomFilter {
    /// The persisted form: a small header, the bit array and a CRC32 (see the module docs).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let words = self.inner.as_slice();
        let mut out = Vec::with_capacity(HEADER_LEN + words.len() * 8 + CRC_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.inner.num_hashes().to_le_bytes());
        out.extend_from_slice(&self.keys.to_le_bytes());
        out.extend_from_slice(&(words.len() as u64).to_le_bytes());
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes [`to_bytes`](Self::to_bytes) output.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] when the bytes are truncated, padded, fail the checksum or hold
    /// impossible values; [`Error::UnsupportedVersion`] for a format version this build does not
    /// read.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let corrupt = |reason: String| Error::Corrupt { reason };
        if bytes.len() < HEADER_LEN + 8 + CRC_LEN {
            return Err(corrupt(format!("{} bytes is shorter than the smallest filter", bytes.len())));
        }
        if &bytes[..4] != MAGIC {
            return Err(corrupt(format!("bad magic {:02x?}", &bytes[..4])));
        }
        let (body, crc) = bytes.split_at(bytes.len() - CRC_LEN);
        let stored = u32_at(crc, 0);
        let actual = crc32fast::hash(body);
        if stored != actual {
            return Err(corrupt(format!("checksum mismatch: stored {stored:#010x}, computed {actual:#010x}")));
        }
        let version = u16::from_le_bytes([body[4], body[5]]);
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
        }
        // NOTE: the reserved field must be zero, so every accepted encoding is the one
        // `to_bytes` writes (the filter_bytes fuzz target found a filter that decoded with a
        // nonzero reserved field and re-encoded to different bytes).
        let reserved = u16::from_le_bytes([body[6], body[7]]);
        if reserved != 0 {
            return Err(corrupt(format!("reserved header field is {reserved:#06x}, expected 0")));
        }
        let num_hashes = u32_at(body, 8);
        let keys = u64_at(body, 12);
        let num_words = u64_at(body, 20);
        if !(1..=MAX_HASHES).contains(&num_hashes) {
            return Err(corrupt(format!("{num_hashes} hashes per key is outside 1..={MAX_HASHES}")));
        }
        let payload = &body[HEADER_LEN..];
        if num_words == 0 || num_words.checked_mul(8) != Some(payload.len() as u64) {
            return Err(corrupt(format!("header says {num_words} words but {} payload bytes follow", payload.len())));
        }
        let words = payload.chunks_exact(8).map(|c| u64_at(c, 0)).collect();
        Ok(Self::from_parts(words, num_hashes, keys))
    }
}

/// The little-endian `u32` at `at`; the caller has checked the length.
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The little-endian `u64` at `at`; the caller has checked the length.
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::FilterPolicy;

    fn sample() -> BloomFilter {
        let mut f = BloomFilter::new(FilterPolicy::default(), 100).unwrap();
        for i in 0..100u32 {
            f.insert(&i.to_be_bytes());
        }
        f
    }

    #[test]
    fn nonzero_reserved_header_field_is_corruption() {
        let mut bytes = sample().to_bytes();
        bytes[6] = 1;
        let body_len = bytes.len() - CRC_LEN;
        let crc = crc32fast::hash(&bytes[..body_len]);
        bytes[body_len..].copy_from_slice(&crc.to_le_bytes());
        match BloomFilter::from_bytes(&bytes) {
            Err(Error::Corrupt { reason }) => assert!(reason.contains("reserved"), "{reason}"),
            other => panic!("a nonzero reserved field decoded as {other:?}"),
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let f = sample();
        let g = BloomFilter::from_bytes(&f.to_bytes()).unwrap();
        assert_eq!(f, g);
        assert_eq!(g.inserted(), 100);
        for i in 0..10_000u32 {
            assert_eq!(f.may_contain(&i.to_be_bytes()), g.may_contain(&i.to_be_bytes()));
        }
    }

    #[test]
    fn truncation_is_rejected_at_every_length() {
        let bytes = sample().to_bytes();
        for len in 0..bytes.len() {
            assert!(matches!(BloomFilter::from_bytes(&bytes[..len]), Err(Error::Corrupt { .. })), "len {len}");
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(BloomFilter::from_bytes(&padded).is_err());
    }

    #[test]
    fn wrong_magic_says_so() {
        let mut bytes = sample().to_bytes();
        bytes[0] = b'X';
        let e = BloomFilter::from_bytes(&bytes).unwrap_err();
        assert!(e.to_string().contains("magic"), "{e}");
    }

    #[test]
    fn unknown_version_is_reported_as_such() {
        let mut bytes = sample().to_bytes();
        bytes[4] = 9;
        let n = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..n]);
        bytes[n..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(BloomFilter::from_bytes(&bytes), Err(Error::UnsupportedVersion { found: 9, supported: 1 }));
    }

    proptest! {
        #[test]
        fn any_single_bit_flip_is_detected(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut bytes = sample().to_bytes();
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            prop_assert!(BloomFilter::from_bytes(&bytes).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = BloomFilter::from_bytes(&bytes);
        }
    }
}
