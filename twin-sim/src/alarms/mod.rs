//! Alarms and early warning, one set of rules for a replayed case and for the live training
//! model. A stage is reduced to [`Frame`]s (`signals`: one a second from waveforms, one per
//! reading from numeric tracks; the training model makes its own); the rules here run on
//! frames, each kind with its priority, its limits and a minimum duration.
//!
//! A monitor may suppress a false alarm, never a true lethal one. The lethal alarms (asystole,
//! VF, VT, extreme brady- and tachycardia as the PhysioNet/CinC Challenge 2015 defines them,
//! no pulse, apnoea) are high priority, latch, and are never suppressed: a missing pulse on
//! the pleth or arterial line confirms them, a pulse only marks them unconfirmed. The other
//! alarms may be refuted by a second signal that disagrees (a pleth pulse at another rate
//! than the ECG, a damped arterial line). Lead off and probe off are technical alarms.

mod model;
mod news2;
mod signals;

pub use model::{MODEL_FRAME_MS, ModelFrames, Vitals};
pub use news2::{Consciousness, News2, News2Input, News2Parameter, News2Risk, Spo2Scale, news2, news2_series};
pub use signals::{
    ASYSTOLE_MS, DAMPED_PULSE_PRESSURE, FLAT_PULSE_PRESSURE, Frame, Rhythm, WAVEFORM_STEP_MS, WIDE_QRS_MS, frames,
    frames_from_tracks, frames_from_waveforms, has_pulse_signal, is_ecg_name,
};

use crate::case::StageData;

/// Which alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlarmKind {
    Asystole,
    VentricularFibrillation,
    VentricularTachycardia,
    ExtremeBradycardia,
    ExtremeTachycardia,
    /// Organised ECG activity without a pulse (PEA, or a line or probe lost).
    NoPulse,
    Apnoea,
    Bradycardia,
    Tachycardia,
    Desaturation,
    Hypotension,
    EtCo2Low,
    EtCo2High,
    /// Technical: every ECG lead off.
    EcgLeadOff,
    /// Technical: the SpO2 probe off.
    Spo2ProbeOff,
}

/// How urgent an alarm is (IEC 60601-1-8: high is red, medium yellow, low cyan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Low,
    Medium,
    High,
}

impl Priority {
    pub fn name(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }
}

impl AlarmKind {
    /// Every kind, in the order the rules run.
    pub const ALL: [AlarmKind; 15] = [
        AlarmKind::Asystole,
        AlarmKind::VentricularFibrillation,
        AlarmKind::VentricularTachycardia,
        AlarmKind::ExtremeBradycardia,
        AlarmKind::ExtremeTachycardia,
        AlarmKind::NoPulse,
        AlarmKind::Apnoea,
        AlarmKind::Bradycardia,
        AlarmKind::Tachycardia,
        AlarmKind::Desaturation,
        AlarmKind::Hypotension,
        AlarmKind::EtCo2Low,
        AlarmKind::EtCo2High,
        AlarmKind::EcgLeadOff,
        AlarmKind::Spo2ProbeOff,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AlarmKind::Asystole => "asystole",
            AlarmKind::VentricularFibrillation => "ventricular fibrillation",
            AlarmKind::VentricularTachycardia => "ventricular tachycardia",
            AlarmKind::ExtremeBradycardia => "extreme bradycardia",
            AlarmKind::ExtremeTachycardia => "extreme tachycardia",
            AlarmKind::NoPulse => "no pulse",
            AlarmKind::Apnoea => "apnoea",
            AlarmKind::Bradycardia => "bradycardia",
            AlarmKind::Tachycardia => "tachycardia",
            AlarmKind::Desaturation => "desaturation",
            AlarmKind::Hypotension => "hypotension",
            AlarmKind::EtCo2Low => "EtCO2 low",
            AlarmKind::EtCo2High => "EtCO2 high",
            AlarmKind::EcgLeadOff => "ECG leads off",
            AlarmKind::Spo2ProbeOff => "SpO2 probe off",
        }
    }

    /// Whether it may mean the patient is dying now: never suppressed, and latched.
    pub fn lethal(self) -> bool {
        matches!(
            self,
            AlarmKind::Asystole
                | AlarmKind::VentricularFibrillation
                | AlarmKind::VentricularTachycardia
                | AlarmKind::ExtremeBradycardia
                | AlarmKind::ExtremeTachycardia
                | AlarmKind::NoPulse
                | AlarmKind::Apnoea
        )
    }

    /// Whether it is about the equipment, not the patient.
    pub fn technical(self) -> bool {
        matches!(self, AlarmKind::EcgLeadOff | AlarmKind::Spo2ProbeOff)
    }

    /// Its priority, as a rule (a no-pulse seen on the pleth alone is medium).
    pub fn priority(self) -> Priority {
        if self.lethal() {
            Priority::High
        } else if self.technical() {
            Priority::Low
        } else {
            Priority::Medium
        }
    }

    /// How long the condition must last before the alarm fires. The rhythm kinds carry
    /// their definition's duration in the frame (4 s without a beat, 5 or 17 beats), and
    /// fire at once; the rate alarms wait 2 s so that they fire within the 10 s of IEC
    /// 60601-2-27 after a change of rate.
    pub fn min_duration_ms(self) -> u64 {
        match self {
            AlarmKind::Asystole
            | AlarmKind::VentricularFibrillation
            | AlarmKind::VentricularTachycardia
            | AlarmKind::ExtremeBradycardia
            | AlarmKind::ExtremeTachycardia
            | AlarmKind::Apnoea => 0,
            AlarmKind::NoPulse => 4000,
            AlarmKind::Bradycardia | AlarmKind::Tachycardia => 2000,
            AlarmKind::EcgLeadOff | AlarmKind::Spo2ProbeOff => 5000,
            AlarmKind::EtCo2Low | AlarmKind::EtCo2High => 15_000,
            AlarmKind::Desaturation => 30_000,
            AlarmKind::Hypotension => 60_000,
        }
    }
}

