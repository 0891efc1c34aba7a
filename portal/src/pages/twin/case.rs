//! `/twin/case/:id`: one case, fetched with a signed read (the node checks consent and
//! records the access), decrypted here, with the segment hashes anchored for it; then the
//! twin viewer, which checks every segment against its anchor before drawing. The surgeon
//! can sign an annotation at the playhead, and the case's annotations the reader can open
//! are drawn back on the viewer's trend view.

use super::notes::{NoteJson, Notes, annotation, case_notes};
use super::*;
use crate::api;
use crate::app::Route;
use crate::components::confirm::{SignRequest, use_signer};
use crate::components::ui::{ErrorBox, Notice};
use crate::pages::record::{fetch_and_open, seal_and_upload};
use crate::session::use_session;
use ledger_protocol::state::Record;
use ledger_protocol::{Address, DataClass, Hash, TxBody};
use serde::Deserialize;
use yew::prelude::*;
use yew_router::prelude::*;

/// The viewer's verdict on the case's segments.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Report {
    summary: String,
    all_verified: bool,
    problems: Vec<String>,
}

#[derive(Properties, PartialEq)]
pub struct CaseProps {
    pub id: String,
}

/// How far opening a case has got.
#[derive(Debug, Clone, PartialEq)]
enum Progress {
    Fetching,
    Viewer {
        altered: bool,
    },
    /// The server is still building the viewer.
    Building {
        altered: bool,
    },
    Shown {
        altered: bool,
        report: Report,
    },
    Failed(String),
}

async fn open_case(
    id: Hash,
    identity: std::rc::Rc<wallet::Identity>,
    me: Address,
    progress: UseStateHandle<Progress>,
    record: UseStateHandle<Option<Record>>,
    notes: UseStateHandle<Notes>,
) -> Result<(), String> {
    let anchor = api::record(&id).await.map_err(|e| e.message)?;
    if anchor.class != DataClass::TwinData {
        return Err("This record is not a digital twin case.".into());
    }
    record.set(Some(anchor.clone()));
    let plain = fetch_and_open(&identity, me, id, &anchor).await.map_err(|(_, m)| m)?;
    // The whole file's hash: when it fails, the segment check says where it was changed.
    let altered = wallet::content_hash(&plain) != anchor.content_hash;
    let case_json = String::from_utf8(plain).map_err(|_| "The case is not UTF-8 text.".to_owned())?;
    // Only anchors by someone who holds the case count (the ledger's rules say so too).
    let segments: Vec<_> = api::segments(&id)
        .await
        .map_err(|e| e.message)?
        .into_iter()
        .filter(|s| s.anchored_by == anchor.author || anchor.keys.contains_key(&s.anchored_by))
        .collect();
    let anchors_json = serde_json::to_string(&segments).map_err(|e| e.to_string())?;
    progress.set(Progress::Viewer { altered });
    let waiting = {
        let progress = progress.clone();
        move |building: bool| {
            progress.set(if building { Progress::Building { altered } } else { Progress::Viewer { altered } })
        }
    };
    let url = viewer_url(waiting).await?;
    let report = open_twin_viewer(&url, "twin", &case_json, &anchors_json)
        .await
        .map_err(|e| format!("The twin viewer could not open this record: {}", js_words(&e)))?;
    let report: Report = serde_json::from_str(&report.as_string().unwrap_or_default())
        .map_err(|e| format!("The twin viewer's report is unreadable: {e}"))?;
    progress.set(Progress::Shown { altered, report });
    notes.set(case_notes(&identity, me, &anchor).await);
    Ok(())
}

