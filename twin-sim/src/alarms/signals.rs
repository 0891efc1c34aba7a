//! From a stage's signals to [`Frame`]s, one a second from waveforms (or one per reading of
//! numeric tracks): the heart rate and rhythm from every ECG lead, the pulse from an
//! arterial line and a pleth, and whether each signal can be read at all.
//!
//! Every ECG lead is read: a beat counts when its complex stands out of that lead's noise,
//! a lead that is flat to the last digit or missing is off (a technical alarm, not an
//! asystole), the rhythm is read from the lead whose beats are the most regular, and an
//! asystole needs every readable lead silent. A pulse is present only when the trace is
//! periodic at a heart's rate (autocorrelation), so noise on a pleth is not a pulse.

use crate::case::{StageData, Track, Waveform};
use crate::qrs::{QrsConfig, QrsDetector};

/// Step between frames computed from waveforms.
pub const WAVEFORM_STEP_MS: u64 = 1000;
/// Window over which a rate or a pressure is measured from waveforms.
const RATE_WINDOW_MS: u64 = 8000;
/// No QRS complex for this long is an asystole (PhysioNet/CinC Challenge 2015).
pub const ASYSTOLE_MS: u64 = 4000;
/// Below this pulse pressure (mmHg) a pressure trace shows no pulse (flat).
pub const FLAT_PULSE_PRESSURE: f64 = 5.0;
/// Below this pulse pressure (mmHg) a pressure trace is damped and its values are not trusted.
pub const DAMPED_PULSE_PRESSURE: f64 = 10.0;
/// A lead whose samples span less than this (mV) over a window is flat to the digit: off.
const LEAD_OFF_MV: f64 = 0.005;
/// A complex this tall (mV, peak to peak) is a beat whatever the lead's noise.
const BEAT_MV: f64 = 0.5;
/// ...otherwise its slope energy must stand this many times above the lead's median.
const BEAT_OVER_NOISE: f64 = 4.0;
/// A complex at least this wide (ms, above a quarter of its peak) is ventricular.
pub const WIDE_QRS_MS: f64 = 110.0;
/// The Challenge 2015 definitions: beats and rates.
const EXTREME_BRADY_BEATS: usize = 5;
const EXTREME_BRADY_BPM: f64 = 40.0;
const EXTREME_TACHY_BEATS: usize = 17;
const EXTREME_TACHY_BPM: f64 = 140.0;
const VT_BEATS: usize = 5;
const VT_BPM: f64 = 100.0;
/// A fibrillatory wave is judged over this window (the Challenge: at least 4 s).
const VF_WINDOW_MS: u64 = 4000;

/// The rhythm an ECG shows over the window ending at a frame's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rhythm {
    /// A fibrillatory wave for 4 s (on most readable leads).
    pub vf: bool,
    /// At least 5 consecutive wide complexes faster than 100 bpm.
    pub vt: bool,
    /// Under 40 bpm for 5 consecutive beats.
    pub extreme_brady: bool,
    /// Over 140 bpm for 17 consecutive beats.
    pub extreme_tachy: bool,
}

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
    /// End-tidal CO2 (mmHg).
    pub etco2: Option<f64>,
    /// Time since the last QRS complex on any readable lead, or `None` without one.
    pub since_beat_ms: Option<u64>,
    pub rhythm: Rhythm,
    /// Whether a pulse is seen on the arterial line or the pleth; `None` when neither can be
    /// read. Present on either is present.
    pub pulse_present: Option<bool>,
    /// Whether the arterial line shows a pulse (`None`: no readable arterial line).
    pub arterial_pulse: Option<bool>,
    /// Every ECG lead of the stage is off (missing samples, or flat to the digit).
    pub ecg_off: bool,
    /// The pleth is off (missing samples, or flat to the digit).
    pub probe_off: bool,
    /// Time without a breath (from a respiration rate of 0 while the monitor reads other
    /// signals, or a model), `None` when unknown.
    pub since_breath_ms: Option<u64>,
}

