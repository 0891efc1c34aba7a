//! Propofol pharmacokinetics and BIS response: the Schnider three-compartment model with an
//! effect site, driven by boluses and constant-rate infusions, integrated with fixed RK4
//! steps (pure arithmetic, so bit-identical on every target).
//!
//! Units: amounts in mg, volumes in L, so concentrations in mg/L = µg/mL; time in minutes.
//!
//! Sources (published parameter values, used as facts):
//! - Schnider TW, Minto CF, Gambus PL, et al. The influence of method of administration and
//!   covariates on the pharmacokinetics of propofol in adult volunteers. Anesthesiology
//!   1998;88:1170–82. V1 = 4.27 L; V2 = 18.9 − 0.391 (age − 53) L; V3 = 238 L;
//!   Cl1 = 1.89 + 0.0456 (weight − 77) − 0.0681 (LBM − 59) + 0.0264 (height − 177) L/min;
//!   Cl2 = 1.29 − 0.024 (age − 53) L/min; Cl3 = 0.836 L/min.
//! - Schnider TW, Minto CF, Shafer SL, et al. The influence of age on propofol
//!   pharmacodynamics. Anesthesiology 1999;90:1502–16: ke0 = 0.456 /min. That paper measured
//!   effect with an EEG canonical univariate parameter, not BIS, so the BIS curve's
//!   E0/Emax/Ce50/γ below come from Bouillon TW, Bruhn J, Radulescu L, et al.
//!   Pharmacodynamic interaction between propofol and remifentanil regarding hypnosis,
//!   tolerance of laryngoscopy, bispectral index, and electroencephalographic approximate
//!   entropy. Anesthesiology 2004;100:1353–72 (propofol alone: E0 = Emax = 97.4,
//!   C50 = 4.47 µg/mL, γ = 1.43).
//! - Remifentanil: Minto CF, Schnider TW, Egan TD, et al. Influence of age and gender on the
//!   pharmacokinetics and pharmacodynamics of remifentanil. Anesthesiology 1997;86:10–23.
//!   V1 = 5.1 − 0.0201 (age − 40) + 0.072 (LBM − 55) L; V2 = 9.82 − 0.0811 (age − 40) +
//!   0.108 (LBM − 55) L; V3 = 5.42 L; Cl1 = 2.6 − 0.0162 (age − 40) + 0.0191 (LBM − 55)
//!   L/min; Cl2 = 2.05 − 0.0301 (age − 40) L/min; Cl3 = 0.076 − 0.00113 (age − 40) L/min;
//!   ke0 = 0.595 − 0.007 (age − 40) /min. Amounts in µg, so concentrations in ng/mL.
//! - With remifentanil, BIS follows Bouillon 2004's hierarchical surface: the opioid lowers
//!   the propofol concentration for half the effect, C50P × (1 − CeR / (CeR + C50R)), with
//!   C50R = 19.3 ng/mL (BIS is far less sensitive to the opioid than to propofol).
//! - Lean body mass: James WPT. Research on obesity. London: HMSO, 1976 (the formula the
//!   Schnider model was built with): male 1.1 W − 128 (W/H)², female 1.07 W − 148 (W/H)².

use crate::detmath;

/// Sex, as the covariate the Schnider model uses (through lean body mass).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

/// A patient's covariates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Patient {
    pub age_years: f64,
    pub weight_kg: f64,
    pub height_cm: f64,
    pub sex: Sex,
}

