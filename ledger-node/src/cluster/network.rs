//! The Raft port: JSON over HTTPS (mutual TLS, keys pinned: see `tls`) between the cluster's
//! nodes. The client half sends the engine's RPCs to a peer; the server half (`router`)
//! answers them, takes writes forwarded by followers, serves read barriers, takes the copy
//! of a blob just uploaded to a peer and serves blobs to peers, and the admin commands (add a
//! learner, promote, remove, snapshot, status), which a follower answers with the leader's
//! address (`421 not_leader`) for the administrator to ask it directly. A connection whose
//! key the cluster does not list never reaches a handler; of those that do, only members
//! reach the `/raft/` routes, and only administrators the `/admin/` ones.

use super::orderer::ClusterOrderer;
use super::types::{NodeId, Peer, Raft, TypeConfig};
use crate::api::{ApiError, AppState, BatchResults, batch_txs};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ledger_protocol::ErrorKind;
use ledger_protocol::wire::SubmitBatch;
use openraft::ChangeMembers;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Blocks sent in one AppendEntries (openraft's `max_payload_entries`).
pub const BLOCKS_PER_APPEND: u64 = 2;
/// Bytes of a snapshot in one InstallSnapshot chunk (openraft's `snapshot_max_chunk_size`).
pub const SNAPSHOT_CHUNK_BYTES: u64 = 3 * 1024 * 1024;
/// The largest AppendEntries: its blocks at their largest, in hex, and the JSON around them.
const MAX_APPEND_BODY: usize = BLOCKS_PER_APPEND as usize * 2 * ledger_protocol::block::MAX_BLOCK_BYTES + (1 << 20);
/// The largest InstallSnapshot chunk: its bytes as a JSON array (at most four characters a
/// byte) and the snapshot's metadata. Every other request on the Raft port (votes, admin
/// commands) stays within axum's default of 2 MB, a forwarded batch within the public API's
/// JSON limit.
const MAX_SNAPSHOT_BODY: usize = 4 * SNAPSHOT_CHUNK_BYTES as usize + (1 << 20);

/// Makes a client per peer; they share one connection pool (mutual TLS, as this node).
#[derive(Clone)]
pub struct Network {
    http: reqwest::Client,
}

impl Network {
    pub fn new(http: reqwest::Client) -> Network {
        Network { http }
    }
}

pub struct PeerClient {
    target: NodeId,
    url: String,
    http: reqwest::Client,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Peer) -> PeerClient {
        PeerClient { target, url: node.raft.trim_end_matches('/').to_owned(), http: self.http.clone() }
    }
}

impl PeerClient {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Peer, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let resp = self
            .http
            .post(format!("{}/raft/{path}", self.url))
            .timeout(option.hard_ttl())
            .json(req)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        if !resp.status().is_success() {
            // The peer declined before its engine saw the request (e.g. a block timed ahead
            // of its clock): a network-level failure to the engine, with the peer's words.
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            let e = std::io::Error::other(format!("node {} answered {status} to {path}: {body}", self.target));
            return Err(RPCError::Network(NetworkError::new(&e)));
        }
        let answer: Result<Resp, RaftError<NodeId, E>> =
            resp.json().await.map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Peer, RaftError<NodeId>>> {
        self.call("append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, Peer, RaftError<NodeId, InstallSnapshotError>>> {
        self.call("snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Peer, RaftError<NodeId>>> {
        self.call("vote", &rpc, &option).await
    }
}

/// What the Raft port's handlers share (the engine is `orderer.raft`).
#[derive(Clone)]
pub struct RaftPort {
    pub orderer: Arc<ClusterOrderer>,
    pub app: AppState,
    /// The keys this port accepts (members join it as the membership grows).
    pub trust: Arc<crate::tls::Trust>,
    /// The snapshot being received, checked chunk by chunk.
    pub chunks: Arc<SnapshotChunks>,
}

/// The Raft port's router: the engine's and peers' routes for members, the admin routes for
/// administrators.
pub fn router(port: RaftPort) -> Router {
    let peers = Router::new()
        .route("/raft/append", post(append).layer(DefaultBodyLimit::max(MAX_APPEND_BODY)))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot).layer(DefaultBodyLimit::max(MAX_SNAPSHOT_BODY)))
        .route("/raft/submit", post(submit).layer(DefaultBodyLimit::max(crate::api::MAX_JSON_BYTES + (1 << 16))))
        .route("/raft/read-index", get(read_index))
        .route("/raft/blob/{id}", get(blob))
        .route("/raft/blob", put(store_blob).layer(DefaultBodyLimit::max(crate::api::MAX_BLOB_BYTES)))
        .route_layer(axum::middleware::from_fn(members_only));
    let admins = Router::new()
        .route("/admin/status", get(status))
        .route("/admin/add-learner", post(add_learner))
        .route("/admin/promote", post(promote))
        .route("/admin/remove", post(remove))
        .route("/admin/snapshot", post(trigger_snapshot))
        .route_layer(axum::middleware::from_fn(admins_only));
    peers.merge(admins).with_state(port)
}

