//! Ordering in a cluster. On the leader, a producer task cuts blocks as the single node
//! does, on a copy of the state that runs ahead of what is applied (so a few blocks can be
//! in flight), and proposes each through Raft; a transaction is acknowledged only once its
//! block is committed by a majority and applied here. A follower forwards what it is given
//! to the leader's Raft port. Without a leader, or a leader without a majority behind it,
//! writes are refused in words instead of waiting on something that cannot commit.

use super::state_machine::LocalProposals;
use super::types::{Applied, BlockProposal, NodeId, Raft};
use crate::api::BatchResults;
use crate::ledger::{
    BlockClock, BlockConfig, Built, Gather, Head, Ledger, OrderError, OrderFuture, Orderer, Outcome, Pending,
    build_block,
};
use crate::metrics::Metrics;
use ledger_protocol::codec::Encode;
use ledger_protocol::wire::{BatchItem, ErrorBody, SubmitBatch};
use ledger_protocol::{ChainTip, VerifiedTx};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Blocks proposed but not yet applied, at most.
const IN_FLIGHT: u32 = 4;
/// How long a proposed block may take to commit before the clients are told.
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(5);
/// A leader that has not heard from a majority for this long refuses writes.
const QUORUM_STALE_MS: u64 = 1500;

/// What the orderer and the API share about this node's place in the cluster.
pub struct ClusterOrderer {
    pub id: NodeId,
    pub raft: Raft,
    producer: mpsc::Sender<Pending>,
    /// The one client for everything this node asks its peers (one connection pool, over
    /// mutual TLS with this node's identity).
    pub http: reqwest::Client,
}

impl ClusterOrderer {
    /// Starts the block producer for this node (its id is the engine's).
    pub fn start(
        raft: Raft,
        ledger: Arc<Ledger>,
        key: k256::ecdsa::SigningKey,
        cfg: BlockConfig,
        local: Arc<LocalProposals>,
        metrics: Arc<Metrics>,
        http: reqwest::Client,
    ) -> Arc<Self> {
        let id = raft.metrics().borrow().id;
        let (tx, rx) = mpsc::channel(cfg.max_queued.max(1));
        let p = Producer {
            id,
            raft: raft.clone(),
            ledger,
            key,
            cfg,
            local,
            metrics,
            resync: Arc::new(AtomicBool::new(true)),
            clock: BlockClock::new(crate::ledger::system_clock(), crate::ledger::NodeClock::default()),
        };
        tokio::spawn(p.run(rx));
        Arc::new(ClusterOrderer { id, raft, producer: tx, http })
    }

    /// Orders on this node, which must be the leader with a majority behind it.
    pub fn submit_as_leader(&self, txs: Vec<VerifiedTx>) -> OrderFuture {
        let check = self.leader_check();
        let (reply, rx) = oneshot::channel();
        let sent = check.clone().map(|()| self.producer.try_send(Pending { txs, reply }));
        let self_max = self.producer.max_capacity();
        Box::pin(async move {
            match sent {
                Err(e) => Err(e),
                Ok(Err(mpsc::error::TrySendError::Full(_))) => Err(crate::ledger::queue_full(self_max)),
                Ok(Err(mpsc::error::TrySendError::Closed(_))) => {
                    Err(OrderError::Unavailable("the block producer has stopped".into()))
                }
                Ok(Ok(())) => {
                    rx.await.unwrap_or_else(|_| Err(OrderError::Unavailable("the block producer has stopped".into())))
                }
            }
        })
    }

