//! Project automation, the README's two commands and the benchmarks:
//! `cargo xtask run` (set up, then run the node with demo data), `cargo xtask test`
//! (set up, then run everything CI runs), `cargo xtask fuzz` (see `fuzz.rs`),
//! `cargo xtask bench <ledger|cluster|wallet|...>`, and
//! `cargo xtask setup` (only install what is missing). Set-up is idempotent and silent
//! when everything is already there.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

mod fuzz;
use std::process::{Command, Stdio};

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
          viewer: the twin viewer's WebAssembly (gzip) and frame time in headless Chromium
  setup   install what is missing (wasm32 target, wasm-bindgen-cli, trunk, wasm-opt, Chromium,
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

/// Runs a command, streaming its output; fails with the command line if it fails.
fn sh(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("command failed ({status}): {cmd:?}");
    }
    Ok(())
}

/// Runs a command quietly; shows its output only if it fails.
fn quiet(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        eprintln!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        bail!("command failed ({}): {cmd:?}", out.status);
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The version of a package as pinned in Cargo.lock.
fn locked_version(package: &str) -> Result<String> {
    let lock = std::fs::read_to_string("Cargo.lock").context("reading Cargo.lock")?;
    let needle = format!("name = \"{package}\"\nversion = \"");
    let start = lock.find(&needle).with_context(|| format!("{package} is not in Cargo.lock"))? + needle.len();
    let end = lock[start..].find('"').context("Cargo.lock is malformed")?;
    Ok(lock[start..start + end].to_owned())
}

/// The wasm32 target and wasm-bindgen-cli at the Cargo.lock version of wasm-bindgen.
fn setup_wasm() -> Result<()> {
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
fn setup_browser() -> Result<()> {
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
fn virtual_display_ready() -> bool {
    let lavapipe = std::fs::read_dir("/usr/share/vulkan/icd.d")
        .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("lvp_icd")))
        .unwrap_or(false);
    which("xvfb-run").is_some() && lavapipe
}

fn chromium() -> Option<PathBuf> {
    which("chromium").or_else(|| which("chromium-browser")).or_else(|| which("google-chrome"))
}

fn chromedriver() -> Option<PathBuf> {
    std::env::var_os("CHROMEDRIVER").map(PathBuf::from).filter(|p| p.is_file()).or_else(|| which("chromedriver"))
}

/// `cargo test` for wasm32 in headless Chromium through wasm-bindgen-test-runner.
fn wasm_test(extra: &[&str]) -> Command {
    let mut c = cargo();
    c.args(["test", "--target", "wasm32-unknown-unknown"]).args(extra);
    c.env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", "wasm-bindgen-test-runner");
    if let Some(d) = chromedriver() {
        c.env("CHROMEDRIVER", d);
    }
    c.env("WASM_BINDGEN_TEST_TIMEOUT", "300");
    c
}

/// Trunk at the version that installs with this rustc, and a `wasm-opt` recent enough
/// for current Rust wasm (npm's binaryen; Debian's is too old), kept in the target dir.
fn setup_portal() -> Result<()> {
    const TRUNK: &str = "0.21.14";
    const BINARYEN: &str = "132";
    let have = output(Command::new("trunk").arg("--version")).unwrap_or_default();
    if !have.contains(TRUNK) {
        eprintln!("setup: installing trunk {TRUNK} (a few minutes, once)");
        quiet(cargo().args(["install", "--quiet", "--locked", &format!("trunk@{TRUNK}")]))?;
    }
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

fn tools_dir() -> Result<PathBuf> {
    let t = target_dir();
    let t = if t.is_absolute() { t } else { std::env::current_dir()?.join(t) };
    Ok(t.join("tools"))
}

/// Builds the portal in release into `dist/`: the app module first (cargo, wasm-bindgen,
/// wasm-opt) into a folder named after its content, then the start page with Trunk (told
/// that folder's name), then the app module beside it, and gzip copies of every file.
/// With a built web viewer, the app module is told the folder it will be installed in
/// (named after the viewer's content, so a browser never pairs a portal with a stale
/// viewer); [`install_viewer`] puts it there afterwards.
fn build_portal(viewer: Option<&Path>) -> Result<PathBuf> {
    let tools_bin = tools_dir()?.join("node_modules/.bin");
    let viewer_dir = viewer.map(viewer_dir_name).transpose()?.unwrap_or_else(|| "viewer".to_owned());
    quiet(cargo().env("TWIN_VIEWER_DIR", &viewer_dir).args([
        "build",
        "--quiet",
        "-p",
        "portal",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "wasm-release",
    ]))
    .context("building the portal's app module failed")?;
    let staged = abs(target_dir().join("portal-app"))?;
    if staged.exists() {
        std::fs::remove_dir_all(&staged)?;
    }
    quiet(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-name", "portal", "--out-dir"])
            .arg(&staged)
            .arg(target_dir().join("wasm32-unknown-unknown/wasm-release/portal.wasm")),
    )?;
    let module = staged.join("portal_bg.wasm");
    quiet(Command::new(tools_bin.join("wasm-opt")).arg("-Oz").arg(&module).arg("-o").arg(&module))?;
    let app_dir = format!("app-{:016x}", tree_hash(&staged)?);

    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![tools_bin];
    dirs.extend(std::env::split_paths(&path));
    quiet(
        Command::new("trunk")
            .args(["build", "--release"])
            .env("PATH", std::env::join_paths(dirs)?)
            .env("PORTAL_APP_DIR", &app_dir),
    )
    .context("building the portal's start page with trunk failed")?;
    let dist = std::env::current_dir()?.join("dist");
    copy_tree(&staged, &dist.join(&app_dir))?;
    gzip_copies(&dist)?;
    Ok(dist)
}

/// Pre-compressed copies of a folder's web files, served as they are by the node.
fn gzip_copies(dir: &Path) -> Result<()> {
    for p in files_under(dir)? {
        if matches!(p.extension().and_then(|e| e.to_str()), Some("wasm" | "js" | "css" | "html")) {
            let mut name = p.clone().into_os_string();
            name.push(".gz");
            let st = Command::new("gzip").args(["-9", "-c"]).arg(&p).stdout(std::fs::File::create(&name)?).status()?;
            if !st.success() {
                bail!("gzip failed on {}", p.display());
            }
        }
    }
    Ok(())
}

/// Every file under a folder, sorted.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = entry?.path();
        if p.is_dir() {
            out.extend(files_under(&p)?);
        } else {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for p in files_under(from)? {
        let dest = to.join(p.strip_prefix(from)?);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&p, &dest).with_context(|| format!("copying {}", p.display()))?;
    }
    Ok(())
}

/// A hash of a folder's file names and contents (names the app module's folder, so a
/// browser never pairs a start page with an app module cached from another build).
fn tree_hash(dir: &Path) -> Result<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    for p in files_under(dir)? {
        p.strip_prefix(dir)?.hash(&mut h);
        std::fs::read(&p)?.hash(&mut h);
    }
    Ok(h.finish())
}

