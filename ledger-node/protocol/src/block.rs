//! Genesis, blocks and the chain: hash-linked headers carrying a Merkle root over their
//! transactions, signed by the producing authority, and the checks that re-verify them.

use crate::codec::{Decode, DecodeError, Encode, MAX_ITEMS, MAX_VALUE_BYTES, Reader, Writer};
use crate::crypto::{Hash, PublicKey, Signature, SignatureVerifier, sha256, sign_digest};
use crate::error::Rejection;
use crate::merkle;
use crate::rules::{Effects, apply};
use crate::state::State;
use crate::tx::{SignedTransaction, VerifiedTx};
use serde::{Deserialize, Serialize};

/// Version of the block encoding.
pub const BLOCK_VERSION: u8 = 1;
const BLOCK_DOMAIN: &[u8] = b"healthchain/block";
const GENESIS_DOMAIN: &[u8] = b"healthchain/genesis";

/// Most transactions a block may hold: the decoder's cap on a list.
pub const MAX_BLOCK_TXS: usize = MAX_ITEMS as usize;
/// Largest encoded block: the decoder's cap on a complete value.
pub const MAX_BLOCK_BYTES: usize = MAX_VALUE_BYTES;
/// How far ahead of a node's own clock a block's time may be before the node refuses it.
pub const MAX_CLOCK_SKEW_MS: u64 = 30_000;

/// A hospital authority named in genesis: it registers providers and produces blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAuthority {
    pub name: String,
    pub key: PublicKey,
    pub encryption_key: PublicKey,
}

/// The chain's starting point, read from the genesis file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    pub chain_id: String,
    pub timestamp_ms: u64,
    pub authorities: Vec<GenesisAuthority>,
}

impl Encode for GenesisAuthority {
    fn encode(&self, w: &mut Writer) {
        w.str(&self.name).raw(&self.key.0).raw(&self.encryption_key.0);
    }
}
impl Decode for GenesisAuthority {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(GenesisAuthority { name: r.string()?, key: PublicKey::decode(r)?, encryption_key: PublicKey::decode(r)? })
    }
}

impl Encode for Genesis {
    fn encode(&self, w: &mut Writer) {
        w.u8(BLOCK_VERSION).str(&self.chain_id).u64(self.timestamp_ms).list(&self.authorities);
    }
}

impl Genesis {
    /// The hash the first block links to.
    pub fn hash(&self) -> Hash {
        sha256(&[GENESIS_DOMAIN, &self.to_canonical_bytes()])
    }
    pub fn is_authority(&self, key: &PublicKey) -> bool {
        self.authorities.iter().any(|a| a.key == *key)
    }
}

/// What a block's signature covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    pub chain_id: String,
    pub height: u64,
    pub prev_hash: Hash,
    pub merkle_root: Hash,
    pub timestamp_ms: u64,
    pub tx_count: u32,
    pub producer: PublicKey,
}

impl Encode for BlockHeader {
    fn encode(&self, w: &mut Writer) {
        w.u8(BLOCK_VERSION)
            .str(&self.chain_id)
            .u64(self.height)
            .raw(&self.prev_hash.0)
            .raw(&self.merkle_root.0)
            .u64(self.timestamp_ms)
            .u32(self.tx_count)
            .raw(&self.producer.0);
    }
}
impl Decode for BlockHeader {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = r.u8()?;
        if v != BLOCK_VERSION {
            return Err(DecodeError::UnsupportedVersion(v));
        }
        Ok(BlockHeader {
            chain_id: r.string()?,
            height: r.u64()?,
            prev_hash: Hash::decode(r)?,
            merkle_root: Hash::decode(r)?,
            timestamp_ms: r.u64()?,
            tx_count: r.u32()?,
            producer: PublicKey::decode(r)?,
        })
    }
}

impl BlockHeader {
    pub fn hash(&self) -> Hash {
        sha256(&[BLOCK_DOMAIN, &self.to_canonical_bytes()])
    }
    /// The block time in whole seconds: the `now` every transaction in it is applied at.
    pub fn now_secs(&self) -> u64 {
        self.timestamp_ms / 1000
    }
}

