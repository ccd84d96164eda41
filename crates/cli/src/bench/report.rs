//! Printing an engine benchmark: a header, then one line per workload the moment it
//! finishes (with Strata's ratio to a peer once both have run it), then, when several
//! engines ran, every workload with the engines side by side, and the size and
//! amplification summary.

use std::fmt::Write;

use super::engine::{Report, Row};

fn rate(x: f64) -> String {
    if x >= 1e6 { format!("{:.2}M", x / 1e6) } else { format!("{:.1}k", x / 1e3) }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// What the run is (one line; [`columns`] follows it).
pub(crate) fn header(
    num: u64,
    reads: u64,
    key_size: usize,
    value_size: usize,
    compression_ratio: f64,
    threads: usize,
    sync: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{num} keys of {key_size} B, values of {value_size} B (compression ratio {compression_ratio}), {reads} \
         operations per workload on loaded keys, {threads} thread(s), sync={sync}"
    );
    out
}

/// The column names of [`row_line`], after a blank line.
pub(crate) fn columns() -> String {
    format!(
        "\n{:<17} {:<8} {:>10} {:>9} {:>9} {:>9} {:>10} {:>12}\n",
        "workload", "engine", "ops/s", "MB/s", "p50 us", "p99 us", "p99.9 us", "strata/this"
    )
}

/// One finished workload; `strata_ops` is Strata's ops/s on the same workload, when known
/// and this row is a peer's.
pub(crate) fn row_line(r: &Row, strata_ops: Option<f64>) -> String {
    let ratio = match strata_ops {
        Some(s) if r.engine != "strata" => format!("{:.2}x", s / r.ops_per_sec.max(1e-9)),
        _ => String::new(),
    };
    let mut line = format!(
        "{:<17} {:<8} {:>10} {:>9.1} {:>9.1} {:>9.1} {:>10.1} {:>12}\n",
        r.workload,
        r.engine,
        rate(r.ops_per_sec),
        r.mb_per_sec,
        r.p50_us,
        r.p99_us,
        r.p999_us,
        ratio
    );
    if let Some(w) = r.writes_per_sec {
        let _ = writeln!(line, "{:<17} while a writer put {}/s", "", rate(w));
    }
    if r.workload == "compact" {
        let _ = match r.settle_secs {
            Some(s) => {
                writeln!(line, "{:<17} after {:.0} ms, untimed, finishing the background work left", "", s * 1e3)
            }
            None => writeln!(
                line,
                "{:<17} the engine cannot say when its background work ends: what was left is in the time",
                ""
            ),
        };
    }
    if let Some(s) = &r.store {
        let _ = writeln!(
            line,
            "{:<17} object store: {:.2} GETs/op ({:.0} B/op), {} PUTs ({}), disk cache hits {:.1}%",
            "",
            s.gets_per_op,
            s.get_bytes_per_op,
            s.puts,
            mib(s.put_bytes),
            s.cache_hit_ratio * 100.0
        );
    }
    line
}

/// Strata's ops/s on `workload` among `rows`.
pub(crate) fn strata_ops(rows: &[Row], workload: &str) -> Option<f64> {
    rows.iter().find(|r| r.engine == "strata" && r.workload == workload).map(|r| r.ops_per_sec)
}

/// Every workload with the engines side by side (worth printing only when several ran,
/// since the rows were printed one by one as they finished).
pub(crate) fn side_by_side(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nside by side:\n{:<17} {:<8} {:>10} {:>9} {:>9} {:>9} {:>10} {:>12}",
        "workload", "engine", "ops/s", "MB/s", "p50 us", "p99 us", "p99.9 us", "strata/this"
    );
    let mut workloads: Vec<&str> = Vec::new();
    for r in &report.rows {
        if !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    for w in workloads {
        let strata = strata_ops(&report.rows, w);
        for r in report.rows.iter().filter(|r| r.workload == w) {
            out.push_str(&row_line(r, strata));
        }
    }
    out
}

/// Sizes and amplification per engine, and what the columns mean.
pub(crate) fn summary(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<8} {:>12} {:>12} {:>12} {:>14} {:>10} {:>10}",
        "engine", "user bytes", "table bytes", "write amp", "disk (after)", "live", "space amp"
    );
    for e in &report.engines {
        if let (Some(up), Some(amp)) = (e.uploaded_bytes, e.upload_amplification) {
            let _ = writeln!(out, "{:<8} uploaded to the object store: {} ({amp:.2} per user byte)", e.engine, mib(up));
        }
        let _ = writeln!(
            out,
            "{:<8} {:>12} {:>12} {:>12} {:>14} {:>10} {:>10}",
            e.engine,
            mib(e.user_bytes),
            e.table_bytes_written.map_or_else(|| "-".to_owned(), mib),
            e.write_amplification.map_or_else(|| "-".to_owned(), |w| format!("{w:.2}")),
            format!("{} ({})", mib(e.disk_bytes), mib(e.disk_bytes_after_compact)),
            mib(e.live_bytes),
            e.space_amplification.map_or_else(|| "-".to_owned(), |a| format!("{a:.2}"))
        );
    }
    for e in &report.engines {
        let Some(peak) = e.memory else { continue };
        let anon = peak.anon_bytes.map_or_else(String::new, |a| format!("; {} anonymous", mib(a)));
        let _ = writeln!(
            out,
            "{:<8} peak memory: {} resident, mapped file pages included{anon}",
            e.engine,
            mib(peak.rss_bytes)
        );
    }
    for e in &report.engines {
        let Some(w) = e.write_stalls else { continue };
        let counts = match (w.stalls, w.slowdowns) {
            (Some(stalls), Some(slowdowns)) => format!(" ({stalls} writes stalled, {slowdowns} write groups paced)"),
            _ => String::new(),
        };
        let _ = writeln!(out, "{:<8} writers held back {:.1} ms in all{counts}", e.engine, w.micros as f64 / 1e3);
    }
    for e in &report.engines {
        let Some(rows) = e.compaction_rows else { continue };
        let total = (rows.rewritten + rows.copied).max(1);
        let _ = writeln!(
            out,
            "{:<8} compactions wrote {} rows one by one and copied {} in whole row groups ({:.1}%)",
            e.engine,
            rows.rewritten,
            rows.copied,
            100.0 * rows.copied as f64 / total as f64
        );
    }
    for e in &report.engines {
        let Some(parts) = e.table_parts.as_ref().filter(|p| !p.is_empty()) else { continue };
        let total: u64 = parts.iter().map(|p| p.stored).sum();
        let _ = writeln!(out, "\n{} tables after the full compaction, by part:", e.engine);
        let _ = writeln!(out, "  {:<22} {:>12} {:>8} {:>18}", "part", "stored", "share", "before compression");
        for p in parts {
            let _ = writeln!(
                out,
                "  {:<22} {:>12} {:>7.1}% {:>18}",
                p.part,
                mib(p.stored),
                100.0 * p.stored as f64 / total.max(1) as f64,
                mib(p.raw)
            );
        }
    }
    let _ = writeln!(
        out,
        "\nstrata/this: Strata's ops/s divided by this engine's (above 1: Strata is faster). write amp: table \
         bytes written per user byte, once background flushes and compactions are done. space amp: directory size after the run per live key and value byte."
    );
    out
}
