//! `strata bench --memtables`: every memtable variant on the same random workload.
//!
//! For each variant and size: insert `n` random keys single-threaded, look each of them up
//! in random order, scan everything in order, and measure the heap bytes the memtable took
//! (through the counting global allocator) next to what it reports. Variants whose cost is
//! linear per operation cannot finish a million entries in reasonable time; each phase has
//! a time budget, and a phase that runs out of it is reported as unfinished with how far it
//! got, never silently dropped.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use strata_core::{MAX_SEQNO, ValueKind};
use strata_memtable::{AnyMemtable, Memtable, MemtableKind, MemtableOptions};

use super::workload::{Rng, random_keys};
use strata_core::alloc::live_bytes;

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) kinds: Vec<MemtableKind>,
    pub(crate) sizes: Vec<usize>,
    pub(crate) key_len: usize,
    pub(crate) value_len: usize,
    /// Time allowed to each phase (insert, get) of one variant at one size.
    pub(crate) budget: Duration,
    pub(crate) seed: u64,
    pub(crate) progress: bool,
}

/// One variant at one size.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub(crate) memtable: String,
    pub(crate) entries: usize,
    /// Entries inserted; less than `entries` when the insert phase ran out of budget.
    pub(crate) inserted: usize,
    pub(crate) insert_ops_per_sec: f64,
    /// Lookups done; less than `inserted` when the get phase ran out of budget.
    pub(crate) gets: usize,
    pub(crate) get_ops_per_sec: f64,
    pub(crate) scan_ms: f64,
    pub(crate) scan_ns_per_entry: f64,
    /// Heap bytes per entry, as the counting allocator saw them.
    pub(crate) measured_bytes_per_entry: f64,
    /// `approximate_memory_usage()` per entry.
    pub(crate) reported_bytes_per_entry: f64,
}

impl Row {
    fn finished(&self) -> bool {
        self.inserted == self.entries && self.gets == self.inserted
    }
}

/// The whole run, as `--json` writes it.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) benchmark: &'static str,
    pub(crate) key_len: usize,
    pub(crate) value_len: usize,
    pub(crate) budget_secs: f64,
    pub(crate) rows: Vec<Row>,
}

