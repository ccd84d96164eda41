//! Strata on a real S3 server on loopback (`moto`, see `common`): conditional puts, the
//! engine's model test, fencing, a reader process following a writer process, outages in
//! the middle of uploads, compactions and manifest commits, and pyarrow reading the live
//! tables straight from the bucket.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test: a failed step is a failed test")]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use common::{BUCKET, Proxy, moto, remote, s3_options};
use strata::testing::model::{check, policies};
use strata::{Db, ErrorKind, ManifestStore, MemtableKind, Options, WriteBatch, WriteOptions};
use strata_object::{ObjectOptions, Remote};

fn contents(db: &Db) -> BTreeMap<Vec<u8>, Vec<u8>> {
    db.iter(..).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect::<strata::Result<_>>().unwrap()
}

#[test]
fn the_server_refuses_a_second_create_of_one_manifest() {
    let Some(m) = moto("the_server_refuses_a_second_create_of_one_manifest") else { return };
    let (remote, _) = remote("conditional", s3_options(m.port));
    let manifests = remote.manifest_store();
    assert_eq!(manifests.latest().unwrap(), None);
    assert!(manifests.put_if_absent(1, b"first").unwrap());
    assert!(!manifests.put_if_absent(1, b"second").unwrap(), "If-None-Match: * must answer 412");
    assert_eq!(manifests.latest().unwrap(), Some((1, b"first".to_vec())));
}

#[test]
fn model_on_s3() {
    let Some(m) = moto("model_on_s3") else { return };
    // Each run (known by its local directory) gets its own prefix; every reopen starts from
    // an empty local cache.
    let remotes: Mutex<HashMap<PathBuf, Remote>> = Mutex::default();
    let options = ObjectOptions { tail_prefetch_bytes: 1024, gc_grace: Duration::ZERO, ..s3_options(m.port) };
    let open = |dir: &Path, opts: Options| {
        let _ = std::fs::remove_dir_all(dir.join("cache"));
        let r =
            remotes.lock().unwrap().entry(dir.to_owned()).or_insert_with(|| remote("model", options.clone()).0).clone();
        r.open(dir, opts)
    };
    check(MemtableKind::EnhancedSkipList, &policies()[0], &open);
    let misses: u64 = remotes.lock().unwrap().values().map(|r| r.stats().cache_misses).sum();
    assert!(misses > 0, "pages were fetched by ranged GETs");
}

#[test]
fn of_two_writers_racing_to_open_exactly_one_commits() {
    let Some(m) = moto("of_two_writers_racing_to_open_exactly_one_commits") else { return };
    for round in 0..5 {
        let (remote, _) = remote("race", s3_options(m.port));
        let local = tempfile::tempdir().unwrap();
        drop(remote.open(local.path().join("setup"), Options::default()).unwrap());
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = ["x", "y"]
            .into_iter()
            .map(|name| {
                let (remote, barrier, dir) = (remote.clone(), Arc::clone(&barrier), local.path().join(name));
                std::thread::spawn(move || {
                    barrier.wait();
                    let db = remote.open(&dir, Options::default());
                    // Both have opened (or failed to) before either commits.
                    barrier.wait();
                    let db = db?;
                    db.put(name, "v")?;
                    db.flush()
                })
            })
            .collect();
        let results: Vec<strata::Result<()>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "round {round}: {results:?}");
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(loser.kind(), ErrorKind::Fenced, "round {round}: {loser}");
    }
}

/// The state after writer round `r`: every key but `key{r}`, all with value `r`.
fn round_state(r: u32) -> BTreeMap<Vec<u8>, Vec<u8>> {
    (0..200u32)
        .filter(|&k| k != r)
        .map(|k| (format!("key{k:03}").into_bytes(), format!("round{r:02}").into_bytes()))
        .collect()
}

