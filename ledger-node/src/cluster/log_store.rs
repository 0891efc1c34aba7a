//! The Raft log, durably in its own redb file (`raft-log.redb` in the data directory):
//! entries by index, the vote, the committed and purged log ids. Each append is one
//! durable commit, acknowledged to the engine only after it. A purge never runs ahead of
//! what the state machine has applied (it waits on the shared `AppliedMark`), so on every
//! restart the log begins at or before the end of the chain.

#![allow(clippy::result_large_err, reason = "openraft's StorageError is the error type its storage traits require")]

use super::types::{AppliedMark, Entry, LogId, NodeId, StorageError, TypeConfig, io_err, read_err};
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, Vote};
use redb::{Database, ReadableTable, TableDefinition};
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");

#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    applied: AppliedMark,
}

impl LogStore {
    /// Opens (or creates) the log in `dir`; `applied` is the state machine's mark.
    pub fn open(dir: &Path, applied: AppliedMark) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| io_err("creating the data directory", e))?;
        let db = Database::create(dir.join("raft-log.redb")).map_err(|e| io_err("opening raft-log.redb", e))?;
        let w = db.begin_write().map_err(|e| io_err("raft log", e))?;
        w.open_table(LOG).map_err(|e| io_err("raft log", e))?;
        w.open_table(META).map_err(|e| io_err("raft log", e))?;
        w.commit().map_err(|e| io_err("raft log", e))?;
        Ok(LogStore { db: Arc::new(db), applied })
    }

    /// Whether this node has ever been part of a cluster (a vote or any log entry).
    pub fn is_fresh(&self) -> Result<bool, StorageError> {
        let r = self.db.begin_read().map_err(|e| read_err("raft log", e))?;
        let vote = r
            .open_table(META)
            .map_err(|e| read_err("raft log", e))?
            .get("vote")
            .map_err(|e| read_err("raft log", e))?
            .is_none();
        let log = r
            .open_table(LOG)
            .map_err(|e| read_err("raft log", e))?
            .last()
            .map_err(|e| read_err("raft log", e))?
            .is_none();
        Ok(vote && log)
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError> {
        let r = self.db.begin_read().map_err(|e| read_err("raft log", e))?;
        let t = r.open_table(META).map_err(|e| read_err("raft log", e))?;
        match t.get(key).map_err(|e| read_err("raft log", e))? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(v.value()).map(Some).map_err(|e| read_err("raft log metadata", e)),
        }
    }

    fn put_meta<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(|e| io_err("raft log metadata", e))?;
        let w = self.db.begin_write().map_err(|e| io_err("raft log", e))?;
        {
            let mut t = w.open_table(META).map_err(|e| io_err("raft log", e))?;
            t.insert(key, bytes.as_slice()).map_err(|e| io_err("raft log", e))?;
        }
        w.commit().map_err(|e| io_err("raft log", e))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let r = self.db.begin_read().map_err(|e| read_err("raft log", e))?;
        let t = r.open_table(LOG).map_err(|e| read_err("raft log", e))?;
        let mut out = Vec::new();
        for item in t.range(range).map_err(|e| read_err("raft log", e))? {
            let (_, v) = item.map_err(|e| read_err("raft log", e))?;
            out.push(serde_json::from_slice(v.value()).map_err(|e| read_err("raft log entry", e))?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.get_meta("purged")?;
        let last = {
            let r = self.db.begin_read().map_err(|e| read_err("raft log", e))?;
            let t = r.open_table(LOG).map_err(|e| read_err("raft log", e))?;
            match t.last().map_err(|e| read_err("raft log", e))? {
                None => None,
                Some((_, v)) => {
                    let e: Entry = serde_json::from_slice(v.value()).map_err(|e| read_err("raft log entry", e))?;
                    Some(e.log_id)
                }
            }
        };
        Ok(LogState { last_purged_log_id, last_log_id: last.or(last_purged_log_id) })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.put_meta("vote", vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.get_meta("vote")
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.put_meta("committed", &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.get_meta::<Option<LogId>>("committed")?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let encoded = entries
            .into_iter()
            .map(|e| serde_json::to_vec(&e).map(|b| (e.log_id.index, b)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io_err("encoding a raft log entry", e))?;
        let db = self.db.clone();
        let written = tokio::task::spawn_blocking(move || -> Result<(), String> {
            let w = db.begin_write().map_err(|e| e.to_string())?;
            {
                let mut t = w.open_table(LOG).map_err(|e| e.to_string())?;
                for (index, bytes) in &encoded {
                    t.insert(*index, bytes.as_slice()).map_err(|e| e.to_string())?;
                }
            }
            w.commit().map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        match written {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.clone())));
                Err(io_err("appending to the raft log", e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.remove(log_id.index..)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The engine asks for this as soon as a snapshot arrives, before the state machine
        // has installed it (openraft 0.9 queues the purge right behind the install). Purged
        // past the chain, a crash in between left a log that no longer joined the chain and a
        // node that could not start; so the purge waits for the install. Entries the engine
        // would append meanwhile wait behind it.
        self.applied.reached(log_id).await.map_err(|e| io_err("purging the raft log", e))?;
        let bytes = serde_json::to_vec(&Some(log_id)).map_err(|e| io_err("raft log metadata", e))?;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || -> Result<(), redb::Error> {
            let w = db.begin_write()?;
            {
                w.open_table(META)?.insert("purged", bytes.as_slice())?;
                w.open_table(LOG)?.retain_in(..=log_id.index, |_, _| false)?;
            }
            Ok(w.commit()?)
        })
        .await
        .map_err(|e| io_err("raft log task", e))?
        .map_err(|e| io_err("purging the raft log", e))
    }
}

impl LogStore {
    fn remove(&self, range: impl RangeBounds<u64>) -> Result<(), StorageError> {
        let w = self.db.begin_write().map_err(|e| io_err("raft log", e))?;
        {
            let mut t = w.open_table(LOG).map_err(|e| io_err("raft log", e))?;
            t.retain_in(range, |_, _| false).map_err(|e| io_err("raft log", e))?;
        }
        w.commit().map_err(|e| io_err("raft log", e))
    }
}
