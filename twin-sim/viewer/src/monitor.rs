//! The bedside monitor's content at the playhead: numerics with units, the last seconds of
//! each waveform decimated for drawing, the alarms active then, and NEWS2, plus each
//! stream's verification status. The vital-sign frames and alarm episodes of every stage
//! are computed once when a case opens (`MonitorData`); each frame only looks them up.

use bevy::prelude::*;
use twin_sim::alarms::{AlarmKind, AlarmReport, Frame, News2, Vitals, evaluate, frames};
use twin_sim::case::Stage;
use twin_sim::replay::{MinMax, decimate};
use twin_sim::verify::CaseVerification;

use crate::sync::{LoadedCase, Playback, StreamsNow, SyncSystems};
use crate::timeline::Timeline;

/// Seconds of waveform the monitor shows.
pub const WAVE_WINDOW_US: u64 = 6_000_000;
/// Columns a trace is decimated to.
pub const WAVE_COLUMNS: usize = 600;

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

/// One waveform trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub name: String,
    pub unit: String,
    pub columns: Vec<Option<MinMax>>,
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

/// What the monitor shows at the playhead.
#[derive(Resource, Debug, Clone, PartialEq, Default)]
pub struct Monitor {
    pub stage: Option<Stage>,
    pub numerics: Vec<Numeric>,
    pub traces: Vec<Trace>,
    /// Alarms sounding now: kind name and when it fired (ms into the stage).
    pub alarms: Vec<(&'static str, u64)>,
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
        text.extend(self.alarms.iter().map(|(k, _)| format!("alarm {k}")));
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
            .add_systems(Update, update_monitor.in_set(SyncSystems::Sample).after(crate::sync::sample_streams));
    }
}

/// The frame covering `t_ms` (the last one starting at or before it).
fn frame_at(frames: &[Frame], t_ms: u64) -> Option<&Frame> {
    let i = frames.partition_point(|f| f.t_ms <= t_ms);
    i.checked_sub(1).map(|i| &frames[i]).filter(|f| t_ms < f.t_ms + f.span_ms.max(1) + 60_000)
}

fn update_monitor(
    case: Option<Res<LoadedCase>>,
    timeline: Option<Res<Timeline>>,
    playback: Option<Res<Playback>>,
    data: Res<MonitorData>,
    verification: Res<Verification>,
    vitals: Res<StreamsNow>,
    mut monitor: ResMut<Monitor>,
) {
    let (Some(case), Some(timeline), Some(playback)) = (case, timeline, playback) else { return };
    let Some((stage, local_us)) = timeline.locate(playback.clock.position_us()) else { return };
    let t_ms = local_us / 1000;
    let Some((_, frames, report)) = data.stages.iter().find(|(s, _, _)| *s == stage) else { return };
    let frame = frame_at(frames, t_ms).copied().unwrap_or_default();
    let active: Vec<_> = report.alarms.iter().filter(|a| a.fired_ms <= t_ms && t_ms < a.end_ms).collect();
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
    let start_us = local_us.saturating_sub(WAVE_WINDOW_US);
    let traces = case
        .0
        .stage(stage)
        .map(|data| {
            data.waveforms
                .iter()
                .map(|w| Trace {
                    name: w.name.clone(),
                    unit: w.unit.clone(),
                    columns: decimate(w, start_us, WAVE_WINDOW_US, WAVE_COLUMNS),
                    verified: checks.map(|c| {
                        c.segments
                            .iter()
                            .filter(|s| s.stage == stage && s.stream == w.name)
                            .all(|s| s.is_ok() || s.end_ms <= start_us / 1000 || s.start_ms > t_ms)
                    }),
                })
                .collect()
        })
        .unwrap_or_default();
    let integrity = checks.map(|c| c.at(stage, t_ms).filter(|s| !s.is_ok()).map(|s| s.reason()).collect());
    let fresh = Monitor {
        stage: Some(stage),
        numerics,
        traces,
        alarms: active.iter().map(|a| (a.kind.name(), a.fired_ms)).collect(),
        news2: score,
        integrity: integrity.unwrap_or_default(),
    };
    if *monitor != fresh {
        *monitor = fresh;
    }
}
