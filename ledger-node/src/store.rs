//! Durable storage in one embedded redb file: blocks by height, a transaction index, the
//! blob store with the uploads no record has anchored yet, refused access attempts, and the
//! genesis this data directory belongs to.
//! One write transaction (one fsync) per block.

use ledger_protocol::codec::{Decode, Encode};
use ledger_protocol::{Address, Block, Genesis, Hash};
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, RwLock};

const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
/// Transaction id → (height, index in block).
const TX_INDEX: TableDefinition<&[u8], (u64, u32)> = TableDefinition::new("tx_index");
const BLOBS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("blobs");
/// Uploader address ‖ blob id → (uploaded at, ms; size): uploads no record anchored yet.
const UPLOADS: TableDefinition<&[u8], (u64, u64)> = TableDefinition::new("uploads");
/// Patient address ‖ sequence → JSON of a refused access attempt.
const REFUSALS: TableDefinition<&[u8], &str> = TableDefinition::new("refusals");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Db(String),
    /// The disk refused a read or a write (full, or failing). Nothing of the operation was
    /// kept; the store reopens its file at the next operation.
    #[error(
        "the disk refused the write or read ({0}): if it is full, free space on it (nothing acknowledged is lost; the node carries on once there is room)"
    )]
    Disk(String),
    #[error(
        "this data directory belongs to another chain (genesis {found}); use a fresh directory or the matching genesis file"
    )]
    OtherChain { found: String },
    #[error("stored block {height} is unreadable: {reason}")]
    Corrupt { height: u64, reason: String },
}

/// Whether redb's error is the disk's (an I/O error now, or one before that left the open
/// file unusable until it is reopened).
fn disk(e: &redb::StorageError) -> bool {
    matches!(e, redb::StorageError::Io(_) | redb::StorageError::PreviousIo)
}

macro_rules! db_err {
    ($($t:ty => $storage:path),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                match &e {
                    $storage(s) if disk(s) => StoreError::Disk(e.to_string()),
                    _ => StoreError::Db(e.to_string()),
                }
            }
        }
    )*};
}
db_err!(
    redb::DatabaseError => redb::DatabaseError::Storage,
    redb::TransactionError => redb::TransactionError::Storage,
    redb::TableError => redb::TableError::Storage,
    redb::CommitError => redb::CommitError::Storage
);

impl From<redb::StorageError> for StoreError {
    fn from(e: redb::StorageError) -> Self {
        if disk(&e) { StoreError::Disk(e.to_string()) } else { StoreError::Db(e.to_string()) }
    }
}

/// The open database file. After the disk refused an operation, redb refuses every later
/// one until the file is reopened (`PreviousIo`); the next operation then reopens it (redb
/// recovers the last commit), so a disk that was full serves again once space is back,
/// without restarting the node.
struct Db {
    path: std::path::PathBuf,
    open: RwLock<Option<Database>>,
    /// Set when an operation failed for the disk: reopen before the next.
    reopen: AtomicBool,
    /// Held by each writing operation from before its transaction begins to after it ends:
    /// a write that waited for one the disk failed sees the failure and reopens first
    /// (redb must not commit on a file it marked for recovery).
    writes: Mutex<()>,
}

impl Db {
    fn new(path: std::path::PathBuf, db: Database) -> Self {
        Db { path, open: RwLock::new(Some(db)), reopen: AtomicBool::new(false), writes: Mutex::new(()) }
    }

    /// Runs `f` on the open database (reopening it first if the disk failed before).
    fn run<T>(&self, f: impl FnOnce(&Database) -> Result<T, StoreError>) -> Result<T, StoreError> {
        if self.reopen.load(Ordering::SeqCst) {
            self.reopen_now()?;
        }
        let g = self.open.read().unwrap_or_else(|p| p.into_inner());
        let Some(db) = g.as_ref() else {
            return Err(StoreError::Disk("the database file is closed after a disk error".into()));
        };
        let r = f(db);
        if let Err(StoreError::Disk(_)) = &r {
            self.reopen.store(true, Ordering::SeqCst);
        }
        r
    }

    /// Like `run`, for an operation that writes: one at a time.
    fn write<T>(&self, f: impl FnOnce(&Database) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let _one = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        self.run(f)
    }

