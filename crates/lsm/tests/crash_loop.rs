//! The crash loop: a child process writes a seeded mix of puts, deletes, range deletes and batches (some
//! synced, with flushes and compactions going on) until the parent kills it with SIGKILL at
//! a random moment; the parent reopens the store with randomly chosen options (memtable
//! variant, compaction policy) and checks it against an [`Oracle`]: every acknowledged write
//! is there, the one in flight landed whole or not at all, nothing else changed. Then the
//! next cycle starts on the same store.
//!
//! `STRATA_CRASH_LOOP_CYCLES` sets the number of cycles (default 100), for long runs:
//! `STRATA_CRASH_LOOP_CYCLES=1000 cargo test -p strata --release --test crash_loop -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata::testing::{Change, Oracle, State};
use strata::{Db, Options, PolicyConfig, WriteBatch, WriteOptions};

const CHILD_DIR: &str = "STRATA_CRASH_LOOP_DIR";
const CHILD_SEED: &str = "STRATA_CRASH_LOOP_SEED";
const CHILD_OPTIONS: &str = "STRATA_CRASH_LOOP_OPTIONS";

const MEMTABLES: [&str; 8] =
    ["skiplist", "enhanced_skiplist", "sorted", "vector", "trie", "linked_list", "hash_skiplist", "hash_linked_list"];

/// Options number `n`: a memtable variant and a compaction policy, and for one number in
/// three, every new table checked before it is installed (`verify_new_tables`).
fn options(n: u64) -> Options {
    let compaction = match n / 8 % 4 {
        0 => PolicyConfig::Leveled {
            l0_trigger: 2,
            base_level_bytes: 128 << 10,
            level_multiplier: 4,
            target_table_size: 64 << 10,
            num_levels: 4,
            intra_l0_merge: false,
        },
        1 => PolicyConfig::SizeTiered {
            run_trigger: 3,
            size_ratio_percent: 1,
            min_merge_width: 2,
            max_merge_width: 8,
            max_size_amplification_percent: 200,
        },
        2 => PolicyConfig::Fifo { max_total_bytes: 1 << 40, max_age_ms: None },
        _ => PolicyConfig::Leveled {
            l0_trigger: 2,
            base_level_bytes: 512 << 10,
            level_multiplier: 4,
            target_table_size: 64 << 10,
            num_levels: 4,
            intra_l0_merge: true,
        },
    };
    let mut o = Options {
        max_memtable_size: 64 << 10,
        compaction,
        verify_new_tables: n.is_multiple_of(3),
        ..Options::default()
    };
    o.memtable_type = MEMTABLES[(n % 8) as usize].parse().expect("a memtable name");
    o
}

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// What a write does, as the model sees it.
enum Planned {
    Change(Change),
    /// A range delete of `[start, end)`: its change is the keys present when it runs.
    Range(Vec<u8>, Vec<u8>),
}

impl Planned {
    fn change(self, oracle: &Oracle) -> Change {
        match self {
            Self::Change(c) => c,
            Self::Range(a, b) => {
                oracle.latest().keys().filter(|k| **k >= a && **k < b).map(|k| (k.clone(), None)).collect()
            }
        }
    }
}

/// The writes of the child seeded with `seed`, in order: each as a batch, what it does, and
/// whether it is synced.
struct Writes {
    rng: Lcg,
    seed: u64,
    i: u64,
}

impl Writes {
    const fn new(seed: u64) -> Self {
        Self { rng: Lcg(seed), seed, i: 0 }
    }
}

impl Iterator for Writes {
    type Item = (WriteBatch, Planned, bool);

    fn next(&mut self) -> Option<Self::Item> {
        let rng = &mut self.rng;
        let (seed, i) = (self.seed, self.i);
        self.i += 1;
        let key = |rng: &mut Lcg| format!("key{:05}", rng.next(3_000)).into_bytes();
        let value = |j: u64| {
            let mut v = format!("v{seed:x}-{i}-{j}-").into_bytes();
            v.resize(40 + ((seed + i * 31 + j) % 400) as usize, b'a' + (i % 26) as u8);
            v
        };
        let mut batch = WriteBatch::new();
        let mut change = Vec::new();
        let shape = rng.next(11);
        let sync = rng.next(8) == 0;
        if shape == 10 {
            let first = rng.next(3_000);
            let (start, end) = (format!("key{first:05}"), format!("key{:05}", first + 1 + rng.next(60)));
            batch.delete_range(start.clone(), end.clone());
            return Some((batch, Planned::Range(start.into_bytes(), end.into_bytes()), sync));
        }
        let n = match shape {
            0..=5 => 1,
            6 | 7 => 0,
            _ => 2 + rng.next(4),
        };
        if n == 0 {
            let k = key(rng);
            batch.delete(k.clone());
            change.push((k, None));
        }
        for j in 0..n {
            let k = key(rng);
            if j == 2 {
                batch.delete(k.clone());
                change.push((k, None));
            } else {
                batch.put(k.clone(), value(j));
                change.push((k, Some(value(j))));
            }
        }
        Some((batch, Planned::Change(change), sync))
    }
}

