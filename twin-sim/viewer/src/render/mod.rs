//! The drawn viewer (feature `render`): Bevy's default plugins with a window (a canvas on
//! the web), the headless core (replay and training), and the patient scene, the monitor
//! and the timeline.

mod monitor_view;
mod scene;
mod timeline_ui;

use bevy::prelude::*;

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
            .add_plugins((scene::ScenePlugin, monitor_view::MonitorViewPlugin, timeline_ui::TimelineUiPlugin));
    }
}
