//! The Raft state machine is the ledger itself. Applying an entry re-checks the block it
//! carries as if it came from a stranger (producer signature, link, Merkle root, every
//! transaction signature, every rule) and stores it with the applied log id in one redb
//! commit; a block that fails is refused on every node alike. A snapshot is the chain's
//! blocks up to the applied entry, and installing one re-checks each block it adds.

#![allow(clippy::result_large_err, reason = "openraft's StorageError is the error type its storage traits require")]

use super::types::{
    Applied, AppliedMark, Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig, io_err, read_err,
};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use ledger_protocol::codec::{Decode, Encode};
use ledger_protocol::{Block, Hash, VerifiedTx};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

const APPLIED: &str = "raft_applied";
const MEMBERSHIP: &str = "raft_membership";
const SNAPSHOT: &str = "raft_snapshot";
const SNAPSHOT_MAGIC: &[u8; 8] = b"HCSNAP1\0";

/// Transactions this process verified on arrival, by the hash of the block the leader put
/// them in. The block hash covers their ids (hashes of their signed bytes), so applying
/// that exact block need not verify them again.
#[derive(Default)]
pub struct LocalProposals(Mutex<HashMap<Hash, Vec<VerifiedTx>>>);

impl LocalProposals {
    pub fn insert(&self, block: Hash, txs: Vec<VerifiedTx>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(block, txs);
    }
    pub fn take(&self, block: &Hash) -> Option<Vec<VerifiedTx>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(block)
    }
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    height: u64,
}

#[derive(Clone)]
pub struct StateMachine {
    ledger: Arc<Ledger>,
    local: Arc<LocalProposals>,
    metrics: Arc<Metrics>,
    mark: AppliedMark,
}

impl StateMachine {
    pub fn new(ledger: Arc<Ledger>, local: Arc<LocalProposals>, metrics: Arc<Metrics>) -> Result<Self, StorageError> {
        let mark = AppliedMark::new(Self::read_applied(&ledger)?.0);
        Ok(StateMachine { ledger, local, metrics, mark })
    }

    /// How far this state machine has applied, for the log store's purges.
    pub fn mark(&self) -> AppliedMark {
        self.mark.clone()
    }

    /// Applies one entry on a blocking thread; returns what it did.
    fn apply_one(
        ledger: &Ledger,
        local: &LocalProposals,
        metrics: &Metrics,
        entry: Entry,
    ) -> Result<Applied, StorageError> {
        let applied = json(&Some(entry.log_id))?;
        match entry.payload {
            EntryPayload::Blank => {
                ledger.store.put_meta(&[(APPLIED, &applied)]).map_err(|e| io_err("state machine", e))?;
                Ok(Applied::Internal)
            }
            EntryPayload::Membership(m) => {
                let stored = json(&StoredMembership::new(Some(entry.log_id), m))?;
                ledger
                    .store
                    .put_meta(&[(APPLIED, &applied), (MEMBERSHIP, &stored)])
                    .map_err(|e| io_err("state machine", e))?;
                Ok(Applied::Internal)
            }
            EntryPayload::Normal(proposal) => {
                let outcome = match Block::from_canonical_bytes(&proposal.0) {
                    Err(e) => Err(format!("the proposed block could not be read: {e}")),
                    Ok(block) => {
                        let pre = local.take(&block.hash());
                        let started = std::time::Instant::now();
                        match ledger
                            .apply_block_from_peer(&block, pre, &[(APPLIED, &applied)])
                            .map_err(|e| io_err("state machine", e))?
                        {
                            Ok(tip) => {
                                metrics.block_committed(block.txs.len(), started.elapsed());
                                Ok((tip.height, tip.hash))
                            }
                            Err(e) => Err(e.to_string()),
                        }
                    }
                };
                match outcome {
                    Ok((height, hash)) => Ok(Applied::Block { height, hash }),
                    Err(reason) => {
                        tracing::error!(log = %entry.log_id, %reason, "refused a block proposed through Raft");
                        ledger.store.put_meta(&[(APPLIED, &applied)]).map_err(|e| io_err("state machine", e))?;
                        Ok(Applied::Refused { reason })
                    }
                }
            }
        }
    }

