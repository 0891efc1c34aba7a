//! The node's HTTP JSON API (axum), split along its seams: `submit` (the submission
//! service: transactions, batches, blob uploads), `reads` (blocks, transactions with proofs,
//! accounts, a patient's consents, records, audit trail, prescriptions, claims), `gate` (the
//! consent-gated blob release), `error` (error kinds to HTTP status, body parsing); here the
//! shared state, the router, node info, health, metrics and the OpenAPI description.
//! `app(state)` builds the router without binding a socket, so tests drive it directly.

pub mod auth;
mod entitled;
pub mod error;
pub mod escrow;
mod gate;
mod reads;
mod submit;

pub use error::{ApiError, ApiResult};
pub(crate) use submit::short_of_reserve;
pub use submit::{BatchResults, batch_txs};

use crate::cluster::orderer::ClusterOrderer;
use crate::ledger::{Ledger, NodeClock, OrderError, Orderer, Outcome, order_checked};
use crate::metrics::Metrics;
use crate::node_signer::{NodeKey, NodeSigner};
use crate::verify;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ledger_protocol::wire;
use ledger_protocol::{ErrorKind, TxBody};
use serde_json::json;
use std::sync::Arc;

/// Largest JSON request body (transactions, batches, read requests).
pub const MAX_JSON_BYTES: usize = 4 * 1024 * 1024;
/// Largest blob upload.
pub const MAX_BLOB_BYTES: usize = 17 * 1024 * 1024;
/// Most transactions in one batch request.
pub use ledger_protocol::wire::MAX_BATCH;
/// How often, at most, uploads are swept for ones never anchored (ms).
pub const UPLOAD_SWEEP_EVERY_MS: u64 = 10 * 60 * 1000;

