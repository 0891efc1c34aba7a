//! Training scenarios: a declarative TOML file (patient, initial state, timed events, the
//! actions a student may take with their allowed ranges, scoring rules, debrief notes) and a
//! pure headless runner that plays a scripted list of student actions against the
//! physiology model at a fixed step and returns a score breakdown, a debrief timeline and a
//! SHA-256 trajectory hash that is the same on every run and every target.
//!
//! The runner is a [`Session`] stepped by its caller: a trainee's actions taken live when
//! the session is at a step score exactly as the same actions scripted for that step, and
//! [`run`] is a session with the script queued up front, played to the end.
//!
//! Time is counted in whole steps: every event and action time is rounded once to a step
//! index, so nothing depends on accumulated floating-point time. Parsing errors carry the
//! 1-based line of the offending table or value; an action the scenario does not allow, or
//! one outside its allowed range, is refused before anything is simulated.
//!
//! The trajectory hash is SHA-256 over `TRAJECTORY_DOMAIN`, then for each sample its time
//! in milliseconds (u64, big-endian) followed by the bit patterns (u64, big-endian) of the
//! [`Outputs`] fields in declaration order (see [`output_values`]).

use serde::Deserialize;
use toml::Spanned;

use crate::physiology::{self, Inputs, Model, Outputs, PhysioError, PhysioParams, Ventilation};
use crate::pk::{Patient, Sex};

/// Domain separator at the start of the hashed trajectory bytes.
pub const TRAJECTORY_DOMAIN: &[u8] = b"twin-sim/scenario-trajectory/v1";

/// Longest scenario accepted, minutes.
pub const MAX_DURATION_MIN: f64 = 240.0;
/// Most events or scripted actions accepted in one file.
pub const MAX_ENTRIES: usize = 1000;

/// Why a scenario or an action script could not be read, or a run could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// The text is not valid TOML or does not have the expected shape (unknown field,
    /// missing field, wrong type). `message` names the field.
    #[error("line {line}, column {column}: {message}")]
    Syntax { line: u32, column: u32, message: String },
    /// A value is well-formed but not acceptable.
    #[error("line {line}: `{field}`: {message}")]
    Invalid { line: u32, field: String, message: String },
    /// A scripted action is not one the scenario allows.
    #[error("action {index} (`{kind}` at {at_min} min, line {line}) refused: {reason}")]
    ActionRefused { index: u32, line: u32, kind: &'static str, at_min: f64, reason: String },
    /// A student action taken during a [`Session`] is not one the scenario allows now.
    #[error("`{kind}` at {} refused: {reason}", clock(*.at_s))]
    Refused { kind: &'static str, at_s: f64, reason: String },
    /// The physiology model rejected the patient or an input.
    #[error("physiology: {0}")]
    Physio(#[from] PhysioError),
}

/// Something that changes the patient's inputs: a timed event or a student action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Propofol bolus, mg.
    PropofolBolus,
    /// Propofol infusion rate, mg/min (0 stops it).
    PropofolInfusion,
    /// Phenylephrine bolus, µg.
    PhenylephrineBolus,
    /// Phenylephrine infusion rate, µg/min.
    PhenylephrineInfusion,
    /// Crystalloid infusion rate, L/min.
    Crystalloid,
    /// Whole-blood transfusion rate, L/min.
    Blood,
    /// Inspired oxygen fraction.
    Fio2,
    /// Ventilator rate, /min (starts controlled ventilation at 0.5 L if spontaneous).
    VentilatorRate,
    /// Ventilator tidal volume, L (starts controlled ventilation at 12 /min if spontaneous).
    TidalVolume,
    /// Bleeding rate, L/min (events only).
    Hemorrhage,
    /// Intrapulmonary shunt fraction, for atelectasis or endobronchial intubation (events only).
    Shunt,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 11] = [
        Kind::PropofolBolus,
        Kind::PropofolInfusion,
        Kind::PhenylephrineBolus,
        Kind::PhenylephrineInfusion,
        Kind::Crystalloid,
        Kind::Blood,
        Kind::Fio2,
        Kind::VentilatorRate,
        Kind::TidalVolume,
        Kind::Hemorrhage,
        Kind::Shunt,
    ];

    /// The kind a file (or a page's button) names, if any.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Kind::PropofolBolus => "propofol_bolus",
            Kind::PropofolInfusion => "propofol_infusion",
            Kind::PhenylephrineBolus => "phenylephrine_bolus",
            Kind::PhenylephrineInfusion => "phenylephrine_infusion",
            Kind::Crystalloid => "crystalloid",
            Kind::Blood => "blood",
            Kind::Fio2 => "fio2",
            Kind::VentilatorRate => "ventilator_rate",
            Kind::TidalVolume => "tidal_volume",
            Kind::Hemorrhage => "hemorrhage",
            Kind::Shunt => "shunt",
        }
    }

    /// The unit of `value`.
    pub fn unit(self) -> &'static str {
        match self {
            Kind::PropofolBolus => "mg",
            Kind::PropofolInfusion => "mg/min",
            Kind::PhenylephrineBolus => "µg",
            Kind::PhenylephrineInfusion => "µg/min",
            Kind::Crystalloid | Kind::Blood | Kind::Hemorrhage => "L/min",
            Kind::Fio2 | Kind::Shunt => "fraction",
            Kind::VentilatorRate => "/min",
            Kind::TidalVolume => "L",
        }
    }

    /// The widest values the model accepts for this kind.
    pub fn hard_range(self) -> (f64, f64) {
        match self {
            Kind::PropofolBolus => (0.0, 2000.0),
            Kind::PropofolInfusion => (0.0, 100.0),
            Kind::PhenylephrineBolus => (0.0, 10_000.0),
            Kind::PhenylephrineInfusion => (0.0, 1000.0),
            Kind::Crystalloid | Kind::Blood | Kind::Hemorrhage => (0.0, 2.0),
            Kind::Fio2 => (0.1, 1.0),
            Kind::VentilatorRate => (0.0, 60.0),
            Kind::TidalVolume => (0.0, 2.0),
            Kind::Shunt => (0.0, 0.6),
        }
    }

    /// Whether the value is a rate that may run for a limited `duration_min`.
    pub fn is_rate(self) -> bool {
        matches!(
            self,
            Kind::PropofolInfusion | Kind::PhenylephrineInfusion | Kind::Crystalloid | Kind::Blood | Kind::Hemorrhage
        )
    }

    /// Whether a student may ever take this action (bleeding and shunt happen to them).
    pub fn is_student_action(self) -> bool {
        !matches!(self, Kind::Hemorrhage | Kind::Shunt)
    }
}

