//! Policy configuration: what users write, validated once.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// Options of the [`Leveled`](crate::Leveled) policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeveledOptions {
    /// L0 is merged into L1 when it holds this many tables. Default 4.
    pub l0_trigger: usize,
    /// Byte target of L1. Default 256 MiB: what L0 holds at its trigger with 64 MiB
    /// memtables, as RocksDB's `max_bytes_for_level_base`, so an L0 merge rewrites about as
    /// much of L1 as it brings. (64 MiB, the earlier default, wrote 4.40 bytes of tables per
    /// user byte over a 10M-key fillrandom where 256 MiB writes 3.28.)
    pub base_level_bytes: u64,
    /// Each level below L1 targets this many times the bytes of the level above. Default 10.
    pub level_multiplier: u64,
    /// Merge outputs are split into tables of about this many bytes, or of at least half as
    /// many where a table of the level below the output begins (so that pushing a table down
    /// later rewrites no table below beyond its own range). Default 32 MiB.
    pub target_table_size: u64,
    /// Number of levels, L0 included. Default 7.
    pub num_levels: usize,
    /// When L0 reaches its trigger holding fewer bytes than the L1 tables its key range
    /// overlaps, merge L0 tables into one L0 table instead of into L1, so that each merge into
    /// L1 brings about as many bytes as it rewrites there. Such a merge takes the newest
    /// `l0_trigger` or more tables of a like size: a table an earlier merge made of several
    /// flushes joins only once it holds at most half the bytes of the tables above it, so it
    /// is not rewritten for every few flushes (all of L0 is merged when no such run exists
    /// and L0 holds twice its trigger). Default `true`. Over a 10M-key fillrandom with 64 MiB
    /// memtables, counting the compactions still due when it ends, it wrote 1.60 bytes of
    /// tables per user byte, where merging all of L0 each time wrote 1.70 to 1.84 and merging
    /// every L0 into L1 2.12 to 2.20. The price is up to two large L0 tables more for reads to
    /// visit between merges into L1: in the simulator, up to 1.5 GiB of tables, 3.4 sorted
    /// runs on average and at most 7, against 3.1 and 5 either merging all of L0 or without
    /// these merges.
    pub intra_l0_merge: bool,
}

impl LeveledOptions {
    /// Default of [`l0_trigger`](Self::l0_trigger).
    pub const DEFAULT_L0_TRIGGER: usize = 4;
    /// Default of [`base_level_bytes`](Self::base_level_bytes).
    pub const DEFAULT_BASE_LEVEL_BYTES: u64 = 256 * MIB;
    /// Default of [`level_multiplier`](Self::level_multiplier).
    pub const DEFAULT_LEVEL_MULTIPLIER: u64 = 10;
    /// Default of [`target_table_size`](Self::target_table_size).
    pub const DEFAULT_TARGET_TABLE_SIZE: u64 = 32 * MIB;
    /// Default of [`num_levels`](Self::num_levels).
    pub const DEFAULT_NUM_LEVELS: usize = 7;
    /// Default of [`intra_l0_merge`](Self::intra_l0_merge).
    pub const DEFAULT_INTRA_L0_MERGE: bool = true;

    /// Checks every option.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] naming the first option outside its allowed range.
    pub fn validate(&self) -> Result<(), Error> {
        check_range("l0_trigger", self.l0_trigger as u64, 1, 1024)?;
        check_range("base_level_bytes", self.base_level_bytes, 1, u64::MAX)?;
        check_range("level_multiplier", self.level_multiplier, 2, 1000)?;
        check_range("target_table_size", self.target_table_size, 1, u64::MAX)?;
        check_range("num_levels", self.num_levels as u64, 2, 64)
    }

    /// The byte target of `level` (`>= 1`): `base_level_bytes * level_multiplier^(level - 1)`,
    /// saturating. L0 has no byte target (it has [`l0_trigger`](Self::l0_trigger)).
    #[must_use]
    pub fn level_target(&self, level: usize) -> u64 {
        let mut target = self.base_level_bytes;
        for _ in 1..level {
            target = target.saturating_mul(self.level_multiplier);
        }
        target
    }
}

