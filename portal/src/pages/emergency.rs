//! Emergency access, the patient's side. The emergency summary is built in this browser from
//! the patient's own records (who they are, allergies, current problems and medications,
//! newest observations), sealed under a fresh key wrapped for the patient and escrowed to
//! the hospital's authorities, which pass it on only to a clinician under a live break-glass.
//! Every emergency access is a notice on the dashboard until the patient acknowledges it
//! (remembered on this device).

use crate::components::confirm::{SignRequest, use_signer};
use crate::components::ui::{ErrorBox, Notice, datetime, short};
use crate::fhir;
use crate::pages::record::{fetch_and_open, seal_and_upload};
use crate::sealing;
use crate::session::use_session;
use ledger_protocol::state::{Account, AuditEntry, Record};
use ledger_protocol::{AccessBasis, Address, DataClass, Hash, TxBody};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use wallet::MapDirectory;
use yew::prelude::*;

/// One emergency access: a break-glass and the reads made under it.
#[derive(Debug, Clone, PartialEq)]
pub struct EmergencyNotice {
    pub grant: Hash,
    pub clinician: Address,
    pub at: u64,
    pub until: u64,
    pub justification: ledger_protocol::Sealed,
    /// (access event, record, when), oldest first.
    pub reads: Vec<(Hash, Hash, u64)>,
}

impl EmergencyNotice {
    /// The ledger entries this notice stands for: acknowledging it acknowledges these.
    pub fn ids(&self) -> impl Iterator<Item = Hash> + '_ {
        std::iter::once(self.grant).chain(self.reads.iter().map(|r| r.0))
    }
}

/// The emergency accesses in a patient's audit trail, newest first, that have an entry not
/// yet `acknowledged` (a read after an acknowledgement brings its notice back).
pub fn unacknowledged(entries: &[AuditEntry], acknowledged: &BTreeSet<Hash>) -> Vec<EmergencyNotice> {
    let mut by_grant: BTreeMap<Hash, EmergencyNotice> = BTreeMap::new();
    for e in entries {
        if let AuditEntry::BreakGlass { tx, at, clinician, justification, until } = e {
            by_grant.insert(
                *tx,
                EmergencyNotice {
                    grant: *tx,
                    clinician: *clinician,
                    at: *at,
                    until: *until,
                    justification: justification.clone(),
                    reads: vec![],
                },
            );
        }
    }
    for e in entries {
        if let AuditEntry::Access { tx, at, record, basis: AccessBasis::BreakGlass(g), .. } = e
            && let Some(n) = by_grant.get_mut(g)
        {
            n.reads.push((*tx, *record, *at));
        }
    }
    let mut out: Vec<EmergencyNotice> =
        by_grant.into_values().filter(|n| n.ids().any(|id| !acknowledged.contains(&id))).collect();
    for n in &mut out {
        n.reads.sort_by_key(|r| r.2);
    }
    out.sort_by_key(|n| std::cmp::Reverse(n.at));
    out
}

