//! QRS detection in one ECG lead, after Pan and Tompkins (1985): a 5–15 Hz band-pass,
//! a derivative, squaring, a 150 ms moving-window integration, then adaptive signal and
//! noise thresholds with a refractory period, T-wave discrimination and search-back. A
//! candidate within 360 ms of a beat is a T wave when its slope is under half the QRS's (Pan
//! and Tompkins) or it swings slower (steepest slope over deflection under 0.7 of the QRS's:
//! a peaked T wave can be as steep, never as fast); a T wave moves no threshold and is never
//! searched back for, so one taller than its QRS is not counted as a second beat.
//! Filters run forward and backward (zero phase) over the whole signal, so beats are placed
//! without filter delay; the same input always gives the same beats. Also: beat-by-beat evaluation
//! against reference annotations (sensitivity, positive predictivity) and heart rate.

use thiserror::Error;

/// Why a detector could not be built.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum QrsError {
    #[error("sampling frequency {fs} Hz is too low for a band up to {high_hz} Hz")]
    SamplingRate { fs: f64, high_hz: f64 },
    #[error("configuration value {name} = {value} is out of range")]
    Config { name: &'static str, value: f64 },
}

/// Detector settings; [`QrsConfig::default`] is the published Pan–Tompkins choice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QrsConfig {
    /// Band-pass corner frequencies in Hz.
    pub low_hz: f64,
    pub high_hz: f64,
    /// Moving-window integration width in seconds.
    pub integration_s: f64,
    /// No second beat within this many seconds of a beat.
    pub refractory_s: f64,
    /// A candidate this close to the previous beat must have a steep enough slope (else T wave).
    pub t_wave_s: f64,
    /// Search back for a missed beat when no beat came within this multiple of the mean RR.
    pub searchback_factor: f64,
    /// Seconds at the start used to initialise the thresholds.
    pub learning_s: f64,
}

impl Default for QrsConfig {
    fn default() -> Self {
        Self {
            low_hz: 5.0,
            high_hz: 15.0,
            integration_s: 0.150,
            refractory_s: 0.200,
            t_wave_s: 0.360,
            searchback_factor: 1.66,
            learning_s: 2.0,
        }
    }
}

/// A QRS detector for one sampling frequency.
#[derive(Debug, Clone, PartialEq)]
pub struct QrsDetector {
    fs: f64,
    config: QrsConfig,
}

/// A local maximum of the integrated signal, a beat candidate.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    index: usize,
    height: f64,
}

impl QrsDetector {
    /// A detector for signals sampled at `fs` Hz.
    pub fn new(fs: f64, config: QrsConfig) -> Result<Self, QrsError> {
        let checks = [
            ("low_hz", config.low_hz),
            ("high_hz", config.high_hz),
            ("integration_s", config.integration_s),
            ("refractory_s", config.refractory_s),
            ("t_wave_s", config.t_wave_s),
            ("searchback_factor", config.searchback_factor),
            ("learning_s", config.learning_s),
        ];
        for (name, value) in checks {
            if !(value.is_finite() && value > 0.0) {
                return Err(QrsError::Config { name, value });
            }
        }
        if config.high_hz <= config.low_hz {
            return Err(QrsError::Config { name: "high_hz", value: config.high_hz });
        }
        if !(fs.is_finite() && fs > 2.0 * config.high_hz) {
            return Err(QrsError::SamplingRate { fs, high_hz: config.high_hz });
        }
        Ok(Self { fs, config })
    }

    /// Sampling frequency in Hz.
    pub fn frequency(&self) -> f64 {
        self.fs
    }

    /// Detects beats in `ecg` (any units; NaN marks gaps) and returns the sample index of each
    /// R wave, in increasing order.
    pub fn detect(&self, ecg: &[f64]) -> Vec<usize> {
        if ecg.len() < 3 {
            return Vec::new();
        }
        let filled = fill_gaps(ecg);
        let band = self.band_pass(&filled);
        let slope = derivative(&band);
        let energy: Vec<f64> = slope.iter().map(|d| d * d).collect();
        let window = self.samples(self.config.integration_s).max(1);
        let integrated = moving_average_centered(&energy, window);
        let beats = self.decide(&integrated, &slope, &band);
        // Place each beat at the largest band-passed deflection near the integrator's peak.
        let half = window / 2 + 1;
        let mut located: Vec<usize> = beats
            .into_iter()
            .map(|peak| {
                let lo = peak.saturating_sub(half);
                let hi = (peak + half).min(band.len() - 1);
                (lo..=hi).fold(lo, |best, i| if band[i].abs() > band[best].abs() { i } else { best })
            })
            .collect();
        located.dedup();
        located
    }

    fn samples(&self, seconds: f64) -> usize {
        (seconds * self.fs).round().max(0.0) as usize
    }

