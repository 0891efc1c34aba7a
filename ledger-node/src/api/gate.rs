//! The consent gate of the blob store: a signed request is answered with the record's
//! ciphertext only for someone entitled, after the release is committed to the ledger as an
//! access event; refusals are stored for the patient to see. Under a live break-glass, an
//! escrowed emergency summary comes with its key re-wrapped for the clinician (`escrow`),
//! in the `x-record-key` header.

use super::auth::Caller;
use super::error::{body_bytes, parse_id};
use super::{ApiError, ApiResult, AppState};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ledger_protocol::rules::access_basis;
use ledger_protocol::wire::ErrorBody;
use ledger_protocol::{AccessBasis, Address, ErrorKind, Hash, TxBody};
use serde_json::json;

/// What to do with a read request.
enum Gate {
    Own(Hash),
    Allowed(Hash, ledger_protocol::AccessBasis, Option<Escrowed>),
    Refused(Address, ErrorBody),
}

/// An emergency summary's key as escrowed to this node, and the clinician's encryption key.
struct Escrowed {
    wrapped: Vec<u8>,
    reader: ledger_protocol::PublicKey,
}

#[utoipa::path(post, path = "/v1/records/{id}/read", params(("id" = String, Path)), 
    responses((status = 200, description = "The encrypted blob; the release is recorded on the ledger (header x-access-event)", content_type = "application/octet-stream"),
              (status = 401, description = "Not signed, or a bad, stale or replayed signed request"), (status = 403, description = "No live consent or break-glass; the attempt is logged"),
              (status = 404, description = "Unknown record or blob")))]
pub(super) async fn read_record(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let record_id: Hash = parse_id(&id, "record id")?;
    // The signed request (checked by `auth`: chain, this node, this path, once, in time) is
    // the reader's proof; the body, if any, must be the one signed.
    let reader = caller.check_body(&body_bytes(body, super::MAX_JSON_BYTES)?)?;
    let now = s.now_ms();
    let mut escrowed = None;
    let (blob, event) = match gate(&s, &record_id, &reader, now)? {
        Gate::Own(blob) => (blob, None),
        Gate::Refused(patient, e) => return Err(refuse(&s, patient, record_id, reader, e).await),
        Gate::Allowed(blob, basis, escrow) => {
            escrowed = escrow;
            if blob_anywhere(&s, &blob).await?.is_none() {
                return Err(ApiError::not_found("blob_not_found", "encrypted blob for this record"));
            }
            let request = caller.request().cloned().map(Box::new);
            match s.node_signer().submit(TxBody::AccessEvent { record: record_id, reader, basis, request }).await? {
                Ok(receipt) => (blob, Some(receipt.id)),
                // The access event was not committed. Only the consent gate refuses a
                // reader: asked again now, it either says why, or the fault is the node's.
                Err(e) => match gate(&s, &record_id, &reader, s.now_ms())? {
                    Gate::Refused(patient, why) => return Err(refuse(&s, patient, record_id, reader, why).await),
                    _ => {
                        tracing::error!(%record_id, code = %e.code, message = %e.message, "the node's access event was refused");
                        return Err(ApiError::new(
                            ErrorKind::Unavailable,
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
    // Only now that the break-glass read is on the ledger is the key re-wrapped.
    if let Some(e) = escrowed {
        match s.0.escrow.get().map(|k| k.rewrap(&e.wrapped, &e.reader)) {
            Some(Ok(wrapped)) => {
                if let Ok(v) = HeaderValue::from_str(&hex::encode(wrapped)) {
                    resp.headers_mut().insert("x-record-key", v);
                }
            }
            Some(Err(err)) => tracing::error!(%record_id, error = %err, "an escrowed key could not be re-wrapped"),
            None => {
                tracing::warn!(%record_id, "an emergency summary was read under break-glass, but this node has no escrow key");
                resp.headers_mut().insert("x-record-key-unavailable", HeaderValue::from_static("no-escrow-key"));
            }
        }
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
            Ok(basis) => {
                let escrowed = match basis {
                    AccessBasis::BreakGlass(_) => record
                        .keys
                        .get(&s.node_address())
                        .zip(h.state.account(reader))
                        .map(|(k, acc)| Escrowed { wrapped: k.wrapped.clone(), reader: acc.encryption_key }),
                    AccessBasis::Consent(_) => None,
                };
                Gate::Allowed(record.blob, basis, escrowed)
            }
            Err(e) => Gate::Refused(record.patient, ErrorBody::from(&e)),
        }
    })
}

/// A blob from this node's store or, in a cluster, from a peer that has it (an upload is
/// on a majority of the nodes, not always this one). A peer's copy is kept only if it hashes
/// to its id.
async fn blob_anywhere(s: &AppState, id: &Hash) -> ApiResult<Option<Vec<u8>>> {
    if let Some(b) = s.0.ledger.store.blob(id)? {
        return Ok(Some(b));
    }
    let Some(c) = s.0.cluster.get() else { return Ok(None) };
    let Some(bytes) = c.blob_from_peers(id).await else { return Ok(None) };
    s.0.ledger.store.put_blob(id, &bytes)?;
    Ok(Some(bytes))
}

/// Whether the patient's kept refusals already hold one by `reader` for `record`.
fn already_listed(kept: &[String], reader: &Address, record: &Hash) -> bool {
    let (reader, record) = (reader.to_hex(), record.to_hex());
    kept.iter()
        .filter_map(|j| serde_json::from_str::<serde_json::Value>(j).ok())
        .any(|v| v["reader"].as_str() == Some(reader.as_str()) && v["record"].as_str() == Some(record.as_str()))
}

/// Logs a refused read (store, metrics, tracing) and turns it into the 403 answer.
async fn refuse(s: &AppState, patient: Address, record: Hash, reader: Address, e: ErrorBody) -> ApiError {
    s.0.metrics.blob_refused(&e.code);
    // The patient's list shows attempts by the hospital's accounts (a deactivated one
    // included); a key that is no account cannot fill it. Another patient's attempts are
    // listed once per record: a patient account is free to make and a record's id is public,
    // so repeated attempts could otherwise push the victim's real entries out of the list
    // (the newest `MAX_REFUSALS_KEPT` are kept).
    let Some(by_patient) = s.0.ledger.head().state.account(&reader).map(|a| a.role == ledger_protocol::Role::Patient)
    else {
        tracing::debug!(%record, code = %e.code, "blob read by an unregistered key refused");
        let mut api = ApiError::from(e);
        api.kind = ErrorKind::Forbidden;
        return api;
    };
    tracing::warn!(%record, %reader, code = %e.code, "blob read refused");
    let entry =
        json!({ "at": s.now_ms() / 1000, "record": record, "reader": reader, "code": e.code, "message": e.message })
            .to_string();
    let ledger = s.0.ledger.clone();
    let logged = tokio::task::spawn_blocking(move || {
        if by_patient && already_listed(&ledger.store.refusals(&patient)?, &reader, &record) {
            return Ok(());
        }
        ledger.store.log_refusal(&patient, &entry)
    });
    match logged.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(error = %err, "could not store a refused access attempt"),
        Err(err) => tracing::error!(error = %err, "could not store a refused access attempt"),
    }
    let mut api = ApiError::from(e);
    api.kind = ErrorKind::Forbidden;
    api
}
