//! Transactions: the twenty kinds, their canonical bytes, the domain-separated signing
//! hash, and signature verification that yields a `VerifiedTx`. Free text and clinical
//! content travel as `Sealed` ciphertext for the parties who may read it; what is left in
//! the clear is what the rules check (see ARCHITECTURE.md, "What the ledger shows").

use crate::codec::{Decode, DecodeError, Encode, MAX_TX_BYTES, Reader, Writer};
use crate::crypto::{Address, Hash, PublicKey, Signature, SignatureVerifier, sha256, sign_digest};
use crate::error::Rejection;
use crate::request::SignedApiRequest;
use crate::types::{Actions, DataClass, Purpose, Role, Stage};
use serde::{Deserialize, Serialize};

/// Version of the transaction encoding and signing rules. Version 2 sealed every free-text
/// and clinical field and dropped the patient's name.
pub const TX_VERSION: u8 = 2;
/// Domain tag of the signing hash.
const SIGN_DOMAIN: &[u8] = b"healthchain/tx-signing";
/// Domain tag of the transaction id.
const ID_DOMAIN: &[u8] = b"healthchain/tx-id";

/// A record key sealed (ECIES) for one reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    pub reader: Address,
    #[serde(with = "hex_bytes")]
    pub wrapped: Vec<u8>,
}

impl Encode for WrappedKey {
    fn encode(&self, w: &mut Writer) {
        w.raw(&self.reader.0).bytes(&self.wrapped);
    }
}
impl Decode for WrappedKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(WrappedKey { reader: Address::decode(r)?, wrapped: r.bytes()? })
    }
}

/// Content only its readers can open: ciphertext (the wallet's sealed-record format) under a
/// fresh key, and that key wrapped for each reader. The ledger checks who the readers are,
/// never what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    #[serde(with = "hex_bytes")]
    pub ciphertext: Vec<u8>,
    pub keys: Vec<WrappedKey>,
}

impl Sealed {
    /// The key wrapped for `reader`, if any.
    pub fn key_for(&self, reader: &Address) -> Option<&WrappedKey> {
        self.keys.iter().find(|k| k.reader == *reader)
    }
    /// Whether `reader` can open it.
    pub fn readable_by(&self, reader: &Address) -> bool {
        self.key_for(reader).is_some()
    }
}

impl Encode for Sealed {
    fn encode(&self, w: &mut Writer) {
        w.bytes(&self.ciphertext).list(&self.keys);
    }
}
impl Decode for Sealed {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Sealed { ciphertext: r.bytes()?, keys: r.list()? })
    }
}

/// Under what an access happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "id")]
pub enum AccessBasis {
    Consent(Hash),
    BreakGlass(Hash),
}

impl Encode for AccessBasis {
    fn encode(&self, w: &mut Writer) {
        match self {
            AccessBasis::Consent(h) => w.u8(1).raw(&h.0),
            AccessBasis::BreakGlass(h) => w.u8(2).raw(&h.0),
        };
    }
}
impl Decode for AccessBasis {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        match r.u8()? {
            1 => Ok(AccessBasis::Consent(Hash::decode(r)?)),
            2 => Ok(AccessBasis::BreakGlass(Hash::decode(r)?)),
            tag => Err(DecodeError::UnknownTag { what: "access basis", tag, offset }),
        }
    }
}

