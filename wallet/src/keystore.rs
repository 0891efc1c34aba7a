//! The passphrase-encrypted keystore: a versioned, self-describing JSON envelope around
//! the recovery phrase's entropy, with Argon2id key stretching and XChaCha20-Poly1305.
//!
//! ```json
//! {"version": 1,
//!  "kdf": {"algorithm": "argon2id", "m_kib": 65536, "t": 3, "p": 1, "salt": "<hex>"},
//!  "cipher": "xchacha20poly1305", "nonce": "<hex, 24 bytes>",
//!  "ciphertext": "<hex, 32 + 16 bytes>", "address": "<hex>", "created_note": "optional"}
//! ```
//!
//! Every field is authenticated: the associated data of the cipher is the canonical
//! encoding of the domain tag `healthchain/keystore`, the version, the KDF algorithm,
//! parameters and salt, the cipher name, the address and the note; the nonce and the
//! ciphertext are authenticated by the cipher itself. Any change to any of them makes
//! unlocking fail with the one opaque error, as a wrong passphrase does.

use crate::keys::{ENTROPY_LEN, Identity, KeyError, Mnemonic};
use argon2::{Algorithm, Argon2, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use ledger_protocol::Address;
use ledger_protocol::codec::Writer;
use rand_core::{CryptoRngCore, OsRng};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;
use zeroize::Zeroizing;

/// The keystore format this code writes and reads.
pub const KEYSTORE_VERSION: u32 = 1;
/// Bytes of random salt in a new keystore.
pub const SALT_LEN: usize = 16;
/// Bytes of an XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;
/// Largest note, in bytes, a keystore may carry.
pub const MAX_NOTE_BYTES: usize = 1024;

const ALGORITHM: &str = "argon2id";
const CIPHER: &str = "xchacha20poly1305";
const AAD_DOMAIN: &[u8] = b"healthchain/keystore";
const TAG_LEN: usize = 16;
const MIN_SALT_LEN: usize = 16;
const MAX_SALT_LEN: usize = 64;

/// Why a keystore could not be made, read or unlocked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeystoreError {
    /// Deliberately says no more: a wrong passphrase and a modified file look the same.
    #[error("wrong passphrase or corrupted keystore")]
    WrongPassphraseOrTampered,
    #[error("keystore version {0} is not supported; this wallet reads version {KEYSTORE_VERSION}")]
    UnsupportedVersion(u64),
    #[error("the keystore is not readable: {0}")]
    Malformed(String),
    #[error("key-stretching parameters refused: {0}")]
    InvalidKdfParams(String),
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    #[error("the keystore note is longer than {MAX_NOTE_BYTES} bytes")]
    NoteTooLong,
    #[error("the system random number generator is unavailable")]
    RandomnessUnavailable,
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// A passphrase typed by a person. Secret: zeroized on drop, never printed by `Debug`,
/// not `Clone`. Used as its exact UTF-8 bytes (no Unicode normalization).
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    pub fn new(passphrase: impl Into<String>) -> Self {
        Passphrase(Zeroizing::new(passphrase.into()))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl From<String> for Passphrase {
    fn from(s: String) -> Self {
        Passphrase::new(s)
    }
}

impl From<&str> for Passphrase {
    fn from(s: &str) -> Self {
        Passphrase::new(s)
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// Argon2id cost parameters. Stored in each keystore, so new keystores can use higher
/// costs while old ones still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    m_kib: u32,
    t: u32,
    p: u32,
}

impl KdfParams {
    /// Memory below this (KiB, 7 MiB: the least of OWASP's Argon2id configurations) is
    /// refused: less makes a stolen keystore cheap to guess on a GPU.
    pub const MIN_M_KIB: u32 = 7 * 1024;
    /// Memory × passes below this (KiB-passes) is refused: OWASP's Argon2id configurations
    /// (46 MiB × 1, 19 MiB × 2, 12 MiB × 3, 9 MiB × 4, 7 MiB × 5) all reach 35 MiB-passes.
    pub const MIN_COST: u64 = 7 * 1024 * 5;
    /// Memory above this (1 GiB) is refused so a hostile file cannot exhaust a browser.
    pub const MAX_M_KIB: u32 = 1024 * 1024;
    /// Passes above this are refused so a hostile file cannot hang the wallet.
    pub const MAX_T: u32 = 64;
    /// Memory × passes above this (2 GiB-passes, about ten times the default) is refused: a
    /// hostile file would hold the browser for minutes.
    pub const MAX_COST: u64 = 2 * 1024 * 1024;
    /// Lanes above this are refused.
    pub const MAX_P: u32 = 16;
    /// What new keystores use: 64 MiB, three passes, one lane.
    pub const DEFAULT: KdfParams = KdfParams { m_kib: 65536, t: 3, p: 1 };
    /// The cheapest parameters accepted (7 MiB, five passes, one lane): for tests.
    pub const MINIMUM: KdfParams = KdfParams { m_kib: Self::MIN_M_KIB, t: 5, p: 1 };

    /// Checked parameters: memory in KiB, passes, lanes.
    pub fn new(m_kib: u32, t: u32, p: u32) -> Result<Self, KeystoreError> {
        let params = KdfParams { m_kib, t, p };
        params.check().map_err(KeystoreError::InvalidKdfParams)?;
        Ok(params)
    }
    pub fn m_kib(&self) -> u32 {
        self.m_kib
    }
    pub fn t(&self) -> u32 {
        self.t
    }
    pub fn p(&self) -> u32 {
        self.p
    }

    fn check(&self) -> Result<(), String> {
        if !(1..=Self::MAX_P).contains(&self.p) {
            return Err(format!("p (lanes) is {}, but must be from 1 to {}", self.p, Self::MAX_P));
        }
        let min_m = Self::MIN_M_KIB.max(8 * self.p);
        if !(min_m..=Self::MAX_M_KIB).contains(&self.m_kib) {
            return Err(format!("m_kib (memory) is {}, but must be from {min_m} to {}", self.m_kib, Self::MAX_M_KIB));
        }
        if !(1..=Self::MAX_T).contains(&self.t) {
            return Err(format!("t (passes) is {}, but must be from 1 to {}", self.t, Self::MAX_T));
        }
        let cost = u64::from(self.m_kib) * u64::from(self.t);
        if cost < Self::MIN_COST {
            return Err(format!(
                "memory × passes is {cost} KiB, below the safe floor of {} (for example 19456 KiB with 2 passes)",
                Self::MIN_COST
            ));
        }
        if cost > Self::MAX_COST {
            return Err(format!(
                "memory × passes is {cost} KiB, above the most a wallet will spend ({})",
                Self::MAX_COST
            ));
        }
        Ok(())
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An encrypted keystore. Holds nothing secret in the clear, so it may be copied,
/// printed and stored freely; its invariants (lengths, parameter bounds) hold for every
/// value, since the only ways to get one are `create*` and `from_json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keystore {
    params: KdfParams,
    salt: Vec<u8>,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
    address: Address,
    created_note: Option<String>,
}

impl Keystore {
    /// Encrypts the phrase's entropy under the passphrase with a random salt and nonce.
    pub fn create(
        mnemonic: &Mnemonic,
        passphrase: &Passphrase,
        params: KdfParams,
        created_note: Option<String>,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self, KeystoreError> {
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        rng.try_fill_bytes(&mut salt).map_err(|_| KeystoreError::RandomnessUnavailable)?;
        rng.try_fill_bytes(&mut nonce).map_err(|_| KeystoreError::RandomnessUnavailable)?;
        Self::create_with(mnemonic, passphrase, params, created_note, salt, nonce)
    }

    /// `create` with the default parameters and the system random number generator.
    pub fn create_default(
        mnemonic: &Mnemonic,
        passphrase: &Passphrase,
        created_note: Option<String>,
    ) -> Result<Self, KeystoreError> {
        Self::create(mnemonic, passphrase, KdfParams::DEFAULT, created_note, &mut OsRng)
    }

    /// `create` with a given salt and nonce, for reproducible tests. A salt and nonce
    /// pair must never be used twice with the same passphrase.
    pub fn create_with(
        mnemonic: &Mnemonic,
        passphrase: &Passphrase,
        params: KdfParams,
        created_note: Option<String>,
        salt: [u8; SALT_LEN],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Self, KeystoreError> {
        if passphrase.is_empty() {
            return Err(KeystoreError::EmptyPassphrase);
        }
        if created_note.as_ref().is_some_and(|n| n.len() > MAX_NOTE_BYTES) {
            return Err(KeystoreError::NoteTooLong);
        }
        params.check().map_err(KeystoreError::InvalidKdfParams)?;
        let address = mnemonic.identity()?.address();
        let mut ks = Keystore { params, salt: salt.to_vec(), nonce, ciphertext: Vec::new(), address, created_note };
        let key = derive_key(passphrase, &ks.params, &ks.salt)?;
        let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
        let entropy = mnemonic.entropy();
        let aad = ks.aad();
        ks.ciphertext = cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: entropy.as_ref(), aad: &aad })
            .map_err(|_| KeystoreError::WrongPassphraseOrTampered)?;
        Ok(ks)
    }

    /// Decrypts the recovery phrase (to show it again, or to re-encrypt it).
    pub fn unlock_mnemonic(&self, passphrase: &Passphrase) -> Result<Mnemonic, KeystoreError> {
        Ok(self.decrypt(passphrase)?.0)
    }

    /// Decrypts and derives the keys.
    pub fn unlock(&self, passphrase: &Passphrase) -> Result<Identity, KeystoreError> {
        Ok(self.decrypt(passphrase)?.1)
    }

    /// Decrypts the entropy and derives the keys, checking they are the account the
    /// keystore names (the address is authenticated, so this guards against bugs).
    fn decrypt(&self, passphrase: &Passphrase) -> Result<(Mnemonic, Identity), KeystoreError> {
        let key = derive_key(passphrase, &self.params, &self.salt)?;
        let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
        let aad = self.aad();
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(&XNonce::from(self.nonce), Payload { msg: &self.ciphertext, aad: &aad })
                .map_err(|_| KeystoreError::WrongPassphraseOrTampered)?,
        );
        if plaintext.len() != ENTROPY_LEN {
            return Err(KeystoreError::WrongPassphraseOrTampered);
        }
        let mut entropy = Zeroizing::new([0u8; ENTROPY_LEN]);
        entropy.copy_from_slice(&plaintext);
        let mnemonic = Mnemonic::from_entropy(&entropy);
        let identity = mnemonic.identity()?;
        if identity.address() != self.address {
            return Err(KeystoreError::WrongPassphraseOrTampered);
        }
        Ok((mnemonic, identity))
    }

    /// A new keystore for the same phrase under a new passphrase and parameters (how
    /// costs are raised later).
    pub fn change_passphrase(
        &self,
        old: &Passphrase,
        new: &Passphrase,
        params: KdfParams,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Keystore, KeystoreError> {
        let mnemonic = self.unlock_mnemonic(old)?;
        Keystore::create(&mnemonic, new, params, self.created_note.clone(), rng)
    }

    /// The account this keystore holds the keys of (readable without the passphrase).
    pub fn address(&self) -> Address {
        self.address
    }
    pub fn kdf_params(&self) -> KdfParams {
        self.params
    }
    pub fn created_note(&self) -> Option<&str> {
        self.created_note.as_deref()
    }

    /// The JSON text, pretty-printed.
    pub fn to_json(&self) -> String {
        // Serializing a `Value` of strings and numbers cannot fail.
        serde_json::to_string_pretty(&self.to_value()).unwrap_or_default()
    }

    /// The JSON value.
    pub fn to_value(&self) -> Value {
        let mut kdf = Map::new();
        kdf.insert("algorithm".into(), ALGORITHM.into());
        kdf.insert("m_kib".into(), self.params.m_kib.into());
        kdf.insert("t".into(), self.params.t.into());
        kdf.insert("p".into(), self.params.p.into());
        kdf.insert("salt".into(), hex::encode(&self.salt).into());
        let mut top = Map::new();
        top.insert("version".into(), KEYSTORE_VERSION.into());
        top.insert("kdf".into(), Value::Object(kdf));
        top.insert("cipher".into(), CIPHER.into());
        top.insert("nonce".into(), hex::encode(self.nonce).into());
        top.insert("ciphertext".into(), hex::encode(&self.ciphertext).into());
        top.insert("address".into(), self.address.to_hex().into());
        if let Some(note) = &self.created_note {
            top.insert("created_note".into(), note.clone().into());
        }
        Value::Object(top)
    }

    /// Reads keystore JSON text, checking the version first and then every field; the
    /// error names what is wrong.
    pub fn from_json(json: &str) -> Result<Self, KeystoreError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| KeystoreError::Malformed(format!("not valid JSON ({e})")))?;
        Self::from_value(&value)
    }

    /// Reads a keystore from a JSON value (see `from_json`).
    pub fn from_value(value: &Value) -> Result<Self, KeystoreError> {
        let top = value.as_object().ok_or_else(|| malformed("expected a JSON object"))?;
        let version = top.get("version").ok_or_else(|| malformed("missing field `version`"))?;
        match version.as_u64() {
            Some(v) if v == u64::from(KEYSTORE_VERSION) => {}
            Some(v) => return Err(KeystoreError::UnsupportedVersion(v)),
            None => return Err(malformed("`version` is not a whole number")),
        }
        only_fields(top, "", &["version", "kdf", "cipher", "nonce", "ciphertext", "address", "created_note"])?;

        let kdf = top
            .get("kdf")
            .ok_or_else(|| malformed("missing field `kdf`"))?
            .as_object()
            .ok_or_else(|| malformed("`kdf` is not an object"))?;
        only_fields(kdf, "kdf.", &["algorithm", "m_kib", "t", "p", "salt"])?;
        let algorithm = str_field(kdf, "kdf.", "algorithm")?;
        if algorithm != ALGORITHM {
            return Err(malformed(format!("`kdf.algorithm` is {algorithm:?}, but only {ALGORITHM:?} is supported")));
        }
        let params = KdfParams { m_kib: u32_field(kdf, "m_kib")?, t: u32_field(kdf, "t")?, p: u32_field(kdf, "p")? };
        params.check().map_err(|e| malformed(format!("`kdf`: {e}")))?;
        let salt = hex_field(kdf, "kdf.", "salt")?;
        if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
            return Err(malformed(format!(
                "`kdf.salt` is {} bytes, but must be from {MIN_SALT_LEN} to {MAX_SALT_LEN}",
                salt.len()
            )));
        }

        let cipher = str_field(top, "", "cipher")?;
        if cipher != CIPHER {
            return Err(malformed(format!("`cipher` is {cipher:?}, but only {CIPHER:?} is supported")));
        }
        let nonce: [u8; NONCE_LEN] = hex_field(top, "", "nonce")?
            .try_into()
            .map_err(|_| malformed(format!("`nonce` is not {NONCE_LEN} bytes")))?;
        let ciphertext = hex_field(top, "", "ciphertext")?;
        if ciphertext.len() != ENTROPY_LEN + TAG_LEN {
            return Err(malformed(format!("`ciphertext` is not {} bytes", ENTROPY_LEN + TAG_LEN)));
        }
        let address = Address::from_hex(str_field(top, "", "address")?)
            .map_err(|_| malformed("`address` is not a 20-byte hex address"))?;
        let created_note = match top.get("created_note") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.len() <= MAX_NOTE_BYTES => Some(s.clone()),
            Some(Value::String(_)) => {
                return Err(malformed(format!("`created_note` is longer than {MAX_NOTE_BYTES} bytes")));
            }
            Some(_) => return Err(malformed("`created_note` is not a string")),
        };
        Ok(Keystore { params, salt, nonce, ciphertext, address, created_note })
    }

    /// The associated data: every header field, canonically encoded.
    fn aad(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.raw(AAD_DOMAIN)
            .u32(KEYSTORE_VERSION)
            .str(ALGORITHM)
            .u32(self.params.m_kib)
            .u32(self.params.t)
            .u32(self.params.p)
            .bytes(&self.salt)
            .str(CIPHER)
            .raw(&self.address.0);
        match &self.created_note {
            None => w.u8(0),
            Some(note) => w.u8(1).str(note),
        };
        w.into_bytes()
    }
}