fn caller(req: &axum::extract::Request) -> Option<crate::tls::Caller> {
    req.extensions().get::<crate::tls::Caller>().copied()
}

/// The engine's routes and blobs: for the cluster's members only (an administrator's key
/// may not vote, replicate, or read a blob past the consent gate).
async fn members_only(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match caller(&req) {
        Some(crate::tls::Caller::Peer(_)) => next.run(req).await,
        who => {
            tracing::warn!(?who, path = %req.uri().path(), "refused a Raft request from a key that is not a member's");
            error(ErrorKind::Forbidden, "not_a_peer", "Only the cluster's member nodes may use the Raft routes.")
        }
    }
}

/// The admin routes: an administrator's key only (a member's is refused, whatever it sends).
async fn admins_only(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match caller(&req) {
        Some(crate::tls::Caller::Admin(_)) => next.run(req).await,
        who => {
            tracing::warn!(?who, path = %req.uri().path(), "refused an admin request without an administrator's key");
            error(
                ErrorKind::Forbidden,
                "not_admin",
                "Admin commands need an administrator's TLS certificate, one whose key pin is in this node's `admins` list (`ledger-node tls-keygen --admin` makes one).",
            )
        }
    }
}

async fn append(State(p): State<RaftPort>, Json(req): Json<AppendEntriesRequest<TypeConfig>>) -> Response {
    let proposals = req.entries.iter().filter_map(|e| match &e.payload {
        openraft::EntryPayload::Normal(b) => Some(b.0.as_slice()),
        _ => None,
    });
    if let Err(why) = refuse_blocks_from_the_future(proposals, crate::ledger::now_ms()) {
        tracing::warn!(leader = ?req.vote.leader_id(), %why, "refused to replicate a block timed ahead of this node's clock");
        return error(ErrorKind::Conflict, "block_time_ahead", why);
    }
    // Blocks are taken only with the ledger's reserve free: a log write that fails for
    // want of space would stop this node's Raft engine for good. The leader keeps sending
    // them (its heartbeats, with no entries, still reach the engine, so no election starts)
    // and this node catches up once space is back, without a restart.
    if !req.entries.is_empty()
        && let Some(e) = crate::ledger::short_of_disk(&p.app.0.ledger.store, p.app.0.limits.ledger_reserve_bytes)
    {
        tracing::warn!(entries = req.entries.len(), "took no blocks from the leader: the disk is down to its reserve");
        return ApiError::from(e).into_response();
    }
    Json(p.orderer.raft.append_entries(req).await).into_response()
}

