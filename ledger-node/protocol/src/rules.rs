//! The consent rules: `apply(state, tx, now)` decides, without changing anything, whether
//! a verified transaction is allowed and what it changes. Each kind is allowed only to the
//! roles and relationships that need it (ARCHITECTURE.md has the table); sealed content is
//! checked for who can read it, never for what it says.

use crate::crypto::{Address, Hash, PublicKey};
use crate::error::Rejection;
use crate::request::{API_REQUEST_WINDOW_MS, SignedApiRequest};
use crate::state::*;
use crate::tx::{AccessBasis, Sealed, TxBody, VerifiedTx, WrappedKey};
use crate::types::{Action, DataClass, Purpose, Role};
use std::collections::{BTreeMap, BTreeSet};

/// Longest break-glass access on a clinician's word alone, in seconds (4 hours).
pub const MAX_BREAK_GLASS_SECS: u64 = 4 * 60 * 60;
/// The longest a break-glass lasts after the hospital's review (`ReviewBreakGlass`), from
/// its start.
pub const MAX_REVIEWED_BREAK_GLASS_SECS: u64 = 24 * 60 * 60;
/// Shortest accepted break-glass justification, in characters (the wallet checks the text;
/// the ledger, which sees only ciphertext, checks that it can hold this many bytes).
pub const MIN_JUSTIFICATION_CHARS: usize = 20;
/// Most break-glass accesses one clinician opens on one patient in `BREAK_GLASS_WINDOW_SECS`.
pub const MAX_BREAK_GLASS_PER_WINDOW: usize = 3;
/// The window of `MAX_BREAK_GLASS_PER_WINDOW` (7 days).
pub const BREAK_GLASS_WINDOW_SECS: u64 = 7 * 24 * 60 * 60;
/// Most break-glass accesses one clinician opens in `BREAK_GLASS_DAY_SECS`, over all
/// patients: an emergency is not a way to go through a hospital's records.
pub const MAX_BREAK_GLASS_PER_CLINICIAN: usize = 10;
/// The window of `MAX_BREAK_GLASS_PER_CLINICIAN` (24 hours).
pub const BREAK_GLASS_DAY_SECS: u64 = 24 * 60 * 60;
/// Largest sealed field (profile, justification, prescription, claim, reason), in bytes.
pub const MAX_SEALED_BYTES: usize = 16 * 1024;
/// What a sealed field adds to its plaintext (version, nonce, tag: the wallet's format).
pub const SEAL_OVERHEAD: usize = 1 + 24 + 16;
/// Most records one claim links.
pub const MAX_CLAIM_RECORDS: usize = 64;
/// Longest a prescription stays valid (about a year).
pub const MAX_PRESCRIPTION_SECS: u64 = 366 * 24 * 60 * 60;
/// Longest directory name or licence of a member of staff, in characters.
pub const MAX_DIRECTORY_CHARS: usize = 200;
/// Largest record payload the ledger anchors, in bytes.
pub const MAX_RECORD_BYTES: u64 = 16 * 1024 * 1024;
/// Longest free-text field (names, medication, reasons), in characters.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Longest action file a saved training run may carry.
pub const MAX_TRAINING_ACTIONS_CHARS: usize = 16_000;

/// Most files one share link carries.
pub const MAX_LINK_FILES: usize = 16;
/// Most records one share link names.
pub const MAX_LINK_RECORDS: usize = 64;
/// Longest a share link lives (a year).
pub const MAX_LINK_SECS: u64 = 366 * 24 * 60 * 60;
/// Wrong passcodes a share link takes before it locks for good (the state decides that).
pub use crate::state::MAX_PASSCODE_ATTEMPTS;

/// What an accepted transaction changes: the signer's new nonce and one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effects {
    pub signer: Address,
    pub nonce: u64,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    NewAccount(Account),
    Deactivate {
        provider: Address,
        at: u64,
    },
    RotateKey {
        account: Address,
        key: PublicKey,
        encryption_key: PublicKey,
        at: u64,
    },
    NewConsent(Consent),
    RevokeConsent {
        id: Hash,
        at: u64,
    },
    NewRecord(Record),
    ShareKey {
        record: Hash,
        key: WrappedKey,
    },
    /// An access logged; with the reader's request it carries (its signing hash and time,
    /// ms), which is logged only once.
    Audit {
        patient: Address,
        entry: AuditEntry,
        request: Option<(Hash, u64)>,
    },
    NewBreakGlass(BreakGlassGrant),
    /// The hospital's review of a break-glass: it now lasts until `until`.
    ReviewBreakGlass {
        grant: Hash,
        tx: Hash,
        at: u64,
        reviewer: Address,
        until: u64,
    },
    NewPrescription(Prescription),
    Dispense {
        prescription: Hash,
        dispensation: Dispensation,
    },
    NewClaim(Claim),
    DecideClaim {
        claim: Hash,
        decision: ClaimDecision,
    },
    NewSegment(TwinSegment),
    NewTrainingRun(TrainingRun),
    NewShareLink(SharedLink),
    RevokeShareLink {
        link: Hash,
        at: u64,
    },
    /// A share link answered or refused, and the patient's audit line for it.
    ShareLinkUsed {
        link: Hash,
        opened: bool,
        entry: AuditEntry,
    },
}

