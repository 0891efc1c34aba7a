//! JSON wire types shared by the node's HTTP API and its clients. JSON is a separate layer:
//! anything signed travels as hex of its canonical bytes and is decoded, never trusted.

use crate::block::BlockHeader;
use crate::crypto::{Hash, Signature, sha256};
use crate::merkle::InclusionProof;
use crate::tx::SignedTransaction;
use serde::{Deserialize, Serialize};

pub use crate::request::*;

/// Body of `POST /v1/transactions`: one signed transaction as hex of its canonical bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitTx {
    pub tx: String,
}

/// Most transactions one batch request may hold.
pub const MAX_BATCH: usize = 2048;

/// Body of `POST /v1/transactions/batch`. Reading one keeps at most `MAX_BATCH`
/// transactions and only counts the rest (`beyond`), so a body of millions of empty strings
/// costs no more memory than a full batch; the node refuses a batch with any `beyond`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "RawBatch")]
pub struct SubmitBatch {
    pub txs: Vec<String>,
    /// How many transactions past `MAX_BATCH` the body held (read and dropped).
    #[serde(skip_serializing)]
    pub beyond: usize,
}

impl SubmitBatch {
    pub fn new(txs: Vec<String>) -> Self {
        SubmitBatch { txs, beyond: 0 }
    }

    /// How many transactions the body held.
    pub fn len(&self) -> usize {
        self.txs.len() + self.beyond
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Deserialize)]
struct RawBatch {
    txs: CappedTxs,
}

impl From<RawBatch> for SubmitBatch {
    fn from(raw: RawBatch) -> Self {
        SubmitBatch { txs: raw.txs.kept, beyond: raw.txs.beyond }
    }
}

/// A JSON list of strings of which the first `MAX_BATCH` are kept and the rest only counted.
struct CappedTxs {
    kept: Vec<String>,
    beyond: usize,
}

impl<'de> Deserialize<'de> for CappedTxs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Capped;
        impl<'de> serde::de::Visitor<'de> for Capped {
            type Value = CappedTxs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of transactions, each hex of its canonical bytes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<CappedTxs, A::Error> {
                let mut out = CappedTxs { kept: Vec::new(), beyond: 0 };
                while out.kept.len() < MAX_BATCH {
                    match seq.next_element::<String>()? {
                        Some(t) => out.kept.push(t),
                        None => return Ok(out),
                    }
                }
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    out.beyond += 1;
                }
                Ok(out)
            }
        }
        d.deserialize_seq(Capped)
    }
}

/// The node's answer once a transaction is durably committed in a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub id: Hash,
    pub height: u64,
    pub block_hash: Hash,
    pub index: u32,
}

/// Every error the API returns: a stable code, a sentence for people, and its kind (which
/// decides the HTTP status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub kind: crate::ErrorKind,
}

impl From<&crate::Rejection> for ErrorBody {
    fn from(r: &crate::Rejection) -> Self {
        ErrorBody { code: r.code().to_owned(), message: r.to_string(), kind: r.kind() }
    }
}

/// One result of a batch: a receipt or an error, in submission order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchItem {
    Ok(Receipt),
    Err(ErrorBody),
}

/// A committed transaction with what a client needs to check it on its own: the block
/// header (whose signature and hash it can check) and the Merkle inclusion proof.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxWithProof {
    pub id: Hash,
    pub tx: SignedTransaction,
    pub tx_hex: String,
    pub height: u64,
    pub block_hash: Hash,
    pub header: BlockHeader,
    pub block_signature: Signature,
    pub proof: InclusionProof,
}

impl TxWithProof {
    /// Checks, without trusting the node, that the transaction is in the block it names.
    pub fn verify(&self) -> bool {
        self.tx.id() == self.id
            && self.header.hash() == self.block_hash
            && self.header.height == self.height
            && self.proof.verify(&self.id, &self.header.merkle_root)
    }
}

/// What a blob upload returns: the blob's content address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobId {
    pub blob: Hash,
    pub size: u64,
}

/// Content address of a blob.
pub fn blob_id(bytes: &[u8]) -> Hash {
    sha256(&[b"healthchain/blob", bytes])
}