/// The limits a clinician sets (defaults: common adult monitor settings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlarmLimits {
    pub hr_low: f64,
    pub hr_high: f64,
    pub spo2_low: f64,
    pub map_low: f64,
    /// Used when no mean pressure is measured.
    pub systolic_low: f64,
    pub etco2_low: f64,
    pub etco2_high: f64,
    /// Seconds without a breath.
    pub apnoea_s: f64,
}

impl Default for AlarmLimits {
    fn default() -> Self {
        AlarmLimits {
            hr_low: 50.0,
            hr_high: 120.0,
            spo2_low: 90.0,
            map_low: 65.0,
            systolic_low: 90.0,
            etco2_low: 25.0,
            etco2_high: 50.0,
            apnoea_s: 20.0,
        }
    }
}

/// How a second signal judged a candidate alarm.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Another signal agrees (the text says which and how).
    Confirmed(String),
    /// The stage has no signal to cross-check with, or (for a lethal alarm) the other
    /// signal does not confirm it; the alarm fires, marked unconfirmed.
    Unconfirmable(String),
    /// Another signal disagrees: a non-lethal alarm is treated as artefact.
    Refuted(String),
}

/// An alarm episode: a condition that held for at least its kind's minimum duration.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub kind: AlarmKind,
    pub priority: Priority,
    /// A latched alarm stays on the monitor after its condition ends, until acknowledged.
    pub latched: bool,
    /// When the condition began (ms from the stage's start).
    pub onset_ms: u64,
    /// When the alarm fired: onset plus the minimum duration (a suppressed candidate's may
    /// lie past its end; reports sort by the earlier of the two).
    pub fired_ms: u64,
    /// When the condition ended.
    pub end_ms: u64,
    /// The worst value during the episode (bpm, %, mmHg; seconds without a beat or a breath).
    pub worst: f64,
    /// The cross-check of the episode's first frame, or of the first that confirmed it.
    pub check: Check,
}

impl Alarm {
    /// Whether it sounds at `t_ms`, given when the alarms were last acknowledged: from when
    /// it fired until its condition ended, and a latched one until acknowledged after that.
    pub fn sounding(&self, t_ms: u64, acknowledged_ms: Option<u64>) -> bool {
        let acked = acknowledged_ms.is_some_and(|a| a >= self.fired_ms && a <= t_ms);
        self.fired_ms <= t_ms && (t_ms < self.end_ms || (self.latched && !acked))
    }
}

/// What the alarm rules found: alarms that fired, and candidates a cross-check suppressed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlarmReport {
    pub alarms: Vec<Alarm>,
    /// Non-lethal episodes at least the minimum duration long whose every frame was refuted.
    pub suppressed: Vec<Alarm>,
}

impl AlarmReport {
    /// The alarms sounding at `t_ms` (see [`Alarm::sounding`]), highest priority first.
    pub fn sounding(&self, t_ms: u64, acknowledged_ms: Option<u64>) -> Vec<&Alarm> {
        let mut v: Vec<&Alarm> = self.alarms.iter().filter(|a| a.sounding(t_ms, acknowledged_ms)).collect();
        v.sort_by_key(|a| (std::cmp::Reverse(a.priority), a.fired_ms));
        v
    }
}

/// Whether two rates agree: within 20 % or 10 bpm, whichever is wider.
fn rates_agree(a: f64, b: f64) -> bool {
    (a - b).abs() <= (0.2 * a.max(b)).max(10.0)
}

