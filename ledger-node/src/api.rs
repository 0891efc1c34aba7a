//! The node's HTTP JSON API (axum): submit transactions, read blocks, transactions with
//! proofs, patients' consents, records and audit trail, the consent-gated blob store,
//! node info, health, Prometheus metrics and the OpenAPI description. `app(state)` builds
//! the router without binding a socket, so tests drive it directly.

use crate::cluster::orderer::ClusterOrderer;
use crate::ledger::{Ledger, OrderError, Orderer, Outcome, now_ms, order_checked};
use crate::metrics::Metrics;
use crate::node_signer::{NodeKey, NodeSigner};
use crate::verify::{self, Secp256k1Verifier};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ledger_protocol::codec::Encode;
use ledger_protocol::merkle;
use ledger_protocol::rules::access_basis;
use ledger_protocol::state::ConsentStatus;
use ledger_protocol::wire::{
    self, BatchItem, BlobId, ErrorBody, Receipt, SignedReadRequest, SubmitBatch, SubmitTx, TxWithProof,
};
use ledger_protocol::{Address, Hash, Rejection, TxBody};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

/// Largest JSON request body (transactions, batches, read requests).
pub const MAX_JSON_BYTES: usize = 4 * 1024 * 1024;
/// Largest blob upload.
pub const MAX_BLOB_BYTES: usize = 17 * 1024 * 1024;
/// Most transactions in one batch request.
pub const MAX_BATCH: usize = 2048;

pub struct Inner {
    pub ledger: Arc<Ledger>,
    pub orderer: Arc<dyn Orderer>,
    pub metrics: Arc<Metrics>,
    node_key: Arc<NodeKey>,
    /// Started on first use, inside the runtime.
    signer: std::sync::OnceLock<NodeSigner>,
    /// Set when the node runs in a cluster.
    pub cluster: std::sync::OnceLock<Arc<ClusterOrderer>>,
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
    ) -> Self {
        metrics.set_height(ledger.head().tip.height);
        let node_key = Arc::new(NodeKey::new(node_key, &ledger));
        AppState(Arc::new(Inner {
            ledger,
            orderer,
            metrics,
            node_key,
            signer: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
        }))
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

/// An error answer: HTTP status, stable code, sentence.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, code: code.into(), message: message.into() }
    }
    fn not_found(code: &str, what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, format!("No {what} with that id exists on this ledger."))
    }
    fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The node hit an internal error; it has been logged. Try again later.",
        )
    }
}

/// The HTTP status each rejection code maps to.
pub fn status_for(code: &str) -> StatusCode {
    match code {
        "malformed" => StatusCode::BAD_REQUEST,
        "bad_signature" | "high_s" => StatusCode::UNAUTHORIZED,
        "no_consent"
        | "consent_expired"
        | "consent_revoked"
        | "consent_not_yet_valid"
        | "not_authority"
        | "wrong_role"
        | "not_owner"
        | "reader_not_allowed"
        | "break_glass_expired"
        | "break_glass_not_found"
        | "not_claim_insurer"
        | "unknown_account" => StatusCode::FORBIDDEN,
        "consent_not_found" | "record_not_found" | "prescription_not_found" | "claim_not_found" | "unknown_party" => {
            StatusCode::NOT_FOUND
        }
        "stale_nonce" | "already_registered" | "already_revoked" | "already_shared" | "already_dispensed"
        | "already_decided" => StatusCode::CONFLICT,
        "too_large" => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ErrorBody::from(&r).into()
    }
}

impl From<ErrorBody> for ApiError {
    fn from(e: ErrorBody) -> Self {
        ApiError { status: status_for(&e.code), code: e.code, message: e.message }
    }
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::TooLarge(why) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", why),
            e => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { code: self.code, message: self.message })).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn body_bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> ApiResult<Bytes> {
    match body {
        Ok(b) => Ok(b),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("The request body is larger than the limit of {limit} bytes."),
        )),
        Err(e) => Err(ApiError::bad_request("bad_request", format!("The request body could not be read: {e}"))),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> ApiResult<T> {
    let bytes = body_bytes(body, MAX_JSON_BYTES)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request("malformed_json", format!("The request body is not the JSON this endpoint expects: {e}."))
    })
}

