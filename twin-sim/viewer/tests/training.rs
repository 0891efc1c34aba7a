//! Student training in a headless Bevy app (`MinimalPlugins`, a manual frame time): a
//! scenario played through the plugin, with the scripted actions sent as messages when the
//! model reaches their times, scores and hashes as the pure runner does; actions the
//! scenario does not allow are refused in words; the monitor shows the model live.

use std::time::Duration;

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use twin_sim::case::{EventKind, Stage};
use twin_sim::scenario::{Change, Kind, Scenario, parse_actions, parse_scenario, run};
use twin_viewer::{
    Monitor, MonitorPlugin, Playback, SimSyncPlugin, Timeline, TimelineCommand, TimelinePlugin, Training,
    TrainingAction, TrainingPlugin, TrainingResult, open_scenario,
};

const FRAME: Duration = Duration::from_millis(100);
/// 100 ms frames at 60× move the model on 6 s (12 steps of 0.5 s) a frame: every scripted
/// time (whole half minutes) falls on a frame boundary.
const SPEED: f64 = 60.0;

/// The shipped scenarios' texts and good scripts, in `BUILT_IN`'s order (induction,
/// hemorrhage, hypoxia, apnoea, arrest).
const SCENARIOS: [(&str, &str); twin_sim::scenario::BUILT_IN.len()] = {
    let b = twin_sim::scenario::BUILT_IN;
    [(b[0].1, b[0].2), (b[1].1, b[1].2), (b[2].1, b[2].2), (b[3].1, b[3].2), (b[4].1, b[4].2)]
};

fn app(scenario: &Scenario) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, TrainingPlugin)).insert_resource(TimeUpdateStrategy::ManualDuration(FRAME));
    open_scenario(app.world_mut(), scenario).unwrap();
    app
}

fn send<M: Message>(app: &mut App, message: M) {
    app.world_mut().write_message(message);
    app.update();
}

fn training(app: &App) -> &Training {
    app.world().resource::<Training>()
}

fn numeric(app: &App, label: &str) -> Option<f64> {
    app.world().resource::<Monitor>().numerics.iter().find(|n| n.label == label).and_then(|n| n.value)
}

/// Plays `scenario` to its end at `SPEED`, sending each action of `script` when the model
/// reaches its step.
fn play(scenario: &Scenario, script: &[Change]) -> App {
    let mut app = app(scenario);
    send(&mut app, TimelineCommand::SetSpeed(SPEED));
    send(&mut app, TimelineCommand::Play);
    let step_of = |c: &Change| (c.at_min * 60.0 / scenario.step_s).round() as u64;
    let mut next = 0;
    for _ in 0..10_000 {
        if app.world().get_resource::<TrainingResult>().is_some() {
            break;
        }
        let done = training(&app).session.steps_done();
        while let Some(a) = script.get(next).filter(|a| step_of(a) <= done) {
            assert_eq!(step_of(a), done, "the model ran past an action's time");
            app.world_mut().write_message(TrainingAction {
                kind: a.kind,
                value: a.value,
                duration_min: a.duration_min,
            });
            next += 1;
        }
        app.update();
    }
    assert_eq!(next, script.len(), "every action was sent");
    app
}

