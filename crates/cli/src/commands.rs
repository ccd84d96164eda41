//! The data subcommands: `put`, `get`, `delete`, `scan`, `stats`, `inspect`, `compact`,
//! `flush`, `duckdb-view`, `checkpoint`. Each takes a local directory or an object-store
//! location ([`Target`]).

use std::io::Write;
use std::path::Path;

use strata::{KeyRange, Options};

use crate::location::{Access, Target};

/// Bytes as text: printable ASCII as is, everything else as `\xNN`.
pub(crate) fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

pub(crate) fn put(target: &Target, base: &Options, key: &str, value: &str) -> Result<(), String> {
    let db = target.open(base, Access::Create)?;
    db.write(
        {
            let mut b = strata::WriteBatch::new();
            b.put(key.as_bytes().to_vec(), value.as_bytes().to_vec());
            b
        },
        strata::WriteOptions::synced(),
    )
    .map_err(|e| e.to_string())?;
    target.close(db)
}

pub(crate) fn get(target: &Target, base: &Options, key: &str) -> Result<bool, String> {
    let db = target.open(base, Access::Read)?;
    match db.get(key).map_err(|e| e.to_string())? {
        Some(v) => {
            let mut out = std::io::stdout().lock();
            out.write_all(&v).and_then(|()| out.write_all(b"\n")).map_err(|e| e.to_string())?;
            Ok(true)
        }
        None => Ok(false),
    }
}

pub(crate) fn delete(target: &Target, base: &Options, key: &str) -> Result<(), String> {
    let db = target.open(base, Access::Write)?;
    let mut b = strata::WriteBatch::new();
    b.delete(key.as_bytes().to_vec());
    db.write(b, strata::WriteOptions::synced()).map_err(|e| e.to_string())?;
    target.close(db)
}

pub(crate) fn delete_range(target: &Target, base: &Options, start: &str, end: &str) -> Result<(), String> {
    let db = target.open(base, Access::Write)?;
    let mut b = strata::WriteBatch::new();
    b.delete_range(start.as_bytes().to_vec(), end.as_bytes().to_vec());
    db.write(b, strata::WriteOptions::synced()).map_err(|e| e.to_string())?;
    target.close(db)
}

/// The keys `strata scan` prints: those with a prefix, or from a start up to an end.
pub(crate) struct ScanRange<'a> {
    pub(crate) prefix: Option<&'a str>,
    pub(crate) start: Option<&'a str>,
    pub(crate) end: Option<&'a str>,
}

pub(crate) fn scan(
    target: &Target,
    base: &Options,
    range: &ScanRange<'_>,
    limit: Option<usize>,
    reverse: bool,
) -> Result<usize, String> {
    let db = target.open(base, Access::Read)?;
    let range = match (range.prefix, range.start, range.end) {
        (Some(p), None, None) => KeyRange::prefix(p.as_bytes()),
        (Some(_), _, _) => return Err("--prefix cannot be combined with --start or --end".into()),
        (None, Some(s), Some(e)) => KeyRange::from_range(s..e),
        (None, Some(s), None) => KeyRange::from_range(s..),
        (None, None, Some(e)) => KeyRange::from_range(..e),
        (None, None, None) => KeyRange::all(),
    };
    let rows: Box<dyn Iterator<Item = strata::Result<_>>> =
        if reverse { Box::new(db.iter_rev(range)) } else { Box::new(db.iter(range)) };
    let mut out = std::io::stdout().lock();
    let mut n = 0;
    for kv in rows.take(limit.unwrap_or(usize::MAX)) {
        let (k, v) = kv.map_err(|e| e.to_string())?;
        writeln!(out, "{}\t{}", escape(&k), escape(&v)).map_err(|e| e.to_string())?;
        n += 1;
    }
    Ok(n)
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1 << 20) as f64)
}