/// Whether a signal name is an ECG lead: a limb or augmented lead (I, II, III, aVR, aVL,
/// aVF), a chest lead (V, V1-V6), a modified lead (MLII, MCL1), or a name starting "ECG".
pub fn is_ecg_name(name: &str) -> bool {
    let d = name.trim().to_ascii_uppercase();
    let chest =
        d.strip_prefix('V').is_some_and(|n| n.is_empty() || n.parse::<u8>().is_ok_and(|n| (1..=6).contains(&n)));
    let modified = ["ML", "MCL"].iter().any(|p| d.strip_prefix(p).is_some_and(|n| !n.is_empty() && n.len() <= 3));
    chest || modified || d.starts_with("ECG") || ["I", "II", "III", "AVR", "AVL", "AVF"].contains(&d.as_str())
}

/// Whether a signal name looks like an arterial pressure.
fn is_arterial_name(name: &str) -> bool {
    let d = name.to_ascii_uppercase();
    ["ABP", "ART", "AOBP"].iter().any(|k| d.starts_with(k))
}

/// Whether a signal name looks like a pleth.
fn is_pleth_name(name: &str) -> bool {
    let d = name.to_ascii_uppercase();
    ["PLETH", "PPG"].iter().any(|k| d.starts_with(k))
}

/// Whether a signal name is a respiration waveform (impedance pneumography: RESP, IMP).
fn is_resp_name(name: &str) -> bool {
    let d = name.trim().to_ascii_uppercase();
    d == "RESP" || d == "RESPIRATION" || d == "IMP" || d == "IMPEDANCE"
}

/// Longest gap between breaths on a respiration waveform before it reads as no breathing.
const NO_BREATH_MS: u64 = 20_000;
/// Breaths counted over this window for the rate.
const BREATH_WINDOW_MS: u64 = 30_000;

/// The times (ms) of breaths on a respiration waveform: smoothed over 0.4 s, its baseline
/// (a 12 s moving mean) removed, a breath is a rise through a quarter of the signal's spread
/// (5th to 95th percentile, per 30 s) after a fall through minus a quarter, at least 1.5 s
/// after the last (no more than 40 a minute).
fn breath_times(values: &[f64], rate_hz: f64) -> Vec<u64> {
    let smooth = moving_mean(values, (0.4 * rate_hz).round().max(1.0) as usize);
    let centred = remove_baseline(&smooth, (12.0 * rate_hz).round().max(1.0) as usize);
    let block = (30.0 * rate_hz).round().max(1.0) as usize;
    let mut out: Vec<u64> = Vec::new();
    let mut armed = false;
    for (b, chunk) in centred.chunks(block).enumerate() {
        let (lo, hi) = percentile_range(chunk);
        let half = (hi - lo) / 4.0;
        if half <= 0.0 {
            continue;
        }
        for (j, &v) in chunk.iter().enumerate() {
            if !v.is_finite() {
                continue;
            }
            if v < -half {
                armed = true;
            } else if armed && v > half {
                let t = to_ms(b * block + j, rate_hz);
                if out.last().is_none_or(|&last| t >= last + 1500) {
                    out.push(t);
                }
                armed = false;
            }
        }
    }
    out
}

/// The breathing rate at `end` from breath times: the breaths of the last 30 s (at least
/// two), or 0 when none came for 20 s; `None` before 20 s of signal. With the time since
/// the last breath.
fn breathing_at(breaths: &[u64], end: u64) -> (Option<f64>, Option<u64>) {
    if end < NO_BREATH_MS {
        return (None, None);
    }
    let before = &breaths[..breaths.partition_point(|&t| t <= end)];
    let since = end - before.last().copied().unwrap_or(0);
    if since >= NO_BREATH_MS {
        return (Some(0.0), Some(since));
    }
    let recent = &before[before.partition_point(|&t| t + BREATH_WINDOW_MS < end)..];
    let rate = match recent {
        [first, .., last] if last > first => Some(60_000.0 * (recent.len() - 1) as f64 / (last - first) as f64),
        _ => None,
    };
    (rate, Some(since))
}

