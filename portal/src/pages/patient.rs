//! The patient's pages: register, the dashboard (records, consents, who accessed my
//! data, live), importing FHIR records (encrypted here, uploaded, anchored), and granting
//! consent (with the record keys wrapped for the new reader).

use crate::api::{self, Audit, ConsentView};
use crate::app::{Route, home_of};
use crate::components::confirm::{SignRequest, use_signer};
use crate::components::ui::{
    ErrorBox, Notice, date, datetime, download, input_checked, input_value, now_secs, short, text_value,
};
use crate::fhir;
use crate::pages::emergency::{EmergencyNotices, EmergencySummaryCard};
use crate::sealing;
use crate::session::{self, use_session};
use ledger_protocol::state::{Account, AuditEntry, Claim, ConsentStatus, Prescription, Record};
use ledger_protocol::{AccessBasis, Actions, Address, DataClass, Purpose, TxBody, WrappedKey};
use std::collections::BTreeMap;
use std::rc::Rc;
use wallet::MapDirectory;
use yew::prelude::*;
use yew_router::prelude::*;

#[function_component(Register)]
pub fn register() -> Html {
    let session = use_session();
    let signer = use_signer();
    let navigator = use_navigator();
    let name = use_state(String::new);
    let findable = use_state(|| true);
    let error = use_state(|| None::<String>);
    if session.unlocked.is_none() {
        return html! { <main class="narrow"><p>{ "Unlock or create a wallet first. " }<Link<Route> to={Route::Home}>{ "Start" }</Link<Route>></p></main> };
    }
    if let Some(acc) = &session.account {
        return html! { <main class="narrow"><p>{ format!("You are registered as {} ({}). ", acc.name, acc.role.human()) }<Link<Route> to={home_of(Some(acc.role))}>{ "Continue" }</Link<Route>></p></main> };
    }
    let submit = {
        let (session, signer, navigator, name, error, findable) =
            (session.clone(), signer.clone(), navigator.clone(), name.clone(), error.clone(), findable.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(id) = session.identity() else { return };
            if name.trim().is_empty() {
                return error.set(Some("Type your name as your care providers should see it.".into()));
            }
            let (session, navigator, error) = (session.clone(), navigator.clone(), error.clone());
            // The name is sealed: for the patient, and for the hospital if they let it find
            // them in an emergency. Only its ciphertext goes on the ledger.
            let mut readers =
                vec![wallet::sealed::Reader { address: id.address(), encryption_key: id.encryption_public_key() }];
            if *findable {
                readers.extend(sealing::authorities(session.info.as_ref()));
            }
            let mut names = MapDirectory::default();
            let profile = wallet::sealed::PatientProfile { name: name.trim().to_owned(), birth_date: None };
            let profile = match sealing::seal(&profile, &readers, &mut names) {
                Ok(p) => p,
                Err(m) => return error.set(Some(m)),
            };
            signer.set(Some(SignRequest {
                title: "Register as a patient".into(),
                bodies: vec![TxBody::RegisterPatient { encryption_key: id.encryption_public_key(), profile }],
                names: Rc::new(names),
                on_done: Callback::from(move |r: Result<_, String>| match r {
                    Ok(_) => {
                        session::refresh(&session);
                        if let Some(n) = &navigator {
                            n.push(&Route::Patient);
                        }
                    }
                    Err(m) => error.set(Some(m)),
                }),
            }));
        })
    };
    html! {
        <main class="narrow">
            <h1>{ "Register on the ledger" }</h1>
            <form class="card" onsubmit={submit}>
                <p>{ "Providers are registered by their hospital. If you are a patient, register yourself here. Your public keys go on the ledger; your name goes there only encrypted, so only you (and the hospital, if you let it) can read it." }</p>
                <label for="register-name">{ "Your name" }</label>
                <input id="register-name" autocomplete="name" value={(*name).clone()} oninput={ let s = name.clone(); Callback::from(move |e: InputEvent| s.set(text_value(&e))) } />
                <label class="check"><input id="register-findable" type="checkbox" checked={*findable} onchange={ let s = findable.clone(); Callback::from(move |e: Event| s.set(input_checked(&e))) } />{ " Let the hospital find me by name in an emergency (it can read my name, nothing else)" }</label>
                if let Some(e) = &*error { <ErrorBox id="register-error" text={e.clone()} /> }
                <button id="register-submit" type="submit">{ "Register as a patient" }</button>
            </form>
            if let Some(id) = session.identity() {
                <section class="card" id="staff-keys">
                    <h2>{ "Joining as staff?" }</h2>
                    <p>{ "Give these two public keys to your hospital's administrator, who registers you with your role. They are public: they let others check your signature and encrypt for you, nothing more." }</p>
                    <dl class="details">
                        <dt>{ "Signing public key" }</dt><dd><code id="my-signing-key">{ id.public_key().to_hex() }</code></dd>
                        <dt>{ "Encryption public key" }</dt><dd><code id="my-encryption-key">{ id.encryption_public_key().to_hex() }</code></dd>
                    </dl>
                </section>
            }
        </main>
    }
}

