//! `strata bench` on whole engines: db_bench's workloads and YCSB A to F, run the same way
//! on Strata and (when built with the features) RocksDB and fjall.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::engines::{self, BenchEngine, EngineConfig, EngineKind};
use super::workload::Rng;
use super::zipf::Zipf;

/// The workloads, by the names `--benchmarks` takes.
pub(crate) const WORKLOADS: [&str; 19] = [
    "fillseq",
    "fillrandom",
    "overwrite",
    "readrandom",
    "readmissing",
    "readseq",
    "readreverse",
    "seekrandom",
    "seekreverse",
    "deleterandom",
    "deleterange",
    "readwhilewriting",
    "ycsb-a",
    "ycsb-b",
    "ycsb-c",
    "ycsb-d",
    "ycsb-e",
    "ycsb-f",
    "compact",
];

/// What `strata bench` runs without `--benchmarks`, short or (`--full`) at full length: every
/// workload but `compact`, in an order where each finds the data it needs (fills first,
/// deletes last).
pub(crate) const SUITE: &[&str] = &[
    "fillseq",
    "fillrandom",
    "overwrite",
    "readrandom",
    "readmissing",
    "readseq",
    "readreverse",
    "seekrandom",
    "seekreverse",
    "readwhilewriting",
    "ycsb-a",
    "ycsb-b",
    "ycsb-c",
    "ycsb-d",
    "ycsb-e",
    "ycsb-f",
    "deleterandom",
];

/// How many operations a workload runs: the loads, overwrites and deletes touch every key
/// (`num`); the workloads on loaded data run `reads`, except YCSB E, whose scans are a
/// hundred times the work of a point read, which runs a tenth of that.
pub(crate) fn planned_ops(name: &str, num: u64, reads: u64) -> u64 {
    match name {
        "fillseq" | "fillrandom" | "overwrite" | "deleterandom" | "readseq" | "readreverse" => num,
        "compact" => 1,
        "deleterange" => deleted_span(num).1 - deleted_span(num).0,
        "ycsb-e" => (reads / 10).max(1),
        _ => reads,
    }
}

/// The keys `deleterange` deletes with one range delete: the tenth of the key space starting
/// at 45 %, as indexes `[start, end)`.
pub(crate) fn deleted_span(num: u64) -> (u64, u64) {
    let start = num * 45 / 100;
    (start, start + num / 10)
}

/// The key numbers a run has left in the database, as sorted, disjoint, non-adjacent ranges:
/// what space amplification divides by. (A set of every number took 9 bytes a key, 150 MB at
/// 10M keys, in the process whose peak memory a run reports.)
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LiveKeys(Vec<std::ops::Range<u64>>);

impl LiveKeys {
    fn insert(&mut self, keys: std::ops::Range<u64>) {
        if keys.is_empty() {
            return;
        }
        self.0.push(keys);
        self.0.sort_by_key(|r| r.start);
        let mut merged: Vec<std::ops::Range<u64>> = Vec::with_capacity(self.0.len());
        for r in self.0.drain(..) {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        self.0 = merged;
    }

    fn remove(&mut self, keys: std::ops::Range<u64>) {
        if keys.is_empty() {
            return;
        }
        self.0 = self
            .0
            .iter()
            .flat_map(|r| [r.start..r.end.min(keys.start), r.start.max(keys.end)..r.end])
            .filter(|r| !r.is_empty())
            .collect();
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    fn len(&self) -> u64 {
        self.0.iter().map(|r| r.end - r.start).sum()
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) engines: Vec<EngineKind>,
    pub(crate) workloads: Vec<String>,
    pub(crate) num: u64,
    /// Operations of each workload on loaded data (see [`planned_ops`]).
    pub(crate) reads: u64,
    pub(crate) key_size: usize,
    pub(crate) value_size: usize,
    /// db_bench's `--compression_ratio`: the share of each value a codec that finds repeats
    /// keeps (see [`value_pool`]).
    pub(crate) compression_ratio: f64,
    pub(crate) threads: usize,
    pub(crate) sync: bool,
    pub(crate) seek_nexts: usize,
    /// Puts per second `readwhilewriting`'s writer is held to; 0: as fast as it can.
    pub(crate) write_rate: u64,
    pub(crate) engine: EngineConfig,
    /// Where databases are made; each engine gets a fresh subdirectory.
    pub(crate) dir: PathBuf,
    /// Leave each engine's database in `dir` after its last workload (for its log, or
    /// `strata stats`), instead of removing it.
    pub(crate) keep_data: bool,
    /// Sample the anonymous resident set through the run for its peak (`--sample-memory`).
    pub(crate) sample_memory: bool,
    pub(crate) seed: u64,
    pub(crate) progress: bool,
}

/// One workload on one engine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Row {
    pub(crate) engine: String,
    pub(crate) workload: String,
    pub(crate) ops: u64,
    pub(crate) secs: f64,
    pub(crate) ops_per_sec: f64,
    pub(crate) mb_per_sec: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) p999_us: f64,
    /// Object-store requests of this workload, when Strata ran on one (`--store`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) store: Option<StoreUse>,
    /// `readwhilewriting`: the puts per second its writer made while the reads ran. An engine
    /// that writes faster also flushes and compacts more in that time, on the same cores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) writes_per_sec: Option<f64>,
    /// `compact`: the seconds spent first, untimed, waiting for the background flushes and
    /// compactions the workloads before it left running; `None` for an engine that cannot
    /// tell when they are done (fjall), whose `secs` then include whatever was left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) settle_secs: Option<f64>,
}

