//! The Raft state machine is the ledger itself. Applying an entry re-checks the block it
//! carries as if it came from a stranger (producer signature, link, Merkle root, every
//! transaction signature, every rule) and stores it with the applied log id in one redb
//! commit; a block that fails is refused on every node alike. A snapshot is the chain's
//! blocks up to the applied entry, streamed through an unnamed file in the data directory
//! (never the whole chain in memory); installing one re-checks each block it adds.

#![allow(clippy::result_large_err, reason = "openraft's StorageError is the error type its storage traits require")]

use super::types::{
    Applied, AppliedMark, Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig, io_err, read_err,
};
use crate::ledger::Ledger;
use crate::metrics::Metrics;
use ledger_protocol::block::MAX_BLOCK_BYTES;
use ledger_protocol::codec::Decode;
use ledger_protocol::{Block, Hash, VerifiedTx};
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot};
use openraft::{EntryPayload, OptionalSend};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const APPLIED: &str = "raft_applied";
const MEMBERSHIP: &str = "raft_membership";
const SNAPSHOT: &str = "raft_snapshot";
const SNAPSHOT_MAGIC: &[u8; 8] = b"HCSNAP1\0";
/// Blocks an install commits at a time.
const INSTALL_RANGE_BLOCKS: usize = 256;

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
    /// Where snapshot files are made (the data directory: the chain's size fits there).
    dir: Arc<PathBuf>,
    /// Told after each snapshot install (the records it brought may have blobs this node
    /// lacks: `blobs::restore_in_background` listens).
    pub installed: Arc<tokio::sync::Notify>,
}

impl StateMachine {
    pub fn new(
        ledger: Arc<Ledger>,
        local: Arc<LocalProposals>,
        metrics: Arc<Metrics>,
        dir: &Path,
    ) -> Result<Self, StorageError> {
        let mark = AppliedMark::new(Self::read_applied(&ledger)?.0);
        Ok(StateMachine {
            ledger,
            local,
            metrics,
            mark,
            dir: Arc::new(dir.to_path_buf()),
            installed: Default::default(),
        })
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
                    Ok(block)
                        if ledger.store.block_bytes(block.header.height).ok().flatten().as_ref()
                            == Some(&proposal.0) =>
                    {
                        // Already stored by a snapshot install cut off before its last range
                        // (which carries the applied mark): applying it again changes nothing.
                        ledger.store.put_meta(&[(APPLIED, &applied)]).map_err(|e| io_err("state machine", e))?;
                        Ok((block.header.height, block.hash()))
                    }
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

/// Writes snapshot bytes: a magic tag, the block count, then each block's canonical bytes
/// with its length (all big-endian), one block at a time.
pub struct SnapshotWriter<W: Write + Seek> {
    out: W,
    count: u64,
}

impl<W: Write + Seek> SnapshotWriter<W> {
    pub fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(SNAPSHOT_MAGIC)?;
        out.write_all(&0u64.to_be_bytes())?;
        Ok(SnapshotWriter { out, count: 0 })
    }

    pub fn block(&mut self, canonical: &[u8]) -> std::io::Result<()> {
        let len =
            u32::try_from(canonical.len()).map_err(|_| std::io::Error::other("a block too long for a snapshot"))?;
        self.out.write_all(&len.to_be_bytes())?;
        self.out.write_all(canonical)?;
        self.count += 1;
        Ok(())
    }

    /// Writes the count in its place and hands back the output, positioned at its start.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        self.out.seek(SeekFrom::Start(SNAPSHOT_MAGIC.len() as u64))?;
        self.out.write_all(&self.count.to_be_bytes())?;
        self.out.flush()?;
        self.out.seek(SeekFrom::Start(0))?;
        Ok((self.out, self.count))
    }
}

/// Reads snapshot bytes one block at a time, so a snapshot of any length is checked
/// without holding it in memory. Never panics and never allocates more than one block's
/// bound on any input.
pub struct SnapshotReader<R: Read> {
    input: R,
    count: u64,
    read: u64,
}

