//! Oxygen (O1, O2, O4, O5, O6), carbon dioxide (C1, C2) and the obstructed airway (X1).

use super::{Check, CheckError, Data, Family, Metric, Outcome, Recorder, Trace, run_watching};
use crate::physiology::{Inputs, Model, Outputs, PhysioParams, REFERENCE_PATIENT, Ventilation, run_for};
use crate::pk::{Patient, Sex};

const DT: f64 = 0.5;

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "O1",
            family: Family::Oxygen,
            scenario: "apnoea from room air, open airway",
            reference: "time to SpO2 < 90 %: 45-60 s (30-90 s)",
            source: "Weingart & Levitan, Ann Emerg Med 2012;59:165",
            run: o1,
        },
        Check {
            id: "O2",
            family: Family::Oxygen,
            scenario: "alveolar O2 0.87 after preoxygenation, then apnoea (airway open to air), healthy 70 kg",
            reference: "to 90 %: about 8 min (6-10); from 90 % to 0 %: about 2 min (±50 %)",
            source: "Benumof et al., Anesthesiology 1997;87:979 (Farmery & Roe model)",
            run: o2,
        },
        Check {
            id: "O4",
            family: Family::Oxygen,
            scenario: "10 kg child; moderately ill 70 kg adult (here: VO2 +30 %, FRC -20 %); after preoxygenation",
            reference: "to 90 %: about 3.7 min; about 5 min (±30 %)",
            source: "Benumof 1997 Fig. 1",
            run: o4,
        },
        Check {
            id: "O5",
            family: Family::Oxygen,
            scenario: "3 min tidal breathing at FiO2 1.0",
            reference: "end-tidal O2 fraction 0.87-0.90 (±0.03)",
            source: "Benumof 1997",
            run: o5,
        },
        Check {
            id: "O6",
            family: Family::Oxygen,
            scenario: "apnoea on 100 % O2 with an open airway (apnoeic oxygenation), after preoxygenation",
            reference: "SpO2 > 90 % for ≥ 15 min; PaCO2 slope about 3 mmHg/min (±30 %, minutes 1-15)",
            source: "Frumin et al., Anesthesiology 1959;20:789",
            run: o6,
        },
        Check {
            id: "C1",
            family: Family::Co2,
            scenario: "apnoea under general anaesthesia (ventilated on O2, then the ventilator stopped)",
            reference: "PaCO2 +9.8 ± 1.9 mmHg in minute 1; 3.4-4.4 mmHg/min in minutes 1-5 (±30 %)",
            source: "Kobayashi & Yokoyama, Masui 1994;43:1130; Eger & Severinghaus 1961",
            run: c1,
        },
        Check {
            id: "C2",
            family: Family::Co2,
            scenario: "awake breath-hold at FRC (room air)",
            reference: "PaCO2 slope from 20 s to 60 s: 6 mmHg/min (±30 %)",
            source: "Stock et al., J Clin Anesth 1988;1:96",
            run: c2,
        },
        Check {
            id: "X1",
            family: Family::Oxygen,
            scenario: "complete airway obstruction from room air, 15 min",
            reference: "SpO2 < 60 %; HR and MAP rise early, then bradycardia (< 60) and arrest",
            source: "BioGears RespiratoryMethodology Table 11; Weingart & Levitan 2012",
            run: x1,
        },
    ]
}

fn apnoea(fio2: f64) -> Inputs {
    Inputs {
        fio2,
        ventilation: Ventilation::Controlled { rate_per_min: 0.0, tidal_volume_l: 0.0 },
        ..Inputs::default()
    }
}

/// Minutes from the start until `cond` holds (None within `limit_min`), with SpO2 traced.
fn minutes_until(
    m: &mut Model,
    inputs: &Inputs,
    limit_min: f64,
    label: &str,
    mut cond: impl FnMut(&Outputs) -> bool,
) -> Result<(Option<f64>, Trace), CheckError> {
    let mut rec = Recorder::new(label, "%", |o| o.spo2_percent);
    let mut when = None;
    run_watching(m, inputs, limit_min, 0.0, |t, o| {
        rec.see(t, o);
        if when.is_none() && cond(o) {
            when = Some(t);
        }
    })?;
    Ok((when, rec.trace()))
}

fn o1(_: &Data) -> Result<Outcome, CheckError> {
    let mut m = Model::standard_adult()?;
    run_for(&mut m, &Inputs::default(), 3.0, DT)?;
    let (t, trace) =
        minutes_until(&mut m, &apnoea(0.21), 5.0, "SpO2, apnoea from room air", |o| o.spo2_percent < 90.0)?;
    let metric = t.map_or(Metric::missing("time to 90 %", "SpO2 stayed ≥ 90 % for 5 min"), |t| {
        Metric::new("time to 90 %", t * 60.0, 30.0, 90.0, "s")
    });
    Ok(Outcome::new(vec![metric]).with_traces(vec![trace]))
}