    fn reopen_now(&self) -> Result<(), StoreError> {
        let mut g = self.open.write().unwrap_or_else(|p| p.into_inner());
        if !self.reopen.load(Ordering::SeqCst) {
            return Ok(()); // another thread did it
        }
        // The old handle must be closed before the file can be opened again.
        *g = None;
        let db = Database::create(&self.path).map_err(|e| match StoreError::from(e) {
            StoreError::Db(m) | StoreError::Disk(m) => {
                StoreError::Disk(format!("reopening {} after a disk error: {m}", self.path.display()))
            }
            other => other,
        })?;
        tracing::warn!(path = %self.path.display(), "reopened the database file after a disk error");
        *g = Some(db);
        self.reopen.store(false, Ordering::SeqCst);
        Ok(())
    }
}

pub struct Store {
    db: Db,
    /// Block commits still to fail on purpose (fault-injection tests).
    failing_commits: AtomicU32,
}

impl Store {
    /// Opens (or creates) `dir/ledger.redb` and binds it to `genesis`.
    pub fn open(dir: &Path, genesis: &Genesis) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Db(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join("ledger.redb");
        let db = Database::create(&path)?;
        let w = db.begin_write()?;
        {
            let mut meta = w.open_table(META)?;
            let want = genesis.hash();
            let found = meta.get("genesis")?.map(|v| v.value().to_vec());
            match found {
                Some(found) if found != want.0 => return Err(StoreError::OtherChain { found: hex::encode(found) }),
                Some(_) => {}
                None => {
                    meta.insert("genesis", want.0.as_slice())?;
                }
            }
            w.open_table(BLOCKS)?;
            w.open_table(TX_INDEX)?;
            w.open_table(BLOBS)?;
            w.open_table(UPLOADS)?;
            w.open_table(REFUSALS)?;
        }
        w.commit()?;
        Ok(Store { db: Db::new(path, db), failing_commits: AtomicU32::new(0) })
    }

    /// Writes a block and indexes its transactions in one durable commit.
    /// `ids[i]` must be the id of `block.txs[i]`.
    pub fn append_block(&self, block: &Block, ids: &[Hash]) -> Result<(), StoreError> {
        self.append_block_with_meta(block, ids, &[])
    }

    /// Like `append_block`, and writes `meta` (key, value) in the same commit.
    pub fn append_block_with_meta(
        &self,
        block: &Block,
        ids: &[Hash],
        meta: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        self.append_blocks_with_meta(&[(block, ids)], meta)
    }

