//! Benchmark of replay drawing: seek plus min/max decimation of a 10 s window of both leads
//! of MIT-BIH record 100 (30 min, 360 Hz) at 1000 px; prints `replay_window_ms=<median>`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use twin_sim::case::{Stage, StageData};
use twin_sim::replay::{Clock, decimate};
use twin_sim::{decode_record, parse_header};

const ITERATIONS: usize = 2000;
const WIDTH_PX: usize = 1000;
const WINDOW_US: u64 = 10_000_000;

fn main() -> Result<()> {
    let header_path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("data/physionet/mitdb-100/100.hea"));
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let header = parse_header(&header_path.display().to_string(), &read(&header_path)?)?;
    let dir = header_path.parent().unwrap_or(Path::new("."));
    let dat = read(&dir.join(&header.signals[0].file_name))?;
    let record = decode_record(&header, |_| Some(dat.as_slice()))?;
    let stage = StageData::from_record(Stage::Diagnosis, &record)?;
    let mut clock = Clock::new(stage.duration_ms() * 1000);
    let span = clock.duration_us().saturating_sub(WINDOW_US).max(1);

    // A fixed pseudo-random sequence of seek targets, so runs are comparable.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut times = Vec::with_capacity(ITERATIONS);
    let mut checksum = 0.0;
    for _ in 0..ITERATIONS {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let target = (state >> 11) % span;
        let start = Instant::now();
        clock.seek(target);
        for wave in &stage.waveforms {
            let columns = decimate(wave, clock.position_us(), WINDOW_US, WIDTH_PX);
            checksum += columns.iter().flatten().map(|c| c.max - c.min).sum::<f64>();
        }
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    println!(
        "record {} ({} leads, {} samples each), {ITERATIONS} seeks + 10 s windows at {WIDTH_PX} px",
        record.header.record.name,
        stage.waveforms.len(),
        stage.waveforms.first().map_or(0, |w| w.samples.len())
    );
    println!("p99 {p99:.4} ms (checksum {checksum:.1})");
    println!("replay_window_ms={median:.4}");
    Ok(())
}
