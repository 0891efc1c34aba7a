//! The drawn viewer (feature `drawn`): Bevy's default plugins with a window (a canvas on
//! the web), the headless core (replay and training), the patient scene and the keys
//! (space, arrows, + and -, [ and ], 1 2 3). The native viewer (feature `render`) draws the
//! monitor and the timeline with Bevy's gizmos and UI; a web page draws them with its own
//! Canvas 2D (`web_draw`), which keeps Bevy's UI, text and gizmos out of the web module.

#[cfg(feature = "render")]
mod monitor_view;
mod scene;
#[cfg(feature = "render")]
mod timeline_ui;

use bevy::prelude::*;
use twin_sim::case::Stage;

use crate::sync::Playback;
use crate::timeline::TimelineCommand;
use crate::{MonitorPlugin, SimSyncPlugin, TimelinePlugin, TrainingPlugin};

/// Everything the viewer draws, over the shared headless core.
pub struct ViewerPlugin {
    /// The page's canvas to draw into (`#id`), on the web; a window of its own elsewhere.
    pub canvas: Option<String>,
}

impl Plugin for ViewerPlugin {
    fn build(&self, app: &mut App) {
        let window = Window {
            title: "HealthChain twin viewer".into(),
            canvas: self.canvas.clone(),
            fit_canvas_to_parent: true,
            prevent_default_event_handling: false,
            ..default()
        };
        app.add_plugins(DefaultPlugins.set(WindowPlugin { primary_window: Some(window), ..default() }))
            .add_plugins((SimSyncPlugin, TimelinePlugin, MonitorPlugin, TrainingPlugin))
            .add_plugins(scene::ScenePlugin)
            .add_systems(Update, keys.in_set(crate::SyncSystems::Commands).before(crate::timeline::apply_commands));
        #[cfg(feature = "render")]
        app.add_plugins((monitor_view::MonitorViewPlugin, timeline_ui::TimelineUiPlugin));
    }
}

/// Space plays or pauses, the arrows jump between events, + and - zoom, [ and ] halve and
/// double the speed, 1 2 3 show a stage whole. A scenario has no case stages: there, 1-9
/// are the student's actions (`main.rs`).
fn keys(
    input: Res<ButtonInput<KeyCode>>,
    playback: Option<Res<Playback>>,
    training: Option<Res<crate::Training>>,
    mut out: MessageWriter<TimelineCommand>,
) {
    let speed = playback.map_or(1.0, |p| p.clock.speed());
    // A scenario has no case stages: there, 1-9 are the student's actions (`main.rs`).
    let stages = training.is_none();
    let map = [
        (KeyCode::Space, TimelineCommand::TogglePlay),
        (KeyCode::ArrowLeft, TimelineCommand::PreviousMarker),
        (KeyCode::ArrowRight, TimelineCommand::NextMarker),
        (KeyCode::Equal, TimelineCommand::Zoom(2.0)),
        (KeyCode::Minus, TimelineCommand::Zoom(0.5)),
        (KeyCode::BracketLeft, TimelineCommand::SetSpeed(speed / 2.0)),
        (KeyCode::BracketRight, TimelineCommand::SetSpeed(speed * 2.0)),
        (KeyCode::Digit1, TimelineCommand::ShowStage(Stage::PreHospital)),
        (KeyCode::Digit2, TimelineCommand::ShowStage(Stage::Diagnosis)),
        (KeyCode::Digit3, TimelineCommand::ShowStage(Stage::Surgery)),
    ];
    for (key, command) in map {
        if input.just_pressed(key) && (stages || !matches!(command, TimelineCommand::ShowStage(_))) {
            out.write(command);
        }
    }
}