/// Whether a stage has a signal to look for a pulse on.
pub fn has_pulse_signal(stage: &StageData) -> bool {
    if stage.waveforms.is_empty() {
        stage.track("PULSE").is_some()
    } else {
        stage.waveforms.iter().any(|w| is_arterial_name(&w.name) || is_pleth_name(&w.name))
    }
}

/// Frames of a stage: from waveforms when it has any, otherwise from its numeric tracks.
pub fn frames(stage: &StageData) -> Vec<Frame> {
    if stage.waveforms.is_empty() { frames_from_tracks(stage) } else { frames_from_waveforms(stage) }
}

/// One frame per reading of the stage's numeric tracks (MIMIC numerics names: HR, PULSE,
/// SpO2, ABPSys/Dias/Mean, NBPSys/Dias/Mean, RESP, etCO2). ABP is preferred; NBP fills its
/// gaps. A respiration rate of 0 while the heart rate or SpO2 reads is no breath.
pub fn frames_from_tracks(stage: &StageData) -> Vec<Frame> {
    let Some(base) = stage.tracks.iter().max_by_key(|t| t.times_ms.len()) else {
        return Vec::new();
    };
    let get = |name: &str, t: u64| stage.track(name).and_then(|tr: &Track| exact(tr, t)).map(f64::from);
    let has_pulse = stage.track("PULSE").is_some();
    let mut apnoea_since: Option<u64> = None;
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
            let (hr, spo2, resp_rate) = (get("HR", t), get("SpO2", t), get("RESP", t));
            let monitoring = hr.is_some_and(|h| h > 0.0) || spo2.is_some_and(|s| s > 0.0);
            let since_breath_ms = match resp_rate {
                Some(r) if r <= 0.0 && monitoring => Some(t - *apnoea_since.get_or_insert(t) + span_ms),
                Some(_) => {
                    apnoea_since = None;
                    Some(0)
                }
                None => {
                    apnoea_since = None;
                    None
                }
            };
            Frame {
                t_ms: t,
                span_ms,
                hr,
                pulse_rate,
                spo2,
                systolic,
                diastolic,
                mean_pressure,
                resp_rate,
                etco2: get("etCO2", t).or(get("EtCO2", t)),
                since_beat_ms: None,
                pulse_present: if has_pulse { pulse_rate.map(|r| r > 0.0) } else { None },
                since_breath_ms,
                ..Frame::default()
            }
        })
        .collect()
}

/// The value of a track at exactly `t`, if it has a reading then.
fn exact(track: &Track, t: u64) -> Option<f32> {
    let i = track.times_ms.partition_point(|&x| x < t);
    (track.times_ms.get(i) == Some(&t)).then(|| track.values[i]).flatten()
}

/// One beat on one lead.
#[derive(Debug, Clone, Copy)]
struct Beat {
    t_ms: u64,
    wide: bool,
}

/// One ECG lead, read: its samples (mV, NaN where missing), with the baseline removed, and
/// the beats that stand out of its noise.
struct Lead {
    rate_hz: f64,
    values: Vec<f64>,
    centred: Vec<f64>,
    beats: Vec<Beat>,
}

impl Lead {
    /// The lead read, or `None` when its sampling rate is too low for QRS detection (such a
    /// lead says nothing about beats, so it can neither show nor rule out an asystole).
    fn read(w: &Waveform) -> Option<Lead> {
        let detector = QrsDetector::new(w.rate_hz, QrsConfig::default()).ok()?;
        let values = w.physical_or_nan();
        let centred = remove_baseline(&values, (0.6 * w.rate_hz).round() as usize);
        let found = detector.detect(&values);
        let half = |ms: f64| (ms / 1000.0 * w.rate_hz).round() as usize;
        let energy = slope_energy(&centred, w.rate_hz);
        let beats = found
            .into_iter()
            .filter_map(|i| {
                let near = |x: &[f64], ms: f64| -> (usize, usize) {
                    (i.saturating_sub(half(ms)), (i + half(ms)).min(x.len()))
                };
                let (a, b) = near(&centred, 80.0);
                let (lo, hi) = range(&centred[a..b]);
                let (ea, eb) = near(&energy, 100.0);
                let peak = energy[ea..eb].iter().copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
                let (na, nb) = near(&energy, 2500.0);
                let noise = median_abs(&energy[na..nb]);
                (hi - lo >= BEAT_MV || peak >= BEAT_OVER_NOISE * noise.max(1e-12))
                    .then(|| Beat { t_ms: to_ms(i, w.rate_hz), wide: width_ms(&centred, i, w.rate_hz) >= WIDE_QRS_MS })
            })
            .collect();
        Some(Lead { rate_hz: w.rate_hz, values, centred, beats })
    }