/// Everything the dashboard shows, loaded together.
#[derive(Clone, PartialEq, Default)]
struct PatientData {
    records: Vec<Record>,
    consents: Vec<ConsentView>,
    audit: Option<Audit>,
    providers: BTreeMap<Address, Account>,
    prescriptions: Vec<Prescription>,
    claims: Vec<Claim>,
}

/// The patient's records of `classes` that `reader` holds no key for, each as a
/// `ShareRecordKey` of the record's key re-wrapped from the patient's for the reader's
/// encryption key, with their names for the confirmation sheet.
fn share_keys(
    id: &wallet::Identity,
    me: Address,
    records: &[Record],
    classes: &[DataClass],
    reader: &Account,
) -> Result<(Vec<TxBody>, MapDirectory), String> {
    let (mut bodies, mut names, mut rng) = (Vec::new(), MapDirectory::default(), rand_core::OsRng);
    for r in records.iter().filter(|r| classes.contains(&r.class) && !r.keys.contains_key(&reader.address)) {
        let Some(mine) = r.keys.get(&me) else { continue };
        let key = wallet::unwrap_key(id, &mine.wrapped)
            .map_err(|e| format!("Record {} could not be opened with your key: {e}", short(&r.id)))?;
        let wrapped = wallet::wrap_key(&key, &reader.encryption_key, &mut rng).map_err(|e| e.to_string())?;
        bodies.push(TxBody::ShareRecordKey { record: r.id, key: WrappedKey { reader: reader.address, wrapped } });
        names.records.insert(r.id, format!("your {} record {}", r.class.human(), short(&r.id)));
    }
    Ok((bodies, names))
}

async fn load(me: Address) -> Result<PatientData, String> {
    let (records, consents, audit, providers) =
        (api::records(&me).await, api::consents(&me).await, api::audit(&me).await, api::providers().await);
    let (prescriptions, claims) = (api::prescriptions(&me).await, api::claims(&me).await);
    Ok(PatientData {
        records: records.map_err(|e| e.message)?,
        consents: consents.map_err(|e| e.message)?,
        audit: Some(audit.map_err(|e| e.message)?),
        providers: providers.map_err(|e| e.message)?.into_iter().map(|a| (a.address, a)).collect(),
        prescriptions: prescriptions.map_err(|e| e.message)?,
        claims: claims.map_err(|e| e.message)?,
    })
}

/// Loads the patient's data now, whenever something is committed, and when a new block
/// arrives (polled every 3 seconds).
#[hook]
fn use_patient_data() -> (UseStateHandle<Option<Result<PatientData, String>>>, Option<Address>) {
    let session = use_session();
    let data = use_state(|| None);
    let height = session::use_chain_height();
    let me = session.address();
    {
        let data = data.clone();
        use_effect_with((me, session.generation, height), move |(me, _, _)| {
            if let Some(me) = *me {
                wasm_bindgen_futures::spawn_local(async move { data.set(Some(load(me).await)) });
            }
        });
    }
    (data, me)
}

fn name_of(providers: &BTreeMap<Address, Account>, a: &Address) -> String {
    providers.get(a).map_or_else(|| format!("account {}", &a.to_hex()[..10]), |p| p.label())
}

pub fn status_word(s: ConsentStatus) -> &'static str {
    match s {
        ConsentStatus::Live => "live",
        ConsentStatus::NotYetValid => "not yet valid",
        ConsentStatus::Expired => "expired",
        ConsentStatus::Revoked => "revoked",
    }
}

fn classes_text(c: &[DataClass]) -> String {
    c.iter().map(|k| k.human()).collect::<Vec<_>>().join(", ")
}