fn test() -> Result<()> {
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
    for krate in ["wallet", "portal", "portal-start"] {
        step(
            &format!("lints of {krate} (wasm32)"),
            cargo().args([
                "clippy",
                "--target",
                "wasm32-unknown-unknown",
                "-p",
                krate,
                "--all-targets",
                "--quiet",
                "--",
                "-D",
                "warnings",
            ]),
        )?;
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
    eprintln!("== portal (trunk, release)");
    let dist = build_portal(Some(&viewer))?;
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
    fuzz::fuzz(&["--seconds", "5", "--jobs", "2"].map(String::from))?;
    eprintln!("xtask test: all passed");
    Ok(())
}

/// Builds what the end-to-end tests drive and runs only them.
fn e2e(filter: Option<&str>) -> Result<()> {
    setup_wasm()?;
    setup_portal()?;
    setup_browser()?;
    let viewer = build_viewer_web("wasm-test", "viewer-web", false)?;
    let dist = build_portal(Some(&viewer))?;
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

fn step(name: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("== {name}");
    sh(cmd).with_context(|| format!("step '{name}' failed"))
}

fn run(args: &[String]) -> Result<()> {
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

fn bench_ledger() -> Result<()> {
    quiet(cargo().args(["build", "--release", "--quiet", "-p", "ledger-node", "--bins"]))?;
    let target = target_dir();
    sh(Command::new(target.join("release/ledger-bench")).arg("--node-bin").arg(target.join("release/ledger-node")))
}

/// Three cluster nodes on loopback against one node, from the same load process.
fn bench_cluster() -> Result<()> {
    bench_node("--cluster")
}

fn bench_abuse() -> Result<()> {
    bench_node("--abuse")
}

/// `ledger-bench` in one of its modes against the release node.
fn bench_node(mode: &str) -> Result<()> {
    quiet(cargo().args(["build", "--release", "--quiet", "-p", "ledger-node", "--bins"]))?;
    let target = target_dir();
    sh(Command::new(target.join("release/ledger-bench"))
        .arg(mode)
        .arg("--node-bin")
        .arg(target.join("release/ledger-node")))
}

fn abs(p: PathBuf) -> Result<PathBuf> {
    Ok(if p.is_absolute() { p } else { std::env::current_dir()?.join(p) })
}

/// The portal's initial download (wasm + js, gzip) and its first render in Chromium.
fn bench_portal() -> Result<()> {
    setup_wasm()?;
    setup_portal()?;
    setup_browser()?;
    let dist = build_portal(None)?;
    // What the start page downloads (its wasm and js, Trunk's output) against what only
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

/// The page the viewer benchmark and browser test serve: starts the viewer (playing unless
/// `?play=0`), waits for it to warm up, then times animation frames (120, or `?frames=`) and reports the
/// median in `data-frame-ms` (or what failed in `data-error`).
const VIEWER_BENCH_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>twin viewer benchmark</title></head>
<body style="margin:0;background:#111"><canvas id="twin" style="width:1024px;height:640px"></canvas>
<script type="module">
import init, { start } from './twin_viewer.js';
const fail = (e) => { document.body.dataset.error = String(e); };
try {
  await init();
  const text = await (await fetch('case.json')).text();
  const query = new URLSearchParams(location.search);
  const play = query.get('play') !== '0';
  const frames = Number(query.get('frames') || 120);
  try { start('twin', text, null, play); } catch (e) {
    // winit hands the event loop to the browser by throwing this on purpose.
    if (!String(e).includes('Using exceptions for control flow')) throw e;
  }
  await new Promise((r) => setTimeout(r, 5000));
  const gaps = [];
  let last = performance.now();
  await new Promise((done) => {
    const tick = (t) => { gaps.push(t - last); last = t; if (gaps.length < frames) requestAnimationFrame(tick); else done(); };
    requestAnimationFrame(tick);
  });
  gaps.sort((a, b) => a - b);
  document.body.dataset.frameMs = gaps[gaps.length >> 1].toFixed(1);
} catch (e) { fail(e); }
</script></body></html>
"#;

/// Builds the web viewer with `profile` into `<target>/<folder>/` beside the bench page and
/// MIMIC record 03700181's surgery as `case.json`; `optimise` runs wasm-opt -Oz (minutes).
fn build_viewer_web(profile: &str, folder: &str, optimise: bool) -> Result<PathBuf> {
    quiet(cargo().args([
        "build",
        "--quiet",
        "-p",
        "twin-viewer",
        "--lib",
        "--features",
        "web",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        profile,
    ]))
    .context("building the twin viewer for the web failed")?;
    let out = abs(target_dir().join(folder))?;
    let built = target_dir().join(format!("wasm32-unknown-unknown/{profile}/twin_viewer.wasm"));
    // wasm-bindgen and wasm-opt take minutes: skip them when the module, and how it is
    // processed, have not changed and their outputs are all there.
    let stamp = format!("{:016x} optimise={optimise} bindgen={}", file_hash(&built)?, locked_version("wasm-bindgen")?);
    let outputs = ["twin_viewer_bg.wasm", "twin_viewer.js", "case.json"];
    if std::fs::read_to_string(out.join("stamp")).ok().as_deref() == Some(stamp.as_str())
        && outputs.iter().all(|f| out.join(f).is_file())
    {
        std::fs::write(out.join("index.html"), VIEWER_BENCH_PAGE)?;
        return Ok(out);
    }
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    quiet(
        Command::new("wasm-bindgen").args(["--target", "web", "--no-typescript", "--out-dir"]).arg(&out).arg(&built),
    )?;
    if optimise {
        eprintln!("optimising the viewer with wasm-opt -Oz (several minutes)");
        let module = out.join("twin_viewer_bg.wasm");
        quiet(
            Command::new(tools_dir()?.join("node_modules/.bin/wasm-opt"))
                .arg("-Oz")
                .arg(&module)
                .arg("-o")
                .arg(&module),
        )?;
    }
    quiet(cargo().args(["build", "--quiet", "-p", "twin-sim", "--bin", "twin-sim"]))?;
    quiet(
        Command::new(target_dir().join("debug/twin-sim"))
            .args(["import", "twin-sim/data/physionet/mimicdb-037/03700181.hea", "--stage", "surgery", "--out"])
            .arg(out.join("case.json")),
    )?;
    std::fs::write(out.join("index.html"), VIEWER_BENCH_PAGE)?;
    std::fs::write(out.join("stamp"), stamp)?;
    Ok(out)
}

/// A hash of one file's contents.
fn file_hash(path: &Path) -> Result<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?.hash(&mut h);
    Ok(h.finish())
}

/// The folder a built web viewer goes in under `dist/`: named after its content.
fn viewer_dir_name(viewer: &Path) -> Result<String> {
    let (wasm, js) = (file_hash(&viewer.join("twin_viewer_bg.wasm"))?, file_hash(&viewer.join("twin_viewer.js"))?);
    Ok(format!("viewer-{:016x}", wasm ^ js.rotate_left(17)))
}

/// Puts the web viewer's module into the portal's `dist/viewer-<hash>/` (with gzip
/// copies), where the portal's twin pages load it on demand.
fn install_viewer(viewer: &Path, dist: &Path) -> Result<()> {
    let dest = dist.join(viewer_dir_name(viewer)?);
    if dest.exists() {
        std::fs::remove_dir_all(&dest)?;
    }
    std::fs::create_dir_all(&dest)?;
    for name in ["twin_viewer.js", "twin_viewer_bg.wasm"] {
        std::fs::copy(viewer.join(name), dest.join(name)).with_context(|| format!("copying the viewer's {name}"))?;
    }
    gzip_copies(&dest)
}

/// The viewer's release WebAssembly (size, gzip) and its frame time in headless Chromium
/// on MIMIC record 03700181's surgery.
fn bench_viewer() -> Result<()> {
    setup_wasm()?;
    setup_portal()?;
    setup_browser()?;
    eprintln!("building the twin viewer for the web (release, fat LTO: several minutes)");
    let out = build_viewer_web("wasm-release", "viewer-bench", true)?;
    let mut gz = 0u64;
    for name in ["twin_viewer_bg.wasm", "twin_viewer.js"] {
        let o = Command::new("gzip").args(["-9", "-c"]).arg(out.join(name)).output()?;
        if !o.status.success() {
            bail!("gzip failed on {name}");
        }
        println!("{name}: {} bytes, {} gzip", std::fs::metadata(out.join(name))?.len(), o.stdout.len());
        gz += o.stdout.len() as u64;
    }
    let ms = browser_figure("viewer-bench", &out, "frame_ms")?;
    println!("viewer wasm_gzip_bytes={gz} frame_ms={ms}");
    Ok(())
}

/// Builds the release node and the e2e benchmark binaries, runs `bin` (a real node serving
/// `dist`, headless Chromium) and returns the value of its `key=` line.
fn browser_figure(bin: &str, dist: &Path, key: &str) -> Result<String> {
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
fn bench_figure(bin: &str, env: &[(&str, &std::ffi::OsStr)], key: &str) -> Result<String> {
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
fn bench_twin() -> Result<()> {
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

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target"))
}

fn bench_wallet() -> Result<()> {
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
