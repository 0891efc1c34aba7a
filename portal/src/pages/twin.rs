//! The digital twin in the portal. `/twin` lists the twin cases I may open (my own as a
//! patient; as a clinician, those of patients whose live consent covers twin data and who
//! wrapped the case's key for me; a case is a twin-data record with anchored segments). `/twin/case/:id` fetches one case with a signed read (the
//! node checks consent and records the access), decrypts it here, fetches the segment
//! hashes anchored for it, and only then downloads the twin viewer (its own WebAssembly
//! module, never part of the portal's first page), which checks every segment against its
//! anchor before drawing; the surgeon can sign an annotation at the playhead, stored as a
//! record (a FHIR Observation) for them and the patient, and the annotations of the case
//! that the reader can open are drawn back on the viewer's trend view (each a logged read).
//! `/twin/train` runs the built-in training scenarios in the same
//! viewer: the page's buttons act on the live physiology model, and the score and the
//! debrief show at the end.

use crate::api;
use crate::app::Route;
use crate::components::confirm::{SignRequest, use_signer};
use crate::components::ui::{ErrorBox, Notice, datetime, short};
use crate::pages::record::{fetch_and_open, seal_and_upload};
use crate::session::use_session;
use ledger_protocol::state::{ConsentStatus, Record};
use ledger_protocol::{Address, DataClass, Hash, Role, TxBody};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use yew::prelude::*;
use yew_router::prelude::*;

