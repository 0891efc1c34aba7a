//! The case timeline: the three stages laid end to end on one time axis, the events as
//! markers, a zoomable view window that follows the playhead, and the commands a person
//! gives it (play, pause, seek by drag, speed, jump to an event or a stage, zoom).
//!
//! `Timeline` is plain data with pure methods (tested directly); `TimelinePlugin` applies
//! `TimelineCommand` messages to it and to the playback clock each frame.

use bevy::prelude::*;
use twin_sim::case::{Case, EventKind, Stage};

use crate::sync::{Playback, SyncSystems};

/// The order stages are laid out in, as the case unfolds.
pub const STAGE_ORDER: [Stage; 3] = [Stage::PreHospital, Stage::Diagnosis, Stage::Surgery];

/// The narrowest view the timeline zooms to: one second.
pub const MIN_VIEW_US: u64 = 1_000_000;

/// Where one stage lies on the case's time axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageSpan {
    pub stage: Stage,
    pub start_us: u64,
    pub end_us: u64,
}

/// One event on the time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at_us: u64,
    pub stage: Stage,
    pub kind: EventKind,
    pub label: String,
}

/// The case's time axis and the part of it on screen.
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct Timeline {
    spans: Vec<StageSpan>,
    markers: Vec<Marker>,
    view_start_us: u64,
    view_len_us: u64,
}

impl Timeline {
    /// The stages the case has, in case order, end to end; the whole case in view.
    pub fn for_case(case: &Case) -> Timeline {
        let mut spans = Vec::new();
        let mut markers = Vec::new();
        let mut start_us = 0u64;
        for stage in STAGE_ORDER {
            let Some(data) = case.stage(stage) else { continue };
            let events_end = data.events.iter().map(|e| e.time_ms).max().unwrap_or(0);
            // A stage with only events at 0 still gets a visible second.
            let len_us = (data.duration_ms().max(events_end) * 1000).max(MIN_VIEW_US);
            spans.push(StageSpan { stage, start_us, end_us: start_us + len_us });
            markers.extend(data.events.iter().map(|e| Marker {
                at_us: start_us + e.time_ms * 1000,
                stage,
                kind: e.kind,
                label: e.label.clone(),
            }));
            start_us += len_us;
        }
        markers.sort_by_key(|m| m.at_us);
        Timeline { spans, markers, view_start_us: 0, view_len_us: start_us.max(MIN_VIEW_US) }
    }

    /// A training scenario's axis: one surgery span `duration_us` long, no markers yet
    /// (the training plugin adds events and actions as they happen); all of it in view.
    pub fn for_scenario(duration_us: u64) -> Timeline {
        let len_us = duration_us.max(MIN_VIEW_US);
        Timeline {
            spans: vec![StageSpan { stage: Stage::Surgery, start_us: 0, end_us: len_us }],
            markers: Vec::new(),
            view_start_us: 0,
            view_len_us: len_us,
        }
    }

    /// Adds a marker, after any already at the same time.
    pub fn push_marker(&mut self, marker: Marker) {
        let i = self.markers.partition_point(|m| m.at_us <= marker.at_us);
        self.markers.insert(i, marker);
    }

    pub fn spans(&self) -> &[StageSpan] {
        &self.spans
    }

    pub fn markers(&self) -> &[Marker] {
        &self.markers
    }

    /// The whole case's length on the axis.
    pub fn total_us(&self) -> u64 {
        self.spans.last().map_or(0, |s| s.end_us)
    }

    /// The stage at `t_us` and the time inside it (the last stage holds the very end).
    pub fn locate(&self, t_us: u64) -> Option<(Stage, u64)> {
        let span = self.spans.iter().find(|s| t_us < s.end_us).or(self.spans.last())?;
        Some((span.stage, t_us.saturating_sub(span.start_us).min(span.end_us - span.start_us)))
    }

    /// Where a stage starts on the axis.
    pub fn stage_start_us(&self, stage: Stage) -> Option<u64> {
        self.spans.iter().find(|s| s.stage == stage).map(|s| s.start_us)
    }

    /// Puts one stage, whole, in view (stages differ in length by orders of magnitude:
    /// years of diagnosis beside minutes of surgery) and returns where it starts.
    pub fn show_stage(&mut self, stage: Stage) -> Option<u64> {
        let span = *self.spans.iter().find(|s| s.stage == stage)?;
        let total = self.total_us().max(MIN_VIEW_US);
        self.view_len_us = (span.end_us - span.start_us).clamp(MIN_VIEW_US.min(total), total);
        self.view_start_us = span.start_us.min(total - self.view_len_us);
        Some(span.start_us)
    }

    /// The part of the axis on screen, `[start, end)`.
    pub fn view(&self) -> (u64, u64) {
        (self.view_start_us, self.view_start_us + self.view_len_us)
    }

    /// The time at a fraction (0 = left edge, 1 = right edge) of the view: where a drag on
    /// the timeline bar seeks to. Out-of-range fractions are held to the edges.
    pub fn time_at_fraction(&self, fraction: f64) -> u64 {
        let f = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
        (self.view_start_us + (self.view_len_us as f64 * f).round() as u64).min(self.total_us())
    }

    /// Where `t_us` falls in the view, as a fraction (outside 0..=1 when off screen).
    pub fn fraction_of(&self, t_us: u64) -> f64 {
        (t_us as f64 - self.view_start_us as f64) / self.view_len_us as f64
    }

