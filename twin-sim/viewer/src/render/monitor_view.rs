//! The bedside monitor drawn: a screen beside the bed with the scrolling traces (gizmo
//! line strips of each column's min and max, so QRS spikes survive decimation), and a
//! panel of numerics with units, sounding alarms, NEWS2 and the ledger check (in training,
//! the last action's outcome and, at the end, the score instead), in red where something
//! is wrong.

use bevy::prelude::*;
use twin_sim::alarms::News2Risk;

use crate::monitor::{Monitor, Verification};
use crate::training::{Training, TrainingResult};

/// Where the monitor's screen is, and its size (world units).
const SCREEN_CENTRE: Vec3 = Vec3::new(1.85, 1.3, -0.35);
const SCREEN_SIZE: Vec2 = Vec2::new(1.3, 1.0);

#[derive(Component)]
struct PanelLine(usize);

const LINES: usize = 12;

pub struct MonitorViewPlugin;

impl Plugin for MonitorViewPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, setup)
            .add_systems(Update, (draw_traces, write_panel).after(crate::SyncSystems::Sample));
    }
}

fn setup(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<StandardMaterial>>) {
    commands.spawn((
        Mesh3d(meshes.add(Cuboid::new(SCREEN_SIZE.x + 0.1, SCREEN_SIZE.y + 0.1, 0.06))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::srgb(0.02, 0.03, 0.04),
            unlit: true,
            ..default()
        })),
        Transform::from_translation(SCREEN_CENTRE - Vec3::Z * 0.04),
    ));
    commands
        .spawn((
            Node {
                position_type: PositionType::Absolute,
                left: Val::Px(12.0),
                top: Val::Px(12.0),
                flex_direction: FlexDirection::Column,
                padding: UiRect::all(Val::Px(8.0)),
                row_gap: Val::Px(2.0),
                ..default()
            },
            BackgroundColor(Color::srgba(0.0, 0.0, 0.0, 0.7)),
        ))
        .with_children(|panel| {
            for i in 0..LINES {
                panel.spawn((
                    PanelLine(i),
                    Text::new(""),
                    TextFont::from_font_size(if i < 6 { 20.0 } else { 14.0 }),
                    TextColor(Color::srgb(0.3, 1.0, 0.4)),
                ));
            }
        });
}

fn trace_colour(name: &str) -> Color {
    let n = name.to_ascii_uppercase();
    if n.starts_with("ABP") || n.starts_with("ART") {
        Color::srgb(1.0, 0.3, 0.3)
    } else if n.starts_with("RESP") {
        Color::srgb(1.0, 0.9, 0.3)
    } else if n.starts_with("PLETH") {
        Color::srgb(0.3, 0.9, 1.0)
    } else {
        Color::srgb(0.3, 1.0, 0.4)
    }
}

fn draw_traces(monitor: Res<Monitor>, mut gizmos: Gizmos) {
    let shown = monitor.traces.iter().take(4).collect::<Vec<_>>();
    if shown.is_empty() {
        return;
    }
    let row_h = SCREEN_SIZE.y / shown.len() as f32;
    let left = SCREEN_CENTRE.x - SCREEN_SIZE.x / 2.0;
    for (row, trace) in shown.iter().enumerate() {
        let top = SCREEN_CENTRE.y + SCREEN_SIZE.y / 2.0 - row as f32 * row_h;
        let (lo, hi) = trace
            .columns
            .iter()
            .flatten()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| (lo.min(c.min), hi.max(c.max)));
        let span = if hi > lo { hi - lo } else { 1.0 };
        let y = |v: f64| top - row_h * 0.1 - row_h * 0.8 * ((hi - v) / span) as f32;
        // A trace whose data failed the ledger check is drawn in red.
        let colour = if trace.verified == Some(false) { Color::srgb(1.0, 0.0, 0.0) } else { trace_colour(&trace.name) };
        let n = trace.columns.len().max(1) as f32;
        let mut run: Vec<Vec3> = Vec::new();
        for (i, c) in trace.columns.iter().enumerate() {
            let x = left + SCREEN_SIZE.x * i as f32 / n;
            match c {
                Some(c) => {
                    run.push(Vec3::new(x, y(c.min), SCREEN_CENTRE.z));
                    run.push(Vec3::new(x, y(c.max), SCREEN_CENTRE.z));
                }
                None if !run.is_empty() => gizmos.linestrip(std::mem::take(&mut run), colour),
                None => {}
            }
        }
        if !run.is_empty() {
            gizmos.linestrip(run, colour);
        }
    }
}

fn write_panel(
    monitor: Res<Monitor>,
    verification: Res<Verification>,
    training: Option<Res<Training>>,
    result: Option<Res<TrainingResult>>,
    mut lines: Query<(&PanelLine, &mut Text, &mut TextColor)>,
) {
    let training_changed = training.as_ref().is_some_and(|t| t.is_changed()) || result.is_some();
    if !monitor.is_changed() && !verification.is_changed() && !training_changed {
        return;
    }
    let ok = Color::srgb(0.3, 1.0, 0.4);
    let bad = Color::srgb(1.0, 0.25, 0.25);
    let mut content: Vec<(String, Color)> = monitor
        .numerics
        .iter()
        .map(|n| (format!("{:<8}{:>5} {}", n.label, n.text(), n.unit), if n.alarming { bad } else { ok }))
        .collect();
    content.push(match monitor.alarms.as_slice() {
        [] => ("no alarm".into(), ok),
        alarms => (format!("ALARM: {}", alarms.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")), bad),
    });
    content.push(match &monitor.news2 {
        // Never a bare band from a partial score: the summary names what is missing.
        Some(s) => (s.summary(), if s.risk >= News2Risk::Medium { bad } else { ok }),
        None => ("NEWS2 not scored".into(), ok),
    });
    if let Some(training) = &training {
        // A scenario on the model: nothing to check against the ledger; what the student
        // did last, and the score once it is over.
        content.push(match training.feedback.last() {
            Some(f) => (f.text.clone(), if f.accepted { ok } else { bad }),
            None => (training.session.scenario().title.clone(), ok),
        });
        content.push(match &result {
            Some(r) => (format!("score {:.1} / {:.1}", r.report.score.total, r.report.score.max), ok),
            None => (String::new(), ok),
        });
    } else {
        content.push(match &verification.0 {
            Some(v) if v.all_verified() => (v.summary(), ok),
            Some(v) => (v.summary(), bad),
            None => ("not checked against the ledger".into(), Color::srgb(1.0, 0.8, 0.2)),
        });
        content.push(match monitor.integrity.first() {
            Some(problem) => (problem.clone(), bad),
            None => (String::new(), ok),
        });
    }
    for (line, mut text, mut colour) in &mut lines {
        let (s, c) = content.get(line.0).cloned().unwrap_or_default();
        if text.0 != s {
            text.0 = s;
        }
        if colour.0 != c {
            colour.0 = c;
        }
    }
}
