//! A scenario played step by step ([`Session`]): the physiology model at a fixed step, the
//! scenario's events at their times, a trainee's actions when taken (or at their scripted
//! time), and the counts the score is made from, totalled by [`Session::report`]; [`run`] plays
//! a script to the end.

use super::score::{DebriefEntry, DebriefSource, RunReport, Sample, Score, ScoreItem, trajectory_hash};
use super::validate::{Change, Scenario};
use super::{Kind, MAX_DURATION_MIN, ScenarioError, clock};
use crate::physiology::{self, HeartRhythm, Inputs, Model, Outputs, PhysioParams, Ventilation};

pub(super) fn to_steps(minutes: f64, step_s: f64) -> u64 {
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
    remifentanil: (f64, Option<u64>),
    phenylephrine: (f64, Option<u64>),
    crystalloid: (f64, Option<u64>),
    blood: (f64, Option<u64>),
    hemorrhage: (f64, Option<u64>),
}

impl Rates {
    fn expire(&mut self, step: u64) {
        for r in [
            &mut self.propofol,
            &mut self.remifentanil,
            &mut self.phenylephrine,
            &mut self.crystalloid,
            &mut self.blood,
            &mut self.hemorrhage,
        ] {
            if r.1.is_some_and(|end| end <= step) {
                *r = (0.0, None);
            }
        }
    }
}

impl Change {
    /// The change in words, as the debrief prints it (`blood 0.1 L/min for 8 min`).
    pub fn describe(&self) -> String {
        let mut s = self.kind.describe(self.value);
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
    /// Crystalloid and blood given so far, L.
    infused_l: [f64; 2],
    /// Which excess rules have fired.
    excess_fired: Vec<bool>,
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
        let params =
            PhysioParams { shunt_fraction: scenario.initial_shunt, ..PhysioParams::for_patient(&scenario.patient) };
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
            remifentanil: (inputs.remifentanil_ug_per_min, None),
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
            infused_l: [0.0; 2],
            excess_fired: vec![false; scenario.excess.len()],
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
        let mut shock = None;
        match c.kind {
            Kind::PropofolBolus => self.model.propofol_bolus(c.value)?,
            Kind::PhenylephrineBolus => self.model.phenylephrine_bolus(c.value)?,
            Kind::RemifentanilBolus => self.model.remifentanil_bolus(c.value)?,
            Kind::RemifentanilInfusion => self.rates.remifentanil = (c.value, end),
            Kind::PropofolInfusion => self.rates.propofol = (c.value, end),
            Kind::PhenylephrineInfusion => self.rates.phenylephrine = (c.value, end),
            Kind::Crystalloid => self.rates.crystalloid = (c.value, end),
            Kind::Blood => self.rates.blood = (c.value, end),
            Kind::Hemorrhage => self.rates.hemorrhage = (c.value, end),
            Kind::Fio2 => inputs.fio2 = c.value,
            Kind::Cpr => inputs.chest_compressions = c.value >= 0.5,
            Kind::EpinephrineBolus => self.model.epinephrine_bolus(c.value)?,
            Kind::AtropineBolus => self.model.atropine_bolus(c.value)?,
            Kind::VentricularFibrillation => self.model.set_rhythm(HeartRhythm::VentricularFibrillation),
            Kind::VentricularTachycardia => self.model.set_rhythm(HeartRhythm::VentricularTachycardia),
            Kind::AirwayObstruction => inputs.airway_obstructed = c.value >= 0.5,
            Kind::ClearAirway => inputs.airway_obstructed = false,
            Kind::CircuitDisconnection => inputs.circuit_disconnected = c.value >= 0.5,
            Kind::ReconnectCircuit => inputs.circuit_disconnected = false,
            Kind::WithdrawTube => self.model.params.shunt_fraction = self.scenario.initial_shunt,
            Kind::Defibrillation => {
                let before = self.model.rhythm();
                let converted = self.model.defibrillate(c.value)?;
                shock = Some(if converted {
                    format!("the shock ended {}: sinus rhythm", before.name())
                } else {
                    format!("the shock did not change the rhythm ({})", before.name())
                });
            }
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
        if let Some(text) = shock {
            self.debrief.push(DebriefEntry { at_s, source: DebriefSource::Event, text });
        }
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
                if self.taken.iter().any(|t| rule.unless_after.contains(&t.kind)) {
                    continue;
                }
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
    /// Adds this step's fluids, and charges an excess rule the first time its fluids pass its
    /// share of the patient's weight.
    fn count_fluids(&mut self, done: u64) {
        self.infused_l[0] += self.inputs.crystalloid_l_per_min * self.dt / 60.0;
        self.infused_l[1] += self.inputs.blood_l_per_min * self.dt / 60.0;
        let weight = self.scenario.patient.weight_kg;
        for (i, rule) in self.scenario.excess.iter().enumerate() {
            let given: f64 =
                rule.kinds.iter().map(|k| if *k == Kind::Blood { self.infused_l[1] } else { self.infused_l[0] }).sum();
            if self.excess_fired[i] || given * 1000.0 / weight <= rule.above_ml_per_kg {
                continue;
            }
            self.excess_fired[i] = true;
            let at_s = done as f64 * self.dt;
            self.harm_items.push(ScoreItem {
                label: format!("harm: {}", rule.reason),
                points: -rule.penalty,
                max: 0.0,
                detail: format!("{given:.2} L given by {} (over {} mL/kg)", clock(at_s), rule.above_ml_per_kg),
            });
            self.debrief.push(DebriefEntry {
                at_s,
                source: DebriefSource::Scoring,
                text: format!("harmful: {} (−{} points)", rule.reason, rule.penalty),
            });
        }
    }

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
        inputs.remifentanil_ug_per_min = self.rates.remifentanil.0;
        inputs.phenylephrine_ug_per_min = self.rates.phenylephrine.0;
        inputs.crystalloid_l_per_min = self.rates.crystalloid.0;
        inputs.blood_l_per_min = self.rates.blood.0;
        inputs.hemorrhage_l_per_min = self.rates.hemorrhage.0;
        let out = physiology::step(&mut self.model, &self.inputs, dt)?;
        let done = step + 1;
        self.count_fluids(done);
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
            let counts = step >= to_steps(rule.from_min, dt);
            if counts && (rule.below.is_some_and(|b| v < b) || rule.above.is_some_and(|a| v > a)) {
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