#[function_component(Dashboard)]
pub fn dashboard() -> Html {
    let session = use_session();
    let signer = use_signer();
    let (data, me) = use_patient_data();
    let notice = use_state(|| None::<String>);
    let Some(me) = me else {
        return html! { <main><p>{ "The wallet is locked. " }<Link<Route> to={Route::Home}>{ "Unlock it" }</Link<Route>></p></main> };
    };
    let d = match &*data {
        None => return html! { <main><p role="status">{ "Loading your records…" }</p></main> },
        Some(Err(e)) => return html! { <main><ErrorBox text={e.clone()} /></main> },
        Some(Ok(d)) => d.clone(),
    };
    let record_class: BTreeMap<_, _> = d.records.iter().map(|r| (r.id, r.class)).collect();
    let revoke = |c: &ConsentView| {
        let (signer, notice, id) = (signer.clone(), notice.clone(), c.consent.id);
        let mut names = MapDirectory::default();
        names.consents.insert(id, format!("your consent for {}", name_of(&d.providers, &c.consent.grantee)));
        let names = Rc::new(names);
        Callback::from(move |_| {
            let notice = notice.clone();
            signer.set(Some(SignRequest {
                title: "Revoke a consent".into(),
                bodies: vec![TxBody::RevokeConsent { consent: id }],
                names: names.clone(),
                on_done: Callback::from(move |r: Result<_, String>| {
                    notice.set(Some(match r {
                        Ok(_) => "Consent revoked. The provider can no longer read your records under it.".into(),
                        Err(m) => m,
                    }))
                }),
            }));
        })
    };
    // Records a live reading consent covers whose key the reader lacks: a member of staff
    // given new keys by the hospital, or records added before the consent by another device.
    let unshared = |c: &ConsentView| -> usize {
        let k = &c.consent;
        if c.status != ConsentStatus::Live || !k.actions.read {
            return 0;
        }
        d.records
            .iter()
            .filter(|r| k.classes.contains(&r.class) && r.keys.contains_key(&me) && !r.keys.contains_key(&k.grantee))
            .count()
    };
    let share_again = |c: &ConsentView| {
        let (signer, notice, session, d) = (signer.clone(), notice.clone(), session.clone(), d.clone());
        let (classes, grantee) = (c.consent.classes.clone(), c.consent.grantee);
        Callback::from(move |_| {
            let (Some(id), Some(reader)) = (session.identity(), d.providers.get(&grantee)) else { return };
            let (bodies, names) = match share_keys(&id, me, &d.records, &classes, reader) {
                Ok(x) => x,
                Err(m) => return notice.set(Some(m)),
            };
            let notice = notice.clone();
            signer.set(Some(SignRequest {
                title: format!("Share records with {}", reader.name),
                bodies,
                names: Rc::new(names),
                on_done: Callback::from(move |r: Result<_, String>| {
                    notice.set(Some(match r {
                        Ok(_) => "Shared: they can open these records with their current key.".into(),
                        Err(m) => m,
                    }))
                }),
            }));
        })
    };
    let export = {
        let (d, notice, session) = (d.clone(), notice.clone(), session.clone());
        Callback::from(move |_| {
            let my_name = session.account.as_ref().map(|a| a.name.clone()).unwrap_or_default();
            let now = now_secs();
            let mut resources: Vec<_> = d
                .consents
                .iter()
                .map(|c| fhir::consent_resource(&c.consent, &my_name, &name_of(&d.providers, &c.consent.grantee), now))
                .collect();
            if let Some(a) = &d.audit {
                resources.extend(a.entries.iter().map(|e| {
                    fhir::audit_event_resource(e, &me.to_hex(), &|x| name_of(&d.providers, x), &|s| {
                        sealing::open_text(&session, s)
                    })
                }));
            }
            let text = serde_json::to_string_pretty(&fhir::bundle(resources)).unwrap_or_default();
            notice.set(Some(
                match download("healthchain-consents-and-access-log.fhir.json", "application/fhir+json", &text) {
                    Ok(()) => {
                        "Exported your consents and access log as FHIR R4 Consent and AuditEvent resources.".into()
                    }
                    Err(e) => e,
                },
            ));
        })
    };
    let audit = d.audit.clone().unwrap_or(Audit { entries: vec![], refused: vec![] });
    // Accesses, break-glass and refused attempts, merged newest first.
    let entry_item = |e: &AuditEntry| -> (u64, Html) {
        match e {
            AuditEntry::Access { tx, at, record, reader, basis, .. } => {
                let (basis_text, glass) = match basis {
                    AccessBasis::Consent(c) => (format!("under consent {}", short(c)), false),
                    AccessBasis::BreakGlass(b) => (format!("under emergency break-glass {}", short(b)), true),
                };
                let what =
                    record_class.get(record).map_or("a record".to_owned(), |c| format!("a {} record", c.human()));
                (
                    *at,
                    html! {
                        <li class={classes!("access-item", glass.then_some("break-glass"))} data-reader={reader.to_hex()} data-tx={tx.to_hex()}>
                            <strong>{ name_of(&d.providers, reader) }</strong>{ format!(" read {what} ({}) on {} {basis_text}", short(record), datetime(*at)) }
                        </li>
                    },
                )
            }
            AuditEntry::BreakGlass { tx, at, clinician, justification, until } => (
                *at,
                html! {
                    <li class="access-item break-glass" data-reader={clinician.to_hex()} data-tx={tx.to_hex()}>
                        <strong>{ format!("Emergency access: {}", name_of(&d.providers, clinician)) }</strong>
                        { format!(" broke the glass on {} until {}: “{}”", datetime(*at), datetime(*until),
                            sealing::open_text(&session, justification).unwrap_or_else(|| "(the justification is sealed and this wallet cannot open it)".into())) }
                    </li>
                },
            ),
            AuditEntry::BreakGlassReviewed { tx, at, grant, clinician, reviewer, until } => (
                *at,
                html! {
                    <li class="access-item break-glass reviewed" data-reader={clinician.to_hex()} data-tx={tx.to_hex()}>
                        <strong>{ format!("Emergency access reviewed: {}", name_of(&d.providers, reviewer)) }</strong>
                        { if until <= at {
                            format!(" ended {}'s emergency access {} on {}", name_of(&d.providers, clinician), short(grant), datetime(*at))
                        } else {
                            format!(" let {}'s emergency access {} last until {} (reviewed on {})", name_of(&d.providers, clinician), short(grant), datetime(*until), datetime(*at))
                        } }
                    </li>
                },
            ),
            AuditEntry::ShareLinkUsed { tx, at, link, opened, recipient, .. } => {
                let who = sealing::open_text(&session, recipient).unwrap_or_else(|| "someone (sealed)".into());
                let what = if *opened { "opened" } else { "was refused (wrong passcode) at" };
                (
                    *at,
                    html! {
                        <li class={classes!("access-item", "share-link", (!opened).then_some("refused"))} data-tx={tx.to_hex()}>
                            <strong>{ format!("“{who}”") }</strong>{ format!(" {what} your share link {} on {}", short(link), datetime(*at)) }
                        </li>
                    },
                )
            }
        }
    };
    let refused_item = |r: &api::Refusal| -> (u64, Html) {
        (
            r.at,
            html! {
                <li class="access-item refused" data-reader={r.reader.to_hex()}>
                    <strong>{ format!("Refused: {}", name_of(&d.providers, &r.reader)) }</strong>
                    { format!(" tried to read record {} on {} ({})", short(&r.record), datetime(r.at), r.code) }
                </li>
            },
        )
    };
    let mut log: Vec<(u64, Html)> =
        audit.entries.iter().map(entry_item).chain(audit.refused.iter().map(refused_item)).collect();
    log.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let mut by_class: BTreeMap<DataClass, Vec<&Record>> = BTreeMap::new();
    for r in &d.records {
        by_class.entry(r.class).or_default().push(r);
    }
    let now = now_secs();
    html! {
        <main>
            <h1>{ "Your health records" }</h1>
            <p class="actions">
                <Link<Route> to={Route::Import} classes="button"><span id="go-import">{ "Import records" }</span></Link<Route>>
                <Link<Route> to={Route::Grant} classes="button"><span id="go-grant">{ "Grant consent" }</span></Link<Route>>
                <button id="export-fhir" class="secondary" onclick={export}>{ "Export consents and access log (FHIR)" }</button>
            </p>
            if let Some(n) = &*notice { <Notice id="dashboard-notice" text={n.clone()} /> }
            <EmergencyNotices me={me} entries={audit.entries.clone()} providers={Rc::new(d.providers.clone())} record_class={Rc::new(record_class.clone())} />
            <p class="card" id="my-patient-id">{ "My patient ID (show it to a clinician in an emergency): " }<code>{ me.to_hex() }</code></p>
            <EmergencySummaryCard records={Rc::new(d.records.clone())} />
            <div class="grid">
                <section class="card" aria-labelledby="log-title">
                    <h2 id="log-title">{ "Who accessed my data" }</h2>
                    if audit.entries.is_empty() && audit.refused.is_empty() {
                        <p>{ "Nobody has read your records yet." }</p>
                    }
                    <ol id="access-log" class="log">
                        { for log.into_iter().map(|(_, item)| item) }
                    </ol>
                </section>
                <section class="card" aria-labelledby="consents-title">
                    <h2 id="consents-title">{ "My consents" }</h2>
                    if d.consents.is_empty() { <p>{ "You have not granted any consent." }</p> }
                    <ul id="consents-list" class="list">
                        { for d.consents.iter().map(|c| {
                            let k = &c.consent;
                            let open = matches!(c.status, ConsentStatus::Live | ConsentStatus::NotYetValid);
                            html! {
                                <li class={classes!("consent-item", status_word(c.status).replace(' ', "-"))} data-consent-id={k.id.to_hex()} data-status={status_word(c.status)}>
                                    <span class="badge">{ status_word(c.status) }</span>
                                    { format!(" {} may {} your {} for {}, {} to {}", name_of(&d.providers, &k.grantee), k.actions.human(), classes_text(&k.classes), k.purpose.human(), date(k.valid_from), date(k.valid_until.saturating_sub(1))) }
                                    if open { <button class="revoke secondary" onclick={revoke(c)}>{ "Revoke" }</button> }
                                    if unshared(c) > 0 {
                                        <p class="share-again">
                                            { match d.providers.get(&k.grantee).and_then(|a| a.rekeyed_at) {
                                                Some(t) => format!("{} has new keys since {}: {} of your records are not readable with them yet. ", name_of(&d.providers, &k.grantee), datetime(t), unshared(c)),
                                                None => format!("{} of your records under this consent are not shared with {} yet. ", unshared(c), name_of(&d.providers, &k.grantee)),
                                            } }
                                            <button class="share-again secondary" onclick={share_again(c)}>{ "Share them" }</button>
                                        </p>
                                    }
                                </li>
                            }
                        }) }
                    </ul>
                </section>
            </div>
            <div class="grid">
                <section class="card" aria-labelledby="rx-title">
                    <h2 id="rx-title">{ "My prescriptions" }</h2>
                    if d.prescriptions.is_empty() { <p>{ "No prescriptions." }</p> }
                    <ul id="my-prescriptions" class="list">
                        { for d.prescriptions.iter().map(|p| {
                            let what = sealing::open::<wallet::sealed::PrescriptionDetails>(&session, &p.details)
                                .map_or_else(|| "A prescription sealed for someone else".to_owned(), |rx| format!("{} — {} × {}", rx.medication, rx.quantity, rx.dosage));
                            let state = match &p.dispensed {
                                Some(disp) => format!("dispensed by {} on {}", name_of(&d.providers, &disp.pharmacy), datetime(disp.at)),
                                None if now >= p.valid_until => "expired".to_owned(),
                                None => format!("to collect at {} until {}", name_of(&d.providers, &p.pharmacy), date(p.valid_until)),
                            };
                            html! { <li class="prescription-item" data-prescription-id={p.id.to_hex()}>{ format!("{what} · from {} · {state}", name_of(&d.providers, &p.prescriber)) }</li> }
                        }) }
                    </ul>
                </section>
                <section class="card" aria-labelledby="claims-title">
                    <h2 id="claims-title">{ "Claims for my care" }</h2>
                    if d.claims.is_empty() { <p>{ "No claims." }</p> }
                    <ul id="my-claims" class="list">
                        { for d.claims.iter().map(|c| {
                            let what = sealing::open::<wallet::sealed::ClaimDetails>(&session, &c.details)
                                .map_or_else(|| "A claim sealed for someone else".to_owned(), |x| format!("{} {:.2} for {}", x.currency, x.amount_cents as f64 / 100.0, x.description));
                            let state = match &c.decision {
                                Some(dec) => {
                                    let reason = sealing::open_text(&session, &dec.reason).filter(|r| !r.trim().is_empty()).map(|r| format!(": {r}")).unwrap_or_default();
                                    format!("{} by {} on {}{reason}", if dec.approved { "approved" } else { "denied" }, name_of(&d.providers, &c.insurer), datetime(dec.at))
                                }
                                None => format!("waiting for {}", name_of(&d.providers, &c.insurer)),
                            };
                            html! { <li class="claim-item" data-claim-id={c.id.to_hex()} data-state={if c.decision.as_ref().is_some_and(|x| x.approved) { "approved" } else if c.decision.is_some() { "denied" } else { "pending" }}>{ format!("{what} · filed by {} · {state}", name_of(&d.providers, &c.provider)) }</li> }
                        }) }
                    </ul>
                </section>
            </div>
            <section class="card" aria-labelledby="records-title">
                <h2 id="records-title">{ format!("My records ({})", d.records.len()) }</h2>
                if d.records.is_empty() { <p>{ "No records yet. Import your history from a FHIR file." }</p> }
                <div id="records-list">
                    { for by_class.iter().map(|(class, rs)| html! {
                        <details open={by_class.len() == 1}>
                            <summary>{ format!("{} ({})", class.human(), rs.len()) }</summary>
                            <ul class="list">
                                { for rs.iter().map(|r| html! {
                                    <li class="record-item" data-record-id={r.id.to_hex()}>
                                        <Link<Route> to={Route::Record { id: r.id.to_hex() }}>{ format!("{} record {}", r.class.human(), short(&r.id)) }</Link<Route>>
                                        { format!(" · anchored {} · {} bytes · readable by {}", datetime(r.anchored_at), r.size, r.keys.len()) }
                                    </li>
                                }) }
                            </ul>
                        </details>
                    }) }
                </div>
            </section>
        </main>
    }
}

