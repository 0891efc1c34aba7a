//! Building what the browser loads: the portal (app module, start page) and the twin viewer
//! for the web, installed side by side in `dist/` with precompressed copies the node serves.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{
    abs, cargo, copy_tree, file_hash, files_under, locked_version, quiet, target_dir, tools_dir, tree_hash,
};

/// Builds the portal in release into a fresh `dist/`: the app module (cargo, wasm-bindgen,
/// wasm-opt) into a folder named after its content, then the start module the same way
/// (told the app's folder), the style sheet under a name from its content, and the page
/// from `portal/index.html` pointing at them; then brotli and gzip copies of every file.
/// No viewer yet: [`install_viewer`] adds one and says where in `dist/viewer.json`, which the
/// twin pages read (and wait for).
pub(crate) fn build_portal() -> Result<PathBuf> {
    let app = web_module(&["-p", "portal", "--lib"], "portal.wasm", "portal", None)
        .context("building the portal's app module failed")?;
    let app_dir = format!("app-{:016x}", tree_hash(&app)?);
    let start =
        web_module(&["-p", "portal-start", "--bin", "portal-start"], "portal-start.wasm", "start", Some(&app_dir))
            .context("building the portal's start module failed")?;
    let start_dir = format!("start-{:016x}", tree_hash(&start)?);
    let css = Path::new("static/portal.css");
    let css_name = format!("portal-{:016x}.css", file_hash(css)?);
    let template = std::fs::read_to_string("portal/index.html").context("reading portal/index.html")?;
    let page = portal_page(&template, &start_dir, &css_name)?;

    let dist = std::env::current_dir()?.join("dist");
    if dist.exists() {
        std::fs::remove_dir_all(&dist).with_context(|| format!("clearing {}", dist.display()))?;
    }
    std::fs::create_dir_all(&dist)?;
    copy_tree(&app, &dist.join(&app_dir))?;
    copy_tree(&start, &dist.join(&start_dir))?;
    std::fs::copy(css, dist.join(&css_name)).context("copying the style sheet")?;
    std::fs::write(dist.join("index.html"), page)?;
    precompress(&dist, Effort::Best)?;
    Ok(dist)
}

/// Builds one of the portal's modules for the browser (`wasm-release`), through wasm-bindgen
/// (`<out_name>.js` and `<out_name>_bg.wasm`) and `wasm-opt -Oz`, into `<target>/portal-<out_name>/`;
/// `app_dir` is the app module's folder, which the start module is compiled to load.
fn web_module(package: &[&str], built: &str, out_name: &str, app_dir: Option<&str>) -> Result<PathBuf> {
    let mut build = cargo();
    build.args(["build", "--quiet", "--target", "wasm32-unknown-unknown", "--profile", "wasm-release"]).args(package);
    if let Some(dir) = app_dir {
        build.env("PORTAL_APP_DIR", dir);
    }
    quiet(&mut build)?;
    let staged = abs(target_dir().join(format!("portal-{out_name}")))?;
    if staged.exists() {
        std::fs::remove_dir_all(&staged)?;
    }
    quiet(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-name", out_name, "--out-dir"])
            .arg(&staged)
            .arg(target_dir().join("wasm32-unknown-unknown/wasm-release").join(built)),
    )?;
    let module = staged.join(format!("{out_name}_bg.wasm"));
    quiet(
        Command::new(tools_dir()?.join("node_modules/.bin/wasm-opt")).arg("-Oz").arg(&module).arg("-o").arg(&module),
    )?;
    Ok(staged)
}

/// The portal's page: `portal/index.html` with its style sheet and start module pointed at
/// the built files (`/portal.css` and `/start/` in the source).
fn portal_page(template: &str, start_dir: &str, css_name: &str) -> Result<String> {
    for placeholder in ["\"/portal.css\"", "'/start/start.js'", "'/start/start_bg.wasm'"] {
        if !template.contains(placeholder) {
            anyhow::bail!(
                "portal/index.html no longer names {placeholder}: the build cannot point it at the built files"
            );
        }
    }
    Ok(template.replace("\"/portal.css\"", &format!("\"/{css_name}\"")).replace("'/start/", &format!("'/{start_dir}/")))
}

/// How hard [`precompress`] works: `Best` for what people download (brotli quality 11, the
/// largest window browsers accept: about 45 s for the 20 MB release viewer on this 2-core
/// machine), `Quick` for the test builds (their 80 MB unoptimised viewer would take minutes at
/// quality 11; the tests check which copy is served, not its size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effort {
    Best,
    Quick,
}

/// Precompressed copies of a folder's web files, `.br` (brotli) and `.gz` (gzip level 9)
/// beside each `.wasm`, `.js`, `.css` and `.html`; the node serves the one the browser accepts.
fn precompress(dir: &Path, effort: Effort) -> Result<()> {
    for p in files_under(dir)? {
        if matches!(p.extension().and_then(|e| e.to_str()), Some("wasm" | "js" | "css" | "html")) {
            let bytes = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
            for (suffix, packed) in [(".gz", gzip(&bytes)?), (".br", brotli(&bytes, effort)?)] {
                let mut name = p.clone().into_os_string();
                name.push(suffix);
                std::fs::write(&name, packed).with_context(|| format!("writing {}", Path::new(&name).display()))?;
            }
        }
    }
    Ok(())
}

/// `bytes` as gzip at level 9.
fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    out.write_all(bytes)?;
    Ok(out.finish()?)
}

