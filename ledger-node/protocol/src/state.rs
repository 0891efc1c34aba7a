//! The ledger's world state: accounts, consents, records, break-glass accesses,
//! prescriptions, claims, twin segments and share links, plus per-patient indexes. It changes only by
//! `State::commit` of the `Effects` that `apply` returned. Clinical content is held as
//! the `Sealed` ciphertext the transactions carried; the state never has it in the clear.

use crate::crypto::{Address, Hash, PublicKey};
use crate::error::Rejection;
use crate::rules::Effects;
use crate::tx::{AccessBasis, Sealed};
use crate::types::{Action, Actions, DataClass, Purpose, Role, Stage};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub address: Address,
    pub key: PublicKey,
    pub encryption_key: PublicKey,
    pub role: Role,
    /// Staff and authorities: the name in the hospital's directory. Empty for a patient,
    /// whose name is in their sealed `profile`.
    pub name: String,
    /// Staff: licence or staff number. Empty otherwise.
    pub licence: String,
    /// A patient's profile, sealed for them (and the hospital, if they chose).
    pub profile: Option<Sealed>,
    /// When an authority deactivated this provider (Unix seconds); `None` while active.
    pub deactivated_at: Option<u64>,
    /// When an authority last gave this account new keys (Unix seconds); `None` if it has
    /// the keys it was registered with.
    #[serde(default)]
    pub rekeyed_at: Option<u64>,
    /// The highest nonce used so far (0 before the first transaction).
    pub nonce: u64,
}