#[derive(Clone, PartialEq)]
enum ImportState {
    Idle,
    Parsed(Rc<Vec<fhir::Resource>>),
    Working(String),
    Done(String),
}

#[function_component(Import)]
pub fn import() -> Html {
    let session = use_session();
    let signer = use_signer();
    let state = use_state(|| ImportState::Idle);
    let error = use_state(|| None::<String>);
    let Some(id) = session.identity() else {
        return html! { <main><p>{ "The wallet is locked. " }<Link<Route> to={Route::Home}>{ "Unlock it" }</Link<Route>></p></main> };
    };
    let choose = {
        let (state, error) = (state.clone(), error.clone());
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            let Some(list) = input.files() else { return };
            let files: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
            let (state, error) = (state.clone(), error.clone());
            state.set(ImportState::Working("Reading the files…".into()));
            wasm_bindgen_futures::spawn_local(async move {
                let mut all = Vec::new();
                for f in files {
                    let name = f.name();
                    if f.size() as usize > fhir::MAX_IMPORT_BYTES {
                        state.set(ImportState::Idle);
                        return error.set(Some(
                            fhir::ImportError::TooLarge { file: name, bytes: f.size() as usize }.to_string(),
                        ));
                    }
                    let text = match gloo_file::futures::read_as_text(&gloo_file::File::from(f)).await {
                        Ok(t) => t,
                        Err(e) => {
                            state.set(ImportState::Idle);
                            return error.set(Some(format!("{name} could not be read: {e}")));
                        }
                    };
                    match fhir::parse_file(&name, &text) {
                        Ok(r) => all.extend(r),
                        Err(e) => {
                            state.set(ImportState::Idle);
                            return error.set(Some(e.to_string()));
                        }
                    }
                }
                error.set(None);
                state.set(ImportState::Parsed(Rc::new(all)));
            });
        })
    };
    let start = {
        let (state, error, signer, id) = (state.clone(), error.clone(), signer.clone(), id.clone());
        Callback::from(move |_| {
            let ImportState::Parsed(resources) = (*state).clone() else { return };
            let (state, error, signer, id) = (state.clone(), error.clone(), signer.clone(), id.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let me = id.address();
                let fail = |m: String| {
                    state.set(ImportState::Idle);
                    error.set(Some(format!("{m} Nothing was anchored; try again.")));
                };
                // Who may read each class right now: the grantees of live read consents.
                let (consents, providers) = match (api::consents(&me).await, api::providers().await) {
                    (Ok(c), Ok(p)) => (c, p),
                    (Err(e), _) | (_, Err(e)) => return fail(e.message),
                };
                let keys_of: BTreeMap<Address, _> = providers.iter().map(|p| (p.address, p.encryption_key)).collect();
                let mut rng = rand_core::OsRng;
                let mut bodies = Vec::with_capacity(resources.len());
                let names = MapDirectory::default();
                for (i, r) in resources.iter().enumerate() {
                    state.set(ImportState::Working(format!(
                        "Encrypting and uploading record {} of {}…",
                        i + 1,
                        resources.len()
                    )));
                    let (key, sealed) = match wallet::seal(r.json.as_bytes(), &mut rng) {
                        Ok(x) => x,
                        Err(e) => return fail(e.to_string()),
                    };
                    let mut keys = vec![];
                    let mut readers = vec![(me, id.encryption_public_key())];
                    for c in consents.iter().filter(|c| {
                        c.status == ConsentStatus::Live
                            && c.consent.actions.read
                            && c.consent.classes.contains(&r.class)
                    }) {
                        if let Some(k) = keys_of.get(&c.consent.grantee)
                            && !readers.iter().any(|(a, _)| *a == c.consent.grantee)
                        {
                            readers.push((c.consent.grantee, *k));
                        }
                    }
                    for (reader, enc) in readers {
                        match wallet::wrap_key(&key, &enc, &mut rng) {
                            Ok(w) => keys.push(WrappedKey { reader, wrapped: w }),
                            Err(e) => return fail(e.to_string()),
                        }
                    }
                    let blob = match api::put_blob(sealed).await {
                        Ok(b) => b,
                        Err(e) => return fail(e.message),
                    };
                    bodies.push(TxBody::AnchorRecord {
                        patient: me,
                        content_hash: wallet::content_hash(r.json.as_bytes()),
                        size: r.json.len() as u64,
                        class: r.class,
                        blob,
                        keys,
                    });
                }
                state.set(ImportState::Working(format!("Waiting for your signature on {} records…", bodies.len())));
                let n = bodies.len();
                let (state2, error2) = (state.clone(), error.clone());
                signer.set(Some(SignRequest {
                    title: format!("Anchor {n} imported records"),
                    bodies,
                    names: Rc::new(names),
                    on_done: Callback::from(move |r: Result<Vec<_>, String>| match r {
                        Ok(receipts) => state2.set(ImportState::Done(format!(
                            "Imported {} records: encrypted in this browser, stored, and anchored on the ledger.",
                            receipts.len()
                        ))),
                        Err(m) => {
                            state2.set(ImportState::Idle);
                            error2.set(Some(m));
                        }
                    }),
                }));
            });
        })
    };
    let summary = |rs: &[fhir::Resource]| {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in rs {
            *counts.entry(r.resource_type.as_str()).or_default() += 1;
        }
        counts.iter().map(|(k, v)| format!("{v} {k}")).collect::<Vec<_>>().join(", ")
    };
    html! {
        <main class="narrow">
            <h1>{ "Import records" }</h1>
            <section class="card">
                <p>{ "Choose FHIR R4 files: single resources, Bundles, or bulk NDJSON exports (such as Synthea's). Each record is encrypted in this browser before it leaves it." }</p>
                <label for="import-file">{ "FHIR files" }</label>
                <input id="import-file" type="file" multiple=true accept=".json,.ndjson,application/json,application/fhir+json" onchange={choose} />
                if let Some(e) = &*error { <ErrorBox id="import-error" text={e.clone()} /> }
                { match &*state {
                    ImportState::Idle => html! {},
                    ImportState::Parsed(rs) => html! {
                        <>
                            <p id="import-summary">{ format!("Ready to import {} records: {}.", rs.len(), summary(rs)) }</p>
                            <button id="import-submit" onclick={start}>{ "Encrypt and import" }</button>
                        </>
                    },
                    ImportState::Working(m) => html! { <p id="import-progress" role="status" aria-live="polite">{ m.clone() }</p> },
                    ImportState::Done(m) => html! { <>
                        <Notice id="import-result" text={m.clone()} />
                        <Link<Route> to={Route::Patient}>{ "See your records" }</Link<Route>>
                    </> },
                } }
            </section>
        </main>
    }
}

