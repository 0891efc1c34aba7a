//! A new digital twin case, made in this browser: a surgeon or doctor with the patient's
//! consent to add digital twin data chooses files for each stage (WFDB `.hea` with its signal
//! files, VitalDB `.vital`, CSV tracks, FHIR), the case is built here with the twin core (compiled to
//! WebAssembly), encrypted for the patient and the clinician, uploaded, anchored as a
//! record, and every segment's hash anchored under it, so it opens and verifies like any
//! case. A file that cannot be read is named, with what is wrong.

use crate::api;
use crate::app::Route;
use crate::components::confirm::{SignRequest, use_signer};
use crate::components::ui::{ErrorBox, Notice, input_value, short, text_value};
use crate::pages::record::seal_and_upload;
use crate::session::use_session;
use ledger_protocol::state::ConsentStatus;
use ledger_protocol::{Address, DataClass, Hash, TxBody};
use std::collections::BTreeMap;
use std::rc::Rc;
use twin_sim::case::{Case, Stage};
use twin_sim::import::files::{InputFile, stage_from_files};
use wallet::MapDirectory;
use yew::prelude::*;
use yew_router::prelude::*;

const STAGES: [(Stage, &str); 3] =
    [(Stage::PreHospital, "pre-hospital"), (Stage::Diagnosis, "diagnosis"), (Stage::Surgery, "surgery")];

#[derive(Clone, PartialEq)]
enum Step {
    Idle,
    Working(String),
    Failed(String),
    /// The case is anchored; its segment anchors wait for a second signature.
    Stored {
        case: Hash,
        anchors: Rc<Vec<TxBody>>,
        error: Option<String>,
    },
    Done {
        case: Hash,
        segments: usize,
    },
}

/// Files chosen for one stage.
fn files_of(input: &web_sys::HtmlInputElement) -> Vec<web_sys::File> {
    let Some(list) = input.files() else { return vec![] };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

fn input(id: &str) -> Option<web_sys::HtmlInputElement> {
    use wasm_bindgen::JsCast;
    web_sys::window()?.document()?.get_element_by_id(id)?.dyn_into().ok()
}

fn megabytes(n: f64) -> String {
    if n >= 1e6 { format!("{:.1} MB", n / 1e6) } else { format!("{:.0} kB", n / 1e3) }
}

/// Reads the chosen files and builds the case from them, stage by stage (a secret salt
/// each): the case (for its anchors) and its file, or what went wrong, in words.
async fn build(title: String, step: &UseStateHandle<Step>) -> Result<(Case, String), String> {
    let mut case = Case { id: title, stages: Vec::new() };
    for (stage, key) in STAGES {
        let Some(el) = input(&format!("case-files-{key}")) else { continue };
        let chosen = files_of(&el);
        if chosen.is_empty() {
            continue;
        }
        let mut read: Vec<(String, Vec<u8>)> = Vec::with_capacity(chosen.len());
        for f in chosen {
            let name = f.name();
            step.set(Step::Working(format!("Reading {name} ({})…", megabytes(f.size()))));
            let bytes = gloo_file::futures::read_as_bytes(&gloo_file::File::from(f))
                .await
                .map_err(|e| format!("{name}: could not be read: {e}"))?;
            read.push((name, bytes));
        }
        step.set(Step::Working(format!("Building the {} stage…", stage.human())));
        let files: Vec<InputFile> = read.iter().map(|(n, b)| InputFile { name: n, bytes: b }).collect();
        let mut got = stage_from_files(stage, &files).map_err(|e| format!("{}: {e}", stage.human()))?;
        // A secret salt per stage: the anchored hashes cannot be reversed to the readings.
        let mut salt = [0u8; 32];
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut salt)
            .map_err(|_| "This browser gave no randomness.".to_owned())?;
        got.stage.salt = Some(Hash(salt));
        twin_sim::import::merge_stage(&mut case, got.stage).map_err(|e| e.to_string())?;
    }
    if case.stages.is_empty() {
        return Err("Choose the files of at least one stage.".into());
    }
    step.set(Step::Working("Hashing the segments and writing the case…".into()));
    let text = twin_sim::casefile::write_case(&case).map_err(|e| e.to_string())?;
    Ok((case, text))
}

