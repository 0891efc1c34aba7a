//! Plain-language text for every transaction kind: what a person reads before signing.
//!
//! A `Description` has a title, one sentence in the signer's words ("you"), and details
//! that list every field of the transaction, the chain id, signer and nonce included:
//! no field of the transaction may be left out of what is shown. Sentences abbreviate
//! (names, short hex, dates); details are exact (full hex, date and time to the second,
//! byte counts), so two different transactions never read the same. Text that came from
//! outside (names, reasons, directory entries) has control, bidirectional and invisible
//! characters escaped, so it cannot disguise itself or the text around it.
//!
//! Sealed fields are shown as what they say when the directory holds their plaintext (the
//! portal puts there what it sealed a moment ago); otherwise the sentence says plainly that
//! the wallet cannot show them.

use crate::sealed::{ClaimDetails, PatientProfile, PrescriptionDetails, Text};
use ledger_protocol::codec::Encode;
use ledger_protocol::tx::WrappedKey;
use ledger_protocol::{AccessBasis, Address, DataClass, Hash, Sealed, Transaction, TxBody};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Resolves what the wallet knows by name: accounts, and the ids of consents, records,
/// prescriptions, claims, break-glass events and twin cases. `None` means unknown.
pub trait Directory {
    fn account_name(&self, address: &Address) -> Option<String>;
    fn consent_name(&self, _id: &Hash) -> Option<String> {
        None
    }
    fn record_name(&self, _id: &Hash) -> Option<String> {
        None
    }
    fn prescription_name(&self, _id: &Hash) -> Option<String> {
        None
    }
    fn claim_name(&self, _id: &Hash) -> Option<String> {
        None
    }
    fn break_glass_name(&self, _id: &Hash) -> Option<String> {
        None
    }
    fn case_name(&self, _id: &Hash) -> Option<String> {
        None
    }
    /// The plaintext of sealed content the wallet made or opened.
    fn sealed_plaintext(&self, _sealed: &Sealed) -> Option<String> {
        None
    }
}

/// The key under which a directory knows sealed content: SHA-256 of its ciphertext.
pub fn sealed_id(sealed: &Sealed) -> Hash {
    ledger_protocol::crypto::sha256(&[b"healthchain/sealed", &sealed.ciphertext])
}

/// A directory that knows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDirectory;

impl Directory for NoDirectory {
    fn account_name(&self, _address: &Address) -> Option<String> {
        None
    }
}

/// A directory held in maps; deserializable from JSON whose keys are hex.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MapDirectory {
    pub accounts: BTreeMap<Address, String>,
    pub consents: BTreeMap<Hash, String>,
    pub records: BTreeMap<Hash, String>,
    pub prescriptions: BTreeMap<Hash, String>,
    pub claims: BTreeMap<Hash, String>,
    pub break_glass: BTreeMap<Hash, String>,
    pub cases: BTreeMap<Hash, String>,
    /// Plaintext of sealed content, by `sealed_id`.
    pub sealed: BTreeMap<Hash, String>,
}

impl Directory for MapDirectory {
    fn account_name(&self, address: &Address) -> Option<String> {
        self.accounts.get(address).cloned()
    }
    fn consent_name(&self, id: &Hash) -> Option<String> {
        self.consents.get(id).cloned()
    }
    fn record_name(&self, id: &Hash) -> Option<String> {
        self.records.get(id).cloned()
    }
    fn prescription_name(&self, id: &Hash) -> Option<String> {
        self.prescriptions.get(id).cloned()
    }
    fn claim_name(&self, id: &Hash) -> Option<String> {
        self.claims.get(id).cloned()
    }
    fn break_glass_name(&self, id: &Hash) -> Option<String> {
        self.break_glass.get(id).cloned()
    }
    fn case_name(&self, id: &Hash) -> Option<String> {
        self.cases.get(id).cloned()
    }
    fn sealed_plaintext(&self, sealed: &Sealed) -> Option<String> {
        self.sealed.get(&sealed_id(sealed)).cloned()
    }
}

/// One labelled, exact value of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    pub label: String,
    pub value: String,
}

/// What a transaction does, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    pub title: String,
    pub sentence: String,
    pub details: Vec<Detail>,
}

