//! Signed API requests: who asks, of which node, for what, when, with a nonce, signed over
//! canonical bytes. The node checks one on every request about a person, and an access event
//! carries the reader's (so the rules, not only the node, see who asked). `wire` re-exports
//! all of it for clients.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use crate::crypto::{Address, Hash, PublicKey, Signature, SignatureVerifier, sha256, sign_digest};
use serde::{Deserialize, Serialize};

const API_DOMAIN: &[u8] = b"healthchain/api-request";
/// How far a signed request's timestamp may be from the node's clock, in milliseconds. The
/// node remembers each nonce this long, so a request is accepted at most once.
pub const API_REQUEST_WINDOW_MS: u64 = 60 * 1000;

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
