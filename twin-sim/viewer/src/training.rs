//! Student training: a scenario played live on the physiology model instead of a recorded
//! case. The student acts (fluids, blood, pressor, oxygen, drugs) by sending
//! [`TrainingAction`] messages; each frame the model runs the whole steps that frame time
//! × playback speed covers, the bedside monitor shows its outputs (numerics, alarms,
//! NEWS2), events and actions appear on the timeline as they happen, and at the end the
//! score and the debrief are kept in [`TrainingResult`].
//!
//! The playback clock, the timeline and the monitor are the case viewer's own
//! ([`Playback`], [`Timeline`], [`Monitor`]): play, pause and speed work as in a replay.
//! The model cannot go back in time, so a seek behind it is undone, and a seek ahead runs
//! the model forward to it. Actions are applied on the model's step grid exactly as the
//! pure [`Session`] applies them, so a run played here scores and hashes the same as
//! `twin_sim::scenario::run` with the same actions at the same times.

use bevy::prelude::*;
use twin_sim::alarms::{AlarmKind, ModelFrames, Vitals, alarms_from_frames};
use twin_sim::case::{EventKind, Stage};

use twin_sim::replay::Clock;
use twin_sim::scenario::{Change, Kind, RunReport, Scenario, ScenarioError, Session, clock};
use twin_sim::waveforms::ModelWaves;

use crate::monitor::{Monitor, MonitorData, MonitorPlugin, Numeric, Sounding, Sweep, Trace, Verification, numerics};
use crate::sync::{LoadedCase, Playback, SimSyncPlugin, StreamsNow, SyncSystems};
use crate::timeline::{Marker, Timeline, TimelinePlugin};

/// What a student does: the kind of action, its value (in the kind's unit) and, for a
/// rate, how long it runs (`None`: until changed).
#[derive(Message, Debug, Clone, Copy, PartialEq)]
pub struct TrainingAction {
    pub kind: Kind,
    pub value: f64,
    pub duration_min: Option<f64>,
}

impl TrainingAction {
    pub fn new(kind: Kind, value: f64) -> TrainingAction {
        TrainingAction { kind, value, duration_min: None }
    }

    /// A rate that runs for `duration_min` minutes, then stops.
    pub fn lasting(kind: Kind, value: f64, duration_min: f64) -> TrainingAction {
        TrainingAction { kind, value, duration_min: Some(duration_min) }
    }

    /// An action named as in scenario files (`phenylephrine_bolus`, `fio2`, …), as a page's
    /// button sends it; an unknown name is refused in words.
    pub fn named(name: &str, value: f64) -> Result<TrainingAction, String> {
        match Kind::from_name(name) {
            Some(kind) if kind.is_student_action() => Ok(TrainingAction::new(kind, value)),
            _ => {
                let known: Vec<&str> = Kind::ALL.iter().filter(|k| k.is_student_action()).map(|k| k.name()).collect();
                Err(format!("`{name}` is not an action; actions are: {}", known.join(", ")))
            }
        }
    }
}

/// What became of an action: taken, or refused and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// Scenario time when it was sent, seconds.
    pub at_s: f64,
    pub accepted: bool,
    pub text: String,
}

/// The scenario being played: the model's session, and what the student has been told.
#[derive(Resource, Debug, Clone)]
pub struct Training {
    pub session: Session,
    /// One entry per action sent (and one if the model stops on an error), oldest first.
    pub feedback: Vec<Feedback>,
    /// The model's vital signs about once a second, for the alarm rules.
    frames: ModelFrames,
    /// The waves the monitor draws, made from the model as it runs.
    waves: ModelWaves,
    events_marked: usize,
    actions_marked: usize,
}

/// The end of a scenario: the score and the debrief timeline (`text` as the CLI prints it).
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct TrainingResult {
    pub report: RunReport,
    pub text: String,
}

impl TrainingResult {
    /// The score as text: the total (`72.5 / 100.0`), then one line per part.
    pub fn score_text(&self) -> String {
        let score = &self.report.score;
        let mut s = format!("{:.1} / {:.1}", score.total, score.max);
        for i in &score.items {
            if i.max > 0.0 {
                s.push_str(&format!("\n{:+.1} / {:.1} {} — {}", i.points, i.max, i.label, i.detail));
            } else {
                s.push_str(&format!("\n{:+.1} {} — {}", i.points, i.label, i.detail));
            }
        }
        s
    }

    /// The debrief timeline as text, one `m:ss  what happened` a line.
    pub fn debrief_text(&self) -> String {
        let lines: Vec<String> = self.report.debrief.iter().map(|e| format!("{}  {}", clock(e.at_s), e.text)).collect();
        lines.join("\n")
    }
}

