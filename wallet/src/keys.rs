//! Keys: the 24-word BIP-39 recovery phrase, and the secp256k1 signing key and separate
//! encryption key derived from it, held together as an `Identity` that signs.
//!
//! Derivation (version 1, fixed forever for existing phrases): the BIP-39 seed with an
//! empty BIP-39 passphrase is the HKDF-SHA256 input key material (no salt). For each key,
//! the info is its label (`healthchain/signing-key/v1` or `healthchain/encryption-key/v1`)
//! followed by a 4-byte big-endian counter starting at 0; the 32-byte output is the
//! scalar, and the counter is raised only while the output is not a valid scalar (zero
//! or not below the group order, about one chance in 2^128).

use hkdf::Hkdf;
use ledger_protocol::wire::{ApiRequest, SignedApiRequest};
use ledger_protocol::{Address, PublicKey, SignedTransaction, Transaction, TxBody};
use rand_core::{CryptoRngCore, OsRng};
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

/// Number of words in a recovery phrase (256 bits of entropy).
pub const WORDS: usize = 24;
/// Bytes of entropy behind a recovery phrase.
pub const ENTROPY_LEN: usize = 32;

const SIGNING_LABEL: &[u8] = b"healthchain/signing-key/v1";
const ENCRYPTION_LABEL: &[u8] = b"healthchain/encryption-key/v1";
/// How many counters derivation tries before giving up (it never needs a second).
const MAX_DERIVATION_TRIES: u32 = 256;

/// Why a recovery phrase could not be made or read, or keys not derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a recovery phrase has {expected} words, but {found} were given")]
    WrongWordCount { expected: usize, found: usize },
    #[error("word {position} of the recovery phrase is not in the English BIP-39 word list; check its spelling")]
    UnknownWord { position: usize },
    #[error("the recovery phrase does not check out: a word is wrong or the words are out of order")]
    BadChecksum,
    #[error("the recovery phrase is not valid")]
    InvalidPhrase,
    #[error("the system random number generator is unavailable")]
    RandomnessUnavailable,
    #[error("no valid key could be derived from this recovery phrase")]
    Derivation,
}

/// Why the wallet refused to sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("this names {found} as its signer, but the unlocked wallet is {expected}; it was not signed")]
    NotOurKey { expected: Address, found: Address },
}

/// Which node a signed API request is for: its chain and its authority address (both from
/// the node's public `/v1/info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTarget {
    pub chain_id: String,
    pub audience: Address,
}

/// A 24-word English BIP-39 recovery phrase. Secret: zeroized on drop, never printed by
/// `Debug`, not `Clone`.
pub struct Mnemonic(bip39::Mnemonic);

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mnemonic(<24 words, redacted>)")
    }
}

impl Mnemonic {
    /// The phrase for 32 bytes of entropy chosen by the caller (the pure core).
    pub fn from_entropy(entropy: &[u8; ENTROPY_LEN]) -> Self {
        let inner = bip39::Mnemonic::from_entropy_in(bip39::Language::English, entropy)
            .expect("32 bytes is a valid BIP-39 entropy length");
        Mnemonic(inner)
    }

    /// A new phrase from the system's secure random number generator.
    pub fn generate() -> Result<Self, KeyError> {
        Self::generate_with(&mut OsRng)
    }

    /// A new phrase from the given cryptographic random number generator.
    pub fn generate_with(rng: &mut impl CryptoRngCore) -> Result<Self, KeyError> {
        let mut entropy = Zeroizing::new([0u8; ENTROPY_LEN]);
        rng.try_fill_bytes(entropy.as_mut()).map_err(|_| KeyError::RandomnessUnavailable)?;
        Ok(Self::from_entropy(&entropy))
    }

    /// Reads a phrase typed by a person: case and spacing do not matter, but every word
    /// must be in the English list and the checksum must match.
    pub fn parse(phrase: &str) -> Result<Self, KeyError> {
        // Built in one zeroized buffer (sized up front so it is not reallocated for
        // ASCII input) rather than through temporary strings that would linger.
        let mut normalized = Zeroizing::new(String::with_capacity(phrase.len()));
        let mut found = 0;
        for word in phrase.split_whitespace() {
            if found > 0 {
                normalized.push(' ');
            }
            normalized.extend(word.chars().flat_map(char::to_lowercase));
            found += 1;
        }
        if found != WORDS {
            return Err(KeyError::WrongWordCount { expected: WORDS, found });
        }
        match bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalized) {
            Ok(m) => Ok(Mnemonic(m)),
            Err(bip39::Error::UnknownWord(i)) => Err(KeyError::UnknownWord { position: i + 1 }),
            Err(bip39::Error::InvalidChecksum) => Err(KeyError::BadChecksum),
            Err(bip39::Error::BadWordCount(found)) => Err(KeyError::WrongWordCount { expected: WORDS, found }),
            Err(_) => Err(KeyError::InvalidPhrase),
        }
    }

    /// The words separated by single spaces, to show to the person once.
    pub fn phrase(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.to_string())
    }

    /// The words in order.
    pub fn words(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.words()
    }

    /// The 32 bytes of entropy the phrase encodes (what the keystore encrypts).
    pub fn entropy(&self) -> Zeroizing<[u8; ENTROPY_LEN]> {
        let (mut all, len) = self.0.to_entropy_array();
        let mut out = Zeroizing::new([0u8; ENTROPY_LEN]);
        // A parsed or generated phrase here always has 24 words, so `len` is 32.
        let n = len.min(ENTROPY_LEN);
        out[..n].copy_from_slice(&all[..n]);
        zeroize::Zeroize::zeroize(&mut all);
        out
    }

    /// The keys this phrase stands for.
    pub fn identity(&self) -> Result<Identity, KeyError> {
        let seed = Zeroizing::new(self.0.to_seed_normalized(""));
        Identity::from_seed(&seed)
    }
}