fn parse_hex_tx(s: &str) -> ApiResult<Vec<u8>> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s))
        .map_err(|_| ApiError::bad_request("malformed", "The transaction is not hex of its canonical bytes."))
}

fn parse_id<T: std::str::FromStr>(s: &str, what: &str) -> ApiResult<T> {
    s.parse().map_err(|_| ApiError::bad_request("bad_request", format!("'{s}' is not a valid {what}.")))
}

/// Builds the router over shared state, serving the portal's files from `portal_dir`
/// (with `index.html` for every other path, so the portal's routes load) when given.
pub fn app_with_portal(state: AppState, portal_dir: Option<&std::path::Path>) -> Router {
    let api = app(state);
    match portal_dir {
        None => api,
        Some(dir) => {
            let files = tower_http::services::ServeDir::new(dir)
                .precompressed_gzip()
                .fallback(tower_http::services::ServeFile::new(dir.join("index.html")).precompressed_gzip());
            api.fallback_service(files)
        }
    }
}

/// Builds the API router over shared state. No socket, no global state.
pub fn app(state: AppState) -> Router {
    let json_routes = Router::new()
        .route("/v1/transactions", post(submit_tx))
        .route("/v1/transactions/batch", post(submit_batch))
        .route("/v1/records/{id}/read", post(read_record))
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES));
    let blob_routes = Router::new().route("/v1/blobs", put(put_blob)).layer(DefaultBodyLimit::max(MAX_BLOB_BYTES));
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/info", get(info))
        .route("/v1/transactions/{id}", get(get_tx))
        .route("/v1/blocks/head", get(head_block))
        .route("/v1/blocks/{height}", get(get_block))
        .route("/v1/accounts/{address}", get(get_account))
        .route("/v1/accounts", get(list_accounts))
        .route("/v1/accounts/{address}/training-runs", get(training_runs))
        .route("/v1/patients/{address}/consents", get(patient_consents))
        .route("/v1/patients/{address}/records", get(patient_records))
        .route("/v1/patients/{address}/audit", get(patient_audit))
        .route("/v1/patients/{address}/prescriptions", get(patient_prescriptions))
        .route("/v1/patients/{address}/claims", get(patient_claims))
        .route("/v1/prescriptions/{id}", get(get_prescription))
        .route("/v1/grantees/{address}/consents", get(grantee_consents))
        .route("/v1/insurers/{address}/claims", get(insurer_claims))
        .route("/v1/records/{id}", get(get_record))
        .route("/v1/records/{id}/segments", get(record_segments))
        .route("/v1/cluster", get(cluster_status))
        .layer(axum::middleware::from_fn_with_state(state.clone(), consistent_reads))
        .merge(json_routes)
        .merge(blob_routes)
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "There is no such endpoint; see /openapi.json.")
        })
        .with_state(state)
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
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", why).into_response();
    }
    next.run(req).await
}

#[utoipa::path(get, path = "/v1/cluster",
    responses((status = 200, description = "This node's view of the cluster: its id and role, the leader, the members, what it has applied")))]
async fn cluster_status(State(s): State<AppState>) -> Json<serde_json::Value> {
    match s.0.cluster.get() {
        Some(c) => Json(crate::cluster::network::status_json(&c.raft)),
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
        "accounts": accounts,
        "limits": { "max_json_bytes": MAX_JSON_BYTES, "max_blob_bytes": MAX_BLOB_BYTES, "max_batch": MAX_BATCH,
                    "read_request_window_ms": wire::READ_REQUEST_WINDOW_MS },
        "version": env!("CARGO_PKG_VERSION"),
    })))
}

