//! Resting values and scaling (R1, R2), hemorrhage (H1, H2, H4, H5, H6) and fluids (F1-F3).

use super::{Check, CheckError, Data, Family, Metric, Outcome, Recorder, run_watching};
use crate::physiology::{
    HeartRhythm, Inputs, Model, Outputs, PhysioParams, bleed_until_lost, harris_benedict_kcal_per_day, run_for,
};
use crate::pk::{Patient, Sex};

const DT: f64 = 0.5;

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "R1",
            family: Family::Resting,
            scenario: "resting 70 kg male, 30 min",
            reference: "HR 72 ±10 %; SBP 100-140; DBP 60-90; MAP 70-105; CO 5.6 L/min ±10 %; SV 55-93 mL; CVP 2-6; \
                        RR 12-20; VT 540 mL ±10 %; alveolar ventilation 6.16 L/min ±10 %; PaCO2 35-45; SpO2 ≥ 96 %",
            source: "BioGears Cardiovascular/RespiratoryValidation (Guyton 2006, Levitzky 2013); Pulse StandardMale",
            run: r1,
        },
        Check {
            id: "R2",
            family: Family::Resting,
            scenario: "patients 50 kg F, 70, 100, 127 kg M at rest",
            reference: "blood volume 65.6 W^1.02 mL; FRC 30 mL/kg; VT 7 mL/kg; VO2 by Harris-Benedict BMR; each ±10 %",
            source: "BioGears PatientMethodology",
            run: r2,
        },
        Check {
            id: "H1",
            family: Family::Hemorrhage,
            scenario: "awake adult, 50 mL/min bleed, read at 10 / 20 / 35 / 45 % lost",
            reference: "HR < 100 / 100-120 / 120-140 / > 140; SBP normal / normal / 70-90 / < 70; pulse pressure \
                        normal (≥ 25 % of SBP) / down / down / down; RR 14-20 / 20-30 / 30-40 / > 35",
            source: "ATLS 9th/10th ed. classes (Spahn et al., Crit Care 2010, 2016, 2019)",
            run: |_| atls(0.05),
        },
        Check {
            id: "H2",
            family: Family::Hemorrhage,
            scenario: "the same at 150 mL/min",
            reference: "as H1, at the same % lost",
            source: "ATLS",
            run: |_| atls(0.15),
        },
        Check {
            id: "H4",
            family: Family::Hemorrhage,
            scenario: "bleeds of 0.05, 0.2, 0.5, 1 and 2 L/min for 60 min",
            reference: "MAP ≥ 0, CVP ≥ -2 mmHg, blood volume ≥ 0, Hb ≥ 0 throughout",
            source: "physics; BioGears/Pulse bleed through a resistance",
            run: h4,
        },
        Check {
            id: "H5",
            family: Family::Hemorrhage,
            scenario: "bleed 0.5 L/min until CO < 1 L/min",
            reference: "EtCO2 falls with CO; the oximeter loses its signal; PEA then asystole",
            source: "BioGears cardiac arrest methodology; capnography physiology",
            run: h5,
        },
        Check {
            id: "H6",
            family: Family::Hemorrhage,
            scenario: "class II (20 % at 50 mL/min), then the bleeding stops",
            reference: "HR down, SBP slightly up, CO up, SV up after the stop; blood volume rises over 60 min",
            source: "BioGears Table 7c (Chalmers 1967)",
            run: h6,
        },
        Check {
            id: "F1",
            family: Family::Hemorrhage,
            scenario: "normovolaemic, 1 L Ringer over 30 min",
            reference: "plasma volume gain 50-60 % of infused at the end, 15-20 % 30 min later (±30 % relative)",
            source: "Hahn, Acta Anaesthesiol Scand 2020; Hahn, Anesthesiology 2010;113:470",
            run: f1,
        },
        Check {
            id: "F2",
            family: Family::Hemorrhage,
            scenario: "after a 900 mL bleed, the same infusion",
            reference: "volume retained 30 min after the infusion ≥ 1.5 × F1's (elimination about 4 × slower)",
            source: "Drobin & Hahn, Anesthesiology 1999;90:81",
            run: f2,
        },
        Check {
            id: "F3",
            family: Family::Hemorrhage,
            scenario: "class II, then 500 mL saline or 500 mL blood over 5 min",
            reference: "HR down; SBP, DBP, CO, SV up; Hb down (saline) / up (blood)",
            source: "BioGears Tables 7a/7b; Pulse Class2Saline / Class2Blood",
            run: f3,
        },
    ]
}

