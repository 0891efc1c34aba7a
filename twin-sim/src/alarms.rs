//! Early warning and alarms: the NEWS2 score from numerics, and alarms for asystole,
//! bradycardia, tachycardia, desaturation and hypotension that check a second signal before
//! they fire, so that a loose lead or a damped arterial line does not raise a false alarm.
//!
//! A stage is first reduced to [`Frame`]s (one a second from waveforms, one per reading from
//! numeric tracks); the alarm rules then run on frames, each with a minimum duration.

use crate::case::{StageData, Track, Waveform};
use crate::qrs::{QrsConfig, QrsDetector};

/// Step between frames computed from waveforms.
pub const WAVEFORM_STEP_MS: u64 = 1000;
/// Window over which a rate or a pressure is measured from waveforms.
const RATE_WINDOW_MS: u64 = 8000;
/// No QRS complex for this long is an asystole candidate.
pub const ASYSTOLE_MS: u64 = 4000;
/// Below this pulse pressure (mmHg) a pressure trace shows no pulse (flat).
pub const FLAT_PULSE_PRESSURE: f64 = 5.0;
/// Below this pulse pressure (mmHg) a pressure trace is damped and its values are not trusted.
pub const DAMPED_PULSE_PRESSURE: f64 = 10.0;
/// An ECG whose peak-to-peak amplitude is below this (mV) over the asystole window is flat.
const FLAT_ECG_MV: f64 = 0.05;

/// The vital signs at one time, as measured from whatever signals a stage holds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Frame {
    /// Start of the time this frame covers, ms from the stage's start.
    pub t_ms: u64,
    /// Length of the time this frame covers.
    pub span_ms: u64,
    /// Heart rate from the ECG (bpm).
    pub hr: Option<f64>,
    /// Pulse rate from a pressure or pleth signal (bpm).
    pub pulse_rate: Option<f64>,
    pub spo2: Option<f64>,
    pub systolic: Option<f64>,
    pub diastolic: Option<f64>,
    pub mean_pressure: Option<f64>,
    pub resp_rate: Option<f64>,
    /// Time since the last QRS complex, or `None` without a usable ECG.
    pub since_beat_ms: Option<u64>,
    /// Whether a pressure or pleth pulse is present; `None` when no such signal is read.
    pub pulse_present: Option<bool>,
}

/// Which alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlarmKind {
    Asystole,
    Bradycardia,
    Tachycardia,
    Desaturation,
    Hypotension,
}

impl AlarmKind {
    pub fn name(self) -> &'static str {
        match self {
            AlarmKind::Asystole => "asystole",
            AlarmKind::Bradycardia => "bradycardia",
            AlarmKind::Tachycardia => "tachycardia",
            AlarmKind::Desaturation => "desaturation",
            AlarmKind::Hypotension => "hypotension",
        }
    }

    /// How long the condition must last before the alarm fires.
    pub fn min_duration_ms(self) -> u64 {
        match self {
            AlarmKind::Asystole => 1000,
            AlarmKind::Bradycardia | AlarmKind::Tachycardia => 10_000,
            AlarmKind::Desaturation => 30_000,
            AlarmKind::Hypotension => 60_000,
        }
    }
}

/// How a second signal judged a candidate alarm.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Another signal agrees (the text says which and how).
    Confirmed(String),
    /// The stage has no signal to cross-check with; the alarm fires, marked unconfirmed.
    Unconfirmable(String),
    /// Another signal disagrees or is unreadable at that time: treated as artefact.
    Refuted(String),
}

/// An alarm episode: a condition that held for at least its kind's minimum duration.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub kind: AlarmKind,
    /// When the condition began (ms from the stage's start).
    pub onset_ms: u64,
    /// When the alarm fired: onset plus the minimum duration (a suppressed candidate's may
    /// lie past its end; reports sort by the earlier of the two).
    pub fired_ms: u64,
    /// When the condition ended.
    pub end_ms: u64,
    /// The worst value during the episode (bpm, %, mmHg; seconds without a beat for asystole).
    pub worst: f64,
    /// The cross-check of the episode's first frame.
    pub check: Check,
}