pub struct Inner {
    pub ledger: Arc<Ledger>,
    pub orderer: Arc<dyn Orderer>,
    pub metrics: Arc<Metrics>,
    node_key: Arc<NodeKey>,
    /// Started on first use, inside the runtime.
    signer: std::sync::OnceLock<NodeSigner>,
    /// Set when the node runs in a cluster.
    pub cluster: std::sync::OnceLock<Arc<ClusterOrderer>>,
    /// Nonces of signed requests accepted in the last window.
    replay: auth::ReplayCache,
    /// This node's authority address: the audience its signed requests name.
    node_address: ledger_protocol::Address,
    /// The authority's encryption secret, when configured: re-wraps emergency summaries.
    escrow: std::sync::OnceLock<escrow::EscrowKey>,
    /// The node's time, for every judgement of "now".
    pub clock: NodeClock,
    /// What the public port allows one client.
    pub limits: crate::limits::Limits,
    /// Registrations counted per IP address.
    pub(crate) registrations: crate::limits::SiteAllowance,
    pub(crate) transactions: crate::limits::SiteAllowance,
    /// When uploads were last swept for ones never anchored (node time, ms).
    pub(crate) last_upload_sweep: std::sync::atomic::AtomicU64,
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl AppState {
    /// `node_key` must be a genesis authority: it signs the access events of blob releases.
    pub fn new(
        ledger: Arc<Ledger>,
        orderer: Arc<dyn Orderer>,
        metrics: Arc<Metrics>,
        node_key: k256::ecdsa::SigningKey,
        clock: NodeClock,
        limits: crate::limits::Limits,
    ) -> Self {
        metrics.set_height(ledger.head().tip.height);
        let node_address = ledger_protocol::PublicKey::from(node_key.verifying_key()).address();
        let node_key = Arc::new(NodeKey::new(node_key, &ledger));
        AppState(Arc::new(Inner {
            ledger,
            orderer,
            metrics,
            node_key,
            signer: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
            replay: auth::ReplayCache::new(clock.now_ms()),
            node_address,
            escrow: std::sync::OnceLock::new(),
            clock,
            registrations: crate::limits::SiteAllowance::registrations(limits.registrations_per_hour),
            transactions: crate::limits::SiteAllowance::transactions(limits.txs_per_address),
            limits,
            last_upload_sweep: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// The node's time, ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.0.clock.now_ms()
    }

    /// Lets this node re-wrap escrowed emergency summaries for clinicians under a live
    /// break-glass, with its authority's encryption secret (checked against the genesis).
    pub fn set_escrow_key(&self, secret: k256::SecretKey) -> Result<(), escrow::EscrowError> {
        let node = ledger_protocol::PublicKey::from(self.0.node_key.key.verifying_key());
        let key = escrow::EscrowKey::new(secret, &self.0.ledger.genesis, &node)?;
        let _ = self.0.escrow.set(key);
        Ok(())
    }

    /// This node's authority address, the audience of the signed requests it accepts.
    pub fn node_address(&self) -> ledger_protocol::Address {
        self.0.node_address
    }

    /// Signs a transaction with the node's authority key and the next nonce (for a caller
    /// that orders it on its own; access events go through `node_signer`).
    pub fn sign_as_node(&self, body: TxBody) -> ledger_protocol::SignedTransaction {
        self.0.node_key.sign(&self.0.ledger, body)
    }

    /// The one task that signs and orders the node's access events, in nonce order.
    fn node_signer(&self) -> &NodeSigner {
        self.0.signer.get_or_init(|| {
            let i = &self.0;
            NodeSigner::start(i.ledger.clone(), i.orderer.clone(), i.node_key.clone(), i.metrics.clone())
        })
    }

    /// Verifies and orders transactions; one outcome per input, in order.
    pub async fn submit_raw(&self, raw: Vec<Vec<u8>>) -> Result<Vec<Outcome>, OrderError> {
        self.order_raw(raw, self.0.orderer.as_ref()).await
    }

    /// Verifies transactions on arrival and orders those that verify through `orderer`.
    pub async fn order_raw(&self, raw: Vec<Vec<u8>>, orderer: &dyn Orderer) -> Result<Vec<Outcome>, OrderError> {
        let checked = verify::on_pool(move || verify::decode_and_verify(raw)).await;
        order_checked(checked, orderer, &self.0.metrics).await
    }

    /// Verifies and orders one transaction.
    pub async fn submit_one(&self, raw: Vec<u8>) -> Result<Outcome, OrderError> {
        let mut out = self.submit_raw(vec![raw]).await?;
        out.pop().ok_or_else(|| OrderError::Unavailable("no outcome for the transaction".into()))
    }
}

/// Builds the router over shared state, serving the portal's files from `portal_dir`
/// (with `index.html` for every other path, so the portal's routes load) when given.
/// Everything the public port answers: the API, the portal's files (when given), the limits
/// on each client (`limits.rs`) and the browser defences on every answer (`browser_policy.rs`,
/// whose script hashes come from the portal's page).
pub fn app_with_portal(state: AppState, portal_dir: Option<&std::path::Path>) -> Router {
    let limits = state.0.limits.clone();
    let api = app(state);
    let (router, page) = match portal_dir {
        None => (api, None),
        Some(dir) => {
            let files = crate::portal_files::router(dir);
            let page = std::fs::read_to_string(dir.join("index.html"))
                .map_err(|e| tracing::warn!(error = %e, dir = %dir.display(), "the portal's page cannot be read"))
                .ok();
            (api.fallback_service(files), page)
        }
    };
    crate::browser_policy::layer(crate::limits::outer(router, &limits), page.as_deref())
}

/// Builds the API router over shared state. No socket, no global state.
pub fn app(state: AppState) -> Router {
    let json_routes = Router::new()
        .route("/v1/transactions", post(submit::submit_tx))
        .route("/v1/transactions/batch", post(submit::submit_batch))
        .route("/v1/records/{id}/read", post(gate::read_record))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES));
    let blob_routes =
        Router::new().route("/v1/blobs", put(submit::put_blob)).layer(DefaultBodyLimit::max(MAX_BLOB_BYTES));
    let test_routes = if state.0.clock.is_movable() {
        Router::new().route("/v1/test/clock", post(advance_clock)).layer(DefaultBodyLimit::max(1024))
    } else {
        Router::new()
    };
    let routes = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/info", get(info))
        .route("/v1/transactions/{id}", get(reads::get_tx))
        .route("/v1/blocks/head", get(reads::head_block))
        .route("/v1/blocks/{height}", get(reads::get_block))
        .route("/v1/accounts/{address}", get(reads::get_account))
        .route("/v1/accounts", get(reads::list_accounts))
        .route("/v1/accounts/{address}/training-runs", get(reads::training_runs))
        .route("/v1/patients/{address}/consents", get(reads::patient_consents))
        .route("/v1/patients/{address}/records", get(reads::patient_records))
        .route("/v1/patients/{address}/audit", get(reads::patient_audit))
        .route("/v1/patients/{address}/prescriptions", get(reads::patient_prescriptions))
        .route("/v1/patients/{address}/claims", get(reads::patient_claims))
        .route("/v1/prescriptions/{id}", get(reads::get_prescription))
        .route("/v1/break-glass", get(reads::break_glass_review))
        .route("/v1/grantees/{address}/consents", get(reads::grantee_consents))
        .route("/v1/insurers/{address}/claims", get(reads::insurer_claims))
        .route("/v1/records/{id}", get(reads::get_record))
        .route("/v1/records/{id}/segments", get(reads::record_segments))
        .route("/v1/cluster", get(cluster_status))
        .layer(axum::middleware::from_fn_with_state(state.clone(), consistent_reads))
        .merge(json_routes)
        .merge(blob_routes)
        .merge(test_routes);
    // Counted per account once `authenticate` (around it) has checked who signed.
    crate::limits::per_account(routes, &state.0.limits)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .fallback(|| async {
            ApiError::new(ErrorKind::NotFound, "not_found", "There is no such endpoint; see /openapi.json.")
        })
        .with_state(state)
}

/// The longest one move of a test clock, in seconds (a year and a day).
const MAX_CLOCK_ADVANCE_SECS: u64 = 366 * 86_400;

/// `POST /v1/test/clock {"advance_secs": N}`, signed by a genesis authority, on a node started
/// with `--test-clock` only (elsewhere there is no such endpoint): moves the node's time
/// forward, so an end-to-end test sees a break-glass or a consent lapse. Answers the new time.
async fn advance_clock(
    State(s): State<AppState>,
    axum::Extension(caller): axum::Extension<auth::Caller>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let who = caller.check_body(&body)?;
    if !s.0.ledger.genesis.authorities.iter().any(|a| a.key.address() == who) {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "not_authority",
            "Only the hospital's authority may move a test clock.",
        ));
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Advance {
        advance_secs: u64,
    }
    let Advance { advance_secs } = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorKind::Invalid, "bad_request", format!("Send {{\"advance_secs\": N}}: {e}.")))?;
    if advance_secs > MAX_CLOCK_ADVANCE_SECS {
        return Err(ApiError::new(
            ErrorKind::Invalid,
            "bad_request",
            format!("A test clock moves at most {MAX_CLOCK_ADVANCE_SECS} seconds at a time."),
        ));
    }
    let now_ms =
        s.0.clock
            .advance(advance_secs * 1000)
            .map_err(|e| ApiError::new(ErrorKind::NotFound, "not_found", e.to_string()))?;
    tracing::warn!(advance_secs, now_ms, "TEST CLOCK moved forward");
    Ok(Json(json!({ "now_ms": now_ms, "advanced_ms": s.0.clock.advanced_ms() })))
}

