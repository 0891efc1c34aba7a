//! Record envelopes: each record is encrypted under its own fresh random key, and that
//! key is wrapped (ECIES over secp256k1) for every person allowed to read the record.
//!
//! Sealed record, version 1: `1 ‖ nonce (24) ‖ XChaCha20-Poly1305 ciphertext`, the
//! version byte being the associated data.
//!
//! Wrapped key, version 1: `1 ‖ ephemeral public key (33, compressed) ‖ nonce (24) ‖
//! ciphertext of the 32-byte record key (48)`. The wrapping key is HKDF-SHA256 with the
//! x-coordinate of the ECDH shared point as input key material, the ephemeral public key
//! followed by the reader's encryption public key (33 + 33 bytes) as salt, and
//! `healthchain/wrap/v1` as info; the version byte is the associated data.
//!
//! One crate for the wallet (which seals and opens in the browser) and the node (which
//! re-wraps an escrowed emergency-summary key for a clinician on a valid break-glass), so
//! the two can never disagree on the bytes.
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use ledger_protocol::crypto::sha256;
use ledger_protocol::{Hash, PublicKey};
use rand_core::CryptoRngCore;
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

pub use ledger_protocol::wire::blob_id;

/// Version byte of a sealed record.
pub const ENVELOPE_VERSION: u8 = 1;
/// Version byte of a wrapped key.
pub const WRAP_VERSION: u8 = 1;
/// Bytes of a record key.
pub const RECORD_KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const PUBKEY_LEN: usize = 33;
/// Bytes of a wrapped key: version, ephemeral key, nonce, sealed record key.
pub const WRAPPED_KEY_LEN: usize = 1 + PUBKEY_LEN + NONCE_LEN + RECORD_KEY_LEN + TAG_LEN;
/// Bytes a sealed record adds to its plaintext.
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;
const WRAP_INFO: &[u8] = b"healthchain/wrap/v1";
const CONTENT_DOMAIN: &[u8] = b"healthchain/record";

/// Why a record could not be sealed or opened, or a key wrapped or unwrapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the sealed record is too short to be one")]
    Truncated,
    #[error("sealed data of version {0} is not supported; this wallet reads version 1")]
    UnsupportedVersion(u8),
    #[error("the record could not be decrypted: wrong key or corrupted data")]
    DecryptionFailed,
    #[error("a wrapped key is {WRAPPED_KEY_LEN} bytes, but this is {0}")]
    WrappedKeyLength(usize),
    #[error("the record key could not be unwrapped: it is not for this wallet, or it is corrupted")]
    UnwrapFailed,
    #[error("the reader's encryption key is not a valid secp256k1 public key")]
    InvalidReaderKey,
    #[error("the record is too large to encrypt")]
    TooLarge,
    #[error("the system random number generator is unavailable")]
    RandomnessUnavailable,
}

/// The key of one record. Secret: zeroized on drop, never printed by `Debug`, not
/// `Clone`.
pub struct RecordKey(Zeroizing<[u8; RECORD_KEY_LEN]>);

impl RecordKey {
    pub fn from_bytes(bytes: [u8; RECORD_KEY_LEN]) -> Self {
        RecordKey(Zeroizing::new(bytes))
    }
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Result<Self, EnvelopeError> {
        let mut key = Zeroizing::new([0u8; RECORD_KEY_LEN]);
        rng.try_fill_bytes(key.as_mut()).map_err(|_| EnvelopeError::RandomnessUnavailable)?;
        Ok(RecordKey(key))
    }
    /// The raw bytes, for storing the key somewhere that is itself encrypted.
    pub fn expose_bytes(&self) -> &[u8; RECORD_KEY_LEN] {
        &self.0
    }
    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(self.0.as_ref()))
    }
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordKey(<redacted>)")
    }
}

/// The content hash the ledger anchors: SHA-256 of `healthchain/record` ‖ plaintext.
pub fn content_hash(plaintext: &[u8]) -> Hash {
    sha256(&[CONTENT_DOMAIN, plaintext])
}

fn random_nonce(rng: &mut impl CryptoRngCore) -> Result<[u8; NONCE_LEN], EnvelopeError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.try_fill_bytes(&mut nonce).map_err(|_| EnvelopeError::RandomnessUnavailable)?;
    Ok(nonce)
}

/// Encrypts a record under a fresh random key: returns the key and the sealed bytes
/// (whose `blob_id` is the record's blob address).
pub fn seal(plaintext: &[u8], rng: &mut impl CryptoRngCore) -> Result<(RecordKey, Vec<u8>), EnvelopeError> {
    let key = RecordKey::generate(rng)?;
    let sealed = seal_with(&key, plaintext, rng)?;
    Ok((key, sealed))
}