impl Default for LeveledOptions {
    fn default() -> Self {
        Self {
            l0_trigger: Self::DEFAULT_L0_TRIGGER,
            base_level_bytes: Self::DEFAULT_BASE_LEVEL_BYTES,
            level_multiplier: Self::DEFAULT_LEVEL_MULTIPLIER,
            target_table_size: Self::DEFAULT_TARGET_TABLE_SIZE,
            num_levels: Self::DEFAULT_NUM_LEVELS,
            intra_l0_merge: Self::DEFAULT_INTRA_L0_MERGE,
        }
    }
}

/// Options of the [`SizeTiered`](crate::SizeTiered) policy. The defaults are those of
/// RocksDB's universal compaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SizeTieredOptions {
    /// Nothing is compacted while there are fewer sorted runs than this; above it, runs are
    /// merged even when their sizes are not similar. Default 4 (RocksDB's
    /// `level0_file_num_compaction_trigger`).
    pub run_trigger: usize,
    /// A run joins a merge candidate when its size is at most the candidate's total size
    /// times `(100 + size_ratio_percent) / 100`. Default 1.
    pub size_ratio_percent: u64,
    /// The fewest runs a size-ratio merge takes. Default 2.
    pub min_merge_width: usize,
    /// The most runs a size-ratio merge takes. Default `u32::MAX` (unbounded, as RocksDB).
    pub max_merge_width: usize,
    /// All runs are merged into one when the bytes of all runs but the oldest exceed this
    /// percentage of the oldest run's bytes. Default 200.
    pub max_size_amplification_percent: u64,
}

impl SizeTieredOptions {
    /// Default of [`run_trigger`](Self::run_trigger).
    pub const DEFAULT_RUN_TRIGGER: usize = 4;
    /// Default of [`size_ratio_percent`](Self::size_ratio_percent).
    pub const DEFAULT_SIZE_RATIO_PERCENT: u64 = 1;
    /// Default of [`min_merge_width`](Self::min_merge_width).
    pub const DEFAULT_MIN_MERGE_WIDTH: usize = 2;
    /// Default of [`max_merge_width`](Self::max_merge_width).
    pub const DEFAULT_MAX_MERGE_WIDTH: usize = u32::MAX as usize;
    /// Default of [`max_size_amplification_percent`](Self::max_size_amplification_percent).
    pub const DEFAULT_MAX_SIZE_AMPLIFICATION_PERCENT: u64 = 200;

    /// Checks every option.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] naming the first option outside its allowed range.
    pub fn validate(&self) -> Result<(), Error> {
        check_range("run_trigger", self.run_trigger as u64, 2, 1024)?;
        check_range("size_ratio_percent", self.size_ratio_percent, 0, 10_000)?;
        check_range("min_merge_width", self.min_merge_width as u64, 2, u64::from(u32::MAX))?;
        if self.max_merge_width < self.min_merge_width {
            return Err(Error::invalid_option(
                "max_merge_width",
                self.max_merge_width,
                format!("at least min_merge_width ({})", self.min_merge_width),
            ));
        }
        check_range("max_size_amplification_percent", self.max_size_amplification_percent, 1, 1_000_000)
    }
}

impl Default for SizeTieredOptions {
    fn default() -> Self {
        Self {
            run_trigger: Self::DEFAULT_RUN_TRIGGER,
            size_ratio_percent: Self::DEFAULT_SIZE_RATIO_PERCENT,
            min_merge_width: Self::DEFAULT_MIN_MERGE_WIDTH,
            max_merge_width: Self::DEFAULT_MAX_MERGE_WIDTH,
            max_size_amplification_percent: Self::DEFAULT_MAX_SIZE_AMPLIFICATION_PERCENT,
        }
    }
}

/// Options of the [`Fifo`](crate::Fifo) policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FifoOptions {
    /// The oldest tables are dropped while all tables together exceed this. Default 1 GiB.
    pub max_total_bytes: u64,
    /// Tables older than this (by creation time) are dropped. Default `None` (no age limit).
    pub max_age_ms: Option<u64>,
}

impl FifoOptions {
    /// Default of [`max_total_bytes`](Self::max_total_bytes).
    pub const DEFAULT_MAX_TOTAL_BYTES: u64 = GIB;

    /// Checks every option.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] naming the first option outside its allowed range.
    pub fn validate(&self) -> Result<(), Error> {
        check_range("max_total_bytes", self.max_total_bytes, 1, u64::MAX)?;
        if let Some(age) = self.max_age_ms {
            check_range("max_age_ms", age, 1, u64::MAX)?;
        }
        Ok(())
    }
}

