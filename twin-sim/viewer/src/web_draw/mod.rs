//! The bedside monitor and the case at a glance drawn with the page's Canvas 2D (feature
//! `web`, wasm32), beside the 3D patient: `<canvas id="{id}-monitor">` shows [`Screen`]
//! (a row per wave sweeping at 25 mm/s, numerics with limits, the alarm banner, NEWS2) and
//! `<canvas id="{id}-trend">` shows [`Trend`] (every stream over the view, stages, events,
//! signed annotations, failed segments, the playhead), where `id` is the 3D canvas's.
//!
//! On the trend canvas a click seeks, a click on a stage's band shows it whole, the wheel
//! zooms around the pointer and a drag pans; each becomes a [`TimelineCommand`], queued on
//! this (the page's only) thread and handed to the app on its next frame.
//!
//! What is drawn is mirrored as JSON for the page and its tests, without reading pixels:
//! `data-screen` on the monitor canvas (each row's label, stream, numeric, unit, limits,
//! scale and place; the tiles; the banners; NEWS2) and `data-trend` on the trend canvas (the
//! view, each lane with how many columns hold data, the markers, the notes, the failed
//! stretches).
//!
//! Here the input and what both canvases share; `monitor` and `trend` draw one each.

mod monitor;
mod trend;

use monitor::draw_monitor;
use trend::draw_trend;

use std::cell::{Cell, RefCell};

use bevy::prelude::*;
use serde_json::json;
use twin_sim::alarms::AlarmLimits;
use twin_sim::case::Stage;
use twin_sim::replay::MinMax;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{CanvasRenderingContext2d as Ctx, HtmlCanvasElement};

use crate::monitor::{Monitor, Sweep};
use crate::screen::{Rgb, Screen, Tile};
use crate::sync::{Playback, SyncSystems};
use crate::timeline::{Timeline, TimelineCommand};
use crate::trend::{Note, Notes, Trend, TrendColumns, TrendPlugin};
use crate::web::CanvasId;

/// Width of the numerics beside each row of the monitor, CSS px.
const TILE_W: f64 = 180.0;
/// Height of the alarm banner, and of the footer of stand-alone numerics.
const BANNER_H: f64 = 26.0;
const FOOTER_H: f64 = 58.0;
/// The trend view's lane labels, its stage band, marker and note strips, and time axis.
const LABEL_W: f64 = 112.0;
const STAGE_H: f64 = 18.0;
const MARK_H: f64 = 14.0;
const NOTE_H: f64 = 16.0;
const AXIS_H: f64 = 16.0;
/// The most commands or notes that may wait for the next frame.
const MAX_PENDING: usize = 64;

thread_local! {
    static INPUT: RefCell<Vec<TimelineCommand>> = const { RefCell::new(Vec::new()) };
    static NOTES: RefCell<Option<Vec<Note>>> = const { RefCell::new(None) };
    /// The stages' bands as last drawn (fractions of the plot), for clicks on them.
    static BANDS: RefCell<Vec<(Stage, f64, f64)>> = const { RefCell::new(Vec::new()) };
    static HOOKED: Cell<bool> = const { Cell::new(false) };
    /// Where a press on the trend began and how far it has dragged, CSS px.
    static PRESS: Cell<Option<(f64, f64)>> = const { Cell::new(None) };
}

/// The drawing systems of the page's viewer app.
pub(crate) fn add_systems(app: &mut App) {
    app.add_plugins(TrendPlugin)
        .add_systems(PreUpdate, fit_to_canvases)
        .add_systems(Update, take_input.in_set(SyncSystems::Commands))
        .add_systems(Last, (draw_monitor, draw_trend));
}

/// Sets the annotations drawn on the trend view of the open case: JSON `[{stage, at_ms,
/// author, text, signed}]`, `stage` as the viewer names it in `data-stage` (for example
/// "surgical procedure"). Returns an error in words when the list does not read.
#[wasm_bindgen]
pub fn viewer_notes(notes_json: &str) -> Result<(), JsValue> {
    let words = |e: String| JsValue::from_str(&e);
    let list: Vec<serde_json::Value> =
        serde_json::from_str(notes_json).map_err(|e| words(format!("the annotations are not a JSON list: {e}")))?;
    if list.len() > 10_000 {
        return Err(words("more than 10,000 annotations".into()));
    }
    let mut notes = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let stage_name = text("stage").unwrap_or_default();
        let stage = Stage::ALL
            .iter()
            .copied()
            .find(|s| s.human() == stage_name)
            .ok_or_else(|| words(format!("annotation {i}: {stage_name:?} is not a stage of a case")))?;
        let at_ms = v
            .get("at_ms")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| words(format!("annotation {i}: no time in the stage (at_ms)")))?;
        notes.push(Note {
            stage,
            at_ms,
            author: text("author").unwrap_or_default(),
            text: text("text").unwrap_or_default(),
            signed: text("signed").unwrap_or_default(),
        });
    }
    NOTES.with(|n| *n.borrow_mut() = Some(notes));
    Ok(())
}

