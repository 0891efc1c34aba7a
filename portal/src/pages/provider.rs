//! Doctors and surgeons (and students, read-only): patients who granted consent and when
//! each consent lapses; a patient's records (opened with the key wrapped for me); adding
//! a note under write consent; prescribing; break-glass with a written justification.

use crate::api::{self, ConsentView};
use crate::app::Route;
use crate::components::confirm::{SignRequest, use_signer};
use crate::components::ui::{
    ErrorBox, Notice, date, datetime, input_checked, input_value, now_secs, short, text_value,
};
use crate::sealing;
use crate::session::use_session;
use ledger_protocol::state::{Account, ConsentStatus, Prescription, Record};
use ledger_protocol::{Address, DataClass, Role, TxBody};
use std::collections::BTreeMap;
use std::rc::Rc;
use wallet::MapDirectory;
use yew::prelude::*;
use yew_router::prelude::*;

/// The longest break-glass a clinician opens on their own word, in hours.
const MAX_BREAK_GLASS_HOURS: u64 = ledger_protocol::rules::MAX_BREAK_GLASS_SECS / 3600;

#[function_component(ProviderHome)]
pub fn provider_home() -> Html {
    let session = use_session();
    let consents = use_state(|| None::<Result<Vec<ConsentView>, String>>);
    let names = use_state(BTreeMap::<Address, String>::new);
    let lookup = use_state(String::new);
    let lookup_error = use_state(|| None::<String>);
    let navigator = use_navigator();
    let me = session.address();
    // New consents show as they are committed.
    let height = crate::session::use_chain_height();
    {
        let (consents, names) = (consents.clone(), names.clone());
        use_effect_with((me, session.generation, height), move |(me, _, _)| {
            if let Some(me) = *me {
                wasm_bindgen_futures::spawn_local(async move {
                    let r = api::granted_to(&me).await.map_err(|e| e.message);
                    if let Ok(list) = &r {
                        let mut n = BTreeMap::new();
                        for c in list {
                            if let std::collections::btree_map::Entry::Vacant(v) = n.entry(c.consent.patient)
                                && let Ok(Some(acc)) = api::account(&c.consent.patient).await
                            {
                                v.insert(acc.label());
                            }
                        }
                        names.set(n);
                    }
                    consents.set(Some(r));
                });
            }
        });
    }
    if me.is_none() {
        return html! { <main><p>{ "The wallet is locked. " }<Link<Route> to={Route::Home}>{ "Unlock it" }</Link<Route>></p></main> };
    }
    let list = match &*consents {
        None => return html! { <main><p role="status">{ "Loading…" }</p></main> },
        Some(Err(e)) => return html! { <main><ErrorBox text={e.clone()} /></main> },
        Some(Ok(l)) => l.clone(),
    };
    let mut by_patient: BTreeMap<Address, Vec<ConsentView>> = BTreeMap::new();
    for c in list {
        by_patient.entry(c.consent.patient).or_default().push(c);
    }
    let find = {
        let (navigator, lookup, lookup_error) = (navigator.clone(), lookup.clone(), lookup_error.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            match Address::from_hex(lookup.trim().trim_start_matches("0x")) {
                Ok(a) => {
                    if let Some(n) = &navigator {
                        n.push(&Route::ProviderPatient { address: a.to_hex() });
                    }
                }
                Err(_) => lookup_error.set(Some(
                    "A patient ID is 40 hexadecimal characters: the one their portal shows under \"My patient ID\"."
                        .into(),
                )),
            }
        })
    };
    html! {
        <main>
            <h1>{ "My patients" }</h1>
            <form class="card" onsubmit={find} id="find-patient">
                <h2>{ "Find a patient" }</h2>
                <p>{ "In an emergency, a patient who has not consented to you can be found by the ID their portal shows them (or their card). Without consent, you can only break the glass: it is logged and the patient is told." }</p>
                <label for="find-patient-id">{ "Patient ID" }</label>
                <input id="find-patient-id" spellcheck="false" autocomplete="off" value={(*lookup).clone()} oninput={ let s = lookup.clone(); Callback::from(move |e: InputEvent| s.set(text_value(&e))) } />
                if let Some(m) = &*lookup_error { <ErrorBox id="find-patient-error" text={m.clone()} /> }
                <button id="find-patient-submit" type="submit">{ "Open" }</button>
            </form>
            if by_patient.is_empty() { <p>{ "No patient has granted you consent yet." }</p> }
            <ul id="patients-list" class="list">
                { for by_patient.iter().map(|(p, cs)| {
                    let live: Vec<_> = cs.iter().filter(|c| c.status == ConsentStatus::Live).collect();
                    let lapse = live.iter().map(|c| c.consent.valid_until).min();
                    html! {
                        <li class="patient-item" data-patient={p.to_hex()}>
                            <Link<Route> to={Route::ProviderPatient { address: p.to_hex() }}>{ names.get(p).cloned().unwrap_or_else(|| format!("Patient {}", &p.to_hex()[..10])) }</Link<Route>>
                            { match lapse {
                                Some(t) => format!(" · {} live consent(s), the first lapses {}", live.len(), date(t.saturating_sub(1))),
                                None => " · no live consent (expired or revoked)".to_owned(),
                            } }
                        </li>
                    }
                }) }
            </ul>
        </main>
    }
}

