//! Persisted Bloom filters for Strata tables.
//!
//! A [`BloomFilter`] answers "may this table hold `key`?" with no false negatives and a
//! configured false-positive rate. It is built on [`fastbloom`] with a **fixed, versioned
//! hash seed** ([`SEED_V1`]): the bits a filter sets depend only on the keys and the format
//! version, never on the process, so a filter persisted with [`BloomFilter::to_bytes`] gives
//! the same answers after a restart or an upgrade when read back with
//! [`BloomFilter::from_bytes`]. The encoding carries a CRC32 checksum; damaged bytes are
//! rejected with an [`Error`], never trusted.
//!
//! Size a filter either by bits per key ([`FilterPolicy::BitsPerKey`], default 10, about a
//! 1 % false-positive rate) or by a target rate ([`FilterPolicy::FalsePositiveRate`]).
//!
//! # Example
//!
//! ```
//! use strata_bloom::{BloomFilter, FilterPolicy};
//!
//! let mut filter = BloomFilter::new(FilterPolicy::default(), 1_000)?;
//! for i in 0..1_000u32 {
//!     filter.insert(format!("user/{i}").as_bytes());
//! }
//! assert!(filter.may_contain(b"user/42"));
//!
//! // Persist and restore: the restored filter answers exactly like the original.
//! let bytes = filter.to_bytes();
//! let restored = BloomFilter::from_bytes(&bytes)?;
//! assert_eq!(restored, filter);
//! assert!(restored.may_contain(b"user/42"));
//!
//! // Damaged bytes are an error, not a silently wrong filter.
//! let mut damaged = bytes.clone();
//! damaged[20] ^= 0x40;
//! assert!(BloomFilter::from_bytes(&damaged).is_err());
//! # Ok::<(), strata_bloom::Error>(())
//! ```
#![deny(missing_docs)]

mod codec;
mod concurrent;
mod error;
mod filter;
mod monkey;
mod policy;
#[cfg(feature = "testing")]
pub mod testing;

pub use codec::FORMAT_VERSION;
pub use concurrent::ConcurrentFilter;
pub use error::Error;
pub use filter::{BloomFilter, SEED_V1};
pub use monkey::monkey_bits_per_key;
pub use policy::FilterPolicy;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