/// What `/viewer.json` says once `cargo xtask` has installed a viewer beside the portal (in a
/// folder named after its content, so a browser never runs a cached module of another
/// build), or why it could not build one. Until then the node answers that path with the
/// portal's page: a first `cargo xtask run` serves the portal while the viewer still builds.
#[derive(Debug, Deserialize)]
struct ViewerInstalled {
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// How often a page waiting for the viewer asks again.
const VIEWER_POLL_MS: u32 = 5_000;

/// The viewer module's path on this server. While the server is still building the viewer,
/// `waiting(true)` is called and the server asked again every few seconds.
async fn viewer_url(waiting: impl Fn(bool)) -> Result<String, String> {
    loop {
        // A fresh URL each time: the answer changes when the viewer is installed.
        let url = format!("/viewer.json?at={}", js_sys::Date::now() as u64);
        let answer = gloo_net::http::Request::get(&url)
            .send()
            .await
            .map_err(|e| format!("The server could not be reached for the twin viewer: {e}"))?;
        let is_json = answer.headers().get("content-type").is_some_and(|t| t.contains("json"));
        if answer.ok() && is_json {
            let installed: ViewerInstalled = answer
                .json()
                .await
                .map_err(|e| format!("The server's description of the twin viewer is unreadable: {e}"))?;
            waiting(false);
            return match (installed.module, installed.error) {
                (_, Some(e)) => Err(format!("The server could not build the twin viewer: {e}")),
                (Some(m), None) if m.starts_with('/') && !m.starts_with("//") && m.ends_with(".js") => Ok(m),
                (m, None) => Err(format!("The server names no usable twin viewer module ({m:?}).")),
            };
        }
        if answer.ok() || answer.status() == 404 {
            waiting(true);
            gloo_timers::future::TimeoutFuture::new(VIEWER_POLL_MS).await;
        } else {
            return Err(format!("The server answered {} when asked for the twin viewer.", answer.status()));
        }
    }
}

/// Shown while the server is still building the viewer.
const VIEWER_BUILDING: &str = "The twin viewer is still being built on this server (a first start takes a while). \
This page loads it as soon as it is ready.";

/// Data sources of the demo case, shown under the viewer.
const ATTRIBUTION: &str = "Demo data: pre-hospital trends from MIMIC II numerics s00001 and the surgery from \
MIMIC database record 03700181 (PhysioNet, Open Data Commons Attribution 1.0); diagnosis from a Synthea \
synthetic patient (Apache-2.0).";

#[wasm_bindgen(inline_js = r#"
let viewer = null;
async function load(url) {
  if (!viewer) { const m = await import(url); await m.default(); viewer = m; }
  return viewer;
}
// Bevy's event loop hands control back to the browser by throwing this on purpose.
const started = (e) => String(e).includes('Using exceptions for control flow');
// One viewer app per page (winit makes its event loop once): it keeps the canvas it was
// given, so that canvas is made once and moved between the twin pages, and parked off
// screen in between; later cases and scenarios are queued to the running app.
let canvasEl = null;
let panels = null;
function made(tag, id, label) {
  const el = document.createElement(tag);
  el.id = id;
  if (label) { el.setAttribute('role', 'img'); el.setAttribute('aria-label', label); }
  return el;
}
export function attach_canvas(frame) {
  if (!panels) {
    // The patient (WebGL2), the monitor and the case at a glance (Canvas 2D).
    panels = made('div', 'twin-panels');
    panels.className = 'twin-panels';
    const scene = made('div', 'twin-scene');
    scene.className = 'twin-scene';
    canvasEl = made('canvas', 'twin', 'Digital twin: the patient');
    canvasEl.tabIndex = 0;
    scene.appendChild(canvasEl);
    const monitor = made('canvas', 'twin-monitor', 'Bedside monitor: a row per wave with its numeric, the alarm banner and NEWS2');
    monitor.className = 'twin-monitor';
    const trend = made('canvas', 'twin-trend', 'The case at a glance: every track over time with events and annotations; click to seek, scroll to zoom, drag to pan');
    trend.className = 'twin-trend';
    panels.append(scene, monitor, trend);
  }
  document.getElementById(frame)?.appendChild(panels);
}
export function park_canvas() {
  if (!panels) return;
  let park = document.getElementById('twin-parking');
  if (!park) {
    park = document.createElement('div');
    park.id = 'twin-parking';
    park.setAttribute('aria-hidden', 'true');
    park.style.cssText = 'position:fixed;left:-10000px;top:0;width:640px;height:600px;overflow:hidden';
    document.body.appendChild(park);
  }
  park.appendChild(panels);
  if (viewer) { try { viewer.viewer_pause(); } catch (e) { /* nothing is showing yet */ } }
}
export function viewer_control(name, value) { if (viewer) viewer.viewer_control(name, value); }
export function viewer_notes(json) { if (viewer) viewer.viewer_notes(json); }
export async function open_twin_viewer(url, canvas, caseJson, anchorsJson) {
  const v = await load(url);
  const report = v.verify(caseJson, anchorsJson);
  setTimeout(() => {
    try { v.start(canvas, caseJson, anchorsJson, false); } catch (e) {
      if (!started(e)) { document.getElementById(canvas).dataset.error = String(e); }
    }
  }, 0);
  return report;
}
export async function training_scenarios(url) { return (await load(url)).scenario_list(); }
export function training_start(canvas, toml) {
  try { viewer.start_training(canvas, toml, false); } catch (e) { if (!started(e)) throw e; }
}
export function training_act(kind, value) { viewer.training_act(kind, value); }
export function training_play(play) { viewer.training_play(play); }
export function training_speed(speed) { viewer.training_speed(speed); }
"#)]
extern "C" {
    /// Downloads the viewer, checks the case against the anchors (returns the report as
    /// JSON), then starts drawing into the canvas.
    #[wasm_bindgen(catch)]
    async fn open_twin_viewer(url: &str, canvas: &str, case_json: &str, anchors_json: &str)
    -> Result<JsValue, JsValue>;
    /// Downloads the viewer; the built-in scenarios as JSON.
    #[wasm_bindgen(catch)]
    async fn training_scenarios(url: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    fn training_start(canvas: &str, toml: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(catch)]
    fn training_act(kind: &str, value: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(catch)]
    fn training_play(play: bool) -> Result<(), JsValue>;
    #[wasm_bindgen(catch)]
    fn training_speed(speed: f64) -> Result<(), JsValue>;
    /// A timeline control (see the viewer's `viewer_control`).
    #[wasm_bindgen(catch)]
    fn viewer_control(name: &str, value: f64) -> Result<(), JsValue>;
    /// The open case's annotations for the trend view, as JSON (see the viewer's `viewer_notes`).
    #[wasm_bindgen(catch)]
    fn viewer_notes(json: &str) -> Result<(), JsValue>;
    /// Moves the page's one viewer (the patient, monitor and trend canvases) into the
    /// element with id `frame`.
    fn attach_canvas(frame: &str);
    /// Moves the viewer canvas off screen (the page is leaving the twin) and pauses it.
    fn park_canvas();
}

/// A JavaScript error in words.
fn js_words(e: &JsValue) -> String {
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
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

/// One signed annotation as the viewer's trend view draws it (see its `viewer_notes`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
struct NoteJson {
    stage: String,
    at_ms: u64,
    author: String,
    text: String,
    signed: String,
}

/// The case's annotations I can read, and how many twin-data records could not be read.
#[derive(Debug, Clone, PartialEq, Default)]
struct Notes {
    list: Vec<NoteJson>,
    unreadable: usize,
}

/// The largest annotation record read back (an annotation is a short FHIR Observation).
const MAX_NOTE_BYTES: u64 = 16_384;

/// The annotations of `case` among its patient's twin-data records wrapped for me: small
/// records without anchored segments, each fetched with a signed read (the node records it
/// in the patient's access log) and kept when it annotates this case.
async fn case_notes(identity: &wallet::Identity, me: Address, case: &Record) -> Notes {
    let mut notes = Notes::default();
    let Ok(records) = api::records(&case.patient).await else {
        return notes;
    };
    for r in records {
        if r.class != DataClass::TwinData || r.id == case.id || !r.keys.contains_key(&me) || r.size > MAX_NOTE_BYTES {
            continue;
        }
        if !api::segments(&r.id).await.map(|s| s.is_empty()).unwrap_or(false) {
            continue;
        }
        match fetch_and_open(identity, me, r.id, &r).await {
            Ok(plain) => notes.list.extend(note_of(&case.id, &plain)),
            Err(_) => notes.unreadable += 1,
        }
    }
    notes.list.sort_by(|a, b| (&a.stage, a.at_ms).cmp(&(&b.stage, b.at_ms)));
    notes
}

/// "1:02:03" → 3,723,000 ms.
fn clock_ms(at: &str) -> Option<u64> {
    let parts: Vec<u64> = at.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = parts[..] else { return None };
    (m < 60 && s < 60).then_some(((h * 60 + m) * 60 + s) * 1000)
}

/// An annotation record's content (the Observation [`annotation`] writes) as a note of
/// `case`; `None` when it is something else or annotates another case.
fn note_of(case: &Hash, content: &[u8]) -> Option<NoteJson> {
    let v: serde_json::Value = serde_json::from_slice(content).ok()?;
    if v["resourceType"] != "Observation" || v["code"]["text"] != "Digital twin case annotation" {
        return None;
    }
    let case_id = case.to_hex();
    let focus = v["focus"].as_array()?;
    if !focus.iter().any(|f| f["identifier"]["value"].as_str() == Some(case_id.as_str())) {
        return None;
    }
    let component = |name: &str| {
        v["component"].as_array()?.iter().find(|c| c["code"]["text"] == name)?["valueString"]
            .as_str()
            .map(str::to_owned)
    };
    Some(NoteJson {
        stage: component("stage")?,
        at_ms: clock_ms(&component("time in stage")?)?,
        author: v["performer"][0]["display"].as_str().unwrap_or_default().to_owned(),
        text: v["valueString"].as_str()?.to_owned(),
        signed: v["effectiveDateTime"].as_str().unwrap_or_default().to_owned(),
    })
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

/// A surgeon's annotation of a twin case as a FHIR R4 Observation: the text, the case
/// (its record id), the stage and the time within it, and who wrote it.
fn annotation(case: &Hash, stage: &str, at: &str, text: &str, author: &str) -> String {
    serde_json::json!({
        "resourceType": "Observation", "status": "final",
        "code": { "text": "Digital twin case annotation" },
        "valueString": text,
        "effectiveDateTime": js_sys::Date::new_0().to_iso_string().as_string(),
        "focus": [{ "identifier": { "system": "urn:healthchain:record", "value": case.to_hex() } }],
        "component": [
            { "code": { "text": "stage" }, "valueString": stage },
            { "code": { "text": "time in stage" }, "valueString": at }
        ],
        "performer": [{ "display": author }]
    })
    .to_string()
}

/// One built-in scenario, as the viewer describes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct ScenarioInfo {
    id: String,
    title: String,
    description: String,
    duration_min: f64,
    toml: String,
    actions: Vec<ActionInfo>,
}

/// An action the scenario allows, with its range.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct ActionInfo {
    kind: String,
    unit: String,
    min: f64,
    max: f64,
}

/// What the viewer reports about a run, read from the canvas's attributes.
#[derive(Debug, Clone, PartialEq, Default)]
struct RunState {
    time: String,
    feedback: String,
    monitor: String,
    score: Option<String>,
    debrief: Option<String>,
    /// The finished run as the viewer reports it, for saving on the ledger.
    run: Option<String>,
}

/// A finished run as the viewer reports it (`data-run`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct SavedRun {
    scenario: String,
    score_tenths: u64,
    max_tenths: u64,
    trajectory_hash: Hash,
    actions: String,
}

impl RunState {
    fn read() -> RunState {
        let el = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("twin"));
        let attr = |name: &str| el.as_ref().and_then(|e| e.get_attribute(name));
        RunState {
            time: attr("data-time").unwrap_or_default(),
            feedback: attr("data-feedback").unwrap_or_default(),
            monitor: attr("data-monitor").unwrap_or_default(),
            score: attr("data-score"),
            debrief: attr("data-debrief"),
            run: attr("data-run"),
        }
    }
}

