//! Portal benchmark, first render: a real node serves the release portal; a fresh
//! headless Chromium (empty cache) loads the start page, and the portal's own mark
//! (`data-first-render-ms` on <body>, set when the first page has rendered, counted from
//! navigation start) is read. Prints each run and, last, `first_render_ms=<median>`.

use anyhow::{Context, Result};
use std::time::Duration;

const RUNS: usize = 5;

#[tokio::main]
async fn main() -> Result<()> {
    let median = e2e::bench_median(RUNS, "reader", async |b| {
        b.open("/").await?;
        for _ in 0..100 {
            let v = b.script("return document.body.dataset.firstRenderMs || null;").await?;
            if let Some(ms) = v.as_str().and_then(|s| s.parse::<f64>().ok()) {
                return Ok((ms, format!("first render at {ms:.1} ms after navigation start")));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None.context("the portal never marked its first render")
    })
    .await?;
    println!("first_render_ms={median:.1}");
    Ok(())
}