/// Whether the ECG explains a missing pulse by itself (asystole, VF).
fn ecg_arrest(f: &Frame) -> bool {
    f.rhythm.vf || f.since_beat_ms.is_some_and(|s| s >= ASYSTOLE_MS)
}

/// The candidate value of `kind` in a frame, if its condition holds.
fn candidate(kind: AlarmKind, f: &Frame, l: &AlarmLimits) -> Option<f64> {
    let hr = || f.hr.unwrap_or(f64::NAN);
    match kind {
        AlarmKind::Asystole => f.since_beat_ms.filter(|&s| s >= ASYSTOLE_MS && !f.rhythm.vf).map(|s| s as f64 / 1000.0),
        AlarmKind::VentricularFibrillation => f.rhythm.vf.then_some(1.0),
        AlarmKind::VentricularTachycardia => f.rhythm.vt.then(hr),
        AlarmKind::ExtremeBradycardia => f.rhythm.extreme_brady.then(hr),
        AlarmKind::ExtremeTachycardia => f.rhythm.extreme_tachy.then(hr),
        AlarmKind::NoPulse => (f.pulse_present == Some(false) && !ecg_arrest(f)).then_some(0.0),
        AlarmKind::Apnoea => f.since_breath_ms.filter(|&s| s as f64 >= l.apnoea_s * 1000.0).map(|s| s as f64 / 1000.0),
        AlarmKind::Bradycardia => f.hr.filter(|&hr| hr < l.hr_low),
        AlarmKind::Tachycardia => f.hr.filter(|&hr| hr > l.hr_high),
        AlarmKind::Desaturation => f.spo2.filter(|&s| s < l.spo2_low),
        AlarmKind::Hypotension => match f.mean_pressure {
            Some(m) => Some(m).filter(|&m| m < l.map_low),
            None => f.systolic.filter(|&s| s < l.systolic_low),
        },
        AlarmKind::EtCo2Low => f.etco2.filter(|&e| e < l.etco2_low),
        AlarmKind::EtCo2High => f.etco2.filter(|&e| e > l.etco2_high),
        AlarmKind::EcgLeadOff => f.ecg_off.then_some(0.0),
        AlarmKind::Spo2ProbeOff => f.probe_off.then_some(0.0),
    }
}

/// The cross-check of a candidate in one frame. `pulse_source` says whether the stage has a
/// pulse signal (pressure or pleth) at all. A lethal alarm is confirmed by a missing pulse
/// and never refuted; the others may be.
fn cross_check(kind: AlarmKind, f: &Frame, pulse_source: bool) -> Check {
    let none = || Check::Unconfirmable("no pulse signal to cross-check".into());
    if kind.technical() {
        return Check::Confirmed("the signal is missing or flat to the digit".into());
    }
    if kind.lethal() {
        return match (f.pulse_present, f.pulse_rate) {
            (Some(false), _) => Check::Confirmed("no pulse on the arterial line or pleth".into()),
            (Some(true), Some(p)) => {
                Check::Unconfirmable(format!("a pulse of {p:.0} bpm is still seen: check the patient"))
            }
            (Some(true), None) => Check::Unconfirmable("a pulse is still seen: check the patient".into()),
            (None, _) if !pulse_source => none(),
            (None, _) => Check::Unconfirmable("the pulse signal cannot be read".into()),
        };
    }
    let rate_check = |hr: f64| match f.pulse_rate {
        Some(p) if rates_agree(hr, p) => Check::Confirmed(format!("pulse rate {p:.0} bpm agrees")),
        Some(p) => Check::Refuted(format!("pulse rate {p:.0} bpm disagrees with ECG {hr:.0} bpm")),
        None if !pulse_source => none(),
        None => Check::Unconfirmable("no pulse rate to compare with at that time".into()),
    };
    match kind {
        AlarmKind::Bradycardia | AlarmKind::Tachycardia => rate_check(f.hr.unwrap_or(f64::NAN)),
        AlarmKind::Desaturation => match (f.pulse_rate, f.hr) {
            (Some(p), Some(hr)) if !rates_agree(hr, p) => {
                Check::Refuted(format!("pleth pulse {p:.0} bpm disagrees with ECG {hr:.0} bpm: poor pleth"))
            }
            (Some(p), _) => Check::Confirmed(format!("pleth pulse {p:.0} bpm present")),
            (None, _) if !pulse_source => Check::Unconfirmable("no pleth pulse to cross-check".into()),
            (None, _) => Check::Unconfirmable("no pleth pulse at that time: probe or perfusion".into()),
        },
        AlarmKind::Hypotension => match (f.systolic, f.diastolic) {
            // A flat line is no pulse (its own alarm); a damped one is not believed.
            (Some(s), Some(d)) if s - d < FLAT_PULSE_PRESSURE => {
                Check::Unconfirmable(format!("pulse pressure {:.0} mmHg: no pulse on the line", s - d))
            }
            (Some(s), Some(d)) if s - d < DAMPED_PULSE_PRESSURE => {
                Check::Refuted(format!("pulse pressure {:.0} mmHg: damped line", s - d))
            }
            (Some(s), Some(d)) => match (f.pulse_rate, f.hr) {
                (Some(p), Some(hr)) if !rates_agree(hr, p) => {
                    Check::Refuted(format!("pressure pulse {p:.0} bpm disagrees with ECG {hr:.0} bpm"))
                }
                _ => Check::Confirmed(format!("pulsatile trace, pulse pressure {:.0} mmHg", s - d)),
            },
            _ => Check::Unconfirmable("no systolic/diastolic pair to check the trace".into()),
        },
        _ => Check::Unconfirmable("no second signal for this alarm".into()),
    }
}