/// The child: writes until killed, printing `ack N` after write N returns.
#[test]
#[ignore = "a child process of the crash loop; does nothing when run directly"]
fn crash_loop_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    let seed: u64 = std::env::var(CHILD_SEED).expect("seed").parse().expect("seed");
    let n: u64 = std::env::var(CHILD_OPTIONS).expect("options").parse().expect("options");
    let db = Db::open(&dir, options(n)).expect("child open");
    let mut out = std::io::stdout().lock();
    for (i, (batch, _, sync)) in Writes::new(seed).enumerate() {
        db.write(batch, WriteOptions { sync }).expect("child write");
        writeln!(out, "ack {i}").expect("stdout");
        out.flush().expect("stdout");
        if i % 500 == 499 {
            db.flush().expect("child flush");
        }
        if i % 1_500 == 1_499 {
            db.compact_range(..).expect("child compaction");
        }
    }
}

fn cycles() -> u64 {
    std::env::var("STRATA_CRASH_LOOP_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(100)
}

#[test]
fn sigkill_at_random_moments_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cycles = cycles();
    let started = Instant::now();
    let mut rng = Lcg(0x00C0_FFEE);
    let mut oracle = Oracle::new();
    let (mut acked_total, mut landed_in_flight) = (0u64, 0u64);
    for cycle in 0..cycles {
        let seed = 0x1000 + cycle;
        let child_options = rng.next(32);
        let mut proc = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "crash_loop_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_SEED, seed.to_string())
            .env(CHILD_OPTIONS, child_options.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = proc.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut acked = 0u64;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ack ").and_then(|n| n.parse::<u64>().ok()) {
                    acked = n + 1;
                }
            }
            acked
        });
        std::thread::sleep(Duration::from_millis(20 + rng.next(400)));
        proc.kill().expect("SIGKILL the child");
        let _ = proc.wait();
        let acked = reader.join().expect("reader thread");
        acked_total += acked;

        // A process kill loses nothing the OS holds: every acknowledged write is durable; the
        // next one may or may not have landed.
        let mut writes = Writes::new(seed);
        for (_, planned, _) in writes.by_ref().take(acked as usize) {
            let change = planned.change(&oracle);
            oracle.acked(change);
        }
        oracle.durable();
        let (_, in_flight, _) = writes.next().expect("endless writes");
        let in_flight = in_flight.change(&oracle);
        oracle.in_flight(in_flight);

        let reopen_options = rng.next(24);
        let db = Db::open(dir.path(), options(reopen_options))
            .unwrap_or_else(|e| panic!("cycle {cycle}: reopen with options {reopen_options} failed: {e}"));
        let observed: State = db
            .iter(..)
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("cycle {cycle}: scan after reopen: {e}"));
        let landed = oracle.recover(&observed).unwrap_or_else(|e| {
            panic!("cycle {cycle} (child options {child_options}, reopened with {reopen_options}, {acked} acked): {e}")
        });
        landed_in_flight += u64::from(landed > 0);
        // The tables a killed process left (flushes and compactions cut short) must also be
        // sound whole, and agree with the manifest.
        let report = db.verify(&strata::VerifyOptions::default());
        assert!(report.is_ok(), "cycle {cycle}: verify after reopen: {:?}", report.problems);
        db.close().unwrap_or_else(|e| panic!("cycle {cycle}: close after recovery: {e}"));
    }
    eprintln!(
        "{cycles} SIGKILL cycles in {:.1?}: {acked_total} acknowledged writes checked, \
         the write in flight landed in {landed_in_flight} cycles",
        started.elapsed()
    );
    assert!(acked_total > cycles * 10, "the children acknowledged almost nothing; the loop proves little");
}
