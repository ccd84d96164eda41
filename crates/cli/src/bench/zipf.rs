//! The zipfian distribution YCSB uses (Gray et al., "Quickly generating billion-record
//! synthetic databases"), with a scrambled variant so popular keys spread over the key
//! space instead of clustering at its start.

use super::workload::Rng;

/// Draws ranks in `0..n`; rank 0 is the most popular.
pub(crate) struct Zipf {
    n: u64,
    theta: f64,
    alpha: f64,
    zeta_n: f64,
    eta: f64,
}

fn zeta(n: u64, theta: f64) -> f64 {
    (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum()
}

impl Zipf {
    pub(crate) fn new(n: u64, theta: f64) -> Self {
        let n = n.max(1);
        let zeta_n = zeta(n, theta);
        let zeta_2 = zeta(2.min(n), theta);
        let alpha = 1.0 / (1.0 - theta);
        let eta = (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta_2 / zeta_n);
        Self { n, theta, alpha, zeta_n, eta }
    }

    pub(crate) fn rank(&self, rng: &mut Rng) -> u64 {
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let uz = u * self.zeta_n;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(self.n - 1);
        }
        let r = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        r.min(self.n - 1)
    }

    /// A rank mapped to a key index by a fixed hash, so hot keys are spread out.
    pub(crate) fn scrambled(&self, rng: &mut Rng) -> u64 {
        let r = self.rank(rng);
        let mut x = r.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (x ^ (x >> 31)) % self.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_is_popular_and_ranks_stay_in_range() {
        let z = Zipf::new(10_000, 0.99);
        let mut rng = Rng::new(3);
        let mut counts = vec![0u32; 10_000];
        for _ in 0..200_000 {
            counts[z.rank(&mut rng) as usize] += 1;
        }
        // With theta 0.99 over 10k items, rank 0 takes roughly 10% of draws.
        assert!(counts[0] > 12_000 && counts[0] < 30_000, "rank 0 drawn {} times", counts[0]);
        assert!(counts[0] > counts[10] && counts[10] > counts[1000]);
        let mut rng = Rng::new(4);
        assert!((0..10_000).all(|_| z.scrambled(&mut rng) < 10_000));
    }
}