/// A block: header, the producer's signature over the header hash, transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub header: BlockHeader,
    pub signature: Signature,
    pub txs: Vec<SignedTransaction>,
}

impl Encode for Block {
    fn encode(&self, w: &mut Writer) {
        self.header.encode(w);
        w.raw(&self.signature.0).list(&self.txs);
    }
}
impl Decode for Block {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Block { header: BlockHeader::decode(r)?, signature: Signature::decode(r)?, txs: r.list()? })
    }
}

impl Block {
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }
    pub fn tx_ids(&self) -> Vec<Hash> {
        self.txs.iter().map(SignedTransaction::id).collect()
    }

    /// Builds and signs a block over already-accepted transactions.
    pub fn produce(
        chain_id: &str,
        height: u64,
        prev_hash: Hash,
        timestamp_ms: u64,
        txs: Vec<SignedTransaction>,
        key: &k256::ecdsa::SigningKey,
    ) -> Block {
        let ids: Vec<Hash> = txs.iter().map(SignedTransaction::id).collect();
        Self::produce_with_ids(chain_id, height, prev_hash, timestamp_ms, txs, &ids, key)
    }

    /// Like `produce`, with the transaction ids already known (`ids[i]` must be
    /// `txs[i].id()`; a node has them from verification).
    pub fn produce_with_ids(
        chain_id: &str,
        height: u64,
        prev_hash: Hash,
        timestamp_ms: u64,
        txs: Vec<SignedTransaction>,
        ids: &[Hash],
        key: &k256::ecdsa::SigningKey,
    ) -> Block {
        debug_assert_eq!(ids.len(), txs.len());
        let header = BlockHeader {
            chain_id: chain_id.to_owned(),
            height,
            prev_hash,
            merkle_root: merkle::root(ids),
            timestamp_ms,
            tx_count: u32::try_from(txs.len()).unwrap_or(u32::MAX),
            producer: PublicKey::from(key.verifying_key()),
        };
        let signature = sign_digest(key, &header.hash());
        Block { header, signature, txs }
    }
}

/// Room left in a block being filled, counted the way the decoder counts: transactions and
/// encoded bytes. A block made only of what a budget took always decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockBudget {
    txs_left: usize,
    bytes_left: usize,
}

impl BlockBudget {
    /// An empty block's budget on `chain_id`.
    pub fn new(chain_id: &str) -> Self {
        BlockBudget { txs_left: MAX_BLOCK_TXS, bytes_left: MAX_BLOCK_BYTES.saturating_sub(Block::empty_len(chain_id)) }
    }
    /// Whether `txs` more transactions of `bytes` encoded bytes in all still fit.
    pub fn fits(&self, txs: usize, bytes: usize) -> bool {
        txs <= self.txs_left && bytes <= self.bytes_left
    }
    /// Takes room for them if they fit; says whether it did.
    pub fn take(&mut self, txs: usize, bytes: usize) -> bool {
        if !self.fits(txs, bytes) {
            return false;
        }
        self.txs_left -= txs;
        self.bytes_left -= bytes;
        true
    }
    /// No transaction fits any more.
    pub fn is_full(&self) -> bool {
        self.txs_left == 0
    }
}

impl Block {
    /// Encoded length of a block on `chain_id` with no transactions (header, signature and
    /// the list's length): what every block costs before its transactions.
    pub fn empty_len(chain_id: &str) -> usize {
        let block = Block {
            header: BlockHeader {
                chain_id: chain_id.to_owned(),
                height: 0,
                prev_hash: Hash::ZERO,
                merkle_root: Hash::ZERO,
                timestamp_ms: 0,
                tx_count: 0,
                producer: PublicKey([0; 33]),
            },
            signature: Signature([0; 64]),
            txs: Vec::new(),
        };
        block.to_canonical_bytes().len()
    }
}

