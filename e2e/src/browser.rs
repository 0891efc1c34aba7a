//! Headless Chromium through chromedriver (WebDriver, via fantoccini): one chromedriver
//! per journey, one browser session with a fresh profile per actor, and the waits, clicks
//! and screenshots the journeys are written in.

use anyhow::{Context, Result, bail};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// How long a page may take to show what a step waits for.
pub const WAIT: Duration = Duration::from_secs(30);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);

/// The arguments every browser gets: headless, as root in a container, no background
/// traffic, a fixed window size so that screenshots compare.
const CHROME_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
    // WebGL2 without a GPU (the twin viewer): Chromium's software renderer.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    // The page's console (a WebAssembly panic, say) goes to the chromedriver log.
    "--enable-logging=stderr",
    "--log-level=0",
];

fn chromedriver_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMEDRIVER").map(PathBuf::from).filter(|p| p.is_file()) {
        return Ok(p);
    }
    on_path("chromedriver").context(
        "chromedriver is missing: install Debian's chromium-driver (`cargo xtask setup` does) or set CHROMEDRIVER",
    )
}

fn chromium_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("E2E_CHROMIUM").map(PathBuf::from).filter(|p| p.is_file()) {
        return Ok(p);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|n| on_path(n))
        .context("Chromium is missing: install Debian's chromium (`cargo xtask setup` does) or set E2E_CHROMIUM")
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// A chromedriver on a free local port. When dropped, it and every browser it started
/// (its process group) are killed, so a failed journey leaves no Chromium behind.
pub struct Chromedriver {
    url: String,
    chromium: PathBuf,
    child: Child,
}

