//! Simulating a policy on a synthetic write stream, without I/O.
//!
//! # The model
//!
//! * Keys are drawn uniformly at random from `key_space` distinct keys of
//!   [`KEY_BYTES`] bytes each, with values of `value_bytes`; every write is a put.
//! * A flush turns `flush_bytes` of writes (`n` entries) into one L0 table. Its key range is
//!   the minimum and maximum of `n` uniform draws (sampled), and it holds the expected number of
//!   distinct keys among them, `K (1 - e^(-n/K))`, spread evenly over its range.
//! * A table is a key interval with a key count, keys assumed spread evenly over it. A merge
//!   cuts the inputs' hull at every input boundary; in each piece the density of the union is
//!   `1 - Π(1 - dᵢ)` over the inputs covering it (independent uniform key sets: overwrites are
//!   deduplicated in proportion to overlap). The output is cut into tables of
//!   `target_table_size` bytes, and, as the executor does, where a table of the level below
//!   starts once the output holds half of that. Moves and drops change no bytes.
//! * After each flush, `pick` and apply run until the policy picks nothing.
//!
//! Reported, at about sixteen points as the data grows: user bytes written, bytes written to
//! tables (flushes and compactions), write amplification (the ratio of the two), space
//! amplification (bytes in tables over the bytes of the distinct keys written so far; FIFO
//! drops data, so it can fall below 1), sorted runs (L0 tables plus non-empty deeper levels)
//! and those live bytes.

use std::collections::HashMap;

use bytes::Bytes;
use serde::Serialize;

use crate::{CompactionPolicy, CompactionTask, Error, LevelState, TableId, TableMeta, TaskKind};

/// Size of every simulated key in bytes.
pub const KEY_BYTES: u64 = 16;

/// Tasks a policy may run after one flush before the simulation calls it stuck.
const MAX_TASKS_PER_FLUSH: usize = 100_000;

/// The synthetic write stream of a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SimConfig {
    /// User bytes to write in all.
    pub total_bytes: u64,
    /// User bytes per flush (a memtable's worth).
    pub flush_bytes: u64,
    /// Number of distinct keys writes are drawn from.
    pub key_space: u64,
    /// Bytes per value.
    pub value_bytes: u64,
    /// Seed of the random key ranges.
    pub seed: u64,
}

impl Default for SimConfig {
    /// 1 GiB of 100-byte values in 64 MiB flushes over 5 million keys (about half the writes
    /// overwrite).
    fn default() -> Self {
        Self { total_bytes: 1 << 30, flush_bytes: 64 << 20, key_space: 5_000_000, value_bytes: 100, seed: 42 }
    }
}

impl SimConfig {
    /// Checks the stream is well formed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] naming a zero `total_bytes`, `flush_bytes` or `key_space`,
    /// or a flush smaller than one entry.
    pub fn validate(&self) -> Result<(), Error> {
        for (field, value) in
            [("total_bytes", self.total_bytes), ("flush_bytes", self.flush_bytes), ("key_space", self.key_space)]
        {
            if value == 0 {
                return Err(Error::invalid_option(field, value, "at least 1"));
            }
        }
        if self.flush_bytes < self.entry_bytes() {
            return Err(Error::invalid_option(
                "flush_bytes",
                self.flush_bytes,
                format!("at least one entry ({} bytes)", self.entry_bytes()),
            ));
        }
        Ok(())
    }

    /// Bytes of one entry: key plus value.
    #[must_use]
    pub const fn entry_bytes(&self) -> u64 {
        KEY_BYTES + self.value_bytes
    }
}

/// The tree's figures at one point of a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SimPoint {
    /// User bytes written so far.
    pub user_bytes: u64,
    /// Bytes written to tables so far, by flushes and compactions.
    pub table_bytes_written: u64,
    /// `table_bytes_written / user_bytes`.
    pub write_amp: f64,
    /// Bytes in tables over `live_bytes`.
    pub space_amp: f64,
    /// L0 tables plus non-empty deeper levels: the runs a point lookup may visit.
    pub sorted_runs: usize,
    /// Bytes of the distinct keys written so far.
    pub live_bytes: u64,
}