fn r1(_: &Data) -> Result<Outcome, CheckError> {
    let mut m = Model::standard_adult()?;
    let o = run_for(&mut m, &Inputs::default(), 30.0, DT)?;
    let vt = o.minute_ventilation_l / o.rr_per_min;
    let va = o.rr_per_min * (vt - m.params.dead_space_l);
    Ok(Outcome::new(vec![
        Metric::near("HR", o.hr_per_min, 72.0, 0.1, "/min"),
        Metric::new("SBP", o.sbp_mmhg, 100.0, 140.0, "mmHg"),
        Metric::new("DBP", o.dbp_mmhg, 60.0, 90.0, "mmHg"),
        Metric::new("MAP", o.map_mmhg, 70.0, 105.0, "mmHg"),
        Metric::near("CO", o.cardiac_output_l_per_min, 5.6, 0.1, "L/min"),
        Metric::new("SV", o.stroke_volume_ml, 55.0, 93.0, "mL"),
        Metric::new("CVP", o.cvp_mmhg, 2.0, 6.0, "mmHg"),
        Metric::new("RR", o.rr_per_min, 12.0, 20.0, "/min"),
        Metric::near("VT", vt * 1000.0, 540.0, 0.1, "mL"),
        Metric::near("alveolar ventilation", va, 6.16, 0.1, "L/min"),
        Metric::new("PaCO2", o.paco2_mmhg, 35.0, 45.0, "mmHg"),
        Metric::at_least("SpO2", o.spo2_percent, 96.0, "%"),
    ]))
}

/// VO2 (mL/min) of a basal metabolic rate: kcal/day over 4.825 kcal per litre of O2.
fn vo2_of_bmr(kcal_per_day: f64) -> f64 {
    kcal_per_day / 1440.0 / 4.825 * 1000.0
}

fn r2(_: &Data) -> Result<Outcome, CheckError> {
    let patients = [
        (50.0, 162.0, Sex::Female, "50 kg F"),
        (70.0, 175.0, Sex::Male, "70 kg M"),
        (100.0, 180.0, Sex::Male, "100 kg M"),
        (127.0, 185.0, Sex::Male, "127 kg M"),
    ];
    let mut metrics = Vec::new();
    for (weight_kg, height_cm, sex, who) in patients {
        let patient = Patient { age_years: 40.0, weight_kg, height_cm, sex };
        let params = PhysioParams::for_patient(&patient);
        let mut m = Model::new(&patient, params)?;
        let o = run_for(&mut m, &Inputs::default(), 20.0, DT)?;
        metrics.push(Metric::near(
            format!("{who} blood volume"),
            o.blood_volume_l * 1000.0,
            65.6 * weight_kg.powf(1.02),
            0.1,
            "mL",
        ));
        metrics.push(Metric::near(format!("{who} FRC"), params.frc_l * 1000.0, 30.0 * weight_kg, 0.1, "mL"));
        metrics.push(Metric::near(
            format!("{who} VT"),
            o.minute_ventilation_l / o.rr_per_min * 1000.0,
            7.0 * weight_kg,
            0.1,
            "mL",
        ));
        metrics.push(Metric::near(
            format!("{who} VO2"),
            params.vo2_ml_per_min,
            vo2_of_bmr(harris_benedict_kcal_per_day(&patient)),
            0.1,
            "mL/min",
        ));
    }
    Ok(Outcome::new(metrics))
}

fn pulse_pressure(o: &Outputs) -> f64 {
    o.sbp_mmhg - o.dbp_mmhg
}

