//! The ledger node's HTTP API, as the portal uses it (same origin). Every failure becomes
//! an `ApiError` with the node's stable code and a sentence a person can act on.

use gloo_net::http::{Request, Response};
use ledger_protocol::codec::{Decode, Encode};
use ledger_protocol::state::{Account, AuditEntry, Claim, Consent, ConsentStatus, Prescription, Record};
use ledger_protocol::wire::{BatchItem, ErrorBody, TxWithProof};
use ledger_protocol::{Address, Genesis, Hash, SignedTransaction};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    /// Seconds the node asked the client to wait before trying again (`Retry-After`).
    pub retry_after: Option<u32>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ApiError {
    fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError { code: code.into(), message: message.into(), retry_after: None }
    }
    fn network(e: impl std::fmt::Display) -> Self {
        Self::new(
            "network",
            format!(
                "The ledger node could not be reached ({e}). Check your connection or that the node is running, then try again."
            ),
        )
    }
    fn unreadable(e: impl std::fmt::Display) -> Self {
        Self::new(
            "bad_response",
            format!(
                "The ledger node sent an answer the portal cannot read ({e}). Reload the page; if it persists, tell the hospital's administrator."
            ),
        )
    }
}

/// The longest `Retry-After` the portal waits out by itself before saying the node is busy.
const MAX_PATIENCE_S: u32 = 10;

/// Runs `request`; when the node says it is busy or the client is over a rate, and asks for
/// a short wait (`Retry-After`), waits that long and tries again, twice at most. Safe for
/// every request: a limit acts before the node handles anything.
async fn patiently<T, F: std::future::Future<Output = Result<T, ApiError>>>(
    request: impl Fn() -> F,
) -> Result<T, ApiError> {
    let mut tries = 0;
    loop {
        match request().await {
            Err(e)
                if tries < 2
                    && matches!(e.code.as_str(), "rate_limited" | "busy" | "registration_limited")
                    && e.retry_after.is_some_and(|s| s <= MAX_PATIENCE_S) =>
            {
                tries += 1;
                gloo_timers::future::TimeoutFuture::new(e.retry_after.unwrap_or(1) * 1000).await;
            }
            done => return done,
        }
    }
}

async fn check(resp: Response) -> Result<Response, ApiError> {
    if resp.ok() {
        return Ok(resp);
    }
    let status = resp.status();
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.trim().parse().ok());
    let mut e = match resp.json::<ErrorBody>().await {
        Ok(b) => ApiError::new(b.code, b.message),
        Err(_) => {
            ApiError::new(format!("http_{status}"), format!("The ledger node answered with HTTP status {status}."))
        }
    };
    e.retry_after = retry_after;
    Err(e)
}

thread_local! {
    /// How far the node's clock is ahead of this device's, in ms (negative when behind), as
    /// `/v1/info` last said: requests are signed by the node's time, so a device whose clock
    /// is wrong still signs requests the node accepts.
    static NODE_AHEAD_MS: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
    /// Who signs the portal's requests: the unlocked identity, for this node.
    static SIGNER: std::cell::RefCell<Option<(std::rc::Rc<wallet::Identity>, wallet::ApiTarget)>> =
        const { std::cell::RefCell::new(None) };
}

/// Sets (or, locked, clears) the identity that signs every request, for the node `info`
/// describes. Anything about a person is answered only to a signed request.
pub fn set_signer(identity: Option<std::rc::Rc<wallet::Identity>>, info: Option<&NodeInfo>) {
    let signer = identity
        .zip(info)
        .map(|(id, i)| (id, wallet::ApiTarget { chain_id: i.chain_id.clone(), audience: i.node_authority }));
    SIGNER.with(|s| *s.borrow_mut() = signer);
}

/// The `Authorization` header for `method path` with `body`, when a wallet is unlocked.
fn authorization(method: &str, path: &str, body: &[u8]) -> Result<Option<String>, ApiError> {
    SIGNER.with(|s| {
        let Some((id, target)) = &*s.borrow() else { return Ok(None) };
        id.api_request(target, method, path, body, node_now_ms() as u64, &mut rand_core::OsRng)
            .map(|r| Some(r.to_header()))
            .map_err(|e| ApiError::new("wallet", format!("The request could not be signed: {e}.")))
    })
}

/// The node's time now (ms since the Unix epoch), by this device's clock corrected as the
/// node last said.
pub fn node_now_ms() -> f64 {
    js_sys::Date::now() + NODE_AHEAD_MS.with(std::cell::Cell::get)
}

/// Runs a signed request; when the node says it was signed too far from its clock (the
/// device's clock is off, or the node's moved), learns the node's time and signs it once more.
async fn signed<T, F: std::future::Future<Output = Result<T, ApiError>>>(
    request: impl Fn() -> F,
) -> Result<T, ApiError> {
    match patiently(&request).await {
        Err(e) if e.code == "stale_request" => {
            info().await?;
            patiently(&request).await
        }
        done => done,
    }
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    signed(|| get_once(path)).await
}