/// Runs the benchmark.
///
/// # Errors
///
/// When a variant loses or misorders data: a benchmark of a wrong answer is worthless.
pub(crate) fn run(config: &Config) -> Result<Report, String> {
    // Before anything this comparison allocates; engine benchmarks never count, so the shared
    // counter does not slow their allocations (RocksDB's C++ heap never passed through it).
    strata_core::alloc::start_counting();
    let bar = if config.progress {
        let bar = ProgressBar::new((config.kinds.len() * config.sizes.len()) as u64);
        let style = ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed_precise} {msg}")
            .map_err(|e| format!("progress bar template: {e}"))?;
        bar.set_style(style);
        bar
    } else {
        ProgressBar::hidden()
    };
    let value = vec![b'v'; config.value_len];
    let mut rows = Vec::new();
    for &size in &config.sizes {
        let keys = random_keys(size, config.key_len, config.seed);
        for &kind in &config.kinds {
            bar.set_message(format!("{kind} x {size}"));
            rows.push(run_one(kind, &keys, &value, config)?);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(Report {
        benchmark: "memtables",
        key_len: config.key_len,
        value_len: config.value_len,
        budget_secs: config.budget.as_secs_f64(),
        rows,
    })
}

fn run_one(kind: MemtableKind, keys: &[Vec<u8>], value: &[u8], config: &Config) -> Result<Row, String> {
    let before = live_bytes();
    let m = AnyMemtable::new(kind, &MemtableOptions::default()).map_err(|e| e.to_string())?;

    let start = Instant::now();
    let mut inserted = 0;
    for (i, key) in keys.iter().enumerate() {
        if i % 256 == 0 && start.elapsed() > config.budget {
            break;
        }
        m.insert(key, i as u64 + 1, ValueKind::Put, value);
        inserted += 1;
    }
    let insert_secs = start.elapsed().as_secs_f64();
    let measured = (live_bytes() - before).max(0) as f64;
    let reported = m.approximate_memory_usage() as f64;

    let mut rng = Rng::new(config.seed ^ 0xDEAD_BEEF);
    let start = Instant::now();
    let mut gets = 0;
    while gets < inserted {
        if gets % 256 == 0 && start.elapsed() > config.budget {
            break;
        }
        let key = &keys[rng.below(inserted)];
        if m.get(key, MAX_SEQNO).is_none() {
            return Err(format!("{kind}: an inserted key was not found"));
        }
        gets += 1;
    }
    let get_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut scanned = 0usize;
    let mut last: Option<strata_core::Entry> = None;
    for e in m.iter() {
        if last.as_ref().is_some_and(|l| l.cmp_internal(&e).is_ge()) {
            return Err(format!("{kind}: a full scan came out of order"));
        }
        scanned += 1;
        last = Some(e);
    }
    let scan_secs = start.elapsed().as_secs_f64();
    if scanned != inserted {
        return Err(format!("{kind}: a full scan saw {scanned} entries, {inserted} were inserted"));
    }
    drop(m);

    let per = |x: f64, n: usize| if n == 0 { 0.0 } else { x / n as f64 };
    Ok(Row {
        memtable: kind.name().to_owned(),
        entries: keys.len(),
        inserted,
        insert_ops_per_sec: inserted as f64 / insert_secs.max(1e-9),
        gets,
        get_ops_per_sec: gets as f64 / get_secs.max(1e-9),
        scan_ms: scan_secs * 1e3,
        scan_ns_per_entry: per(scan_secs * 1e9, scanned),
        measured_bytes_per_entry: per(measured, inserted),
        reported_bytes_per_entry: per(reported, inserted),
    })
}

fn human(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

fn rate(ops_per_sec: f64) -> String {
    if ops_per_sec >= 1e6 { format!("{:.2} M/s", ops_per_sec / 1e6) } else { format!("{:.1} k/s", ops_per_sec / 1e3) }
}

/// The report as a table, one block per size, with insert speed relative to `skiplist`.
pub(crate) fn table(report: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "memtables: {}-byte keys, {}-byte values, random order, one thread; {:.0} s budget per phase",
        report.key_len, report.value_len, report.budget_secs
    );
    let mut sizes: Vec<usize> = report.rows.iter().map(|r| r.entries).collect();
    sizes.dedup();
    for size in sizes {
        let rows: Vec<&Row> = report.rows.iter().filter(|r| r.entries == size).collect();
        let base = rows.iter().find(|r| r.memtable == "skiplist" && r.finished()).map(|r| r.insert_ops_per_sec);
        let _ = writeln!(out, "\n{} entries", human(size));
        let _ = writeln!(
            out,
            "{:<18} {:>12} {:>8} {:>12} {:>10} {:>9} {:>10} {:>10}",
            "memtable", "insert", "vs skip", "get", "scan ms", "ns/entry", "B/entry", "reported"
        );
        for r in rows {
            let insert = if r.inserted < r.entries {
                format!("DNF {}/{}", human_approx(r.inserted), human(r.entries))
            } else {
                rate(r.insert_ops_per_sec)
            };
            let vs = match base {
                Some(b) if r.inserted == r.entries => format!("{:.2}x", r.insert_ops_per_sec / b),
                _ => "-".to_owned(),
            };
            let get =
                if r.gets < r.inserted { format!("DNF {}", human_approx(r.gets)) } else { rate(r.get_ops_per_sec) };
            let _ = writeln!(
                out,
                "{:<18} {:>12} {:>8} {:>12} {:>10.2} {:>9.1} {:>10.1} {:>10.1}",
                r.memtable,
                insert,
                vs,
                get,
                r.scan_ms,
                r.scan_ns_per_entry,
                r.measured_bytes_per_entry,
                r.reported_bytes_per_entry
            );
        }
    }
    let _ = writeln!(
        out,
        "\ninsert/get: operations per second; scan: one full ordered pass; B/entry: heap bytes per entry \
         measured by a counting allocator, and as the memtable reports them. DNF: the phase ran out of its \
         time budget after that many operations (rates are over the operations done)."
    );
    out
}

fn human_approx(n: usize) -> String {
    match n {
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.0}k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Config {
        Config {
            kinds: MemtableKind::ALL.to_vec(),
            sizes: vec![100, 500],
            key_len: 16,
            value_len: 20,
            budget: Duration::from_secs(60),
            seed: 1,
            progress: false,
        }
    }

    #[test]
    fn every_variant_finishes_small_sizes_and_reports_memory() {
        let report = run(&tiny()).expect("benchmark ran");
        assert_eq!(report.rows.len(), 16);
        for r in &report.rows {
            assert!(r.finished(), "{} did not finish {} entries", r.memtable, r.entries);
            assert!(r.insert_ops_per_sec > 0.0 && r.get_ops_per_sec > 0.0);
            // Each entry holds at least its key and value.
            assert!(r.reported_bytes_per_entry >= 36.0, "{}: {}", r.memtable, r.reported_bytes_per_entry);
        }
        let text = table(&report);
        for kind in MemtableKind::ALL {
            assert!(text.contains(kind.name()));
        }
        assert!(text.contains("500 entries"));
    }

    #[test]
    fn an_exhausted_budget_is_reported_not_hidden() {
        let config =
            Config { budget: Duration::ZERO, kinds: vec![MemtableKind::LinkedList], sizes: vec![2_000], ..tiny() };
        let report = run(&config).expect("benchmark ran");
        let row = &report.rows[0];
        assert!(row.inserted < row.entries, "a zero budget cannot insert everything");
        assert!(table(&report).contains("DNF"));
    }
}
