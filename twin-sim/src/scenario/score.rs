//! The score of a run (time in target, time to the first right action, harms, limits), its
//! debrief timeline, and the SHA-256 trajectory hash over its samples.

use super::session::{Session, to_steps};
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

impl Session {
    /// The score, the debrief and the trajectory so far; at the end, the run's report.
    /// (Shares of time in target count the steps done; a first right action not yet taken
    /// scores nothing.)
    pub fn report(&self) -> RunReport {
        let dt = self.dt;
        let scenario = &self.scenario;
        let mut debrief = self.debrief.clone();
        let mut items = Vec::new();
        for (i, rule) in scenario.targets.iter().enumerate() {
            let (inside, steps) = (self.in_target[i], self.target_steps[i]);
            let share = if steps == 0 { 0.0 } else { inside as f64 / steps as f64 };
            items.push(ScoreItem {
                label: format!("time in target: {}", rule.label),
                points: rule.points * share,
                max: rule.points,
                detail: format!("{:.1} % of {:.1} min", share * 100.0, steps as f64 * dt / 60.0),
            });
        }
        for (i, rule) in scenario.first_actions.iter().enumerate() {
            let start = to_steps(rule.after_min, dt);
            let (points, detail) = match self.first_done[i] {
                Some(s) => {
                    let delay = (s - start) as f64 * dt / 60.0;
                    let share = if delay <= rule.full_within_min {
                        1.0
                    } else if delay >= rule.zero_after_min {
                        0.0
                    } else {
                        (rule.zero_after_min - delay) / (rule.zero_after_min - rule.full_within_min)
                    };
                    debrief.push(DebriefEntry {
                        at_s: self.at_s(s),
                        source: DebriefSource::Scoring,
                        text: format!("first right action for “{}” after {delay:.2} min", rule.label),
                    });
                    (
                        rule.points * share,
                        format!("after {delay:.2} min (full marks within {} min)", rule.full_within_min),
                    )
                }
                None => (0.0, "never taken".to_owned()),
            };
            items.push(ScoreItem {
                label: format!("time to first right action: {}", rule.label),
                points,
                max: rule.points,
                detail,
            });
        }
        items.extend(self.harm_items.iter().cloned());
        for (i, rule) in scenario.limits.iter().enumerate() {
            if self.limit_steps[i] > 0 {
                let minutes = self.limit_steps[i] as f64 * dt / 60.0;
                items.push(ScoreItem {
                    label: format!("harm: {}", rule.label),
                    points: -rule.penalty_per_min * minutes,
                    max: 0.0,
                    detail: format!("{minutes:.2} min"),
                });
            }
        }
        let total = items.iter().map(|i| i.points).sum();
        let max = items.iter().map(|i| i.max).sum();
        // Stable sort by time keeps notes, events, actions and scoring in that order at one time.
        debrief.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        let trajectory_hash = trajectory_hash(&self.samples);
        RunReport { score: Score { items, total, max }, debrief, samples: self.samples.clone(), trajectory_hash }
    }
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
