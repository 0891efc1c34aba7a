//! JSON wire types shared by the node's HTTP API and its clients. JSON is a separate layer:
//! anything signed travels as hex of its canonical bytes and is decoded, never trusted.

use crate::block::BlockHeader;
use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::crypto::{Address, Hash, PublicKey, Signature, SignatureVerifier, sha256, sign_digest};
use crate::merkle::InclusionProof;
use crate::tx::SignedTransaction;
use serde::{Deserialize, Serialize};

const API_DOMAIN: &[u8] = b"healthchain/api-request";
/// How far a signed request's timestamp may be from the node's clock, in milliseconds. The
/// node remembers each nonce this long, so a request is accepted at most once.
pub const API_REQUEST_WINDOW_MS: u64 = 60 * 1000;

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

/// A signed API request: who asks (their key), which node (its authority address, from
/// `/v1/info`), which chain, what (method, path with query, the body's hash), when, and a
/// random nonce. Sent as `Authorization: HealthChain <hex of the signed canonical bytes>`;
/// the node answers anything about a person only to such a request from someone entitled,
/// accepts it within `API_REQUEST_WINDOW_MS` of its clock, and only once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRequest {
    pub chain_id: String,
    pub audience: Address,
    pub method: String,
    pub path: String,
    pub body_hash: Hash,
    pub timestamp_ms: u64,
    #[serde(with = "crate::tx::hex_bytes")]
    pub nonce: Vec<u8>,
    pub signer: PublicKey,
}

/// Version byte of a signed API request.
pub const API_REQUEST_VERSION: u8 = 1;
/// The `Authorization` scheme of a signed API request.
pub const AUTH_SCHEME: &str = "HealthChain";
/// Bytes of a request nonce.
pub const API_NONCE_LEN: usize = 16;

impl Encode for ApiRequest {
    fn encode(&self, w: &mut Writer) {
        w.u8(API_REQUEST_VERSION)
            .str(&self.chain_id)
            .raw(&self.audience.0)
            .str(&self.method)
            .str(&self.path)
            .raw(&self.body_hash.0)
            .u64(self.timestamp_ms)
            .bytes(&self.nonce)
            .raw(&self.signer.0);
    }
}

impl Decode for ApiRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8()?;
        if version != API_REQUEST_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        Ok(ApiRequest {
            chain_id: r.string()?,
            audience: Address::decode(r)?,
            method: r.string()?,
            path: r.string()?,
            body_hash: Hash::decode(r)?,
            timestamp_ms: r.u64()?,
            nonce: r.bytes()?,
            signer: PublicKey::decode(r)?,
        })
    }
}

/// The hash a request binds its body with.
pub fn body_hash(body: &[u8]) -> Hash {
    sha256(&[b"healthchain/api-body", body])
}

impl ApiRequest {
    pub fn signing_hash(&self) -> Hash {
        sha256(&[API_DOMAIN, &self.to_canonical_bytes()])
    }
    pub fn sign(self, key: &k256::ecdsa::SigningKey) -> SignedApiRequest {
        let signature = sign_digest(key, &self.signing_hash());
        SignedApiRequest { request: self, signature }
    }
}

/// An API request with its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedApiRequest {
    pub request: ApiRequest,
    pub signature: Signature,
}

impl Encode for SignedApiRequest {
    fn encode(&self, w: &mut Writer) {
        self.request.encode(w);
        w.raw(&self.signature.0);
    }
}

impl Decode for SignedApiRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedApiRequest { request: ApiRequest::decode(r)?, signature: Signature::decode(r)? })
    }
}

impl SignedApiRequest {
    /// Low-S signature by the request's signer.
    pub fn verify(&self, verifier: &dyn SignatureVerifier) -> bool {
        !self.signature.is_high_s()
            && verifier.verify(&self.request.signer, &self.request.signing_hash(), &self.signature)
    }
    /// The `Authorization` header value.
    pub fn to_header(&self) -> String {
        format!("{AUTH_SCHEME} {}", hex::encode(self.to_canonical_bytes()))
    }
    /// Reads an `Authorization` header value, or says what is wrong with it.
    pub fn from_header(value: &str) -> Result<Self, String> {
        let hex_text = value
            .strip_prefix(AUTH_SCHEME)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| format!("the Authorization header is not of the {AUTH_SCHEME} scheme"))?;
        if hex_text.len() > 4096 {
            return Err("the signed request is too long".into());
        }
        let bytes = hex::decode(hex_text.trim()).map_err(|_| "the signed request is not hex".to_owned())?;
        Self::from_canonical_bytes(&bytes).map_err(|e| format!("the signed request could not be read: {e}"))
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
