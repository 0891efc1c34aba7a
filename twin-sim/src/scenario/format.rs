//! The scenario and action files as serde reads them: TOML tables with their spans, so that
//! `validate` can name the line of anything wrong. Nothing here is checked yet.

use serde::Deserialize;
use toml::Spanned;

use super::{Kind, Signal};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileScenario {
    pub(super) scenario: Spanned<FileMeta>,
    pub(super) patient: Spanned<FilePatient>,
    #[serde(default)]
    pub(super) initial: Option<Spanned<FileInitial>>,
    #[serde(default)]
    pub(super) events: Vec<Spanned<FileChange>>,
    #[serde(default)]
    pub(super) actions: Vec<Spanned<FileAllowed>>,
    #[serde(default)]
    pub(super) scoring: Option<FileScoring>,
    #[serde(default)]
    pub(super) debrief: Vec<Spanned<FileDebrief>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileMeta {
    pub(super) id: String,
    pub(super) title: String,
    #[serde(default)]
    pub(super) description: String,
    pub(super) duration_min: f64,
    #[serde(default = "default_step")]
    pub(super) step_s: f64,
    #[serde(default = "default_sample")]
    pub(super) sample_s: f64,
}

pub(super) fn default_step() -> f64 {
    0.5
}

pub(super) fn default_sample() -> f64 {
    5.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FilePatient {
    pub(super) age_years: f64,
    pub(super) weight_kg: f64,
    pub(super) height_cm: f64,
    pub(super) sex: FileSex,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum FileSex {
    Male,
    Female,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileInitial {
    pub(super) fio2: Option<f64>,
    pub(super) ventilator_rate_per_min: Option<f64>,
    pub(super) tidal_volume_l: Option<f64>,
    pub(super) propofol_mg_per_min: Option<f64>,
    pub(super) remifentanil_ug_per_min: Option<f64>,
    pub(super) phenylephrine_ug_per_min: Option<f64>,
    pub(super) shunt_fraction: Option<f64>,
    /// Minutes run under the initial inputs before the scenario clock starts.
    pub(super) settle_min: Option<f64>,
    /// Blood volume lost before the clock starts (bled at 0.1 L/min, then settled).
    pub(super) volume_deficit_l: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileChange {
    pub(super) at_min: f64,
    pub(super) kind: Kind,
    pub(super) value: f64,
    pub(super) duration_min: Option<f64>,
    #[serde(default)]
    pub(super) label: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAllowed {
    pub(super) kind: Kind,
    pub(super) min: f64,
    pub(super) max: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileScoring {
    #[serde(default)]
    pub(super) target: Vec<Spanned<FileTarget>>,
    #[serde(default)]
    pub(super) first_action: Vec<Spanned<FileFirstAction>>,
    #[serde(default)]
    pub(super) harm: Vec<Spanned<FileHarm>>,
    #[serde(default)]
    pub(super) limit: Vec<Spanned<FileLimit>>,
    #[serde(default)]
    pub(super) excess: Vec<Spanned<FileExcess>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileExcess {
    pub(super) kinds: Vec<Kind>,
    pub(super) above_ml_per_kg: f64,
    pub(super) penalty: f64,
    pub(super) reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTarget {
    pub(super) signal: Signal,
    pub(super) min: Option<f64>,
    pub(super) max: Option<f64>,
    pub(super) points: f64,
    #[serde(default)]
    pub(super) from_min: f64,
    pub(super) label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileFirstAction {
    pub(super) label: String,
    pub(super) kinds: Vec<Kind>,
    pub(super) after_min: f64,
    pub(super) full_within_min: f64,
    pub(super) zero_after_min: f64,
    pub(super) points: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileHarm {
    pub(super) kind: Kind,
    pub(super) above: Option<f64>,
    pub(super) below: Option<f64>,
    #[serde(default)]
    pub(super) unless_after: Vec<Kind>,
    pub(super) penalty: f64,
    pub(super) reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileLimit {
    pub(super) signal: Signal,
    pub(super) below: Option<f64>,
    pub(super) above: Option<f64>,
    pub(super) penalty_per_min: f64,
    #[serde(default)]
    pub(super) from_min: f64,
    pub(super) label: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDebrief {
    pub(super) at_min: f64,
    pub(super) text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileActions {
    #[serde(default)]
    pub(super) action: Vec<Spanned<FileChange>>,
}