    fn read_applied(ledger: &Ledger) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = match ledger.store.meta(APPLIED).map_err(|e| read_err("state machine", e))? {
            Some(b) => unjson(&b)?,
            None => None,
        };
        let membership = match ledger.store.meta(MEMBERSHIP).map_err(|e| read_err("state machine", e))? {
            Some(b) => unjson(&b)?,
            None => StoredMembership::default(),
        };
        Ok((applied, membership))
    }
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(v).map_err(|e| io_err("encoding state machine metadata", e))
}

fn unjson<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(b).map_err(|e| read_err("state machine metadata", e))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| io_err("state machine task", e))?
}

/// Fault injection for the crash tests, in debug builds only: holds a snapshot install open
/// just before its commit for `FAULT_INSTALL_PAUSE_MS` milliseconds, saying so on the log,
/// so that a test's SIGKILL lands inside the install.
fn pause_for_fault_tests() {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var(FAULT_INSTALL_PAUSE_MS).ok().and_then(|v| v.parse::<u64>().ok()) {
        tracing::warn!(ms, "fault injection: the snapshot install pauses before its commit");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// The environment variable `pause_for_fault_tests` reads.
pub const FAULT_INSTALL_PAUSE_MS: &str = "HEALTHCHAIN_FAULT_INSTALL_PAUSE_MS";

/// Snapshot bytes: a magic tag, the block count, then each block's canonical bytes with
/// its length (all big-endian).
pub fn encode_snapshot(blocks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + blocks.iter().map(|b| b.len() + 4).sum::<usize>());
    out.extend_from_slice(SNAPSHOT_MAGIC);
    out.extend_from_slice(&(blocks.len() as u64).to_be_bytes());
    for b in blocks {
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(b);
    }
    out
}

/// The blocks of a snapshot, or what is wrong with it. Never panics on any input.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let rest = bytes.strip_prefix(SNAPSHOT_MAGIC.as_slice()).ok_or("not a ledger snapshot (bad magic)")?;
    let (count, mut rest) = rest.split_first_chunk::<8>().ok_or("snapshot ends before its block count")?;
    let count = u64::from_be_bytes(*count);
    let mut out = Vec::new();
    for i in 0..count {
        let (len, tail) = rest.split_first_chunk::<4>().ok_or(format!("snapshot ends inside block {}", i + 1))?;
        let len = u32::from_be_bytes(*len) as usize;
        if tail.len() < len {
            return Err(format!("snapshot ends inside block {}", i + 1));
        }
        let (block, tail) = tail.split_at(len);
        out.push(block);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err("snapshot has bytes after its last block".into());
    }
    Ok(out)
}

