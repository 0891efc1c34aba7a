//! The pharmacy: look up a prescription, check its signature, its proof and its status in
//! this browser, and dispense it once.

use crate::api;
use crate::components::confirm::{SignRequest, use_signer};
use crate::components::ui::{ErrorBox, datetime, text_value};
use crate::sealing;
use crate::session::use_session;
use ledger_protocol::state::Prescription;
use ledger_protocol::{Hash, K256Verifier, SignatureVerifier, TxBody};
use std::rc::Rc;
use wallet::MapDirectory;
use wallet::sealed::PrescriptionDetails;
use yew::prelude::*;

#[derive(Clone, PartialEq)]
struct Found {
    rx: Prescription,
    prescriber: String,
    patient: String,
    verified: bool,
}

async fn lookup(id: Hash, genesis: Option<ledger_protocol::Genesis>) -> Result<Found, String> {
    let rx = api::prescription(&id).await.map_err(|e| e.message)?;
    let proof = api::tx(&id).await.map_err(|e| e.message)?;
    // The prescriber may have been given new keys since (or before) signing: the key's
    // account, as the ledger knows it, is what must be the prescriber.
    let key = proof.tx.tx.signer.address();
    let signed_for =
        if key == rx.prescriber { Some(key) } else { api::account(&key).await.ok().flatten().map(|a| a.address) };
    let verified = proof.verify()
        && proof.tx.clone().verify(&K256Verifier).is_ok()
        && signed_for == Some(rx.prescriber)
        && genesis.is_some_and(|g| g.is_authority(&proof.header.producer))
        && K256Verifier.verify(&proof.header.producer, &proof.block_hash, &proof.block_signature);
    // A pharmacy is not told who a patient is beyond their address (their name is sealed).
    let name = |a: ledger_protocol::Address, fallback: String| async move {
        api::account(&a).await.ok().flatten().map_or(fallback, |x| format!("{} ({})", x.label(), x.role.human()))
    };
    let patient = name(rx.patient, format!("Patient {}", &rx.patient.to_hex()[..10])).await;
    Ok(Found { prescriber: name(rx.prescriber, rx.prescriber.to_hex()).await, patient, rx, verified })
}

#[function_component(Pharmacy)]
pub fn pharmacy() -> Html {
    let session = use_session();
    let signer = use_signer();
    let query = use_state(String::new);
    let found = use_state(|| None::<Result<Found, String>>);
    let result = use_state(|| None::<Result<String, String>>);
    let search = {
        let (query, found, result, session) = (query.clone(), found.clone(), result.clone(), session.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            result.set(None);
            let Ok(id) = Hash::from_hex(query.trim()) else {
                return found.set(Some(Err(
                    "A prescription id is 64 hexadecimal characters; copy it from the prescription.".into(),
                )));
            };
            let found = found.clone();
            let genesis = session.info.as_ref().map(|i| i.genesis.clone());
            wasm_bindgen_futures::spawn_local(async move { found.set(Some(lookup(id, genesis).await)) });
        })
    };
    let dispense = {
        let (signer, found, result, session) = (signer.clone(), found.clone(), result.clone(), session.clone());
        Callback::from(move |_| {
            let Some(Ok(f)) = (*found).clone() else { return };
            let mut names = MapDirectory::default();
            let what = sealing::open::<PrescriptionDetails>(&session, &f.rx.details)
                .map_or_else(|| "a sealed prescription".to_owned(), |d| d.medication);
            names.prescriptions.insert(f.rx.id, format!("{what} for {}", f.patient));
            let (result, found, genesis) =
                (result.clone(), found.clone(), session.info.as_ref().map(|i| i.genesis.clone()));
            let id = f.rx.id;
            signer.set(Some(SignRequest {
                title: "Dispense a prescription".into(),
                bodies: vec![TxBody::Dispense { prescription: id }],
                names: Rc::new(names),
                on_done: Callback::from(move |r: Result<_, String>| {
                    result.set(Some(
                        r.map(|_| "Dispensed. The ledger now shows this prescription as dispensed.".to_owned()),
                    ));
                    let (found, genesis) = (found.clone(), genesis.clone());
                    wasm_bindgen_futures::spawn_local(async move { found.set(Some(lookup(id, genesis).await)) });
                }),
            }));
        })
    };
    let now = crate::components::ui::now_secs();
    html! {
        <main class="narrow">
            <h1>{ "Dispense a prescription" }</h1>
            <form class="card" onsubmit={search}>
                <label for="rx-lookup">{ "Prescription id" }</label>
                <input id="rx-lookup" value={(*query).clone()} autocomplete="off" spellcheck="false" oninput={ let q = query.clone(); Callback::from(move |e: InputEvent| q.set(text_value(&e))) } />
                <button id="rx-lookup-submit" type="submit">{ "Look up" }</button>
            </form>
            { match &*found {
                None => html! {},
                Some(Err(e)) => html! { <ErrorBox id="rx-error" text={e.clone()} /> },
                Some(Ok(f)) => {
                    let status = if f.rx.dispensed.is_some() { "dispensed" } else if now >= f.rx.valid_until { "expired" } else { "ready to dispense" };
                    let mine = session.address().is_some_and(|a| a == f.rx.pharmacy);
                    let details = sealing::open::<PrescriptionDetails>(&session, &f.rx.details);
                    html! {
                        <section class="card" id="rx-status" data-status={status} data-verified={f.verified.to_string()}>
                            { match &details {
                                Some(d) => html! {
                                    <>
                                        <h2>{ d.medication.clone() }</h2>
                                        <dl class="details">
                                            <dt>{ "Dosage" }</dt><dd>{ d.dosage.clone() }</dd>
                                            <dt>{ "Quantity" }</dt><dd>{ d.quantity }</dd>
                                        </dl>
                                    </>
                                },
                                None => html! { <h2>{ "A sealed prescription" }</h2> },
                            } }
                            if !mine {
                                <p class="error" id="rx-other-pharmacy">{ "This prescription names another pharmacy: only that pharmacy may dispense it, and only it (with the patient and the prescriber) can read what it is." }</p>
                            }
                            <dl class="details">
                                <dt>{ "For" }</dt><dd>{ f.patient.clone() }</dd>
                                <dt>{ "Prescribed by" }</dt><dd>{ f.prescriber.clone() }</dd>
                                <dt>{ "Issued" }</dt><dd>{ datetime(f.rx.issued_at) }</dd>
                                <dt>{ "Valid until" }</dt><dd>{ datetime(f.rx.valid_until) }</dd>
                                <dt>{ "Status" }</dt><dd>{ status }</dd>
                                <dt>{ "Signature and proof" }</dt>
                                <dd>{ if f.verified { "✔ the prescriber's signature and the block's inclusion proof verify in this browser" } else { "✘ DOES NOT VERIFY — do not dispense" } }</dd>
                            </dl>
                            if f.rx.dispensed.is_none() && f.verified && now < f.rx.valid_until {
                                <button id="dispense-submit" onclick={dispense.clone()}>{ "Dispense" }</button>
                            } else {
                                <button id="dispense-submit" class="secondary" onclick={dispense.clone()}>{ "Dispense anyway (the ledger will decide)" }</button>
                            }
                        </section>
                    }
                }
            } }
            { match &*result {
                None => html! {},
                Some(Ok(m)) => html! { <p id="dispense-result" class="notice" role="status">{ m.clone() }</p> },
                Some(Err(m)) => html! { <ErrorBox id="dispense-error" text={m.clone()} /> },
            } }
        </main>
    }
}
