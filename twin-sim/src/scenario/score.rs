//! What a run reports: the score (time in target, time to the first right action, harms,
//! limits), the debrief timeline, and the SHA-256 trajectory hash over its samples. The
//! session adds them up (`Session::report`).

use super::validate::Scenario;
use super::{TRAJECTORY_DOMAIN, clock};
use crate::physiology::Outputs;

/// One line of the score breakdown.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreItem {
    pub label: String,
    /// Points earned (negative for penalties).
    pub points: f64,
    /// Points available (0 for penalties).
    pub max: f64,
    pub detail: String,
}

/// The score: its parts and their sums.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub items: Vec<ScoreItem>,
    pub total: f64,
    pub max: f64,
}

/// Where a debrief entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebriefSource {
    /// A note written in the scenario file.
    Note,
    /// A scenario event happened.
    Event,
    /// The student acted.
    Action,
    /// A scoring rule fired (a first right action, a harm, a limit crossed).
    Scoring,
}

/// One entry of the debrief timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct DebriefEntry {
    /// Seconds from the start (a whole number of steps).
    pub at_s: f64,
    pub source: DebriefSource,
    pub text: String,
}

/// One sampled point of the trajectory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t_ms: u64,
    pub outputs: Outputs,
}

/// What a headless run returns.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub score: Score,
    pub debrief: Vec<DebriefEntry>,
    pub samples: Vec<Sample>,
    pub trajectory_hash: ledger_protocol::crypto::Hash,
}

/// The fields of `o` in declaration order: what the trajectory hash covers.
pub fn output_values(o: &Outputs) -> [f64; 18] {
    [
        o.hr_per_min,
        o.map_mmhg,
        o.sbp_mmhg,
        o.dbp_mmhg,
        o.cvp_mmhg,
        o.cardiac_output_l_per_min,
        o.stroke_volume_ml,
        o.spo2_percent,
        o.paco2_mmhg,
        o.etco2_mmhg,
        o.rr_per_min,
        o.minute_ventilation_l,
        o.bis,
        o.propofol_plasma_ug_per_ml,
        o.propofol_effect_ug_per_ml,
        o.blood_volume_l,
        o.hb_g_per_dl,
        o.bleed_l_per_min,
    ]
}

/// SHA-256 of the canonical bytes of `samples` (see the module documentation).
pub fn trajectory_hash(samples: &[Sample]) -> ledger_protocol::crypto::Hash {
    let mut bytes = Vec::with_capacity(TRAJECTORY_DOMAIN.len() + samples.len() * 18 * 8);
    bytes.extend_from_slice(TRAJECTORY_DOMAIN);
    for s in samples {
        bytes.extend_from_slice(&s.t_ms.to_be_bytes());
        for v in output_values(&s.outputs) {
            bytes.extend_from_slice(&v.to_bits().to_be_bytes());
        }
    }
    ledger_protocol::crypto::sha256(&[&bytes])
}

impl RunReport {
    /// The score, the debrief and the trajectory hash as plain text (what the CLI prints).
    pub fn to_text(&self, scenario: &Scenario) -> String {
        let mut s = format!("scenario {}: {}\n\nscore\n", scenario.id, scenario.title);
        for i in &self.score.items {
            if i.max > 0.0 {
                s.push_str(&format!("  {:+7.1} / {:5.1}  {} — {}\n", i.points, i.max, i.label, i.detail));
            } else {
                s.push_str(&format!("  {:+7.1}          {} — {}\n", i.points, i.label, i.detail));
            }
        }
        s.push_str(&format!("  total {:.1} / {:.1}\n\ndebrief\n", self.score.total, self.score.max));
        for e in &self.debrief {
            s.push_str(&format!("  {:>7}  {}\n", clock(e.at_s), e.text));
        }
        s.push_str(&format!(
            "\nscore={:.1} max={:.1}\ntrajectory={}\n",
            self.score.total,
            self.score.max,
            self.trajectory_hash.to_hex()
        ));
        s
    }
}
