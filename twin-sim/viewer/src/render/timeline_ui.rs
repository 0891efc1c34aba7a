//! The timeline drawn at the bottom: the stages as coloured spans, event markers to click,
//! the playhead, a bar to drag, and buttons (previous/next event, play/pause, slower/faster,
//! zoom, a stage shown whole), in the native viewer (the web page draws its own, `web_draw`).
//! Everything becomes a `TimelineCommand`, the same messages the headless tests send. A
//! training scenario has no stages: their buttons are gone while one plays.

use bevy::prelude::*;
use bevy::ui::RelativeCursorPosition;
use twin_sim::case::Stage;

use crate::sync::Playback;
use crate::timeline::{Timeline, TimelineCommand};

#[derive(Component)]
struct Bar;
#[derive(Component)]
struct BarContent;
#[derive(Component)]
struct MarkerButton(usize);
#[derive(Component)]
struct Playhead;
#[derive(Component)]
struct Status;
#[derive(Component, Clone, Copy)]
enum Control {
    Previous,
    PlayPause,
    Next,
    Slower,
    Faster,
    ZoomOut,
    ZoomIn,
    Stage(Stage),
}

pub struct TimelineUiPlugin;

impl Plugin for TimelineUiPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, setup).add_systems(
            Update,
            (
                (buttons, drag).in_set(crate::SyncSystems::Commands).before(crate::timeline::apply_commands),
                (redraw_bar, move_playhead, status, stage_buttons).after(crate::SyncSystems::Follow),
            ),
        );
    }
}

fn stage_colour(stage: Stage) -> Color {
    match stage {
        Stage::PreHospital => Color::srgb(0.85, 0.55, 0.15),
        Stage::Diagnosis => Color::srgb(0.25, 0.55, 0.85),
        Stage::Surgery => Color::srgb(0.20, 0.65, 0.45),
    }
}

fn setup(mut commands: Commands) {
    commands
        .spawn((
            Node {
                position_type: PositionType::Absolute,
                left: Val::Px(12.0),
                right: Val::Px(12.0),
                bottom: Val::Px(10.0),
                flex_direction: FlexDirection::Column,
                row_gap: Val::Px(6.0),
                padding: UiRect::all(Val::Px(8.0)),
                ..default()
            },
            BackgroundColor(Color::srgba(0.0, 0.0, 0.0, 0.7)),
        ))
        .with_children(|panel| {
            panel
                .spawn(Node { flex_direction: FlexDirection::Row, column_gap: Val::Px(6.0), ..default() })
                .with_children(|row| {
                    for (control, label) in [
                        (Control::Previous, "|< event"),
                        (Control::PlayPause, "play / pause"),
                        (Control::Next, "event >|"),
                        (Control::Slower, "slower"),
                        (Control::Faster, "faster"),
                        (Control::ZoomOut, "zoom -"),
                        (Control::ZoomIn, "zoom +"),
                        (Control::Stage(Stage::PreHospital), "1 pre-hospital"),
                        (Control::Stage(Stage::Diagnosis), "2 diagnosis"),
                        (Control::Stage(Stage::Surgery), "3 surgery"),
                    ] {
                        row.spawn((
                            control,
                            Button,
                            Node { padding: UiRect::axes(Val::Px(10.0), Val::Px(4.0)), ..default() },
                            BackgroundColor(Color::srgb(0.2, 0.25, 0.3)),
                        ))
                        .with_child((Text::new(label), TextFont::from_font_size(14.0)));
                    }
                    row.spawn((Status, Text::new(""), TextFont::from_font_size(14.0)));
                });
            panel
                .spawn((
                    Bar,
                    Button,
                    RelativeCursorPosition::default(),
                    Node { width: Val::Percent(100.0), height: Val::Px(26.0), ..default() },
                    BackgroundColor(Color::srgb(0.15, 0.15, 0.18)),
                ))
                .with_children(|bar| {
                    bar.spawn((
                        BarContent,
                        Node {
                            position_type: PositionType::Absolute,
                            width: Val::Percent(100.0),
                            height: Val::Percent(100.0),
                            ..default()
                        },
                    ));
                    bar.spawn((
                        Playhead,
                        Node {
                            position_type: PositionType::Absolute,
                            width: Val::Px(2.0),
                            height: Val::Percent(100.0),
                            ..default()
                        },
                        BackgroundColor(Color::WHITE),
                        ZIndex(2),
                    ));
                });
        });
}