impl Default for FifoOptions {
    fn default() -> Self {
        Self { max_total_bytes: Self::DEFAULT_MAX_TOTAL_BYTES, max_age_ms: None }
    }
}

fn check_range(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), Error> {
    if (min..=max).contains(&value) {
        Ok(())
    } else if max == u64::MAX {
        Err(Error::invalid_option(field, value, format!("at least {min}")))
    } else {
        Err(Error::invalid_option(field, value, format!("{min}..={max}")))
    }
}

/// The compaction policy and its options, as users write them (`policy = "leveled"` plus
/// options; every option has a default).
///
/// ```
/// use strata_compaction::PolicyConfig;
///
/// let config: PolicyConfig = serde_json::from_str(r#"{"policy": "fifo", "max_total_bytes": 1048576}"#)?;
/// assert_eq!(config, PolicyConfig::Fifo { max_total_bytes: 1 << 20, max_age_ms: None });
/// config.validate()?;
/// assert!(PolicyConfig::by_name("tiered").unwrap_err().to_string().contains("size_tiered"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "policy", rename_all = "snake_case", deny_unknown_fields)]
pub enum PolicyConfig {
    /// The [`Leveled`](crate::Leveled) policy; see [`LeveledOptions`] for each field.
    Leveled {
        /// See [`LeveledOptions::l0_trigger`].
        #[serde(default = "defaults::l0_trigger")]
        l0_trigger: usize,
        /// See [`LeveledOptions::base_level_bytes`].
        #[serde(default = "defaults::base_level_bytes")]
        base_level_bytes: u64,
        /// See [`LeveledOptions::level_multiplier`].
        #[serde(default = "defaults::level_multiplier")]
        level_multiplier: u64,
        /// See [`LeveledOptions::target_table_size`].
        #[serde(default = "defaults::target_table_size")]
        target_table_size: u64,
        /// See [`LeveledOptions::num_levels`].
        #[serde(default = "defaults::num_levels")]
        num_levels: usize,
        /// See [`LeveledOptions::intra_l0_merge`].
        #[serde(default = "defaults::intra_l0_merge")]
        intra_l0_merge: bool,
    },
    /// The [`SizeTiered`](crate::SizeTiered) policy; see [`SizeTieredOptions`] for each field.
    SizeTiered {
        /// See [`SizeTieredOptions::run_trigger`].
        #[serde(default = "defaults::run_trigger")]
        run_trigger: usize,
        /// See [`SizeTieredOptions::size_ratio_percent`].
        #[serde(default = "defaults::size_ratio_percent")]
        size_ratio_percent: u64,
        /// See [`SizeTieredOptions::min_merge_width`].
        #[serde(default = "defaults::min_merge_width")]
        min_merge_width: usize,
        /// See [`SizeTieredOptions::max_merge_width`].
        #[serde(default = "defaults::max_merge_width")]
        max_merge_width: usize,
        /// See [`SizeTieredOptions::max_size_amplification_percent`].
        #[serde(default = "defaults::max_size_amplification_percent")]
        max_size_amplification_percent: u64,
    },
    /// The [`Fifo`](crate::Fifo) policy; see [`FifoOptions`] for each field.
    Fifo {
        /// See [`FifoOptions::max_total_bytes`].
        #[serde(default = "defaults::max_total_bytes")]
        max_total_bytes: u64,
        /// See [`FifoOptions::max_age_ms`].
        #[serde(default)]
        max_age_ms: Option<u64>,
    },
}

mod defaults {
    use super::{FifoOptions, LeveledOptions, SizeTieredOptions};