async fn get_once<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    let mut req = Request::get(path);
    if let Some(a) = authorization("GET", path, b"")? {
        req = req.header("authorization", &a);
    }
    let resp = req.send().await.map_err(ApiError::network)?;
    check(resp).await?.json().await.map_err(ApiError::unreadable)
}

async fn post<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    patiently(|| async {
        let req = Request::post(path).json(body).map_err(ApiError::unreadable)?;
        let resp = req.send().await.map_err(ApiError::network)?;
        check(resp).await?.json().await.map_err(ApiError::unreadable)
    })
    .await
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NodeInfo {
    pub chain_id: String,
    pub height: u64,
    pub head: Hash,
    pub genesis: Genesis,
    /// The node's authority address: the audience of signed requests.
    pub node_authority: Address,
    /// The node's clock when it answered (ms since the Unix epoch).
    pub now_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ConsentView {
    #[serde(flatten)]
    pub consent: Consent,
    pub status: ConsentStatus,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Refusal {
    pub at: u64,
    pub record: Hash,
    pub reader: Address,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Audit {
    pub entries: Vec<AuditEntry>,
    pub refused: Vec<Refusal>,
}

/// A block as the portal reads it: transactions travel as hex of their canonical bytes
/// and are decoded here (decoding JSON transactions would cost the bundle far more).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockView {
    pub hash: Hash,
    pub header: ledger_protocol::BlockHeader,
    pub tx_ids: Vec<Hash>,
    pub kinds: Vec<ledger_protocol::TxKind>,
    pub sizes: Vec<u32>,
    /// The transactions themselves: only the hospital's authority is sent them.
    pub txs: Option<Vec<SignedTransaction>>,
}

#[derive(Deserialize)]
struct RawBlock {
    hash: Hash,
    header: ledger_protocol::BlockHeader,
    tx_ids: Vec<Hash>,
    kinds: Vec<ledger_protocol::TxKind>,
    sizes: Vec<u32>,
    #[serde(default)]
    txs_hex: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawProof {
    id: Hash,
    tx_hex: String,
    height: u64,
    block_hash: Hash,
    header: ledger_protocol::BlockHeader,
    block_signature: ledger_protocol::Signature,
    proof: ledger_protocol::InclusionProof,
}

fn decode_tx(hex_text: &str) -> Result<SignedTransaction, ApiError> {
    let bytes = hex::decode(hex_text).map_err(ApiError::unreadable)?;
    SignedTransaction::from_canonical_bytes(&bytes).map_err(ApiError::unreadable)
}

/// The node's chain and clock; asked unsigned (it is public, and a request signed by a wrong
/// clock would be refused), and it sets the clock requests are signed by.
pub async fn info() -> Result<NodeInfo, ApiError> {
    let resp = Request::get("/v1/info").send().await.map_err(ApiError::network)?;
    let info: NodeInfo = check(resp).await?.json().await.map_err(ApiError::unreadable)?;
    NODE_AHEAD_MS.with(|a| a.set(info.now_ms as f64 - js_sys::Date::now()));
    Ok(info)
}
pub async fn account(a: &Address) -> Result<Option<Account>, ApiError> {
    match get(&format!("/v1/accounts/{a}")).await {
        Ok(acc) => Ok(Some(acc)),
        Err(e) if e.code == "unknown_account" => Ok(None),
        Err(e) => Err(e),
    }
}
pub async fn providers() -> Result<Vec<Account>, ApiError> {
    get("/v1/accounts").await
}
pub async fn consents(patient: &Address) -> Result<Vec<ConsentView>, ApiError> {
    get(&format!("/v1/patients/{patient}/consents")).await
}
pub async fn granted_to(provider: &Address) -> Result<Vec<ConsentView>, ApiError> {
    get(&format!("/v1/grantees/{provider}/consents")).await
}
pub async fn records(patient: &Address) -> Result<Vec<Record>, ApiError> {
    get(&format!("/v1/patients/{patient}/records")).await
}
/// The training runs an account saved, newest first.
pub async fn training_runs(a: &Address) -> Result<Vec<ledger_protocol::state::TrainingRun>, ApiError> {
    get(&format!("/v1/accounts/{a}/training-runs")).await
}

/// The twin segment hashes anchored for the case a record holds.
pub async fn segments(record: &Hash) -> Result<Vec<ledger_protocol::state::TwinSegment>, ApiError> {
    get(&format!("/v1/records/{record}/segments")).await
}

pub async fn record(id: &Hash) -> Result<Record, ApiError> {
    get(&format!("/v1/records/{id}")).await
}
pub async fn audit(patient: &Address) -> Result<Audit, ApiError> {
    get(&format!("/v1/patients/{patient}/audit")).await
}
pub async fn prescriptions(patient: &Address) -> Result<Vec<Prescription>, ApiError> {
    get(&format!("/v1/patients/{patient}/prescriptions")).await
}
pub async fn claims(patient: &Address) -> Result<Vec<Claim>, ApiError> {
    get(&format!("/v1/patients/{patient}/claims")).await
}
pub async fn prescription(id: &Hash) -> Result<Prescription, ApiError> {
    get(&format!("/v1/prescriptions/{id}")).await
}
pub async fn insurer_claims(insurer: &Address) -> Result<Vec<Claim>, ApiError> {
    get(&format!("/v1/insurers/{insurer}/claims")).await
}
/// The break-glass accesses of the last 7 days, for the hospital's review.
pub async fn break_glass_review() -> Result<Vec<ledger_protocol::state::BreakGlassGrant>, ApiError> {
    get("/v1/break-glass").await
}
pub async fn tx(id: &Hash) -> Result<TxWithProof, ApiError> {
    let r: RawProof = get(&format!("/v1/transactions/{id}")).await?;
    Ok(TxWithProof {
        id: r.id,
        tx: decode_tx(&r.tx_hex)?,
        tx_hex: r.tx_hex,
        height: r.height,
        block_hash: r.block_hash,
        header: r.header,
        block_signature: r.block_signature,
        proof: r.proof,
    })
}
pub async fn block(height: u64) -> Result<BlockView, ApiError> {
    let r: RawBlock = get(&format!("/v1/blocks/{height}")).await?;
    let txs = match r.txs_hex {
        Some(hexes) => Some(hexes.iter().map(|t| decode_tx(t)).collect::<Result<_, _>>()?),
        None => None,
    };
    Ok(BlockView { hash: r.hash, header: r.header, tx_ids: r.tx_ids, kinds: r.kinds, sizes: r.sizes, txs })
}

/// Submits signed transactions in one batch; one result each, in order.
pub async fn submit(txs: &[SignedTransaction]) -> Result<Vec<BatchItem>, ApiError> {
    #[derive(Deserialize)]
    struct Out {
        results: Vec<BatchItem>,
    }
    let body =
        serde_json::json!({ "txs": txs.iter().map(|t| hex::encode(t.to_canonical_bytes())).collect::<Vec<_>>() });
    let out: Out = post("/v1/transactions/batch", &body).await?;
    Ok(out.results)
}

/// Uploads an encrypted envelope; returns its content address.
pub async fn put_blob(bytes: Vec<u8>) -> Result<Hash, ApiError> {
    signed(|| put_blob_once(&bytes)).await
}

async fn put_blob_once(bytes: &[u8]) -> Result<Hash, ApiError> {
    #[derive(Deserialize)]
    struct Out {
        blob: Hash,
    }
    let mut req = Request::put("/v1/blobs").header("content-type", "application/octet-stream");
    if let Some(a) = authorization("PUT", "/v1/blobs", bytes)? {
        req = req.header("authorization", &a);
    }
    let req = req.body(js_sys::Uint8Array::from(bytes)).map_err(ApiError::unreadable)?;
    let resp = req.send().await.map_err(ApiError::network)?;
    let out: Out = check(resp).await?.json().await.map_err(ApiError::unreadable)?;
    Ok(out.blob)
}

/// A released record: its encrypted blob, and (an emergency summary read under break-glass)
/// its key re-wrapped for the reader by the hospital's node.
pub struct Released {
    pub sealed: Vec<u8>,
    pub escrowed_key: Option<Vec<u8>>,
    /// The node read it under break-glass but holds no escrow key to re-wrap with.
    pub escrow_unavailable: bool,
}

/// Asks for a record's encrypted blob with a signed request (single-use; the node records
/// the release on the ledger).
pub async fn read_blob(record: &Hash) -> Result<Released, ApiError> {
    signed(|| read_blob_once(record)).await
}

async fn read_blob_once(record: &Hash) -> Result<Released, ApiError> {
    let path = format!("/v1/records/{record}/read");
    let mut req = Request::post(&path);
    if let Some(a) = authorization("POST", &path, b"")? {
        req = req.header("authorization", &a);
    }
    let resp = check(req.send().await.map_err(ApiError::network)?).await?;
    let escrowed_key = resp.headers().get("x-record-key").and_then(|h| hex::decode(h.trim()).ok());
    let escrow_unavailable = resp.headers().get("x-record-key-unavailable").is_some();
    let sealed = resp.binary().await.map_err(ApiError::unreadable)?;
    Ok(Released { sealed, escrowed_key, escrow_unavailable })
}
