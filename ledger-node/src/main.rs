//! The `ledger-node` command: `init` a chain, `serve` it, or run the `demo`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use ledger_node::{NodeConfig, config, ledger::BlockConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "ledger-node", version, about = "A hospital's health-ledger node")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a new chain: genesis.json and the authority's keys in DATA_DIR.
    Init {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value = "healthchain-local")]
        chain_id: String,
        #[arg(long, default_value = "St Mary's Hospital")]
        name: String,
    },
    /// Serve a chain from DATA_DIR (embedded redb; nothing else to install), alone or, with
    /// --cluster, as one node of a replicated cluster.
    Serve {
        #[arg(long, required_unless_present = "cluster")]
        data_dir: Option<PathBuf>,
        /// Run as a cluster node described by this TOML file (see the README); the other
        /// options are then taken from the file.
        #[arg(long, conflicts_with_all = ["data_dir", "genesis", "key", "portal_dir", "tls_cert"])]
        cluster: Option<PathBuf>,
        /// Genesis file [default: DATA_DIR/genesis.json].
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// The authority's secret key file [default: DATA_DIR/authority.key].
        #[arg(long)]
        key: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1:7800")]
        listen: SocketAddr,
        /// Longest wait, in milliseconds, before a block with pending transactions is cut.
        #[arg(long, default_value_t = 2)]
        block_ms: u64,
        /// Most transactions in one block (at most 4096, what a block may hold).
        #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u16).range(1..=4096))]
        block_txs: u16,
        /// Serve the portal's built files (e.g. `dist/`) next to the API.
        #[arg(long)]
        portal_dir: Option<PathBuf>,
        /// For end-to-end tests only: the authority may move this node's time forward
        /// (`POST /v1/test/clock`). Never on a real hospital's node.
        #[arg(long, conflicts_with = "cluster")]
        test_clock: bool,
        #[command(flatten)]
        limits: ledger_node::limits::LimitSettings,
        /// Serve the public port over TLS with this certificate chain (PEM), for a site with no
        /// proxy in front; needs --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Create a node's authority keys and its TLS identity (for the Raft port's mutual TLS) in
    /// DATA_DIR; print its entry for a shared genesis, and its TLS key pin for the cluster files.
    Keygen {
        #[arg(long)]
        data_dir: PathBuf,
        /// The hospital's name, as the genesis shows it.
        #[arg(long)]
        name: String,
    },
    /// Make a TLS identity (a key and a self-signed certificate) in OUT and print its key pin:
    /// a node's (node-tls.crt, node-tls.key), or with --admin an administrator's
    /// (admin-tls.crt, admin-tls.key), whose pin goes in each node's `admins` list.
    TlsKeygen {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        admin: bool,
    },
    /// Write a genesis file listing several hospitals' authorities (the entries `keygen` printed).
    Genesis {
        #[arg(long)]
        chain_id: String,
        #[arg(long)]
        out: PathBuf,
        /// Files each holding one authority entry (JSON).
        #[arg(required = true)]
        authorities: Vec<PathBuf>,
    },
    /// Create a loopback cluster for trying it out: DIR/node<i>/ with keys and the shared
    /// genesis, and DIR/node<i>.toml to start each node with `serve --cluster`.
    InitCluster {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "healthchain-cluster")]
        chain_id: String,
        #[arg(long, default_value_t = 3)]
        nodes: u64,
        /// Node i's API listens on BASE_PORT + i, its Raft port on BASE_PORT + 100 + i.
        #[arg(long, default_value_t = 7800)]
        base_port: u16,
    },
    /// Administer the hospital's staff through a node's API (`staff-add`, `staff-deactivate`,
    /// `staff-rekey`, `staff-list`, with --api and --key), or a cluster through any node's Raft port (the
    /// other commands, with --raft; changes go to the leader).
    Admin {
        /// A node's Raft port, e.g. https://127.0.0.1:7901 (cluster commands).
        #[arg(long)]
        raft: Option<String>,
        /// The folder of the administrator's TLS identity (admin-tls.crt and admin-tls.key,
        /// from `tls-keygen --admin`), for cluster commands.
        #[arg(long)]
        cert: Option<PathBuf>,
        /// A node's cluster file: the nodes whose keys (the members' pins) to trust.
        #[arg(long)]
        cluster: Option<PathBuf>,
        /// A node's public API, e.g. http://127.0.0.1:7800 (staff commands).
        #[arg(long)]
        api: Option<String>,
        /// The signing key file of the hospital's authority (`authority.key` from `init`) or of
        /// an administrator it appointed (staff-add, staff-deactivate, staff-rekey).
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(subcommand)]
        cmd: AdminCmd,
    },
    /// Recover a single node's data directory whose chain cannot be replayed: remove block
    /// FROM and every later one, writing them (height and canonical bytes in hex, one per
    /// line) to a file in DATA_DIR first, so nothing is destroyed.
    Truncate {
        #[arg(long)]
        data_dir: PathBuf,
        /// Genesis file [default: DATA_DIR/genesis.json].
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// The first block to remove (the one the node named when it refused to start).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        from: u64,
    },
    /// Create (if needed) and serve a demo chain; `demo-seed` then fills it over the API.
    Demo {
        #[arg(long, default_value = "target/demo-data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:7800")]
        listen: SocketAddr,
        /// Serve the portal's built files (e.g. `dist/`) next to the API.
        #[arg(long)]
        portal_dir: Option<PathBuf>,
        /// For end-to-end tests only: the authority may move this node's time forward
        /// (`POST /v1/test/clock`).
        #[arg(long)]
        test_clock: bool,
    },
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Register a member of staff from the two public keys their wallet shows them.
    StaffAdd {
        /// doctor, surgeon, pharmacy, insurer, student, or admin (an authority only).
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
        /// Licence or staff number.
        #[arg(long)]
        licence: String,
        /// Their signing public key (hex, 66 characters).
        #[arg(long)]
        signing_key: String,
        /// Their encryption public key (hex, 66 characters).
        #[arg(long)]
        encryption_key: String,
    },
    /// Deactivate a member of staff: the ledger refuses what they sign from then on.
    StaffDeactivate {
        /// Their account address (hex).
        #[arg(long)]
        address: String,
    },
    /// Give a member of staff new keys (a lost or compromised device): the two public keys
    /// their new wallet shows. Their account, consents and history stay; the old key signs
    /// nothing from then on.
    StaffRekey {
        /// Their account address (hex).
        #[arg(long)]
        address: String,
        /// The new signing public key (hex, 66 characters).
        #[arg(long)]
        signing_key: String,
        /// The new encryption public key (hex, 66 characters).
        #[arg(long)]
        encryption_key: String,
    },
    /// The staff directory.
    StaffList,
    /// The node's view of the cluster.
    Status,
    /// Add a node as a learner; returns once it has caught up.
    AddLearner {
        #[arg(long)]
        id: u64,
        /// Its public API base URL.
        #[arg(long)]
        api: String,
        /// Its Raft port base URL (https://).
        #[arg(long = "raft-url")]
        raft_url: String,
        /// The pin of its TLS key (what its `keygen` printed).
        #[arg(long)]
        tls: ledger_node::tls::KeyPin,
    },
    /// Make a learner a voter.
    Promote {
        #[arg(long)]
        id: u64,
    },
    /// Remove a node from the cluster.
    Remove {
        #[arg(long)]
        id: u64,
    },
    /// Build a snapshot on that node now.
    Snapshot,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn,openraft=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.cmd {
        Cmd::Init { data_dir, chain_id, name } => {
            config::init(&data_dir, &chain_id, &name, ledger_node::ledger::now_ms())?;
            println!("created chain {chain_id} in {}", data_dir.display());
            Ok(())
        }
        Cmd::Serve { cluster: Some(file), .. } => {
            let c = ledger_node::cluster::ClusterConfig::read(&file)?;
            rt.block_on(run_cluster(c))
        }
        Cmd::Serve {
            data_dir,
            genesis,
            key,
            listen,
            block_ms,
            block_txs,
            portal_dir,
            test_clock,
            limits,
            tls_cert,
            tls_key,
            cluster: None,
        } => {
            let data_dir = data_dir.context("--data-dir is needed")?;
            let genesis = config::read_genesis(&genesis.unwrap_or_else(|| data_dir.join("genesis.json")))?;
            let key = config::read_key(&key.unwrap_or_else(|| data_dir.join("authority.key")))?;
            let blocks = BlockConfig {
                max_wait: std::time::Duration::from_millis(block_ms),
                max_txs: usize::from(block_txs),
                disk_reserve_bytes: limits.limits().ledger_reserve_bytes,
                ..BlockConfig::default()
            };
            let listen_tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => ledger_node::tls::Listen::tls(ledger_node::tls::public_server(
                    &ledger_node::tls::Identity::read(&cert, &key)?,
                )?),
                _ => ledger_node::tls::Listen::Plain,
            };
            rt.block_on(run(
                NodeConfig {
                    data_dir,
                    genesis,
                    key,
                    blocks,
                    portal_dir,
                    clock: ledger_node::ledger::system_clock(),
                    test_clock,
                    limits: limits.limits(),
                },
                listen,
                listen_tls,
                false,
            ))
        }
        Cmd::Truncate { data_dir, genesis, from } => {
            let genesis = config::read_genesis(&genesis.unwrap_or_else(|| data_dir.join("genesis.json")))?;
            let store = ledger_node::store::Store::open(&data_dir, &genesis)?;
            let top = store.height()?;
            anyhow::ensure!(
                from <= top,
                "the chain in {} ends at block {top}; nothing to remove from {from}",
                data_dir.display()
            );
            let out = data_dir.join(format!("removed-blocks-{from}-to-{top}.hex"));
            let mut text = String::new();
            for h in from..=top {
                // Written before anything is removed: a failure here changes nothing.
                // (A missing block, the gap the node named, has nothing to keep.)
                if let Some(bytes) = store.stored_block_bytes(h)? {
                    text.push_str(&format!("{h} {}\n", hex::encode(bytes)));
                }
            }
            // Like the chain itself, readable by the node's owner only; an existing file is kept.
            config::write_private(&out, text.as_bytes())
                .with_context(|| format!("{} may already exist; move it away first", out.display()))?;
            let removed = store.remove_blocks_from(from)?;
            println!(
                "removed blocks {from} to {top} ({} in all); they are kept in {}. The chain now ends at block {}.",
                removed.len(),
                out.display(),
                from - 1
            );
            Ok(())
        }
        Cmd::Keygen { data_dir, name } => {
            let (entry, pin) = config::keygen(&data_dir, &name)?;
            println!("{}", serde_json::to_string_pretty(&entry)?);
            eprintln!("the node's TLS key pin (its `tls` in the cluster files): {pin}");
            Ok(())
        }
        Cmd::TlsKeygen { out, admin } => {
            use ledger_node::tls;
            let (cert, key) = if admin { (tls::ADMIN_CERT, tls::ADMIN_KEY) } else { (tls::NODE_CERT, tls::NODE_KEY) };
            let pin = config::make_identity(&out, cert, key, &[config::TLS_NAME.to_owned()])?;
            println!("{pin}");
            eprintln!(
                "made {} and {} in {}; list this pin {}",
                cert,
                key,
                out.display(),
                if admin { "in each node's `admins`" } else { "as the node's `tls` in every cluster file" }
            );
            Ok(())
        }
        Cmd::Genesis { chain_id, out, authorities } => {
            config::write_genesis(&out, &chain_id, &authorities, ledger_node::ledger::now_ms())?;
            println!("wrote {} with {} authorities", out.display(), authorities.len());
            Ok(())
        }
        Cmd::InitCluster { dir, chain_id, nodes, base_port } => {
            config::init_cluster(&dir, &chain_id, nodes, base_port, ledger_node::ledger::now_ms())?;
            for i in 1..=nodes {
                println!("ledger-node serve --cluster {}", dir.join(format!("node{i}.toml")).display());
            }
            Ok(())
        }
        Cmd::Admin { raft, cert, cluster, api, key, cmd } => rt.block_on(admin(
            AdminTo { raft: raft.as_deref(), cert: cert.as_deref(), cluster: cluster.as_deref() },
            api.as_deref(),
            key.as_deref(),
            cmd,
        )),
        Cmd::Demo { data_dir, listen, portal_dir, test_clock } => {
            if !data_dir.join("genesis.json").exists() {
                config::init(
                    &data_dir,
                    "healthchain-demo",
                    "St Mary's Hospital (demo)",
                    ledger_node::ledger::now_ms(),
                )?;
            }
            let genesis = config::read_genesis(&data_dir.join("genesis.json"))?;
            let key = config::read_key(&data_dir.join("authority.key"))?;
            rt.block_on(run(
                NodeConfig {
                    data_dir,
                    genesis,
                    key,
                    blocks: BlockConfig::default(),
                    portal_dir,
                    clock: ledger_node::ledger::system_clock(),
                    test_clock,
                    limits: ledger_node::limits::Limits::default(),
                },
                listen,
                ledger_node::tls::Listen::Plain,
                true,
            ))
        }
    }
}

