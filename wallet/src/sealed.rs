//! Sealed fields of transactions: clinical content and free text (a patient's profile, a
//! prescription, a claim, a reason, a break-glass justification) encrypted like a record
//! (its own key, wrapped for each reader) and carried on the ledger as ciphertext.
//!
//! The plaintext is JSON of one of the types below; readers open it with their identity.
//! The wallet checks what the ledger cannot (a justification's length, a claim's amount),
//! because the ledger sees only who can read it.

use crate::envelope::{self, EnvelopeError};
use crate::keys::Identity;
use ledger_protocol::rules::MIN_JUSTIFICATION_CHARS;
use ledger_protocol::{Address, PublicKey, Sealed, WrappedKey};
use rand_core::CryptoRngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A patient's profile: what the hospital's directory holds about a member of staff, but
/// readable only by the patient (and the hospital, if they let it find them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientProfile {
    pub name: String,
    /// `YYYY-MM-DD`, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
}

/// What a prescription says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrescriptionDetails {
    pub medication: String,
    pub dosage: String,
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub instructions: String,
}

/// What a claim asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimDetails {
    pub amount_cents: u64,
    /// ISO 4217, three capital letters.
    pub currency: String,
    /// The care it is for, in words.
    pub description: String,
    /// Billing codes (for example ICD-10 or CPT), if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
}

/// Free text: a break-glass justification or a claim decision's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub text: String,
}

/// Why content could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealedError {
    #[error("{0}")]
    Envelope(#[from] EnvelopeError),
    #[error("it is not sealed for this wallet")]
    NotForYou,
    #[error("the sealed content is not what was expected: {0}")]
    Unreadable(String),
    #[error("{0}")]
    Invalid(String),
}

/// A reader of sealed content: their account address and encryption public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reader {
    pub address: Address,
    pub encryption_key: PublicKey,
}

/// Seals `value` as JSON for each of `readers` (each once, in the order given).
pub fn seal_json<T: Serialize>(
    value: &T,
    readers: &[Reader],
    rng: &mut impl CryptoRngCore,
) -> Result<Sealed, SealedError> {
    let json = zeroize::Zeroizing::new(serde_json::to_vec(value).map_err(|e| SealedError::Invalid(e.to_string()))?);
    seal_bytes(&json, readers, rng)
}

/// Seals bytes for each of `readers`.
pub fn seal_bytes(plaintext: &[u8], readers: &[Reader], rng: &mut impl CryptoRngCore) -> Result<Sealed, SealedError> {
    let (key, ciphertext) = envelope::seal(plaintext, rng)?;
    let mut keys: Vec<WrappedKey> = Vec::with_capacity(readers.len());
    for r in readers {
        if keys.iter().any(|k| k.reader == r.address) {
            continue;
        }
        keys.push(WrappedKey { reader: r.address, wrapped: envelope::wrap_key(&key, &r.encryption_key, rng)? });
    }
    Ok(Sealed { ciphertext, keys })
}

/// Opens sealed content with `identity`'s key, as bytes.
pub fn open_bytes(identity: &Identity, sealed: &Sealed) -> Result<zeroize::Zeroizing<Vec<u8>>, SealedError> {
    let k = sealed.key_for(&identity.address()).ok_or(SealedError::NotForYou)?;
    let key = envelope::unwrap_key(identity, &k.wrapped)?;
    Ok(zeroize::Zeroizing::new(envelope::open(&key, &sealed.ciphertext)?))
}

/// Opens sealed JSON content with `identity`'s key.
pub fn open_json<T: DeserializeOwned>(identity: &Identity, sealed: &Sealed) -> Result<T, SealedError> {
    parse(&open_bytes(identity, sealed)?)
}

/// Reads opened plaintext as `T`.
pub fn parse<T: DeserializeOwned>(plaintext: &[u8]) -> Result<T, SealedError> {
    serde_json::from_slice(plaintext).map_err(|e| SealedError::Unreadable(e.to_string()))
}

impl PrescriptionDetails {
    /// What the wallet checks before sealing: the ledger cannot.
    pub fn check(&self) -> Result<(), SealedError> {
        if self.medication.trim().is_empty() || self.dosage.trim().is_empty() {
            return Err(SealedError::Invalid("Enter the medication and the dosage.".into()));
        }
        if self.quantity == 0 {
            return Err(SealedError::Invalid("The quantity must be at least 1.".into()));
        }
        Ok(())
    }
}

impl ClaimDetails {
    /// What the wallet checks before sealing: the ledger cannot.
    pub fn check(&self) -> Result<(), SealedError> {
        if self.amount_cents == 0 {
            return Err(SealedError::Invalid("The claimed amount must be more than zero.".into()));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(SealedError::Invalid("The currency must be a three-letter ISO 4217 code such as EUR.".into()));
        }
        if self.description.trim().is_empty() {
            return Err(SealedError::Invalid("Say what care the claim is for.".into()));
        }
        Ok(())
    }
}

impl Text {
    /// A break-glass justification: at least `MIN_JUSTIFICATION_CHARS` characters.
    pub fn check_justification(&self) -> Result<(), SealedError> {
        if self.text.trim().chars().count() < MIN_JUSTIFICATION_CHARS {
            return Err(SealedError::Invalid(format!(
                "Explain the emergency in at least {MIN_JUSTIFICATION_CHARS} characters."
            )));
        }
        Ok(())
    }
}
