//! The submission service: transactions and batches (verified on arrival, ordered, answered
//! once durable) and encrypted blob uploads.

use super::auth::Caller;
use super::error::{body_bytes, parse_hex_tx, parse_json};
use super::{ApiError, ApiResult, AppState, MAX_BATCH, MAX_BLOB_BYTES};
use crate::ledger::Outcome;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::{Extension, Json};
use ledger_protocol::ErrorKind;
use ledger_protocol::wire::{self, BatchItem, BlobId, Receipt, SubmitBatch, SubmitTx};
use serde::Serialize;

fn one_outcome(outcome: Outcome) -> ApiResult<Json<Receipt>> {
    outcome.map(Json).map_err(ApiError::from)
}

#[utoipa::path(post, path = "/v1/transactions", request_body(content = crate::openapi::SubmitTxDoc),
    responses((status = 200, description = "Durably committed; the receipt names the block"),
              (status = 400, description = "Malformed JSON or transaction", body = crate::openapi::ErrorDoc),
              (status = 401, description = "Bad signature"), (status = 403, description = "Not allowed by the consent rules"),
              (status = 409, description = "Stale nonce or already done"), (status = 413, description = "Too large")))]
pub(super) async fn submit_tx(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Receipt>> {
    let req: SubmitTx = parse_json(body)?;
    let raw = parse_hex_tx(&req.tx)?;
    one_outcome(s.submit_one(raw).await?)
}

#[utoipa::path(post, path = "/v1/transactions/batch", request_body(content = crate::openapi::SubmitBatchDoc),
    responses((status = 200, description = "One result per transaction, in order: a receipt or an error")))]
pub(super) async fn submit_batch(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<BatchResults>> {
    let req: SubmitBatch = parse_json(body)?;
    let raw = batch_txs(&req)?;
    Ok(Json(BatchResults::from(s.submit_raw(raw).await?)))
}

/// A batch's transactions as canonical bytes, or why the batch is refused.
pub fn batch_txs(req: &SubmitBatch) -> ApiResult<Vec<Vec<u8>>> {
    if req.txs.len() > MAX_BATCH {
        return Err(ApiError::new(
            ErrorKind::TooLarge,
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

#[utoipa::path(put, path = "/v1/blobs", request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "Encrypted record envelope"),
    responses((status = 201, description = "Stored under its content address"), (status = 413, description = "Larger than the blob limit")))]
pub(super) async fn put_blob(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<BlobId>)> {
    let bytes = body_bytes(body, MAX_BLOB_BYTES)?;
    // Only a registered account stores blobs, with a request signed over these bytes.
    let who = caller.check_body(&bytes)?;
    if s.0.ledger.head().state.account(&who).is_none_or(|a| !a.is_active()) {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "unknown_account",
            "Only a registered, active account may upload encrypted records. Register first.",
        ));
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request("empty_blob", "The blob is empty; upload the encrypted record envelope."));
    }
    let id = wire::blob_id(&bytes);
    let size = bytes.len() as u64;
    let ledger = s.0.ledger.clone();
    tokio::task::spawn_blocking(move || ledger.store.put_blob(&id, &bytes)).await.map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(BlobId { blob: id, size })))
}