fn one_outcome(outcome: Outcome) -> ApiResult<Json<Receipt>> {
    outcome.map(Json).map_err(ApiError::from)
}

#[utoipa::path(post, path = "/v1/transactions", request_body(content = crate::openapi::SubmitTxDoc),
    responses((status = 200, description = "Durably committed; the receipt names the block"),
              (status = 400, description = "Malformed JSON or transaction", body = crate::openapi::ErrorDoc),
              (status = 401, description = "Bad signature"), (status = 403, description = "Not allowed by the consent rules"),
              (status = 409, description = "Stale nonce or already done"), (status = 413, description = "Too large")))]
async fn submit_tx(State(s): State<AppState>, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<Receipt>> {
    let req: SubmitTx = parse_json(body)?;
    let raw = parse_hex_tx(&req.tx)?;
    one_outcome(s.submit_one(raw).await?)
}

#[utoipa::path(post, path = "/v1/transactions/batch", request_body(content = crate::openapi::SubmitBatchDoc),
    responses((status = 200, description = "One result per transaction, in order: a receipt or an error")))]
async fn submit_batch(State(s): State<AppState>, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<BatchResults>> {
    let req: SubmitBatch = parse_json(body)?;
    let raw = batch_txs(&req)?;
    Ok(Json(BatchResults::from(s.submit_raw(raw).await?)))
}

/// A batch's transactions as canonical bytes, or why the batch is refused.
pub fn batch_txs(req: &SubmitBatch) -> ApiResult<Vec<Vec<u8>>> {
    if req.txs.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("A batch holds at most {MAX_BATCH} transactions."),
        ));
    }
    req.txs.iter().map(|t| parse_hex_tx(t)).collect()
}

/// The answer to a batch: one item per submitted transaction, in order.
#[derive(Serialize, serde::Deserialize)]
pub struct BatchResults {
    pub results: Vec<BatchItem>,
}

impl From<Vec<Outcome>> for BatchResults {
    fn from(out: Vec<Outcome>) -> Self {
        let results = out
            .into_iter()
            .map(|o| match o {
                Ok(r) => BatchItem::Ok(r),
                Err(e) => BatchItem::Err(e),
            })
            .collect();
        BatchResults { results }
    }
}

fn with_proof(s: &AppState, id: Hash) -> ApiResult<TxWithProof> {
    let (height, index) =
        s.0.ledger.store.tx_location(&id)?.ok_or_else(|| ApiError::not_found("tx_not_found", "transaction"))?;
    let block =
        s.0.ledger
            .store
            .block(height)?
            .ok_or_else(|| ApiError::internal(format!("indexed block {height} is missing")))?;
    let ids = block.tx_ids();
    let proof = merkle::prove(&ids, index as usize).ok_or_else(|| ApiError::internal("tx index out of range"))?;
    let tx = block.txs[index as usize].clone();
    Ok(TxWithProof {
        id,
        tx_hex: hex::encode(tx.to_canonical_bytes()),
        tx,
        height,
        block_hash: block.hash(),
        header: block.header,
        block_signature: block.signature,
        proof,
    })
}

#[utoipa::path(get, path = "/v1/transactions/{id}", params(("id" = String, Path, description = "Transaction id (hex)")),
    responses((status = 200, description = "The transaction, its block header and its Merkle inclusion proof"), (status = 404, description = "Unknown id")))]
async fn get_tx(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<TxWithProof>> {
    let id: Hash = parse_id(&id, "transaction id")?;
    Ok(Json(with_proof(&s, id)?))
}

#[derive(Serialize)]
struct BlockView {
    hash: Hash,
    #[serde(flatten)]
    block: ledger_protocol::Block,
    tx_ids: Vec<Hash>,
    /// Each transaction's canonical bytes, hex: what clients decode and check.
    txs_hex: Vec<String>,
}

#[utoipa::path(get, path = "/v1/blocks/{height}", params(("height" = u64, Path, description = "Block height (1 is the first block)")),
    responses((status = 200, description = "The block with its hash and transaction ids"), (status = 404, description = "No such block")))]