/// A timeline control from the page's own buttons: `toggle` (play or pause), `previous`
/// and `next` (event), `zoom_in`, `zoom_out`, `whole` (the whole case in view), `stage`
/// (`value` 1 pre-hospital, 2 diagnosis, 3 surgery), `speed` (`value`, 0.25 to 64), `seek`
/// (`value` seconds on the case's axis). Taken
/// on the next frame; an unknown control is refused in words.
#[wasm_bindgen]
pub fn viewer_control(name: &str, value: f64) -> Result<(), JsValue> {
    let command = match name {
        "toggle" => TimelineCommand::TogglePlay,
        "previous" => TimelineCommand::PreviousMarker,
        "next" => TimelineCommand::NextMarker,
        "zoom_in" => TimelineCommand::Zoom(2.0),
        "zoom_out" => TimelineCommand::Zoom(0.5),
        "whole" => TimelineCommand::Zoom(0.0_f64.next_up()),
        "speed" if value.is_finite() => TimelineCommand::SetSpeed(value),
        "seek" if value.is_finite() => TimelineCommand::Seek((value.max(0.0) * 1e6) as u64),
        "stage" => match value as u8 {
            1 => TimelineCommand::ShowStage(Stage::PreHospital),
            2 => TimelineCommand::ShowStage(Stage::Diagnosis),
            3 => TimelineCommand::ShowStage(Stage::Surgery),
            _ => return Err(JsValue::from_str("stage is 1 (pre-hospital), 2 (diagnosis) or 3 (surgery)")),
        },
        _ => {
            return Err(JsValue::from_str(&format!(
                "`{name}` is not a control: toggle, previous, next, zoom_in, zoom_out, whole, stage, speed, seek"
            )));
        }
    };
    queue(command);
    Ok(())
}

/// Hands the trend canvas's commands and the page's notes to the app.
fn take_input(mut out: MessageWriter<TimelineCommand>, mut notes: ResMut<Notes>) {
    let commands: Vec<TimelineCommand> = INPUT.with(|c| c.borrow_mut().drain(..).collect());
    out.write_batch(commands);
    if let Some(fresh) = NOTES.with(|n| n.borrow_mut().take()) {
        notes.0 = fresh;
    }
}

fn queue(command: TimelineCommand) {
    INPUT.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() < MAX_PENDING {
            c.push(command);
        }
    });
}

/// A 2D canvas of the page, sized to its CSS box at the screen's pixel ratio, with its
/// context scaled so that drawing is in CSS pixels: `(element, context, width, height)`.
fn canvas_2d(id: &str) -> Option<(HtmlCanvasElement, Ctx, f64, f64)> {
    let window = web_sys::window()?;
    let el: HtmlCanvasElement = window.document()?.get_element_by_id(id)?.dyn_into().ok()?;
    let (w, h) = (f64::from(el.client_width()), f64::from(el.client_height()));
    if w < 50.0 || h < 50.0 {
        return None;
    }
    let ratio = window.device_pixel_ratio().clamp(1.0, 3.0);
    let (pw, ph) = ((w * ratio).round() as u32, (h * ratio).round() as u32);
    if el.width() != pw || el.height() != ph {
        el.set_width(pw);
        el.set_height(ph);
    }
    let ctx: Ctx = el.get_context("2d").ok()??.dyn_into().ok()?;
    ctx.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0).ok()?;
    Some((el, ctx, w, h))
}

/// Sweeps as wide as the monitor's wave area and computes the trend in as many columns as
/// its plot is wide; hooks the trend canvas's pointer once it is on the page.
fn fit_to_canvases(canvas: Res<CanvasId>, mut sweep: ResMut<Sweep>, mut columns: ResMut<TrendColumns>) {
    let document = web_sys::window().and_then(|w| w.document());
    let width = |suffix: &str| {
        document
            .as_ref()
            .and_then(|d| d.get_element_by_id(&format!("{}-{suffix}", canvas.0)))
            .map(|e| f64::from(e.client_width()))
            .filter(|w| *w >= 50.0)
    };
    if let Some(w) = width("monitor") {
        let fresh = Sweep::for_width(w - TILE_W);
        if *sweep != fresh {
            *sweep = fresh;
        }
    }
    if let Some(w) = width("trend") {
        let fresh = TrendColumns(((w - LABEL_W - 8.0).round() as usize).clamp(50, 4000));
        if *columns != fresh {
            *columns = fresh;
        }
        if !HOOKED.with(Cell::get)
            && let Some(el) = document.as_ref().and_then(|d| d.get_element_by_id(&format!("{}-trend", canvas.0)))
        {
            hook_trend(&el);
            HOOKED.with(|h| h.set(true));
        }
    }
}

