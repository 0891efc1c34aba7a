//! Short-horizon forecast of the main vitals: damped Holt exponential smoothing (a level and
//! a trend, updated with each reading) predicting a track `horizon` ahead, and an
//! evaluation that walks a recorded track, forecasting every point from what was known at
//! that moment, scored against the reading that came and against persistence (the last
//! value), the baseline any forecast must beat to be worth showing.

use crate::case::Track;

/// Smoothing parameters: level `alpha`, trend `beta`, trend damping `phi` (0..1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Holt {
    pub alpha: f64,
    pub beta: f64,
    pub phi: f64,
    /// A gap longer than this restarts the forecaster (old trend means nothing after it).
    pub max_gap_ms: u64,
}

impl Default for Holt {
    fn default() -> Self {
        Holt { alpha: 0.5, beta: 0.05, phi: 0.8, max_gap_ms: 10 * 60_000 }
    }
}

/// The forecaster's state: level, trend per sample step, and what it last saw.
#[derive(Debug, Clone, Copy, PartialEq)]
struct State {
    level: f64,
    trend: f64,
    last_ms: u64,
    step_ms: u64,
    seen: u32,
}

impl Holt {
    fn update(&self, s: Option<State>, t_ms: u64, x: f64) -> State {
        match s {
            Some(s) if t_ms > s.last_ms && t_ms - s.last_ms <= self.max_gap_ms => {
                let predicted = s.level + self.phi * s.trend;
                let level = self.alpha * x + (1.0 - self.alpha) * predicted;
                let trend = self.beta * (level - s.level) + (1.0 - self.beta) * self.phi * s.trend;
                State { level, trend, last_ms: t_ms, step_ms: t_ms - s.last_ms, seen: s.seen + 1 }
            }
            _ => State { level: x, trend: 0.0, last_ms: t_ms, step_ms: 0, seen: 1 },
        }
    }

    fn predict(&self, s: &State, horizon_ms: u64) -> f64 {
        if s.step_ms == 0 {
            return s.level;
        }
        let steps = (horizon_ms as f64 / s.step_ms as f64).round() as i32;
        // Damped trend: sum of phi^k for k = 1..=steps.
        let mut damp = 0.0;
        let mut p = 1.0;
        for _ in 0..steps.max(0) {
            p *= self.phi;
            damp += p;
        }
        s.level + damp * s.trend
    }
}

/// How a forecast did over a track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecastEval {
    /// Forecasts that had a reading to be compared with.
    pub n: usize,
    pub mae: f64,
    pub rmse: f64,
    /// The same errors for persistence (predict the last reading).
    pub mae_persistence: f64,
    pub rmse_persistence: f64,
}

/// The forecast of `track` at `horizon_ms` after its last reading, if it has one.
pub fn forecast(track: &Track, horizon_ms: u64, holt: &Holt) -> Option<f64> {
    let mut s = None;
    for (t, v) in track.times_ms.iter().zip(&track.values) {
        if let Some(x) = v.filter(|x| x.is_finite()) {
            s = Some(holt.update(s, *t, f64::from(x)));
        }
    }
    s.map(|s| holt.predict(&s, horizon_ms))
}

/// Walks `track`, forecasting each reading's value `horizon_ms` later from the readings up to
/// it, and compares with the reading found exactly then. `None` when nothing could be scored.
pub fn evaluate(track: &Track, horizon_ms: u64, holt: &Holt) -> Option<ForecastEval> {
    let (mut n, mut ae, mut se, mut ae_p, mut se_p) = (0usize, 0.0, 0.0, 0.0, 0.0);
    let mut s: Option<State> = None;
    for (i, (t, v)) in track.times_ms.iter().zip(&track.values).enumerate() {
        let Some(x) = v.filter(|x| x.is_finite()) else { continue };
        let x = f64::from(x);
        let state = holt.update(s, *t, x);
        s = Some(state);
        if state.seen < 3 {
            continue;
        }
        let target = t + horizon_ms;
        let j = i + track.times_ms[i..].partition_point(|&u| u < target);
        let Some(Some(actual)) = (track.times_ms.get(j) == Some(&target)).then(|| track.values[j]) else { continue };
        if !actual.is_finite() {
            continue;
        }
        let actual = f64::from(actual);
        let e = holt.predict(&state, horizon_ms) - actual;
        let ep = x - actual;
        n += 1;
        ae += e.abs();
        se += e * e;
        ae_p += ep.abs();
        se_p += ep * ep;
    }
    (n > 0).then(|| {
        let k = n as f64;
        ForecastEval {
            n,
            mae: ae / k,
            rmse: (se / k).sqrt(),
            mae_persistence: ae_p / k,
            rmse_persistence: (se_p / k).sqrt(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(values: &[Option<f32>]) -> Track {
        Track {
            name: "x".into(),
            unit: "u".into(),
            times_ms: (0..values.len() as u64).map(|i| i * 60_000).collect(),
            values: values.to_vec(),
        }
    }

    #[test]
    fn a_steady_ramp_is_forecast_better_than_persistence() {
        let t = track(&(0..120).map(|i| Some(60.0 + 0.5 * i as f32)).collect::<Vec<_>>());
        let holt = Holt { phi: 0.98, beta: 0.3, ..Holt::default() };
        let e = evaluate(&t, 5 * 60_000, &holt).unwrap();
        assert!((e.mae_persistence - 2.5).abs() < 1e-6, "persistence lags by 5 × 0.5");
        assert!(e.mae < 0.5 * e.mae_persistence, "{e:?}");
        let f = forecast(&t, 5 * 60_000, &holt).unwrap();
        assert!((f - (60.0 + 0.5 * 119.0 + 2.5)).abs() < 1.0, "{f}");
    }

    #[test]
    fn a_flat_signal_is_forecast_exactly_and_gaps_restart() {
        let mut v = vec![Some(97.0f32); 40];
        v[20] = None;
        let e = evaluate(&track(&v), 5 * 60_000, &Holt::default()).unwrap();
        assert_eq!(e.mae, 0.0);
        assert!(evaluate(&track(&[None, None]), 60_000, &Holt::default()).is_none());
        assert!(forecast(&track(&[Some(f32::NAN)]), 60_000, &Holt::default()).is_none());
    }
}