/// What the alarm rules found: alarms that fired, and candidates a cross-check suppressed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlarmReport {
    pub alarms: Vec<Alarm>,
    /// Episodes at least the minimum duration long whose every frame was refuted.
    pub suppressed: Vec<Alarm>,
}

/// Whether a signal name looks like an ECG lead.
pub fn is_ecg_name(name: &str) -> bool {
    let d = name.to_ascii_uppercase();
    ["ECG", "MLII", "MLI", "MCL", "V1", "V2", "V3", "V4", "V5", "V6", "II", "I", "III", "AVR", "AVL", "AVF"]
        .iter()
        .any(|k| d == *k || d.starts_with(k))
}

/// Whether a signal name looks like an arterial pressure or a pleth.
fn is_pulse_name(name: &str) -> bool {
    let d = name.to_ascii_uppercase();
    ["ABP", "ART", "AOBP", "PLETH", "PPG"].iter().any(|k| d.starts_with(k))
}

/// Frames of a stage: from waveforms when it has any, otherwise from its numeric tracks.
pub fn frames(stage: &StageData) -> Vec<Frame> {
    if stage.waveforms.is_empty() { frames_from_tracks(stage) } else { frames_from_waveforms(stage) }
}

/// One frame per reading of the stage's numeric tracks (MIMIC numerics names: HR, PULSE,
/// SpO2, ABPSys/Dias/Mean, NBPSys/Dias/Mean, RESP). ABP is preferred; NBP fills its gaps.
pub fn frames_from_tracks(stage: &StageData) -> Vec<Frame> {
    let Some(base) = stage.tracks.iter().max_by_key(|t| t.times_ms.len()) else {
        return Vec::new();
    };
    let get = |name: &str, t: u64| stage.track(name).and_then(|tr: &Track| exact(tr, t)).map(f64::from);
    let has_pulse = stage.track("PULSE").is_some();
    base.times_ms
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let next = base.times_ms.get(i + 1).copied();
            let span_ms = next.map_or_else(|| i.checked_sub(1).map_or(60_000, |p| t - base.times_ms[p]), |n| n - t);
            let abp = (get("ABPSys", t), get("ABPDias", t), get("ABPMean", t));
            let (systolic, diastolic, mean_pressure) =
                if abp.0.is_some() { abp } else { (get("NBPSys", t), get("NBPDias", t), get("NBPMean", t)) };
            let pulse_rate = get("PULSE", t);
            Frame {
                t_ms: t,
                span_ms,
                hr: get("HR", t),
                pulse_rate,
                spo2: get("SpO2", t),
                systolic,
                diastolic,
                mean_pressure,
                resp_rate: get("RESP", t),
                since_beat_ms: None,
                pulse_present: if has_pulse { pulse_rate.map(|r| r > 0.0) } else { None },
            }
        })
        .collect()
}

/// The value of a track at exactly `t`, if it has a reading then.
fn exact(track: &Track, t: u64) -> Option<f32> {
    let i = track.times_ms.partition_point(|&x| x < t);
    (track.times_ms.get(i) == Some(&t)).then(|| track.values[i]).flatten()
}

