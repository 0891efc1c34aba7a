//! The bedside monitor's content at the playhead: numerics with units, each waveform as it
//! sweeps across the screen at 25 mm/s (decimated to one column per pixel), the alarms
//! active then, and NEWS2, plus each stream's verification status. The vital-sign frames and alarm episodes of every stage
//! are computed once when a case opens (`MonitorData`); each frame only looks them up.

use bevy::prelude::*;
use twin_sim::alarms::{AlarmKind, AlarmReport, Frame, News2, Priority, Vitals, evaluate, frames};
use twin_sim::case::{Stage, Waveform};
use twin_sim::replay::{MinMax, decimate};
use twin_sim::verify::CaseVerification;

use crate::sync::{LoadedCase, Playback, StreamsNow, SyncSystems};
use crate::timeline::Timeline;

/// The paper speed of a bedside monitor's sweep, mm/s.
pub const SWEEP_MM_PER_S: f64 = 25.0;
/// CSS pixels per millimetre (96 per inch).
const PX_PER_MM: f64 = 96.0 / 25.4;

/// How the traces sweep: one column per pixel, as many pixels as the screen is wide,
/// crossed at 25 mm/s; new samples overwrite the last sweep from left to right, with a
/// blank erase bar just ahead of the write point.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Columns across the screen.
    pub columns: usize,
    /// Time one column covers, µs.
    pub column_us: u64,
}

impl Sweep {
    /// The sweep of a screen `width_px` CSS pixels wide (100 to 2,400 columns).
    pub fn for_width(width_px: f64) -> Sweep {
        let columns = if width_px.is_finite() { width_px.round().clamp(100.0, 2400.0) as usize } else { 600 };
        Sweep { columns, column_us: (1e6 / (SWEEP_MM_PER_S * PX_PER_MM)).round() as u64 }
    }

    /// Seconds across the screen.
    pub fn window_s(self) -> f64 {
        (self.columns as u64 * self.column_us) as f64 / 1e6
    }

    /// Columns the erase bar blanks ahead of the write point.
    pub fn erase_columns(self) -> usize {
        (self.columns / 40).max(4)
    }

    /// `wave` as the screen shows it at `now_us` (µs into the wave): each column's min and
    /// max at its place on the screen, and the write point (the column being written).
    pub fn trace(self, wave: &Waveform, now_us: u64) -> (Vec<Option<MinMax>>, usize) {
        let n = self.columns.max(1);
        let now_col = now_us / self.column_us.max(1);
        let first = (now_col + 1).saturating_sub(n as u64);
        let count = (now_col + 1 - first) as usize;
        let drawn = decimate(wave, first * self.column_us, count as u64 * self.column_us, count);
        let mut screen = vec![None; n];
        for (i, c) in drawn.into_iter().enumerate() {
            screen[((first + i as u64) % n as u64) as usize] = c;
        }
        let cursor = (now_col % n as u64) as usize;
        for k in 1..=self.erase_columns().min(n - 1) {
            screen[(cursor + k) % n] = None;
        }
        (screen, cursor)
    }
}

impl Default for Sweep {
    /// A screen 600 pixels wide (6.35 s).
    fn default() -> Self {
        Sweep::for_width(600.0)
    }
}

/// Per stage: its vital-sign frames and alarm episodes.
#[derive(Resource, Debug, Clone, Default)]
pub struct MonitorData {
    pub stages: Vec<(Stage, Vec<Frame>, AlarmReport)>,
}

impl MonitorData {
    pub fn for_case(case: &twin_sim::case::Case) -> MonitorData {
        MonitorData { stages: case.stages.iter().map(|s| (s.stage, frames(s), evaluate(s))).collect() }
    }
}

/// The case's segments checked against the ledger (absent until a check has run).
#[derive(Resource, Debug, Clone, PartialEq, Default)]
pub struct Verification(pub Option<CaseVerification>);

/// One number on the monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct Numeric {
    pub label: &'static str,
    pub value: Option<f64>,
    pub unit: &'static str,
    /// Whether an active alarm concerns it.
    pub alarming: bool,
}

impl Numeric {
    /// The value as the monitor prints it ("--" when not measured).
    pub fn text(&self) -> String {
        match self.value {
            Some(v) => format!("{v:.0}"),
            None => "--".to_owned(),
        }
    }
}

/// One waveform trace, as it sweeps across the screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub name: String,
    pub unit: String,
    /// Each column's min and max at its place on the screen (see [`Sweep::trace`]).
    pub columns: Vec<Option<MinMax>>,
    /// The column being written.
    pub cursor: usize,
    /// Whether every segment under the trace verified against the ledger (None: not checked).
    pub verified: Option<bool>,
}

/// The monitor's numerics for `vitals` in their fixed order (each marked when one of the
/// `active` alarms concerns it), and NEWS2 when anything it scores is measured.
pub fn numerics(vitals: &Vitals, active: &[AlarmKind]) -> (Vec<Numeric>, Option<News2>) {
    use AlarmKind as K;
    let alarming = |k: &[AlarmKind]| active.iter().any(|a| k.contains(a));
    let Vitals { hr, spo2, systolic, diastolic, mean, resp_rate, .. } = *vitals;
    let numerics = vec![
        Numeric {
            label: "HR",
            value: hr,
            unit: "/min",
            alarming: alarming(&[
                K::Asystole,
                K::VentricularFibrillation,
                K::VentricularTachycardia,
                K::ExtremeBradycardia,
                K::ExtremeTachycardia,
                K::Bradycardia,
                K::Tachycardia,
            ]),
        },
        Numeric { label: "SpO2", value: spo2, unit: "%", alarming: alarming(&[K::Desaturation]) },
        Numeric { label: "ABP sys", value: systolic, unit: "mmHg", alarming: alarming(&[K::Hypotension]) },
        Numeric { label: "ABP dia", value: diastolic, unit: "mmHg", alarming: false },
        Numeric { label: "MAP", value: mean, unit: "mmHg", alarming: alarming(&[K::Hypotension, K::NoPulse]) },
        Numeric { label: "RR", value: resp_rate, unit: "/min", alarming: alarming(&[K::Apnoea]) },
    ];
    (numerics, vitals.news2())
}

