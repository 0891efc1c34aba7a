//! What the node answers about the chain and the people on it, each to whom `entitled` lets
//! see it: transactions with their inclusion proofs (to their parties), blocks (their public
//! part to anyone, whole to the hospital), accounts (staff are the public directory), and a
//! patient's consents, records, audit trail, prescriptions, claims and twin segments.

use super::auth::Caller;
use super::entitled::{self, not_entitled};
use super::error::parse_id;
use super::{ApiError, ApiResult, AppState};
use axum::extract::{Path, State};
use axum::{Extension, Json};
use ledger_protocol::codec::Encode;
use ledger_protocol::merkle;
use ledger_protocol::state::{Account, Claim, Consent, ConsentStatus, Prescription, Record, TrainingRun, TwinSegment};
use ledger_protocol::wire::TxWithProof;
use ledger_protocol::{Address, BlockHeader, ErrorKind, Hash, Role, Signature, TxKind};
use serde::Serialize;
use serde_json::json;

type Who = Extension<Caller>;

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
    responses((status = 200, description = "The transaction, its block header and its Merkle inclusion proof, to the parties it concerns"),
              (status = 401, description = "Not signed"), (status = 403, description = "Not a party"), (status = 404, description = "Unknown id")))]
pub(super) async fn get_tx(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(id): Path<String>,
) -> ApiResult<Json<TxWithProof>> {
    let who = caller.required()?;
    let id: Hash = parse_id(&id, "transaction id")?;
    let found = with_proof(&s, id)?;
    if !entitled::may_see_tx(&s.0.ledger.head().state, &found.id, &found.tx.tx, &who, s.now_ms() / 1000) {
        return Err(not_entitled("this transaction"));
    }
    Ok(Json(found))
}

/// A block as anyone may see it: its header and signature (which anyone can check), and for
/// each transaction its id, kind and size; the transactions themselves only to the hospital.
#[derive(Serialize)]
pub(super) struct BlockView {
    hash: Hash,
    header: BlockHeader,
    signature: Signature,
    tx_ids: Vec<Hash>,
    kinds: Vec<TxKind>,
    sizes: Vec<u32>,
    /// Each transaction's canonical bytes, hex: to the hospital's authority only.
    #[serde(skip_serializing_if = "Option::is_none")]
    txs_hex: Option<Vec<String>>,
}

#[utoipa::path(get, path = "/v1/blocks/{height}", params(("height" = u64, Path, description = "Block height (1 is the first block)")),
    responses((status = 200, description = "The block's public part (header, ids, kinds, sizes); whole to the hospital's authority"), (status = 404, description = "No such block")))]
pub(super) async fn get_block(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(height): Path<String>,
) -> ApiResult<Json<BlockView>> {
    let height: u64 = parse_id(&height, "block height")?;
    let block = s.0.ledger.store.block(height)?.ok_or_else(|| ApiError::not_found("block_not_found", "block"))?;
    let whole = caller.address().is_some_and(|a| entitled::is_authority(&s.0.ledger.head().state, &a));
    let bytes: Vec<Vec<u8>> = block.txs.iter().map(Encode::to_canonical_bytes).collect();
    Ok(Json(BlockView {
        hash: block.hash(),
        tx_ids: block.tx_ids(),
        kinds: block.txs.iter().map(|t| t.tx.body.kind()).collect(),
        sizes: bytes.iter().map(|b| u32::try_from(b.len()).unwrap_or(u32::MAX)).collect(),
        txs_hex: whole.then(|| bytes.iter().map(hex::encode).collect()),
        header: block.header,
        signature: block.signature,
    }))
}

#[utoipa::path(get, path = "/v1/blocks/head", responses((status = 200, description = "The newest block, as /v1/blocks/{height}"), (status = 404, description = "No block yet")))]
pub(super) async fn head_block(State(s): State<AppState>, caller: Who) -> ApiResult<Json<BlockView>> {
    let height = s.0.ledger.head().tip.height;
    get_block(State(s), caller, Path(height.to_string())).await
}

#[utoipa::path(get, path = "/v1/accounts/{address}", params(("address" = String, Path, description = "Account address, or the address of a key it was given (hex)")),
    responses((status = 200, description = "Role, name, licence, keys and last nonce (a patient's only to those entitled)"),
              (status = 401, description = "Not signed"), (status = 403, description = "Not entitled"), (status = 404, description = "Your own account is not registered")))]