/// What a transaction does. Times are Unix seconds unless the field name says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TxBody {
    /// A person registers themselves as a patient. Their profile (name, date of birth, an
    /// emergency contact) is sealed for themselves and, if they choose, the hospital.
    RegisterPatient { encryption_key: PublicKey, profile: Sealed },
    /// An authority registers a member of staff: keys, role, name and licence or staff
    /// number (the hospital's public directory).
    RegisterProvider { key: PublicKey, encryption_key: PublicKey, role: Role, name: String, licence: String },
    /// An authority ends a provider's registration: from then on their transactions are
    /// refused and consents to them no longer let them read.
    DeactivateProvider { provider: Address },
    /// An authority gives a member of staff new keys (a lost or compromised device). The
    /// account keeps its address, directory entry, consents and history; its old key signs
    /// nothing from then on, and records must be shared again with the new encryption key.
    RotateKey { account: Address, key: PublicKey, encryption_key: PublicKey },
    /// A patient lets a provider read and/or add records of some classes for a purpose.
    GrantConsent {
        grantee: Address,
        classes: Vec<DataClass>,
        actions: Actions,
        purpose: Purpose,
        valid_from: u64,
        valid_until: u64,
    },
    /// A patient withdraws a consent.
    RevokeConsent { consent: Hash },
    /// A record's ciphertext is anchored: its hash, where it is, and its key for each reader.
    AnchorRecord {
        patient: Address,
        content_hash: Hash,
        size: u64,
        class: DataClass,
        blob: Hash,
        keys: Vec<WrappedKey>,
    },
    /// A patient gives a newly consented reader the key of an existing record.
    ShareRecordKey { record: Hash, key: WrappedKey },
    /// Someone read a record, under a consent or a break-glass. Logged by the node that
    /// released it, it carries the reader's own signed read request, so the reader's
    /// signature backs the audit line (no authority can log a read nobody asked for); a
    /// reader logging their own read needs none.
    AccessEvent { record: Hash, reader: Address, basis: AccessBasis, request: Option<Box<SignedApiRequest>> },
    /// A clinician's emergency access, on their word alone for at most 4 hours; the written
    /// justification is sealed for the patient, the clinician and the hospital's authorities
    /// (and, if the clinician chooses, its administrators).
    BreakGlass { patient: Address, justification: Sealed, duration_secs: u64 },
    /// The hospital's second look at a break-glass (an authority or an administrator): it
    /// lets it last until `until`, up to 24 hours from its start, or ends it now (`until`
    /// at or before the block's time).
    ReviewBreakGlass { grant: Hash, until: u64 },
    /// A doctor prescribes for a patient, to be dispensed by one pharmacy; what (medication,
    /// dosage, quantity) is sealed for the patient, the prescriber and that pharmacy.
    Prescribe { patient: Address, pharmacy: Address, details: Sealed, valid_until: u64 },
    /// The prescription's pharmacy dispenses it, once.
    Dispense { prescription: Hash },
    /// A provider claims payment from an insurer for a patient's care; the amount, codes and
    /// description are sealed for the patient, the provider and the insurer.
    Claim { patient: Address, insurer: Address, records: Vec<Hash>, details: Sealed },
    /// An insurer approves or denies a claim; the reason is sealed like the claim.
    DecideClaim { claim: Hash, approved: bool, reason: Sealed },
    /// The hash of one segment of one stream of a digital-twin case.
    AnchorTwinSegment {
        patient: Address,
        case_id: Hash,
        stage: Stage,
        stream: String,
        start_ms: u64,
        end_ms: u64,
        segment_hash: Hash,
    },
    /// A trainee's run of a twin training scenario: the scenario, the score (in tenths of a
    /// point), the trajectory hash, and the actions taken as a scenario action file, so
    /// that anyone can run the scenario with those actions and get the same hash and score.
    /// Training scenarios are synthetic patients: nothing here is about a real person.
    RecordTrainingRun { scenario: String, score_tenths: u64, max_tenths: u64, trajectory_hash: Hash, actions: String },
    /// A patient shares some of their records through a SMART Health Link. The link's files
    /// (compact JWE under a key that lives only in the link) are blobs the node keeps; `link`
    /// is the hash of the manifest's id, so the ledger never holds what opens it; `records`
    /// are the patient's records the files were made from, for their access log; a passcode,
    /// if any, is sealed for the hospital's authorities, whose nodes check it (a hash of it
    /// here would let anyone holding the link guess it offline).
    ShareLink {
        link: Hash,
        files: Vec<Hash>,
        records: Vec<Hash>,
        expires: u64,
        single_use: bool,
        passcode: Option<Sealed>,
    },
    /// A patient ends one of their share links at once.
    RevokeShareLink { link: Hash },
    /// A node answered a share link's manifest (`opened`) or refused a wrong passcode; who
    /// asked, in their own words, is sealed for the patient.
    ShareLinkUsed { link: Hash, opened: bool, recipient: Sealed },
}

