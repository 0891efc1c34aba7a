//! The alarms on the waves the model makes (A1-A4 in its arrest rhythms; A5, A7 and A8 on
//! waves drawn with a chosen rhythm and rate: the same rules that read a recording, reading
//! the training monitor's waves), NEWS2 against the RCP
//! 2017 chart (N1, N2, N4) and the respiratory rate from a RESP waveform (N3). The chart's
//! points are written here from the chart, apart from the scoring code they check.

use super::{Check, CheckError, Data, Family, Metric, Outcome, Trace};
use crate::alarms::{
    AlarmKind, AlarmLimits, AlarmReport, Consciousness, News2Input, Priority, Spo2Scale, evaluate, evaluate_with,
    frames_from_waveforms, news2,
};
use crate::case::{Stage, StageData};
use crate::physiology::{HeartRhythm, Inputs, Model, Outputs, step};
use crate::waveforms::{ModelWaves, RATE_HZ};

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "A1",
            family: Family::Alarms,
            scenario: "the model in pulseless VT (180 /min, wide complexes), its waves read by the alarm rules",
            reference: "VT / extreme tachycardia, high priority, within 10 s",
            source: "IEC 60601-2-27; PhysioNet/CinC Challenge 2015",
            run: |_| {
                arrest_alarm(
                    HeartRhythm::VentricularTachycardia,
                    &[AlarmKind::VentricularTachycardia, AlarmKind::ExtremeTachycardia],
                    10_000,
                )
            },
        },
        Check {
            id: "A2",
            family: Family::Alarms,
            scenario: "the model in VF",
            reference: "VF within 10 s, high priority",
            source: "IEC 60601-2-27; PhysioNet/CinC Challenge 2015",
            run: |_| arrest_alarm(HeartRhythm::VentricularFibrillation, &[AlarmKind::VentricularFibrillation], 10_000),
        },
        Check {
            id: "A3",
            family: Family::Alarms,
            scenario: "the model in PEA (complexes, no output)",
            reference: "a no-pulse or hypotension alarm fires (here within 15 s)",
            source: "CLINICAL-VALIDATION A3",
            run: |_| arrest_alarm(HeartRhythm::Pea, &[AlarmKind::NoPulse, AlarmKind::Hypotension], 15_000),
        },
        Check {
            id: "A4",
            family: Family::Alarms,
            scenario: "the model in asystole",
            reference: "asystole within 10 s, high priority",
            source: "IEC 60601-2-27; PhysioNet/CinC Challenge 2015",
            run: |_| arrest_alarm(HeartRhythm::Asystole, &[AlarmKind::Asystole], 10_000),
        },
        Check {
            id: "A5",
            family: Family::Alarms,
            scenario: "the model's waves with the rate changed from 80 to 120 and from 80 to 40 /min (limits 50-100)",
            reference: "the new rate shown within 11 s; the alarm within 10 s",
            source: "IEC 60601-2-27 201.7.9.2.9.101",
            run: a5,
        },
        Check {
            id: "A7",
            family: Family::Alarms,
            scenario: "the ECG lead comes off and the SpO2 probe off",
            reference: "technical alarms, shown as such (low priority, not latched), and no asystole",
            source: "IEC 60601-1-8; CLINICAL-VALIDATION A7",
            run: a7,
        },
        Check {
            id: "A8",
            family: Family::Alarms,
            scenario: "the Challenge 2015 definitions at their edges, on the model's waves",
            reference: "asystole: no QRS >= 4 s; extreme brady < 40 for 5 beats; extreme tachy > 140 for 17 beats; \
                        VT >= 5 ventricular beats > 100; VF >= 4 s",
            source: "PhysioNet/CinC Challenge 2015",
            run: a8,
        },
        Check {
            id: "N1",
            family: Family::News2,
            scenario: "every band edge of RR, SpO2 (scale 1), air/O2, SBP, pulse, ACVPU, temperature",
            reference: "the RCP 2017 chart, exactly",
            source: "Royal College of Physicians, NEWS2, 2017",
            run: n1,
        },
        Check {
            id: "N2",
            family: Family::News2,
            scenario: "SpO2 scale 2 (target 88-92 %), on air and on oxygen",
            reference: "≤ 83: 3; 84-85: 2; 86-87: 1; 88-92 or ≥ 93 on air: 0; 93-94 on O2: 1; 95-96 on O2: 2; ≥ 97 on O2: 3",
            source: "Royal College of Physicians, NEWS2, 2017",
            run: n2,
        },
        Check {
            id: "N3",
            family: Family::News2,
            scenario: "respiratory rate from the RESP waveform of MIMIC 03700181, minutes 1, 5 and 10",
            reference: "within ±2 /min of a manual breath count (18, 21 and 18 breaths, counted by eye on the \
                        plotted waveform)",
            source: "CLINICAL-VALIDATION N3",
            run: n3,
        },
        Check {
            id: "N4",
            family: Family::News2,
            scenario: "a score with parameters missing",
            reference: "never shown as a risk band without saying which parameters are missing",
            source: "CLINICAL-VALIDATION N4",
            run: n4,
        },
    ]
}

