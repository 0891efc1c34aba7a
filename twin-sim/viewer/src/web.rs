//! The viewer in a web page (feature `web`, wasm32): JavaScript shows a case file's JSON
//! and, for a surgeon's review, the segment hashes the ledger anchored for it (every
//! segment is checked before it is drawn): the patient on a canvas drawn with WebGL2, the
//! monitor and the case at a glance on two 2D canvases beside it (`web_draw`). What the monitor
//! shows is mirrored as text into the canvas's `data-monitor` attribute, and the playhead
//! into `data-stage` and `data-time-ms` (time within that stage), so a page (and its
//! tests) can read them without reading pixels.
//!
//! A page has one viewer app: winit makes its event loop once, and the app keeps drawing
//! into the canvas it was given. The first [`start`] (or `start_training`) creates it on
//! that canvas; later calls queue what to show next, which the app opens on its next
//! frame (a case replaces a scenario and the other way round). The page must keep that
//! canvas element alive, moving it rather than making a new one.

use std::cell::{Cell, RefCell};

use bevy::prelude::*;
use twin_sim::case::Case;
use twin_sim::scenario::Scenario;
use twin_sim::verify::Anchor;
use wasm_bindgen::prelude::*;

use crate::render::ViewerPlugin;
use crate::{Monitor, TimelineCommand, Training, Verification, check_case, open_case, open_scenario};

/// What the page asked to show next.
pub(crate) enum Content {
    Case { case: Case, anchors: Option<Vec<Anchor>>, play: bool },
    Scenario { scenario: Box<Scenario>, play: bool },
}

thread_local! {
    static STARTED: Cell<bool> = const { Cell::new(false) };
    static NEXT: RefCell<Option<Content>> = const { RefCell::new(None) };
}

/// The canvas attributes the page reads; cleared when new content opens.
const MIRRORED: [&str; 11] = [
    "data-monitor",
    "data-stage",
    "data-time-ms",
    "data-time",
    "data-time-s",
    "data-playing",
    "data-feedback",
    "data-score",
    "data-debrief",
    "data-run",
    "data-error",
];

/// Shows `content` on `<canvas id=canvas_id>`: the first call makes the page's viewer app
/// on that canvas (and hands the event loop to the browser), later ones queue the content
/// for the running app's next frame.
pub(crate) fn show(canvas_id: &str, content: Content) {
    // What the page reads must not be the last content's (a score from the last run).
    if let Some(el) = web_sys_canvas(canvas_id) {
        for name in MIRRORED {
            let _ = el.remove_attribute(name);
        }
    }
    NEXT.with(|n| *n.borrow_mut() = Some(content));
    if STARTED.with(|s| s.replace(true)) {
        return;
    }
    let mut app = App::new();
    app.add_plugins(ViewerPlugin { canvas: Some(format!("#{canvas_id}")) })
        .insert_resource(CanvasId(canvas_id.to_owned()))
        .add_systems(PreUpdate, open_next)
        .add_systems(Last, mirror_monitor);
    crate::web_training::add_systems(&mut app);
    crate::web_draw::add_systems(&mut app);
    app.run();
}

/// Opens what the page queued, in place of what was shown.
fn open_next(world: &mut World) {
    let Some(content) = NEXT.with(|n| n.borrow_mut().take()) else { return };
    let canvas = world.get_resource::<CanvasId>().and_then(|c| web_sys_canvas(&c.0));
    let (play, failed) = match content {
        Content::Case { case, anchors, play } => {
            open_case(world, case);
            // The page sends the new case's annotations (`viewer_notes`) after it.
            world.insert_resource(crate::Notes::default());
            let failed = anchors.and_then(|a| check_case(world, &a).err()).map(|e| e.to_string());
            (play, failed)
        }
        Content::Scenario { scenario, play } => (play, open_scenario(world, &scenario).err().map(|e| e.to_string())),
    };
    if let (Some(e), Some(el)) = (failed, &canvas) {
        let _ = el.set_attribute("data-error", &e);
    }
    world.write_message(if play { TimelineCommand::Play } else { TimelineCommand::Pause });
}

/// Shows a case file (JSON, as `twin-sim import` writes it) on `<canvas id=canvas_id>`,
/// playing at once when `play`. `anchors_json`, when given, is the node's list of the
/// case's anchored segments (`GET /v1/records/{id}/segments`); every segment is then marked
/// verified, tampered or unverified. Returns an error in words when the case or the
/// anchors cannot be read.
#[wasm_bindgen]
pub fn start(canvas_id: &str, case_json: &str, anchors_json: Option<String>, play: bool) -> Result<(), JsValue> {
    let words = |e: String| JsValue::from_str(&e);
    let case = twin_sim::casefile::read_case("case", case_json).map_err(|e| words(e.to_string()))?;
    let anchors = anchors_json.as_deref().map(twin_sim::verify::parse_anchors).transpose().map_err(words)?;
    show(canvas_id, Content::Case { case, anchors, play });
    Ok(())
}

/// Checks a case file against the node's anchors without drawing, for the page to show
/// as text: JSON `{summary, all_verified, problems: [reason, ...]}`.
#[wasm_bindgen]
pub fn verify(case_json: &str, anchors_json: &str) -> Result<String, JsValue> {
    let words = |e: String| JsValue::from_str(&e);
    let case = twin_sim::casefile::read_case("case", case_json).map_err(|e| words(e.to_string()))?;
    let anchors = twin_sim::verify::parse_anchors(anchors_json).map_err(words)?;
    let checked = twin_sim::verify::verify_case(&case, &anchors).map_err(|e| words(e.to_string()))?;
    let problems: Vec<String> = checked.problems().map(|p| p.reason()).collect();
    Ok(serde_json::json!({ "summary": checked.summary(), "all_verified": checked.all_verified(), "problems": problems })
        .to_string())
}

#[derive(Resource)]
pub(crate) struct CanvasId(pub(crate) String);

fn mirror_monitor(
    monitor: Res<Monitor>,
    verification: Res<Verification>,
    canvas: Res<CanvasId>,
    playback: Option<Res<crate::Playback>>,
    timeline: Option<Res<crate::Timeline>>,
    training: Option<Res<Training>>,
) {
    let Some(el) = web_sys_canvas(&canvas.0) else { return };
    // Where the playhead is, for the page (a surgeon's annotation is made at this point).
    if let (Some(playback), Some(timeline)) = (playback, timeline)
        && playback.is_changed()
        && let Some((stage, us)) = timeline.locate(playback.clock.position_us())
    {
        let _ = el.set_attribute("data-stage", stage.human());
        let _ = el.set_attribute("data-time-ms", &(us / 1000).to_string());
    }
    // In training, `web_training` mirrors the monitor with the scenario's own lines.
    if training.is_some() || (!monitor.is_changed() && !verification.is_changed()) {
        return;
    }
    let mut text: Vec<String> =
        monitor.numerics.iter().map(|n| format!("{} {} {}", n.label, n.text(), n.unit)).collect();
    text.extend(monitor.alarms.iter().map(|a| format!("alarm {}", a.name())));
    if let Some(v) = &verification.0 {
        text.push(v.summary());
        text.extend(v.problems().take(5).map(|p| p.reason()));
    }
    let _ = el.set_attribute("data-monitor", &text.join("; "));
}

pub(crate) fn web_sys_canvas(id: &str) -> Option<web_sys::Element> {
    web_sys::window()?.document()?.get_element_by_id(id)
}
