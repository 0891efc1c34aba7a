//! The node's ledger: state rebuilt and re-verified from the stored chain at start, and the
//! ordering seam (`Orderer`) where verified transactions become durable blocks. The
//! single-node `LocalOrderer` cuts a block by time or by what a block may hold, applies the
//! rules on the writer's copy of the state, commits the block in one redb transaction, and
//! only then makes it readable and acknowledges. Blocks made elsewhere (a
//! cluster's leader, a snapshot) enter only through `apply_block_from_peer`, which checks
//! them whole and changes nothing if they fail.

use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use crate::verify;
use ledger_protocol::block::{
    BlockBudget, MAX_BLOCK_BYTES, MAX_BLOCK_TXS, MAX_CLOCK_SKEW_MS, apply_block, verify_header,
};
use ledger_protocol::codec::Decode;
use ledger_protocol::wire::{ErrorBody, Receipt};
use ledger_protocol::{Block, ChainError, ChainTip, Effects, Genesis, Hash, State, VerifiedTx, apply};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

/// The state and the tip it corresponds to; they always change together.
#[derive(Clone)]
pub struct Head {
    pub state: State,
    pub tip: ChainTip,
}

/// The chain as this node holds it. Two copies of the state: `head`, what readers see, is
/// always exactly what is on disk; `writer`, where the next block is built and checked,
/// runs ahead of it only while that block is being committed. A block's effects reach
/// `head` after its commit succeeded, under a lock held for those in-memory changes alone
/// (never across the fsync); if anything fails, `writer` is copied back from `head`.
pub struct Ledger {
    pub genesis: Genesis,
    pub store: Store,
    head: RwLock<Head>,
    writer: Mutex<Head>,
    /// Set while the last attempt to commit a block failed (cleared by the next success).
    commit_failing: AtomicBool,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Replay(#[from] ReplayError),
}

/// The stored chain could not be replayed: which block, why, and what to do.
#[derive(Debug, thiserror::Error)]
#[error(
    "the stored chain cannot be replayed: block {height} of {stored} in {path} {why}. Blocks 1 to {good} verify. The node does not serve a chain it cannot verify. To recover, restore the data directory from a backup made before block {height}; or, in a cluster, move this node's data directory aside and add the node again (it catches up from its peers); or keep blocks 1 to {good} with `ledger-node truncate --data-dir <dir> --from {height}`, which moves block {height} onward into a file beside the data, keeping them for inspection"
)]
pub struct ReplayError {
    pub height: u64,
    pub stored: u64,
    pub good: u64,
    pub path: String,
    pub why: String,
}

impl Ledger {
    /// Opens the store and replays every block from genesis, re-verifying the hash chain,
    /// every producer signature, every transaction signature and every rule.
    pub fn open(dir: &std::path::Path, genesis: Genesis) -> Result<Self, OpenError> {
        let store = Store::open(dir, &genesis)?;
        let head = replay(&store, &genesis).map_err(|e| match e {
            Replayed::Store(e) => OpenError::Store(e),
            Replayed::Block { height, why } => {
                let stored = store.height().unwrap_or(height);
                OpenError::Replay(ReplayError {
                    height,
                    stored,
                    good: height.saturating_sub(1),
                    path: dir.join("ledger.redb").display().to_string(),
                    why,
                })
            }
        })?;
        let ahead = head.tip.timestamp_ms.saturating_sub(now_ms());
        if ahead > MAX_CLOCK_SKEW_MS {
            tracing::warn!(
                ahead_s = ahead / 1000,
                "the chain's last block is timed ahead of this machine's clock: check the clock (NTP); the chain's time does not go back, so consents are judged at the later time until the clock passes it"
            );
        }
        Ok(Ledger {
            genesis,
            store,
            writer: Mutex::new(head.clone()),
            head: RwLock::new(head),
            commit_failing: AtomicBool::new(false),
        })
    }