async fn run(cfg: NodeConfig, listen: SocketAddr, tls: ledger_node::tls::Listen, demo: bool) -> anyhow::Result<()> {
    let data_dir = cfg.data_dir.clone();
    let with_portal = cfg.portal_dir.is_some();
    let node = ledger_node::start(cfg)?;
    ledger_node::load_escrow_key(&node.state, &data_dir)?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let scheme = tls.scheme();
    println!("ledger node listening on {scheme}://{addr}");
    if demo {
        println!(
            "demo chain in {}: seed it with `demo-seed --node http://{addr} --data-dir {}` (`cargo xtask run` does)",
            data_dir.display(),
            data_dir.display()
        );
    }
    if with_portal {
        println!("portal: open {scheme}://{addr}/ in a browser");
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    ledger_node::serve(listener, node.router, node.state.0.limits.clone(), tls, shutdown).await?;
    Ok(())
}

async fn run_cluster(c: ledger_node::cluster::ClusterConfig) -> anyhow::Result<()> {
    let api =
        tokio::net::TcpListener::bind(c.listen).await.with_context(|| format!("cannot listen on {}", c.listen))?;
    let raft = tokio::net::TcpListener::bind(c.raft_listen)
        .await
        .with_context(|| format!("cannot listen on {}", c.raft_listen))?;
    let node = ledger_node::cluster::start(&c).await?;
    ledger_node::load_escrow_key(&node.node.state, &c.data_dir)?;
    println!(
        "cluster node {} listening on http://{} (API), https://{} (Raft port, mutual TLS)",
        c.id, c.listen, c.raft_listen
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut rx1 = stop_rx.clone();
    let mut rx2 = stop_rx;
    let limits = node.node.state.0.limits.clone();
    let api_task =
        tokio::spawn(ledger_node::serve(api, node.node.router, limits, ledger_node::tls::Listen::Plain, async move {
            let _ = rx1.changed().await;
        }));
    // Peers hold a few long-lived connections; the public port's rates do not apply.
    let raft_limits = ledger_node::limits::Limits::unmetered();
    let raft_task =
        tokio::spawn(ledger_node::serve(raft, node.raft_router, raft_limits, node.raft_listen, async move {
            let _ = rx2.changed().await;
        }));
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    let _ = node.raft.shutdown().await;
    api_task.await??;
    raft_task.await??;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Where a cluster command goes, and as whom.
struct AdminTo<'a> {
    raft: Option<&'a str>,
    cert: Option<&'a std::path::Path>,
    cluster: Option<&'a std::path::Path>,
}

impl AdminTo<'_> {
    /// An HTTPS client presenting the administrator's certificate and accepting only the
    /// cluster file's members.
    fn client(&self) -> anyhow::Result<reqwest::Client> {
        use ledger_node::tls;
        let dir = self.cert.context(
            "cluster commands need --cert, the folder of the administrator's TLS identity (`ledger-node tls-keygen --admin --out DIR`)",
        )?;
        let id = tls::Identity::read(&dir.join(tls::ADMIN_CERT), &dir.join(tls::ADMIN_KEY))?;
        let file =
            self.cluster.context("cluster commands need --cluster, a node's cluster file (whose members to trust)")?;
        let c = ledger_node::cluster::ClusterConfig::read(file)?;
        tls::raft_client(&id, std::sync::Arc::new(tls::Trust::new(c.members.iter().map(|m| m.tls), [])))
    }
}

async fn admin(to: AdminTo<'_>, api: Option<&str>, key: Option<&std::path::Path>, cmd: AdminCmd) -> anyhow::Result<()> {
    use ledger_node::staff;
    let api_of = || api.context("staff commands need --api, the node's public address (e.g. http://127.0.0.1:7800)");
    let key_of = || -> anyhow::Result<k256::ecdsa::SigningKey> {
        config::read_key(key.context("this needs --key, the authority's (or an administrator's) signing key file")?)
    };
    let public = |what: &str, hex: &str| {
        ledger_protocol::PublicKey::from_hex(hex.trim())
            .map_err(|_| anyhow::anyhow!("the {what} is not a public key in hex (66 characters)"))
    };
    let account = |address: &str| -> anyhow::Result<ledger_protocol::Address> {
        address.trim().parse().map_err(|_| anyhow::anyhow!("{address:?} is not an account address"))
    };
    match cmd {
        AdminCmd::StaffAdd { role, name, licence, signing_key, encryption_key } => {
            let s = staff::NewStaff {
                role: staff::parse_role(&role)?,
                name,
                licence,
                key: public("signing key", &signing_key)?,
                encryption_key: public("encryption key", &encryption_key)?,
            };
            let address = s.key.address();
            let receipt = staff::register(api_of()?, &key_of()?, s).await?;
            println!("registered {address} (transaction {})", receipt["id"].as_str().unwrap_or("?"));
            return Ok(());
        }
        AdminCmd::StaffDeactivate { address } => {
            let a = account(&address)?;
            let receipt = staff::deactivate(api_of()?, &key_of()?, a).await?;
            println!("deactivated {a} (transaction {})", receipt["id"].as_str().unwrap_or("?"));
            return Ok(());
        }
        AdminCmd::StaffRekey { address, signing_key, encryption_key } => {
            let a = account(&address)?;
            let (k, e) = (public("signing key", &signing_key)?, public("encryption key", &encryption_key)?);
            let receipt = staff::rekey(api_of()?, &key_of()?, a, k, e).await?;
            println!("{a} now signs with {k} (transaction {})", receipt["id"].as_str().unwrap_or("?"));
            return Ok(());
        }
        AdminCmd::StaffList => {
            for a in staff::list(api_of()?).await? {
                let mut state = a.deactivated_at.map_or("active".to_owned(), |t| format!("deactivated at {t}"));
                if let Some(t) = a.rekeyed_at {
                    state += &format!(", new keys at {t}");
                }
                println!("{}  {:<24} {:<30} {:<16} {state}", a.address, a.role.human(), a.name, a.licence);
            }
            return Ok(());
        }
        _ => {}
    }
    let base = to
        .raft
        .context("cluster commands need --raft, a node's Raft port (e.g. https://127.0.0.1:7901)")?
        .trim_end_matches('/');
    let http = to.client()?;
    let request = |base: &str| match &cmd {
        AdminCmd::StaffAdd { .. }
        | AdminCmd::StaffDeactivate { .. }
        | AdminCmd::StaffRekey { .. }
        | AdminCmd::StaffList => {
            unreachable!("handled above")
        }
        AdminCmd::Status => http.get(format!("{base}/admin/status")),
        AdminCmd::AddLearner { id, api, raft_url, tls } => http
            .post(format!("{base}/admin/add-learner"))
            .json(&serde_json::json!({ "id": id, "api": api, "raft": raft_url, "tls": tls })),
        AdminCmd::Promote { id } => http.post(format!("{base}/admin/promote")).json(&serde_json::json!({ "id": id })),
        AdminCmd::Remove { id } => http.post(format!("{base}/admin/remove")).json(&serde_json::json!({ "id": id })),
        AdminCmd::Snapshot => http.post(format!("{base}/admin/snapshot")),
    };
    let ask = |base: String| {
        let req = request(&base);
        async move {
            let resp = req.send().await.with_context(|| {
                format!("cannot reach the node's Raft port at {base} (or it refused this certificate, or it is not a member's)")
            })?;
            let status = resp.status();
            let body: serde_json::Value = resp.json().await.context("the node's answer is not JSON")?;
            anyhow::Ok((status, body))
        }
    };
    let (mut status, mut body) = ask(base.to_owned()).await?;
    // A follower names the leader, which takes the command from this certificate directly.
    if status == reqwest::StatusCode::MISDIRECTED_REQUEST
        && let Some(leader) = body["leader_raft"].as_str().map(str::to_owned)
    {
        (status, body) = ask(leader.trim_end_matches('/').to_owned()).await?;
    }
    if !status.is_success() {
        let msg = body.get("message").and_then(|m| m.as_str()).unwrap_or("no reason given");
        anyhow::bail!("the cluster refused: {msg}");
    }
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(())
}
