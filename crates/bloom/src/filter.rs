//! The filter itself.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::LazyLock;

use fastbloom::DefaultHasher;

use crate::{FilterPolicy, Result};

/// The hash seed of format version 1.
///
/// NOTE: never change this value. Filters persisted by every Strata release are read with it;
/// a new seed needs a new [`crate::FORMAT_VERSION`] and a decoder that keeps the old one.
pub const SEED_V1: u128 = 0x5354_5241_5441_2d42_4c4f_4f4d_2d76_0001; // "STRATA-BLOOM-v" 1

/// SipHash-1-3 keyed with [`SEED_V1`], built once.
static HASHER_V1: LazyLock<DefaultHasher> = LazyLock::new(|| DefaultHasher::seeded(&SEED_V1.to_be_bytes()));

/// Hashes a key as its raw bytes only.
///
/// NOTE: `<[u8] as Hash>` also writes a `usize` length prefix, whose width depends on the
/// platform; hashing the bytes alone keeps a filter portable between 32- and 64-bit builds.
struct RawKey<'a>(&'a [u8]);

impl Hash for RawKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0);
    }
}

/// A Bloom filter over byte-string keys with a fixed, versioned seed.
///
/// No false negatives: after [`insert`](Self::insert)`(k)`, [`may_contain`](Self::may_contain)`(k)`
/// is `true`, also after a round trip through [`to_bytes`](Self::to_bytes) and
/// [`from_bytes`](Self::from_bytes) in another process.
#[derive(Debug, Clone)]
pub struct BloomFilter {
    pub(crate) inner: fastbloom::BloomFilter,
    /// Keys inserted (counting repeats), kept for statistics.
    pub(crate) keys: u64,
}

impl BloomFilter {
    /// An empty filter sized for `expected_keys` keys under `policy`.
    ///
    /// # Errors
    ///
    /// [`crate::Error::InvalidPolicy`] when the policy's parameter is out of range.
    pub fn new(policy: FilterPolicy, expected_keys: usize) -> Result<Self> {
        let policy = policy.validate()?;
        let inner = fastbloom::BloomFilter::with_num_bits(policy.num_bits(expected_keys))
            .seed(&SEED_V1)
            .expected_items(expected_keys.max(1));
        Ok(Self { inner, keys: 0 })
    }

    /// A filter holding exactly the keys whose [`key_hash`](Self::key_hash)es are given, sized
    /// for their number.
    ///
    /// This lets a writer remember 8 bytes per key while it learns how many keys there are.
    ///
    /// # Errors
    ///
    /// [`crate::Error::InvalidPolicy`] when the policy's parameter is out of range.
    pub fn from_key_hashes(policy: FilterPolicy, hashes: &[u64]) -> Result<Self> {
        let mut filter = Self::new(policy, hashes.len())?;
        for &h in hashes {
            filter.insert_hash(h);
        }
        Ok(filter)
    }

    /// Rebuilds a filter from its parts (used by the decoder).
    pub(crate) fn from_parts(words: Vec<u64>, num_hashes: u32, keys: u64) -> Self {
        let inner = fastbloom::BloomFilter::from_vec(words).seed(&SEED_V1).hashes(num_hashes);
        Self { inner, keys }
    }

    /// The hash of `key` under the current seed; feed it to [`insert_hash`](Self::insert_hash)
    /// or [`may_contain_hash`](Self::may_contain_hash).
    #[inline]
    #[must_use]
    pub fn key_hash(key: &[u8]) -> u64 {
        HASHER_V1.hash_one(RawKey(key))
    }

    /// Adds `key`.
    #[inline]
    pub fn insert(&mut self, key: &[u8]) {
        self.insert_hash(Self::key_hash(key));
    }

    /// Adds a key by its [`key_hash`](Self::key_hash).
    #[inline]
    pub fn insert_hash(&mut self, hash: u64) {
        self.inner.insert_hash(hash);
        self.keys += 1;
    }

    /// `false` when `key` was certainly never inserted; `true` when it may have been.
    #[inline]
    #[must_use]
    pub fn may_contain(&self, key: &[u8]) -> bool {
        self.may_contain_hash(Self::key_hash(key))
    }

    /// [`may_contain`](Self::may_contain) for a precomputed [`key_hash`](Self::key_hash).
    #[inline]
    #[must_use]
    pub fn may_contain_hash(&self, hash: u64) -> bool {
        self.inner.contains_hash(hash)
    }

