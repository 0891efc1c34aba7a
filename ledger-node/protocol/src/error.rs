//! Why a transaction is refused: every rejection has a stable code (for programs) and a
//! sentence (for people), saying what was wrong and, where it helps, what to do.

use crate::codec::DecodeError;
use crate::types::Role;

/// A refused transaction. `code()` never changes once published; the text may improve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("The transaction could not be read: {0}. Re-create it with an up-to-date wallet.")]
    Malformed(DecodeError),
    #[error(
        "The signature does not match the transaction and its signer. It may have been altered after signing; sign it again."
    )]
    BadSignature,
    #[error(
        "The signature uses a high S value, which the ledger refuses to prevent malleated copies. Sign it again with a compliant wallet."
    )]
    HighS,
    #[error("The transaction was made for chain \"{got}\" but this ledger is \"{expected}\".")]
    WrongChain { expected: String, got: String },
    #[error("Nonce {got} was already used or is too old; the next nonce for this account must be greater than {last}.")]
    StaleNonce { last: u64, got: u64 },
    #[error("The signing account is not registered on this ledger. Register first.")]
    UnknownAccount,
    #[error("This key is already registered on the ledger.")]
    AlreadyRegistered,
    #[error(
        "Only a hospital authority listed in genesis, or an administrator it appointed, may register or deactivate staff (and only an authority appoints administrators)."
    )]
    NotAuthority,
    #[error("A {actual} may not do this; it needs one of: {needed}.")]
    WrongRole { actual: Role, needed: String },
    #[error("The account named as {what} is not a registered {what}.")]
    UnknownParty { what: &'static str },
    #[error("{0}")]
    InvalidField(String),
    #[error("The validity period is not valid: it must end after it starts and after now.")]
    InvalidPeriod,
    #[error("No consent with that id exists on this ledger.")]
    ConsentNotFound,
    #[error("Only the patient who owns it may do this.")]
    NotOwner,
    #[error("This consent was already revoked.")]
    AlreadyRevoked,
    #[error("The consent that would allow this has expired. Ask the patient to grant a new one.")]
    ConsentExpired,
    #[error("The consent that would allow this was revoked by the patient.")]
    ConsentRevoked,
    #[error("The consent that would allow this is not valid yet.")]
    ConsentNotYetValid,
    #[error("There is no live consent from the patient allowing this. Ask the patient to grant one.")]
    NoConsent,
    #[error("No record with that id exists on this ledger.")]
    RecordNotFound,
    #[error("The patient's own key is missing from the record's wrapped keys; the patient could not read it.")]
    MissingPatientKey,
    #[error("A record key is wrapped for a reader who has no live read consent for this data class.")]
    ReaderNotAllowed,
    #[error("That reader already holds this record's key.")]
    AlreadyShared,
    #[error(
        "Segment hashes can be anchored only for a digital twin record of this patient, by its author or by someone it is shared with."
    )]
    NotCaseHolder,
    #[error("No break-glass access with that id exists, or it is not this reader's.")]
    BreakGlassNotFound,
    #[error(
        "The break-glass access has ended. Open a new one with a written justification if the emergency continues."
    )]
    BreakGlassExpired,
    #[error("A break-glass justification must explain the emergency in at least 20 characters.")]
    JustificationTooShort,
    #[error(
        "A break-glass access lasts at least one second and, on the clinician's word alone, at most 4 hours; the hospital's review may let it last up to 24 hours from its start."
    )]
    BreakGlassTooLong,
    #[error("No prescription with that id exists on this ledger.")]
    PrescriptionNotFound,
    #[error("This prescription was already dispensed; it can be dispensed only once.")]
    AlreadyDispensed,
    #[error("This prescription has expired and can no longer be dispensed.")]
    PrescriptionExpired,
    #[error("No claim with that id exists on this ledger.")]
    ClaimNotFound,
    #[error("This claim was already decided.")]
    AlreadyDecided,
    #[error("Only the insurer named on the claim may decide it.")]
    NotClaimInsurer,
    #[error("The record size {size} bytes exceeds the limit of {max} bytes.")]
    TooLarge { size: u64, max: u64 },
    #[error(
        "This account was deactivated by the hospital; it can no longer sign transactions. Ask the hospital's administrator."
    )]
    Deactivated,
    #[error("The {what} was deactivated by the hospital and can no longer take part.")]
    PartyDeactivated { what: &'static str },
    #[error("This provider is already deactivated.")]
    AlreadyDeactivated,
    #[error(
        "This key was replaced by the hospital (Unix time {at}) and no longer signs for its account. Use the wallet that holds the account's new key, or ask the hospital's administrator."
    )]
    KeyReplaced { at: u64 },
    #[error(
        "That key already belongs to an account on this ledger (now or before); each key serves one account. Make new keys."
    )]
    KeyInUse,
    #[error("That encrypted blob already belongs to another record; upload the record's own envelope.")]
    BlobAlreadyAnchored,
    #[error("You already hold a live break-glass access to this patient; it lasts until it ends.")]
    BreakGlassStillLive,
    #[error("At most {max} break-glass accesses to one patient in 7 days; ask the hospital's administrator to review.")]
    BreakGlassLimit { max: usize },
    #[error(
        "At most {max} break-glass accesses in 24 hours, over all patients; ask the hospital's administrator to review."
    )]
    BreakGlassClinicianLimit { max: usize },
    #[error("An access event logged for someone else must carry the reader's own signed request for that read: {0}")]
    AccessNotRequested(&'static str),
    #[error("That read request is already in the access log; each signed request is logged once.")]
    AccessAlreadyLogged,
    #[error("Only the pharmacy the prescription names may dispense it.")]
    NotPrescriptionPharmacy,
    #[error("The sealed {field} is not readable by the right people: {why}")]
    SealedReaders { field: &'static str, why: String },
    #[error("No share link with that id exists on this ledger.")]
    LinkNotFound,
    #[error("A share link with that id already exists; make a new link.")]
    LinkExists,
    #[error("The share link no longer opens: {0}")]
    LinkClosed(&'static str),
}

/// What kind of error an answer is, which decides its HTTP status. Every rejection has
/// exactly one (`Rejection::kind`, with no wildcard), so a new rejection cannot be answered
/// with the wrong status; the node's own errors use the last three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The bytes are not a transaction.
    Malformed,
    /// The signature does not prove who signed.
    Unauthenticated,
    /// The signer may not do this (role, consent, ownership, deactivation).
    Forbidden,
    /// Something named does not exist.
    NotFound,
    /// It was done already, or the nonce was used.
    Conflict,
    /// Larger than allowed.
    TooLarge,
    /// A field's value is not acceptable.
    Invalid,
    /// The client sent more than its share; it may try again after `Retry-After`.
    RateLimited,
    /// The node cannot answer now; trying again may work.
    Unavailable,
    /// The node failed; it has been logged.
    Internal,
}

impl Rejection {
    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::BadSignature => "bad_signature",
            Rejection::HighS => "high_s",
            Rejection::WrongChain { .. } => "wrong_chain",
            Rejection::StaleNonce { .. } => "stale_nonce",
            Rejection::UnknownAccount => "unknown_account",
            Rejection::AlreadyRegistered => "already_registered",
            Rejection::NotAuthority => "not_authority",
            Rejection::WrongRole { .. } => "wrong_role",
            Rejection::UnknownParty { .. } => "unknown_party",
            Rejection::InvalidField(_) => "invalid_field",
            Rejection::InvalidPeriod => "invalid_period",
            Rejection::ConsentNotFound => "consent_not_found",
            Rejection::NotOwner => "not_owner",
            Rejection::AlreadyRevoked => "already_revoked",
            Rejection::ConsentExpired => "consent_expired",
            Rejection::ConsentRevoked => "consent_revoked",
            Rejection::ConsentNotYetValid => "consent_not_yet_valid",
            Rejection::NoConsent => "no_consent",
            Rejection::RecordNotFound => "record_not_found",
            Rejection::MissingPatientKey => "missing_patient_key",
            Rejection::ReaderNotAllowed => "reader_not_allowed",
            Rejection::AlreadyShared => "already_shared",
            Rejection::NotCaseHolder => "not_case_holder",
            Rejection::BreakGlassNotFound => "break_glass_not_found",
            Rejection::BreakGlassExpired => "break_glass_expired",
            Rejection::JustificationTooShort => "justification_too_short",
            Rejection::BreakGlassTooLong => "break_glass_too_long",
            Rejection::PrescriptionNotFound => "prescription_not_found",
            Rejection::AlreadyDispensed => "already_dispensed",
            Rejection::PrescriptionExpired => "prescription_expired",
            Rejection::ClaimNotFound => "claim_not_found",
            Rejection::AlreadyDecided => "already_decided",
            Rejection::NotClaimInsurer => "not_claim_insurer",
            Rejection::TooLarge { .. } => "too_large",
            Rejection::Deactivated => "deactivated",
            Rejection::PartyDeactivated { .. } => "party_deactivated",
            Rejection::AlreadyDeactivated => "already_deactivated",
            Rejection::KeyReplaced { .. } => "key_replaced",
            Rejection::KeyInUse => "key_in_use",
            Rejection::BlobAlreadyAnchored => "blob_already_anchored",
            Rejection::BreakGlassStillLive => "break_glass_still_live",
            Rejection::BreakGlassLimit { .. } | Rejection::BreakGlassClinicianLimit { .. } => "break_glass_limit",
            Rejection::NotPrescriptionPharmacy => "not_prescription_pharmacy",
            Rejection::SealedReaders { .. } => "sealed_readers",
            Rejection::AccessNotRequested(_) => "access_not_requested",
            Rejection::AccessAlreadyLogged => "access_already_logged",
            Rejection::LinkNotFound => "link_not_found",
            Rejection::LinkExists => "link_exists",
            Rejection::LinkClosed(_) => "link_closed",
        }
    }

    /// The kind of refusal (no wildcard: a new variant must choose one).
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind::*;
        match self {
            Rejection::Malformed(_) => Malformed,
            Rejection::BadSignature | Rejection::HighS => Unauthenticated,
            Rejection::NoConsent
            | Rejection::ConsentExpired
            | Rejection::ConsentRevoked
            | Rejection::ConsentNotYetValid
            | Rejection::NotAuthority
            | Rejection::WrongRole { .. }
            | Rejection::NotOwner
            | Rejection::ReaderNotAllowed
            | Rejection::BreakGlassExpired
            | Rejection::BreakGlassNotFound
            | Rejection::NotClaimInsurer
            | Rejection::UnknownAccount
            | Rejection::NotCaseHolder
            | Rejection::Deactivated
            | Rejection::KeyReplaced { .. }
            | Rejection::PartyDeactivated { .. }
            | Rejection::BreakGlassLimit { .. }
            | Rejection::BreakGlassClinicianLimit { .. }
            | Rejection::AccessNotRequested(_)
            | Rejection::LinkClosed(_)
            | Rejection::NotPrescriptionPharmacy => Forbidden,
            Rejection::ConsentNotFound
            | Rejection::RecordNotFound
            | Rejection::PrescriptionNotFound
            | Rejection::ClaimNotFound
            | Rejection::LinkNotFound
            | Rejection::UnknownParty { .. } => NotFound,
            Rejection::StaleNonce { .. }
            | Rejection::AlreadyRegistered
            | Rejection::AlreadyRevoked
            | Rejection::AlreadyShared
            | Rejection::AlreadyDispensed
            | Rejection::AlreadyDecided
            | Rejection::AlreadyDeactivated
            | Rejection::KeyInUse
            | Rejection::BlobAlreadyAnchored
            | Rejection::BreakGlassStillLive
            | Rejection::LinkExists
            | Rejection::AccessAlreadyLogged => Conflict,
            Rejection::TooLarge { .. } => TooLarge,
            Rejection::WrongChain { .. }
            | Rejection::InvalidField(_)
            | Rejection::InvalidPeriod
            | Rejection::MissingPatientKey
            | Rejection::JustificationTooShort
            | Rejection::BreakGlassTooLong
            | Rejection::PrescriptionExpired
            | Rejection::SealedReaders { .. } => Invalid,
        }
    }
}

impl From<DecodeError> for Rejection {
    fn from(e: DecodeError) -> Self {
        Rejection::Malformed(e)
    }
}