    /// Writes blocks (each with its transactions' ids) and `meta` in one durable commit.
    pub fn append_blocks_with_meta(
        &self,
        blocks: &[(&Block, &[Hash])],
        meta: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        self.db.write(|db| {
            if self.failing_commits.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                return Err(StoreError::Db("the block commit failed (injected fault)".into()));
            }
            let w = db.begin_write()?;
            {
                let mut t = w.open_table(BLOCKS)?;
                let mut idx = w.open_table(TX_INDEX)?;
                for (block, ids) in blocks {
                    t.insert(block.header.height, block.to_canonical_bytes().as_slice())?;
                    for (i, id) in ids.iter().enumerate() {
                        idx.insert(id.0.as_slice(), (block.header.height, i as u32))?;
                    }
                }
                let mut m = w.open_table(META)?;
                for (k, v) in meta {
                    m.insert(*k, *v)?;
                }
            }
            w.commit()?;
            Ok(())
        })
    }

    /// Makes the next `n` block commits fail as a full or broken disk would, committing
    /// nothing: for tests of what the node does then.
    pub fn fail_next_block_commits(&self, n: u32) {
        self.failing_commits.store(n, Ordering::SeqCst);
    }

    /// Replaces the meta value of `key` with what `f` makes of the current one, in one
    /// commit (so a concurrent writer cannot slip between the read and the write); `None`
    /// keeps it.
    pub fn update_meta(&self, key: &str, f: impl FnOnce(Option<&[u8]>) -> Option<Vec<u8>>) -> Result<(), StoreError> {
        self.db.write(|db| {
            let w = db.begin_write()?;
            {
                let mut m = w.open_table(META)?;
                let new = {
                    let cur = m.get(key)?;
                    f(cur.as_ref().map(|v| v.value()))
                };
                if let Some(v) = new {
                    m.insert(key, v.as_slice())?;
                }
            }
            w.commit()?;
            Ok(())
        })
    }

    /// Writes `meta` (key, value) in one durable commit.
    pub fn put_meta(&self, meta: &[(&str, &[u8])]) -> Result<(), StoreError> {
        self.db.write(|db| {
            let w = db.begin_write()?;
            {
                let mut m = w.open_table(META)?;
                for (k, v) in meta {
                    m.insert(*k, *v)?;
                }
            }
            w.commit()?;
            Ok(())
        })
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.run(|db| {
            let r = db.begin_read()?;
            let t = r.open_table(META)?;
            Ok(t.get(key)?.map(|v| v.value().to_vec()))
        })
    }

    /// From one consistent read: the values of `keys` in the meta table, then the canonical
    /// bytes of every block up to `upto` (all of them when `None`), in order, each handed to
    /// `each` as it is read (the chain is never held in memory at once). Returns the values.
    pub fn each_block_with_meta(
        &self,
        keys: &[&str],
        upto: Option<u64>,
        mut each: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.db.run(|db| {
            let r = db.begin_read()?;
            let m = r.open_table(META)?;
            let mut meta = Vec::with_capacity(keys.len());
            for k in keys {
                meta.push(m.get(*k)?.map(|v| v.value().to_vec()));
            }
            let t = r.open_table(BLOCKS)?;
            for item in t.range(1..=upto.unwrap_or(u64::MAX))? {
                each(item?.1.value()).map_err(|e| StoreError::Disk(e.to_string()))?;
            }
            Ok(meta)
        })
    }

    /// The canonical bytes of the stored block at `height`.
    pub fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.run(|db| {
            let r = db.begin_read()?;
            Ok(r.open_table(BLOCKS)?.get(height)?.map(|v| v.value().to_vec()))
        })
    }

    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        self.db.run(|db| {
            let r = db.begin_read()?;
            let t = r.open_table(BLOCKS)?;
            match t.get(height)? {
                None => Ok(None),
                Some(v) => Block::from_canonical_bytes(v.value())
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt { height, reason: e.to_string() }),
            }
        })
    }

    pub fn height(&self) -> Result<u64, StoreError> {
        self.db.run(|db| {
            let r = db.begin_read()?;
            let t = r.open_table(BLOCKS)?;
            Ok(t.last()?.map(|(k, _)| k.value()).unwrap_or(0))
        })
    }

    /// Calls `f` with every stored block's height and canonical bytes from height 1 upward,
    /// in order, until it answers `false`. A gap in the heights is `Corrupt`.
    pub fn for_each_stored_block(&self, mut f: impl FnMut(u64, &[u8]) -> bool) -> Result<(), StoreError> {
        self.db.run(|db| {
            let r = db.begin_read()?;
            let t = r.open_table(BLOCKS)?;
            for (expected, item) in (1u64..).zip(t.iter()?) {
                let (k, v) = item?;
                let height = k.value();
                if height != expected {
                    return Err(StoreError::Corrupt {
                        height: expected,
                        reason: format!("is missing (the next stored block is {height})"),
                    });
                }
                if !f(height, v.value()) {
                    break;
                }
            }
            Ok(())
        })
    }

    /// A stored block's canonical bytes as they are, readable or not.
    pub fn stored_block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.run(|db| {
            let r = db.begin_read()?;
            let t = r.open_table(BLOCKS)?;
            Ok(t.get(height)?.map(|v| v.value().to_vec()))
        })
    }

    /// Removes block `from` and every later one, with their transactions' index entries,
    /// in one commit; returns the heights removed. For recovering a data directory whose
    /// chain cannot be replayed (the caller keeps the blocks first).
    pub fn remove_blocks_from(&self, from: u64) -> Result<Vec<u64>, StoreError> {
        self.db.write(|db| {
            let w = db.begin_write()?;
            let mut removed = Vec::new();
            {
                let mut t = w.open_table(BLOCKS)?;
                for item in t.range(from..)? {
                    removed.push(item?.0.value());
                }
                for h in &removed {
                    t.remove(*h)?;
                }
                let mut idx = w.open_table(TX_INDEX)?;
                let stale: Vec<Vec<u8>> = idx
                    .iter()?
                    .filter_map(|item| item.ok())
                    .filter(|(_, loc)| loc.value().0 >= from)
                    .map(|(k, _)| k.value().to_vec())
                    .collect();
                for k in stale {
                    idx.remove(k.as_slice())?;
                }
            }
            w.commit()?;
            Ok(removed)
        })
    }

    pub fn tx_location(&self, id: &Hash) -> Result<Option<(u64, u32)>, StoreError> {
        self.db.run(|db| {
            let r = db.begin_read()?;
            let t = r.open_table(TX_INDEX)?;
            Ok(t.get(id.0.as_slice())?.map(|v| v.value()))
        })
    }

    pub fn tx_count(&self) -> Result<u64, StoreError> {
        self.db.run(|db| {
            let r = db.begin_read()?;
            Ok(r.open_table(TX_INDEX)?.len()?)
        })
    }

    /// Stores a blob under its id (idempotent) in its own durable commit.
    pub fn put_blob(&self, id: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
        self.db.write(|db| {
            let w = db.begin_write()?;
            {
                let mut t = w.open_table(BLOBS)?;
                if t.get(id.0.as_slice())?.is_none() {
                    t.insert(id.0.as_slice(), bytes)?;
                }
            }
            w.commit()?;
            Ok(())
        })
    }

    /// Stores an account's upload unless its uploads that no record anchors yet (`anchored`
    /// says which blobs one does), and that are younger than `quota.kept_ms`, would then pass
    /// `quota`; the blob and its pending entry in one durable commit. A blob already anchored
    /// is stored (idempotently) without one.
    pub fn put_upload(
        &self,
        id: &Hash,
        bytes: &[u8],
        uploader: &Address,
        at_ms: u64,
        quota: UploadQuota,
        anchored: impl Fn(&Hash) -> bool,
    ) -> Result<Upload, StoreError> {
        if anchored(id) {
            self.put_blob(id, bytes)?;
            return Ok(Upload::Stored);
        }
        self.db.write(|db| {
            let w = db.begin_write()?;
            {
                let mut ups = w.open_table(UPLOADS)?;
                let (lo, hi) = (upload_key(uploader, &Hash([0; 32])), upload_key(uploader, &Hash([0xff; 32])));
                let (mut done, mut pending) = (Vec::new(), Pending::default());
                for e in ups.range(lo.as_slice()..=hi.as_slice())? {
                    let (k, v) = e?;
                    let blob = upload_blob(k.value());
                    let (at, size) = v.value();
                    if anchored(&blob) {
                        done.push(k.value().to_vec());
                    } else if blob != *id && at.saturating_add(quota.kept_ms) > at_ms {
                        pending.count += 1;
                        pending.bytes += size;
                        pending.oldest_ms = Some(pending.oldest_ms.map_or(at, |o: u64| o.min(at)));
                    }
                }
                for k in done {
                    ups.remove(k.as_slice())?;
                }
                if pending.count + 1 > quota.max_count || pending.bytes + bytes.len() as u64 > quota.max_bytes {
                    // Nothing is written: dropping the transaction aborts it.
                    return Ok(Upload::OverQuota(pending));
                }
                ups.insert(upload_key(uploader, id).as_slice(), (at_ms, bytes.len() as u64))?;
                let mut t = w.open_table(BLOBS)?;
                if t.get(id.0.as_slice())?.is_none() {
                    t.insert(id.0.as_slice(), bytes)?;
                }
            }
            w.commit()?;
            Ok(Upload::Stored)
        })
    }

    /// Removes the uploads no record anchored that were made before `cutoff_ms` (and forgets
    /// the anchored ones, which stay); returns how many blobs and bytes were removed. A blob
    /// another account uploaded since, or a record anchors, stays.
    pub fn sweep_uploads(&self, cutoff_ms: u64, anchored: impl Fn(&Hash) -> bool) -> Result<(u64, u64), StoreError> {
        self.db.write(|db| {
            let w = db.begin_write()?;
            let (mut removed, mut freed) = (0, 0);
            {
                let mut ups = w.open_table(UPLOADS)?;
                let (mut forget, mut expired, mut kept) = (Vec::new(), Vec::new(), std::collections::HashSet::new());
                for e in ups.iter()? {
                    let (k, v) = e?;
                    let blob = upload_blob(k.value());
                    let (at, size) = v.value();
                    if anchored(&blob) {
                        forget.push(k.value().to_vec());
                    } else if at < cutoff_ms {
                        forget.push(k.value().to_vec());
                        expired.push((blob, size));
                    } else {
                        kept.insert(blob);
                    }
                }
                for k in forget {
                    ups.remove(k.as_slice())?;
                }
                let mut blobs = w.open_table(BLOBS)?;
                for (blob, size) in expired {
                    if !kept.contains(&blob) && blobs.remove(blob.0.as_slice())?.is_some() {
                        removed += 1;
                        freed += size;
                    }
                }
            }
            w.commit()?;
            Ok((removed, freed))
        })
    }

    /// Free space, in bytes, on the filesystem that holds the database file (what an
    /// unprivileged writer may still use).
    pub fn free_bytes(&self) -> Result<u64, StoreError> {
        let dir = self.db.path.parent().unwrap_or(Path::new("."));
        let st = rustix::fs::statvfs(dir)
            .map_err(|e| StoreError::Disk(format!("cannot tell the free space of {}: {e}", dir.display())))?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Those of `ids` whose blob this store does not hold, from one read.
    pub fn missing_blobs(&self, ids: &[Hash]) -> Result<Vec<Hash>, StoreError> {
        self.db.run(|db| {
            let r = db.begin_read()?;
            let t = r.open_table(BLOBS)?;
            let mut out = Vec::new();
            for id in ids {
                if t.get(id.0.as_slice())?.is_none() {
                    out.push(*id);
                }
            }
            Ok(out)
        })
    }

    pub fn blob(&self, id: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.run(|db| {
            let r = db.begin_read()?;
            let t = r.open_table(BLOBS)?;
            Ok(t.get(id.0.as_slice())?.map(|v| v.value().to_vec()))
        })
    }

    /// Records a refused access attempt against the patient whose data was asked for, keeping
    /// the newest `MAX_REFUSALS_KEPT` of them.
    pub fn log_refusal(&self, patient: &Address, json: &str) -> Result<(), StoreError> {
        self.db.write(|db| {
            let w = db.begin_write()?;
            {
                let mut t = w.open_table(REFUSALS)?;
                let lo = refusal_key(patient, 0);
                let hi = refusal_key(patient, u64::MAX);
                let next = t.range(lo.as_slice()..=hi.as_slice())?.next_back().transpose()?.map_or(0, |(k, _)| {
                    let mut seq = [0u8; 8];
                    seq.copy_from_slice(&k.value()[20..28]);
                    u64::from_be_bytes(seq) + 1
                });
                t.insert(refusal_key(patient, next).as_slice(), json)?;
                if let Some(oldest_kept) = (next + 1).checked_sub(MAX_REFUSALS_KEPT) {
                    let old = refusal_key(patient, oldest_kept);
                    t.retain_in(lo.as_slice()..old.as_slice(), |_, _| false)?;
                }
            }
            w.commit()?;
            Ok(())
        })
    }

    /// A patient's refused access attempts, oldest first.
    pub fn refusals(&self, patient: &Address) -> Result<Vec<String>, StoreError> {
        self.db.run(|db| {
            let r = db.begin_read()?;
            let t = r.open_table(REFUSALS)?;
            let lo = refusal_key(patient, 0);
            let hi = refusal_key(patient, u64::MAX);
            let mut out = Vec::new();
            for item in t.range(lo.as_slice()..=hi.as_slice())? {
                out.push(item?.1.value().to_owned());
            }
            Ok(out)
        })
    }
}

