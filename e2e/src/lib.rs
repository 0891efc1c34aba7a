//! Harness for the end-to-end journeys: starts a real ledger node (the built `ledger-node`
//! binary, `demo` mode) serving the real release portal (`dist/`), drives headless Chromium
//! through chromedriver, reads the ledger's JSON API, and keeps PNG screenshots of each
//! journey under `<target dir>/e2e-screenshots/<journey>/`.
//!
//! Nothing here links the node or the portal: they are driven from outside, as a user and
//! an auditor would see them.

pub mod browser;
pub mod canvas;
pub mod ledger;
pub mod node;

use anyhow::{Context, Result, bail};
use browser::{Browser, Chromedriver, Shots};
use ledger::Ledger;
use node::{DemoIdentity, Node};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The passphrase every actor's wallet is locked with in these journeys.
pub const PASSPHRASE: &str = "correct-Horse-42-battery";
/// Key stretching, encrypting and anchoring many records, and signing many transactions
/// take longer than a page change.
pub const LONG: std::time::Duration = std::time::Duration::from_secs(120);

/// Restores a demo identity from its recovery phrase into a fresh browser and waits for
/// the portal to land on the role's page, unlocked.
pub async fn restore(b: &Browser, phrase: &str, landing: &str) -> Result<()> {
    b.open("/").await?;
    b.click("#restore-wallet").await?;
    b.wait_path("/wallet/restore", browser::WAIT).await?;
    b.fill("#restore-phrase", phrase).await?;
    b.fill("#passphrase", PASSPHRASE).await?;
    b.fill("#passphrase-repeat", PASSPHRASE).await?;
    b.click("#restore-submit").await?;
    b.wait_path(landing, LONG).await.context("after restoring, the portal should open the role's page")?;
    b.wait("#nav-lock").await?;
    Ok(())
}

/// A browser benchmark's runs: a real node serving the `E2E_PORTAL_DIST` folder, `runs`
/// fresh Chromium sessions (empty caches), and `measure` on each, which returns a figure
/// and a line to print about it. Returns the median figure.
pub async fn bench_median(
    runs: usize,
    actor: &str,
    measure: impl AsyncFn(&Browser) -> Result<(f64, String)>,
) -> Result<f64> {
    let work = tempfile::tempdir()?;
    let node = Node::start(&node_bin()?, &portal_dist()?, &work.path().join("node.log")).await?;
    let driver = Chromedriver::start(&work.path().join("chromedriver.log")).await?;
    let shots = Arc::new(Shots::new(work.path().to_owned()));
    let mut figures = Vec::new();
    for run in 1..=runs {
        let b = driver.session(actor, &node.url, shots.clone()).await?;
        let measured = measure(&b).await;
        b.close().await;
        let (figure, line) = measured?;
        println!("run {run}: {line}");
        figures.push(figure);
    }
    figures.sort_by(f64::total_cmp);
    figures.get(runs / 2).copied().context("no benchmark runs")
}

/// The built `demo-seed` client (`E2E_SEED_BIN`, or next to this test's profile).
pub fn seed_bin() -> Result<PathBuf> {
    let path = match std::env::var_os("E2E_SEED_BIN") {
        Some(p) => PathBuf::from(p),
        None => profile_dir()?.join("demo-seed"),
    };
    if !path.is_file() {
        bail!(
            "the demo seed client is missing at {} (set E2E_SEED_BIN to use another one); {HOW_TO_BUILD}",
            path.display()
        );
    }
    Ok(path)
}

/// Where a missing prerequisite is explained.
const HOW_TO_BUILD: &str = "run `cargo xtask test`, which builds the node and the release portal before the \
     end-to-end journeys (or `cargo xtask e2e [filter]`, which builds them and runs only the journeys)";

/// The workspace root (this crate's parent folder).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("e2e lives inside the workspace").to_owned()
}

/// The Cargo profile folder this test runs from (`<target>/debug` for `cargo test`),
/// found from the test executable's own path: `<target>/<profile>/deps/<test>`.
pub fn profile_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the test executable")?;
    let deps = exe.parent().context("the test executable has no folder")?;
    if deps.file_name().is_some_and(|n| n == "deps") {
        Ok(deps.parent().context("the deps folder has no parent")?.to_owned())
    } else {
        Ok(deps.to_owned())
    }
}

/// The Cargo target folder.
pub fn target_dir() -> Result<PathBuf> {
    Ok(profile_dir()?.parent().context("the profile folder has no parent")?.to_owned())
}

/// The ledger node binary: `E2E_NODE_BIN`, else `ledger-node` next to this test's profile.
pub fn node_bin() -> Result<PathBuf> {
    let path = match std::env::var_os("E2E_NODE_BIN") {
        Some(p) => PathBuf::from(p),
        None => profile_dir()?.join("ledger-node"),
    };
    if !path.is_file() {
        bail!(
            "the ledger node binary is missing at {} (set E2E_NODE_BIN to use another one); {HOW_TO_BUILD}",
            path.display()
        );
    }
    Ok(path)
}

