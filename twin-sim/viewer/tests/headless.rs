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
        assert_eq!(t.columns.len(), twin_viewer::monitor::Sweep::default().columns);
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
    let mut sounding: Vec<&str> = m.alarms.iter().map(|a| a.name()).collect();
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

#[test]
fn a_wave_sweeps_left_to_right_overwriting_the_last_sweep_behind_an_erase_bar() {
    use twin_sim::case::Waveform;
    use twin_viewer::Sweep;
    // A ramp: each sample's value is its own time in ms, so a column tells what time it shows.
    let rate = 250.0;
    let values: Vec<f64> = (0..250 * 60).map(|i| i as f64 * 1000.0 / rate).collect();
    let wave = Waveform::from_physical("II".into(), "ms".into(), rate, &values);
    let sweep = Sweep::for_width(400.0);
    // 25 mm/s at 96 px per inch: 94.5 px a second, so 400 px hold 4.2 s.
    assert_eq!(sweep.column_us, 10_583);
    assert!((sweep.window_s() - 4.233).abs() < 0.01, "{}", sweep.window_s());
    let now_us = 30_000_000;
    let (columns, cursor) = sweep.trace(&wave, now_us);
    assert_eq!(columns.len(), 400);
    let now_col = now_us / sweep.column_us;
    assert_eq!(cursor as u64, now_col % 400);
    // The write point shows now; left of it, the current sweep, a column earlier each step.
    let at = |i: usize| columns[i].map(|c| (c.min + c.max) / 2.0);
    let col_ms = sweep.column_us as f64 / 1000.0;
    assert!((at(cursor).unwrap() - 30_000.0).abs() <= col_ms, "{:?}", at(cursor));
    let behind = (cursor + 400 - 10) % 400;
    assert!((at(behind).unwrap() - (30_000.0 - 10.0 * col_ms)).abs() <= 1.5 * col_ms);
    // Just ahead of it, the erase bar is blank; past the bar, the last sweep (a window older).
    for k in 1..=sweep.erase_columns() {
        assert_eq!(columns[(cursor + k) % 400], None, "erase bar at +{k}");
    }
    let ahead = (cursor + sweep.erase_columns() + 1) % 400;
    let expected = 30_000.0 - (400.0 - (sweep.erase_columns() + 1) as f64) * col_ms;
    assert!((at(ahead).unwrap() - expected).abs() <= 1.5 * col_ms, "{:?} vs {expected}", at(ahead));
    // Before a full sweep has been written, the rest of the screen is empty.
    let (early, cursor) = sweep.trace(&wave, 1_000_000);
    assert!(early[cursor + 50..].iter().all(Option::is_none) && early[..cursor].iter().all(Option::is_some));
}

#[test]
fn the_screen_lays_out_one_row_per_wave_with_its_numeric_scale_and_the_alarm_banner() {
    use twin_sim::alarms::{AlarmLimits, Priority};
    use twin_viewer::screen::{Screen, WaveKind};
    let case = surgical_case();
    let mut app = monitor_app(case);
    send(&mut app, TimelineCommand::Seek(120_000_000));
    let m = app.world().resource::<Monitor>().clone();
    let screen = Screen::of(&m, &AlarmLimits::default());
    // MIMIC 03700181 records MCL1, ABP, RESP: ECG first, then the arterial line, then respiration.
    let rows: Vec<(&str, WaveKind)> = screen.channels.iter().map(|c| (c.label.as_str(), c.kind)).collect();
    assert_eq!(rows, [("MCL1", WaveKind::Ecg), ("ART", WaveKind::Arterial), ("RESP", WaveKind::Respiration)]);
    let ecg = &screen.channels[0];
    assert_eq!((ecg.scale, ecg.fixed_scale), ((-1.0, 2.0), true), "ECG at the monitor's fixed gain");
    let hr = ecg.tile.as_ref().expect("HR beside the ECG");
    assert_eq!((hr.label.as_str(), hr.unit.as_str(), hr.limits), ("HR", "/min", (Some(50.0), Some(120.0))));
    assert_eq!(hr.value, m.numerics.iter().find(|n| n.label == "HR").unwrap().text());
    let art = screen.channels[1].tile.as_ref().expect("ABP beside the arterial wave");
    assert!(art.label == "ABP" && art.value.contains('/') && art.value.contains('('), "{art:?}");
    assert!(art.alarming, "MAP about 30 mmHg is alarming: {art:?}");
    assert_eq!(screen.channels[2].tile.as_ref().map(|t| t.label.as_str()), Some("RR"));
    // Numerics without a wave (SpO2 here has none) stand in tiles of their own.
    assert!(screen.tiles.iter().all(|t| !["HR", "ABP", "RR"].contains(&t.label.as_str())), "{:?}", screen.tiles);
    // Tachycardia and hypotension are medium priority: yellow, flashing slowly, two asterisks.
    let names: Vec<&str> = screen.banners.iter().map(|b| b.text.as_str()).collect();
    assert_eq!(names, ["** TACHYCARDIA", "** HYPOTENSION"]);
    for b in &screen.banners {
        assert!(b.priority == Priority::Medium && (0.4..=0.8).contains(&b.flash_hz), "{b:?}");
        assert_eq!(b.background.css(), "#ffd400");
    }
    // IEC 60601-1-8: high priority red at 1.4-2.8 Hz, low priority cyan and steady.
    let (red, hz, stars) = twin_viewer::screen::priority_style(Priority::High);
    assert!(red.css() == "#e01010" && (1.4..=2.8).contains(&hz) && stars == "***");
    let (cyan, hz, _) = twin_viewer::screen::priority_style(Priority::Low);
    assert!(cyan.css() == "#00c8d8" && hz == 0.0);
    assert!(screen.banners.windows(2).all(|w| w[0].priority >= w[1].priority), "highest priority first");
    assert!(screen.news2.is_some());
}

