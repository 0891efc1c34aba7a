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
//!
//! The parts: `format` (the TOML shapes as serde reads them), `validate` (the checked
//! [`Scenario`] and action scripts, with the line of anything wrong), `session` (the model
//! stepped live or scripted) and `score` (the score, the debrief and the trajectory hash).

use serde::Deserialize;

use crate::physiology::{Outputs, PhysioError};

mod format;
mod score;
mod session;
mod validate;

pub use score::{DebriefEntry, DebriefSource, RunReport, Sample, Score, ScoreItem, output_values, trajectory_hash};
pub use session::{Session, check_actions, run};
pub use validate::{
    Allowed, Change, DebriefNote, ExcessRule, FirstActionRule, HarmRule, LimitRule, Scenario, TargetRule,
    parse_actions, parse_scenario, write_actions,
};

/// Domain separator at the start of the hashed trajectory bytes.
pub const TRAJECTORY_DOMAIN: &[u8] = b"twin-sim/scenario-trajectory/v2";

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
    /// Remifentanil bolus, µg.
    RemifentanilBolus,
    /// Remifentanil infusion rate, µg/min (0 stops it).
    RemifentanilInfusion,
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
    /// Chest compressions: 1 starts them, 0 stops them.
    Cpr,
    /// A shock, J (ends VF or pulseless VT while the heart is not too starved of O2).
    Defibrillation,
    /// Epinephrine (adrenaline) bolus, µg (1000 µg is the arrest dose).
    EpinephrineBolus,
    /// Atropine bolus, mg.
    AtropineBolus,
    /// The heart fibrillates (events only; value 1).
    VentricularFibrillation,
    /// Pulseless ventricular tachycardia (events only; value 1).
    VentricularTachycardia,
    /// The airway obstructs (1) or clears (0) (events only).
    AirwayObstruction,
    /// The student opens the airway (jaw thrust, an adjunct, a tube; value 1).
    ClearAirway,
    /// The breathing circuit comes apart (1) or is joined again (0) (events only): the
    /// ventilator's breaths go nowhere.
    CircuitDisconnection,
    /// The student joins the breathing circuit again (value 1).
    ReconnectCircuit,
    /// The student pulls an endobronchial tube back into the trachea: the shunt returns to
    /// the patient's own (value 1).
    WithdrawTube,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 24] = [
        Kind::PropofolBolus,
        Kind::PropofolInfusion,
        Kind::RemifentanilBolus,
        Kind::RemifentanilInfusion,
        Kind::PhenylephrineBolus,
        Kind::PhenylephrineInfusion,
        Kind::Crystalloid,
        Kind::Blood,
        Kind::Fio2,
        Kind::VentilatorRate,
        Kind::TidalVolume,
        Kind::Hemorrhage,
        Kind::Shunt,
        Kind::Cpr,
        Kind::Defibrillation,
        Kind::EpinephrineBolus,
        Kind::AtropineBolus,
        Kind::VentricularFibrillation,
        Kind::VentricularTachycardia,
        Kind::AirwayObstruction,
        Kind::ClearAirway,
        Kind::CircuitDisconnection,
        Kind::ReconnectCircuit,
        Kind::WithdrawTube,
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
            Kind::RemifentanilBolus => "remifentanil_bolus",
            Kind::RemifentanilInfusion => "remifentanil_infusion",
            Kind::PhenylephrineBolus => "phenylephrine_bolus",
            Kind::PhenylephrineInfusion => "phenylephrine_infusion",
            Kind::Crystalloid => "crystalloid",
            Kind::Blood => "blood",
            Kind::Fio2 => "fio2",
            Kind::VentilatorRate => "ventilator_rate",
            Kind::TidalVolume => "tidal_volume",
            Kind::Hemorrhage => "hemorrhage",
            Kind::Shunt => "shunt",
            Kind::Cpr => "cpr",
            Kind::Defibrillation => "defibrillation",
            Kind::EpinephrineBolus => "epinephrine_bolus",
            Kind::AtropineBolus => "atropine_bolus",
            Kind::VentricularFibrillation => "ventricular_fibrillation",
            Kind::VentricularTachycardia => "ventricular_tachycardia",
            Kind::AirwayObstruction => "airway_obstruction",
            Kind::ClearAirway => "clear_airway",
            Kind::CircuitDisconnection => "circuit_disconnection",
            Kind::ReconnectCircuit => "reconnect_circuit",
            Kind::WithdrawTube => "withdraw_tube",
        }
    }

    /// The unit of `value`.
    pub fn unit(self) -> &'static str {
        match self {
            Kind::PropofolBolus => "mg",
            Kind::PropofolInfusion => "mg/min",
            Kind::PhenylephrineBolus | Kind::RemifentanilBolus => "µg",
            Kind::PhenylephrineInfusion | Kind::RemifentanilInfusion => "µg/min",
            Kind::Crystalloid | Kind::Blood | Kind::Hemorrhage => "L/min",
            Kind::Fio2 | Kind::Shunt => "fraction",
            Kind::VentilatorRate => "/min",
            Kind::TidalVolume => "L",
            Kind::Defibrillation => "J",
            Kind::EpinephrineBolus => "µg",
            Kind::AtropineBolus => "mg",
            Kind::Cpr | Kind::AirwayObstruction | Kind::CircuitDisconnection => "on (1) or off (0)",
            Kind::VentricularFibrillation
            | Kind::VentricularTachycardia
            | Kind::ClearAirway
            | Kind::ReconnectCircuit
            | Kind::WithdrawTube => "(1)",
        }
    }

    /// The kind with a value, in words (`blood 0.1 L/min`, `cpr on`, `clear airway`).
    pub fn describe(self, value: f64) -> String {
        let name = self.name().replace('_', " ");
        match self {
            Kind::Cpr | Kind::AirwayObstruction | Kind::CircuitDisconnection => {
                format!("{name} {}", if value >= 0.5 { "on" } else { "off" })
            }
            Kind::VentricularFibrillation
            | Kind::VentricularTachycardia
            | Kind::ClearAirway
            | Kind::ReconnectCircuit
            | Kind::WithdrawTube => name,
            _ => format!("{name} {value} {}", self.unit()),
        }
    }

    /// The widest values the model accepts for this kind.
    pub fn hard_range(self) -> (f64, f64) {
        match self {
            Kind::PropofolBolus => (0.0, 2000.0),
            Kind::PropofolInfusion => (0.0, 100.0),
            Kind::RemifentanilBolus => (0.0, 1000.0),
            Kind::RemifentanilInfusion => (0.0, 100.0),
            Kind::PhenylephrineBolus => (0.0, 10_000.0),
            Kind::PhenylephrineInfusion => (0.0, 1000.0),
            Kind::Crystalloid | Kind::Blood | Kind::Hemorrhage => (0.0, 2.0),
            Kind::Fio2 => (0.1, 1.0),
            Kind::VentilatorRate => (0.0, 60.0),
            Kind::TidalVolume => (0.0, 2.0),
            Kind::Shunt => (0.0, 0.6),
            Kind::Cpr | Kind::AirwayObstruction | Kind::CircuitDisconnection => (0.0, 1.0),
            Kind::ReconnectCircuit | Kind::WithdrawTube => (1.0, 1.0),
            Kind::Defibrillation => (1.0, 400.0),
            Kind::EpinephrineBolus => (1.0, 5000.0),
            Kind::AtropineBolus => (0.1, 5.0),
            Kind::VentricularFibrillation | Kind::VentricularTachycardia | Kind::ClearAirway => (1.0, 1.0),
        }
    }

    /// Whether the value is a rate that may run for a limited `duration_min`.
    pub fn is_rate(self) -> bool {
        matches!(
            self,
            Kind::PropofolInfusion
                | Kind::RemifentanilInfusion
                | Kind::PhenylephrineInfusion
                | Kind::Crystalloid
                | Kind::Blood
                | Kind::Hemorrhage
        )
    }

    /// Whether a student may ever take this action (bleeding, shunt, an arrest rhythm and an
    /// obstructed airway happen to them).
    pub fn is_student_action(self) -> bool {
        !matches!(
            self,
            Kind::Hemorrhage
                | Kind::Shunt
                | Kind::VentricularFibrillation
                | Kind::VentricularTachycardia
                | Kind::AirwayObstruction
                | Kind::CircuitDisconnection
        )
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

/// The scenarios that ship with the twin (files in `twin-sim/scenarios/`), by id, with the
/// scripted actions of a good response to each.
pub const BUILT_IN: [(&str, &str, &str); 5] = [
    (
        "propofol-induction-hypotension",
        include_str!("../../scenarios/propofol-induction-hypotension.toml"),
        include_str!("../../scenarios/propofol-induction-hypotension.good.actions.toml"),
    ),
    (
        "surgical-hemorrhage",
        include_str!("../../scenarios/surgical-hemorrhage.toml"),
        include_str!("../../scenarios/surgical-hemorrhage.good.actions.toml"),
    ),
    (
        "hypoxia-during-anesthesia",
        include_str!("../../scenarios/hypoxia-during-anesthesia.toml"),
        include_str!("../../scenarios/hypoxia-during-anesthesia.good.actions.toml"),
    ),
    (
        "opioid-induced-apnoea",
        include_str!("../../scenarios/opioid-induced-apnoea.toml"),
        include_str!("../../scenarios/opioid-induced-apnoea.good.actions.toml"),
    ),
    (
        "cardiac-arrest-in-hemorrhage",
        include_str!("../../scenarios/cardiac-arrest-in-hemorrhage.toml"),
        include_str!("../../scenarios/cardiac-arrest-in-hemorrhage.good.actions.toml"),
    ),
];

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

#[cfg(test)]
mod tests {
    use super::session::to_steps;
    use super::*;

    const HYPOTENSION: &str = include_str!("../../scenarios/propofol-induction-hypotension.toml");
    const GOOD: &str = include_str!("../../scenarios/propofol-induction-hypotension.good.actions.toml");

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