pub(super) async fn get_account(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(a): Path<String>,
) -> ApiResult<Json<Account>> {
    let a: Address = parse_id(&a, "address")?;
    let h = s.0.ledger.head();
    let who = caller.address();
    // A key's address names the account the key signs (or signed) for: a wallet given new
    // keys by the hospital finds its account by its own key.
    let a = h.state.key_accounts.get(&a).copied().unwrap_or(a);
    match h.state.account(&a) {
        Some(acc) if entitled::may_see_account(&h.state, acc, who.as_ref(), s.now_ms() / 1000) => Ok(Json(acc.clone())),
        // Nobody learns from the answer whether someone else is a patient here.
        _ if who.is_none() => Err(caller.required().unwrap_err()),
        None if who.is_some_and(|w| w == a || entitled::is_authority(&h.state, &w)) => {
            Err(ApiError::new(ErrorKind::NotFound, "unknown_account", "No account with that address is registered."))
        }
        _ => Err(not_entitled("this account")),
    }
}

#[utoipa::path(get, path = "/v1/accounts/{address}/training-runs", params(("address" = String, Path, description = "Account address (hex)")),
    responses((status = 200, description = "The training runs the account saved, newest first, to the trainee, the hospital's clinicians and the hospital")))]
pub(super) async fn training_runs(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<TrainingRun>>> {
    let who = caller.required()?;
    let a: Address = parse_id(&a, "address")?;
    let h = s.0.ledger.head();
    if !entitled::may_see_training(&h.state, &a, &who) {
        return Err(not_entitled("these training runs"));
    }
    let ids = h.state.runs_by_trainee.get(&a).map(Vec::as_slice).unwrap_or_default();
    Ok(Json(ids.iter().rev().filter_map(|id| h.state.training_runs.get(id).cloned()).collect()))
}

#[utoipa::path(get, path = "/v1/accounts", responses((status = 200, description = "The hospital's directory: registered staff and authorities (patients are never listed)")))]
pub(super) async fn list_accounts(State(s): State<AppState>) -> Json<Vec<Account>> {
    let h = s.0.ledger.head();
    let mut v: Vec<_> = h.state.accounts.values().filter(|a| a.role != Role::Patient).cloned().collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Json(v)
}

/// The signed-in caller and the patient a path names. Anyone not entitled to anything about
/// that address (registered or not) gets the same refusal.
fn caller_and_patient(caller: &Caller, a: &str) -> ApiResult<(Address, Address)> {
    let who = caller.required()?;
    Ok((who, parse_id(a, "address")?))
}

/// A patient's items of one kind that `who` may see, newest first; refused when `who` may see
/// none of them and has no live relationship with the patient.
fn visible<T>(
    s: &AppState,
    who: &Address,
    patient: &Address,
    ids: impl Fn(&ledger_protocol::state::PatientIndex) -> &[Hash],
    get: impl Fn(&ledger_protocol::State, &Hash) -> Option<T>,
    may: impl Fn(&ledger_protocol::State, &T) -> bool,
    what: &str,
) -> ApiResult<Json<Vec<T>>> {
    let h = s.0.ledger.head();
    let list = h.state.patient_index(patient).map(ids).unwrap_or_default();
    let out: Vec<T> = list.iter().rev().filter_map(|id| get(&h.state, id)).filter(|x| may(&h.state, x)).collect();
    let now = s.now_ms() / 1000;
    if out.is_empty()
        && !entitled::sees_all_of(&h.state, patient, who)
        && !entitled::relates(&h.state, patient, who, now)
    {
        return Err(entitled::refusal(&h.state, patient, who, now, what));
    }
    Ok(Json(out))
}

#[derive(Serialize)]
pub(super) struct ConsentView {
    #[serde(flatten)]
    consent: Consent,
    status: ConsentStatus,
}

#[utoipa::path(get, path = "/v1/patients/{address}/consents", params(("address" = String, Path)),
    responses((status = 200, description = "The patient's consents, newest first, with their status now: all of them to the patient, a grantee's own to the grantee"),
              (status = 401, description = "Not signed"), (status = 403, description = "Not entitled")))]