/// "propofol_bolus" → "Propofol bolus".
fn action_label(kind: &str) -> String {
    let words = kind.replace('_', " ");
    let mut c = words.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Students (and anyone) train on the built-in scenarios: the viewer runs the physiology
/// model live; the page's buttons act; the score and debrief come at the end.
#[function_component(Training)]
pub fn training() -> Html {
    let scenarios = use_state(|| None::<Result<Vec<ScenarioInfo>, String>>);
    let picked = use_state(|| 0usize);
    let running = use_state(|| None::<ScenarioInfo>);
    let run = use_state_eq(RunState::default);
    let playing = use_state(|| false);
    let error = use_state(|| None::<String>);
    let signer = use_signer();
    let session = use_session();
    let me = session.address();
    let saved = use_state(|| None::<Result<String, String>>);
    let my_runs = use_state(Vec::<ledger_protocol::state::TrainingRun>::new);
    {
        let my_runs = my_runs.clone();
        use_effect_with((me, saved.clone()), move |(me, _)| {
            if let Some(me) = *me {
                wasm_bindgen_futures::spawn_local(async move {
                    if let Ok(runs) = api::training_runs(&me).await {
                        my_runs.set(runs);
                    }
                });
            }
        });
    }
    let building = use_state(|| false);
    {
        let (scenarios, building) = (scenarios.clone(), building.clone());
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let waiting = {
                    let building = building.clone();
                    move |b: bool| building.set(b)
                };
                let got = match viewer_url(waiting).await {
                    Err(e) => Err(e),
                    Ok(url) => match training_scenarios(&url).await {
                        Ok(json) => serde_json::from_str::<Vec<ScenarioInfo>>(&json.as_string().unwrap_or_default())
                            .map_err(|e| format!("The twin viewer's scenario list is unreadable: {e}")),
                        Err(e) => Err(format!("The twin viewer could not be loaded: {}", js_words(&e))),
                    },
                };
                scenarios.set(Some(got));
            });
        });
    }
    // While a scenario runs, read what the viewer reports twice a second.
    {
        let run = run.clone();
        let polling = running.is_some() && run.score.is_none();
        use_effect_with(polling, move |polling| {
            let timer = polling.then(|| {
                // `use_state_eq`: an unchanged reading does not re-render the page.
                gloo_timers::callback::Interval::new(500, move || run.set(RunState::read()))
            });
            move || drop(timer)
        });
    }
    let list = match &*scenarios {
        None if *building => {
            return html! { <main><h1>{ "Training scenarios" }</h1><p role="status" id="viewer-building">{ VIEWER_BUILDING }</p><TwinCanvas /></main> };
        }
        None => {
            return html! { <main><h1>{ "Training scenarios" }</h1><p role="status">{ "Loading the twin…" }</p><TwinCanvas /></main> };
        }
        Some(Err(e)) => return html! { <main><h1>{ "Training scenarios" }</h1><ErrorBox text={e.clone()} /></main> },
        Some(Ok(l)) => l.clone(),
    };
    let error_box = error.as_ref().map(|e| html! { <ErrorBox id="training-error" text={e.clone()} /> });
    let Some(current) = (*running).clone() else {
        let choose = {
            let picked = picked.clone();
            Callback::from(move |e: Event| {
                if let Ok(i) = crate::components::ui::input_value(&e).parse() {
                    picked.set(i);
                }
            })
        };
        let start = {
            let (running, error, list) = (running.clone(), error.clone(), list.clone());
            let picked = *picked;
            Callback::from(move |_| {
                let Some(s) = list.get(picked) else { return };
                match training_start("twin", &s.toml) {
                    Ok(()) => running.set(Some(s.clone())),
                    Err(e) => error.set(Some(format!("The scenario could not start: {}", js_words(&e)))),
                }
            })
        };
        let chosen = list.get(*picked);
        return html! {
            <main>
                <h1>{ "Training scenarios" }</h1>
                <p>{ "The twin runs a physiology model live. Watch the monitor, act with the buttons, and get a score and a debrief when the scenario ends." }</p>
                <label for="scenario">{ "Scenario" }</label>
                <select id="scenario" onchange={choose}>
                    { for list.iter().enumerate().map(|(i, s)| html! {
                        <option value={i.to_string()} selected={i == *picked}>{ s.title.clone() }</option>
                    }) }
                </select>
                if let Some(s) = chosen {
                    <p id="scenario-description">{ format!("{} ({} simulated minutes)", s.description, s.duration_min) }</p>
                }
                <p><button id="training-start" onclick={start}>{ "Start the scenario" }</button></p>
                { for error_box }
                <TwinCanvas />
                if !my_runs.is_empty() {
                    <h2>{ "Your saved runs" }</h2>
                    <ul id="training-runs">
                        { for my_runs.iter().map(|r| html! {
                            <li>{ format!("{}: {}.{} / {}.{} on {} (fingerprint {})", r.scenario, r.score_tenths / 10, r.score_tenths % 10,
                                r.max_tenths / 10, r.max_tenths % 10, datetime(r.at), short(&r.trajectory_hash)) }</li>
                        }) }
                    </ul>
                }
            </main>
        };
    };
    let toggle = {
        let (playing, error) = (playing.clone(), error.clone());
        Callback::from(move |_| match training_play(!*playing) {
            Ok(()) => playing.set(!*playing),
            Err(e) => error.set(Some(js_words(&e))),
        })
    };
    let speed = {
        let error = error.clone();
        Callback::from(move |e: Event| {
            let v: f64 = crate::components::ui::input_value(&e).parse().unwrap_or(1.0);
            if let Err(e) = training_speed(v) {
                error.set(Some(js_words(&e)));
            }
        })
    };
    let act = |a: &ActionInfo| {
        let (error, kind) = (error.clone(), a.kind.clone());
        Callback::from(move |_| {
            let input = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id(&format!("act-value-{kind}")))
                .and_then(|e| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlInputElement>(e).ok());
            let value = input.map(|i| i.value()).unwrap_or_default();
            match value.trim().parse::<f64>() {
                Ok(v) if v.is_finite() => match training_act(&kind, v) {
                    Ok(()) => error.set(None),
                    Err(e) => error.set(Some(js_words(&e))),
                },
                _ if value.trim().is_empty() => {
                    error.set(Some(format!("Type the amount of {} first.", action_label(&kind).to_lowercase())))
                }
                _ => error.set(Some(format!(
                    "{value:?} is not a number: type the amount of {}.",
                    action_label(&kind).to_lowercase()
                ))),
            }
        })
    };
    let saved_run = run.run.as_deref().and_then(|j| serde_json::from_str::<SavedRun>(j).ok());
    let save = |r: SavedRun| {
        let (signer, saved) = (signer.clone(), saved.clone());
        Callback::from(move |_| {
            let done = {
                let saved = saved.clone();
                Callback::from(move |r: Result<Vec<_>, String>| {
                    saved.set(Some(r.map(|_| "Saved on the ledger under your name.".to_owned())));
                })
            };
            signer.set(Some(SignRequest {
                title: "Save a training run".into(),
                bodies: vec![TxBody::RecordTrainingRun {
                    scenario: r.scenario.clone(),
                    score_tenths: r.score_tenths,
                    max_tenths: r.max_tenths,
                    trajectory_hash: r.trajectory_hash,
                    actions: r.actions.clone(),
                }],
                names: std::rc::Rc::new(wallet::MapDirectory::default()),
                on_done: done,
            }));
        })
    };
    html! {
        <main>
            <h1>{ current.title.clone() }</h1>
            <p>{ current.description.clone() }</p>
            <p>
                <button id="training-play" onclick={toggle}>{ if *playing { "Pause" } else { "Play" } }</button>
                { " " }<label for="training-speed">{ "Speed" }</label>{ " " }
                <select id="training-speed" onchange={speed}>
                    { for ["1", "4", "16", "64"].iter().map(|s| html! { <option value={*s} selected={*s == "1"}>{ format!("{s}×") }</option> }) }
                </select>
                { " " }<span id="training-time">{ run.time.clone() }</span>
            </p>
            <fieldset class="actions" disabled={run.score.is_some()}>
                <legend>{ "Actions" }</legend>
                { for current.actions.iter().map(|a| html! {
                    <p>
                        <label for={format!("act-value-{}", a.kind)}>{ format!("{} ({}, {}–{})", action_label(&a.kind), a.unit, a.min, a.max) }</label>{ " " }
                        <input id={format!("act-value-{}", a.kind)} type="number" step="any" min={a.min.to_string()} max={a.max.to_string()} placeholder={a.unit.clone()} />{ " " }
                        <button id={format!("act-{}", a.kind)} class="secondary" onclick={act(a)}>{ "Give" }</button>
                    </p>
                }) }
            </fieldset>
            { for error_box }
            if !run.feedback.is_empty() {
                <p role="status" id="training-feedback">{ run.feedback.clone() }</p>
            }
            if let Some(score) = &run.score {
                <section id="training-score">
                    <h2>{ "Score" }</h2>
                    <pre>{ score.clone() }</pre>
                    <h2>{ "Debrief" }</h2>
                    <ol id="training-debrief">
                        { for run.debrief.iter().flat_map(|d| d.lines()).map(|l| html! { <li>{ l.to_owned() }</li> }) }
                    </ol>
                    if let (Some(run), false) = (saved_run, matches!(*saved, Some(Ok(_)))) {
                        <p><button id="training-save" onclick={save(run)}>{ "Save this run on the ledger" }</button></p>
                    }
                    { match &*saved {
                        Some(Ok(t)) => html! { <Notice id="training-saved" text={t.clone()} /> },
                        Some(Err(e)) => html! { <ErrorBox id="training-save-error" text={e.clone()} /> },
                        None => html! {},
                    } }
                    <p><Link<Route> to={Route::Twin}>{ "Back to the twin" }</Link<Route>></p>
                </section>
            }
            <p class="visually-hidden" id="training-monitor">{ run.monitor.clone() }</p>
            <TwinCanvas />
        </main>
    }
}