/// Refuses a block timed more than `MAX_CLOCK_SKEW_MS` ahead of `local_now_ms`, the checking
/// node's clock. This is a node's own judgement (clocks differ), so it belongs where a node
/// may decline a block without the chain depending on it: before a block is accepted for
/// replication or produced, never in a rule every replica must decide alike.
pub fn check_block_time(header: &BlockHeader, local_now_ms: u64) -> Result<(), ChainError> {
    if header.timestamp_ms > local_now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
        return Err(ChainError::BadBlock {
            height: header.height,
            reason: format!(
                "is timed {} s ahead of this node's clock (at most {} s is allowed): the producing node's clock or this one's is wrong",
                (header.timestamp_ms - local_now_ms) / 1000,
                MAX_CLOCK_SKEW_MS / 1000
            ),
        });
    }
    Ok(())
}

/// Why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("block {height}: {reason}")]
    BadBlock { height: u64, reason: String },
    #[error("block {height}, transaction {index}: {rejection}")]
    BadTx { height: u64, index: usize, rejection: Rejection },
}

/// Where the chain stands: enough to check the next block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainTip {
    pub height: u64,
    pub hash: Hash,
    pub timestamp_ms: u64,
}

impl ChainTip {
    pub fn genesis(g: &Genesis) -> Self {
        ChainTip { height: 0, hash: g.hash(), timestamp_ms: g.timestamp_ms }
    }
}

/// Checks a block's header against the tip, its producer and signature, and its Merkle
/// root; transactions' signatures are checked by the caller (`verify_txs` or in parallel).
pub fn verify_header(
    genesis: &Genesis,
    tip: &ChainTip,
    block: &Block,
    verifier: &dyn SignatureVerifier,
) -> Result<(), ChainError> {
    let h = &block.header;
    let bad = |reason: &str| Err(ChainError::BadBlock { height: h.height, reason: reason.to_owned() });
    if h.chain_id != genesis.chain_id {
        return bad("belongs to another chain");
    }
    if h.height != tip.height + 1 {
        return bad("height does not follow the previous block");
    }
    if h.prev_hash != tip.hash {
        return bad("does not link to the previous block's hash");
    }
    if h.timestamp_ms < tip.timestamp_ms {
        return bad("is timed before the previous block");
    }
    if h.tx_count as usize != block.txs.len() {
        return bad("transaction count does not match");
    }
    if !genesis.is_authority(&h.producer) {
        return bad("was produced by a key that is not a genesis authority");
    }
    if block.signature.is_high_s() || !verifier.verify(&h.producer, &h.hash(), &block.signature) {
        return bad("producer signature does not verify");
    }
    if merkle::root(&block.tx_ids()) != h.merkle_root {
        return bad("Merkle root does not match its transactions");
    }
    Ok(())
}

/// Applies one block's verified transactions to `state` and advances `tip`; with `effects`,
/// also hands back what each one changed, in order (so another copy of the state can be
/// brought to the same place by `State::commit` alone). A block that fails here is invalid:
/// `state` may then hold part of it and must be discarded.
pub fn apply_block(
    state: &mut State,
    tip: &mut ChainTip,
    block: &Block,
    verified: &[VerifiedTx],
    mut effects: Option<&mut Vec<Effects>>,
) -> Result<(), ChainError> {
    let height = block.header.height;
    let now = block.header.now_secs();
    for (index, vtx) in verified.iter().enumerate() {
        let e = apply(state, vtx, now).map_err(|rejection| ChainError::BadTx { height, index, rejection })?;
        if let Some(out) = effects.as_deref_mut() {
            out.push(e.clone());
        }
        state.commit(e);
    }
    *tip = ChainTip { height, hash: block.hash(), timestamp_ms: block.header.timestamp_ms };
    Ok(())
}

/// Verifies every transaction signature of a block, in order.
pub fn verify_txs(block: &Block, verifier: &dyn SignatureVerifier) -> Result<Vec<VerifiedTx>, ChainError> {
    block
        .txs
        .iter()
        .enumerate()
        .map(|(index, t)| {
            t.clone().verify(verifier).map_err(|rejection| ChainError::BadTx {
                height: block.header.height,
                index,
                rejection,
            })
        })
        .collect()
}
