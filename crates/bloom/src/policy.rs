//! How a filter is sized.

use crate::{Error, Result};

/// How many bits a filter spends per key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FilterPolicy {
    /// A fixed number of bits per expected key; 10 bits give about a 1 % false-positive rate.
    BitsPerKey(f64),
    /// A target false-positive rate in `(0, 1)`; the filter gets as many bits as the rate needs.
    FalsePositiveRate(f64),
}

impl Default for FilterPolicy {
    fn default() -> Self {
        Self::BitsPerKey(Self::DEFAULT_BITS_PER_KEY)
    }
}

impl FilterPolicy {
    /// The default bits per key.
    pub const DEFAULT_BITS_PER_KEY: f64 = 10.0;

    /// Checks the parameter.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPolicy`] when bits per key is not in `[1, 64]` or the false-positive rate
    /// is not in `(0, 1)`.
    pub fn validate(self) -> Result<Self> {
        match self {
            Self::BitsPerKey(b) if !(1.0..=64.0).contains(&b) => {
                Err(Error::InvalidPolicy { field: "bits_per_key", value: b, allowed: "1 to 64" })
            }
            Self::FalsePositiveRate(p) if !(p > 0.0 && p < 1.0) => Err(Error::InvalidPolicy {
                field: "false_positive_rate",
                value: p,
                allowed: "greater than 0 and less than 1",
            }),
            ok => Ok(ok),
        }
    }

    /// The number of bits a filter for `expected_keys` keys gets (at least 64).
    #[must_use]
    pub fn num_bits(self, expected_keys: usize) -> usize {
        let n = expected_keys.max(1) as f64;
        let bits = match self {
            Self::BitsPerKey(b) => n * b,
            // The classic optimum: m = -n ln p / (ln 2)^2.
            Self::FalsePositiveRate(p) => -n * p.ln() / (std::f64::consts::LN_2 * std::f64::consts::LN_2),
        };
        (bits.ceil() as usize).max(64)
    }

    /// The false-positive rate this policy aims for with the optimal number of hashes.
    #[must_use]
    pub fn target_false_positive_rate(self) -> f64 {
        match self {
            Self::BitsPerKey(b) => (-b * std::f64::consts::LN_2 * std::f64::consts::LN_2).exp(),
            Self::FalsePositiveRate(p) => p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_parameters_name_the_field() {
        let e = FilterPolicy::BitsPerKey(0.5).validate().unwrap_err();
        assert!(e.to_string().contains("bits_per_key"), "{e}");
        let e = FilterPolicy::FalsePositiveRate(0.0).validate().unwrap_err();
        assert!(e.to_string().contains("false_positive_rate"), "{e}");
        assert!(FilterPolicy::FalsePositiveRate(1.0).validate().is_err());
        assert!(FilterPolicy::FalsePositiveRate(f64::NAN).validate().is_err());
        assert!(FilterPolicy::default().validate().is_ok());
    }

    #[test]
    fn ten_bits_per_key_target_about_one_percent() {
        let p = FilterPolicy::default().target_false_positive_rate();
        assert!((0.007..0.010).contains(&p), "{p}");
        // The two policies agree on the size for the same rate.
        let by_rate = FilterPolicy::FalsePositiveRate(p).num_bits(1000);
        assert!((9_990..=10_010).contains(&by_rate), "{by_rate}");
    }
}
