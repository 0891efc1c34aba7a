//! The 3D patient and the room: a proportioned human figure of procedural meshes (head,
//! neck, torso, pelvis, arms, legs) lying on a bed; the heart beats at the heart
//! rate, the chest rises with respiration, skin and lips tint with oxygen saturation, blood
//! pools as blood loss is recorded, and the room changes with the stage (ambulance bay,
//! ward, operating table).

use std::f32::consts::{FRAC_PI_2, TAU};

use bevy::prelude::*;
use twin_sim::case::{EventKind, Stage};

use crate::monitor::Monitor;
use crate::sync::{LoadedCase, Playback, StreamsNow};
use crate::timeline::Timeline;

#[derive(Component)]
struct Heart;
/// The chest, with its resting scale (breathing widens it from there).
#[derive(Component)]
struct Chest(Vec3);
#[derive(Component)]
struct BloodPool;
/// Scenery shown only during one stage.
#[derive(Component)]
struct StageProp(Stage);

#[derive(Resource)]
struct Tints {
    skin: Handle<StandardMaterial>,
    lips: Handle<StandardMaterial>,
}

pub struct ScenePlugin;

impl Plugin for ScenePlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(ClearColor(Color::srgb(0.09, 0.11, 0.14)))
            .add_systems(Startup, setup)
            .add_systems(Update, (beat_and_breathe, tint, bleed, stage_props).after(crate::SyncSystems::Sample));
    }
}