/// One point of the chart: what is measured, and the points the chart gives it.
type Point = (&'static str, News2Input, u8);

fn only(f: impl FnOnce(&mut News2Input)) -> News2Input {
    let mut input = News2Input::default();
    f(&mut input);
    input
}

/// How many points score as the chart says, and the first that does not.
fn agreement(points: &[Point]) -> Outcome {
    let wrong: Vec<String> = points
        .iter()
        .filter_map(|(what, input, want)| {
            let got = news2(input).total;
            (got != *want).then(|| format!("{what}: {got} (chart {want})"))
        })
        .collect();
    let n = points.len() as f64;
    let mut metric = Metric::new("points as the chart", n - wrong.len() as f64, n, n, "");
    if let Some(first) = wrong.first() {
        metric.name = format!("points as the chart (first wrong: {first})");
    }
    Outcome::new(vec![metric])
}

fn n1(_: &Data) -> Result<Outcome, CheckError> {
    let mut points: Vec<Point> = Vec::new();
    let rr = [(8.0, 3), (9.0, 1), (11.0, 1), (12.0, 0), (20.0, 0), (21.0, 2), (24.0, 2), (25.0, 3)];
    points.extend(rr.map(|(v, p)| ("RR", only(|i| i.resp_rate = Some(v)), p)));
    let spo2 = [(91.0, 3), (92.0, 2), (93.0, 2), (94.0, 1), (95.0, 1), (96.0, 0)];
    points.extend(spo2.map(|(v, p)| ("SpO2 scale 1", only(|i| i.spo2 = Some(v)), p)));
    points.push(("on air", only(|i| i.on_oxygen = Some(false)), 0));
    points.push(("on oxygen", only(|i| i.on_oxygen = Some(true)), 2));
    let sbp = [(90.0, 3), (91.0, 2), (100.0, 2), (101.0, 1), (110.0, 1), (111.0, 0), (219.0, 0), (220.0, 3)];
    points.extend(sbp.map(|(v, p)| ("SBP", only(|i| i.systolic = Some(v)), p)));
    let pulse = [
        (40.0, 3),
        (41.0, 1),
        (50.0, 1),
        (51.0, 0),
        (90.0, 0),
        (91.0, 1),
        (110.0, 1),
        (111.0, 2),
        (130.0, 2),
        (131.0, 3),
    ];
    points.extend(pulse.map(|(v, p)| ("pulse", only(|i| i.pulse = Some(v)), p)));
    points.push(("alert", only(|i| i.consciousness = Some(Consciousness::Alert)), 0));
    points.push(("not alert (CVPU)", only(|i| i.consciousness = Some(Consciousness::NotAlert)), 3));
    let temp = [(35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0), (38.1, 1), (39.0, 1), (39.1, 2)];
    points.extend(temp.map(|(v, p)| ("temperature", only(|i| i.temperature_c = Some(v)), p)));
    Ok(agreement(&points))
}

fn n2(_: &Data) -> Result<Outcome, CheckError> {
    let scale2 = |spo2: f64, oxygen: bool| News2Input {
        spo2: Some(spo2),
        spo2_scale: Spo2Scale::Scale2,
        on_oxygen: Some(oxygen),
        ..News2Input::default()
    };
    // The air/oxygen parameter adds 2 on oxygen; the chart's SpO2 points are the rest.
    let chart = [
        (83.0, false, 3),
        (84.0, false, 2),
        (85.0, false, 2),
        (86.0, false, 1),
        (87.0, false, 1),
        (88.0, false, 0),
        (92.0, false, 0),
        (93.0, false, 0),
        (97.0, false, 0),
        (88.0, true, 2),
        (92.0, true, 2),
        (93.0, true, 3),
        (94.0, true, 3),
        (95.0, true, 4),
        (96.0, true, 4),
        (97.0, true, 5),
    ];
    let points: Vec<Point> = chart.iter().map(|&(s, o2, p)| ("SpO2 scale 2 (+ O2)", scale2(s, o2), p)).collect();
    Ok(agreement(&points))
}

fn n4(_: &Data) -> Result<Outcome, CheckError> {
    let partial = News2Input { resp_rate: Some(26.0), spo2: Some(90.0), pulse: Some(120.0), ..News2Input::default() };
    let summary = news2(&partial).summary();
    let says_missing = summary.contains("not measured") && summary.contains("consciousness");
    let no_band = !summary.contains("risk");
    Ok(Outcome::new(vec![Metric::new(
        format!("partial score names what is missing and no band: {summary:?}"),
        f64::from(u8::from(says_missing && no_band)),
        1.0,
        1.0,
        "",
    )]))
}

/// Breaths counted by eye on the RESP waveform of MIMIC 03700181 (plotted a minute at a
/// time, every peak counted), per minute from its start: minutes 1, 5 and 10.
const MANUAL_BREATHS: [(u64, f64); 3] = [(0, 18.0), (4, 21.0), (9, 18.0)];

fn n3(data: &Data) -> Result<Outcome, CheckError> {
    let stage = data.mimic_03700181.ok_or(CheckError::NoData("MIMIC record 03700181"))?;
    let frames = frames_from_waveforms(stage);
    let metrics = MANUAL_BREATHS
        .iter()
        .map(|&(minute, counted)| {
            let (from, to) = (minute * 60_000, (minute + 1) * 60_000);
            let mut rates: Vec<f64> =
                frames.iter().filter(|f| f.t_ms >= from + 30_000 && f.t_ms < to).filter_map(|f| f.resp_rate).collect();
            rates.sort_by(f64::total_cmp);
            let name = format!("RR in minute {}", minute + 1);
            match rates.get(rates.len() / 2) {
                Some(&r) => Metric::near(name, r, counted, 2.0 / counted, "/min"),
                None => Metric::missing(name, "no breathing rate read from the waveform"),
            }
        })
        .collect();
    Ok(Outcome::new(metrics))
}

/// The standard adult for 30 s, then in `rhythm` for 30 s, its waves read by the alarm
/// rules: the first of `kinds` to sound, its priority, and how long after the onset.
fn arrest_alarm(rhythm: HeartRhythm, kinds: &[AlarmKind], within_ms: u64) -> Result<Outcome, CheckError> {
    const ONSET_MS: u64 = 30_000;
    let mut m = Model::standard_adult()?;
    let mut waves = ModelWaves::new();
    let inputs = Inputs::default();
    for i in 1..=120u64 {
        if i * 500 == ONSET_MS {
            m.set_rhythm(rhythm);
        }
        let o = step(&mut m, &inputs, 0.5)?;
        waves.extend_to(i as f64 * 0.5, &o, false);
    }
    let mut stage = StageData::new(Stage::Surgery);
    stage.waveforms = waves.waves().to_vec();
    let report = evaluate(&stage);
    let ecg = &waves.waves()[0];
    let points = (0..ecg.samples.len())
        .step_by(2)
        .filter_map(|i| ecg.physical(i).map(|v| (i as f64 / RATE_HZ / 60.0, v)))
        .collect();
    let trace = Trace { label: format!("ECG II, {} from 0.5 min", rhythm.name()), unit: "mV", points };
    let first = report.alarms.iter().filter(|a| kinds.contains(&a.kind)).min_by_key(|a| a.fired_ms);
    let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    let metrics = match first {
        Some(a) => vec![
            Metric::new(
                format!("{} sounds after", a.kind.name()),
                (a.fired_ms.saturating_sub(ONSET_MS)) as f64 / 1000.0,
                0.0,
                within_ms as f64 / 1000.0,
                "s",
            ),
            Metric::new("high priority", f64::from(u8::from(a.priority == Priority::High)), 1.0, 1.0, ""),
        ],
        None => vec![Metric::missing(format!("{} alarm", names.join(" or ")), "no such alarm sounded")],
    };
    let before = report.alarms.iter().filter(|a| a.fired_ms < ONSET_MS && a.priority == Priority::High).count();
    let mut metrics = metrics;
    metrics.push(Metric::at_most("high-priority alarms before the onset", before as f64, 0.0, ""));
    Ok(Outcome::new(metrics).with_traces(vec![trace]))
}

/// A stage whose waves the model's wave maker draws from the resting adult's outputs with
/// the rhythm and rate of each stretch (`until_s`, rhythm, rate /min).
fn drawn(stretches: &[(f64, HeartRhythm, f64)]) -> Result<StageData, CheckError> {
    let rest = Model::standard_adult()?.outputs(&Inputs::default());
    let mut waves = ModelWaves::new();
    for &(until_s, rhythm, rate) in stretches {
        let pumps = rhythm.pumps();
        let o = Outputs {
            rhythm,
            hr_per_min: rate,
            sbp_mmhg: if pumps { rest.sbp_mmhg } else { 15.0 },
            dbp_mmhg: if pumps { rest.dbp_mmhg } else { 15.0 },
            map_mmhg: if pumps { rest.map_mmhg } else { 15.0 },
            ..rest
        };
        waves.extend_to(until_s, &o, false);
    }
    let mut stage = StageData::new(Stage::Surgery);
    stage.waveforms = waves.waves().to_vec();
    Ok(stage)
}

fn fired(report: &AlarmReport, kind: AlarmKind) -> bool {
    report.alarms.iter().any(|a| a.kind == kind)
}

fn a5(_: &Data) -> Result<Outcome, CheckError> {
    let limits = AlarmLimits { hr_low: 50.0, hr_high: 100.0, ..AlarmLimits::default() };
    let mut metrics = Vec::new();
    for (to, kind) in [(120.0, AlarmKind::Tachycardia), (40.0, AlarmKind::Bradycardia)] {
        let s = drawn(&[(30.0, HeartRhythm::Sinus, 80.0), (70.0, HeartRhythm::Sinus, to)])?;
        let report = evaluate_with(&s, &limits);
        metrics.push(match report.alarms.iter().find(|a| a.kind == kind) {
            Some(a) => Metric::new(
                format!("{} alarm after the change to {to:.0}", kind.name()),
                a.fired_ms.saturating_sub(30_000) as f64 / 1000.0,
                0.0,
                10.0,
                "s",
            ),
            None => Metric::missing(format!("{} alarm at {to:.0}", kind.name()), "it did not sound"),
        });
        let shown = frames_from_waveforms(&s)
            .iter()
            .find(|f| f.t_ms >= 30_000 && f.hr.is_some_and(|hr| (hr - to).abs() <= 0.05 * to))
            .map(|f| (f.t_ms + f.span_ms) as f64 / 1000.0 - 30.0);
        metrics.push(shown.map_or(Metric::missing(format!("{to:.0} /min shown"), "never shown"), |t| {
            Metric::new(format!("{to:.0} /min shown after"), t, 0.0, 11.0, "s")
        }));
    }
    Ok(Outcome::new(metrics))
}

fn a7(_: &Data) -> Result<Outcome, CheckError> {
    let mut s = drawn(&[(50.0, HeartRhythm::Sinus, 75.0)])?;
    let off = (20.0 * RATE_HZ) as usize;
    for w in &mut s.waveforms {
        match w.name.as_str() {
            "II" => w.samples[off..].iter_mut().for_each(|v| *v = 0),
            "PLETH" => w.samples[off..].iter_mut().for_each(|v| *v = crate::case::GAP),
            _ => {}
        }
    }
    let report = evaluate(&s);
    let technical = |kind: AlarmKind| {
        report
            .alarms
            .iter()
            .find(|a| a.kind == kind)
            .map_or(0.0, |a| f64::from(u8::from(a.kind.technical() && a.priority == Priority::Low && !a.latched)))
    };
    Ok(Outcome::new(vec![
        Metric::new("lead off: a technical alarm", technical(AlarmKind::EcgLeadOff), 1.0, 1.0, ""),
        Metric::new("probe off: a technical alarm", technical(AlarmKind::Spo2ProbeOff), 1.0, 1.0, ""),
        Metric::new(
            "asystole raised for a lead off",
            f64::from(u8::from(fired(&report, AlarmKind::Asystole))),
            0.0,
            0.0,
            "",
        ),
    ]))
}

fn a8(_: &Data) -> Result<Outcome, CheckError> {
    use HeartRhythm::{Asystole, Sinus, VentricularFibrillation as Vf, VentricularTachycardia as Vt};
    let yes = |stretches: &[(f64, HeartRhythm, f64)], kind: AlarmKind| -> Result<f64, CheckError> {
        Ok(f64::from(u8::from(fired(&evaluate(&drawn(stretches)?), kind))))
    };
    let around = |rhythm: HeartRhythm, rate: f64, seconds: f64| {
        [(20.0, Sinus, 75.0), (20.0 + seconds, rhythm, rate), (40.0, Sinus, 75.0)]
    };
    let edge = |name: &str, fires: f64, quiet: f64| {
        vec![
            Metric::new(format!("{name}: fires"), fires, 1.0, 1.0, ""),
            Metric::new(format!("{name}: short of it, quiet"), quiet, 0.0, 0.0, ""),
        ]
    };
    let mut metrics = Vec::new();
    metrics.extend(edge(
        "asystole 4.6 s / 3.2 s",
        yes(&around(Asystole, 0.0, 4.6), AlarmKind::Asystole)?,
        yes(&around(Asystole, 0.0, 3.2), AlarmKind::Asystole)?,
    ));
    metrics.extend(edge(
        "36 / 44 /min",
        yes(&[(20.0, Sinus, 75.0), (50.0, Sinus, 36.0)], AlarmKind::ExtremeBradycardia)?,
        yes(&[(20.0, Sinus, 75.0), (50.0, Sinus, 44.0)], AlarmKind::ExtremeBradycardia)?,
    ));
    metrics.extend(edge(
        "150 /min for 25 / 12 beats",
        yes(&around(Sinus, 150.0, 10.0), AlarmKind::ExtremeTachycardia)?,
        yes(&around(Sinus, 150.0, 5.0), AlarmKind::ExtremeTachycardia)?,
    ));
    metrics.extend(edge(
        "VT for 9 / 3 beats",
        yes(&around(Vt, 180.0, 3.0), AlarmKind::VentricularTachycardia)?,
        yes(&around(Vt, 180.0, 1.0), AlarmKind::VentricularTachycardia)?,
    ));
    metrics.extend(edge(
        "VF for 6 / 2 s",
        yes(&around(Vf, 0.0, 6.0), AlarmKind::VentricularFibrillation)?,
        yes(&around(Vf, 0.0, 2.0), AlarmKind::VentricularFibrillation)?,
    ));
    Ok(Outcome::new(metrics))
}
