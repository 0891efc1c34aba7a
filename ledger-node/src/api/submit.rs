//! The submission service: transactions and batches (verified on arrival, ordered, answered
//! once durable) and encrypted blob uploads.

use super::auth::Caller;
use super::error::{body_bytes, parse_hex_tx, parse_json};
use super::{ApiError, ApiResult, AppState, MAX_BATCH, MAX_BLOB_BYTES};
use crate::ledger::Outcome;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ledger_protocol::codec::Decode;
use ledger_protocol::wire::{self, BatchItem, BlobId, Receipt, SubmitBatch, SubmitTx};
use ledger_protocol::{ErrorKind, SignedTransaction, TxKind};
use serde::Serialize;
use std::net::SocketAddr;

fn one_outcome(outcome: Outcome) -> ApiResult<Json<Receipt>> {
    outcome.map(Json).map_err(ApiError::from)
}

#[utoipa::path(post, path = "/v1/transactions", request_body(content = crate::openapi::SubmitTxDoc),
    responses((status = 200, description = "Durably committed; the receipt names the block"),
              (status = 400, description = "Malformed JSON or transaction", body = crate::openapi::ErrorDoc),
              (status = 401, description = "Bad signature"), (status = 403, description = "Not allowed by the consent rules"),
              (status = 409, description = "Stale nonce or already done"), (status = 413, description = "Too large"),
              (status = 503, description = "unavailable, or disk_low: the node's free disk is down to its ledger reserve")))]
pub(super) async fn submit_tx(
    State(s): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Receipt>> {
    let req: SubmitTx = parse_json(body)?;
    let raw = parse_hex_tx(&req.tx)?;
    count_against_allowances(&s, peer, std::slice::from_ref(&raw))?;
    one_outcome(s.submit_one(raw).await?)
}

/// A request's transactions, and the registrations (new accounts, free to make) among them,
/// count against their sender's address allowances before anything is verified; over one,
/// the whole request is refused (429) and nothing of it is ordered.
fn count_against_allowances(
    s: &AppState,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    raw: &[Vec<u8>],
) -> ApiResult<()> {
    let peer = peer.map(|Extension(ConnectInfo(a))| a.ip());
    s.0.transactions.take(peer, raw.len())?;
    if !s.0.registrations.is_on() {
        return Ok(());
    }
    let n = raw.iter().filter(|t| wire_kind(t) == Some(TxKind::RegisterPatient)).count();
    s.0.registrations.take(peer, n)
}

/// A transaction's kind, read from its canonical bytes without verifying it (None: it does
/// not decode, which verification will say).
fn wire_kind(bytes: &[u8]) -> Option<TxKind> {
    SignedTransaction::from_canonical_bytes(bytes).ok().map(|t| t.tx.body.kind())
}

#[utoipa::path(post, path = "/v1/transactions/batch", request_body(content = crate::openapi::SubmitBatchDoc),
    responses((status = 200, description = "One result per transaction, in order: a receipt or an error"),
              (status = 503, description = "unavailable, or disk_low: the node's free disk is down to its ledger reserve")))]
