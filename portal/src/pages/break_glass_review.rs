//! The hospital's review of break-glass accesses (on the administrators' page): every
//! emergency access of the last 7 days, newest first, with the clinician, the patient, its
//! window and justification (when sealed for the reviewer), and who reviewed it. A live one
//! can be let last up to a day from its start, or ended now; either is a signed
//! `ReviewBreakGlass` that the clinician and the patient see.

use crate::api;
use crate::components::confirm::{SignRequest, use_signer};
use crate::components::ui::{ErrorBox, Notice, datetime, now_secs, short};
use crate::sealing;
use crate::session::use_session;
use ledger_protocol::rules::{MAX_BREAK_GLASS_SECS, MAX_REVIEWED_BREAK_GLASS_SECS};
use ledger_protocol::state::{Account, BreakGlassGrant};
use ledger_protocol::{Address, TxBody};
use std::collections::BTreeMap;
use std::rc::Rc;
use wallet::MapDirectory;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ReviewProps {
    /// The staff directory, for names.
    pub staff: Rc<Vec<Account>>,
}

#[function_component(BreakGlassReview)]
pub fn break_glass_review(p: &ReviewProps) -> Html {
    let session = use_session();
    let signer = use_signer();
    let list = use_state(|| None::<Result<Vec<BreakGlassGrant>, String>>);
    let notice = use_state(|| None::<Result<String, String>>);
    let reload = use_state(|| 0u32);
    {
        let list = list.clone();
        use_effect_with((session.generation, *reload), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                list.set(Some(api::break_glass_review().await.map_err(|e| e.message)));
            });
        });
    }
    let names: BTreeMap<Address, String> = p.staff.iter().map(|a| (a.address, a.name.clone())).collect();
    let name_of = |a: &Address| names.get(a).cloned().unwrap_or_else(|| format!("account {}", &a.to_hex()[..10]));
    let review = |b: &BreakGlassGrant, until: u64, what: String| {
        let (signer, notice, reload, grant) = (signer.clone(), notice.clone(), reload.clone(), b.id);
        let mut dir = MapDirectory { accounts: names.clone(), ..MapDirectory::default() };
        dir.break_glass.insert(b.id, format!("by {} on {}", name_of(&b.clinician), datetime(b.from)));
        let dir = Rc::new(dir);
        Callback::from(move |_| {
            let (notice, reload, what) = (notice.clone(), reload.clone(), what.clone());
            signer.set(Some(SignRequest {
                title: "Review an emergency access".into(),
                bodies: vec![TxBody::ReviewBreakGlass { grant, until }],
                names: dir.clone(),
                on_done: Callback::from(move |r: Result<Vec<ledger_protocol::wire::Receipt>, String>| {
                    if r.is_ok() {
                        reload.set(*reload + 1);
                    }
                    notice.set(Some(r.map(|_| what.clone())));
                }),
            }));
        })
    };
    let now = now_secs();
    html! {
        <section class="card" id="break-glass-review">
            <h2>{ "Emergency accesses to review" }</h2>
            <p>{ format!(
                "A clinician breaks the glass on their own word for at most {} hours. Read why, then let it last up to {} hours from its start, or end it now. The clinician and the patient see your review.",
                MAX_BREAK_GLASS_SECS / 3600,
                MAX_REVIEWED_BREAK_GLASS_SECS / 3600
            ) }</p>
            { match &*notice { Some(Ok(m)) => html! { <Notice id="review-result" text={m.clone()} /> }, Some(Err(m)) => html! { <ErrorBox id="review-error" text={m.clone()} /> }, None => html! {} } }
            { match &*list {
                None => html! { <p role="status">{ "Loading…" }</p> },
                Some(Err(e)) => html! { <ErrorBox text={e.clone()} /> },
                Some(Ok(v)) if v.is_empty() => html! { <p id="break-glass-none">{ "No emergency access in the last 7 days." }</p> },
                Some(Ok(v)) => html! {
                    <ul class="list" id="break-glass-list">
                        { for v.iter().map(|b| {
                            let live = now < b.until;
                            let why = sealing::open_text(&session, &b.justification)
                                .map(|t| format!("“{t}”"))
                                .unwrap_or_else(|| "(the justification is not sealed for you)".into());
                            let longest = b.from + MAX_REVIEWED_BREAK_GLASS_SECS;
                            html! {
                                <li class="break-glass-item" data-grant={b.id.to_hex()} data-live={live.to_string()}>
                                    <strong>{ name_of(&b.clinician) }</strong>
                                    { format!(" · patient {} · from {} until {} · {why}", &b.patient.to_hex()[..10], datetime(b.from), datetime(b.until)) }
                                    { match b.reviewed_by {
                                        Some(r) => html! { <span class="badge">{ format!("reviewed by {}", name_of(&r)) }</span> },
                                        None => html! { <span class="badge emergency">{ "not reviewed" }</span> },
                                    } }
                                    if live {
                                        if b.until < longest {
                                            <button class="extend secondary" onclick={review(b, longest, format!("Emergency access {} lasts until {}.", short(&b.id), datetime(longest)))}>
                                                { format!("Let it last until {}", datetime(longest)) }
                                            </button>
                                        }
                                        <button class="end secondary danger" onclick={review(b, now, format!("Emergency access {} is ended.", short(&b.id)))}>{ "End it now" }</button>
                                    }
                                </li>
                            }
                        }) }
                    </ul>
                },
            } }
        </section>
    }
}