async fn get_block(State(s): State<AppState>, Path(height): Path<String>) -> ApiResult<Json<BlockView>> {
    let height: u64 = parse_id(&height, "block height")?;
    let block = s.0.ledger.store.block(height)?.ok_or_else(|| ApiError::not_found("block_not_found", "block"))?;
    let txs_hex = block.txs.iter().map(|t| hex::encode(t.to_canonical_bytes())).collect();
    Ok(Json(BlockView { hash: block.hash(), tx_ids: block.tx_ids(), txs_hex, block }))
}

#[utoipa::path(get, path = "/v1/blocks/head", responses((status = 200, description = "The newest block"), (status = 404, description = "No block yet")))]
async fn head_block(State(s): State<AppState>) -> ApiResult<Json<BlockView>> {
    let height = s.0.ledger.head().tip.height;
    get_block(State(s), Path(height.to_string())).await
}

#[utoipa::path(get, path = "/v1/accounts/{address}", params(("address" = String, Path, description = "Account address (hex)")),
    responses((status = 200, description = "Role, name, keys and last nonce"), (status = 404, description = "Not registered")))]
async fn get_account(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<ledger_protocol::state::Account>> {
    let a: Address = parse_id(&a, "address")?;
    s.0.ledger.head().state.account(&a).cloned().map(Json).ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_account", "No account with that address is registered.")
    })
}

#[utoipa::path(get, path = "/v1/accounts/{address}/training-runs", params(("address" = String, Path, description = "Account address (hex)")),
    responses((status = 200, description = "The training runs the account saved, newest first")))]
async fn training_runs(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<ledger_protocol::state::TrainingRun>>> {
    let a: Address = parse_id(&a, "address")?;
    let h = s.0.ledger.head();
    let ids = h.state.runs_by_trainee.get(&a).map(Vec::as_slice).unwrap_or_default();
    Ok(Json(ids.iter().rev().filter_map(|id| h.state.training_runs.get(id).cloned()).collect()))
}

#[utoipa::path(get, path = "/v1/accounts", responses((status = 200, description = "Registered providers and authorities (patients are not listed)")))]
async fn list_accounts(State(s): State<AppState>) -> Json<Vec<ledger_protocol::state::Account>> {
    let h = s.0.ledger.head();
    let mut v: Vec<_> =
        h.state.accounts.values().filter(|a| a.role != ledger_protocol::Role::Patient).cloned().collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Json(v)
}

fn patient_addr(s: &AppState, a: &str) -> ApiResult<Address> {
    let a: Address = parse_id(a, "address")?;
    match s.0.ledger.head().state.account(&a) {
        Some(acc) if acc.role == ledger_protocol::Role::Patient => Ok(a),
        _ => {
            Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_patient", "No patient with that address is registered."))
        }
    }
}

/// A patient's items of one kind, newest first: `ids` picks the index list, `get` the item.
fn newest_first<T>(
    s: &AppState,
    a: &str,
    ids: impl Fn(&ledger_protocol::state::PatientIndex) -> &[Hash],
    get: impl Fn(&ledger_protocol::State, &Hash) -> Option<T>,
) -> ApiResult<Json<Vec<T>>> {
    let a = patient_addr(s, a)?;
    let h = s.0.ledger.head();
    let list = h.state.patient_index(&a).map(ids).unwrap_or_default();
    Ok(Json(list.iter().rev().filter_map(|id| get(&h.state, id)).collect()))
}

#[derive(Serialize)]
struct ConsentView {
    #[serde(flatten)]
    consent: ledger_protocol::state::Consent,
    status: ConsentStatus,
}

#[utoipa::path(get, path = "/v1/patients/{address}/consents", params(("address" = String, Path)),
    responses((status = 200, description = "Every consent the patient granted, newest first, with its status now")))]