    /// Checks a block that came from elsewhere (a Raft log entry or a snapshot) against the
    /// tip: height, link, time, producer signature, Merkle root, every transaction signature
    /// (except those in `preverified`, which this process verified itself and whose ids the
    /// block's hash covers) and every rule. If all pass, the block is stored together with
    /// `meta` in one commit and becomes the tip; if any fails, nothing changes and the
    /// reason is returned. The outer error is the disk's (and changes nothing either).
    pub fn apply_block_from_peer(
        &self,
        block: &Block,
        preverified: Option<Vec<VerifiedTx>>,
        meta: &[(&str, &[u8])],
    ) -> Result<Result<ChainTip, ChainError>, StoreError> {
        let mut w = self.writer();
        if let Err(e) = verify_header(&self.genesis, &w.tip, block, &verify::Secp256k1Verifier) {
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
        let mut tip = w.tip.clone();
        let mut effects = Vec::with_capacity(verified.len());
        if let Err(e) = apply_block(&mut w.state, &mut tip, block, &verified, Some(&mut effects)) {
            // A transaction broke a rule part-way: the writer holds the effects of the ones
            // before it. `head` never saw them.
            tracing::warn!(error = %e, "refused a replicated block");
            self.reset_writer(&mut w);
            return Ok(Err(e));
        }
        if let Err(e) = self.store.append_block_with_meta(block, &ids, meta) {
            self.commit_failed(&mut w, &e);
            return Err(e);
        }
        self.publish(&mut w, effects, tip.clone());
        Ok(Ok(tip))
    }

    /// Adds `blocks`, the next ones after the tip in order (from a snapshot), each checked as
    /// `apply_block_from_peer` checks one, and `meta`, all in one commit: all or nothing.
    pub fn install_blocks(
        &self,
        blocks: &[Block],
        meta: &[(&str, &[u8])],
    ) -> Result<Result<ChainTip, ChainError>, StoreError> {
        let mut w = self.writer();
        let Head { mut state, mut tip } = w.clone();
        let mut ids = Vec::with_capacity(blocks.len());
        for block in blocks {
            if let Err(e) = verify_header(&self.genesis, &tip, block, &verify::Secp256k1Verifier) {
                return Ok(Err(e));
            }
            let verified = match verify_block_txs(block) {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            if let Err(e) = apply_block(&mut state, &mut tip, block, &verified, None) {
                return Ok(Err(e));
            }
            ids.push(block.tx_ids());
        }
        let batch: Vec<(&Block, &[Hash])> = blocks.iter().zip(&ids).map(|(b, i)| (b, i.as_slice())).collect();
        if let Err(e) = self.store.append_blocks_with_meta(&batch, meta) {
            self.commit_failed(&mut w, &e);
            return Err(e);
        }
        *w = Head { state: state.clone(), tip: tip.clone() };
        *self.head.write().unwrap_or_else(|p| p.into_inner()) = Head { state, tip: tip.clone() };
        self.commit_failing.store(false, Ordering::SeqCst);
        Ok(Ok(tip))
    }

    /// A consistent view of state and tip, exactly what is on disk. Hold it briefly and
    /// never across an await.
    pub fn head(&self) -> RwLockReadGuard<'_, Head> {
        self.head.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of state and tip, for a block producer that builds ahead of what is applied.
    pub fn clone_head(&self) -> (State, ChainTip) {
        let h = self.head();
        (h.state.clone(), h.tip.clone())
    }

    /// Whether the last attempt to commit a block failed.
    pub fn commit_failing(&self) -> bool {
        self.commit_failing.load(Ordering::SeqCst)
    }

    /// The copy blocks are built and checked on; one writer at a time.
    fn writer(&self) -> MutexGuard<'_, Head> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes a committed block readable: its effects go into `head` (a brief lock, no IO).
    fn publish(&self, w: &mut Head, effects: Vec<Effects>, tip: ChainTip) {
        w.tip = tip.clone();
        let mut h = self.head.write().unwrap_or_else(|p| p.into_inner());
        for e in effects {
            h.state.commit(e);
        }
        h.tip = tip;
        drop(h);
        self.commit_failing.store(false, Ordering::SeqCst);
    }

    /// Puts the writer back to what is committed.
    fn reset_writer(&self, w: &mut Head) {
        *w = self.head().clone();
    }

    fn commit_failed(&self, w: &mut Head, e: &StoreError) {
        tracing::error!(error = %e, "a block could not be committed; nothing of it is kept, and the next block tries again");
        self.commit_failing.store(true, Ordering::SeqCst);
        self.reset_writer(w);
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
    /// One request holds more than a block can (a whole sentence).
    #[error("{0}")]
    TooLarge(String),
    /// The node's free disk is down to its ledger reserve (a whole sentence).
    #[error("{0}")]
    DiskLow(String),
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

/// Orders the transactions of `checked` that verified, through `orderer`; one outcome per
/// input, in order (a verification failure is that transaction's outcome).
pub async fn order_checked(
    checked: Vec<Result<VerifiedTx, ledger_protocol::Rejection>>,
    orderer: &dyn Orderer,
    metrics: &Metrics,
) -> Result<Vec<Outcome>, OrderError> {
    let mut verified = Vec::with_capacity(checked.len());
    let mut slots = Vec::with_capacity(checked.len());
    for c in checked {
        match c {
            Ok(v) => {
                slots.push(None);
                verified.push(v);
            }
            Err(r) => {
                metrics.rejected(r.code());
                slots.push(Some(ErrorBody::from(&r)));
            }
        }
    }
    let asked = verified.len();
    let ordered = if verified.is_empty() { Vec::new() } else { orderer.submit(verified).await? };
    // The seam promises one outcome per transaction; anything else is the node's fault.
    if ordered.len() != asked {
        return Err(OrderError::Unavailable(format!(
            "the orderer answered for {} of {asked} transactions",
            ordered.len()
        )));
    }
    let mut ordered = ordered.into_iter();
    Ok(slots.into_iter().map(|s| s.map_or_else(|| ordered.next().expect("lengths checked above"), Err)).collect())
}

/// One submission waiting for its block.
pub struct Pending {
    pub txs: Vec<VerifiedTx>,
    pub reply: tokio::sync::oneshot::Sender<Result<Vec<Outcome>, OrderError>>,
}

impl Pending {
    fn encoded_len(&self) -> usize {
        self.txs.iter().map(VerifiedTx::encoded_len).sum()
    }
}

/// How blocks are cut.
#[derive(Debug, Clone, Copy)]
pub struct BlockConfig {
    /// A block closes this long after its first transaction arrived...
    pub max_wait: Duration,
    /// ...or as soon as it holds this many transactions. A block may end up larger, up to
    /// `MAX_BLOCK_TXS`, when one submission brings more than this.
    pub max_txs: usize,
    /// Submissions that may wait for the producer at once; more are refused at once.
    pub max_queued: usize,
    /// Free disk space below which no block is cut (`Limits::ledger_reserve_bytes`; 0: none).
    pub disk_reserve_bytes: u64,
}

impl Default for BlockConfig {
    fn default() -> Self {
        BlockConfig {
            max_wait: Duration::from_millis(2),
            max_txs: MAX_BLOCK_TXS,
            max_queued: MAX_QUEUED_SUBMISSIONS,
            disk_reserve_bytes: 0,
        }
    }
}

/// Why no block may be written now: the disk holding `store` has less free space than
/// `reserve` bytes. `None` when it has enough, or when its free space cannot be told (the
/// write then meets the disk itself).
pub fn short_of_disk(store: &Store, reserve: u64) -> Option<OrderError> {
    if reserve == 0 {
        return None;
    }
    let free = match store.free_bytes() {
        Ok(free) => free,
        Err(e) => {
            tracing::warn!(error = %e, "cannot check the free disk before a block");
            return None;
        }
    };
    (free < reserve).then(|| {
        let mib = |b: u64| b / (1024 * 1024);
        OrderError::DiskLow(format!(
            "The node's disk is nearly full ({} MiB free; it keeps {} MiB so that what it has acknowledged stays safe), so it takes no transactions now; reads go on. The operator must free space or give the node a larger disk; send it again then.",
            mib(free),
            mib(reserve)
        ))
    })
}

/// Submissions gathered for one block, never more than it may hold (in transactions and
/// in encoded bytes, as the decoder counts them). Both producers, single-node and cluster,
/// gather through this, so every block either makes can be read back.
pub struct Gather {
    budget: BlockBudget,
    /// Transactions gathered so far, and how many close the block early.
    count: usize,
    enough: usize,
    batch: Vec<Pending>,
}

impl Gather {
    /// Starts a block with `first`. A submission too large for any block on its own is
    /// answered here (refused whole, nothing of it ordered) and `None` returned.
    /// `max_txs` closes the block early (`BlockConfig::max_txs`); the block's hard limits
    /// are the decoder's.
    pub fn start(first: Pending, chain_id: &str, max_txs: usize) -> Option<Gather> {
        let mut budget = BlockBudget::new(chain_id);
        let (n, bytes) = (first.txs.len(), first.encoded_len());
        if !budget.take(n, bytes) {
            let why = if n <= MAX_BLOCK_TXS {
                format!(
                    "these {n} transactions take {bytes} bytes, more than one block holds ({MAX_BLOCK_BYTES} bytes in all); send them in smaller batches"
                )
            } else {
                format!(
                    "{n} transactions are more than one block holds ({MAX_BLOCK_TXS}); send them in smaller batches"
                )
            };
            let _ = first.reply.send(Err(OrderError::TooLarge(why)));
            return None;
        }
        Some(Gather { budget, count: n, enough: max_txs.max(1), batch: vec![first] })
    }

    /// Adds `p` if it fits; else hands it back, to start the next block.
    pub fn offer(&mut self, p: Pending) -> Option<Pending> {
        if self.budget.take(p.txs.len(), p.encoded_len()) {
            self.count += p.txs.len();
            self.batch.push(p);
            None
        } else {
            Some(p)
        }
    }

    /// The block holds enough to be cut now (or nothing more fits).
    pub fn is_full(&self) -> bool {
        self.count >= self.enough || self.budget.is_full()
    }

    pub fn requests(&self) -> Vec<&[VerifiedTx]> {
        self.batch.iter().map(|p| p.txs.as_slice()).collect()
    }

    /// Answers every submission with the same failure.
    pub fn fail(self, e: OrderError) {
        for p in self.batch {
            let _ = p.reply.send(Err(e.clone()));
        }
    }

    /// Answers every submission once its block (height, hash, transaction ids) is
    /// committed, or with the refusals alone when no block holds any of them.
    pub fn answer(self, slots: Vec<Slots>, block: Option<(u64, Hash, &[Hash])>) {
        for (p, s) in self.batch.into_iter().zip(slots) {
            let _ = p.reply.send(Ok(receipts(s, block)));
        }
    }
}

/// The wall clock a producer reads, in ms since the Unix epoch (a seam so tests can set it
/// wrong).
pub type WallClock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock() -> WallClock {
    Arc::new(now_ms)
}

/// The node's time: the system clock, plus what an end-to-end test has moved it forward by on
/// a node started with `--test-clock` (so a day can pass in a second). Block times and every
/// judgement of "now" (consents, break-glass, signed requests) read it. On any other node the
/// offset is zero and cannot be changed.
#[derive(Clone, Default)]
pub struct NodeClock {
    advanced_ms: Arc<AtomicU64>,
    movable: bool,
}

/// The clock of a node not started with `--test-clock` cannot be moved.
#[derive(Debug, thiserror::Error)]
#[error("this node's clock cannot be moved: it was not started with --test-clock")]
pub struct ClockFixed;

impl NodeClock {
    /// A clock tests may move forward (`serve --test-clock`).
    pub fn movable() -> Self {
        NodeClock { advanced_ms: Arc::default(), movable: true }
    }
    pub fn is_movable(&self) -> bool {
        self.movable
    }
    /// How far the clock has been moved forward, in ms.
    pub fn advanced_ms(&self) -> u64 {
        self.advanced_ms.load(Ordering::SeqCst)
    }
    /// The node's time, ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        now_ms().saturating_add(self.advanced_ms())
    }
    /// Moves the clock forward by `ms` (never back: the chain's time only goes forward);
    /// returns the new time.
    pub fn advance(&self, ms: u64) -> Result<u64, ClockFixed> {
        if !self.movable {
            return Err(ClockFixed);
        }
        self.advanced_ms.fetch_add(ms, Ordering::SeqCst);
        Ok(self.now_ms())
    }
}

/// Where a producer takes block times from: the wall clock, checked against the monotonic
/// clock since the last block this producer stamped. A wall clock that jumps more than
/// `MAX_CLOCK_SKEW_MS` away from that (an NTP fault, a clock set by hand) is not followed:
/// blocks go on at the monotonic pace and a warning says by how much the wall clock is off,
/// until it comes back (or the node is restarted, which adopts the wall clock as it is then).
/// A block is never timed before its parent.
/// A test clock's deliberate moves (`NodeClock::advance`) are followed, not taken for a jump.
pub struct BlockClock {
    wall: WallClock,
    node: NodeClock,
    /// The last stamp, when it was made, and how far the node clock was moved then.
    last: Option<(u64, Instant, u64)>,
    off: bool,
}

impl BlockClock {
    pub fn new(wall: WallClock, node: NodeClock) -> Self {
        BlockClock { wall, node, last: None, off: false }
    }

    /// The time for a block after one timed `tip_ms`.
    pub fn stamp(&mut self, tip_ms: u64) -> u64 {
        let moved = self.node.advanced_ms();
        let wall = (self.wall)().saturating_add(moved);
        let now = Instant::now();
        let t = match self.last {
            None => wall,
            Some((ms, at, moved_then)) => {
                let expected = ms
                    .saturating_add(now.duration_since(at).as_millis() as u64)
                    .saturating_add(moved.saturating_sub(moved_then));
                if wall.abs_diff(expected) > MAX_CLOCK_SKEW_MS {
                    if !self.off {
                        tracing::warn!(
                            wall_minus_expected_s = (wall as i128 - expected as i128) / 1000,
                            "the system clock jumped; block times follow the monotonic clock until it agrees again (check NTP, or restart the node to adopt the system clock as it is)"
                        );
                    }
                    self.off = true;
                    expected
                } else {
                    if self.off {
                        tracing::info!("the system clock agrees with the monotonic clock again");
                    }
                    self.off = false;
                    wall
                }
            }
        };
        let t = t.max(tip_ms);
        self.last = Some((t, now, moved));
        t
    }
}

/// Submissions that may wait for a block producer at once, by default (each up to a batch);
/// more are refused at once as `Unavailable` (503), so a flood cannot grow the queue
/// without bound.
pub const MAX_QUEUED_SUBMISSIONS: usize = 4096;

/// The refusal of a submission that found the producer's queue (of `max`) full.
pub fn queue_full(max: usize) -> OrderError {
    OrderError::Unavailable(format!("{max} submissions are already waiting for the next blocks; wait a moment"))
}

/// Single-node ordering: one producer thread owns block production.
pub struct LocalOrderer {
    tx: mpsc::SyncSender<Pending>,
    max_queued: usize,
}

impl LocalOrderer {
    pub fn start(
        ledger: Arc<Ledger>,
        key: k256::ecdsa::SigningKey,
        cfg: BlockConfig,
        metrics: Arc<Metrics>,
        clock: BlockClock,
    ) -> Self {
        let max_queued = cfg.max_queued.max(1);
        let (tx, rx) = mpsc::sync_channel(max_queued);
        std::thread::Builder::new()
            .name("block-producer".into())
            .spawn(move || produce(ledger, key, cfg, rx, metrics, clock))
            .expect("spawning the block producer thread");
        LocalOrderer { tx, max_queued }
    }
}

impl Orderer for LocalOrderer {
    fn submit(&self, txs: Vec<VerifiedTx>) -> OrderFuture {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let (sent, max_queued) = (self.tx.try_send(Pending { txs, reply }), self.max_queued);
        Box::pin(async move {
            match sent {
                Ok(()) => {}
                Err(mpsc::TrySendError::Full(_)) => return Err(queue_full(max_queued)),
                Err(mpsc::TrySendError::Disconnected(_)) => {
                    return Err(OrderError::Unavailable("the block producer has stopped".into()));
                }
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
    mut clock: BlockClock,
) {
    let chain_id = ledger.genesis.chain_id.clone();
    let mut carry: Option<Pending> = None;
    loop {
        let first = match carry.take() {
            Some(p) => p,
            None => match rx.recv() {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let Some(mut gather) = Gather::start(first, &chain_id, cfg.max_txs) else { continue };
        let deadline = Instant::now() + cfg.max_wait;
        while !gather.is_full() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(p) => {
                    if let Some(next) = gather.offer(p) {
                        carry = Some(next);
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        if let Some(e) = short_of_disk(&ledger.store, cfg.disk_reserve_bytes) {
            gather.fail(e);
            continue;
        }
        let started = Instant::now();
        let mut w = ledger.writer();
        let timestamp_ms = clock.stamp(w.tip.timestamp_ms);
        let requests = gather.requests();
        let Built { slots, ids, block, effects, .. } =
            build_block(&mut w, &requests, timestamp_ms, &chain_id, &key, &metrics, true);
        drop(requests);
        let Some(block) = block else {
            drop(w);
            gather.answer(slots, None);
            continue;
        };
        let (height, hash, n) = (block.header.height, block.hash(), block.txs.len());
        let applied = started.elapsed();
        match ledger.store.append_block(&block, &ids) {
            Ok(()) => {
                ledger.publish(&mut w, effects, ChainTip { height, hash, timestamp_ms });
                drop(w);
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
                gather.answer(slots, Some((height, hash, &ids)));
            }
            Err(e) => {
                ledger.commit_failed(&mut w, &e);
                drop(w);
                gather.fail(OrderError::Unavailable(format!("{e}; nothing of it was committed, so send it again")));
            }
        }
    }
}

/// One request's transactions: each one's index in the block, or why it was refused.
pub type Slots = Vec<Result<u32, ErrorBody>>;

/// What `build_block` made of one gathered block's requests.
pub struct Built<'a> {
    /// Per request, per transaction: its index in the block, or why it was refused.
    pub slots: Vec<Slots>,
    /// The accepted transactions, in block order.
    pub accepted: Vec<&'a VerifiedTx>,
    /// Their ids, in block order.
    pub ids: Vec<Hash>,
    /// The signed block after `at`'s tip, if anything was accepted.
    pub block: Option<Block>,
    /// What each accepted transaction changed (when asked for).
    pub effects: Vec<Effects>,
}

/// Runs one block's worth of requests through the rules on `at.state` (which keeps the
/// effects of those accepted) and signs a block over the accepted ones after `at.tip`.
/// `at.tip` is left alone: the caller moves it once the block has landed.
pub fn build_block<'a>(
    at: &mut Head,
    requests: &[&'a [VerifiedTx]],
    timestamp_ms: u64,
    chain_id: &str,
    key: &k256::ecdsa::SigningKey,
    metrics: &Metrics,
    keep_effects: bool,
) -> Built<'a> {
    let (slots, accepted, effects) = cut(&mut at.state, requests, timestamp_ms / 1000, metrics, keep_effects);
    let ids: Vec<Hash> = accepted.iter().map(|v| v.id()).collect();
    let block = (!accepted.is_empty()).then(|| {
        let txs = accepted.iter().map(|v| v.signed().clone()).collect();
        Block::produce_with_ids(chain_id, at.tip.height + 1, at.tip.hash, timestamp_ms, txs, &ids, key)
    });
    Built { slots, accepted, ids, block, effects }
}

/// Runs one block's worth of requests through the rules on `state`, which keeps the effects
/// of those accepted. Per request, per transaction: its index in the block, or why it was
/// refused; the accepted ones in block order; and (with `keep_effects`) what each changed.
fn cut<'a>(
    state: &mut State,
    requests: &[&'a [VerifiedTx]],
    now: u64,
    metrics: &Metrics,
    keep_effects: bool,
) -> (Vec<Slots>, Vec<&'a VerifiedTx>, Vec<Effects>) {
    let mut slots = Vec::with_capacity(requests.len());
    let total = requests.iter().map(|r| r.len()).sum();
    let mut accepted = Vec::with_capacity(total);
    let mut kept = Vec::with_capacity(if keep_effects { total } else { 0 });
    for txs in requests {
        let mut s = Vec::with_capacity(txs.len());
        for vtx in txs.iter() {
            match apply(state, vtx, now) {
                Ok(effects) => {
                    if keep_effects {
                        kept.push(effects.clone());
                    }
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
    (slots, accepted, kept)
}

/// One request's outcomes once its block (height, hash, transaction ids) is committed.
fn receipts(slots: Slots, block: Option<(u64, Hash, &[Hash])>) -> Vec<Outcome> {
    slots
        .into_iter()
        .map(|r| {
            r.and_then(|index| match block {
                Some((height, block_hash, ids)) => Ok(Receipt { id: ids[index as usize], height, block_hash, index }),
                None => Err(ErrorBody {
                    code: "internal".into(),
                    message: "no block holds this transaction".into(),
                    kind: ledger_protocol::ErrorKind::Internal,
                }),
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

/// Why a replay stopped.
enum Replayed {
    Store(StoreError),
    /// Block `height` could not be read or does not verify.
    Block {
        height: u64,
        why: String,
    },
}

/// Rebuilds state and tip from every stored block, re-checking each one.
fn replay(store: &Store, genesis: &Genesis) -> Result<Head, Replayed> {
    let mut state = State::from_genesis(genesis);
    let mut tip = ChainTip::genesis(genesis);
    let mut failed = None;
    let read = store.for_each_stored_block(|height, bytes| {
        let block = match Block::from_canonical_bytes(bytes) {
            Ok(b) => b,
            Err(e) => {
                failed = Some(Replayed::Block { height, why: format!("cannot be read: {e}") });
                return false;
            }
        };
        let result = (|| {
            verify_header(genesis, &tip, &block, &verify::Secp256k1Verifier)?;
            let verified = verify_block_txs(&block)?;
            apply_block(&mut state, &mut tip, &block, &verified, None)
        })();
        if let Err(e) = result {
            failed = Some(Replayed::Block { height, why: format!("does not verify: {e}") });
            return false;
        }
        true
    });
    match (read, failed) {
        (Err(StoreError::Corrupt { height, reason }), _) => Err(Replayed::Block { height, why: reason }),
        (Err(e), _) => Err(Replayed::Store(e)),
        (Ok(()), Some(f)) => Err(f),
        (Ok(()), None) => Ok(Head { state, tip }),
    }
}

#[cfg(test)]
mod tests {
    //! Every block a producer can make reads back. Both producers, single-node and cluster,
    //! gather submissions through `Gather` (carrying what does not fit to the next block)
    //! and make blocks with `build_block`; these tests drive exactly that.

    use super::*;
    use ledger_protocol::codec::Encode;
    use ledger_protocol::{GenesisAuthority, PublicKey, Transaction, TxBody};
    use proptest::prelude::*;
    use std::sync::LazyLock;

    const CHAIN: &str = "limits-chain";

    fn key(i: u64) -> k256::ecdsa::SigningKey {
        let mut seed = [7u8; 32];
        seed[..8].copy_from_slice(&(i + 1).to_be_bytes());
        k256::ecdsa::SigningKey::from_slice(&seed).unwrap()
    }

    /// Registrations by distinct keys: small sealed profiles, and profiles of 8000 bytes
    /// (about half what the rules allow).
    fn pool(first: u64, n: u64, name: &str) -> Vec<VerifiedTx> {
        (first..first + n)
            .map(|i| {
                let k = key(i);
                let secret = secp256k1::SecretKey::from_slice(&k.to_bytes()).unwrap();
                let tx = Transaction {
                    chain_id: CHAIN.into(),
                    signer: PublicKey::from(k.verifying_key()),
                    nonce: 1,
                    body: TxBody::RegisterPatient {
                        encryption_key: PublicKey::from(k.verifying_key()),
                        profile: ledger_protocol::Sealed {
                            ciphertext: name.as_bytes().iter().copied().cycle().take(name.len().max(64)).collect(),
                            keys: vec![ledger_protocol::WrappedKey {
                                reader: PublicKey::from(k.verifying_key()).address(),
                                wrapped: vec![1; 106],
                            }],
                        },
                    },
                };
                verify::sign_fast(tx, &secret).verify(&verify::Secp256k1Verifier).unwrap()
            })
            .collect()
    }

    static SMALL: LazyLock<Vec<VerifiedTx>> = LazyLock::new(|| pool(0, 9000, "P"));
    static BIG: LazyLock<Vec<VerifiedTx>> = LazyLock::new(|| pool(100_000, 2200, &"\u{1F489}".repeat(2000)));

    fn genesis_head(producer: &k256::ecdsa::SigningKey) -> (Genesis, Head) {
        let pk = PublicKey::from(producer.verifying_key());
        let genesis = Genesis {
            chain_id: CHAIN.into(),
            timestamp_ms: 0,
            authorities: vec![GenesisAuthority { name: "H".into(), key: pk, encryption_key: pk }],
        };
        let head = Head { state: State::from_genesis(&genesis), tip: ChainTip::genesis(&genesis) };
        (genesis, head)
    }

    /// Gathers `requests` as the producers do and makes every block; checks each block
    /// decodes, re-verifies against its parent, and holds what its receipts say. Returns the
    /// blocks' encoded sizes.
    fn produce_all(requests: Vec<Vec<VerifiedTx>>, max_txs: usize) -> Vec<usize> {
        let producer = key(u64::MAX - 1);
        let (genesis, mut head) = genesis_head(&producer);
        let metrics = Metrics::default();
        let mut waiting: std::collections::VecDeque<_> = requests
            .into_iter()
            .map(|txs| {
                let (reply, rx) = tokio::sync::oneshot::channel();
                (Pending { txs, reply }, rx)
            })
            .collect();
        let mut answers = Vec::new();
        let mut sizes = Vec::new();
        let mut carry: Option<Pending> = None;
        loop {
            let first = match carry.take() {
                Some(p) => p,
                None => match waiting.pop_front() {
                    Some((p, rx)) => {
                        answers.push(rx);
                        p
                    }
                    None => break,
                },
            };
            let Some(mut gather) = Gather::start(first, CHAIN, max_txs) else { continue };
            while !gather.is_full() {
                let Some((p, rx)) = waiting.pop_front() else { break };
                answers.push(rx);
                if let Some(next) = gather.offer(p) {
                    carry = Some(next);
                    break;
                }
            }
            let ts = head.tip.timestamp_ms + 1000;
            let requests = gather.requests();
            let Built { slots, ids, block, .. } =
                build_block(&mut head, &requests, ts, CHAIN, &producer, &metrics, false);
            drop(requests);
            let Some(block) = block else {
                gather.answer(slots, None);
                continue;
            };
            let bytes = block.to_canonical_bytes();
            assert!(bytes.len() <= MAX_BLOCK_BYTES, "block of {} bytes", bytes.len());
            assert!(block.txs.len() <= MAX_BLOCK_TXS, "block of {} txs", block.txs.len());
            let back = Block::from_canonical_bytes(&bytes).expect("every block the producer makes decodes");
            verify_header(&genesis, &head.tip, &back, &verify::Secp256k1Verifier).unwrap();
            sizes.push(bytes.len());
            let (height, hash) = (block.header.height, block.hash());
            head.tip = ChainTip { height, hash, timestamp_ms: ts };
            gather.answer(slots, Some((height, hash, &ids)));
        }
        for mut rx in answers {
            // Every submission is answered: receipts (possibly rule refusals) or "too large".
            assert!(rx.try_recv().is_ok(), "a submission was never answered");
        }
        sizes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Submissions of any size up to a batch (`MAX_BATCH`), small or large transactions,
        /// one after another as fast as they can come, under any block-size setting.
        #[test]
        fn every_block_the_producers_can_make_decodes(
            shape in proptest::collection::vec((1usize..=2048, any::<bool>()), 1..10),
            max_txs in 1usize..=6000,
        ) {
            let (mut small, mut big) = (0usize, 0usize);
            let requests = shape
                .into_iter()
                .map(|(n, large)| {
                    let (pool, next) = if large { (&*BIG, &mut big) } else { (&*SMALL, &mut small) };
                    let n = n.min(if large { 260 } else { n });
                    let txs: Vec<VerifiedTx> = (0..n).map(|i| pool[(*next + i) % pool.len()].clone()).collect();
                    *next += n;
                    txs
                })
                .collect();
            produce_all(requests, max_txs);
        }
    }

    /// Three submissions of 2000 (6000, more than a block holds) make two blocks.
    #[test]
    fn three_batches_of_2000_make_blocks_within_the_count_limit() {
        let requests = (0..3).map(|b| SMALL[b * 2000..(b + 1) * 2000].to_vec()).collect();
        let sizes = produce_all(requests, MAX_BLOCK_TXS);
        assert_eq!(sizes.len(), 2);
    }

    /// Large transactions fill a block to within one submission of the byte limit, and the
    /// next block takes the rest.
    #[test]
    fn a_block_at_the_byte_limit_decodes() {
        let requests = BIG.chunks(250).map(<[VerifiedTx]>::to_vec).collect();
        let sizes = produce_all(requests, MAX_BLOCK_TXS);
        let one = BIG[0].encoded_len();
        assert!(sizes.len() >= 2);
        assert!(sizes[0] > MAX_BLOCK_BYTES - 251 * one, "first block is {} bytes", sizes[0]);
    }

    /// The producer's queue is bounded: with the producer held up (here the test holds the
    /// writer copy it builds on), a submission past `max_queued` is refused at once, in
    /// words; those queued are ordered once the producer moves again.
    #[test]
    fn a_submission_past_the_queue_bound_is_refused_at_once() {
        let producer = key(u64::MAX - 1);
        let (genesis, _) = genesis_head(&producer);
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(Ledger::open(dir.path(), genesis).unwrap());
        let cfg =
            BlockConfig { max_wait: Duration::from_millis(1), max_txs: 1, max_queued: 2, ..BlockConfig::default() };
        let clock = BlockClock::new(system_clock(), NodeClock::default());
        let orderer = LocalOrderer::start(ledger.clone(), producer, cfg, Arc::new(Metrics::default()), clock);
        let held = ledger.writer();
        // The producer takes at most one and then waits on the writer; two more fill the
        // queue, so of four at least one is refused (which one depends on when the producer
        // took its first).
        let submitted: Vec<_> = (0..4).map(|i| orderer.submit(vec![SMALL[i].clone()])).collect();
        drop(held);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let answered: Vec<_> = submitted.into_iter().map(|f| rt.block_on(f)).collect();
        let refused = answered
            .iter()
            .filter(
                |a| matches!(a, Err(OrderError::Unavailable(why)) if why.contains("2 submissions are already waiting")),
            )
            .count();
        let committed = answered.iter().filter(|a| a.as_ref().is_ok_and(|o| o.iter().all(Result::is_ok))).count();
        assert!((1..=2).contains(&refused), "{refused} refused of four");
        assert_eq!(committed + refused, 4, "each was either ordered or refused in words");
        assert_eq!(ledger.head().tip.height, committed as u64, "one block per ordered submission");
    }

    /// A single submission larger than any block is refused whole, in words.
    #[test]
    fn a_submission_larger_than_a_block_is_refused_whole() {
        let (reply, mut rx) = tokio::sync::oneshot::channel();
        let p = Pending { txs: BIG[..2100].to_vec(), reply };
        assert!(Gather::start(p, CHAIN, MAX_BLOCK_TXS).is_none());
        match rx.try_recv().unwrap() {
            Err(OrderError::TooLarge(why)) => assert!(why.contains("smaller batches"), "{why}"),
            _ => panic!("expected a refusal"),
        }
    }
}