/// The child of `a_reader_process_follows_a_writer_process`: 20 rounds, each one atomic
/// batch and a flush (a manifest commit), a full compaction every fourth round.
#[test]
#[ignore = "a child process of the reader test; does nothing when run directly"]
fn writer_child() {
    let Ok(url) = std::env::var("STRATA_S3_CHILD_URL") else { return };
    let port: u16 = std::env::var("STRATA_S3_CHILD_PORT").unwrap().parse().unwrap();
    let local = PathBuf::from(std::env::var("STRATA_S3_CHILD_DIR").unwrap());
    let options = ObjectOptions { gc_grace: Duration::from_secs(5), ..s3_options(port) };
    let remote = Remote::connect(&url, options).unwrap();
    let db = remote.open(&local, Options { max_memtable_size: 64 << 20, ..Options::default() }).unwrap();
    for r in 1..=20u32 {
        let mut batch = WriteBatch::new();
        for (k, v) in round_state(r) {
            batch.put(k, v);
        }
        batch.delete(format!("key{r:03}"));
        db.write(batch, WriteOptions { sync: true }).unwrap();
        db.flush().unwrap();
        if r % 4 == 0 {
            db.compact_range(..).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    db.close().unwrap();
}

#[test]
fn a_reader_process_follows_a_writer_process() {
    let Some(m) = moto("a_reader_process_follows_a_writer_process") else { return };
    let (remote, url) = remote("follow", s3_options(m.port));
    let local = tempfile::tempdir().unwrap();
    // The database exists before the reader opens it.
    let db = remote.open(local.path().join("writer"), Options::default()).unwrap();
    for (k, v) in round_state(0) {
        db.put(k, v).unwrap();
    }
    db.flush().unwrap();
    db.close().unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "writer_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("STRATA_S3_CHILD_URL", &url)
        .env("STRATA_S3_CHILD_PORT", m.port.to_string())
        .env("STRATA_S3_CHILD_DIR", local.path().join("writer"))
        .spawn()
        .unwrap();
    let reader = remote.open_read_only(local.path().join("reader"), Options::default()).unwrap();
    let (mut last, mut seen) = (0u32, 0usize);
    loop {
        let done = child.try_wait().unwrap().is_some();
        reader.refresh().unwrap();
        let state = contents(&reader);
        let round = (0..=20).find(|&r| state == round_state(r));
        let Some(round) = round else {
            panic!("the reader served a state that no committed manifest holds ({} keys)", state.len());
        };
        assert!(round >= last, "the reader went back from round {last} to {round}");
        if round != last {
            seen += 1;
        }
        last = round;
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success(), "the writer failed");
    reader.refresh().unwrap();
    assert_eq!(contents(&reader), round_state(20));
    assert!(seen >= 3, "the reader followed only {seen} rounds");
}

/// The server goes away (every connection cut, new ones refused) at random moments of
/// flushes and compactions, and comes back. The writer reports errors and refuses writes
/// until reopened; reopened, it holds every write it acknowledged, and every table its
/// manifest names is readable from the store.
#[test]
fn outages_lose_no_acknowledged_write() {
    let Some(m) = moto("outages_lose_no_acknowledged_write") else { return };
    let proxy = Proxy::start(m.port);
    let options = ObjectOptions {
        max_retries: 1,
        retry_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        gc_grace: Duration::ZERO,
        ..s3_options(proxy.port)
    };
    let (remote, _) = remote("outage", options);
    let local = tempfile::tempdir().unwrap();
    let opts = Options { max_memtable_size: 64 << 10, ..Options::default() };
    let mut model = BTreeMap::new();
    let mut failures = 0;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..12u32 {
        let _ = std::fs::remove_dir_all(local.path().join("cache"));
        let db = remote.open(local.path(), opts.clone()).unwrap();
        assert_eq!(contents(&db), model, "round {round}: after reopening");
        for i in 0..300u32 {
            let (k, v) = (format!("k{:04}", (i * 7 + round * 13) % 900), format!("r{round}-{i}"));
            if db
                .write(
                    {
                        let mut b = WriteBatch::new();
                        b.put(k.clone(), v.clone());
                        b
                    },
                    WriteOptions { sync: true },
                )
                .is_ok()
            {
                model.insert(k.into_bytes(), v.into_bytes());
            }
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(seed % 40);
        let outage = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(delay);
                proxy.down();
                std::thread::sleep(Duration::from_millis(300));
                proxy.up();
            });
            db.flush().and_then(|()| db.compact_range(..))
        });
        if outage.is_err() {
            failures += 1;
            // A failed commit leaves the writer refusing writes.
            assert!(db.put("after", "x").is_err(), "round {round}");
        }
        drop(db);
    }
    let _ = std::fs::remove_dir_all(local.path().join("cache"));
    let db = remote.open(local.path(), opts).unwrap();
    assert_eq!(contents(&db), model, "after the last reopen");
    assert!(failures > 0, "no outage hit a flush or compaction");
}

