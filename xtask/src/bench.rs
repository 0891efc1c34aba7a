//! `cargo xtask bench <...>`: each benchmark prints its figures, the last line the ones the
//! README quotes; none fails because the machine was busy.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::cmd::{abs, cargo, files_under, quiet, sh, target_dir};
use crate::setup::{setup_browser, setup_portal, setup_wasm, wasm_test};
use crate::web::{build_portal, build_viewer_web};

pub(crate) fn bench_ledger() -> Result<()> {
    quiet(cargo().args(["build", "--release", "--quiet", "-p", "ledger-node", "--bins"]))?;
    let target = target_dir();
    sh(Command::new(target.join("release/ledger-bench")).arg("--node-bin").arg(target.join("release/ledger-node")))
}

/// Three cluster nodes on loopback against one node, from the same load process.
pub(crate) fn bench_cluster() -> Result<()> {
    bench_node("--cluster")
}

pub(crate) fn bench_abuse() -> Result<()> {
    bench_node("--abuse")
}

/// `ledger-bench` in one of its modes against the release node.
pub(crate) fn bench_node(mode: &str) -> Result<()> {
    quiet(cargo().args(["build", "--release", "--quiet", "-p", "ledger-node", "--bins"]))?;
    let target = target_dir();
    sh(Command::new(target.join("release/ledger-bench"))
        .arg(mode)
        .arg("--node-bin")
        .arg(target.join("release/ledger-node")))
}

/// The portal's initial download (wasm + js, gzip) and its first render in Chromium.
pub(crate) fn bench_portal() -> Result<()> {
    setup_wasm()?;
    setup_portal()?;
    setup_browser()?;
    let dist = build_portal()?;
    // What the start page downloads (its wasm and js, in `start-<hash>/`) against what only
    // loads when the person moves on (the app module, in `app-<hash>/`).
    let (mut initial, mut app) = (0u64, 0u64);
    for p in files_under(&dist)? {
        let name = p.strip_prefix(&dist)?.to_string_lossy().into_owned();
        if name.ends_with(".wasm.gz") || name.ends_with(".js.gz") {
            let n = std::fs::metadata(&p)?.len();
            println!("{name}: {n} bytes");
            if name.starts_with("app-") { app += n } else { initial += n }
        }
    }
    println!("portal app_module_gzip_bytes={app} (loaded after the start page)");
    let ms = browser_figure("portal-bench", &dist, "first_render_ms")?;
    println!("portal initial_gzip_bytes={initial} first_render_ms={ms}");
    Ok(())
}

/// The viewer's release WebAssembly and its JavaScript glue (raw, brotli as served, gzip) and
/// its frame time in headless Chromium on MIMIC record 03700181's surgery. Goals (issue 16):
/// brotli <= 3,000,000 bytes, gzip <= 4,500,000.
pub(crate) fn bench_viewer() -> Result<()> {
    setup_wasm()?;
    setup_portal()?;
    setup_browser()?;
    eprintln!("building the twin viewer for the web (release, fat LTO: several minutes)");
    let out = build_viewer_web("wasm-release", "viewer-bench", true)?;
    // The copies the node serves, made by the build (brotli quality 11, gzip level 9).
    let (mut br, mut gz) = (0u64, 0u64);
    for name in ["twin_viewer_bg.wasm", "twin_viewer.js"] {
        let size = |suffix: &str| std::fs::metadata(out.join(format!("{name}{suffix}"))).map(|m| m.len());
        let (raw, b, g) = (size("")?, size(".br")?, size(".gz")?);
        println!("{name}: {raw} bytes, {b} brotli, {g} gzip");
        br += b;
        gz += g;
    }
    let ms = browser_figure("viewer-bench", &out, "frame_ms")?;
    println!("viewer wasm_br_bytes={br} wasm_gzip_bytes={gz} frame_ms={ms}");
    Ok(())
}

/// Builds the release node and the e2e benchmark binaries, runs `bin` (a real node serving
/// `dist`, headless Chromium) and returns the value of its `key=` line.
pub(crate) fn browser_figure(bin: &str, dist: &Path, key: &str) -> Result<String> {
    quiet(cargo().args(["build", "--release", "--quiet", "-p", "ledger-node", "-p", "demo", "-p", "e2e", "--bins"]))?;
    let node = abs(target_dir().join("release/ledger-node"))?;
    let seed = abs(target_dir().join("release/demo-seed"))?;
    bench_figure(
        bin,
        &[
            ("E2E_PORTAL_DIST", dist.as_os_str()),
            ("E2E_NODE_BIN", node.as_os_str()),
            ("E2E_SEED_BIN", seed.as_os_str()),
        ],
        key,
    )
}

/// Runs a release binary with `env`, prints its output, and returns the value of its last
/// `key=` figure.
pub(crate) fn bench_figure(bin: &str, env: &[(&str, &std::ffi::OsStr)], key: &str) -> Result<String> {
    let out = Command::new(abs(target_dir())?.join("release").join(bin))
        .envs(env.iter().copied())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {bin}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    if !out.status.success() {
        bail!("{bin} failed");
    }
    let prefix = format!("{key}=");
    text.lines()
        .rev()
        .find_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix(prefix.as_str())).map(str::to_owned))
        .with_context(|| format!("{bin} printed no {key}= figure"))
}

/// The twin's physiology speed (× real time, one core), replay seek + window time, and how
/// many checks of the clinical validation file the model meets (`twin-sim validate`).
pub(crate) fn bench_twin() -> Result<()> {
    quiet(cargo().args(["build", "--release", "--quiet", "-p", "twin-sim", "--bins"]))?;
    let factor = bench_figure("physio-bench", &[], "realtime_factor")?;
    let window = bench_figure("twin-bench", &[], "replay_window_ms")?;
    let out = Command::new(abs(target_dir())?.join("release").join("twin-sim"))
        .args(["validate", "--data", "../shared/data/schnider-1998-propofol/data.csv"])
        .stderr(Stdio::inherit())
        .output()
        .context("running twin-sim validate")?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    if !out.status.success() {
        bail!("twin-sim validate failed");
    }
    let field = |key: &str| {
        let last = text.lines().rev().find(|l| l.starts_with("validation "));
        last.and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix(key)).map(str::to_owned))
    };
    let (passed, total) = field("passed=").zip(field("total=")).context("twin-sim validate printed no count")?;
    println!("twin realtime_factor={factor} replay_window_ms={window} validation_passed={passed}/{total}");
    Ok(())
}

pub(crate) fn bench_wallet() -> Result<()> {
    setup_wasm()?;
    setup_browser()?;
    let out = wasm_test(&["--release", "-p", "wallet", "--test", "web", "--", "--nocapture", "bench"])
        .stderr(Stdio::inherit())
        .output()
        .context("running the wallet browser benchmark")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        eprintln!("{text}");
        bail!("the wallet browser benchmark failed");
    }
    let line = text
        .lines()
        .rev()
        .find(|l| l.contains("wallet sign_median_ms="))
        .context("the benchmark printed no result line")?;
    let line = &line[line.find("wallet sign_median_ms=").unwrap_or(0)..];
    println!("{line}");
    Ok(())
}
