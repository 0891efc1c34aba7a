//! What the Raft engine carries for us: its type configuration, a member's two addresses and
//! key pin, the one kind of log entry the application writes (a proposed block, as its
//! canonical bytes) and what applying one answered.

use ledger_protocol::Hash;
use serde::{Deserialize, Serialize};
use std::fmt;

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
        SnapshotData = std::io::Cursor<Vec<u8>>,
);

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