/// Runs every alarm rule over `frames` with the default limits. `pulse_source` says whether
/// the stage has a pressure or pleth signal to cross-check with.
pub fn alarms_from_frames(frames: &[Frame], pulse_source: bool) -> AlarmReport {
    alarms_from_frames_with(frames, pulse_source, &AlarmLimits::default())
}

/// Runs every alarm rule over `frames` with `limits`.
pub fn alarms_from_frames_with(frames: &[Frame], pulse_source: bool, limits: &AlarmLimits) -> AlarmReport {
    let mut report = AlarmReport::default();
    for kind in AlarmKind::ALL {
        // Runs of consecutive frames that meet the condition and are not refuted fire; runs
        // whose frames were all refuted are reported as suppressed.
        let mut run: Option<(Alarm, bool)> = None;
        let close = |run: Option<(Alarm, bool)>, report: &mut AlarmReport| {
            if let Some((alarm, refuted)) = run
                && alarm.end_ms - alarm.onset_ms >= kind.min_duration_ms()
            {
                if refuted { report.suppressed.push(alarm) } else { report.alarms.push(alarm) }
            }
        };
        for (i, f) in frames.iter().enumerate() {
            let contiguous = i > 0 && frames[i - 1].t_ms + frames[i - 1].span_ms == f.t_ms;
            let Some(value) = candidate(kind, f, limits) else {
                close(run.take(), &mut report);
                continue;
            };
            let check = cross_check(kind, f, pulse_source);
            let refuted = matches!(check, Check::Refuted(_));
            let worse = |old: f64| match kind {
                AlarmKind::Bradycardia
                | AlarmKind::ExtremeBradycardia
                | AlarmKind::Desaturation
                | AlarmKind::Hypotension
                | AlarmKind::EtCo2Low => value < old,
                _ => value > old,
            };
            match &mut run {
                Some((alarm, was_refuted)) if contiguous && *was_refuted == refuted => {
                    alarm.end_ms = f.t_ms + f.span_ms;
                    if worse(alarm.worst) {
                        alarm.worst = value;
                    }
                    // A later frame's confirmation stands for the episode (a pulse lost
                    // takes a few seconds to be sure of).
                    if matches!(check, Check::Confirmed(_)) && !matches!(alarm.check, Check::Confirmed(_)) {
                        alarm.check = check;
                    }
                }
                _ => {
                    close(run.take(), &mut report);
                    let pleth_only = kind == AlarmKind::NoPulse && f.arterial_pulse.is_none();
                    let alarm = Alarm {
                        kind,
                        priority: if pleth_only { Priority::Medium } else { kind.priority() },
                        latched: kind.lethal(),
                        onset_ms: f.t_ms,
                        fired_ms: f.t_ms + kind.min_duration_ms(),
                        end_ms: f.t_ms + f.span_ms,
                        worst: value,
                        check,
                    };
                    run = Some((alarm, refuted));
                }
            }
        }
        close(run, &mut report);
    }
    let order = |a: &Alarm| (a.fired_ms.min(a.end_ms), a.kind);
    report.alarms.sort_by_key(order);
    report.suppressed.sort_by_key(order);
    report
}

/// The alarms a stage raises with the default limits (frames from waveforms if it has any,
/// else from its tracks).
pub fn evaluate(stage: &StageData) -> AlarmReport {
    evaluate_with(stage, &AlarmLimits::default())
}

/// The alarms a stage raises with `limits`.
pub fn evaluate_with(stage: &StageData, limits: &AlarmLimits) -> AlarmReport {
    alarms_from_frames_with(&frames(stage), has_pulse_signal(stage), limits)
}