/// What a provider types to file a claim.
#[derive(Clone, PartialEq)]
struct ClaimForm {
    insurer: Option<Address>,
    amount: String,
    currency: String,
    description: String,
    codes: String,
    records: std::collections::BTreeSet<ledger_protocol::Hash>,
}

impl Default for ClaimForm {
    fn default() -> Self {
        ClaimForm {
            insurer: None,
            amount: String::new(),
            currency: "EUR".into(),
            description: String::new(),
            codes: String::new(),
            records: Default::default(),
        }
    }
}

/// "120.50" as cents, or why not.
fn cents(amount: &str) -> Result<u64, String> {
    let bad = || format!("{amount:?} is not an amount; write it like 120.50.");
    let (whole, frac) = amount.trim().split_once('.').unwrap_or((amount.trim(), ""));
    if whole.is_empty() || frac.len() > 2 || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let frac = format!("{frac:0<2}");
    whole
        .parse::<u64>()
        .ok()
        .and_then(|w| w.checked_mul(100))
        .and_then(|w| w.checked_add(frac.parse().ok()?))
        .ok_or_else(bad)
}

#[derive(Properties, PartialEq)]
pub struct PatientProps {
    pub address: String,
}

#[derive(Clone, PartialEq)]
struct PatientData {
    account: Option<Account>,
    records: Vec<Record>,
    consents: Vec<ConsentView>,
    prescriptions: Vec<Prescription>,
    providers: BTreeMap<Address, Account>,
    /// This provider's emergency access to the patient has ended (and nothing else holds).
    access_ended: bool,
}

async fn load(p: Address) -> Result<PatientData, String> {
    let mut ended = false;
    Ok(PatientData {
        account: api::account(&p).await.map_err(|e| e.message)?,
        records: none_if_not_entitled(api::records(&p).await, &mut ended)?,
        consents: none_if_not_entitled(api::consents(&p).await, &mut ended)?,
        prescriptions: none_if_not_entitled(api::prescriptions(&p).await, &mut ended)?,
        providers: api::providers().await.map_err(|e| e.message)?.into_iter().map(|a| (a.address, a)).collect(),
        access_ended: ended,
    })
}

/// A list the node does not let this provider see (no consent, no break-glass, or one that has
/// ended: `ended` is set) reads as empty: the page then offers only emergency access.
fn none_if_not_entitled<T>(r: Result<Vec<T>, api::ApiError>, ended: &mut bool) -> Result<Vec<T>, String> {
    match r {
        Err(e) if e.code == "not_entitled" => Ok(Vec::new()),
        Err(e) if e.code == "break_glass_expired" => {
            *ended = true;
            Ok(Vec::new())
        }
        r => r.map_err(|e| e.message),
    }
}