fn text(field: &str, v: &str, min: usize) -> Result<(), Rejection> {
    text_within(field, v, min, MAX_TEXT_CHARS)
}

fn text_within(field: &str, v: &str, min: usize, max: usize) -> Result<(), Rejection> {
    let n = v.trim().chars().count();
    if n < min {
        return Err(Rejection::InvalidField(format!("The {field} must not be empty.")));
    }
    if v.chars().count() > max {
        return Err(Rejection::InvalidField(format!("The {field} is longer than {max} characters.")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Rejection::InvalidField(format!("The {field} contains control characters.")));
    }
    Ok(())
}

/// Checks a sealed field: a sane size, well-formed wrapped keys, each reader once, every
/// `required` reader present and no reader outside `allowed` (nor `required`).
fn sealed(
    field: &'static str,
    s: &Sealed,
    min_plaintext: usize,
    required: &[Address],
    allowed: &dyn Fn(&Address) -> bool,
) -> Result<(), Rejection> {
    if s.ciphertext.len() < SEAL_OVERHEAD + min_plaintext.max(1) {
        return Err(Rejection::InvalidField(format!("The sealed {field} is empty or too short.")));
    }
    if s.ciphertext.len() > MAX_SEALED_BYTES {
        return Err(Rejection::InvalidField(format!("The sealed {field} is larger than {MAX_SEALED_BYTES} bytes.")));
    }
    let mut seen = BTreeSet::new();
    for k in &s.keys {
        if k.wrapped.is_empty() || k.wrapped.len() > 512 {
            return Err(Rejection::InvalidField(format!("A wrapped key of the sealed {field} has an invalid length.")));
        }
        if !seen.insert(k.reader) {
            return Err(Rejection::SealedReaders { field, why: "a reader is listed twice.".into() });
        }
        if !required.contains(&k.reader) && !allowed(&k.reader) {
            return Err(Rejection::SealedReaders { field, why: format!("{} may not read it.", k.reader.to_hex()) });
        }
    }
    if let Some(missing) = required.iter().find(|r| !seen.contains(*r)) {
        return Err(Rejection::SealedReaders { field, why: format!("it is not sealed for {}.", missing.to_hex()) });
    }
    Ok(())
}

fn is_authority(state: &State, a: &Address) -> bool {
    state.accounts.get(a).is_some_and(|acc| acc.role == Role::Authority)
}

/// An active account of one of the `roles`, named as `what` in the refusal.
fn active_party<'a>(
    state: &'a State,
    a: &Address,
    roles: &[Role],
    what: &'static str,
) -> Result<&'a Account, Rejection> {
    match state.accounts.get(a) {
        Some(acc) if roles.contains(&acc.role) => {
            if acc.is_active() {
                Ok(acc)
            } else {
                Err(Rejection::PartyDeactivated { what })
            }
        }
        _ => Err(Rejection::UnknownParty { what }),
    }
}

fn require_role(acc: &Account, allowed: &[Role]) -> Result<(), Rejection> {
    if allowed.contains(&acc.role) {
        Ok(())
    } else {
        let needed = allowed.iter().map(|r| r.human()).collect::<Vec<_>>().join(", ");
        Err(Rejection::WrongRole { actual: acc.role, needed })
    }
}

fn patient<'a>(state: &'a State, a: &Address) -> Result<&'a Account, Rejection> {
    match state.accounts.get(a) {
        Some(acc) if acc.role == Role::Patient => Ok(acc),
        _ => Err(Rejection::UnknownParty { what: "patient" }),
    }
}

/// Finds a live consent from `patient` to `grantee` that covers the request. When none is
/// live, says why the closest one fails (revoked, expired, not yet valid) or that none exists.
pub fn live_consent<'a>(
    state: &'a State,
    patient: &Address,
    grantee: &Address,
    class: Option<DataClass>,
    action: Option<Action>,
    purpose: Option<Purpose>,
    now: u64,
) -> Result<&'a Consent, Rejection> {
    let Some(idx) = state.patients.get(patient) else {
        return Err(Rejection::NoConsent);
    };
    if state.accounts.get(grantee).is_some_and(|g| !g.is_active()) {
        return Err(Rejection::PartyDeactivated { what: "provider" });
    }
    let mut best: Option<Rejection> = None;
    for id in idx.consents.iter().rev() {
        let Some(c) = state.consents.get(id) else { continue };
        if c.grantee != *grantee || !c.covers(class, action, purpose) {
            continue;
        }
        match c.status(now) {
            ConsentStatus::Live => return Ok(c),
            ConsentStatus::Expired => best = best.or(Some(Rejection::ConsentExpired)),
            ConsentStatus::Revoked => best = best.or(Some(Rejection::ConsentRevoked)),
            ConsentStatus::NotYetValid => best = best.or(Some(Rejection::ConsentNotYetValid)),
        }
    }
    Err(best.unwrap_or(Rejection::NoConsent))
}