/// A monitored value that scoring rules can watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    Hr,
    Map,
    Sbp,
    Dbp,
    Cvp,
    Co,
    Spo2,
    Etco2,
    Paco2,
    Rr,
    Bis,
    Hb,
}

impl Signal {
    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Hr => "hr",
            Signal::Map => "map",
            Signal::Sbp => "sbp",
            Signal::Dbp => "dbp",
            Signal::Cvp => "cvp",
            Signal::Co => "co",
            Signal::Spo2 => "spo2",
            Signal::Etco2 => "etco2",
            Signal::Paco2 => "paco2",
            Signal::Rr => "rr",
            Signal::Bis => "bis",
            Signal::Hb => "hb",
        }
    }

    /// This signal's value in `o`.
    pub fn read(self, o: &Outputs) -> f64 {
        match self {
            Signal::Hr => o.hr_per_min,
            Signal::Map => o.map_mmhg,
            Signal::Sbp => o.sbp_mmhg,
            Signal::Dbp => o.dbp_mmhg,
            Signal::Cvp => o.cvp_mmhg,
            Signal::Co => o.cardiac_output_l_per_min,
            Signal::Spo2 => o.spo2_percent,
            Signal::Etco2 => o.etco2_mmhg,
            Signal::Paco2 => o.paco2_mmhg,
            Signal::Rr => o.rr_per_min,
            Signal::Bis => o.bis,
            Signal::Hb => o.hb_g_per_dl,
        }
    }
}

// ---- The file format (serde shapes) -------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileScenario {
    scenario: Spanned<FileMeta>,
    patient: Spanned<FilePatient>,
    #[serde(default)]
    initial: Option<Spanned<FileInitial>>,
    #[serde(default)]
    events: Vec<Spanned<FileChange>>,
    #[serde(default)]
    actions: Vec<Spanned<FileAllowed>>,
    #[serde(default)]
    scoring: Option<FileScoring>,
    #[serde(default)]
    debrief: Vec<Spanned<FileDebrief>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMeta {
    id: String,
    title: String,
    #[serde(default)]
    description: String,
    duration_min: f64,
    #[serde(default = "default_step")]
    step_s: f64,
    #[serde(default = "default_sample")]
    sample_s: f64,
}

fn default_step() -> f64 {
    0.5
}

