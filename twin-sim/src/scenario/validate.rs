//! A scenario file checked into a [`Scenario`] (every value in its range, every rule
//! consistent, errors with the line of the offending table or value), and action scripts
//! read and written.

use toml::Spanned;

use super::format::*;
use super::{Kind, MAX_DURATION_MIN, MAX_ENTRIES, ScenarioError, Signal};
use crate::physiology::{Inputs, Model, PhysioParams, Ventilation};
use crate::pk::{Patient, Sex};

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

/// A penalty for each action of `kind` with a value above `above` or below `below`, unless
/// one of `unless_after` was given before it (a vasopressor before any volume, say).
#[derive(Debug, Clone, PartialEq)]
pub struct HarmRule {
    pub kind: Kind,
    pub above: Option<f64>,
    pub below: Option<f64>,
    pub unless_after: Vec<Kind>,
    pub penalty: f64,
    pub reason: String,
}

/// A penalty, once, when the fluids of `kinds` given over the run (scenario events and
/// actions) pass `above_ml_per_kg` of the patient's weight: over-treatment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExcessRule {
    pub kinds: Vec<Kind>,
    pub above_ml_per_kg: f64,
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
    /// Minutes from the start before the limit counts (after an induction, say).
    pub from_min: f64,
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
    pub excess: Vec<ExcessRule>,
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
    Model::new(&patient, PhysioParams::for_patient(&patient)).map_err(|e| ck.err(p_at, "patient", e.to_string()))?;

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
    if let Some(v) = fi.remifentanil_ug_per_min {
        initial.remifentanil_ug_per_min = ck.range(i_at, "initial.remifentanil_ug_per_min", v, 0.0, 100.0)?;
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
            unless_after: f.unless_after.clone(),
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
            from_min: ck.range(at, &format!("{field}.from_min"), f.from_min, 0.0, duration)?,
            label: f.label.clone(),
        });
    }
    let mut excess = Vec::new();
    for (i, e) in scoring.excess.iter().enumerate() {
        let at = e.span().start;
        let f = e.get_ref();
        let field = format!("scoring.excess[{i}]");
        if f.kinds.is_empty() || f.kinds.iter().any(|k| !matches!(k, Kind::Crystalloid | Kind::Blood)) {
            return Err(ck.err(at, &format!("{field}.kinds"), "counts fluids only: crystalloid, blood"));
        }
        excess.push(ExcessRule {
            kinds: f.kinds.clone(),
            above_ml_per_kg: ck.range(at, &format!("{field}.above_ml_per_kg"), f.above_ml_per_kg, 1.0, 500.0)?,
            penalty: ck.range(at, &format!("{field}.penalty"), f.penalty, 0.0, 1000.0)?,
            reason: f.reason.clone(),
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
        excess,
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
