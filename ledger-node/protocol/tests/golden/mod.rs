//! The golden vectors' shape and the one check both test binaries run on them: the native
//! `protocol.rs` (which also writes them) and the browser's `web.rs`.

use ledger_protocol::codec::{Decode, Encode};
use ledger_protocol::crypto::sha256;
use ledger_protocol::*;

/// One vector: a transaction, its canonical bytes, signing hash, signature and id.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Vector {
    pub name: String,
    pub signer_seed: String,
    pub tx: Transaction,
    pub canonical_hex: String,
    pub signing_hash: Hash,
    pub signature: Signature,
    pub signed_hex: String,
    pub id: Hash,
}

/// The stored vectors, compiled in (the browser has no filesystem; natively `protocol.rs`
/// reads the file, which `UPDATE_GOLDEN=1` may just have rewritten).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code, reason = "only the browser test reads the compiled-in copy"))]
pub const VECTORS: &str = include_str!("../vectors/golden.json");

/// Recomputes everything of a stored vector from its transaction and seed, and decodes and
/// verifies its stored bytes.
pub fn check(v: &Vector) {
    let key = k256::ecdsa::SigningKey::from_slice(&sha256(&[v.signer_seed.as_bytes()]).0).expect("valid seed key");
    assert_eq!(v.name, v.tx.body.kind().name());
    assert_eq!(PublicKey::from(key.verifying_key()), v.tx.signer, "{}: signer", v.name);
    assert_eq!(hex::encode(v.tx.to_canonical_bytes()), v.canonical_hex, "{}: canonical bytes", v.name);
    assert_eq!(v.tx.signing_hash(), v.signing_hash, "{}: signing hash", v.name);
    // RFC 6979 is deterministic, so signing again gives the same signature.
    let signed = v.tx.clone().sign(&key);
    assert_eq!(signed.signature, v.signature, "{}: signature", v.name);
    assert_eq!(hex::encode(signed.to_canonical_bytes()), v.signed_hex, "{}: signed bytes", v.name);
    assert_eq!(signed.id(), v.id, "{}: id", v.name);
    let bytes = hex::decode(&v.signed_hex).expect("signed_hex is hex");
    let decoded = SignedTransaction::from_canonical_bytes(&bytes).expect("signed bytes decode");
    assert_eq!(decoded, signed, "{}: decoded", v.name);
    let verified = decoded.verify(&K256Verifier).expect("golden signature verifies");
    assert_eq!(verified.id(), v.id, "{}: verified id", v.name);
}