/// The stable numeric kind of each body, part of the canonical bytes and the signing hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    RegisterPatient = 1,
    RegisterProvider = 2,
    GrantConsent = 3,
    RevokeConsent = 4,
    AnchorRecord = 5,
    ShareRecordKey = 6,
    AccessEvent = 7,
    BreakGlass = 8,
    Prescribe = 9,
    Dispense = 10,
    Claim = 11,
    DecideClaim = 12,
    AnchorTwinSegment = 13,
    RecordTrainingRun = 14,
    DeactivateProvider = 15,
    RotateKey = 16,
    ReviewBreakGlass = 17,
    ShareLink = 18,
    RevokeShareLink = 19,
    ShareLinkUsed = 20,
}

impl TxKind {
    pub const ALL: [TxKind; 20] = [
        TxKind::RegisterPatient,
        TxKind::RegisterProvider,
        TxKind::GrantConsent,
        TxKind::RevokeConsent,
        TxKind::AnchorRecord,
        TxKind::ShareRecordKey,
        TxKind::AccessEvent,
        TxKind::BreakGlass,
        TxKind::Prescribe,
        TxKind::Dispense,
        TxKind::Claim,
        TxKind::DecideClaim,
        TxKind::AnchorTwinSegment,
        TxKind::RecordTrainingRun,
        TxKind::DeactivateProvider,
        TxKind::RotateKey,
        TxKind::ReviewBreakGlass,
        TxKind::ShareLink,
        TxKind::RevokeShareLink,
        TxKind::ShareLinkUsed,
    ];
    pub fn tag(self) -> u8 {
        self as u8
    }
    pub fn name(self) -> &'static str {
        match self {
            TxKind::RegisterPatient => "register_patient",
            TxKind::RegisterProvider => "register_provider",
            TxKind::GrantConsent => "grant_consent",
            TxKind::RevokeConsent => "revoke_consent",
            TxKind::AnchorRecord => "anchor_record",
            TxKind::ShareRecordKey => "share_record_key",
            TxKind::AccessEvent => "access_event",
            TxKind::BreakGlass => "break_glass",
            TxKind::Prescribe => "prescribe",
            TxKind::Dispense => "dispense",
            TxKind::Claim => "claim",
            TxKind::DecideClaim => "decide_claim",
            TxKind::AnchorTwinSegment => "anchor_twin_segment",
            TxKind::RecordTrainingRun => "record_training_run",
            TxKind::DeactivateProvider => "deactivate_provider",
            TxKind::RotateKey => "rotate_key",
            TxKind::ReviewBreakGlass => "review_break_glass",
            TxKind::ShareLink => "share_link",
            TxKind::RevokeShareLink => "revoke_share_link",
            TxKind::ShareLinkUsed => "share_link_used",
        }
    }
}

impl TxBody {
    /// Stateless check that every public key the body carries is a curve point, so that
    /// `apply` (single-threaded in a node) need not; done with the signature check.
    /// Checks what the body carries that cryptography vouches for: its public keys are
    /// points, and a request it carries is signed by its signer.
    fn check_crypto(&self, verifier: &dyn SignatureVerifier) -> Result<(), Rejection> {
        if let TxBody::AccessEvent { request: Some(q), .. } = self
            && (!verifier.valid_key(&q.request.signer) || !q.verify(verifier))
        {
            return Err(Rejection::BadSignature);
        }
        let keys: &[&PublicKey] = match self {
            TxBody::RegisterPatient { encryption_key, .. } => &[encryption_key],
            TxBody::RegisterProvider { key, encryption_key, .. } | TxBody::RotateKey { key, encryption_key, .. } => {
                &[key, encryption_key]
            }
            _ => &[],
        };
        if keys.iter().all(|k| verifier.valid_key(k)) {
            Ok(())
        } else {
            Err(Rejection::InvalidField("A public key in the transaction is not a valid secp256k1 point.".into()))
        }
    }

