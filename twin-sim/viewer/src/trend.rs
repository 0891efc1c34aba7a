//! The case at a glance, after VitalDB's Vital Recorder: every track and wave of a case
//! stacked in lanes over the timeline's view (the whole stay down to a second), each
//! column the min and max of what it covers, with the stages, the event markers and their
//! labels, the surgeons' signed annotations (author, time, text), and the stretches whose
//! segments failed their ledger check marked on the lanes where they are. In training the
//! lanes are the model's vitals over the run, with the events and the student's actions
//! as markers: the debrief's plot.
//!
//! Pure: made when the view, the case or the notes change, drawn by the web page's Canvas
//! 2D (`web_draw`); a click seeks, the wheel zooms and a drag pans through the timeline's
//! own commands.

use bevy::prelude::*;
use twin_sim::alarms::Frame;
use twin_sim::case::{Case, EventKind, Stage};
use twin_sim::replay::{MinMax, decimate};
use twin_sim::verify::CaseVerification;

use crate::monitor::Verification;
use crate::screen::{Rgb, WaveKind, colour_of, fit};
use crate::sync::{LoadedCase, SyncSystems};
use crate::timeline::Timeline;
use crate::training::Training;

/// A signed annotation of the case, as the page read it from the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub stage: Stage,
    /// Time within the stage.
    pub at_ms: u64,
    pub author: String,
    pub text: String,
    /// When it was signed, as the page shows it.
    pub signed: String,
}

/// The annotations the page gave for the open case.
#[derive(Resource, Debug, Clone, PartialEq, Default)]
pub struct Notes(pub Vec<Note>);

/// One stream's lane.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub name: String,
    pub unit: String,
    pub colour: Rgb,
    /// Min and max per column over the view (`None`: nothing recorded there).
    pub columns: Vec<Option<MinMax>>,
    /// The lane's scale, fitted to what is in view.
    pub scale: (f64, f64),
    /// Stretches (fractions of the view) whose segments failed the ledger check.
    pub failed: Vec<(f64, f64)>,
}

/// An event or an annotation at a place in the view.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Where it is, as a fraction of the view (0 left edge, 1 right edge).
    pub fraction: f64,
    pub label: String,
    pub kind: EventKind,
}

/// An annotation at its place in the view.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteMark {
    pub fraction: f64,
    pub note: Note,
}

/// The trend view as drawn.
#[derive(Resource, Debug, Clone, PartialEq, Default)]
pub struct Trend {
    /// The view on the case axis, µs.
    pub view_us: (u64, u64),
    /// Each stage's part of the view (fractions, clipped to it).
    pub stages: Vec<(Stage, f64, f64)>,
    pub lanes: Vec<Lane>,
    /// Events in view.
    pub markers: Vec<Mark>,
    /// Annotations in view.
    pub notes: Vec<NoteMark>,
}

/// The lanes' order: by what they measure (as the monitor's rows), then by name.
fn lane_order(name: &str) -> (WaveKind, String) {
    (WaveKind::of(name), name.to_owned())
}

