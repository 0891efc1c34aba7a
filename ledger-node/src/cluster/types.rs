//! What the Raft engine carries for us: its type configuration, a member's two addresses and
//! key pin, the one kind of log entry the application writes (a proposed block, as its
//! canonical bytes), what applying one answered, and the applied mark the state machine
//! shares with the log store.

use ledger_protocol::Hash;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

pub type NodeId = u64;

/// A member of the cluster: where clients reach its API and where peers reach its Raft port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// Base URL of the public API, e.g. `http://10.0.0.1:7800`.
    pub api: String,
    /// Base URL of the peer-only Raft port, e.g. `https://10.0.0.1:7900`.
    pub raft: String,
    /// The pin of the key its Raft port presents and connects with (mutual TLS): once it is
    /// in the membership, every node accepts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::tls::KeyPin>,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "api {} raft {}", self.api, self.raft)
    }
}

/// A block the leader proposes: its canonical bytes (hex in JSON). Every node re-checks
/// it when applying; nothing in it is trusted because it came through Raft.
#[derive(Clone, Serialize, Deserialize)]
pub struct BlockProposal(#[serde(with = "hex_bytes")] pub Vec<u8>);

impl fmt::Debug for BlockProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockProposal({} bytes)", self.0.len())
    }
}

/// What applying one log entry did on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// The block verified and is now the tip.
    Block { height: u64, hash: Hash },
    /// The block failed a check and was not applied (the reason in words).
    Refused { reason: String },
    /// A Raft entry of its own (blank or membership): nothing for the ledger.
    Internal,
}

openraft::declare_raft_types!(
    /// The ledger's Raft: blocks in, what applying them did out.
    pub TypeConfig:
        D = BlockProposal,
        R = Applied,
        NodeId = NodeId,
        Node = Peer,
        SnapshotData = tokio::fs::File,
);

/// How far the state machine has durably applied, shared with the log store: the engine
/// asks a follower's log to be purged up to a snapshot as soon as the snapshot arrives,
/// before the state machine has installed it, so the purge waits on this mark. A node
/// killed at any point of an install then restarts with its log still joining its chain.
#[derive(Clone)]
pub struct AppliedMark(Arc<tokio::sync::watch::Sender<Mark>>);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mark {
    /// The last log id whose effect is committed to the ledger's store.
    pub applied: Option<LogId>,
    /// The last log id of the most recent snapshot that failed to install.
    pub failed_install: Option<LogId>,
}

impl AppliedMark {
    pub fn new(applied: Option<LogId>) -> Self {
        AppliedMark(Arc::new(tokio::sync::watch::Sender::new(Mark { applied, failed_install: None })))
    }
    /// After a durable commit of everything up to `log_id`.
    pub fn applied(&self, log_id: Option<LogId>) {
        self.0.send_if_modified(|m| {
            let newer = log_id > m.applied;
            if newer {
                m.applied = log_id;
            }
            newer
        });
    }
    /// After a snapshot up to `log_id` could not be installed.
    pub fn install_failed(&self, log_id: Option<LogId>) {
        self.0.send_modify(|m| m.failed_install = log_id);
    }
    pub fn get(&self) -> Mark {
        *self.0.borrow()
    }
    /// Waits until `log_id` is applied; an error when the snapshot that would apply it failed.
    pub async fn reached(&self, log_id: LogId) -> Result<(), String> {
        let mut rx = self.0.subscribe();
        let mut warned = false;
        loop {
            let waited = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                rx.wait_for(|m| m.applied >= Some(log_id) || m.failed_install >= Some(log_id)),
            )
            .await
            .map(|r| r.map(|m| m.applied >= Some(log_id)));
            match waited {
                Ok(Ok(true)) => return Ok(()),
                Ok(Ok(false)) => return Err(format!("the snapshot up to {log_id} was not installed; the log is kept")),
                Ok(Err(_)) => return Err("the state machine is gone".into()),
                Err(_) if !warned => {
                    warned = true;
                    let applied = self.get().applied;
                    tracing::warn!(purge = %log_id, ?applied, "a Raft log purge waits for the snapshot install it follows");
                }
                Err(_) => {}
            }
        }
    }
}

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, Peer>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Peer>;

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        hex::decode(text.as_ref()).map_err(serde::de::Error::custom)
    }
}

/// Storage errors in the shape the engine wants, keeping the cause's words.
pub fn io_err(what: &'static str, e: impl fmt::Display) -> StorageError {
    let e = std::io::Error::other(format!("{what}: {e}"));
    openraft::StorageIOError::write(&e).into()
}

pub fn read_err(what: &'static str, e: impl fmt::Display) -> StorageError {
    let e = std::io::Error::other(format!("{what}: {e}"));
    openraft::StorageIOError::read(&e).into()
}