/// One frame a second from the stage's waveforms: heart rate and time since the last beat
/// from the first ECG (QRS detection), pressures and pulse rate from an arterial pressure
/// (or pleth) trace. Each frame measures the window that ends at its end.
pub fn frames_from_waveforms(stage: &StageData) -> Vec<Frame> {
    let ecg = stage.waveforms.iter().find(|w| is_ecg_name(&w.name));
    let pulse = stage.waveforms.iter().find(|w| is_pulse_name(&w.name));
    let is_pressure = pulse.is_some_and(|w| w.unit.eq_ignore_ascii_case("mmHg"));
    let beats_ms: Vec<u64> = ecg
        .and_then(|w| {
            let detector = QrsDetector::new(w.rate_hz, QrsConfig::default()).ok()?;
            Some(detector.detect(&w.physical_or_nan()).into_iter().map(|i| to_ms(i, w.rate_hz)).collect())
        })
        .unwrap_or_default();
    let pulse_values = pulse.map(Waveform::physical_or_nan);
    let ecg_values = ecg.map(Waveform::physical_or_nan);
    let duration = stage.duration_ms();
    let mut out = Vec::new();
    let mut end = WAVEFORM_STEP_MS;
    while end <= duration {
        let mut f = Frame { t_ms: end - WAVEFORM_STEP_MS, span_ms: WAVEFORM_STEP_MS, ..Frame::default() };
        if let (Some(w), Some(values)) = (ecg, &ecg_values) {
            let recent = window(values, w.rate_hz, end.saturating_sub(ASYSTOLE_MS), end);
            let readable = recent.iter().filter(|v| v.is_finite()).count() * 2 > recent.len();
            if readable && end >= ASYSTOLE_MS {
                let (lo, hi) = range(recent);
                let last = beats_ms.partition_point(|&b| b < end).checked_sub(1).map(|i| beats_ms[i]);
                let since = last.map_or(end, |b| end - b);
                f.since_beat_ms = Some(if hi - lo < FLAT_ECG_MV { since.max(ASYSTOLE_MS) } else { since });
                let from = beats_ms.partition_point(|&b| b < end.saturating_sub(RATE_WINDOW_MS));
                let to = beats_ms.partition_point(|&b| b < end);
                f.hr = median_rate(&beats_ms[from..to]);
            }
        }
        if let (Some(w), Some(values)) = (pulse, &pulse_values) {
            let long = window(values, w.rate_hz, end.saturating_sub(RATE_WINDOW_MS), end);
            let short = window(values, w.rate_hz, end.saturating_sub(ASYSTOLE_MS), end);
            if let (Some(p), Some(s)) = (Percentiles::of(long), Percentiles::of(short)) {
                let flat = if is_pressure { s.high - s.low < FLAT_PULSE_PRESSURE } else { s.high - s.low <= 0.0 };
                f.pulse_present = Some(!flat);
                if !flat {
                    f.pulse_rate = pulse_rate(long, w.rate_hz, p.low, p.high);
                }
                if is_pressure {
                    (f.systolic, f.diastolic, f.mean_pressure) = (Some(p.high), Some(p.low), Some(p.mean));
                }
            }
        }
        out.push(f);
        end += WAVEFORM_STEP_MS;
    }
    out
}

fn to_ms(index: usize, rate_hz: f64) -> u64 {
    (index as f64 * 1000.0 / rate_hz).round() as u64
}

fn window(values: &[f64], rate_hz: f64, from_ms: u64, to_ms: u64) -> &[f64] {
    let at = |ms: u64| ((ms as f64 * rate_hz / 1000.0).round() as usize).min(values.len());
    &values[at(from_ms)..at(to_ms).max(at(from_ms))]
}

fn range(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// Robust extremes of a window: the 5th and 95th percentiles and the mean of valid samples.
struct Percentiles {
    low: f64,
    high: f64,
    mean: f64,
}

impl Percentiles {
    fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if v.len() < 8 || v.len() * 2 < values.len() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        Some(Percentiles { low: at(0.05), high: at(0.95), mean })
    }
}

/// 60 / the median interval between beats, given beat times in ms; `None` under 3 beats.
fn median_rate(beats_ms: &[u64]) -> Option<f64> {
    let mut intervals: Vec<u64> = beats_ms.windows(2).map(|w| w[1] - w[0]).filter(|&d| d > 0).collect();
    if intervals.len() < 2 {
        return None;
    }
    intervals.sort_unstable();
    Some(60_000.0 / intervals[intervals.len() / 2] as f64)
}