impl<R: Read> SnapshotReader<R> {
    pub fn new(mut input: R) -> Result<Self, String> {
        let mut head = [0u8; 16];
        input.read_exact(&mut head).map_err(|_| "not a ledger snapshot (it ends before its header)")?;
        if &head[..8] != SNAPSHOT_MAGIC.as_slice() {
            return Err("not a ledger snapshot (bad magic)".into());
        }
        let count = u64::from_be_bytes(head[8..].try_into().map_err(|_| "snapshot header")?);
        Ok(SnapshotReader { input, count, read: 0 })
    }

    /// How many blocks the snapshot says it holds.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The next block's canonical bytes; `None` after the last one, once the input is
    /// checked to end there.
    pub fn next_block(&mut self) -> Result<Option<Vec<u8>>, String> {
        if self.read == self.count {
            let mut extra = [0u8; 1];
            return match self.input.read(&mut extra) {
                Ok(0) => Ok(None),
                Ok(_) => Err("snapshot has bytes after its last block".into()),
                Err(e) => Err(format!("reading the snapshot: {e}")),
            };
        }
        let at = self.read + 1;
        let mut len = [0u8; 4];
        self.input.read_exact(&mut len).map_err(|_| format!("snapshot ends inside block {at}"))?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_BLOCK_BYTES {
            return Err(format!("block {at} of the snapshot claims {len} bytes, more than a block may hold"));
        }
        let mut block = Vec::with_capacity(len.min(1 << 16));
        (&mut self.input)
            .take(len as u64)
            .read_to_end(&mut block)
            .map_err(|e| format!("reading block {at} of the snapshot: {e}"))?;
        if block.len() < len {
            return Err(format!("snapshot ends inside block {at}"));
        }
        self.read = at;
        Ok(Some(block))
    }
}

/// The snapshot bytes of `blocks`, in memory (for tests and fuzzing).
pub fn encode_snapshot(blocks: &[Vec<u8>]) -> Vec<u8> {
    let mut w = SnapshotWriter::new(Cursor::new(Vec::new())).expect("writing to memory");
    for b in blocks {
        w.block(b).expect("writing to memory");
    }
    w.finish().expect("writing to memory").0.into_inner()
}

/// The blocks of in-memory snapshot bytes, or what is wrong with them.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut r = SnapshotReader::new(bytes)?;
    let mut out = Vec::new();
    while let Some(b) = r.next_block()? {
        out.push(b);
    }
    Ok(out)
}

/// Streams the chain up to `upto` (all of it when `None`) into a new unnamed file in `dir`,
/// with the applied log id and membership read in the same transaction.
fn build(
    ledger: &Ledger,
    dir: &Path,
    upto: Option<u64>,
) -> Result<(Option<LogId>, StoredMembership, u64, tokio::fs::File), StorageError> {
    let file = tempfile::tempfile_in(dir).map_err(|e| io_err("creating a snapshot file", e))?;
    let mut w = SnapshotWriter::new(BufWriter::new(file)).map_err(|e| io_err("writing a snapshot", e))?;
    let meta = ledger
        .store
        .each_block_with_meta(&[APPLIED, MEMBERSHIP], upto, |b| w.block(b))
        .map_err(|e| read_err("reading blocks for a snapshot", e))?;
    let (out, height) = w.finish().map_err(|e| io_err("writing a snapshot", e))?;
    let file = out.into_inner().map_err(|e| io_err("writing a snapshot", e.into_error()))?;
    let applied: Option<LogId> = match &meta[0] {
        Some(b) => unjson(b)?,
        None => None,
    };
    let membership: StoredMembership = match &meta[1] {
        Some(b) => unjson(b)?,
        None => StoredMembership::default(),
    };
    Ok((applied, membership, height, tokio::fs::File::from_std(file)))
}