/// Object-store traffic of one workload, per operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoreUse {
    pub(crate) gets_per_op: f64,
    pub(crate) get_bytes_per_op: f64,
    pub(crate) puts: u64,
    pub(crate) put_bytes: u64,
    /// Reads the local disk cache served, of all reads that went to table bytes.
    pub(crate) cache_hit_ratio: f64,
}

impl StoreUse {
    fn between(before: &strata_object::ObjectStats, after: &strata_object::ObjectStats, ops: u64) -> Self {
        let per_op = |a: u64, b: u64| (a - b) as f64 / ops.max(1) as f64;
        let hits = after.cache_hits - before.cache_hits;
        let misses = after.cache_misses - before.cache_misses;
        Self {
            gets_per_op: per_op(after.gets, before.gets),
            get_bytes_per_op: per_op(after.get_bytes, before.get_bytes),
            puts: after.puts - before.puts,
            put_bytes: after.put_bytes - before.put_bytes,
            cache_hit_ratio: hits as f64 / (hits + misses).max(1) as f64,
        }
    }
}

impl Row {
    /// The row of one timed call (a compaction, a range delete) that did `ops` operations:
    /// every latency percentile is the call's own time.
    fn one_call(engine: &str, workload: &str, ops: u64, secs: f64) -> Self {
        Self {
            engine: engine.to_owned(),
            workload: workload.to_owned(),
            ops,
            secs,
            ops_per_sec: ops as f64 / secs.max(1e-9),
            mb_per_sec: 0.0,
            p50_us: secs * 1e6,
            p99_us: secs * 1e6,
            p999_us: secs * 1e6,
            store: None,
            writes_per_sec: None,
            settle_secs: None,
        }
    }
}

/// Called with each finished row and the rows before it (to compare engines).
pub(crate) type OnRow<'a> = dyn FnMut(&Row, &[Row]) -> Result<(), String> + 'a;

/// Per engine, after its workloads: sizes and amplification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EngineSummary {
    pub(crate) engine: String,
    /// Bytes of keys and values written by the workloads.
    pub(crate) user_bytes: u64,
    /// Bytes written to tables, when the engine reports it.
    pub(crate) table_bytes_written: Option<u64>,
    pub(crate) write_amplification: Option<f64>,
    /// Directory size after the run, before and after a full compaction.
    pub(crate) disk_bytes: u64,
    pub(crate) disk_bytes_after_compact: u64,
    /// Live key and value bytes (what a perfect store would hold).
    pub(crate) live_bytes: u64,
    /// Directory size per live byte; `None` when nothing is live (the run ended deleting).
    pub(crate) space_amplification: Option<f64>,
    /// Bytes uploaded to the object store (`--store`), and per user byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) uploaded_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) upload_amplification: Option<f64>,
    /// Where the tables' bytes go after the full compaction, when the engine says (Strata).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) table_parts: Option<Vec<engines::PartBytes>>,
    /// Rows the engine's compactions rewrote and copied over the whole run, the final full
    /// compaction included, when it counts them (Strata).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) compaction_rows: Option<engines::CompactionRows>,
    /// How long writers were held back over the workloads (before the final full
    /// compaction), when the engine counts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) write_stalls: Option<engines::WriteStalls>,
    /// The process's peak memory over the engine's run, its final full compaction included,
    /// when the engine ran alone in its process (Linux).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) memory: Option<super::memory::MemoryPeak>,
}

/// What a child process running one engine of a multi-engine run hands back: its rows and
/// its summary, as JSON in a file the parent names.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EngineReport {
    pub(crate) rows: Vec<Row>,
    pub(crate) summary: EngineSummary,
}

