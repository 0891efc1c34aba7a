//! The digital twin in the portal. `/twin` lists the twin cases I may open (my own as a
//! patient; as a clinician, those of patients whose live consent covers twin data and who
//! wrapped the case's key for me). `/twin/case/:id` fetches one case with a signed read (the
//! node checks consent and records the access), decrypts it here, fetches the segment
//! hashes anchored for it, and only then downloads the twin viewer (its own WebAssembly
//! module, never part of the portal's first page), which checks every segment against its
//! anchor before drawing.

use crate::api;
use crate::app::Route;
use crate::components::ui::{ErrorBox, Notice, datetime, short};
use crate::pages::record::fetch_and_open;
use crate::session::use_session;
use ledger_protocol::state::{ConsentStatus, Record};
use ledger_protocol::{Address, DataClass, Hash, Role};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use yew::prelude::*;
use yew_router::prelude::*;

/// Where the node serves the viewer's module (built by `cargo xtask`).
const VIEWER_URL: &str = "/viewer/twin_viewer.js";

/// Data sources of the demo case, shown under the viewer.
const ATTRIBUTION: &str = "Demo data: pre-hospital trends from MIMIC II numerics s00001 and the surgery from \
MIMIC database record 03700181 (PhysioNet, Open Data Commons Attribution 1.0); diagnosis from a Synthea \
synthetic patient (Apache-2.0).";

#[wasm_bindgen(inline_js = r#"
export async function open_twin_viewer(url, canvas, caseJson, anchorsJson) {
  const viewer = await import(url);
  await viewer.default();
  const report = viewer.verify(caseJson, anchorsJson);
  setTimeout(() => {
    try { viewer.start(canvas, caseJson, anchorsJson, false); } catch (e) {
      // winit hands the event loop to the browser by throwing this on purpose.
      if (!String(e).includes('Using exceptions for control flow')) {
        document.getElementById(canvas).dataset.error = String(e);
      }
    }
  }, 0);
  return report;
}
"#)]
extern "C" {
    /// Downloads the viewer, checks the case against the anchors (returns the report as
    /// JSON), then starts drawing into the canvas.
    #[wasm_bindgen(catch)]
    async fn open_twin_viewer(url: &str, canvas: &str, case_json: &str, anchors_json: &str)
    -> Result<JsValue, JsValue>;
}

/// The viewer's verdict on the case's segments.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Report {
    summary: String,
    all_verified: bool,
    problems: Vec<String>,
}

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
        let name = api::account(&p).await.ok().flatten().map_or_else(|| p.to_string(), |a| a.name);
        for record in api::records(&p).await.map_err(|e| e.message)? {
            if record.class == DataClass::TwinData && record.keys.contains_key(&me) {
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
    let me = session.identity().map(|i| i.address());
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
            { body }
        </main>
    }
}

#[derive(Properties, PartialEq)]
pub struct CaseProps {
    pub id: String,
}

/// How far opening a case has got.
#[derive(Debug, Clone, PartialEq)]
enum Progress {
    Fetching,
    Viewer { altered: bool },
    Shown { altered: bool, report: Report },
    Failed(String),
}

async fn open_case(
    id: Hash,
    identity: std::rc::Rc<wallet::Identity>,
    chain_id: String,
    progress: UseStateHandle<Progress>,
) -> Result<(), String> {
    let anchor = api::record(&id).await.map_err(|e| e.message)?;
    if anchor.class != DataClass::TwinData {
        return Err("This record is not a digital twin case.".into());
    }
    let plain = fetch_and_open(&identity, chain_id, id, &anchor).await.map_err(|(_, m)| m)?;
    // The whole file's hash: when it fails, the segment check says where it was changed.
    let altered = wallet::content_hash(&plain) != anchor.content_hash;
    let case_json = String::from_utf8(plain).map_err(|_| "The case is not UTF-8 text.".to_owned())?;
    let segments = api::segments(&id).await.map_err(|e| e.message)?;
    let anchors_json = serde_json::to_string(&segments).map_err(|e| e.to_string())?;
    progress.set(Progress::Viewer { altered });
    let report = open_twin_viewer(VIEWER_URL, "twin", &case_json, &anchors_json).await.map_err(|e| {
        format!("The twin viewer could not start: {}", e.as_string().unwrap_or_else(|| format!("{e:?}")))
    })?;
    let report: Report = serde_json::from_str(&report.as_string().unwrap_or_default())
        .map_err(|e| format!("The twin viewer's report is unreadable: {e}"))?;
    progress.set(Progress::Shown { altered, report });
    Ok(())
}

#[function_component(TwinCase)]
pub fn twin_case(p: &CaseProps) -> Html {
    let session = use_session();
    let progress = use_state(|| Progress::Fetching);
    let id = Hash::from_hex(&p.id).ok();
    {
        let progress = progress.clone();
        let identity = session.identity();
        let chain = session.chain_id();
        let ready = session.info.is_some();
        use_effect_with((id, ready, identity.as_ref().map(|i| i.address())), move |_| {
            if let (Some(id), Some(identity), true) = (id, identity, ready) {
                wasm_bindgen_futures::spawn_local(async move {
                    if let Err(e) = open_case(id, identity, chain, progress.clone()).await {
                        progress.set(Progress::Failed(e));
                    }
                });
            }
        });
    }
    if id.is_none() {
        return html! { <main><ErrorBox text="That is not a case id (64 hex digits)." /></main> };
    }
    if session.identity().is_none() {
        return html! { <main><p>{ "The wallet is locked. " }<Link<Route> to={Route::Home}>{ "Unlock it" }</Link<Route>></p></main> };
    }
    let altered_note = html! {
        <ErrorBox id="twin-altered" text="The case file does not match the hash anchored with its record: it was changed after it was stored. The segments marked below are the ones that differ." />
    };
    let status = match &*progress {
        Progress::Fetching => {
            html! { <p role="status">{ "Fetching and decrypting the case (the node records this access)…" }</p> }
        }
        Progress::Viewer { .. } => {
            html! { <p role="status">{ "Loading the twin viewer and checking every segment…" }</p> }
        }
        Progress::Failed(e) => html! { <ErrorBox id="twin-error" text={e.clone()} /> },
        Progress::Shown { altered, report } => html! {
            <>
                if *altered { { altered_note } }
                if report.all_verified {
                    <Notice id="twin-verification" text={report.summary.clone()} />
                } else {
                    <ErrorBox id="twin-verification" text={report.summary.clone()} />
                    <ul class="problems" id="twin-problems">
                        { for report.problems.iter().map(|p| html! { <li class="error">{ p.clone() }</li> }) }
                    </ul>
                }
            </>
        },
    };
    html! {
        <main>
            <h1>{ "Digital twin" }</h1>
            { status }
            <div class="twin-frame">
                <canvas id="twin" tabindex="0" aria-label="Digital twin: the patient, the bedside monitor and the case's timeline"></canvas>
            </div>
            <p class="muted">{ "Space plays or pauses; the arrow keys jump between events; drag the timeline to seek." }</p>
            <p class="muted small">{ ATTRIBUTION }</p>
            <p><Link<Route> to={Route::Twin}>{ "All twin cases" }</Link<Route>></p>
        </main>
    }
}