/// Why a model could not be built or driven.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PkError {
    #[error("{name} = {value} is outside the range {min}..={max} the model accepts")]
    CovariateOutOfRange { name: &'static str, value: f64, min: f64, max: f64 },
    #[error("the covariates give a non-positive {name} ({value}); the model does not apply")]
    NonPositiveParameter { name: &'static str, value: f64 },
    #[error("{name} must be a finite number ≥ 0, got {value}")]
    InvalidDose { name: &'static str, value: f64 },
    #[error("the time step must be finite and > 0, got {0}")]
    InvalidStep(f64),
}

/// Lean body mass (kg) by James's formula.
pub fn lean_body_mass(p: &Patient) -> f64 {
    let ratio = p.weight_kg / p.height_cm;
    match p.sex {
        Sex::Male => 1.1 * p.weight_kg - 128.0 * ratio * ratio,
        Sex::Female => 1.07 * p.weight_kg - 148.0 * ratio * ratio,
    }
}

/// Volumes (L) and rate constants (/min) of a three-compartment model with effect site.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PkParams {
    pub v1: f64,
    pub v2: f64,
    pub v3: f64,
    pub k10: f64,
    pub k12: f64,
    pub k21: f64,
    pub k13: f64,
    pub k31: f64,
    pub ke0: f64,
}

/// The covariates both models accept (age, weight, height in range) and the lean body mass
/// they use, which must come out positive.
fn checked_lean_body_mass(p: &Patient) -> Result<f64, PkError> {
    check_range("age_years", p.age_years, 1.0, 120.0)?;
    check_range("weight_kg", p.weight_kg, 10.0, 300.0)?;
    check_range("height_cm", p.height_cm, 50.0, 250.0)?;
    let lbm = lean_body_mass(p);
    positive("lean body mass", lbm)?;
    Ok(lbm)
}

impl PkParams {
    /// The Schnider 1998 model for this patient, with ke0 = 0.456 /min (Schnider 1999).
    pub fn schnider(p: &Patient) -> Result<Self, PkError> {
        let lbm = checked_lean_body_mass(p)?;
        let v1 = 4.27;
        let v2 = 18.9 - 0.391 * (p.age_years - 53.0);
        let v3 = 238.0;
        let cl1 = 1.89 + 0.0456 * (p.weight_kg - 77.0) - 0.0681 * (lbm - 59.0) + 0.0264 * (p.height_cm - 177.0);
        let cl2 = 1.29 - 0.024 * (p.age_years - 53.0);
        let cl3 = 0.836;
        positive("V2", v2)?;
        positive("Cl1", cl1)?;
        positive("Cl2", cl2)?;
        Ok(Self { v1, v2, v3, k10: cl1 / v1, k12: cl2 / v1, k21: cl2 / v2, k13: cl3 / v1, k31: cl3 / v3, ke0: 0.456 })
    }

    /// The Minto 1997 remifentanil model for this patient (amounts in µg, so ng/mL).
    pub fn minto(p: &Patient) -> Result<Self, PkError> {
        let lbm = checked_lean_body_mass(p)?;
        let age = p.age_years - 40.0;
        let v1 = 5.1 - 0.0201 * age + 0.072 * (lbm - 55.0);
        let v2 = 9.82 - 0.0811 * age + 0.108 * (lbm - 55.0);
        let v3 = 5.42;
        let cl1 = 2.6 - 0.0162 * age + 0.0191 * (lbm - 55.0);
        let cl2 = 2.05 - 0.0301 * age;
        let cl3 = 0.076 - 0.00113 * age;
        let ke0 = 0.595 - 0.007 * age;
        for (name, v) in [("V1", v1), ("V2", v2), ("Cl1", cl1), ("Cl2", cl2), ("Cl3", cl3), ("ke0", ke0)] {
            positive(name, v)?;
        }
        Ok(Self { v1, v2, v3, k10: cl1 / v1, k12: cl2 / v1, k21: cl2 / v2, k13: cl3 / v1, k31: cl3 / v3, ke0 })
    }

    /// Elimination clearance Cl1 = k10 · V1 (L/min).
    pub fn clearance(&self) -> f64 {
        self.k10 * self.v1
    }
}

fn check_range(name: &'static str, value: f64, min: f64, max: f64) -> Result<(), PkError> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(PkError::CovariateOutOfRange { name, value, min, max })
    }
}

fn positive(name: &'static str, value: f64) -> Result<(), PkError> {
    if value > 0.0 { Ok(()) } else { Err(PkError::NonPositiveParameter { name, value }) }
}