impl Description {
    /// Title, sentence and one `label: value` line per detail.
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n{}\n", self.title, self.sentence);
        for d in &self.details {
            out.push_str(&d.label);
            out.push_str(": ");
            out.push_str(&d.value);
            out.push('\n');
        }
        out
    }
}

/// Describes a transaction from its signer's point of view.
pub fn describe(tx: &Transaction, directory: &dyn Directory) -> Description {
    let mut d = Describer { dir: directory, signer: tx.signer.address(), details: Vec::new() };
    let (title, sentence) = d.body(&tx.body);
    d.detail("Network (chain id)", quote(&tx.chain_id));
    let signer = d.account_detail(&d.signer);
    d.detail("Signed by", format!("{signer}, public key {}", tx.signer.to_hex()));
    d.detail("Sequence number (nonce)", tx.nonce.to_string());
    Description { title: title.into(), sentence, details: d.details }
}

/// What kind of id a hash names, for its wording and directory lookup.
#[derive(Clone, Copy)]
enum IdKind {
    Consent,
    Record,
    Prescription,
    Claim,
    BreakGlass,
    Case,
}

struct Describer<'a> {
    dir: &'a dyn Directory,
    signer: Address,
    details: Vec<Detail>,
}

impl Describer<'_> {
    fn detail(&mut self, label: impl Into<String>, value: impl Into<String>) {
        self.details.push(Detail { label: label.into(), value: value.into() });
    }

    /// An account in a sentence: "you", its name, or short hex "(unknown account)".
    fn account(&self, a: &Address) -> String {
        if *a == self.signer {
            return "you".into();
        }
        match self.dir.account_name(a) {
            Some(name) => escape(&name, false),
            None => format!("{} (unknown account)", short_hex(&a.0)),
        }
    }

    /// An account in the details: its name (or "unknown account") and full address.
    fn account_detail(&self, a: &Address) -> String {
        let you = if *a == self.signer { ", you" } else { "" };
        match self.dir.account_name(a) {
            Some(name) => format!("{} (account {}{you})", escape(&name, false), a.to_hex()),
            None => format!("{} (unknown account{you})", a.to_hex()),
        }
    }

    /// Whose something is, in a sentence: "your" or "the ... of X".
    fn of(&self, what: &str, a: &Address) -> String {
        if *a == self.signer { format!("your {what}") } else { format!("the {what} of {}", self.account(a)) }
    }

    fn name_of(&self, kind: IdKind, h: &Hash) -> Option<String> {
        match kind {
            IdKind::Consent => self.dir.consent_name(h),
            IdKind::Record => self.dir.record_name(h),
            IdKind::Prescription => self.dir.prescription_name(h),
            IdKind::Claim => self.dir.claim_name(h),
            IdKind::BreakGlass => self.dir.break_glass_name(h),
            IdKind::Case => self.dir.case_name(h),
        }
    }

    /// An id in a sentence: its name, or its kind and short hex.
    fn id(&self, kind: IdKind, h: &Hash) -> String {
        let word = match kind {
            IdKind::Consent => "consent",
            IdKind::Record => "record",
            IdKind::Prescription => "prescription",
            IdKind::Claim => "claim",
            IdKind::BreakGlass => "emergency access",
            IdKind::Case => "case",
        };
        match self.name_of(kind, h) {
            Some(name) => format!("{word} {}", quote(&name)),
            None => format!("{word} {}", short_hex(&h.0)),
        }
    }

    /// An id in the details: its name if known, and its full hex.
    fn id_detail(&self, kind: IdKind, h: &Hash) -> String {
        match self.name_of(kind, h) {
            Some(name) => format!("{} ({})", quote(&name), h.to_hex()),
            None => format!("{} (not known to this wallet)", h.to_hex()),
        }
    }

    fn wrapped_detail(&self, k: &WrappedKey) -> String {
        format!(
            "{}; wrapped key of {} bytes with SHA-256 {}",
            self.account_detail(&k.reader),
            k.wrapped.len(),
            ledger_protocol::crypto::sha256(&[&k.wrapped]).to_hex()
        )
    }

    /// Sealed content as `T`, when the directory holds its plaintext.
    fn opened<T: serde::de::DeserializeOwned>(&self, sealed: &Sealed) -> Option<T> {
        serde_json::from_str(&self.dir.sealed_plaintext(sealed)?).ok()
    }

    /// The details of a sealed field: who can read it, its size and fingerprint.
    fn sealed_detail(&mut self, what: &str, sealed: &Sealed) {
        self.detail(format!("{what}: readers"), sealed.keys.len().to_string());
        for (i, k) in sealed.keys.iter().enumerate() {
            self.detail(format!("{what}: key for reader {}", i + 1), self.wrapped_detail(k));
        }
        self.detail(
            format!("{what}: sealed"),
            format!("{} bytes, fingerprint {}", sealed.ciphertext.len(), sealed_id(sealed).to_hex()),
        );
    }

    /// The readers of sealed content, in words.
    fn sealed_readers(&self, sealed: &Sealed) -> String {
        join_words(&sealed.keys.iter().map(|k| self.account(&k.reader)).collect::<Vec<_>>())
    }

    /// The title and sentence of a body, adding its details.
    fn body(&mut self, body: &TxBody) -> (&'static str, String) {
        match body {
            TxBody::RegisterPatient { encryption_key, profile } => {
                let p: Option<PatientProfile> = self.opened(profile);
                if let Some(p) = &p {
                    self.detail("Name (sealed)", quote(&p.name));
                    if let Some(b) = &p.birth_date {
                        self.detail("Date of birth (sealed)", quote(b));
                    }
                }
                self.sealed_detail("Profile", profile);
                self.detail("Encryption public key", encryption_key.to_hex());
                let readers = self.sealed_readers(profile);
                let sentence = match p {
                    Some(p) => format!(
                        "You register yourself as a patient. Your name, {}, is sealed: only {readers} can read it.",
                        quote(&p.name)
                    ),
                    None => format!(
                        "You register yourself as a patient, with a sealed profile this wallet cannot show, readable by {readers}."
                    ),
                };
                ("Register as a patient", sentence)
            }
            TxBody::RegisterProvider { key, encryption_key, role, name, licence } => {
                let account = key.address();
                self.detail("Name", quote(name));
                self.detail("Licence or staff number", quote(licence));
                self.detail("Role", role.human());
                self.detail("Signing public key", format!("{} ({})", key.to_hex(), self.account_detail(&account)));
                self.detail("Encryption public key", encryption_key.to_hex());
                let sentence = format!(
                    "You register {} (licence {}) as {} {} (account {}).",
                    quote(name),
                    quote(licence),
                    article(role.human()),
                    role.human(),
                    short_hex(&account.0)
                );
                ("Register a provider", sentence)
            }
            TxBody::DeactivateProvider { provider } => {
                self.detail("Provider", self.account_detail(provider));
                let sentence = format!(
                    "You deactivate {}: from now on the ledger refuses everything they sign, and consents to them no longer let them read.",
                    self.account(provider)
                );
                ("Deactivate a provider", sentence)
            }
            TxBody::RotateKey { account, key, encryption_key } => {
                self.detail("Member of staff", self.account_detail(account));
                self.detail("New signing public key", key.to_hex());
                self.detail("New encryption public key", encryption_key.to_hex());
                let sentence = format!(
                    "You give {} new keys (signing key {}): from now on the ledger refuses what their old key signs; their consents and history stay, and patients share records again with the new key.",
                    self.account(account),
                    short_hex(&key.address().0)
                );
                ("Give a member of staff new keys", sentence)
            }
            TxBody::GrantConsent { grantee, classes, actions, purpose, valid_from, valid_until } => {
                self.detail("Who", self.account_detail(grantee));
                self.detail("Data", list_details(classes.iter().map(|c| c.human().to_string())));
                self.detail(
                    "Access",
                    format!("{} (read: {}, add: {})", actions.human(), yes(actions.read), yes(actions.write)),
                );
                self.detail("Purpose", purpose.human());
                self.detail("Starts at", datetime(*valid_from));
                self.detail("Ends at", datetime(*valid_until));
                let sentence = format!(
                    "{} may {} your {} for {} until {}.",
                    capitalize(&self.account(grantee)),
                    actions.human(),
                    classes_sentence(classes),
                    purpose.human(),
                    until_words(*valid_until)
                );
                ("Give consent", sentence)
            }
            TxBody::RevokeConsent { consent } => {
                self.detail("Consent", self.id_detail(IdKind::Consent, consent));
                let sentence =
                    format!("You withdraw {}; from now on it allows no access.", self.id(IdKind::Consent, consent));
                ("Withdraw consent", sentence)
            }
            TxBody::AnchorRecord { patient, content_hash, size, class, blob, keys } => {
                self.detail("Patient", self.account_detail(patient));
                self.detail("Record type", class.human());
                self.detail("Size", format!("{size} bytes"));
                self.detail("Content hash", content_hash.to_hex());
                self.detail("Encrypted blob", blob.to_hex());
                self.detail("Readers", keys.len().to_string());
                for (i, k) in keys.iter().enumerate() {
                    self.detail(format!("Key for reader {}", i + 1), self.wrapped_detail(k));
                }
                let readers: Vec<String> = keys.iter().map(|k| self.account(&k.reader)).collect();
                let mut sentence = format!(
                    "You add {} {} record ({}) to {}, readable by {}.",
                    article(class.human()),
                    class.human(),
                    size_words(*size),
                    self.of("health file", patient),
                    if readers.is_empty() { "nobody".to_string() } else { join_words(&readers) }
                );
                if *class == DataClass::EmergencySummary {
                    sentence.push_str(
                        " The hospital keeps its key for emergencies: it passes it to a clinician only when they break the glass, and every such read is shown to the patient.",
                    );
                }
                ("Add a record", sentence)
            }
            TxBody::ShareRecordKey { record, key } => {
                self.detail("Record", self.id_detail(IdKind::Record, record));
                self.detail("Reader", self.wrapped_detail(key));
                let sentence =
                    format!("You let {} decrypt {}.", self.account(&key.reader), self.id(IdKind::Record, record));
                ("Share a record", sentence)
            }
            TxBody::AccessEvent { record, reader, basis, request } => {
                self.detail("Record", self.id_detail(IdKind::Record, record));
                self.detail("Reader", self.account_detail(reader));
                let (basis_detail, basis_words) = match basis {
                    AccessBasis::Consent(h) => {
                        (format!("consent {}", self.id_detail(IdKind::Consent, h)), self.id(IdKind::Consent, h))
                    }
                    AccessBasis::BreakGlass(h) => (
                        format!("emergency (break-glass) access {}", self.id_detail(IdKind::BreakGlass, h)),
                        self.id(IdKind::BreakGlass, h),
                    ),
                };
                self.detail("Allowed by", basis_detail);
                let asked = match request {
                    Some(q) => format!(
                        "{} {} signed with key {} at {} (signed request {})",
                        escape(&q.request.method, false),
                        escape(&q.request.path, false),
                        hex::encode(q.request.signer.0),
                        datetime(q.request.timestamp_ms / 1000),
                        hex::encode(q.to_canonical_bytes())
                    ),
                    None => "none: the reader logs their own read".into(),
                };
                self.detail("Reader's request", asked);
                let sentence = format!(
                    "You log that {} opened {} under {}.",
                    self.account(reader),
                    self.id(IdKind::Record, record),
                    basis_words
                );
                ("Log an access to a record", sentence)
            }
            TxBody::BreakGlass { patient, justification, duration_secs } => {
                self.detail("Patient", self.account_detail(patient));
                let reason: Option<Text> = self.opened(justification);
                if let Some(r) = &reason {
                    self.detail("Reason (sealed)", quote(&r.text));
                }
                self.sealed_detail("Reason", justification);
                self.detail("Duration", format!("{} ({duration_secs} seconds)", duration_words(*duration_secs)));
                let reason_words = match &reason {
                    Some(r) => format!("giving the reason {}", quote(&r.text)),
                    None => "with a sealed reason this wallet cannot show".into(),
                };
                let sentence = format!(
                    "You open emergency access to {} for {}, {reason_words} (readable by {}). This is logged and the patient will see it.",
                    self.of("records", patient),
                    duration_words(*duration_secs),
                    self.sealed_readers(justification)
                );
                ("Emergency access (break the glass)", sentence)
            }
            TxBody::ReviewBreakGlass { grant, until } => {
                self.detail("Emergency access", self.id_detail(IdKind::BreakGlass, grant));
                self.detail("Lasts until", datetime(*until));
                let sentence = format!(
                    "As the hospital's reviewer, you set the end of {} to {}: it lets the clinician in until then and no longer. The clinician and the patient will see your review.",
                    self.id(IdKind::BreakGlass, grant),
                    until_words(*until)
                );
                ("Review an emergency access", sentence)
            }
            TxBody::Prescribe { patient, pharmacy, details, valid_until } => {
                self.detail("Patient", self.account_detail(patient));
                self.detail("Pharmacy", self.account_detail(pharmacy));
                let rx: Option<PrescriptionDetails> = self.opened(details);
                if let Some(rx) = &rx {
                    self.detail("Medication (sealed)", quote(&rx.medication));
                    self.detail("Dosage (sealed)", quote(&rx.dosage));
                    self.detail("Quantity (sealed)", rx.quantity.to_string());
                    if !rx.instructions.is_empty() {
                        self.detail("Instructions (sealed)", quote(&rx.instructions));
                    }
                }
                self.sealed_detail("Prescription", details);
                self.detail("Ends at", datetime(*valid_until));
                let what = match &rx {
                    Some(rx) => format!("{}, {}, quantity {},", quote(&rx.medication), quote(&rx.dosage), rx.quantity),
                    None => "a sealed prescription this wallet cannot show".into(),
                };
                let sentence = format!(
                    "You prescribe {what} for {}, to be dispensed by {}, valid until {}. Only {} can read what it is.",
                    self.account(patient),
                    self.account(pharmacy),
                    until_words(*valid_until),
                    self.sealed_readers(details)
                );
                ("Prescribe a medication", sentence)
            }
            TxBody::Dispense { prescription } => {
                self.detail("Prescription", self.id_detail(IdKind::Prescription, prescription));
                let sentence = format!("You dispense {}.", self.id(IdKind::Prescription, prescription));
                ("Dispense a prescription", sentence)
            }
            TxBody::Claim { patient, insurer, records, details } => {
                self.detail("Patient", self.account_detail(patient));
                self.detail("Insurer", self.account_detail(insurer));
                let claim: Option<ClaimDetails> = self.opened(details);
                if let Some(c) = &claim {
                    self.detail("Amount (sealed)", money(c.amount_cents, &c.currency));
                    self.detail("Description (sealed)", quote(&c.description));
                    if !c.codes.is_empty() {
                        self.detail("Codes (sealed)", list_details(c.codes.iter().map(|c| quote(c))));
                    }
                }
                self.sealed_detail("Claim", details);
                self.detail("Records attached", records.len().to_string());
                for (i, r) in records.iter().enumerate() {
                    self.detail(format!("Record {}", i + 1), self.id_detail(IdKind::Record, r));
                }
                let what = match &claim {
                    Some(c) => format!("{} ({})", money(c.amount_cents, &c.currency), quote(&c.description)),
                    None => "a sealed amount this wallet cannot show".into(),
                };
                let sentence = format!(
                    "You claim {what} from {} for the care of {}, with {} attached. Only {} can read the claim.",
                    self.account(insurer),
                    self.account(patient),
                    count(records.len() as u64, "record"),
                    self.sealed_readers(details)
                );
                ("Claim payment", sentence)
            }
            TxBody::DecideClaim { claim, approved, reason } => {
                self.detail("Claim", self.id_detail(IdKind::Claim, claim));
                self.detail("Decision", if *approved { "approve" } else { "deny" });
                let text: Option<Text> = self.opened(reason);
                if let Some(t) = &text {
                    self.detail("Reason (sealed)", quote(&t.text));
                }
                self.sealed_detail("Reason", reason);
                let claim_words = self.id(IdKind::Claim, claim);
                let verb = if *approved { "approve" } else { "deny" };
                let sentence = match text {
                    Some(t) if t.text.trim().is_empty() => format!("You {verb} {claim_words}, giving no reason."),
                    Some(t) => format!(
                        "You {verb} {claim_words}, giving the reason {} (readable by {}).",
                        quote(&t.text),
                        self.sealed_readers(reason)
                    ),
                    None => format!("You {verb} {claim_words}, with a sealed reason this wallet cannot show."),
                };
                (if *approved { "Approve a claim" } else { "Deny a claim" }, sentence)
            }
            TxBody::AnchorTwinSegment { patient, case_id, stage, stream, start_ms, end_ms, segment_hash } => {
                self.detail("Patient", self.account_detail(patient));
                self.detail("Case", self.id_detail(IdKind::Case, case_id));
                self.detail("Stage", stage.human());
                self.detail("Stream", quote(stream));
                self.detail("From", format!("{} ({start_ms} ms)", clock_ms(*start_ms)));
                self.detail("To", format!("{} ({end_ms} ms)", clock_ms(*end_ms)));
                self.detail("Segment hash", segment_hash.to_hex());
                let sentence = format!(
                    "You anchor the fingerprint of the {} stream from {} to {} of the {} stage of {}, for {}.",
                    quote(stream),
                    clock_ms(*start_ms),
                    clock_ms(*end_ms),
                    stage.human(),
                    self.id(IdKind::Case, case_id),
                    self.account(patient)
                );
                ("Anchor digital twin data", sentence)
            }
            TxBody::RecordTrainingRun { scenario, score_tenths, max_tenths, trajectory_hash, actions } => {
                let score =
                    format!("{}.{} of {}.{}", score_tenths / 10, score_tenths % 10, max_tenths / 10, max_tenths % 10);
                let taken = actions.lines().filter(|l| l.trim() == "[[action]]").count();
                self.detail("Scenario", quote(scenario));
                self.detail("Score", score.clone());
                self.detail("Trajectory hash", trajectory_hash.to_hex());
                self.detail("Actions", actions.clone());
                let sentence = format!(
                    "You save your run of the training scenario {} on the ledger under your name: a score of {score}, {taken} action{} and the run's fingerprint, for anyone to check by running it again.",
                    quote(scenario),
                    if taken == 1 { "" } else { "s" }
                );
                ("Save a training run", sentence)
            }
            TxBody::ShareLink { link, files, records, expires, single_use, passcode } => {
                self.detail("Link (hash of its id)", link.to_hex());
                self.detail("Files", files.len().to_string());
                for (i, f) in files.iter().enumerate() {
                    self.detail(format!("Encrypted file {}", i + 1), f.to_hex());
                }
                for r in records {
                    self.detail("Made from", self.id_detail(IdKind::Record, r));
                }
                self.detail("Ends at", datetime(*expires));
                self.detail("Single use", if *single_use { "yes" } else { "no" }.to_string());
                if let Some(p) = passcode {
                    self.sealed_detail("Passcode", p);
                }
                let what = match records.len() {
                    0 => "information".to_string(),
                    1 => self.id(IdKind::Record, &records[0]),
                    n => format!("{n} of your records"),
                };
                let sentence = format!(
                    "You let whoever holds this link{} read {what} until {}{}. The files are encrypted with a key that is only in the link: the hospital keeps them without being able to read them. Every opening is logged for you, and you can revoke the link.",
                    if passcode.is_some() { " and its passcode" } else { "" },
                    until_words(*expires),
                    if *single_use { ", once" } else { "" },
                );
                ("Share records through a link", sentence)
            }
            TxBody::RevokeShareLink { link } => {
                self.detail("Link (hash of its id)", link.to_hex());
                let sentence = format!(
                    "You end your share link {} now: from then on it opens nothing, for anyone.",
                    short_hex(&link.0)
                );
                ("Revoke a share link", sentence)
            }
            TxBody::ShareLinkUsed { link, opened, recipient } => {
                self.detail("Link (hash of its id)", link.to_hex());
                self.detail("Outcome", if *opened { "opened" } else { "refused: wrong passcode" }.to_string());
                self.sealed_detail("Who asked", recipient);
                let sentence = format!(
                    "As the hospital's node, you log that share link {} was {} (who asked is sealed for {}).",
                    short_hex(&link.0),
                    if *opened { "opened" } else { "refused for a wrong passcode" },
                    self.sealed_readers(recipient)
                );
                ("Log a share link's use", sentence)
            }
        }
    }
}

