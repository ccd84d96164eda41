//! The logic of the engine's fuzz targets (`wal_record`, `manifest`, `engine_ops`), callable
//! from ordinary tests so `cargo test` replays their corpora on stable Rust.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    reason = "test support: its checks panic on a broken promise, as a test does"
)]

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use strata_core::fs::FileSystem;
use strata_core::{KeyRange, SeqNo};
use strata_memtable::MemtableKind;
use strata_sstable::testing::MemFs;

use super::{Change, FaultFs, Oracle, State};
use crate::batch::WriteBatch;
use crate::manifest::{CURRENT, LocalManifest, VersionEdit, manifest_name};
use crate::wal::{replay, segment_name};
use crate::{Db, Error, Options, PolicyConfig, WalRecovery, WriteOptions, record};

const DIR: &str = "/fuzz";

/// A cursor over fuzz input that yields zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn mem_fs_with(files: &[(String, &[u8])]) -> Arc<dyn FileSystem> {
    let fs = MemFs::new();
    fs.create_dir_all(Path::new(DIR)).expect("invariant: MemFs cannot fail");
    for (name, bytes) in files {
        fs.put_file(&Path::new(DIR).join(name), bytes.to_vec());
    }
    Arc::new(fs)
}

/// Replays `segments` (bytes of each, oldest first) and returns the batches or the error,
/// which must be a corruption naming one of the segments.
fn replay_segments(segments: &[&[u8]]) -> Result<Vec<(SeqNo, WriteBatch)>, Error> {
    replay_segments_with(segments, WalRecovery::TornTail)
}

fn replay_segments_with(segments: &[&[u8]], mode: WalRecovery) -> Result<Vec<(SeqNo, WriteBatch)>, Error> {
    let files: Vec<(String, &[u8])> =
        segments.iter().enumerate().map(|(i, s)| (segment_name(i as u64 + 1), *s)).collect();
    let fs = mem_fs_with(&files);
    let numbers: Vec<u64> = (1..=segments.len() as u64).collect();
    let mut out = Vec::new();
    let result = replay(&fs, Path::new(DIR), &numbers, mode, |seq, batch| out.push((seq, batch)));
    match result {
        Ok(stats) => {
            assert_eq!(stats.batches, out.len() as u64, "replay counted batches it did not apply");
            Ok(out)
        }
        Err(e @ Error::Corruption { .. }) => {
            let Error::Corruption { file, .. } = &e else { unreachable!() };
            assert!(file.extension().is_some_and(|x| x == "wal"), "corruption names {file:?}, not a log segment");
            Err(e)
        }
        Err(e) => panic!("replaying log bytes gave a non-corruption error: {e}"),
    }
}

/// Deterministic batches made from fuzz input, with ascending sequence numbers, and the log
/// segment holding them; also each record's end offset.
fn log_from(input: &mut Input<'_>) -> (Vec<(SeqNo, WriteBatch)>, Vec<u8>, Vec<usize>) {
    let count = input.byte() % 16 + 1;
    let mut seq = u64::from(input.u16()) + 1;
    let (mut batches, mut log, mut ends) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..count {
        let mut batch = WriteBatch::new();
        for _ in 0..input.byte() % 4 + 1 {
            let b = input.byte();
            let key = vec![b'k', b % 32];
            if b & 0x80 == 0 {
                batch.put(key, vec![b; usize::from(input.byte() % 64)]);
            } else {
                batch.delete(key);
            }
        }
        let mut payload = Vec::new();
        batch.encode(seq, &mut payload);
        record::encode(&mut log, &payload);
        ends.push(log.len());
        let n = batch.len() as u64;
        batches.push((seq, batch));
        seq += n;
    }
    (batches, log, ends)
}

