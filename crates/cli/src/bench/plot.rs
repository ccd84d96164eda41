//! `--plot FILE.svg`: throughput of every workload, engines side by side, as grouped bars.

use std::path::Path;

use plotters::prelude::*;

use super::engine::Report;

const COLORS: [RGBColor; 3] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44)];

/// Draws the report's ops/s per workload and engine into an SVG file.
///
/// # Errors
///
/// When the file cannot be written.
pub(crate) fn draw(report: &Report, path: &Path) -> Result<(), String> {
    let mut workloads: Vec<&str> = Vec::new();
    let mut engines: Vec<&str> = Vec::new();
    for r in &report.rows {
        if !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
        if !engines.contains(&r.engine.as_str()) {
            engines.push(&r.engine);
        }
    }
    let max = report.rows.iter().map(|r| r.ops_per_sec).fold(1.0, f64::max);
    let width = (140 + workloads.len() * 70).max(640) as u32;
    let root = SVGBackend::new(path, (width, 480)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let caption = format!(
        "ops/s, {} keys, {} B keys, {} B values, {} thread(s)",
        report.num, report.key_size, report.value_size, report.threads
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(70)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..workloads.len() as f64, (1f64..max * 2.0).log_scale())
        .map_err(|e| err(&e))?;
    let names = workloads.clone();
    chart
        .configure_mesh()
        .x_labels(workloads.len() * 2 + 1)
        .x_label_formatter(&move |x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 {
                names.get(i).map_or(String::new(), |n| (*n).to_owned())
            } else {
                String::new()
            }
        })
        .y_desc("operations per second (log scale)")
        .disable_x_mesh()
        .draw()
        .map_err(|e| err(&e))?;
    let bar = 0.8 / engines.len() as f64;
    for (e, engine) in engines.iter().enumerate() {
        let color = COLORS[e % COLORS.len()];
        let bars = report.rows.iter().filter(|r| r.engine == *engine).filter_map(|r| {
            let w = workloads.iter().position(|w| *w == r.workload)? as f64;
            let x0 = w + 0.1 + bar * e as f64;
            Some(Rectangle::new([(x0, 1.0), (x0 + bar * 0.95, r.ops_per_sec.max(1.0))], color.filled()))
        });
        chart
            .draw_series(bars)
            .map_err(|e| err(&e))?
            .label(*engine)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