/// Pulse rate of a pulsatile trace: upward crossings of its mid level (with hysteresis of a
/// fifth of the pulse amplitude, at most one per 250 ms), 60 / the median interval.
fn pulse_rate(values: &[f64], rate_hz: f64, low: f64, high: f64) -> Option<f64> {
    let mid = (low + high) / 2.0;
    let band = (high - low) / 5.0;
    let min_gap = (0.25 * rate_hz).ceil() as usize;
    let mut armed = false;
    let mut last: Option<usize> = None;
    let mut crossings_ms = Vec::new();
    for (i, &v) in values.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        if v < mid - band {
            armed = true;
        } else if armed && v > mid + band && last.is_none_or(|l| i - l >= min_gap) {
            armed = false;
            last = Some(i);
            crossings_ms.push(to_ms(i, rate_hz));
        }
    }
    median_rate(&crossings_ms)
}

/// Whether two rates agree: within 20 % or 10 bpm, whichever is wider.
fn rates_agree(a: f64, b: f64) -> bool {
    (a - b).abs() <= (0.2 * a.max(b)).max(10.0)
}

/// The candidate value of `kind` in a frame, if its threshold is crossed.
fn candidate(kind: AlarmKind, f: &Frame) -> Option<f64> {
    match kind {
        AlarmKind::Asystole => f.since_beat_ms.filter(|&s| s >= ASYSTOLE_MS).map(|s| s as f64 / 1000.0),
        AlarmKind::Bradycardia => f.hr.filter(|&hr| hr < 50.0),
        AlarmKind::Tachycardia => f.hr.filter(|&hr| hr > 120.0),
        AlarmKind::Desaturation => f.spo2.filter(|&s| s < 90.0),
        AlarmKind::Hypotension => match f.mean_pressure {
            Some(m) => Some(m).filter(|&m| m < 65.0),
            None => f.systolic.filter(|&s| s < 90.0),
        },
    }
}

/// The cross-check of a candidate in one frame. `pulse_source` says whether the stage has a
/// pulse signal (pressure or pleth) at all.
fn cross_check(kind: AlarmKind, f: &Frame, pulse_source: bool) -> Check {
    let rate_check = |hr: f64| match (f.pulse_rate, f.pulse_present) {
        (Some(p), _) if rates_agree(hr, p) => Check::Confirmed(format!("pulse rate {p:.0} bpm agrees")),
        (Some(p), _) => Check::Refuted(format!("pulse rate {p:.0} bpm disagrees with ECG {hr:.0} bpm")),
        _ if !pulse_source => Check::Unconfirmable("no pulse signal to cross-check".into()),
        _ => Check::Refuted("no pulse reading at that time to confirm it".into()),
    };
    match kind {
        AlarmKind::Asystole => match f.pulse_present {
            Some(false) => Check::Confirmed("pressure/pleth pulse also absent".into()),
            Some(true) => Check::Refuted("pressure/pleth still pulsing: ECG artefact or lead off".into()),
            None if !pulse_source => Check::Unconfirmable("no pulse signal to cross-check".into()),
            None => Check::Refuted("pulse signal unreadable at that time".into()),
        },
        AlarmKind::Bradycardia | AlarmKind::Tachycardia => rate_check(f.hr.unwrap_or(f64::NAN)),
        AlarmKind::Desaturation => match (f.pulse_rate, f.hr) {
            (Some(p), Some(hr)) if !rates_agree(hr, p) => {
                Check::Refuted(format!("pleth pulse {p:.0} bpm disagrees with ECG {hr:.0} bpm: poor pleth"))
            }
            (Some(p), _) => Check::Confirmed(format!("pleth pulse {p:.0} bpm present")),
            (None, _) if !pulse_source => Check::Unconfirmable("no pleth pulse to cross-check".into()),
            (None, _) => Check::Refuted("no pleth pulse at that time: probe off or poor signal".into()),
        },
        AlarmKind::Hypotension => match (f.systolic, f.diastolic) {
            (Some(s), Some(d)) if s - d < DAMPED_PULSE_PRESSURE => {
                Check::Refuted(format!("pulse pressure {:.0} mmHg: flat or damped line", s - d))
            }
            (Some(s), Some(d)) => match (f.pulse_rate, f.hr) {
                (Some(p), Some(hr)) if !rates_agree(hr, p) => {
                    Check::Refuted(format!("pressure pulse {p:.0} bpm disagrees with ECG {hr:.0} bpm"))
                }
                _ => Check::Confirmed(format!("pulsatile trace, pulse pressure {:.0} mmHg", s - d)),
            },
            _ => Check::Unconfirmable("no systolic/diastolic pair to check the trace".into()),
        },
    }
}