/// The tables and bytes of one level at the end of a simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SimLevel {
    /// Number of tables.
    pub tables: usize,
    /// Bytes in them.
    pub bytes: u64,
    /// Bytes written into the level over the whole stream: flushes for L0, merges whose
    /// output went there for every level.
    pub written: u64,
}

/// The outcome of [`simulate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    /// The policy's name.
    pub policy: String,
    /// The stream simulated.
    pub config: SimConfig,
    /// Figures as the data grew, the last one at the end.
    pub points: Vec<SimPoint>,
    /// Merge tasks run.
    pub merges: u64,
    /// Move tasks run.
    pub moves: u64,
    /// Drop tasks run.
    pub drops: u64,
    /// Whether the policy kept picking tasks after a flush past the simulation's limit
    /// (100 000): a policy that never settles.
    pub stuck: bool,
    /// The shape of the tree at the end, by level.
    pub levels: Vec<SimLevel>,
}

/// Simulates `policy` on the write stream `cfg` describes (see the [module](self) for the
/// model). Deterministic for a given seed. An invalid `cfg` (see [`SimConfig::validate`]) is
/// clamped to the smallest valid stream.
pub fn simulate<P: CompactionPolicy + ?Sized>(policy: &P, cfg: &SimConfig) -> SimReport {
    let entry_bytes = cfg.entry_bytes();
    let key_space = cfg.key_space.max(1);
    // Rounded up, so that `k` flushes write at least `k * flush_bytes`.
    let per_flush = cfg.flush_bytes.div_ceil(entry_bytes).max(1);
    let total_bytes = cfg.total_bytes.max(1);
    let interval = (total_bytes / 16).max(1);
    let mut tree = Tree::new(entry_bytes);
    let mut rng = SplitMix64(cfg.seed);
    let mut report = SimReport {
        policy: policy.name().to_owned(),
        config: *cfg,
        points: Vec::new(),
        merges: 0,
        moves: 0,
        drops: 0,
        stuck: false,
        levels: Vec::new(),
    };
    let (mut user_bytes, mut entries_written, mut next_point) = (0u64, 0u64, interval);
    // Bytes written into each level (flushes into L0); their sum is every byte written.
    let mut written_by_level = vec![0u64];
    while user_bytes < total_bytes {
        // The last flush is partial, so the stream ends at `total_bytes` (rounded up to an entry).
        let n = per_flush.min((total_bytes - user_bytes).div_ceil(entry_bytes));
        let (lo, hi) = sample_range(&mut rng, key_space, n);
        let distinct = expected_distinct(key_space, n).min((hi - lo + 1) as f64);
        written_by_level[0] += tree.flush(lo, hi, distinct, n);
        user_bytes += n * entry_bytes;
        entries_written += n;
        tree.state.now_ms += 1000;
        let mut tasks = 0;
        while let Some(task) = policy.pick(&tree.state) {
            match task.kind {
                TaskKind::Merge => report.merges += 1,
                TaskKind::Move => report.moves += 1,
                TaskKind::Drop => report.drops += 1,
            }
            let bytes = tree.apply(&task);
            if written_by_level.len() <= task.output_level {
                written_by_level.resize(task.output_level + 1, 0);
            }
            written_by_level[task.output_level] += bytes;
            tasks += 1;
            if tasks >= MAX_TASKS_PER_FLUSH {
                report.stuck = true;
                break;
            }
        }
        if user_bytes >= next_point || user_bytes >= total_bytes {
            let live_bytes = (expected_distinct(key_space, entries_written) * entry_bytes as f64) as u64;
            let stored = tree.state.total_bytes();
            let written: u64 = written_by_level.iter().sum();
            report.points.push(SimPoint {
                user_bytes,
                table_bytes_written: written,
                write_amp: written as f64 / user_bytes as f64,
                space_amp: stored as f64 / live_bytes.max(1) as f64,
                sorted_runs: tree.state.sorted_runs(),
                live_bytes,
            });
            while next_point <= user_bytes {
                next_point += interval;
            }
        }
        if report.stuck {
            break;
        }
    }
    report.levels = tree
        .state
        .levels
        .iter()
        .enumerate()
        .map(|(level, l)| SimLevel {
            tables: l.len(),
            bytes: l.iter().map(|t| t.file_size).sum(),
            written: written_by_level.get(level).copied().unwrap_or(0),
        })
        .collect();
    report
}