/// Finds a live break-glass access of `clinician` to `patient`.
pub fn live_break_glass<'a>(
    state: &'a State,
    patient: &Address,
    clinician: &Address,
    now: u64,
) -> Option<&'a BreakGlassGrant> {
    let idx = state.patients.get(patient)?;
    if state.accounts.get(clinician).is_some_and(|c| !c.is_active()) {
        return None;
    }
    idx.break_glass
        .iter()
        .rev()
        .filter_map(|id| state.break_glass.get(id))
        .find(|b| b.clinician == *clinician && now >= b.from && now < b.until)
}

/// Checks that `reader` may read `record` now under `basis`.
pub fn check_access(
    state: &State,
    record: &Record,
    reader: &Address,
    basis: &AccessBasis,
    now: u64,
) -> Result<(), Rejection> {
    match basis {
        AccessBasis::Consent(id) => {
            let c = state.consents.get(id).ok_or(Rejection::ConsentNotFound)?;
            if state.accounts.get(reader).is_some_and(|r| !r.is_active()) {
                return Err(Rejection::PartyDeactivated { what: "reader" });
            }
            if c.patient != record.patient
                || c.grantee != *reader
                || !c.covers(Some(record.class), Some(Action::Read), None)
            {
                return Err(Rejection::NoConsent);
            }
            match c.status(now) {
                ConsentStatus::Live => Ok(()),
                ConsentStatus::Expired => Err(Rejection::ConsentExpired),
                ConsentStatus::Revoked => Err(Rejection::ConsentRevoked),
                ConsentStatus::NotYetValid => Err(Rejection::ConsentNotYetValid),
            }
        }
        AccessBasis::BreakGlass(id) => {
            if state.accounts.get(reader).is_some_and(|r| !r.is_active()) {
                return Err(Rejection::PartyDeactivated { what: "reader" });
            }
            let b = state.break_glass.get(id).ok_or(Rejection::BreakGlassNotFound)?;
            if b.patient != record.patient || b.clinician != *reader {
                return Err(Rejection::BreakGlassNotFound);
            }
            if now >= b.until || now < b.from {
                return Err(Rejection::BreakGlassExpired);
            }
            Ok(())
        }
    }
}

/// Finds the basis on which `reader` may read `record` now: a live read consent for the
/// record's class, else a live break-glass. The patient needs no basis for their own data.
/// Refused, it says why: the consent's state, or that the reader's break-glass has ended
/// when that was their only basis.
pub fn access_basis(state: &State, record: &Record, reader: &Address, now: u64) -> Result<AccessBasis, Rejection> {
    match live_consent(state, &record.patient, reader, Some(record.class), Some(Action::Read), None, now) {
        Ok(c) => Ok(AccessBasis::Consent(c.id)),
        Err(e) => match live_break_glass(state, &record.patient, reader, now) {
            Some(b) => Ok(AccessBasis::BreakGlass(b.id)),
            None if e == Rejection::NoConsent && had_break_glass(state, &record.patient, reader) => {
                Err(Rejection::BreakGlassExpired)
            }
            None => Err(e),
        },
    }
}

/// Whether `clinician` ever broke the glass on `patient`.
pub fn had_break_glass(state: &State, patient: &Address, clinician: &Address) -> bool {
    state.patients.get(patient).is_some_and(|i| {
        i.break_glass.iter().filter_map(|id| state.break_glass.get(id)).any(|b| b.clinician == *clinician)
    })
}

/// The member of staff `provider`, whose registration `me` may manage: the genesis authority
/// manages all staff, an administrator it appointed all but administrators.
fn managed_staff<'a>(state: &'a State, me: &Account, provider: &Address) -> Result<&'a Account, Rejection> {
    if !matches!(me.role, Role::Authority | Role::Admin) {
        return Err(Rejection::NotAuthority);
    }
    match state.accounts.get(provider) {
        Some(p) if p.role == Role::Admin && me.role != Role::Authority => Err(Rejection::NotAuthority),
        Some(p) if p.role.is_provider() => Ok(p),
        _ => Err(Rejection::UnknownParty { what: "provider" }),
    }
}

