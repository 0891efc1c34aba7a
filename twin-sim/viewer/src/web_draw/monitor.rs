//! The bedside monitor on its Canvas 2D: a row per wave sweeping behind the erase bar, its
//! numeric beside it with unit and limits, the stand-alone numerics, the alarm banner by
//! priority, NEWS2; mirrored as `data-screen`.

use super::*;

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

pub(super) fn draw_monitor(
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
