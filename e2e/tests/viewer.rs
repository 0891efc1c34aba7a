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

/// What the monitor shows at 0 s: the first vital-sign frame of the record's stage.
fn expected_numbers(dist: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(dist.join("case.json"))?;
    let case = twin_sim::casefile::read_case("case.json", &text)?;
    let stage = case.stages.first().context("a stage")?;
    let frames = twin_sim::alarms::frames(stage);
    let f = frames.first().context("a frame")?;
    let mut out = Vec::new();
    if let Some(v) = f.systolic {
        out.push(format!("ABP sys {v:.0} mmHg"));
    }
    if let Some(v) = f.mean_pressure {
        out.push(format!("MAP {v:.0} mmHg"));
    }
    ensure!(!out.is_empty(), "the record gives no pressure at 0 s");
    Ok(out)
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
    let expected = expected_numbers(&dist)?;
    let shots_dir = e2e::target_dir()?.join("e2e-screenshots/viewer");
    std::fs::create_dir_all(&shots_dir)?;
    let node = Node::start(&e2e::node_bin()?, &dist, &shots_dir.join("node.log")).await?;
    let driver = Chromedriver::start(&shots_dir.join("chromedriver.log")).await?;
    let shots = Arc::new(Shots::new(shots_dir.clone()));
    let b = driver.session("surgeon", &node.url, shots).await?;
    b.goto("/?play=0&frames=30").await?;
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
    let monitor = b.script("return document.getElementById('twin').dataset.monitor;").await?;
    let monitor = monitor.as_str().unwrap_or_default().to_owned();
    for want in &expected {
        ensure!(monitor.contains(want.as_str()), "the monitor should show {want:?}; it shows {monitor:?}");
    }
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
