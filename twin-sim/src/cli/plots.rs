//! The validation report's PNG plots, drawn with plotters: one per family of checks (each
//! check's curves in a panel of their own), the Schnider model's predicted against measured
//! concentrations, its performance errors over time, and the resting model's deviations from
//! published normals.
//!
//! Text needs a TrueType font, looked for at `TWIN_SIM_FONT` and then at common system
//! paths. Without one the plots are still drawn, without any text, and the report says so.

use std::path::{Path, PathBuf};

use anyhow::Result;
#[cfg(not(target_arch = "wasm32"))]
use anyhow::anyhow;
use twin_sim::physiology::NormalCheck;
use twin_sim::pk_validation::ValidationReport;
use twin_sim::validation::{Family, Trace};

/// Where fonts usually are (Debian's DejaVu and Liberation, Arch, macOS, Windows).
#[cfg(not(target_arch = "wasm32"))]
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// The plots' text font: registers the first readable one and says which (None: no text).
#[cfg(not(target_arch = "wasm32"))]
pub fn register_font() -> Option<PathBuf> {
    let candidates = std::env::var_os("TWIN_SIM_FONT").map(PathBuf::from).into_iter();
    for path in candidates.chain(FONT_PATHS.iter().map(PathBuf::from)) {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        // plotters keeps fonts for the life of the program.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        if plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes).is_ok() {
            return Some(path);
        }
    }
    None
}

#[cfg(target_arch = "wasm32")]
pub fn register_font() -> Option<PathBuf> {
    None
}

/// Writes the Schnider plots into `dir`; returns the files written.
#[cfg(not(target_arch = "wasm32"))]
pub fn schnider(dir: &Path, report: &ValidationReport, text: bool) -> Result<Vec<PathBuf>> {
    let a = dir.join("schnider-predicted-vs-measured.png");
    predicted_vs_measured(&a, report, text)?;
    let b = dir.join("schnider-performance-error.png");
    performance_error(&b, report, text)?;
    Ok(vec![a, b])
}

#[cfg(target_arch = "wasm32")]
pub fn schnider(_: &Path, _: &ValidationReport, _: bool) -> Result<Vec<PathBuf>> {
    Ok(Vec::new())
}

/// Writes the resting-values plot into `dir`; returns the file written.
#[cfg(not(target_arch = "wasm32"))]
pub fn resting(dir: &Path, checks: &[NormalCheck], text: bool) -> Result<Vec<PathBuf>> {
    let path = dir.join("physiology-resting-deviation.png");
    resting_deviation(&path, checks, text)?;
    Ok(vec![path])
}

#[cfg(target_arch = "wasm32")]
pub fn resting(_: &Path, _: &[NormalCheck], _: bool) -> Result<Vec<PathBuf>> {
    Ok(Vec::new())
}

/// Writes one family's plot into `dir` (`validation-<family>.png`): a panel per curve, each
/// titled with its check's id; returns the file written.
#[cfg(not(target_arch = "wasm32"))]
pub fn family(dir: &Path, family: Family, traces: &[(&str, &Trace)], text: bool) -> Result<PathBuf> {
    use plotters::prelude::*;
    let path = dir.join(format!("validation-{}.png", family.slug()));
    let err = drawing(&path);
    let columns = traces.len().clamp(1, 2);
    let rows = traces.len().div_ceil(columns);
    let root = BitMapBackend::new(&path, (1200, 60 + 300 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let body = if text {
        root.titled(&format!("Validation: {}", family.name()), ("sans-serif", 24)).map_err(&err)?
    } else {
        root.clone()
    };
    for ((id, trace), panel) in traces.iter().zip(body.split_evenly((rows, columns))) {
        let (t_max, lo, hi) = trace
            .points
            .iter()
            .fold((0.0f64, f64::INFINITY, f64::NEG_INFINITY), |(t, lo, hi), p| (t.max(p.0), lo.min(p.1), hi.max(p.1)));
        if trace.points.is_empty() || !lo.is_finite() || !hi.is_finite() {
            continue;
        }
        let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.02).max(1e-3);
        let mut builder = ChartBuilder::on(&panel);
        builder.margin(14);
        if text {
            let unit = if trace.unit.is_empty() { String::new() } else { format!(" ({})", trace.unit) };
            builder
                .caption(format!("{id}: {}{unit}", trace.label), ("sans-serif", 16))
                .x_label_area_size(36)
                .y_label_area_size(52);
        }
        let mut chart = builder.build_cartesian_2d(0.0..t_max.max(1e-3), (lo - pad)..(hi + pad)).map_err(&err)?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("min");
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(&err)?;
        chart.draw_series(LineSeries::new(trace.points.iter().copied(), BLUE.stroke_width(2))).map_err(&err)?;
    }
    root.present().map_err(&err)?;
    Ok(path.clone())
}

#[cfg(target_arch = "wasm32")]
pub fn family(dir: &Path, family: Family, _: &[(&str, &Trace)], _: bool) -> Result<PathBuf> {
    Ok(dir.join(format!("validation-{}.png", family.slug())))
}

#[cfg(not(target_arch = "wasm32"))]
fn drawing<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> anyhow::Error + '_ {
    move |e| anyhow!("drawing {}: {e}", path.display())
}

