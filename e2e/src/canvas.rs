//! Reading the twin viewer's 2D canvases in the browser: what the viewer says it drew
//! (`data-screen` on the monitor, `data-trend` on the case at a glance) and what the pixels
//! show (per column of a band, where a colour is drawn), each canvas saved as a PNG. From
//! a row's pixels, the heart rate its ECG shows: the beats counted on the canvas itself.

use anyhow::{Context, Result};
use serde_json::Value;
use std::path::PathBuf;

use crate::browser::Browser;

/// The monitor's sweep: 25 mm/s at 96 CSS px per inch.
pub const SWEEP_PX_PER_S: f64 = 25.0 * 96.0 / 25.4;

/// Where a monitor row's wave is clear of its label (drawn over the wave's top left, as on
/// a bedside monitor), CSS px from the left.
pub const CLEAR_OF_LABEL_PX: f64 = 64.0;

/// The backgrounds the viewer paints: the monitor, the trend's lanes (two shades, within a
/// few levels of this), the trend's strips.
pub const MONITOR_BACKGROUND: &str = "#05080a";
pub const LANE_BACKGROUND: &str = "#0e1518";
pub const TREND_BACKGROUND: &str = "#0b1014";

/// A canvas's `data-<name>` JSON, or `None` while the viewer has not drawn it yet.
pub async fn mirrored(b: &Browser, canvas: &str, name: &str) -> Result<Option<Value>> {
    let v = b
        .script(&format!("const c = document.getElementById('{canvas}'); return c ? c.dataset.{name} || null : null;"))
        .await?;
    match v.as_str() {
        Some(text) => {
            Ok(Some(serde_json::from_str(text).with_context(|| format!("{canvas}'s data-{name} is not JSON"))?))
        }
        None => Ok(None),
    }
}