/// Encrypts new contents under an existing record key (a fresh nonce each time), for
/// whoever holds the key and writes a new version of the contents.
pub fn seal_with(key: &RecordKey, plaintext: &[u8], rng: &mut impl CryptoRngCore) -> Result<Vec<u8>, EnvelopeError> {
    let nonce = random_nonce(rng)?;
    let ciphertext = key
        .cipher()
        .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: &[ENVELOPE_VERSION] })
        .map_err(|_| EnvelopeError::TooLarge)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Decrypts sealed record bytes with the record's key.
pub fn open(key: &RecordKey, sealed: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(EnvelopeError::Truncated);
    }
    let (version, rest) = (sealed[0], &sealed[1..]);
    if version != ENVELOPE_VERSION {
        return Err(EnvelopeError::UnsupportedVersion(version));
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    key.cipher()
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &[ENVELOPE_VERSION] })
        .map_err(|_| EnvelopeError::DecryptionFailed)
}

fn wrapping_cipher(shared_x: &[u8], ephemeral: &[u8], reader: &[u8]) -> Result<XChaCha20Poly1305, EnvelopeError> {
    let mut salt = [0u8; 2 * PUBKEY_LEN];
    salt[..PUBKEY_LEN].copy_from_slice(ephemeral);
    salt[PUBKEY_LEN..].copy_from_slice(reader);
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(&salt), shared_x)
        .expand(WRAP_INFO, key.as_mut())
        .map_err(|_| EnvelopeError::UnwrapFailed)?;
    Ok(XChaCha20Poly1305::new(Key::from_slice(key.as_ref())))
}

/// A fresh ephemeral secret from the random number generator, without panicking if it
/// fails.
fn ephemeral_secret(rng: &mut impl CryptoRngCore) -> Result<k256::SecretKey, EnvelopeError> {
    loop {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.try_fill_bytes(bytes.as_mut()).map_err(|_| EnvelopeError::RandomnessUnavailable)?;
        // Out-of-range bytes (about one chance in 2^128) are drawn again.
        if let Ok(secret) = k256::SecretKey::from_slice(bytes.as_ref()) {
            return Ok(secret);
        }
    }
}

/// Wraps a record key for the reader whose encryption public key is given.
pub fn wrap_key(key: &RecordKey, reader: &PublicKey, rng: &mut impl CryptoRngCore) -> Result<Vec<u8>, EnvelopeError> {
    let reader_point = k256::PublicKey::from_sec1_bytes(&reader.0).map_err(|_| EnvelopeError::InvalidReaderKey)?;
    let ephemeral = ephemeral_secret(rng)?;
    let ephemeral_pub = PublicKey::from(&ephemeral.public_key());
    let shared = k256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), reader_point.as_affine());
    let cipher = wrapping_cipher(shared.raw_secret_bytes(), &ephemeral_pub.0, &reader.0)?;
    let nonce = random_nonce(rng)?;
    let ciphertext = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: key.0.as_ref(), aad: &[WRAP_VERSION] })
        .map_err(|_| EnvelopeError::TooLarge)?;
    let mut out = Vec::with_capacity(WRAPPED_KEY_LEN);
    out.push(WRAP_VERSION);
    out.extend_from_slice(&ephemeral_pub.0);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Unwraps a record key wrapped for the encryption key whose secret is `secret`.
pub fn unwrap_key(secret: &k256::SecretKey, wrapped: &[u8]) -> Result<RecordKey, EnvelopeError> {
    if wrapped.len() != WRAPPED_KEY_LEN {
        return Err(EnvelopeError::WrappedKeyLength(wrapped.len()));
    }
    if wrapped[0] != WRAP_VERSION {
        return Err(EnvelopeError::UnsupportedVersion(wrapped[0]));
    }
    let (ephemeral, rest) = wrapped[1..].split_at(PUBKEY_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let ephemeral_point = k256::PublicKey::from_sec1_bytes(ephemeral).map_err(|_| EnvelopeError::UnwrapFailed)?;
    let shared = k256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), ephemeral_point.as_affine());
    let reader = PublicKey::from(&secret.public_key());
    let cipher = wrapping_cipher(shared.raw_secret_bytes(), ephemeral, &reader.0)?;
    let plaintext = Zeroizing::new(
        cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &[WRAP_VERSION] })
            .map_err(|_| EnvelopeError::UnwrapFailed)?,
    );
    if plaintext.len() != RECORD_KEY_LEN {
        return Err(EnvelopeError::UnwrapFailed);
    }
    let mut key = Zeroizing::new([0u8; RECORD_KEY_LEN]);
    key.copy_from_slice(&plaintext);
    Ok(RecordKey(key))
}