/// Expected distinct keys among `n` uniform draws from `k` keys: `k (1 - e^(-n/k))`.
fn expected_distinct(k: u64, n: u64) -> f64 {
    let k = k as f64;
    -k * (-(n as f64) / k).exp_m1()
}

/// The minimum and maximum of `n` uniform draws from `0..k`, sampled.
fn sample_range(rng: &mut SplitMix64, k: u64, n: u64) -> (u64, u64) {
    let extreme = |u: f64| ((k as f64) * (1.0 - u.powf(1.0 / n as f64))).floor().min((k - 1) as f64) as u64;
    let lo = extreme(rng.unit());
    let hi = (k - 1).saturating_sub(extreme(rng.unit()));
    if lo <= hi { (lo, hi) } else { (hi, lo) }
}

/// A small deterministic generator (SplitMix64), so the simulation needs no dependency.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw from `(0, 1]`.
    pub(crate) fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// A uniform draw from `0..n` (`n > 0`).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A simulated table: keys spread evenly over `[lo, hi]`.
#[derive(Debug, Clone, Copy)]
struct Shape {
    lo: u64,
    hi: u64,
    keys: f64,
}

impl Shape {
    fn density(&self) -> f64 {
        (self.keys / ((self.hi - self.lo) as f64 + 1.0)).clamp(0.0, 1.0)
    }
}

/// The key of simulated key number `k`: 8 bytes big-endian, so byte order is number order.
pub(crate) fn sim_key(k: u64) -> Bytes {
    Bytes::copy_from_slice(&k.to_be_bytes())
}

/// A level state with simulated contents, where tasks are applied without I/O. Shared by
/// [`simulate`], the policy tests and the conformance suite.
#[derive(Debug)]
pub(crate) struct Tree {
    pub(crate) state: LevelState,
    shapes: HashMap<TableId, Shape>,
    next_id: TableId,
    next_seq: u64,
    entry_bytes: u64,
}

impl Tree {
    pub(crate) fn new(entry_bytes: u64) -> Self {
        Self {
            state: LevelState { levels: vec![Vec::new()], ..LevelState::default() },
            shapes: HashMap::new(),
            next_id: 1,
            next_seq: 1,
            entry_bytes: entry_bytes.max(1),
        }
    }

    /// Adds a new L0 table over `[lo, hi]` holding `keys` distinct keys out of `entries`
    /// writes; returns the bytes written.
    pub(crate) fn flush(&mut self, lo: u64, hi: u64, keys: f64, entries: u64) -> u64 {
        let (lo, hi) = (lo.min(hi), hi.max(lo));
        let keys = keys.clamp(1.0, (hi - lo) as f64 + 1.0);
        let min_seq = self.next_seq;
        self.next_seq += entries.max(1);
        let table = self.table(Shape { lo, hi, keys }, min_seq, self.next_seq - 1);
        let size = table.file_size;
        self.state.levels[0].insert(0, table);
        size
    }

    fn table(&mut self, shape: Shape, min_seq: u64, max_seq: u64) -> TableMeta {
        let id = self.next_id;
        self.next_id += 1;
        self.shapes.insert(id, shape);
        TableMeta {
            id,
            file_size: ((shape.keys * self.entry_bytes as f64) as u64).max(1),
            min_key: sim_key(shape.lo),
            max_key: sim_key(shape.hi),
            min_seq,
            max_seq,
            entries: shape.keys.round().max(1.0) as u64,
            tombstones: 0,
            created_at_ms: self.state.now_ms,
            range_tombstones: Vec::new(),
        }
    }

    /// Removes table `id` from `level`.
    fn take(&mut self, level: usize, id: TableId) -> Option<TableMeta> {
        let tables = self.state.levels.get_mut(level)?;
        let at = tables.iter().position(|t| t.id == id)?;
        Some(tables.remove(at))
    }