impl Account {
    pub fn is_active(&self) -> bool {
        self.deactivated_at.is_none()
    }
    /// How to name the account to a person: the directory name, or for a patient (who has
    /// none on the ledger) "Patient" and the start of the address.
    pub fn label(&self) -> String {
        if self.name.is_empty() { format!("Patient {}", &self.address.to_hex()[..10]) } else { self.name.clone() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub id: Hash,
    pub patient: Address,
    pub grantee: Address,
    pub classes: Vec<DataClass>,
    pub actions: Actions,
    pub purpose: Purpose,
    pub valid_from: u64,
    pub valid_until: u64,
    pub granted_at: u64,
    pub revoked_at: Option<u64>,
}

/// Where a consent stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    Live,
    NotYetValid,
    Expired,
    Revoked,
}

impl Consent {
    pub fn status(&self, now: u64) -> ConsentStatus {
        if self.revoked_at.is_some() {
            ConsentStatus::Revoked
        } else if now < self.valid_from {
            ConsentStatus::NotYetValid
        } else if now >= self.valid_until {
            ConsentStatus::Expired
        } else {
            ConsentStatus::Live
        }
    }
    pub fn covers(&self, class: Option<DataClass>, action: Option<Action>, purpose: Option<Purpose>) -> bool {
        class.is_none_or(|c| self.classes.contains(&c))
            && action.is_none_or(|a| self.actions.allows(a))
            && purpose.is_none_or(|p| self.purpose == p)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: Hash,
    pub patient: Address,
    pub author: Address,
    pub content_hash: Hash,
    pub size: u64,
    pub class: DataClass,
    pub blob: Hash,
    /// Record key wrapped for each reader, by reader address.
    pub keys: BTreeMap<Address, crate::tx::WrappedKey>,
    pub anchored_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlassGrant {
    pub id: Hash,
    pub patient: Address,
    pub clinician: Address,
    pub justification: Sealed,
    pub from: u64,
    pub until: u64,
    /// Who of the hospital last reviewed it (and so set `until`), if anyone has.
    #[serde(default)]
    pub reviewed_by: Option<Address>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prescription {
    pub id: Hash,
    pub patient: Address,
    pub prescriber: Address,
    /// The one pharmacy that may dispense it.
    pub pharmacy: Address,
    /// Medication, dosage, quantity and instructions, sealed.
    pub details: Sealed,
    pub valid_until: u64,
    pub issued_at: u64,
    pub dispensed: Option<Dispensation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispensation {
    pub pharmacy: Address,
    pub at: u64,
    pub tx: Hash,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub id: Hash,
    pub patient: Address,
    pub provider: Address,
    pub insurer: Address,
    /// Amount, currency, codes and description, sealed.
    pub details: Sealed,
    pub records: Vec<Hash>,
    pub submitted_at: u64,
    pub decision: Option<ClaimDecision>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimDecision {
    pub approved: bool,
    pub reason: Sealed,
    pub at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwinSegment {
    pub id: Hash,
    pub patient: Address,
    pub case_id: Hash,
    pub stage: Stage,
    pub stream: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub segment_hash: Hash,
    pub anchored_by: Address,
}

/// A trainee's saved run of a twin training scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingRun {
    pub id: Hash,
    pub trainee: Address,
    pub scenario: String,
    pub score_tenths: u64,
    pub max_tenths: u64,
    pub trajectory_hash: Hash,
    /// The actions taken, as a scenario action file.
    pub actions: String,
    pub at: u64,
}

/// A patient's SMART Health Link as the ledger keeps it: what it carries and how it may
/// still be used. The key that opens its files is never here; neither is its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedLink {
    /// The hash of the link's manifest id.
    pub link: Hash,
    /// The transaction that made it.
    pub tx: Hash,
    pub patient: Address,
    /// The blobs holding its files (compact JWE).
    pub files: Vec<Hash>,
    /// The patient's records the files were made from.
    pub records: Vec<Hash>,
    pub expires: u64,
    pub single_use: bool,
    /// The passcode, sealed for the hospital's authorities (and the patient).
    pub passcode: Option<Sealed>,
    pub created_at: u64,
    pub revoked_at: Option<u64>,
    /// Manifests answered.
    pub opened: u32,
    /// Wrong passcodes given.
    pub refused: u32,
}

/// Wrong passcodes a share link takes before it locks for good.
pub const MAX_PASSCODE_ATTEMPTS: u32 = 5;

/// Whether a share link opens now, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    Open,
    Expired,
    Revoked,
    /// A single-use link that was opened.
    UsedUp,
    /// Too many wrong passcodes: it never opens again.
    Locked,
}

impl LinkStatus {
    /// Why a link does not open, in words.
    pub fn why(self) -> &'static str {
        match self {
            LinkStatus::Open => "it is open.",
            LinkStatus::Expired => "it has expired; ask the patient for a new link.",
            LinkStatus::Revoked => "the patient revoked it.",
            LinkStatus::UsedUp => "it could be opened once, and it was.",
            LinkStatus::Locked => "too many wrong passcodes were given; ask the patient for a new link.",
        }
    }
}

impl SharedLink {
    /// Its status at `now` (Unix seconds).
    pub fn status(&self, now: u64) -> LinkStatus {
        if self.revoked_at.is_some() {
            LinkStatus::Revoked
        } else if now >= self.expires {
            LinkStatus::Expired
        } else if self.single_use && self.opened > 0 {
            LinkStatus::UsedUp
        } else if self.refused >= MAX_PASSCODE_ATTEMPTS {
            LinkStatus::Locked
        } else {
            LinkStatus::Open
        }
    }

    /// Wrong passcodes it still takes before it locks.
    pub fn remaining_attempts(&self) -> u32 {
        MAX_PASSCODE_ATTEMPTS.saturating_sub(self.refused)
    }
}

/// One line of a patient's audit trail: who touched their data, when, under what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEntry {
    Access {
        tx: Hash,
        at: u64,
        record: Hash,
        reader: Address,
        basis: AccessBasis,
        logged_by: Address,
    },
    BreakGlass {
        tx: Hash,
        at: u64,
        clinician: Address,
        justification: Sealed,
        until: u64,
    },
    /// The hospital reviewed break-glass `grant`: it lasts until `until` (now: ended).
    BreakGlassReviewed {
        tx: Hash,
        at: u64,
        grant: Hash,
        clinician: Address,
        reviewer: Address,
        until: u64,
    },
    /// Someone asked for share link `link`'s files: given (`opened`), or refused for a wrong
    /// passcode; `recipient` is what they called themselves, sealed for the patient.
    ShareLinkUsed {
        tx: Hash,
        at: u64,
        link: Hash,
        opened: bool,
        recipient: Sealed,
        logged_by: Address,
    },
}

/// Everything the ledger knows about one patient.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientIndex {
    pub consents: Vec<Hash>,
    pub records: Vec<Hash>,
    pub audit: Vec<AuditEntry>,
    pub break_glass: Vec<Hash>,
    pub prescriptions: Vec<Hash>,
    pub claims: Vec<Hash>,
    pub segments: Vec<Hash>,
    /// The patient's share links (by link hash), oldest first.
    #[serde(default)]
    pub share_links: Vec<Hash>,
}

/// The whole state. Built from genesis, then changed only by committed effects.
///
/// Ordered maps, not hash maps: a hash map that outgrows its table moves every entry at
/// once (about 0.3 s at 230,000 accounts on this project's 2-core machine, in the writer
/// and again in the head copy, which stalled every transaction behind that block); a
/// B-tree grows a node at a time. Iteration is in key order, so answers are reproducible.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub chain_id: String,
    pub accounts: BTreeMap<Address, Account>,
    pub consents: BTreeMap<Hash, Consent>,
    pub records: BTreeMap<Hash, Record>,
    /// Which record each blob belongs to: the first that anchored it.
    pub blob_records: BTreeMap<Hash, Hash>,
    pub break_glass: BTreeMap<Hash, BreakGlassGrant>,
    /// Each clinician's break-glass grants, oldest first.
    pub break_glass_by: BTreeMap<Address, Vec<Hash>>,
    /// Every break-glass grant, oldest first (the hospital's review list reads the newest
    /// without going through all of them).
    pub break_glass_in_order: Vec<Hash>,
    /// The consents granted to each grantee, oldest first (a provider's list is read
    /// without going through every consent).
    pub consents_by_grantee: BTreeMap<Address, Vec<Hash>>,
    /// The claims addressed to each insurer, oldest first.
    pub claims_by_insurer: BTreeMap<Address, Vec<Hash>>,
    pub prescriptions: BTreeMap<Hash, Prescription>,
    pub claims: BTreeMap<Hash, Claim>,
    pub segments: BTreeMap<Hash, TwinSegment>,
    pub training_runs: BTreeMap<Hash, TrainingRun>,
    /// Share links by the hash of their manifest id.
    pub share_links: BTreeMap<Hash, SharedLink>,
    /// Each trainee's saved runs, oldest first.
    pub runs_by_trainee: BTreeMap<Address, Vec<Hash>>,
    pub patients: BTreeMap<Address, PatientIndex>,
    /// Keys that replaced an account's first key, by the key's address: the account they
    /// sign for (or signed for, if replaced again). An account's own address is its first
    /// key's, so a key serves one account, ever.
    pub key_accounts: BTreeMap<Address, Address>,
    /// The readers' requests access events carried (by signing hash: the time signed, ms),
    /// while the rules could still accept them; each is logged once.
    pub logged_requests: BTreeMap<Hash, u64>,
    /// The same, by time, to forget them once the rules no longer would.
    pub logged_requests_by_time: BTreeSet<(u64, Hash)>,
}