/// The plot's fraction under a pointer event's x (CSS px on the canvas).
fn plot_fraction(el: &web_sys::Element, x: f64) -> f64 {
    let plot_w = (f64::from(el.client_width()) - LABEL_W - 8.0).max(1.0);
    (x - LABEL_W) / plot_w
}

fn listen<E: wasm_bindgen::convert::FromWasmAbi + 'static>(
    el: &web_sys::Element,
    event: &str,
    passive: bool,
    f: impl FnMut(E) + 'static,
) {
    let closure = Closure::<dyn FnMut(E)>::new(f);
    let options = web_sys::AddEventListenerOptions::new();
    options.set_passive(passive);
    let _ = el.add_event_listener_with_callback_and_add_event_listener_options(
        event,
        closure.as_ref().unchecked_ref(),
        &options,
    );
    // The canvas lives as long as the page: so does its listener.
    closure.forget();
}

fn hook_trend(el: &web_sys::Element) {
    let target = el.clone();
    listen(el, "mousedown", true, move |e: web_sys::MouseEvent| {
        PRESS.with(|p| p.set(Some((f64::from(e.offset_x()), 0.0))));
    });
    let target2 = target.clone();
    listen(el, "mousemove", true, move |e: web_sys::MouseEvent| {
        let Some((last, moved)) = PRESS.with(Cell::get) else { return };
        if e.buttons() & 1 == 0 {
            return PRESS.with(|p| p.set(None));
        }
        let x = f64::from(e.offset_x());
        let plot_w = (f64::from(target2.client_width()) - LABEL_W - 8.0).max(1.0);
        let moved = moved + (x - last).abs();
        if moved > 3.0 {
            queue(TimelineCommand::Pan(-(x - last) / plot_w));
        }
        PRESS.with(|p| p.set(Some((x, moved))));
    });
    let target3 = target.clone();
    listen(el, "click", true, move |e: web_sys::MouseEvent| {
        let dragged = PRESS.with(|p| p.replace(None)).is_some_and(|(_, moved)| moved > 3.0);
        if dragged {
            return;
        }
        let (x, y) = (f64::from(e.offset_x()), f64::from(e.offset_y()));
        let f = plot_fraction(&target3, x);
        if y < STAGE_H {
            let band = BANDS.with(|b| b.borrow().iter().find(|(_, a, b)| (*a..=*b).contains(&f)).map(|(s, _, _)| *s));
            if let Some(stage) = band {
                return queue(TimelineCommand::ShowStage(stage));
            }
        }
        if (0.0..=1.0).contains(&f) {
            queue(TimelineCommand::DragTo(f));
        }
    });
    listen(el, "wheel", false, move |e: web_sys::WheelEvent| {
        e.prevent_default();
        let fraction = plot_fraction(&target, f64::from(e.offset_x())).clamp(0.0, 1.0);
        let factor = if e.delta_y() < 0.0 { 1.5 } else { 1.0 / 1.5 };
        queue(TimelineCommand::ZoomAt { factor, fraction });
    });
}

fn font(ctx: &Ctx, px: f64, bold: bool) {
    ctx.set_font(&format!("{}{px}px system-ui, sans-serif", if bold { "bold " } else { "" }));
}

fn text(ctx: &Ctx, s: &str, x: f64, y: f64, colour: &str) {
    ctx.set_fill_style_str(colour);
    let _ = ctx.fill_text(s, x, y);
}

/// Draws a trace's min/max columns between `x0` and `x0 + w` in a band `[top, top + h]`,
/// scaled to `(lo, hi)`; `None` columns break the line (gaps, the erase bar).
fn trace(ctx: &Ctx, columns: &[Option<MinMax>], (lo, hi): (f64, f64), x0: f64, w: f64, top: f64, h: f64) {
    let span = if hi > lo { hi - lo } else { 1.0 };
    let y = |v: f64| top + h * ((hi - v) / span).clamp(0.0, 1.0);
    let n = columns.len().max(1) as f64;
    ctx.begin_path();
    let mut drawing = false;
    let mut dots = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        let x = x0 + w * i as f64 / n;
        match c {
            Some(c) => {
                if drawing {
                    ctx.line_to(x, y(c.max));
                } else {
                    ctx.move_to(x, y(c.max));
                    drawing = true;
                }
                ctx.line_to(x + 0.5, y(c.min));
                // A reading with nothing beside it (a sparse track, a stage narrower than a
                // column) would be a speck: it gets a dot.
                let alone = |j: Option<usize>| j.and_then(|j| columns.get(j)).is_none_or(Option::is_none);
                if alone(i.checked_sub(1)) && alone(Some(i + 1)) {
                    dots.push((x, y(c.max), y(c.min)));
                }
            }
            None => drawing = false,
        }
    }
    ctx.stroke();
    if let Some(colour) = ctx.stroke_style().as_string() {
        ctx.set_fill_style_str(&colour);
    }
    for (x, top, bottom) in dots {
        ctx.fill_rect(x - 1.5, top - 1.5, 3.0, bottom - top + 3.0);
    }
}
