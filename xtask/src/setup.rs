//! Installing what the jobs need when it is missing, and nothing when it is there: the wasm32
//! target and wasm-bindgen-cli, wasm-opt, Chromium with its WebDriver, Xvfb and
//! Mesa's software Vulkan.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

use crate::cmd::{cargo, locked_version, output, quiet, tools_dir, which};

/// The wasm32 target and wasm-bindgen-cli at the Cargo.lock version of wasm-bindgen.
pub(crate) fn setup_wasm() -> Result<()> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        eprintln!("setup: adding the wasm32-unknown-unknown target");
        quiet(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    let want = locked_version("wasm-bindgen")?;
    let have = output(Command::new("wasm-bindgen-test-runner").arg("--version")).unwrap_or_default();
    let have_bindgen = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if !have.contains(&want) || !have_bindgen.contains(&want) {
        eprintln!("setup: installing wasm-bindgen-cli {want} (a few minutes, once)");
        quiet(cargo().args(["install", "--quiet", "wasm-bindgen-cli", "--version", &want]))?;
    }
    Ok(())
}

/// Chromium and its WebDriver for browser tests, and a virtual X display with Mesa's
/// software Vulkan for the native twin viewer's test (Debian packages).
pub(crate) fn setup_browser() -> Result<()> {
    if chromium().is_some() && chromedriver().is_some() && virtual_display_ready() {
        return Ok(());
    }
    eprintln!("setup: installing chromium, chromium-driver, xvfb and Mesa's Vulkan drivers (Debian packages)");
    let is_root = output(Command::new("id").arg("-u")).is_some_and(|u| u.trim() == "0");
    let apt = |args: &[&str]| {
        let mut c = if is_root { Command::new("apt-get") } else { Command::new("sudo") };
        if !is_root {
            c.args(["-n", "apt-get"]);
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        quiet(&mut c)
    };
    const PACKAGES: [&str; 5] = ["chromium", "chromium-driver", "xvfb", "mesa-vulkan-drivers", "libvulkan1"];
    let install = |apt: &dyn Fn(&[&str]) -> Result<()>| apt(&[&["install", "-y", "-q"][..], &PACKAGES[..]].concat());
    if install(&apt).is_err() {
        apt(&["update", "-q"]).context("apt-get update failed; install the packages by hand")?;
        install(&apt).with_context(|| {
            format!("could not install them; install by hand (Debian: apt-get install {})", PACKAGES.join(" "))
        })?;
    }
    if chromedriver().is_none() {
        bail!("chromedriver is still missing after installing chromium-driver");
    }
    Ok(())
}

/// `xvfb-run` and Mesa's software Vulkan driver (lavapipe).
pub(crate) fn virtual_display_ready() -> bool {
    let lavapipe = std::fs::read_dir("/usr/share/vulkan/icd.d")
        .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("lvp_icd")))
        .unwrap_or(false);
    which("xvfb-run").is_some() && lavapipe
}

pub(crate) fn chromium() -> Option<PathBuf> {
    which("chromium").or_else(|| which("chromium-browser")).or_else(|| which("google-chrome"))
}

pub(crate) fn chromedriver() -> Option<PathBuf> {
    std::env::var_os("CHROMEDRIVER").map(PathBuf::from).filter(|p| p.is_file()).or_else(|| which("chromedriver"))
}

/// `cargo test` for wasm32 in headless Chromium through wasm-bindgen-test-runner.
pub(crate) fn wasm_test(extra: &[&str]) -> Command {
    let mut c = cargo();
    c.args(["test", "--target", "wasm32-unknown-unknown"]).args(extra);
    c.env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", "wasm-bindgen-test-runner");
    if let Some(d) = chromedriver() {
        c.env("CHROMEDRIVER", d);
    }
    c.env("WASM_BINDGEN_TEST_TIMEOUT", "300");
    c
}

/// A `wasm-opt` recent enough for current Rust wasm (npm's binaryen; Debian's is too old),
/// kept in the target dir, for the portal's and the viewer's modules.
pub(crate) fn setup_portal() -> Result<()> {
    const BINARYEN: &str = "132";
    let tools = tools_dir()?;
    let have = output(Command::new(tools.join("node_modules/.bin/wasm-opt")).arg("--version")).unwrap_or_default();
    if !have.contains(&format!("version {BINARYEN}")) {
        eprintln!("setup: installing wasm-opt (npm binaryen {BINARYEN})");
        std::fs::create_dir_all(&tools)?;
        quiet(
            Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                .arg(&tools)
                .arg(format!("binaryen@{BINARYEN}.0.0")),
        )
        .context("npm could not install binaryen; check that node and npm are installed")?;
    }
    Ok(())
}