pub(super) async fn patient_consents(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<ConsentView>>> {
    let (who, patient) = caller_and_patient(&caller, &a)?;
    let now = s.now_ms() / 1000;
    let all = entitled::sees_all_of(&s.0.ledger.head().state, &patient, &who);
    let Json(v) = visible(
        &s,
        &who,
        &patient,
        |i| &i.consents,
        |st, id| st.consents.get(id).map(|c| ConsentView { status: c.status(now), consent: c.clone() }),
        |_, c| all || c.consent.grantee == who,
        "this patient's consents",
    )?;
    if v.is_empty() && !all {
        return Err(not_entitled("this patient's consents"));
    }
    Ok(Json(v))
}

#[utoipa::path(get, path = "/v1/patients/{address}/records", params(("address" = String, Path)),
    responses((status = 200, description = "The patient's anchored records the caller may see, newest first"),
              (status = 401, description = "Not signed"), (status = 403, description = "Not entitled")))]
pub(super) async fn patient_records(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<Record>>> {
    let (who, patient) = caller_and_patient(&caller, &a)?;
    let now = s.now_ms() / 1000;
    visible(
        &s,
        &who,
        &patient,
        |i| &i.records,
        |st, id| st.records.get(id).cloned(),
        |st, r| entitled::may_see_record(st, r, &who, now),
        "this patient's records",
    )
}

#[utoipa::path(get, path = "/v1/patients/{address}/audit", params(("address" = String, Path)),
    responses((status = 200, description = "Who read the patient's data (access events and break-glass, newest first) and refused attempts: to the patient and the hospital"),
              (status = 401, description = "Not signed"), (status = 403, description = "Not entitled")))]
pub(super) async fn patient_audit(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(a): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let (who, patient) = caller_and_patient(&caller, &a)?;
    let entries: Vec<_> = {
        let h = s.0.ledger.head();
        if !entitled::sees_all_of(&h.state, &patient, &who) {
            return Err(not_entitled("this patient's audit trail"));
        }
        h.state.patient_index(&patient).map(|i| i.audit.iter().rev().cloned().collect()).unwrap_or_default()
    };
    let refused: Vec<serde_json::Value> =
        s.0.ledger.store.refusals(&patient)?.iter().rev().filter_map(|j| serde_json::from_str(j).ok()).collect();
    Ok(Json(json!({ "entries": entries, "refused": refused })))
}

#[utoipa::path(get, path = "/v1/patients/{address}/prescriptions", params(("address" = String, Path)),
    responses((status = 200, description = "The patient's prescriptions the caller may see, newest first"),
              (status = 401, description = "Not signed"), (status = 403, description = "Not entitled")))]
pub(super) async fn patient_prescriptions(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<Prescription>>> {
    let (who, patient) = caller_and_patient(&caller, &a)?;
    let now = s.now_ms() / 1000;
    visible(
        &s,
        &who,
        &patient,
        |i| &i.prescriptions,
        |st, id| st.prescriptions.get(id).cloned(),
        |st, p| entitled::may_see_prescription(st, p, &who, now),
        "this patient's prescriptions",
    )
}

#[utoipa::path(get, path = "/v1/patients/{address}/claims", params(("address" = String, Path)),
    responses((status = 200, description = "Claims about the patient's care the caller is party to, newest first"),
              (status = 401, description = "Not signed"), (status = 403, description = "Not entitled")))]
pub(super) async fn patient_claims(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<Claim>>> {
    let (who, patient) = caller_and_patient(&caller, &a)?;
    visible(
        &s,
        &who,
        &patient,
        |i| &i.claims,
        |st, id| st.claims.get(id).cloned(),
        |st, c| entitled::may_see_claim(st, c, &who),
        "this patient's claims",
    )
}

/// Only `a` themselves, while active (or the hospital), may list what is addressed to `a`.
fn only_themselves(s: &AppState, caller: &Caller, a: &str, what: &str) -> ApiResult<Address> {
    let who = caller.required()?;
    let a: Address = parse_id(a, "address")?;
    let state = &s.0.ledger.head().state;
    let entitled = entitled::is_authority(state, &who) || (who == a && entitled::is_active(state, &who));
    if !entitled {
        return Err(not_entitled(what));
    }
    Ok(a)
}

#[utoipa::path(get, path = "/v1/grantees/{address}/consents", params(("address" = String, Path, description = "A provider's address")),
    responses((status = 200, description = "Consents granted to this provider, newest first, with their status now: to the provider only")))]
pub(super) async fn grantee_consents(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<ConsentView>>> {
    let a = only_themselves(&s, &caller, &a, "another provider's consents")?;
    let now = s.now_ms() / 1000;
    let h = s.0.ledger.head();
    let ids = h.state.consents_by_grantee.get(&a).map_or(&[][..], Vec::as_slice);
    let mut v: Vec<_> = ids
        .iter()
        .filter_map(|id| h.state.consents.get(id))
        .map(|c| ConsentView { status: c.status(now), consent: c.clone() })
        .collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.consent.granted_at));
    Ok(Json(v))
}

