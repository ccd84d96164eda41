//! The corruption sweep: a populated store (tables on two levels, a manifest, `CURRENT`, a
//! log segment with unflushed writes) is copied with one byte flipped, at 1,200 seeded
//! positions spread over every kind of file, and opened, scanned and read.
//!
//! Every open, scan, get and `compact_range` must return correct data or
//! [`Error::Corruption`] naming the flipped file: no panic, no other error, no wrong value.
//! The sweep runs on two images of the store: one copied while it was open (as a crash
//! leaves it) and one after a clean close. The one allowance is the newest log segment of
//! the crashed image, whose damaged tail cannot be told from a write torn by the crash:
//! there the store may also come back as it was before the damaged record (never with part
//! of a batch, never missing a write before it). A cleanly closed log has no torn tail, so
//! damage in it is corruption.
//!
//! Where a flip is in a table that opens, `Db::verify` must report corruption naming it
//! whenever a scan or get met damage there, and nothing but such corruption.
//!
//! A second sweep flips bytes of tables only and lets a background compaction meet them:
//! the database must turn read-only with a corruption error naming the file.
//!
//! `STRATA_SWEEP_POSITIONS` sets the number of positions of each image.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strata::testing::{Change, Oracle, State, Workload};
use strata::{Db, Error, ErrorKind, FileSystem, Options, PolicyConfig, WriteBatch};
use strata_sstable::testing::MemFs;

const DIR: &str = "/db";
/// Writes after the last flush: they live only in the log.
const LOG_OPS: u64 = 40;

fn options() -> Options {
    Options { max_memtable_size: 64 << 10, enable_background_compaction: false, ..Options::default() }
}

/// The write stream: a batch every ninth operation, a delete, or a put, over 250 keys.
const WORKLOAD: Workload = Workload { keys: 250, period: 9, value_len: 60, value_step: 30, value_steps: 7 };

fn op(i: u64) -> (WriteBatch, Change) {
    WORKLOAD.op(i)
}

type Files = BTreeMap<PathBuf, Vec<u8>>;

fn read_files(fs: &MemFs) -> Files {
    let mut files = BTreeMap::new();
    for name in fs.list_dir(Path::new(DIR)).expect("list") {
        if name != "LOCK" {
            let path = Path::new(DIR).join(&name);
            files.insert(path.clone(), fs.read_all(&path).expect("read"));
        }
    }
    files
}

/// Builds the store; returns its files as a crash would leave them (copied while open),
/// its files after a clean close, and every write in order.
fn populate() -> (Files, Files, Vec<Change>) {
    let fs = MemFs::new();
    let db = Db::open_on(std::sync::Arc::new(fs.clone()), DIR, options()).expect("open");
    let mut changes = Vec::new();
    let mut write = |i: u64| {
        let (batch, change) = op(i);
        db.write(batch, strata::WriteOptions::default()).expect("write");
        changes.push(change);
    };
    for i in 0..900 {
        write(i);
        if i % 300 == 299 {
            db.flush().expect("flush");
        }
    }
    db.compact_range(..).expect("compact");
    for i in 900..1_200 {
        write(i);
        if i % 150 == 149 {
            db.flush().expect("flush");
        }
    }
    for i in 1_200..1_200 + LOG_OPS {
        write(i);
    }
    let levels: Vec<usize> = db.stats().levels.iter().map(|l| l.tables).collect();
    assert!(levels[0] >= 2 && levels[1..].iter().sum::<usize>() >= 1, "tables on two levels: {levels:?}");
    let crashed = read_files(&fs);
    db.close().expect("clean close");
    (crashed, read_files(&fs), changes)
}

