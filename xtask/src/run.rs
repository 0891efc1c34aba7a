//! `cargo xtask run`: build the portal, the viewer and the node, then run the node with the
//! demo hospital seeded over its API.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

use crate::cmd::{cargo, quiet, target_dir};
use crate::setup::{setup_portal, setup_wasm};
use crate::web::{build_portal, build_viewer_web, install_viewer};

pub(crate) fn run(args: &[String]) -> Result<()> {
    let listen = args
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:7800".into());
    setup_wasm()?;
    setup_portal()?;
    eprintln!("building the portal, the twin viewer and the node (release; the first time takes a while)...");
    let viewer = build_viewer_web("wasm-release", "viewer-release", true)?;
    let dist = build_portal(Some(&viewer))?;
    install_viewer(&viewer, &dist)?;
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
    let status = node.wait().context("waiting for the ledger node")?;
    if !status.success() {
        bail!("the ledger node stopped ({status})");
    }
    Ok(())
}