/// H1/H2: the ATLS classes read at 10, 20, 35 and 45 % lost at `rate` L/min.
fn atls(rate: f64) -> Result<Outcome, CheckError> {
    let mut m = Model::standard_adult()?;
    let rest = m.outputs(&Inputs::default());
    let pp0 = pulse_pressure(&rest);
    let (mut at, mut lost) = (Vec::new(), 0.0);
    for fraction in [0.10, 0.20, 0.35, 0.45] {
        // One bleed, read as it passes each share of the volume.
        at.push(bleed_until_lost(&mut m, rate, fraction - lost, DT)?);
        lost = fraction;
    }
    let mut m = Model::standard_adult()?;
    let mut trace = Recorder::new(format!("HR, bleed {:.0} mL/min", rate * 1000.0), "/min", |o| o.hr_per_min);
    let mut sbp = Recorder::new(format!("SBP, bleed {:.0} mL/min", rate * 1000.0), "mmHg", |o| o.sbp_mmhg);
    let bleed = Inputs { hemorrhage_l_per_min: rate, ..Inputs::default() };
    let minutes = 0.45 * m.params.blood_volume_l / rate * 1.3;
    run_watching(&mut m, &bleed, minutes, 0.0, |t, o| {
        trace.see(t, o);
        sbp.see(t, o);
    })?;
    let [i, ii, iii, iv] = [at[0], at[1], at[2], at[3]];
    // "Normal" systolic: at least 90 mmHg (hypotension below); pulse pressure "normal": at
    // least a quarter of the systolic (narrowed below that), "down": below 90 % of rest.
    Ok(Outcome::new(vec![
        Metric::at_most("HR at 10 %", i.hr_per_min, 99.9, "/min"),
        Metric::new("HR at 20 %", ii.hr_per_min, 100.0, 120.0, "/min"),
        Metric::new("HR at 35 %", iii.hr_per_min, 120.0, 140.0, "/min"),
        Metric::at_least("HR at 45 %", iv.hr_per_min, 140.1, "/min"),
        Metric::at_least("SBP at 10 %", i.sbp_mmhg, 90.0, "mmHg"),
        Metric::at_least("SBP at 20 %", ii.sbp_mmhg, 90.0, "mmHg"),
        Metric::new("SBP at 35 %", iii.sbp_mmhg, 70.0, 90.0, "mmHg"),
        Metric::at_most("SBP at 45 %", iv.sbp_mmhg, 69.9, "mmHg"),
        Metric::at_least("PP/SBP at 10 %", pulse_pressure(&i) / i.sbp_mmhg, 0.25, ""),
        Metric::at_most("PP at 20 %", pulse_pressure(&ii), pp0 * 0.9, "mmHg"),
        Metric::at_most("PP at 35 %", pulse_pressure(&iii), pp0 * 0.9, "mmHg"),
        Metric::at_most("PP at 45 %", pulse_pressure(&iv), pp0 * 0.9, "mmHg"),
        Metric::new("RR at 10 %", i.rr_per_min, 14.0, 20.0, "/min"),
        Metric::new("RR at 20 %", ii.rr_per_min, 20.0, 30.0, "/min"),
        Metric::new("RR at 35 %", iii.rr_per_min, 30.0, 40.0, "/min"),
        Metric::at_least("RR at 45 %", iv.rr_per_min, 35.0, "/min"),
    ])
    .with_traces(vec![trace.trace(), sbp.trace()]))
}

