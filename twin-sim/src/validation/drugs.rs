//! Propofol (P1-P4), the Schnider study data (P5) and the opioid (P6).

use super::{Check, CheckError, Data, Family, Metric, Outcome, Recorder, Trace, run_watching};
use crate::physiology::{Inputs, Model, PhysioParams, REFERENCE_PATIENT, run_for};
use crate::pk::Patient;

const DT: f64 = 0.5;

pub(super) fn checks() -> Vec<Check> {
    vec![
        Check {
            id: "P1",
            family: Family::Drugs,
            scenario: "propofol 2 mg/kg, 40 y, 70 kg, normovolaemic",
            reference: "MAP nadir at 2-5 min -25 to -40 %; HR within ±10 % of baseline",
            source: "BioGears DrugsMethodology Table 6; Muzi et al., Anesth Analg 1992",
            run: p1,
        },
        Check {
            id: "P2",
            family: Family::Drugs,
            scenario: "the same",
            reference: "apnoea, or VE < 20 % of baseline for ≥ 30 s, in the first 2 min",
            source: "BioGears Table 6",
            run: p2,
        },
        Check {
            id: "P3",
            family: Family::Drugs,
            scenario: "the same",
            reference: "BIS < 60 within 2 min; BIS > 80 again at 8-15 min",
            source: "Schnider 1999 (ke0); Bouillon 2004",
            run: p3,
        },
        Check {
            id: "P4",
            family: Family::Drugs,
            scenario: "78 y against 40 y, same mg/kg",
            reference: "a larger MAP fall in the elderly",
            source: "Reich et al., Anesth Analg 2005;101:622; Kazama et al., Anesthesiology 1999;90:1517",
            run: p4,
        },
        Check {
            id: "P5",
            family: Family::Drugs,
            scenario: "Schnider 1998 study data, population parameters from each subject's covariates",
            reference: "MDPE within ±20 %; MDAPE < 30 %",
            source: "Varvel et al. 1992 method",
            run: p5,
        },
        Check {
            id: "P6",
            family: Family::Drugs,
            scenario: "30 min of propofol 5 mg/min, remifentanil 7 µg/min (0.1 µg/kg/min, Minto kinetics), or both, on 50 % O2",
            reference: "synergy on hypnosis (BIS lower with both; remifentanil alone leaves BIS near awake) and on \
                        breathing (PaCO2 rise with both > the sum of each alone)",
            source: "Bouillon et al., Anesthesiology 2004;100:1353; Minto et al., Anesthesiology 1997;86:10",
            run: p6,
        },
    ]
}

/// A 2 mg/kg bolus after 10 min at rest: the resting outputs, then the first 20 min traced.
struct Induction {
    rest_map: f64,
    rest_hr: f64,
    rest_ve: f64,
    /// (minutes after the bolus, MAP, HR, VE, BIS) every step.
    samples: Vec<(f64, f64, f64, f64, f64)>,
    traces: Vec<Trace>,
}

fn induction(age_years: f64) -> Result<Induction, CheckError> {
    let patient = Patient { age_years, ..REFERENCE_PATIENT };
    let mut m = Model::new(&patient, PhysioParams::for_patient(&patient))?;
    let rest = run_for(&mut m, &Inputs::default(), 10.0, DT)?;
    m.propofol_bolus(2.0 * patient.weight_kg)?;
    let mut samples = Vec::new();
    let mut map = Recorder::new(format!("MAP, propofol 2 mg/kg, {age_years:.0} y"), "mmHg", |o| o.map_mmhg);
    let mut bis = Recorder::new(format!("BIS, propofol 2 mg/kg, {age_years:.0} y"), "", |o| o.bis);
    run_watching(&mut m, &Inputs::default(), 20.0, 0.0, |t, o| {
        samples.push((t, o.map_mmhg, o.hr_per_min, o.minute_ventilation_l, o.bis));
        map.see(t, o);
        bis.see(t, o);
    })?;
    Ok(Induction {
        rest_map: rest.map_mmhg,
        rest_hr: rest.hr_per_min,
        rest_ve: rest.minute_ventilation_l,
        samples,
        traces: vec![map.trace(), bis.trace()],
    })
}

impl Induction {
    /// The MAP nadir between 2 and 5 min as a fall (%), and the HR change then (%).
    fn nadir(&self) -> (f64, f64) {
        let window = self.samples.iter().filter(|s| (2.0..=5.0).contains(&s.0));
        let (map, hr) = window.fold((f64::INFINITY, self.rest_hr), |acc, s| if s.1 < acc.0 { (s.1, s.2) } else { acc });
        ((1.0 - map / self.rest_map) * 100.0, (hr / self.rest_hr - 1.0) * 100.0)
    }
}

