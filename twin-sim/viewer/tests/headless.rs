//! The sync and timeline systems in a headless Bevy app (`MinimalPlugins`, a manual frame
//! time): what the clock, the sampled values and the timeline do frame by frame.

use std::time::Duration;

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use twin_sim::case::{Case, Event, EventKind, Stage, StageData, Track};
use twin_sim::replay::snapshot;
use twin_viewer::{Playback, SimSyncPlugin, Timeline, TimelineCommand, TimelinePlugin, Vitals, open_case};

const FRAME: Duration = Duration::from_millis(100);

fn track(name: &str, every_ms: u64, values: impl IntoIterator<Item = f32>) -> Track {
    let values: Vec<Option<f32>> = values.into_iter().map(Some).collect();
    Track {
        name: name.into(),
        unit: "/min".into(),
        times_ms: (0..values.len() as u64).map(|i| i * every_ms).collect(),
        values,
    }
}

fn event(time_ms: u64, kind: EventKind, label: &str) -> Event {
    Event { time_ms, kind, label: label.into(), code: None }
}

/// A pre-hospital stage of 60 s (HR 80 + i each second) and a surgery of 120 s (HR 100 + i).
fn case() -> Case {
    let mut pre = StageData::new(Stage::PreHospital);
    pre.tracks.push(track("HR", 1000, (0..60).map(|i| 80.0 + i as f32)));
    pre.events.push(event(0, EventKind::Arrival, "arrival"));
    pre.events.push(event(30_000, EventKind::Triage, "triage"));
    let mut surgery = StageData::new(Stage::Surgery);
    surgery.tracks.push(track("HR", 1000, (0..120).map(|i| 100.0 + i as f32)));
    surgery.events.push(event(10_000, EventKind::Induction, "induction"));
    surgery.events.push(event(90_000, EventKind::Incision, "incision"));
    Case { id: "test".into(), stages: vec![surgery, pre] }
}

fn app() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, SimSyncPlugin, TimelinePlugin))
        .insert_resource(TimeUpdateStrategy::ManualDuration(FRAME));
    open_case(app.world_mut(), case());
    app
}

fn send(app: &mut App, command: TimelineCommand) {
    app.world_mut().write_message(command);
    app.update();
}

fn position(app: &App) -> u64 {
    app.world().resource::<Playback>().clock.position_us()
}

fn elapsed(app: &App) -> Duration {
    app.world().resource::<Time>().elapsed()
}

#[test]
fn stages_lie_end_to_end_in_case_order_with_their_events() {
    let t = Timeline::for_case(&case());
    let spans: Vec<(Stage, u64, u64)> = t.spans().iter().map(|s| (s.stage, s.start_us, s.end_us)).collect();
    // 60 s of track at 1 Hz ends at 59 s; surgery's last sample is at 119 s.
    assert_eq!(spans, vec![(Stage::PreHospital, 0, 59_000_000), (Stage::Surgery, 59_000_000, 178_000_000)]);
    let at: Vec<(u64, EventKind)> = t.markers().iter().map(|m| (m.at_us, m.kind)).collect();
    assert_eq!(
        at,
        vec![
            (0, EventKind::Arrival),
            (30_000_000, EventKind::Triage),
            (69_000_000, EventKind::Induction),
            (149_000_000, EventKind::Incision)
        ]
    );
    assert_eq!(t.locate(69_000_000), Some((Stage::Surgery, 10_000_000)));
    assert_eq!(t.locate(10), Some((Stage::PreHospital, 10)));
    assert_eq!(t.locate(u64::MAX), Some((Stage::Surgery, 119_000_000)), "past the end holds the last stage's end");
}

#[test]
fn playing_advances_the_clock_by_frame_time_times_speed() {
    let mut app = app();
    app.update();
    assert_eq!(position(&app), 0, "paused: no time passes");
    send(&mut app, TimelineCommand::SetSpeed(4.0));
    send(&mut app, TimelineCommand::Play);
    let start_elapsed = elapsed(&app);
    let start = position(&app);
    for _ in 0..10 {
        app.update();
    }
    let wall = elapsed(&app) - start_elapsed;
    assert!(wall >= FRAME * 9, "frames passed: {wall:?}");
    assert_eq!(position(&app) - start, (wall.as_micros() as u64) * 4);

    send(&mut app, TimelineCommand::Pause);
    let paused_at = position(&app);
    for _ in 0..5 {
        app.update();
    }
    assert_eq!(position(&app), paused_at, "paused: the clock holds");
    send(&mut app, TimelineCommand::SetSpeed(1000.0));
    assert_eq!(app.world().resource::<Playback>().clock.speed(), 64.0, "speed is held to 64×");
}

