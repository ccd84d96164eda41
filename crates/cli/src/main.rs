//! `strata`: benchmarks and tools for Strata stores.
//!
//! ```text
//! strata bench --memtables                 compare the eight memtable variants
//! strata bench --memtables --json out.json also write the figures as JSON
//! ```

mod alloc;
mod bench;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use strata_memtable::MemtableKind;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Strata: an embeddable LSM-tree key-value store whose tables are Parquet files.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run benchmarks.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Compare the memtable variants: insert, point get, full scan and memory per entry.
    #[arg(long, required = true)]
    memtables: bool,
    /// Comma-separated entry counts.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,5000,1000000")]
    sizes: Vec<usize>,
    /// Comma-separated memtable names (default: all eight).
    #[arg(long = "memtable", value_delimiter = ',', value_parser = parse_kind)]
    kinds: Vec<MemtableKind>,
    /// Key size in bytes (at least 8).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(8..=65_536))]
    key_size: u32,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=16_777_216))]
    value_size: u32,
    /// Seconds each phase of one variant at one size may take before it is reported
    /// unfinished.
    #[arg(long, default_value_t = 20.0)]
    budget_secs: f64,
    /// Seed of the key generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also write the results as JSON to this file (`-` for standard output).
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_kind(name: &str) -> Result<MemtableKind, String> {
    name.parse().map_err(|e: strata_memtable::Error| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(args) => bench_memtables(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("strata: {message}");
            ExitCode::FAILURE
        }
    }
}

fn bench_memtables(args: &BenchArgs) -> Result<(), String> {
    debug_assert!(args.memtables, "clap requires --memtables");
    if args.sizes.is_empty() || args.sizes.contains(&0) {
        return Err("--sizes must list entry counts of at least 1".to_owned());
    }
    if !(args.budget_secs.is_finite() && args.budget_secs > 0.0) {
        return Err(format!("--budget-secs must be a positive number of seconds, got {}", args.budget_secs));
    }
    if cfg!(debug_assertions) {
        eprintln!("strata: warning: this is a debug build; benchmark figures need --release");
    }
    let config = bench::memtables::Config {
        kinds: if args.kinds.is_empty() { MemtableKind::ALL.to_vec() } else { args.kinds.clone() },
        sizes: args.sizes.clone(),
        key_len: args.key_size as usize,
        value_len: args.value_size as usize,
        budget: Duration::from_secs_f64(args.budget_secs),
        seed: args.seed,
        progress: std::io::stderr().is_terminal(),
    };
    let report = bench::memtables::run(&config)?;
    print!("{}", bench::memtables::table(&report));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| format!("encoding JSON: {e}"))?;
        if path.as_os_str() == "-" {
            println!("{json}");
        } else {
            std::fs::write(path, json + "\n").map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
    }
    Ok(())
}