/// The trend of a case over the timeline's view, in `columns` columns.
pub fn of_case(
    case: &Case,
    timeline: &Timeline,
    checks: Option<&CaseVerification>,
    notes: &[Note],
    columns: usize,
) -> Trend {
    let n = columns.max(1);
    let (v0, v1) = timeline.view();
    let len = (v1 - v0).max(1);
    let column_range = |c: usize| (v0 + len * c as u64 / n as u64, v0 + len * (c as u64 + 1) / n as u64);
    let mut names: Vec<(String, String)> = Vec::new();
    for s in &case.stages {
        let streams = s.waveforms.iter().map(|w| (&w.name, &w.unit)).chain(s.tracks.iter().map(|t| (&t.name, &t.unit)));
        for (name, unit) in streams {
            if !names.iter().any(|(n, _)| n == name) {
                names.push((name.clone(), unit.clone()));
            }
        }
    }
    names.sort_by_key(|(name, _)| lane_order(name));
    let lanes = names
        .into_iter()
        .map(|(name, unit)| {
            let cols: Vec<Option<MinMax>> = (0..n)
                .map(|c| {
                    let (a, b) = column_range(c);
                    let mut out: Option<MinMax> = None;
                    for span in timeline.spans().iter().filter(|s| s.start_us < b && a < s.end_us) {
                        let Some(data) = case.stage(span.stage) else { continue };
                        let la = a.max(span.start_us) - span.start_us;
                        let lb = b.min(span.end_us) - span.start_us;
                        let got = if let Some(w) = data.waveform(&name) {
                            decimate(w, la, (lb - la).max(1), 1).into_iter().next().flatten()
                        } else if let Some(t) = data.track(&name) {
                            track_range(t, la / 1000, lb / 1000)
                        } else {
                            None
                        };
                        out = merge(out, got);
                    }
                    out
                })
                .collect();
            let failed = checks.map_or_else(Vec::new, |c| {
                c.problems()
                    .filter(|s| s.stream == name)
                    .filter_map(|s| {
                        let start = timeline.stage_start_us(s.stage)?;
                        let f = |ms: u64| timeline.fraction_of(start + ms * 1000).clamp(0.0, 1.0);
                        let (a, b) = (f(s.start_ms), f(s.end_ms));
                        (b > a || (b == a && a > 0.0 && a < 1.0)).then_some((a, b))
                    })
                    .collect()
            });
            lane(name, unit, cols, failed)
        })
        .collect();
    let markers = marks(timeline);
    let notes = notes
        .iter()
        .filter_map(|note| {
            let at = timeline.stage_start_us(note.stage)? + note.at_ms * 1000;
            Some(NoteMark { fraction: timeline.fraction_of(at), note: note.clone() })
        })
        .filter(|m| (0.0..=1.0).contains(&m.fraction))
        .collect();
    Trend { view_us: (v0, v1), stages: stages(timeline), lanes, markers, notes }
}

/// The trend of a training run: the model's vitals (HR, SpO2, arterial pressures, RR,
/// EtCO2) from its alarm frames, with the events and actions as markers.
pub fn of_frames(frames: &[Frame], timeline: &Timeline, columns: usize) -> Trend {
    let n = columns.max(1);
    let (v0, v1) = timeline.view();
    let len = (v1 - v0).max(1);
    type Pick = fn(&Frame) -> Option<f64>;
    let vitals: [(&str, &str, Pick); 6] = [
        ("HR", "/min", |f| f.hr.or(f.pulse_rate)),
        ("ABP sys", "mmHg", |f| f.systolic),
        ("MAP", "mmHg", |f| f.mean_pressure),
        ("SpO2", "%", |f| f.spo2),
        ("EtCO2", "mmHg", |f| f.etco2),
        ("RR", "/min", |f| f.resp_rate),
    ];
    let lanes = vitals
        .iter()
        .map(|(name, unit, pick)| {
            let cols = (0..n)
                .map(|c| {
                    let a_ms = (v0 + len * c as u64 / n as u64) / 1000;
                    let b_ms = (v0 + len * (c as u64 + 1) / n as u64) / 1000;
                    let first = frames.partition_point(|f| f.t_ms + f.span_ms.max(1) <= a_ms);
                    frames[first..]
                        .iter()
                        .take_while(|f| f.t_ms < b_ms.max(a_ms + 1))
                        .filter_map(pick)
                        .fold(None, |acc, v| merge(acc, Some(MinMax { min: v, max: v })))
                })
                .collect();
            lane((*name).to_owned(), (*unit).to_owned(), cols, Vec::new())
        })
        .filter(|l| l.columns.iter().any(Option::is_some))
        .collect();
    let markers = marks(timeline);
    Trend { view_us: (v0, v1), stages: stages(timeline), lanes, markers, notes: Vec::new() }
}