#[test]
fn a_scenario_played_through_the_plugin_scores_and_hashes_as_the_runner() {
    for (text, actions) in SCENARIOS {
        let scenario = parse_scenario(text).unwrap();
        let script = parse_actions(actions).unwrap();
        let app = play(&scenario, &script);
        let result = app.world().get_resource::<TrainingResult>().expect("the scenario ended").clone();
        let expected = run(&scenario, &script).unwrap();
        assert_eq!(result.report.trajectory_hash, expected.trajectory_hash, "{}", scenario.id);
        assert_eq!(result.report.score, expected.score, "{}", scenario.id);
        assert_eq!(result.report.debrief, expected.debrief, "{}", scenario.id);
        assert_eq!(result.text, expected.to_text(&scenario));
        // What a page shows at the end: the total, then the parts; the debrief a line an entry.
        let score = result.score_text();
        assert!(score.starts_with(&format!("{:.1} / {:.1}\n", expected.score.total, expected.score.max)), "{score}");
        assert_eq!(score.lines().count(), expected.score.items.len() + 1);
        let debrief = result.debrief_text();
        assert_eq!(debrief.lines().count(), expected.debrief.len());
        assert!(debrief.lines().any(|l| l.contains("  action: ")), "{debrief}");
        let t = training(&app);
        assert!(t.feedback.iter().all(|f| f.accepted) && t.feedback.len() == script.len(), "{:?}", t.feedback);
        // The clock stopped at the end, with the model.
        let clock = &app.world().resource::<Playback>().clock;
        assert!(!clock.is_playing() && t.session.finished());
        // Every event and action is on the timeline, in time order.
        let markers = app.world().resource::<Timeline>().markers().to_vec();
        assert_eq!(markers.len(), scenario.events.len() + script.len(), "{markers:?}");
        assert!(markers.windows(2).all(|w| w[0].at_us <= w[1].at_us));
        assert_eq!(markers.iter().filter(|m| m.label.starts_with("you: ")).count(), script.len());
    }
}

#[test]
fn the_plugin_sits_beside_the_replay_plugins_as_the_drawn_viewer_adds_them() {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, SimSyncPlugin, TimelinePlugin, MonitorPlugin, TrainingPlugin))
        .insert_resource(TimeUpdateStrategy::ManualDuration(FRAME));
    app.update();
    assert!(app.world().get_resource::<Training>().is_none(), "nothing open: nothing happens");
    open_scenario(app.world_mut(), &parse_scenario(SCENARIOS[0].0).unwrap()).unwrap();
    send(&mut app, TrainingAction::new(Kind::PhenylephrineBolus, 100.0));
    assert!(training(&app).feedback[0].accepted);
    assert!(training(&app).session.actions().is_empty(), "paused: taken, to be applied at the next step");
    send(&mut app, TimelineCommand::SetSpeed(SPEED));
    send(&mut app, TimelineCommand::Play);
    assert_eq!(training(&app).session.actions().len(), 1);
}

#[test]
fn the_golden_hemorrhage_trajectory_comes_out_of_the_viewer_too() {
    let (text, actions) = SCENARIOS[1];
    let app = play(&parse_scenario(text).unwrap(), &parse_actions(actions).unwrap());
    let hash = app.world().resource::<TrainingResult>().report.trajectory_hash.to_hex();
    // twin-sim's tests/twin_sim/scenarios.rs HEMORRHAGE_GOOD_TRAJECTORY.
    assert_eq!(hash, "49d54baea6abc44673ab40510f1eeb408c53d57d564275dcd553eb908a032d86");
}

#[test]
fn an_action_the_scenario_does_not_allow_is_refused_in_words() {
    // The hypoxia scenario allows oxygen and the ventilator, not blood.
    let (text, _) = SCENARIOS[2];
    let scenario = parse_scenario(text).unwrap();
    let mut app = app(&scenario);
    send(&mut app, TimelineCommand::SetSpeed(SPEED));
    send(&mut app, TimelineCommand::Play);
    for _ in 0..5 {
        app.update();
    }
    send(&mut app, TrainingAction::new(Kind::Blood, 0.1));
    let t = training(&app);
    let last = t.feedback.last().expect("feedback");
    assert!(!last.accepted, "{last:?}");
    assert!(last.text.contains("`blood` at") && last.text.contains("allows only: fio2"), "{}", last.text);
    assert!(t.session.actions().is_empty());
    // Out of range: refused, and said so.
    send(&mut app, TrainingAction::new(Kind::Fio2, 0.05));
    let last = training(&app).feedback.last().unwrap().clone();
    assert!(!last.accepted && last.text.contains("outside the allowed range"), "{}", last.text);
    // An allowed one is taken.
    send(&mut app, TrainingAction::new(Kind::Fio2, 1.0));
    let last = training(&app).feedback.last().unwrap().clone();
    assert!(last.accepted && last.text.contains("fio2 1 fraction"), "{}", last.text);
    assert_eq!(training(&app).session.actions().len(), 1);
    // A page's button with a name no scenario knows.
    let err = TrainingAction::named("morphine", 5.0).unwrap_err();
    assert!(err.contains("`morphine` is not an action") && err.contains("phenylephrine_bolus"), "{err}");
    assert_eq!(TrainingAction::named("blood", 0.1), Ok(TrainingAction::new(Kind::Blood, 0.1)));
    assert!(TrainingAction::named("hemorrhage", 0.1).is_err(), "bleeding is not a student's action");
}