    pub(super) const fn l0_trigger() -> usize {
        LeveledOptions::DEFAULT_L0_TRIGGER
    }
    pub(super) const fn base_level_bytes() -> u64 {
        LeveledOptions::DEFAULT_BASE_LEVEL_BYTES
    }
    pub(super) const fn level_multiplier() -> u64 {
        LeveledOptions::DEFAULT_LEVEL_MULTIPLIER
    }
    pub(super) const fn target_table_size() -> u64 {
        LeveledOptions::DEFAULT_TARGET_TABLE_SIZE
    }
    pub(super) const fn num_levels() -> usize {
        LeveledOptions::DEFAULT_NUM_LEVELS
    }
    pub(super) const fn intra_l0_merge() -> bool {
        LeveledOptions::DEFAULT_INTRA_L0_MERGE
    }
    pub(super) const fn run_trigger() -> usize {
        SizeTieredOptions::DEFAULT_RUN_TRIGGER
    }
    pub(super) const fn size_ratio_percent() -> u64 {
        SizeTieredOptions::DEFAULT_SIZE_RATIO_PERCENT
    }
    pub(super) const fn min_merge_width() -> usize {
        SizeTieredOptions::DEFAULT_MIN_MERGE_WIDTH
    }
    pub(super) const fn max_merge_width() -> usize {
        SizeTieredOptions::DEFAULT_MAX_MERGE_WIDTH
    }
    pub(super) const fn max_size_amplification_percent() -> u64 {
        SizeTieredOptions::DEFAULT_MAX_SIZE_AMPLIFICATION_PERCENT
    }
    pub(super) const fn max_total_bytes() -> u64 {
        FifoOptions::DEFAULT_MAX_TOTAL_BYTES
    }
}

impl PolicyConfig {
    /// The valid policy names.
    pub const NAMES: [&'static str; 3] = ["leveled", "size_tiered", "fifo"];

    /// The policy named `name` with every option at its default.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownPolicy`] listing the valid names.
    pub fn by_name(name: &str) -> Result<Self, Error> {
        match name {
            "leveled" => Ok(LeveledOptions::default().into()),
            "size_tiered" => Ok(SizeTieredOptions::default().into()),
            "fifo" => Ok(FifoOptions::default().into()),
            _ => Err(Error::UnknownPolicy { name: name.to_owned(), valid: Self::NAMES.join(", ") }),
        }
    }

    /// The policy's name (`"leveled"`, `"size_tiered"` or `"fifo"`).
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Leveled { .. } => Self::NAMES[0],
            Self::SizeTiered { .. } => Self::NAMES[1],
            Self::Fifo { .. } => Self::NAMES[2],
        }
    }

    /// Checks every option of the chosen policy.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] naming the field, the value and the allowed range.
    pub fn validate(&self) -> Result<(), Error> {
        match *self {
            Self::Leveled { .. } => self.leveled_options().validate(),
            Self::SizeTiered { .. } => self.size_tiered_options().validate(),
            Self::Fifo { max_total_bytes, max_age_ms } => FifoOptions { max_total_bytes, max_age_ms }.validate(),
        }
    }

    fn leveled_options(&self) -> LeveledOptions {
        match *self {
            Self::Leveled {
                l0_trigger,
                base_level_bytes,
                level_multiplier,
                target_table_size,
                num_levels,
                intra_l0_merge,
            } => LeveledOptions {
                l0_trigger,
                base_level_bytes,
                level_multiplier,
                target_table_size,
                num_levels,
                intra_l0_merge,
            },
            _ => LeveledOptions::default(),
        }
    }

    fn size_tiered_options(&self) -> SizeTieredOptions {
        match *self {
            Self::SizeTiered {
                run_trigger,
                size_ratio_percent,
                min_merge_width,
                max_merge_width,
                max_size_amplification_percent,
            } => SizeTieredOptions {
                run_trigger,
                size_ratio_percent,
                min_merge_width,
                max_merge_width,
                max_size_amplification_percent,
            },
            _ => SizeTieredOptions::default(),
        }
    }

    /// The options of the chosen policy, split out by kind.
    #[must_use]
    pub fn options(&self) -> PolicyOptions {
        match *self {
            Self::Leveled { .. } => PolicyOptions::Leveled(self.leveled_options()),
            Self::SizeTiered { .. } => PolicyOptions::SizeTiered(self.size_tiered_options()),
            Self::Fifo { max_total_bytes, max_age_ms } => {
                PolicyOptions::Fifo(FifoOptions { max_total_bytes, max_age_ms })
            }
        }
    }
}

/// The options of one policy, typed: what [`PolicyConfig::options`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyOptions {
    /// Options of [`Leveled`](crate::Leveled).
    Leveled(LeveledOptions),
    /// Options of [`SizeTiered`](crate::SizeTiered).
    SizeTiered(SizeTieredOptions),
    /// Options of [`Fifo`](crate::Fifo).
    Fifo(FifoOptions),
}

impl Default for PolicyConfig {
    fn default() -> Self {
        LeveledOptions::default().into()
    }
}