    fn band_pass(&self, x: &[f64]) -> Vec<f64> {
        let offset = x[0];
        let mut y: Vec<f64> = x.iter().map(|v| v - offset).collect();
        for biquad in [Biquad::high_pass(self.config.low_hz, self.fs), Biquad::low_pass(self.config.high_hz, self.fs)] {
            biquad.run(&mut y);
            y.reverse();
            biquad.run(&mut y);
            y.reverse();
        }
        y
    }

    /// The Pan–Tompkins decision rules on the integrated signal; returns integrator peak indices.
    fn decide(&self, integrated: &[f64], slope: &[f64], band: &[f64]) -> Vec<usize> {
        let refractory = self.samples(self.config.refractory_s).max(1);
        let t_wave = self.samples(self.config.t_wave_s);
        let candidates = local_maxima(integrated, (refractory / 2).max(1));
        let learn = self.samples(self.config.learning_s).clamp(1, integrated.len());
        let head = &integrated[..learn];
        let mut spki = 0.25 * head.iter().copied().fold(0.0, f64::max);
        let mut npki = 0.5 * head.iter().sum::<f64>() / head.len() as f64;
        let mut rr_mean = self.fs; // One second until there are beats.
        let mut recent_rr: Vec<f64> = Vec::new();
        let mut beats: Vec<usize> = Vec::new();
        // Each beat's steepest slope and sharpness.
        let mut beat_slopes: Vec<(f64, f64)> = Vec::new();
        let mut rejected: Vec<Candidate> = Vec::new();
        let max_slope = |index: usize| -> f64 {
            let half = refractory / 4;
            let lo = index.saturating_sub(half);
            let hi = (index + half).min(slope.len() - 1);
            slope[lo..=hi].iter().fold(0.0, |m: f64, s| m.max(s.abs()))
        };
        // How fast the wave swings: its steepest slope over its largest deflection (radians a
        // sample for a sine). A QRS is fast; a T wave, even a tall peaked one, is slow.
        let sharpness = |index: usize| -> f64 {
            let half = refractory / 4;
            let lo = index.saturating_sub(half);
            let hi = (index + half).min(band.len() - 1);
            let size = band[lo..=hi].iter().fold(0.0, |m: f64, s| m.max(s.abs()));
            if size > 0.0 { max_slope(index) / size } else { 0.0 }
        };

        let mut accept = |c: Candidate, beats: &mut Vec<usize>, slopes: &mut Vec<(f64, f64)>, rr_mean: &mut f64| {
            if let Some(&last) = beats.last() {
                recent_rr.push((c.index - last) as f64);
                if recent_rr.len() > 8 {
                    recent_rr.remove(0);
                }
                *rr_mean = recent_rr.iter().sum::<f64>() / recent_rr.len() as f64;
            }
            beats.push(c.index);
            slopes.push((max_slope(c.index), sharpness(c.index)));
        };

        for c in candidates {
            let threshold = npki + 0.25 * (spki - npki);
            // Search back for a missed beat when the gap has grown too long.
            if let Some(&last) = beats.last()
                && (c.index - last) as f64 > self.config.searchback_factor * rr_mean
            {
                let best = rejected
                    .iter()
                    .filter(|r| r.index > last + refractory && r.index + refractory < c.index)
                    .filter(|r| r.height > 0.5 * threshold)
                    .fold(None::<Candidate>, |b, r| match b {
                        Some(b) if b.height >= r.height => Some(b),
                        _ => Some(*r),
                    });
                if let Some(found) = best {
                    spki = 0.25 * found.height + 0.75 * spki;
                    accept(found, &mut beats, &mut beat_slopes, &mut rr_mean);
                }
                rejected.clear();
            }
            let threshold = npki + 0.25 * (spki - npki);
            let since_last = beats.last().map(|&last| c.index - last);
            // Pan and Tompkins' slope test, and a T wave is slower than the QRS before it (a
            // peaked T can be as steep, never as fast). A T wave is neither noise nor a missed
            // beat: it moves no threshold and is never searched back for, so a T wave taller
            // than its QRS cannot raise the noise level over the QRS and be taken for it.
            let t_wave_like = since_last.is_some_and(|gap| gap >= refractory && gap < t_wave) && {
                let (previous, previous_sharpness) = beat_slopes.last().copied().unwrap_or((0.0, 0.0));
                max_slope(c.index) < 0.5 * previous || sharpness(c.index) < 0.7 * previous_sharpness
            };
            let is_beat = c.height > threshold && !t_wave_like && since_last.is_none_or(|gap| gap >= refractory);
            if is_beat {
                spki = 0.125 * c.height + 0.875 * spki;
                accept(c, &mut beats, &mut beat_slopes, &mut rr_mean);
                rejected.clear();
            } else if !t_wave_like {
                npki = 0.125 * c.height + 0.875 * npki;
                rejected.push(c);
            }
        }
        beats
    }
}

