//! Twin viewer benchmark, frame time: a real node serves a page that starts the release
//! WebAssembly viewer (WebGL2, Chromium's software renderer) on a real case, playing; the
//! page times animation frames after a warm-up. Prints each run, what the monitor showed,
//! and, last, `frame_ms=<median>`.
//!
//! `E2E_PORTAL_DIST` names the folder served (the bench page, the viewer, the case).

use anyhow::{Context, Result, bail};
use e2e::browser::{Chromedriver, Shots};
use e2e::node::Node;
use std::sync::Arc;
use std::time::Duration;

const RUNS: usize = 3;

#[tokio::main]
async fn main() -> Result<()> {
    let work = tempfile::tempdir()?;
    let node = Node::start(&e2e::node_bin()?, &e2e::portal_dist()?, &work.path().join("node.log")).await?;
    let driver = Chromedriver::start(&work.path().join("chromedriver.log")).await?;
    let shots = Arc::new(Shots::new(work.path().to_owned()));
    let mut medians = Vec::new();
    for run in 1..=RUNS {
        let b = driver.session("viewer", &node.url, shots.clone()).await?;
        b.goto("/").await?;
        let mut result = None;
        for _ in 0..600 {
            let v = b.script("return [document.body.dataset.frameMs || null, document.body.dataset.error || null, (document.getElementById('twin') || {}).dataset?.monitor || null];").await?;
            if let Some(e) = v[1].as_str() {
                bail!("the viewer failed: {e}");
            }
            if let Some(ms) = v[0].as_str().and_then(|s| s.parse::<f64>().ok()) {
                result = Some((ms, v[2].as_str().unwrap_or("").to_owned()));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        b.close().await;
        let (ms, monitor) = result.context("the bench page never reported a frame time")?;
        println!("run {run}: median frame {ms:.1} ms; monitor: {monitor}");
        medians.push(ms);
    }
    medians.sort_by(f64::total_cmp);
    println!("frame_ms={:.1}", medians[RUNS / 2]);
    Ok(())
}