/// Where the viewer draws: the page's one viewer canvas, moved in while this is shown.
#[function_component(TwinCanvas)]
fn twin_canvas() -> Html {
    use_effect_with((), |_| {
        attach_canvas("twin-frame");
        park_canvas
    });
    html! { <div class="twin-frame" id="twin-frame"></div> }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(case: &str, stage: &str, at: &str) -> Vec<u8> {
        serde_json::json!({
            "resourceType": "Observation", "status": "final",
            "code": { "text": "Digital twin case annotation" },
            "valueString": "damped arterial trace",
            "effectiveDateTime": "2026-12-07T10:00:00.000Z",
            "focus": [{ "identifier": { "system": "urn:healthchain:record", "value": case } }],
            "component": [
                { "code": { "text": "stage" }, "valueString": stage },
                { "code": { "text": "time in stage" }, "valueString": at }
            ],
            "performer": [{ "display": "Dr Ada Surgeon" }]
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn an_annotation_of_this_case_becomes_a_note_at_its_stage_time() {
        let case = Hash([7; 32]);
        let note = note_of(&case, &observation(&case.to_hex(), "surgical procedure", "0:05:30")).expect("a note");
        assert_eq!(
            note,
            NoteJson {
                stage: "surgical procedure".into(),
                at_ms: 330_000,
                author: "Dr Ada Surgeon".into(),
                text: "damped arterial trace".into(),
                signed: "2026-12-07T10:00:00.000Z".into(),
            }
        );
        assert_eq!(clock_ms("1:02:03"), Some(3_723_000));
    }

    #[test]
    fn other_cases_annotations_other_resources_and_bad_times_are_not_notes() {
        let case = Hash([7; 32]);
        assert_eq!(note_of(&case, &observation(&Hash([8; 32]).to_hex(), "surgical procedure", "0:05:30")), None);
        assert_eq!(note_of(&case, &observation(&case.to_hex(), "surgical procedure", "0:75:00")), None);
        assert_eq!(note_of(&case, &observation(&case.to_hex(), "surgical procedure", "five")), None);
        assert_eq!(note_of(&case, br#"{"resourceType":"Patient"}"#), None);
        assert_eq!(note_of(&case, b"not json"), None);
    }
}
