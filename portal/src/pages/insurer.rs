//! The insurer: claims addressed to it, approved or denied with a reason; the ledger
//! accepts a decision only under the patient's live payment-purpose consent.

use crate::api;
use crate::components::confirm::{SignRequest, use_signer};
use crate::components::ui::{ErrorBox, Notice, datetime, text_value};
use crate::session::use_session;
use ledger_protocol::TxBody;
use ledger_protocol::state::Claim;
use std::collections::BTreeMap;
use std::rc::Rc;
use wallet::MapDirectory;
use yew::prelude::*;

#[function_component(Insurer)]
pub fn insurer() -> Html {
    let session = use_session();
    let signer = use_signer();
    let claims = use_state(|| None::<Result<Vec<Claim>, String>>);
    let reasons = use_state(BTreeMap::<ledger_protocol::Hash, String>::new);
    let notice = use_state(|| None::<Result<String, String>>);
    let me = session.identity().map(|i| i.address());
    {
        let claims = claims.clone();
        use_effect_with((me, session.generation), move |(me, _)| {
            if let Some(me) = *me {
                wasm_bindgen_futures::spawn_local(async move {
                    claims.set(Some(api::insurer_claims(&me).await.map_err(|e| e.message)))
                });
            }
        });
    }
    let decide = |c: &Claim, approved: bool| {
        let (signer, reasons, notice, id) = (signer.clone(), reasons.clone(), notice.clone(), c.id);
        let mut names = MapDirectory::default();
        names.claims.insert(
            c.id,
            format!("the claim for {} {:.2} ({})", c.currency, c.amount_cents as f64 / 100.0, c.description),
        );
        let names = Rc::new(names);
        Callback::from(move |_| {
            let reason = reasons.get(&id).cloned().unwrap_or_default();
            let notice = notice.clone();
            signer.set(Some(SignRequest {
                title: if approved { "Approve a claim".into() } else { "Deny a claim".into() },
                bodies: vec![TxBody::DecideClaim { claim: id, approved, reason: reason.trim().to_owned() }],
                names: names.clone(),
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
                    html! {
                        <li class="claim-item card" data-claim-id={c.id.to_hex()}>
                            <strong>{ format!("{} {:.2}", c.currency, c.amount_cents as f64 / 100.0) }</strong>
                            { format!(" — {} · submitted {}", c.description, datetime(c.submitted_at)) }
                            { match &c.decision {
                                Some(d) => html! { <p>{ format!("{} on {}{}", if d.approved { "Approved" } else { "Denied" }, datetime(d.at), if d.reason.is_empty() { String::new() } else { format!(": {}", d.reason) }) }</p> },
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