#[cfg(not(target_arch = "wasm32"))]
fn predicted_vs_measured(path: &Path, r: &ValidationReport, text: bool) -> Result<()> {
    use plotters::prelude::*;
    let err = drawing(path);
    let values = r.points.iter().flat_map(|p| [p.measured, p.predicted]);
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if r.points.is_empty() {
        return Err(anyhow!("no samples to plot"));
    }
    let (lo, hi) = (lo.max(1e-3) / 1.5, hi * 1.5);
    let root = BitMapBackend::new(path, (900, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(24);
    if text {
        builder
            .caption(
                format!("Schnider model: measured vs predicted propofol plasma concentration ({} samples)", r.samples),
                ("sans-serif", 20),
            )
            .x_label_area_size(50)
            .y_label_area_size(64);
    }
    let mut chart = builder.build_cartesian_2d((lo..hi).log_scale(), (lo..hi).log_scale()).map_err(&err)?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("Predicted (µg/mL)").y_desc("Measured (µg/mL)");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(&err)?;
    let subjects: Vec<u32> = r.subjects.iter().map(|s| s.id).collect();
    chart
        .draw_series(r.points.iter().map(|p| {
            let colour = Palette99::pick(subjects.iter().position(|&s| s == p.subject).unwrap_or(0));
            Circle::new((p.predicted, p.measured), 3, colour.filled())
        }))
        .map_err(&err)?;
    let identity = chart.draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.stroke_width(2))).map_err(&err)?;
    if text {
        identity.label("measured = predicted").legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(&err)?;
    }
    root.present().map_err(&err)?;
    Ok(())
}

#[cfg(not(target_arch = "wasm32"))]
fn performance_error(path: &Path, r: &ValidationReport, text: bool) -> Result<()> {
    use plotters::prelude::*;
    let err = drawing(path);
    let (y_lo, y_hi) = (-100.0, 200.0);
    let t_max = r.points.iter().map(|p| p.time_min).fold(1.0f64, f64::max) * 1.02;
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(24);
    if text {
        builder
            .caption(
                format!(
                    "Schnider model: performance error over time (pooled MDPE {:.1} %, MDAPE {:.1} %)",
                    r.pooled_mdpe_percent, r.pooled_mdape_percent
                ),
                ("sans-serif", 20),
            )
            .x_label_area_size(50)
            .y_label_area_size(64);
    }
    let mut chart = builder.build_cartesian_2d(0.0..t_max, y_lo..y_hi).map_err(&err)?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("Time, as in the study table (min)").y_desc("PE = (measured − predicted) / predicted (%), clipped");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(&err)?;
    chart
        .draw_series(
            r.points
                .iter()
                .map(|p| Circle::new((p.time_min, p.pe_percent().clamp(y_lo, y_hi)), 2, BLUE.mix(0.5).filled())),
        )
        .map_err(&err)?;
    chart.draw_series(LineSeries::new([(0.0, 0.0), (t_max, 0.0)], BLACK.stroke_width(1))).map_err(&err)?;
    let mdpe = r.pooled_mdpe_percent;
    let line = chart.draw_series(LineSeries::new([(0.0, mdpe), (t_max, mdpe)], RED.stroke_width(2))).map_err(&err)?;
    if text {
        line.label("pooled MDPE").legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(&err)?;
    }
    root.present().map_err(&err)?;
    Ok(())
}

#[cfg(not(target_arch = "wasm32"))]
fn resting_deviation(path: &Path, checks: &[NormalCheck], text: bool) -> Result<()> {
    use plotters::prelude::*;
    let err = drawing(path);
    let n = checks.len() as f64;
    let (x_lo, x_hi) = (-40.0, 30.0);
    let root = BitMapBackend::new(path, (900, 120 + 36 * checks.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if text {
        builder
            .caption("Resting adult: model against published normals (band: ±10 %)", ("sans-serif", 20))
            .x_label_area_size(44);
    }
    let mut chart = builder.build_cartesian_2d(x_lo..x_hi, 0.0..n).map_err(&err)?;
    let mut mesh = chart.configure_mesh();
    mesh.disable_y_mesh().y_labels(0);
    if text {
        mesh.x_desc("Deviation from the normal (%)");
    } else {
        mesh.x_labels(0);
    }
    mesh.draw().map_err(&err)?;
    chart.draw_series([Rectangle::new([(-10.0, 0.0), (10.0, n)], GREEN.mix(0.15).filled())]).map_err(&err)?;
    chart
        .draw_series(checks.iter().enumerate().map(|(i, c)| {
            let y = (checks.len() - 1 - i) as f64;
            let d = c.deviation_percent().clamp(x_lo, x_hi);
            let colour = if c.deviation_percent().abs() <= 10.0 { BLUE } else { RED };
            Rectangle::new([(0.0, y + 0.2), (d, y + 0.8)], colour.filled())
        }))
        .map_err(&err)?;
    if text {
        chart
            .draw_series(checks.iter().enumerate().map(|(i, c)| {
                let y = (checks.len() - 1 - i) as f64 + 0.65;
                Text::new(
                    format!("{} ({:+.1} %)", c.quantity, c.deviation_percent()),
                    (x_lo + 1.0, y),
                    ("sans-serif", 15),
                )
            }))
            .map_err(&err)?;
    }
    root.present().map_err(&err)?;
    Ok(())
}
