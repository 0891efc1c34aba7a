//! Project automation, the README's two commands and the benchmarks:
//! `cargo xtask run` (set up, then run the node with demo data), `cargo xtask test`
//! (set up, then run everything CI runs), `cargo xtask fuzz` (see `fuzz.rs`),
//! `cargo xtask bench <ledger|cluster|wallet|...>`, and
//! `cargo xtask setup` (only install what is missing). Set-up is idempotent and silent
//! when everything is already there. One module per job (`run.rs`, `test.rs`, `bench.rs`,
//! `fuzz.rs`, `setup.rs`), the web builds they share in `web.rs`, commands and files in
//! `cmd.rs`.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

mod bench;
mod cmd;
mod fuzz;
mod run;
mod setup;
mod test;
mod web;

use bench::{bench_abuse, bench_cluster, bench_ledger, bench_portal, bench_twin, bench_viewer, bench_wallet};
use run::run;
use setup::{setup_browser, setup_portal, setup_wasm};
use test::{e2e, test};

const USAGE: &str =
    "usage: cargo xtask <run|test|e2e [filter]|fuzz [target] [--seconds N] [--jobs J]|bench <ledger|cluster|abuse|wallet|portal|twin|viewer|all>|setup>

  run     build the portal and start it with the ledger node and demo data (http://127.0.0.1:7800)
  test    install what is missing, then run every check and test CI runs
  e2e     build the node, the portal and the web viewer, then run only the end-to-end tests
          (those whose name contains the filter, when given)
  fuzz    run each fuzz target (or the one named) under AFL++ for N seconds (default 60),
          J at a time (default 1); fails on any crash
  bench   ledger: node throughput against the verify ceiling, latency
          cluster: three replicated nodes' throughput against one node's, commit p99, failover time
          abuse:  one address hammering the public port; other clients' p99 alone and under it
          wallet: signing and keystore unlock in headless Chromium
          portal: initial download (gzip) and first render in headless Chromium
          twin:   physiology speed against real time, replay seek + window
          viewer: the twin viewer's WebAssembly (brotli, gzip) and frame time in headless Chromium
  setup   install what is missing (wasm32 target, wasm-bindgen-cli, wasm-opt, Chromium,
          Xvfb and Mesa's software Vulkan)";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = root()?;
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("test") => test(),
        Some("e2e") => e2e(args.get(1).map(String::as_str)),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        Some("bench") => match args.get(1).map(String::as_str) {
            Some("ledger") => bench_ledger(),
            Some("cluster") => bench_cluster(),
            Some("abuse") => bench_abuse(),
            Some("wallet") => bench_wallet(),
            Some("portal") => bench_portal(),
            Some("twin") => bench_twin(),
            Some("viewer") => bench_viewer(),
            Some("all") => {
                bench_ledger()?;
                bench_cluster()?;
                bench_abuse()?;
                bench_wallet()?;
                bench_portal()?;
                bench_twin()
            }
            _ => bail!("{USAGE}"),
        },
        Some("setup") => {
            setup_wasm()?;
            setup_portal()?;
            setup_browser()
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

/// The workspace root. Taken from what `cargo run` tells the running binary, not from where
/// it was compiled: one cached target dir serves clones at different paths, and a binary
/// built in another clone would otherwise test that clone.
fn root() -> Result<PathBuf> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    Ok(manifest.parent().context("xtask lives in the workspace")?.to_owned())
}