    /// Whether the lead can be read over `[from, to)`: most samples present, and not flat
    /// to the digit.
    fn readable(&self, from_ms: u64, to_ms: u64) -> bool {
        let recent = window(&self.values, self.rate_hz, from_ms, to_ms);
        let finite = recent.iter().filter(|v| v.is_finite()).count();
        let (lo, hi) = range(recent);
        finite * 2 > recent.len() && hi - lo >= LEAD_OFF_MV
    }

    /// The beats before `end_ms`.
    fn beats_before(&self, end_ms: u64) -> &[Beat] {
        &self.beats[..self.beats.partition_point(|b| b.t_ms < end_ms)]
    }

    /// Whether the 4 s before `end_ms` are a fibrillatory wave: a quasi-sinusoidal swing of
    /// at least 0.1 mV whose autocorrelation peaks at a period of 1/9 to 1/4 s (240-540 per
    /// minute), not at the edge of that range.
    fn fibrillating(&self, end_ms: u64) -> bool {
        let w = window(&self.centred, self.rate_hz, end_ms.saturating_sub(VF_WINDOW_MS), end_ms);
        let x = decimate(w, self.rate_hz, 50.0);
        if x.len() < 150 {
            return false;
        }
        // The whole window fibrillates, and each quarter of it on its own, so a burst shorter
        // than the window with complexes beside it does not count: a swing of at least
        // 0.1 mV, sine-like (a sine's mean excursion is 0.9 of its RMS; spiky complexes are
        // far below that), repeating every 1/9 to 1/4 s (240-540 a minute, not at the edge).
        let fibrillatory = |part: &[f64]| {
            let (lo, hi) = percentile_range(part);
            let mean = part.iter().sum::<f64>() / part.len() as f64;
            let centred: Vec<f64> = part.iter().map(|v| v - mean).collect();
            let rms = (centred.iter().map(|v| v * v).sum::<f64>() / centred.len() as f64).sqrt();
            let mean_abs = centred.iter().map(|v| v.abs()).sum::<f64>() / centred.len() as f64;
            if hi - lo < 0.1 || rms <= 0.0 || mean_abs / rms < 0.6 {
                return false;
            }
            let (lag, peak) = autocorrelation_peak(&centred, 50.0, 0.08, 0.35);
            lag > 0.1 && lag <= 0.25 && peak >= 0.4
        };
        fibrillatory(&x) && x.chunks(x.len().div_ceil(4)).all(fibrillatory)
    }
}

/// The rhythm findings from one lead's beats up to `end`.
fn rhythm_of(beats: &[Beat], end_ms: u64) -> Rhythm {
    let intervals = |n: usize| -> Option<Vec<u64>> {
        (beats.len() >= n).then(|| beats[beats.len() - n..].windows(2).map(|w| w[1].t_ms - w[0].t_ms).collect())
    };
    let recent = beats.last().is_some_and(|b| end_ms - b.t_ms < ASYSTOLE_MS);
    let all = |n: usize, ok: &dyn Fn(u64) -> bool| intervals(n).is_some_and(|iv| iv.iter().all(|&i| ok(i)));
    Rhythm {
        vf: false,
        extreme_brady: recent && all(EXTREME_BRADY_BEATS, &|i| 60_000.0 / (i as f64) < EXTREME_BRADY_BPM),
        extreme_tachy: recent && all(EXTREME_TACHY_BEATS, &|i| 60_000.0 / (i.max(1) as f64) > EXTREME_TACHY_BPM),
        vt: recent
            && beats.len() >= VT_BEATS
            && beats[beats.len() - VT_BEATS..].iter().all(|b| b.wide)
            && all(VT_BEATS, &|i| 60_000.0 / (i.max(1) as f64) > VT_BPM),
    }
}