fn ack_key(me: &Address) -> String {
    format!("healthchain.acknowledged-emergency.{}", me.to_hex())
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The emergency entries this patient acknowledged on this device.
fn acknowledged(me: &Address) -> BTreeSet<Hash> {
    storage()
        .and_then(|s| s.get_item(&ack_key(me)).ok().flatten())
        .and_then(|t| serde_json::from_str::<Vec<Hash>>(&t).ok())
        .map(|v| v.into_iter().collect())
        .unwrap_or_default()
}

fn acknowledge(me: &Address, ids: impl Iterator<Item = Hash>) -> Result<(), String> {
    let mut all = acknowledged(me);
    all.extend(ids);
    let text = serde_json::to_string(&all.into_iter().collect::<Vec<_>>()).map_err(|e| e.to_string())?;
    storage()
        .ok_or("This browser does not let the portal remember it (storage is off).")?
        .set_item(&ack_key(me), &text)
        .map_err(|_| "This browser refused to remember it (storage is full or off).".to_owned())
}

#[derive(Properties, PartialEq)]
pub struct NoticesProps {
    pub me: Address,
    pub entries: Vec<AuditEntry>,
    pub providers: Rc<BTreeMap<Address, Account>>,
    pub record_class: Rc<BTreeMap<Hash, DataClass>>,
}

/// The highlighted notices of emergency access, each until acknowledged.
#[function_component(EmergencyNotices)]
pub fn emergency_notices(p: &NoticesProps) -> Html {
    let session = use_session();
    let seen = use_state(|| acknowledged(&p.me));
    let error = use_state(|| None::<String>);
    let notices = unacknowledged(&p.entries, &seen);
    if notices.is_empty() && error.is_none() {
        return html! {};
    }
    let name = |a: &Address| p.providers.get(a).map_or_else(|| format!("account {}", &a.to_hex()[..10]), |x| x.label());
    html! {
        <section id="emergency-notices" class="card alert" role="alert" aria-labelledby="emergency-title">
            <h2 id="emergency-title">{ "Emergency access to your records" }</h2>
            if let Some(e) = &*error { <ErrorBox text={e.clone()} /> }
            { for notices.iter().map(|n| {
                let why = sealing::open_text(&session, &n.justification)
                    .unwrap_or_else(|| "(the reason is sealed and this wallet cannot open it)".into());
                let reads: Vec<String> = n.reads.iter().map(|(_, r, at)| {
                    let what = p.record_class.get(r).map_or("a record".to_owned(), |c| format!("your {}", c.human()));
                    format!("{what} ({}) on {}", short(r), datetime(*at))
                }).collect();
                let ack = {
                    let (me, ids, seen, error) = (p.me, n.ids().collect::<Vec<_>>(), seen.clone(), error.clone());
                    Callback::from(move |_| match acknowledge(&me, ids.iter().copied()) {
                        Ok(()) => { error.set(None); seen.set(acknowledged(&me)) }
                        Err(m) => error.set(Some(m)),
                    })
                };
                html! {
                    <article class="emergency-notice" data-grant={n.grant.to_hex()} data-clinician={n.clinician.to_hex()}>
                        <p><strong>{ format!("{} broke the glass", name(&n.clinician)) }</strong>
                            { format!(" on {}, for access until {}. Their reason: “{why}”", datetime(n.at), datetime(n.until)) }</p>
                        if reads.is_empty() {
                            <p>{ "They have not read anything yet." }</p>
                        } else {
                            <p>{ "They read:" }</p>
                            <ul class="emergency-reads">{ for reads.into_iter().map(|r| html! { <li>{ r }</li> }) }</ul>
                        }
                        <p>{ "If this was not an emergency, tell the hospital: every emergency access is reviewed." }</p>
                        <button class="acknowledge" onclick={ack}>{ "I have seen this" }</button>
                    </article>
                }
            }) }
        </section>
    }
}

#[derive(Clone, PartialEq)]
enum Step {
    Idle,
    Working(String),
    Done(String),
    Failed(String),
}

#[derive(Properties, PartialEq)]
pub struct SummaryProps {
    /// The patient's records (their own view: every one, with their key).
    pub records: Rc<Vec<Record>>,
}

/// The patient's emergency summary: what it holds now, and making or updating it.
#[function_component(EmergencySummaryCard)]
pub fn emergency_summary_card(p: &SummaryProps) -> Html {
    let session = use_session();
    let signer = use_signer();
    let step = use_state(|| Step::Idle);
    let current = p.records.iter().filter(|r| r.class == DataClass::EmergencySummary).max_by_key(|r| r.anchored_at);
    let build = {
        let (session, signer, step, records) = (session.clone(), signer.clone(), step.clone(), p.records.clone());
        Callback::from(move |_| {
            let Some(id) = session.identity() else { return };
            let authorities = sealing::authorities(session.info.as_ref());
            let (signer, step, records) = (signer.clone(), step.clone(), records.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let fail = |m: String| step.set(Step::Failed(format!("{m} Nothing was saved.")));
                if authorities.is_empty() {
                    return fail("The node did not say which hospital may hold the key.".into());
                }
                let sources: Vec<&Record> =
                    records.iter().filter(|r| fhir::EMERGENCY_SOURCES.contains(&r.class)).collect();
                let mut values = Vec::with_capacity(sources.len());
                for (i, r) in sources.iter().enumerate() {
                    step.set(Step::Working(format!("Opening your record {} of {}…", i + 1, sources.len())));
                    let plain = match fetch_and_open(&id, id.address(), r.id, r).await {
                        Ok(p) if wallet::content_hash(&p) == r.content_hash => p,
                        Ok(_) => {
                            return fail(format!(
                                "Your record {} does not match its hash on the ledger.",
                                short(&r.id)
                            ));
                        }
                        Err((_, m)) => return fail(format!("Your record {} could not be opened: {m}", short(&r.id))),
                    };
                    match serde_json::from_slice(&plain) {
                        Ok(v) => values.push(v),
                        Err(e) => return fail(format!("Your record {} is not FHIR JSON: {e}.", short(&r.id))),
                    }
                }
                let Some(summary) = fhir::emergency_summary(&values) else {
                    return fail("Your records hold no allergies, current problems, medications or observations yet: import them first.".into());
                };
                let items = summary["entry"].as_array().map_or(0, Vec::len);
                let text = match serde_json::to_vec(&summary) {
                    Ok(t) => t,
                    Err(e) => return fail(e.to_string()),
                };
                step.set(Step::Working("Encrypting and uploading your summary…".into()));
                let mut readers = vec![(id.address(), id.encryption_public_key())];
                readers.extend(authorities.iter().map(|a| (a.address, a.encryption_key)));
                let (blob, keys) = match seal_and_upload(&text, &readers).await {
                    Ok(x) => x,
                    Err(m) => return fail(m),
                };
                let me = id.address();
                let mut names = MapDirectory::default();
                for a in &authorities {
                    names.accounts.insert(a.address, "the hospital (for emergencies only)".into());
                }
                let step2 = step.clone();
                step.set(Step::Working("Waiting for your signature…".into()));
                signer.set(Some(SignRequest {
                    title: "Save my emergency summary".into(),
                    bodies: vec![TxBody::AnchorRecord {
                        patient: me,
                        content_hash: wallet::content_hash(&text),
                        size: text.len() as u64,
                        class: DataClass::EmergencySummary,
                        blob,
                        keys,
                    }],
                    names: Rc::new(names),
                    on_done: Callback::from(move |r: Result<Vec<_>, String>| {
                        step2.set(match r {
                            Ok(_) => Step::Done(format!("Your emergency summary is saved ({items} items).")),
                            Err(m) => Step::Failed(m),
                        })
                    }),
                }));
            });
        })
    };
    html! {
        <section class="card" id="emergency-summary" aria-labelledby="summary-title">
            <h2 id="summary-title">{ "My emergency summary" }</h2>
            <p>{ "Who you are, your allergies, current problems and medications, and your newest observations, encrypted in this browser. The hospital holds its key for emergencies only: it passes it to a clinician only when they break the glass, and you are told of every such read." }</p>
            { match current {
                Some(r) => html! { <p id="summary-state" data-record-id={r.id.to_hex()}>{ format!("Saved {} ({} bytes).", datetime(r.anchored_at), r.size) }</p> },
                None => html! { <p id="summary-state">{ "You have no emergency summary yet." }</p> },
            } }
            { match &*step {
                Step::Idle => html! {},
                Step::Working(m) => html! { <p id="summary-progress" role="status" aria-live="polite">{ m.clone() }</p> },
                Step::Done(m) => html! { <Notice id="summary-result" text={m.clone()} /> },
                Step::Failed(m) => html! { <ErrorBox id="summary-error" text={m.clone()} /> },
            } }
            <button id="summary-build" class="secondary" onclick={build} disabled={matches!(*step, Step::Working(_))}>
                { if current.is_some() { "Update it from my records" } else { "Make it from my records" } }
            </button>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_protocol::Sealed;

    fn h(n: u8) -> Hash {
        Hash([n; 32])
    }

    #[test]
    fn a_notice_stays_until_every_entry_under_it_is_acknowledged() {
        let doctor = Address([9; 20]);
        let grant = AuditEntry::BreakGlass {
            tx: h(1),
            at: 100,
            clinician: doctor,
            justification: Sealed { ciphertext: vec![], keys: vec![] },
            until: 200,
        };
        let read = |tx: u8, at: u64, basis: AccessBasis| AuditEntry::Access {
            tx: h(tx),
            at,
            record: h(50),
            reader: doctor,
            basis,
            logged_by: doctor,
        };
        let entries =
            vec![grant, read(2, 110, AccessBasis::BreakGlass(h(1))), read(3, 120, AccessBasis::Consent(h(7)))];
        let n = unacknowledged(&entries, &BTreeSet::new());
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].reads, vec![(h(2), h(50), 110)], "a read under consent is not an emergency");
        let seen: BTreeSet<Hash> = n[0].ids().collect();
        assert!(unacknowledged(&entries, &seen).is_empty());
        // A later read under the same break-glass brings the notice back.
        let mut later = entries.clone();
        later.push(read(4, 130, AccessBasis::BreakGlass(h(1))));
        let again = unacknowledged(&later, &seen);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].reads.len(), 2);
    }
}
