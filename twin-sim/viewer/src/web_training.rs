//! Student training in a web page (feature `web`, wasm32): JavaScript starts a scenario on
//! a canvas with [`start_training`] and acts from the page's own buttons with
//! [`training_act`]. The page reads what happens as text from the canvas's attributes:
//! `data-monitor` (the live numerics and alarms), `data-feedback` (the last action taken or
//! refused, in words), `data-time` (scenario time, `m:ss`; `data-time-s` in seconds),
//! `data-playing`, and at the end `data-score` (the total, then one line per part),
//! `data-debrief` (the timeline, one `m:ss  entry` a line) and `data-run` (the run as JSON,
//! for saving it on the ledger).
//!
//! [`scenario_list`] describes the scenarios that ship with the twin (and carries their
//! text for `start_training`); [`training_play`] and [`training_speed`] drive the clock
//! from the page's own controls.
//!
//! The running app lives inside Bevy's event loop, out of JavaScript's reach; actions and
//! clock commands wait in queues on this (the page's only) thread that a system empties
//! each frame.

use std::cell::{Cell, RefCell};

use bevy::prelude::*;
use twin_sim::scenario::{clock, parse_scenario};
use wasm_bindgen::prelude::*;

use crate::{Monitor, SyncSystems, TimelineCommand, Training, TrainingAction, TrainingResult};

/// The most actions that may wait for the next frame.
const MAX_PENDING: usize = 64;

thread_local! {
    static PENDING: RefCell<Vec<TrainingAction>> = const { RefCell::new(Vec::new()) };
    static CLOCK: RefCell<Vec<TimelineCommand>> = const { RefCell::new(Vec::new()) };
    static STARTED: Cell<bool> = const { Cell::new(false) };
}

/// The built-in scenarios as JSON: `[{id, title, description, duration_min, toml,
/// actions: [{kind, unit, min, max}]}]`. Returns an error in words if one does not read.
#[wasm_bindgen]
pub fn scenario_list() -> Result<String, JsValue> {
    let mut out = Vec::new();
    for (_, text, _) in twin_sim::scenario::BUILT_IN {
        let s = parse_scenario(text).map_err(|e| JsValue::from_str(&e.to_string()))?;
        let actions: Vec<serde_json::Value> = s
            .allowed
            .iter()
            .map(|a| serde_json::json!({ "kind": a.kind.name(), "unit": a.kind.unit(), "min": a.min, "max": a.max }))
            .collect();
        out.push(serde_json::json!({
            "id": s.id, "title": s.title, "description": s.description,
            "duration_min": s.duration_min, "toml": text, "actions": actions,
        }));
    }
    Ok(serde_json::Value::Array(out).to_string())
}

/// Plays (`true`) or pauses the running scenario from the page.
#[wasm_bindgen]
pub fn training_play(play: bool) -> Result<(), JsValue> {
    queue_clock(if play { TimelineCommand::Play } else { TimelineCommand::Pause })
}

/// Pauses whatever the page's viewer shows (a case or a scenario), as when the page moves
/// its canvas off screen. Does nothing before the viewer has started.
#[wasm_bindgen]
pub fn viewer_pause() {
    CLOCK.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() < MAX_PENDING {
            c.push(TimelineCommand::Pause);
        }
    });
}

/// Sets the running scenario's speed (0.25× to 64×) from the page.
#[wasm_bindgen]
pub fn training_speed(speed: f64) -> Result<(), JsValue> {
    queue_clock(TimelineCommand::SetSpeed(speed))
}

fn queue_clock(command: TimelineCommand) -> Result<(), JsValue> {
    if !STARTED.with(Cell::get) {
        return Err(JsValue::from_str("no training scenario is running: call start_training first"));
    }
    CLOCK.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_PENDING {
            return Err(JsValue::from_str("too many clock commands waiting for the next frame"));
        }
        c.push(command);
        Ok(())
    })
}