/// Whether `q` (its signature already verified with the transaction's) is `reader`'s own
/// request to read `record`, addressed to the node `logger` that logs it, on this chain,
/// signed around block time `now` (seconds).
fn requested_by_reader(
    state: &State,
    q: &SignedApiRequest,
    reader: &Address,
    record: &Hash,
    logger: &Address,
    now: u64,
) -> Result<(), Rejection> {
    let r = &q.request;
    let current_key = state.accounts.get(reader).is_some_and(|a| a.key == r.signer);
    if state.account_address_of(&r.signer) != *reader || !current_key {
        return Err(Rejection::AccessNotRequested("the request is not signed with the reader's key."));
    }
    if r.chain_id != state.chain_id || r.audience != *logger {
        return Err(Rejection::AccessNotRequested("the request was made to another chain or another node."));
    }
    // Exactly the read's path: nothing else the reader signed (a query string) goes on the
    // ledger.
    if r.method != "POST" || r.path != format!("/v1/records/{record}/read") {
        return Err(Rejection::AccessNotRequested("the request is not a read of this record."));
    }
    // The node takes a request within its window of its clock and logs the read at once;
    // block time may lag a little behind.
    if r.timestamp_ms.abs_diff(now.saturating_mul(1000)) > 2 * API_REQUEST_WINDOW_MS {
        return Err(Rejection::AccessNotRequested(
            "the request was signed too long before or after the read was logged.",
        ));
    }
    Ok(())
}