    /// Ok if this node leads and a majority acknowledged it recently; else why not, in words.
    pub fn leader_check(&self) -> Result<(), OrderError> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        if m.current_leader != Some(self.id) || !m.state.is_leader() {
            return Err(OrderError::Unavailable(match m.current_leader {
                Some(l) => format!("this node is not the cluster's leader (node {l} is)"),
                None => "the cluster has no leader: fewer than a majority of its nodes can reach each other".into(),
            }));
        }
        match m.millis_since_quorum_ack {
            Some(ms) if ms <= QUORUM_STALE_MS => Ok(()),
            _ => Err(OrderError::Unavailable(format!(
                "this node leads but has not heard from a majority of the cluster's {} voters for over {} ms, so it cannot commit; writes are refused until a majority is back",
                m.membership_config.membership().voter_ids().count(),
                QUORUM_STALE_MS
            ))),
        }
    }

    /// The leader's id and Raft URL, as this node knows them.
    pub fn leader(&self) -> Option<(NodeId, super::types::Peer)> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let l = m.current_leader?;
        let peer = m.membership_config.membership().get_node(&l)?.clone();
        Some((l, peer))
    }

    /// Waits until this node has applied everything the cluster had committed when asked
    /// (through the leader); else why not, in words.
    pub async fn read_barrier(&self) -> Result<(), String> {
        let timeout = Duration::from_secs(3);
        let index = if self.leader_check().is_ok() {
            return match tokio::time::timeout(timeout, self.raft.ensure_linearizable()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("A consistent read needs the leader: {e}. Try again.")),
                Err(_) => Err("The leader could not confirm it leads within 3 s. Try again.".into()),
            };
        } else {
            let Some((leader, peer)) = self.leader() else {
                return Err("A consistent read needs the cluster's leader, and there is none right now: fewer than a majority of its nodes are up. Read without ?consistent=true for this node's view, or try again.".into());
            };
            #[derive(serde::Deserialize)]
            struct ReadIndex {
                index: Option<u64>,
            }
            let resp =
                self.http.get(format!("{}/raft/read-index", peer.raft)).timeout(timeout).send().await.map_err(|e| {
                    format!("The leader (node {leader}) could not be asked for a consistent read: {e}.")
                })?;
            if !resp.status().is_success() {
                return Err(format!("The leader (node {leader}) could not serve a consistent read. Try again."));
            }
            resp.json::<ReadIndex>().await.map_err(|e| format!("The leader's answer could not be read: {e}."))?.index
        };
        self.raft
            .wait(Some(timeout))
            .applied_index_at_least(index, "consistent read")
            .await
            .map(|_| ())
            .map_err(|e| format!("This node did not catch up with the leader in time ({e}). Try again."))
    }

    async fn forward(
        http: reqwest::Client,
        leader: NodeId,
        url: String,
        txs: Vec<VerifiedTx>,
    ) -> Result<Vec<Outcome>, OrderError> {
        let n = txs.len();
        let body = SubmitBatch::new(txs.iter().map(|t| hex::encode(t.signed().to_canonical_bytes())).collect());
        let unavailable =
            |e: String| OrderError::Unavailable(format!("forwarding to the leader (node {leader}) failed: {e}"));
        let resp = http
            .post(format!("{url}/raft/submit"))
            .timeout(COMMIT_TIMEOUT + Duration::from_secs(2))
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    unavailable("the leader did not answer in time; the transactions may still be committed: look them up by id before sending them again".into())
                } else {
                    unavailable(e.to_string())
                }
            })?;
        if !resp.status().is_success() {
            let e: ErrorBody = resp.json().await.map_err(|e| unavailable(e.to_string()))?;
            return Err(OrderError::Relayed(format!("The cluster's leader (node {leader}) answered: {}", e.message)));
        }
        let results: BatchResults = resp.json().await.map_err(|e| unavailable(e.to_string()))?;
        if results.results.len() != n {
            return Err(unavailable(format!("it answered for {} of {n} transactions", results.results.len())));
        }
        Ok(results
            .results
            .into_iter()
            .map(|r| match r {
                BatchItem::Ok(receipt) => Ok(receipt),
                BatchItem::Err(e) => Err(e),
            })
            .collect())
    }
}

impl Orderer for ClusterOrderer {
    fn submit(&self, txs: Vec<VerifiedTx>) -> OrderFuture {
        if self.raft.metrics().borrow().current_leader == Some(self.id) {
            return self.submit_as_leader(txs);
        }
        match self.leader() {
            Some((leader, peer)) => Box::pin(Self::forward(self.http.clone(), leader, peer.raft, txs)),
            None => {
                let e = self.leader_check().err().unwrap_or_else(|| OrderError::Unavailable("no leader".into()));
                Box::pin(async move { Err(e) })
            }
        }
    }
}

/// The leader's block producer.
struct Producer {
    id: NodeId,
    raft: Raft,
    ledger: Arc<Ledger>,
    key: k256::ecdsa::SigningKey,
    cfg: BlockConfig,
    local: Arc<LocalProposals>,
    metrics: Arc<Metrics>,
    /// Set when a proposed block did not land as built: the copy must be taken again.
    resync: Arc<AtomicBool>,
    clock: BlockClock,
}

/// The producer's copy of the state, ahead of the applied one by the blocks in flight.
struct Shadow {
    term: u64,
    head: Head,
}