impl State {
    /// Keeps a logged request's signing hash while the rules could still take it (its time
    /// within `2 * API_REQUEST_WINDOW_MS` of block time, which only moves on), and forgets
    /// those they no longer would at block time `now` (seconds).
    fn remember_logged_request(&mut self, h: Hash, signed_ms: u64, now: u64) {
        let horizon = now.saturating_mul(1000).saturating_sub(2 * crate::request::API_REQUEST_WINDOW_MS);
        while let Some(&(t, old)) = self.logged_requests_by_time.first()
            && t < horizon
        {
            self.logged_requests_by_time.pop_first();
            self.logged_requests.remove(&old);
        }
        self.logged_requests.insert(h, signed_ms);
        self.logged_requests_by_time.insert((signed_ms, h));
    }

    /// The state at genesis: the chain id and the authorities.
    pub fn from_genesis(genesis: &crate::block::Genesis) -> Self {
        let mut s = State { chain_id: genesis.chain_id.clone(), ..Default::default() };
        for a in &genesis.authorities {
            let address = a.key.address();
            s.accounts.insert(
                address,
                Account {
                    address,
                    key: a.key,
                    encryption_key: a.encryption_key,
                    role: Role::Authority,
                    name: a.name.clone(),
                    licence: String::new(),
                    profile: None,
                    deactivated_at: None,
                    rekeyed_at: None,
                    nonce: 0,
                },
            );
        }
        s
    }

    pub fn account(&self, a: &Address) -> Option<&Account> {
        self.accounts.get(a)
    }

    /// The account `key` signs for: the one whose current key it is. A key an authority
    /// replaced is refused, saying when.
    pub fn signer_account(&self, key: &PublicKey) -> Result<&Account, Rejection> {
        let acc = self.accounts.get(&self.account_address_of(key)).ok_or(Rejection::UnknownAccount)?;
        if acc.key != *key {
            return Err(Rejection::KeyReplaced { at: acc.rekeyed_at.unwrap_or(0) });
        }
        Ok(acc)
    }

    /// The address of the account `key` belongs to (now or before); the key's own address
    /// when it belongs to none yet.
    pub fn account_address_of(&self, key: &PublicKey) -> Address {
        let a = key.address();
        self.key_accounts.get(&a).copied().unwrap_or(a)
    }

    /// Whether a key with this address belongs, or belonged, to an account.
    pub fn key_in_use(&self, key: &Address) -> bool {
        self.accounts.contains_key(key) || self.key_accounts.contains_key(key)
    }

    pub fn patient_index(&self, a: &Address) -> Option<&PatientIndex> {
        self.patients.get(a)
    }