#[function_component(PatientView)]
pub fn patient_view(props: &PatientProps) -> Html {
    let session = use_session();
    let signer = use_signer();
    let data = use_state(|| None::<Result<PatientData, String>>);
    let notice = use_state(|| None::<(bool, String, Option<String>)>);
    let rx = use_state(|| ("".to_owned(), "".to_owned(), "10".to_owned(), "30".to_owned()));
    let bg = use_state(|| ("".to_owned(), "4".to_owned()));
    let pharmacy = use_state(|| None::<Address>);
    let claim = use_state(ClaimForm::default);
    let note = use_state(|| ("".to_owned(), "".to_owned(), None::<DataClass>));
    let patient = Address::from_hex(&props.address).ok();
    {
        let data = data.clone();
        use_effect_with((patient, session.generation), move |(p, _)| {
            if let Some(p) = *p {
                wasm_bindgen_futures::spawn_local(async move { data.set(Some(load(p).await)) });
            }
        });
    }
    let (Some(patient), Some(id)) = (patient, session.identity()) else {
        return html! { <main><p>{ "Unlock your wallet and choose a patient. " }<Link<Route> to={Route::Home}>{ "Start" }</Link<Route>></p></main> };
    };
    let me = session.address().unwrap_or_else(|| id.address());
    let d = match &*data {
        None => return html! { <main><p role="status">{ "Loading…" }</p></main> },
        Some(Err(e)) => return html! { <main><ErrorBox text={e.clone()} /></main> },
        Some(Ok(d)) => d.clone(),
    };
    let my_role = session.account.as_ref().map(|a| a.role);
    let clinician = matches!(my_role, Some(Role::Doctor | Role::Surgeon));
    let pname = d.account.as_ref().map_or_else(|| format!("Patient {}", &patient.to_hex()[..10]), |a| a.label());
    let mine: Vec<&ConsentView> = d.consents.iter().filter(|c| c.consent.grantee == me).collect();
    let write_classes: Vec<DataClass> = mine
        .iter()
        .filter(|c| c.status == ConsentStatus::Live && c.consent.actions.write)
        .flat_map(|c| c.consent.classes.clone())
        .collect();
    let done = |what: &'static str| {
        let notice = notice.clone();
        Callback::from(move |r: Result<Vec<ledger_protocol::wire::Receipt>, String>| {
            notice.set(Some(match r {
                Ok(rs) => (true, what.to_owned(), rs.first().map(|x| x.id.to_hex())),
                Err(m) => (false, m, None),
            }))
        })
    };
    let mut names = MapDirectory::default();
    names.accounts.insert(patient, pname.clone());
    let pharmacies: Vec<Account> =
        d.providers.values().filter(|a| a.role == Role::Pharmacy && a.is_active()).cloned().collect();
    let chosen_pharmacy = (*pharmacy).or_else(|| pharmacies.first().map(|a| a.address));
    // Sealed content is for the patient, this clinician and (a prescription) the pharmacy.
    let me_reader = session.account.as_ref().map(sealing::reader);
    let patient_reader = d.account.as_ref().map(sealing::reader);
    let prescribe = {
        let (signer, rx, names, done) =
            (signer.clone(), rx.clone(), names.clone(), done("Prescription signed and on the ledger."));
        let notice = notice.clone();
        let pharmacy = chosen_pharmacy.and_then(|a| d.providers.get(&a)).map(sealing::reader);
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (med, dose, qty, days) = (*rx).clone();
            let (Ok(quantity), Ok(days)) = (qty.trim().parse::<u32>(), days.trim().parse::<u64>()) else {
                return notice.set(Some((false, "Quantity and days must be whole numbers.".into(), None)));
            };
            let (Some(me), Some(pt), Some(ph)) = (me_reader, patient_reader, pharmacy) else {
                return notice.set(Some((false, "Choose a pharmacy registered at this hospital.".into(), None)));
            };
            let details = wallet::sealed::PrescriptionDetails {
                medication: med.trim().into(),
                dosage: dose.trim().into(),
                quantity,
                instructions: String::new(),
            };
            if let Err(e) = details.check() {
                return notice.set(Some((false, e.to_string(), None)));
            }
            let mut names = names.clone();
            let details = match sealing::seal(&details, &[pt, me, ph], &mut names) {
                Ok(s) => s,
                Err(m) => return notice.set(Some((false, m, None))),
            };
            signer.set(Some(SignRequest {
                title: "Prescribe".into(),
                bodies: vec![TxBody::Prescribe {
                    patient,
                    pharmacy: ph.address,
                    details,
                    valid_until: now_secs() + days * 86_400,
                }],
                names: Rc::new(names),
                on_done: done.clone(),
            }));
        })
    };
    let break_glass = {
        let (signer, bg, names, done) = (
            signer.clone(),
            bg.clone(),
            names.clone(),
            done("Emergency access opened. The patient will see it, with your justification."),
        );
        let notice = notice.clone();
        // The hospital's authorities and administrators, who review every break-glass.
        let mut reviewers = sealing::authorities(session.info.as_ref());
        reviewers.extend(d.providers.values().filter(|a| a.role == Role::Admin && a.is_active()).map(sealing::reader));
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (why, hours) = (*bg).clone();
            let Some(hours) = hours.trim().parse::<u64>().ok().filter(|h| (1..=MAX_BREAK_GLASS_HOURS).contains(h))
            else {
                return notice.set(Some((
                    false,
                    format!(
                        "Hours must be a whole number from 1 to {MAX_BREAK_GLASS_HOURS}; the hospital may extend it."
                    ),
                    None,
                )));
            };
            let text = wallet::sealed::Text { text: why.trim().into() };
            if let Err(e) = text.check_justification() {
                return notice.set(Some((false, e.to_string(), None)));
            }
            let (Some(me), Some(pt)) = (me_reader, patient_reader) else {
                return notice.set(Some((
                    false,
                    "The patient or your account is not known to the ledger.".into(),
                    None,
                )));
            };
            // The justification is for the patient, this clinician and the reviewers.
            let mut readers = vec![pt, me];
            readers.extend(reviewers.iter().copied());
            let mut names = names.clone();
            let justification = match sealing::seal(&text, &readers, &mut names) {
                Ok(s) => s,
                Err(m) => return notice.set(Some((false, m, None))),
            };
            signer.set(Some(SignRequest {
                title: "Break the glass (emergency access)".into(),
                bodies: vec![TxBody::BreakGlass { patient, justification, duration_secs: hours * 3600 }],
                names: Rc::new(names),
                on_done: done.clone(),
            }));
        })
    };
    let insurers: Vec<Account> =
        d.providers.values().filter(|a| a.role == Role::Insurer && a.is_active()).cloned().collect();
    let chosen_insurer = claim.insurer.or_else(|| insurers.first().map(|a| a.address));
    let file_claim = {
        let (signer, claim, names, done) =
            (signer.clone(), claim.clone(), names.clone(), done("Claim filed with the insurer."));
        let notice = notice.clone();
        let insurer = chosen_insurer.and_then(|a| d.providers.get(&a)).map(sealing::reader);
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let f = (*claim).clone();
            let amount_cents = match cents(&f.amount) {
                Ok(c) => c,
                Err(m) => return notice.set(Some((false, m, None))),
            };
            let details = wallet::sealed::ClaimDetails {
                amount_cents,
                currency: f.currency.trim().to_uppercase(),
                description: f.description.trim().to_owned(),
                codes: f.codes.split(',').map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect(),
            };
            if let Err(e) = details.check() {
                return notice.set(Some((false, e.to_string(), None)));
            }
            let (Some(me), Some(pt), Some(ins)) = (me_reader, patient_reader, insurer) else {
                return notice.set(Some((false, "Choose an insurer registered at this hospital.".into(), None)));
            };
            let mut names = names.clone();
            let details = match sealing::seal(&details, &[pt, me, ins], &mut names) {
                Ok(s) => s,
                Err(m) => return notice.set(Some((false, m, None))),
            };
            signer.set(Some(SignRequest {
                title: "File a claim".into(),
                bodies: vec![TxBody::Claim {
                    patient,
                    insurer: ins.address,
                    records: f.records.iter().copied().collect(),
                    details,
                }],
                names: Rc::new(names),
                on_done: done.clone(),
            }));
        })
    };
    let names = Rc::new(names);
    let add_note = {
        let (signer, note, names, d, id, done, notice) = (
            signer.clone(),
            note.clone(),
            names.clone(),
            d.clone(),
            id.clone(),
            done("Record added and anchored."),
            notice.clone(),
        );
        let my_name = session.account.as_ref().map(|a| a.name.clone()).unwrap_or_default();
        let wc = write_classes.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (title, text, class) = (*note).clone();
            let Some(class) = class.or_else(|| wc.first().copied()) else { return };
            if title.trim().is_empty() || text.trim().is_empty() {
                return notice.set(Some((false, "Give the record a title and some text.".into(), None)));
            }
            let resource = serde_json::json!({
                "resourceType": "Observation", "status": "final",
                "code": { "text": title.trim() }, "valueString": text.trim(),
                "effectiveDateTime": js_sys::Date::new_0().to_iso_string().as_string(),
                "performer": [{ "display": my_name }],
                "subject": { "display": d.account.as_ref().map(|a| a.name.clone()) }
            })
            .to_string();
            let (signer, names, d, id, done, notice) =
                (signer.clone(), names.clone(), d.clone(), id.clone(), done.clone(), notice.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let mut readers: Vec<(Address, ledger_protocol::PublicKey)> = vec![(me, id.encryption_public_key())];
                if let Some(acc) = &d.account {
                    readers.push((acc.address, acc.encryption_key));
                }
                for c in d.consents.iter().filter(|c| {
                    c.status == ConsentStatus::Live && c.consent.actions.read && c.consent.classes.contains(&class)
                }) {
                    if let Some(p) = d.providers.get(&c.consent.grantee)
                        && !readers.iter().any(|(a, _)| *a == p.address)
                    {
                        readers.push((p.address, p.encryption_key));
                    }
                }
                let (blob, keys) = match crate::pages::record::seal_and_upload(resource.as_bytes(), &readers).await {
                    Ok(done) => done,
                    Err(e) => return notice.set(Some((false, e, None))),
                };
                signer.set(Some(SignRequest {
                    title: "Add a record".into(),
                    bodies: vec![TxBody::AnchorRecord {
                        patient,
                        content_hash: wallet::content_hash(resource.as_bytes()),
                        size: resource.len() as u64,
                        class,
                        blob,
                        keys,
                    }],
                    names,
                    on_done: done,
                }));
            });
        })
    };
    html! {
        <main>
            <h1>{ pname.clone() }</h1>
            if d.access_ended {
                <p id="break-glass-ended" class="notice warning" role="status">
                    { "Your emergency access to this patient has ended: their records are closed to you again. Break the glass anew, with a justification, if the emergency continues." }
                </p>
            }
            if let Some((ok, m, id)) = &*notice {
                if *ok { <p id="provider-result" class="notice" role="status" data-id={id.clone()}>{ m.clone() }</p> } else { <ErrorBox id="provider-error" text={m.clone()} /> }
            }
            <section class="card">
                <h2>{ "Consents you hold" }</h2>
                <ul class="list" id="my-consents">
                    { for mine.iter().map(|c| html! {
                        <li class="consent-item" data-status={crate::pages::patient::status_word(c.status)}>
                            { format!("{} {} for {} — ", c.consent.actions.human(), c.consent.classes.iter().map(|k| k.human()).collect::<Vec<_>>().join(", "), c.consent.purpose.human()) }
                            { match c.status {
                                ConsentStatus::Live => format!("lapses {}", datetime(c.consent.valid_until)),
                                ConsentStatus::Expired => format!("expired {}", datetime(c.consent.valid_until)),
                                ConsentStatus::Revoked => "revoked by the patient".to_owned(),
                                ConsentStatus::NotYetValid => format!("starts {}", datetime(c.consent.valid_from)),
                            } }
                        </li>
                    }) }
                </ul>
            </section>
            <section class="card">
                <h2>{ format!("Records ({})", d.records.len()) }</h2>
                <p>{ "Opening a record asks the node for it with your signature; the patient sees every read." }</p>
                <ul class="list" id="patient-records">
                    { for d.records.iter().map(|r| html! {
                        <li class="record-item" data-record-id={r.id.to_hex()} data-has-key={r.keys.contains_key(&me).to_string()}>
                            <Link<Route> to={Route::Record { id: r.id.to_hex() }} classes="open-record">{ format!("{} record {}", r.class.human(), short(&r.id)) }</Link<Route>>
                            { format!(" · {}", datetime(r.anchored_at)) }
                            if r.class == DataClass::EmergencySummary && !r.keys.contains_key(&me) {
                                <span class="badge emergency">{ "its key comes from the hospital under break-glass" }</span>
                            } else if !r.keys.contains_key(&me) {
                                <span class="badge">{ "no key for you" }</span>
                            }
                        </li>
                    }) }
                </ul>
            </section>
            if clinician {
                <div class="grid">
                    <form class="card" onsubmit={prescribe}>
                        <h2>{ "Prescribe" }</h2>
                        <label for="rx-medication">{ "Medication" }</label>
                        <input id="rx-medication" value={rx.0.clone()} oninput={ let s = rx.clone(); Callback::from(move |e: InputEvent| { let mut v = (*s).clone(); v.0 = text_value(&e); s.set(v); }) } />
                        <label for="rx-dosage">{ "Dosage" }</label>
                        <input id="rx-dosage" value={rx.1.clone()} oninput={ let s = rx.clone(); Callback::from(move |e: InputEvent| { let mut v = (*s).clone(); v.1 = text_value(&e); s.set(v); }) } />
                        <label for="rx-quantity">{ "Quantity" }</label>
                        <input id="rx-quantity" inputmode="numeric" value={rx.2.clone()} oninput={ let s = rx.clone(); Callback::from(move |e: InputEvent| { let mut v = (*s).clone(); v.2 = text_value(&e); s.set(v); }) } />
                        <label for="rx-pharmacy">{ "Pharmacy (the only one that may dispense it)" }</label>
                        <select id="rx-pharmacy" onchange={ let s = pharmacy.clone(); Callback::from(move |e: Event| s.set(Address::from_hex(&input_value(&e)).ok())) }>
                            { for pharmacies.iter().map(|p| html! { <option value={p.address.to_hex()} selected={Some(p.address) == chosen_pharmacy}>{ p.name.clone() }</option> }) }
                        </select>
                        <label for="rx-days">{ "Valid for (days)" }</label>
                        <input id="rx-days" inputmode="numeric" value={rx.3.clone()} oninput={ let s = rx.clone(); Callback::from(move |e: InputEvent| { let mut v = (*s).clone(); v.3 = text_value(&e); s.set(v); }) } />
                        <button id="rx-submit" type="submit">{ "Review and sign" }</button>
                    </form>
                    <form class="card" onsubmit={break_glass}>
                        <h2>{ "Emergency access (break the glass)" }</h2>
                        <p>{ format!("Only in an emergency. It lasts at most {MAX_BREAK_GLASS_HOURS} hours on your word; the hospital reviews it and may let it last a day. The patient is told, with your words.") }</p>
                        <label for="bg-justification">{ "Why (at least 20 characters)" }</label>
                        <textarea id="bg-justification" rows="3" value={bg.0.clone()} oninput={ let s = bg.clone(); Callback::from(move |e: InputEvent| { let mut v = (*s).clone(); v.0 = e.target_unchecked_into::<web_sys::HtmlTextAreaElement>().value(); s.set(v); }) } />
                        <label for="bg-hours">{ format!("For how many hours (1–{MAX_BREAK_GLASS_HOURS})") }</label>
                        <input id="bg-hours" inputmode="numeric" value={bg.1.clone()} oninput={ let s = bg.clone(); Callback::from(move |e: InputEvent| { let mut v = (*s).clone(); v.1 = text_value(&e); s.set(v); }) } />
                        <button id="bg-submit" type="submit" class="danger">{ "Break the glass" }</button>
                    </form>
                    <form class="card" onsubmit={file_claim} id="claim-form">
                        <h2>{ "File a claim" }</h2>
                        <p>{ "The amount, codes and description are sealed for the patient, you and the insurer. The patient must have given the insurer a payment consent." }</p>
                        <label for="claim-insurer">{ "Insurer" }</label>
                        <select id="claim-insurer" onchange={ let s = claim.clone(); Callback::from(move |e: Event| { let mut v = (*s).clone(); v.insurer = Address::from_hex(&input_value(&e)).ok(); s.set(v); }) }>
                            { for insurers.iter().map(|p| html! { <option value={p.address.to_hex()} selected={Some(p.address) == chosen_insurer}>{ p.name.clone() }</option> }) }
                        </select>
                        <label for="claim-amount">{ "Amount" }</label>
                        <input id="claim-amount" inputmode="decimal" placeholder="120.00" value={claim.amount.clone()} oninput={ let s = claim.clone(); Callback::from(move |e: InputEvent| { let mut v = (*s).clone(); v.amount = text_value(&e); s.set(v); }) } />
                        <label for="claim-currency">{ "Currency (ISO 4217)" }</label>
                        <input id="claim-currency" value={claim.currency.clone()} oninput={ let s = claim.clone(); Callback::from(move |e: InputEvent| { let mut v = (*s).clone(); v.currency = text_value(&e); s.set(v); }) } />
                        <label for="claim-description">{ "The care it is for" }</label>
                        <input id="claim-description" value={claim.description.clone()} oninput={ let s = claim.clone(); Callback::from(move |e: InputEvent| { let mut v = (*s).clone(); v.description = text_value(&e); s.set(v); }) } />
                        <label for="claim-codes">{ "Billing codes (comma-separated, optional)" }</label>
                        <input id="claim-codes" value={claim.codes.clone()} oninput={ let s = claim.clone(); Callback::from(move |e: InputEvent| { let mut v = (*s).clone(); v.codes = text_value(&e); s.set(v); }) } />
                        <fieldset>
                            <legend>{ "Linked records" }</legend>
                            { for d.records.iter().take(50).map(|r| {
                                let id = r.id;
                                let s = claim.clone();
                                html! {
                                    <label class="check">
                                        <input type="checkbox" class="claim-record" data-record-id={r.id.to_hex()} checked={claim.records.contains(&r.id)}
                                            onchange={ Callback::from(move |e: Event| { let mut v = (*s).clone(); if input_checked(&e) { v.records.insert(id); } else { v.records.remove(&id); } s.set(v); }) } />
                                        { format!(" {} record {} · {}", r.class.human(), short(&r.id), date(r.anchored_at)) }
                                    </label>
                                }
                            }) }
                        </fieldset>
                        <button id="claim-submit" type="submit">{ "Seal, review and sign" }</button>
                    </form>
                    if !write_classes.is_empty() {
                        <form class="card" onsubmit={add_note}>
                            <h2>{ "Add a record" }</h2>
                            <label for="note-class">{ "Kind" }</label>
                            <select id="note-class" onchange={ let s = note.clone(); let wc = write_classes.clone(); Callback::from(move |e: Event| { let mut v = (*s).clone(); v.2 = input_value(&e).parse::<usize>().ok().and_then(|i| wc.get(i).copied()); s.set(v); }) }>
                                { for write_classes.iter().enumerate().map(|(i, k)| html! { <option value={i.to_string()}>{ k.human() }</option> }) }
                            </select>
                            <label for="note-title">{ "Title" }</label>
                            <input id="note-title" value={note.0.clone()} oninput={ let s = note.clone(); Callback::from(move |e: InputEvent| { let mut v = (*s).clone(); v.0 = text_value(&e); s.set(v); }) } />
                            <label for="note-text">{ "Text" }</label>
                            <textarea id="note-text" rows="4" value={note.1.clone()} oninput={ let s = note.clone(); Callback::from(move |e: InputEvent| { let mut v = (*s).clone(); v.1 = e.target_unchecked_into::<web_sys::HtmlTextAreaElement>().value(); s.set(v); }) } />
                            <button id="note-submit" type="submit">{ "Encrypt, review and sign" }</button>
                        </form>
                    }
                </div>
            }
            <section class="card">
                <h2>{ "Prescriptions" }</h2>
                <ul class="list">
                    { for d.prescriptions.iter().map(|p| {
                        let what = match sealing::open::<wallet::sealed::PrescriptionDetails>(&session, &p.details) {
                            Some(rx) => format!("{} — {} × {}", rx.medication, rx.quantity, rx.dosage),
                            None => "Sealed for its prescriber, the patient and the pharmacy".to_owned(),
                        };
                        html! {
                            <li data-prescription-id={p.id.to_hex()}>{ format!("{what} · {} · id {}", if p.dispensed.is_some() { "dispensed" } else { "not dispensed" }, p.id.to_hex()) }</li>
                        }
                    }) }
                </ul>
            </section>
            { if d.records.is_empty() { html! { <Notice text="This patient has no records yet." /> } } else { html! {} } }
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::cents;

    #[test]
    fn amounts_read_as_cents() {
        assert_eq!(cents("120"), Ok(12_000));
        assert_eq!(cents("120.5"), Ok(12_050));
        assert_eq!(cents(" 0.07 "), Ok(7));
        for bad in ["", "12.345", "-1", "1,50", "abc", ".5", "99999999999999999999"] {
            assert!(cents(bad).is_err(), "{bad:?}");
        }
    }
}