/// The whole run, as `--json` writes it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) benchmark: &'static str,
    pub(crate) num: u64,
    pub(crate) reads: u64,
    pub(crate) key_size: usize,
    pub(crate) value_size: usize,
    pub(crate) compression_ratio: f64,
    pub(crate) threads: usize,
    pub(crate) sync: bool,
    pub(crate) rows: Vec<Row>,
    pub(crate) engines: Vec<EngineSummary>,
    /// How often the machine stalled a spinning thread before the run (`--stall-probe-secs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) machine_stalls: Option<super::stalls::Stalls>,
}

/// The keys a run uses: `num` of them, `key_size` bytes each, an 8-byte big-endian index
/// then padding, as db_bench makes them.
struct Keys {
    key_size: usize,
}

impl Keys {
    fn key(&self, index: u64, buf: &mut Vec<u8>) {
        buf.clear();
        buf.extend_from_slice(&index.to_be_bytes());
        buf.resize(self.key_size.max(8), b'k');
    }

    /// A key no workload writes that sorts right after key `index` and before key
    /// `index + 1`: key `index` with its last padding byte changed (or, for 8-byte keys, one
    /// byte appended). Inside every table's key range, so only a Bloom filter can skip it.
    fn missing_key(&self, index: u64, buf: &mut Vec<u8>) {
        self.key(index, buf);
        if buf.len() > 8 {
            let last = buf.len() - 1;
            buf[last] = b'm';
        } else {
            buf.push(0);
        }
    }
}

/// The length of the pieces [`value_pool`] is made of, db_bench's.
const PIECE: usize = 100;

/// Value bytes as db_bench makes them for `--compression_ratio`: pieces of [`PIECE`] bytes,
/// each `ratio` of its bytes random printable characters repeated to fill it, so a codec that
/// finds repeats (LZ4, snappy) stores a piece in about `ratio` of its size, and one that also
/// codes entropy (zstd) in somewhat less. 1 MiB, or one value if larger.
fn value_pool(seed: u64, ratio: f64, value_size: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let len = (1 << 20).max(value_size).next_multiple_of(PIECE);
    let random = ((PIECE as f64 * ratio) as usize).clamp(1, PIECE);
    let mut pool = Vec::with_capacity(len);
    let mut piece = Vec::with_capacity(PIECE);
    while pool.len() < len {
        piece.clear();
        piece.extend((0..random).map(|_| b' ' + rng.below(95) as u8));
        while piece.len() < PIECE {
            let more = random.min(PIECE - piece.len());
            piece.extend_from_within(..more);
        }
        pool.extend_from_slice(&piece);
    }
    pool
}

/// Key `i`'s value: `value_size` bytes of `pool` from the start of a piece, as db_bench hands
/// out values of its piece length (for other lengths its pieces do not line up either).
fn value_in(pool: &[u8], value_size: usize, i: u64) -> &[u8] {
    let starts = (pool.len() - value_size) / PIECE + 1;
    let start = (i.wrapping_mul(0x9E37_79B9) as usize) % starts * PIECE;
    &pool[start..start + value_size]
}

/// What one workload thread does per operation.
#[derive(Clone, Copy)]
enum Op {
    Put,
    Get,
    /// A point read of [`Keys::missing_key`]; finding it is an error.
    GetMissing,
    Delete,
    Seek,
    /// A seek to the last key at or before the key, reading backwards.
    SeekReverse,
    /// YCSB F: read a key, then write it, timed as one operation.
    ReadModifyWrite,
}

struct Shared<'a> {
    engine: &'a dyn BenchEngine,
    keys: Keys,
    pool: &'a [u8],
    value_size: usize,
    sync: bool,
    seek_nexts: usize,
    num: u64,
    /// Keys inserted beyond `num` (YCSB D and E insert new keys).
    inserted: AtomicU64,
    /// The key indexes a `deleterange` removed, `[start, end)`: `readrandom` reads the
    /// others.
    deleted: Option<(u64, u64)>,
    user_bytes: AtomicU64,
}