/// The built portal: `E2E_PORTAL_DIST`, else `<workspace>/dist`; it must hold `index.html`
/// and the start module.
pub fn portal_dist() -> Result<PathBuf> {
    let dir = match std::env::var_os("E2E_PORTAL_DIST") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("dist"),
    };
    let dir = std::path::absolute(&dir).with_context(|| format!("making {} absolute", dir.display()))?;
    // The start module is in `start-<hash>/`, the app module in `app-<hash>/`.
    let has_wasm = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok()).any(|e| e.path().join("start_bg.wasm").is_file()))
        .unwrap_or(false);
    if !dir.join("index.html").is_file() || !has_wasm {
        bail!(
            "the built portal is missing at {} (no index.html or start module; set E2E_PORTAL_DIST to use another build); {HOW_TO_BUILD}",
            dir.display()
        );
    }
    Ok(dir)
}

/// A file the journeys upload, from the repository's static folder.
pub fn fixture(relative: &str) -> Result<PathBuf> {
    let p = workspace_root().join(relative);
    if !p.is_file() {
        bail!("the test fixture {} is missing", p.display());
    }
    Ok(p)
}

/// Journeys run one at a time: each starts its own node and browsers, and on a small
/// machine several at once would only make each other's waits flaky.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs one journey: starts it (or fails, saying what is missing), runs `body`, and ends
/// it with [`Journey::finish`], which panics with the story of a failure.
pub async fn run(name: &str, body: impl AsyncFnOnce(&Journey) -> Result<()>) {
    run_on(name, false, body).await;
}

/// Like [`run`], on a fresh hospital (`ledger-node init` and `serve`, no demo data).
pub async fn run_fresh(name: &str, body: impl AsyncFnOnce(&Journey) -> Result<()>) {
    run_on(name, true, body).await;
}

async fn run_on(name: &str, fresh: bool, body: impl AsyncFnOnce(&Journey) -> Result<()>) {
    let journey = match Journey::start(name, fresh).await {
        Ok(j) => j,
        Err(e) => panic!("journey {name} could not start: {e:#}"),
    };
    let outcome = body(&journey).await;
    journey.finish(outcome).await;
}

/// Waits until no other journey of this test binary runs (each drives a node and Chromium,
/// which share this machine's cores), and holds that turn until the guard drops.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

/// One user journey: its node, its chromedriver, its browsers (one per actor), the ledger's
/// API, and the folder its screenshots go to.
pub struct Journey {
    pub name: String,
    pub node: Node,
    pub ledger: Ledger,
    driver: Chromedriver,
    shots: Arc<Shots>,
    browsers: Mutex<Vec<Browser>>,
    started: Instant,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Journey {
    /// Waits for its turn, then starts a node (with demo data, or `fresh` from `init`) and a
    /// chromedriver.
    pub async fn start(name: &str, fresh: bool) -> Result<Journey> {
        let turn = one_at_a_time().await;
        let started = Instant::now();
        let bin = node_bin()?;
        let dist = portal_dist()?;
        let dir = target_dir()?.join("e2e-screenshots").join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        println!("journey {name}: screenshots and logs go to {}", dir.display());
        let log = dir.join("node.log");
        let node =
            if fresh { Node::start_fresh(&bin, &dist, &log).await? } else { Node::start(&bin, &dist, &log).await? };
        let ledger = node.ledger()?;
        let driver = Chromedriver::start(&dir.join("chromedriver.log")).await?;
        Ok(Journey {
            name: name.to_owned(),
            node,
            ledger,
            driver,
            shots: Arc::new(Shots::new(dir)),
            browsers: Mutex::new(Vec::new()),
            started,
            _turn: turn,
        })
    }

    /// The folder this journey's screenshots go to.
    pub fn dir(&self) -> &Path {
        self.shots.dir()
    }

    /// A demo identity by label (doctor, surgeon, pharmacy, insurer, student, patient).
    pub fn demo(&self, label: &str) -> Result<&DemoIdentity> {
        self.node.identity(label)
    }

    /// A new browser session, with its own fresh profile, for one actor.
    pub async fn browser(&self, actor: &str) -> Result<Browser> {
        let b = self.driver.session(actor, &self.node.url, self.shots.clone()).await?;
        self.browsers.lock().expect("browser list").push(b.clone());
        Ok(b)
    }

    /// Ends the journey: on failure, keeps a screenshot and the page source of every
    /// browser, then panics with the error, the artifacts' folder and the node log's tail;
    /// closes every browser either way.
    pub async fn finish(self, outcome: Result<()>) {
        let browsers = std::mem::take(&mut *self.browsers.lock().expect("browser list"));
        if outcome.is_err() {
            for b in &browsers {
                b.keep_failure_state().await;
            }
        }
        for b in browsers {
            b.close().await;
        }
        let took = self.started.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => println!("journey {}: passed in {took:.1} s; screenshots in {}", self.name, self.dir().display()),
            Err(e) => {
                let log = std::fs::read_to_string(self.dir().join("node.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(25).collect::<Vec<_>>().into_iter().rev().collect();
                let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
                panic!(
                    "journey {} failed after {took:.1} s: {}\n\nscreenshots, page sources and logs: {}\n\nlast lines of the node's log:\n{}",
                    self.name,
                    chain.join("\n  because: "),
                    self.dir().display(),
                    tail.join("\n")
                );
            }
        }
    }
}
