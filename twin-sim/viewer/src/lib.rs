//! The digital twin viewer: Bevy plugins over the pure `twin-sim` crate, for surgeons
//! reviewing a case and students training on scenarios.
//!
//! This is the headless core every front end shares: `SimSyncPlugin` drives the replay
//! clock with frame time and samples every stream from one time base; `TimelinePlugin`
//! lays the stages end to end with their events as markers and applies play, pause,
//! seek, speed, jump and zoom commands; `MonitorPlugin` fills the bedside monitor (numerics,
//! waveform traces, active alarms, NEWS2, and which segments failed their ledger check);
//! `TrendPlugin` keeps the case at a glance (every stream over the timeline's view, events,
//! annotations, failed segments; `screen` lays out the monitor's rows for drawing);
//! `TrainingPlugin` plays a training scenario live on the physiology model instead, with
//! the student's actions sent as messages, the same clock, timeline and monitor, and the
//! score and debrief at the end. All run under `MinimalPlugins` (see the tests),
//! so they are checked without a window or a GPU.

pub mod monitor;
#[cfg(feature = "drawn")]
pub mod render;
pub mod screen;
pub mod sync;
pub mod timeline;
pub mod training;
pub mod trend;
#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub mod web;
#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub mod web_draw;
#[cfg(all(feature = "web", target_arch = "wasm32"))]
pub mod web_training;

pub use monitor::{Monitor, MonitorPlugin, Numeric, Sounding, Sweep, Trace, Verification, numerics};
pub use sync::{LoadedCase, Playback, SimSyncPlugin, StreamsNow, SyncSystems, check_case, open_case};
pub use timeline::{Marker, StageSpan, Timeline, TimelineCommand, TimelinePlugin};
pub use training::{Feedback, Training, TrainingAction, TrainingPlugin, TrainingResult, open_scenario};
pub use trend::{Note, Notes, Trend, TrendPlugin};