    /// The number of bits in the filter.
    #[must_use]
    pub fn num_bits(&self) -> usize {
        self.inner.num_bits()
    }

    /// The number of hash probes per key.
    #[must_use]
    pub fn num_hashes(&self) -> u32 {
        self.inner.num_hashes()
    }

    /// The number of inserts so far (a key inserted twice counts twice).
    #[must_use]
    pub fn inserted(&self) -> u64 {
        self.keys
    }

    /// The false-positive rate expected with the keys inserted so far.
    #[must_use]
    pub fn expected_false_positive_rate(&self) -> f64 {
        // NOTE: computed here in floating point rather than by fastbloom, whose
        // `items * hashes` overflows (a panic in debug builds) for the key counts a damaged
        // or hostile filter header can claim; the fuzz corpus seed `resealed-huge-keys` does.
        let (bits, hashes) = (self.inner.num_bits() as f64, f64::from(self.inner.num_hashes()));
        let density = 1.0 - (1.0 - 1.0 / bits).powf(self.keys as f64 * hashes);
        density.powf(hashes)
    }

    /// Heap bytes held by the filter.
    #[must_use]
    pub fn memory_usage(&self) -> usize {
        self.inner.as_slice().len() * 8
    }
}

impl PartialEq for BloomFilter {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys
            && self.inner.num_hashes() == other.inner.num_hashes()
            && self.inner.as_slice() == other.inner.as_slice()
    }
}

impl Eq for BloomFilter {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn no_false_negatives(
            keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..400),
            bits_per_key in 1.0f64..20.0,
        ) {
            let mut f = BloomFilter::new(FilterPolicy::BitsPerKey(bits_per_key), keys.len()).unwrap();
            for k in &keys {
                f.insert(k);
            }
            let restored = BloomFilter::from_bytes(&f.to_bytes()).unwrap();
            for k in &keys {
                prop_assert!(f.may_contain(k));
                prop_assert!(restored.may_contain(k));
            }
        }

        #[test]
        fn no_false_negatives_when_overfilled(keys in prop::collection::hash_set(any::<u64>(), 0..2000)) {
            // A filter sized for 10 keys that gets 2000 is useless but must still never say no.
            let mut f = BloomFilter::new(FilterPolicy::FalsePositiveRate(0.01), 10).unwrap();
            for k in &keys {
                f.insert(&k.to_le_bytes());
            }
            for k in &keys {
                prop_assert!(f.may_contain(&k.to_le_bytes()));
            }
        }
    }

    /// The hash of a key is part of the persisted format: a change here (a new fastbloom that
    /// hashes differently, a changed seed) would make every stored filter answer wrongly.
    #[test]
    fn key_hash_is_pinned_for_format_version_1() {
        assert_eq!(BloomFilter::key_hash(b""), BloomFilter::key_hash(&[]));
        let pinned =
            [BloomFilter::key_hash(b""), BloomFilter::key_hash(b"strata"), BloomFilter::key_hash(b"key/000042")];
        assert_eq!(pinned, PINNED_V1, "key hashes changed: persisted filters would give wrong answers");
    }

    const PINNED_V1: [u64; 3] = [2_344_918_021_873_429_505, 14_625_260_421_724_228_691, 4_101_812_124_318_820_797];

    #[test]
    fn expected_rate_of_a_header_claiming_u64_max_keys_does_not_overflow() {
        let mut f = BloomFilter::new(FilterPolicy::default(), 100).unwrap();
        assert!((0.0..0.05).contains(&f.expected_false_positive_rate()));
        for i in 0..100u32 {
            f.insert(&i.to_le_bytes());
        }
        let rate = f.expected_false_positive_rate();
        assert!((0.001..0.05).contains(&rate), "{rate}");
        f.keys = u64::MAX;
        assert_eq!(f.expected_false_positive_rate(), 1.0);
    }

    #[test]
    fn sizing_follows_the_policy() {
        let f = BloomFilter::new(FilterPolicy::BitsPerKey(10.0), 1000).unwrap();
        assert_eq!(f.num_bits(), 10_048); // 10,000 rounded up to whole 64-bit words
        assert_eq!(f.num_hashes(), 7); // round(10 ln 2)
        let f = BloomFilter::new(FilterPolicy::FalsePositiveRate(0.001), 1000).unwrap();
        assert!((14_336..=14_400).contains(&f.num_bits()), "{}", f.num_bits());
        assert!(BloomFilter::new(FilterPolicy::BitsPerKey(0.0), 10).is_err());
    }
}
