//! The native twin viewer: opens a case file (as `twin-sim import` writes it) in a window,
//! or runs a training scenario on the physiology model.
//!
//! `twin-viewer <case.json> [--stage <name>] [--seek <seconds>] [--play] [--screenshot <file.png>]`
//! (`--seek` counts from the start of `--stage`, or of the case);
//! `twin-viewer --train <scenario id | file.toml> [--actions <file.toml>] [--speed <x>] [--play]
//! [--screenshot <file.png>]`: keys 1-9 take the scenario's actions (their values printed at
//! the start), `--actions` sends scripted ones at their times, and the score and the debrief
//! are printed when it ends. With `--screenshot` it draws a few frames, saves the window as a
//! PNG and exits (how it is checked under a virtual display).

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use twin_sim::scenario::{BUILT_IN, Change, Scenario, parse_actions, parse_scenario};
use twin_viewer::render::ViewerPlugin;
use twin_viewer::{TimelineCommand, Training, TrainingAction, TrainingResult, open_case, open_scenario};

const USAGE: &str = "usage: twin-viewer <case.json> [--stage <name>] [--seek <seconds>] [--play] [--screenshot <file.png>]
       twin-viewer --train <scenario id | file.toml> [--actions <file.toml>] [--speed <x>] [--play] [--screenshot <file.png>]";

struct Args {
    case: String,
    train: Option<String>,
    actions: Option<String>,
    speed: Option<f64>,
    play: bool,
    seek_s: Option<f64>,
    stage: Option<twin_sim::case::Stage>,
    screenshot: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut out = Args {
        case: String::new(),
        train: None,
        actions: None,
        speed: None,
        play: false,
        seek_s: None,
        stage: None,
        screenshot: None,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--play" => out.play = true,
            "--train" => out.train = Some(args.next().ok_or("--train needs a scenario id or file")?),
            "--actions" => out.actions = Some(args.next().ok_or("--actions needs a file")?),
            "--speed" => {
                let v = args.next().ok_or("--speed needs a number")?;
                out.speed = Some(v.parse().map_err(|_| format!("--speed {v:?} is not a number"))?);
            }
            "--seek" => {
                let v = args.next().ok_or("--seek needs a number of seconds")?;
                out.seek_s = Some(v.parse().map_err(|_| format!("--seek {v:?} is not a number of seconds"))?);
            }
            "--stage" => {
                use twin_sim::case::Stage;
                out.stage = Some(match args.next().as_deref() {
                    Some("pre-hospital") => Stage::PreHospital,
                    Some("diagnosis") => Stage::Diagnosis,
                    Some("surgery") => Stage::Surgery,
                    other => return Err(format!("--stage {other:?}: use pre-hospital, diagnosis or surgery")),
                });
            }
            "--screenshot" => out.screenshot = Some(args.next().ok_or("--screenshot needs a file name")?),
            _ if out.case.is_empty() && !a.starts_with("--") => out.case = a,
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if out.case.is_empty() == out.train.is_none() {
        return Err(USAGE.into());
    }
    Ok(out)
}

/// A built-in scenario by id, or a scenario file.
fn load_scenario(name: &str) -> Result<Scenario, String> {
    let text = match BUILT_IN.iter().find(|(id, _, _)| *id == name) {
        Some((_, text, _)) => (*text).to_owned(),
        None => std::fs::read_to_string(name).map_err(|e| {
            let ids: Vec<&str> = BUILT_IN.iter().map(|(id, _, _)| *id).collect();
            format!("{name} is not a built-in scenario ({}) and cannot be read as a file: {e}", ids.join(", "))
        })?,
    };
    parse_scenario(&text).map_err(|e| format!("{name}: {e}"))
}

/// The student's keys in a scenario: 1-9 take its allowed actions, each at the value its
/// model answer uses (or the middle of its allowed range).
#[derive(Resource)]
struct ActionKeys(Vec<TrainingAction>);

const DIGITS: [KeyCode; 9] = [
    KeyCode::Digit1,
    KeyCode::Digit2,
    KeyCode::Digit3,
    KeyCode::Digit4,
    KeyCode::Digit5,
    KeyCode::Digit6,
    KeyCode::Digit7,
    KeyCode::Digit8,
    KeyCode::Digit9,
];

/// Scripted actions still to send, earliest first.
#[derive(Resource)]
struct Script(Vec<Change>);

/// Sets up a training scenario in `app`; prints the keys.
fn train(app: &mut App, args: &Args, name: &str) -> Result<(), String> {
    let scenario = load_scenario(name)?;
    let script = match &args.actions {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            let mut changes = parse_actions(&text).map_err(|e| format!("{path}: {e}"))?;
            changes.sort_by(|a, b| a.at_min.total_cmp(&b.at_min));
            changes
        }
        None => Vec::new(),
    };
    open_scenario(app.world_mut(), &scenario).map_err(|e| format!("{name}: {e}"))?;
    println!("{}: {}", scenario.title, scenario.description);
    println!("keys: space play/pause, [ ] slower/faster");
    // Each key's value: what the scenario's model answer gives for that action (built-in
    // scenarios ship one), else the middle of the allowed range.
    let answer: Vec<Change> = BUILT_IN
        .iter()
        .find(|(id, _, _)| *id == scenario.id)
        .and_then(|(_, _, good)| parse_actions(good).ok())
        .unwrap_or_default();
    let keys: Vec<TrainingAction> = scenario
        .allowed
        .iter()
        .take(DIGITS.len())
        .map(|a| {
            let value = answer.iter().find(|c| c.kind == a.kind).map_or((a.min + a.max) / 2.0, |c| c.value);
            TrainingAction::new(a.kind, value)
        })
        .collect();
    for (i, a) in keys.iter().enumerate() {
        println!("  {}: {} {} {}", i + 1, a.kind.name(), a.value, a.kind.unit());
    }
    app.insert_resource(ActionKeys(keys))
        .insert_resource(Script(script))
        .add_systems(Update, (act_on_keys, send_script).in_set(twin_viewer::SyncSystems::Commands))
        .add_systems(Last, print_result);
    if let Some(speed) = args.speed {
        app.world_mut().write_message(TimelineCommand::SetSpeed(speed));
    }
    Ok(())
}

