//! Replay of a case stage: a deterministic clock (play, pause, seek, speed) driven by
//! wall-clock deltas the caller passes in, a snapshot of every stream at the clock's time so
//! all streams stay in sync, and windowed min/max decimation of a waveform for drawing.

use core::time::Duration;

use crate::case::{GAP, StageData, Waveform};

/// Slowest playback speed.
pub const MIN_SPEED: f64 = 0.25;
/// Fastest playback speed.
pub const MAX_SPEED: f64 = 64.0;

/// A replay clock over `[0, duration]`, in whole microseconds of case time. It never reads a
/// system clock: [`Clock::advance`] takes the wall-clock time that passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Clock {
    position_us: u64,
    duration_us: u64,
    speed: f64,
    playing: bool,
}

impl Clock {
    /// A paused clock at 0, speed 1×, over a case `duration_us` long.
    pub fn new(duration_us: u64) -> Self {
        Clock { position_us: 0, duration_us, speed: 1.0, playing: false }
    }

    pub fn position_us(&self) -> u64 {
        self.position_us
    }

    pub fn duration_us(&self) -> u64 {
        self.duration_us
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Starts playing; at the end it starts again from 0.
    pub fn play(&mut self) {
        if self.position_us >= self.duration_us {
            self.position_us = 0;
        }
        self.playing = true;
    }

    pub fn pause(&mut self) {
        self.playing = false;
    }

    /// Moves to `t_us`, clamped to the case's duration; playing or paused stays as it was.
    pub fn seek(&mut self, t_us: u64) {
        self.position_us = t_us.min(self.duration_us);
    }

    /// Sets the speed, clamped to [`MIN_SPEED`]..=[`MAX_SPEED`] (NaN means 1×); returns it.
    pub fn set_speed(&mut self, speed: f64) -> f64 {
        self.speed = if speed.is_nan() { 1.0 } else { speed.clamp(MIN_SPEED, MAX_SPEED) };
        self.speed
    }

    /// Advances case time by `wall` × speed when playing; pauses at the end. Returns the new
    /// position. The step is rounded to the nearest microsecond, so the same sequence of
    /// calls gives the same positions on every platform.
    pub fn advance(&mut self, wall: Duration) -> u64 {
        if self.playing {
            let step = (wall.as_micros() as f64 * self.speed).round();
            let step = if step >= u64::MAX as f64 { u64::MAX } else { step as u64 };
            self.position_us = self.position_us.saturating_add(step).min(self.duration_us);
            if self.position_us == self.duration_us {
                self.playing = false;
            }
        }
        self.position_us
    }
}

/// The value of every stream at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub time_us: u64,
    /// Waveform name, sample index, physical value (`None` in a gap or past the end).
    pub waveforms: Vec<(String, usize, Option<f64>)>,
    /// Track name and its latest value at or before the time.
    pub tracks: Vec<(String, Option<f32>)>,
    /// Number of events at or before the time.
    pub events_so_far: usize,
}

/// Every stream of `stage` at time `t_us`: one time base for all, so they stay in sync.
pub fn snapshot(stage: &StageData, t_us: u64) -> Snapshot {
    let t_ms = t_us / 1000;
    Snapshot {
        time_us: t_us,
        waveforms: stage
            .waveforms
            .iter()
            .map(|w| {
                let i = w.index_at_us(t_us);
                (w.name.clone(), i, w.physical(i))
            })
            .collect(),
        tracks: stage.tracks.iter().map(|t| (t.name.clone(), t.value_at(t_ms))).collect(),
        events_so_far: stage.events.iter().filter(|e| e.time_ms <= t_ms).count(),
    }
}

/// One pixel column of a decimated waveform, in physical units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinMax {
    pub min: f64,
    pub max: f64,
}

/// Min/max decimation for drawing: the window `[start_us, start_us + window_us)` of `wave`
/// split into `width_px` columns, each the min and max of its samples (`None` where a
/// column holds only gaps or lies past the end). When the window holds fewer samples than
/// pixels, each column takes the sample under it.
pub fn decimate(wave: &Waveform, start_us: u64, window_us: u64, width_px: usize) -> Vec<Option<MinMax>> {
    let first = wave.index_at_us(start_us);
    let count = wave.index_at_us(start_us.saturating_add(window_us)).saturating_sub(first);
    let len = wave.samples.len();
    let gain = wave.gain;
    let baseline = f64::from(wave.baseline);
    (0..width_px)
        .map(|p| {
            if count == 0 {
                return None;
            }
            // Wide arithmetic: a window far past the end must not overflow.
            let at = |p: usize| first.saturating_add((p as u128 * count as u128 / width_px as u128) as usize);
            let a = at(p);
            let b = at(p + 1).max(a.saturating_add(1));
            let (a, b) = (a.min(len), b.min(len));
            let mut lo = i16::MAX;
            let mut hi = i16::MIN;
            let mut any = false;
            for &s in &wave.samples[a..b] {
                if s != GAP {
                    any = true;
                    lo = lo.min(s);
                    hi = hi.max(s);
                }
            }
            // A positive gain keeps order; a negative one swaps min and max.
            any.then(|| {
                let (x, y) = ((f64::from(lo) - baseline) / gain, (f64::from(hi) - baseline) / gain);
                MinMax { min: x.min(y), max: x.max(y) }
            })
        })
        .collect()
}
