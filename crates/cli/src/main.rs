//! `strata`: benchmarks and tools for Strata stores.
//!
//! ```text
//! strata bench                                   db_bench-style workloads on Strata (about 2 minutes)
//! strata bench --full                            the same at full length (--reads = --num)
//! strata bench --engines strata,rocksdb,fjall    the same, side by side (needs the features)
//! strata bench --memtables                       compare the eight memtable variants
//! strata put|get|delete DIR KEY [VALUE]          single operations
//! strata delete-range DIR START END              delete every key in [START, END) with one record
//! strata scan DIR [--prefix P | --start A --end B] [--limit N] [--reverse]
//! strata stats DIR                               levels, tables, caches, amplification
//! strata inspect FILE.parquet                    one table's metadata, filter and rows
//! strata compact DIR                             compact everything
//! strata flush DIR                               write the memtables (and a replayed log) to tables
//! strata duckdb-view DIR [--name NAME]           a DuckDB view of the live data in the tables
//! strata checkpoint DIR DEST                     an openable copy at one sequence number
//! strata ingest DIR FILE.parquet...              bulk-load Parquet files (key and value columns)
//! strata sql DIR "select ..." [--json]           SQL over the live data (feature `sql`)
//! ```

mod bench;
mod commands;
mod location;
mod policy_args;
mod sim;
#[cfg(feature = "sql")]
mod sql;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use location::{Location, StoreArgs, Target};
use strata_memtable::MemtableKind;

#[global_allocator]
static GLOBAL: strata_core::alloc::CountingAllocator = strata_core::alloc::CountingAllocator;

/// Strata: an embeddable LSM-tree key-value store whose tables are Parquet files.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about)]
struct Cli {
    /// What opening a database does with damage in the newest log segment: `torn-tail`
    /// drops only a write torn at the end and refuses damage followed by valid records;
    /// `point-in-time` drops the log from the first damage on.
    #[arg(long, global = true, value_enum, default_value_t = RecoveryMode::TornTail)]
    wal_recovery: RecoveryMode,
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: Command,
}

/// [`strata::WalRecovery`] as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RecoveryMode {
    TornTail,
    PointInTime,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run benchmarks: db_bench-style workloads and YCSB on engines, or the memtable comparison.
    Bench(Box<BenchArgs>),
    /// Set KEY to VALUE (synced).
    Put {
        /// The database: a directory (created if missing) or an object-store URL.
        dir: Location,
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Print the value of KEY; exit status 1 when it is absent.
    Get {
        /// The database: a directory, or an object-store URL (s3://bucket/prefix).
        dir: Location,
        /// The key.
        key: String,
    },
    /// Delete KEY (synced).
    Delete {
        /// The database: a directory, or an object-store URL (s3://bucket/prefix).
        dir: Location,
        /// The key.
        key: String,
    },
    /// Delete every key in [START, END) with one range tombstone (synced): one record however
    /// many keys the range holds.
    DeleteRange {
        /// The database: a directory, or an object-store URL (s3://bucket/prefix).
        dir: Location,
        /// The first key deleted.
        start: String,
        /// The first key kept after the range (exclusive).
        end: String,
    },
    /// Print keys and values in order, tab-separated; bytes that are not printable as \xNN.
    Scan {
        /// The database: a directory, or an object-store URL (s3://bucket/prefix).
        dir: Location,
        /// Only keys starting with this.
        #[arg(long)]
        prefix: Option<String>,
        /// From this key (inclusive).
        #[arg(long)]
        start: Option<String>,
        /// Up to this key (exclusive).
        #[arg(long)]
        end: Option<String>,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<usize>,
        /// In descending key order: the last key first (with --limit, the last N).
        #[arg(long)]
        reverse: bool,
    },
    /// Levels, tables with sizes and key ranges, memtable use, cache hit rates, amplification.
    Stats {
        /// The database: a directory, or an object-store URL (s3://bucket/prefix).
        dir: Location,
    },
    /// One table file: metadata, row groups, filter size, and its first rows.
    Inspect {
        /// The table file (NNNNNN.parquet).
        file: PathBuf,
        /// How many rows to print.
        #[arg(long, default_value_t = 5)]
        rows: usize,
    },
    /// Compact the whole database.
    Compact {
        /// The database: a directory, or an object-store URL (s3://bucket/prefix).
        dir: Location,
    },
    /// Write the memtables to tables. Opening the database already writes the log it
    /// replays to tables, so this leaves every acknowledged write in a table file.
    Flush {
        /// The database: a directory, or an object-store URL (s3://bucket/prefix).
        dir: Location,
    },
    /// Print a DuckDB `CREATE OR REPLACE VIEW` over exactly the live table files of the
    /// manifest: the latest value of each key, deletes and range deletes applied. Unflushed
    /// memtable data is not included (run `strata flush DIR` first). Pipe it to `duckdb`.
    DuckdbView {
        /// The database: a directory, or an object-store URL (s3://bucket/prefix).
        dir: Location,
        /// The view's name.
        #[arg(long, default_value = "kv", value_parser = clap::builder::NonEmptyStringValueParser::new())]
        name: String,
    },
    /// Make DEST an openable copy of the database at one sequence number (tables are
    /// hard-linked where possible). DEST must not exist or must be empty.
    Checkpoint {
        /// The database: a directory, or an object-store URL (s3://bucket/prefix).
        dir: Location,
        /// The checkpoint's directory.
        dest: PathBuf,
    },
    /// Ingest Parquet files written by any tool: a binary or string key column and value
    /// column, rows in any order. All rows become visible at once, at one sequence number.
    Ingest(IngestArgs),
    /// Read every live table whole and check it: page checksums and decoding, row order,
    /// and agreement with the manifest; then look each key up through the point-read path.
    /// Lists every problem found; exit status 1 when there is one.
    Verify {
        /// The database: a directory, or an object-store URL (s3://bucket/prefix).
        dir: Location,
        /// Skip the point lookup of each key: only read the tables whole, which takes about
        /// a quarter of the time.
        #[arg(long)]
        no_point_lookups: bool,
    },
    /// Simulate a compaction policy on a synthetic write stream (no I/O): write and space
    /// amplification and sorted runs as the data grows.
    Sim(sim::SimArgs),
    /// Run SQL over the live database (table `kv`: the newest value of each key, memtables
    /// included) through DataFusion. Needs the `sql` feature.
    #[cfg(feature = "sql")]
    Sql(sql::SqlArgs),
}