/// `?consistent=true` on a read: in a cluster, wait until this node has applied everything
/// committed when the request arrived (a read barrier through the leader). A single node
/// is always consistent.
async fn consistent_reads(
    State(s): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let wants =
        req.uri().query().is_some_and(|q| q.split('&').any(|kv| kv == "consistent=true" || kv == "consistent=1"));
    if wants
        && let Some(c) = s.0.cluster.get()
        && let Err(why) = c.read_barrier().await
    {
        return ApiError::new(ErrorKind::Unavailable, "unavailable", why).into_response();
    }
    next.run(req).await
}

#[utoipa::path(get, path = "/v1/cluster",
    responses((status = 200, description = "This node's view of the cluster: its id and role, the leader, the members, what it has applied")))]
async fn cluster_status(State(s): State<AppState>) -> Json<serde_json::Value> {
    match s.0.cluster.get() {
        Some(c) => Json(crate::cluster::network::status_json(&c.raft, false)),
        None => Json(json!({ "mode": "single" })),
    }
}

#[utoipa::path(get, path = "/health", responses((status = 200, description = "The node is up and can commit")))]
async fn health(State(s): State<AppState>) -> Response {
    let height = s.0.ledger.head().tip.height;
    if s.0.ledger.commit_failing() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "failing", "height": height, "message": "the last block could not be committed (see the node's log); every block tries again" })),
        )
            .into_response();
    }
    Json(json!({ "status": "ok", "height": height })).into_response()
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text exposition")))]
async fn metrics(State(s): State<AppState>) -> Response {
    let mut r = s.0.metrics.render().into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}