pub(crate) fn stats(target: &Target, base: &Options) -> Result<String, String> {
    let db = target.open(base, Access::Read)?;
    // Touch every key once so cache counters and amplification have something to show.
    let mut live_bytes = 0u64;
    let mut keys = 0u64;
    for kv in db.iter(..) {
        let (k, v) = kv.map_err(|e| e.to_string())?;
        live_bytes += (k.len() + v.len()) as u64;
        keys += 1;
    }
    let s = db.stats();
    let tables = db.tables();
    let mut out = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(out, "database {target}");
    let _ = writeln!(out, "last sequence number {}, {keys} live keys, {}", s.last_seq, mib(live_bytes));
    let _ = writeln!(
        out,
        "memtable {} active, {} sealed; options: memtable {}, policy {}",
        mib(s.active_memtable_bytes as u64),
        s.immutable_memtables,
        db.options().memtable_type,
        serde_json::to_string(&db.options().compaction).unwrap_or_default()
    );
    let planned = db.options().filter_bits_per_level();
    for (level, ts) in tables.iter().enumerate() {
        let bytes: u64 = ts.iter().map(|t| t.file_size).sum();
        // Filter bits per key from the tables' filter sizes, and the false-positive rate
        // measured by probing each table's filters with 4,096 random hashes.
        let (mut filter_bytes, mut entries, mut fp_weighted) = (0u64, 0u64, 0.0);
        for t in ts {
            let d = db.store().describe(t.id).map_err(|e| e.to_string())?;
            filter_bytes += d.filter_bytes as u64;
            entries += t.entries;
            let fp = db.store().measure_filter_false_positives(t.id, 4096).map_err(|e| e.to_string())?;
            fp_weighted += fp * t.entries as f64;
        }
        let filters = if entries == 0 {
            String::new()
        } else {
            let target =
                planned.get(level).or(planned.last()).copied().unwrap_or(db.options().table.bloom_bits_per_key);
            format!(
                ", filters {:.1} bits/key (configured {target:.1}), measured false positives {:.2}%",
                filter_bytes as f64 * 8.0 / entries as f64,
                100.0 * fp_weighted / entries as f64
            )
        };
        let _ = writeln!(out, "L{level}: {} tables, {}{filters}", ts.len(), mib(bytes));
        for t in ts {
            let _ = writeln!(
                out,
                "  {:06}.parquet {:>10} {:>9} entries {:>7} tombstones  [{} .. {}]  seq {}..{}",
                t.id,
                mib(t.file_size),
                t.entries,
                t.tombstones,
                escape(&t.min_key),
                escape(&t.max_key),
                t.min_seq,
                t.max_seq
            );
        }
    }
    let table_bytes = s.table_bytes();
    let space_amp = if live_bytes == 0 { 0.0 } else { table_bytes as f64 / live_bytes as f64 };
    let hit_rate =
        |h: u64, m: u64| if h + m == 0 { "-".to_owned() } else { format!("{:.1}%", 100.0 * h as f64 / (h + m) as f64) };
    let _ = writeln!(
        out,
        "block cache: {} hits, {} misses ({} hit rate, {} read in place), {} used; table cache: {} hit rate, {} \
         of open tables' indexes and filters",
        s.store.block_cache.hits,
        s.store.block_cache.misses,
        hit_rate(s.store.block_cache.hits, s.store.block_cache.misses),
        s.store.block_cache.declined,
        mib(s.store.block_cache.bytes),
        hit_rate(s.store.table_cache.hits, s.store.table_cache.misses),
        mib(s.store.table_cache.bytes)
    );
    let _ = writeln!(
        out,
        "space amplification {space_amp:.2} (table bytes per live byte); write amplification since open {:.2}",
        s.write_amplification()
    );
    let _ = writeln!(
        out,
        "compaction rows since open: {} rewritten, {} copied in whole row groups; {} of {} compactions run for seeks",
        s.compaction_rows_rewritten, s.compaction_rows_copied, s.seek_compactions, s.compactions
    );
    db.close().map_err(|e| e.to_string())?;
    if target.is_remote() {
        let o = target.remote()?.stats();
        let _ = writeln!(
            out,
            "object store: {} GETs ({}), {} PUTs ({}), {} LISTs, {} HEADs; disk cache {} hits, {} misses, {}",
            o.gets,
            mib(o.get_bytes),
            o.puts,
            mib(o.put_bytes),
            o.lists,
            o.heads,
            o.cache_hits,
            o.cache_misses,
            mib(o.cache_bytes)
        );
    }
    Ok(out)
}