/// `bytes` as brotli: quality 11 with a 16 MiB window (`Best`), or quality 4 (`Quick`).
fn brotli(bytes: &[u8], effort: Effort) -> Result<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: if effort == Effort::Best { 11 } else { 4 },
        lgwin: 24,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params).context("brotli compression failed")?;
    Ok(out)
}
/// The page the viewer benchmark and browser test serve (the patient, the monitor and the
/// case at a glance, as the portal lays them out): starts the viewer (playing unless
/// `?play=0`; at `?at=` seconds), waits for it to warm up, then times animation frames (120, or `?frames=`) and reports the
/// median in `data-frame-ms` (or what failed in `data-error`).
pub(crate) const VIEWER_BENCH_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>twin viewer benchmark</title></head>
<body><div id="scene"><canvas id="twin"></canvas></div>
<canvas id="twin-monitor"></canvas>
<canvas id="twin-trend"></canvas>
<script type="module">
import init, { start, viewer_control } from './twin_viewer.js';
const fail = (e) => { document.body.dataset.error = String(e); };
// Sized from the script: the node's content security policy refuses inline style attributes.
document.body.style.margin = '0';
document.body.style.background = '#111';
for (const [id, h] of [['scene', 400], ['twin-monitor', 320], ['twin-trend', 240]]) {
  const el = document.getElementById(id);
  el.style.display = 'block';
  el.style.width = '1024px';
  el.style.height = `${h}px`;
}
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
  if (query.get('at')) viewer_control('seek', Number(query.get('at')));
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
pub(crate) fn build_viewer_web(profile: &str, folder: &str, optimise: bool) -> Result<PathBuf> {
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
    let outputs = VIEWER_FILES.iter().copied().chain(["case.json"]);
    if std::fs::read_to_string(out.join("stamp")).ok().as_deref() == Some(stamp.as_str())
        && outputs.into_iter().all(|f| out.join(f).is_file())
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
    if optimise {
        eprintln!("compressing the viewer with brotli at quality 11 (a minute)");
    }
    precompress(&out, if optimise { Effort::Best } else { Effort::Quick })?;
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

/// The folder a built web viewer goes in under `dist/`: named after its content.
pub(crate) fn viewer_dir_name(viewer: &Path) -> Result<String> {
    let (wasm, js) = (file_hash(&viewer.join("twin_viewer_bg.wasm"))?, file_hash(&viewer.join("twin_viewer.js"))?);
    Ok(format!("viewer-{:016x}", wasm ^ js.rotate_left(17)))
}

/// The files of a built web viewer that the portal serves: its module and glue, each with
/// its brotli and gzip copies (made once per build, in [`build_viewer_web`]).
const VIEWER_FILES: [&str; 6] = [
    "twin_viewer.js",
    "twin_viewer.js.br",
    "twin_viewer.js.gz",
    "twin_viewer_bg.wasm",
    "twin_viewer_bg.wasm.br",
    "twin_viewer_bg.wasm.gz",
];

/// Puts the web viewer's files into the portal's `dist/viewer-<hash>/`, then names that
/// folder in `dist/viewer.json` (written last, by a rename, so a page never reads a name
/// whose files are not all there); the portal's twin pages load the viewer from it on demand.
pub(crate) fn install_viewer(viewer: &Path, dist: &Path) -> Result<()> {
    remove_viewers(dist)?;
    let name = viewer_dir_name(viewer)?;
    let dest = dist.join(&name);
    std::fs::create_dir_all(&dest)?;
    for file in VIEWER_FILES {
        std::fs::copy(viewer.join(file), dest.join(file)).with_context(|| format!("copying the viewer's {file}"))?;
    }
    describe_viewer(dist, &format!("{{\"module\":\"/{name}/twin_viewer.js\"}}\n"))
}

/// Tells the twin pages that the viewer could not be built, and why (they stop waiting).
pub(crate) fn viewer_failed(dist: &Path, error: &anyhow::Error) -> Result<()> {
    let words: String = format!("{error:#}").chars().filter(|c| !c.is_control()).collect();
    describe_viewer(dist, &format!("{{\"error\":{:?}}}\n", words))
}

fn describe_viewer(dist: &Path, json: &str) -> Result<()> {
    let staged = dist.join("viewer.json.new");
    std::fs::write(&staged, json)?;
    std::fs::rename(&staged, dist.join("viewer.json")).context("naming the installed viewer")
}

/// Removes `dist/viewer.json` and every installed `dist/viewer-*/` folder.
fn remove_viewers(dist: &Path) -> Result<()> {
    match std::fs::remove_file(dist.join("viewer.json")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    for entry in std::fs::read_dir(dist).with_context(|| format!("reading {}", dist.display()))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with("viewer-") && entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_points_at_the_built_files_and_a_page_without_the_names_is_refused() {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../portal/index.html");
        let template = std::fs::read_to_string(source).unwrap();
        let page = portal_page(&template, "start-00ff", "portal-0a0b.css").unwrap();
        assert!(page.contains(r#"href="/portal-0a0b.css""#), "{page}");
        assert!(page.contains("import init from '/start-00ff/start.js'"), "{page}");
        assert!(page.contains("module_or_path: '/start-00ff/start_bg.wasm'"), "{page}");
        assert!(!page.contains("'/start/") && !page.contains("\"/portal.css\""), "{page}");
        let error = portal_page("<html></html>", "start-00ff", "portal-0a0b.css").unwrap_err().to_string();
        assert!(error.contains("portal/index.html no longer names"), "{error}");
    }
}