fn setup(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<StandardMaterial>>) {
    commands.spawn((
        Camera3d::default(),
        // Plain colours: tonemapping lookup tables would add a texture format to the build.
        bevy::core_pipeline::tonemapping::Tonemapping::None,
        Transform::from_xyz(0.35, 2.1, 3.0).looking_at(Vec3::new(0.35, 0.7, 0.0), Vec3::Y),
    ));
    commands
        .spawn((PointLight { intensity: 2_500_000.0, range: 20.0, ..default() }, Transform::from_xyz(1.0, 4.0, 3.0)));
    commands.insert_resource(GlobalAmbientLight { brightness: 400.0, ..default() });

    let mut mat = |c: Color| materials.add(StandardMaterial { base_color: c, perceptual_roughness: 0.8, ..default() });
    let skin = mat(Color::srgb(0.93, 0.74, 0.66));
    let lips = mat(Color::srgb(0.80, 0.35, 0.38));
    let gown = mat(Color::srgb(0.55, 0.70, 0.85));
    let heart = mat(Color::srgb(0.85, 0.08, 0.12));
    let blood = mat(Color::srgb(0.45, 0.02, 0.04));
    let steel = mat(Color::srgb(0.6, 0.62, 0.65));
    let sheet = mat(Color::srgb(0.92, 0.93, 0.95));
    let pillow = mat(Color::srgb(0.97, 0.97, 0.98));
    let drape = mat(Color::srgb(0.15, 0.45, 0.40));
    let orange = mat(Color::srgb(0.95, 0.55, 0.10));
    let wall = mat(Color::srgb(0.75, 0.78, 0.74));
    commands.insert_resource(Tints { skin: skin.clone(), lips: lips.clone() });

    // Bed and patient, lying along x, head at -x.
    commands.spawn((
        Mesh3d(meshes.add(Cuboid::new(2.1, 0.12, 0.9))),
        MeshMaterial3d(sheet),
        Transform::from_xyz(0.0, 0.40, 0.0),
    ));
    commands.spawn((
        Mesh3d(meshes.add(Cuboid::new(2.0, 0.34, 0.8))),
        MeshMaterial3d(steel.clone()),
        Transform::from_xyz(0.0, 0.17, 0.0),
    ));
    // A supine adult of about 1.8 m, head on a pillow at -x, face up: gown over torso and
    // pelvis, skin on head, neck, arms and legs (all of it tints with saturation).
    let capsule = |meshes: &mut Assets<Mesh>, r: f32, len: f32| meshes.add(Capsule3d::new(r, len));
    let along_x = Quat::from_rotation_z(FRAC_PI_2);
    let top = 0.46; // the mattress
    commands.spawn((
        Mesh3d(meshes.add(Cuboid::new(0.34, 0.08, 0.5))),
        MeshMaterial3d(pillow),
        Transform::from_xyz(-0.84, top + 0.04, 0.0),
    ));
    commands.spawn((
        Mesh3d(meshes.add(Sphere::new(0.11))),
        MeshMaterial3d(skin.clone()),
        Transform::from_xyz(-0.84, top + 0.19, 0.0).with_scale(Vec3::new(1.15, 1.0, 0.9)),
    ));
    commands.spawn((
        Mesh3d(meshes.add(Sphere::new(0.022))),
        MeshMaterial3d(skin.clone()),
        Transform::from_xyz(-0.82, top + 0.30, 0.0),
    ));
    commands.spawn((
        Mesh3d(meshes.add(Cuboid::new(0.022, 0.012, 0.055))),
        MeshMaterial3d(lips),
        Transform::from_xyz(-0.76, top + 0.28, 0.0),
    ));
    commands.spawn((
        Mesh3d(meshes.add(Cylinder::new(0.05, 0.12))),
        MeshMaterial3d(skin.clone()),
        Transform::from_xyz(-0.69, top + 0.14, 0.0).with_rotation(along_x),
    ));
    let chest = Vec3::new(1.0, 1.0, 1.25);
    commands.spawn((
        Chest(chest),
        Mesh3d(capsule(&mut meshes, 0.16, 0.24)),
        MeshMaterial3d(gown.clone()),
        Transform::from_xyz(-0.42, top + 0.16, 0.0).with_rotation(along_x).with_scale(chest),
    ));
    commands.spawn((
        Mesh3d(capsule(&mut meshes, 0.14, 0.12)),
        MeshMaterial3d(gown),
        Transform::from_xyz(-0.05, top + 0.14, 0.0).with_rotation(along_x).with_scale(Vec3::new(1.0, 1.0, 1.3)),
    ));
    for side in [-1.0f32, 1.0] {
        // Upper arm, forearm and hand at the side; thigh, shin and foot (toes up).
        for (x, r, len, z) in
            [(-0.45, 0.045, 0.22, 0.27), (-0.16, 0.04, 0.22, 0.28), (0.34, 0.075, 0.32, 0.1), (0.72, 0.055, 0.3, 0.1)]
        {
            commands.spawn((
                Mesh3d(capsule(&mut meshes, r, len)),
                MeshMaterial3d(skin.clone()),
                Transform::from_xyz(x, top + r, side * z).with_rotation(along_x),
            ));
        }
        commands.spawn((
            Mesh3d(meshes.add(Sphere::new(0.05))),
            MeshMaterial3d(skin.clone()),
            Transform::from_xyz(0.04, top + 0.04, side * 0.28).with_scale(Vec3::new(1.4, 0.6, 1.0)),
        ));
        commands.spawn((
            Mesh3d(meshes.add(Cuboid::new(0.06, 0.16, 0.08))),
            MeshMaterial3d(skin.clone()),
            Transform::from_xyz(0.92, top + 0.08, side * 0.1),
        ));
    }
    commands.spawn((
        Heart,
        Mesh3d(meshes.add(Sphere::new(0.06))),
        MeshMaterial3d(heart),
        Transform::from_xyz(-0.45, top + 0.33, 0.05),
    ));
    commands.spawn((
        BloodPool,
        Mesh3d(meshes.add(Cylinder::new(0.3, 0.01))),
        MeshMaterial3d(blood),
        Transform::from_xyz(0.1, 0.47, 0.32).with_scale(Vec3::splat(0.0)),
    ));

    // The room of each stage.
    let prop = |stage| (StageProp(stage), Visibility::Hidden);
    commands.spawn((
        prop(Stage::PreHospital),
        Mesh3d(meshes.add(Cuboid::new(3.2, 0.12, 0.05))),
        MeshMaterial3d(orange),
        Transform::from_xyz(0.0, 1.4, -1.2),
    ));
    commands.spawn((
        prop(Stage::PreHospital),
        Mesh3d(meshes.add(Cuboid::new(3.4, 2.0, 0.05))),
        MeshMaterial3d(mat(Color::srgb(0.9, 0.9, 0.92))),
        Transform::from_xyz(0.0, 1.0, -1.3),
    ));
    commands.spawn((
        prop(Stage::Diagnosis),
        Mesh3d(meshes.add(Cuboid::new(3.4, 2.4, 0.05))),
        MeshMaterial3d(wall),
        Transform::from_xyz(0.0, 1.2, -1.3),
    ));
    commands.spawn((
        prop(Stage::Diagnosis),
        Mesh3d(meshes.add(Cuboid::new(0.4, 0.6, 0.4))),
        MeshMaterial3d(steel.clone()),
        Transform::from_xyz(-1.4, 0.3, -0.8),
    ));
    commands.spawn((
        prop(Stage::Surgery),
        Mesh3d(meshes.add(Cuboid::new(0.9, 0.04, 0.85))),
        MeshMaterial3d(drape),
        Transform::from_xyz(0.55, 0.66, 0.0),
    ));
    commands.spawn((
        prop(Stage::Surgery),
        Mesh3d(meshes.add(Cylinder::new(0.35, 0.08))),
        MeshMaterial3d(steel),
        Transform::from_xyz(0.0, 2.4, 0.0),
    ));
}

