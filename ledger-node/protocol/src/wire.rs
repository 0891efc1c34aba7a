//! JSON wire types shared by the node's HTTP API and its clients. JSON is a separate layer:
//! anything signed travels as hex of its canonical bytes and is decoded, never trusted.

use crate::block::BlockHeader;
use crate::codec::{Encode, Writer};
use crate::crypto::{Hash, PublicKey, Signature, SignatureVerifier, sha256, sign_digest};
use crate::merkle::InclusionProof;
use crate::tx::SignedTransaction;
use serde::{Deserialize, Serialize};

const READ_DOMAIN: &[u8] = b"healthchain/blob-read";
/// How far a read request's timestamp may be from the node's clock, in milliseconds.
pub const READ_REQUEST_WINDOW_MS: u64 = 5 * 60 * 1000;

/// Body of `POST /v1/transactions`: one signed transaction as hex of its canonical bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitTx {
    pub tx: String,
}

/// Body of `POST /v1/transactions/batch`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitBatch {
    pub txs: Vec<String>,
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

/// A reader's signed request for a record's encrypted blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRequest {
    pub chain_id: String,
    pub record: Hash,
    pub reader: PublicKey,
    pub timestamp_ms: u64,
}

impl Encode for ReadRequest {
    fn encode(&self, w: &mut Writer) {
        w.u8(1).str(&self.chain_id).raw(&self.record.0).raw(&self.reader.0).u64(self.timestamp_ms);
    }
}

impl ReadRequest {
    pub fn signing_hash(&self) -> Hash {
        sha256(&[READ_DOMAIN, &self.to_canonical_bytes()])
    }
    pub fn sign(self, key: &k256::ecdsa::SigningKey) -> SignedReadRequest {
        let signature = sign_digest(key, &self.signing_hash());
        SignedReadRequest { request: self, signature }
    }
}

/// Body of `POST /v1/records/{id}/read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReadRequest {
    pub request: ReadRequest,
    pub signature: Signature,
}

impl SignedReadRequest {
    pub fn verify(&self, verifier: &dyn SignatureVerifier) -> bool {
        !self.signature.is_high_s()
            && verifier.verify(&self.request.reader, &self.request.signing_hash(), &self.signature)
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
