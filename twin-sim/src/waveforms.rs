//! Waveforms made from the physiology model's state, for the training monitor: an ECG in
//! every rhythm the model has (sinus with P, QRS and T; the wide slow complexes of PEA;
//! pulseless VT; the irregular 4-6 Hz wave of VF; the flat line of asystole; the artefact of
//! chest compressions), a pleth that is there only while an oximeter would find a pulse, an
//! arterial pressure between the model's diastolic and systolic, and a capnogram that
//! plateaus at the model's end-tidal CO2 once per breath. They agree with the numbers shown:
//! the QRS detector finds the model's heart rate in the ECG, and the alarm rules read the
//! same rhythm from these waves as from the model's frames (tests).
//!
//! Pure and deterministic: the "noise" is a fixed sequence, so the same run draws the same
//! waves on every target. Samples are kept as [`Waveform`]s, the type a recorded case uses,
//! so the monitor draws both alike.

use crate::case::Waveform;
use crate::detmath;
use crate::physiology::{HeartRhythm, Outputs};

/// Samples per second of every channel.
pub const RATE_HZ: f64 = 250.0;

/// The four channels, in this order: ECG lead II (mV), pleth (arbitrary units, 0-1),
/// arterial pressure (mmHg), CO2 (mmHg).
pub const CHANNELS: [(&str, &str, f64); 4] =
    [("II", "mV", 200.0), ("PLETH", "NU", 1000.0), ("ABP", "mmHg", 10.0), ("CO2", "mmHg", 10.0)];

/// The waves of one run so far, and the phases that carry from one step to the next.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelWaves {
    waves: Vec<Waveform>,
    /// Time of the next sample, s.
    t_s: f64,
    /// Position in the cardiac, compression and breathing cycles (0..1).
    beat: f64,
    compression: f64,
    breath: f64,
    /// State of the fixed noise sequence.
    noise: u64,
}

impl Default for ModelWaves {
    fn default() -> Self {
        ModelWaves::new()
    }
}

impl ModelWaves {
    pub fn new() -> ModelWaves {
        let waves = CHANNELS
            .iter()
            .map(|(name, unit, gain)| Waveform {
                name: (*name).to_owned(),
                unit: (*unit).to_owned(),
                rate_hz: RATE_HZ,
                gain: *gain,
                baseline: 0,
                samples: Vec::new(),
            })
            .collect();
        ModelWaves { waves, t_s: 0.0, beat: 0.0, compression: 0.0, breath: 0.0, noise: 0x2545_f491_4f6c_dd1d }
    }

    /// The channels so far (ECG, pleth, arterial pressure, CO2), each from time 0.
    pub fn waves(&self) -> &[Waveform] {
        &self.waves
    }

    /// Seconds of waves made so far.
    pub fn duration_s(&self) -> f64 {
        self.t_s
    }

    /// Adds the samples up to `until_s` (seconds from the start) with the model's state `o`
    /// held over them (the outputs at the end of the step that led there), and whether chest
    /// compressions are going on.
    pub fn extend_to(&mut self, until_s: f64, o: &Outputs, compressions: bool) {
        let dt = 1.0 / RATE_HZ;
        while self.t_s + dt / 2.0 <= until_s {
            let [ecg, pleth, abp, co2] = self.sample(o, compressions, dt);
            for (w, v) in self.waves.iter_mut().zip([ecg, pleth, abp, co2]) {
                let adu = (v * w.gain).round().clamp(-32_767.0, 32_767.0);
                w.samples.push(adu as i16);
            }
            self.t_s += dt;
        }
    }