pub(super) async fn submit_batch(
    State(s): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<BatchResults>> {
    let req: SubmitBatch = parse_json(body)?;
    let raw = batch_txs(&req)?;
    count_against_allowances(&s, peer, &raw)?;
    Ok(Json(BatchResults::from(s.submit_raw(raw).await?)))
}

/// A batch's transactions as canonical bytes, or why the batch is refused.
pub fn batch_txs(req: &SubmitBatch) -> ApiResult<Vec<Vec<u8>>> {
    if req.len() > MAX_BATCH {
        return Err(ApiError::new(
            ErrorKind::TooLarge,
            "too_large",
            format!("A batch holds at most {MAX_BATCH} transactions; this one holds {}. Send it in parts.", req.len()),
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

#[utoipa::path(put, path = "/v1/blobs", request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "Encrypted record envelope"),
    responses((status = 201, description = "Stored under its content address"), (status = 413, description = "Larger than the blob limit"),
              (status = 429, description = "The account's uploads not yet anchored by a record are at their quota"),
              (status = 503, description = "disk_low: the node's free disk is down to what it keeps for blocks")))]
pub(super) async fn put_blob(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<BlobId>), axum::response::Response> {
    use axum::response::IntoResponse;
    store_upload(&s, caller, body).await.map_err(|e| match e {
        UploadRefusal::Api(e) => e.into_response(),
        UploadRefusal::Reserve(why) => crate::limits::over_limit(ErrorKind::Unavailable, 600, "disk_low", why),
        UploadRefusal::Quota(p) => {
            // The oldest pending upload is collected at the latest when its day is up.
            let now = s.now_ms();
            let wait_ms = p.oldest_ms.map_or(0, |o| (o + s.0.limits.uploads.kept_ms).saturating_sub(now));
            crate::limits::over_limit(
                ErrorKind::RateLimited,
                wait_ms.div_ceil(1000),
                "upload_quota",
                format!(
                    "This account has {} uploads ({} MiB) that no record anchors yet, its quota ({} uploads, {} MiB). Anchor the records they are for, or wait: an upload no record anchors is removed after a day.",
                    p.count,
                    p.bytes.div_ceil(1024 * 1024),
                    s.0.limits.uploads.max_count,
                    s.0.limits.uploads.max_bytes / (1024 * 1024)
                ),
            )
        }
    })
}

enum UploadRefusal {
    Api(ApiError),
    Quota(crate::store::Pending),
    /// The disk is down to the reserve kept for blocks; why.
    Reserve(String),
}

impl From<ApiError> for UploadRefusal {
    fn from(e: ApiError) -> Self {
        UploadRefusal::Api(e)
    }
}

async fn store_upload(
    s: &AppState,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<BlobId>), UploadRefusal> {
    let bytes = body_bytes(body, MAX_BLOB_BYTES)?;
    // Only a registered account stores blobs, with a request signed over these bytes.
    let who = caller.check_body(&bytes)?;
    if s.0.ledger.head().state.account(&who).is_none_or(|a| !a.is_active()) {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "unknown_account",
            "Only a registered, active account may upload encrypted records. Register first.",
        )
        .into());
    }
    if bytes.is_empty() {
        return Err(
            ApiError::bad_request("empty_blob", "The blob is empty; upload the encrypted record envelope.").into()
        );
    }
    let id = wire::blob_id(&bytes);
    let size = bytes.len() as u64;
    if let Some(why) = short_of_reserve(s, size)? {
        return Err(UploadRefusal::Reserve(why));
    }
    let (ledger, now, quota) = (s.0.ledger.clone(), s.now_ms(), s.0.limits.uploads);
    sweep_uploads_now_and_then(s, now);
    let copy = if s.0.cluster.get().is_some() { bytes.to_vec() } else { Vec::new() };
    let stored = tokio::task::spawn_blocking(move || {
        let head = ledger.head();
        let anchored = |b: &ledger_protocol::Hash| head.state.blob_records.contains_key(b);
        ledger.store.put_upload(&id, &bytes, &who, now, quota, anchored)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::from)?;
    match stored {
        crate::store::Upload::Stored => {
            // In a cluster an upload is acknowledged once a majority of the nodes hold it, so
            // that losing this node loses no record.
            if let Some(c) = s.0.cluster.get() {
                c.replicate_blob(copy, who).await.map_err(ApiError::unavailable)?;
            }
            Ok((StatusCode::CREATED, Json(BlobId { blob: id, size })))
        }
        crate::store::Upload::OverQuota(p) => Err(UploadRefusal::Quota(p)),
    }
}

/// Why an upload of `size` bytes must be refused when it would leave less free disk than
/// the reserve (`Limits::upload_reserve_bytes`), which is for blocks: they must always
/// commit. `None` when it fits.
pub(crate) fn short_of_reserve(s: &AppState, size: u64) -> ApiResult<Option<String>> {
    let reserve = s.0.limits.upload_reserve_bytes;
    if reserve == 0 {
        return Ok(None);
    }
    let free = s.0.ledger.store.free_bytes()?;
    if free >= reserve.saturating_add(size) {
        return Ok(None);
    }
    let mib = |b: u64| b / (1024 * 1024);
    Ok(Some(format!(
        "The node's disk has {} MiB free and keeps {} MiB of it for the ledger itself, so it takes no uploads now; transactions and reads go on. The operator must free space or give the node a larger disk; try again later.",
        mib(free),
        mib(reserve)
    )))
}

/// Removes, at most every `UPLOAD_SWEEP_EVERY_MS`, the uploads no record anchored in time
/// (`Limits::uploads`; in the background: the upload that set it off does not wait).
fn sweep_uploads_now_and_then(s: &AppState, now: u64) {
    use std::sync::atomic::Ordering;
    let last = s.0.last_upload_sweep.load(Ordering::Relaxed);
    if now.saturating_sub(last) < super::UPLOAD_SWEEP_EVERY_MS
        || s.0.last_upload_sweep.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
    {
        return;
    }
    let (ledger, kept_ms) = (s.0.ledger.clone(), s.0.limits.uploads.kept_ms);
    tokio::task::spawn_blocking(move || {
        let head = ledger.head();
        let anchored = |b: &ledger_protocol::Hash| head.state.blob_records.contains_key(b);
        match ledger.store.sweep_uploads(now.saturating_sub(kept_ms), anchored) {
            Ok((0, _)) => {}
            Ok((n, bytes)) => tracing::info!(blobs = n, bytes, "removed uploads no record anchored within a day"),
            Err(e) => tracing::warn!(error = %e, "could not sweep uploads never anchored"),
        }
    });
}