fn h4(_: &Data) -> Result<Outcome, CheckError> {
    let (mut map, mut cvp, mut volume, mut hb) = (f64::INFINITY, f64::INFINITY, f64::INFINITY, f64::INFINITY);
    let mut traces = Vec::new();
    for rate in [0.05, 0.2, 0.5, 1.0, 2.0] {
        let mut m = Model::standard_adult()?;
        let mut rec = Recorder::new(format!("MAP, bleed {rate} L/min"), "mmHg", |o| o.map_mmhg);
        let bleed = Inputs { hemorrhage_l_per_min: rate, ..Inputs::default() };
        run_watching(&mut m, &bleed, 60.0, 0.0, |t, o| {
            let finite = |v: f64| if v.is_finite() { v } else { f64::NEG_INFINITY };
            map = map.min(finite(o.map_mmhg));
            cvp = cvp.min(finite(o.cvp_mmhg));
            volume = volume.min(finite(o.blood_volume_l));
            hb = hb.min(finite(o.hb_g_per_dl));
            rec.see(t, o);
        })?;
        traces.push(rec.trace());
    }
    Ok(Outcome::new(vec![
        Metric::at_least("lowest MAP", map, 0.0, "mmHg"),
        Metric::at_least("lowest CVP", cvp, -2.0, "mmHg"),
        Metric::at_least("lowest blood volume", volume, 0.0, "L"),
        Metric::at_least("lowest Hb", hb, 0.0, "g/dL"),
    ])
    .with_traces(traces))
}

fn h5(_: &Data) -> Result<Outcome, CheckError> {
    let mut m = Model::standard_adult()?;
    let rest = m.outputs(&Inputs::default());
    let bleed = Inputs { hemorrhage_l_per_min: 0.5, ..Inputs::default() };
    let (mut low, mut lost_signal) = (None, false);
    let (mut pea, mut asystole) = (None::<f64>, None::<f64>);
    let mut co = Recorder::new("CO, bleed 0.5 L/min", "L/min", |o| o.cardiac_output_l_per_min);
    let mut et = Recorder::new("EtCO2, bleed 0.5 L/min", "mmHg", |o| o.etco2_mmhg);
    run_watching(&mut m, &bleed, 30.0, 0.0, |t, o| {
        co.see(t, o);
        et.see(t, o);
        if o.cardiac_output_l_per_min < 1.0 {
            low.get_or_insert(*o);
            lost_signal |= !o.oximeter_reads();
        }
        if o.rhythm == HeartRhythm::Pea {
            pea.get_or_insert(t);
        }
        if o.rhythm == HeartRhythm::Asystole {
            asystole.get_or_insert(t);
        }
    })?;
    let etco2 = low.map_or(Metric::missing("EtCO2 at CO < 1 L/min", "CO never fell below 1 L/min"), |o| {
        Metric::at_most("EtCO2 at CO < 1 L/min, share of rest", o.etco2_mmhg / rest.etco2_mmhg, 0.6, "")
    });
    let order = match (pea, asystole) {
        (Some(p), Some(a)) => Metric::at_least("minutes from PEA to asystole", a - p, 0.01, "min"),
        _ => Metric::missing("PEA then asystole", "the rhythm did not go through PEA to asystole in 30 min"),
    };
    Ok(Outcome::new(vec![
        etco2,
        Metric::new("oximeter loses the pulse below CO 1 L/min", f64::from(u8::from(lost_signal)), 1.0, 1.0, ""),
        order,
    ])
    .with_traces(vec![co.trace(), et.trace()]))
}

fn h6(_: &Data) -> Result<Outcome, CheckError> {
    let mut m = Model::standard_adult()?;
    let stop = bleed_until_lost(&mut m, 0.05, 0.20, DT)?;
    let mut volume = Recorder::new("blood volume after the bleed stops", "L", |o| o.blood_volume_l);
    let after = run_for(&mut m, &Inputs::default(), 10.0, DT)?;
    let hour = run_watching(&mut m, &Inputs::default(), 50.0, 10.0, |t, o| volume.see(t, o))?;
    Ok(Outcome::new(vec![
        Metric::at_most("HR change 10 min after", after.hr_per_min - stop.hr_per_min, -0.1, "/min"),
        Metric::new("SBP change", after.sbp_mmhg - stop.sbp_mmhg, 0.0, 15.0, "mmHg"),
        Metric::at_least("CO change", after.cardiac_output_l_per_min - stop.cardiac_output_l_per_min, 0.001, "L/min"),
        Metric::at_least("SV change", after.stroke_volume_ml - stop.stroke_volume_ml, 0.1, "mL"),
        Metric::at_least("blood volume gain over 60 min", hour.blood_volume_l - stop.blood_volume_l, 0.01, "L"),
    ])
    .with_traces(vec![volume.trace()]))
}

