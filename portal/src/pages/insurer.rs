//! The insurer: claims addressed to it, approved or denied with a reason; the ledger
//! accepts a decision only under the patient's live payment-purpose consent.

use crate::api;
use crate::components::confirm::{SignRequest, use_signer};
use crate::components::ui::{ErrorBox, Notice, datetime, text_value};
use crate::sealing;
use crate::session::use_session;
use ledger_protocol::TxBody;
use ledger_protocol::state::{Account, Claim};
use std::collections::BTreeMap;
use std::rc::Rc;
use wallet::MapDirectory;
use wallet::sealed::{ClaimDetails, Text};
use yew::prelude::*;

#[function_component(Insurer)]
pub fn insurer() -> Html {
    let session = use_session();
    let signer = use_signer();
    let claims = use_state(|| None::<Result<Vec<Claim>, String>>);
    // The patients' and providers' accounts: a decision's reason is sealed for them.
    let parties = use_state(BTreeMap::<ledger_protocol::Address, Account>::new);
    let reasons = use_state(BTreeMap::<ledger_protocol::Hash, String>::new);
    let notice = use_state(|| None::<Result<String, String>>);
    let me = session.address();
    {
        let (claims, parties) = (claims.clone(), parties.clone());
        use_effect_with((me, session.generation), move |(me, _)| {
            if let Some(me) = *me {
                wasm_bindgen_futures::spawn_local(async move {
                    let r = api::insurer_claims(&me).await.map_err(|e| e.message);
                    if let Ok(list) = &r {
                        let mut found = BTreeMap::new();
                        for a in list.iter().flat_map(|c| [c.patient, c.provider]) {
                            if !found.contains_key(&a)
                                && let Ok(Some(acc)) = api::account(&a).await
                            {
                                found.insert(a, acc);
                            }
                        }
                        parties.set(found);
                    }
                    claims.set(Some(r))
                });
            }
        });
    }
    let decide = |c: &Claim, approved: bool| {
        let (signer, reasons, notice, id) = (signer.clone(), reasons.clone(), notice.clone(), c.id);
        let mut names = MapDirectory::default();
        let details = sealing::open::<ClaimDetails>(&session, &c.details);
        names.claims.insert(
            c.id,
            details.map_or_else(
                || "a sealed claim".to_owned(),
                |d| format!("the claim for {} {:.2} ({})", d.currency, d.amount_cents as f64 / 100.0, d.description),
            ),
        );
        // The reason is for the patient, the provider and this insurer.
        let readers: Option<Vec<_>> = [c.patient, c.provider]
            .iter()
            .map(|a| parties.get(a).map(sealing::reader))
            .chain([session.account.as_ref().map(sealing::reader)])
            .collect();
        Callback::from(move |_| {
            let reason = reasons.get(&id).cloned().unwrap_or_default();
            let notice = notice.clone();
            if !approved && reason.trim().is_empty() {
                return notice.set(Some(Err(
                    "Give the reason for denying the claim; the patient and the provider will read it.".into(),
                )));
            }
            let Some(readers) = &readers else {
                return notice
                    .set(Some(Err("The patient or the provider of this claim is not known to the ledger.".into())));
            };
            let mut names = names.clone();
            let reason = match sealing::seal(&Text { text: reason.trim().to_owned() }, readers, &mut names) {
                Ok(s) => s,
                Err(m) => return notice.set(Some(Err(m))),
            };
            signer.set(Some(SignRequest {
                title: if approved { "Approve a claim".into() } else { "Deny a claim".into() },
                bodies: vec![TxBody::DecideClaim { claim: id, approved, reason }],
                names: Rc::new(names),
                on_done: Callback::from(move |r: Result<_, String>| {
                    notice.set(Some(r.map(|_| "Decision recorded on the ledger.".to_owned())))
                }),
            }));
        })
    };
    let list = match &*claims {
        None => return html! { <main><p role="status">{ "Loading claims…" }</p></main> },
        Some(Err(e)) => return html! { <main><ErrorBox text={e.clone()} /></main> },
        Some(Ok(l)) => l.clone(),
    };
    html! {
        <main>
            <h1>{ "Claims" }</h1>
            { match &*notice { Some(Ok(m)) => html! { <Notice id="claim-result" text={m.clone()} /> }, Some(Err(m)) => html! { <ErrorBox id="claim-error" text={m.clone()} /> }, None => html! {} } }
            if list.is_empty() { <p>{ "No claims are addressed to you." }</p> }
            <ul class="list" id="claims-list">
                { for list.iter().map(|c| {
                    let reasons2 = reasons.clone();
                    let id = c.id;
                    let details = sealing::open::<ClaimDetails>(&session, &c.details);
                    html! {
                        <li class="claim-item card" data-claim-id={c.id.to_hex()}>
                            { match &details {
                                Some(d) => html! { <>
                                    <strong>{ format!("{} {:.2}", d.currency, d.amount_cents as f64 / 100.0) }</strong>
                                    { format!(" — {}{} · submitted {}", d.description, if d.codes.is_empty() { String::new() } else { format!(" (codes {})", d.codes.join(", ")) }, datetime(c.submitted_at)) }
                                </> },
                                None => html! { <strong>{ "A claim sealed for someone else" }</strong> },
                            } }
                            { match &c.decision {
                                Some(d) => {
                                    let reason = sealing::open_text(&session, &d.reason).unwrap_or_default();
                                    html! { <p>{ format!("{} on {}{}", if d.approved { "Approved" } else { "Denied" }, datetime(d.at), if reason.is_empty() { String::new() } else { format!(": {reason}") }) }</p> }
                                }
                                None => html! {
                                    <>
                                        <label for={format!("reason-{}", c.id.to_hex())}>{ "Reason (required to deny)" }</label>
                                        <input id={format!("reason-{}", c.id.to_hex())} value={reasons.get(&c.id).cloned().unwrap_or_default()}
                                            oninput={ Callback::from(move |e: InputEvent| { let mut m = (*reasons2).clone(); m.insert(id, text_value(&e)); reasons2.set(m); }) } />
                                        <button class="approve" onclick={decide(c, true)}>{ "Approve" }</button>
                                        <button class="deny secondary" onclick={decide(c, false)}>{ "Deny" }</button>
                                    </>
                                },
                            } }
                        </li>
                    }
                }) }
            </ul>
        </main>
    }
}
