//! The case at a glance on its Canvas 2D: a lane per stream over the timeline's view, the
//! stages' bands, the events, the signed annotations, the failed stretches in red and the
//! playhead; mirrored as `data-trend`.

use super::*;

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

pub(super) fn draw_trend(
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