async fn patient_consents(State(s): State<AppState>, Path(a): Path<String>) -> ApiResult<Json<Vec<ConsentView>>> {
    let now = now_ms() / 1000;
    newest_first(
        &s,
        &a,
        |i| &i.consents,
        |st, id| st.consents.get(id).map(|c| ConsentView { status: c.status(now), consent: c.clone() }),
    )
}

#[utoipa::path(get, path = "/v1/patients/{address}/records", params(("address" = String, Path)),
    responses((status = 200, description = "The patient's anchored records, newest first")))]
async fn patient_records(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<ledger_protocol::state::Record>>> {
    newest_first(&s, &a, |i| &i.records, |st, id| st.records.get(id).cloned())
}

#[utoipa::path(get, path = "/v1/patients/{address}/audit", params(("address" = String, Path)),
    responses((status = 200, description = "Who read the patient's data (access events and break-glass, newest first) and refused attempts")))]
async fn patient_audit(State(s): State<AppState>, Path(a): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    let a = patient_addr(&s, &a)?;
    let entries: Vec<_> = {
        let h = s.0.ledger.head();
        h.state.patient_index(&a).map(|i| i.audit.iter().rev().cloned().collect()).unwrap_or_default()
    };
    let refused: Vec<serde_json::Value> =
        s.0.ledger.store.refusals(&a)?.iter().rev().filter_map(|j| serde_json::from_str(j).ok()).collect();
    Ok(Json(json!({ "entries": entries, "refused": refused })))
}

#[utoipa::path(get, path = "/v1/patients/{address}/prescriptions", params(("address" = String, Path)),
    responses((status = 200, description = "The patient's prescriptions, newest first")))]
async fn patient_prescriptions(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<ledger_protocol::state::Prescription>>> {
    newest_first(&s, &a, |i| &i.prescriptions, |st, id| st.prescriptions.get(id).cloned())
}

#[utoipa::path(get, path = "/v1/patients/{address}/claims", params(("address" = String, Path)),
    responses((status = 200, description = "Claims about the patient's care, newest first")))]
async fn patient_claims(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<ledger_protocol::state::Claim>>> {
    newest_first(&s, &a, |i| &i.claims, |st, id| st.claims.get(id).cloned())
}

#[utoipa::path(get, path = "/v1/grantees/{address}/consents", params(("address" = String, Path, description = "A provider's address")),
    responses((status = 200, description = "Consents granted to this provider, newest first, with their status now")))]
async fn grantee_consents(State(s): State<AppState>, Path(a): Path<String>) -> ApiResult<Json<Vec<ConsentView>>> {
    let a: Address = parse_id(&a, "address")?;
    let now = now_ms() / 1000;
    let h = s.0.ledger.head();
    let mut v: Vec<_> = h
        .state
        .consents
        .values()
        .filter(|c| c.grantee == a)
        .map(|c| ConsentView { status: c.status(now), consent: c.clone() })
        .collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.consent.granted_at));
    Ok(Json(v))
}

#[utoipa::path(get, path = "/v1/insurers/{address}/claims", params(("address" = String, Path, description = "An insurer's address")),
    responses((status = 200, description = "Claims addressed to this insurer, newest first")))]
async fn insurer_claims(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<ledger_protocol::state::Claim>>> {
    let a: Address = parse_id(&a, "address")?;
    let h = s.0.ledger.head();
    let mut v: Vec<_> = h.state.claims.values().filter(|c| c.insurer == a).cloned().collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.submitted_at));
    Ok(Json(v))
}

#[utoipa::path(get, path = "/v1/prescriptions/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "A prescription and whether it was dispensed"), (status = 404, description = "Unknown")))]
async fn get_prescription(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ledger_protocol::state::Prescription>> {
    let id: Hash = parse_id(&id, "prescription id")?;
    s.0.ledger
        .head()
        .state
        .prescriptions
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("prescription_not_found", "prescription"))
}

