//! Four writer threads and four reader threads for a few seconds, with flushes and
//! compactions underneath; then the final state is checked against each writer's model,
//! before and after a reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use strata::{Db, Options, WriteBatch, WriteOptions};

const WRITERS: u64 = 4;
const KEYS_PER_WRITER: u64 = 500;

fn options() -> Options {
    Options { max_memtable_size: 256 << 10, ..Options::default() }
}

/// Values carry their writer, key and version, so readers can check what they see.
fn value(w: u64, k: u64, version: u64) -> Vec<u8> {
    let mut v = format!("w{w}:k{k}:v{version}:").into_bytes();
    v.resize(64, b'.');
    v
}

fn parse(v: &[u8]) -> (u64, u64, u64) {
    let s = std::str::from_utf8(v).expect("utf-8 value");
    let mut parts = s.trim_end_matches('.').trim_end_matches(':').split(':');
    let mut num =
        |p: char| parts.next().and_then(|x| x.strip_prefix(p)).and_then(|x| x.parse().ok()).expect("well-formed");
    (num('w'), num('k'), num('v'))
}

#[test]
fn four_writers_four_readers_then_model_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(dir.path(), options()).expect("open");
    let stop = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let duration = Duration::from_secs(3);
    let models: Vec<BTreeMap<Vec<u8>, Vec<u8>>> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let db = &db;
                s.spawn(move || {
                    let mut model = BTreeMap::new();
                    let mut version = 0u64;
                    let started = Instant::now();
                    let mut x = w.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                    while started.elapsed() < duration {
                        version += 1;
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let k = x % KEYS_PER_WRITER;
                        let key = format!("w{w}/{k:04}").into_bytes();
                        match version % 10 {
                            0 => {
                                db.delete(key.clone()).expect("delete");
                                model.remove(&key);
                            }
                            1 => {
                                // An atomic pair: readers must never see one without the other.
                                let pair = format!("w{w}/pair").into_bytes();
                                let mut batch = WriteBatch::new();
                                batch.put(key.clone(), value(w, k, version)).put(pair.clone(), value(w, k, version));
                                db.write(batch, WriteOptions { sync: version % 50 == 1 }).expect("batch");
                                model.insert(key, value(w, k, version));
                                model.insert(pair, value(w, k, version));
                            }
                            _ => {
                                db.put(key.clone(), value(w, k, version)).expect("put");
                                model.insert(key, value(w, k, version));
                            }
                        }
                    }
                    model
                })
            })
            .collect();
        for r in 0..4u64 {
            let (db, stop, reads) = (&db, &stop, &reads);
            s.spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let w = (n + r) % WRITERS;
                    if n.is_multiple_of(20) {
                        // A scan is consistent: keys sorted, values belong to their keys.
                        let mut last: Option<strata::Bytes> = None;
                        for kv in db.prefix(format!("w{w}/")) {
                            let (k, v) = kv.expect("scan");
                            assert!(last.as_ref().is_none_or(|l| *l < k), "scan out of order");
                            let (vw, _, _) = parse(&v);
                            assert_eq!(vw, w, "value of another writer under {k:?}");
                            last = Some(k);
                        }
                    } else {
                        let k = (n * 7919) % KEYS_PER_WRITER;
                        if let Some(v) = db.get(format!("w{w}/{k:04}")).expect("get") {
                            let (vw, vk, _) = parse(&v);
                            assert_eq!((vw, vk), (w, k), "value of another key");
                        }
                        // Through a snapshot, a batch's pair is all or nothing.
                        let snap = db.snapshot();
                        if let Some(pair) = snap.get(format!("w{w}/pair")).expect("pair") {
                            let (_, pk, pv) = parse(&pair);
                            let partner = snap.get(format!("w{w}/{pk:04}")).expect("partner");
                            if let Some(p) = partner {
                                assert!(parse(&p).2 >= pv, "a snapshot saw the pair's batch without its other half");
                            }
                        }
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let models = writers.into_iter().map(|h| h.join().expect("writer")).collect();
        stop.store(true, Ordering::Relaxed);
        models
    });
    let model: BTreeMap<Vec<u8>, Vec<u8>> = models.into_iter().flatten().collect();
    let check = |db: &Db, when: &str| {
        let got: Vec<(Vec<u8>, Vec<u8>)> =
            db.iter(..).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("scan")).collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(got.len(), want.len(), "{when}: key count");
        assert!(got == want, "{when}: contents differ from the model");
    };
    check(&db, "after the run");
    let stats = db.stats();
    assert!(stats.flushes > 0, "the run was too small to flush; it proves little");
    assert!(reads.load(Ordering::Relaxed) > 100);
    db.close().expect("close");
    let db = Db::open(dir.path(), options()).expect("reopen");
    check(&db, "after reopen");
    println!(
        "writes {} groups {} flushes {} compactions {}",
        stats.writes, stats.write_groups, stats.flushes, stats.compactions
    );
}