/// Waits up to `timeout` for a canvas's `data-<name>` JSON to satisfy `ready`.
pub async fn wait_mirrored(
    b: &Browser,
    canvas: &str,
    name: &str,
    timeout: std::time::Duration,
    ready: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let start = std::time::Instant::now();
    let mut last = None;
    while start.elapsed() < timeout {
        if let Some(v) = mirrored(b, canvas, name).await? {
            if ready(&v) {
                return Ok(v);
            }
            last = Some(v);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("{canvas}'s data-{name} did not become what was awaited within {timeout:?}; last: {last:?}")
}

/// Per pixel column of the band `[x0, x1) × [top, top + height)` (CSS px) of canvas `id`,
/// the highest and lowest y (CSS px from the band's top) of a pixel drawn in `colour` over
/// `background` (both `#rrggbb`): at least 30 % of the way from the background to the
/// colour and not off towards another colour (so that anti-aliased thin lines count), or
/// `None` where the column holds none.
pub async fn band(
    b: &Browser,
    id: &str,
    (x0, x1): (f64, f64),
    (top, height): (f64, f64),
    colour: &str,
    background: &str,
) -> Result<Vec<Option<(f64, f64)>>> {
    let js = format!(
        "const c = document.getElementById('{id}'); const r = c.width / c.clientWidth;
         const X0 = Math.round({x0} * r), W = Math.max(1, Math.round(({x1} - {x0}) * r));
         const Y0 = Math.round({top} * r), H = Math.max(1, Math.round({height} * r));
         const d = c.getContext('2d').getImageData(X0, Y0, W, H).data;
         const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
         const want = rgb('{colour}'), bg = rgb('{background}');
         const dir = [0, 1, 2].map((k) => want[k] - bg[k]);
         const norm = dir.reduce((a, v) => a + v * v, 0) || 1;
         const out = [];
         for (let x = 0; x < W; x++) {{
           let hi = null, lo = null;
           for (let y = 0; y < H; y++) {{
             const i = (y * W + x) * 4;
             const p = [0, 1, 2].map((k) => d[i + k] - bg[k]);
             const a = (p[0] * dir[0] + p[1] * dir[1] + p[2] * dir[2]) / norm;
             const off = Math.hypot(p[0] - a * dir[0], p[1] - a * dir[1], p[2] - a * dir[2]);
             if (a >= 0.3 && off < 60) {{
               if (hi === null) hi = y;
               lo = y;
             }}
           }}
           out.push(hi === null ? null : [hi / r, lo / r]);
         }}
         return out;"
    );
    let v = b.script(&js).await?;
    Ok(v.as_array()
        .context("the band is not a list")?
        .iter()
        .map(|c| c.as_array().and_then(|p| Some((p.first()?.as_f64()?, p.get(1)?.as_f64()?))))
        .collect())
}

/// The share of a band's columns where something is drawn.
pub fn coverage(band: &[Option<(f64, f64)>]) -> f64 {
    band.iter().filter(|c| c.is_some()).count() as f64 / band.len().max(1) as f64
}

/// The beats an ECG band shows, per minute: the columns whose trace reaches furthest from
/// the baseline (the QRS, up or down, whichever goes further) grouped into complexes at
/// least 0.2 s apart, over the seconds the band spans at 25 mm/s.
pub fn beats_per_min(band: &[Option<(f64, f64)>]) -> Option<f64> {
    let drawn: Vec<(f64, f64)> = band.iter().flatten().copied().collect();
    if drawn.len() < band.len() / 2 {
        return None;
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let top = median(drawn.iter().map(|c| c.0).collect());
    let bottom = median(drawn.iter().map(|c| c.1).collect());
    let highest = drawn.iter().map(|c| c.0).fold(f64::INFINITY, f64::min);
    let lowest = drawn.iter().map(|c| c.1).fold(f64::NEG_INFINITY, f64::max);
    // The QRS points the way the trace goes furthest from its usual place.
    let up = top - highest >= lowest - bottom;
    let threshold = if up { top - (top - highest) * 0.5 } else { bottom + (lowest - bottom) * 0.5 };
    let refractory = (0.2 * SWEEP_PX_PER_S) as usize;
    let mut beats = 0;
    let mut last: Option<usize> = None;
    for (x, c) in band.iter().enumerate() {
        let Some((hi, lo)) = c else { continue };
        let peak = if up { *hi <= threshold } else { *lo >= threshold };
        if peak && last.is_none_or(|l| x - l > refractory) {
            beats += 1;
        }
        if peak {
            last = Some(x);
        }
    }
    Some(beats as f64 * 60.0 / (band.len() as f64 / SWEEP_PX_PER_S))
}

/// Checks every row of the monitor (`data-screen` of canvas `twin-monitor`) on its pixels:
/// drawn over more than 85 % of its sweep (clear of its label), and the ECG row's beats,
/// counted on the canvas, within 15 % (or 8 /min) of the HR the row prints. Returns the
/// beats counted (`None` without an ECG row).
pub async fn check_rows(b: &Browser, screen: &Value) -> Result<Option<f64>> {
    let mut counted = None;
    for r in screen["channels"].as_array().context("the monitor has no rows")? {
        let place = |k: &str| r[k].as_f64().with_context(|| format!("row {} has no {k}", r["label"]));
        let colour = r["colour"].as_str().context("a row's colour")?;
        let x = (CLEAR_OF_LABEL_PX, place("wave_width")?);
        let drawn =
            band(b, "twin-monitor", x, (place("top")? + 2.0, place("height")? - 4.0), colour, MONITOR_BACKGROUND)
                .await?;
        let cover = coverage(&drawn);
        anyhow::ensure!(cover > 0.85, "row {} is drawn over {:.0} % of its sweep", r["label"], cover * 100.0);
        if r["numeric"]["label"] == "HR" {
            let hr: f64 = r["numeric"]["value"].as_str().unwrap_or_default().parse().context("the HR shown")?;
            let seen = beats_per_min(&drawn).context("the ECG row has no rate")?;
            anyhow::ensure!(
                (seen - hr).abs() <= (hr * 0.15).max(8.0),
                "the ECG is drawn beating at {seen:.0} /min, the monitor says HR {hr}"
            );
            counted = Some(seen);
        }
    }
    Ok(counted)
}

/// Saves what canvas `id` shows as a PNG among the journey's screenshots.
pub async fn save(b: &Browser, id: &str, name: &str) -> Result<PathBuf> {
    b.element_shot(&format!("#{id}"), name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beats_are_counted_from_a_drawn_ecg_up_or_down() {
        // 10 s at 25 mm/s with a spike every second (60 /min), baseline at y 50.
        let width = (10.0 * SWEEP_PX_PER_S) as usize;
        let every = SWEEP_PX_PER_S as usize;
        let ecg = |down: bool| -> Vec<Option<(f64, f64)>> {
            (0..width)
                .map(|x| {
                    let spike = x % every < 3;
                    Some(match (spike, down) {
                        (true, false) => (10.0, 50.0),
                        (true, true) => (50.0, 90.0),
                        _ => (49.0, 51.0),
                    })
                })
                .collect()
        };
        for down in [false, true] {
            let rate = beats_per_min(&ecg(down)).unwrap();
            assert!((rate - 60.0).abs() < 7.0, "{rate}");
        }
        assert_eq!(beats_per_min(&vec![None; width]), None, "a blank row has no rate");
        assert!((coverage(&ecg(false)) - 1.0).abs() < 1e-9);
    }
}