fn act_on_keys(input: Res<ButtonInput<KeyCode>>, keys: Res<ActionKeys>, mut out: MessageWriter<TrainingAction>) {
    for (key, action) in DIGITS.iter().zip(&keys.0) {
        if input.just_pressed(*key) {
            out.write(*action);
        }
    }
}

/// Sends each scripted action once the scenario clock has reached its time.
fn send_script(training: Option<Res<Training>>, mut script: ResMut<Script>, mut out: MessageWriter<TrainingAction>) {
    let Some(training) = training else { return };
    let now_min = training.session.time_s() / 60.0;
    while script.0.first().is_some_and(|c| c.at_min <= now_min) {
        let c = script.0.remove(0);
        out.write(match c.duration_min {
            Some(d) => TrainingAction::lasting(c.kind, c.value, d),
            None => TrainingAction::new(c.kind, c.value),
        });
    }
}

/// Prints what the student was told, then the score and the debrief once the scenario ends.
fn print_result(training: Option<Res<Training>>, result: Option<Res<TrainingResult>>, mut told: Local<usize>) {
    if let Some(training) = training
        && training.feedback.len() > *told
    {
        for f in &training.feedback[*told..] {
            println!("{}  {}", twin_sim::scenario::clock(f.at_s), f.text);
        }
        *told = training.feedback.len();
    }
    if let Some(result) = result
        && result.is_added()
    {
        println!("score {}\n{}", result.score_text(), result.debrief_text());
    }
}

/// Frames drawn before the screenshot (the first frames load shaders and fonts).
const SCREENSHOT_FRAME: u32 = 90;

#[derive(Resource)]
struct ScreenshotPlan {
    path: String,
    frame: u32,
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut app = App::new();
    app.add_plugins(ViewerPlugin { canvas: None });
    let opened = match &args.train {
        Some(name) => train(&mut app, &args, name),
        None => open_case_file(&mut app, &args),
    };
    if let Err(e) = opened {
        eprintln!("{e}");
        return std::process::ExitCode::FAILURE;
    }
    if args.play {
        app.world_mut().write_message(TimelineCommand::Play);
    }
    if let Some(path) = args.screenshot {
        app.insert_resource(ScreenshotPlan { path, frame: 0 }).add_systems(Update, take_screenshot);
    }
    app.run();
    std::process::ExitCode::SUCCESS
}

/// Opens the case file of `args` in `app`, at `--stage` and `--seek`.
fn open_case_file(app: &mut App, args: &Args) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.case).map_err(|e| format!("cannot read {}: {e}", args.case))?;
    let case = twin_sim::casefile::read_case(&args.case, &text).map_err(|e| e.to_string())?;
    open_case(app.world_mut(), case);
    let stage_start = match args.stage {
        Some(stage) => app
            .world()
            .resource::<twin_viewer::Timeline>()
            .stage_start_us(stage)
            .ok_or_else(|| format!("the case has no {stage:?} stage"))?,
        None => 0,
    };
    let offset = args.seek_s.map_or(0, |s| (s.max(0.0) * 1e6) as u64);
    app.world_mut().write_message(TimelineCommand::Seek(stage_start + offset));
    Ok(())
}

fn take_screenshot(mut commands: Commands, mut plan: ResMut<ScreenshotPlan>, mut exit: MessageWriter<AppExit>) {
    plan.frame += 1;
    if plan.frame == SCREENSHOT_FRAME {
        commands.spawn(Screenshot::primary_window()).observe(save_to_disk(plan.path.clone()));
    }
    // Saving happens on a later frame; leave time for it.
    if plan.frame == SCREENSHOT_FRAME + 30 {
        println!("saved {}", plan.path);
        exit.write(AppExit::Success);
    }
}
