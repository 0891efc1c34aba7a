//! The training monitor's waves agree with the model's numbers: the QRS detector finds the
//! model's heart rate in its ECG, the arterial wave spans its diastolic to systolic pressure,
//! the capnogram peaks at its end-tidal CO2 once a breath, and the alarm rules reading these
//! waves (as they read a recording) find the rhythm the model is in.

use twin_sim::alarms::{AlarmKind, evaluate};
use twin_sim::case::{Stage, StageData};
use twin_sim::physiology::{HeartRhythm, Inputs, Model, Outputs, step};
use twin_sim::waveforms::{ModelWaves, RATE_HZ};
use twin_sim::{QrsConfig, QrsDetector};

/// Runs the standard adult for `seconds` under `inputs`, setting `rhythm` after `onset_s`;
/// returns the waves and the last outputs.
fn run(inputs: Inputs, rhythm: Option<HeartRhythm>, onset_s: f64, seconds: f64) -> (ModelWaves, Outputs) {
    let mut m = Model::standard_adult().unwrap();
    let mut waves = ModelWaves::new();
    let mut o = m.outputs(&inputs);
    for i in 1..=(seconds * 2.0) as u64 {
        let t = i as f64 * 0.5;
        if let Some(r) = rhythm.filter(|_| (t - onset_s).abs() < 0.25) {
            m.set_rhythm(r);
        }
        o = step(&mut m, &inputs, 0.5).unwrap();
        waves.extend_to(t, &o, inputs.chest_compressions);
    }
    (waves, o)
}

fn channel(waves: &ModelWaves, name: &str) -> Vec<f64> {
    let w = waves.waves().iter().find(|w| w.name == name).unwrap();
    (0..w.samples.len()).map(|i| w.physical(i).unwrap()).collect()
}

#[test]
fn sinus_waves_carry_the_models_numbers() {
    let (waves, o) = run(Inputs::default(), None, 0.0, 60.0);
    assert!((waves.duration_s() - 60.0).abs() < 0.01);
    let ecg = channel(&waves, "II");
    assert_eq!(ecg.len(), (60.0 * RATE_HZ) as usize);
    let beats = QrsDetector::new(RATE_HZ, QrsConfig::default()).unwrap().detect(&ecg);
    let rate = (beats.len() - 1) as f64 * 60.0 * RATE_HZ / (beats[beats.len() - 1] - beats[0]) as f64;
    assert!((rate - o.hr_per_min).abs() <= 0.03 * o.hr_per_min, "ECG {rate:.1} /min, model {:.1}", o.hr_per_min);
    let abp = channel(&waves, "ABP");
    let last = &abp[abp.len() - (5.0 * RATE_HZ) as usize..];
    let (lo, hi) = last.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!((lo - o.dbp_mmhg).abs() < 3.0 && (hi - o.sbp_mmhg).abs() < 3.0, "{lo}-{hi} against {o:?}");
    let co2 = channel(&waves, "CO2");
    let peak = co2.iter().copied().fold(0.0, f64::max);
    assert!((peak - o.etco2_mmhg).abs() < 1.5 && co2.contains(&0.0), "{peak} against {o:?}");
    // One rise of the capnogram a breath.
    let rises = co2.windows(2).filter(|w| w[0] < 5.0 && w[1] >= 5.0).count() as f64;
    assert!((rises - o.rr_per_min).abs() <= 1.0, "{rises} breaths in a minute, model {:.1}", o.rr_per_min);
    let pleth = channel(&waves, "PLETH");
    assert!(pleth.iter().copied().fold(0.0, f64::max) > 0.4, "a pulse on the pleth");
    // The same run makes the same waves.
    assert_eq!(run(Inputs::default(), None, 0.0, 60.0).0, waves);
}

#[test]
fn the_alarm_rules_read_the_rhythm_from_the_waves() {
    let stage_of = |waves: &ModelWaves| {
        let mut stage = StageData::new(Stage::Surgery);
        stage.waveforms = waves.waves().to_vec();
        stage
    };
    let calm = evaluate(&stage_of(&run(Inputs::default(), None, 0.0, 40.0).0));
    let lethal = [
        AlarmKind::Asystole,
        AlarmKind::VentricularFibrillation,
        AlarmKind::VentricularTachycardia,
        AlarmKind::NoPulse,
    ];
    assert!(calm.alarms.iter().all(|a| !lethal.contains(&a.kind)), "{:?}", calm.alarms);
    // Within 10 s for the ECG's own alarms (IEC 60601-2-27); no pulse needs the pressure
    // wave to fade first (15 s).
    for (rhythm, kind, within_ms) in [
        (HeartRhythm::VentricularFibrillation, AlarmKind::VentricularFibrillation, 10_000),
        (HeartRhythm::VentricularTachycardia, AlarmKind::VentricularTachycardia, 10_000),
        (HeartRhythm::Asystole, AlarmKind::Asystole, 10_000),
        (HeartRhythm::Pea, AlarmKind::NoPulse, 15_000),
    ] {
        let (waves, o) = run(Inputs::default(), Some(rhythm), 20.0, 40.0);
        assert_eq!(o.rhythm, rhythm);
        let report = evaluate(&stage_of(&waves));
        let a = report.alarms.iter().find(|a| a.kind == kind);
        let a = a.unwrap_or_else(|| panic!("{rhythm:?}: no {kind:?} in {:?}", report.alarms));
        assert!(a.fired_ms <= 20_000 + within_ms, "{rhythm:?}: {kind:?} fired at {} ms (onset 20 s)", a.fired_ms);
    }
    // Compressions on an arrested heart: their artefact never reads as a beating heart.
    let cpr = Inputs { chest_compressions: true, ..Inputs::default() };
    let (waves, _) = run(cpr, Some(HeartRhythm::Asystole), 5.0, 40.0);
    let report = evaluate(&stage_of(&waves));
    let pleth = channel(&waves, "PLETH");
    assert!(pleth[(10.0 * RATE_HZ) as usize..].iter().all(|v| v.abs() < 0.01), "no pulse on the pleth");
    assert!(!report.alarms.is_empty(), "an arrest under compressions still alarms");
}