#[function_component(TwinCase)]
pub fn twin_case(p: &CaseProps) -> Html {
    let session = use_session();
    let signer = use_signer();
    let progress = use_state(|| Progress::Fetching);
    let record = use_state(|| None::<Record>);
    let note = use_state(String::new);
    let noted = use_state(|| None::<Result<String, String>>);
    let notes = use_state(Notes::default);
    let id = Hash::from_hex(&p.id).ok();
    // The viewer draws the case's annotations on its trend view, and each new one signed here.
    {
        let shown = matches!(*progress, Progress::Shown { .. });
        use_effect_with(((*notes).clone(), shown), |(notes, shown)| {
            if *shown && let Ok(json) = serde_json::to_string(&notes.list) {
                let _ = viewer_notes(&json);
            }
        });
    }
    {
        let (progress, record, notes) = (progress.clone(), record.clone(), notes.clone());
        let identity = session.identity();
        let ready = session.info.is_some();
        use_effect_with((id, ready, session.address()), move |(_, _, me)| {
            if let (Some(id), Some(identity), Some(me), true) = (id, identity, *me, ready) {
                wasm_bindgen_futures::spawn_local(async move {
                    if let Err(e) = open_case(id, identity, me, progress.clone(), record, notes).await {
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
        Progress::Building { .. } => html! { <p role="status" id="viewer-building">{ VIEWER_BUILDING }</p> },
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
    let annotate = {
        let (signer, record, note, noted) = (signer.clone(), record.clone(), note.clone(), noted.clone());
        let notes = notes.clone();
        let (identity, me) = (session.identity(), session.address());
        let my_name = session.account.as_ref().map(|a| a.name.clone()).unwrap_or_default();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (Some(case), Some(id), Some(me)) = ((*record).clone(), identity.clone(), me) else { return };
            let text = note.trim().to_owned();
            if text.is_empty() {
                return noted.set(Some(Err("Write the annotation first.".into())));
            }
            let canvas = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("twin"));
            let attr = |n: &str| canvas.as_ref().and_then(|c| c.get_attribute(n)).unwrap_or_default();
            let (stage, ms) = (attr("data-stage"), attr("data-time-ms").parse::<u64>().unwrap_or(0));
            let at = format!("{}:{:02}:{:02}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
            let resource = annotation(&case.id, &stage, &at, &text, &my_name);
            let signed = js_sys::Date::new_0().to_iso_string().as_string().unwrap_or_default();
            let drawn =
                NoteJson { stage: stage.clone(), at_ms: ms / 1000 * 1000, author: my_name.clone(), text, signed };
            let (signer, noted, note, my_name) = (signer.clone(), noted.clone(), note.clone(), my_name.clone());
            let notes = notes.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let patient = match api::account(&case.patient).await {
                    Ok(Some(a)) => a,
                    Ok(None) => return noted.set(Some(Err("The case's patient has no account.".into()))),
                    Err(e) => return noted.set(Some(Err(e.message))),
                };
                let readers = [(me, id.encryption_public_key()), (patient.address, patient.encryption_key)];
                let (blob, keys) = match seal_and_upload(resource.as_bytes(), &readers).await {
                    Ok(done) => done,
                    Err(e) => return noted.set(Some(Err(e))),
                };
                let mut names = wallet::MapDirectory::default();
                names.accounts.insert(patient.address, patient.label());
                names.accounts.insert(me, my_name);
                let on_done = Callback::from(move |r: Result<Vec<_>, String>| match r {
                    Ok(_) => {
                        note.set(String::new());
                        let mut fresh = (*notes).clone();
                        fresh.list.push(drawn.clone());
                        notes.set(fresh);
                        noted.set(Some(Ok(format!(
                            "Annotation at {stage} {at} signed and anchored as a record of {}.",
                            patient.label()
                        ))));
                    }
                    Err(e) => noted.set(Some(Err(e))),
                });
                signer.set(Some(SignRequest {
                    title: "Sign a twin annotation".into(),
                    bodies: vec![TxBody::AnchorRecord {
                        patient: case.patient,
                        content_hash: wallet::content_hash(resource.as_bytes()),
                        size: resource.len() as u64,
                        class: DataClass::TwinData,
                        blob,
                        keys,
                    }],
                    names: std::rc::Rc::new(names),
                    on_done,
                }));
            });
        })
    };
    let shown = matches!(*progress, Progress::Shown { .. });
    let control = |name: &'static str, value: f64| {
        Callback::from(move |_| {
            let _ = viewer_control(name, value);
        })
    };
    let controls = [
        ("twin-previous", "◀ Event", "previous", 0.0),
        ("twin-toggle", "Play / pause", "toggle", 0.0),
        ("twin-next", "Event ▶", "next", 0.0),
        ("twin-zoom-in", "Zoom in", "zoom_in", 0.0),
        ("twin-zoom-out", "Zoom out", "zoom_out", 0.0),
        ("twin-whole", "Whole case", "whole", 0.0),
        ("twin-stage-1", "Pre-hospital", "stage", 1.0),
        ("twin-stage-2", "Diagnosis", "stage", 2.0),
        ("twin-stage-3", "Surgery", "stage", 3.0),
    ];
    let unread = notes.unreadable;
    html! {
        <main>
            <h1>{ "Digital twin" }</h1>
            { status }
            if shown {
                <div class="twin-controls" id="twin-controls" role="toolbar" aria-label="Replay">
                    { for controls.iter().map(|(id, label, name, value)| html! {
                        <button id={*id} class={if *name == "toggle" { "" } else { "secondary" }} onclick={control(name, *value)}>{ *label }</button>
                    }) }
                </div>
            }
            <TwinCanvas />
            <p class="muted">{ "Click the trend below the monitor to seek, scroll on it to zoom, drag it to pan, click a stage's band to show it whole. With the patient view focused, Space plays or pauses and the arrow keys jump between events." }</p>
            if unread > 0 {
                <p class="muted" id="twin-notes-unread">{ format!("{unread} twin-data record(s) of this patient could not be read, so their annotations are not shown.") }</p>
            }
            <p class="muted small">{ ATTRIBUTION }</p>
            if shown {
                <form class="card" onsubmit={annotate}>
                    <h2>{ "Annotate" }</h2>
                    <label for="twin-note">{ "Annotation at the playhead (signed by you, stored encrypted for you and the patient)" }</label>
                    <textarea id="twin-note" rows="3" value={(*note).clone()}
                        oninput={ let n = note.clone(); Callback::from(move |e: InputEvent| n.set(e.target_unchecked_into::<web_sys::HtmlTextAreaElement>().value())) } />
                    <button id="twin-annotate" type="submit">{ "Encrypt, review and sign" }</button>
                    { match &*noted {
                        Some(Ok(t)) => html! { <Notice id="twin-noted" text={t.clone()} /> },
                        Some(Err(e)) => html! { <ErrorBox id="twin-note-error" text={e.clone()} /> },
                        None => html! {},
                    } }
                </form>
            }
            <p><Link<Route> to={Route::Twin}>{ "All twin cases" }</Link<Route>></p>
        </main>
    }
}