impl From<LeveledOptions> for PolicyConfig {
    fn from(o: LeveledOptions) -> Self {
        Self::Leveled {
            l0_trigger: o.l0_trigger,
            base_level_bytes: o.base_level_bytes,
            level_multiplier: o.level_multiplier,
            target_table_size: o.target_table_size,
            num_levels: o.num_levels,
            intra_l0_merge: o.intra_l0_merge,
        }
    }
}

impl From<SizeTieredOptions> for PolicyConfig {
    fn from(o: SizeTieredOptions) -> Self {
        Self::SizeTiered {
            run_trigger: o.run_trigger,
            size_ratio_percent: o.size_ratio_percent,
            min_merge_width: o.min_merge_width,
            max_merge_width: o.max_merge_width,
            max_size_amplification_percent: o.max_size_amplification_percent,
        }
    }
}

impl From<FifoOptions> for PolicyConfig {
    fn from(o: FifoOptions) -> Self {
        Self::Fifo { max_total_bytes: o.max_total_bytes, max_age_ms: o.max_age_ms }
    }
}

impl FromStr for PolicyConfig {
    type Err = Error;

    /// As [`PolicyConfig::by_name`].
    fn from_str(name: &str) -> Result<Self, Error> {
        Self::by_name(name)
    }
}

impl fmt::Display for PolicyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_named() {
        for name in PolicyConfig::NAMES {
            let config = PolicyConfig::by_name(name).unwrap();
            assert_eq!(config.name(), name);
            config.validate().unwrap();
            assert_eq!(name.parse::<PolicyConfig>().unwrap(), config);
        }
        assert_eq!(PolicyConfig::default(), PolicyConfig::by_name("leveled").unwrap());
    }

    #[test]
    fn unknown_name_lists_the_valid_ones() {
        let err = PolicyConfig::by_name("universal").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::UnknownPolicy { .. }));
        for name in ["universal", "leveled", "size_tiered", "fifo"] {
            assert!(msg.contains(name), "{msg}");
        }
    }

    #[test]
    fn invalid_options_name_their_field() {
        let cases: [(PolicyConfig, &str); 7] = [
            (LeveledOptions { l0_trigger: 0, ..Default::default() }.into(), "l0_trigger"),
            (LeveledOptions { level_multiplier: 1, ..Default::default() }.into(), "level_multiplier"),
            (LeveledOptions { num_levels: 1, ..Default::default() }.into(), "num_levels"),
            (LeveledOptions { target_table_size: 0, ..Default::default() }.into(), "target_table_size"),
            (SizeTieredOptions { min_merge_width: 1, ..Default::default() }.into(), "min_merge_width"),
            (
                SizeTieredOptions { min_merge_width: 5, max_merge_width: 3, ..Default::default() }.into(),
                "max_merge_width",
            ),
            (FifoOptions { max_total_bytes: 0, max_age_ms: None }.into(), "max_total_bytes"),
        ];
        for (config, field) in cases {
            match config.validate() {
                Err(Error::InvalidOption { field: f, ref value, ref allowed }) => {
                    assert_eq!(f, field);
                    assert!(!value.is_empty() && !allowed.is_empty());
                }
                other => panic!("{config:?}: expected InvalidOption for {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn serde_fills_defaults_and_rejects_unknown_fields() {
        let c: PolicyConfig = serde_json::from_str(r#"{"policy":"leveled","l0_trigger":8}"#).unwrap();
        assert_eq!(c, LeveledOptions { l0_trigger: 8, ..Default::default() }.into());
        let c: PolicyConfig = serde_json::from_str(r#"{"policy":"size_tiered"}"#).unwrap();
        assert_eq!(c, PolicyConfig::by_name("size_tiered").unwrap());
        let err = serde_json::from_str::<PolicyConfig>(r#"{"policy":"fifo","max_bytes":3}"#).unwrap_err();
        assert!(err.to_string().contains("max_bytes"), "{err}");
        let err = serde_json::from_str::<PolicyConfig>(r#"{"policy":"tiered"}"#).unwrap_err();
        assert!(err.to_string().contains("tiered"), "{err}");
        for name in PolicyConfig::NAMES {
            let c = PolicyConfig::by_name(name).unwrap();
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<PolicyConfig>(&json).unwrap(), c);
        }
    }
}