impl Serialize for Keystore {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Keystore {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Keystore::from_value(&value).map_err(serde::de::Error::custom)
    }
}

fn derive_key(passphrase: &Passphrase, params: &KdfParams, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let argon_params = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| KeystoreError::InvalidKdfParams(e.to_string()))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|e| KeystoreError::InvalidKdfParams(e.to_string()))?;
    Ok(key)
}

fn malformed(what: impl Into<String>) -> KeystoreError {
    KeystoreError::Malformed(what.into())
}

fn only_fields(obj: &Map<String, Value>, prefix: &str, allowed: &[&str]) -> Result<(), KeystoreError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(malformed(format!("unknown field `{prefix}{k}`"))),
        None => Ok(()),
    }
}

fn str_field<'a>(obj: &'a Map<String, Value>, prefix: &str, name: &str) -> Result<&'a str, KeystoreError> {
    match obj.get(name) {
        None => Err(malformed(format!("missing field `{prefix}{name}`"))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(malformed(format!("`{prefix}{name}` is not a string"))),
    }
}

fn u32_field(kdf: &Map<String, Value>, name: &str) -> Result<u32, KeystoreError> {
    let v = kdf.get(name).ok_or_else(|| malformed(format!("missing field `kdf.{name}`")))?;
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| malformed(format!("`kdf.{name}` is not a whole number below 2^32")))
}

fn hex_field(obj: &Map<String, Value>, prefix: &str, name: &str) -> Result<Vec<u8>, KeystoreError> {
    hex::decode(str_field(obj, prefix, name)?).map_err(|_| malformed(format!("`{prefix}{name}` is not hex")))
}
