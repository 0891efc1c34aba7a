//! The viewer in a web page (feature `web`, wasm32): JavaScript starts it with a canvas's
//! id, a case file's JSON and, for a surgeon's review, the segment hashes the ledger
//! anchored for the case (every segment is checked before the first frame); it draws with
//! WebGL2 into that canvas. What the monitor
//! shows is mirrored as text into the canvas's `data-monitor` attribute, and the playhead
//! into `data-stage` and `data-time-ms` (time within that stage), so a page (and its
//! tests) can read them without reading pixels.

use bevy::prelude::*;
use wasm_bindgen::prelude::*;

use crate::render::ViewerPlugin;
use crate::{Monitor, Verification, check_case, open_case};

/// Starts the viewer on `<canvas id=canvas_id>` with a case file (JSON, as `twin-sim
/// import` writes it), playing at once when `play`. `anchors_json`, when given, is the
/// node's list of the case's anchored segments (`GET /v1/records/{id}/segments`); every
/// segment is then marked verified, tampered or unverified. Returns an error in words when
/// the case or the anchors cannot be read.
#[wasm_bindgen]
pub fn start(canvas_id: &str, case_json: &str, anchors_json: Option<String>, play: bool) -> Result<(), JsValue> {
    let words = |e: String| JsValue::from_str(&e);
    let case = twin_sim::casefile::read_case("case", case_json).map_err(|e| words(e.to_string()))?;
    let anchors = anchors_json.as_deref().map(twin_sim::verify::parse_anchors).transpose().map_err(words)?;
    let mut app = App::new();
    app.add_plugins(ViewerPlugin { canvas: Some(format!("#{canvas_id}")) });
    open_case(app.world_mut(), case);
    if let Some(anchors) = anchors {
        check_case(app.world_mut(), &anchors).map_err(|e| words(e.to_string()))?;
    }
    if play {
        app.world_mut().write_message(crate::TimelineCommand::Play);
    }
    app.insert_resource(CanvasId(canvas_id.to_owned())).add_systems(Last, mirror_monitor);
    app.run();
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
struct CanvasId(String);

fn mirror_monitor(
    monitor: Res<Monitor>,
    verification: Res<Verification>,
    canvas: Res<CanvasId>,
    playback: Option<Res<crate::Playback>>,
    timeline: Option<Res<crate::Timeline>>,
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
    if !monitor.is_changed() && !verification.is_changed() {
        return;
    }
    let mut text: Vec<String> =
        monitor.numerics.iter().map(|n| format!("{} {} {}", n.label, n.text(), n.unit)).collect();
    text.extend(monitor.alarms.iter().map(|(k, _)| format!("alarm {k}")));
    if let Some(v) = &verification.0 {
        text.push(v.summary());
        text.extend(v.problems().take(5).map(|p| p.reason()));
    }
    let _ = el.set_attribute("data-monitor", &text.join("; "));
}

fn web_sys_canvas(id: &str) -> Option<web_sys::Element> {
    web_sys::window()?.document()?.get_element_by_id(id)
}