fn dose(name: &'static str, value: f64) -> Result<f64, PkError> {
    if value.is_finite() && value >= 0.0 { Ok(value) } else { Err(PkError::InvalidDose { name, value }) }
}

/// Drug amounts (mg) in the three compartments and the effect-site concentration (µg/mL).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PkState {
    pub a1: f64,
    pub a2: f64,
    pub a3: f64,
    pub ce: f64,
}

impl PkState {
    /// Time derivative (per minute) under an infusion of `rate` mg/min into V1.
    pub fn derivative(&self, p: &PkParams, rate: f64) -> PkState {
        let c1 = self.a1 / p.v1;
        PkState {
            a1: rate - (p.k10 + p.k12 + p.k13) * self.a1 + p.k21 * self.a2 + p.k31 * self.a3,
            a2: p.k12 * self.a1 - p.k21 * self.a2,
            a3: p.k13 * self.a1 - p.k31 * self.a3,
            ce: p.ke0 * (c1 - self.ce),
        }
    }

    fn add_scaled(&self, d: &PkState, h: f64) -> PkState {
        PkState { a1: self.a1 + h * d.a1, a2: self.a2 + h * d.a2, a3: self.a3 + h * d.a3, ce: self.ce + h * d.ce }
    }

    /// One classical Runge–Kutta step of `h` minutes at a constant infusion `rate` mg/min.
    pub fn rk4(&self, p: &PkParams, rate: f64, h: f64) -> PkState {
        let k1 = self.derivative(p, rate);
        let k2 = self.add_scaled(&k1, h / 2.0).derivative(p, rate);
        let k3 = self.add_scaled(&k2, h / 2.0).derivative(p, rate);
        let k4 = self.add_scaled(&k3, h).derivative(p, rate);
        PkState {
            a1: self.a1 + h / 6.0 * (k1.a1 + 2.0 * k2.a1 + 2.0 * k3.a1 + k4.a1),
            a2: self.a2 + h / 6.0 * (k1.a2 + 2.0 * k2.a2 + 2.0 * k3.a2 + k4.a2),
            a3: self.a3 + h / 6.0 * (k1.a3 + 2.0 * k2.a3 + 2.0 * k3.a3 + k4.a3),
            ce: self.ce + h / 6.0 * (k1.ce + 2.0 * k2.ce + 2.0 * k3.ce + k4.ce),
        }
    }
}

/// A propofol model: parameters plus state. Time advances in fixed steps of at most
/// `max_step_min`; an interval that is not a multiple is ended by one shorter step, so the
/// result depends only on the inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct PropofolModel {
    pub params: PkParams,
    pub state: PkState,
    max_step_min: f64,
}

/// Default RK4 step: one second. The fastest rate constant (k10 + k12 + k13 + ke0 ≈ 1 /min)
/// makes h · λ ≈ 0.02, where RK4's local error is ~1e-10 relative.
pub const DEFAULT_STEP_MIN: f64 = 1.0 / 60.0;

impl PropofolModel {
    /// A drug-free patient with these parameters.
    pub fn new(params: PkParams) -> Self {
        Self { params, state: PkState::default(), max_step_min: DEFAULT_STEP_MIN }
    }

    /// Changes the largest integration step (minutes).
    pub fn with_max_step(mut self, minutes: f64) -> Result<Self, PkError> {
        if !(minutes.is_finite() && minutes > 0.0) {
            return Err(PkError::InvalidStep(minutes));
        }
        self.max_step_min = minutes;
        Ok(self)
    }

    /// Plasma (central) concentration, µg/mL.
    pub fn plasma_concentration(&self) -> f64 {
        self.state.a1 / self.params.v1
    }

    /// Effect-site concentration, µg/mL.
    pub fn effect_site_concentration(&self) -> f64 {
        self.state.ce
    }

    /// An instantaneous bolus of `mg` into the central compartment.
    pub fn bolus(&mut self, mg: f64) -> Result<(), PkError> {
        self.state.a1 += dose("bolus mg", mg)?;
        Ok(())
    }

