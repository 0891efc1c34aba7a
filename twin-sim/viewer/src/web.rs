//! The viewer in a web page (feature `web`, wasm32): JavaScript starts it with a canvas's
//! id and a case file's JSON; it draws with WebGL2 into that canvas. What the monitor
//! shows is mirrored as text into the canvas's `data-monitor` attribute, so a page (and
//! its tests) can read the numbers without reading pixels.

use bevy::prelude::*;
use wasm_bindgen::prelude::*;

use crate::render::ViewerPlugin;
use crate::{Monitor, Verification, open_case};

/// Starts the viewer on `<canvas id=canvas_id>` with a case file (JSON, as `twin-sim
/// import` writes it), playing at once when `play`. Returns an error in words when the
/// case cannot be read.
#[wasm_bindgen]
pub fn start(canvas_id: &str, case_json: &str, play: bool) -> Result<(), JsValue> {
    let case = twin_sim::casefile::read_case("case", case_json).map_err(|e| JsValue::from_str(&e.to_string()))?;
    let mut app = App::new();
    app.add_plugins(ViewerPlugin { canvas: Some(format!("#{canvas_id}")) });
    open_case(app.world_mut(), case);
    if play {
        app.world_mut().write_message(crate::TimelineCommand::Play);
    }
    app.insert_resource(CanvasId(canvas_id.to_owned())).add_systems(Last, mirror_monitor);
    app.run();
    Ok(())
}

#[derive(Resource)]
struct CanvasId(String);

fn mirror_monitor(monitor: Res<Monitor>, verification: Res<Verification>, canvas: Res<CanvasId>) {
    if !monitor.is_changed() && !verification.is_changed() {
        return;
    }
    let Some(el) = web_sys_canvas(&canvas.0) else { return };
    let mut text: Vec<String> =
        monitor.numerics.iter().map(|n| format!("{} {} {}", n.label, n.text(), n.unit)).collect();
    text.extend(monitor.alarms.iter().map(|(k, _)| format!("alarm {k}")));
    if let Some(v) = &verification.0 {
        text.push(v.summary());
    }
    let _ = el.set_attribute("data-monitor", &text.join("; "));
}

fn web_sys_canvas(id: &str) -> Option<web_sys::Element> {
    web_sys::window()?.document()?.get_element_by_id(id)
}