impl Producer {
    async fn run(mut self, mut rx: mpsc::Receiver<Pending>) {
        let in_flight = Arc::new(Semaphore::new(IN_FLIGHT as usize));
        let mut shadow: Option<Shadow> = None;
        let chain_id = self.ledger.genesis.chain_id.clone();
        let mut carry: Option<Pending> = None;
        loop {
            let first = match carry.take() {
                Some(p) => p,
                None => match rx.recv().await {
                    Some(p) => p,
                    None => return,
                },
            };
            let Some(mut batch) = Gather::start(first, &chain_id, self.cfg.max_txs) else { continue };
            let deadline = tokio::time::Instant::now() + self.cfg.max_wait;
            while !batch.is_full() {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(p)) => {
                        if let Some(next) = batch.offer(p) {
                            carry = Some(next);
                            break;
                        }
                    }
                    _ => break,
                }
            }
            let (leader, term) = {
                let m = self.raft.metrics();
                let m = m.borrow();
                (m.current_leader, m.current_term)
            };
            if leader != Some(self.id) {
                fail(batch, "leadership moved to another node while this was being ordered; send it again");
                shadow = None;
                continue;
            }
            let stale = shadow.as_ref().is_none_or(|s| s.term != term) || self.resync.load(Ordering::SeqCst);
            if stale {
                // Let what is in flight land, make sure everything committed before this
                // term is applied here, then copy the state to build on.
                let all = in_flight.clone().acquire_many_owned(IN_FLIGHT).await;
                let ready = tokio::time::timeout(COMMIT_TIMEOUT, self.raft.ensure_linearizable()).await;
                drop(all);
                match ready {
                    Ok(Ok(_)) => {
                        self.resync.store(false, Ordering::SeqCst);
                        let (state, tip) = self.ledger.clone_head();
                        shadow = Some(Shadow { term, head: Head { state, tip } });
                    }
                    Ok(Err(e)) => {
                        fail(
                            batch,
                            &format!("the cluster could not confirm this node's leadership ({e}); send it again"),
                        );
                        shadow = None;
                        continue;
                    }
                    Err(_) => {
                        fail(
                            batch,
                            "the cluster could not confirm this node's leadership in time: a majority may be unreachable; send it again later",
                        );
                        shadow = None;
                        continue;
                    }
                }
            }
            if let Some(e) = crate::ledger::short_of_disk(&self.ledger.store, self.cfg.disk_reserve_bytes) {
                batch.fail(e);
                continue;
            }
            let Some(sh) = shadow.as_mut() else { continue };
            let permit = match in_flight.clone().acquire_owned().await {
                Ok(p) => p,
                Err(_) => return,
            };
            self.propose(sh, batch, permit).await;
        }
    }

    /// Builds one block on the shadow state and proposes it; answers the clients when it
    /// lands. The proposal is queued to Raft here, in order; only the wait is spawned.
    async fn propose(&mut self, sh: &mut Shadow, batch: Gather, permit: tokio::sync::OwnedSemaphorePermit) {
        let timestamp_ms = self.clock.stamp(sh.head.tip.timestamp_ms);
        let requests = batch.requests();
        let Built { slots, accepted, ids, block, .. } = build_block(
            &mut sh.head,
            &requests,
            timestamp_ms,
            &self.ledger.genesis.chain_id,
            &self.key,
            &self.metrics,
            false,
        );
        let verified: Vec<VerifiedTx> = accepted.into_iter().cloned().collect();
        drop(requests);
        let Some(block) = block else {
            batch.answer(slots, None);
            return;
        };
        let height = block.header.height;
        let hash = block.hash();
        sh.head.tip = ChainTip { height, hash, timestamp_ms };
        self.local.insert(hash, verified);
        let proposal = BlockProposal(block.to_canonical_bytes());
        let queued = self.raft.client_write_ff(proposal).await;
        let (local, resync) = (self.local.clone(), self.resync.clone());
        let Ok(reply) = queued else {
            local.take(&hash);
            resync.store(true, Ordering::SeqCst);
            fail(batch, "the node's Raft engine has stopped; send it to another node");
            return;
        };
        tokio::spawn(async move {
            let result = match tokio::time::timeout(COMMIT_TIMEOUT, reply).await {
                Ok(Ok(Ok(resp))) => Ok(Ok(resp)),
                Ok(Ok(Err(e))) => Ok(Err(e.to_string())),
                Ok(Err(_)) => Ok(Err("the Raft engine dropped the proposal".to_owned())),
                Err(e) => Err(e),
            };
            local.take(&hash);
            match result {
                Ok(Ok(resp)) => match resp.data {
                    Applied::Block { height: h, hash: got } if h == height && got == hash => {
                        batch.answer(slots, Some((height, hash, &ids)));
                    }
                    other => {
                        resync.store(true, Ordering::SeqCst);
                        let why = match other {
                            Applied::Refused { reason } => format!("the cluster refused the block: {reason}"),
                            _ => "the block landed at another place in the chain".into(),
                        };
                        fail(batch, &format!("{why}; send it again"));
                    }
                },
                Ok(Err(e)) => {
                    resync.store(true, Ordering::SeqCst);
                    fail(
                        batch,
                        &format!(
                            "the cluster did not commit the block ({e}); it may still be committed: look it up by id before sending it again"
                        ),
                    );
                }
                Err(_) => {
                    resync.store(true, Ordering::SeqCst);
                    fail(
                        batch,
                        &format!(
                            "the block was not committed within {} s: a majority of the cluster may be unreachable. It may still be committed: look it up by id before sending it again",
                            COMMIT_TIMEOUT.as_secs()
                        ),
                    );
                }
            }
            drop(permit);
        });
    }
}

fn fail(batch: Gather, why: &str) {
    batch.fail(OrderError::Unavailable(why.to_owned()));
}