/// Breathes the inspired O2 that brings the alveolar fraction to `target` in 3 min: found by
/// bisection on FiO2 over fresh copies of `model`.
fn preoxygenate(model: &Model, target: f64) -> Result<Model, CheckError> {
    let (mut lo, mut hi) = (0.21, 1.0);
    let mut best = model.clone();
    for _ in 0..12 {
        let fio2 = (lo + hi) / 2.0;
        let mut m = model.clone();
        let o = run_for(&mut m, &Inputs { fio2, ..Inputs::default() }, 3.0, DT)?;
        if o.alveolar_o2_fraction < target {
            lo = fio2;
        } else {
            hi = fio2;
        }
        best = m;
    }
    Ok(best)
}

fn o2(_: &Data) -> Result<Outcome, CheckError> {
    let mut m = preoxygenate(&Model::standard_adult()?, 0.87)?;
    let fao2 = m.outputs(&Inputs::default()).alveolar_o2_fraction;
    let (to90, trace) =
        minutes_until(&mut m.clone(), &apnoea(0.21), 30.0, "SpO2, apnoea after FAO2 0.87", |o| o.spo2_percent < 90.0)?;
    let mut metrics = vec![Metric::near("alveolar O2 fraction reached", fao2, 0.87, 0.01, "")];
    match to90 {
        Some(t90) => {
            metrics.push(Metric::new("time to 90 %", t90, 6.0, 10.0, "min"));
            run_for(&mut m, &apnoea(0.21), t90, DT)?;
            let (to0, _) = minutes_until(&mut m, &apnoea(0.21), 20.0, "", |o| o.spo2_percent < 1.0)?;
            metrics.push(
                to0.map_or(Metric::missing("90 % to 0 %", "SpO2 stayed ≥ 1 % for 20 min after 90 %"), |t| {
                    Metric::new("90 % to 0 %", t, 1.0, 3.0, "min")
                }),
            );
        }
        None => metrics.push(Metric::missing("time to 90 %", "SpO2 stayed ≥ 90 % for 30 min")),
    }
    Ok(Outcome::new(metrics).with_traces(vec![trace]))
}

fn o4(_: &Data) -> Result<Outcome, CheckError> {
    let child = Patient { age_years: 1.0, weight_kg: 10.0, height_cm: 75.0, sex: Sex::Male };
    let ill = PhysioParams {
        vo2_ml_per_min: PhysioParams::default().vo2_ml_per_min * 1.3,
        vco2_ml_per_min: PhysioParams::default().vco2_ml_per_min * 1.3,
        frc_l: PhysioParams::default().frc_l * 0.8,
        ..PhysioParams::default()
    };
    let mut metrics = Vec::new();
    let mut traces = Vec::new();
    for (who, params, reference) in
        [("10 kg child", PhysioParams::for_patient(&child), 3.7), ("moderately ill adult", ill, 5.0)]
    {
        // The drug kinetics play no part here, and Schnider's covariates do not reach a
        // child: the reference adult's stand in for them.
        let mut m = Model::new(&REFERENCE_PATIENT, params)?;
        run_for(&mut m, &Inputs::default(), 10.0, DT)?;
        let mut m = preoxygenate(&m, 0.87)?;
        let (t, trace) =
            minutes_until(&mut m, &apnoea(0.21), 30.0, &format!("SpO2, apnoea, {who}"), |o| o.spo2_percent < 90.0)?;
        metrics.push(t.map_or(Metric::missing(format!("{who}: time to 90 %"), "never within 30 min"), |t| {
            Metric::near(format!("{who}: time to 90 %"), t, reference, 0.3, "min")
        }));
        traces.push(trace);
    }
    Ok(Outcome::new(metrics).with_traces(traces))
}

fn o5(_: &Data) -> Result<Outcome, CheckError> {
    let mut m = Model::standard_adult()?;
    let mut rec = Recorder::new("end-tidal O2 fraction, FiO2 1.0", "", |o| o.alveolar_o2_fraction);
    let o = run_watching(&mut m, &Inputs { fio2: 1.0, ..Inputs::default() }, 3.0, 0.0, |t, o| rec.see(t, o))?;
    Ok(Outcome::new(vec![Metric::new("end-tidal O2 fraction", o.alveolar_o2_fraction, 0.84, 0.93, "")])
        .with_traces(vec![rec.trace()]))
}