#[test]
fn the_monitor_shows_the_model_live_and_the_clock_drives_it() {
    // The untreated hemorrhage: the heart rate climbs, then the pressure falls.
    let (text, _) = SCENARIOS[1];
    let scenario = parse_scenario(text).unwrap();
    let mut app = app(&scenario);
    let start_hr = numeric(&app, "HR").expect("the monitor shows the start before playing");
    for _ in 0..5 {
        app.update();
    }
    assert_eq!(training(&app).session.steps_done(), 0, "paused: the model holds");
    send(&mut app, TimelineCommand::SetSpeed(SPEED));
    send(&mut app, TimelineCommand::Play);
    let mut seen = Vec::new();
    let mut under_65_since: Option<f64> = None;
    // Play's own frame ran the first 6 s; 109 more make 11 minutes.
    for _ in 1..110 {
        app.update();
        let out = training(&app).session.outputs();
        let m = app.world().resource::<Monitor>();
        assert_eq!(m.stage, Some(Stage::Surgery));
        assert_eq!(numeric(&app, "HR"), Some(out.hr_per_min), "the monitor shows the model's heart rate");
        assert_eq!(numeric(&app, "MAP"), Some(out.map_mmhg));
        assert_eq!(numeric(&app, "SpO2"), Some(out.spo2_percent));
        assert_eq!(numeric(&app, "EtCO2"), Some(out.etco2_mmhg));
        let hr = m.numerics.iter().find(|n| n.label == "HR").unwrap();
        assert_eq!(hr.unit, "/min");
        seen.push(out.hr_per_min);
        // The hypotension alarm waits a minute under 65 mmHg, as for a recorded case.
        let now = training(&app).session.time_s();
        under_65_since = if out.map_mmhg < 65.0 { under_65_since.or(Some(now)) } else { None };
        let sounding = m.alarms.iter().any(|a| a.name() == "hypotension");
        match under_65_since {
            Some(since) if now - since >= 66.0 => assert!(sounding, "a minute under 65 at {now} s: {m:?}"),
            Some(since) if now - since < 54.0 => assert!(!sounding, "under a minute under 65 at {now} s: {m:?}"),
            None => assert!(!sounding, "MAP {} at {now} s: {m:?}", out.map_mmhg),
            _ => {}
        }
    }
    assert!(under_65_since.is_some(), "the bleed brings MAP under 65 mmHg within 11 minutes");
    let t = training(&app);
    assert_eq!(t.session.time_s(), 660.0);
    assert!(seen.last().unwrap() > &(start_hr + 10.0), "HR {start_hr} → {seen:?}");
    // A minute and more under 65 mmHg: the same alarm rule as a recorded case's sounds.
    let m = app.world().resource::<Monitor>().clone();
    assert!(numeric(&app, "MAP").unwrap() < 65.0);
    assert!(m.alarms.iter().any(|a| a.name() == "hypotension"), "{m:?}");
    assert!(m.numerics.iter().find(|n| n.label == "MAP").unwrap().alarming);
    // NEWS2 in theatre takes oxygen from the FiO2 and consciousness from the BIS; only the
    // temperature, which the model does not have, is missing, and the summary says so.
    let n = m.news2.clone().expect("NEWS2");
    assert_eq!(n.not_scored, vec![twin_sim::alarms::News2Parameter::Temperature], "{n:?}");
    let part = |p| n.parts.iter().find(|(q, _)| *q == p).map(|(_, s)| *s);
    assert_eq!(part(twin_sim::alarms::News2Parameter::AirOrOxygen), Some(2), "FiO2 0.5 is oxygen: {n:?}");
    assert_eq!(part(twin_sim::alarms::News2Parameter::Consciousness), Some(3), "anaesthetised: {n:?}");
    assert!(n.summary().contains("not measured: temperature"), "{}", n.summary());
    // The bleeding is on the timeline once it has happened.
    let markers = app.world().resource::<Timeline>().markers().to_vec();
    assert!(markers.iter().any(|m| m.kind == EventKind::BloodLoss), "{markers:?}");

    // The model cannot go back: a seek behind it is undone.
    send(&mut app, TimelineCommand::Pause);
    let at = training(&app).session.steps_done();
    send(&mut app, TimelineCommand::Seek(0));
    assert_eq!(training(&app).session.steps_done(), at);
    assert_eq!(app.world().resource::<Playback>().clock.position_us(), 660_000_000);
    // A seek ahead runs the model forward to it.
    send(&mut app, TimelineCommand::Seek(900_000_000));
    assert_eq!(training(&app).session.time_s(), 900.0);
    assert!(app.world().get_resource::<TrainingResult>().is_none(), "not over yet");
}