fn p1(_: &Data) -> Result<Outcome, CheckError> {
    let i = induction(40.0)?;
    let (fall, hr) = i.nadir();
    Ok(Outcome::new(vec![
        Metric::new("MAP fall at the nadir", fall, 25.0, 40.0, "%"),
        Metric::new("HR change then", hr, -10.0, 10.0, "%"),
    ])
    .with_traces(i.traces))
}

fn p2(_: &Data) -> Result<Outcome, CheckError> {
    let i = induction(40.0)?;
    let low = i.samples.iter().filter(|s| s.0 <= 2.0 && s.3 < 0.2 * i.rest_ve).count() as f64 * DT;
    Ok(Outcome::new(vec![Metric::at_least("VE < 20 % of rest in the first 2 min", low, 30.0, "s")]))
}

fn p3(_: &Data) -> Result<Outcome, CheckError> {
    let i = induction(40.0)?;
    let onset = i.samples.iter().find(|s| s.4 < 60.0).map(|s| s.0);
    let deepest = i.samples.iter().position(|s| s.4 < 60.0).unwrap_or(0);
    let recovery = i.samples[deepest..].iter().find(|s| s.4 > 80.0).map(|s| s.0);
    Ok(Outcome::new(vec![
        onset.map_or(Metric::missing("BIS < 60", "never below 60"), |t| Metric::at_most("BIS < 60 at", t, 2.0, "min")),
        recovery.map_or(Metric::missing("BIS > 80 again", "not within 20 min"), |t| {
            Metric::new("BIS > 80 again at", t, 8.0, 15.0, "min")
        }),
    ])
    .with_traces(i.traces))
}

fn p4(_: &Data) -> Result<Outcome, CheckError> {
    let (young, _) = induction(40.0)?.nadir();
    let old = induction(78.0)?;
    let (elderly, _) = old.nadir();
    Ok(Outcome::new(vec![Metric::at_least("MAP fall at 78 y minus at 40 y", elderly - young, 0.1, "points")])
        .with_traces(old.traces))
}

fn p5(data: &Data) -> Result<Outcome, CheckError> {
    let text = data.schnider_table.ok_or(CheckError::NoData("the Schnider 1998 study table"))?;
    let subjects = crate::pk_validation::parse_table(text).map_err(|e| CheckError::BadData(e.to_string()))?;
    let r = crate::pk_validation::validate(&subjects).map_err(|e| CheckError::BadData(e.to_string()))?;
    Ok(Outcome::new(vec![
        Metric::new("MDPE (median over subjects)", r.median_subject_mdpe_percent, -20.0, 20.0, "%"),
        Metric::at_most("MDAPE (median over subjects)", r.median_subject_mdape_percent, 29.99, "%"),
    ]))
}

fn p6(_: &Data) -> Result<Outcome, CheckError> {
    let run = |propofol: f64, remifentanil: f64| -> Result<(crate::physiology::Outputs, Trace), CheckError> {
        let mut m = Model::standard_adult()?;
        let inputs = Inputs {
            propofol_mg_per_min: propofol,
            remifentanil_ug_per_min: remifentanil,
            fio2: 0.5,
            ..Inputs::default()
        };
        let label = match (propofol > 0.0, remifentanil > 0.0) {
            (true, true) => "PaCO2, propofol and remifentanil",
            (true, false) => "PaCO2, propofol alone",
            (false, true) => "PaCO2, remifentanil alone",
            (false, false) => "PaCO2, neither",
        };
        let mut rec = Recorder::new(label, "mmHg", |o| o.paco2_mmhg);
        let o = run_watching(&mut m, &inputs, 30.0, 0.0, |t, o| rec.see(t, o))?;
        Ok((o, rec.trace()))
    };
    let (none, _) = run(0.0, 0.0)?;
    let (p, tp) = run(5.0, 0.0)?;
    let (r, tr) = run(0.0, 7.0)?;
    let (both, tb) = run(5.0, 7.0)?;
    let rise = |o: &crate::physiology::Outputs| o.paco2_mmhg - none.paco2_mmhg;
    Ok(Outcome::new(vec![
        Metric::at_most("BIS with both minus propofol alone", both.bis - p.bis, -0.5, ""),
        Metric::at_least("BIS with remifentanil alone", r.bis, 90.0, ""),
        Metric::at_least(
            "PaCO2 rise with both over the sum of each alone",
            rise(&both) / (rise(&p) + rise(&r)).max(1e-6),
            1.01,
            "",
        ),
    ])
    .with_traces(vec![tp, tr, tb]))
}
