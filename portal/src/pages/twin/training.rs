//! `/twin/train`: the built-in training scenarios in the same viewer: the page's buttons
//! act on the live physiology model, the score and the debrief show at the end.

use super::*;
use crate::api;
use crate::app::Route;
use crate::components::confirm::{SignRequest, use_signer};
use crate::components::ui::{ErrorBox, Notice, datetime, short};
use crate::session::use_session;
use ledger_protocol::{Hash, TxBody};
use serde::Deserialize;
use yew::prelude::*;
use yew_router::prelude::*;

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
