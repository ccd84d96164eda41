//! Printing an engine benchmark: one table per workload with every engine side by side,
//! Strata's ratio to each peer, and the size and amplification summary.

use std::fmt::Write;

use super::engine::Report;

fn rate(x: f64) -> String {
    if x >= 1e6 { format!("{:.2}M", x / 1e6) } else { format!("{:.1}k", x / 1e3) }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

pub(crate) fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} keys of {} B, values of {} B, {} thread(s), sync={}",
        report.num, report.key_size, report.value_size, report.threads, report.sync
    );
    let _ = writeln!(
        out,
        "\n{:<17} {:<8} {:>10} {:>9} {:>9} {:>9} {:>10} {:>12}",
        "workload", "engine", "ops/s", "MB/s", "p50 us", "p99 us", "p99.9 us", "strata/this"
    );
    let mut workloads: Vec<&str> = Vec::new();
    for r in &report.rows {
        if !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    for w in workloads {
        let rows: Vec<_> = report.rows.iter().filter(|r| r.workload == w).collect();
        let strata = rows.iter().find(|r| r.engine == "strata").map(|r| r.ops_per_sec);
        for r in rows {
            let ratio = match strata {
                Some(s) if r.engine != "strata" => format!("{:.2}x", s / r.ops_per_sec.max(1e-9)),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "{:<17} {:<8} {:>10} {:>9.1} {:>9.1} {:>9.1} {:>10.1} {:>12}",
                r.workload,
                r.engine,
                rate(r.ops_per_sec),
                r.mb_per_sec,
                r.p50_us,
                r.p99_us,
                r.p999_us,
                ratio
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{:<8} {:>12} {:>12} {:>12} {:>14} {:>10} {:>10}",
        "engine", "user bytes", "table bytes", "write amp", "disk (after)", "live", "space amp"
    );
    for e in &report.engines {
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
    let _ = writeln!(
        out,
        "\nstrata/this: Strata's ops/s divided by this engine's (above 1: Strata is faster). write amp: table \
         bytes written per user byte. space amp: directory size after the run per live key and value byte."
    );
    out
}
