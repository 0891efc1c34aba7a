//! Who may read what: the node's read policy, as pure functions of the state, the caller and
//! the time. The patient sees everything about themselves; the hospital's authority sees what
//! the ledger holds (it enforces the rules on it); a provider sees what a live relationship
//! with the patient covers (a consent, a break-glass, a prescription or claim they are party
//! to); an insurer its own claims. A deactivated account sees nothing beyond the public
//! directory, whatever it was party to. Anyone else is refused, without learning whether there
//! is anything to refuse.

use super::ApiError;
use ledger_protocol::rules::{live_break_glass, live_consent};
use ledger_protocol::state::{Account, Claim, Prescription, Record};
use ledger_protocol::{Action, Address, ErrorKind, Hash, Purpose, Role, State, Transaction, TxBody};

/// The refusal of someone not entitled (whether or not the thing exists).
pub fn not_entitled(what: &str) -> ApiError {
    ApiError::new(
        ErrorKind::Forbidden,
        "not_entitled",
        format!(
            "You are not entitled to {what}: only the patient, the hospital, and providers with the patient's live consent (or a live emergency access) are."
        ),
    )
}

/// The refusal of `who`, not entitled to `what` of `patient`'s now: that their emergency access
/// has ended, when they had one (they were entitled then, so this tells them nothing new),
/// else the plain refusal.
pub fn refusal(state: &State, patient: &Address, who: &Address, now: u64, what: &str) -> ApiError {
    // Called only when nothing live lets `who` in: a break-glass they had has ended.
    let ended = live_break_glass(state, patient, who, now).is_none()
        && ledger_protocol::rules::had_break_glass(state, patient, who);
    if ended && is_active(state, who) {
        ApiError::from(ledger_protocol::Rejection::BreakGlassExpired)
    } else {
        not_entitled(what)
    }
}

fn role(state: &State, a: &Address) -> Option<Role> {
    state.accounts.get(a).filter(|acc| acc.is_active()).map(|acc| acc.role)
}

/// A registered account that has not been deactivated.
pub fn is_active(state: &State, a: &Address) -> bool {
    role(state, a).is_some()
}

pub fn is_authority(state: &State, a: &Address) -> bool {
    role(state, a) == Some(Role::Authority)
}

/// Who reviews break-glass accesses: the hospital's authorities and active administrators.
pub fn reviews_break_glass(state: &State, a: &Address) -> bool {
    matches!(role(state, a), Some(Role::Authority | Role::Admin))
}

/// An active doctor or surgeon of this hospital.
pub fn is_clinician(state: &State, a: &Address) -> bool {
    matches!(role(state, a), Some(Role::Doctor | Role::Surgeon))
}

/// Whether `who` holds a live consent of any kind from `patient`, or a live break-glass.
pub fn relates(state: &State, patient: &Address, who: &Address, now: u64) -> bool {
    live_consent(state, patient, who, None, None, None, now).is_ok()
        || live_break_glass(state, patient, who, now).is_some()
}

/// The patient themselves or the hospital's authority: everything about the patient.
pub fn sees_all_of(state: &State, patient: &Address, who: &Address) -> bool {
    who == patient || is_authority(state, who)
}

/// A registered account: a member of staff's is the public directory; a patient's only to
/// the patient, the hospital, its clinicians (who must find a patient in an emergency) and
/// anyone the patient relates to now.
pub fn may_see_account(state: &State, acc: &Account, who: Option<&Address>, now: u64) -> bool {
    if acc.role != Role::Patient {
        return true;
    }
    who.is_some_and(|w| {
        sees_all_of(state, &acc.address, w) || is_clinician(state, w) || relates(state, &acc.address, w, now)
    })
}

/// A record's anchor: the patient, its author, its key holders, a reader a live consent
/// covers, a clinician under a live break-glass, the hospital.
pub fn may_see_record(state: &State, r: &Record, who: &Address, now: u64) -> bool {
    is_active(state, who)
        && (sees_all_of(state, &r.patient, who)
            || r.author == *who
            || r.keys.contains_key(who)
            || live_consent(state, &r.patient, who, Some(r.class), Some(Action::Read), None, now).is_ok()
            || live_break_glass(state, &r.patient, who, now).is_some())
}