/// How regular beats are: the coefficient of variation of their intervals (lower is more
/// regular); `None` under 3 beats.
fn irregularity(beats: &[Beat]) -> Option<f64> {
    let iv: Vec<f64> = beats.windows(2).map(|w| (w[1].t_ms - w[0].t_ms) as f64).collect();
    if iv.len() < 2 {
        return None;
    }
    let mean = iv.iter().sum::<f64>() / iv.len() as f64;
    let var = iv.iter().map(|i| (i - mean).powi(2)).sum::<f64>() / iv.len() as f64;
    Some(var.sqrt() / mean.max(1.0))
}

/// A pulse signal, read over a window.
struct PulseReading {
    /// Missing or flat to the digit: the probe or transducer is off.
    off: bool,
    present: bool,
    rate: Option<f64>,
    /// Robust systolic, diastolic and mean (pressure traces only).
    pressures: Option<(f64, f64, f64)>,
}

fn read_pulse(values: &[f64], rate_hz: f64, end_ms: u64, pressure: bool) -> Option<PulseReading> {
    let long = window(values, rate_hz, end_ms.saturating_sub(RATE_WINDOW_MS), end_ms);
    let short = window(values, rate_hz, end_ms.saturating_sub(ASYSTOLE_MS), end_ms);
    if long.is_empty() {
        return None;
    }
    let finite = short.iter().filter(|v| v.is_finite()).count();
    let (lo, hi) = range(short);
    if finite * 2 <= short.len() || hi - lo <= 0.0 {
        return Some(PulseReading { off: true, present: false, rate: None, pressures: None });
    }
    let p = Percentiles::of(long)?;
    let s = Percentiles::of(short)?;
    // Periodic over the last 4 s (a pulse lost shows within that), at 0.25 to 1.6 s.
    let periodic = {
        let x = decimate(short, rate_hz, 25.0);
        let finite: Vec<f64> = x.iter().copied().filter(|v| v.is_finite()).collect();
        let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
        let x: Vec<f64> = x.iter().map(|v| if v.is_finite() { v - mean } else { 0.0 }).collect();
        autocorrelation_peak(&x, 25.0, 0.25, 1.6).1 >= 0.5
    };
    let present = periodic && (!pressure || s.high - s.low >= FLAT_PULSE_PRESSURE);
    Some(PulseReading {
        off: false,
        present,
        rate: if present { pulse_rate(long, rate_hz, p.low, p.high) } else { None },
        pressures: pressure.then_some((p.high, p.low, p.mean)),
    })
}

