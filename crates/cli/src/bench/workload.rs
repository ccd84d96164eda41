//! Deterministic key and value generation shared by the benchmarks.

/// A small, fast, seeded generator (xorshift64*), so every run and every variant sees the
/// same keys.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A uniform index below `n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// `n` distinct random keys of `key_len` bytes (at least 8): a random 8-byte big-endian
/// number, padded, as db_bench makes them. Distinctness comes from drawing the numbers as a
/// random permutation of a sparse range.
pub(crate) fn random_keys(n: usize, key_len: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    let stride = u64::MAX / (n as u64).max(1);
    let mut keys: Vec<Vec<u8>> = (0..n as u64)
        .map(|i| {
            // One number per stride slot, jittered inside the slot: distinct and unordered
            // once shuffled.
            let number = i * stride + rng.next_u64() % stride.max(1);
            let mut key = vec![b'0'; key_len.max(8)];
            key[..8].copy_from_slice(&number.to_be_bytes());
            key
        })
        .collect();
    for i in (1..keys.len()).rev() {
        keys.swap(i, rng.below(i + 1));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_sized_and_reproducible() {
        let keys = random_keys(10_000, 16, 7);
        assert!(keys.iter().all(|k| k.len() == 16));
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), keys.len(), "duplicate keys");
        assert_ne!(sorted, keys, "keys came out sorted; inserts would not be random");
        assert_eq!(random_keys(10_000, 16, 7), keys, "same seed, different keys");
    }
}
