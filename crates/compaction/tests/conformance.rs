//! Every built-in policy, default and tuned, passes the generic policy conformance suite.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use strata_compaction::testing::conformance;
use strata_compaction::{
    AnyPolicy, Fifo, FifoOptions, Leveled, LeveledOptions, PolicyConfig, SizeTiered, SizeTieredOptions,
};

#[test]
fn leveled_conforms() {
    conformance(&Leveled::default());
    let tight = LeveledOptions {
        l0_trigger: 2,
        base_level_bytes: 8 << 20,
        level_multiplier: 4,
        target_table_size: 2 << 20,
        num_levels: 4,
        intra_l0_merge: false,
    };
    conformance(&Leveled::new(tight).unwrap());
    conformance(&Leveled::new(LeveledOptions { intra_l0_merge: true, ..tight }).unwrap());
    conformance(&Leveled::new(LeveledOptions { intra_l0_merge: true, ..Default::default() }).unwrap());
}

#[test]
fn size_tiered_conforms() {
    conformance(&SizeTiered::default());
    let narrow = SizeTieredOptions { run_trigger: 3, min_merge_width: 2, max_merge_width: 3, ..Default::default() };
    conformance(&SizeTiered::new(narrow).unwrap());
}

#[test]
fn fifo_conforms() {
    conformance(&Fifo::default());
    conformance(&Fifo::new(FifoOptions { max_total_bytes: 100 << 20, max_age_ms: Some(600_000) }).unwrap());
}

#[test]
fn any_policy_conforms_under_every_name() {
    for name in PolicyConfig::NAMES {
        let policy = AnyPolicy::by_name(name).unwrap();
        assert_eq!(strata_compaction::CompactionPolicy::name(&policy), name);
        conformance(&policy);
    }
}