/// The `wal_record` target: log segments, arbitrary or damaged, are replayed. Replay never
/// panics; it fails only with [`Error::Corruption`] naming the segment; a torn tail of the
/// newest segment drops exactly the records it cut; damage never changes a batch before it.
///
/// The first byte picks the mode (`% 3`): 0 the rest is a segment (replayed as the newest
/// and as a sealed one; every record that decodes must round-trip), 1 a log generated from
/// the input cut at a position, 2 the same log with bytes flipped (position, XOR mask pairs).
pub fn fuzz_wal_bytes(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            let (payloads, _) = record::scan(rest);
            for payload in payloads {
                if let Some((seq, batch)) = WriteBatch::decode(payload) {
                    let mut again = Vec::new();
                    batch.encode(seq, &mut again);
                    assert_eq!(WriteBatch::decode(&again), Some((seq, batch)), "a decoded batch does not round-trip");
                }
            }
            let _ = replay_segments(&[rest]);
            let _ = replay_segments(&[rest, &[]]);
        }
        1 => {
            let mut input = Input(rest);
            let cut = usize::from(input.u16());
            let (batches, log, ends) = log_from(&mut input);
            let cut = cut % (log.len() + 1);
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            let got = replay_segments(&[&log[..cut]]).expect("a torn tail is not corruption");
            assert_eq!(got, batches[..whole], "a cut at {cut} must keep exactly the whole records before it");
            // In a sealed segment the same cut is corruption, unless it fell between records or
            // left only zeros of the record it cut: those read as space the writer reserved
            // and never wrote (`reserved_start` in the log reader), as after a crash.
            let sealed = replay_segments(&[&log[..cut], &[]]);
            let last_whole = ends[..whole].last().copied().unwrap_or(0);
            let reserved = log[last_whole..cut].iter().all(|&b| b == 0);
            assert_eq!(sealed.is_ok(), reserved, "cut {cut} of a sealed segment: {sealed:?}");
        }
        _ => {
            let mut input = Input(rest);
            let flips = input.byte() % 4 + 1;
            let (batches, mut log, ends) = log_from(&mut input);
            let mut first = usize::MAX;
            for _ in 0..flips {
                let pos = usize::from(input.u16()) % log.len();
                let mask = input.byte().max(1);
                log[pos] ^= mask;
                first = first.min(pos);
            }
            let intact = ends.iter().filter(|&&e| e <= first).count();
            let damaged_whole_record = ends.iter().any(|&e| e > first && e < log.len());
            match replay_segments(&[&log]) {
                Ok(got) => {
                    assert!(got.len() >= intact, "records before the damage at {first} were dropped");
                    assert_eq!(got[..intact], batches[..intact], "a record before the damage changed");
                }
                Err(e) => assert!(damaged_whole_record, "damage in the last record only is a torn tail, not {e}"),
            }
            // Point-in-time recovery always opens, and keeps every record before the damage.
            let got = replay_segments_with(&[&log], WalRecovery::PointInTime).expect("point in time always recovers");
            assert!(got.len() >= intact, "point in time dropped records before the damage at {first}");
            assert_eq!(got[..intact], batches[..intact], "a record before the damage changed");
        }
    }
}

/// The `manifest` target: version edits and manifest files, arbitrary or framed with valid
/// checksums, are decoded and opened. Decoding never panics and decoded edits round-trip;
/// reading a manifest fails only with [`Error::Corruption`]; when it succeeds the engine
/// opens on it (its tables are missing, so reads may fail, but nothing panics).
///
/// The first byte picks the mode (`% 3`): 0 the rest is one edit's payload, 1 the rest is
/// split into records (a length byte, then that many bytes) each framed with a valid
/// checksum, 2 the rest is a raw manifest file.
pub fn fuzz_manifest_bytes(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let file = match mode % 3 {
        0 => {
            if let Some(edit) = VersionEdit::decode(rest) {
                assert_eq!(VersionEdit::decode(&edit.encode()).as_ref(), Some(&edit), "an edit does not round-trip");
            }
            return;
        }
        1 => {
            let mut input = Input(rest);
            let mut file = Vec::new();
            while !input.is_empty() {
                let len = usize::from(input.byte());
                let take = len.min(input.0.len());
                let (payload, tail) = input.0.split_at(take);
                record::encode(&mut file, payload);
                input.0 = tail;
            }
            file
        }
        _ => rest.to_vec(),
    };
    let name = manifest_name(7);
    let pointer = format!("{name}\n");
    let fs = mem_fs_with(&[(CURRENT.to_owned(), pointer.as_bytes()), (name.clone(), &file)]);
    match LocalManifest::recover(&fs, Path::new(DIR)) {
        Ok(Some(_)) => {
            // The engine opens on whatever the manifest says, or fails cleanly.
            // No background compaction: a fabricated tree may hold anything, and writes must
            // not stall waiting for compactions of tables that do not exist.
            let options =
                Options { max_memtable_size: 64 << 10, enable_background_compaction: false, ..Options::default() };
            if let Ok(db) = Db::open_on(fs, DIR, options) {
                let _ = db.get(b"k");
                for item in db.iter(..).take(16) {
                    let _ = item;
                }
                let _ = db.put("k", "v");
                let _ = db.flush();
            }
        }
        Ok(None) => panic!("CURRENT exists, yet recovery found no database"),
        Err(Error::Corruption { file, .. }) => {
            assert!(file.ends_with(&name), "corruption names {file:?}, not the manifest");
        }
        Err(e) => panic!("reading a manifest gave a non-corruption error: {e}"),
    }
}