#[derive(Debug, Args)]
struct IngestArgs {
    /// The database: a directory (created if missing) or an object-store URL.
    dir: Location,
    /// The Parquet files; with repeated keys, later files win over earlier ones.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The key column.
    #[arg(long, default_value = "key")]
    key_column: String,
    /// The value column.
    #[arg(long, default_value = "value")]
    value_column: String,
    /// Repeated keys: the last row wins, or the ingest fails.
    #[arg(long, value_enum, default_value_t = Duplicates::LastWins)]
    duplicates: Duplicates,
    /// Ignore columns other than the key and value columns (by default they are an error).
    #[arg(long)]
    ignore_extra_columns: bool,
    /// MiB of rows sorted in memory at a time when the input is not sorted.
    #[arg(long, default_value_t = 64)]
    sort_memory_mib: usize,
}

/// [`strata::DuplicateKeys`] as a command-line value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Duplicates {
    LastWins,
    Error,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Compare the eight memtable variants instead of running engine workloads.
    #[arg(long)]
    memtables: bool,
    /// Comma-separated engines: strata, rocksdb, fjall (peers need the cargo features of the same names).
    #[arg(long, value_delimiter = ',', default_value = "strata")]
    engines: Vec<String>,
    /// Comma-separated workloads: fillseq, fillrandom, overwrite, readrandom, readmissing (point
    /// reads of absent keys inside the loaded key range), readseq, readreverse (readseq in
    /// descending key order), seekrandom, seekreverse (seeks reading backwards), deleterandom,
    /// readwhilewriting, ycsb-a ... ycsb-f, compact (a full compaction, timed once the
    /// background work the writes left is done) and deleterange (one range delete of a tenth
    /// of the keys; readrandom after it reads the other keys).
    /// Default: all of them but compact and deleterange, in that order with deleterandom last.
    #[arg(long, value_delimiter = ',')]
    benchmarks: Option<Vec<String>>,
    /// Run at full length: --reads defaults to --num (1,000,000 operations per workload: about
    /// half an hour on 2 cores) instead of 20,000 (the whole run in about two minutes).
    #[arg(long)]
    full: bool,
    /// Number of keys loaded, and of operations of the loads, overwrite, readseq, readreverse
    /// and deleterandom.
    #[arg(long, default_value_t = 1_000_000)]
    num: u64,
    /// Operations of each workload on the loaded keys: readrandom, readmissing, seekrandom,
    /// seekreverse, readwhilewriting and ycsb-a ... ycsb-f (ycsb-e runs a tenth of it: each of
    /// its scans reads many entries). Default: 20000 (or --num if smaller), and --num with --full.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    reads: Option<u64>,
    /// Entry counts of the memtable comparison.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,5000,1000000")]
    sizes: Vec<usize>,
    /// Memtable names: the variant for engine workloads (one), or the variants to compare with --memtables.
    #[arg(long = "memtable", value_delimiter = ',', value_parser = parse_kind)]
    kinds: Vec<MemtableKind>,
    #[command(flatten)]
    policy: policy_args::PolicyArgs,
    /// Table compression of Strata: lz4, zstd, snappy or none.
    #[arg(long, default_value = "lz4")]
    compression: String,
    /// Strata's compression by level, comma-separated (level 0 first; the last also for every
    /// deeper level), for example `none,lz4,lz4,zstd`. Overrides --compression.
    #[arg(long, value_delimiter = ',')]
    compression_per_level: Vec<String>,
    /// Bytes per second Strata's flushes and compactions may write together (0: no limit).
    #[arg(long, default_value_t = 0)]
    compaction_rate: u64,
    /// Key ranges one Strata compaction is split into and merged in parallel (1: no split);
    /// the engine's default when absent.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64))]
    subcompactions: Option<u32>,
    /// Nice value of Strata's background merges below L0 on Linux (0 to 19, 0 keeps the
    /// process's); the engine's default (10) when absent.
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..=19))]
    compaction_nice: Option<i32>,
    /// Bytes per second Strata's writers may write while L0 is at or over its slowdown
    /// trigger, before L0's growth slows them further (`delayed_write_rate`); the engine's
    /// default (16 MiB/s) when absent.
    #[arg(long, value_parser = clap::value_parser!(u64).range(16384..))]
    delayed_write_rate: Option<u64>,
    /// Rows per Parquet data page in Strata's tables (the unit a cold point read decodes);
    /// the engine's default when absent.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    page_rows: Option<u32>,
    /// Rows per Parquet data page of the value column (a cold point read decodes its value
    /// page up to the value); the engine's default when absent.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    value_page_rows: Option<u32>,
    /// Also write Parquet's own Bloom filter into Strata's tables, for external engines
    /// (`table.parquet_bloom_filter = true`; Strata's lookups use their own filter either way).
    #[arg(long)]
    parquet_bloom: bool,
    /// Read Strata's tables with one `pread` per page instead of through a memory map
    /// (`table.mmap_reads = false`).
    #[arg(long)]
    no_mmap: bool,
    /// Append Strata's log with one `write` system call per write group instead of copying
    /// into a shared map of reserved space (`wal_mmap = false`).
    #[arg(long)]
    no_wal_mmap: bool,
    /// Make Strata's compactions rewrite every row, instead of copying whole the row groups
    /// nothing else touches (`copy_row_groups = false`).
    #[arg(long)]
    no_copy_row_groups: bool,
    /// Make Strata read back and check every table a flush or compaction writes before
    /// installing it (`verify_new_tables = true`).
    #[arg(long)]
    verify_new_tables: bool,
    /// Compaction bytes each extra L0 table a Strata iterator visits pays for, towards
    /// compacting L0 below its trigger (`seek_compaction_bytes`; 0 turns seek compaction
    /// off); the engine's default (16 KiB) when absent.
    #[arg(long)]
    seek_compaction_bytes: Option<u64>,
    /// Size of the Bloom filter in front of each Strata memtable, as a share of the memtable's
    /// size (`memtable_filter_ratio`; 0 keeps none); the engine's default (0.01) when absent.
    #[arg(long)]
    memtable_filter_ratio: Option<f64>,
    /// Let Strata's full block cache cache every page a read decodes, instead of only pages
    /// that missed twice within a while (`block_cache_admission = false`).
    #[arg(long)]
    no_cache_admission: bool,
    /// The least share of the value column's bytes compression must save for Strata to store
    /// a table's values compressed (`table.min_compression_saving`; 0 always compresses); the
    /// engine's default (0.125) when absent.
    #[arg(long)]
    min_compression_saving: Option<f64>,
    /// Rows per Parquet row group in Strata's tables; the engine's default when absent.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
    row_group_rows: Option<u32>,
    /// Key size in bytes (at least 8).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(8..=65_536))]
    key_size: u32,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=16_777_216))]
    value_size: u32,
    /// db_bench's `--compression_ratio`: each value is made of 100-byte pieces whose first
    /// ratio is random printable bytes and the rest repeats them, so LZ4 or snappy stores a
    /// value in about this share of its size. 1 makes values that do not compress.
    #[arg(long, default_value_t = 0.5, value_parser = parse_ratio)]
    compression_ratio: f64,
    /// Client threads per workload.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    threads: u32,
    /// Fsync every write.
    #[arg(long)]
    sync: bool,
    /// Entries read after each seek in seekrandom and seekreverse.
    #[arg(long, default_value_t = 100)]
    seek_nexts: usize,
    /// Puts per second readwhilewriting's writer is held to (0: as fast as it can, the
    /// default, as db_bench). An engine that writes faster also flushes and compacts more
    /// while the reads run, on the same cores; a fixed rate compares reads under one write
    /// load. The report shows the rate each writer made.
    #[arg(long, default_value_t = 0, value_parser = parse_write_rate)]
    write_rate: u64,
    /// Memtable size in bytes, for every engine.
    #[arg(long, default_value_t = 64 << 20)]
    memtable_size: usize,
    /// Block cache size in bytes, for every engine.
    #[arg(long, default_value_t = 64 << 20)]
    cache_size: usize,
    /// Where the databases are made (default: a temporary directory, removed afterwards).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Leave each engine's database under --db when the run ends (RocksDB's LOG, `strata
    /// stats` on Strata's), instead of removing it.
    #[arg(long, requires = "db")]
    keep_data: bool,
    /// Sample each engine's anonymous memory through its run (every 100 ms, Linux) and report
    /// its peak beside the resident peak. The sampling thread slows the timed threads (looking
    /// every 20 ms, it cost readwhilewriting 11 % in one test), so leave it off when timing.
    #[arg(long)]
    sample_memory: bool,
    /// Put Strata's tables and manifest in this object store (s3://bucket/prefix, with the
    /// global --endpoint and --store-cache-bytes), under a fresh prefix per database; the
    /// database directory keeps the log and the disk cache. Each workload's row is followed
    /// by its requests per operation.
    #[arg(long)]
    store: Option<String>,
    /// Seconds each phase of one memtable variant may take (memtable comparison only).
    #[arg(long, default_value_t = 20.0)]
    budget_secs: f64,
    /// Seed of the key generators.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also write the results as JSON to this file (`-` for standard output).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw engine throughput side by side into this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Seconds one thread spins before the run to measure how often this machine stalls a
    /// running thread (printed and in the JSON: tail latencies are read against it); 0 skips.
    #[arg(long, default_value_t = 1.0, value_parser = parse_probe_secs)]
    stall_probe_secs: f64,
    /// Run every engine in this one process, one after another. By default each engine of a
    /// run with several gets a fresh process: an engine that follows another in the same
    /// process finds the memory the first one freed already mapped, so its first reads skip
    /// the page faults the first engine's paid.
    #[arg(long)]
    one_process: bool,
    /// Run the one engine of --engines for a parent run and write its rows and summary to this
    /// file as JSON, printing its rows without ratios (how each engine gets its own process).
    #[arg(long, hide = true)]
    child_report: Option<PathBuf>,
}

