//! Simulation sync: the loaded case, the replay clock that Bevy's frame time drives, and
//! the values of every stream at the clock's time (what the patient, the monitor and the
//! timeline draw), all from one time base so they stay in step.

use bevy::prelude::*;
use twin_sim::case::{Case, CaseError, Stage};
use twin_sim::replay::{Clock, Snapshot, snapshot};
use twin_sim::verify::{Anchor, verify_case};

use crate::monitor::{MonitorData, Verification};
use crate::timeline::Timeline;

/// The case being reviewed.
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct LoadedCase(pub Case);

/// The replay clock over the whole case (all stages end to end).
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct Playback {
    pub clock: Clock,
}

/// Every stream at the clock's time: the stage it falls in and that stage's snapshot.
#[derive(Resource, Debug, Clone, PartialEq, Default)]
pub struct StreamsNow {
    pub stage: Option<Stage>,
    pub snapshot: Option<Snapshot>,
}

impl StreamsNow {
    /// The latest value of a numeric track (for example `HR`), if the stage has one.
    pub fn track(&self, name: &str) -> Option<f32> {
        let s = self.snapshot.as_ref()?;
        s.tracks.iter().find(|(n, _)| n == name).and_then(|(_, v)| *v)
    }

    /// The current sample of a waveform, in its physical unit.
    pub fn wave(&self, name: &str) -> Option<f64> {
        let s = self.snapshot.as_ref()?;
        s.waveforms.iter().find(|(n, _, _)| n == name).and_then(|(_, _, v)| *v)
    }
}

/// The order of the per-frame work: commands, then the clock, then the values, then the
/// view following the playhead.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum SyncSystems {
    Commands,
    Advance,
    Sample,
    Follow,
}

/// Opens a case: the resources the sync, timeline and monitor plugins read. The case is
/// not yet checked against the ledger (see [`check_case`]).
pub fn open_case(world: &mut World, case: Case) {
    // A case replaces any training scenario that was open.
    world.remove_resource::<crate::Training>();
    world.remove_resource::<crate::TrainingResult>();
    let timeline = Timeline::for_case(&case);
    world.insert_resource(Playback { clock: Clock::new(timeline.total_us()) });
    world.insert_resource(timeline);
    world.insert_resource(MonitorData::for_case(&case));
    world.insert_resource(Verification(None));
    world.insert_resource(LoadedCase(case));
    world.insert_resource(StreamsNow::default());
}

/// Checks the open case's segments against the hashes anchored on the ledger.
pub fn check_case(world: &mut World, anchors: &[Anchor]) -> Result<(), CaseError> {
    let Some(case) = world.get_resource::<LoadedCase>() else { return Ok(()) };
    let checked = verify_case(&case.0, anchors)?;
    world.insert_resource(Verification(Some(checked)));
    Ok(())
}

/// Drives the replay clock with frame time and samples every stream each frame.
pub struct SimSyncPlugin;

impl Plugin for SimSyncPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<StreamsNow>()
            .configure_sets(
                Update,
                (SyncSystems::Commands, SyncSystems::Advance, SyncSystems::Sample, SyncSystems::Follow).chain(),
            )
            .add_systems(Update, advance_clock.in_set(SyncSystems::Advance))
            .add_systems(Update, sample_streams.in_set(SyncSystems::Sample));
    }
}

fn advance_clock(time: Res<Time>, playback: Option<ResMut<Playback>>) {
    if let Some(mut playback) = playback
        && playback.clock.is_playing()
    {
        playback.clock.advance(time.delta());
    }
}

pub fn sample_streams(
    case: Option<Res<LoadedCase>>,
    timeline: Option<Res<Timeline>>,
    playback: Option<Res<Playback>>,
    mut vitals: ResMut<StreamsNow>,
) {
    let (Some(case), Some(timeline), Some(playback)) = (case, timeline, playback) else { return };
    let Some((stage, local_us)) = timeline.locate(playback.clock.position_us()) else { return };
    let fresh = case.0.stage(stage).map(|data| snapshot(data, local_us));
    if vitals.stage != Some(stage) || vitals.snapshot != fresh {
        *vitals = StreamsNow { stage: Some(stage), snapshot: fresh };
    }
}