/// Starts a training scenario (its TOML text, as in `twin-sim/scenarios/`) on
/// `<canvas id=canvas_id>` (the page's viewer app, made on the first call; see `web`),
/// playing at once when `play`. Returns an error in words when the scenario cannot be read.
#[wasm_bindgen]
pub fn start_training(canvas_id: &str, scenario_toml: &str, play: bool) -> Result<(), JsValue> {
    let scenario = parse_scenario(scenario_toml).map_err(|e| JsValue::from_str(&e.to_string()))?;
    PENDING.with(|p| p.borrow_mut().clear());
    CLOCK.with(|c| c.borrow_mut().clear());
    STARTED.with(|s| s.set(true));
    crate::web::show(canvas_id, crate::web::Content::Scenario { scenario: Box::new(scenario), play });
    Ok(())
}

/// The training systems of the page's viewer app.
pub(crate) fn add_systems(app: &mut App) {
    app.add_systems(Update, take_pending.in_set(SyncSystems::Commands)).add_systems(Last, mirror_training);
}

/// Acts in the running scenario: `action` is a kind as scenario files name it
/// (`phenylephrine_bolus`, `crystalloid`, `blood`, `fio2`, …) and `value` is in its unit.
/// It is taken on the next frame; whether the scenario allowed it appears in the canvas's
/// `data-feedback`. Returns an error in words for an unknown action, or when no scenario
/// is running.
#[wasm_bindgen]
pub fn training_act(action: &str, value: f64) -> Result<(), JsValue> {
    if !STARTED.with(Cell::get) {
        return Err(JsValue::from_str("no training scenario is running: call start_training first"));
    }
    let action = TrainingAction::named(action, value).map_err(|e| JsValue::from_str(&e))?;
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() >= MAX_PENDING {
            return Err(JsValue::from_str("too many actions waiting for the next frame"));
        }
        p.push(action);
        Ok(())
    })
}

/// Hands the page's actions and clock commands to the plugins, before the model steps.
fn take_pending(mut out: MessageWriter<TrainingAction>, mut clock: MessageWriter<TimelineCommand>) {
    let actions: Vec<TrainingAction> = PENDING.with(|p| p.borrow_mut().drain(..).collect());
    out.write_batch(actions);
    let commands: Vec<TimelineCommand> = CLOCK.with(|c| c.borrow_mut().drain(..).collect());
    clock.write_batch(commands);
}

fn mirror_training(
    monitor: Res<Monitor>,
    training: Option<Res<Training>>,
    result: Option<Res<TrainingResult>>,
    playback: Option<Res<crate::Playback>>,
    canvas: Res<crate::web::CanvasId>,
) {
    let Some(el) = crate::web::web_sys_canvas(&canvas.0) else { return };
    if let Some(playback) = playback
        && playback.is_changed()
    {
        let _ = el.set_attribute("data-playing", if playback.clock.is_playing() { "true" } else { "false" });
    }
    // A replayed case's monitor is mirrored by `web` (with the ledger check).
    let Some(training) = training else { return };
    if monitor.is_changed() {
        let _ = el.set_attribute("data-monitor", &monitor.readout().join("; "));
    }
    if training.is_changed() {
        let _ = el.set_attribute("data-time", &clock(training.session.time_s()));
        let _ = el.set_attribute("data-time-s", &training.session.time_s().to_string());
        if let Some(f) = training.feedback.last() {
            let _ = el.set_attribute("data-feedback", &f.text);
        }
    }
    if let Some(result) = result
        && result.is_added()
    {
        let _ = el.set_attribute("data-score", &result.score_text());
        // The run as the page saves it on the ledger (a `RecordTrainingRun`).
        let score = &result.report.score;
        let run = serde_json::json!({
            "scenario": training.session.scenario().id,
            "score_tenths": (score.total * 10.0).round().max(0.0) as u64,
            "max_tenths": (score.max * 10.0).round().max(0.0) as u64,
            "trajectory_hash": result.report.trajectory_hash.to_hex(),
            "actions": twin_sim::scenario::write_actions(training.session.actions()),
        });
        let _ = el.set_attribute("data-run", &run.to_string());
        let _ = el.set_attribute("data-debrief", &result.debrief_text());
    }
}
