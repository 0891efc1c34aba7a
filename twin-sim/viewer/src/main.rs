//! The native twin viewer: opens a case file (as `twin-sim import` writes it) in a window.
//!
//! `twin-viewer <case.json> [--stage <name>] [--seek <seconds>] [--play] [--screenshot <file.png>]`
//! (`--seek` counts from the start of `--stage`, or of the case); with
//! `--screenshot` it draws a few frames, saves the window as a PNG and exits (how it is
//! checked under a virtual display).

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use twin_viewer::render::ViewerPlugin;
use twin_viewer::{TimelineCommand, open_case};

struct Args {
    case: String,
    play: bool,
    seek_s: Option<f64>,
    stage: Option<twin_sim::case::Stage>,
    screenshot: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut out = Args { case: String::new(), play: false, seek_s: None, stage: None, screenshot: None };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--play" => out.play = true,
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
    if out.case.is_empty() {
        return Err(
            "usage: twin-viewer <case.json> [--stage <name>] [--seek <seconds>] [--play] [--screenshot <file.png>]"
                .into(),
        );
    }
    Ok(out)
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
    let text = match std::fs::read_to_string(&args.case) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", args.case);
            return std::process::ExitCode::FAILURE;
        }
    };
    let case = match twin_sim::casefile::read_case(&args.case, &text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut app = App::new();
    app.add_plugins(ViewerPlugin { canvas: None });
    open_case(app.world_mut(), case);
    let stage_start = match args.stage {
        Some(stage) => match app.world().resource::<twin_viewer::Timeline>().stage_start_us(stage) {
            Some(t) => t,
            None => {
                eprintln!("the case has no {stage:?} stage");
                return std::process::ExitCode::FAILURE;
            }
        },
        None => 0,
    };
    let offset = args.seek_s.map_or(0, |s| (s.max(0.0) * 1e6) as u64);
    app.world_mut().write_message(TimelineCommand::Seek(stage_start + offset));
    if args.play {
        app.world_mut().write_message(TimelineCommand::Play);
    }
    if let Some(path) = args.screenshot {
        app.insert_resource(ScreenshotPlan { path, frame: 0 }).add_systems(Update, take_screenshot);
    }
    app.run();
    std::process::ExitCode::SUCCESS
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