/// `--reads` unless `--full`: enough operations for p50 and p99 to settle, few enough that the
/// whole default run takes about two minutes on two shared cores, not half an hour.
const DEFAULT_READS: u64 = 20_000;

fn parse_kind(name: &str) -> Result<MemtableKind, String> {
    name.parse().map_err(|e: strata_memtable::Error| e.to_string())
}

/// Seconds of the stall probe: 0 (skip) to 60.
fn parse_probe_secs(text: &str) -> Result<f64, String> {
    let secs: f64 = text.parse().map_err(|e| format!("{text:?} is not a number: {e}"))?;
    if (0.0..=60.0).contains(&secs) { Ok(secs) } else { Err(format!("{secs} is outside [0, 60]")) }
}

/// Puts per second: 0 (no limit) or 100 to 100,000,000.
fn parse_write_rate(text: &str) -> Result<u64, String> {
    let rate: u64 = text.parse().map_err(|e| format!("{text:?} is not a whole number: {e}"))?;
    if rate == 0 || (100..=100_000_000).contains(&rate) {
        Ok(rate)
    } else {
        Err(format!("{rate} is outside 100 to 100000000 (0: no limit)"))
    }
}

/// A compression ratio: a share of the value above 0 and at most 1.
fn parse_ratio(text: &str) -> Result<f64, String> {
    let ratio: f64 = text.parse().map_err(|e| format!("{text:?} is not a number: {e}"))?;
    if ratio > 0.0 && ratio <= 1.0 { Ok(ratio) } else { Err(format!("{ratio} is outside (0, 1]")) }
}

