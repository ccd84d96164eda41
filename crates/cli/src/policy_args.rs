//! The compaction policy flags `strata bench` and `strata sim` share.

use clap::Args;
use strata::PolicyConfig;

/// Which compaction policy, and the leveled policy's tuning.
#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    /// Compaction policy: leveled, size_tiered or fifo.
    #[arg(long, default_value = "leveled")]
    policy: String,
    /// Byte target of L1 under the leveled policy (db_bench's max_bytes_for_level_base); the
    /// engine's default (256 MiB) when absent.
    #[arg(long)]
    level_base_bytes: Option<u64>,
    /// L0 tables that start an L0 merge under the leveled policy (db_bench's
    /// level0_file_num_compaction_trigger); the engine's default (4) when absent. A higher
    /// trigger writes fewer bytes (each merge rewrites L1 for more new data) and leaves more L0
    /// tables for reads to merge.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    l0_trigger: Option<u64>,
    /// Under the leveled policy, merge L0 into one L0 table while it holds fewer bytes than it
    /// overlaps in L1, instead of into L1: true or false; the engine's default (true) when
    /// absent.
    #[arg(long)]
    intra_l0_merge: Option<bool>,
}

impl PolicyArgs {
    /// The policy the flags describe, validated.
    pub(crate) fn config(&self) -> Result<PolicyConfig, String> {
        let mut config = PolicyConfig::by_name(&self.policy).map_err(|e| e.to_string())?;
        let leveled = [
            ("--level-base-bytes", self.level_base_bytes.is_some()),
            ("--l0-trigger", self.l0_trigger.is_some()),
            ("--intra-l0-merge", self.intra_l0_merge.is_some()),
        ];
        let PolicyConfig::Leveled { base_level_bytes, l0_trigger, intra_l0_merge, .. } = &mut config else {
            return match leveled.iter().find(|(_, given)| *given) {
                Some((flag, _)) => Err(format!("{flag} applies to --policy leveled only")),
                None => Ok(config),
            };
        };
        if let Some(bytes) = self.level_base_bytes {
            *base_level_bytes = bytes;
        }
        if let Some(n) = self.l0_trigger {
            *l0_trigger = usize::try_from(n).map_err(|_| format!("--l0-trigger {n} is too large"))?;
        }
        if let Some(on) = self.intra_l0_merge {
            *intra_l0_merge = on;
        }
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}