impl Training {
    fn new(session: Session) -> Training {
        let mut t = Training {
            session,
            feedback: Vec::new(),
            frames: ModelFrames::new(),
            waves: ModelWaves::new(),
            events_marked: 0,
            actions_marked: 0,
        };
        t.record_frame();
        t
    }

    /// The model's vital signs so far, about one frame a second (the debrief's plot).
    pub fn frames(&self) -> &[twin_sim::alarms::Frame] {
        self.frames.frames()
    }

    /// Takes `action` now, or says why not.
    pub fn act(&mut self, action: &TrainingAction) -> Result<(), ScenarioError> {
        let at_s = self.session.time_s();
        let result = self.session.act(action.kind, action.value, action.duration_min);
        let text = match &result {
            Ok(()) => {
                let c = Change {
                    at_min: at_s / 60.0,
                    kind: action.kind,
                    value: action.value,
                    duration_min: action.duration_min,
                    label: String::new(),
                    line: 0,
                };
                format!("{}: {}", clock(at_s), c.describe())
            }
            Err(e) => e.to_string(),
        };
        self.feedback.push(Feedback { at_s, accepted: result.is_ok(), text });
        result
    }

    /// The alarms sounding now, highest priority first: kind and when it fired (ms from the
    /// start).
    pub fn alarms(&self) -> Vec<Sounding> {
        let now = ms(self.session.time_s());
        // The model's pulse is its heart rate and its line is never damped: the same rules
        // judge it as a recorded case. The training monitor has no acknowledge control yet,
        // so a latched alarm shows while its condition lasts (as if acknowledged now).
        alarms_from_frames(self.frames.frames(), true)
            .sounding(now, Some(now))
            .into_iter()
            .map(|a| Sounding { kind: a.kind, priority: a.priority, fired_ms: a.fired_ms })
            .collect()
    }

    /// What the monitor shows now: the model's outputs as numerics with units, its waves
    /// sweeping as `sweep` says, the sounding alarms and NEWS2.
    pub fn monitor(&self, sweep: Sweep) -> Monitor {
        let o = self.session.outputs();
        let alarms = self.alarms();
        let kinds: Vec<AlarmKind> = alarms.iter().map(|a| a.kind).collect();
        let (mut numerics, news2) = numerics(&Vitals::from_model(&o, self.session.inputs()), &kinds);
        numerics.push(Numeric { label: "EtCO2", value: Some(o.etco2_mmhg), unit: "mmHg", alarming: false });
        numerics.push(Numeric { label: "BIS", value: Some(o.bis), unit: "", alarming: false });
        Monitor {
            stage: Some(Stage::Surgery),
            numerics,
            traces: self.traces(sweep),
            alarms,
            news2,
            integrity: Vec::new(),
        }
    }

    /// The model's waves sweeping up to now, as the monitor draws a recording's.
    fn traces(&self, sweep: Sweep) -> Vec<Trace> {
        let now_us = ((self.waves.duration_s() * 1e6) as u64).saturating_sub(1);
        self.waves
            .waves()
            .iter()
            .map(|w| {
                let (columns, cursor) = sweep.trace(w, now_us);
                Trace { name: w.name.clone(), unit: w.unit.clone(), columns, cursor, verified: None }
            })
            .collect()
    }

    /// Adds a frame for the alarm rules when a frame's time has passed since the last.
    fn record_frame(&mut self) {
        let step_ms = ms(self.session.scenario().step_s);
        self.frames.record(ms(self.session.time_s()), step_ms, &self.session.outputs());
    }

    /// Runs the model up to `t_s`, a step at a time so that the alarm frames see every second.
    fn run_to(&mut self, t_s: f64) -> Result<(), ScenarioError> {
        let target = self.session.step_at(t_s);
        while self.session.steps_done() < target {
            self.session.advance_steps(1)?;
            self.record_frame();
            let compressions = self.session.inputs().chest_compressions;
            self.waves.extend_to(self.session.time_s(), &self.session.outputs(), compressions);
        }
        Ok(())
    }

    /// Markers for the events and actions that happened since the last call.
    fn new_markers(&mut self) -> Vec<Marker> {
        let mut out = Vec::new();
        for c in self.session.events_applied().skip(self.events_marked) {
            out.push(marker(c, c.describe()));
        }
        for c in &self.session.actions()[self.actions_marked..] {
            out.push(marker(c, format!("you: {}", c.describe())));
        }
        self.events_marked = self.session.events_applied().count();
        self.actions_marked = self.session.actions().len();
        out
    }
}

fn ms(seconds: f64) -> u64 {
    (seconds * 1000.0).round() as u64
}