/// An alarm sounding on the monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sounding {
    pub kind: AlarmKind,
    /// Its priority (a recorded case's no-pulse seen on the pleth alone is medium).
    pub priority: Priority,
    /// When it fired, ms into the stage (the scenario, in training).
    pub fired_ms: u64,
}

impl Sounding {
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

/// What the monitor shows at the playhead.
#[derive(Resource, Debug, Clone, PartialEq, Default)]
pub struct Monitor {
    pub stage: Option<Stage>,
    pub numerics: Vec<Numeric>,
    pub traces: Vec<Trace>,
    /// Alarms sounding now, highest priority first.
    pub alarms: Vec<Sounding>,
    pub news2: Option<News2>,
    /// Problems with the segments under the playhead, in words.
    pub integrity: Vec<String>,
}

impl Monitor {
    /// The numerics and sounding alarms as short phrases (`HR 72 /min`, `alarm hypotension`),
    /// for a page to mirror as text.
    pub fn readout(&self) -> Vec<String> {
        let mut text: Vec<String> =
            self.numerics.iter().map(|n| format!("{} {} {}", n.label, n.text(), n.unit)).collect();
        text.extend(self.alarms.iter().map(|a| format!("alarm {}", a.name())));
        text
    }
}

/// Fills `Monitor` from the sampled values each frame.
pub struct MonitorPlugin;

impl Plugin for MonitorPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Monitor>()
            .init_resource::<MonitorData>()
            .init_resource::<Verification>()
            .init_resource::<Sweep>()
            .add_systems(Update, update_monitor.in_set(SyncSystems::Sample).after(crate::sync::sample_streams));
    }
}

/// The frame covering `t_ms` (the last one starting at or before it).
fn frame_at(frames: &[Frame], t_ms: u64) -> Option<&Frame> {
    let i = frames.partition_point(|f| f.t_ms <= t_ms);
    i.checked_sub(1).map(|i| &frames[i]).filter(|f| t_ms < f.t_ms + f.span_ms.max(1) + 60_000)
}

/// The open case, its timeline and its playback clock, when a case is open.
type OpenCase<'w> = (Option<Res<'w, LoadedCase>>, Option<Res<'w, Timeline>>, Option<Res<'w, Playback>>);

fn update_monitor(
    (case, timeline, playback): OpenCase,
    data: Res<MonitorData>,
    verification: Res<Verification>,
    vitals: Res<StreamsNow>,
    sweep: Res<Sweep>,
    mut monitor: ResMut<Monitor>,
) {
    let (Some(case), Some(timeline), Some(playback)) = (case, timeline, playback) else { return };
    let Some((stage, local_us)) = timeline.locate(playback.clock.position_us()) else { return };
    let t_ms = local_us / 1000;
    let Some((_, frames, report)) = data.stages.iter().find(|(s, _, _)| *s == stage) else { return };
    let frame = frame_at(frames, t_ms).copied().unwrap_or_default();
    let mut active: Vec<_> = report.alarms.iter().filter(|a| a.fired_ms <= t_ms && t_ms < a.end_ms).collect();
    active.sort_by_key(|a| (std::cmp::Reverse(a.priority), a.fired_ms));
    let kinds: Vec<AlarmKind> = active.iter().map(|a| a.kind).collect();
    // A track recorded by the monitor itself wins over a value derived from waveforms.
    let track = |names: &[&str]| names.iter().find_map(|n| vitals.track(n)).map(f64::from);
    let readings = Vitals {
        hr: track(&["HR"]).or(frame.hr).or(frame.pulse_rate),
        spo2: track(&["SpO2", "SPO2"]).or(frame.spo2),
        systolic: track(&["ABPSys", "NBPSys"]).or(frame.systolic),
        diastolic: track(&["ABPDias", "NBPDias"]).or(frame.diastolic),
        mean: track(&["ABPMean", "NBPMean"]).or(frame.mean_pressure),
        resp_rate: track(&["RESP", "RR"]).or(frame.resp_rate),
        on_oxygen: None,
        consciousness: None,
    };
    let (numerics, score) = numerics(&readings, &kinds);

    let checks = verification.0.as_ref();
    let start_us = local_us.saturating_sub(sweep.columns as u64 * sweep.column_us);
    let traces = case
        .0
        .stage(stage)
        .map(|data| {
            data.waveforms
                .iter()
                .map(|w| {
                    let (columns, cursor) = sweep.trace(w, local_us);
                    Trace {
                        name: w.name.clone(),
                        unit: w.unit.clone(),
                        columns,
                        cursor,
                        verified: checks.map(|c| {
                            c.segments
                                .iter()
                                .filter(|s| s.stage == stage && s.stream == w.name)
                                .all(|s| s.is_ok() || s.end_ms <= start_us / 1000 || s.start_ms > t_ms)
                        }),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let integrity = checks.map(|c| c.at(stage, t_ms).filter(|s| !s.is_ok()).map(|s| s.reason()).collect());
    let fresh = Monitor {
        stage: Some(stage),
        numerics,
        traces,
        alarms: active.iter().map(|a| Sounding { kind: a.kind, priority: a.priority, fired_ms: a.fired_ms }).collect(),
        news2: score,
        integrity: integrity.unwrap_or_default(),
    };
    if *monitor != fresh {
        *monitor = fresh;
    }
}