/// One frame a second from the stage's waveforms: heart rate, rhythm and time since the
/// last beat from every ECG lead, pressures and pulse from an arterial line, and the pulse
/// on a pleth, the breathing rate from a respiration waveform. Each frame measures the window
/// that ends at its end.
pub fn frames_from_waveforms(stage: &StageData) -> Vec<Frame> {
    let leads: Vec<Lead> = stage.waveforms.iter().filter(|w| is_ecg_name(&w.name)).filter_map(Lead::read).collect();
    let arterial = stage.waveforms.iter().find(|w| is_arterial_name(&w.name) && w.unit.eq_ignore_ascii_case("mmHg"));
    let pleth = stage.waveforms.iter().find(|w| is_pleth_name(&w.name));
    let arterial_values = arterial.map(Waveform::physical_or_nan);
    let pleth_values = pleth.map(Waveform::physical_or_nan);
    let breaths =
        stage.waveforms.iter().find(|w| is_resp_name(&w.name)).map(|w| breath_times(&w.physical_or_nan(), w.rate_hz));
    let duration = stage.duration_ms();
    let mut out = Vec::new();
    let mut end = WAVEFORM_STEP_MS;
    while end <= duration {
        let mut f = Frame { t_ms: end - WAVEFORM_STEP_MS, span_ms: WAVEFORM_STEP_MS, ..Frame::default() };
        if !leads.is_empty() && end >= ASYSTOLE_MS {
            let readable: Vec<&Lead> =
                leads.iter().filter(|l| l.readable(end.saturating_sub(ASYSTOLE_MS), end)).collect();
            f.ecg_off = readable.is_empty();
            if !readable.is_empty() {
                let since = readable
                    .iter()
                    .map(|l| l.beats_before(end).last().map_or(end, |b| end - b.t_ms))
                    .min()
                    .unwrap_or(end);
                f.since_beat_ms = Some(since);
                // The rate and rhythm from the lead whose recent beats are the most regular.
                fn recent(l: &Lead, end: u64) -> &[Beat] {
                    let b = l.beats_before(end);
                    &b[b.partition_point(|x| x.t_ms < end.saturating_sub(RATE_WINDOW_MS))..]
                }
                let primary = readable
                    .iter()
                    .filter_map(|l| irregularity(recent(l, end)).map(|c| (c, *l)))
                    .min_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, l)| l);
                if let Some(l) = primary {
                    f.rhythm = rhythm_of(l.beats_before(end), end);
                }
                // The rate: the median of the leads' rates (one lead's miscount is outvoted).
                let mut rates: Vec<f64> = readable
                    .iter()
                    .filter_map(|l| median_rate(&recent(l, end).iter().map(|b| b.t_ms).collect::<Vec<_>>()))
                    .collect();
                rates.sort_by(f64::total_cmp);
                f.hr = (!rates.is_empty()).then(|| rates[(rates.len() - 1) / 2]);
                let fibrillating = readable.iter().filter(|l| l.fibrillating(end)).count();
                f.rhythm.vf = fibrillating * 2 >= readable.len() && fibrillating > 0;
            }
        }
        if let (Some(w), Some(values)) = (arterial, &arterial_values)
            && let Some(r) = read_pulse(values, w.rate_hz, end, true)
            && !r.off
        {
            f.arterial_pulse = Some(r.present);
            f.pulse_rate = r.rate;
            if let Some((s, d, m)) = r.pressures {
                (f.systolic, f.diastolic, f.mean_pressure) = (Some(s), Some(d), Some(m));
            }
        }
        let mut pleth_pulse = None;
        if let (Some(w), Some(values)) = (pleth, &pleth_values)
            && let Some(r) = read_pulse(values, w.rate_hz, end, false)
        {
            f.probe_off = r.off;
            if !r.off {
                pleth_pulse = Some(r.present);
                f.pulse_rate = f.pulse_rate.or(r.rate);
            }
        }
        f.pulse_present = match (f.arterial_pulse, pleth_pulse) {
            (None, None) => None,
            (a, p) => Some(a == Some(true) || p == Some(true)),
        };
        if let Some(b) = &breaths {
            (f.resp_rate, f.since_breath_ms) = breathing_at(b, end);
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
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if lo > hi { (0.0, 0.0) } else { (lo, hi) }
}

/// The 5th and 95th percentiles of the finite values (0, 0 without any).
fn percentile_range(values: &[f64]) -> (f64, f64) {
    Percentiles::of(values).map_or((0.0, 0.0), |p| (p.low, p.high))
}

/// The median of the absolute finite values.
fn median_abs(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().filter(|v| v.is_finite()).map(|v| v.abs()).collect();
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, f64::total_cmp).1
}

/// The signal less its moving mean over `width` samples (NaN stays NaN): the baseline and
/// its wander removed.
fn remove_baseline(values: &[f64], width: usize) -> Vec<f64> {
    values.iter().zip(moving_mean(values, width)).map(|(v, m)| v - m).collect()
}

