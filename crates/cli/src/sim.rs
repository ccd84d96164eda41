//! `strata sim`: a compaction policy on a synthetic write stream, simulated without I/O.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use strata_compaction::{AnyPolicy, SimConfig, SimReport, sim::KEY_BYTES, simulate};

const MIB: u64 = 1 << 20;

/// Options of `strata sim`.
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    #[command(flatten)]
    policy: crate::policy_args::PolicyArgs,
    /// User data to write, in MiB.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    total_mb: u64,
    /// Data per flush (memtable size), in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    flush_mb: u64,
    /// Distinct keys written to (default: half the entries written, so about 40% of writes
    /// overwrite a key).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    keys: Option<u64>,
    /// Value size in bytes (keys are 16 bytes).
    #[arg(long, default_value_t = 100)]
    value_size: u64,
    /// Seed of the synthetic key ranges.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also write the report as JSON to this file (`-` for standard output).
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Runs the simulation and prints its growth table.
pub(crate) fn run(args: &SimArgs) -> Result<(), String> {
    let config = args.policy.config()?;
    let policy = AnyPolicy::new(&config).map_err(|e| e.to_string())?;
    let total_bytes = args.total_mb * MIB;
    let entry_bytes = KEY_BYTES + args.value_size;
    let cfg = SimConfig {
        total_bytes,
        flush_bytes: args.flush_mb * MIB,
        key_space: args.keys.unwrap_or((total_bytes / entry_bytes / 2).max(1)),
        value_bytes: args.value_size,
        seed: args.seed,
    };
    cfg.validate().map_err(|e| e.to_string())?;
    let report = simulate(&policy, &cfg);
    print!("{}", table(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| format!("encoding JSON: {e}"))?;
        if path.as_os_str() == "-" {
            println!("{json}");
        } else {
            std::fs::write(path, json + "\n").map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
    }
    if report.stuck {
        return Err(format!("policy {} never stopped picking tasks after a flush", report.policy));
    }
    Ok(())
}

/// The report as a text table: one row per growth point, then task counts and final levels.
fn table(report: &SimReport) -> String {
    let c = &report.config;
    let mib = |b: u64| b as f64 / MIB as f64;
    let mut out = format!(
        "policy {}: {:.0} MiB of {}-byte entries in {:.0} MiB flushes over {} keys (simulated, no I/O)\n",
        report.policy,
        mib(c.total_bytes),
        c.entry_bytes(),
        mib(c.flush_bytes),
        c.key_space
    );
    let _ = writeln!(
        out,
        "{:>10} {:>12} {:>10} {:>10} {:>12} {:>10}",
        "user MiB", "written MiB", "write amp", "space amp", "sorted runs", "live MiB"
    );
    for p in &report.points {
        let _ = writeln!(
            out,
            "{:>10.1} {:>12.1} {:>10.2} {:>10.2} {:>12} {:>10.1}",
            mib(p.user_bytes),
            mib(p.table_bytes_written),
            p.write_amp,
            p.space_amp,
            p.sorted_runs,
            mib(p.live_bytes)
        );
    }
    let _ = write!(
        out,
        "tasks: {} merges, {} moves, {} drops; levels at the end:",
        report.merges, report.moves, report.drops
    );
    for (i, level) in report.levels.iter().enumerate().filter(|(_, l)| l.tables > 0 || l.written > 0) {
        let _ = write!(
            out,
            " L{i} {} tables {:.1} MiB ({:.1} MiB written there);",
            level.tables,
            mib(level.bytes),
            mib(level.written)
        );
    }
    out.push('\n');
    out
}
