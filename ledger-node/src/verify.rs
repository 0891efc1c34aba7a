//! Signature verification for the node: libsecp256k1 (through the `secp256k1` crate), the
//! fastest verifier available, spread over all cores with rayon. It accepts exactly the
//! low-S signatures the k256 wallet makes.

use ledger_protocol::codec::{Decode, Encode};
use ledger_protocol::{Hash, PublicKey, Rejection, Signature, SignatureVerifier, SignedTransaction, VerifiedTx};
use rayon::prelude::*;
use std::sync::LazyLock;

static SECP: LazyLock<secp256k1::Secp256k1<secp256k1::VerifyOnly>> =
    LazyLock::new(secp256k1::Secp256k1::verification_only);

/// libsecp256k1 verifier. Like the protocol requires, it refuses high-S signatures
/// (libsecp256k1 only verifies normalised signatures).
#[derive(Debug, Clone, Copy, Default)]
pub struct Secp256k1Verifier;

impl SignatureVerifier for Secp256k1Verifier {
    fn verify(&self, key: &PublicKey, digest: &Hash, sig: &Signature) -> bool {
        let Ok(pk) = secp256k1::PublicKey::from_slice(&key.0) else { return false };
        let Ok(s) = secp256k1::ecdsa::Signature::from_compact(&sig.0) else { return false };
        let msg = secp256k1::Message::from_digest(digest.0);
        SECP.verify_ecdsa(&msg, &s, &pk).is_ok()
    }
    fn valid_key(&self, key: &PublicKey) -> bool {
        secp256k1::PublicKey::from_slice(&key.0).is_ok()
    }
}

/// Decodes and verifies raw canonical transactions in parallel, keeping their order.
pub fn decode_and_verify(raw: Vec<Vec<u8>>) -> Vec<Result<VerifiedTx, Rejection>> {
    raw.into_par_iter()
        .map(|bytes| {
            let stx = SignedTransaction::from_canonical_bytes(&bytes)?;
            stx.verify(&Secp256k1Verifier)
        })
        .collect()
}

/// Verifies already-decoded transactions in parallel (used when replaying the chain).
pub fn verify_all(txs: &[SignedTransaction]) -> Vec<Result<VerifiedTx, Rejection>> {
    txs.par_iter().map(|t| t.clone().verify(&Secp256k1Verifier)).collect()
}

/// Runs `f` on the rayon pool and awaits it without blocking the async runtime.
pub async fn on_pool<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.expect("rayon task does not panic")
}

/// Signs like a wallet would but with libsecp256k1 (the load generator's fast path).
pub fn sign_fast(tx: ledger_protocol::Transaction, key: &secp256k1::SecretKey) -> SignedTransaction {
    static SIGNER: LazyLock<secp256k1::Secp256k1<secp256k1::SignOnly>> =
        LazyLock::new(secp256k1::Secp256k1::signing_only);
    let msg = secp256k1::Message::from_digest(tx.signing_hash().0);
    let sig = SIGNER.sign_ecdsa(&msg, key).serialize_compact();
    let signed = SignedTransaction { tx, signature: Signature(sig) };
    debug_assert!(SignedTransaction::from_canonical_bytes(&signed.to_canonical_bytes()).is_ok());
    signed
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_protocol::{K256Verifier, Transaction, TxBody};

    #[test]
    fn libsecp256k1_and_k256_agree() {
        let k = k256::ecdsa::SigningKey::from_slice(&[5u8; 32]).unwrap();
        let t = Transaction {
            chain_id: "c".into(),
            signer: PublicKey::from(k.verifying_key()),
            nonce: 1,
            body: TxBody::RevokeConsent { consent: ledger_protocol::Hash::ZERO },
        };
        let s = t.clone().sign(&k);
        let d = t.signing_hash();
        assert!(Secp256k1Verifier.verify(&s.tx.signer, &d, &s.signature));
        let fast = sign_fast(t, &secp256k1::SecretKey::from_slice(&[5u8; 32]).unwrap());
        assert!(K256Verifier.verify(&fast.tx.signer, &d, &fast.signature));
        let mut bad = s.signature;
        bad.0[10] ^= 1;
        assert!(!Secp256k1Verifier.verify(&s.tx.signer, &d, &bad));
    }
}