/// The slope energy of a baseline-free ECG, after Pan and Tompkins: smoothed over 16 ms
/// (keeping the QRS band), differentiated, squared and averaged over 150 ms. A complex is a
/// peak far above its median; noise is not.
fn slope_energy(centred: &[f64], rate_hz: f64) -> Vec<f64> {
    let smooth = moving_mean(centred, (0.016 * rate_hz).round() as usize);
    let slope: Vec<f64> = std::iter::once(0.0)
        .chain(smooth.windows(2).map(|w| if (w[1] - w[0]).is_finite() { (w[1] - w[0]).powi(2) } else { 0.0 }))
        .collect();
    moving_mean(&slope, (0.15 * rate_hz).round() as usize)
}

/// The centred moving mean over `width` samples (NaN samples are left out).
fn moving_mean(values: &[f64], width: usize) -> Vec<f64> {
    let width = width.max(1);
    let mut prefix = vec![0.0];
    let mut counts = vec![0usize];
    let (mut sum, mut n) = (0.0, 0usize);
    for v in values {
        if v.is_finite() {
            sum += v;
            n += 1;
        }
        prefix.push(sum);
        counts.push(n);
    }
    (0..values.len())
        .map(|i| {
            let (a, b) = (i.saturating_sub(width / 2), (i + width / 2 + 1).min(values.len()));
            let k = counts[b] - counts[a];
            if k > 0 { (prefix[b] - prefix[a]) / k as f64 } else { f64::NAN }
        })
        .collect()
}

/// The width of the complex at sample `i` (ms): the span, within 120 ms either side, where
/// the baseline-free signal stays above a quarter of the complex's peak.
fn width_ms(centred: &[f64], i: usize, rate_hz: f64) -> f64 {
    let half = (0.12 * rate_hz).round() as usize;
    let (a, b) = (i.saturating_sub(half), (i + half + 1).min(centred.len()));
    let near = &centred[a..b];
    let peak = near.iter().filter(|v| v.is_finite()).fold(0.0_f64, |m, v| m.max(v.abs()));
    if peak <= 0.0 {
        return 0.0;
    }
    let above: Vec<usize> = near.iter().enumerate().filter(|(_, v)| v.abs() >= 0.25 * peak).map(|(k, _)| k).collect();
    match (above.first(), above.last()) {
        (Some(first), Some(last)) => (last - first) as f64 * 1000.0 / rate_hz,
        _ => 0.0,
    }
}

/// Block means taking `values` from `rate_hz` down to about `to_hz` (NaN blocks stay NaN).
fn decimate(values: &[f64], rate_hz: f64, to_hz: f64) -> Vec<f64> {
    let k = (rate_hz / to_hz).round().max(1.0) as usize;
    values
        .chunks(k)
        .map(|c| {
            let finite: Vec<f64> = c.iter().copied().filter(|v| v.is_finite()).collect();
            if finite.len() * 2 > c.len() { finite.iter().sum::<f64>() / finite.len() as f64 } else { f64::NAN }
        })
        .collect()
}

/// The highest normalised autocorrelation of the zero-mean `x` (sampled at `hz`) at lags
/// from `min_s` to `max_s`, and the lag (s) where it is.
fn autocorrelation_peak(x: &[f64], hz: f64, min_s: f64, max_s: f64) -> (f64, f64) {
    let energy: f64 = x.iter().map(|v| v * v).sum();
    if energy <= 0.0 {
        return (0.0, 0.0);
    }
    let (lo, hi) = ((min_s * hz).round() as usize, ((max_s * hz).round() as usize).min(x.len().saturating_sub(1)));
    let mut best = (0.0, f64::NEG_INFINITY);
    for lag in lo.max(1)..=hi {
        let c: f64 = x[..x.len() - lag].iter().zip(&x[lag..]).map(|(a, b)| a * b).sum();
        // Normalised by the overlap, so long lags are not penalised for their shorter sum.
        let r = c / energy * x.len() as f64 / (x.len() - lag) as f64;
        if r > best.1 {
            best = (lag as f64 / hz, r);
        }
    }
    best
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