#[function_component(NewCase)]
pub fn new_case() -> Html {
    let session = use_session();
    let signer = use_signer();
    let step = use_state(|| Step::Idle);
    let patient = use_state(|| None::<Address>);
    let title = use_state(|| "case".to_owned());
    let patients = use_state(|| None::<Result<Vec<(Address, String)>, String>>);
    let me = session.address();
    {
        let patients = patients.clone();
        use_effect_with(me, move |me| {
            if let Some(me) = *me {
                wasm_bindgen_futures::spawn_local(async move {
                    let out = async {
                        let mut seen = BTreeMap::new();
                        for c in api::granted_to(&me).await.map_err(|e| e.message)? {
                            if c.status == ConsentStatus::Live
                                && c.consent.actions.write
                                && c.consent.classes.contains(&DataClass::TwinData)
                            {
                                seen.entry(c.consent.patient)
                                    .or_insert_with(|| format!("Patient {}", &c.consent.patient.to_hex()[..10]));
                            }
                        }
                        Ok(seen.into_iter().collect::<Vec<_>>())
                    }
                    .await;
                    patients.set(Some(out));
                });
            }
        });
    }
    let (Some(id), Some(me)) = (session.identity(), me) else {
        return html! { <main><p>{ "The wallet is locked. " }<Link<Route> to={Route::Home}>{ "Unlock it" }</Link<Route>></p></main> };
    };
    let list = match &*patients {
        None => return html! { <main><p role="status">{ "Loading your patients…" }</p></main> },
        Some(Err(e)) => return html! { <main><ErrorBox text={e.clone()} /></main> },
        Some(Ok(l)) => l.clone(),
    };
    let chosen = (*patient).or_else(|| list.first().map(|p| p.0));
    let submit = {
        let (step, signer, title) = (step.clone(), signer.clone(), title.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(p) = chosen else {
                return step.set(Step::Failed("Choose the patient the case is for.".into()));
            };
            let (step, signer, id, title) = (step.clone(), signer.clone(), id.clone(), (*title).trim().to_owned());
            wasm_bindgen_futures::spawn_local(async move {
                let fail = |m: String| step.set(Step::Failed(format!("{m} Nothing was uploaded.")));
                if title.is_empty() {
                    return fail("Give the case a title.".into());
                }
                let patient_key = match api::account(&p).await {
                    Ok(Some(a)) => a.encryption_key,
                    Ok(None) => return fail("The patient is not known to the ledger.".into()),
                    Err(e) => return fail(e.message),
                };
                let (case, text) = match build(title, &step).await {
                    Ok(x) => x,
                    Err(m) => return fail(m),
                };
                let anchors = match twin_sim::verify::anchors_for(&case) {
                    Ok(a) => a,
                    Err(e) => return fail(e.to_string()),
                };
                step.set(Step::Working(format!(
                    "Encrypting and uploading the case ({})…",
                    megabytes(text.len() as f64)
                )));
                let readers = [(p, patient_key), (me, id.encryption_public_key())];
                let (blob, keys) = match seal_and_upload(text.as_bytes(), &readers).await {
                    Ok(x) => x,
                    Err(m) => return fail(m),
                };
                let mut names = MapDirectory::default();
                names.accounts.insert(p, format!("Patient {}", &p.to_hex()[..10]));
                let names = Rc::new(names);
                let anchor = TxBody::AnchorRecord {
                    patient: p,
                    content_hash: wallet::content_hash(text.as_bytes()),
                    size: text.len() as u64,
                    class: DataClass::TwinData,
                    blob,
                    keys,
                };
                step.set(Step::Working("Waiting for your signature on the case…".into()));
                let step2 = step.clone();
                signer.set(Some(SignRequest {
                    title: "Add a digital twin case".into(),
                    bodies: vec![anchor],
                    names,
                    on_done: Callback::from(move |r: Result<Vec<ledger_protocol::wire::Receipt>, String>| {
                        let case_id = match r.map(|v| v.first().map(|x| x.id)) {
                            Ok(Some(id)) => id,
                            Ok(None) => return step2.set(Step::Failed("The ledger returned no receipt.".into())),
                            Err(m) => return step2.set(Step::Failed(m)),
                        };
                        let bodies: Vec<TxBody> = anchors
                            .iter()
                            .map(|a| TxBody::AnchorTwinSegment {
                                patient: p,
                                case_id,
                                stage: a.stage,
                                stream: a.stream.clone(),
                                start_ms: a.start_ms,
                                end_ms: a.end_ms,
                                segment_hash: a.hash,
                            })
                            .collect();
                        step2.set(Step::Stored { case: case_id, anchors: Rc::new(bodies), error: None });
                    }),
                }));
            });
        })
    };
    let working = matches!(*step, Step::Working(_) | Step::Stored { .. });
    let anchor_segments = {
        let (step, signer) = (step.clone(), signer.clone());
        Callback::from(move |_| {
            let Step::Stored { case, anchors, .. } = (*step).clone() else { return };
            let n = anchors.len();
            let step2 = step.clone();
            signer.set(Some(SignRequest {
                title: format!("Anchor {n} segments of case {}", short(&case)),
                bodies: (*anchors).clone(),
                names: Rc::new(MapDirectory::default()),
                on_done: Callback::from(move |r: Result<Vec<_>, String>| {
                    step2.set(match r {
                        Ok(_) => Step::Done { case, segments: n },
                        // The anchors can be signed again: the case stays stored.
                        Err(m) => Step::Stored { case, anchors: anchors.clone(), error: Some(m) },
                    })
                }),
            }));
        })
    };
    html! {
        <main class="narrow">
            <h1>{ "New digital twin case" }</h1>
            if list.is_empty() {
                <p>{ "No patient has given you consent to add digital twin data." }</p>
            } else {
                <form class="card" onsubmit={submit}>
                    <p>{ "Choose the files for each stage: a WFDB record (its .hea header with the signal files it names, any PhysioNet format), a VitalDB .vital file, CSV tracks (time_s,<name>[unit],…), or FHIR (.json, .ndjson). The case is built and encrypted in this browser; only its ciphertext and hashes leave it." }</p>
                    <label for="case-patient">{ "Patient" }</label>
                    <select id="case-patient" onchange={ let s = patient.clone(); Callback::from(move |e: Event| s.set(Address::from_hex(&input_value(&e)).ok())) }>
                        { for list.iter().map(|(a, name)| html! { <option value={a.to_hex()} selected={Some(*a) == chosen}>{ name.clone() }</option> }) }
                    </select>
                    <label for="case-title">{ "Title (inside the encrypted case)" }</label>
                    <input id="case-title" value={(*title).clone()} oninput={ let s = title.clone(); Callback::from(move |e: InputEvent| s.set(text_value(&e))) } />
                    { for STAGES.iter().map(|(stage, key)| html! {
                        <>
                            <label for={format!("case-files-{key}")}>{ format!("Files of the {} stage", stage.human()) }</label>
                            <input id={format!("case-files-{key}")} type="file" multiple=true />
                        </>
                    }) }
                    { match &*step {
                        Step::Idle => html! {},
                        Step::Working(m) => html! { <p id="case-progress" role="status" aria-live="polite">{ m.clone() }</p> },
                        Step::Failed(m) => html! { <ErrorBox id="case-error" text={m.clone()} /> },
                        Step::Stored { case, anchors, error } => html! {
                            <>
                                if let Some(m) = error { <ErrorBox id="case-error" text={m.clone()} /> }
                                <p id="case-stored">{ format!("Case {} is stored and anchored. Now sign the {} segment hashes, so every segment can be checked when it is replayed.", short(case), anchors.len()) }</p>
                                <button id="case-anchor" type="button" onclick={anchor_segments.clone()}>{ format!("Sign {} segment anchors", anchors.len()) }</button>
                            </>
                        },
                        Step::Done { case, segments } => html! {
                            <>
                                <Notice id="case-result" text={format!("Case {} stored and anchored, with {segments} segment hashes.", short(case))} />
                                <Link<Route> to={Route::TwinCase { id: case.to_hex() }}><span id="case-open">{ "Open it" }</span></Link<Route>>
                            </>
                        },
                    } }
                    <button id="case-submit" type="submit" disabled={working}>{ "Build, encrypt and anchor" }</button>
                </form>
            }
            <p><Link<Route> to={Route::Twin}>{ "All twin cases" }</Link<Route>></p>
        </main>
    }
}