#[test]
fn wave_kinds_are_read_from_the_names_wfdb_vitaldb_and_the_model_use() {
    use twin_viewer::screen::WaveKind as K;
    for (name, kind) in [
        ("II", K::Ecg),
        ("MLII", K::Ecg),
        ("V5", K::Ecg),
        ("ECG_II", K::Ecg),
        ("ABP", K::Arterial),
        ("ART", K::Arterial),
        ("PAP", K::Pulmonary),
        ("CVP", K::CentralVenous),
        ("PLETH", K::Pleth),
        ("CO2", K::Co2),
        ("RESP", K::Respiration),
        ("EEG", K::Other),
    ] {
        assert_eq!(K::of(name), kind, "{name}");
    }
}

fn trend_app(case: Case) -> App {
    let mut app = monitor_app(case);
    app.add_plugins(twin_viewer::TrendPlugin);
    app.update();
    app
}

#[test]
fn the_trend_view_stacks_every_stream_with_events_notes_and_failed_segments_and_follows_zoom_and_pan() {
    use twin_viewer::{Note, Notes, Trend};
    let mut app = trend_app(case());
    let trend = app.world().resource::<Trend>().clone();
    // The whole case: both stages, one lane for HR across them, all four events.
    assert_eq!(trend.view_us, (0, 178_000_000));
    assert_eq!(trend.stages.len(), 2);
    assert_eq!(trend.lanes.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["HR"]);
    let hr = &trend.lanes[0];
    assert_eq!(hr.columns.len(), 800);
    let first = hr.columns[0].unwrap();
    let last = hr.columns.iter().rev().flatten().next().unwrap();
    // (The surgery's last reading, 219 at 119 s, lies on the stage's end.)
    assert_eq!((first.min, last.max), (80.0, 218.0), "pre-hospital from 80, then surgery up to 218");
    let labels: Vec<&str> = trend.markers.iter().map(|m| m.label.as_str()).collect();
    assert_eq!(labels, ["arrival", "triage", "induction", "incision"]);
    assert!((trend.markers[2].fraction - 69.0 / 178.0).abs() < 1e-9);
    // A signed note appears at its stage time, with its author.
    app.world_mut().resource_mut::<Notes>().0.push(Note {
        stage: Stage::Surgery,
        at_ms: 30_000,
        author: "Dr Ada Surgeon".into(),
        text: "damped trace".into(),
        signed: "2026-12-07 10:00".into(),
    });
    app.update();
    let trend = app.world().resource::<Trend>().clone();
    assert_eq!(trend.notes.len(), 1);
    assert!((trend.notes[0].fraction - 89.0 / 178.0).abs() < 1e-9 && trend.notes[0].note.author == "Dr Ada Surgeon");
    // Zoom 4× around the middle, then pan a quarter view back: the lanes follow the view.
    send(&mut app, TimelineCommand::ZoomAt { factor: 4.0, fraction: 0.5 });
    assert_eq!(app.world().resource::<Timeline>().view(), (66_750_000, 111_250_000));
    send(&mut app, TimelineCommand::Pan(-0.25));
    let view = app.world().resource::<Timeline>().view();
    assert_eq!(view, (55_625_000, 100_125_000), "paused: the view stays where it was panned");
    let trend = app.world().resource::<Trend>().clone();
    assert_eq!(trend.view_us, view);
    assert_eq!(trend.markers.iter().map(|m| m.label.as_str()).collect::<Vec<_>>(), ["induction"]);
    // A click seeks to the time under it.
    send(&mut app, TimelineCommand::DragTo(0.5));
    assert_eq!(position(&app), 77_875_000);
    send(&mut app, TimelineCommand::Pan(-10.0));
    assert_eq!(app.world().resource::<Timeline>().view().0, 0, "panned no further than the start");
}

#[test]
fn a_tampered_segment_is_marked_on_its_lane_where_it_is() {
    let case = surgical_case();
    let anchors = twin_sim::verify::anchors_for(&case).unwrap();
    let mut tampered = case;
    let abp = tampered.stages[0].waveforms.iter_mut().find(|w| w.name.starts_with("ABP")).expect("ABP");
    let i = (330.0 * abp.rate_hz) as usize;
    abp.samples[i] = abp.samples[i].wrapping_add(40);
    let abp_name = abp.name.clone();
    let total_ms = tampered.stages[0].duration_ms() as f64;
    let mut app = trend_app(tampered);
    check_case(app.world_mut(), &anchors).unwrap();
    app.update();
    let trend = app.world().resource::<twin_viewer::Trend>().clone();
    let names: Vec<&str> = trend.lanes.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names.len(), 3, "every wave of the record has a lane: {names:?}");
    for lane in &trend.lanes {
        if lane.name == abp_name {
            assert_eq!(lane.failed.len(), 1, "{:?}", lane.failed);
            let (a, b) = lane.failed[0];
            assert!((a - 300_000.0 / total_ms).abs() < 1e-6 && (b - 360_000.0 / total_ms).abs() < 1e-6, "{a}..{b}");
        } else {
            assert!(lane.failed.is_empty(), "{}", lane.name);
        }
        assert!(lane.columns.iter().filter(|c| c.is_some()).count() > 700, "{} is drawn across the stay", lane.name);
    }
}