    /// Advances `minutes` with a constant infusion of `rate_mg_per_min`.
    pub fn advance(&mut self, rate_mg_per_min: f64, minutes: f64) -> Result<(), PkError> {
        let rate = dose("infusion rate mg/min", rate_mg_per_min)?;
        if !(minutes.is_finite() && minutes >= 0.0) {
            return Err(PkError::InvalidStep(minutes));
        }
        let full = (minutes / self.max_step_min).floor();
        // Guard against absurd spans (more than ~10^9 steps) rather than loop for hours.
        if full > 1e9 {
            return Err(PkError::InvalidStep(minutes));
        }
        let full = full as u64;
        for _ in 0..full {
            self.state = self.state.rk4(&self.params, rate, self.max_step_min);
        }
        let rest = minutes - full as f64 * self.max_step_min;
        if rest > 0.0 {
            self.state = self.state.rk4(&self.params, rate, rest);
        }
        Ok(())
    }
}

/// Sigmoid Emax (Hill) curve from effect-site concentration to BIS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BisModel {
    pub e0: f64,
    pub emax: f64,
    pub ce50: f64,
    pub gamma: f64,
    /// Remifentanil effect-site concentration (ng/mL) that halves the propofol Ce50.
    pub opioid_c50: f64,
}

impl Default for BisModel {
    /// Bouillon et al. 2004: E0 = Emax = 97.4, Ce50 = 4.47 µg/mL, γ = 1.43; remifentanil
    /// C50 19.3 ng/mL.
    fn default() -> Self {
        Self { e0: 97.4, emax: 97.4, ce50: 4.47, gamma: 1.43, opioid_c50: 19.3 }
    }
}

impl BisModel {
    /// BIS = E0 − Emax · Ce^γ / (Ce^γ + Ce50^γ); a negative or NaN Ce counts as 0.
    pub fn bis(&self, ce: f64) -> f64 {
        self.bis_with_opioid(ce, 0.0)
    }

