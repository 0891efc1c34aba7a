//! The node's ledger: state rebuilt and re-verified from the stored chain at start, and the
//! ordering seam (`Orderer`) where verified transactions become durable blocks. The
//! single-node `LocalOrderer` cuts a block by size or time, applies the rules, commits the
//! block in one redb transaction, and only then acknowledges. Blocks made elsewhere (a
//! cluster's leader, a snapshot) enter only through `apply_block_from_peer`, which checks
//! them whole and changes nothing if they fail.

use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use crate::verify;
use ledger_protocol::block::{apply_block, verify_header};
use ledger_protocol::wire::{ErrorBody, Receipt};
use ledger_protocol::{Block, ChainError, ChainTip, Genesis, Hash, State, VerifiedTx, apply};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

/// The state and the tip it corresponds to; they always change together.
pub struct Head {
    pub state: State,
    pub tip: ChainTip,
}

pub struct Ledger {
    pub genesis: Genesis,
    pub store: Store,
    head: RwLock<Head>,
    failed: AtomicBool,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored chain does not verify: {0}")]
    Chain(#[from] ChainError),
}

impl Ledger {
    /// Opens the store and replays every block from genesis, re-verifying the hash chain,
    /// every producer signature, every transaction signature and every rule.
    pub fn open(dir: &std::path::Path, genesis: Genesis) -> Result<Self, OpenError> {
        let store = Store::open(dir, &genesis)?;
        let head = replay(&store, &genesis)?;
        Ok(Ledger { genesis, store, head: RwLock::new(head), failed: AtomicBool::new(false) })
    }

    /// Checks a block that came from elsewhere (a Raft log entry or a snapshot) against the
    /// tip: height, link, time, producer signature, Merkle root, every transaction signature
    /// (except those in `preverified`, which this process verified itself and whose ids the
    /// block's hash covers) and every rule. If all pass, the block is stored together with
    /// `meta` in one commit and becomes the tip; if any fails, nothing changes and the
    /// reason is returned. The outer error is the disk's.
    pub fn apply_block_from_peer(
        &self,
        block: &Block,
        preverified: Option<Vec<VerifiedTx>>,
        meta: &[(&str, &[u8])],
    ) -> Result<Result<ChainTip, ChainError>, StoreError> {
        let tip = self.head().tip.clone();
        if let Err(e) = verify_header(&self.genesis, &tip, block, &verify::Secp256k1Verifier) {
            return Ok(Err(e));
        }
        let ids = block.tx_ids();
        let verified = match preverified {
            Some(v) if v.len() == block.txs.len() && v.iter().zip(&ids).all(|(t, id)| t.id() == *id) => v,
            _ => match verify_block_txs(block) {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            },
        };
        let mut head = self.head.write().unwrap_or_else(|p| p.into_inner());
        if head.tip != tip {
            // Only the one applier writes blocks; if that ever breaks, stop rather than
            // record a refusal that other nodes would not make.
            return Err(StoreError::Db("the chain's tip moved while a block was being checked".into()));
        }
        let mut new_tip = head.tip.clone();
        if let Err(e) = apply_block(&mut head.state, &mut new_tip, block, &verified) {
            // A transaction broke a rule part-way: the state holds the effects of the ones
            // before it. Rebuild it from the stored chain, which this block never reached.
            tracing::warn!(error = %e, "refused a replicated block; rebuilding the state from the stored chain");
            *head = replay(&self.store, &self.genesis).map_err(|e| StoreError::Db(e.to_string()))?;
            return Ok(Err(e));
        }
        if let Err(e) = self.store.append_block_with_meta(block, &ids, meta) {
            self.failed.store(true, Ordering::SeqCst);
            return Err(e);
        }
        head.tip = new_tip.clone();
        Ok(Ok(new_tip))
    }