/// First 4 and last 2 bytes of an id as hex, for sentences.
fn short_hex(bytes: &[u8]) -> String {
    if bytes.len() <= 6 {
        return hex::encode(bytes);
    }
    format!("{}…{}", hex::encode(&bytes[..4]), hex::encode(&bytes[bytes.len() - 2..]))
}

/// Whether a character could hide or disguise text: controls, bidirectional overrides,
/// zero-width and other invisible formatting characters.
fn is_disguising(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E0FFF}')
}

/// Text from outside with disguising characters (and, when quoting, quotes and
/// backslashes) escaped.
fn escape(s: &str, quoting: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_disguising(c) || c == '\\' || (quoting && c == '"') {
            if c == '\\' || c == '"' {
                out.push('\\');
                out.push(c);
            } else {
                out.push_str(&format!("\\u{{{:04X}}}", u32::from(c)));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A string from the transaction, quoted and escaped.
fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s, true))
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// "A", "A and B", "A, B and C".
fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn classes_sentence(classes: &[DataClass]) -> String {
    if classes.is_empty() {
        return "data of no kind".into();
    }
    join_words(&classes.iter().map(|c| c.human().to_string()).collect::<Vec<_>>())
}

fn list_details(items: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = items.collect();
    if all.is_empty() { "(none)".into() } else { all.join(", ") }
}

fn count(n: u64, what: &str) -> String {
    match n {
        0 => format!("no {what}s"),
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

fn size_words(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    match bytes {
        1 => "1 byte".into(),
        b if b < KIB => format!("{b} bytes"),
        b if b < MIB => format!("{}.{} KiB", b / KIB, (b % KIB) * 10 / KIB),
        b => format!("{}.{} MiB", b / MIB, (b % MIB) * 10 / MIB),
    }
}

/// "EUR 120.00"; a currency that is not three capital letters is quoted instead.
fn money(cents: u64, currency: &str) -> String {
    let amount = format!("{}.{:02}", cents / 100, cents % 100);
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
        format!("{currency} {amount}")
    } else {
        format!("{amount} in currency {}", quote(currency))
    }
}

/// "1 hour 30 minutes"; exact to the second.
fn duration_words(secs: u64) -> String {
    let parts =
        [(secs / 86_400, "day"), (secs % 86_400 / 3600, "hour"), (secs % 3600 / 60, "minute"), (secs % 60, "second")];
    let words: Vec<String> = parts.iter().filter(|(n, _)| *n > 0).map(|(n, unit)| count(*n, unit)).collect();
    if words.is_empty() { "0 seconds".into() } else { words.join(" ") }
}

/// Milliseconds into a stream as `h:mm:ss.mmm`.
fn clock_ms(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}:{:02}.{:03}", s / 3600, s % 3600 / 60, s % 60, ms % 1000)
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01.
/// The algorithm counts in 400-year eras that start on March 1st, so leap days fall at
/// the end of each year of the era.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1st, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Unix seconds as `YYYY-MM-DD` (UTC).
pub fn date(secs: u64) -> String {
    // u64 seconds / 86400 is below 2^48, so it fits an i64.
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn datetime(secs: u64) -> String {
    let t = secs % 86_400;
    format!("{} {:02}:{:02}:{:02} UTC", date(secs), t / 3600, t % 3600 / 60, t % 60)
}

/// An exclusive end time in words. An end at midnight UTC reads as the last day it
/// covers ("until 2027-01-31" for an end at 2027-02-01 00:00:00); any other end reads
/// as the date and time to the minute.
fn until_words(secs: u64) -> String {
    let t = secs % 86_400;
    if t == 0 && secs > 0 { date(secs - 1) } else { format!("{} {:02}:{:02} UTC", date(secs), t / 3600, t % 3600 / 60) }
}

/// A message as the start of a sentence: its first letter in upper case ("wrong
/// passphrase…" → "Wrong passphrase…"), for error texts shown to people.
pub fn sentence_case(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
