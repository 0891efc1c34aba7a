//! The live physiology model as the bedside monitor reads it: one [`Frame`] a second, made
//! from the model's outputs the way a monitor would measure them, so the training monitor
//! runs the same alarm rules as a replayed case. The rhythm decides what the ECG and the
//! pulse show: VF has no complexes and no pulse, pulseless VT fast wide complexes, PEA
//! complexes without a pulse, asystole nothing; a pulse oximeter loses the pulse in low flow.

use super::news2::{Consciousness, News2, News2Input, news2};
use super::signals::{Frame, Rhythm};
use crate::physiology::{HeartRhythm, Inputs, Outputs};

/// The vital signs a monitor's numerics show, wherever they come from (a recording's frame
/// or the live model), and what NEWS2 needs besides.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Vitals {
    pub hr: Option<f64>,
    pub spo2: Option<f64>,
    pub systolic: Option<f64>,
    pub diastolic: Option<f64>,
    pub mean: Option<f64>,
    pub resp_rate: Option<f64>,
    /// Whether the patient breathes added oxygen (known for the model: its FiO2).
    pub on_oxygen: Option<bool>,
    /// ACVPU (known for the model: from its BIS, under 80 not alert).
    pub consciousness: Option<Consciousness>,
}

impl Vitals {
    /// The model as its monitor reads it: no heart rate without complexes on the ECG, no
    /// SpO2 when the oximeter finds no pulse; oxygen from the FiO2, consciousness from BIS.
    pub fn from_model(o: &Outputs, inputs: &Inputs) -> Vitals {
        let complexes = !matches!(o.rhythm, HeartRhythm::VentricularFibrillation | HeartRhythm::Asystole);
        Vitals {
            hr: complexes.then_some(o.hr_per_min),
            spo2: o.oximeter_reads().then_some(o.spo2_percent),
            systolic: Some(o.sbp_mmhg),
            diastolic: Some(o.dbp_mmhg),
            mean: Some(o.map_mmhg),
            resp_rate: Some(o.rr_per_min),
            on_oxygen: Some(inputs.fio2 > 0.21 + 1e-9),
            consciousness: Some(if o.bis >= 80.0 { Consciousness::Alert } else { Consciousness::NotAlert }),
        }
    }

    /// NEWS2 from these vitals, when anything it scores is measured.
    pub fn news2(&self) -> Option<News2> {
        let v = self;
        (v.hr.is_some() || v.spo2.is_some() || v.systolic.is_some() || v.resp_rate.is_some()).then(|| {
            news2(&News2Input {
                resp_rate: v.resp_rate,
                spo2: v.spo2,
                systolic: v.systolic,
                pulse: v.hr,
                on_oxygen: v.on_oxygen,
                consciousness: v.consciousness,
                ..News2Input::default()
            })
        })
    }
}

/// The spacing of the frames the alarm rules read, ms of scenario time.
pub const MODEL_FRAME_MS: u64 = 1000;

/// The frames made so far from a model run, and what they need to remember.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFrames {
    frames: Vec<Frame>,
    /// Since when the model has not breathed (ms from the start), if it has not.
    apnoea_since_ms: Option<u64>,
    /// Since when the ECG has shown no complex, if it has not.
    no_complex_since_ms: Option<u64>,
}

impl ModelFrames {
    pub fn new() -> ModelFrames {
        ModelFrames::default()
    }

    /// The frames so far, oldest first.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Adds a frame for `t_ms` (ms from the start) when a frame's time has passed since the
    /// last; `step_ms` is the model's step, the shortest a frame may last.
    pub fn record(&mut self, t_ms: u64, step_ms: u64, o: &Outputs) {
        if let Some(last) = self.frames.last_mut() {
            if t_ms < last.t_ms + MODEL_FRAME_MS {
                return;
            }
            // Contiguous frames: the last one lasts until this one.
            last.span_ms = t_ms - last.t_ms;
        }
        // Under 1 breath a minute, or almost no air moved, is no breathing.
        let breathing = o.rr_per_min >= 1.0 && o.minute_ventilation_l >= 0.5;
        let since_breath_ms = if breathing {
            self.apnoea_since_ms = None;
            0
        } else {
            t_ms - *self.apnoea_since_ms.get_or_insert(t_ms)
        };
        let complexes = matches!(o.rhythm, HeartRhythm::Sinus | HeartRhythm::Pea | HeartRhythm::VentricularTachycardia)
            && o.hr_per_min > 0.0;
        let since_beat_ms = if complexes {
            self.no_complex_since_ms = None;
            0
        } else {
            t_ms - *self.no_complex_since_ms.get_or_insert(t_ms)
        };
        let pumping = o.rhythm.pumps() && o.cardiac_output_l_per_min > 0.0;
        let oximeter = o.oximeter_reads();
        let rhythm = Rhythm {
            vf: o.rhythm == HeartRhythm::VentricularFibrillation,
            vt: o.rhythm == HeartRhythm::VentricularTachycardia,
            extreme_brady: complexes && o.hr_per_min < 40.0,
            extreme_tachy: complexes && o.hr_per_min > 140.0,
        };
        self.frames.push(Frame {
            t_ms,
            span_ms: MODEL_FRAME_MS.max(step_ms),
            hr: complexes.then_some(o.hr_per_min),
            // The model's pulse is its heart rate while it pumps; the oximeter loses it in low
            // flow, the arterial line shows it while there is a pulse pressure.
            pulse_rate: (pumping && oximeter).then_some(o.hr_per_min),
            spo2: oximeter.then_some(o.spo2_percent),
            systolic: Some(o.sbp_mmhg),
            diastolic: Some(o.dbp_mmhg),
            mean_pressure: Some(o.map_mmhg),
            resp_rate: Some(o.rr_per_min),
            etco2: Some(o.etco2_mmhg),
            since_beat_ms: Some(since_beat_ms),
            rhythm,
            pulse_present: Some(pumping),
            arterial_pulse: Some(pumping),
            since_breath_ms: Some(since_breath_ms),
            ecg_off: false,
            probe_off: false,
        });
    }
}