    /// Adds `blocks`, the next ones after the tip in order (from a snapshot), each checked as
    /// `apply_block_from_peer` checks one, and `meta`, all in one commit: all or nothing.
    pub fn install_blocks(
        &self,
        blocks: &[Block],
        meta: &[(&str, &[u8])],
    ) -> Result<Result<ChainTip, ChainError>, StoreError> {
        let (mut state, mut tip) = self.clone_head();
        let start = tip.clone();
        let mut ids = Vec::with_capacity(blocks.len());
        for block in blocks {
            if let Err(e) = verify_header(&self.genesis, &tip, block, &verify::Secp256k1Verifier) {
                return Ok(Err(e));
            }
            let verified = match verify_block_txs(block) {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            if let Err(e) = apply_block(&mut state, &mut tip, block, &verified) {
                return Ok(Err(e));
            }
            ids.push(block.tx_ids());
        }
        let mut head = self.head.write().unwrap_or_else(|p| p.into_inner());
        if head.tip != start {
            return Err(StoreError::Db("the chain's tip moved while a snapshot was being installed".into()));
        }
        let batch: Vec<(&Block, &[Hash])> = blocks.iter().zip(&ids).map(|(b, i)| (b, i.as_slice())).collect();
        if let Err(e) = self.store.append_blocks_with_meta(&batch, meta) {
            self.failed.store(true, Ordering::SeqCst);
            return Err(e);
        }
        *head = Head { state, tip: tip.clone() };
        Ok(Ok(tip))
    }

    /// A consistent view of state and tip. Hold it briefly and never across an await.
    pub fn head(&self) -> RwLockReadGuard<'_, Head> {
        self.head.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of state and tip, for a block producer that builds ahead of what is applied.
    pub fn clone_head(&self) -> (State, ChainTip) {
        let h = self.head();
        (h.state.clone(), h.tip.clone())
    }

    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }
}

/// Why the orderer could not take transactions.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OrderError {
    #[error("the node cannot commit right now: {0}. Try again later or contact the hospital's administrator.")]
    Unavailable(String),
    /// The cluster's leader refused, in its own words (already a whole sentence).
    #[error("{0}")]
    Relayed(String),
}

/// What happened to one submitted transaction: its receipt, or why it was refused (a
/// rule's stable code and sentence, possibly given by the cluster's leader).
pub type Outcome = Result<Receipt, ErrorBody>;
pub type OrderFuture = Pin<Box<dyn Future<Output = Result<Vec<Outcome>, OrderError>> + Send>>;

/// The ordering seam: verified transactions in, durable receipts (or rejections) out, in
/// submission order. Single-node mode implements it locally; a replicated mode puts a
/// consensus engine behind the same call.
pub trait Orderer: Send + Sync + 'static {
    fn submit(&self, txs: Vec<VerifiedTx>) -> OrderFuture;
}

struct Pending {
    txs: Vec<VerifiedTx>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Outcome>, OrderError>>,
}

/// How blocks are cut.
#[derive(Debug, Clone, Copy)]
pub struct BlockConfig {
    /// A block closes this long after its first transaction arrived...
    pub max_wait: Duration,
    /// ...or as soon as it holds this many transactions.
    pub max_txs: usize,
}

impl Default for BlockConfig {
    fn default() -> Self {
        BlockConfig { max_wait: Duration::from_millis(2), max_txs: 4096 }
    }
}

/// Single-node ordering: one producer thread owns block production.
pub struct LocalOrderer {
    tx: mpsc::Sender<Pending>,
}

impl LocalOrderer {
    pub fn start(ledger: Arc<Ledger>, key: k256::ecdsa::SigningKey, cfg: BlockConfig, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("block-producer".into())
            .spawn(move || produce(ledger, key, cfg, rx, metrics))
            .expect("spawning the block producer thread");
        LocalOrderer { tx }
    }
}