    /// Applies what `apply` decided. Infallible: every check happened in `apply`.
    pub fn commit(&mut self, effects: Effects) {
        let Effects { signer, nonce, change } = effects;
        if let Some(acc) = self.accounts.get_mut(&signer) {
            acc.nonce = nonce;
        }
        use crate::rules::Change;
        match change {
            Change::NewAccount(acc) => {
                if acc.role == Role::Patient {
                    self.patients.entry(acc.address).or_default();
                }
                self.accounts.insert(acc.address, acc);
            }
            Change::NewConsent(c) => {
                self.patients.entry(c.patient).or_default().consents.push(c.id);
                self.consents_by_grantee.entry(c.grantee).or_default().push(c.id);
                self.consents.insert(c.id, c);
            }
            Change::Deactivate { provider, at } => {
                if let Some(acc) = self.accounts.get_mut(&provider) {
                    acc.deactivated_at = Some(at);
                }
            }
            Change::RotateKey { account, key, encryption_key, at } => {
                if let Some(acc) = self.accounts.get_mut(&account) {
                    let new_encryption = acc.encryption_key != encryption_key;
                    acc.key = key;
                    acc.encryption_key = encryption_key;
                    acc.rekeyed_at = Some(at);
                    self.key_accounts.insert(key.address(), account);
                    // Record keys wrapped for the old encryption key open nothing for the
                    // new one: they are dropped, so the patient can share the record again.
                    if new_encryption {
                        for r in self.records.values_mut() {
                            r.keys.remove(&account);
                        }
                    }
                }
            }
            Change::RevokeConsent { id, at } => {
                if let Some(c) = self.consents.get_mut(&id) {
                    c.revoked_at = Some(at);
                }
            }
            Change::NewRecord(r) => {
                self.patients.entry(r.patient).or_default().records.push(r.id);
                self.blob_records.entry(r.blob).or_insert(r.id);
                self.records.insert(r.id, r);
            }
            Change::ShareKey { record, key } => {
                if let Some(r) = self.records.get_mut(&record) {
                    r.keys.insert(key.reader, key);
                }
            }
            Change::Audit { patient, entry, request } => {
                if let (Some((h, signed_ms)), AuditEntry::Access { at, .. }) = (request, &entry) {
                    self.remember_logged_request(h, signed_ms, *at);
                }
                self.patients.entry(patient).or_default().audit.push(entry);
            }
            Change::NewBreakGlass(b) => {
                let idx = self.patients.entry(b.patient).or_default();
                idx.break_glass.push(b.id);
                idx.audit.push(AuditEntry::BreakGlass {
                    tx: b.id,
                    at: b.from,
                    clinician: b.clinician,
                    justification: b.justification.clone(),
                    until: b.until,
                });
                self.break_glass_by.entry(b.clinician).or_default().push(b.id);
                self.break_glass_in_order.push(b.id);
                self.break_glass.insert(b.id, b);
            }
            Change::ReviewBreakGlass { grant, tx, at, reviewer, until } => {
                if let Some(b) = self.break_glass.get_mut(&grant) {
                    b.until = until;
                    b.reviewed_by = Some(reviewer);
                    let entry =
                        AuditEntry::BreakGlassReviewed { tx, at, grant, clinician: b.clinician, reviewer, until };
                    self.patients.entry(b.patient).or_default().audit.push(entry);
                }
            }
            Change::NewPrescription(p) => {
                self.patients.entry(p.patient).or_default().prescriptions.push(p.id);
                self.prescriptions.insert(p.id, p);
            }
            Change::Dispense { prescription, dispensation } => {
                if let Some(p) = self.prescriptions.get_mut(&prescription) {
                    p.dispensed = Some(dispensation);
                }
            }
            Change::NewClaim(c) => {
                self.patients.entry(c.patient).or_default().claims.push(c.id);
                self.claims_by_insurer.entry(c.insurer).or_default().push(c.id);
                self.claims.insert(c.id, c);
            }
            Change::DecideClaim { claim, decision } => {
                if let Some(c) = self.claims.get_mut(&claim) {
                    c.decision = Some(decision);
                }
            }
            Change::NewSegment(s) => {
                self.patients.entry(s.patient).or_default().segments.push(s.id);
                self.segments.insert(s.id, s);
            }
            Change::NewTrainingRun(r) => {
                self.runs_by_trainee.entry(r.trainee).or_default().push(r.id);
                self.training_runs.insert(r.id, r);
            }
            Change::NewShareLink(l) => {
                self.patients.entry(l.patient).or_default().share_links.push(l.link);
                self.share_links.insert(l.link, l);
            }
            Change::RevokeShareLink { link, at } => {
                if let Some(l) = self.share_links.get_mut(&link) {
                    l.revoked_at = Some(at);
                }
            }
            Change::ShareLinkUsed { link, opened, entry } => {
                if let Some(l) = self.share_links.get_mut(&link) {
                    if opened {
                        l.opened += 1;
                    } else {
                        l.refused += 1;
                    }
                    let patient = l.patient;
                    self.patients.entry(patient).or_default().audit.push(entry);
                }
            }
        }
    }
}