    pub fn kind(&self) -> TxKind {
        match self {
            TxBody::RegisterPatient { .. } => TxKind::RegisterPatient,
            TxBody::RegisterProvider { .. } => TxKind::RegisterProvider,
            TxBody::GrantConsent { .. } => TxKind::GrantConsent,
            TxBody::RevokeConsent { .. } => TxKind::RevokeConsent,
            TxBody::AnchorRecord { .. } => TxKind::AnchorRecord,
            TxBody::ShareRecordKey { .. } => TxKind::ShareRecordKey,
            TxBody::AccessEvent { .. } => TxKind::AccessEvent,
            TxBody::BreakGlass { .. } => TxKind::BreakGlass,
            TxBody::Prescribe { .. } => TxKind::Prescribe,
            TxBody::Dispense { .. } => TxKind::Dispense,
            TxBody::Claim { .. } => TxKind::Claim,
            TxBody::DecideClaim { .. } => TxKind::DecideClaim,
            TxBody::AnchorTwinSegment { .. } => TxKind::AnchorTwinSegment,
            TxBody::RecordTrainingRun { .. } => TxKind::RecordTrainingRun,
            TxBody::DeactivateProvider { .. } => TxKind::DeactivateProvider,
            TxBody::RotateKey { .. } => TxKind::RotateKey,
            TxBody::ReviewBreakGlass { .. } => TxKind::ReviewBreakGlass,
            TxBody::ShareLink { .. } => TxKind::ShareLink,
            TxBody::RevokeShareLink { .. } => TxKind::RevokeShareLink,
            TxBody::ShareLinkUsed { .. } => TxKind::ShareLinkUsed,
        }
    }

    fn encode_fields(&self, w: &mut Writer) {
        match self {
            TxBody::RegisterPatient { encryption_key, profile } => {
                w.raw(&encryption_key.0);
                profile.encode(w);
            }
            TxBody::RegisterProvider { key, encryption_key, role, name, licence } => {
                w.raw(&key.0).raw(&encryption_key.0).u8(role.tag()).str(name).str(licence);
            }
            TxBody::DeactivateProvider { provider } => {
                w.raw(&provider.0);
            }
            TxBody::RotateKey { account, key, encryption_key } => {
                w.raw(&account.0).raw(&key.0).raw(&encryption_key.0);
            }
            TxBody::GrantConsent { grantee, classes, actions, purpose, valid_from, valid_until } => {
                w.raw(&grantee.0).list(classes);
                actions.encode(w);
                w.u8(purpose.tag()).u64(*valid_from).u64(*valid_until);
            }
            TxBody::RevokeConsent { consent } => {
                w.raw(&consent.0);
            }
            TxBody::AnchorRecord { patient, content_hash, size, class, blob, keys } => {
                w.raw(&patient.0).raw(&content_hash.0).u64(*size).u8(class.tag()).raw(&blob.0).list(keys);
            }
            TxBody::ShareRecordKey { record, key } => {
                w.raw(&record.0);
                key.encode(w);
            }
            TxBody::AccessEvent { record, reader, basis, request } => {
                w.raw(&record.0).raw(&reader.0);
                basis.encode(w);
                w.option(request);
            }
            TxBody::BreakGlass { patient, justification, duration_secs } => {
                w.raw(&patient.0);
                justification.encode(w);
                w.u64(*duration_secs);
            }
            TxBody::ReviewBreakGlass { grant, until } => {
                w.raw(&grant.0).u64(*until);
            }
            TxBody::Prescribe { patient, pharmacy, details, valid_until } => {
                w.raw(&patient.0).raw(&pharmacy.0);
                details.encode(w);
                w.u64(*valid_until);
            }
            TxBody::Dispense { prescription } => {
                w.raw(&prescription.0);
            }
            TxBody::Claim { patient, insurer, records, details } => {
                w.raw(&patient.0).raw(&insurer.0).list(records);
                details.encode(w);
            }
            TxBody::DecideClaim { claim, approved, reason } => {
                w.raw(&claim.0).bool(*approved);
                reason.encode(w);
            }
            TxBody::AnchorTwinSegment { patient, case_id, stage, stream, start_ms, end_ms, segment_hash } => {
                w.raw(&patient.0)
                    .raw(&case_id.0)
                    .u8(stage.tag())
                    .str(stream)
                    .u64(*start_ms)
                    .u64(*end_ms)
                    .raw(&segment_hash.0);
            }
            TxBody::RecordTrainingRun { scenario, score_tenths, max_tenths, trajectory_hash, actions } => {
                w.str(scenario).u64(*score_tenths).u64(*max_tenths).raw(&trajectory_hash.0).str(actions);
            }
            TxBody::ShareLink { link, files, records, expires, single_use, passcode } => {
                w.raw(&link.0).list(files).list(records).u64(*expires).bool(*single_use).option(passcode);
            }
            TxBody::RevokeShareLink { link } => {
                w.raw(&link.0);
            }
            TxBody::ShareLinkUsed { link, opened, recipient } => {
                w.raw(&link.0).bool(*opened);
                recipient.encode(w);
            }
        }
    }

