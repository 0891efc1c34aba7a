//! The golden vectors, checked in a browser: the wasm build must encode, hash, sign and
//! verify every transaction kind exactly as the native build does (see the native
//! `golden_vectors_match` in protocol.rs, which writes and checks the same file).
#![cfg(target_arch = "wasm32")]

use ledger_protocol::codec::{Decode, Encode};
use ledger_protocol::crypto::sha256;
use ledger_protocol::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const VECTORS: &str = include_str!("vectors/golden.json");

#[derive(serde::Deserialize)]
struct Vector {
    name: String,
    signer_seed: String,
    tx: Transaction,
    canonical_hex: String,
    signing_hash: Hash,
    signature: Signature,
    signed_hex: String,
    id: Hash,
}

#[wasm_bindgen_test]
fn golden_vectors_match_in_the_browser() {
    let vectors: Vec<Vector> = serde_json::from_str(VECTORS).expect("golden.json parses");
    let kinds: Vec<TxKind> = vectors.iter().map(|v| v.tx.body.kind()).collect();
    assert_eq!(kinds, TxKind::ALL.to_vec(), "one vector per kind, in order");

    for v in &vectors {
        let key = k256::ecdsa::SigningKey::from_slice(&sha256(&[v.signer_seed.as_bytes()]).0).expect("valid seed key");
        assert_eq!(v.name, v.tx.body.kind().name());
        assert_eq!(PublicKey::from(key.verifying_key()), v.tx.signer, "{}: signer", v.name);

        // Re-encode and re-hash.
        assert_eq!(hex::encode(v.tx.to_canonical_bytes()), v.canonical_hex, "{}: canonical bytes", v.name);
        assert_eq!(v.tx.signing_hash(), v.signing_hash, "{}: signing hash", v.name);

        // Re-sign (RFC 6979 is deterministic, so the signature is the same).
        let signed = v.tx.clone().sign(&key);
        assert_eq!(signed.signature, v.signature, "{}: signature", v.name);
        assert_eq!(hex::encode(signed.to_canonical_bytes()), v.signed_hex, "{}: signed bytes", v.name);
        assert_eq!(signed.id(), v.id, "{}: id", v.name);

        // Decode the stored bytes and verify them.
        let bytes = hex::decode(&v.signed_hex).expect("signed_hex is hex");
        let decoded = SignedTransaction::from_canonical_bytes(&bytes).expect("signed bytes decode");
        assert_eq!(decoded, signed, "{}: decoded", v.name);
        let verified = decoded.verify(&K256Verifier).expect("golden signature verifies");
        assert_eq!(verified.id(), v.id, "{}: verified id", v.name);
    }
}
