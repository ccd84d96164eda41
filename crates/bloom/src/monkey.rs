//! Filter memory spread across the levels of an LSM tree by the Monkey rule.
//!
//! A point lookup that misses pays one false positive per level whose filter lets it
//! through, so what matters is the *sum* of the levels' false-positive rates. Giving every
//! level the same bits per key spends most of the memory on the largest, deepest level.
//! Minimizing `sum(p_i)` under a fixed total of filter bits (Dayan, Athanassoulis and
//! Idreos, "Monkey", SIGMOD 2017) gives each level a rate proportional to its number of
//! entries: `p_i = c * n_i`. So a level `T` times larger gets `ln T / ln² 2` fewer bits per key
//! (about 4.8 fewer for `T = 10`), and the small, shallow levels get more.

/// Bits per key for levels `0..levels`, holding entries in proportion
/// `1, T, T², ...` (level 0 and level 1 the same size, as in a leveled tree whose L0 is about
/// one level-1 table's worth), so that the average over all entries is `avg_bits_per_key`
/// and the sum of the levels' false-positive rates is minimal. Each level gets at least
/// `min_bits` bits per key (a filter needs some bits to exist at all); the rest of the budget
/// is shared by the Monkey rule.
///
/// # Examples
///
/// ```
/// let bits = strata_bloom::monkey_bits_per_key(10.0, 4, 10.0, 1.0);
/// // Shallow levels get more than 10 bits per key, the deepest fewer.
/// assert!(bits[0] > 10.0 && bits[3] < 10.0);
/// ```
#[must_use]
pub fn monkey_bits_per_key(avg_bits_per_key: f64, levels: usize, size_ratio: f64, min_bits: f64) -> Vec<f64> {
    if levels == 0 {
        return Vec::new();
    }
    let ratio = size_ratio.max(1.0);
    // Relative entries per level: L0 like L1, then growing by the ratio.
    let entries: Vec<f64> = (0..levels).map(|l| ratio.powi(l.saturating_sub(1) as i32)).collect();
    let total: f64 = entries.iter().sum();
    let budget = avg_bits_per_key * total;
    let ln2sq = std::f64::consts::LN_2 * std::f64::consts::LN_2;
    let mut bits = vec![min_bits; levels];
    // Levels still sized by the rule (the others are pinned at the minimum).
    let mut free: Vec<bool> = vec![true; levels];
    loop {
        let pinned: f64 = (0..levels).filter(|&l| !free[l]).map(|l| min_bits * entries[l]).sum();
        let n_free: f64 = (0..levels).filter(|&l| free[l]).map(|l| entries[l]).sum();
        if n_free == 0.0 {
            break;
        }
        // With p_i = c * n_i and bits b_i = -ln(p_i) / ln² 2, the budget fixes ln c:
        // sum n_i * (-ln c - ln n_i) = (budget - pinned) * ln² 2.
        let sum_n_ln_n: f64 = (0..levels).filter(|&l| free[l]).map(|l| entries[l] * entries[l].ln()).sum();
        let neg_ln_c = ((budget - pinned) * ln2sq + sum_n_ln_n) / n_free;
        let mut changed = false;
        for l in 0..levels {
            if free[l] {
                let b = (neg_ln_c - entries[l].ln()) / ln2sq;
                if b < min_bits {
                    free[l] = false;
                    changed = true;
                } else {
                    bits[l] = b;
                }
            }
        }
        if !changed {
            break;
        }
        for l in 0..levels {
            if !free[l] {
                bits[l] = min_bits;
            }
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fpr(bits: f64) -> f64 {
        (-bits * std::f64::consts::LN_2 * std::f64::consts::LN_2).exp()
    }

    #[test]
    fn keeps_the_memory_budget_and_lowers_the_summed_false_positive_rate() {
        let (avg, levels, ratio) = (10.0, 5, 10.0);
        let bits = monkey_bits_per_key(avg, levels, ratio, 1.0);
        let entries: Vec<f64> = (0..levels).map(|l| ratio.powi(l.saturating_sub(1) as i32)).collect();
        let used: f64 = bits.iter().zip(&entries).map(|(b, n)| b * n).sum();
        let budget: f64 = avg * entries.iter().sum::<f64>();
        assert!((used - budget).abs() < 1e-6 * budget, "used {used} of {budget}");
        let monkey: f64 = bits.iter().map(|&b| fpr(b)).sum();
        let uniform = levels as f64 * fpr(avg);
        assert!(monkey < uniform, "monkey {monkey} must beat uniform {uniform}");
        assert!(bits.windows(2).all(|w| w[0] >= w[1]), "deeper levels get fewer bits: {bits:?}");
        // A level ten times larger gets ln(10) / ln² 2 fewer bits per key.
        let step = 10f64.ln() / (std::f64::consts::LN_2 * std::f64::consts::LN_2);
        assert!((bits[1] - bits[2] - step).abs() < 1e-9, "{bits:?}");
    }

    #[test]
    fn a_small_budget_pins_the_deepest_levels_at_the_minimum() {
        let bits = monkey_bits_per_key(1.2, 4, 10.0, 1.0);
        assert_eq!(bits[3], 1.0, "{bits:?}");
        assert!(bits[0] > bits[3]);
        let entries = [1.0, 1.0, 10.0, 100.0];
        let used: f64 = bits.iter().zip(entries).map(|(b, n)| b * n).sum();
        assert!((used - 1.2 * 112.0).abs() < 1e-6, "{used}");
        assert_eq!(monkey_bits_per_key(10.0, 0, 10.0, 1.0), Vec::<f64>::new());
        assert_eq!(monkey_bits_per_key(10.0, 1, 10.0, 1.0), vec![10.0]);
    }
}
