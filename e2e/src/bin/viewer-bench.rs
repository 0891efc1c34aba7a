//! Twin viewer benchmark, frame time: a real node serves a page that starts the release
//! WebAssembly viewer (WebGL2, Chromium's software renderer) on a real case, playing; the
//! page times animation frames after a warm-up. Prints each run, what the monitor showed,
//! and, last, `frame_ms=<median>`.
//!
//! `E2E_PORTAL_DIST` names the folder served (the bench page, the viewer, the case).

use anyhow::{Context, Result, bail};
use std::time::Duration;

const RUNS: usize = 3;

#[tokio::main]
async fn main() -> Result<()> {
    let median = e2e::bench_median(RUNS, "viewer", async |b| {
        b.goto("/").await?;
        // 120 frames at about half a second each in software WebGL2, after the page's 5 s
        // warm-up: allow three minutes.
        for _ in 0..1800 {
            let v = b.script("return [document.body.dataset.frameMs || null, document.body.dataset.error || null, (document.getElementById('twin') || {}).dataset?.monitor || null];").await?;
            if let Some(e) = v[1].as_str() {
                bail!("the viewer failed: {e}");
            }
            if let Some(ms) = v[0].as_str().and_then(|s| s.parse::<f64>().ok()) {
                return Ok((ms, format!("median frame {ms:.1} ms; monitor: {}", v[2].as_str().unwrap_or(""))));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None.context("the bench page never reported a frame time")
    })
    .await?;
    println!("frame_ms={median:.1}");
    Ok(())
}