/// Decides whether `vtx` is allowed at time `now` (Unix seconds, the block's time) against
/// `state`, and what it changes. Pure: no IO, no clock, no randomness.
pub fn apply(state: &State, vtx: &VerifiedTx, now: u64) -> Result<Effects, Rejection> {
    let tx = vtx.tx();
    let id = vtx.id();
    if tx.chain_id != state.chain_id {
        return Err(Rejection::WrongChain { expected: state.chain_id.clone(), got: tx.chain_id.clone() });
    }
    // The account the key signs for: its first key's address, or the account an
    // authority moved to this key.
    let signer = state.account_address_of(&tx.signer);
    let effects = |change| Ok(Effects { signer, nonce: tx.nonce, change });

    // Registration is the one kind whose signer is not yet an account.
    if let TxBody::RegisterPatient { encryption_key, profile } = &tx.body {
        if state.accounts.contains_key(&signer) {
            return Err(Rejection::AlreadyRegistered);
        }
        if tx.nonce == 0 {
            return Err(Rejection::StaleNonce { last: 0, got: 0 });
        }
        // The profile is the patient's own, and the hospital's if they let it find them.
        sealed("profile", profile, 1, &[signer], &|r| is_authority(state, r))?;
        // Key validity was checked with the signature (`VerifiedTx` guarantees it).
        return effects(Change::NewAccount(Account {
            address: signer,
            key: tx.signer,
            encryption_key: *encryption_key,
            role: Role::Patient,
            name: String::new(),
            licence: String::new(),
            profile: Some(profile.clone()),
            deactivated_at: None,
            rekeyed_at: None,
            nonce: tx.nonce,
        }));
    }

    let me = state.signer_account(&tx.signer)?;
    if !me.is_active() {
        return Err(Rejection::Deactivated);
    }
    if tx.nonce <= me.nonce {
        return Err(Rejection::StaleNonce { last: me.nonce, got: tx.nonce });
    }

    match &tx.body {
        TxBody::RegisterPatient { .. } => unreachable!("handled above"),
        TxBody::RegisterProvider { key, encryption_key, role, name, licence } => {
            // The genesis authority registers anyone; an administrator it appointed, staff
            // other than administrators.
            if !(me.role == Role::Authority || (me.role == Role::Admin && *role != Role::Admin)) {
                return Err(Rejection::NotAuthority);
            }
            if !role.is_provider() {
                return Err(Rejection::InvalidField(format!("An authority cannot register a {}.", role.human())));
            }
            let address = key.address();
            if state.accounts.contains_key(&address) {
                return Err(Rejection::AlreadyRegistered);
            }
            if state.key_in_use(&address) {
                return Err(Rejection::KeyInUse);
            }
            text_within("name", name, 1, MAX_DIRECTORY_CHARS)?;
            text_within("licence or staff number", licence, 1, MAX_DIRECTORY_CHARS)?;
            if name.contains('\n') || licence.contains('\n') {
                return Err(Rejection::InvalidField("A directory entry is one line.".into()));
            }
            effects(Change::NewAccount(Account {
                address,
                key: *key,
                encryption_key: *encryption_key,
                role: *role,
                name: name.clone(),
                licence: licence.clone(),
                profile: None,
                deactivated_at: None,
                rekeyed_at: None,
                nonce: 0,
            }))
        }
        TxBody::DeactivateProvider { provider } => {
            if !managed_staff(state, me, provider)?.is_active() {
                return Err(Rejection::AlreadyDeactivated);
            }
            effects(Change::Deactivate { provider: *provider, at: now })
        }
        TxBody::RotateKey { account, key, encryption_key } => {
            // Who may deactivate a member of staff may give them new keys.
            if !managed_staff(state, me, account)?.is_active() {
                return Err(Rejection::PartyDeactivated { what: "provider" });
            }
            if state.key_in_use(&key.address()) {
                return Err(Rejection::KeyInUse);
            }
            effects(Change::RotateKey { account: *account, key: *key, encryption_key: *encryption_key, at: now })
        }
        TxBody::GrantConsent { grantee, classes, actions, purpose, valid_from, valid_until } => {
            require_role(me, &[Role::Patient])?;
            active_party(
                state,
                grantee,
                &[Role::Doctor, Role::Surgeon, Role::Pharmacy, Role::Insurer, Role::Student],
                "provider",
            )?;
            if classes.is_empty() {
                return Err(Rejection::InvalidField("Choose at least one data class.".into()));
            }
            if classes.iter().collect::<BTreeSet<_>>().len() != classes.len() {
                return Err(Rejection::InvalidField("A data class is listed twice.".into()));
            }
            if !actions.read && !actions.write {
                return Err(Rejection::InvalidField("Choose read, write, or both.".into()));
            }
            if valid_until <= valid_from || *valid_until <= now {
                return Err(Rejection::InvalidPeriod);
            }
            effects(Change::NewConsent(Consent {
                id,
                patient: signer,
                grantee: *grantee,
                classes: classes.clone(),
                actions: *actions,
                purpose: *purpose,
                valid_from: *valid_from,
                valid_until: *valid_until,
                granted_at: now,
                revoked_at: None,
            }))
        }
        TxBody::RevokeConsent { consent } => {
            let c = state.consents.get(consent).ok_or(Rejection::ConsentNotFound)?;
            if c.patient != signer {
                return Err(Rejection::NotOwner);
            }
            if c.revoked_at.is_some() {
                return Err(Rejection::AlreadyRevoked);
            }
            effects(Change::RevokeConsent { id: *consent, at: now })
        }
        TxBody::AnchorRecord { patient: p, content_hash, size, class, blob, keys } => {
            // Who may write comes before whether the patient exists, so a refusal never tells
            // a stranger that an address is a patient's (a consent implies the patient).
            if signer == *p {
                require_role(me, &[Role::Patient])?;
            } else {
                require_role(me, &[Role::Doctor, Role::Surgeon])?;
                live_consent(state, p, &signer, Some(*class), Some(Action::Write), None, now)?;
            }
            if *size > MAX_RECORD_BYTES {
                return Err(Rejection::TooLarge { size: *size, max: MAX_RECORD_BYTES });
            }
            // A blob belongs to the record that first anchored it: another record naming it
            // would give its ciphertext a second gate.
            if state.blob_records.contains_key(blob) {
                return Err(Rejection::BlobAlreadyAnchored);
            }
            let mut map = BTreeMap::new();
            for k in keys {
                if k.wrapped.is_empty() || k.wrapped.len() > 512 {
                    return Err(Rejection::InvalidField("A wrapped record key has an invalid length.".into()));
                }
                if k.reader != *p && k.reader != signer {
                    // Key escrow: a patient's emergency summary is also wrapped for the
                    // hospital's authority, which re-wraps it for a clinician only on a live
                    // break-glass. No other class is escrowed.
                    let escrow =
                        is_authority(state, &k.reader) && *class == DataClass::EmergencySummary && signer == *p;
                    if !escrow {
                        live_consent(state, p, &k.reader, Some(*class), Some(Action::Read), None, now)
                            .map_err(|_| Rejection::ReaderNotAllowed)?;
                    }
                }
                if map.insert(k.reader, k.clone()).is_some() {
                    return Err(Rejection::InvalidField("A reader is listed twice in the wrapped keys.".into()));
                }
            }
            if !map.contains_key(p) {
                return Err(Rejection::MissingPatientKey);
            }
            effects(Change::NewRecord(Record {
                id,
                patient: *p,
                author: signer,
                content_hash: *content_hash,
                size: *size,
                class: *class,
                blob: *blob,
                keys: map,
                anchored_at: now,
            }))
        }
        TxBody::ShareRecordKey { record, key } => {
            let r = state.records.get(record).ok_or(Rejection::RecordNotFound)?;
            if r.patient != signer {
                return Err(Rejection::NotOwner);
            }
            if key.wrapped.is_empty() || key.wrapped.len() > 512 {
                return Err(Rejection::InvalidField("The wrapped record key has an invalid length.".into()));
            }
            if r.keys.contains_key(&key.reader) {
                return Err(Rejection::AlreadyShared);
            }
            live_consent(state, &r.patient, &key.reader, Some(r.class), Some(Action::Read), None, now)?;
            effects(Change::ShareKey { record: *record, key: key.clone() })
        }
        TxBody::AccessEvent { record, reader, basis, request } => {
            if signer != *reader {
                if me.role != Role::Authority {
                    return Err(Rejection::WrongRole {
                        actual: me.role,
                        needed: "the reader, hospital authority".into(),
                    });
                }
                let q = request.as_ref().ok_or(Rejection::AccessNotRequested("it carries none."))?;
                requested_by_reader(state, q, reader, record, &signer, now)?;
            }
            // One signed request is one read: it is logged once (a node's in-memory cache
            // refuses it again, but an authority key could log it twice).
            let request = request.as_ref().map(|q| (q.request.signing_hash(), q.request.timestamp_ms));
            if let Some((h, _)) = &request
                && state.logged_requests.contains_key(h)
            {
                return Err(Rejection::AccessAlreadyLogged);
            }
            let r = state.records.get(record).ok_or(Rejection::RecordNotFound)?;
            check_access(state, r, reader, basis, now)?;
            effects(Change::Audit {
                patient: r.patient,
                entry: AuditEntry::Access {
                    tx: id,
                    at: now,
                    record: *record,
                    reader: *reader,
                    basis: *basis,
                    logged_by: signer,
                },
                request,
            })
        }
        TxBody::BreakGlass { patient: p, justification, duration_secs } => {
            require_role(me, &[Role::Doctor, Role::Surgeon])?;
            patient(state, p)?;
            if justification.ciphertext.len() < SEAL_OVERHEAD + MIN_JUSTIFICATION_CHARS {
                return Err(Rejection::JustificationTooShort);
            }
            // The patient, the clinician and the hospital's authorities and, if the clinician
            // chooses, administrators (who review it).
            sealed("justification", justification, MIN_JUSTIFICATION_CHARS, &[*p, signer], &|r| {
                state.accounts.get(r).is_some_and(|a| matches!(a.role, Role::Authority | Role::Admin))
            })?;
            if !justification.keys.iter().any(|k| is_authority(state, &k.reader)) {
                return Err(Rejection::SealedReaders {
                    field: "justification",
                    why: "it is not sealed for any of the hospital's authorities, who review every break-glass.".into(),
                });
            }
            if *duration_secs == 0 || *duration_secs > MAX_BREAK_GLASS_SECS {
                return Err(Rejection::BreakGlassTooLong);
            }
            if live_break_glass(state, p, &signer, now).is_some() {
                return Err(Rejection::BreakGlassStillLive);
            }
            let recent = state
                .patients
                .get(p)
                .map(|i| {
                    i.break_glass
                        .iter()
                        .filter_map(|id| state.break_glass.get(id))
                        .filter(|b| b.clinician == signer && b.from + BREAK_GLASS_WINDOW_SECS > now)
                        .count()
                })
                .unwrap_or(0);
            if recent >= MAX_BREAK_GLASS_PER_WINDOW {
                return Err(Rejection::BreakGlassLimit { max: MAX_BREAK_GLASS_PER_WINDOW });
            }
            let today = state
                .break_glass_by
                .get(&signer)
                .map(|ids| {
                    ids.iter()
                        .rev()
                        .filter_map(|id| state.break_glass.get(id))
                        .take_while(|b| b.from + BREAK_GLASS_DAY_SECS > now)
                        .count()
                })
                .unwrap_or(0);
            if today >= MAX_BREAK_GLASS_PER_CLINICIAN {
                return Err(Rejection::BreakGlassClinicianLimit { max: MAX_BREAK_GLASS_PER_CLINICIAN });
            }
            effects(Change::NewBreakGlass(BreakGlassGrant {
                id,
                patient: *p,
                clinician: signer,
                justification: justification.clone(),
                from: now,
                until: now + duration_secs,
                reviewed_by: None,
            }))
        }
        TxBody::ReviewBreakGlass { grant, until } => {
            // The second look a break-glass gets: on the clinician's word alone it lasts at
            // most `MAX_BREAK_GLASS_SECS`; longer needs the hospital.
            require_role(me, &[Role::Authority, Role::Admin])?;
            let b = state.break_glass.get(grant).ok_or(Rejection::BreakGlassNotFound)?;
            if now >= b.until {
                return Err(Rejection::BreakGlassExpired);
            }
            if *until > b.from + MAX_REVIEWED_BREAK_GLASS_SECS {
                return Err(Rejection::BreakGlassTooLong);
            }
            // An end already past when the block is made (the reviewer signed "end it now"
            // a moment before) ends it now.
            let until = (*until).max(now);
            effects(Change::ReviewBreakGlass { grant: *grant, tx: id, at: now, reviewer: signer, until })
        }
        TxBody::Prescribe { patient: p, pharmacy, details, valid_until } => {
            require_role(me, &[Role::Doctor, Role::Surgeon])?;
            // Prescribing adds to the patient's medications: a consent to write them, for
            // treatment. A break-glass lets a clinician read, not prescribe.
            live_consent(
                state,
                p,
                &signer,
                Some(DataClass::Medications),
                Some(Action::Write),
                Some(Purpose::Treatment),
                now,
            )?;
            active_party(state, pharmacy, &[Role::Pharmacy], "pharmacy")?;
            sealed("prescription", details, 1, &[*p, signer, *pharmacy], &|_| false)?;
            if *valid_until <= now || *valid_until > now + MAX_PRESCRIPTION_SECS {
                return Err(Rejection::InvalidPeriod);
            }
            effects(Change::NewPrescription(Prescription {
                id,
                patient: *p,
                prescriber: signer,
                pharmacy: *pharmacy,
                details: details.clone(),
                valid_until: *valid_until,
                issued_at: now,
                dispensed: None,
            }))
        }
        TxBody::Dispense { prescription } => {
            require_role(me, &[Role::Pharmacy])?;
            let p = state.prescriptions.get(prescription).ok_or(Rejection::PrescriptionNotFound)?;
            if p.pharmacy != signer {
                return Err(Rejection::NotPrescriptionPharmacy);
            }
            if p.dispensed.is_some() {
                return Err(Rejection::AlreadyDispensed);
            }
            if now >= p.valid_until {
                return Err(Rejection::PrescriptionExpired);
            }
            effects(Change::Dispense {
                prescription: *prescription,
                dispensation: Dispensation { pharmacy: signer, at: now, tx: id },
            })
        }
        TxBody::Claim { patient: p, insurer, records, details } => {
            require_role(me, &[Role::Doctor, Role::Surgeon, Role::Pharmacy])?;
            // A provider claims only for a patient it treats (a live treatment consent) or,
            // a pharmacy, one it dispensed to in the last 90 days; and only to an insurer the
            // patient lets see their payments.
            let treats = live_consent(state, p, &signer, None, None, Some(Purpose::Treatment), now).is_ok();
            let dispensed = me.role == Role::Pharmacy
                && state.patients.get(p).is_some_and(|i| {
                    i.prescriptions.iter().filter_map(|id| state.prescriptions.get(id)).any(|rx| {
                        rx.dispensed.as_ref().is_some_and(|d| d.pharmacy == signer && d.at + 90 * 24 * 3600 > now)
                    })
                });
            if !treats && !dispensed {
                return Err(Rejection::NoConsent);
            }
            active_party(state, insurer, &[Role::Insurer], "insurer")?;
            live_consent(state, p, insurer, None, None, Some(Purpose::Payment), now).map_err(|_| {
                Rejection::InvalidField(
                    "The patient has no live payment consent for this insurer; ask them to grant one first.".into(),
                )
            })?;
            if records.len() > MAX_CLAIM_RECORDS {
                return Err(Rejection::InvalidField(format!("A claim links at most {MAX_CLAIM_RECORDS} records.")));
            }
            if records.iter().collect::<BTreeSet<_>>().len() != records.len() {
                return Err(Rejection::InvalidField("A record is linked twice.".into()));
            }
            for r in records {
                match state.records.get(r) {
                    Some(rec) if rec.patient == *p => {}
                    _ => return Err(Rejection::RecordNotFound),
                }
            }
            sealed("claim", details, 1, &[*p, signer, *insurer], &|_| false)?;
            effects(Change::NewClaim(Claim {
                id,
                patient: *p,
                provider: signer,
                insurer: *insurer,
                details: details.clone(),
                records: records.clone(),
                submitted_at: now,
                decision: None,
            }))
        }
        TxBody::DecideClaim { claim, approved, reason } => {
            require_role(me, &[Role::Insurer])?;
            let c = state.claims.get(claim).ok_or(Rejection::ClaimNotFound)?;
            if c.insurer != signer {
                return Err(Rejection::NotClaimInsurer);
            }
            if c.decision.is_some() {
                return Err(Rejection::AlreadyDecided);
            }
            live_consent(state, &c.patient, &signer, None, None, Some(Purpose::Payment), now)?;
            sealed("reason", reason, usize::from(!approved), &[c.patient, c.provider, signer], &|_| false)?;
            effects(Change::DecideClaim {
                claim: *claim,
                decision: ClaimDecision { approved: *approved, reason: reason.clone(), at: now },
            })
        }
        TxBody::AnchorTwinSegment { patient: p, case_id, stage, stream, start_ms, end_ms, segment_hash } => {
            require_role(me, &[Role::Authority, Role::Doctor, Role::Surgeon])?;
            // The case is a twin-data record of this patient; only its author or one of
            // its readers (who can see the data they vouch for) anchors its segments.
            let case = state.records.get(case_id).ok_or(Rejection::RecordNotFound)?;
            if case.patient != *p
                || case.class != DataClass::TwinData
                || (case.author != signer && !case.keys.contains_key(&signer))
            {
                return Err(Rejection::NotCaseHolder);
            }
            text("stream name", stream, 1)?;
            if end_ms < start_ms {
                return Err(Rejection::InvalidPeriod);
            }
            effects(Change::NewSegment(TwinSegment {
                id,
                patient: *p,
                case_id: *case_id,
                stage: *stage,
                stream: stream.clone(),
                start_ms: *start_ms,
                end_ms: *end_ms,
                segment_hash: *segment_hash,
                anchored_by: signer,
            }))
        }
        TxBody::RecordTrainingRun { scenario, score_tenths, max_tenths, trajectory_hash, actions } => {
            require_role(me, &[Role::Student, Role::Doctor, Role::Surgeon])?;
            text("scenario id", scenario, 1)?;
            if scenario.chars().count() > 100 {
                return Err(Rejection::InvalidField("The scenario id is longer than 100 characters.".into()));
            }
            if *max_tenths == 0 || score_tenths > max_tenths {
                return Err(Rejection::InvalidField("The score must be between 0 and a positive maximum.".into()));
            }
            if actions.chars().count() > MAX_TRAINING_ACTIONS_CHARS {
                return Err(Rejection::InvalidField(format!(
                    "The actions are longer than {MAX_TRAINING_ACTIONS_CHARS} characters."
                )));
            }
            if actions.chars().any(|c| c.is_control() && c != '\n') {
                return Err(Rejection::InvalidField("The actions contain control characters.".into()));
            }
            effects(Change::NewTrainingRun(TrainingRun {
                id,
                trainee: signer,
                scenario: scenario.clone(),
                score_tenths: *score_tenths,
                max_tenths: *max_tenths,
                trajectory_hash: *trajectory_hash,
                actions: actions.clone(),
                at: now,
            }))
        }
        TxBody::ShareLink { link, files, records, expires, single_use, passcode } => {
            // A patient shares their own records; nobody shares them for the patient.
            require_role(me, &[Role::Patient])?;
            if state.share_links.contains_key(link) {
                return Err(Rejection::LinkExists);
            }
            if files.is_empty() || files.len() > MAX_LINK_FILES {
                return Err(Rejection::InvalidField(format!("A share link carries 1 to {MAX_LINK_FILES} files.")));
            }
            if records.len() > MAX_LINK_RECORDS {
                return Err(Rejection::InvalidField(format!("A share link names at most {MAX_LINK_RECORDS} records.")));
            }
            if files.iter().collect::<BTreeSet<_>>().len() != files.len()
                || records.iter().collect::<BTreeSet<_>>().len() != records.len()
            {
                return Err(Rejection::InvalidField("A share link names each file and record once.".into()));
            }
            for r in records {
                if state.records.get(r).ok_or(Rejection::RecordNotFound)?.patient != signer {
                    return Err(Rejection::NotOwner);
                }
            }
            if *expires <= now || *expires > now + MAX_LINK_SECS {
                return Err(Rejection::InvalidField("A share link must expire after now and within a year.".into()));
            }
            if let Some(p) = passcode {
                sealed("passcode", p, 1, &[], &|r| *r == signer || is_authority(state, r))?;
                if !p.keys.iter().any(|k| is_authority(state, &k.reader)) {
                    return Err(Rejection::SealedReaders {
                        field: "passcode",
                        why: "it is not sealed for any of the hospital's authorities, whose nodes check it.".into(),
                    });
                }
            }
            effects(Change::NewShareLink(SharedLink {
                link: *link,
                tx: id,
                patient: signer,
                files: files.clone(),
                records: records.clone(),
                expires: *expires,
                single_use: *single_use,
                passcode: passcode.clone(),
                created_at: now,
                revoked_at: None,
                opened: 0,
                refused: 0,
            }))
        }
        TxBody::RevokeShareLink { link } => {
            let l = state.share_links.get(link).ok_or(Rejection::LinkNotFound)?;
            if l.patient != signer {
                return Err(Rejection::NotOwner);
            }
            if l.revoked_at.is_some() {
                return Err(Rejection::LinkClosed(LinkStatus::Revoked.why()));
            }
            effects(Change::RevokeShareLink { link: *link, at: now })
        }
        TxBody::ShareLinkUsed { link, opened, recipient } => {
            // Logged by the node that answered (a genesis authority), like a read it released.
            if me.role != Role::Authority {
                return Err(Rejection::NotAuthority);
            }
            let l = state.share_links.get(link).ok_or(Rejection::LinkNotFound)?;
            match l.status(now) {
                LinkStatus::Open => {}
                closed => return Err(Rejection::LinkClosed(closed.why())),
            }
            if !opened && l.passcode.is_none() {
                return Err(Rejection::InvalidField("A share link without a passcode refuses none.".into()));
            }
            sealed("recipient", recipient, 1, &[l.patient], &|r| is_authority(state, r))?;
            effects(Change::ShareLinkUsed {
                link: *link,
                opened: *opened,
                entry: AuditEntry::ShareLinkUsed {
                    tx: id,
                    at: now,
                    link: *link,
                    opened: *opened,
                    recipient: recipient.clone(),
                    logged_by: signer,
                },
            })
        }
    }
}
