//! Several hospitals, one ledger: the node replicated with openraft. Each node keeps its own
//! redb files (the chain in `ledger.redb`, the Raft log in `raft-log.redb`) and its own
//! authority key; the leader cuts and signs blocks, Raft orders them, and every node
//! re-verifies each block when it applies it. Raft tolerates crashed and partitioned
//! nodes, not lying ones: a forged or broken block is refused by every honest node.

pub mod blobs;
pub mod log_store;
pub mod network;
pub mod orderer;
pub mod state_machine;
pub mod types;

use crate::ledger::{BlockConfig, Ledger};
use crate::{Node, api, config, metrics, tls};
use anyhow::{Context, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use types::{NodeId, Peer, Raft};

/// One node's cluster file (TOML). Relative paths are taken from the file's folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's id in the cluster (a positive number, unique in it).
    pub id: NodeId,
    pub data_dir: PathBuf,
    /// Where the public API (and the portal) listens.
    pub listen: SocketAddr,
    /// Where the Raft port listens (mutual TLS): peers and administrators only.
    pub raft_listen: SocketAddr,
    /// This node's TLS certificate [default: DATA_DIR/node-tls.crt], made by `keygen`.
    pub tls_cert: Option<PathBuf>,
    /// Its private key [default: DATA_DIR/node-tls.key].
    pub tls_key: Option<PathBuf>,
    /// The key pins of the administrators' certificates (`tls-keygen --admin` prints one):
    /// only they may run `ledger-node admin` commands on this node's Raft port.
    #[serde(default)]
    pub admins: Vec<crate::tls::KeyPin>,
    /// Genesis file [default: DATA_DIR/genesis.json]; the same file on every node.
    pub genesis: Option<PathBuf>,
    /// This node's authority key [default: DATA_DIR/authority.key]; one per node.
    pub key: Option<PathBuf>,
    /// Serve the portal's built files next to the API.
    pub portal_dir: Option<PathBuf>,
    /// Start without founding a cluster: wait to be added by an administrator
    /// (`ledger-node admin add-learner`), e.g. a new or wiped node.
    #[serde(default)]
    pub join: bool,
    /// The founding members, the same list in every node's file.
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub raft: RaftTuning,
    #[serde(default)]
    pub blocks: BlockTuning,
    /// What the public port allows one client (`[limits]`, as `serve`'s flags).
    #[serde(default)]
    pub limits: crate::limits::LimitSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub id: NodeId,
    /// Base URL of its public API, e.g. `https://ledger.stmarys.example`.
    pub api: String,
    /// Base URL of its Raft port, e.g. `https://10.1.0.11:7900`.
    pub raft: String,
    /// The pin of its TLS key, as its `keygen` printed it.
    pub tls: crate::tls::KeyPin,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftTuning {
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot after this many log entries since the last one.
    pub snapshot_every: u64,
    /// Log entries kept behind a snapshot (older ones are purged).
    pub keep_logs: u64,
}

/// Timing for a LAN, a little quicker than openraft's defaults (150 to 300 ms). A follower
/// that hears nothing from its leader starts an election after the lease
/// (`election_timeout_max_ms`) plus a random timeout, so a dead leader is replaced in about
/// 0.4 to 0.9 s here (`cargo xtask bench cluster`); raise all three across a WAN.
impl Default for RaftTuning {
    fn default() -> Self {
        RaftTuning {
            heartbeat_ms: 50,
            election_timeout_min_ms: 100,
            election_timeout_max_ms: 200,
            snapshot_every: 5000,
            keep_logs: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockTuning {
    pub max_wait_ms: u64,
    pub max_txs: usize,
}

impl Default for BlockTuning {
    fn default() -> Self {
        let d = BlockConfig::default();
        BlockTuning { max_wait_ms: d.max_wait.as_millis() as u64, max_txs: d.max_txs }
    }
}

impl ClusterConfig {
    /// Reads and checks a cluster file; relative paths become relative to its folder.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the cluster file {}", path.display()))?;
        let mut c: ClusterConfig =
            toml::from_str(&text).with_context(|| format!("{} is not a valid cluster file", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut c.data_dir);
        c.genesis.as_mut().map(fix);
        c.key.as_mut().map(fix);
        c.portal_dir.as_mut().map(fix);
        c.tls_cert.as_mut().map(fix);
        c.tls_key.as_mut().map(fix);
        if c.id == 0 {
            bail!("{}: id must be a positive number", path.display());
        }
        if !c.join && !c.members.iter().any(|m| m.id == c.id) {
            bail!(
                "{}: this node (id {}) is not among the founding members; add it there, or set join = true",
                path.display(),
                c.id
            );
        }
        if c.join && c.members.is_empty() {
            bail!(
                "{}: a joining node still needs the founding members (their Raft URLs and key pins) to know whom to accept",
                path.display()
            );
        }
        if let Some(m) = c.members.iter().find(|m| !m.raft.starts_with("https://")) {
            bail!(
                "{}: member {}'s Raft port {:?} must be an https:// URL (the Raft port speaks mutual TLS only)",
                path.display(),
                m.id,
                m.raft
            );
        }
        let mut ids: Vec<_> = c.members.iter().map(|m| m.id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            bail!("{}: two founding members have the same id", path.display());
        }
        let t = &c.raft;
        if t.heartbeat_ms == 0
            || t.election_timeout_min_ms <= t.heartbeat_ms
            || t.election_timeout_max_ms <= t.election_timeout_min_ms
        {
            bail!(
                "{}: [raft] needs 0 < heartbeat_ms < election_timeout_min_ms < election_timeout_max_ms",
                path.display()
            );
        }
        Ok(c)
    }
}

/// A started cluster node: the public API, the Raft port's router and how it takes
/// connections (mutual TLS), and the engine.
pub struct ClusterNode {
    pub node: Node,
    pub raft_router: axum::Router,
    pub raft_listen: crate::tls::Listen,
    pub raft: Raft,
}

/// Opens the data directory (re-verifying the chain), starts Raft and, on a fresh node
/// that is not joining, founds the cluster with the configured members.
pub async fn start(c: &ClusterConfig) -> anyhow::Result<ClusterNode> {
    let genesis = config::read_genesis(&c.genesis.clone().unwrap_or_else(|| c.data_dir.join("genesis.json")))?;
    let key = config::read_key(&c.key.clone().unwrap_or_else(|| c.data_dir.join("authority.key")))?;
    let key_pk = ledger_protocol::PublicKey::from(key.verifying_key());
    if !genesis.is_authority(&key_pk) {
        bail!(
            "the node's key ({}) is not an authority in the genesis file; every hospital's node key must be listed there",
            key_pk.address()
        );
    }
    let identity = match (&c.tls_cert, &c.tls_key) {
        (None, None) => tls::Identity::of_node(&c.data_dir)?,
        (cert, key) => tls::Identity::read(
            &cert.clone().unwrap_or_else(|| c.data_dir.join(tls::NODE_CERT)),
            &key.clone().unwrap_or_else(|| c.data_dir.join(tls::NODE_KEY)),
        )?,
    };
    let own_pin = identity.pin().context("the node's TLS certificate has no readable key")?;
    if let Some(m) = c.members.iter().find(|m| m.id == c.id)
        && m.tls != own_pin
    {
        bail!(
            "this node's TLS key (pin {own_pin}) is not the one its member entry lists ({}); the other nodes would refuse it",
            m.tls
        );
    }
    let trust = Arc::new(tls::Trust::new(c.members.iter().map(|m| m.tls).chain([own_pin]), c.admins.iter().copied()));
    let peers = tls::raft_client(&identity, trust.clone())?;
    let raft_listen = tls::Listen::mutual(tls::raft_server(&identity, trust.clone())?, trust.clone());
    let started = std::time::Instant::now();
    let dir = c.data_dir.clone();
    let chain_id = genesis.chain_id.clone();
    let ledger = Arc::new(tokio::task::spawn_blocking(move || Ledger::open(&dir, genesis)).await??);
    tracing::info!(
        height = ledger.head().tip.height,
        took_ms = started.elapsed().as_millis() as u64,
        "chain re-verified from genesis"
    );

    let metrics = Arc::new(metrics::Metrics::default());
    let local = Arc::new(state_machine::LocalProposals::default());
    let sm = state_machine::StateMachine::new(ledger.clone(), local.clone(), metrics.clone(), &c.data_dir)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let installed = sm.installed.clone();
    let log = log_store::LogStore::open(&c.data_dir, sm.mark()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let fresh = log.is_fresh().map_err(|e| anyhow::anyhow!("{e}"))?;
    {
        // Purges wait for the state machine (log_store), so a log never begins past the
        // chain; a data directory where it does (written by a version before that) cannot
        // fill the gap.
        use openraft::storage::{RaftLogStorage, RaftStateMachine};
        let purged = log.clone().get_log_state().await.map_err(|e| anyhow::anyhow!("{e}"))?.last_purged_log_id;
        let (applied, _) = sm.clone().applied_state().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if purged.map(|l| l.index) > applied.map(|l| l.index) {
            bail!(
                "this node's chain stops before its Raft log begins (a snapshot install was interrupted); remove the node from the cluster (`ledger-node admin remove`), delete ledger.redb and raft-log.redb in {}, start it with join = true and add it again",
                c.data_dir.display()
            );
        }
    }
    let t = &c.raft;
    let raft_cfg = openraft::Config {
        cluster_name: chain_id,
        heartbeat_interval: t.heartbeat_ms,
        election_timeout_min: t.election_timeout_min_ms,
        election_timeout_max: t.election_timeout_max_ms,
        // Entries are whole blocks (up to a few MB as JSON), and openraft gives an append
        // one heartbeat interval to be answered: two at a time. With eight, a follower behind
        // by large blocks timed out on every attempt over TLS and never caught up (writes
        // stopped after a leader kill in `cargo xtask bench cluster`).
        max_payload_entries: network::BLOCKS_PER_APPEND,
        snapshot_max_chunk_size: network::SNAPSHOT_CHUNK_BYTES,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(t.snapshot_every),
        max_in_snapshot_log_to_keep: t.keep_logs,
        install_snapshot_timeout: 10_000,
        ..Default::default()
    }
    .validate()?;
    let raft = Raft::new(c.id, Arc::new(raft_cfg), network::Network::new(peers.clone()), log, sm).await?;
    trust_the_membership(&raft, trust.clone(), own_pin);
    if fresh && !c.join {
        let members: std::collections::BTreeMap<NodeId, Peer> = c
            .members
            .iter()
            .map(|m| (m.id, Peer { api: m.api.clone(), raft: m.raft.clone(), tls: Some(m.tls) }))
            .collect();
        match raft.initialize(members).await {
            Ok(()) => tracing::info!(members = c.members.len(), "founded the cluster"),
            // Another founding member's initial entry reached this node first.
            Err(e) => tracing::info!(error = %e, "cluster already founded"),
        }
    }
    let blocks = BlockConfig {
        max_wait: Duration::from_millis(c.blocks.max_wait_ms),
        max_txs: c.blocks.max_txs.max(1),
        disk_reserve_bytes: c.limits.limits().ledger_reserve_bytes,
        ..BlockConfig::default()
    };
    let orderer = orderer::ClusterOrderer::start(
        raft.clone(),
        ledger.clone(),
        key.clone(),
        blocks,
        local,
        metrics.clone(),
        peers,
    );
    blobs::restore_in_background(Arc::downgrade(&orderer), Arc::downgrade(&ledger), installed);
    let state = api::AppState::new(
        ledger,
        orderer.clone(),
        metrics,
        key,
        crate::ledger::NodeClock::default(),
        c.limits.limits(),
    );
    let _ = state.0.cluster.set(orderer.clone());
    let router = api::app_with_portal(state.clone(), c.portal_dir.as_deref())
        .layer(tower_http::trace::TraceLayer::new_for_http());
    let raft_router =
        network::router(network::RaftPort { orderer, app: state.clone(), trust, chunks: Default::default() });
    Ok(ClusterNode { node: Node { state, router }, raft_router, raft_listen, raft })
}

/// Keeps the Raft port accepting the members of the cluster as it changes: a node added by an
/// administrator is trusted by each node once the membership naming it reaches that node,
/// and a member removed is refused once the membership without it does.
fn trust_the_membership(raft: &Raft, trust: Arc<tls::Trust>, own: tls::KeyPin) {
    let mut metrics = raft.metrics();
    tokio::spawn(async move {
        loop {
            let pins: Vec<tls::KeyPin> = {
                let m = metrics.borrow_and_update();
                m.membership_config.membership().nodes().filter_map(|(_, p)| p.tls).collect()
            };
            trust.follow_membership(pins, own);
            if metrics.changed().await.is_err() {
                break;
            }
        }
    });
}