fn o6(_: &Data) -> Result<Outcome, CheckError> {
    let mut m = Model::standard_adult()?;
    run_for(&mut m, &Inputs { fio2: 1.0, ..Inputs::default() }, 3.0, DT)?;
    let mut spo2 = Recorder::new("SpO2, apnoea on 100 % O2", "%", |o| o.spo2_percent);
    let mut co2 = Recorder::new("PaCO2, apnoea on 100 % O2", "mmHg", |o| o.paco2_mmhg);
    let mut lowest = f64::INFINITY;
    let mut at1 = None;
    let end = run_watching(&mut m, &apnoea(1.0), 15.0, 0.0, |t, o| {
        spo2.see(t, o);
        co2.see(t, o);
        lowest = lowest.min(o.spo2_percent);
        if at1.is_none() && t >= 1.0 {
            at1 = Some(o.paco2_mmhg);
        }
    })?;
    let slope = (end.paco2_mmhg - at1.unwrap_or(end.paco2_mmhg)) / 14.0;
    Ok(Outcome::new(vec![
        Metric::at_least("lowest SpO2 in 15 min", lowest, 90.0, "%"),
        Metric::near("PaCO2 slope", slope, 3.0, 0.3, "mmHg/min"),
    ])
    .with_traces(vec![spo2.trace(), co2.trace()]))
}

fn c1(_: &Data) -> Result<Outcome, CheckError> {
    let mut m = Model::standard_adult()?;
    let ventilated = Inputs {
        fio2: 1.0,
        ventilation: Ventilation::Controlled { rate_per_min: 12.0, tidal_volume_l: 0.5 },
        ..Inputs::default()
    };
    let start = run_for(&mut m, &ventilated, 30.0, DT)?.paco2_mmhg;
    let stopped =
        Inputs { ventilation: Ventilation::Controlled { rate_per_min: 0.0, tidal_volume_l: 0.5 }, ..ventilated };
    let mut rec = Recorder::new("PaCO2, apnoea under anaesthesia", "mmHg", |o| o.paco2_mmhg);
    let one = run_watching(&mut m, &stopped, 1.0, 0.0, |t, o| rec.see(t, o))?.paco2_mmhg;
    let five = run_watching(&mut m, &stopped, 4.0, 1.0, |t, o| rec.see(t, o))?.paco2_mmhg;
    Ok(Outcome::new(vec![
        Metric::new("rise in minute 1", one - start, 9.8 * 0.7, 9.8 * 1.3, "mmHg"),
        Metric::new("slope minutes 1-5", (five - one) / 4.0, 3.4 * 0.7, 4.4 * 1.3, "mmHg/min"),
    ])
    .with_traces(vec![rec.trace()]))
}

fn c2(_: &Data) -> Result<Outcome, CheckError> {
    let mut m = Model::standard_adult()?;
    run_for(&mut m, &Inputs::default(), 5.0, DT)?;
    let mut rec = Recorder::new("PaCO2, awake breath-hold", "mmHg", |o| o.paco2_mmhg);
    let at20 = run_watching(&mut m, &apnoea(0.21), 20.0 / 60.0, 0.0, |t, o| rec.see(t, o))?.paco2_mmhg;
    let at60 = run_watching(&mut m, &apnoea(0.21), 40.0 / 60.0, 20.0 / 60.0, |t, o| rec.see(t, o))?.paco2_mmhg;
    Ok(Outcome::new(vec![Metric::near("slope 20-60 s", (at60 - at20) * 1.5, 6.0, 0.3, "mmHg/min")])
        .with_traces(vec![rec.trace()]))
}

fn x1(_: &Data) -> Result<Outcome, CheckError> {
    let mut m = Model::standard_adult()?;
    let rest = m.outputs(&Inputs::default());
    let obstructed = Inputs { airway_obstructed: true, ..Inputs::default() };
    let mut hr = Recorder::new("HR, complete airway obstruction", "/min", |o| o.hr_per_min);
    let mut map = Recorder::new("MAP, complete airway obstruction", "mmHg", |o| o.map_mmhg);
    let (mut peak_hr, mut peak_map) = (rest.hr_per_min, rest.map_mmhg);
    let (mut below60, mut slowest, mut arrest) = (None::<f64>, f64::INFINITY, None::<f64>);
    run_watching(&mut m, &obstructed, 15.0, 0.0, |t, o| {
        hr.see(t, o);
        map.see(t, o);
        if o.spo2_percent < 60.0 {
            below60.get_or_insert(t);
        }
        if arrest.is_none() {
            peak_hr = peak_hr.max(o.hr_per_min);
            peak_map = peak_map.max(o.map_mmhg);
            if o.rhythm.pumps() {
                slowest = slowest.min(o.hr_per_min);
            } else {
                arrest = Some(t);
            }
        }
    })?;
    Ok(Outcome::new(vec![
        below60.map_or(Metric::missing("SpO2 < 60 %", "not within 15 min"), |t| {
            Metric::at_most("SpO2 < 60 % at", t, 5.0, "min")
        }),
        Metric::at_least("early HR rise", peak_hr - rest.hr_per_min, 5.0, "/min"),
        Metric::at_least("early MAP rise", peak_map - rest.map_mmhg, 1.0, "mmHg"),
        Metric::at_most("slowest sinus rate before the arrest", slowest, 59.9, "/min"),
        arrest.map_or(Metric::missing("arrest", "the heart still pumps after 15 min"), |t| {
            Metric::at_most("arrest (PEA or asystole) at", t, 15.0, "min")
        }),
    ])
    .with_traces(vec![hr.trace(), map.trace()]))
}