    fn decode_fields(kind: u8, offset: usize, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match kind {
            1 => TxBody::RegisterPatient { encryption_key: PublicKey::decode(r)?, profile: Sealed::decode(r)? },
            2 => TxBody::RegisterProvider {
                key: PublicKey::decode(r)?,
                encryption_key: PublicKey::decode(r)?,
                role: Role::decode(r)?,
                name: r.string()?,
                licence: r.string()?,
            },
            3 => TxBody::GrantConsent {
                grantee: Address::decode(r)?,
                classes: r.list()?,
                actions: Actions::decode(r)?,
                purpose: Purpose::decode(r)?,
                valid_from: r.u64()?,
                valid_until: r.u64()?,
            },
            4 => TxBody::RevokeConsent { consent: Hash::decode(r)? },
            5 => TxBody::AnchorRecord {
                patient: Address::decode(r)?,
                content_hash: Hash::decode(r)?,
                size: r.u64()?,
                class: DataClass::decode(r)?,
                blob: Hash::decode(r)?,
                keys: r.list()?,
            },
            6 => TxBody::ShareRecordKey { record: Hash::decode(r)?, key: WrappedKey::decode(r)? },
            7 => TxBody::AccessEvent {
                record: Hash::decode(r)?,
                reader: Address::decode(r)?,
                basis: AccessBasis::decode(r)?,
                request: r.option()?,
            },
            8 => TxBody::BreakGlass {
                patient: Address::decode(r)?,
                justification: Sealed::decode(r)?,
                duration_secs: r.u64()?,
            },
            9 => TxBody::Prescribe {
                patient: Address::decode(r)?,
                pharmacy: Address::decode(r)?,
                details: Sealed::decode(r)?,
                valid_until: r.u64()?,
            },
            10 => TxBody::Dispense { prescription: Hash::decode(r)? },
            11 => TxBody::Claim {
                patient: Address::decode(r)?,
                insurer: Address::decode(r)?,
                records: r.list()?,
                details: Sealed::decode(r)?,
            },
            12 => TxBody::DecideClaim { claim: Hash::decode(r)?, approved: r.bool()?, reason: Sealed::decode(r)? },
            13 => TxBody::AnchorTwinSegment {
                patient: Address::decode(r)?,
                case_id: Hash::decode(r)?,
                stage: Stage::decode(r)?,
                stream: r.string()?,
                start_ms: r.u64()?,
                end_ms: r.u64()?,
                segment_hash: Hash::decode(r)?,
            },
            14 => TxBody::RecordTrainingRun {
                scenario: r.string()?,
                score_tenths: r.u64()?,
                max_tenths: r.u64()?,
                trajectory_hash: Hash::decode(r)?,
                actions: r.string()?,
            },
            15 => TxBody::DeactivateProvider { provider: Address::decode(r)? },
            16 => TxBody::RotateKey {
                account: Address::decode(r)?,
                key: PublicKey::decode(r)?,
                encryption_key: PublicKey::decode(r)?,
            },
            17 => TxBody::ReviewBreakGlass { grant: Hash::decode(r)?, until: r.u64()? },
            18 => TxBody::ShareLink {
                link: Hash::decode(r)?,
                files: r.list()?,
                records: r.list()?,
                expires: r.u64()?,
                single_use: r.bool()?,
                passcode: r.option()?,
            },
            19 => TxBody::RevokeShareLink { link: Hash::decode(r)? },
            20 => TxBody::ShareLinkUsed { link: Hash::decode(r)?, opened: r.bool()?, recipient: Sealed::decode(r)? },
            tag => return Err(DecodeError::UnknownTag { what: "transaction kind", tag, offset }),
        })
    }
}