impl Chromedriver {
    pub async fn start(log: &Path) -> Result<Chromedriver> {
        let bin = chromedriver_bin()?;
        let chromium = chromium_bin()?;
        let port = free_port()?;
        let child = Command::new(&bin)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .arg("--enable-chrome-logs")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let start = Instant::now();
        loop {
            let ready = match http.get(format!("{url}/status")).send().await {
                Ok(r) => r.json::<serde_json::Value>().await.ok().is_some_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            if start.elapsed() > Duration::from_secs(20) {
                bail!("chromedriver did not get ready on port {port} within 20 s (see {})", log.display());
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(Chromedriver { url, chromium, child })
    }

    /// A new WebDriver session: a fresh Chromium profile, so nothing (no wallet) is shared
    /// with other actors.
    pub async fn session(&self, actor: &str, base: &str, shots: Arc<Shots>) -> Result<Browser> {
        let profile = tempfile::Builder::new().prefix("e2e-chromium-").tempdir().context("making a browser profile")?;
        let mut args: Vec<String> = CHROME_ARGS.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": self.chromium, "args": args }));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .with_context(|| format!("starting a Chromium session for the {actor}"))?;
        Ok(Browser { actor: actor.to_owned(), client, base: base.to_owned(), shots, _profile: Arc::new(profile) })
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // Chromium runs in chromedriver's process group (started with its own group).
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Where a journey's screenshots go, numbered in the order they were taken.
pub struct Shots {
    dir: PathBuf,
    next: AtomicU32,
}

impl Shots {
    pub fn new(dir: PathBuf) -> Shots {
        Shots { dir, next: AtomicU32::new(1) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, actor: &str, name: &str, ext: &str) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{n:02}-{actor}-{name}.{ext}"))
    }
}

/// One actor's browser.
#[derive(Clone)]
pub struct Browser {
    pub actor: String,
    client: Client,
    base: String,
    shots: Arc<Shots>,
    _profile: Arc<tempfile::TempDir>,
}

impl Browser {
    /// Loads a page of the portal by URL (a full page load: an unlocked wallet locks).
    pub async fn open(&self, path: &str) -> Result<()> {
        let url = format!("{}{path}", self.base);
        self.client.goto(&url).await.with_context(|| format!("{}: opening {url}", self.actor))?;
        self.wait("header.top").await.context("the portal did not start (no header)")?;
        Ok(())
    }

    /// Loads any page the node serves, without waiting for the portal's header.
    pub async fn goto(&self, path: &str) -> Result<()> {
        let url = format!("{}{path}", self.base);
        self.client.goto(&url).await.with_context(|| format!("{}: opening {url}", self.actor))
    }

    /// Runs JavaScript in the page and returns its value.
    pub async fn script(&self, js: &str) -> Result<serde_json::Value> {
        self.client.execute(js, vec![]).await.with_context(|| format!("{}: running a script", self.actor))
    }

    /// Saves a PNG of what the browser shows now, as `NN-<actor>-<name>.png`.
    pub async fn shot(&self, name: &str) -> Result<PathBuf> {
        let png = self.client.screenshot().await.with_context(|| format!("{}: taking a screenshot", self.actor))?;
        let path = self.shots.path(&self.actor, name, "png");
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Saves a PNG of one element as the browser draws it (a canvas's own pixels), as
    /// `NN-<actor>-<name>.png`.
    pub async fn element_shot(&self, css: &str, name: &str) -> Result<PathBuf> {
        let el = self.wait(css).await?;
        // Element screenshots are cut at the viewport: bring it in first.
        self.script(&format!("document.querySelector({css:?}).scrollIntoView({{ block: 'center' }});")).await?;
        let png = el.screenshot().await.with_context(|| format!("{}: taking a screenshot of `{css}`", self.actor))?;
        let path = self.shots.path(&self.actor, name, "png");
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Polls `f` until it gives a value; WebDriver errors on the way (a node re-rendered
    /// under us, say) count as "not yet". Fails after `timeout`, saying what was awaited,
    /// the page's address and any error the page shows.
    pub async fn poll<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl AsyncFnMut(&Client) -> Result<Option<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        loop {
            let last = match f(&self.client).await {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => None,
                Err(e) => Some(format!("{e:#}")),
            };
            if start.elapsed() > timeout {
                let mut msg = format!("{}: timed out after {timeout:?} waiting for {what}", self.actor);
                if let Some(e) = last {
                    msg.push_str(&format!(" (last error: {e})"));
                }
                msg.push_str(&self.situation().await);
                bail!(msg);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Where the browser is and what errors the page shows, for failure messages.
    async fn situation(&self) -> String {
        let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| format!("? ({e})"));
        let mut alerts = Vec::new();
        if let Ok(els) = self.client.find_all(Locator::Css("[role=alert]")).await {
            for e in els {
                if let Ok(t) = e.text().await {
                    alerts.push(t);
                }
            }
        }
        format!("; page {url}; alerts on the page: {alerts:?}")
    }

    /// Waits for an element matching a CSS selector to be in the page.
    pub async fn wait(&self, css: &str) -> Result<Element> {
        self.wait_within(css, WAIT).await
    }

    pub async fn wait_within(&self, css: &str, timeout: Duration) -> Result<Element> {
        self.poll(&format!("`{css}`"), timeout, async |c: &Client| {
            Ok(c.find_all(Locator::Css(css)).await?.into_iter().next())
        })
        .await
    }

    /// Waits for an element to be in the page and shown.
    pub async fn wait_visible(&self, css: &str) -> Result<Element> {
        self.poll(&format!("`{css}` to be visible"), WAIT, async |c: &Client| {
            for e in c.find_all(Locator::Css(css)).await? {
                if e.is_displayed().await? {
                    return Ok(Some(e));
                }
            }
            Ok(None)
        })
        .await
    }

    /// Waits until nothing matches a selector.
    pub async fn wait_gone(&self, css: &str, timeout: Duration) -> Result<()> {
        self.poll(&format!("`{css}` to go away"), timeout, async |c: &Client| {
            Ok(c.find_all(Locator::Css(css)).await?.is_empty().then_some(()))
        })
        .await
    }

    /// How many elements match now (no waiting).
    pub async fn count(&self, css: &str) -> Result<usize> {
        Ok(self
            .client
            .find_all(Locator::Css(css))
            .await
            .with_context(|| format!("{}: finding `{css}`", self.actor))?
            .len())
    }

    /// Waits for an element to be shown and enabled, then clicks it.
    pub async fn click(&self, css: &str) -> Result<()> {
        self.poll(&format!("`{css}` to be clickable"), WAIT, async |c: &Client| {
            let Some(e) = c.find_all(Locator::Css(css)).await?.into_iter().next() else { return Ok(None) };
            if !e.is_displayed().await? || !e.is_enabled().await? {
                return Ok(None);
            }
            e.click().await?;
            Ok(Some(()))
        })
        .await
    }

    /// Types into a field (after emptying it), as a person would, key by key, until the
    /// field holds exactly `text` (a re-render in between makes it try again).
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        self.poll(&format!("`{css}` to hold what was typed"), WAIT, async |c: &Client| {
            let Some(e) = c.find_all(Locator::Css(css)).await?.into_iter().next() else { return Ok(None) };
            if !e.is_displayed().await? || !e.is_enabled().await? {
                return Ok(None);
            }
            e.clear().await?;
            e.send_keys(text).await?;
            Ok((e.prop("value").await?.as_deref() == Some(text)).then_some(()))
        })
        .await
    }

    /// Chooses files in an `<input type=file>`.
    pub async fn upload(&self, css: &str, file: &Path) -> Result<()> {
        let e = self.wait(css).await?;
        let abs = std::path::absolute(file)?;
        e.send_keys(&abs.to_string_lossy()).await.with_context(|| format!("{}: choosing {}", self.actor, abs.display()))
    }

    /// Chooses several files at once in a `multiple` file input.
    pub async fn upload_many(&self, css: &str, files: &[PathBuf]) -> Result<()> {
        let e = self.wait(css).await?;
        let paths = files
            .iter()
            .map(|f| std::path::absolute(f).map(|p| p.to_string_lossy().into_owned()))
            .collect::<std::io::Result<Vec<_>>>()?;
        e.clear().await?;
        e.send_keys(&paths.join("\n")).await.with_context(|| format!("{}: choosing {paths:?}", self.actor))
    }

    /// Chooses an option of a `<select>` by its value.
    pub async fn select(&self, css: &str, value: &str) -> Result<()> {
        let option = format!("{css} option[value='{value}']");
        self.wait(&option).await?;
        let e = self.wait_visible(css).await?;
        e.select_by_value(value).await.with_context(|| format!("{}: choosing {value} in `{css}`", self.actor))
    }

    /// The visible text of the first element matching a selector (waiting for it).
    pub async fn text(&self, css: &str) -> Result<String> {
        let e = self.wait(css).await?;
        e.text().await.with_context(|| format!("{}: reading `{css}`", self.actor))
    }

    /// The texts of every element matching a selector now.
    pub async fn texts(&self, css: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await? {
            out.push(e.text().await?);
        }
        Ok(out)
    }

    /// An attribute of the first element matching a selector (waiting for it).
    pub async fn attr(&self, css: &str, name: &str) -> Result<Option<String>> {
        let e = self.wait(css).await?;
        e.attr(name).await.with_context(|| format!("{}: reading {name} of `{css}`", self.actor))
    }

    /// The path of the page shown.
    pub async fn path(&self) -> Result<String> {
        Ok(self.client.current_url().await?.path().to_owned())
    }

    /// Waits for the portal to show a route.
    pub async fn wait_path(&self, path: &str, timeout: Duration) -> Result<()> {
        self.poll(&format!("the page {path}"), timeout, async |c: &Client| {
            Ok((c.current_url().await?.path() == path).then_some(()))
        })
        .await
    }

    /// Signs on the confirmation sheet: waits until it is ready, keeps a screenshot named
    /// `shot`, signs, and waits until the ledger committed (the sheet closes). Returns the
    /// plain-language sentences the person was shown.
    pub async fn sign(&self, shot: &str, timeout: Duration) -> Result<Vec<String>> {
        let sentences = self.sheet_ready(shot, timeout).await?;
        self.click("#confirm-sign").await?;
        self.poll("the ledger to commit (the confirmation sheet to close)", timeout, async |c: &Client| {
            if let Some(e) = c.find_all(Locator::Css("#confirm-error")).await?.into_iter().next() {
                bail!("the confirmation sheet shows an error: {}", e.text().await?);
            }
            Ok(c.find_all(Locator::Css("#confirm-sheet")).await?.is_empty().then_some(()))
        })
        .await?;
        Ok(sentences)
    }

    /// Signs where the ledger should refuse: returns the error the sheet shows.
    pub async fn sign_refused(&self, shot: &str) -> Result<String> {
        self.sheet_ready(shot, WAIT).await?;
        self.click("#confirm-sign").await?;
        self.poll("the sheet to show the ledger's refusal", WAIT, async |c: &Client| {
            if c.find_all(Locator::Css("#confirm-sheet")).await?.is_empty() {
                bail!("the confirmation sheet closed as if the ledger had accepted");
            }
            match c.find_all(Locator::Css("#confirm-error")).await?.into_iter().next() {
                Some(e) => Ok(Some(e.text().await?)),
                None => Ok(None),
            }
        })
        .await
    }

    /// Waits for the confirmation sheet with its Sign button enabled; returns its sentences.
    async fn sheet_ready(&self, shot: &str, timeout: Duration) -> Result<Vec<String>> {
        self.poll("the confirmation sheet to be ready to sign", timeout, async |c: &Client| {
            if let Some(e) = c.find_all(Locator::Css("#confirm-error")).await?.into_iter().next() {
                bail!("the confirmation sheet shows an error: {}", e.text().await?);
            }
            let Some(sign) = c.find_all(Locator::Css("#confirm-sign")).await?.into_iter().next() else {
                return Ok(None);
            };
            Ok(sign.is_enabled().await?.then_some(()))
        })
        .await?;
        let first = self.text("#confirm-sentence").await?;
        let all = self.texts(".confirm-sentence").await?;
        if first.trim().is_empty() || all.first() != Some(&first) {
            bail!(
                "{}: the confirmation sheet's first sentence is missing or not first ({first:?}, {all:?})",
                self.actor
            );
        }
        self.shot(shot).await?;
        Ok(all)
    }

    /// After a failure: a screenshot and the page's source, next to the other screenshots.
    pub(crate) async fn keep_failure_state(&self) {
        let _ = self.shot("failure").await;
        if let Ok(html) = self.client.source().await {
            let _ = std::fs::write(self.shots.path(&self.actor, "failure", "html"), html);
        }
    }

    /// Ends the WebDriver session (and its Chromium).
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