/// Heart and chest follow case time, so a paused replay holds still.
fn beat_and_breathe(
    playback: Option<Res<Playback>>,
    monitor: Res<Monitor>,
    vitals: Res<StreamsNow>,
    mut heart: Query<&mut Transform, (With<Heart>, Without<Chest>)>,
    mut chest: Query<(&Chest, &mut Transform), Without<Heart>>,
) {
    let Some(playback) = playback else { return };
    let t = playback.clock.position_us() as f32 / 1e6;
    let value = |label: &str| monitor.numerics.iter().find(|n| n.label == label).and_then(|n| n.value);
    let hr = value("HR").unwrap_or(70.0) as f32;
    let phase = (t * hr / 60.0).fract();
    let systole = (-((phase - 0.12) / 0.07).powi(2)).exp();
    for mut tf in &mut heart {
        tf.scale = Vec3::splat(1.0 + 0.35 * systole);
    }
    // Respiration: the recorded breathing trace where there is one, else the rate.
    let breath = match vitals.wave("RESP").or_else(|| vitals.wave("Resp")) {
        Some(v) => (v as f32).clamp(-2.0, 2.0) * 0.5,
        None => {
            let rr = value("RR").unwrap_or(14.0) as f32;
            (TAU * t * rr / 60.0).sin()
        }
    };
    for (Chest(rest), mut tf) in &mut chest {
        // The capsule lies along x: its local x is up, its local z across the bed.
        tf.scale = *rest * Vec3::new(1.0 + 0.05 * breath, 1.0, 1.0 + 0.05 * breath);
    }
}

/// Skin and lips from pink to blue as saturation falls from 95 % to 75 %.
fn tint(monitor: Res<Monitor>, tints: Res<Tints>, mut materials: ResMut<Assets<StandardMaterial>>) {
    if !monitor.is_changed() {
        return;
    }
    let spo2 = monitor.numerics.iter().find(|n| n.label == "SpO2").and_then(|n| n.value).unwrap_or(97.0) as f32;
    let cyanosis = ((95.0 - spo2) / 20.0).clamp(0.0, 1.0);
    let mix = |a: Vec3, b: Vec3| {
        let c = a.lerp(b, cyanosis);
        Color::srgb(c.x, c.y, c.z)
    };
    if let Some(mut m) = materials.get_mut(&tints.skin) {
        m.base_color = mix(Vec3::new(0.93, 0.74, 0.66), Vec3::new(0.62, 0.66, 0.82));
    }
    if let Some(mut m) = materials.get_mut(&tints.lips) {
        m.base_color = mix(Vec3::new(0.80, 0.35, 0.38), Vec3::new(0.35, 0.35, 0.70));
    }
}

/// The pool grows with each blood-loss event recorded so far in the surgery stage.
fn bleed(
    case: Option<Res<LoadedCase>>,
    timeline: Option<Res<Timeline>>,
    playback: Option<Res<Playback>>,
    mut pool: Query<&mut Transform, With<BloodPool>>,
) {
    let (Some(case), Some(timeline), Some(playback)) = (case, timeline, playback) else { return };
    let Some((stage, local_us)) = timeline.locate(playback.clock.position_us()) else { return };
    let losses = match (stage, case.0.stage(Stage::Surgery)) {
        (Stage::Surgery, Some(s)) => {
            s.events.iter().filter(|e| e.kind == EventKind::BloodLoss && e.time_ms * 1000 <= local_us).count()
        }
        _ => 0,
    };
    let r = if losses == 0 { 0.0 } else { (0.4 + 0.3 * losses as f32).min(1.6) };
    for mut tf in &mut pool {
        tf.scale = Vec3::new(r, 1.0, r);
    }
}

fn stage_props(vitals: Res<StreamsNow>, mut props: Query<(&StageProp, &mut Visibility)>) {
    if !vitals.is_changed() {
        return;
    }
    for (prop, mut v) in &mut props {
        let want = if Some(prop.0) == vitals.stage { Visibility::Inherited } else { Visibility::Hidden };
        if *v != want {
            *v = want;
        }
    }
}
