//! The sync and timeline systems in a headless Bevy app (`MinimalPlugins`, a manual frame
//! time): what the clock, the sampled values and the timeline do frame by frame.

use std::time::Duration;

use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use twin_sim::case::{Case, Event, EventKind, Stage, StageData, Track};
use twin_sim::replay::snapshot;
use twin_viewer::{
    Monitor, MonitorPlugin, Playback, SimSyncPlugin, StreamsNow, Timeline, TimelineCommand, TimelinePlugin,
    Verification, check_case, open_case,
};

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
    let v = app.world().resource::<StreamsNow>();
    assert_eq!((v.stage, v.track("HR")), (Some(Stage::PreHospital), Some(100.0)));
    // Into surgery: 59 s on the axis is surgery's 0 s.
    send(&mut app, TimelineCommand::Seek(59_000_000 + 42_000_000));
    let v = app.world().resource::<StreamsNow>().clone();
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
    assert_eq!(app.world().resource::<StreamsNow>().stage, Some(Stage::Surgery));
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
fn a_stage_is_shown_whole_with_the_playhead_at_its_start() {
    let mut app = app();
    send(&mut app, TimelineCommand::ShowStage(Stage::Surgery));
    assert_eq!(position(&app), 59_000_000);
    assert_eq!(app.world().resource::<Timeline>().view(), (59_000_000, 178_000_000));
    assert_eq!(app.world().resource::<StreamsNow>().stage, Some(Stage::Surgery));
    send(&mut app, TimelineCommand::ShowStage(Stage::PreHospital));
    assert_eq!((position(&app), app.world().resource::<Timeline>().view()), (0, (0, 59_000_000)));
    send(&mut app, TimelineCommand::ShowStage(Stage::Diagnosis));
    assert_eq!(position(&app), 0, "a stage the case lacks changes nothing");
    assert_eq!(app.world().resource::<Timeline>().view(), (0, 59_000_000));
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

/// The surgical stage of MIMIC record 03700181 (ECG, ABP, RESP), from twin-sim's data.
fn surgical_case() -> Case {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/physionet/mimicdb-037");
    let read = |name: &str| std::fs::read(format!("{dir}/{name}")).expect("twin-sim's PhysioNet data");
    let header = twin_sim::parse_header("03700181.hea", &read("03700181.hea")).expect("header");
    let dat = read("03700181.dat");
    let record = twin_sim::decode_record(&header, |_| Some(dat.as_slice())).expect("decodes");
    Case { id: "03700181".into(), stages: vec![StageData::from_record(Stage::Surgery, &record).expect("stage")] }
}

fn monitor_app(case: Case) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, SimSyncPlugin, TimelinePlugin, MonitorPlugin))
        .insert_resource(TimeUpdateStrategy::ManualDuration(FRAME));
    open_case(app.world_mut(), case);
    app
}

#[test]
fn the_monitor_shows_the_record_at_the_playhead() {
    let case = surgical_case();
    let mut app = monitor_app(case.clone());
    send(&mut app, TimelineCommand::Seek(120_000_000));
    let m = app.world().resource::<Monitor>().clone();
    assert_eq!(m.stage, Some(Stage::Surgery));
    let names: Vec<&str> = m.traces.iter().map(|t| t.name.as_str()).collect();
    let expected: Vec<&str> = case.stages[0].waveforms.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, expected);
    for t in &m.traces {
        assert_eq!(t.columns.len(), twin_viewer::monitor::WAVE_COLUMNS);
        assert!(t.columns.iter().filter(|c| c.is_some()).count() > 500, "{} is mostly empty", t.name);
        assert_eq!(t.verified, None, "not checked yet");
    }
    // The numbers come from the record itself: the same frames the alarm rules read.
    let frames = twin_sim::alarms::frames(&case.stages[0]);
    let frame = frames.iter().rev().find(|f| f.t_ms <= 120_000).expect("a frame");
    let hr = m.numerics.iter().find(|n| n.label == "HR").unwrap();
    assert_eq!(hr.value, frame.hr.or(frame.pulse_rate));
    assert!(hr.value.is_some_and(|v| (30.0..200.0).contains(&v)), "{hr:?}");
    // This patient is hypotensive all along (MAP about 30 mmHg, a confirmed alarm), and
    // tachycardic from 13 s: the monitor shows both alarms and marks their numbers.
    let map = m.numerics.iter().find(|n| n.label == "MAP").unwrap();
    assert_eq!(map.value, frame.mean_pressure);
    assert!(map.alarming && hr.alarming, "{m:?}");
    let mut sounding: Vec<&str> = m.alarms.iter().map(|(k, _)| *k).collect();
    sounding.sort();
    assert_eq!(sounding, ["hypotension", "tachycardia"]);
    assert!(m.news2.is_some(), "NEWS2 from what is measured");
    assert_eq!(m.numerics.iter().find(|n| n.label == "SpO2").unwrap().text(), "--", "no SpO2 in this record");

    // Moving on moves the traces.
    send(&mut app, TimelineCommand::Seek(450_000_000));
    assert_ne!(app.world().resource::<Monitor>().traces, m.traces);
}

#[test]
fn segments_verify_against_the_anchors_and_a_changed_sample_is_flagged_where_it_is() {
    let case = surgical_case();
    let anchors = twin_sim::verify::anchors_for(&case).unwrap();
    let mut app = monitor_app(case.clone());
    check_case(app.world_mut(), &anchors).unwrap();
    send(&mut app, TimelineCommand::Seek(300_000_000));
    let v = app.world().resource::<Verification>().0.clone().expect("checked");
    assert!(v.all_verified(), "{}", v.summary());
    let m = app.world().resource::<Monitor>().clone();
    assert!(m.traces.iter().all(|t| t.verified == Some(true)) && m.integrity.is_empty(), "{m:?}");

    // The same case with one ABP sample changed at 5 min, checked against the same anchors.
    let mut tampered = case;
    let abp = tampered.stages[0].waveforms.iter_mut().find(|w| w.name.starts_with("ABP")).expect("ABP");
    let i = (300.0 * abp.rate_hz) as usize;
    abp.samples[i] = abp.samples[i].wrapping_add(40);
    let abp_name = abp.name.clone();
    let mut app = monitor_app(tampered);
    check_case(app.world_mut(), &anchors).unwrap();
    send(&mut app, TimelineCommand::Seek(300_001_000));
    let v = app.world().resource::<Verification>().0.clone().expect("checked");
    assert_eq!(v.problems().count(), 1, "{}", v.summary());
    let m = app.world().resource::<Monitor>().clone();
    for t in &m.traces {
        assert_eq!(t.verified, Some(t.name != abp_name), "{}", t.name);
    }
    assert_eq!(m.integrity.len(), 1);
    assert!(m.integrity[0].contains("TAMPERED") && m.integrity[0].contains(&abp_name), "{}", m.integrity[0]);
    // Far from the change, the monitor shows nothing wrong.
    send(&mut app, TimelineCommand::Seek(30_000_000));
    let m = app.world().resource::<Monitor>().clone();
    assert!(m.traces.iter().all(|t| t.verified == Some(true)) && m.integrity.is_empty(), "{m:?}");
}
