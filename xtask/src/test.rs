//! `cargo xtask test` (everything CI runs) and `cargo xtask e2e` (only the end-to-end
//! journeys).

use anyhow::Result;

use crate::cmd::{abs, cargo, quiet, step, target_dir};
use crate::setup::{setup_browser, setup_portal, setup_wasm, wasm_test};
use crate::web::{build_portal, build_viewer_web, install_viewer};

pub(crate) fn test() -> Result<()> {
    setup_wasm()?;
    setup_portal()?;
    setup_browser()?;
    step("formatting", cargo().args(["fmt", "--all", "--check"]))?;
    step("lints", cargo().args(["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"]))?;
    // One crate a build, so that no crate leans on features another one turns on.
    for krate in ["ledger-protocol", "envelope", "wallet", "portal", "portal-start", "twin-sim"] {
        step(
            &format!("{krate} builds for wasm32"),
            cargo().args(["build", "--quiet", "--target", "wasm32-unknown-unknown", "-p", krate]),
        )?;
    }
    // The web viewer's page drawing (`web_draw`) exists only for wasm32 with `web`.
    for (krate, features) in [("wallet", ""), ("portal", ""), ("portal-start", ""), ("twin-viewer", "web")] {
        let mut clippy = cargo();
        clippy.args(["clippy", "--target", "wasm32-unknown-unknown", "-p", krate, "--all-targets", "--quiet"]);
        if !features.is_empty() {
            clippy.args(["--features", features]);
        }
        step(&format!("lints of {krate} (wasm32)"), clippy.args(["--", "-D", "warnings"]))?;
    }
    step(
        "lints of the drawn twin viewer",
        cargo().args([
            "clippy",
            "-p",
            "twin-viewer",
            "--features",
            "render",
            "--all-targets",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    eprintln!("== twin viewer for the web (WebGL2)");
    let viewer = build_viewer_web("wasm-test", "viewer-web", false)?;
    eprintln!("== portal (release)");
    let dist = build_portal()?;
    install_viewer(&viewer, &dist)?;
    step(
        "native tests (and the end-to-end journeys in headless Chromium)",
        cargo()
            .args(["test", "--workspace", "--quiet"])
            .env("E2E_PORTAL_DIST", &dist)
            .env("E2E_VIEWER_DIST", &viewer)
            .env("E2E_NODE_BIN", abs(target_dir().join("debug/ledger-node"))?)
            .env("E2E_SEED_BIN", abs(target_dir().join("debug/demo-seed"))?),
    )?;
    step(
        "the twin viewer draws a case (Xvfb, Mesa software Vulkan)",
        cargo().args(["test", "--quiet", "-p", "twin-viewer", "--features", "render", "--test", "screenshot"]),
    )?;
    step(
        "browser tests (headless Chromium)",
        &mut wasm_test(&["-p", "ledger-protocol", "-p", "wallet", "-p", "portal", "-p", "twin-sim"]),
    )?;
    eprintln!("== fuzz smoke: every target under AFL++ for a few seconds");
    crate::fuzz::fuzz(&["--seconds", "5", "--jobs", "2"].map(String::from))?;
    eprintln!("xtask test: all passed");
    Ok(())
}

/// Builds what the end-to-end tests drive and runs only them.
pub(crate) fn e2e(filter: Option<&str>) -> Result<()> {
    setup_wasm()?;
    setup_portal()?;
    setup_browser()?;
    let viewer = build_viewer_web("wasm-test", "viewer-web", false)?;
    let dist = build_portal()?;
    install_viewer(&viewer, &dist)?;
    quiet(cargo().args(["build", "--quiet", "-p", "ledger-node", "-p", "demo"]))?;
    let mut cmd = cargo();
    cmd.args(["test", "--quiet", "-p", "e2e", "--"]).args(filter).args(["--nocapture"]);
    step(
        "end-to-end tests",
        cmd.env("E2E_PORTAL_DIST", &dist)
            .env("E2E_VIEWER_DIST", &viewer)
            .env("E2E_NODE_BIN", abs(target_dir().join("debug/ledger-node"))?)
            .env("E2E_SEED_BIN", abs(target_dir().join("debug/demo-seed"))?),
    )
}