fn default_sample() -> f64 {
    5.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePatient {
    age_years: f64,
    weight_kg: f64,
    height_cm: f64,
    sex: FileSex,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum FileSex {
    Male,
    Female,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileInitial {
    fio2: Option<f64>,
    ventilator_rate_per_min: Option<f64>,
    tidal_volume_l: Option<f64>,
    propofol_mg_per_min: Option<f64>,
    phenylephrine_ug_per_min: Option<f64>,
    shunt_fraction: Option<f64>,
    /// Minutes run under the initial inputs before the scenario clock starts.
    settle_min: Option<f64>,
    /// Blood volume lost before the clock starts (bled at 0.1 L/min, then settled).
    volume_deficit_l: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileChange {
    at_min: f64,
    kind: Kind,
    value: f64,
    duration_min: Option<f64>,
    #[serde(default)]
    label: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAllowed {
    kind: Kind,
    min: f64,
    max: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileScoring {
    #[serde(default)]
    target: Vec<Spanned<FileTarget>>,
    #[serde(default)]
    first_action: Vec<Spanned<FileFirstAction>>,
    #[serde(default)]
    harm: Vec<Spanned<FileHarm>>,
    #[serde(default)]
    limit: Vec<Spanned<FileLimit>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTarget {
    signal: Signal,
    min: Option<f64>,
    max: Option<f64>,
    points: f64,
    #[serde(default)]
    from_min: f64,
    label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFirstAction {
    label: String,
    kinds: Vec<Kind>,
    after_min: f64,
    full_within_min: f64,
    zero_after_min: f64,
    points: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHarm {
    kind: Kind,
    above: Option<f64>,
    below: Option<f64>,
    penalty: f64,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimit {
    signal: Signal,
    below: Option<f64>,
    above: Option<f64>,
    penalty_per_min: f64,
    label: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDebrief {
    at_min: f64,
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileActions {
    #[serde(default)]
    action: Vec<Spanned<FileChange>>,
}

// ---- The validated scenario -----------------------------------------------------------------

/// A timed change: a scenario event or a student action. Times are minutes from the start.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub at_min: f64,
    pub kind: Kind,
    pub value: f64,
    /// For rates: how long the rate runs before returning to zero (None: until changed).
    pub duration_min: Option<f64>,
    pub label: String,
    /// 1-based line in the file it came from (0 when built in code).
    pub line: u32,
}

/// A kind of action the student may take, with its allowed value range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Allowed {
    pub kind: Kind,
    pub min: f64,
    pub max: f64,
}

/// Points for the share of time a signal spends in a range.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRule {
    pub signal: Signal,
    pub min: f64,
    pub max: f64,
    pub points: f64,
    pub from_min: f64,
    pub label: String,
}

/// Points for how soon the first right action comes.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstActionRule {
    pub label: String,
    pub kinds: Vec<Kind>,
    pub after_min: f64,
    pub full_within_min: f64,
    pub zero_after_min: f64,
    pub points: f64,
}

/// A penalty for each action of `kind` with a value above `above` or below `below`.
#[derive(Debug, Clone, PartialEq)]
pub struct HarmRule {
    pub kind: Kind,
    pub above: Option<f64>,
    pub below: Option<f64>,
    pub penalty: f64,
    pub reason: String,
}

/// A penalty per minute a signal spends below `below` or above `above`.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitRule {
    pub signal: Signal,
    pub below: Option<f64>,
    pub above: Option<f64>,
    pub penalty_per_min: f64,
    pub label: String,
}

/// A note for the debrief at a given minute.
#[derive(Debug, Clone, PartialEq)]
pub struct DebriefNote {
    pub at_min: f64,
    pub text: String,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub description: String,
    pub duration_min: f64,
    pub step_s: f64,
    pub sample_s: f64,
    pub patient: Patient,
    pub initial: Inputs,
    pub initial_shunt: f64,
    pub settle_min: f64,
    /// Blood lost before the clock starts, L (bled at 0.1 L/min before settling).
    pub volume_deficit_l: f64,
    pub events: Vec<Change>,
    pub allowed: Vec<Allowed>,
    pub targets: Vec<TargetRule>,
    pub first_actions: Vec<FirstActionRule>,
    pub harms: Vec<HarmRule>,
    pub limits: Vec<LimitRule>,
    pub debrief: Vec<DebriefNote>,
}

fn line_of(text: &str, offset: usize) -> u32 {
    let end = offset.min(text.len());
    let line = text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count() + 1;
    u32::try_from(line).unwrap_or(u32::MAX)
}

fn syntax(text: &str, e: &toml::de::Error) -> ScenarioError {
    let offset = e.span().map_or(0, |s| s.start);
    let end = offset.min(text.len());
    let line_start = text.as_bytes()[..end].iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    let column = u32::try_from(text[line_start..end].chars().count() + 1).unwrap_or(u32::MAX);
    ScenarioError::Syntax { line: line_of(text, offset), column, message: e.message().trim().to_owned() }
}

/// Checks values as they are read, remembering the text for line numbers.
struct Checker<'a> {
    text: &'a str,
}

impl Checker<'_> {
    fn err(&self, offset: usize, field: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid { line: line_of(self.text, offset), field: field.to_owned(), message: message.into() }
    }

    fn range(&self, offset: usize, field: &str, v: f64, min: f64, max: f64) -> Result<f64, ScenarioError> {
        if v.is_finite() && (min..=max).contains(&v) {
            Ok(v)
        } else {
            Err(self.err(offset, field, format!("must be a number within {min}..={max}, got {v}")))
        }
    }

    fn change(&self, c: &Spanned<FileChange>, field: &str, duration: f64) -> Result<Change, ScenarioError> {
        let at = c.span().start;
        let f = c.get_ref();
        self.range(at, &format!("{field}.at_min"), f.at_min, 0.0, duration)?;
        let (lo, hi) = f.kind.hard_range();
        self.range(at, &format!("{field}.value"), f.value, lo, hi)?;
        if let Some(d) = f.duration_min {
            if !f.kind.is_rate() {
                return Err(self.err(
                    at,
                    &format!("{field}.duration_min"),
                    format!("`{}` is not a rate", f.kind.name()),
                ));
            }
            self.range(at, &format!("{field}.duration_min"), d, 0.0, MAX_DURATION_MIN)?;
        }
        Ok(Change {
            at_min: f.at_min,
            kind: f.kind,
            value: f.value,
            duration_min: f.duration_min,
            label: f.label.clone(),
            line: line_of(self.text, at),
        })
    }
}

/// The scenarios that ship with the twin (files in `twin-sim/scenarios/`), by id, with the
/// scripted actions of a good response to each.
pub const BUILT_IN: [(&str, &str, &str); 3] = [
    (
        "propofol-induction-hypotension",
        include_str!("../scenarios/propofol-induction-hypotension.toml"),
        include_str!("../scenarios/propofol-induction-hypotension.good.actions.toml"),
    ),
    (
        "surgical-hemorrhage",
        include_str!("../scenarios/surgical-hemorrhage.toml"),
        include_str!("../scenarios/surgical-hemorrhage.good.actions.toml"),
    ),
    (
        "hypoxia-during-anesthesia",
        include_str!("../scenarios/hypoxia-during-anesthesia.toml"),
        include_str!("../scenarios/hypoxia-during-anesthesia.good.actions.toml"),
    ),
];

/// Reads and validates a scenario file.
pub fn parse_scenario(text: &str) -> Result<Scenario, ScenarioError> {
    let file: FileScenario = toml::from_str(text).map_err(|e| syntax(text, &e))?;
    let ck = Checker { text };
    let meta_at = file.scenario.span().start;
    let meta = file.scenario.into_inner();
    if meta.id.trim().is_empty() {
        return Err(ck.err(meta_at, "scenario.id", "must not be empty"));
    }
    let duration = ck.range(meta_at, "scenario.duration_min", meta.duration_min, 0.1, MAX_DURATION_MIN)?;
    let step_s = ck.range(meta_at, "scenario.step_s", meta.step_s, 0.01, 10.0)?;
    let sample_s = ck.range(meta_at, "scenario.sample_s", meta.sample_s, step_s, 600.0)?;
    if !is_whole(sample_s / step_s) {
        return Err(ck.err(meta_at, "scenario.sample_s", "must be a whole number of steps"));
    }

    let p_at = file.patient.span().start;
    let fp = file.patient.into_inner();
    let patient = Patient {
        age_years: ck.range(p_at, "patient.age_years", fp.age_years, 18.0, 100.0)?,
        weight_kg: ck.range(p_at, "patient.weight_kg", fp.weight_kg, 30.0, 200.0)?,
        height_cm: ck.range(p_at, "patient.height_cm", fp.height_cm, 120.0, 220.0)?,
        sex: match fp.sex {
            FileSex::Male => Sex::Male,
            FileSex::Female => Sex::Female,
        },
    };
    // Covariates the PK model cannot use are reported here, with the patient's line.
    Model::new(&patient, PhysioParams::default()).map_err(|e| ck.err(p_at, "patient", e.to_string()))?;

    let (i_at, fi) = match file.initial {
        Some(s) => (s.span().start, s.into_inner()),
        None => (0, FileInitial::default()),
    };
    let mut initial = Inputs::default();
    if let Some(v) = fi.fio2 {
        initial.fio2 = ck.range(i_at, "initial.fio2", v, 0.1, 1.0)?;
    }
    initial.ventilation = match (fi.ventilator_rate_per_min, fi.tidal_volume_l) {
        (None, None) => Ventilation::Spontaneous,
        (Some(r), Some(v)) => Ventilation::Controlled {
            rate_per_min: ck.range(i_at, "initial.ventilator_rate_per_min", r, 0.0, 60.0)?,
            tidal_volume_l: ck.range(i_at, "initial.tidal_volume_l", v, 0.0, 2.0)?,
        },
        (Some(_), None) => return Err(ck.err(i_at, "initial.tidal_volume_l", "needed with a ventilator rate")),
        (None, Some(_)) => return Err(ck.err(i_at, "initial.ventilator_rate_per_min", "needed with a tidal volume")),
    };
    if let Some(v) = fi.propofol_mg_per_min {
        initial.propofol_mg_per_min = ck.range(i_at, "initial.propofol_mg_per_min", v, 0.0, 100.0)?;
    }
    if let Some(v) = fi.phenylephrine_ug_per_min {
        initial.phenylephrine_ug_per_min = ck.range(i_at, "initial.phenylephrine_ug_per_min", v, 0.0, 1000.0)?;
    }
    let initial_shunt = match fi.shunt_fraction {
        Some(v) => ck.range(i_at, "initial.shunt_fraction", v, 0.0, 0.6)?,
        None => PhysioParams::default().shunt_fraction,
    };
    let settle_min = match fi.settle_min {
        Some(v) => ck.range(i_at, "initial.settle_min", v, 0.0, 120.0)?,
        None => 0.0,
    };
    let volume_deficit_l = match fi.volume_deficit_l {
        Some(v) => ck.range(i_at, "initial.volume_deficit_l", v, 0.0, 2.0)?,
        None => 0.0,
    };

    if file.events.len() > MAX_ENTRIES {
        return Err(ck.err(0, "events", format!("at most {MAX_ENTRIES} entries")));
    }
    let events = file
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| ck.change(e, &format!("events[{i}]"), duration))
        .collect::<Result<Vec<_>, _>>()?;

    let mut allowed: Vec<Allowed> = Vec::new();
    for (i, a) in file.actions.iter().enumerate() {
        let at = a.span().start;
        let f = a.get_ref();
        let field = format!("actions[{i}]");
        if !f.kind.is_student_action() {
            return Err(ck.err(at, &format!("{field}.kind"), format!("`{}` is not a student action", f.kind.name())));
        }
        if allowed.iter().any(|x| x.kind == f.kind) {
            return Err(ck.err(at, &format!("{field}.kind"), format!("`{}` is listed twice", f.kind.name())));
        }
        let (lo, hi) = f.kind.hard_range();
        ck.range(at, &format!("{field}.min"), f.min, lo, hi)?;
        ck.range(at, &format!("{field}.max"), f.max, f.min, hi)?;
        allowed.push(Allowed { kind: f.kind, min: f.min, max: f.max });
    }

    let scoring = file.scoring.unwrap_or_default();
    let mut targets = Vec::new();
    for (i, t) in scoring.target.iter().enumerate() {
        let at = t.span().start;
        let f = t.get_ref();
        let field = format!("scoring.target[{i}]");
        if f.min.is_none() && f.max.is_none() {
            return Err(ck.err(at, &field, "needs `min`, `max` or both"));
        }
        let min = ck.range(at, &format!("{field}.min"), f.min.unwrap_or(f64::MIN), f64::MIN, f64::MAX)?;
        let max = ck.range(at, &format!("{field}.max"), f.max.unwrap_or(f64::MAX), min, f64::MAX)?;
        targets.push(TargetRule {
            signal: f.signal,
            min,
            max,
            points: ck.range(at, &format!("{field}.points"), f.points, 0.0, 1000.0)?,
            from_min: ck.range(at, &format!("{field}.from_min"), f.from_min, 0.0, duration)?,
            label: f.label.clone().unwrap_or_else(|| describe_range(f.signal, f.min, f.max)),
        });
    }
    let mut first_actions = Vec::new();
    for (i, r) in scoring.first_action.iter().enumerate() {
        let at = r.span().start;
        let f = r.get_ref();
        let field = format!("scoring.first_action[{i}]");
        if f.kinds.is_empty() {
            return Err(ck.err(at, &format!("{field}.kinds"), "must name at least one action"));
        }
        if let Some(k) = f.kinds.iter().find(|k| !allowed.iter().any(|a| a.kind == **k)) {
            return Err(ck.err(at, &format!("{field}.kinds"), format!("`{}` is not an allowed action", k.name())));
        }
        let after = ck.range(at, &format!("{field}.after_min"), f.after_min, 0.0, duration)?;
        let full = ck.range(at, &format!("{field}.full_within_min"), f.full_within_min, 0.0, MAX_DURATION_MIN)?;
        let zero = ck.range(at, &format!("{field}.zero_after_min"), f.zero_after_min, full, MAX_DURATION_MIN)?;
        first_actions.push(FirstActionRule {
            label: f.label.clone(),
            kinds: f.kinds.clone(),
            after_min: after,
            full_within_min: full,
            zero_after_min: zero,
            points: ck.range(at, &format!("{field}.points"), f.points, 0.0, 1000.0)?,
        });
    }
    let mut harms = Vec::new();
    for (i, h) in scoring.harm.iter().enumerate() {
        let at = h.span().start;
        let f = h.get_ref();
        let field = format!("scoring.harm[{i}]");
        for (name, v) in [("above", f.above), ("below", f.below)] {
            if let Some(v) = v {
                ck.range(at, &format!("{field}.{name}"), v, f64::MIN, f64::MAX)?;
            }
        }
        harms.push(HarmRule {
            kind: f.kind,
            above: f.above,
            below: f.below,
            penalty: ck.range(at, &format!("{field}.penalty"), f.penalty, 0.0, 1000.0)?,
            reason: f.reason.clone(),
        });
    }
    let mut limits = Vec::new();
    for (i, l) in scoring.limit.iter().enumerate() {
        let at = l.span().start;
        let f = l.get_ref();
        let field = format!("scoring.limit[{i}]");
        if f.below.is_none() && f.above.is_none() {
            return Err(ck.err(at, &field, "needs `below`, `above` or both"));
        }
        for (name, v) in [("above", f.above), ("below", f.below)] {
            if let Some(v) = v {
                ck.range(at, &format!("{field}.{name}"), v, f64::MIN, f64::MAX)?;
            }
        }
        limits.push(LimitRule {
            signal: f.signal,
            below: f.below,
            above: f.above,
            penalty_per_min: ck.range(at, &format!("{field}.penalty_per_min"), f.penalty_per_min, 0.0, 1000.0)?,
            label: f.label.clone(),
        });
    }
    let mut debrief = Vec::new();
    for (i, d) in file.debrief.iter().enumerate() {
        let at = d.span().start;
        let f = d.get_ref();
        ck.range(at, &format!("debrief[{i}].at_min"), f.at_min, 0.0, duration)?;
        debrief.push(DebriefNote { at_min: f.at_min, text: f.text.clone() });
    }

    Ok(Scenario {
        id: meta.id,
        title: meta.title,
        description: meta.description,
        duration_min: duration,
        step_s,
        sample_s,
        patient,
        initial,
        initial_shunt,
        settle_min,
        volume_deficit_l,
        events,
        allowed,
        targets,
        first_actions,
        harms,
        limits,
        debrief,
    })
}

/// Reads a scripted action list: `[[action]]` tables with `at_min`, `kind`, `value` and
/// optional `duration_min` and `label`. Whether the scenario allows them is checked by [`run`].
pub fn parse_actions(text: &str) -> Result<Vec<Change>, ScenarioError> {
    let file: FileActions = toml::from_str(text).map_err(|e| syntax(text, &e))?;
    let ck = Checker { text };
    if file.action.len() > MAX_ENTRIES {
        return Err(ck.err(0, "action", format!("at most {MAX_ENTRIES} entries")));
    }
    file.action.iter().enumerate().map(|(i, a)| ck.change(a, &format!("action[{i}]"), MAX_DURATION_MIN)).collect()
}

/// Writes actions as an action file that [`parse_actions`] reads back to the same times,
/// kinds, values and durations (labels are left out): how a run's actions are saved, so
/// that running the scenario with them reproduces the run.
pub fn write_actions(actions: &[Change]) -> String {
    let mut out = String::new();
    for a in actions {
        out.push_str(&format!(
            "[[action]]\nat_min = {:?}\nkind = \"{}\"\nvalue = {:?}\n",
            a.at_min,
            a.kind.name(),
            a.value
        ));
        if let Some(d) = a.duration_min {
            out.push_str(&format!("duration_min = {d:?}\n"));
        }
        out.push('\n');
    }
    out
}

fn is_whole(x: f64) -> bool {
    (x - x.round()).abs() < 1e-9
}

fn describe_range(signal: Signal, min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(lo), Some(hi)) => format!("{} in {lo}..{hi}", signal.name()),
        (Some(lo), None) => format!("{} ≥ {lo}", signal.name()),
        (None, Some(hi)) => format!("{} ≤ {hi}", signal.name()),
        (None, None) => signal.name().to_owned(),
    }
}

// ---- The runner -----------------------------------------------------------------------------

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
pub fn output_values(o: &Outputs) -> [f64; 17] {
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

fn to_steps(minutes: f64, step_s: f64) -> u64 {
    // Inputs are validated finite, ≥ 0 and ≤ MAX_DURATION_MIN, so this fits.
    (minutes * 60.0 / step_s).round() as u64
}

/// Why the scenario refuses student action `a`, in words (`None`: it is allowed).
fn refusal(scenario: &Scenario, a: &Change) -> Option<String> {
    if !a.at_min.is_finite() || a.at_min < 0.0 || a.at_min > scenario.duration_min {
        return Some(format!("the time must be within 0..={} min", scenario.duration_min));
    }
    let Some(allowed) = scenario.allowed.iter().find(|x| x.kind == a.kind) else {
        let names: Vec<&str> = scenario.allowed.iter().map(|x| x.kind.name()).collect();
        return Some(format!("this scenario allows only: {}", names.join(", ")));
    };
    if !a.value.is_finite() || a.value < allowed.min || a.value > allowed.max {
        return Some(format!(
            "{} {} is outside the allowed range {}..={} {}",
            a.value,
            a.kind.unit(),
            allowed.min,
            allowed.max,
            a.kind.unit()
        ));
    }
    if let Some(d) = a.duration_min
        && (!a.kind.is_rate() || !d.is_finite() || !(0.0..=MAX_DURATION_MIN).contains(&d))
    {
        return Some(format!("duration {d} min is not valid for `{}`", a.kind.name()));
    }
    None
}

/// Checks that every scripted action is one the scenario allows, within its range and time.
pub fn check_actions(scenario: &Scenario, actions: &[Change]) -> Result<(), ScenarioError> {
    for (i, a) in actions.iter().enumerate() {
        if let Some(reason) = refusal(scenario, a) {
            return Err(ScenarioError::ActionRefused {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                line: a.line,
                kind: a.kind.name(),
                at_min: a.at_min,
                reason,
            });
        }
    }
    Ok(())
}

/// Rates currently set, with the step at which each stops (None: runs until changed).
#[derive(Debug, Clone, Default)]
struct Rates {
    propofol: (f64, Option<u64>),
    phenylephrine: (f64, Option<u64>),
    crystalloid: (f64, Option<u64>),
    blood: (f64, Option<u64>),
    hemorrhage: (f64, Option<u64>),
}

impl Rates {
    fn expire(&mut self, step: u64) {
        for r in
            [&mut self.propofol, &mut self.phenylephrine, &mut self.crystalloid, &mut self.blood, &mut self.hemorrhage]
        {
            if r.1.is_some_and(|end| end <= step) {
                *r = (0.0, None);
            }
        }
    }
}

impl Change {
    /// The change in words, as the debrief prints it (`blood 0.1 L/min for 8 min`).
    pub fn describe(&self) -> String {
        let mut s = format!("{} {} {}", self.kind.name().replace('_', " "), self.value, self.kind.unit());
        if let Some(d) = self.duration_min {
            s.push_str(&format!(" for {d} min"));
        }
        if !self.label.is_empty() {
            s.push_str(&format!(" ({})", self.label));
        }
        s
    }
}

/// A scenario being played step by step: the physiology model at a fixed step, the
/// scenario's events applied at their times, student actions applied when they are taken
/// (or at their scripted time), and the score kept as the run goes.
///
/// Time is the number of whole steps done. Both ways of acting land on that grid: an
/// action taken live with [`Session::act`] when `n` steps are done is applied at the start
/// of step `n`, exactly as a scripted action whose time rounds to step `n` (after that
/// step's scenario events, and after actions queued before it for the same step). [`run`] is
/// this session with the script scheduled up front and played to the end, so a live run
/// and a scripted one with the same actions at the same times score and hash the same.
#[derive(Debug, Clone)]
pub struct Session {
    scenario: Scenario,
    model: Model,
    inputs: Inputs,
    rates: Rates,
    dt: f64,
    total_steps: u64,
    sample_every: u64,
    /// Steps done.
    step: u64,
    /// Time asked for by [`Session::advance`] and [`Session::advance_to`], seconds; the
    /// steps done are the whole steps within it.
    clock_s: f64,
    /// Scenario events (index into `scenario.events`) by step, stable in file order.
    events: Vec<(u64, usize)>,
    next_event: usize,
    /// Student actions waiting for their step, stable in the order they were queued.
    pending: Vec<(u64, Change)>,
    /// Student actions applied so far.
    taken: Vec<Change>,
    last: Outputs,
    debrief: Vec<DebriefEntry>,
    harm_items: Vec<ScoreItem>,
    first_done: Vec<Option<u64>>,
    in_target: Vec<u64>,
    target_steps: Vec<u64>,
    limit_steps: Vec<u64>,
    limit_first: Vec<Option<u64>>,
    samples: Vec<Sample>,
}

impl Session {
    /// Starts `scenario`: the patient made, the pre-scenario blood loss and settling run,
    /// the clock at 0 with nothing done yet.
    pub fn new(scenario: &Scenario) -> Result<Session, ScenarioError> {
        let dt = scenario.step_s;
        let params = PhysioParams { shunt_fraction: scenario.initial_shunt, ..PhysioParams::default() };
        let mut model = Model::new(&scenario.patient, params)?;
        let inputs = scenario.initial;
        if scenario.volume_deficit_l > 0.0 {
            let bleed = Inputs { hemorrhage_l_per_min: 0.1, ..inputs };
            physiology::run_for(&mut model, &bleed, scenario.volume_deficit_l * 10.0, dt)?;
        }
        if scenario.settle_min > 0.0 {
            physiology::run_for(&mut model, &inputs, scenario.settle_min, dt)?;
        }
        let mut events: Vec<(u64, usize)> =
            scenario.events.iter().enumerate().map(|(i, c)| (to_steps(c.at_min, dt), i)).collect();
        // Stable: events at one step keep their file order.
        events.sort_by_key(|e| e.0);
        let total_steps = to_steps(scenario.duration_min, dt).max(1);
        let sample_every = (scenario.sample_s / dt).round().max(1.0) as u64;
        let debrief = scenario
            .debrief
            .iter()
            .map(|n| DebriefEntry {
                at_s: to_steps(n.at_min, dt) as f64 * dt,
                source: DebriefSource::Note,
                text: n.text.clone(),
            })
            .collect();
        let rates = Rates {
            propofol: (inputs.propofol_mg_per_min, None),
            phenylephrine: (inputs.phenylephrine_ug_per_min, None),
            ..Rates::default()
        };
        let last = model.outputs(&inputs);
        let mut samples = Vec::with_capacity(usize::try_from(total_steps / sample_every + 2).unwrap_or(0));
        samples.push(Sample { t_ms: 0, outputs: last });
        Ok(Session {
            model,
            inputs,
            rates,
            dt,
            total_steps,
            sample_every,
            step: 0,
            clock_s: 0.0,
            events,
            next_event: 0,
            pending: Vec::new(),
            taken: Vec::new(),
            last,
            debrief,
            harm_items: Vec::new(),
            first_done: vec![None; scenario.first_actions.len()],
            in_target: vec![0; scenario.targets.len()],
            target_steps: vec![0; scenario.targets.len()],
            limit_steps: vec![0; scenario.limits.len()],
            limit_first: vec![None; scenario.limits.len()],
            samples,
            scenario: scenario.clone(),
        })
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Steps done so far.
    pub fn steps_done(&self) -> u64 {
        self.step
    }

    /// Steps in the whole scenario.
    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }

    /// Scenario time now, seconds (a whole number of steps).
    pub fn time_s(&self) -> f64 {
        self.step as f64 * self.dt
    }

    /// The scenario's length, seconds (a whole number of steps).
    pub fn duration_s(&self) -> f64 {
        self.total_steps as f64 * self.dt
    }

    /// What the monitor shows now (at the end of the last step; before any, the start).
    pub fn outputs(&self) -> Outputs {
        self.last
    }

    /// The inputs of the last step (rates, oxygen, ventilation).
    pub fn inputs(&self) -> &Inputs {
        &self.inputs
    }

    /// Student actions applied so far, in the order applied.
    pub fn actions(&self) -> &[Change] {
        &self.taken
    }

    /// The scenario's events that have happened so far, in the order applied.
    pub fn events_applied(&self) -> impl Iterator<Item = &Change> {
        self.events[..self.next_event].iter().map(|&(_, i)| &self.scenario.events[i])
    }

    /// Whether every step has been run.
    pub fn finished(&self) -> bool {
        self.step >= self.total_steps
    }

    /// Takes a student action now: it is applied at the start of the next step. Refused,
    /// with the reason in words, when the scenario does not allow it, when the value or
    /// duration is outside what it allows, or when the scenario has ended.
    pub fn act(&mut self, kind: Kind, value: f64, duration_min: Option<f64>) -> Result<(), ScenarioError> {
        let change = Change { at_min: self.time_s() / 60.0, kind, value, duration_min, label: String::new(), line: 0 };
        let refuse = |reason: String| ScenarioError::Refused { kind: kind.name(), at_s: self.time_s(), reason };
        if self.finished() {
            return Err(refuse("the scenario has ended".to_owned()));
        }
        if let Some(reason) = refusal(&self.scenario, &change) {
            return Err(refuse(reason));
        }
        self.queue(self.step, change);
        Ok(())
    }

    /// Queues a scripted student action for its own time (`at_min`, rounded to a step),
    /// which must not have passed. Refused like [`Session::act`].
    pub fn schedule(&mut self, action: Change) -> Result<(), ScenarioError> {
        let at = to_steps(action.at_min.max(0.0), self.dt);
        let refuse = |reason: String| ScenarioError::Refused {
            kind: action.kind.name(),
            at_s: if action.at_min.is_finite() { action.at_min * 60.0 } else { 0.0 },
            reason,
        };
        if let Some(reason) = refusal(&self.scenario, &action) {
            return Err(refuse(reason));
        }
        if at < self.step {
            return Err(refuse(format!("that time has passed (it is {} now)", clock(self.time_s()))));
        }
        self.queue(at, action);
        Ok(())
    }

    fn queue(&mut self, step: u64, change: Change) {
        // After everything already queued for the same step or earlier: first come, first applied.
        let i = self.pending.partition_point(|(s, _)| *s <= step);
        self.pending.insert(i, (step, change));
    }

    /// Moves scenario time on by `seconds` (frame time × speed, say) and runs the whole
    /// steps that now fit; the part of a step left over is kept for the next call. Returns
    /// the number of steps run. Stops at the end of the scenario.
    pub fn advance(&mut self, seconds: f64) -> Result<u64, ScenarioError> {
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(ScenarioError::Invalid {
                line: 0,
                field: "seconds".to_owned(),
                message: format!("time moves on by a finite number ≥ 0, got {seconds}"),
            });
        }
        self.advance_to(self.clock_s + seconds)
    }

    /// Runs the whole steps up to scenario time `t_s` (seconds from the start); a time
    /// already passed runs nothing. Returns the number of steps run.
    pub fn advance_to(&mut self, t_s: f64) -> Result<u64, ScenarioError> {
        if t_s.is_nan() {
            return Ok(0);
        }
        self.clock_s = self.clock_s.max(t_s.min(self.duration_s()));
        self.advance_steps(self.step_at(self.clock_s).saturating_sub(self.step))
    }

    /// How many steps lie within the first `t_s` seconds (held to 0..=total steps).
    pub fn step_at(&self, t_s: f64) -> u64 {
        // A hair of tolerance so that sums of frame times that should land on a step do.
        let n = (t_s / self.dt + 1e-6).floor();
        if n >= self.total_steps as f64 {
            self.total_steps
        } else if n > 0.0 {
            n as u64
        } else {
            0
        }
    }

    /// Runs `n` more steps (fewer at the end of the scenario). Returns the number run.
    pub fn advance_steps(&mut self, n: u64) -> Result<u64, ScenarioError> {
        let end = self.step.saturating_add(n).min(self.total_steps);
        let start = self.step;
        while self.step < end {
            self.run_step()?;
        }
        self.clock_s = self.clock_s.max(self.time_s());
        Ok(end - start)
    }

    fn at_s(&self, step: u64) -> f64 {
        step as f64 * self.dt
    }

    /// Applies one event or student action at the current step.
    fn apply(&mut self, c: &Change, student: bool) -> Result<(), ScenarioError> {
        let step = self.step;
        let end = c.duration_min.map(|d| step + to_steps(d, self.dt));
        let inputs = &mut self.inputs;
        match c.kind {
            Kind::PropofolBolus => self.model.propofol_bolus(c.value)?,
            Kind::PhenylephrineBolus => self.model.phenylephrine_bolus(c.value)?,
            Kind::PropofolInfusion => self.rates.propofol = (c.value, end),
            Kind::PhenylephrineInfusion => self.rates.phenylephrine = (c.value, end),
            Kind::Crystalloid => self.rates.crystalloid = (c.value, end),
            Kind::Blood => self.rates.blood = (c.value, end),
            Kind::Hemorrhage => self.rates.hemorrhage = (c.value, end),
            Kind::Fio2 => inputs.fio2 = c.value,
            Kind::Shunt => self.model.params.shunt_fraction = c.value,
            Kind::VentilatorRate => {
                let vt = match inputs.ventilation {
                    Ventilation::Controlled { tidal_volume_l, .. } => tidal_volume_l,
                    Ventilation::Spontaneous => 0.5,
                };
                inputs.ventilation = Ventilation::Controlled { rate_per_min: c.value, tidal_volume_l: vt };
            }
            Kind::TidalVolume => {
                let rate = match inputs.ventilation {
                    Ventilation::Controlled { rate_per_min, .. } => rate_per_min,
                    Ventilation::Spontaneous => 12.0,
                };
                inputs.ventilation = Ventilation::Controlled { rate_per_min: rate, tidal_volume_l: c.value };
            }
        }
        let at_s = self.at_s(step);
        let (source, who) = if student { (DebriefSource::Action, "action") } else { (DebriefSource::Event, "event") };
        self.debrief.push(DebriefEntry { at_s, source, text: format!("{who}: {}", c.describe()) });
        if student {
            for (i, rule) in self.scenario.first_actions.iter().enumerate() {
                if self.first_done[i].is_none()
                    && rule.kinds.contains(&c.kind)
                    && step >= to_steps(rule.after_min, self.dt)
                {
                    self.first_done[i] = Some(step);
                }
            }
            for rule in self.scenario.harms.iter().filter(|h| h.kind == c.kind) {
                let high = rule.above.is_some_and(|a| c.value > a);
                let low = rule.below.is_some_and(|b| c.value < b);
                let any = rule.above.is_none() && rule.below.is_none();
                if high || low || any {
                    self.harm_items.push(ScoreItem {
                        label: format!("harm: {}", rule.reason),
                        points: -rule.penalty,
                        max: 0.0,
                        detail: format!("{} at {}", c.describe(), clock(at_s)),
                    });
                    self.debrief.push(DebriefEntry {
                        at_s,
                        source: DebriefSource::Scoring,
                        text: format!("harmful: {} (−{} points)", rule.reason, rule.penalty),
                    });
                }
            }
        }
        Ok(())
    }

    /// Runs the current step: due events, then due student actions, then the model.
    fn run_step(&mut self) -> Result<(), ScenarioError> {
        let step = self.step;
        let dt = self.dt;
        self.rates.expire(step);
        while let Some(&(at, i)) = self.events.get(self.next_event)
            && at == step
        {
            self.next_event += 1;
            let c = self.scenario.events[i].clone();
            self.apply(&c, false)?;
        }
        let due = self.pending.partition_point(|(s, _)| *s <= step);
        for (_, c) in self.pending.drain(..due).collect::<Vec<_>>() {
            self.apply(&c, true)?;
            self.taken.push(c);
        }
        let inputs = &mut self.inputs;
        inputs.propofol_mg_per_min = self.rates.propofol.0;
        inputs.phenylephrine_ug_per_min = self.rates.phenylephrine.0;
        inputs.crystalloid_l_per_min = self.rates.crystalloid.0;
        inputs.blood_l_per_min = self.rates.blood.0;
        inputs.hemorrhage_l_per_min = self.rates.hemorrhage.0;
        let out = physiology::step(&mut self.model, &self.inputs, dt)?;
        let done = step + 1;
        for (i, rule) in self.scenario.targets.iter().enumerate() {
            if step >= to_steps(rule.from_min, dt) {
                self.target_steps[i] += 1;
                let v = rule.signal.read(&out);
                if v >= rule.min && v <= rule.max {
                    self.in_target[i] += 1;
                }
            }
        }
        for (i, rule) in self.scenario.limits.iter().enumerate() {
            let v = rule.signal.read(&out);
            if rule.below.is_some_and(|b| v < b) || rule.above.is_some_and(|a| v > a) {
                self.limit_steps[i] += 1;
                if self.limit_first[i].is_none() {
                    self.limit_first[i] = Some(done);
                    self.debrief.push(DebriefEntry {
                        at_s: done as f64 * dt,
                        source: DebriefSource::Scoring,
                        text: format!("{} ({} {:.1})", rule.label, rule.signal.name(), v),
                    });
                }
            }
        }
        if done.is_multiple_of(self.sample_every) || done == self.total_steps {
            self.samples.push(Sample { t_ms: (done as f64 * dt * 1000.0).round() as u64, outputs: out });
        }
        self.last = out;
        self.step = done;
        Ok(())
    }

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

/// Runs `scenario` headless with the scripted student `actions` and scores it: a
/// [`Session`] with the script scheduled up front, played to the end.
pub fn run(scenario: &Scenario, actions: &[Change]) -> Result<RunReport, ScenarioError> {
    check_actions(scenario, actions)?;
    let mut session = Session::new(scenario)?;
    for a in actions {
        session.schedule(a.clone())?;
    }
    session.advance_steps(session.total_steps())?;
    Ok(session.report())
}

/// `m:ss` for a time in seconds.
pub fn clock(seconds: f64) -> String {
    let tenths = (seconds * 10.0).round() as u64;
    let whole = tenths / 10;
    if tenths.is_multiple_of(10) {
        format!("{}:{:02}", whole / 60, whole % 60)
    } else {
        format!("{}:{:02}.{}", whole / 60, whole % 60, tenths % 10)
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

#[cfg(test)]
mod tests {
    use super::*;

    const HYPOTENSION: &str = include_str!("../scenarios/propofol-induction-hypotension.toml");
    const GOOD: &str = include_str!("../scenarios/propofol-induction-hypotension.good.actions.toml");

    /// Plays `scenario` live in uneven slices of time, taking each scripted action when the
    /// session reaches its step.
    fn live(scenario: &Scenario, script: &[Change]) -> RunReport {
        let mut s = Session::new(scenario).unwrap();
        let mut next = 0;
        let slices = [0.3, 1.7, 0.5, 2.0, 0.25];
        let mut i = 0;
        while !s.finished() {
            while let Some(a) = script.get(next).filter(|a| to_steps(a.at_min, scenario.step_s) == s.steps_done()) {
                s.act(a.kind, a.value, a.duration_min).unwrap();
                next += 1;
            }
            // Never step past the next action's time.
            let until = script.get(next).map_or(f64::INFINITY, |a| to_steps(a.at_min, scenario.step_s) as f64);
            let t = (s.time_s() + slices[i % slices.len()]).min(until * scenario.step_s);
            s.advance_to(t).unwrap();
            i += 1;
        }
        s.report()
    }

    #[test]
    fn actions_taken_live_score_as_the_same_actions_scripted() {
        let scenario = parse_scenario(HYPOTENSION).unwrap();
        let script = parse_actions(GOOD).unwrap();
        let (scripted, played) = (run(&scenario, &script).unwrap(), live(&scenario, &script));
        assert_eq!(scripted, played);
        assert_eq!(scripted.to_text(&scenario), played.to_text(&scenario));
    }

    #[test]
    fn advance_keeps_the_part_of_a_step_left_over() {
        let scenario = parse_scenario(HYPOTENSION).unwrap();
        let mut s = Session::new(&scenario).unwrap();
        assert_eq!((s.steps_done(), s.time_s()), (0, 0.0));
        // 0.1 s ten times is a second: two steps of 0.5 s, however the sum rounds.
        let ran: u64 = (0..10).map(|_| s.advance(0.1).unwrap()).sum();
        assert_eq!((ran, s.steps_done()), (2, 2));
        assert!(s.advance(-1.0).is_err() && s.advance(f64::NAN).is_err());
        assert_eq!(s.advance(1e9).unwrap(), s.total_steps() - 2, "stops at the end");
        assert!(s.finished());
        assert_eq!(s.report(), run(&scenario, &[]).unwrap());
    }

    #[test]
    fn live_actions_the_scenario_does_not_allow_are_refused_in_words() {
        let scenario = parse_scenario(HYPOTENSION).unwrap();
        let mut s = Session::new(&scenario).unwrap();
        s.advance(150.0).unwrap();
        let err = s.act(Kind::Blood, 0.1, None).unwrap_err();
        assert!(matches!(err, ScenarioError::Refused { kind: "blood", .. }), "{err}");
        assert!(err.to_string().starts_with("`blood` at 2:30 refused: this scenario allows only:"), "{err}");
        let err = s.act(Kind::PhenylephrineBolus, 5000.0, None).unwrap_err().to_string();
        assert!(err.contains("outside the allowed range 25..=1000 µg"), "{err}");
        assert!(s.act(Kind::PhenylephrineBolus, 100.0, Some(3.0)).is_err(), "a bolus has no duration");
        assert!(s.act(Kind::Crystalloid, f64::NAN, None).is_err());
        let past =
            Change { at_min: 1.0, kind: Kind::Fio2, value: 1.0, duration_min: None, label: String::new(), line: 0 };
        assert!(s.schedule(past).unwrap_err().to_string().contains("has passed"));
        assert!(s.actions().is_empty() && s.report().debrief.iter().all(|e| e.source != DebriefSource::Action));
        s.advance(1e9).unwrap();
        let err = s.act(Kind::Fio2, 1.0, None).unwrap_err().to_string();
        assert!(err.contains("the scenario has ended"), "{err}");
        assert_eq!(Kind::from_name("fio2"), Some(Kind::Fio2));
        assert_eq!(Kind::from_name("morphine"), None);
    }

    #[test]
    fn every_built_in_scenario_reads_under_its_id_and_its_good_script_is_allowed() {
        for (id, text, good) in BUILT_IN {
            let scenario = parse_scenario(text).unwrap();
            assert_eq!(scenario.id, id);
            check_actions(&scenario, &parse_actions(good).unwrap()).unwrap();
        }
    }

    #[test]
    fn written_actions_read_back_the_same() {
        for (_, _, good) in BUILT_IN {
            let actions = parse_actions(good).unwrap();
            let again = parse_actions(&write_actions(&actions)).unwrap();
            let key = |c: &Change| (c.at_min, c.kind, c.value, c.duration_min);
            assert_eq!(again.iter().map(key).collect::<Vec<_>>(), actions.iter().map(key).collect::<Vec<_>>());
        }
        let odd = Change {
            at_min: 211.5 / 60.0,
            kind: Kind::Blood,
            value: 0.1,
            duration_min: None,
            label: String::new(),
            line: 0,
        };
        assert_eq!(parse_actions(&write_actions(std::slice::from_ref(&odd))).unwrap()[0].at_min, odd.at_min);
    }
}