/// The induction dose stops the model's breathing until the ventilator starts at 2:00: the
/// monitor sounds the apnoea alarm meanwhile (the same rule as for a recorded case), and it
/// stops once the ventilator breathes.
#[test]
fn induction_apnoea_sounds_the_apnoea_alarm_until_the_ventilator_breathes() {
    let (text, _) = SCENARIOS[0];
    let mut app = app(&parse_scenario(text).unwrap());
    send(&mut app, TimelineCommand::SetSpeed(SPEED));
    send(&mut app, TimelineCommand::Play);
    let (mut heard, mut after) = (false, false);
    for _ in 0..200 {
        app.update();
        let t = training(&app).session.time_s();
        let apnoea = app.world().resource::<Monitor>().alarms.iter().any(|a| a.name() == "apnoea");
        if t < 120.0 {
            heard |= apnoea;
        } else if t > 150.0 {
            after |= apnoea;
            break;
        }
    }
    assert!(heard, "no apnoea alarm between the induction and the ventilator");
    assert!(!after, "the apnoea alarm still sounds once the ventilator breathes");
}

#[test]
fn the_training_monitor_sweeps_the_models_waves_and_the_debrief_plot_has_the_vitals_and_actions() {
    use twin_viewer::screen::{Screen, WaveKind};
    let (text, good) = SCENARIOS[1];
    let scenario = parse_scenario(text).unwrap();
    let mut app = play(&scenario, &parse_actions(good).unwrap());
    app.add_plugins(twin_viewer::TrendPlugin);
    app.update();
    let m = app.world().resource::<Monitor>().clone();
    let screen = Screen::of(&m, &twin_sim::alarms::AlarmLimits::default());
    let kinds: Vec<WaveKind> = screen.channels.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [WaveKind::Ecg, WaveKind::Arterial, WaveKind::Pleth, WaveKind::Co2]);
    for c in &screen.channels {
        assert!(c.columns.iter().filter(|c| c.is_some()).count() > 500, "{} is blank", c.label);
        assert!(c.tile.is_some(), "{} has its numeric", c.label);
    }
    let trend = app.world().resource::<twin_viewer::Trend>().clone();
    let lanes: Vec<&str> = trend.lanes.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(lanes, ["HR", "ABP sys", "MAP", "SpO2", "EtCO2", "RR"]);
    assert!(trend.lanes.iter().all(|l| l.columns.iter().filter(|c| c.is_some()).count() > 700), "plotted over the run");
    let yours = trend.markers.iter().filter(|m| m.label.starts_with("you: ")).count();
    assert_eq!(yours, parse_actions(good).unwrap().len(), "each action marked: {:?}", trend.markers);
}