/// A signing key and an encryption key, both derived from one recovery phrase. Secret:
/// zeroized on drop (by k256's key types), never printed by `Debug`, not `Clone`.
pub struct Identity {
    signing: k256::ecdsa::SigningKey,
    encryption: k256::SecretKey,
    public_key: PublicKey,
    encryption_public_key: PublicKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("address", &self.address()).field("keys", &"<redacted>").finish()
    }
}

fn derive_secret(ikm: &[u8], label: &[u8]) -> Result<k256::SecretKey, KeyError> {
    let hk = Hkdf::<Sha256>::new(None, ikm);
    for counter in 0..MAX_DERIVATION_TRIES {
        let mut info = Vec::with_capacity(label.len() + 4);
        info.extend_from_slice(label);
        info.extend_from_slice(&counter.to_be_bytes());
        let mut okm = Zeroizing::new([0u8; 32]);
        hk.expand(&info, okm.as_mut()).map_err(|_| KeyError::Derivation)?;
        if let Ok(secret) = k256::SecretKey::from_slice(okm.as_ref()) {
            return Ok(secret);
        }
    }
    Err(KeyError::Derivation)
}

impl Identity {
    /// Derives both keys from a 64-byte BIP-39 seed (see the module text for how).
    pub fn from_seed(seed: &[u8; 64]) -> Result<Self, KeyError> {
        let signing_secret = derive_secret(seed, SIGNING_LABEL)?;
        let encryption = derive_secret(seed, ENCRYPTION_LABEL)?;
        let signing = k256::ecdsa::SigningKey::from(&signing_secret);
        let public_key = PublicKey::from(signing.verifying_key());
        let encryption_public_key = PublicKey::from(&encryption.public_key());
        Ok(Identity { signing, encryption, public_key, encryption_public_key })
    }

    /// The compressed secp256k1 key that signs, as the ledger knows it.
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    /// The ledger account address of the signing key.
    pub fn address(&self) -> Address {
        self.public_key.address()
    }

    /// The public key record keys are wrapped to for this person.
    pub fn encryption_public_key(&self) -> PublicKey {
        self.encryption_public_key
    }

    /// An unsigned transaction from this identity (the signer filled in).
    pub fn transaction(&self, chain_id: impl Into<String>, nonce: u64, body: TxBody) -> Transaction {
        Transaction { chain_id: chain_id.into(), signer: self.public_key, nonce, body }
    }

    /// Signs a transaction (RFC 6979, low-S) after checking it names this identity as its
    /// signer; a transaction naming someone else is refused rather than signed uselessly.
    pub fn sign(&self, tx: Transaction) -> Result<SignedTransaction, SignError> {
        if tx.signer != self.public_key {
            return Err(SignError::NotOurKey { expected: self.address(), found: tx.signer.address() });
        }
        Ok(tx.sign(&self.signing))
    }

    /// Signs an API request, after checking it names this identity.
    pub fn sign_api_request(&self, request: ApiRequest) -> Result<SignedApiRequest, SignError> {
        if request.signer != self.public_key {
            return Err(SignError::NotOurKey { expected: self.address(), found: request.signer.address() });
        }
        Ok(request.sign(&self.signing))
    }

    /// A signed request to `audience` (a node's authority address) for `method path` with
    /// `body`, at `now_ms`, with a fresh random nonce: what the `Authorization` header carries.
    pub fn api_request(
        &self,
        target: &ApiTarget,
        method: &str,
        path: &str,
        body: &[u8],
        now_ms: u64,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<SignedApiRequest, KeyError> {
        let mut nonce = vec![0u8; ledger_protocol::wire::API_NONCE_LEN];
        rng.try_fill_bytes(&mut nonce).map_err(|_| KeyError::RandomnessUnavailable)?;
        let request = ApiRequest {
            chain_id: target.chain_id.clone(),
            audience: target.audience,
            method: method.to_owned(),
            path: path.to_owned(),
            body_hash: ledger_protocol::wire::body_hash(body),
            timestamp_ms: now_ms,
            nonce,
            signer: self.public_key,
        };
        Ok(request.sign(&self.signing))
    }

    /// The encryption secret, for unwrapping record keys inside this crate.
    pub(crate) fn encryption_secret(&self) -> &k256::SecretKey {
        &self.encryption
    }
}