/// A follower's own check of the blocks it is asked to replicate: none may be timed more
/// than `MAX_CLOCK_SKEW_MS` ahead of its clock. Refusing here, before the entry is in this
/// node's log, keeps the ledger deterministic (every node applies the same committed
/// entries alike): a block a majority refuses is never committed, so a leader whose clock
/// runs ahead cannot move the chain's time; its writes time out until another node leads.
pub fn refuse_blocks_from_the_future<'a>(proposals: impl Iterator<Item = &'a [u8]>, now_ms: u64) -> Result<(), String> {
    for bytes in proposals {
        // Only the header is needed; a block that does not decode is refused when applied.
        let mut r = ledger_protocol::codec::Reader::new(bytes);
        if let Ok(header) = <ledger_protocol::BlockHeader as ledger_protocol::Decode>::decode(&mut r) {
            ledger_protocol::block::check_block_time(&header, now_ms).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

async fn vote(State(p): State<RaftPort>, Json(req): Json<VoteRequest<NodeId>>) -> Response {
    Json(p.orderer.raft.vote(req).await).into_response()
}

async fn snapshot(State(p): State<RaftPort>, Json(req): Json<InstallSnapshotRequest<TypeConfig>>) -> Response {
    if let Err(why) = p.chunks.admit(&req.meta.snapshot_id, req.offset, req.data.len(), req.done) {
        tracing::warn!(leader = ?req.vote.leader_id(), %why, "refused a snapshot chunk");
        return error(ErrorKind::Malformed, "snapshot_chunk_out_of_order", why);
    }
    if let Some(e) = crate::ledger::short_of_disk(&p.app.0.ledger.store, p.app.0.limits.ledger_reserve_bytes) {
        tracing::warn!("took no snapshot from the leader: the disk is down to its reserve");
        return ApiError::from(e).into_response();
    }
    Json(p.orderer.raft.install_snapshot(req).await).into_response()
}

/// How much of the snapshot being received has arrived. A chunk must start at or before
/// that point (a chunk sent again after a timeout starts before it), never past it: the
/// engine writes a chunk at its offset into the buffer, so one far-off offset would make it
/// pad the buffer out to there and exhaust memory.
#[derive(Debug, Default)]
pub struct SnapshotChunks(std::sync::Mutex<Option<(String, u64)>>);

impl SnapshotChunks {
    pub fn admit(&self, snapshot_id: &str, offset: u64, len: usize, done: bool) -> Result<(), String> {
        let mut at = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let arrived = match &*at {
            Some((id, n)) if id == snapshot_id => *n,
            _ => 0,
        };
        if offset > arrived {
            return Err(format!(
                "A chunk of snapshot {snapshot_id} starts at byte {offset}, but only {arrived} bytes of it have arrived; chunks must follow each other."
            ));
        }
        let end = offset.saturating_add(len as u64).max(arrived);
        *at = (!done).then(|| (snapshot_id.to_owned(), end));
        Ok(())
    }
}

fn error(kind: ErrorKind, code: &str, message: impl Into<String>) -> Response {
    ApiError::new(kind, code, message).into_response()
}

/// Writes a follower forwards: ordered here only if this node leads (never forwarded again).
async fn submit(State(p): State<RaftPort>, Json(req): Json<SubmitBatch>) -> Response {
    let raw = match batch_txs(&req) {
        Ok(raw) => raw,
        Err(e) => return e.into_response(),
    };
    match p.app.order_raw(raw, &LeaderOnly(p.orderer.clone())).await {
        Ok(out) => Json(BatchResults::from(out)).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

struct LeaderOnly(Arc<ClusterOrderer>);

impl crate::ledger::Orderer for LeaderOnly {
    fn submit(&self, txs: Vec<ledger_protocol::VerifiedTx>) -> crate::ledger::OrderFuture {
        self.0.submit_as_leader(txs)
    }
}

/// A blob this node stores, for a peer asked for a record whose blob was uploaded here.
/// (The peer checks the bytes against the id, and releases them only under consent.)
async fn blob(State(p): State<RaftPort>, axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    let Ok(id) = id.parse::<ledger_protocol::Hash>() else {
        return error(ErrorKind::Malformed, "bad_request", "Not a blob id.");
    };
    match p.app.0.ledger.store.blob(&id) {
        Ok(Some(bytes)) => bytes.into_response(),
        Ok(None) => error(ErrorKind::NotFound, "blob_not_found", "This node does not hold that blob."),
        Err(e) => error(ErrorKind::Internal, "internal", e.to_string()),
    }
}

/// The header naming who uploaded a blob a peer copies here (for its quota and collection).
pub const UPLOADER: &str = "x-healthchain-uploader";

/// A copy of a blob just uploaded to a peer (before that peer acknowledges the upload): kept
/// under its id if the bytes hash to it, as a pending upload of the same account, so that it
/// is collected like the original if no record anchors it.
async fn store_blob(State(p): State<RaftPort>, headers: axum::http::HeaderMap, bytes: axum::body::Bytes) -> Response {
    let Some(uploader) =
        headers.get(UPLOADER).and_then(|v| v.to_str().ok()).and_then(|v| ledger_protocol::Address::from_hex(v).ok())
    else {
        return error(ErrorKind::Malformed, "bad_request", "A blob copy names its uploader's address.");
    };
    if bytes.is_empty() {
        return error(ErrorKind::Malformed, "empty_blob", "An empty blob.");
    }
    match crate::api::short_of_reserve(&p.app, bytes.len() as u64) {
        Ok(None) => {}
        Ok(Some(why)) => return error(ErrorKind::Unavailable, "disk_low", why),
        Err(e) => return e.into_response(),
    }
    let id = ledger_protocol::wire::blob_id(&bytes);
    let (ledger, now, kept_ms) = (p.app.0.ledger.clone(), p.app.now_ms(), p.app.0.limits.uploads.kept_ms);
    let stored = tokio::task::spawn_blocking(move || {
        let head = ledger.head();
        let anchored = |b: &ledger_protocol::Hash| head.state.blob_records.contains_key(b);
        // The uploading node applied the account's quota; a copy is not refused for it.
        let quota = crate::store::UploadQuota { max_count: u64::MAX, max_bytes: u64::MAX, kept_ms };
        ledger.store.put_upload(&id, &bytes, &uploader, now, quota, anchored)
    })
    .await;
    match stored {
        Ok(Ok(_)) => (StatusCode::CREATED, Json(serde_json::json!({ "blob": id }))).into_response(),
        Ok(Err(e)) => error(ErrorKind::Unavailable, "unavailable", e.to_string()),
        Err(e) => error(ErrorKind::Internal, "internal", e.to_string()),
    }
}

/// A read barrier on the leader: answers once everything committed when it was asked is
/// applied here, with that log index.
async fn read_index(State(p): State<RaftPort>) -> Response {
    match tokio::time::timeout(Duration::from_secs(3), p.orderer.raft.ensure_linearizable()).await {
        Ok(Ok(log_id)) => Json(serde_json::json!({ "index": log_id.map(|l| l.index) })).into_response(),
        Ok(Err(e)) => error(ErrorKind::Unavailable, "not_leader", e.to_string()),
        Err(_) => {
            error(ErrorKind::Unavailable, "unavailable", "The leader could not confirm it still leads within 3 s.")
        }
    }
}

/// This node's view of the cluster, as JSON. The public API's `/v1/cluster` has it without
/// the Raft ports' addresses and key pins (`full == false`); the admin command has them.
pub fn status_json(raft: &Raft, full: bool) -> serde_json::Value {
    let metrics = raft.metrics();
    let m = metrics.borrow();
    let membership = m.membership_config.membership();
    let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
    let members: Vec<_> = membership
        .nodes()
        .map(|(id, peer)| {
            let mut v = serde_json::json!({ "id": id, "api": peer.api, "voter": voters.contains(id) });
            if full {
                v["raft"] = peer.raft.clone().into();
                v["tls"] = peer.tls.map(|p| p.to_string()).into();
            }
            v
        })
        .collect();
    let leader = m.current_leader.and_then(|l| membership.get_node(&l).map(|p| (l, p.clone())));
    serde_json::json!({
        "mode": "cluster",
        "id": m.id,
        "state": format!("{:?}", m.state),
        "term": m.current_term,
        "leader": leader.map(|(id, p)| {
            let mut v = serde_json::json!({ "id": id, "api": p.api });
            if full {
                v["raft"] = p.raft.into();
            }
            v
        }),
        "last_log_index": m.last_log_index,
        "last_applied_index": m.last_applied.map(|l| l.index),
        "snapshot_index": m.snapshot.map(|l| l.index),
        "purged_index": m.purged.map(|l| l.index),
        "millis_since_quorum_ack": m.millis_since_quorum_ack,
        "members": members,
    })
}

async fn status(State(p): State<RaftPort>) -> Response {
    Json(status_json(&p.orderer.raft, true)).into_response()
}

#[derive(Serialize, Deserialize)]
struct LearnerReq {
    id: NodeId,
    api: String,
    raft: String,
    /// The pin of the new node's TLS key: every member accepts it from then on.
    tls: crate::tls::KeyPin,
}

#[derive(Serialize, Deserialize)]
struct IdReq {
    id: NodeId,
}

/// Runs an admin change on the leader: `None` if this node leads (go on here); else the
/// answer `421 not_leader` naming the leader's Raft port, where the administrator's client
/// sends the request again with its own certificate. Nodes never hand admin requests on:
/// a member's certificate is not an administrator's, so nothing a member sends can act as one.
fn on_leader(p: &RaftPort) -> Option<Response> {
    let m = p.orderer.raft.metrics().borrow().clone();
    if m.current_leader == Some(m.id) {
        return None;
    }
    let Some((leader, peer)) = p.orderer.leader() else {
        return Some(error(
            ErrorKind::Unavailable,
            "no_leader",
            "The cluster has no leader right now; try again when a majority of its nodes are up.",
        ));
    };
    Some(
        (
            StatusCode::MISDIRECTED_REQUEST,
            Json(serde_json::json!({
                "code": "not_leader",
                "kind": "unavailable",
                "message": format!("This node does not lead; node {leader} does: send admin commands to its Raft port, {}.", peer.raft),
                "leader_raft": peer.raft,
            })),
        )
            .into_response(),
    )
}

fn membership_answer<T: Serialize, E: std::fmt::Display>(r: Result<T, E>) -> Response {
    match r {
        Ok(_) => (StatusCode::OK, Json(serde_json::json!({ "ok": true }))).into_response(),
        Err(e) => error(ErrorKind::Conflict, "membership_refused", e.to_string()),
    }
}

/// Adds a node as a learner and waits until it has caught up (from the log or a snapshot).
async fn add_learner(State(p): State<RaftPort>, Json(req): Json<LearnerReq>) -> Response {
    if let Some(r) = on_leader(&p) {
        return r;
    }
    if !req.raft.starts_with("https://") {
        return error(
            ErrorKind::Malformed,
            "bad_request",
            "The new node's Raft URL must be https:// (the Raft port speaks mutual TLS only).",
        );
    }
    // Accepted here before the leader first calls it; the others accept it with the membership.
    p.trust.expect_peer(req.tls);
    membership_answer(
        p.orderer.raft.add_learner(req.id, Peer { api: req.api, raft: req.raft, tls: Some(req.tls) }, true).await,
    )
}

/// Makes a learner a voter.
async fn promote(State(p): State<RaftPort>, Json(req): Json<IdReq>) -> Response {
    if let Some(r) = on_leader(&p) {
        return r;
    }
    membership_answer(
        p.orderer.raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([req.id])), false).await,
    )
}

/// Removes a node from the cluster (as voter and as learner).
async fn remove(State(p): State<RaftPort>, Json(req): Json<IdReq>) -> Response {
    if let Some(r) = on_leader(&p) {
        return r;
    }
    let m = p.orderer.raft.metrics().borrow().clone();
    if m.membership_config.membership().get_node(&req.id).is_none() {
        return error(ErrorKind::NotFound, "not_member", format!("Node {} is not a member of this cluster.", req.id));
    }
    let is_voter = m.membership_config.membership().voter_ids().any(|v| v == req.id);
    if is_voter
        && let Err(e) =
            p.orderer.raft.change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([req.id])), false).await
    {
        return error(ErrorKind::Conflict, "membership_refused", e.to_string());
    }
    let m = p.orderer.raft.metrics().borrow().clone();
    if m.membership_config.membership().get_node(&req.id).is_some() {
        return membership_answer(
            p.orderer.raft.change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([req.id])), false).await,
        );
    }
    (StatusCode::OK, Json(serde_json::json!({ "ok": true }))).into_response()
}

/// Builds a snapshot on this node now (each node snapshots on its own schedule too).
async fn trigger_snapshot(State(p): State<RaftPort>) -> Response {
    match p.orderer.raft.trigger().snapshot().await {
        Ok(()) => Json(serde_json::json!({ "ok": true })).into_response(),
        Err(e) => error(ErrorKind::Unavailable, "unavailable", e.to_string()),
    }
}