/// The end offsets of the records of a log segment (`crc: u32 ‖ len: u32 ‖ payload`).
fn record_ends(segment: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut pos = 0;
    while pos + 8 <= segment.len() {
        let len = u32::from_le_bytes(segment[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
        pos += 8 + len;
        ends.push(pos);
    }
    assert_eq!(pos, segment.len(), "the populated log segment must end cleanly");
    ends
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn check_error(e: &Error, flipped: &Path, what: &str) {
    assert_eq!(e.kind(), ErrorKind::Corruption, "{what}: the kind of {e:?}");
    assert!(e.is_corruption(), "{what}: {e:?}");
    match e {
        Error::Corruption { file, .. } if file == flipped => {}
        other => panic!("{what}: expected corruption naming {}, got {other:?}", flipped.display()),
    }
}

fn positions() -> u64 {
    std::env::var("STRATA_SWEEP_POSITIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_200)
}

fn expected_state(changes: &[Change]) -> State {
    let mut expected = State::new();
    for change in changes {
        for (k, v) in change {
            match v {
                Some(v) => expected.insert(k.clone(), v.clone()),
                None => expected.remove(k),
            };
        }
    }
    expected
}

fn image(files: &Files, flip: Option<(&Path, usize, u8)>) -> MemFs {
    let fs = MemFs::new();
    fs.create_dir_all(Path::new(DIR)).expect("mkdir");
    for (p, b) in files {
        let mut b = b.clone();
        if let Some((path, pos, mask)) = flip
            && p == path
        {
            b[pos] ^= mask;
        }
        fs.put_file(p, b);
    }
    fs
}

#[derive(Debug, Default)]
struct Outcomes {
    correct: u64,
    corrupt: u64,
    torn: u64,
    compacted: u64,
    compaction_corrupt: u64,
    /// Table flips `Db::verify` reported (as corruption naming the table).
    verify_caught: u64,
    /// Table flips `Db::verify` passed: no scan or get met damage there either.
    verify_passed: u64,
}

#[test]
fn flipped_bytes_give_correct_data_or_corruption_naming_the_file() {
    let (crashed, closed, changes) = populate();
    let crashed = sweep(&crashed, &changes, false);
    let closed = sweep(&closed, &changes, true);
    eprintln!("crashed image: {crashed:?}");
    eprintln!("cleanly closed image: {closed:?}");
    assert_eq!(closed.torn, 0, "a cleanly closed log has no torn tail to drop");
}

fn sweep(files: &Files, changes: &[Change], clean_close: bool) -> Outcomes {
    let positions = positions();
    let expected = expected_state(changes);
    let by_kind = |pred: fn(&str) -> bool| -> Vec<&PathBuf> {
        files.keys().filter(|p| pred(&p.file_name().expect("name").to_string_lossy())).collect()
    };
    let kinds = [
        by_kind(|n| n.ends_with(".wal")),
        by_kind(|n| n.starts_with("MANIFEST-")),
        by_kind(|n| n.ends_with(".parquet")),
        by_kind(|n| n == "CURRENT"),
    ];
    assert!(kinds.iter().all(|k| !k.is_empty()), "every kind of file is present: {:?}", files.keys());
    let wal = kinds[0].iter().copied().rfind(|p| !files[*p].is_empty()).expect("a log segment holding writes");
    let ends = record_ends(&files[wal]);
    let seal = u64::from(clean_close);
    assert_eq!(ends.len() as u64, LOG_OPS + seal, "one record per write in the newest segment, then the seal");
    let ends = &ends[..LOG_OPS as usize];
    let probes: Vec<Vec<u8>> = (0..260).step_by(13).map(|n| format!("key{n:04}").into_bytes()).collect();

    let mut rng = Lcg(0x5EED_C0DE ^ seal);
    let mut out = Outcomes::default();
    for n in 0..positions {
        // Tables get half the positions, the log, the manifest and CURRENT the rest.
        let kind = [0, 1, 2, 2, 3, 2, 0, 2][(n % 8) as usize];
        let candidates = &kinds[kind];
        let path = candidates[rng.next(candidates.len() as u64) as usize];
        let bytes = &files[path];
        if bytes.is_empty() {
            continue;
        }
        let pos = rng.next(bytes.len() as u64) as usize;
        let mask = rng.next(255) as u8 + 1;
        let what = format!("flip {n}: byte {pos} of {} ^ {mask:#04x}", path.display());

        let fs = image(files, Some((path, pos, mask)));
        let db = match Db::open_on(std::sync::Arc::new(fs), DIR, options()) {
            Ok(db) => db,
            Err(e) => {
                check_error(&e, path, &what);
                out.corrupt += 1;
                continue;
            }
        };
        // What the store may hold: everything, or for damage in the log, everything before
        // the damaged record and then a prefix of the rest.
        let scanned: Result<State, Error> = db.iter(..).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect();
        let truth = match scanned {
            Ok(state) if state == expected => {
                out.correct += 1;
                Some(state)
            }
            Ok(state) => {
                assert!(path == wal && !clean_close, "{what}: a scan returned wrong data");
                let damaged = ends.iter().position(|&e| pos < e).expect("inside a record");
                let intact = changes.len() - ends.len() + damaged;
                let mut oracle = Oracle::new();
                for change in &changes[..intact] {
                    oracle.acked(change.clone());
                }
                oracle.durable();
                for change in &changes[intact..] {
                    oracle.acked(change.clone());
                }
                oracle.recover(&state).unwrap_or_else(|e| panic!("{what}: {e}"));
                out.torn += 1;
                Some(state)
            }
            Err(e) => {
                check_error(&e, path, &format!("{what}: scan"));
                out.corrupt += 1;
                None
            }
        };
        let mut met_damage = truth.is_none();
        let truth = truth.as_ref().unwrap_or(&expected);
        for k in &probes {
            match db.get(k) {
                Ok(v) => assert_eq!(v.as_deref(), truth.get(k).map(Vec::as_slice), "{what}: get returned wrong data"),
                Err(e) => {
                    check_error(&e, path, &format!("{what}: get"));
                    met_damage = true;
                }
            }
        }
        // Verification reads every table whole and looks every key up: whatever damage a
        // scan or a get met in a table, it reports too, and only as corruption naming it.
        if path.extension().is_some_and(|e| e == "parquet") {
            let report = db.verify(&strata::VerifyOptions::default());
            for problem in &report.problems {
                check_error(problem, path, &format!("{what}: verify"));
            }
            if report.is_ok() {
                assert!(!met_damage, "{what}: a read met damage that verify passed");
                out.verify_passed += 1;
            } else {
                out.verify_caught += 1;
            }
        }
        // A compaction reads every page of its inputs: it must rewrite them correctly or
        // report the damage, never carry it on silently.
        if path.extension().is_some_and(|e| e == "parquet") {
            match db.compact_range(..) {
                Ok(()) => {
                    let after: Result<State, Error> =
                        db.iter(..).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect();
                    match after {
                        Ok(after) => assert_eq!(&after, truth, "{what}: compact_range changed the data"),
                        Err(e) => check_error(&e, path, &format!("{what}: scan after compact_range")),
                    }
                    out.compacted += 1;
                }
                Err(e) => {
                    // A background worker may take compact_range's task; its failure then
                    // turns the database read-only, with the corruption as the cause.
                    let cause = match &e {
                        Error::ReadOnly(cause) => cause,
                        other => other,
                    };
                    assert!(e.is_corruption(), "{what}: compact_range: {e:?}");
                    check_error(cause, path, &format!("{what}: compact_range"));
                    out.compaction_corrupt += 1;
                }
            }
        }
    }
    assert!(out.corrupt > positions / 4, "most flips must be caught: {out:?}");
    assert!(out.compaction_corrupt > 0, "some compactions must meet damage: {out:?}");
    assert!(out.verify_caught > 0, "verify must catch some table flips: {out:?}");
    out
}

/// Flips bytes of tables and lets the background compaction find them: it must stop with
/// a corruption error naming the table, turning the database read-only, or (when the flip
/// is in bytes no read checks) compact correctly.
#[test]
fn a_background_compaction_meeting_damage_reports_corruption() {
    let (_, files, changes) = populate();
    let expected = expected_state(&changes);
    let tables: Vec<&PathBuf> = files.keys().filter(|p| p.extension().is_some_and(|e| e == "parquet")).collect();
    let options = Options {
        enable_background_compaction: true,
        compaction: PolicyConfig::Leveled {
            l0_trigger: 1,
            base_level_bytes: 1 << 10,
            level_multiplier: 2,
            target_table_size: 64 << 10,
            num_levels: 4,
            intra_l0_merge: false,
        },
        ..options()
    };
    let mut rng = Lcg(0xBAC6_0000);
    let (mut read_only, mut compacted) = (0, 0);
    for n in 0..positions() / 20 {
        let path = tables[rng.next(tables.len() as u64) as usize];
        let pos = rng.next(files[path].len() as u64) as usize;
        let mask = rng.next(255) as u8 + 1;
        let what = format!("background flip {n}: byte {pos} of {} ^ {mask:#04x}", path.display());
        let fs = image(&files, Some((path, pos, mask)));
        let db = match Db::open_on(std::sync::Arc::new(fs), DIR, options.clone()) {
            Ok(db) => db,
            Err(e) => {
                check_error(&e, path, &what);
                continue;
            }
        };
        // Wait (bounded) for the compactions the policy wants to run, or for a failure.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let failure = loop {
            match db.put("probe", "p") {
                Err(e) => break Some(e),
                Ok(()) if db.stats().compactions > 0 && db.stats().levels[0].tables == 0 => break None,
                Ok(()) => {}
            }
            assert!(std::time::Instant::now() < deadline, "{what}: background compaction neither ran nor failed");
            std::thread::sleep(std::time::Duration::from_millis(2));
        };
        match failure {
            Some(Error::ReadOnly(cause)) => {
                check_error(&cause, path, &format!("{what}: background failure"));
                assert_eq!(Error::ReadOnly(cause.clone()).kind(), ErrorKind::ReadOnly);
                read_only += 1;
            }
            Some(other) => panic!("{what}: expected a read-only error from the background failure, got {other:?}"),
            None => {
                let scanned: Result<State, Error> = db
                    .iter(..)
                    .filter(|kv| kv.as_ref().map_or(true, |(k, _)| &k[..] != b"probe"))
                    .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())))
                    .collect();
                match scanned {
                    Ok(state) => assert_eq!(state, expected, "{what}: wrong data after background compaction"),
                    Err(e) => check_error(&e, path, &format!("{what}: scan")),
                }
                compacted += 1;
            }
        }
    }
    eprintln!("background compaction: {read_only} turned read-only on corruption, {compacted} compacted correctly");
    assert!(read_only > 0, "some background compactions must meet damage");
}