#[utoipa::path(get, path = "/v1/records/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "A record's anchor: hashes, class, blob id and wrapped keys"), (status = 404, description = "Unknown")))]
async fn get_record(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ledger_protocol::state::Record>> {
    let id: Hash = parse_id(&id, "record id")?;
    s.0.ledger
        .head()
        .state
        .records
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("record_not_found", "record"))
}

#[utoipa::path(get, path = "/v1/records/{id}/segments", params(("id" = String, Path)),
    responses((status = 200, description = "The twin segment hashes anchored for the case this record holds, in stage, stream and time order"),
              (status = 404, description = "Unknown record")))]
async fn record_segments(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ledger_protocol::state::TwinSegment>>> {
    let id: Hash = parse_id(&id, "record id")?;
    let h = s.0.ledger.head();
    let record = h.state.records.get(&id).ok_or_else(|| ApiError::not_found("record_not_found", "record"))?;
    let mut out: Vec<_> = h
        .state
        .patient_index(&record.patient)
        .map(|i| {
            i.segments.iter().filter_map(|k| h.state.segments.get(k)).filter(|g| g.case_id == id).cloned().collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| (a.stage, &a.stream, a.start_ms).cmp(&(b.stage, &b.stream, b.start_ms)));
    Ok(Json(out))
}

#[utoipa::path(put, path = "/v1/blobs", request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "Encrypted record envelope"),
    responses((status = 201, description = "Stored under its content address"), (status = 413, description = "Larger than the blob limit")))]
async fn put_blob(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<BlobId>)> {
    let bytes = body_bytes(body, MAX_BLOB_BYTES)?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("empty_blob", "The blob is empty; upload the encrypted record envelope."));
    }
    let id = wire::blob_id(&bytes);
    let size = bytes.len() as u64;
    let ledger = s.0.ledger.clone();
    tokio::task::spawn_blocking(move || ledger.store.put_blob(&id, &bytes)).await.map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(BlobId { blob: id, size })))
}

/// What to do with a read request.
enum Gate {
    Own(Hash),
    Allowed(Hash, ledger_protocol::AccessBasis),
    Refused(Address, ErrorBody),
}

#[utoipa::path(post, path = "/v1/records/{id}/read", params(("id" = String, Path)), request_body(content = crate::openapi::ReadRequestDoc),
    responses((status = 200, description = "The encrypted blob; the release is recorded on the ledger (header x-access-event)", content_type = "application/octet-stream"),
              (status = 401, description = "Bad signature or stale request"), (status = 403, description = "No live consent or break-glass; the attempt is logged"),
              (status = 404, description = "Unknown record or blob")))]
async fn read_record(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let record_id: Hash = parse_id(&id, "record id")?;
    let req: SignedReadRequest = parse_json(body)?;
    let r = &req.request;
    if r.record != record_id {
        return Err(ApiError::bad_request("bad_request", "The signed request names another record than the URL."));
    }
    if r.chain_id != s.0.ledger.genesis.chain_id {
        return Err(
            Rejection::WrongChain { expected: s.0.ledger.genesis.chain_id.clone(), got: r.chain_id.clone() }.into()
        );
    }
    if !req.verify(&Secp256k1Verifier) {
        return Err(Rejection::BadSignature.into());
    }
    let now = now_ms();
    if now.abs_diff(r.timestamp_ms) > wire::READ_REQUEST_WINDOW_MS {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "stale_request",
            "The read request is more than 5 minutes away from the node's clock. Check your device's clock and try again.",
        ));
    }
    let reader = r.reader.address();
    let (blob, event) = match gate(&s, &record_id, &reader, now)? {
        Gate::Own(blob) => (blob, None),
        Gate::Refused(patient, e) => return Err(refuse(&s, patient, record_id, reader, e).await),
        Gate::Allowed(blob, basis) => {
            if blob_anywhere(&s, &blob).await?.is_none() {
                return Err(ApiError::not_found("blob_not_found", "encrypted blob for this record"));
            }
            match s.node_signer().submit(TxBody::AccessEvent { record: record_id, reader, basis }).await? {
                Ok(receipt) => (blob, Some(receipt.id)),
                // The access event was not committed. Only the consent gate refuses a
                // reader: asked again now, it either says why, or the fault is the node's.
                Err(e) => match gate(&s, &record_id, &reader, now_ms())? {
                    Gate::Refused(patient, why) => return Err(refuse(&s, patient, record_id, reader, why).await),
                    _ => {
                        tracing::error!(%record_id, code = %e.code, message = %e.message, "the node's access event was refused");
                        return Err(ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "unavailable",
                            "The node could not record this read on the ledger. Try again.",
                        ));
                    }
                },
            }
        }
    };
    let bytes = blob_anywhere(&s, &blob)
        .await?
        .ok_or_else(|| ApiError::not_found("blob_not_found", "encrypted blob for this record"))?;
    s.0.metrics.blob_released();
    let mut resp = bytes.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Some(v) = event.and_then(|ev| HeaderValue::from_str(&ev.to_hex()).ok()) {
        resp.headers_mut().insert("x-access-event", v);
    }
    Ok(resp)
}