#[utoipa::path(get, path = "/v1/insurers/{address}/claims", params(("address" = String, Path, description = "An insurer's address")),
    responses((status = 200, description = "Claims addressed to this insurer, newest first: to the insurer only")))]
pub(super) async fn insurer_claims(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(a): Path<String>,
) -> ApiResult<Json<Vec<Claim>>> {
    let a = only_themselves(&s, &caller, &a, "another insurer's claims")?;
    let h = s.0.ledger.head();
    let ids = h.state.claims_by_insurer.get(&a).map_or(&[][..], Vec::as_slice);
    let mut v: Vec<_> = ids.iter().filter_map(|id| h.state.claims.get(id)).cloned().collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.submitted_at));
    Ok(Json(v))
}

/// How far back the hospital's review list of break-glass accesses goes.
const BREAK_GLASS_REVIEW_DAYS: u64 = 7;

#[utoipa::path(get, path = "/v1/break-glass",
    responses((status = 200, description = "The break-glass accesses of the last 7 days, newest first, for the hospital's review: to its authorities and administrators only"),
              (status = 403, description = "Not an authority or an administrator")))]
pub(super) async fn break_glass_review(
    State(s): State<AppState>,
    Extension(caller): Who,
) -> ApiResult<Json<Vec<ledger_protocol::state::BreakGlassGrant>>> {
    let who = caller.required()?;
    let h = s.0.ledger.head();
    if !entitled::reviews_break_glass(&h.state, &who) {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            "not_entitled",
            "Only the hospital's authorities and administrators review break-glass accesses.",
        ));
    }
    let since = (s.now_ms() / 1000).saturating_sub(BREAK_GLASS_REVIEW_DAYS * 24 * 3600);
    let v = h
        .state
        .break_glass_in_order
        .iter()
        .rev()
        .filter_map(|id| h.state.break_glass.get(id))
        .take_while(|b| b.from >= since)
        .cloned()
        .collect();
    Ok(Json(v))
}

#[utoipa::path(get, path = "/v1/prescriptions/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "A prescription and whether it was dispensed, to its patient, prescriber and pharmacy"), (status = 404, description = "Unknown")))]
pub(super) async fn get_prescription(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(id): Path<String>,
) -> ApiResult<Json<Prescription>> {
    let who = caller.required()?;
    let id: Hash = parse_id(&id, "prescription id")?;
    let h = s.0.ledger.head();
    let p =
        h.state.prescriptions.get(&id).ok_or_else(|| ApiError::not_found("prescription_not_found", "prescription"))?;
    if !entitled::may_see_prescription(&h.state, p, &who, s.now_ms() / 1000) {
        return Err(not_entitled("this prescription"));
    }
    Ok(Json(p.clone()))
}

/// A record `who` may see.
fn seen_record(s: &AppState, caller: &Caller, id: &str) -> ApiResult<(Hash, Record)> {
    let who = caller.required()?;
    let id: Hash = parse_id(id, "record id")?;
    let h = s.0.ledger.head();
    let r = h.state.records.get(&id).ok_or_else(|| ApiError::not_found("record_not_found", "record"))?;
    let now = s.now_ms() / 1000;
    if !entitled::may_see_record(&h.state, r, &who, now) {
        return Err(entitled::refusal(&h.state, &r.patient, &who, now, "this record"));
    }
    Ok((id, r.clone()))
}

#[utoipa::path(get, path = "/v1/records/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "A record's anchor: hashes, class, blob id and wrapped keys, to those who may read it"), (status = 404, description = "Unknown")))]
pub(super) async fn get_record(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(id): Path<String>,
) -> ApiResult<Json<Record>> {
    Ok(Json(seen_record(&s, &caller, &id)?.1))
}

#[utoipa::path(get, path = "/v1/records/{id}/segments", params(("id" = String, Path)),
    responses((status = 200, description = "The twin segment hashes anchored for the case this record holds, in stage, stream and time order"),
              (status = 404, description = "Unknown record")))]
pub(super) async fn record_segments(
    State(s): State<AppState>,
    Extension(caller): Who,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<TwinSegment>>> {
    let (id, record) = seen_record(&s, &caller, &id)?;
    let h = s.0.ledger.head();
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