impl Shared<'_> {
    /// How many keys `readrandom` picks from: the loaded keys a range delete left.
    fn remaining_keys(&self) -> u64 {
        self.deleted.map_or(self.num, |(start, end)| self.num - (end - start))
    }

    /// The `i`-th remaining key's index, for `i < remaining_keys()`.
    fn remaining(&self, i: u64) -> u64 {
        match self.deleted {
            Some((start, end)) if i >= start => i + (end - start),
            _ => i,
        }
    }

    fn value(&self, i: u64) -> &[u8] {
        value_in(self.pool, self.value_size, i)
    }

    fn run(&self, op: Op, index: u64, kbuf: &mut Vec<u8>) -> Result<u64, String> {
        if let Op::GetMissing = op {
            self.keys.missing_key(index, kbuf);
        } else {
            self.keys.key(index, kbuf);
        }
        match op {
            Op::Put => {
                self.engine.put(kbuf, self.value(index), self.sync)?;
                let bytes = (kbuf.len() + self.value_size) as u64;
                self.user_bytes.fetch_add(bytes, Ordering::Relaxed);
                Ok(bytes)
            }
            Op::Get => Ok(self.engine.get(kbuf)?.map_or(0, |len| (kbuf.len() + len) as u64)),
            Op::GetMissing => match self.engine.get(kbuf)? {
                None => Ok(0),
                Some(_) => Err(format!("readmissing found key {kbuf:02x?}, which no workload writes")),
            },
            Op::Delete => {
                self.engine.delete(kbuf, self.sync)?;
                self.user_bytes.fetch_add(kbuf.len() as u64, Ordering::Relaxed);
                Ok(kbuf.len() as u64)
            }
            Op::Seek => Ok((self.engine.seek(kbuf, self.seek_nexts)? * (self.keys.key_size + self.value_size)) as u64),
            Op::SeekReverse => {
                Ok((self.engine.seek_reverse(kbuf, self.seek_nexts)? * (self.keys.key_size + self.value_size)) as u64)
            }
            Op::ReadModifyWrite => {
                let read = self.engine.get(kbuf)?.map_or(0, |len| (kbuf.len() + len) as u64);
                self.engine.put(kbuf, self.value(index), self.sync)?;
                let bytes = (kbuf.len() + self.value_size) as u64;
                self.user_bytes.fetch_add(bytes, Ordering::Relaxed);
                Ok(read + bytes)
            }
        }
    }
}

/// One measured phase: which workload on which engine, how many operations on how many
/// threads.
struct Phase<'a> {
    name: &'a str,
    engine: &'a str,
    ops: u64,
    threads: usize,
    seed: u64,
}