#[function_component(Grant)]
pub fn grant() -> Html {
    let session = use_session();
    let signer = use_signer();
    let navigator = use_navigator();
    let (data, me) = use_patient_data();
    let provider = use_state(|| None::<Address>);
    let classes = use_state(Vec::<DataClass>::new);
    let read = use_state(|| true);
    let write = use_state(|| false);
    let purpose = use_state(|| Purpose::Treatment);
    let until = use_state(|| date(now_secs() + 90 * 86_400));
    let error = use_state(|| None::<String>);
    let (Some(me), Some(id)) = (me, session.identity()) else {
        return html! { <main><p>{ "The wallet is locked. " }<Link<Route> to={Route::Home}>{ "Unlock it" }</Link<Route>></p></main> };
    };
    let d = match &*data {
        Some(Ok(d)) => d.clone(),
        Some(Err(e)) => return html! { <main><ErrorBox text={e.clone()} /></main> },
        None => return html! { <main><p role="status">{ "Loading…" }</p></main> },
    };
    let providers: Vec<Account> = d.providers.values().filter(|a| a.role.is_provider()).cloned().collect();
    let submit = {
        let (signer, navigator, provider, classes, read, write, purpose, until, error, d) = (
            signer.clone(),
            navigator.clone(),
            provider.clone(),
            classes.clone(),
            read.clone(),
            write.clone(),
            purpose.clone(),
            until.clone(),
            error.clone(),
            d.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(grantee) = *provider else { return error.set(Some("Choose who may access your records.".into())) };
            if classes.is_empty() {
                return error.set(Some("Choose at least one kind of record.".into()));
            }
            if !*read && !*write {
                return error.set(Some("Choose read, add, or both.".into()));
            }
            let end_ms = js_sys::Date::parse(&until);
            if end_ms.is_nan() {
                return error.set(Some("Choose the last day the consent covers.".into()));
            }
            // The consent covers the whole chosen day (UTC).
            let valid_until = (end_ms / 1000.0) as u64 + 86_400;
            let now = now_secs();
            if valid_until <= now {
                return error.set(Some("The last day must be today or later.".into()));
            }
            let Some(grantee_acc) = d.providers.get(&grantee).cloned() else { return };
            let mut bodies = vec![TxBody::GrantConsent {
                grantee,
                classes: (*classes).clone(),
                actions: Actions { read: *read, write: *write },
                purpose: *purpose,
                valid_from: now,
                valid_until,
            }];
            let mut names = MapDirectory::default();
            // Give the new reader the keys of the existing records it may read.
            if *read {
                match share_keys(&id, me, &d.records, &classes, &grantee_acc) {
                    Ok((shares, n)) => {
                        bodies.extend(shares);
                        names = n;
                    }
                    Err(m) => return error.set(Some(m)),
                }
            }
            error.set(None);
            let (navigator, error) = (navigator.clone(), error.clone());
            signer.set(Some(SignRequest {
                title: format!("Grant consent to {}", grantee_acc.name),
                bodies,
                names: Rc::new(names),
                on_done: Callback::from(move |r: Result<_, String>| match r {
                    Ok(_) => {
                        if let Some(n) = &navigator {
                            n.push(&Route::Patient);
                        }
                    }
                    Err(m) => error.set(Some(m)),
                }),
            }));
        })
    };
    let toggle_class = |k: DataClass| {
        let classes = classes.clone();
        Callback::from(move |e: Event| {
            let mut v = (*classes).clone();
            v.retain(|x| *x != k);
            if input_checked(&e) {
                v.push(k);
                v.sort();
            }
            classes.set(v);
        })
    };
    let class_code =
        |k: DataClass| serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    html! {
        <main class="narrow">
            <h1>{ "Grant consent" }</h1>
            <form class="card" onsubmit={submit}>
                <label for="grant-provider">{ "Who" }</label>
                <select id="grant-provider" onchange={ let p = provider.clone(); Callback::from(move |e: Event| p.set(Address::from_hex(&input_value(&e)).ok())) }>
                    <option value="" selected={provider.is_none()}>{ "Choose a provider…" }</option>
                    { for providers.iter().map(|p| html! {
                        <option value={p.address.to_hex()} selected={Some(p.address) == *provider}>{ format!("{} ({})", p.name, p.role.human()) }</option>
                    }) }
                </select>
                <fieldset>
                    <legend>{ "Which records" }</legend>
                    { for DataClass::ALL.iter().map(|k| {
                        let code = class_code(*k);
                        html! {
                            <p class="check">
                                <input type="checkbox" name="class" id={format!("class-{code}")} value={code.clone()} checked={classes.contains(k)} onchange={toggle_class(*k)} />
                                <label for={format!("class-{code}")}>{ k.human() }</label>
                            </p>
                        }
                    }) }
                </fieldset>
                <fieldset>
                    <legend>{ "What they may do" }</legend>
                    <p class="check"><input id="grant-read" type="checkbox" checked={*read} onchange={ let s = read.clone(); Callback::from(move |e: Event| s.set(input_checked(&e))) } /><label for="grant-read">{ "Read these records" }</label></p>
                    <p class="check"><input id="grant-write" type="checkbox" checked={*write} onchange={ let s = write.clone(); Callback::from(move |e: Event| s.set(input_checked(&e))) } /><label for="grant-write">{ "Add records of these kinds" }</label></p>
                </fieldset>
                <label for="grant-purpose">{ "For" }</label>
                <select id="grant-purpose" onchange={ let p = purpose.clone(); Callback::from(move |e: Event| p.set(match input_value(&e).as_str() { "payment" => Purpose::Payment, "research" => Purpose::Research, _ => Purpose::Treatment })) }>
                    <option value="treatment" selected={*purpose == Purpose::Treatment}>{ "Treatment" }</option>
                    <option value="payment" selected={*purpose == Purpose::Payment}>{ "Payment (insurers)" }</option>
                    <option value="research" selected={*purpose == Purpose::Research}>{ "Research" }</option>
                </select>
                <label for="grant-until">{ "Until (last day included)" }</label>
                <input id="grant-until" type="date" value={(*until).clone()} onchange={ let u = until.clone(); Callback::from(move |e: Event| u.set(input_value(&e))) } />
                if let Some(e) = &*error { <ErrorBox id="grant-error" text={e.clone()} /> }
                <button id="grant-submit" type="submit">{ "Review and sign" }</button>
            </form>
            <p><Link<Route> to={Route::Patient}>{ "Back to my records" }</Link<Route>></p>
            { if providers.is_empty() { html! { <p>{ "No providers are registered on this ledger yet." }</p> } } else { html! {} } }
        </main>
    }
}