/// The variable that sets what the engine logs to standard error: a level (`error`, `warn`,
/// `info`, `debug`, `trace`, `off`) and per-target levels, comma-separated, for example
/// `info` or `warn,strata=info`. Default `warn`.
const LOG_VAR: &str = "STRATA_LOG";

/// Sends the engine's `tracing` events at or above [`LOG_VAR`]'s levels to standard error.
fn init_logging() -> Result<(), String> {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let spec = std::env::var(LOG_VAR).unwrap_or_else(|_| "warn".to_owned());
    let bad = |why: String| {
        format!("{LOG_VAR}={spec:?} is not a log filter (for example `info` or `warn,strata=info`): {why}")
    };
    // NOTE: `Targets` reads a bare word as a target to log at every level, so a misspelt level
    // would log nothing and say nothing; a bare word must be a level here.
    if let Some(word) = spec.split(',').find(|d| !d.contains('=') && d.parse::<LevelFilter>().is_err()) {
        return Err(bad(format!("{word:?} is not a level")));
    }
    let filter: Targets = spec.parse().map_err(|e| bad(format!("{e}")))?;
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false))
        .with(filter)
        .try_init()
        .map_err(|e| format!("setting up logging: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let base = strata::Options::default().wal_recovery(match cli.wal_recovery {
        RecoveryMode::TornTail => strata::WalRecovery::TornTail,
        RecoveryMode::PointInTime => strata::WalRecovery::PointInTime,
    });
    let store = cli.store.clone();
    let at = |location: Location| Target::new(location, store.clone());
    let result = match cli.command {
        Command::Bench(args) if args.memtables => bench_memtables(&args),
        Command::Bench(args) => bench_engines(&args, &cli.store),
        Command::Put { dir, key, value } => commands::put(&at(dir), &base, &key, &value),
        Command::Get { dir, key } => match commands::get(&at(dir), &base, &key) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("key not found: {key}")),
            Err(e) => Err(e),
        },
        Command::Delete { dir, key } => commands::delete(&at(dir), &base, &key),
        Command::DeleteRange { dir, start, end } => commands::delete_range(&at(dir), &base, &start, &end),
        Command::Scan { dir, prefix, start, end, limit, reverse } => {
            let range = commands::ScanRange { prefix: prefix.as_deref(), start: start.as_deref(), end: end.as_deref() };
            commands::scan(&at(dir), &base, &range, limit, reverse).map(|_| ())
        }
        Command::Stats { dir } => commands::stats(&at(dir), &base).map(|s| print!("{s}")),
        Command::Inspect { file, rows } => commands::inspect(&file, rows).map(|s| print!("{s}")),
        Command::Compact { dir } => commands::compact(&at(dir), &base).map(|s| println!("{s}")),
        Command::Flush { dir } => commands::flush(&at(dir), &base).map(|s| println!("{s}")),
        Command::DuckdbView { dir, name } => commands::duckdb_view(&at(dir), &base, &name).map(|s| print!("{s}")),
        Command::Checkpoint { dir, dest } => commands::checkpoint(&at(dir), &base, &dest).map(|s| println!("{s}")),
        Command::Ingest(args) => ingest(&args, &at(args.dir.clone()), &base).map(|s| println!("{s}")),
        Command::Verify { dir, no_point_lookups } => verify(&at(dir), &base, !no_point_lookups),
        Command::Sim(args) => sim::run(&args),
        #[cfg(feature = "sql")]
        Command::Sql(args) => sql::run(&args, &at(args.dir.clone()), &base).map(|s| print!("{s}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("strata: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A progress bar of rows on standard error when it is a terminal; hidden otherwise.
fn rows_bar() -> Result<indicatif::ProgressBar, String> {
    use indicatif::{ProgressBar, ProgressStyle};
    if !std::io::stderr().is_terminal() {
        return Ok(ProgressBar::hidden());
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("{bar:30} {percent:>3}% {pos}/{len} rows {elapsed_precise} {msg}")
        .map_err(|e| e.to_string())?;
    bar.set_style(style);
    Ok(bar)
}

fn ingest(args: &IngestArgs, target: &Target, base: &strata::Options) -> Result<String, String> {
    let bar = rows_bar()?;
    let options = strata::IngestOptions::default()
        .key_column(args.key_column.as_str())
        .value_column(args.value_column.as_str())
        .duplicates(match args.duplicates {
            Duplicates::LastWins => strata::DuplicateKeys::LastWins,
            Duplicates::Error => strata::DuplicateKeys::Error,
        })
        .extra_columns(if args.ignore_extra_columns {
            strata::ExtraColumns::Ignore
        } else {
            strata::ExtraColumns::Reject
        })
        .sort_memory(args.sort_memory_mib.saturating_mul(1 << 20));
    let progress = bar.clone();
    let options = options.progress(move |p| {
        progress.set_length(p.total);
        progress.set_position(p.done);
        progress.set_message(match p.phase {
            strata::IngestPhase::Checking => "checking keys",
            strata::IngestPhase::Sorting => "sorting",
            _ => "writing tables",
        });
    });
    let db = target.open(base, location::Access::Create)?;
    let started = std::time::Instant::now();
    let summary = db.ingest(&args.files, &options).map_err(|e| e.to_string());
    bar.finish_and_clear();
    let summary = summary?;
    target.close(db)?;
    let placed = match (summary.level, summary.seq) {
        (Some(level), Some(seq)) => format!(" into L{level} at sequence {seq}"),
        _ => String::new(),
    };
    let how = if summary.sorted_input {
        "input already sorted".to_owned()
    } else {
        format!("input sorted, {} runs spilled", summary.spilled_runs)
    };
    Ok(format!(
        "ingested {} keys ({} rows) as {} tables ({:.1} MiB){placed} in {:.2} s; {how}",
        summary.rows,
        summary.input_rows,
        summary.tables,
        summary.bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64(),
    ))
}

/// `strata verify`: prints what was checked and every problem; fails when there is one.
fn verify(target: &Target, base: &strata::Options, point_lookups: bool) -> Result<(), String> {
    let bar = rows_bar()?;
    let progress = bar.clone();
    let options = strata::VerifyOptions::default().point_lookups(point_lookups).progress(move |p| {
        progress.set_length(p.rows);
        progress.set_position(p.rows_done);
        progress.set_message(format!("table {} of {}", (p.tables_done + 1).min(p.tables), p.tables));
    });
    let db = target.open(base, location::Access::Read)?;
    let started = std::time::Instant::now();
    let report = db.verify(&options);
    bar.finish_and_clear();
    // Opened to read (read-only on an object store): nothing to flush or seal.
    drop(db);
    let lookups = if point_lookups { format!(", {} keys looked up", report.lookups) } else { String::new() };
    println!(
        "verified {} tables ({:.1} MiB, {} rows{lookups}) in {:.2} s",
        report.tables,
        report.bytes as f64 / (1 << 20) as f64,
        report.rows,
        started.elapsed().as_secs_f64(),
    );
    for problem in &report.problems {
        println!("problem: {problem}");
    }
    match report.problems.len() {
        0 => Ok(()),
        1 => Err("1 problem found".to_owned()),
        n => Err(format!("{n} problems found")),
    }
}

fn write_json(path: &PathBuf, value: &impl serde::Serialize) -> Result<(), String> {
    let json = serde_json::to_string_pretty(value).map_err(|e| format!("encoding JSON: {e}"))?;
    if path.as_os_str() == "-" {
        println!("{json}");
        Ok(())
    } else {
        std::fs::write(path, json + "\n").map_err(|e| format!("writing {}: {e}", path.display()))
    }
}

/// Runs each engine of `config` in a child process of this program with the same arguments,
/// one after another, and gathers their rows and summaries. The children print their rows
/// as they finish, to standard error when `to_stderr` (the JSON goes to standard output).
fn bench_in_children(config: &bench::engine::Config, to_stderr: bool) -> Result<bench::engine::Report, String> {
    for kind in &config.engines {
        kind.available()?;
    }
    let exe = std::env::current_exe().map_err(|e| format!("finding this program to run each engine: {e}"))?;
    let reports = tempfile::Builder::new().prefix("strata-bench-reports-").tempdir().map_err(|e| e.to_string())?;
    let (mut rows, mut summaries) = (Vec::new(), Vec::new());
    for (i, kind) in config.engines.iter().enumerate() {
        let path = reports.path().join(format!("{i}-{}.json", kind.name()));
        let mut child = std::process::Command::new(&exe);
        child.args(child_args(kind.name(), &path));
        if to_stderr {
            child.stdout(std::io::stderr());
        }
        let status = child.status().map_err(|e| format!("starting the {} run: {e}", kind.name()))?;
        if !status.success() {
            return Err(format!("the {} run failed ({status})", kind.name()));
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("reading the {} run's report: {e}", kind.name()))?;
        let report: bench::engine::EngineReport =
            serde_json::from_str(&text).map_err(|e| format!("the {} run's report: {e}", kind.name()))?;
        rows.extend(report.rows);
        summaries.push(report.summary);
    }
    Ok(bench::engine::Report::new(config, rows, summaries))
}

/// This process's arguments for a child that runs `engine` alone and reports to `report`:
/// the same, without the options that name the engines, the outputs or the stall probe
/// (the parent keeps those).
fn child_args(engine: &str, report: &std::path::Path) -> Vec<std::ffi::OsString> {
    const PARENT_ONLY: [&str; 5] = ["--engines", "--json", "--plot", "--stall-probe-secs", "--child-report"];
    let mut kept = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if PARENT_ONLY.contains(&text.as_ref()) {
            args.next();
        } else if !PARENT_ONLY.iter().any(|flag| text.strip_prefix(flag).is_some_and(|rest| rest.starts_with('='))) {
            kept.push(arg);
        }
    }
    kept.extend(["--engines".into(), engine.into(), "--stall-probe-secs".into(), "0".into(), "--child-report".into()]);
    kept.push(report.as_os_str().to_owned());
    kept
}

fn warn_debug_build() {
    if cfg!(debug_assertions) {
        eprintln!("strata: warning: this is a debug build; benchmark figures need --release");
    }
}

fn bench_memtables(args: &BenchArgs) -> Result<(), String> {
    if args.sizes.is_empty() || args.sizes.contains(&0) {
        return Err("--sizes must list entry counts of at least 1".to_owned());
    }
    if !(args.budget_secs.is_finite() && args.budget_secs > 0.0) {
        return Err(format!("--budget-secs must be a positive number of seconds, got {}", args.budget_secs));
    }
    warn_debug_build();
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
        write_json(path, &report)?;
    }
    Ok(())
}

fn bench_engines(args: &BenchArgs, store: &StoreArgs) -> Result<(), String> {
    use bench::engines::{EngineConfig, EngineKind};
    let engines = args.engines.iter().map(|e| EngineKind::parse(e)).collect::<Result<Vec<_>, _>>()?;
    let workloads: Vec<String> = match &args.benchmarks {
        Some(list) => list.clone(),
        None => bench::engine::SUITE.iter().map(|&w| w.to_owned()).collect(),
    };
    for w in &workloads {
        if !bench::engine::WORKLOADS.contains(&w.as_str()) {
            return Err(format!("unknown benchmark {w:?}; valid: {}", bench::engine::WORKLOADS.join(", ")));
        }
    }
    if args.num == 0 {
        return Err("--num must be at least 1".into());
    }
    let reads = args.reads.unwrap_or(if args.full { args.num } else { args.num.min(DEFAULT_READS) });
    let memtable = match args.kinds.as_slice() {
        [] => MemtableKind::default(),
        [one] => *one,
        _ => return Err("engine benchmarks take one --memtable".into()),
    };
    let compaction = args.policy.config()?;
    let codec = |name: &str| match name {
        "lz4" => Ok(strata::CompressionName::Lz4),
        "zstd" => Ok(strata::CompressionName::Zstd),
        "snappy" => Ok(strata::CompressionName::Snappy),
        "none" => Ok(strata::CompressionName::None),
        other => Err(format!("unknown compression {other:?}; valid: lz4, zstd, snappy, none")),
    };
    let mut strata_options = strata::Options {
        memtable_type: memtable,
        compaction,
        compaction_rate_bytes_per_sec: args.compaction_rate,
        ..strata::Options::default()
    }
    .compression(codec(&args.compression)?);
    if let Some(rate) = args.delayed_write_rate {
        strata_options.delayed_write_rate = rate;
    }
    if let Some(nice) = args.compaction_nice {
        strata_options.compaction_nice = nice;
    }
    if let Some(n) = args.subcompactions {
        strata_options.max_subcompactions = n as usize;
    }
    strata_options.table.compression_per_level =
        args.compression_per_level.iter().map(|c| codec(c)).collect::<Result<_, _>>()?;
    if let Some(rows) = args.page_rows {
        strata_options.table.page_rows = rows as usize;
    }
    if let Some(rows) = args.value_page_rows {
        strata_options.table.value_page_rows = rows as usize;
    }
    if let Some(rows) = args.row_group_rows {
        strata_options.table.row_group_rows = rows as usize;
    }
    if args.parquet_bloom {
        strata_options.table.parquet_bloom_filter = true;
    }
    if args.no_mmap {
        strata_options.table.mmap_reads = false;
    }
    if args.no_wal_mmap {
        strata_options.wal_mmap = false;
    }
    if args.no_copy_row_groups {
        strata_options.copy_row_groups = false;
    }
    strata_options.verify_new_tables = args.verify_new_tables;
    if let Some(bytes) = args.seek_compaction_bytes {
        strata_options.seek_compaction_bytes = bytes;
    }
    if let Some(ratio) = args.memtable_filter_ratio {
        strata_options.memtable_filter_ratio = ratio;
    }
    if args.no_cache_admission {
        strata_options.block_cache_admission = false;
    }
    if let Some(share) = args.min_compression_saving {
        strata_options.table.min_compression_saving = share;
    }
    if args.child_report.is_none() {
        warn_debug_build();
    }
    let temp;
    let dir = match &args.db {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::Builder::new().prefix("strata-bench-").tempdir().map_err(|e| e.to_string())?;
            temp.path().to_owned()
        }
    };
    let config = bench::engine::Config {
        engines,
        workloads,
        num: args.num,
        reads,
        key_size: args.key_size as usize,
        value_size: args.value_size as usize,
        compression_ratio: args.compression_ratio,
        threads: args.threads as usize,
        sync: args.sync,
        seek_nexts: args.seek_nexts,
        write_rate: args.write_rate,
        engine: EngineConfig {
            memtable_bytes: args.memtable_size,
            cache_bytes: args.cache_size,
            strata: strata_options,
            store: args.store.clone().map(|url| (url, store.object_options())),
        },
        dir,
        keep_data: args.keep_data,
        sample_memory: args.sample_memory,
        seed: args.seed,
        progress: std::io::stderr().is_terminal(),
    };
    // The table goes to standard output as it is made, unless the JSON goes there.
    let mut out: Box<dyn Write> = if args.json.as_ref().is_some_and(|p| p.as_os_str() == "-") {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let mut emit = |text: &str| -> Result<(), String> {
        out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| format!("writing the table: {e}"))
    };
    if let Some(path) = &args.child_report {
        let report = bench::engine::run(&config, &mut |row, _| emit(&bench::report::row_line(row, None)))?;
        let summary = report.engines.into_iter().next().ok_or("the engine run left no summary")?;
        return write_json(path, &bench::engine::EngineReport { rows: report.rows, summary });
    }
    emit(&bench::report::header(
        config.num,
        config.reads,
        config.key_size,
        config.value_size,
        config.compression_ratio,
        config.threads,
        config.sync,
    ))?;
    let stalls =
        (args.stall_probe_secs > 0.0).then(|| bench::stalls::probe(Duration::from_secs_f64(args.stall_probe_secs)));
    if let Some(s) = &stalls {
        emit(&s.line())?;
    }
    emit(&bench::report::columns())?;
    let mut report = if config.engines.len() > 1 && !args.one_process {
        emit("(each engine runs in a process of its own; --one-process runs them in this one)\n")?;
        let to_stderr = args.json.as_ref().is_some_and(|p| p.as_os_str() == "-");
        bench_in_children(&config, to_stderr)?
    } else {
        bench::engine::run(&config, &mut |row, earlier| {
            emit(&bench::report::row_line(row, bench::report::strata_ops(earlier, &row.workload)))
        })?
    };
    report.machine_stalls = stalls;
    if report.engines.len() > 1 {
        emit(&bench::report::side_by_side(&report))?;
    }
    emit(&bench::report::summary(&report))?;
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    if let Some(path) = &args.plot {
        bench::plot::draw(&report, path)?;
        eprintln!("strata: plot written to {}", path.display());
    }
    Ok(())
}