impl Orderer for LocalOrderer {
    fn submit(&self, txs: Vec<VerifiedTx>) -> OrderFuture {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let sent = self.tx.send(Pending { txs, reply });
        Box::pin(async move {
            if sent.is_err() {
                return Err(OrderError::Unavailable("the block producer has stopped".into()));
            }
            rx.await.unwrap_or_else(|_| Err(OrderError::Unavailable("the block producer has stopped".into())))
        })
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn produce(
    ledger: Arc<Ledger>,
    key: k256::ecdsa::SigningKey,
    cfg: BlockConfig,
    rx: mpsc::Receiver<Pending>,
    metrics: Arc<Metrics>,
) {
    while let Ok(first) = rx.recv() {
        let deadline = Instant::now() + cfg.max_wait;
        let mut count = first.txs.len();
        let mut batch = vec![first];
        while count < cfg.max_txs {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(p) => {
                    count += p.txs.len();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        if ledger.is_failed() {
            for p in batch {
                let _ = p.reply.send(Err(OrderError::Unavailable("storage failed earlier".into())));
            }
            continue;
        }
        let started = Instant::now();
        let mut head = ledger.head.write().unwrap_or_else(|p| p.into_inner());
        let timestamp_ms = now_ms().max(head.tip.timestamp_ms);
        let now = timestamp_ms / 1000;
        let requests: Vec<&[VerifiedTx]> = batch.iter().map(|p| p.txs.as_slice()).collect();
        let (slots, accepted) = cut(&mut head.state, &requests, now, &metrics);
        let ids: Vec<Hash> = accepted.iter().map(|v| v.id()).collect();
        let accepted: Vec<_> = accepted.into_iter().map(|v| v.signed().clone()).collect();
        let mut block_ref = None;
        if !accepted.is_empty() {
            let height = head.tip.height + 1;
            let n = accepted.len();
            let block = Block::produce_with_ids(
                &ledger.genesis.chain_id,
                height,
                head.tip.hash,
                timestamp_ms,
                accepted,
                &ids,
                &key,
            );
            let applied = started.elapsed();
            match ledger.store.append_block(&block, &ids) {
                Ok(()) => {
                    head.tip = ChainTip { height, hash: block.hash(), timestamp_ms };
                    let took = started.elapsed();
                    metrics.block_committed(n, took);
                    if took > Duration::from_millis(100) {
                        tracing::warn!(
                            height,
                            txs = n,
                            apply_ms = applied.as_millis() as u64,
                            total_ms = took.as_millis() as u64,
                            "slow block"
                        );
                    }
                    block_ref = Some((height, block.hash(), ids));
                }
                Err(e) => {
                    // The in-memory state is now ahead of the disk: stop accepting anything.
                    tracing::error!(error = %e, "block commit failed; the node stops accepting transactions");
                    ledger.failed.store(true, Ordering::SeqCst);
                    drop(head);
                    for p in batch {
                        let _ = p.reply.send(Err(OrderError::Unavailable(e.to_string())));
                    }
                    continue;
                }
            }
        }
        drop(head);
        for (p, s) in batch.into_iter().zip(slots) {
            let outcomes = receipts(s, block_ref.as_ref().map(|(h, b, ids)| (*h, *b, ids.as_slice())));
            let _ = p.reply.send(Ok(outcomes));
        }
    }
}

/// One request's transactions: each one's index in the block, or why it was refused.
pub type Slots = Vec<Result<u32, ErrorBody>>;

/// Runs one block's worth of requests through the rules on `state`, which keeps the effects
/// of those accepted. Per request, per transaction: its index in the block, or why it was
/// refused; and the accepted ones in block order.
pub fn cut<'a>(
    state: &mut State,
    requests: &[&'a [VerifiedTx]],
    now: u64,
    metrics: &Metrics,
) -> (Vec<Slots>, Vec<&'a VerifiedTx>) {
    let mut slots = Vec::with_capacity(requests.len());
    let mut accepted = Vec::with_capacity(requests.iter().map(|r| r.len()).sum());
    for txs in requests {
        let mut s = Vec::with_capacity(txs.len());
        for vtx in txs.iter() {
            match apply(state, vtx, now) {
                Ok(effects) => {
                    state.commit(effects);
                    s.push(Ok(accepted.len() as u32));
                    accepted.push(vtx);
                }
                Err(r) => {
                    metrics.rejected(r.code());
                    s.push(Err(ErrorBody::from(&r)));
                }
            }
        }
        slots.push(s);
    }
    (slots, accepted)
}

/// One request's outcomes once its block (height, hash, transaction ids) is committed.
pub fn receipts(slots: Slots, block: Option<(u64, Hash, &[Hash])>) -> Vec<Outcome> {
    slots
        .into_iter()
        .map(|r| {
            r.and_then(|index| match block {
                Some((height, block_hash, ids)) => Ok(Receipt { id: ids[index as usize], height, block_hash, index }),
                None => Err(ErrorBody { code: "internal".into(), message: "no block holds this transaction".into() }),
            })
        })
        .collect()
}

/// Every transaction signature of a block, checked on all cores.
fn verify_block_txs(block: &Block) -> Result<Vec<VerifiedTx>, ChainError> {
    verify::verify_all(&block.txs)
        .into_iter()
        .enumerate()
        .map(|(index, r)| r.map_err(|rejection| ChainError::BadTx { height: block.header.height, index, rejection }))
        .collect()
}

/// Rebuilds state and tip from every stored block, re-checking each one.
fn replay(store: &Store, genesis: &Genesis) -> Result<Head, OpenError> {
    let mut state = State::from_genesis(genesis);
    let mut tip = ChainTip::genesis(genesis);
    let mut chain_err = None;
    store.for_each_block(|block| {
        if chain_err.is_some() {
            return Ok(());
        }
        let result = (|| {
            verify_header(genesis, &tip, &block, &verify::Secp256k1Verifier)?;
            let verified = verify_block_txs(&block)?;
            apply_block(&mut state, &mut tip, &block, &verified)
        })();
        if let Err(e) = result {
            chain_err = Some(e);
        }
        Ok(())
    })?;
    match chain_err {
        Some(e) => Err(e.into()),
        None => Ok(Head { state, tip }),
    }
}