fn build(ledger: &Ledger, upto: Option<u64>) -> Result<(Option<LogId>, StoredMembership, u64, Vec<u8>), StorageError> {
    let (meta, blocks) = ledger
        .store
        .blocks_with_meta(&[APPLIED, MEMBERSHIP], upto)
        .map_err(|e| read_err("reading blocks for a snapshot", e))?;
    let applied: Option<LogId> = match &meta[0] {
        Some(b) => unjson(b)?,
        None => None,
    };
    let membership: StoredMembership = match &meta[1] {
        Some(b) => unjson(b)?,
        None => StoredMembership::default(),
    };
    Ok((applied, membership, blocks.len() as u64, encode_snapshot(&blocks)))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let ledger = self.ledger.clone();
        blocking(move || {
            let (applied, membership, height, data) = build(&ledger, None)?;
            let meta = SnapshotMeta {
                last_log_id: applied,
                last_membership: membership,
                snapshot_id: format!("{}-h{height}", applied.map_or(0, |l| l.index)),
            };
            let stored = json(&StoredSnapshot { meta: meta.clone(), height })?;
            // An installed snapshot may have landed while this one was built: keep the newer.
            ledger
                .store
                .update_meta(SNAPSHOT, |cur| {
                    let cur: Option<StoredSnapshot> = cur.and_then(|b| serde_json::from_slice(b).ok());
                    match cur {
                        Some(c) if c.meta.last_log_id >= meta.last_log_id => None,
                        _ => Some(stored),
                    }
                })
                .map_err(|e| io_err("saving snapshot metadata", e))?;
            tracing::info!(height, bytes = data.len(), log = ?applied, "snapshot built");
            Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
        })
        .await
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Self::read_applied(&self.ledger)
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let (ledger, local, metrics, mark) =
            (self.ledger.clone(), self.local.clone(), self.metrics.clone(), self.mark.clone());
        blocking(move || {
            let mut out = Vec::with_capacity(entries.len());
            for e in entries {
                let log_id = e.log_id;
                out.push(Self::apply_one(&ledger, &local, &metrics, e)?);
                mark.applied(Some(log_id));
            }
            metrics.set_height(ledger.head().tip.height);
            Ok(out)
        })
        .await
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let ledger = self.ledger.clone();
        let meta = meta.clone();
        let (metrics, mark) = (self.metrics.clone(), self.mark.clone());
        let last = meta.last_log_id;
        let installed = blocking(move || {
            let data = snapshot.into_inner();
            let blocks = decode_snapshot(&data).map_err(|e| read_err("installing a snapshot", e))?;
            let have = ledger.head().tip.height;
            if have > blocks.len() as u64 {
                return Err(read_err(
                    "installing a snapshot",
                    format!("the snapshot ends at block {} but this node already holds {have}", blocks.len()),
                ));
            }
            let mut new = Vec::new();
            for (i, raw) in blocks.iter().enumerate() {
                let height = i as u64 + 1;
                if height <= have {
                    // Blocks this node already holds must be the very same ones.
                    let mine = ledger.store.block(height).map_err(|e| read_err("installing a snapshot", e))?;
                    if mine.map(|b| b.to_canonical_bytes()).as_deref() != Some(*raw) {
                        return Err(read_err(
                            "installing a snapshot",
                            format!("block {height} of the snapshot differs from the one stored here"),
                        ));
                    }
                    continue;
                }
                new.push(
                    Block::from_canonical_bytes(raw)
                        .map_err(|e| read_err("installing a snapshot", format!("block {height}: {e}")))?,
                );
            }
            let added = new.len();
            let height = blocks.len() as u64;
            let stored = json(&StoredSnapshot { meta: meta.clone(), height })?;
            let (applied, membership) = (json(&meta.last_log_id)?, json(&meta.last_membership)?);
            pause_for_fault_tests();
            // The new blocks, each re-verified, and what the snapshot stands for, in one
            // commit: a crash part-way leaves the node as it was before.
            ledger
                .install_blocks(&new, &[(APPLIED, &applied), (MEMBERSHIP, &membership), (SNAPSHOT, &stored)])
                .map_err(|e| io_err("installing a snapshot", e))?
                .map_err(|e| read_err("installing a snapshot", format!("refused: {e}")))?;
            metrics.set_height(ledger.head().tip.height);
            tracing::info!(height, added, log = ?meta.last_log_id, "snapshot installed; every added block re-verified");
            Ok(())
        })
        .await;
        match &installed {
            Ok(()) => mark.applied(last),
            Err(_) => mark.install_failed(last),
        }
        installed
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let ledger = self.ledger.clone();
        blocking(move || {
            let Some(b) = ledger.store.meta(SNAPSHOT).map_err(|e| read_err("state machine", e))? else {
                return Ok(None);
            };
            let stored: StoredSnapshot = unjson(&b)?;
            let (_, _, height, data) = build(&ledger, Some(stored.height))?;
            if height != stored.height {
                return Err(read_err("state machine", "the stored chain is shorter than the saved snapshot"));
            }
            Ok(Some(Snapshot { meta: stored.meta, snapshot: Box::new(Cursor::new(data)) }))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_framing_round_trips_and_refuses_damage() {
        let blocks = vec![vec![1u8, 2, 3], vec![], vec![9u8; 300]];
        let bytes = encode_snapshot(&blocks);
        let back: Vec<Vec<u8>> = decode_snapshot(&bytes).unwrap().into_iter().map(<[u8]>::to_vec).collect();
        assert_eq!(back, blocks);
        for cut in 0..bytes.len() {
            assert!(decode_snapshot(&bytes[..cut]).is_err(), "a snapshot cut at {cut} bytes is refused");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_snapshot(&longer).is_err());
        let mut huge = bytes;
        huge[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(decode_snapshot(&huge).is_err(), "a count larger than the data is refused without allocating it");
    }
}