fn buttons(
    pressed: Query<(&Interaction, &Control), Changed<Interaction>>,
    playback: Option<Res<Playback>>,
    mut out: MessageWriter<TimelineCommand>,
) {
    let speed = playback.map_or(1.0, |p| p.clock.speed());
    for (interaction, control) in &pressed {
        if *interaction != Interaction::Pressed {
            continue;
        }
        out.write(match control {
            Control::Previous => TimelineCommand::PreviousMarker,
            Control::PlayPause => TimelineCommand::TogglePlay,
            Control::Next => TimelineCommand::NextMarker,
            Control::Slower => TimelineCommand::SetSpeed(speed / 2.0),
            Control::Faster => TimelineCommand::SetSpeed(speed * 2.0),
            Control::ZoomOut => TimelineCommand::Zoom(0.5),
            Control::ZoomIn => TimelineCommand::Zoom(2.0),
            Control::Stage(stage) => TimelineCommand::ShowStage(*stage),
        });
    }
}

/// The case's stage buttons, hidden while a training scenario plays (it has no stages).
fn stage_buttons(training: Option<Res<crate::Training>>, mut buttons: Query<(&Control, &mut Node)>) {
    let display = if training.is_some() { Display::None } else { Display::Flex };
    for (control, mut node) in &mut buttons {
        if matches!(control, Control::Stage(_)) && node.display != display {
            node.display = display;
        }
    }
}

/// Pressing or dragging on the bar seeks to that point of the visible window.
fn drag(bar: Query<(&Interaction, &RelativeCursorPosition), With<Bar>>, mut out: MessageWriter<TimelineCommand>) {
    for (interaction, cursor) in &bar {
        if *interaction == Interaction::Pressed
            && let Some(p) = cursor.normalized
        {
            out.write(TimelineCommand::DragTo(f64::from(p.x + 0.5)));
        }
    }
}

/// Stage spans and event markers inside the visible window, redrawn when the view changes.
fn redraw_bar(mut commands: Commands, timeline: Option<Res<Timeline>>, content: Query<Entity, With<BarContent>>) {
    let Some(timeline) = timeline else { return };
    if !timeline.is_changed() {
        return;
    }
    let Ok(content) = content.single() else { return };
    commands.entity(content).despawn_related::<Children>();
    let pct = |t: u64| (timeline.fraction_of(t).clamp(0.0, 1.0) * 100.0) as f32;
    commands.entity(content).with_children(|c| {
        for span in timeline.spans() {
            let (l, r) = (pct(span.start_us), pct(span.end_us));
            if r > l {
                c.spawn((
                    Node {
                        position_type: PositionType::Absolute,
                        left: Val::Percent(l),
                        width: Val::Percent(r - l),
                        height: Val::Percent(100.0),
                        ..default()
                    },
                    BackgroundColor(stage_colour(span.stage).with_alpha(0.6)),
                ));
            }
        }
        let (start, end) = timeline.view();
        for (i, m) in timeline.markers().iter().enumerate().filter(|(_, m)| (start..end).contains(&m.at_us)) {
            c.spawn((
                MarkerButton(i),
                Button,
                Node {
                    position_type: PositionType::Absolute,
                    left: Val::Percent(pct(m.at_us)),
                    width: Val::Px(4.0),
                    height: Val::Percent(100.0),
                    ..default()
                },
                BackgroundColor(Color::srgb(1.0, 0.95, 0.6)),
                ZIndex(1),
            ));
        }
    });
}

fn move_playhead(
    timeline: Option<Res<Timeline>>,
    playback: Option<Res<Playback>>,
    markers: Query<(&Interaction, &MarkerButton), Changed<Interaction>>,
    mut head: Query<&mut Node, With<Playhead>>,
    mut out: MessageWriter<TimelineCommand>,
) {
    for (interaction, marker) in &markers {
        if *interaction == Interaction::Pressed {
            out.write(TimelineCommand::JumpToMarker(marker.0));
        }
    }
    let (Some(timeline), Some(playback)) = (timeline, playback) else { return };
    let f = timeline.fraction_of(playback.clock.position_us()).clamp(0.0, 1.0) as f32;
    for mut node in &mut head {
        let want = Val::Percent(f * 100.0);
        if node.left != want {
            node.left = want;
        }
    }
}

fn status(timeline: Option<Res<Timeline>>, playback: Option<Res<Playback>>, mut text: Query<&mut Text, With<Status>>) {
    let (Some(timeline), Some(playback)) = (timeline, playback) else { return };
    let t = playback.clock.position_us();
    let Some((stage, local_us)) = timeline.locate(t) else { return };
    let stage = match stage {
        Stage::PreHospital => "pre-hospital",
        Stage::Diagnosis => "diagnosis",
        Stage::Surgery => "surgery",
    };
    // Time into the stage (stages can be minutes or years long).
    let s = local_us / 1_000_000;
    let next = timeline.next_marker(t).map(|i| timeline.markers()[i].label.clone()).unwrap_or_default();
    let line = format!(
        "{stage}  {}:{:02}:{:02}  {}x  {}  next: {next}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        playback.clock.speed(),
        if playback.clock.is_playing() { "playing" } else { "paused" }
    );
    for mut text in &mut text {
        if text.0 != line {
            text.0 = line.clone();
        }
    }
}