/// Runs the phase's operations over its threads; `pick(thread_rng, i)` chooses each
/// operation and key. Returns the row.
#[expect(clippy::expect_used, reason = "3 significant digits is a valid histogram; no thread panics holding a lock")]
fn measure(
    shared: &Shared<'_>,
    phase: &Phase<'_>,
    bar: &ProgressBar,
    pick: &(dyn Fn(&mut Rng, u64) -> (Op, u64) + Sync),
) -> Result<Row, String> {
    let Phase { name, engine, ops, threads, seed } = *phase;
    let hist = Mutex::new(Histogram::<u64>::new(3).map_err(|e| e.to_string())?);
    let bytes = AtomicU64::new(0);
    let failed = Mutex::new(None);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (hist, bytes, failed) = (&hist, &bytes, &failed);
            s.spawn(move || {
                let mut local = Histogram::<u64>::new(3).expect("invariant: 3 significant digits is valid");
                let mut rng = Rng::new(seed ^ (t as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
                let mut kbuf = Vec::new();
                let mut my_bytes = 0;
                let mut i = t as u64;
                while i < ops {
                    let (op, index) = pick(&mut rng, i);
                    let t0 = Instant::now();
                    match shared.run(op, index, &mut kbuf) {
                        Ok(b) => my_bytes += b,
                        Err(e) => {
                            *failed.lock().expect("no panics while holding") = Some(e);
                            return;
                        }
                    }
                    let _ = local.record(t0.elapsed().as_nanos() as u64);
                    if i.is_multiple_of(1024) {
                        bar.inc(1024.min(ops));
                    }
                    i += threads as u64;
                }
                bytes.fetch_add(my_bytes, Ordering::Relaxed);
                let _ = hist.lock().expect("no panics while holding").add(local);
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    if let Some(e) = failed.into_inner().map_err(|_| "a worker panicked".to_owned())? {
        return Err(format!("{engine} {name}: {e}"));
    }
    let hist = hist.into_inner().map_err(|_| "a worker panicked".to_owned())?;
    let us = |q: f64| hist.value_at_quantile(q) as f64 / 1e3;
    Ok(Row {
        engine: engine.to_owned(),
        workload: name.to_owned(),
        ops,
        secs,
        ops_per_sec: ops as f64 / secs.max(1e-9),
        mb_per_sec: bytes.load(Ordering::Relaxed) as f64 / secs.max(1e-9) / 1e6,
        p50_us: us(0.5),
        p99_us: us(0.99),
        p999_us: us(0.999),
        store: None,
        writes_per_sec: None,
        settle_secs: None,
    })
}

/// Runs every workload on every engine, calling `on_row(row, earlier_rows)` the moment each
/// workload finishes (with the progress bar out of the way), so a caller can print it.
///
/// # Errors
///
/// When an engine fails an operation or cannot be opened, or `on_row` fails.
pub(crate) fn run(config: &Config, on_row: &mut OnRow<'_>) -> Result<Report, String> {
    let mut rows = Vec::new();
    let mut summaries = Vec::new();
    for &kind in &config.engines {
        kind.available()?;
    }
    let bar = if config.progress {
        let per_engine: u64 = config.workloads.iter().map(|w| planned_ops(w, config.num, config.reads)).sum();
        let bar = ProgressBar::new(per_engine * config.engines.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {percent:>3}% {elapsed_precise} {msg}")
                .map_err(|e| e.to_string())?,
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    for &kind in &config.engines {
        let dir = config.dir.join(kind.name());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        // A process's peak covers all it ran: only an engine alone in its process has one of
        // its own (each engine of a multi-engine run gets a child process unless asked not to).
        let alone = config.engines.len() == 1;
        let sampler = if alone && config.sample_memory { super::memory::Sampler::start() } else { None };
        let mut summary = run_engine(kind, &dir, config, &bar, &mut rows, on_row)?;
        summary.memory = match sampler {
            Some(sampler) => sampler.finish(),
            None if alone => super::memory::peak_resident_now(),
            None => None,
        };
        summaries.push(summary);
        if !config.keep_data {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    bar.finish_and_clear();
    Ok(Report::new(config, rows, summaries))
}

impl Report {
    /// The report of a run of `config` that made `rows` and, per engine, `engines`.
    pub(crate) fn new(config: &Config, rows: Vec<Row>, engines: Vec<EngineSummary>) -> Self {
        Self {
            benchmark: "engines",
            num: config.num,
            reads: config.reads,
            key_size: config.key_size,
            value_size: config.value_size,
            compression_ratio: config.compression_ratio,
            threads: config.threads,
            sync: config.sync,
            rows,
            engines,
            machine_stalls: None,
        }
    }
}

/// Runs the workloads on one engine, appending a row to `rows` (and reporting it) as each
/// finishes.
fn run_engine(
    kind: EngineKind,
    dir: &std::path::Path,
    config: &Config,
    bar: &ProgressBar,
    rows: &mut Vec<Row>,
    on_row: &mut OnRow<'_>,
) -> Result<EngineSummary, String> {
    let mut engine = engines::open(kind, dir, &config.engine)?;
    let mut user_bytes = 0;
    let num = config.num;
    let mut live = LiveKeys::default();
    let mut inserted_total = 0;
    let mut deleted = None;
    // The same value bytes for every workload, generated once.
    let pool = value_pool(config.seed, config.compression_ratio, config.value_size);
    for name in &config.workloads {
        bar.set_message(format!("{} {name}", kind.name()));
        if name.starts_with("fill") {
            // db_bench's fills start from an empty database.
            drop(engine);
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            engine = engines::open(kind, dir, &config.engine)?;
            live.clear();
            inserted_total = 0;
            deleted = None;
        }
        let shared = Shared {
            engine: &*engine,
            keys: Keys { key_size: config.key_size },
            pool: &pool,
            value_size: config.value_size,
            sync: config.sync,
            seek_nexts: config.seek_nexts,
            num,
            inserted: AtomicU64::new(inserted_total),
            deleted,
            user_bytes: AtomicU64::new(0),
        };
        let before = engine.store_stats();
        let mut row = run_workload(&shared, name, kind.name(), config, bar, &mut live)?;
        if let (Some(before), Some(after)) = (before, engine.store_stats()) {
            row.store = Some(StoreUse::between(&before, &after, row.ops));
        }
        inserted_total = shared.inserted.load(Ordering::Relaxed);
        if name == "deleterange" {
            deleted = Some(deleted_span(num));
        }
        user_bytes += shared.user_bytes.load(Ordering::Relaxed);
        bar.suspend(|| on_row(&row, rows))?;
        rows.push(row);
    }
    engine.flush()?;
    engine.wait_for_compactions()?;
    let write_stalls = engine.write_stalls();
    let written = engine.table_bytes_written();
    let disk = engines::disk_bytes(dir);
    engine.compact()?;
    engine.flush()?;
    let disk_after = engines::disk_bytes(dir);
    let table_parts = engine.table_parts()?;
    let compaction_rows = engine.compaction_rows();
    let uploaded = engine.store_stats().map(|s| s.put_bytes);
    let live_bytes = live.len() * (config.key_size + config.value_size) as u64;
    drop(engine);
    Ok(EngineSummary {
        engine: kind.name().to_owned(),
        user_bytes,
        table_bytes_written: written,
        write_amplification: written.map(|w| w as f64 / user_bytes.max(1) as f64),
        disk_bytes: disk,
        disk_bytes_after_compact: disk_after,
        live_bytes,
        space_amplification: (live_bytes > 0).then(|| disk as f64 / live_bytes as f64),
        uploaded_bytes: uploaded,
        upload_amplification: uploaded.map(|u| u as f64 / user_bytes.max(1) as f64),
        table_parts,
        compaction_rows,
        write_stalls,
        memory: None,
    })
}

/// Element `i` of a fixed pseudo-random permutation of `0..num`, for "each key once, in
/// random order".
///
/// The mix is a bijection of `0..2^bits` (multiplications by odd constants and a xorshift,
/// each invertible modulo `2^bits`), and cycle walking applies it again until the value falls
/// in `0..num`, which ends because `i`'s own cycle returns to `i`. (An earlier mix XORed in a
/// shift of its input, which is not invertible: at 10,000,000 keys a walk fell into a cycle
/// outside the range and never returned.)
fn permute(num: u64, i: u64) -> u64 {
    let bits = 64 - (num.max(2) - 1).leading_zeros();
    let mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let shift = (bits / 2).max(1);
    let mut x = i;
    loop {
        x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) & mask;
        x ^= x >> shift;
        x = x.wrapping_mul(0xD6E8_FEB8_6659_FD93) & mask;
        if x < num {
            return x;
        }
    }
}

/// Holds a loop to a rate: each step sleeps as long as the loop is ahead of it.
struct Pace {
    started: Instant,
    steps: u64,
    /// Steps per second; 0: no limit.
    rate: u64,
    /// Steps between checks of the clock: about one per millisecond of work at the rate.
    every: u64,
}

impl Pace {
    fn new(rate: u64) -> Self {
        Self { started: Instant::now(), steps: 0, rate, every: (rate / 1000).clamp(1, 64) }
    }

    fn step(&mut self) {
        self.steps += 1;
        if self.rate == 0 || !self.steps.is_multiple_of(self.every) {
            return;
        }
        let due = Duration::from_secs_f64(self.steps as f64 / self.rate as f64);
        if let Some(ahead) = due.checked_sub(self.started.elapsed()) {
            std::thread::sleep(ahead);
        }
    }

    /// Steps per second so far.
    fn per_sec(&self) -> f64 {
        self.steps as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }
}

fn run_workload(
    shared: &Shared<'_>,
    name: &str,
    engine: &str,
    config: &Config,
    bar: &ProgressBar,
    live: &mut LiveKeys,
) -> Result<Row, String> {
    let num = config.num;
    let ops = planned_ops(name, num, config.reads);
    let threads = config.threads.max(1);
    let seed = config.seed ^ name.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let permute = move |i: u64| permute(num, i);
    let zipf = Zipf::new(num, 0.99);
    let latest = |rng: &mut Rng, s: &Shared<'_>| -> u64 {
        let top = s.num + s.inserted.load(Ordering::Relaxed);
        top - 1 - zipf.rank(rng).min(top - 1)
    };
    let ycsb_insert = |s: &Shared<'_>| s.num + s.inserted.fetch_add(1, Ordering::Relaxed);
    let run = |ops: u64, threads: usize, pick: &(dyn Fn(&mut Rng, u64) -> (Op, u64) + Sync)| {
        measure(shared, &Phase { name, engine, ops, threads, seed }, bar, pick)
    };
    let row = match name {
        "fillseq" => run(num, threads, &|_, i| (Op::Put, i))?,
        "fillrandom" => run(num, threads, &|_, i| (Op::Put, permute(i)))?,
        "overwrite" => run(num, threads, &|r, _| (Op::Put, r.below(num as usize) as u64))?,
        "readrandom" => {
            let remaining = shared.remaining_keys().max(1) as usize;
            run(ops, threads, &|r, _| (Op::Get, shared.remaining(r.below(remaining) as u64)))?
        }
        "readmissing" => run(ops, threads, &|r, _| (Op::GetMissing, r.below(num as usize) as u64))?,
        "seekrandom" => run(ops, threads, &|r, _| (Op::Seek, r.below(num as usize) as u64))?,
        "seekreverse" => run(ops, threads, &|r, _| (Op::SeekReverse, r.below(num as usize) as u64))?,
        "deleterandom" => run(num, threads, &|_, i| (Op::Delete, permute(i)))?,
        "readseq" | "readreverse" => {
            let started = Instant::now();
            let n =
                if name == "readseq" { shared.engine.scan_all()? } else { shared.engine.scan_all_reverse()? } as u64;
            bar.inc(num);
            let secs = started.elapsed().as_secs_f64();
            Row {
                engine: engine.to_owned(),
                workload: name.to_owned(),
                ops: n,
                secs,
                ops_per_sec: n as f64 / secs.max(1e-9),
                mb_per_sec: (n * (config.key_size + config.value_size) as u64) as f64 / secs.max(1e-9) / 1e6,
                p50_us: 0.0,
                p99_us: 0.0,
                p999_us: 0.0,
                store: None,
                writes_per_sec: None,
                settle_secs: None,
            }
        }
        "deleterange" => {
            // One range delete of a tenth of the keys; the row counts the keys it deleted.
            let (start, end) = deleted_span(num);
            let (mut from, mut to) = (Vec::new(), Vec::new());
            shared.keys.key(start, &mut from);
            shared.keys.key(end, &mut to);
            let started = Instant::now();
            shared.engine.delete_range(&from, &to, config.sync)?;
            bar.inc(ops);
            let secs = started.elapsed().as_secs_f64();
            shared.user_bytes.fetch_add((from.len() + to.len()) as u64, Ordering::Relaxed);
            Row::one_call(engine, name, ops, secs)
        }
        "compact" => {
            // Not a workload: a full compaction, timed, so reads can be measured before and after.
            // The background work the writes before it left is waited for first and reported
            // apart: an engine that writes faster leaves more of it, and it is not the full
            // compaction's own cost.
            let settling = Instant::now();
            let settle_secs = shared.engine.wait_for_compactions()?.then(|| settling.elapsed().as_secs_f64());
            let started = Instant::now();
            shared.engine.compact()?;
            shared.engine.flush()?;
            bar.inc(1);
            Row { settle_secs, ..Row::one_call(engine, name, 1, started.elapsed().as_secs_f64()) }
        }
        "readwhilewriting" => {
            // One writer overwrites, at full speed or at `write_rate`, while the reader threads
            // are measured.
            let stop = AtomicBool::new(false);
            let mut result = Ok(None);
            std::thread::scope(|s| {
                let writer = s.spawn(|| {
                    let mut rng = Rng::new(seed ^ 0x5151);
                    let mut kbuf = Vec::new();
                    let mut pace = Pace::new(config.write_rate);
                    while !stop.load(Ordering::Relaxed) {
                        shared.run(Op::Put, rng.below(num as usize) as u64, &mut kbuf)?;
                        pace.step();
                    }
                    Ok::<f64, String>(pace.per_sec())
                });
                let readers = threads.max(1);
                result = run(ops, readers, &|r, _| (Op::Get, r.below(num as usize) as u64)).map(Some);
                stop.store(true, Ordering::Relaxed);
                match writer.join() {
                    Ok(Ok(rate)) => {
                        if let Ok(Some(row)) = &mut result {
                            row.writes_per_sec = Some(rate);
                        }
                    }
                    Ok(Err(e)) => result = Err(e),
                    Err(_) => result = Err("the writer panicked".to_owned()),
                }
            });
            result?.ok_or("readwhilewriting produced no row")?
        }
        "ycsb-a" | "ycsb-b" | "ycsb-c" | "ycsb-f" => {
            let reads_percent = match name {
                "ycsb-a" | "ycsb-f" => 50,
                "ycsb-b" => 95,
                _ => 100,
            };
            let write = if name == "ycsb-f" { Op::ReadModifyWrite } else { Op::Put };
            let pick = |r: &mut Rng, _: u64| {
                let key = zipf.scrambled(r);
                if r.below(100) < reads_percent { (Op::Get, key) } else { (write, key) }
            };
            run(ops, threads, &pick)?
        }
        "ycsb-d" => {
            let pick = |r: &mut Rng, _: u64| {
                if r.below(100) < 95 { (Op::Get, latest(r, shared)) } else { (Op::Put, ycsb_insert(shared)) }
            };
            run(ops, threads, &pick)?
        }
        "ycsb-e" => {
            let pick = |r: &mut Rng, _: u64| {
                if r.below(100) < 95 { (Op::Seek, zipf.scrambled(r)) } else { (Op::Put, ycsb_insert(shared)) }
            };
            run(ops, threads, &pick)?
        }
        other => return Err(format!("unknown workload {other:?}; valid: {}", WORKLOADS.join(", "))),
    };
    // Track which keys exist, for space amplification.
    match name {
        "fillseq" | "fillrandom" => live.insert(0..num),
        "deleterandom" => live.clear(),
        "deleterange" => {
            let (start, end) = deleted_span(num);
            live.remove(start..end);
        }
        "ycsb-d" | "ycsb-e" => live.insert(num..num + shared.inserted.load(Ordering::Relaxed)),
        _ => {}
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_keys_count_what_a_set_of_every_key_would() {
        let mut live = LiveKeys::default();
        let mut model = std::collections::BTreeSet::new();
        let check = |live: &LiveKeys, model: &std::collections::BTreeSet<u64>| {
            assert_eq!(live.len(), model.len() as u64, "{live:?}");
            assert!(live.0.windows(2).all(|w| w[0].end < w[1].start), "{live:?}");
        };
        for (insert, range) in
            [(true, 0..100), (true, 100..130), (true, 100..120), (false, 45..55), (true, 40..50), (false, 0..10)]
        {
            if insert {
                model.extend(range.clone());
                live.insert(range);
            } else {
                model.retain(|k| !range.contains(k));
                live.remove(range);
            }
            check(&live, &model);
        }
        assert_eq!(live.0, vec![10..50, 55..130]);
        live.insert(5..5);
        live.remove(20..20);
        live.remove(200..300);
        check(&live, &model);
        assert_eq!(live.0, vec![10..50, 55..130]);
        live.clear();
        assert_eq!(live.len(), 0);
    }

    #[test]
    fn a_paced_loop_never_runs_ahead_of_its_rate() {
        // The clock is checked every 10 steps at 10,000 a second, and the loop ends on a
        // check, so 1,000 steps take at least 0.1 s however fast the machine is.
        let mut pace = Pace::new(10_000);
        assert_eq!(pace.every, 10);
        for _ in 0..1_000 {
            pace.step();
        }
        assert!(pace.started.elapsed() >= Duration::from_millis(100), "{:?}", pace.started.elapsed());
        assert!(pace.per_sec() <= 10_010.0, "{}", pace.per_sec());
        assert_eq!((Pace::new(0).every, Pace::new(100).every, Pace::new(10_000_000).every), (1, 1, 64));
    }

    #[test]
    fn fillrandom_order_is_a_permutation_at_every_size() {
        // 10,000,000 is the size at which the earlier, non-invertible mix never returned.
        for num in [1u64, 2, 3, 1000, 1 << 20, (1 << 20) + 1, 10_000_000] {
            let mut seen = vec![false; num as usize];
            for i in 0..num {
                let x = permute(num, i) as usize;
                assert!(!seen[x], "{x} twice for num {num}");
                seen[x] = true;
            }
        }
    }

    #[test]
    fn missing_keys_fall_between_loaded_keys() {
        for key_size in [8, 9, 16, 64] {
            let keys = Keys { key_size };
            let (mut k, mut missing, mut next) = (Vec::new(), Vec::new(), Vec::new());
            for i in [0, 1, 255, 256, 999_999] {
                keys.key(i, &mut k);
                keys.missing_key(i, &mut missing);
                keys.key(i + 1, &mut next);
                assert!(k < missing && missing < next, "key size {key_size}, index {i}: {missing:02x?}");
            }
        }
    }

    #[test]
    fn values_repeat_their_random_share_as_db_bench_makes_them() {
        for (ratio, random) in [(0.5, 50), (0.25, 25), (0.1, 10)] {
            let pool = value_pool(7, ratio, 100);
            assert_eq!(pool.len() % PIECE, 0);
            assert!(pool.len() >= 1 << 20);
            let mut firsts = std::collections::HashSet::new();
            for i in 0..10_000 {
                let v = value_in(&pool, 100, i);
                assert!(v.iter().all(|b| (b' '..=b'~').contains(b)), "printable bytes only");
                for (at, b) in v.iter().enumerate() {
                    assert_eq!(*b, v[at % random], "ratio {ratio}: byte {at} repeats byte {}", at % random);
                }
                firsts.insert(v[..random].to_vec());
            }
            // About 10,486 pieces: 10,000 picks should land on thousands of distinct ones.
            assert!(firsts.len() > 5000, "ratio {ratio}: only {} distinct values", firsts.len());
        }
        // At ratio 1 a value is all random: its halves differ.
        let pool = value_pool(7, 1.0, 100);
        let repeated = (0..1000).filter(|&i| {
            let v = value_in(&pool, 100, i);
            v[..50] == v[50..]
        });
        assert_eq!(repeated.count(), 0);
    }

    #[test]
    fn values_of_any_size_fit_the_pool() {
        for value_size in [0, 1, 99, 100, 101, 4096, 1 << 20, (1 << 20) + 1, 3 << 20] {
            let pool = value_pool(3, 0.5, value_size);
            for i in [0, 1, 2, 1000, u64::MAX] {
                assert_eq!(value_in(&pool, value_size, i).len(), value_size);
            }
        }
    }

    #[test]
    fn read_workloads_run_reads_and_loads_run_num() {
        assert_eq!(planned_ops("fillrandom", 1000, 10), 1000);
        assert_eq!(planned_ops("deleterandom", 1000, 10), 1000);
        assert_eq!(planned_ops("readmissing", 1000, 10), 10);
        assert_eq!(planned_ops("deleterange", 1000, 10), 100);
        assert_eq!(deleted_span(1000), (450, 550));
        assert_eq!(planned_ops("ycsb-a", 1000, 10), 10);
        assert_eq!(planned_ops("ycsb-e", 1000, 100), 10);
        assert_eq!(planned_ops("ycsb-e", 1000, 5), 1, "at least one operation");
        for w in SUITE {
            assert!(WORKLOADS.contains(w), "{w} is not a workload");
        }
    }
}
