//! Portal benchmark, first render: a real node serves the release portal; a fresh
//! headless Chromium (empty cache) loads the start page, and the portal's own mark
//! (`data-first-render-ms` on <body>, set when the first page has rendered, counted from
//! navigation start) is read. Prints each run and, last, `first_render_ms=<median>`.

use anyhow::{Context, Result};
use e2e::browser::{Chromedriver, Shots};
use e2e::node::Node;
use std::sync::Arc;
use std::time::Duration;

const RUNS: usize = 5;

#[tokio::main]
async fn main() -> Result<()> {
    let work = tempfile::tempdir()?;
    let node = Node::start(&e2e::node_bin()?, &e2e::portal_dist()?, &work.path().join("node.log")).await?;
    let driver = Chromedriver::start(&work.path().join("chromedriver.log")).await?;
    let shots = Arc::new(Shots::new(work.path().to_owned()));
    let mut times = Vec::new();
    for run in 1..=RUNS {
        let b = driver.session("reader", &node.url, shots.clone()).await?;
        b.open("/").await?;
        let mut ms = None;
        for _ in 0..100 {
            let v = b.script("return document.body.dataset.firstRenderMs || null;").await?;
            if let Some(x) = v.as_str().and_then(|s| s.parse::<f64>().ok()) {
                ms = Some(x);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        b.close().await;
        let ms = ms.context("the portal never marked its first render")?;
        println!("run {run}: first render at {ms:.1} ms after navigation start");
        times.push(ms);
    }
    times.sort_by(f64::total_cmp);
    println!("first_render_ms={:.1}", times[RUNS / 2]);
    Ok(())
}
