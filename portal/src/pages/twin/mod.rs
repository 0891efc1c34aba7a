//! The digital twin in the portal, one page per file: `cases` (`/twin`, the twin cases I may
//! open), `case` (`/twin/case/:id`, one case replayed, checked against its anchors and
//! annotated), `training` (`/twin/train`, the built-in scenarios); `notes` (the surgeons'
//! signed annotations, written and read back as FHIR Observations). Here the glue they
//! share: where the twin viewer is (it may still be building), loading it (its own
//! WebAssembly module, never part of the portal's first page) and the one viewer canvas the
//! pages move between them.

mod case;
mod cases;
mod notes;
mod training;

pub use case::TwinCase;
pub use cases::TwinCases;
pub use training::Training;

use serde::Deserialize;
use wasm_bindgen::prelude::*;
use yew::prelude::*;

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
pub(super) async fn viewer_url(waiting: impl Fn(bool)) -> Result<String, String> {
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
pub(super) const VIEWER_BUILDING: &str = "The twin viewer is still being built on this server (a first start takes a while). \
This page loads it as soon as it is ready.";

/// Data sources of the demo case, shown under the viewer.
pub(super) const ATTRIBUTION: &str = "Demo data: pre-hospital trends from MIMIC II numerics s00001 and the surgery from \
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
    pub(super) async fn open_twin_viewer(
        url: &str,
        canvas: &str,
        case_json: &str,
        anchors_json: &str,
    ) -> Result<JsValue, JsValue>;
    /// Downloads the viewer; the built-in scenarios as JSON.
    #[wasm_bindgen(catch)]
    pub(super) async fn training_scenarios(url: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch)]
    pub(super) fn training_start(canvas: &str, toml: &str) -> Result<(), JsValue>;
    #[wasm_bindgen(catch)]
    pub(super) fn training_act(kind: &str, value: f64) -> Result<(), JsValue>;
    #[wasm_bindgen(catch)]
    pub(super) fn training_play(play: bool) -> Result<(), JsValue>;
    #[wasm_bindgen(catch)]
    pub(super) fn training_speed(speed: f64) -> Result<(), JsValue>;
    /// A timeline control (see the viewer's `viewer_control`).
    #[wasm_bindgen(catch)]
    pub(super) fn viewer_control(name: &str, value: f64) -> Result<(), JsValue>;
    /// The open case's annotations for the trend view, as JSON (see the viewer's `viewer_notes`).
    #[wasm_bindgen(catch)]
    pub(super) fn viewer_notes(json: &str) -> Result<(), JsValue>;
    /// Moves the page's one viewer (the patient, monitor and trend canvases) into the
    /// element with id `frame`.
    fn attach_canvas(frame: &str);
    /// Moves the viewer canvas off screen (the page is leaving the twin) and pauses it.
    fn park_canvas();
}

/// A JavaScript error in words.
pub(super) fn js_words(e: &JsValue) -> String {
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// Where the viewer draws: the page's one viewer canvas, moved in while this is shown.
#[function_component(TwinCanvas)]
pub(super) fn twin_canvas() -> Html {
    use_effect_with((), |_| {
        attach_canvas("twin-frame");
        park_canvas
    });
    html! { <div class="twin-frame" id="twin-frame"></div> }
}