    fn place(&mut self, level: usize, tables: Vec<TableMeta>) {
        if self.state.levels.len() <= level {
            self.state.levels.resize(level + 1, Vec::new());
        }
        let dest = &mut self.state.levels[level];
        dest.extend(tables);
        if level == 0 {
            dest.sort_by_key(|t| std::cmp::Reverse(t.max_seq));
        } else {
            dest.sort_by(|a, b| a.min_key.cmp(&b.min_key));
        }
    }

    /// Applies `task` as the engine would; returns the bytes it wrote. Inputs missing from
    /// the state are ignored (the conformance suite reports them separately).
    pub(crate) fn apply(&mut self, task: &CompactionTask) -> u64 {
        let inputs: Vec<TableMeta> = task.input_tables().filter_map(|(level, id)| self.take(level, id)).collect();
        for t in &inputs {
            self.state.compacting.remove(&t.id);
        }
        match task.kind {
            TaskKind::Drop => {
                for t in &inputs {
                    self.shapes.remove(&t.id);
                }
                0
            }
            TaskKind::Move => {
                self.place(task.output_level, inputs);
                0
            }
            TaskKind::Merge => {
                let shapes: Vec<Shape> = inputs.iter().filter_map(|t| self.shapes.remove(&t.id)).collect();
                let min_seq = inputs.iter().map(|t| t.min_seq).min().unwrap_or(0);
                let max_seq = inputs.iter().map(|t| t.max_seq).max().unwrap_or(0);
                let target_keys = task.target_table_size as f64 / self.entry_bytes as f64;
                // Outputs end where the tables of the level below begin, as the executor's do.
                let below: Vec<u64> = if task.output_level == 0 {
                    Vec::new()
                } else {
                    self.state
                        .levels
                        .get(task.output_level + 1)
                        .map(|l| l.iter().filter_map(|t| self.shapes.get(&t.id)).map(|s| s.lo).collect())
                        .unwrap_or_default()
                };
                let outputs: Vec<TableMeta> = merge_shapes(&shapes, &below, target_keys.max(1.0))
                    .into_iter()
                    .map(|shape| self.table(shape, min_seq, max_seq))
                    .collect();
                let written = outputs.iter().map(|t| t.file_size).sum();
                self.place(task.output_level, outputs);
                written
            }
        }
    }
}