#[test]
fn values_follow_the_clock_across_stages() {
    let mut app = app();
    send(&mut app, TimelineCommand::Seek(20_500_000));
    let v = app.world().resource::<Vitals>();
    assert_eq!((v.stage, v.track("HR")), (Some(Stage::PreHospital), Some(100.0)));
    // Into surgery: 59 s on the axis is surgery's 0 s.
    send(&mut app, TimelineCommand::Seek(59_000_000 + 42_000_000));
    let v = app.world().resource::<Vitals>().clone();
    assert_eq!((v.stage, v.track("HR")), (Some(Stage::Surgery), Some(142.0)));
    let c = case();
    let surgery = c.stage(Stage::Surgery).unwrap();
    assert_eq!(v.snapshot, Some(snapshot(surgery, 42_000_000)), "the same snapshot the replay core gives");
    assert_eq!(v.snapshot.as_ref().map(|s| s.events_so_far), Some(1), "induction has happened, incision not yet");
}

#[test]
fn markers_drags_and_zoom_move_the_playhead_and_the_view() {
    let mut app = app();
    send(&mut app, TimelineCommand::JumpToMarker(2));
    assert_eq!(position(&app), 69_000_000);
    assert_eq!(app.world().resource::<Vitals>().stage, Some(Stage::Surgery));
    send(&mut app, TimelineCommand::NextMarker);
    assert_eq!(position(&app), 149_000_000);
    send(&mut app, TimelineCommand::NextMarker);
    assert_eq!(position(&app), 149_000_000, "no marker after the last");
    send(&mut app, TimelineCommand::PreviousMarker);
    assert_eq!(position(&app), 69_000_000);
    send(&mut app, TimelineCommand::JumpToMarker(99));
    assert_eq!(position(&app), 69_000_000, "an unknown marker changes nothing");

    // Whole case in view: a drag to the middle seeks to the middle.
    send(&mut app, TimelineCommand::DragTo(0.5));
    assert_eq!(position(&app), 89_000_000);
    // Zoom in 4× around the playhead: it keeps its place on screen.
    let before = app.world().resource::<Timeline>().fraction_of(position(&app));
    send(&mut app, TimelineCommand::Zoom(4.0));
    let t = app.world().resource::<Timeline>().clone();
    let (start, end) = t.view();
    assert_eq!(end - start, 178_000_000 / 4);
    assert!((t.fraction_of(position(&app)) - before).abs() < 1e-6);
    // Zooming far in stops at one second; far out, at the whole case.
    send(&mut app, TimelineCommand::Zoom(1e9));
    let (start, end) = app.world().resource::<Timeline>().view();
    assert_eq!(end - start, 1_000_000);
    assert!((start..end).contains(&position(&app)));
    send(&mut app, TimelineCommand::Zoom(1e-9));
    assert_eq!(app.world().resource::<Timeline>().view(), (0, 178_000_000));
    send(&mut app, TimelineCommand::Zoom(f64::NAN));
    assert_eq!(app.world().resource::<Timeline>().view(), (0, 178_000_000), "a meaningless zoom is ignored");
}

#[test]
fn the_view_pages_along_with_the_playhead() {
    let mut app = app();
    send(&mut app, TimelineCommand::Zoom(100.0));
    let (_, end) = app.world().resource::<Timeline>().view();
    send(&mut app, TimelineCommand::SetSpeed(64.0));
    send(&mut app, TimelineCommand::Play);
    // Play until the playhead has passed the first view's right edge.
    for _ in 0..100 {
        app.update();
        if position(&app) > end {
            break;
        }
    }
    let p = position(&app);
    assert!(p > end, "the clock should have passed {end}: {p}");
    let (s, e) = app.world().resource::<Timeline>().view();
    assert!((s..e).contains(&p), "view {s}..{e} should hold the playhead {p}");
}

#[test]
fn playback_stops_at_the_end_and_play_restarts_from_the_beginning() {
    let mut app = app();
    send(&mut app, TimelineCommand::Seek(177_950_000));
    send(&mut app, TimelineCommand::Play);
    for _ in 0..5 {
        app.update();
    }
    let clock = app.world().resource::<Playback>().clock.clone();
    assert_eq!((clock.position_us(), clock.is_playing()), (178_000_000, false));
    send(&mut app, TimelineCommand::TogglePlay);
    assert!(app.world().resource::<Playback>().clock.is_playing());
    assert!(position(&app) < 1_000_000, "play at the end starts again at 0: {}", position(&app));
}