/// Blood volume gained by 1 L of crystalloid over 30 min, as a share of the litre, at the
/// end and 30 min later, against the same model without it.
fn retained(model: &Model) -> Result<(f64, f64, Vec<super::Trace>), CheckError> {
    let (mut with, mut without) = (model.clone(), model.clone());
    let infusion = Inputs { crystalloid_l_per_min: 1.0 / 30.0, ..Inputs::default() };
    let mut rec = Recorder::new("blood volume, 1 L over 30 min", "L", |o| o.blood_volume_l);
    let end = run_watching(&mut with, &infusion, 30.0, 0.0, |t, o| rec.see(t, o))?;
    let end0 = run_for(&mut without, &Inputs::default(), 30.0, DT)?;
    let later = run_watching(&mut with, &Inputs::default(), 30.0, 30.0, |t, o| rec.see(t, o))?;
    let later0 = run_for(&mut without, &Inputs::default(), 30.0, DT)?;
    Ok((end.blood_volume_l - end0.blood_volume_l, later.blood_volume_l - later0.blood_volume_l, vec![rec.trace()]))
}

fn f1(_: &Data) -> Result<Outcome, CheckError> {
    let (end, later, traces) = retained(&Model::standard_adult()?)?;
    Ok(Outcome::new(vec![
        Metric::new("gain at the end", end * 100.0, 50.0 * 0.7, 60.0 * 1.3, "%"),
        Metric::new("gain 30 min later", later * 100.0, 15.0 * 0.7, 20.0 * 1.3, "%"),
    ])
    .with_traces(traces))
}

fn f2(_: &Data) -> Result<Outcome, CheckError> {
    let (_, normal, _) = retained(&Model::standard_adult()?)?;
    let mut bled = Model::standard_adult()?;
    let share = 0.9 / bled.params.blood_volume_l;
    bleed_until_lost(&mut bled, 0.1, share, DT)?;
    let (_, after_bleed, traces) = retained(&bled)?;
    Ok(Outcome::new(vec![Metric::at_least(
        "retained after a bleed / normovolaemic",
        after_bleed / normal.max(1e-6),
        1.5,
        "",
    )])
    .with_traces(traces))
}

fn f3(_: &Data) -> Result<Outcome, CheckError> {
    let mut shocked = Model::standard_adult()?;
    let before = bleed_until_lost(&mut shocked, 0.05, 0.20, DT)?;
    let mut metrics = Vec::new();
    for (fluid, inputs) in [
        ("saline", Inputs { crystalloid_l_per_min: 0.1, ..Inputs::default() }),
        ("blood", Inputs { blood_l_per_min: 0.1, ..Inputs::default() }),
    ] {
        let mut m = shocked.clone();
        let o = run_for(&mut m, &inputs, 5.0, DT)?;
        metrics.push(Metric::at_most(format!("{fluid}: HR change"), o.hr_per_min - before.hr_per_min, -0.1, "/min"));
        metrics.push(Metric::at_least(format!("{fluid}: SBP change"), o.sbp_mmhg - before.sbp_mmhg, 0.1, "mmHg"));
        metrics.push(Metric::at_least(format!("{fluid}: DBP change"), o.dbp_mmhg - before.dbp_mmhg, 0.1, "mmHg"));
        metrics.push(Metric::at_least(
            format!("{fluid}: CO change"),
            o.cardiac_output_l_per_min - before.cardiac_output_l_per_min,
            0.001,
            "L/min",
        ));
        metrics.push(Metric::at_least(
            format!("{fluid}: SV change"),
            o.stroke_volume_ml - before.stroke_volume_ml,
            0.1,
            "mL",
        ));
        let hb = o.hb_g_per_dl - before.hb_g_per_dl;
        metrics.push(if fluid == "saline" {
            Metric::at_most("saline: Hb change", hb, -0.01, "g/dL")
        } else {
            Metric::at_least("blood: Hb change", hb, 0.01, "g/dL")
        });
    }
    Ok(Outcome::new(metrics))
}