async fn openapi() -> Response {
    let mut r = crate::openapi::document().into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[utoipa::path(get, path = "/v1/info", responses((status = 200, description = "Chain id, head, genesis, node authority and limits")))]
async fn info(State(s): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let (height, head, accounts) = {
        let h = s.0.ledger.head();
        (h.tip.height, h.tip.hash, h.state.accounts.len())
    };
    let node = ledger_protocol::PublicKey::from(s.0.node_key.key.verifying_key());
    Ok(Json(json!({
        "chain_id": s.0.ledger.genesis.chain_id,
        "height": height,
        "head": head,
        "genesis_hash": s.0.ledger.genesis.hash(),
        "genesis": s.0.ledger.genesis,
        "node_authority": node.address(),
        // The node's clock, which signed requests must be near: a client with a wrong clock
        // signs by this one instead.
        "now_ms": s.now_ms(),
        "accounts": accounts,
        "limits": { "max_json_bytes": MAX_JSON_BYTES, "max_blob_bytes": MAX_BLOB_BYTES, "max_batch": MAX_BATCH,
                    "api_request_window_ms": wire::API_REQUEST_WINDOW_MS,
                    "pending_uploads": { "max_count": s.0.limits.uploads.max_count,
                                         "max_bytes": s.0.limits.uploads.max_bytes,
                                         "kept_ms": s.0.limits.uploads.kept_ms } },
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

/// The OpenAPI description of every endpoint above.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "HealthChain ledger node",
        description = "Signed-transaction ledger for consent, records, access logs, prescriptions, claims and twin segments."
    ),
    paths(
        health,
        cluster_status,
        metrics,
        info,
        submit::submit_tx,
        submit::submit_batch,
        reads::get_tx,
        reads::get_block,
        reads::head_block,
        reads::get_account,
        reads::list_accounts,
        reads::patient_consents,
        reads::patient_records,
        reads::patient_audit,
        reads::patient_prescriptions,
        reads::patient_claims,
        reads::get_prescription,
        reads::grantee_consents,
        reads::insurer_claims,
        reads::break_glass_review,
        reads::get_record,
        reads::record_segments,
        reads::training_runs,
        submit::put_blob,
        gate::read_record
    ),
    components(schemas(crate::openapi::SubmitTxDoc, crate::openapi::SubmitBatchDoc, crate::openapi::ErrorDoc))
)]
pub struct ApiDoc;