fn marker(c: &Change, label: String) -> Marker {
    let kind = match c.kind {
        Kind::PropofolBolus
        | Kind::PropofolInfusion
        | Kind::RemifentanilBolus
        | Kind::RemifentanilInfusion
        | Kind::PhenylephrineBolus
        | Kind::PhenylephrineInfusion
        | Kind::EpinephrineBolus
        | Kind::AtropineBolus => EventKind::DrugDose,
        Kind::VentricularFibrillation
        | Kind::VentricularTachycardia
        | Kind::AirwayObstruction
        | Kind::CircuitDisconnection => EventKind::Alarm,
        Kind::Hemorrhage => EventKind::BloodLoss,
        Kind::Crystalloid
        | Kind::Blood
        | Kind::Fio2
        | Kind::VentilatorRate
        | Kind::TidalVolume
        | Kind::Shunt
        | Kind::Cpr
        | Kind::Defibrillation
        | Kind::ClearAirway
        | Kind::ReconnectCircuit
        | Kind::WithdrawTube => EventKind::Procedure,
    };
    Marker { at_us: (c.at_min * 60e6).round() as u64, stage: Stage::Surgery, kind, label }
}

/// Opens a training scenario, in place of any case: the session at its start, a paused
/// clock over the scenario's length, an empty timeline, the monitor at the starting values.
/// Fails only if the model cannot be made for the scenario's patient.
pub fn open_scenario(world: &mut World, scenario: &Scenario) -> Result<(), ScenarioError> {
    let training = Training::new(Session::new(scenario)?);
    let duration_us = (training.session.duration_s() * 1e6).round() as u64;
    world.remove_resource::<LoadedCase>();
    world.remove_resource::<TrainingResult>();
    world.insert_resource(Playback { clock: Clock::new(duration_us) });
    world.insert_resource(Timeline::for_scenario(duration_us));
    world.insert_resource(MonitorData::default());
    world.insert_resource(Verification(None));
    world.insert_resource(StreamsNow { stage: Some(Stage::Surgery), snapshot: None });
    let sweep = world.get_resource::<Sweep>().copied().unwrap_or_default();
    world.insert_resource(training.monitor(sweep));
    world.insert_resource(training);
    Ok(())
}

/// Plays an open training scenario: applies [`TrainingAction`]s, runs the model with the
/// playback clock, fills the monitor and the timeline, and keeps the result at the end.
/// Brings the sync, timeline and monitor plugins it works with when they are not added yet.
pub struct TrainingPlugin;

impl Plugin for TrainingPlugin {
    fn build(&self, app: &mut App) {
        if !app.is_plugin_added::<SimSyncPlugin>() {
            app.add_plugins(SimSyncPlugin);
        }
        if !app.is_plugin_added::<TimelinePlugin>() {
            app.add_plugins(TimelinePlugin);
        }
        if !app.is_plugin_added::<MonitorPlugin>() {
            app.add_plugins(MonitorPlugin);
        }
        app.add_message::<TrainingAction>()
            .add_systems(Update, (step_training, finish_training).chain().in_set(SyncSystems::Sample));
    }
}

fn step_training(
    mut actions: MessageReader<TrainingAction>,
    training: Option<ResMut<Training>>,
    playback: Option<ResMut<Playback>>,
    timeline: Option<ResMut<Timeline>>,
    sweep: Res<Sweep>,
    mut monitor: ResMut<Monitor>,
) {
    let (Some(mut training), Some(mut playback)) = (training, playback) else {
        actions.clear();
        return;
    };
    let mut acted = false;
    for action in actions.read() {
        // A refusal is kept in `feedback` for the page to show.
        let _ = training.act(action);
        acted = true;
    }
    // The model cannot go back: a clock moved behind it is put back where the model is.
    let now_us = (training.session.time_s() * 1e6).round() as u64;
    if playback.clock.position_us() < now_us {
        playback.clock.seek(now_us);
    }
    let before = training.session.steps_done();
    let target_s = playback.clock.position_us() as f64 / 1e6;
    // Touched only when something happens, so that change detection means something.
    if training.session.step_at(target_s) > before
        && let Err(e) = training.run_to(target_s)
    {
        let at_s = training.session.time_s();
        training.feedback.push(Feedback { at_s, accepted: false, text: format!("the model stopped: {e}") });
        playback.clock.pause();
    }
    let stepped = training.session.steps_done() != before;
    if (stepped || acted)
        && let Some(mut timeline) = timeline
    {
        for m in training.new_markers() {
            timeline.push_marker(m);
        }
    }
    if stepped || sweep.is_changed() {
        let fresh = training.monitor(*sweep);
        if *monitor != fresh {
            *monitor = fresh;
        }
    }
}

fn finish_training(mut commands: Commands, training: Option<Res<Training>>, result: Option<Res<TrainingResult>>) {
    if let Some(training) = training
        && training.session.finished()
        && result.is_none()
    {
        let report = training.session.report();
        let text = report.to_text(training.session.scenario());
        commands.insert_resource(TrainingResult { report, text });
    }
}