/// Runs every alarm rule over `frames`. `pulse_source` says whether the stage has a pressure
/// or pleth signal to cross-check with; use [`evaluate`] to have it worked out.
pub fn alarms_from_frames(frames: &[Frame], pulse_source: bool) -> AlarmReport {
    let mut report = AlarmReport::default();
    for kind in [
        AlarmKind::Asystole,
        AlarmKind::Bradycardia,
        AlarmKind::Tachycardia,
        AlarmKind::Desaturation,
        AlarmKind::Hypotension,
    ] {
        // Runs of consecutive frames that cross the threshold and are not refuted fire; runs
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
            let Some(value) = candidate(kind, f) else {
                close(run.take(), &mut report);
                continue;
            };
            let check = cross_check(kind, f, pulse_source);
            let refuted = matches!(check, Check::Refuted(_));
            let worse = |old: f64| match kind {
                AlarmKind::Asystole | AlarmKind::Tachycardia => value > old,
                _ => value < old,
            };
            match &mut run {
                Some((alarm, was_refuted)) if contiguous && *was_refuted == refuted => {
                    alarm.end_ms = f.t_ms + f.span_ms;
                    if worse(alarm.worst) {
                        alarm.worst = value;
                    }
                }
                _ => {
                    close(run.take(), &mut report);
                    let alarm = Alarm {
                        kind,
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

/// The alarms a stage raises (frames from waveforms if it has any, else from its tracks).
pub fn evaluate(stage: &StageData) -> AlarmReport {
    let pulse_source = if stage.waveforms.is_empty() {
        stage.track("PULSE").is_some()
    } else {
        stage.waveforms.iter().any(|w| is_pulse_name(&w.name))
    };
    alarms_from_frames(&frames(stage), pulse_source)
}

/// Level of consciousness on the ACVPU scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consciousness {
    Alert,
    /// New confusion, or responds only to voice or pain, or unresponsive.
    NotAlert,
}

/// What NEWS2 is scored from; `None` for what was not measured.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct News2Input {
    pub resp_rate: Option<f64>,
    /// SpO2 on scale 1 (no hypercapnic respiratory failure).
    pub spo2: Option<f64>,
    pub on_oxygen: Option<bool>,
    pub systolic: Option<f64>,
    pub pulse: Option<f64>,
    pub consciousness: Option<Consciousness>,
    pub temperature_c: Option<f64>,
}

/// One NEWS2 parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum News2Parameter {
    RespirationRate,
    Spo2Scale1,
    AirOrOxygen,
    SystolicBp,
    Pulse,
    Consciousness,
    Temperature,
}

impl News2Parameter {
    pub fn name(self) -> &'static str {
        match self {
            News2Parameter::RespirationRate => "respiration rate",
            News2Parameter::Spo2Scale1 => "SpO2 (scale 1)",
            News2Parameter::AirOrOxygen => "air or oxygen",
            News2Parameter::SystolicBp => "systolic BP",
            News2Parameter::Pulse => "pulse",
            News2Parameter::Consciousness => "consciousness",
            News2Parameter::Temperature => "temperature",
        }
    }
}

/// The clinical risk band NEWS2 assigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum News2Risk {
    Low,
    /// A single parameter scored 3 (urgent ward-based response).
    LowMedium,
    Medium,
    High,
}

