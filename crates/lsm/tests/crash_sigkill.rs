//! A child process writes and reports every acknowledged write; the parent kills it with
//! SIGKILL at random moments, reopens the database and checks that every acknowledged
//! write is there. The memtable is tiny, so kills land during flushes and compactions too.
//!
//! With `sync = true` this is what power loss would need; with `sync = false` a process
//! kill must not lose anything either, since the OS already holds the written bytes (a
//! machine crash could; see the crate docs).
//!
//! `STRATA_CRASH_CYCLES` sets the number of kill cycles per mode (default 50 and 20).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use strata::{Db, Error, Options, WriteBatch, WriteOptions};

const CHILD_DIR: &str = "STRATA_CRASH_CHILD_DIR";
const CHILD_SYNC: &str = "STRATA_CRASH_CHILD_SYNC";
const CHILD_PREFIX: &str = "STRATA_CRASH_CHILD_PREFIX";
const LOCK_CHILD_DIR: &str = "STRATA_LOCK_CHILD_DIR";

fn options() -> Options {
    Options { max_memtable_size: 64 << 10, ..Options::default() }
}

fn value_for(key: &str) -> Vec<u8> {
    // Values of varied length, derived from the key, so a wrong or torn value is detected.
    let mut v = format!("value-of-{key}-").into_bytes();
    v.resize(40 + key.len() * 7 % 200, b'x');
    v
}

/// The child: writes until killed, printing `ack N` after each acknowledged write.
#[test]
#[ignore = "a child process of the crash tests; does nothing when run directly"]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    let sync = std::env::var(CHILD_SYNC).as_deref() == Ok("1");
    let prefix = std::env::var(CHILD_PREFIX).expect("prefix");
    let db = Db::open(&dir, options()).expect("child open");
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let mut batch = WriteBatch::new();
        // Two keys per batch: after a crash both or neither must be there.
        let (a, b) = (format!("{prefix}-{i:08}-a"), format!("{prefix}-{i:08}-b"));
        batch.put(a.clone(), value_for(&a)).put(b.clone(), value_for(&b));
        if i % 7 == 3 {
            batch.delete(format!("{prefix}-{:08}-b", i - 1));
        }
        db.write(batch, WriteOptions { sync }).expect("child write");
        writeln!(out, "ack {i}").expect("stdout");
        out.flush().expect("stdout");
    }
}

/// The child of the lock test: tries to open a database another process holds.
#[test]
#[ignore = "a child process of the lock test; does nothing when run directly"]
fn lock_child_opener() {
    let Some(dir) = std::env::var_os(LOCK_CHILD_DIR) else { return };
    match Db::open(&dir, options()) {
        Err(e @ Error::Locked { .. }) => println!("locked: {e}"),
        Err(e) => println!("other error: {e}"),
        Ok(_) => println!("opened"),
    }
}

fn child(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"]);
    cmd
}

/// A small deterministic generator for kill delays.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn crash_cycles(dir: &Path, sync: bool, cycles: u64, seed: u64) {
    let mut rng = Lcg(seed);
    // Every acknowledged batch so far: (prefix, index).
    // A set: each check asks whether the next batch was acknowledged too.
    let mut acked: HashSet<(String, u64)> = HashSet::new();
    for cycle in 0..cycles {
        let prefix = format!("{}{cycle:04}", if sync { "s" } else { "n" });
        let mut proc = child("crash_child_writer")
            .env(CHILD_DIR, dir)
            .env(CHILD_SYNC, if sync { "1" } else { "0" })
            .env(CHILD_PREFIX, &prefix)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = proc.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ack ").and_then(|n| n.parse::<u64>().ok()) {
                    acks.push(n);
                }
            }
            acks
        });
        // Kill at a random moment after the child has had time to open and write.
        std::thread::sleep(Duration::from_millis(30 + rng.next(250)));
        proc.kill().expect("SIGKILL the child");
        let _ = proc.wait();
        let acks = reader.join().expect("reader thread");
        acked.extend(acks.iter().map(|&i| (prefix.clone(), i)));

        let started = Instant::now();
        let db = Db::open(dir, options()).unwrap_or_else(|e| panic!("cycle {cycle}: reopen after SIGKILL failed: {e}"));
        for (p, i) in &acked {
            let a = format!("{p}-{i:08}-a");
            let got = db.get(&a).unwrap_or_else(|e| panic!("cycle {cycle}: get {a}: {e}"));
            assert_eq!(got.as_deref(), Some(&value_for(&a)[..]), "cycle {cycle}: acknowledged write {a} lost or wrong");
            // "-b" is deleted by the batch of i+1 when (i+1) % 7 == 3; otherwise it must be there
            // whenever "-a" of the same batch is.
            let b = format!("{p}-{i:08}-b");
            let deleted_by_next = (i + 1) % 7 == 3 && acked.contains(&(p.clone(), i + 1));
            if deleted_by_next {
                assert_eq!(db.get(&b).expect("get b"), None, "cycle {cycle}: an acknowledged delete of {b} was lost");
            } else {
                let got = db.get(&b).expect("get b");
                let next_in_flight = (i + 1) % 7 == 3;
                if !(next_in_flight && got.is_none()) {
                    assert_eq!(got.as_deref(), Some(&value_for(&b)[..]), "cycle {cycle}: half of an atomic batch {b}");
                }
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "recovery took too long");
        db.close().unwrap_or_else(|e| panic!("cycle {cycle}: close after recovery: {e}"));
    }
    assert!(acked.len() as u64 > cycles, "children acknowledged almost nothing; the test proves little");
}

fn cycles(default: u64) -> u64 {
    std::env::var("STRATA_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn sigkill_loses_no_synced_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    crash_cycles(dir.path(), true, cycles(50), 0x5EED_0001);
}

#[test]
fn sigkill_loses_no_unsynced_write_either() {
    let dir = tempfile::tempdir().expect("temp dir");
    crash_cycles(dir.path(), false, cycles(20), 0x5EED_0002);
}

#[test]
fn a_second_process_gets_a_clear_lock_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), options()).expect("open");
    let out = child("lock_child_opener").env(LOCK_CHILD_DIR, dir.path()).output().expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("locked:") && stdout.contains("another process"), "child saw: {stdout}");
    // In this process too, a second handle is refused.
    assert!(matches!(Db::open(dir.path(), options()), Err(Error::Locked { .. })));
    db.close().expect("close");
    Db::open(dir.path(), options()).expect("the lock is released on close");
}
