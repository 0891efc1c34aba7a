//! The twin viewer in a real browser: a real node serves the WebAssembly viewer (WebGL2
//! through Chromium's software renderer) with MIMIC record 03700181's surgery; the page
//! must draw (a screenshot that is not blank, with the monitor's green and red traces),
//! the monitor must show the record's own numbers, and the frame time is reported.
//!
//! Needs `E2E_VIEWER_DIST` (what `cargo xtask test` builds into `<target>/viewer-web/`).

use anyhow::{Context, Result, bail, ensure};
use e2e::browser::{Chromedriver, Shots};
use e2e::node::Node;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn viewer_dist() -> Result<PathBuf> {
    let dir = std::env::var_os("E2E_VIEWER_DIST").map(PathBuf::from).context(
        "E2E_VIEWER_DIST is not set: run `cargo xtask test`, which builds the web viewer into <target>/viewer-web",
    )?;
    ensure!(dir.join("twin_viewer_bg.wasm").is_file(), "no viewer build in {}", dir.display());
    Ok(dir)
}

/// Where the page shows the record: two minutes in (a full sweep behind the write point).
const AT_S: u64 = 120;

/// What the monitor shows at `AT_S`: the record's vital-sign frame then (as the pure twin
/// core computes it), and the record's waves.
struct Expected {
    hr: String,
    pressure: String,
    rr: Option<String>,
    waves: Vec<String>,
}

fn expected(dist: &std::path::Path) -> Result<Expected> {
    let text = std::fs::read_to_string(dist.join("case.json"))?;
    let case = twin_sim::casefile::read_case("case.json", &text)?;
    let stage = case.stages.first().context("a stage")?;
    let frames = twin_sim::alarms::frames(stage);
    let f = frames.iter().rev().find(|f| f.t_ms <= AT_S * 1000).context("a frame")?;
    let n = |v: Option<f64>| v.map_or("--".to_owned(), |v| format!("{v:.0}"));
    Ok(Expected {
        hr: n(f.hr.or(f.pulse_rate)),
        pressure: format!("{}/{} ({})", n(f.systolic), n(f.diastolic), n(f.mean_pressure)),
        rr: f.resp_rate.map(|v| format!("{v:.0}")),
        waves: stage.waveforms.iter().map(|w| w.name.clone()).collect(),
    })
}

fn png_pixels(bytes: &[u8]) -> Result<(u32, u32, Vec<[u8; 3]>)> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info()?;
    let mut buf = vec![0; reader.output_buffer_size().context("size")?];
    let info = reader.next_frame(&mut buf)?;
    let step = info.color_type.samples();
    Ok((info.width, info.height, buf[..info.buffer_size()].chunks(step).map(|c| [c[0], c[1], c[2]]).collect()))
}

#[tokio::test]
async fn the_viewer_draws_a_surgical_case_in_chromium() {
    if let Err(e) = viewer_journey().await {
        panic!("{e:#}");
    }
}