/// The union of `inputs` cut into shapes of about `target_keys` keys (see the module docs),
/// and, once a shape holds half of that, where a table of the level below starts (`below`,
/// their first keys).
fn merge_shapes(inputs: &[Shape], below: &[u64], target_keys: f64) -> Vec<Shape> {
    let mut bounds: Vec<u64> = inputs.iter().flat_map(|s| [s.lo, s.hi.saturating_add(1)]).collect();
    let (first, last) = (bounds.iter().min().copied().unwrap_or(0), bounds.iter().max().copied().unwrap_or(0));
    let mut cuts: Vec<u64> = below.iter().copied().filter(|&k| k > first && k < last).collect();
    cuts.sort_unstable();
    bounds.extend_from_slice(&cuts);
    bounds.sort_unstable();
    bounds.dedup();
    let mut out = Vec::new();
    // The open output: first key, last key with data so far, keys so far.
    let mut open: Option<(u64, u64, f64)> = None;
    for w in bounds.windows(2) {
        let (mut a, b) = (w[0], w[1]);
        if let Some((lo, hi, keys)) = open
            && keys >= target_keys / 2.0
            && cuts.binary_search(&a).is_ok()
        {
            out.push(Shape { lo, hi, keys });
            open = None;
        }
        let covering = inputs.iter().filter(|s| s.lo <= a && s.hi >= b - 1);
        let density = 1.0 - covering.fold(1.0, |miss, s| miss * (1.0 - s.density()));
        if density <= 0.0 {
            continue;
        }
        while a < b {
            let (start, acc) = open.map_or((a, 0.0), |(s, _, k)| (s, k));
            let room = target_keys - acc;
            let width_left = (b - a) as f64;
            if density * width_left < room {
                open = Some((start, b - 1, acc + density * width_left));
                break;
            }
            // Cut inside this piece: take just enough keys to fill the open output.
            let take = ((room / density).ceil() as u64).clamp(1, b - a);
            out.push(Shape { lo: start, hi: a + take - 1, keys: acc + density * take as f64 });
            open = None;
            a += take;
        }
    }
    if let Some((lo, hi, keys)) = open
        && keys >= 0.5
    {
        out.push(Shape { lo, hi, keys });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AnyPolicy, PolicyConfig};

    #[test]
    fn merging_identical_tables_dedupes_and_disjoint_ones_add_up() {
        let full = Shape { lo: 0, hi: 999, keys: 500.0 };
        let merged = merge_shapes(&[full, full], &[], f64::INFINITY);
        assert_eq!(merged.len(), 1);
        assert!((merged[0].keys - 750.0).abs() < 1e-6, "{merged:?}");
        let a = Shape { lo: 0, hi: 99, keys: 100.0 };
        let b = Shape { lo: 200, hi: 299, keys: 50.0 };
        let merged = merge_shapes(&[a, b], &[], f64::INFINITY);
        assert_eq!((merged[0].lo, merged[0].hi), (0, 299));
        assert!((merged[0].keys - 150.0).abs() < 1e-6);
    }

    #[test]
    fn outputs_are_split_at_the_target_without_overlap() {
        let merged = merge_shapes(&[Shape { lo: 0, hi: 9_999, keys: 10_000.0 }], &[], 1000.0);
        assert_eq!(merged.len(), 10);
        for w in merged.windows(2) {
            assert!(w[0].hi < w[1].lo);
        }
        assert!(merged.iter().all(|s| (s.keys - 1000.0).abs() < 1.0));
    }

    #[test]
    fn outputs_end_where_tables_below_begin_once_half_full() {
        let input = Shape { lo: 0, hi: 9_999, keys: 10_000.0 };
        // Starts below every 700 keys: each output ends at the first one past 500 keys.
        let below: Vec<u64> = (1..15).map(|i| i * 700).collect();
        let merged = merge_shapes(&[input], &below, 1000.0);
        let ranges: Vec<(u64, u64)> = merged.iter().map(|s| (s.lo, s.hi)).collect();
        let mut want: Vec<(u64, u64)> = (0..14).map(|i| (i * 700, i * 700 + 699)).collect();
        want.push((9_800, 9_999));
        assert_eq!(ranges, want);
        // Starts every 1500 keys: the target cuts first, then the next start past half of it.
        let below: Vec<u64> = (1..7).map(|i| i * 1500).collect();
        let ranges: Vec<(u64, u64)> = merge_shapes(&[input], &below, 1000.0).iter().map(|s| (s.lo, s.hi)).collect();
        assert_eq!(&ranges[..3], &[(0, 999), (1000, 1499), (1500, 2499)]);
    }

    #[test]
    fn every_policy_settles_with_sane_figures() {
        let cfg =
            SimConfig { total_bytes: 256 << 20, flush_bytes: 8 << 20, key_space: 1_000_000, ..SimConfig::default() };
        for name in PolicyConfig::NAMES {
            let policy = AnyPolicy::by_name(name).unwrap();
            let report = simulate(&policy, &cfg);
            assert!(!report.stuck, "{name}");
            let last = report.points.last().unwrap();
            assert!(last.user_bytes >= 256 << 20 && last.user_bytes < (256 << 20) + cfg.entry_bytes());
            assert!(last.write_amp >= 0.5 && last.write_amp < 50.0, "{name}: {last:?}");
            assert!(report.points.len() >= 16, "{name}: {}", report.points.len());
            assert!(report.points.windows(2).all(|w| w[0].user_bytes < w[1].user_bytes));
            let by_level: u64 = report.levels.iter().map(|l| l.written).sum();
            assert_eq!(by_level, last.table_bytes_written, "{name}: {:?}", report.levels);
            // Deterministic for a seed (a fresh policy: leveled's round-robin cursor is state).
            assert_eq!(simulate(&AnyPolicy::by_name(name).unwrap(), &cfg), report);
        }
    }
}