/// A NEWS2 score: the parts scored, and the parameters that were not measured (and so add
/// nothing: the total is then a lower bound).
#[derive(Debug, Clone, PartialEq)]
pub struct News2 {
    pub total: u8,
    pub parts: Vec<(News2Parameter, u8)>,
    pub not_scored: Vec<News2Parameter>,
    pub risk: News2Risk,
}

/// Scores NEWS2 (Royal College of Physicians, 2017) with SpO2 scale 1. Measured values are
/// rounded to whole numbers (temperature to 0.1 °C) before the bands are applied.
pub fn news2(input: &News2Input) -> News2 {
    let mut parts = Vec::new();
    let mut not_scored = Vec::new();
    let mut score = |p: News2Parameter, points: Option<u8>| match points {
        Some(points) => parts.push((p, points)),
        None => not_scored.push(p),
    };
    let whole = |v: Option<f64>| v.filter(|v| v.is_finite()).map(f64::round);
    score(
        News2Parameter::RespirationRate,
        whole(input.resp_rate).map(|r| match r {
            r if r <= 8.0 => 3,
            r if r <= 11.0 => 1,
            r if r <= 20.0 => 0,
            r if r <= 24.0 => 2,
            _ => 3,
        }),
    );
    score(
        News2Parameter::Spo2Scale1,
        whole(input.spo2).map(|s| match s {
            s if s <= 91.0 => 3,
            s if s <= 93.0 => 2,
            s if s <= 95.0 => 1,
            _ => 0,
        }),
    );
    score(News2Parameter::AirOrOxygen, input.on_oxygen.map(|o| if o { 2 } else { 0 }));
    score(
        News2Parameter::SystolicBp,
        whole(input.systolic).map(|s| match s {
            s if s <= 90.0 => 3,
            s if s <= 100.0 => 2,
            s if s <= 110.0 => 1,
            s if s <= 219.0 => 0,
            _ => 3,
        }),
    );
    score(
        News2Parameter::Pulse,
        whole(input.pulse).map(|p| match p {
            p if p <= 40.0 => 3,
            p if p <= 50.0 => 1,
            p if p <= 90.0 => 0,
            p if p <= 110.0 => 1,
            p if p <= 130.0 => 2,
            _ => 3,
        }),
    );
    score(News2Parameter::Consciousness, input.consciousness.map(|c| if c == Consciousness::Alert { 0 } else { 3 }));
    score(
        News2Parameter::Temperature,
        input.temperature_c.filter(|t| t.is_finite()).map(|t| (t * 10.0).round() / 10.0).map(|t| match t {
            t if t <= 35.0 => 3,
            t if t <= 36.0 => 1,
            t if t <= 38.0 => 0,
            t if t <= 39.0 => 1,
            _ => 2,
        }),
    );
    let total: u8 = parts.iter().map(|(_, p)| p).sum();
    let risk = match total {
        t if t >= 7 => News2Risk::High,
        t if t >= 5 => News2Risk::Medium,
        _ if parts.iter().any(|(_, p)| *p == 3) => News2Risk::LowMedium,
        _ => News2Risk::Low,
    };
    News2 { total, parts, not_scored, risk }
}

/// NEWS2 for each frame, from its respiration rate, SpO2, systolic pressure and pulse (the
/// ECG heart rate, else the pulse rate). Oxygen, consciousness and temperature are not in
/// the frames, so they are listed as not scored.
pub fn news2_series(frames: &[Frame]) -> Vec<(u64, News2)> {
    frames
        .iter()
        .map(|f| {
            let input = News2Input {
                resp_rate: f.resp_rate,
                spo2: f.spo2,
                systolic: f.systolic,
                pulse: f.hr.or(f.pulse_rate),
                ..News2Input::default()
            };
            (f.t_ms, news2(&input))
        })
        .collect()
}