#[test]
fn pyarrow_reads_the_live_tables_from_the_bucket() {
    let Some(m) = moto("pyarrow_reads_the_live_tables_from_the_bucket") else { return };
    let python = Command::new("python3").args(["-c", "import pyarrow.fs, pyarrow.parquet"]).output();
    if !python.is_ok_and(|o| o.status.success()) {
        assert!(std::env::var_os("CI").is_none(), "CI is set but python3 with pyarrow is missing");
        eprintln!("\n!!!!!!!! SKIPPED pyarrow_reads_the_live_tables_from_the_bucket: no pyarrow !!!!!!!!\n");
        return;
    }
    let (remote, _) = remote("pyarrow", s3_options(m.port));
    let local = tempfile::tempdir().unwrap();
    let db = remote.open(local.path(), Options { max_memtable_size: 64 << 10, ..Options::default() }).unwrap();
    for i in 0..3000u32 {
        db.put(format!("key{:05}", i % 1700), format!("value{i}")).unwrap();
        if i % 11 == 0 {
            db.delete(format!("key{:05}", (i * 3) % 1700)).unwrap();
        }
    }
    db.flush().unwrap();
    db.compact_range("key00000".."key00800").unwrap();
    let keys: Vec<String> =
        db.tables().iter().flatten().map(|t| format!("{BUCKET}/{}", remote.table_key(t.id))).collect();
    let script = r#"
import sys, pyarrow.fs as fs, pyarrow.parquet as pq
port, paths = sys.argv[1], sys.argv[2:]
s3 = fs.S3FileSystem(access_key="test", secret_key="test", region="us-east-1",
                     endpoint_override="127.0.0.1:" + port, scheme="http")
newest = {}
for path in paths:
    t = pq.read_table(path, filesystem=s3).to_pydict()
    for k, s, kind, v in zip(t["key"], t["seq"], t["kind"], t["value"]):
        if k not in newest or s > newest[k][0]:
            newest[k] = (s, kind, v)
for k in sorted(newest):
    s, kind, v = newest[k]
    if kind == 0:
        print(k.hex(), v.hex())
"#;
    let out = Command::new("python3").arg("-c").arg(script).arg(m.port.to_string()).args(&keys).output().unwrap();
    assert!(out.status.success(), "pyarrow failed: {}", String::from_utf8_lossy(&out.stderr));
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let expected: String = contents(&db).iter().map(|(k, v)| format!("{} {}\n", hex(k), hex(v))).collect();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

/// A short outage under a read is retried with backoff, and the read succeeds.
#[test]
fn reads_ride_out_a_short_outage() {
    let Some(m) = moto("reads_ride_out_a_short_outage") else { return };
    let proxy = Proxy::start(m.port);
    // Nothing cached: the read below must go to the server.
    let options =
        ObjectOptions { cache_bytes: 0, readahead_bytes: 0, tail_prefetch_bytes: 64, ..s3_options(proxy.port) };
    let (remote, _) = remote("retry", options);
    let local = tempfile::tempdir().unwrap();
    let db = remote.open(local.path(), Options::default()).unwrap();
    for i in 0..2000u32 {
        db.put(format!("key{i:05}"), format!("value{i}")).unwrap();
    }
    db.flush().unwrap();
    db.close().unwrap();
    let db = remote.open(local.path(), Options { block_cache_bytes: 64 << 10, ..Options::default() }).unwrap();
    assert_eq!(db.get("key00001").unwrap().as_deref(), Some(&b"value1"[..]), "opens the table");
    let gets = remote.stats().gets;
    std::thread::scope(|s| {
        proxy.down();
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            proxy.up();
        });
        assert_eq!(db.get("key01234").unwrap().as_deref(), Some(&b"value1234"[..]), "read through the outage");
    });
    assert!(remote.stats().gets > gets, "the read went to the server");
    assert_eq!(db.iter(..).count(), 2000);
}