/// The timeline's events in view.
fn marks(timeline: &Timeline) -> Vec<Mark> {
    timeline
        .markers()
        .iter()
        .map(|m| Mark { fraction: timeline.fraction_of(m.at_us), label: m.label.clone(), kind: m.kind })
        .filter(|m| (0.0..=1.0).contains(&m.fraction))
        .collect()
}

fn stages(timeline: &Timeline) -> Vec<(Stage, f64, f64)> {
    timeline
        .spans()
        .iter()
        .map(|s| (s.stage, timeline.fraction_of(s.start_us).max(0.0), timeline.fraction_of(s.end_us).min(1.0)))
        .filter(|(_, a, b)| b > a)
        .collect()
}

fn lane(name: String, unit: String, columns: Vec<Option<MinMax>>, failed: Vec<(f64, f64)>) -> Lane {
    let (_, _, scale) = fit(&columns);
    Lane { colour: colour_of(&name), name, unit, columns, scale, failed }
}

fn merge(a: Option<MinMax>, b: Option<MinMax>) -> Option<MinMax> {
    match (a, b) {
        (Some(a), Some(b)) => Some(MinMax { min: a.min.min(b.min), max: a.max.max(b.max) }),
        (a, b) => a.or(b),
    }
}

/// The range of a track's values in `[a_ms, b_ms)`; where no point falls there, the value
/// held from the last point before (a monitor's numeric holds until the next reading).
fn track_range(t: &twin_sim::case::Track, a_ms: u64, b_ms: u64) -> Option<MinMax> {
    let first = t.times_ms.partition_point(|&x| x < a_ms);
    let last = t.times_ms.partition_point(|&x| x < b_ms.max(a_ms + 1));
    let inside = t.values[first..last]
        .iter()
        .flatten()
        .map(|&v| f64::from(v))
        .fold(None, |acc, v| merge(acc, Some(MinMax { min: v, max: v })));
    inside.or_else(|| {
        (first > 0 && a_ms <= t.end_ms())
            .then(|| t.value_at(a_ms))
            .flatten()
            .map(|v| MinMax { min: f64::from(v), max: f64::from(v) })
    })
}

/// Columns the trend view is computed in (the page sets its canvas's width).
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrendColumns(pub usize);

impl Default for TrendColumns {
    fn default() -> Self {
        TrendColumns(800)
    }
}

/// Keeps [`Trend`] up to date with the open case (or training run), the timeline's view,
/// the ledger check and the notes.
pub struct TrendPlugin;

impl Plugin for TrendPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Notes>()
            .init_resource::<Trend>()
            .init_resource::<TrendColumns>()
            .add_systems(Update, update_trend.after(SyncSystems::Follow));
    }
}

fn update_trend(
    case: Option<Res<LoadedCase>>,
    training: Option<Res<Training>>,
    timeline: Option<Res<Timeline>>,
    verification: Option<Res<Verification>>,
    notes: Res<Notes>,
    columns: Res<TrendColumns>,
    mut trend: ResMut<Trend>,
) {
    let Some(timeline) = timeline else { return };
    let checks = verification.as_ref().and_then(|v| v.0.as_ref());
    let checks_changed = verification.as_ref().is_some_and(|v| v.is_changed());
    let view_changed = timeline.is_changed() || columns.is_changed();
    let fresh = if let Some(training) = training {
        if !(view_changed || training.is_changed()) {
            return;
        }
        of_frames(training.frames(), &timeline, columns.0)
    } else if let Some(case) = case {
        if !(view_changed || case.is_changed() || checks_changed || notes.is_changed()) {
            return;
        }
        of_case(&case.0, &timeline, checks, &notes.0, columns.0)
    } else {
        return;
    };
    if *trend != fresh {
        *trend = fresh;
    }
}