const MEMTABLES: [&str; 8] =
    ["skiplist", "enhanced_skiplist", "sorted", "vector", "trie", "linked_list", "hash_skiplist", "hash_linked_list"];

fn engine_options(kind: MemtableKind, policy: u8) -> Options {
    let compaction = match policy % 3 {
        0 => PolicyConfig::Leveled {
            l0_trigger: 2,
            base_level_bytes: 32 << 10,
            level_multiplier: 2,
            target_table_size: 16 << 10,
            num_levels: 4,
            intra_l0_merge: true,
        },
        1 => PolicyConfig::SizeTiered {
            run_trigger: 3,
            size_ratio_percent: 1,
            min_merge_width: 2,
            max_merge_width: 8,
            max_size_amplification_percent: 200,
        },
        _ => PolicyConfig::Fifo { max_total_bytes: 1 << 40, max_age_ms: None },
    };
    Options {
        memtable_type: kind,
        memtable_prefix_len: 2,
        max_memtable_size: 64 << 10,
        max_background_jobs: 1,
        compaction,
        ..Options::default()
    }
}

fn scan(db: &Db, range: KeyRange) -> State {
    db.iter(range).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect::<Result<_, _>>().expect("scan")
}

fn model_range(model: &State, range: &KeyRange) -> State {
    model.iter().filter(|(k, _)| range.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The `engine_ops` target: an operation sequence (put, delete, range delete, batch, synced
/// writes, get, range scan forward and in reverse, snapshot reads, flush, compact, clean reopen, simulated power cut) runs against the engine on
/// an in-memory [`FaultFs`], checked against a [`BTreeMap`](std::collections::BTreeMap)
/// model: every read answers as the model does; after a reopen everything is there; after
/// a power cut the store holds the state after some prefix of the writes that includes
/// every synced one.
///
/// Byte 0 picks the memtable, byte 1 the compaction policy; then each operation is a byte
/// (`% 14`) followed by its arguments.
pub fn fuzz_engine_ops(data: &[u8]) {
    let mut input = Input(data);
    let kind: MemtableKind =
        MEMTABLES[usize::from(input.byte()) % MEMTABLES.len()].parse().expect("invariant: a known memtable name");
    let options = engine_options(kind, input.byte());
    let fs = FaultFs::new(MemFs::shared());
    let open = || Db::open_on(fs.shared(), DIR, options.clone()).expect("open on a healthy file system");
    let mut db = Some(open());
    let mut oracle = Oracle::new();
    let mut counter = 0u32;
    let mut value = |input: &mut Input<'_>, key: u8| {
        counter += 1;
        let len = usize::from(input.byte()) * 8;
        let mut v = format!("v{key}-{counter}-").into_bytes();
        v.resize(len.max(v.len()), b'a' + (counter % 26) as u8);
        v
    };
    let key = |b: u8| format!("k{:02}", b % 48).into_bytes();
    // The keys of `state` in `[a, b)`, each deleted: a range delete as the model sees it.
    let deleted_in = |state: &State, a: &[u8], b: &[u8]| -> Change {
        state.keys().filter(|k| k.as_slice() >= a && k.as_slice() < b).map(|k| (k.clone(), None)).collect()
    };
    // A snapshot and the model state it must show.
    let mut snapshot: Option<(crate::Snapshot<_, _, _>, State)> = None;
    let (mut ops, mut reopens) = (0, 0);
    while !input.is_empty() && ops < 256 {
        ops += 1;
        let d = db.as_ref().expect("invariant: the db is open between operations");
        let op = input.byte();
        match op % 14 {
            0..=3 => {
                let k = input.byte();
                let v = value(&mut input, k);
                let sync = op & 0x80 != 0;
                let mut batch = WriteBatch::new();
                batch.put(key(k), v.clone());
                d.write(batch, WriteOptions { sync }).expect("put");
                oracle.acked(vec![(key(k), Some(v))]);
                if sync {
                    oracle.durable();
                }
            }
            4 => {
                let k = input.byte();
                d.delete(key(k)).expect("delete");
                oracle.acked(vec![(key(k), None)]);
            }
            5 => {
                let mut batch = WriteBatch::new();
                let mut change: Change = Vec::new();
                let mut staged = oracle.latest().clone();
                for _ in 0..input.byte() % 5 + 1 {
                    let k = input.byte();
                    let step: Change = match k >> 6 {
                        0 | 1 => {
                            let v = value(&mut input, k);
                            batch.put(key(k), v.clone());
                            vec![(key(k), Some(v))]
                        }
                        2 => {
                            batch.delete(key(k));
                            vec![(key(k), None)]
                        }
                        _ => {
                            let first = k % 48;
                            let (a, b) = (key(k), format!("k{:02}", first + input.byte() % 16).into_bytes());
                            batch.delete_range(a.clone(), b.clone());
                            deleted_in(&staged, &a, &b)
                        }
                    };
                    for (k, v) in &step {
                        match v {
                            Some(v) => staged.insert(k.clone(), v.clone()),
                            None => staged.remove(k),
                        };
                    }
                    change.extend(step);
                }
                let sync = op & 0x80 != 0;
                d.write(batch, WriteOptions { sync }).expect("batch");
                oracle.acked(change);
                if sync {
                    oracle.durable();
                }
            }
            6 => {
                let k = key(input.byte());
                let got = d.get(&k).expect("get").map(|v| v.to_vec());
                assert_eq!(got.as_ref(), oracle.latest().get(&k), "get {}", String::from_utf8_lossy(&k));
            }
            7 => {
                let (a, b) = (key(input.byte()), key(input.byte()));
                let range = KeyRange::new(Bound::Included(a.into()), Bound::Excluded(b.into()));
                assert_eq!(scan(d, range.clone()), model_range(oracle.latest(), &range), "scan {range:?}");
                let back = d.iter_rev(range.clone()).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())));
                let want: Vec<_> = model_range(oracle.latest(), &range).into_iter().rev().collect();
                assert_eq!(back.collect::<Result<Vec<_>, _>>().expect("reverse scan"), want, "reverse {range:?}");
            }
            8 => {
                d.flush().expect("flush");
                oracle.durable();
            }
            9 => d.compact_range(..).expect("compact_range"),
            12 => {
                let (a, b) = (key(input.byte()), key(input.byte()));
                let (a, b) = if a <= b { (a, b) } else { (b, a) };
                d.delete_range(a.clone(), b.clone()).expect("delete_range");
                oracle.acked(deleted_in(oracle.latest(), &a, &b));
            }
            13 => match snapshot.take() {
                // Take a snapshot, or check the one held against the state it was taken at
                // and let it go.
                None => snapshot = Some((d.snapshot(), oracle.latest().clone())),
                Some((snap, want)) => {
                    let got: State = snap
                        .iter(..)
                        .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())))
                        .collect::<Result<_, _>>()
                        .expect("snapshot scan");
                    assert_eq!(got, want, "snapshot scan");
                    for k in want.keys().take(4) {
                        assert_eq!(snap.get(k).expect("snapshot get").map(|v| v.to_vec()).as_ref(), want.get(k));
                    }
                }
            },
            10 | 11 if reopens >= 8 => {}
            10 => {
                reopens += 1;
                snapshot = None;
                drop(db.take());
                db = Some(open());
                oracle.durable();
                let observed = scan(db.as_ref().expect("just opened"), KeyRange::all());
                oracle.recover(&observed).unwrap_or_else(|e| panic!("after a clean reopen: {e}"));
            }
            _ => {
                reopens += 1;
                snapshot = None;
                drop(db.take());
                fs.crash().expect("crash");
                db = Some(open());
                let observed = scan(db.as_ref().expect("just opened"), KeyRange::all());
                oracle.recover(&observed).unwrap_or_else(|e| panic!("after a simulated power cut: {e}"));
            }
        }
    }
    let d = db.as_ref().expect("invariant: open");
    assert_eq!(&scan(d, KeyRange::all()), oracle.latest(), "final full scan");
    // Every table the steps left, power cuts included, is sound whole and key by key.
    let report = d.verify(&crate::VerifyOptions::default());
    assert!(report.is_ok(), "verify at the end: {:?}", report.problems);
}

#[cfg(test)]
mod tests {
    use strata_core::MAX_WRITE_SEQNO;

    use super::*;

    /// Regression for a fuzz find in the manifest target: a manifest's last sequence number
    /// of 2^64 - 1 opened, and the next write's number overflowed. A log batch numbered past
    /// the highest number a write may take is refused the same way, as corruption.
    #[test]
    fn a_log_batch_numbered_past_the_highest_write_sequence_is_corruption() {
        let mut batch = WriteBatch::new();
        batch.put("a", "1").put("b", "2");
        for (first_seq, fits) in [(MAX_WRITE_SEQNO - 1, true), (MAX_WRITE_SEQNO, false), (SeqNo::MAX, false)] {
            let mut payload = Vec::new();
            batch.encode(first_seq, &mut payload);
            let mut log = Vec::new();
            record::encode(&mut log, &payload);
            let replayed = replay_segments(&[&log]);
            assert_eq!(replayed.is_ok(), fits, "a batch of two from {first_seq}: {replayed:?}");
        }
    }
}
