//! What the node answers about the chain and the people on it: transactions with their
//! inclusion proofs, blocks, accounts, and a patient's consents, records, audit trail,
//! prescriptions, claims and twin segments.

use super::error::parse_id;
use super::{ApiError, ApiResult, AppState};
use crate::ledger::now_ms;
use axum::Json;
use axum::extract::{Path, State};
use ledger_protocol::codec::Encode;
use ledger_protocol::merkle;
use ledger_protocol::state::ConsentStatus;
use ledger_protocol::wire::TxWithProof;
use ledger_protocol::{Address, ErrorKind, Hash};
use serde::Serialize;
use serde_json::json;

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
pub(super) async fn get_tx(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<TxWithProof>> {
    let id: Hash = parse_id(&id, "transaction id")?;
    Ok(Json(with_proof(&s, id)?))
}

#[derive(Serialize)]
pub(super) struct BlockView {
    hash: Hash,
    #[serde(flatten)]
    block: ledger_protocol::Block,
    tx_ids: Vec<Hash>,
    /// Each transaction's canonical bytes, hex: what clients decode and check.
    txs_hex: Vec<String>,
}

#[utoipa::path(get, path = "/v1/blocks/{height}", params(("height" = u64, Path, description = "Block height (1 is the first block)")),
    responses((status = 200, description = "The block with its hash and transaction ids"), (status = 404, description = "No such block")))]
pub(super) async fn get_block(State(s): State<AppState>, Path(height): Path<String>) -> ApiResult<Json<BlockView>> {
    let height: u64 = parse_id(&height, "block height")?;
    let block = s.0.ledger.store.block(height)?.ok_or_else(|| ApiError::not_found("block_not_found", "block"))?;
    let txs_hex = block.txs.iter().map(|t| hex::encode(t.to_canonical_bytes())).collect();
    Ok(Json(BlockView { hash: block.hash(), tx_ids: block.tx_ids(), txs_hex, block }))
}

#[utoipa::path(get, path = "/v1/blocks/head", responses((status = 200, description = "The newest block"), (status = 404, description = "No block yet")))]
pub(super) async fn head_block(State(s): State<AppState>) -> ApiResult<Json<BlockView>> {
    let height = s.0.ledger.head().tip.height;
    get_block(State(s), Path(height.to_string())).await
}

#[utoipa::path(get, path = "/v1/accounts/{address}", params(("address" = String, Path, description = "Account address (hex)")),
    responses((status = 200, description = "Role, name, keys and last nonce"), (status = 404, description = "Not registered")))]
pub(super) async fn get_account(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<ledger_protocol::state::Account>> {
    let a: Address = parse_id(&a, "address")?;
    s.0.ledger.head().state.account(&a).cloned().map(Json).ok_or_else(|| {
        ApiError::new(ErrorKind::NotFound, "unknown_account", "No account with that address is registered.")
    })
}

#[utoipa::path(get, path = "/v1/accounts/{address}/training-runs", params(("address" = String, Path, description = "Account address (hex)")),
    responses((status = 200, description = "The training runs the account saved, newest first")))]
pub(super) async fn training_runs(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<ledger_protocol::state::TrainingRun>>> {
    let a: Address = parse_id(&a, "address")?;
    let h = s.0.ledger.head();
    let ids = h.state.runs_by_trainee.get(&a).map(Vec::as_slice).unwrap_or_default();
    Ok(Json(ids.iter().rev().filter_map(|id| h.state.training_runs.get(id).cloned()).collect()))
}

#[utoipa::path(get, path = "/v1/accounts", responses((status = 200, description = "Registered providers and authorities (patients are not listed)")))]
pub(super) async fn list_accounts(State(s): State<AppState>) -> Json<Vec<ledger_protocol::state::Account>> {
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
        _ => Err(ApiError::new(ErrorKind::NotFound, "unknown_patient", "No patient with that address is registered.")),
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
pub(super) struct ConsentView {
    #[serde(flatten)]
    consent: ledger_protocol::state::Consent,
    status: ConsentStatus,
}

#[utoipa::path(get, path = "/v1/patients/{address}/consents", params(("address" = String, Path)),
    responses((status = 200, description = "Every consent the patient granted, newest first, with its status now")))]
pub(super) async fn patient_consents(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<ConsentView>>> {
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
pub(super) async fn patient_records(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<ledger_protocol::state::Record>>> {
    newest_first(&s, &a, |i| &i.records, |st, id| st.records.get(id).cloned())
}

#[utoipa::path(get, path = "/v1/patients/{address}/audit", params(("address" = String, Path)),
    responses((status = 200, description = "Who read the patient's data (access events and break-glass, newest first) and refused attempts")))]
pub(super) async fn patient_audit(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
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
pub(super) async fn patient_prescriptions(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<ledger_protocol::state::Prescription>>> {
    newest_first(&s, &a, |i| &i.prescriptions, |st, id| st.prescriptions.get(id).cloned())
}

#[utoipa::path(get, path = "/v1/patients/{address}/claims", params(("address" = String, Path)),
    responses((status = 200, description = "Claims about the patient's care, newest first")))]
pub(super) async fn patient_claims(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<ledger_protocol::state::Claim>>> {
    newest_first(&s, &a, |i| &i.claims, |st, id| st.claims.get(id).cloned())
}

#[utoipa::path(get, path = "/v1/grantees/{address}/consents", params(("address" = String, Path, description = "A provider's address")),
    responses((status = 200, description = "Consents granted to this provider, newest first, with their status now")))]
pub(super) async fn grantee_consents(
    State(s): State<AppState>,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<ConsentView>>> {
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
pub(super) async fn insurer_claims(
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
pub(super) async fn get_prescription(
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
pub(super) async fn get_record(
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
pub(super) async fn record_segments(
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
