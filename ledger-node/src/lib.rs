//! ledger-node: a hospital's ledger node. Verifies signatures on arrival (all cores),
//! orders transactions into hash-linked blocks behind a narrow seam (`ledger::Orderer`),
//! commits each block durably in redb before acknowledging, keeps encrypted record blobs
//! that it releases only under live consent (recording each release on the ledger), and
//! serves it all over an axum JSON API.

pub mod api;
pub mod browser_policy;
pub mod cluster;
pub mod config;
pub mod ledger;
pub mod limits;
pub mod metrics;
pub mod node_signer;
pub mod openapi;
pub mod portal_files;
pub mod staff;
pub mod store;
pub mod tls;
pub mod verify;

use std::path::PathBuf;
use std::sync::Arc;

/// What `serve` needs.
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub genesis: ledger_protocol::Genesis,
    pub key: k256::ecdsa::SigningKey,
    pub blocks: ledger::BlockConfig,
    /// The portal's built files, served next to the API when given.
    pub portal_dir: Option<PathBuf>,
    /// The clock block times are read from (`ledger::system_clock()` but in tests).
    pub clock: ledger::WallClock,
    /// `--test-clock`: `POST /v1/test/clock` may move the node's time forward (end-to-end
    /// tests only; the node says so loudly when it starts).
    pub test_clock: bool,
    /// What the public port allows one client (rates, requests in flight, connections, time).
    pub limits: limits::Limits,
}

/// A started node: its state and its router, not yet bound to a socket.
pub struct Node {
    pub state: api::AppState,
    pub router: axum::Router,
}

/// Opens the data directory (replaying and re-verifying the chain) and builds the app.
pub fn start(cfg: NodeConfig) -> anyhow::Result<Node> {
    let key_pk = ledger_protocol::PublicKey::from(cfg.key.verifying_key());
    if !cfg.genesis.is_authority(&key_pk) {
        anyhow::bail!(
            "the node's key ({}) is not an authority in the genesis file; use the key that was created with this genesis",
            key_pk.address()
        );
    }
    let started = std::time::Instant::now();
    let ledger = Arc::new(ledger::Ledger::open(&cfg.data_dir, cfg.genesis)?);
    {
        let h = ledger.head();
        tracing::info!(
            height = h.tip.height,
            took_ms = started.elapsed().as_millis() as u64,
            "chain re-verified from genesis"
        );
    }
    let metrics = Arc::new(metrics::Metrics::default());
    let node_clock = if cfg.test_clock {
        tracing::warn!(
            "TEST CLOCK: anyone holding the authority key may move this node's time forward (POST /v1/test/clock); never run a real hospital's node with --test-clock"
        );
        ledger::NodeClock::movable()
    } else {
        ledger::NodeClock::default()
    };
    let block_clock = ledger::BlockClock::new(cfg.clock, node_clock.clone());
    let orderer = Arc::new(ledger::LocalOrderer::start(
        ledger.clone(),
        cfg.key.clone(),
        cfg.blocks,
        metrics.clone(),
        block_clock,
    ));
    let state = api::AppState::new(ledger, orderer, metrics, cfg.key, node_clock, cfg.limits);
    let router = api::app_with_portal(state.clone(), cfg.portal_dir.as_deref())
        .layer(tower_http::trace::TraceLayer::new_for_http());
    Ok(Node { state, router })
}

/// Serves `router` on `listener` until `shutdown` resolves, within `limits` (connections,
/// header time; see `limits::serve`), over plain HTTP or TLS as `listen` says.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: limits::Limits,
    listen: tls::Listen,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    limits::serve(listener, router, limits, listen, shutdown).await
}

/// The file of the authority's encryption secret in a node's data directory.
pub const ESCROW_KEY_FILE: &str = "authority-encryption.key";

/// Loads `DATA_DIR/authority-encryption.key` (written by `init` and `keygen`), so that this
/// node re-wraps escrowed emergency summaries for clinicians under a live break-glass. A node
/// without it still serves; it says that emergency summaries cannot be opened through it.
pub fn load_escrow_key(state: &api::AppState, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let path = data_dir.join(ESCROW_KEY_FILE);
    if !path.exists() {
        tracing::warn!(
            path = %path.display(),
            "no authority encryption key: clinicians who break the glass cannot open emergency summaries through this node"
        );
        return Ok(());
    }
    let key = config::read_key(&path)?;
    let secret = k256::SecretKey::from_bytes(&key.to_bytes())
        .map_err(|_| anyhow::anyhow!("{} does not hold a valid secret key", path.display()))?;
    state.set_escrow_key(secret).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
