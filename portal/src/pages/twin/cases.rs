//! `/twin`: the twin cases I may open (my own as a patient; as a clinician, those of
//! patients whose live consent covers twin data and who wrapped the case's key for me; a
//! case is a twin-data record with anchored segments), and the way to training.

use crate::api;
use crate::app::Route;
use crate::components::ui::{ErrorBox, datetime, short};
use crate::session::use_session;
use ledger_protocol::state::{ConsentStatus, Record};
use ledger_protocol::{Address, DataClass, Role};
use yew::prelude::*;
use yew_router::prelude::*;

/// A case I can open: the record holding it and its patient's name.
#[derive(Debug, Clone, PartialEq)]
struct CaseEntry {
    record: Record,
    patient: String,
}

async fn my_cases(me: Address, role: Option<Role>) -> Result<Vec<CaseEntry>, String> {
    let mut patients: Vec<Address> = Vec::new();
    if role == Some(Role::Patient) {
        patients.push(me);
    } else {
        for c in api::granted_to(&me).await.map_err(|e| e.message)? {
            if c.status == ConsentStatus::Live
                && c.consent.classes.contains(&DataClass::TwinData)
                && !patients.contains(&c.consent.patient)
            {
                patients.push(c.consent.patient);
            }
        }
    }
    let mut out = Vec::new();
    for p in patients {
        let name = api::account(&p).await.ok().flatten().map_or_else(|| p.to_string(), |a| a.label());
        for record in api::records(&p).await.map_err(|e| e.message)? {
            // A twin-data record is a case when segments are anchored for it (annotations
            // and saved runs are twin data too).
            if record.class == DataClass::TwinData
                && record.keys.contains_key(&me)
                && !api::segments(&record.id).await.map_err(|e| e.message)?.is_empty()
            {
                out.push(CaseEntry { record, patient: name.clone() });
            }
        }
    }
    Ok(out)
}

#[function_component(TwinCases)]
pub fn twin_cases() -> Html {
    let session = use_session();
    let cases = use_state(|| None::<Result<Vec<CaseEntry>, String>>);
    let me = session.address();
    let role = session.account.as_ref().map(|a| a.role);
    {
        let cases = cases.clone();
        use_effect_with((me, role), move |(me, role)| {
            if let Some(me) = *me {
                let role = *role;
                wasm_bindgen_futures::spawn_local(async move { cases.set(Some(my_cases(me, role).await)) });
            }
        });
    }
    if me.is_none() {
        return html! { <main><p>{ "The wallet is locked. " }<Link<Route> to={Route::Home}>{ "Unlock it" }</Link<Route>></p></main> };
    }
    let body = match &*cases {
        None => html! { <p role="status">{ "Looking for twin cases…" }</p> },
        Some(Err(e)) => html! { <ErrorBox text={e.clone()} /> },
        Some(Ok(list)) if list.is_empty() => html! {
            <p>{ "No digital twin case is open to you. A patient shares one by granting consent for digital twin data." }</p>
        },
        Some(Ok(list)) => html! {
            <ul class="cards" id="twin-cases">
                { for list.iter().map(|c| html! {
                    <li>
                        <Link<Route> to={Route::TwinCase { id: c.record.id.to_hex() }}>
                            { format!("{}: case {}", c.patient, short(&c.record.id)) }
                        </Link<Route>>
                        <span class="muted">{ format!(" · anchored {} · {} kB", datetime(c.record.anchored_at), c.record.size / 1000) }</span>
                    </li>
                }) }
            </ul>
        },
    };
    html! {
        <main>
            <h1>{ "Digital twin cases" }</h1>
            <p>{ "Review a case's pre-hospital, diagnosis and surgical recordings. Every segment is checked against the hash anchored on the ledger before it is shown." }</p>
            if matches!(role, Some(Role::Doctor | Role::Surgeon)) {
                <p><Link<Route> to={Route::TwinNew}><span id="twin-new">{ "New case from files" }</span></Link<Route>>{ ": WFDB records, CSV tracks or FHIR, built and encrypted in this browser." }</p>
            }
            { body }
            <h2>{ "Training" }</h2>
            <p><Link<Route> to={Route::Training}>{ "Training scenarios" }</Link<Route>>{ ": act on a simulated patient and get a score and a debrief." }</p>
        </main>
    }
}