    /// Zooms by `factor` (2 = twice as close, 0.5 = twice as far) keeping `around_us` at the
    /// same place on screen; the view stays between one second and the whole case.
    pub fn zoom(&mut self, factor: f64, around_us: u64) {
        if !(factor.is_finite() && factor > 0.0) {
            return;
        }
        let total = self.total_us().max(MIN_VIEW_US);
        let new_len = ((self.view_len_us as f64 / factor).round() as u64).clamp(MIN_VIEW_US.min(total), total);
        let anchor = self.fraction_of(around_us).clamp(0.0, 1.0);
        let start = around_us as f64 - anchor * new_len as f64;
        self.view_len_us = new_len;
        self.view_start_us = (start.max(0.0) as u64).min(total - new_len);
    }

    /// Moves the view by `fraction` of its length (positive: later), within the case.
    pub fn pan(&mut self, fraction: f64) {
        if !fraction.is_finite() {
            return;
        }
        let total = self.total_us().max(MIN_VIEW_US);
        let start = self.view_start_us as f64 + fraction * self.view_len_us as f64;
        self.view_start_us = (start.max(0.0) as u64).min(total - self.view_len_us);
    }

    /// Scrolls the view, if needed, so that `t_us` is on screen (pages forward or back).
    pub fn follow(&mut self, t_us: u64) {
        let total = self.total_us().max(MIN_VIEW_US);
        let (start, end) = self.view();
        if t_us < start || t_us >= end {
            self.view_start_us = t_us.min(total - self.view_len_us);
        }
    }

    /// The first marker strictly after `t_us`, and the last strictly before it.
    pub fn next_marker(&self, t_us: u64) -> Option<usize> {
        self.markers.iter().position(|m| m.at_us > t_us)
    }

    pub fn previous_marker(&self, t_us: u64) -> Option<usize> {
        self.markers.iter().rposition(|m| m.at_us < t_us)
    }
}

/// What a person asks of the timeline (buttons, keys, drags and clicks send these).
#[derive(Message, Debug, Clone, PartialEq)]
pub enum TimelineCommand {
    Play,
    Pause,
    TogglePlay,
    /// Seek to a time on the case axis.
    Seek(u64),
    /// Seek to a fraction of the visible window (a drag on the bar).
    DragTo(f64),
    /// Playback speed, clamped to 0.25×–64×.
    SetSpeed(f64),
    /// Jump to an event marker (its index in `Timeline::markers`).
    JumpToMarker(usize),
    NextMarker,
    PreviousMarker,
    /// Zoom the view around the playhead.
    Zoom(f64),
    /// Zoom the view around a point at a fraction of it (under the mouse), the playhead
    /// staying where it is.
    ZoomAt {
        factor: f64,
        fraction: f64,
    },
    /// Move the view by a fraction of its length (a drag on the trend view).
    Pan(f64),
    /// Show one stage whole and move the playhead to its start.
    ShowStage(Stage),
}

/// Applies timeline commands before the clock advances, and keeps the playhead in view.
pub struct TimelinePlugin;

impl Plugin for TimelinePlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<TimelineCommand>()
            .add_systems(Update, apply_commands.in_set(SyncSystems::Commands))
            .add_systems(Update, follow_playhead.in_set(SyncSystems::Follow));
    }
}

pub(crate) fn apply_commands(
    mut commands: MessageReader<TimelineCommand>,
    timeline: Option<ResMut<Timeline>>,
    playback: Option<ResMut<Playback>>,
) {
    let (Some(mut timeline), Some(mut playback)) = (timeline, playback) else {
        commands.clear();
        return;
    };
    for command in commands.read() {
        let clock = &mut playback.clock;
        match *command {
            TimelineCommand::Play => clock.play(),
            TimelineCommand::Pause => clock.pause(),
            TimelineCommand::TogglePlay if clock.is_playing() => clock.pause(),
            TimelineCommand::TogglePlay => clock.play(),
            TimelineCommand::Seek(t) => clock.seek(t),
            TimelineCommand::DragTo(f) => clock.seek(timeline.time_at_fraction(f)),
            TimelineCommand::SetSpeed(s) => {
                clock.set_speed(s);
            }
            TimelineCommand::JumpToMarker(i) => {
                if let Some(m) = timeline.markers().get(i) {
                    clock.seek(m.at_us);
                }
            }
            TimelineCommand::NextMarker => {
                if let Some(i) = timeline.next_marker(clock.position_us()) {
                    clock.seek(timeline.markers()[i].at_us);
                }
            }
            TimelineCommand::PreviousMarker => {
                if let Some(i) = timeline.previous_marker(clock.position_us()) {
                    clock.seek(timeline.markers()[i].at_us);
                }
            }
            TimelineCommand::Zoom(f) => timeline.zoom(f, clock.position_us()),
            TimelineCommand::ZoomAt { factor, fraction } => {
                let at = timeline.time_at_fraction(fraction);
                timeline.zoom(factor, at);
            }
            TimelineCommand::Pan(f) => timeline.pan(f),
            TimelineCommand::ShowStage(stage) => {
                if let Some(start) = timeline.show_stage(stage) {
                    clock.seek(start);
                }
            }
        }
        // A jump or seek brings the playhead into view; zooming and panning move the view
        // away from it while paused.
        if matches!(
            command,
            TimelineCommand::Seek(_)
                | TimelineCommand::DragTo(_)
                | TimelineCommand::JumpToMarker(_)
                | TimelineCommand::NextMarker
                | TimelineCommand::PreviousMarker
        ) {
            timeline.follow(playback.clock.position_us());
        }
    }
}

/// While playing, the view pages along with the playhead.
fn follow_playhead(timeline: Option<ResMut<Timeline>>, playback: Option<Res<Playback>>) {
    if let (Some(mut timeline), Some(playback)) = (timeline, playback)
        && playback.clock.is_playing()
    {
        let t = playback.clock.position_us();
        let (start, end) = timeline.view();
        if t < start || t >= end {
            timeline.follow(t);
        }
    }
}