pub(crate) fn inspect(file: &Path, rows: usize) -> Result<String, String> {
    let name = file.file_name().and_then(|n| n.to_str()).ok_or_else(|| format!("{} is not a file", file.display()))?;
    let id = strata_sstable::table_id_from_file_name(name)
        .ok_or_else(|| format!("{} is not a Strata table (expected NNNNNN.parquet)", file.display()))?;
    if !file.is_file() {
        return Err(format!("{} does not exist", file.display()));
    }
    let dir = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let store = strata_sstable::ParquetStore::open(dir, strata_sstable::ParquetOptions::default())
        .map_err(|e| e.to_string())?;
    let d = store.describe(id).map_err(|e| e.to_string())?;
    let m = &d.meta;
    let mut out = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(out, "table {}", file.display());
    let _ = writeln!(out, "  id {}  size {} bytes  created {} ms since the epoch", m.id, m.file_size, m.created_at_ms);
    let _ =
        writeln!(out, "  entries {}  tombstones {}  sequence {}..{}", m.entries, m.tombstones, m.min_seq, m.max_seq);
    let _ = writeln!(out, "  keys [{} .. {}]", escape(&m.min_key), escape(&m.max_key));
    let _ = writeln!(
        out,
        "  row groups {}  key pages {}  compression {}  bloom filters {} bytes ({:.1} bits/entry)",
        d.row_groups,
        d.pages,
        d.compression,
        d.filter_bytes,
        d.filter_bytes as f64 * 8.0 / m.entries.max(1) as f64
    );
    if let Some(by) = &d.created_by {
        let _ = writeln!(out, "  written by {by}");
    }
    let _ = writeln!(out, "  bytes by part (stored, before compression, per entry stored; data pages):");
    for b in &d.bytes {
        let pages = if b.pages > 0 { format!("{:>10}", b.pages) } else { String::new() };
        let _ = writeln!(
            out,
            "    {:<22}{:>12}{:>12}{:>8.2}{pages}",
            b.part,
            b.stored,
            b.raw,
            b.stored as f64 / m.entries.max(1) as f64
        );
    }
    if rows > 0 {
        use strata_sstable::SsTableStore;
        let _ = writeln!(out, "  first {rows} rows (key, seq, kind, value):");
        for e in store.scan(id, &KeyRange::all()).map_err(|e| e.to_string())?.take(rows) {
            let e = e.map_err(|e| e.to_string())?;
            let _ = writeln!(out, "    {}\t{}\t{:?}\t{}", escape(&e.key), e.seq, e.kind, escape(&e.value));
        }
    }
    Ok(out)
}

pub(crate) fn compact(target: &Target, base: &Options) -> Result<String, String> {
    let db = target.open(base, Access::Write)?;
    let before = db.stats().table_bytes();
    db.compact_range(..).map_err(|e| e.to_string())?;
    let s = db.stats();
    let shape: Vec<String> = s
        .levels
        .iter()
        .enumerate()
        .filter(|(_, l)| l.tables > 0)
        .map(|(i, l)| format!("L{i}: {} tables", l.tables))
        .collect();
    let msg = format!("compacted: {} -> {} of tables; {}", mib(before), mib(s.table_bytes()), shape.join(", "));
    target.close(db)?;
    Ok(msg)
}

pub(crate) fn flush(target: &Target, base: &Options) -> Result<String, String> {
    let db = target.open(base, Access::Write)?;
    db.flush().map_err(|e| e.to_string())?;
    let tables: usize = db.tables().iter().map(Vec::len).sum();
    target.close(db)?;
    Ok(format!("flushed: {tables} live tables"))
}

/// How many times `duckdb-view` opens the database before giving up on a stable table set.
const VIEW_ATTEMPTS: usize = 5;

pub(crate) fn duckdb_view(target: &Target, base: &Options, name: &str) -> Result<String, String> {
    let dir = target.dir("duckdb-view (it names table files on local disk)")?;
    // NOTE: opening may start a compaction (the replayed log adds L0 tables) that commits
    // after the view was made and deletes tables the view names. `close` waits for running
    // compactions and none starts after it, so a view whose files all exist after the close
    // names exactly the live tables; otherwise the tree changed and we look again.
    for _ in 0..VIEW_ATTEMPTS {
        let db = target.open(base, Access::Write)?;
        let view = strata::duckdb_view(&db, name).map_err(|e| e.to_string())?;
        db.close().map_err(|e| e.to_string())?;
        if view.files.iter().all(|f| f.is_file()) {
            return Ok(view.sql);
        }
    }
    Err(format!("compactions kept replacing the tables of {} while the view was made; run it again", dir.display()))
}

pub(crate) fn checkpoint(target: &Target, base: &Options, dest: &Path) -> Result<String, String> {
    let db = target.open(base, Access::Write)?;
    let info = db.checkpoint(dest).map_err(|e| e.to_string())?;
    target.close(db)?;
    let how = if info.copied_bytes == 0 {
        format!("{} hard-linked", info.linked)
    } else {
        format!("{} hard-linked, {} copied ({})", info.linked, info.tables - info.linked, mib(info.copied_bytes))
    };
    Ok(format!("checkpoint at sequence {} in {}: {} tables ({how})", info.seq, dest.display(), info.tables))
}