/// An unsigned transaction: who, which chain, which nonce, what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub chain_id: String,
    pub signer: PublicKey,
    /// Strictly greater than the signer's previous nonce; stops replays.
    pub nonce: u64,
    pub body: TxBody,
}

impl Encode for Transaction {
    fn encode(&self, w: &mut Writer) {
        w.u8(TX_VERSION).str(&self.chain_id).raw(&self.signer.0).u64(self.nonce).u8(self.body.kind().tag());
        self.body.encode_fields(w);
    }
}

impl Decode for Transaction {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u8()?;
        if version != TX_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let chain_id = r.string()?;
        let signer = PublicKey::decode(r)?;
        let nonce = r.u64()?;
        let offset = r.offset();
        let kind = r.u8()?;
        let body = TxBody::decode_fields(kind, offset, r)?;
        Ok(Transaction { chain_id, signer, nonce, body })
    }
}

impl Transaction {
    /// The digest that is signed: SHA-256 over a domain tag, the chain id, the kind, the
    /// version, then the canonical bytes. A signature for one chain or kind never verifies
    /// for another.
    pub fn signing_hash(&self) -> Hash {
        let bytes = self.to_canonical_bytes();
        let chain_len = (self.chain_id.len() as u32).to_be_bytes();
        sha256(&[SIGN_DOMAIN, &chain_len, self.chain_id.as_bytes(), &[self.body.kind().tag(), TX_VERSION], &bytes])
    }

    /// Signs with RFC 6979 (deterministic, low-S). The key must be the signer's.
    pub fn sign(self, key: &k256::ecdsa::SigningKey) -> SignedTransaction {
        let signature = sign_digest(key, &self.signing_hash());
        SignedTransaction { tx: self, signature }
    }
}

/// A transaction with its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransaction {
    pub tx: Transaction,
    pub signature: Signature,
}

impl Encode for SignedTransaction {
    fn encode(&self, w: &mut Writer) {
        self.tx.encode(w);
        w.raw(&self.signature.0);
    }
}

impl Decode for SignedTransaction {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedTransaction { tx: Transaction::decode(r)?, signature: Signature::decode(r)? })
    }
    fn from_canonical_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(DecodeError::TooLong { offset: 0, len: bytes.len() as u64, max: MAX_TX_BYTES as u64 });
        }
        let mut r = Reader::new(bytes);
        let v = Self::decode(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

impl SignedTransaction {
    /// The transaction id: SHA-256 over a domain tag and the signed canonical bytes. It is
    /// also the Merkle leaf of the transaction in its block.
    pub fn id(&self) -> Hash {
        sha256(&[ID_DOMAIN, &self.to_canonical_bytes()])
    }

    /// Checks the signature (low-S required) and the encoding version.
    pub fn verify(self, verifier: &dyn SignatureVerifier) -> Result<VerifiedTx, Rejection> {
        if self.signature.is_high_s() {
            return Err(Rejection::HighS);
        }
        self.tx.body.check_crypto(verifier)?;
        let digest = self.tx.signing_hash();
        if !verifier.verify(&self.tx.signer, &digest, &self.signature) {
            return Err(Rejection::BadSignature);
        }
        let bytes = self.to_canonical_bytes();
        let id = sha256(&[ID_DOMAIN, &bytes]);
        let encoded_len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        Ok(VerifiedTx { signed: self, id, encoded_len })
    }
}

/// A transaction whose signature has been checked. Only `SignedTransaction::verify`
/// makes one, so `apply` never sees an unverified transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTx {
    signed: SignedTransaction,
    id: Hash,
    encoded_len: u32,
}

impl VerifiedTx {
    pub fn id(&self) -> Hash {
        self.id
    }
    /// Length of its canonical bytes: what it adds to a block.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len as usize
    }
    pub fn tx(&self) -> &Transaction {
        &self.signed.tx
    }
    pub fn signed(&self) -> &SignedTransaction {
        &self.signed
    }
    pub fn into_signed(self) -> SignedTransaction {
        self.signed
    }
    pub fn signer_address(&self) -> Address {
        self.signed.tx.signer.address()
    }
}

/// Serde helper: `Vec<u8>` as a hex string in JSON.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s.strip_prefix("0x").unwrap_or(&s)).map_err(serde::de::Error::custom)
    }
}