/// Installs the snapshot `blocks` reads: blocks this node holds must be the very same,
/// each new one is re-verified, and they are committed `range` at a time (a long chain is
/// never held in memory); the last range carries `meta`, what the snapshot stands for. A
/// crash or a refusal part-way leaves a verified prefix of the chain and the old applied
/// mark, so the node starts again where it was and the install is simply done again.
fn install_from<R: Read>(
    ledger: &Ledger,
    mut blocks: SnapshotReader<R>,
    range: usize,
    meta: &[(&str, &[u8])],
) -> Result<(u64, usize), StorageError> {
    let fail = |e: String| read_err("installing a snapshot", e);
    let have = ledger.head().tip.height;
    let total = blocks.count();
    if have > total {
        return Err(fail(format!("the snapshot ends at block {total} but this node already holds {have}")));
    }
    let (mut height, mut added, mut batch) = (0u64, 0usize, Vec::new());
    let mut commit = |batch: &mut Vec<Block>, meta: &[(&str, &[u8])]| -> Result<(), StorageError> {
        ledger
            .install_blocks(batch, meta)
            .map_err(|e| io_err("installing a snapshot", e))?
            .map_err(|e| fail(format!("refused: {e}")))?;
        added += batch.len();
        batch.clear();
        Ok(())
    };
    while let Some(raw) = blocks.next_block().map_err(fail)? {
        height += 1;
        if height <= have {
            let mine = ledger.store.block_bytes(height).map_err(|e| read_err("installing a snapshot", e))?;
            if mine.as_deref() != Some(raw.as_slice()) {
                return Err(fail(format!("block {height} of the snapshot differs from the one stored here")));
            }
            continue;
        }
        batch.push(Block::from_canonical_bytes(&raw).map_err(|e| fail(format!("block {height}: {e}")))?);
        if batch.len() >= range && height < total {
            commit(&mut batch, &[])?;
        }
    }
    pause_for_fault_tests();
    commit(&mut batch, meta)?;
    Ok((height, added))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (ledger, dir) = (self.ledger.clone(), self.dir.clone());
        blocking(move || {
            let (applied, membership, height, data) = build(&ledger, &dir, None)?;
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
            tracing::info!(height, log = ?applied, "snapshot built");
            Ok(Snapshot { meta, snapshot: Box::new(data) })
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

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let dir = self.dir.clone();
        let file =
            blocking(move || tempfile::tempfile_in(&*dir).map_err(|e| io_err("creating a snapshot file", e))).await?;
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        let ledger = self.ledger.clone();
        let meta = meta.clone();
        let (metrics, mark) = (self.metrics.clone(), self.mark.clone());
        let last = meta.last_log_id;
        let file = snapshot.into_std().await;
        let installed = blocking(move || {
            let mut file = file;
            file.seek(SeekFrom::Start(0)).map_err(|e| read_err("installing a snapshot", e))?;
            let blocks = SnapshotReader::new(BufReader::new(file)).map_err(|e| read_err("installing a snapshot", e))?;
            let height = blocks.count();
            let stored = json(&StoredSnapshot { meta: meta.clone(), height })?;
            let (applied, membership) = (json(&meta.last_log_id)?, json(&meta.last_membership)?);
            let metas: [(&str, &[u8]); 3] = [(APPLIED, &applied), (MEMBERSHIP, &membership), (SNAPSHOT, &stored)];
            let installed = install_from(&ledger, blocks, INSTALL_RANGE_BLOCKS, &metas);
            metrics.set_height(ledger.head().tip.height);
            let (height, added) = installed?;
            tracing::info!(height, added, log = ?meta.last_log_id, "snapshot installed; every added block re-verified");
            Ok(())
        })
        .await;
        match &installed {
            Ok(()) => {
                mark.applied(last);
                self.installed.notify_one();
            }
            Err(_) => mark.install_failed(last),
        }
        installed
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let (ledger, dir) = (self.ledger.clone(), self.dir.clone());
        blocking(move || {
            let Some(b) = ledger.store.meta(SNAPSHOT).map_err(|e| read_err("state machine", e))? else {
                return Ok(None);
            };
            let stored: StoredSnapshot = unjson(&b)?;
            let (_, _, height, data) = build(&ledger, &dir, Some(stored.height))?;
            if height != stored.height {
                return Err(read_err("state machine", "the stored chain is shorter than the saved snapshot"));
            }
            Ok(Some(Snapshot { meta: stored.meta, snapshot: Box::new(data) }))
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
        assert_eq!(decode_snapshot(&bytes).unwrap(), blocks);
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

    /// A chain of `n` empty blocks signed by the authority of a fresh genesis, and a
    /// ledger over that genesis in `dir`.
    fn chain(dir: &Path, n: u64) -> (Ledger, Vec<Block>) {
        use ledger_protocol::{Genesis, GenesisAuthority, PublicKey};
        let key = k256::ecdsa::SigningKey::from_slice(&[5u8; 32]).unwrap();
        let pk = PublicKey::from(key.verifying_key());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        let genesis = Genesis {
            chain_id: "snapshot-chain".into(),
            timestamp_ms: now - 60_000,
            authorities: vec![GenesisAuthority { name: "H".into(), key: pk, encryption_key: pk }],
        };
        let mut prev = ledger_protocol::ChainTip::genesis(&genesis).hash;
        let blocks: Vec<Block> = (1..=n)
            .map(|h| {
                let b = Block::produce("snapshot-chain", h, prev, now - 60_000 + h * 10, vec![], &key);
                prev = b.hash();
                b
            })
            .collect();
        (Ledger::open(dir, genesis).unwrap(), blocks)
    }

    #[test]
    fn an_install_cut_short_keeps_a_verified_prefix_and_is_done_again() {
        use ledger_protocol::codec::Encode;
        let dir = tempfile::tempdir().unwrap();
        let (ledger, blocks) = chain(dir.path(), 7);
        let good = encode_snapshot(&blocks.iter().map(|b| b.to_canonical_bytes()).collect::<Vec<_>>());
        let mut raw: Vec<Vec<u8>> = blocks.iter().map(|b| b.to_canonical_bytes()).collect();
        let last = raw.len() - 1;
        let end = raw[last].len() - 1;
        raw[last][end] ^= 0xff;
        let damaged = encode_snapshot(&raw);
        let metas: [(&str, &[u8]); 1] = [(APPLIED, b"marked")];

        let refused = install_from(&ledger, SnapshotReader::new(&damaged[..]).unwrap(), 2, &metas);
        assert!(refused.is_err(), "a snapshot whose last block is damaged is refused");
        assert_eq!(ledger.head().tip.height, 6, "the verified ranges before the damage stay");
        assert_eq!(ledger.store.meta(APPLIED).unwrap(), None, "the applied mark is not moved");

        assert_eq!(install_from(&ledger, SnapshotReader::new(&good[..]).unwrap(), 2, &metas).unwrap(), (7, 1));
        assert_eq!(ledger.head().tip.height, 7);
        assert_eq!(ledger.store.meta(APPLIED).unwrap().as_deref(), Some(&b"marked"[..]));

        // A log entry for a block the install already stored is applied as that block.
        let entry = Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), 9),
            payload: EntryPayload::Normal(super::super::types::BlockProposal(raw[2].clone())),
        };
        let applied = StateMachine::apply_one(&ledger, &LocalProposals::default(), &Metrics::default(), entry).unwrap();
        assert_eq!(applied, Applied::Block { height: 3, hash: blocks[2].hash() });
        assert_eq!(ledger.head().tip.height, 7);

        // A snapshot that disagrees with what is stored is refused and changes nothing.
        let mut other = raw.clone();
        other[0][20] ^= 1;
        let other = encode_snapshot(&other);
        assert!(install_from(&ledger, SnapshotReader::new(&other[..]).unwrap(), 2, &metas).is_err());
        assert_eq!(ledger.head().tip.height, 7);
    }
}
