//! A ledger node started from its built binary in `demo` mode on a free port, with a fresh
//! data folder, serving the portal's files, then seeded with the demo hospital by the built
//! `demo-seed` client over its HTTP API; their output goes to a log file.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// How long the node may take to seed its demo data and listen.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One of the demo's public test identities (`demo-identities.json`).
#[derive(Debug, Clone)]
pub struct DemoIdentity {
    pub label: String,
    pub name: String,
    pub role: String,
    pub address: String,
    pub recovery_phrase: String,
}

/// A running node; it is killed when dropped.
pub struct Node {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    identities: Vec<DemoIdentity>,
    _child: Child,
    _data: tempfile::TempDir,
}

impl Node {
    /// Starts `bin demo` and waits for its "listening" line.
    pub async fn start(bin: &Path, dist: &Path, log: &Path) -> Result<Node> {
        let data = tempfile::Builder::new().prefix("e2e-ledger-").tempdir().context("making a data folder")?;
        Node::start_in(data, bin, dist, log).await
    }

    /// A fresh hospital, as its IT would set it up: `bin init`, then `bin serve`; no demo
    /// data, no staff, only the genesis authority (whose key file is in `data_dir`).
    pub async fn start_fresh(bin: &Path, dist: &Path, log: &Path) -> Result<Node> {
        let data = tempfile::Builder::new().prefix("e2e-fresh-").tempdir().context("making a data folder")?;
        let out = Command::new(bin)
            .arg("init")
            .arg("--data-dir")
            .arg(data.path())
            .args(["--name", "Riverside General Hospital"])
            .output()
            .await
            .with_context(|| format!("running {} init", bin.display()))?;
        if !out.status.success() {
            bail!("`ledger-node init` failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let mut cmd = Command::new(bin);
        cmd.arg("serve").arg("--data-dir").arg(data.path()).args(["--listen", "127.0.0.1:0", "--portal-dir"]).arg(dist);
        let (url, child) = listening(&mut cmd, log).await?;
        Ok(Node { url, identities: Vec::new(), _child: child, _data: data })
    }

    /// The node's data folder (its genesis and the authority's key files).
    pub fn data_dir(&self) -> &Path {
        self._data.path()
    }

    /// Kills the node (as a crash would), lets `meanwhile` work on its data folder while
    /// nothing has it open, and starts it again on the same data (on a new port).
    pub async fn restart(
        mut self,
        bin: &Path,
        dist: &Path,
        log: &Path,
        meanwhile: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<Node> {
        self._child.kill().await.context("stopping the node")?;
        meanwhile(self._data.path())?;
        Node::start_in(self._data, bin, dist, log).await
    }

    async fn start_in(data: tempfile::TempDir, bin: &Path, dist: &Path, log: &Path) -> Result<Node> {
        let mut cmd = Command::new(bin);
        // `--test-clock`: a journey may move the node's time forward (a break-glass lapses).
        cmd.arg("demo")
            .arg("--test-clock")
            .arg("--data-dir")
            .arg(data.path())
            .args(["--listen", "127.0.0.1:0", "--portal-dir"])
            .arg(dist);
        let (url, child) = listening(&mut cmd, log).await?;
        seed(&url, data.path(), log).await?;
        let identities = read_identities(&data.path().join("demo-identities.json"))?;
        Ok(Node { url, identities, _child: child, _data: data })
    }

    /// A client of this node's API that signs as the hospital's authority (whose key the
    /// demo keeps in its data folder): it may read what the ledger holds, as staff can.
    pub fn ledger(&self) -> Result<crate::Ledger> {
        let dir = self._data.path();
        let key = std::fs::read_to_string(dir.join("authority.key")).context("reading the demo's authority key")?;
        let genesis: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("genesis.json")).context("reading genesis.json")?)?;
        let chain = genesis["chain_id"].as_str().context("genesis.json has no chain_id")?;
        crate::Ledger::new(&self.url, key.trim(), chain)
    }

    /// A demo identity by its label.
    pub fn identity(&self, label: &str) -> Result<&DemoIdentity> {
        self.identities
            .iter()
            .find(|i| i.label == label)
            .with_context(|| format!("no demo identity labelled {label:?}"))
    }
}

/// Starts the node command `cmd` (logging to `log`) and waits for its "listening" line: its
/// URL and the running child.
async fn listening(cmd: &mut Command, log: &Path) -> Result<(String, Child)> {
    let stderr = std::fs::File::options().create(true).append(true).open(log).context("opening the node log")?;
    let mut child = cmd
        // Plain text in the log file, not terminal colours.
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .context("starting the node")?;
    let stdout = child.stdout.take().context("the node's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut out = tokio::fs::OpenOptions::new().append(true).open(log).await.context("opening the node log")?;
    let url = tokio::time::timeout(START_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            out.write_all(format!("{line}\n").as_bytes()).await?;
            if let Some(rest) = line.strip_prefix("ledger node listening on ") {
                return Ok(Some(rest.trim().trim_end_matches('/').to_owned()));
            }
        }
        Ok::<_, std::io::Error>(None)
    })
    .await
    .with_context(|| format!("the node did not listen within {START_TIMEOUT:?} (see {})", log.display()))?
    .context("reading the node's output")?;
    let Some(url) = url else {
        let status = child.wait().await.ok();
        bail!("the node exited before listening ({status:?}); see {}", log.display());
    };
    // Keep draining its stdout so that it never blocks on a full pipe.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = out.write_all(format!("{line}\n").as_bytes()).await;
        }
    });
    Ok((url, child))
}

/// Seeds the demo into the node at `url` with the `demo-seed` client (once per data folder).
async fn seed(url: &str, data: &Path, log: &Path) -> Result<()> {
    let bin = crate::seed_bin()?;
    let out = std::fs::File::options().create(true).append(true).open(log).context("opening the node log")?;
    let status = tokio::time::timeout(
        START_TIMEOUT,
        Command::new(&bin)
            .args(["--node", url, "--data-dir"])
            .arg(data)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .status(),
    )
    .await
    .with_context(|| format!("seeding the demo took over {START_TIMEOUT:?} (see {})", log.display()))?
    .with_context(|| format!("starting {}", bin.display()))?;
    if !status.success() {
        bail!("seeding the demo failed ({status}); see {}", log.display());
    }
    Ok(())
}

fn read_identities(path: &Path) -> Result<Vec<DemoIdentity>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    list.iter()
        .map(|v| {
            let field = |k: &str| {
                v[k].as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("{} has an identity without {k:?}", path.display()))
            };
            Ok(DemoIdentity {
                label: field("label")?,
                name: field("name")?,
                role: field("role")?,
                address: field("address")?,
                recovery_phrase: field("recovery_phrase")?,
            })
        })
        .collect()
}