/// A second-order IIR section (Robert Bristow-Johnson's audio-EQ formulas, Q = 1/sqrt 2).
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    fn design(f0: f64, fs: f64, high: bool) -> Self {
        let w0 = 2.0 * std::f64::consts::PI * f0 / fs;
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / std::f64::consts::SQRT_2;
        let a0 = 1.0 + alpha;
        let b = if high {
            [(1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0]
        } else {
            [(1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0]
        };
        Self { b: b.map(|v| v / a0), a: [-2.0 * cos / a0, (1.0 - alpha) / a0] }
    }

    fn low_pass(f0: f64, fs: f64) -> Self {
        Self::design(f0, fs, false)
    }

    fn high_pass(f0: f64, fs: f64) -> Self {
        Self::design(f0, fs, true)
    }

    /// Filters in place (transposed direct form II, zero initial state).
    fn run(&self, x: &mut [f64]) {
        let (mut z1, mut z2) = (0.0, 0.0);
        for v in x.iter_mut() {
            let input = *v;
            let out = self.b[0] * input + z1;
            z1 = self.b[1] * input - self.a[0] * out + z2;
            z2 = self.b[2] * input - self.a[1] * out;
            *v = out;
        }
    }
}

/// Replaces NaN with the last valid value (or the first valid one at the start; 0 if none).
fn fill_gaps(x: &[f64]) -> Vec<f64> {
    let mut last = x.iter().copied().find(|v| v.is_finite()).unwrap_or(0.0);
    x.iter()
        .map(|&v| {
            if v.is_finite() {
                last = v;
            }
            last
        })
        .collect()
}

/// Five-point centred derivative (Pan–Tompkins), edges replicated.
fn derivative(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let at = |i: isize| x[i.clamp(0, n as isize - 1) as usize];
    (0..n as isize).map(|i| (2.0 * at(i + 2) + at(i + 1) - at(i - 1) - 2.0 * at(i - 2)) / 8.0).collect()
}

/// Centred moving average of width `window` (prefix sums; shorter at the edges).
fn moving_average_centered(x: &[f64], window: usize) -> Vec<f64> {
    let mut prefix = Vec::with_capacity(x.len() + 1);
    prefix.push(0.0);
    let mut sum = 0.0;
    for v in x {
        sum += v;
        prefix.push(sum);
    }
    let before = window / 2;
    let after = window - before;
    (0..x.len())
        .map(|i| {
            let lo = i.saturating_sub(before);
            let hi = (i + after).min(x.len());
            (prefix[hi] - prefix[lo]) / window as f64
        })
        .collect()
}

/// Indices that hold the largest value within `radius` on both sides (first one on ties).
fn local_maxima(x: &[f64], radius: usize) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < x.len() {
        let lo = i.saturating_sub(radius);
        let hi = (i + radius).min(x.len() - 1);
        let v = x[i];
        let is_max = v > 0.0 && x[lo..i].iter().all(|&u| u < v) && x[i + 1..=hi].iter().all(|&u| u <= v);
        if is_max {
            out.push(Candidate { index: i, height: v });
            i += radius.max(1);
        } else {
            i += 1;
        }
    }
    out
}

/// The outcome of matching detected beats against reference beats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BeatMatch {
    pub true_positives: usize,
    pub false_negatives: usize,
    pub false_positives: usize,
}

impl BeatMatch {
    /// Sensitivity in percent: TP / (TP + FN).
    pub fn sensitivity(&self) -> f64 {
        percent(self.true_positives, self.true_positives + self.false_negatives)
    }

    /// Positive predictivity in percent: TP / (TP + FP).
    pub fn positive_predictivity(&self) -> f64 {
        percent(self.true_positives, self.true_positives + self.false_positives)
    }
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 { 100.0 } else { 100.0 * part as f64 / whole as f64 }
}

/// Matches detections to reference beats one to one, each within `tolerance` samples, the
/// nearest pair first (as beat-by-beat comparison does). Both slices must be sorted.
pub fn evaluate_beats(reference: &[u64], detected: &[u64], tolerance: u64) -> BeatMatch {
    let mut m = BeatMatch::default();
    let (mut i, mut j) = (0, 0);
    while i < reference.len() && j < detected.len() {
        let (r, d) = (reference[i], detected[j]);
        if d + tolerance < r {
            m.false_positives += 1;
            j += 1;
        } else if r + tolerance < d {
            m.false_negatives += 1;
            i += 1;
        } else if detected.get(j + 1).is_some_and(|&n| n.abs_diff(r) < d.abs_diff(r)) {
            m.false_positives += 1;
            j += 1;
        } else if reference.get(i + 1).is_some_and(|&n| n.abs_diff(d) < d.abs_diff(r)) {
            m.false_negatives += 1;
            i += 1;
        } else {
            m.true_positives += 1;
            i += 1;
            j += 1;
        }
    }
    m.false_negatives += reference.len() - i;
    m.false_positives += detected.len() - j;
    m
}

