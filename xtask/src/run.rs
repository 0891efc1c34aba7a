//! `cargo xtask run`: build the portal and the node, run the node with the demo hospital
//! seeded over its API, then build the twin viewer in the background and install it beside
//! the portal (the twin pages wait for it), so that a first start answers before the
//! longest build is done.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

use crate::cmd::{cargo, quiet, target_dir};
use crate::setup::{setup_portal, setup_wasm};
use crate::web::{build_portal, build_viewer_web, install_viewer, viewer_failed};

pub(crate) fn run(args: &[String]) -> Result<()> {
    let listen = args
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:7800".into());
    let started = std::time::Instant::now();
    let minutes = move || started.elapsed().as_secs_f64() / 60.0;
    setup_wasm()?;
    setup_portal()?;
    eprintln!("building the portal and the node (release; the first time takes a while)...");
    let dist = build_portal()?;
    quiet(cargo().args(["build", "--release", "--quiet", "-p", "ledger-node", "-p", "demo"]))?;
    let data = Path::new("target/demo-data");
    eprintln!("starting the ledger node and the portal with demo data in {} (Ctrl-C stops it)", data.display());
    let mut node = Command::new(target_dir().join("release/ledger-node"))
        .args(["demo", "--listen", &listen, "--portal-dir"])
        .arg(&dist)
        .arg("--data-dir")
        .arg(data)
        .spawn()
        .context("cannot start the ledger node")?;
    // The demo hospital is seeded as any client would: over the node's HTTP API.
    let seeded = Command::new(target_dir().join("release/demo-seed"))
        .args(["--node", &format!("http://{listen}"), "--data-dir"])
        .arg(data)
        .status();
    if !seeded.as_ref().is_ok_and(|s| s.success()) {
        let _ = node.kill();
        bail!("seeding the demo failed ({seeded:?})");
    }
    eprintln!("the portal answers at http://{listen} with the demo hospital ({:.1} min after start)", minutes());
    // The twin viewer (release, fat LTO, wasm-opt: the longest build) comes after: until it
    // is installed the twin pages say so, and load it once `dist/viewer.json` names it.
    eprintln!("building the twin viewer for the web in the background; the twin pages load it when it is ready");
    std::thread::spawn(move || {
        let built = build_viewer_web("wasm-release", "viewer-release", true).and_then(|v| install_viewer(&v, &dist));
        match built {
            Ok(()) => eprintln!("the twin viewer is ready ({:.1} min after start)", minutes()),
            Err(e) => {
                eprintln!("the twin viewer could not be built: {e:#}");
                if let Err(e) = viewer_failed(&dist, &e) {
                    eprintln!("and the twin pages could not be told: {e:#}");
                }
            }
        }
    });
    let status = node.wait().context("waiting for the ledger node")?;
    if !status.success() {
        bail!("the ledger node stopped ({status})");
    }
    Ok(())
}