    /// BIS with remifentanil at `ce_opioid` ng/mL: Ce50 × (1 − CeR / (CeR + C50R)).
    pub fn bis_with_opioid(&self, ce: f64, ce_opioid: f64) -> f64 {
        let ce = if ce > 0.0 { ce } else { 0.0 };
        let cr = if ce_opioid > 0.0 { ce_opioid } else { 0.0 };
        let c50 = self.ce50 * (1.0 - cr / (cr + self.opioid_c50));
        let x = detmath::powf(ce / c50, self.gamma);
        self.e0 - self.emax * x / (1.0 + x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_man() -> Patient {
        // The Schnider model's centring values: age 53, 77 kg, 177 cm.
        Patient { age_years: 53.0, weight_kg: 77.0, height_cm: 177.0, sex: Sex::Male }
    }

    #[test]
    fn lean_body_mass_by_hand() {
        // 1.1·77 − 128·(77/177)² = 84.7 − 24.2239… = 60.4761
        assert!((lean_body_mass(&reference_man()) - 60.476_05).abs() < 1e-4);
        let woman = Patient { age_years: 34.0, weight_kg: 46.3, height_cm: 157.5, sex: Sex::Female };
        // 1.07·46.3 − 148·(46.3/157.5)² = 49.541 − 12.7897… = 36.7513
        assert!((lean_body_mass(&woman) - 36.751_3).abs() < 1e-3);
    }

    /// Minto 1997 by hand: 40 y, 70 kg, 175 cm man, LBM 77 − 128 (70/175)² = 56.52 kg; and
    /// 70 y, where ke0 and Cl3 fall with age.
    #[test]
    fn minto_remifentanil_parameters_by_hand() {
        let man = Patient { age_years: 40.0, weight_kg: 70.0, height_cm: 175.0, sex: Sex::Male };
        let p = PkParams::minto(&man).unwrap();
        let near = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(near(p.v1, 5.1 + 0.072 * 1.52), "{p:?}");
        assert!(near(p.v2, 9.82 + 0.108 * 1.52) && near(p.v3, 5.42), "{p:?}");
        assert!(near(p.clearance(), 2.6 + 0.0191 * 1.52) && near(p.ke0, 0.595), "{p:?}");
        let old = PkParams::minto(&Patient { age_years: 70.0, ..man }).unwrap();
        assert!(near(old.ke0, 0.385) && near(old.k31 * old.v3, 0.076 - 0.00113 * 30.0), "{old:?}");
        assert!(PkParams::minto(&Patient { age_years: 130.0, ..man }).is_err());
    }

    /// Bouillon 2004's hierarchical surface: remifentanil at its C50 halves propofol's, and
    /// none leaves the propofol-alone curve as it was.
    #[test]
    fn remifentanil_lowers_the_propofol_concentration_for_a_bis() {
        let m = BisModel::default();
        assert!((m.bis_with_opioid(4.47 / 2.0, 19.3) - m.bis(4.47)).abs() < 1e-9);
        assert_eq!(m.bis_with_opioid(3.0, 0.0), m.bis(3.0));
        assert!(m.bis_with_opioid(3.0, 4.0) < m.bis(3.0) - 2.0);
        assert!(m.bis_with_opioid(0.0, 10.0) > 97.0, "the opioid alone leaves BIS awake");
    }

    #[test]
    fn schnider_parameters_by_hand() {
        let p = PkParams::schnider(&reference_man()).unwrap();
        // Cl1 = 1.89 − 0.0681·(60.4761 − 59) = 1.78948
        assert!((p.clearance() - 1.789_48).abs() < 1e-4);
        assert!((p.k10 - 1.789_48 / 4.27).abs() < 1e-4);
        assert!((p.v2 - 18.9).abs() < 1e-12);
        assert!((p.k12 - 1.29 / 4.27).abs() < 1e-12);
        assert!((p.k21 - 1.29 / 18.9).abs() < 1e-12);
        assert!((p.k13 - 0.836 / 4.27).abs() < 1e-12);
        assert!((p.k31 - 0.836 / 238.0).abs() < 1e-12);
        assert_eq!(p.ke0, 0.456);
        // A 30-year-old: V2 = 18.9 + 0.391·23 = 27.893, Cl2 = 1.29 + 0.024·23 = 1.842
        let young = PkParams::schnider(&Patient { age_years: 30.0, ..reference_man() }).unwrap();
        assert!((young.v2 - 27.893).abs() < 1e-9);
        assert!((young.k21 * young.v2 - 1.842).abs() < 1e-9);
    }

    #[test]
    fn bad_covariates_are_errors() {
        let bad_age = Patient { age_years: f64::NAN, ..reference_man() };
        assert!(matches!(PkParams::schnider(&bad_age), Err(PkError::CovariateOutOfRange { name: "age_years", .. })));
        // Very heavy and short: James's LBM formula turns negative.
        let obese = Patient { weight_kg: 250.0, height_cm: 150.0, ..reference_man() };
        assert!(matches!(PkParams::schnider(&obese), Err(PkError::NonPositiveParameter { .. })));
        // Age 110: V2 = 18.9 − 0.391·57 < 0.
        let old = Patient { age_years: 110.0, ..reference_man() };
        assert!(PkParams::schnider(&old).is_err());
        let mut m = PropofolModel::new(PkParams::schnider(&reference_man()).unwrap());
        assert!(m.bolus(-1.0).is_err());
        assert!(m.advance(f64::NAN, 1.0).is_err());
        assert!(m.advance(1.0, -1.0).is_err());
        assert!(m.clone().with_max_step(0.0).is_err());
        assert_eq!(m.state, PkState::default());
    }

    #[test]
    fn bolus_gives_dose_over_v1_then_the_hand_computed_slope() {
        let p = PkParams::schnider(&reference_man()).unwrap();
        let mut m = PropofolModel::new(p);
        m.bolus(100.0).unwrap();
        assert!((m.plasma_concentration() - 100.0 / 4.27).abs() < 1e-12);
        assert_eq!(m.effect_site_concentration(), 0.0);
        // Over a short time the central concentration falls at (k10 + k12 + k13)·C1
        // and the effect site rises at ke0·C1.
        let c0 = m.plasma_concentration();
        let dt = 1e-4;
        m.advance(0.0, dt).unwrap();
        let slope = (m.plasma_concentration() - c0) / dt;
        let want = -(p.k10 + p.k12 + p.k13) * c0;
        assert!((slope - want).abs() < 1e-3 * want.abs(), "{slope} vs {want}");
        assert!((m.effect_site_concentration() / dt - 0.456 * c0).abs() < 1e-3 * 0.456 * c0);
    }

    #[test]
    fn one_compartment_matches_the_exponential() {
        let p = PkParams { v1: 10.0, v2: 1.0, v3: 1.0, k10: 0.2, k12: 0.0, k21: 0.0, k13: 0.0, k31: 0.0, ke0: 0.5 };
        let mut m = PropofolModel::new(p);
        m.bolus(50.0).unwrap();
        m.advance(0.0, 10.0).unwrap();
        // C1 = 5 e^(−0.2 t); Ce = 5 · 0.5/(0.5 − 0.2) · (e^(−0.2 t) − e^(−0.5 t))
        let c1 = 5.0 * (-2.0f64).exp();
        let ce = 5.0 * 0.5 / 0.3 * ((-2.0f64).exp() - (-5.0f64).exp());
        assert!((m.plasma_concentration() - c1).abs() < 1e-9, "{}", m.plasma_concentration());
        assert!((m.effect_site_concentration() - ce).abs() < 1e-9);
    }

    #[test]
    fn long_infusion_reaches_rate_over_clearance_everywhere() {
        let p = PkParams::schnider(&reference_man()).unwrap();
        let mut m = PropofolModel::new(p).with_max_step(0.5).unwrap();
        let rate = 10.0; // mg/min
        m.advance(rate, 20_000.0).unwrap();
        let css = rate / p.clearance();
        assert!((m.plasma_concentration() - css).abs() < 1e-6 * css, "{} vs {css}", m.plasma_concentration());
        assert!((m.effect_site_concentration() - css).abs() < 1e-6 * css);
        assert!((m.state.a2 / p.v2 - css).abs() < 1e-6 * css);
        assert!((m.state.a3 / p.v3 - css).abs() < 1e-6 * css);
    }

    #[test]
    fn step_size_changes_the_answer_only_in_far_digits() {
        let p = PkParams::schnider(&reference_man()).unwrap();
        let run = |h: f64| {
            let mut m = PropofolModel::new(p).with_max_step(h).unwrap();
            m.bolus(150.0).unwrap();
            m.advance(0.0, 3.0).unwrap();
            m.advance(8.0, 57.0).unwrap();
            (m.plasma_concentration(), m.effect_site_concentration())
        };
        let (a, b) = (run(1.0 / 60.0), run(1.0 / 600.0));
        assert!((a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9, "{a:?} {b:?}");
    }

    #[test]
    fn bis_curve_by_hand() {
        let b = BisModel::default();
        assert!((b.bis(0.0) - 97.4).abs() < 1e-12);
        assert!((b.bis(4.47) - 48.7).abs() < 1e-12);
        // Ce = 2: (2/4.47)^1.43 = 0.31662…; 97.4 − 97.4·0.31662/1.31662 = 73.98
        let x = (2.0f64 / 4.47).powf(1.43);
        assert!((b.bis(2.0) - (97.4 - 97.4 * x / (1.0 + x))).abs() < 1e-10);
        assert!((b.bis(2.0) - 73.98).abs() < 0.01);
        assert!(b.bis(-1.0) == 97.4 && b.bis(f64::NAN) == 97.4);
        assert!(b.bis(100.0) < 2.0);
    }
}