/// Instantaneous heart rate: for each beat after the first, its time in seconds and
/// 60 / RR in beats per minute. `beats` are sorted sample indices at `fs` Hz.
pub fn heart_rate_bpm(beats: &[u64], fs: f64) -> Vec<(f64, f64)> {
    beats.windows(2).filter(|w| w[1] > w[0]).map(|w| (w[1] as f64 / fs, 60.0 * fs / (w[1] - w[0]) as f64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic ECG: narrow Gaussian R waves on a slow baseline wander, with broad T waves.
    fn synthetic(fs: f64, beats: &[f64], seconds: f64) -> Vec<f64> {
        synthetic_scaled(fs, &beats.iter().map(|&b| (b, 1.0)).collect::<Vec<_>>(), seconds)
    }

    fn synthetic_scaled(fs: f64, beats: &[(f64, f64)], seconds: f64) -> Vec<f64> {
        let n = (fs * seconds) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / fs;
                let mut v = 0.3 * (2.0 * std::f64::consts::PI * 0.3 * t).sin();
                for &(b, scale) in beats {
                    v += scale * 1.2 * (-((t - b) / 0.012).powi(2)).exp();
                    v += 0.3 * (-((t - b - 0.3) / 0.06).powi(2)).exp();
                }
                v
            })
            .collect()
    }

    #[test]
    fn finds_every_synthetic_beat_and_no_t_waves() {
        let fs = 250.0;
        let beats: Vec<f64> = (0..40).map(|k| 0.5 + 0.8 * k as f64 + if k % 7 == 0 { 0.15 } else { 0.0 }).collect();
        let ecg = synthetic(fs, &beats, 33.0);
        let found = QrsDetector::new(fs, QrsConfig::default()).unwrap().detect(&ecg);
        let reference: Vec<u64> = beats.iter().map(|b| (b * fs).round() as u64).collect();
        let found: Vec<u64> = found.iter().map(|&i| i as u64).collect();
        let m = evaluate_beats(&reference, &found, (0.15 * fs) as u64);
        assert_eq!(m, BeatMatch { true_positives: 40, false_negatives: 0, false_positives: 0 }, "{found:?}");
        for (r, d) in reference.iter().zip(&found) {
            assert!(r.abs_diff(*d) <= 2, "R wave at {r} placed at {d}");
        }
    }

    #[test]
    fn search_back_recovers_a_small_beat_after_a_long_gap() {
        let fs = 360.0;
        let beats: Vec<(f64, f64)> =
            (0..30).map(|k| (0.5 + 0.8 * k as f64, if k == 20 { 0.42 } else { 1.0 })).collect();
        let ecg = synthetic_scaled(fs, &beats, 25.0);
        let small = (beats[20].0 * fs).round() as i64;
        let near_small = |found: &[usize]| found.iter().any(|&i| (i as i64 - small).abs() <= 5);
        let with = QrsDetector::new(fs, QrsConfig::default()).unwrap().detect(&ecg);
        assert_eq!(with.len(), 30);
        assert!(near_small(&with));
        let config = QrsConfig { searchback_factor: 100.0, ..QrsConfig::default() };
        let without = QrsDetector::new(fs, config).unwrap().detect(&ecg);
        assert!(!near_small(&without), "the small beat should be below the primary threshold");
    }

    #[test]
    fn flat_and_tiny_inputs_give_no_beats() {
        let detector = QrsDetector::new(360.0, QrsConfig::default()).unwrap();
        assert!(detector.detect(&[]).is_empty());
        assert!(detector.detect(&[1.0; 5000]).is_empty());
        assert!(detector.detect(&[f64::NAN; 100]).is_empty());
    }

    #[test]
    fn rejects_bad_rates() {
        assert!(QrsDetector::new(20.0, QrsConfig::default()).is_err());
        assert!(QrsDetector::new(f64::NAN, QrsConfig::default()).is_err());
    }

    #[test]
    fn matching_counts_each_pair_once() {
        let m = evaluate_beats(&[100, 200, 300], &[101, 150, 199, 400], 10);
        assert_eq!(m, BeatMatch { true_positives: 2, false_negatives: 1, false_positives: 2 });
        assert!((m.sensitivity() - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(m.positive_predictivity(), 50.0);
    }

    #[test]
    fn heart_rate_from_rr() {
        assert_eq!(heart_rate_bpm(&[0, 360, 540], 360.0), vec![(1.0, 60.0), (1.5, 120.0)]);
    }
}
