//! Key escrow for emergency summaries. A patient's wallet wraps the key of their emergency
//! summary for the hospital's authority as well as for themselves (the rules allow this for
//! that one class, by the patient only). On a read under a live break-glass, and only after
//! the access event is committed, this node unwraps that key with its authority's
//! encryption secret and wraps it afresh for the clinician's encryption key: the clinician
//! decrypts in their browser. The node holds the record key only while re-wrapping it, never
//! stores it, and never decrypts the summary. Without the key file, break-glass still
//! releases the ciphertext but nobody can open it (the node says so at start).

use ledger_protocol::{Genesis, PublicKey};
use std::fmt;

/// The authority's encryption secret (`authority-encryption.key`). Not `Clone`, never
/// printed.
pub struct EscrowKey(k256::SecretKey);

impl fmt::Debug for EscrowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EscrowKey(<redacted>)")
    }
}

/// Why an escrow key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EscrowError {
    #[error(
        "the encryption key is not this node's: the genesis file lists {expected} for its authority, the key file holds {got}"
    )]
    NotThisNode { expected: String, got: String },
    #[error("the escrowed key could not be re-wrapped: {0}")]
    Envelope(#[from] envelope::EnvelopeError),
}

impl EscrowKey {
    /// The secret of `node`'s genesis entry (checked against its listed encryption key).
    pub fn new(secret: k256::SecretKey, genesis: &Genesis, node: &PublicKey) -> Result<Self, EscrowError> {
        let got = PublicKey::from(&secret.public_key());
        let expected = genesis.authorities.iter().find(|a| a.key == *node).map(|a| a.encryption_key);
        match expected {
            Some(e) if e == got => Ok(EscrowKey(secret)),
            e => Err(EscrowError::NotThisNode {
                expected: e.map_or_else(|| "no entry".into(), |e| e.to_hex()),
                got: got.to_hex(),
            }),
        }
    }

    /// The record key wrapped for the authority, wrapped again for `reader`.
    pub fn rewrap(&self, escrowed: &[u8], reader: &PublicKey) -> Result<Vec<u8>, EscrowError> {
        let key = envelope::unwrap_key(&self.0, escrowed)?;
        Ok(envelope::wrap_key(&key, reader, &mut rand_core::OsRng)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_protocol::GenesisAuthority;

    fn secret(seed: u8) -> k256::SecretKey {
        k256::SecretKey::from_slice(&[seed; 32]).unwrap()
    }
    fn public(s: &k256::SecretKey) -> PublicKey {
        PublicKey::from(&s.public_key())
    }

    #[test]
    fn a_rewrapped_key_opens_for_the_reader_only() {
        let (node, enc, reader, other) = (secret(1), secret(2), secret(3), secret(4));
        let genesis = Genesis {
            chain_id: "t".into(),
            timestamp_ms: 0,
            authorities: vec![GenesisAuthority { name: "H".into(), key: public(&node), encryption_key: public(&enc) }],
        };
        assert!(matches!(EscrowKey::new(secret(5), &genesis, &public(&node)), Err(EscrowError::NotThisNode { .. })));
        let escrow = EscrowKey::new(enc, &genesis, &public(&node)).unwrap();
        let (key, sealed) = envelope::seal(b"allergy: penicillin", &mut rand_core::OsRng).unwrap();
        let escrowed = envelope::wrap_key(&key, &genesis.authorities[0].encryption_key, &mut rand_core::OsRng).unwrap();
        let theirs = escrow.rewrap(&escrowed, &public(&reader)).unwrap();
        let opened = envelope::unwrap_key(&reader, &theirs).unwrap();
        assert_eq!(envelope::open(&opened, &sealed).unwrap(), b"allergy: penicillin");
        assert!(envelope::unwrap_key(&other, &theirs).is_err(), "someone else cannot open it");
        // A key wrapped for someone else is not re-wrapped.
        let not_escrowed = envelope::wrap_key(&key, &public(&other), &mut rand_core::OsRng).unwrap();
        assert!(escrow.rewrap(&not_escrowed, &public(&reader)).is_err());
        assert_eq!(format!("{escrow:?}"), "EscrowKey(<redacted>)");
    }
}