/// What the consent gate says to `reader` about `record` at `now_ms`, from one consistent
/// view of the state.
fn gate(s: &AppState, record: &Hash, reader: &Address, now_ms: u64) -> ApiResult<Gate> {
    let h = s.0.ledger.head();
    let record = h.state.records.get(record).ok_or_else(|| ApiError::not_found("record_not_found", "record"))?;
    Ok(if *reader == record.patient {
        Gate::Own(record.blob)
    } else {
        match access_basis(&h.state, record, reader, now_ms / 1000) {
            Ok(basis) => Gate::Allowed(record.blob, basis),
            Err(e) => Gate::Refused(record.patient, ErrorBody::from(&e)),
        }
    })
}

/// A blob from this node's store or, in a cluster, from a peer that has it (blobs are
/// stored where they were uploaded). A peer's copy is kept only if it hashes to its id.
async fn blob_anywhere(s: &AppState, id: &Hash) -> ApiResult<Option<Vec<u8>>> {
    if let Some(b) = s.0.ledger.store.blob(id)? {
        return Ok(Some(b));
    }
    let Some(c) = s.0.cluster.get() else { return Ok(None) };
    let Some(bytes) = c.blob_from_peers(id).await else { return Ok(None) };
    s.0.ledger.store.put_blob(id, &bytes)?;
    Ok(Some(bytes))
}

/// Logs a refused read (store, metrics, tracing) and turns it into the 403 answer.
async fn refuse(s: &AppState, patient: Address, record: Hash, reader: Address, e: ErrorBody) -> ApiError {
    tracing::warn!(%record, %reader, code = %e.code, "blob read refused");
    s.0.metrics.blob_refused(&e.code);
    let entry =
        json!({ "at": now_ms() / 1000, "record": record, "reader": reader, "code": e.code, "message": e.message })
            .to_string();
    let ledger = s.0.ledger.clone();
    match tokio::task::spawn_blocking(move || ledger.store.log_refusal(&patient, &entry)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(error = %err, "could not store a refused access attempt"),
        Err(err) => tracing::error!(error = %err, "could not store a refused access attempt"),
    }
    let mut api = ApiError::from(e);
    api.status = StatusCode::FORBIDDEN;
    api
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
        submit_tx,
        submit_batch,
        get_tx,
        get_block,
        head_block,
        get_account,
        list_accounts,
        patient_consents,
        patient_records,
        patient_audit,
        patient_prescriptions,
        patient_claims,
        get_prescription,
        get_record,
        record_segments,
        training_runs,
        put_blob,
        read_record
    ),
    components(schemas(
        crate::openapi::SubmitTxDoc,
        crate::openapi::SubmitBatchDoc,
        crate::openapi::ErrorDoc,
        crate::openapi::ReadRequestDoc
    ))
)]
pub struct ApiDoc;