async fn viewer_journey() -> Result<()> {
    let dist = viewer_dist()?;
    let expected = expected(&dist)?;
    let shots_dir = e2e::target_dir()?.join("e2e-screenshots/viewer");
    std::fs::create_dir_all(&shots_dir)?;
    let node = Node::start(&e2e::node_bin()?, &dist, &shots_dir.join("node.log")).await?;
    let driver = Chromedriver::start(&shots_dir.join("chromedriver.log")).await?;
    let shots = Arc::new(Shots::new(shots_dir.clone()));
    let b = driver.session("surgeon", &node.url, shots).await?;
    b.goto(&format!("/?play=0&frames=30&at={AT_S}")).await?;
    let mut frame_ms = None;
    for _ in 0..1200 {
        let v = b
            .script("return [document.body.dataset.frameMs || null, document.body.dataset.error || null, document.getElementById('twin').dataset.monitor || null];")
            .await?;
        if let Some(e) = v[1].as_str() {
            bail!("the viewer failed in the page: {e}");
        }
        if let (Some(ms), Some(_)) = (v[0].as_str(), v[2].as_str()) {
            frame_ms = Some(ms.to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let frame_ms = frame_ms.context("the viewer never drew its frames (no data-frame-ms within 2 minutes)")?;
    monitor_rows(&b, &expected).await?;
    let path = b.shot("surgical-case").await?;
    let (w, h, px) = png_pixels(&std::fs::read(&path)?)?;
    let mut colours = px.clone();
    colours.sort();
    colours.dedup();
    let green = px.iter().filter(|p| p[1] > 180 && p[0] < 140 && p[2] < 160).count();
    let red = px.iter().filter(|p| p[0] > 200 && p[1] < 110 && p[2] < 110).count();
    ensure!(colours.len() > 300, "the page looks blank: {} colours in {w}×{h}", colours.len());
    ensure!(green > 300 && red > 300, "no monitor traces drawn: {green} green, {red} red pixels");
    println!(
        "viewer drew {w}×{h} ({} colours), median frame {frame_ms} ms; screenshot {}",
        colours.len(),
        path.display()
    );
    b.close().await;
    Ok(())
}

/// The monitor canvas, from what the viewer says it drew and from its pixels: one row per
/// wave of the record (ECG, then the arterial line, then respiration) with its label and
/// numeric at the record's values; every row drawn across its sweep; the ECG row's beats,
/// counted on the canvas, at the heart rate the monitor prints. Then the case at a glance:
/// a lane per wave, drawn.
async fn monitor_rows(b: &e2e::browser::Browser, expected: &Expected) -> Result<()> {
    use e2e::canvas::{check_rows, mirrored, save};
    let screen = mirrored(b, "twin-monitor", "screen").await?.context("the monitor canvas was never drawn")?;
    let size = b
        .script("const c = document.getElementById('twin-monitor'); const r = c.getBoundingClientRect(); return [r.width, r.height, c.width, c.height, innerWidth, innerHeight, devicePixelRatio];")
        .await?;
    println!("monitor canvas (css w, h, pixels w, h, window w, h, ratio): {size}");
    save(b, "twin-monitor", "monitor").await?;
    save(b, "twin-trend", "trend").await?;
    let rows = screen["channels"].as_array().context("no channels")?;
    let streams: Vec<&str> = rows.iter().filter_map(|r| r["stream"].as_str()).collect();
    let mut want = expected.waves.iter().map(String::as_str).collect::<Vec<_>>();
    want.sort();
    let mut got = streams.clone();
    got.sort();
    ensure!(got == want, "a row per wave of the record: rows {streams:?}, waves {:?}", expected.waves);
    let labels: Vec<&str> = rows.iter().filter_map(|r| r["label"].as_str()).collect();
    ensure!(labels[1..] == ["ART", "RESP"], "ECG first, then ART and RESP: {labels:?}");
    let numeric = |i: usize| (rows[i]["numeric"]["label"].as_str(), rows[i]["numeric"]["value"].as_str());
    ensure!(
        numeric(0) == (Some("HR"), Some(expected.hr.as_str())),
        "ECG row's numeric {:?}, want HR {}",
        numeric(0),
        expected.hr
    );
    ensure!(
        numeric(1) == (Some("ABP"), Some(expected.pressure.as_str())),
        "arterial row's numeric {:?}, want ABP {}",
        numeric(1),
        expected.pressure
    );
    if let Some(rr) = &expected.rr {
        ensure!(
            numeric(2) == (Some("RR"), Some(rr.as_str())),
            "respiration row's numeric {:?}, want RR {rr}",
            numeric(2)
        );
    }
    let seen = check_rows(b, &screen).await?.context("the record has an ECG row")?;
    println!("ECG row: {seen:.0} beats/min counted on the canvas, HR {} on the monitor", expected.hr);
    let trend = mirrored(b, "twin-trend", "trend").await?.context("the case at a glance was never drawn")?;
    let lanes = trend["lanes"].as_array().context("no lanes")?;
    ensure!(lanes.len() == expected.waves.len(), "a lane per wave: {trend}");
    ensure!(lanes.iter().all(|l| l["drawn"].as_u64() > Some(100)), "every lane drawn: {trend}");
    Ok(())
}