    /// A small value from the fixed sequence, uniform in [-1, 1).
    fn jitter(&mut self) -> f64 {
        // xorshift64*: enough to look like noise, the same everywhere.
        self.noise ^= self.noise >> 12;
        self.noise ^= self.noise << 25;
        self.noise ^= self.noise >> 27;
        let x = self.noise.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        x as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn sample(&mut self, o: &Outputs, compressions: bool, dt: f64) -> [f64; 4] {
        let t = self.t_s;
        let noise = 0.01 * self.jitter();
        // The cardiac cycle: the rate on the ECG, or none.
        let rate = match o.rhythm {
            HeartRhythm::VentricularFibrillation | HeartRhythm::Asystole => 0.0,
            _ => o.hr_per_min.max(0.0),
        };
        let rr_s = if rate > 0.0 { 60.0 / rate } else { 1.0 };
        self.beat = (self.beat + dt / rr_s).fract();
        let in_beat = self.beat * rr_s;
        let mut ecg = match o.rhythm {
            HeartRhythm::Sinus => sinus_complex(in_beat, rr_s),
            HeartRhythm::Pea => wide_complex(in_beat, 0.9, 0.03),
            HeartRhythm::VentricularTachycardia => wide_complex(in_beat, 1.4, 0.035),
            HeartRhythm::VentricularFibrillation => {
                let amplitude = 0.3 * (1.0 - 0.5 * (o.myocardial_o2_debt / 2.5).clamp(0.0, 1.0));
                let wobble = 1.0 + 0.3 * detmath::sin(2.0 * std::f64::consts::PI * 0.35 * t);
                amplitude
                    * wobble
                    * (detmath::sin(2.0 * std::f64::consts::PI * 4.7 * t)
                        + 0.6 * detmath::sin(2.0 * std::f64::consts::PI * 5.9 * t + 1.3)
                        + 0.4 * detmath::sin(2.0 * std::f64::consts::PI * 3.3 * t + 0.4))
            }
            HeartRhythm::Asystole => 0.0,
        } + noise;
        // Compressions at 110 a minute: a large slow artefact on the ECG, and the only pulse
        // on the arterial line while the heart is arrested.
        let pumping = o.rhythm.pumps();
        let mut abp = o.map_mmhg;
        if compressions && !pumping {
            self.compression = (self.compression + dt * 110.0 / 60.0).fract();
            let push = pulse_shape(self.compression);
            ecg += 0.6 * (push - 0.4);
            abp = o.dbp_mmhg + (o.sbp_mmhg - o.dbp_mmhg) * push;
        } else if pumping && rate > 0.0 {
            abp = o.dbp_mmhg + (o.sbp_mmhg - o.dbp_mmhg) * pulse_shape(self.beat);
        }
        let pleth = if o.oximeter_reads() {
            let strength = ((o.sbp_mmhg - o.dbp_mmhg) / 40.0).clamp(0.1, 1.0);
            // The pulse reaches the finger about a fifth of a second after the QRS.
            let lagged = (self.beat - 0.2 / rr_s).rem_euclid(1.0);
            0.5 * strength * pulse_shape(lagged) + 0.2
        } else {
            0.002 * self.jitter()
        };
        // Breathing: inspiration for the first third of a breath (CO2 0), then expiration
        // rising to the end-tidal plateau.
        let co2 = if o.rr_per_min >= 1.0 && o.etco2_mmhg > 0.0 {
            self.breath = (self.breath + dt * o.rr_per_min / 60.0).fract();
            if self.breath < 1.0 / 3.0 {
                0.0
            } else {
                let x = (self.breath - 1.0 / 3.0) * 3.0 / 2.0;
                o.etco2_mmhg * (1.0 - detmath::exp(-x * 12.0)) * (0.92 + 0.08 * x)
            }
        } else {
            0.0
        };
        [ecg, pleth, abp.max(0.0), co2]
    }
}

fn gauss(t: f64, centre: f64, sigma: f64) -> f64 {
    let z = (t - centre) / sigma;
    detmath::exp(-0.5 * z * z)
}

/// P, QRS and T of one sinus beat, `t` seconds into a cycle of `rr` seconds (R at 0.2 s).
fn sinus_complex(t: f64, rr: f64) -> f64 {
    let r = 0.2;
    let t_wave = r + 0.16 + 0.1 * rr.sqrt().min(1.2);
    0.12 * gauss(t, r - 0.15, 0.025) - 0.12 * gauss(t, r - 0.03, 0.008) + 1.1 * gauss(t, r, 0.011)
        - 0.25 * gauss(t, r + 0.03, 0.01)
        + 0.3 * gauss(t, t_wave, 0.045)
}

/// A wide complex without a P wave, `t` seconds into the cycle (its peak at 0.2 s): a broad
/// R and a deep opposite wave after it (about 140 ms in all at σ 35 ms).
fn wide_complex(t: f64, amplitude: f64, sigma: f64) -> f64 {
    amplitude * gauss(t, 0.2, sigma) - 0.5 * amplitude * gauss(t, 0.2 + 2.6 * sigma, 1.15 * sigma)
}

/// A pressure pulse over one cycle (0..1): a quick upstroke, a dicrotic notch, a slow fall.
fn pulse_shape(phase: f64) -> f64 {
    let up = gauss(phase, 0.18, 0.06);
    let notch = 0.35 * gauss(phase, 0.42, 0.07);
    let tail = if phase > 0.18 { 0.25 * detmath::exp(-(phase - 0.18) * 4.0) } else { 0.0 };
    (up + notch + tail).min(1.0)
}
