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

/// `words` in lines no wider than `width` in the context's font.
fn wrap(ctx: &Ctx, words: &str, width: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in words.split_whitespace() {
        let fits = |l: &str| ctx.measure_text(&format!("{l} {word}")).is_ok_and(|m| m.width() <= width);
        match lines.last_mut() {
            Some(line) if fits(line) => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

fn limit_text(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.0}"))
}

/// One numeric's box: label and limits small, the value large in its colour; an alarming
/// numeric on the medium-priority yellow.
fn draw_tile(ctx: &Ctx, t: &Tile, x: f64, y: f64, w: f64, h: f64) {
    let colour = if t.alarming { "#000000".to_owned() } else { t.colour.css() };
    if t.alarming {
        ctx.set_fill_style_str("#ffd400");
        ctx.fill_rect(x + 2.0, y + 2.0, w - 4.0, h - 4.0);
    }
    font(ctx, 12.0, true);
    ctx.set_text_align("left");
    text(ctx, &format!("{} {}", t.label, t.unit), x + 8.0, y + 15.0, &colour);
    ctx.set_text_align("right");
    font(ctx, 11.0, false);
    text(ctx, &limit_text(t.limits.1), x + w - 6.0, y + 15.0, &colour);
    text(ctx, &limit_text(t.limits.0), x + w - 6.0, y + 28.0, &colour);
    // As large as the box allows, smaller when the value is long (`120/80 (93)`).
    let mut size = (h * 0.5).clamp(16.0, 40.0);
    font(ctx, size, true);
    while size > 10.0 && ctx.measure_text(&t.value).is_ok_and(|m| m.width() > w - 16.0) {
        size -= 2.0;
        font(ctx, size, true);
    }
    text(ctx, &t.value, x + w - 8.0, y + h - 8.0, &colour);
    ctx.set_text_align("left");
}

fn tile_json(t: &Tile) -> serde_json::Value {
    json!({ "label": t.label, "value": t.value, "unit": t.unit, "limits": [t.limits.0, t.limits.1], "alarming": t.alarming })
}

fn draw_monitor(
    monitor: Res<Monitor>,
    canvas: Res<CanvasId>,
    time: Res<Time>,
    mut drawn: Local<Option<(f64, f64)>>,
    mut mirrored: Local<String>,
) {
    let Some((el, ctx, w, h)) = canvas_2d(&format!("{}-monitor", canvas.0)) else { return };
    // Redrawn when something changed, the canvas was resized, or a banner flashes.
    if !monitor.is_changed() && monitor.alarms.is_empty() && *drawn == Some((w, h)) {
        return;
    }
    *drawn = Some((w, h));
    let screen = Screen::of(&monitor, &AlarmLimits::default());
    ctx.set_fill_style_str("#05080a");
    ctx.fill_rect(0.0, 0.0, w, h);
    ctx.set_text_baseline("alphabetic");
    // The banner: the sounding alarms by priority, flashing at their priority's rate.
    let t = time.elapsed_secs_f64();
    if screen.banners.is_empty() {
        font(&ctx, 13.0, false);
        text(&ctx, "no alarm", 8.0, 18.0, "#6c7a80");
    } else {
        let shown = screen.banners.len().min(3);
        let bw = w / shown as f64;
        for (i, b) in screen.banners.iter().take(shown).enumerate() {
            let lit = b.flash_hz == 0.0 || (t * b.flash_hz).fract() < 0.5;
            let x = i as f64 * bw;
            let colour = b.background.css();
            ctx.set_fill_style_str(if lit { &colour } else { "#2a2a2a" });
            ctx.fill_rect(x + 1.0, 1.0, bw - 2.0, BANNER_H - 2.0);
            font(&ctx, 14.0, true);
            text(&ctx, &b.text, x + 8.0, 18.0, if lit { "#000000" } else { &colour });
        }
    }
    let footer = !screen.tiles.is_empty() || screen.news2.is_some();
    let rows_top = BANNER_H;
    let rows_h = h - BANNER_H - if footer { FOOTER_H } else { 0.0 };
    let n = screen.channels.len();
    let wave_w = (w - TILE_W).max(50.0);
    let mut rows = Vec::new();
    for (i, c) in screen.channels.iter().enumerate() {
        let row_h = rows_h / n as f64;
        let top = rows_top + i as f64 * row_h;
        ctx.set_stroke_style_str("#1d2a30");
        ctx.set_line_width(1.0);
        ctx.stroke_rect(0.5, top + 0.5, w - 1.0, row_h - 1.0);
        ctx.set_stroke_style_str(&c.colour.css());
        ctx.set_line_width(1.5);
        trace(&ctx, &c.columns, c.scale, 0.0, wave_w, top + 6.0, row_h - 12.0);
        font(&ctx, 13.0, true);
        text(&ctx, &c.label, 6.0, top + 16.0, &c.colour.css());
        font(&ctx, 10.0, false);
        let scale = if c.fixed_scale {
            format!("{:.0}–{:.0} {}", c.scale.0, c.scale.1, c.unit)
        } else {
            format!("auto {}", c.unit)
        };
        text(&ctx, &scale, 6.0, top + row_h - 6.0, "#8a9aa0");
        if c.verified == Some(false) {
            font(&ctx, 12.0, true);
            text(&ctx, "NOT VERIFIED AGAINST THE LEDGER", 60.0, top + 16.0, "#ff3030");
        }
        if let Some(tile) = &c.tile {
            draw_tile(&ctx, tile, wave_w, top, TILE_W, row_h);
        }
        rows.push(json!({
            "label": c.label, "stream": c.stream, "unit": c.unit, "colour": c.colour.css(),
            "scale": [c.scale.0, c.scale.1], "fixed_scale": c.fixed_scale,
            "top": top, "height": row_h, "wave_width": wave_w, "cursor": c.cursor, "columns": c.columns.len(),
            "drawn": c.columns.iter().filter(|c| c.is_some()).count(), "verified": c.verified,
            "numeric": c.tile.as_ref().map(tile_json),
        }));
    }
    // Numerics without a wave: across the footer, or filling the screen when no wave shows.
    let (tiles_top, tiles_h) = if n == 0 { (rows_top, rows_h + FOOTER_H) } else { (h - FOOTER_H, FOOTER_H) };
    let per_row = if n == 0 { 3 } else { screen.tiles.len().max(1) + 1 };
    let tw = w / per_row as f64;
    let th = if n == 0 { (tiles_h / (screen.tiles.len() + 2).div_ceil(3) as f64).min(110.0) } else { tiles_h };
    for (i, tile) in screen.tiles.iter().enumerate() {
        let (col, row) = (i % per_row, i / per_row);
        draw_tile(&ctx, tile, col as f64 * tw, tiles_top + row as f64 * th, tw, th);
    }
    if let Some((words, warn)) = &screen.news2 {
        let i = screen.tiles.len();
        let (col, row) = (i % per_row, i / per_row);
        font(&ctx, 12.0, true);
        let colour = if *warn { "#ffd400" } else { "#3cf05a" };
        let x = col as f64 * tw + 8.0;
        let y = tiles_top + row as f64 * th;
        text(&ctx, "NEWS2", x, y + 15.0, colour);
        font(&ctx, 12.0, false);
        for (k, line) in wrap(&ctx, words, w - x - 8.0).iter().take(2).enumerate() {
            text(&ctx, line, x, y + 32.0 + 15.0 * k as f64, colour);
        }
    }
    let banners: Vec<_> = screen
        .banners
        .iter()
        .map(|b| json!({ "text": b.text, "priority": b.priority.name(), "colour": b.background.css(), "flash_hz": b.flash_hz }))
        .collect();
    let mirror = json!({
        "channels": rows, "tiles": screen.tiles.iter().map(tile_json).collect::<Vec<_>>(),
        "banners": banners, "news2": screen.news2.as_ref().map(|(s, _)| s),
        "sweep_mm_per_s": crate::monitor::SWEEP_MM_PER_S,
    })
    .to_string();
    if *mirrored != mirror {
        let _ = el.set_attribute("data-screen", &mirror);
        *mirrored = mirror;
    }
}

fn stage_colour(stage: Stage) -> Rgb {
    match stage {
        Stage::PreHospital => Rgb(0xd9, 0x8c, 0x26),
        Stage::Diagnosis => Rgb(0x40, 0x8c, 0xd9),
        Stage::Surgery => Rgb(0x33, 0xa6, 0x73),
    }
}

/// "surgical procedure 0:12:30" for a place on the case axis.
fn axis_time(timeline: &Timeline, t_us: u64) -> String {
    match timeline.locate(t_us) {
        Some((stage, us)) => {
            let s = us / 1_000_000;
            format!("{} {}:{:02}:{:02}", stage.human(), s / 3600, s / 60 % 60, s % 60)
        }
        None => String::new(),
    }
}

fn draw_trend(
    trend: Res<Trend>,
    timeline: Option<Res<Timeline>>,
    playback: Option<Res<Playback>>,
    canvas: Res<CanvasId>,
    mut last_head: Local<Option<i64>>,
    mut mirrored: Local<String>,
) {
    let (Some(timeline), Some(playback)) = (timeline, playback) else { return };
    let id = format!("{}-trend", canvas.0);
    let head_f = timeline.fraction_of(playback.clock.position_us());
    let document = web_sys::window().and_then(|w| w.document());
    let Some(width) = document.and_then(|d| d.get_element_by_id(&id)).map(|e| f64::from(e.client_width())) else {
        return;
    };
    let plot_w = (width - LABEL_W - 8.0).max(1.0);
    let head_px = (head_f * plot_w).round() as i64;
    if !trend.is_changed() && *last_head == Some(head_px) {
        return;
    }
    *last_head = Some(head_px);
    let Some((el, ctx, w, h)) = canvas_2d(&id) else { return };
    let x_of = |f: f64| LABEL_W + f * plot_w;
    ctx.set_fill_style_str("#0b1014");
    ctx.fill_rect(0.0, 0.0, w, h);
    ctx.set_text_baseline("alphabetic");
    // Stages as coloured bands with their names (click one to show it whole).
    for (stage, a, b) in &trend.stages {
        ctx.set_fill_style_str(&stage_colour(*stage).css());
        ctx.fill_rect(x_of(*a), 0.0, (x_of(*b) - x_of(*a)).max(1.0), STAGE_H - 2.0);
        if x_of(*b) - x_of(*a) > 60.0 {
            font(&ctx, 11.0, true);
            text(&ctx, stage.human(), x_of(*a) + 4.0, STAGE_H - 6.0, "#ffffff");
        }
    }
    BANDS.with(|b| *b.borrow_mut() = trend.stages.clone());
    let lanes_top = STAGE_H + MARK_H + NOTE_H;
    let lanes_h = (h - lanes_top - AXIS_H).max(1.0);
    let n = trend.lanes.len().max(1);
    let lane_h = lanes_h / n as f64;
    let mut lanes = Vec::new();
    for (i, lane) in trend.lanes.iter().enumerate() {
        let top = lanes_top + i as f64 * lane_h;
        ctx.set_fill_style_str(if i % 2 == 0 { "#10171c" } else { "#0d1317" });
        ctx.fill_rect(0.0, top, w, lane_h);
        for (a, b) in &lane.failed {
            ctx.set_fill_style_str("rgba(255,40,40,0.45)");
            ctx.fill_rect(x_of(*a), top, (x_of(*b) - x_of(*a)).max(3.0), lane_h);
        }
        ctx.set_stroke_style_str(&lane.colour.css());
        ctx.set_line_width(1.0);
        trace(&ctx, &lane.columns, lane.scale, LABEL_W, plot_w, top + 2.0, lane_h - 4.0);
        font(&ctx, 11.0, true);
        text(&ctx, &format!("{} {}", lane.name, lane.unit), 4.0, top + 12.0_f64.min(lane_h - 2.0), &lane.colour.css());
        if lane_h >= 26.0 {
            font(&ctx, 9.0, false);
            let range = format!("{:.0}–{:.0}", lane.scale.0, lane.scale.1);
            text(&ctx, &range, 4.0, top + lane_h - 3.0, "#8a9aa0");
        }
        lanes.push(json!({
            "name": lane.name, "unit": lane.unit, "colour": lane.colour.css(), "top": top, "height": lane_h,
            "drawn": lane.columns.iter().filter(|c| c.is_some()).count(), "columns": lane.columns.len(),
            "failed": lane.failed.iter().map(|(a, b)| [a, b]).collect::<Vec<_>>(),
        }));
    }
    // Events: a line through the lanes, the label in the marker strip where it fits.
    let mut free_from = 0.0;
    for m in &trend.markers {
        let x = x_of(m.fraction);
        ctx.set_stroke_style_str("rgba(150,180,255,0.55)");
        ctx.set_line_width(1.0);
        ctx.begin_path();
        ctx.move_to(x, STAGE_H);
        ctx.line_to(x, lanes_top + lanes_h);
        ctx.stroke();
        font(&ctx, 10.0, false);
        let label: String = m.label.chars().take(28).collect();
        let lw = ctx.measure_text(&label).map_or(60.0, |t| t.width());
        if x >= free_from {
            text(&ctx, &label, x + 2.0, STAGE_H + MARK_H - 3.0, "#aac0ff");
            free_from = x + lw + 6.0;
        }
    }
    // Signed annotations: a flag with the author and the text.
    let mut notes = Vec::new();
    for (i, nm) in trend.notes.iter().enumerate() {
        let x = x_of(nm.fraction);
        ctx.set_stroke_style_str("#ff5cf0");
        ctx.set_line_width(2.0);
        ctx.begin_path();
        ctx.move_to(x, STAGE_H + MARK_H);
        ctx.line_to(x, lanes_top + lanes_h);
        ctx.stroke();
        let next_x = trend.notes.get(i + 1).map_or(w, |n| x_of(n.fraction));
        let room = ((next_x - x - 8.0) / 6.0).max(8.0) as usize;
        let label: String = format!("{}: {}", nm.note.author, nm.note.text).chars().take(room).collect();
        ctx.set_fill_style_str("#ff5cf0");
        ctx.fill_rect(x, STAGE_H + MARK_H, 6.0, NOTE_H - 4.0);
        font(&ctx, 10.0, true);
        text(&ctx, &label, x + 8.0, STAGE_H + MARK_H + NOTE_H - 5.0, "#ff9cf6");
        notes.push(json!({
            "author": nm.note.author, "text": nm.note.text, "signed": nm.note.signed,
            "stage": nm.note.stage.human(), "at_ms": nm.note.at_ms, "x": x,
        }));
    }
    // The playhead.
    if (0.0..=1.0).contains(&head_f) {
        ctx.set_stroke_style_str("#ffffff");
        ctx.set_line_width(1.5);
        ctx.begin_path();
        ctx.move_to(x_of(head_f), STAGE_H);
        ctx.line_to(x_of(head_f), lanes_top + lanes_h);
        ctx.stroke();
    }
    // The view's ends on the axis.
    font(&ctx, 10.0, false);
    let (v0, v1) = trend.view_us;
    text(&ctx, &axis_time(&timeline, v0), LABEL_W, h - 4.0, "#c0c8cc");
    ctx.set_text_align("right");
    text(&ctx, &axis_time(&timeline, v1.saturating_sub(1)), LABEL_W + plot_w, h - 4.0, "#c0c8cc");
    ctx.set_text_align("left");
    let mirror = json!({
        "view_s": [v0 as f64 / 1e6, v1 as f64 / 1e6],
        "stages": trend.stages.iter().map(|(s, a, b)| json!({ "stage": s.human(), "from": a, "to": b })).collect::<Vec<_>>(),
        "lanes": lanes,
        "markers": trend.markers.iter().map(|m| json!({ "label": m.label, "x": x_of(m.fraction) })).collect::<Vec<_>>(),
        "notes": notes,
        "plot": [LABEL_W, LABEL_W + plot_w],
    })
    .to_string();
    if *mirrored != mirror {
        let _ = el.set_attribute("data-trend", &mirror);
        *mirrored = mirror;
    }
}