/// A prescription: its patient, prescriber and pharmacy, a clinician treating the patient
/// now, the hospital.
pub fn may_see_prescription(state: &State, p: &Prescription, who: &Address, now: u64) -> bool {
    is_active(state, who)
        && (sees_all_of(state, &p.patient, who)
            || p.prescriber == *who
            || p.pharmacy == *who
            || (is_clinician(state, who)
                && (live_consent(state, &p.patient, who, None, None, Some(Purpose::Treatment), now).is_ok()
                    || live_break_glass(state, &p.patient, who, now).is_some())))
}

/// A claim: its patient, provider and insurer, the hospital.
pub fn may_see_claim(state: &State, c: &Claim, who: &Address) -> bool {
    is_active(state, who) && (sees_all_of(state, &c.patient, who) || c.provider == *who || c.insurer == *who)
}

/// Everyone a transaction concerns: its signer, the accounts it names, the parties of what
/// it refers to, the readers of what it seals. Only they (and the hospital) read it whole.
pub fn parties(state: &State, tx: &Transaction) -> Vec<Address> {
    let mut out = vec![state.account_address_of(&tx.signer)];
    let sealed_readers = |s: &ledger_protocol::Sealed| s.keys.iter().map(|k| k.reader).collect::<Vec<_>>();
    match &tx.body {
        TxBody::RegisterPatient { profile, .. } => out.extend(sealed_readers(profile)),
        TxBody::RegisterProvider { key, .. } => out.push(key.address()),
        TxBody::DeactivateProvider { provider } => out.push(*provider),
        TxBody::RotateKey { account, .. } => out.push(*account),
        TxBody::GrantConsent { grantee, .. } => out.push(*grantee),
        TxBody::RevokeConsent { consent } => out.extend(state.consents.get(consent).map(|c| c.grantee)),
        TxBody::AnchorRecord { patient, keys, .. } => {
            out.push(*patient);
            out.extend(keys.iter().map(|k| k.reader));
        }
        TxBody::ShareRecordKey { record, key } => {
            out.push(key.reader);
            out.extend(state.records.get(record).map(|r| r.patient));
        }
        TxBody::AccessEvent { record, reader, .. } => {
            out.push(*reader);
            out.extend(state.records.get(record).map(|r| r.patient));
        }
        TxBody::BreakGlass { patient, justification, .. } => {
            out.push(*patient);
            out.extend(sealed_readers(justification));
        }
        TxBody::ReviewBreakGlass { grant, .. } => {
            out.extend(state.break_glass.get(grant).iter().flat_map(|b| [b.patient, b.clinician]))
        }
        TxBody::Prescribe { patient, pharmacy, .. } => out.extend([*patient, *pharmacy]),
        TxBody::Dispense { prescription } => {
            out.extend(state.prescriptions.get(prescription).iter().flat_map(|p| [p.patient, p.prescriber]))
        }
        TxBody::Claim { patient, insurer, .. } => out.extend([*patient, *insurer]),
        TxBody::DecideClaim { claim, .. } => {
            out.extend(state.claims.get(claim).iter().flat_map(|c| [c.patient, c.provider]))
        }
        TxBody::AnchorTwinSegment { patient, .. } => out.push(*patient),
        TxBody::RecordTrainingRun { .. } | TxBody::ShareLink { .. } | TxBody::RevokeShareLink { .. } => {}
        TxBody::ShareLinkUsed { link, .. } => out.extend(state.share_links.get(link).map(|l| l.patient)),
    }
    out
}

/// Whether `who` may read transaction `tx` (whose id is `id`) whole: its parties, and for
/// one that made a record, prescription or claim, whoever may see that now (a reader the
/// patient shared a record's key with later reads its anchor and proof).
pub fn may_see_tx(state: &State, id: &Hash, tx: &Transaction, who: &Address, now: u64) -> bool {
    is_authority(state, who)
        || (is_active(state, who) && parties(state, tx).contains(who))
        || state.records.get(id).is_some_and(|r| may_see_record(state, r, who, now))
        || state.prescriptions.get(id).is_some_and(|p| may_see_prescription(state, p, who, now))
        || state.claims.get(id).is_some_and(|c| may_see_claim(state, c, who))
}

/// Whether `who` may read the training runs of `trainee`: the trainee, their teachers (the
/// hospital's clinicians) and the hospital.
pub fn may_see_training(state: &State, trainee: &Address, who: &Address) -> bool {
    trainee == who || is_authority(state, who) || is_clinician(state, who)
}