/// How many refused access attempts are kept per patient (the newest).
pub const MAX_REFUSALS_KEPT: u64 = 500;

/// What one account may have uploaded that no record anchors yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadQuota {
    pub max_count: u64,
    pub max_bytes: u64,
    /// An upload no record anchors within this long (ms) no longer counts, and is removed.
    pub kept_ms: u64,
}

/// An account's uploads that no record anchors yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    pub count: u64,
    pub bytes: u64,
    /// When the oldest of them was uploaded (ms).
    pub oldest_ms: Option<u64>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Upload {
    Stored,
    /// Refused: storing it would pass the quota; what the account has pending.
    OverQuota(Pending),
}

fn upload_key(uploader: &Address, blob: &Hash) -> [u8; 52] {
    let mut k = [0u8; 52];
    k[..20].copy_from_slice(&uploader.0);
    k[20..].copy_from_slice(&blob.0);
    k
}

fn upload_blob(key: &[u8]) -> Hash {
    let mut h = [0u8; 32];
    if let Some(id) = key.get(20..52) {
        h.copy_from_slice(id);
    }
    Hash(h)
}

fn refusal_key(patient: &Address, seq: u64) -> [u8; 28] {
    let mut k = [0u8; 28];
    k[..20].copy_from_slice(&patient.0);
    k[20..].copy_from_slice(&seq.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_protocol::Genesis;

    #[test]
    fn a_patients_refusals_keep_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = Genesis { chain_id: "t".into(), timestamp_ms: 0, authorities: vec![] };
        let store = Store::open(dir.path(), &genesis).unwrap();
        let (patient, other) = (Address([1; 20]), Address([2; 20]));
        store.log_refusal(&other, "other").unwrap();
        for i in 0..MAX_REFUSALS_KEPT + 20 {
            store.log_refusal(&patient, &i.to_string()).unwrap();
        }
        let kept = store.refusals(&patient).unwrap();
        assert_eq!(kept.len() as u64, MAX_REFUSALS_KEPT);
        assert_eq!(kept.first().unwrap(), "20");
        assert_eq!(kept.last().unwrap(), &(MAX_REFUSALS_KEPT + 19).to_string());
        assert_eq!(store.refusals(&other).unwrap(), ["other"], "another patient's are untouched");
    }
}
