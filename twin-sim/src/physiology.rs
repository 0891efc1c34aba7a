//! A lumped-parameter adult physiology for the training twin: a two-compartment systemic
//! circulation (arterial and venous compliances, systemic resistance, a Frank–Starling
//! heart), a baroreflex, oxygenation and CO2 from ventilation, FiO2 and shunt, propofol
//! (Schnider PK with effect site, see [`crate::pk`]) with its BIS and haemodynamic and
//! respiratory effects, hemorrhage, crystalloid and blood infusion, and phenylephrine.
//!
//! Integration: classical RK4 at the caller's fixed step on a 10-element `nalgebra` state
//! vector; only `+ − × ÷ sqrt` and [`crate::detmath`] are used, so the same inputs give
//! bit-identical trajectories on every IEEE-754 target (native and wasm32).
//!
//! Calibration and sources (resting adult, 70 kg):
//! - HR 70 /min, MAP 93 mmHg, CO 5.0 L/min, SV ≈ 71 mL, CVP 5 mmHg, blood volume 5.0 L
//!   (≈ 70 mL/kg): Hall JE, Guyton and Hall Textbook of Medical Physiology, 14th ed. (2021),
//!   chapters 14–15 and 20; systemic resistance follows as (MAP − CVP)/CO.
//! - Oxygen: alveolar gas equation PAO2 = FiO2 (PB − PH2O) − PaCO2/RQ with PB 760, PH2O 47,
//!   RQ 0.8; saturation from Severinghaus JW, Simple, accurate equations for human blood O2
//!   dissociation computations, J Appl Physiol 1979;46:599–602; O2 content 1.34 mL/g Hb;
//!   VO2 250 mL/min, VCO2 200 mL/min, physiological shunt 2 % (West JB, Respiratory
//!   Physiology: The Essentials, 10th ed., 2016).
//! - Ventilation: RR 12 /min, VT 0.5 L, dead space 0.15 L; PaCO2 = 0.863 VCO2 / VA (West).
//! - End-tidal CO2 = PaCO2 − 4 mmHg (normal arterial–end-tidal gradient 2–5 mmHg).
//! - Pulse pressure ≈ SV / arterial compliance; SBP = MAP + 2/3 PP, DBP = MAP − 1/3 PP.
//!
//! Model assumptions that are *not* published values (chosen for qualitatively correct
//! responses, documented so they can be replaced): baroreflex gain (half-saturation 30 mmHg
//! from the set point) and effector ranges, propofol haemodynamic Ce50 3 µg/mL with 35 %
//! maximal vasodilation and 30 % maximal loss of contractility, propofol respiratory
//! Ce50 3 µg/mL, phenylephrine one-compartment kinetics (Vd 70 L, t½ 5 min) with EC50
//! 5 ng/mL, +100 % maximal resistance and 10 % venoconstriction (unstressed volume),
//! transcapillary refill rate, and crystalloid leaving the vessels with a 20 min time
//! constant (of the order volume-kinetic studies report: Hahn RG, Volume kinetics for
//! infusion fluids, Anesthesiology 2010;113:470–81).

use nalgebra::SVector;

use crate::pk::{BisModel, Patient, PkError, PkParams, Sex};

/// State vector length.
pub const STATE_LEN: usize = 11;
type State = SVector<f64, STATE_LEN>;

// State indices.
const VA: usize = 0; // arterial volume, L
const VV: usize = 1; // venous volume, L
const TONE: usize = 2; // baroreflex sympathetic tone, 0..1 (0.5 at rest)
const RBC: usize = 3; // red-cell volume, L
const A1: usize = 4; // propofol central amount, mg
const A2: usize = 5; // propofol fast peripheral amount, mg
const A3: usize = 6; // propofol slow peripheral amount, mg
const CE: usize = 7; // propofol effect-site concentration, µg/mL
const PHE: usize = 8; // phenylephrine plasma concentration, ng/mL
const PACO2: usize = 9; // arterial CO2 tension, mmHg
const XTAL: usize = 10; // infused crystalloid still in the vessels, L

/// Why a step or a model could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PhysioError {
    #[error("{name} must be finite and within {min}..={max}, got {value}")]
    InputOutOfRange { name: &'static str, value: f64, min: f64, max: f64 },
    #[error(transparent)]
    Pk(#[from] PkError),
}

/// How the patient breathes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ventilation {
    /// Own breathing: 12 /min × 0.5 L at rest, depressed by propofol.
    Spontaneous,
    /// Mechanical ventilation at a set rate (/min) and tidal volume (L).
    Controlled { rate_per_min: f64, tidal_volume_l: f64 },
}

/// Inputs held constant over one step. Rates are per minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inputs {
    pub propofol_mg_per_min: f64,
    pub phenylephrine_ug_per_min: f64,
    pub hemorrhage_l_per_min: f64,
    pub crystalloid_l_per_min: f64,
    /// Whole blood (haematocrit [`PhysioParams::transfused_hct`]).
    pub blood_l_per_min: f64,
    pub fio2: f64,
    pub ventilation: Ventilation,
}

impl Default for Inputs {
    fn default() -> Self {
        Self {
            propofol_mg_per_min: 0.0,
            phenylephrine_ug_per_min: 0.0,
            hemorrhage_l_per_min: 0.0,
            crystalloid_l_per_min: 0.0,
            blood_l_per_min: 0.0,
            fio2: 0.21,
            ventilation: Ventilation::Spontaneous,
        }
    }
}

/// What the monitor shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outputs {
    pub hr_per_min: f64,
    pub map_mmhg: f64,
    pub sbp_mmhg: f64,
    pub dbp_mmhg: f64,
    pub cvp_mmhg: f64,
    pub cardiac_output_l_per_min: f64,
    pub stroke_volume_ml: f64,
    pub spo2_percent: f64,
    pub paco2_mmhg: f64,
    pub etco2_mmhg: f64,
    pub rr_per_min: f64,
    pub minute_ventilation_l: f64,
    pub bis: f64,
    pub propofol_plasma_ug_per_ml: f64,
    pub propofol_effect_ug_per_ml: f64,
    pub blood_volume_l: f64,
    pub hb_g_per_dl: f64,
}

/// Fixed parameters: the resting calibration plus the response assumptions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhysioParams {
    pub hr_rest: f64,
    pub map_set: f64,
    pub cvp_rest: f64,
    pub co_rest: f64,
    pub blood_volume_l: f64,
    pub hct_rest: f64,
    /// L/mmHg.
    pub arterial_compliance: f64,
    /// L/mmHg.
    pub venous_compliance: f64,
    /// Arterial share of blood volume at rest, L.
    pub arterial_volume_rest: f64,
    /// Venous pressure (mmHg) at which stroke volume is half its maximum.
    pub starling_half_pressure: f64,
    /// Baroreflex: MAP deviation (mmHg) giving half the tone swing; time constant (min).
    pub baro_half_mmhg: f64,
    pub baro_tau_min: f64,
    /// Fractional effector ranges at full sympathetic tone swing (tone 0 or 1).
    pub baro_hr_range: f64,
    pub baro_resistance_range: f64,
    pub baro_contractility_range: f64,
    pub baro_venous_range: f64,
    /// Transcapillary exchange, L/min per mmHg of venous pressure above rest.
    pub capillary_filtration: f64,
    pub transfused_hct: f64,
    /// Time constant (min) of crystalloid leaving the vessels for the interstitium.
    pub crystalloid_distribution_min: f64,
    pub vo2_ml_per_min: f64,
    pub vco2_ml_per_min: f64,
    pub shunt_fraction: f64,
    pub dead_space_l: f64,
    pub rr_rest: f64,
    pub vt_rest_l: f64,
    /// Effective CO2 store, L (sets how fast PaCO2 moves).
    pub co2_store_l: f64,
    pub propofol_hemo_ce50: f64,
    pub propofol_max_vasodilation: f64,
    pub propofol_max_negative_inotropy: f64,
    pub propofol_resp_ce50: f64,
    pub phenylephrine_vd_l: f64,
    pub phenylephrine_half_life_min: f64,
    pub phenylephrine_ec50: f64,
    pub phenylephrine_max_resistance: f64,
    pub bis: BisModel,
}

impl Default for PhysioParams {
    fn default() -> Self {
        Self {
            hr_rest: 70.0,
            map_set: 93.0,
            cvp_rest: 5.0,
            co_rest: 5.0,
            blood_volume_l: 5.0,
            hct_rest: 0.45,
            arterial_compliance: 0.0018,
            venous_compliance: 0.15,
            arterial_volume_rest: 0.75,
            starling_half_pressure: 5.0,
            baro_half_mmhg: 30.0,
            baro_tau_min: 0.1,
            baro_hr_range: 0.6,
            baro_resistance_range: 0.5,
            baro_contractility_range: 0.3,
            baro_venous_range: 0.15,
            capillary_filtration: 0.0025,
            transfused_hct: 0.45,
            crystalloid_distribution_min: 20.0,
            vo2_ml_per_min: 250.0,
            vco2_ml_per_min: 200.0,
            shunt_fraction: 0.02,
            dead_space_l: 0.15,
            rr_rest: 12.0,
            vt_rest_l: 0.5,
            co2_store_l: 20.0,
            propofol_hemo_ce50: 3.0,
            propofol_max_vasodilation: 0.35,
            propofol_max_negative_inotropy: 0.3,
            propofol_resp_ce50: 3.0,
            phenylephrine_vd_l: 70.0,
            phenylephrine_half_life_min: 5.0,
            phenylephrine_ec50: 5.0,
            phenylephrine_max_resistance: 1.0,
            bis: BisModel::default(),
        }
    }
}

/// The patient: parameters, state and elapsed time.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub params: PhysioParams,
    pub pk: PkParams,
    state: State,
    derived: Derived,
    elapsed_s: f64,
}

/// Quantities fixed by the resting calibration.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Derived {
    resistance_rest: f64,
    sv_max: f64,
    va_unstressed: f64,
    vv_unstressed_rest: f64,
    phe_k: f64,
}

/// Everything the derivative and the outputs need, for one state and input.
struct Algebra {
    hr: f64,
    sv: f64,
    co: f64,
    pa: f64,
    pv: f64,
    resistance: f64,
    rr: f64,
    minute_ventilation: f64,
    alveolar_ventilation: f64,
    tone_target: f64,
}

impl Model {
    /// A resting adult at equilibrium, with Schnider propofol kinetics for `patient`.
    pub fn new(patient: &Patient, params: PhysioParams) -> Result<Self, PhysioError> {
        let pk = PkParams::schnider(patient)?;
        let p = &params;
        let sv_rest = p.co_rest / p.hr_rest;
        let derived = Derived {
            resistance_rest: (p.map_set - p.cvp_rest) / p.co_rest,
            sv_max: sv_rest * (p.cvp_rest + p.starling_half_pressure) / p.cvp_rest,
            va_unstressed: p.arterial_volume_rest - p.arterial_compliance * p.map_set,
            vv_unstressed_rest: p.blood_volume_l - p.arterial_volume_rest - p.venous_compliance * p.cvp_rest,
            phe_k: std::f64::consts::LN_2 / p.phenylephrine_half_life_min,
        };
        let alveolar = p.rr_rest * (p.vt_rest_l - p.dead_space_l);
        let mut state = State::zeros();
        state[VA] = p.arterial_volume_rest;
        state[VV] = p.blood_volume_l - p.arterial_volume_rest;
        state[TONE] = 0.5;
        state[RBC] = p.hct_rest * p.blood_volume_l;
        state[PACO2] = 0.863 * p.vco2_ml_per_min / alveolar;
        Ok(Self { params, pk, state, derived, elapsed_s: 0.0 })
    }

    /// A 40-year-old, 70 kg, 175 cm man with default parameters.
    pub fn standard_adult() -> Result<Self, PhysioError> {
        let patient = Patient { age_years: 40.0, weight_kg: 70.0, height_cm: 175.0, sex: Sex::Male };
        Self::new(&patient, PhysioParams::default())
    }

    /// Simulated time so far, seconds.
    pub fn elapsed_s(&self) -> f64 {
        self.elapsed_s
    }

    /// The raw state vector (for hashing, saving or inspection).
    pub fn state(&self) -> &SVector<f64, STATE_LEN> {
        &self.state
    }

    /// Gives a propofol bolus (mg) now.
    pub fn propofol_bolus(&mut self, mg: f64) -> Result<(), PhysioError> {
        check("propofol bolus mg", mg, 0.0, 2000.0)?;
        self.state[A1] += mg;
        Ok(())
    }

    /// Gives a phenylephrine bolus (µg) now.
    pub fn phenylephrine_bolus(&mut self, ug: f64) -> Result<(), PhysioError> {
        check("phenylephrine bolus µg", ug, 0.0, 10_000.0)?;
        self.state[PHE] += ug / self.params.phenylephrine_vd_l;
        Ok(())
    }

    /// The monitor values for the current state under these inputs.
    pub fn outputs(&self, inputs: &Inputs) -> Outputs {
        let p = &self.params;
        let s = &self.state;
        let a = self.algebra(s, inputs);
        let blood = s[VA] + s[VV];
        let hct = if blood > 0.0 { s[RBC] / blood } else { 0.0 };
        let hb = hct * 100.0 / 3.0; // MCHC ≈ 33 g/dL
        let pao2_alv = (inputs.fio2 * (760.0 - 47.0) - s[PACO2] / 0.8).max(0.0);
        let sc = severinghaus(pao2_alv);
        let content_per_l = 13.4 * hb; // mL O2 per L blood at full saturation
        let drop = if a.co > 1e-6 && content_per_l > 1e-6 {
            p.shunt_fraction / (1.0 - p.shunt_fraction) * p.vo2_ml_per_min / a.co / content_per_l
        } else {
            1.0
        };
        let sa = (sc - drop).clamp(0.0, 1.0);
        let pulse = a.sv / p.arterial_compliance;
        Outputs {
            hr_per_min: a.hr,
            map_mmhg: a.pa,
            sbp_mmhg: a.pa + pulse * 2.0 / 3.0,
            dbp_mmhg: a.pa - pulse / 3.0,
            cvp_mmhg: a.pv,
            cardiac_output_l_per_min: a.co,
            stroke_volume_ml: a.sv * 1000.0,
            spo2_percent: sa * 100.0,
            paco2_mmhg: s[PACO2],
            etco2_mmhg: if a.alveolar_ventilation > 0.0 { (s[PACO2] - 4.0).max(0.0) } else { 0.0 },
            rr_per_min: a.rr,
            minute_ventilation_l: a.minute_ventilation,
            bis: p.bis.bis(s[CE]),
            propofol_plasma_ug_per_ml: s[A1] / self.pk.v1,
            propofol_effect_ug_per_ml: s[CE],
            blood_volume_l: blood,
            hb_g_per_dl: hb,
        }
    }

    fn algebra(&self, s: &State, u: &Inputs) -> Algebra {
        let p = &self.params;
        let d = &self.derived;
        let ce = s[CE].max(0.0);
        let fe = ce / (ce + p.propofol_hemo_ce50);
        let phe = s[PHE].max(0.0);
        let fp = phe / (phe + p.phenylephrine_ec50);
        // Propofol blunts the baroreflex as well as dilating and depressing the heart.
        let swing = 2.0 * (s[TONE] - 0.5) * (1.0 - 0.8 * fe);
        let hr = p.hr_rest * (1.0 + p.baro_hr_range * swing);
        let resistance = d.resistance_rest
            * (1.0 + p.baro_resistance_range * swing)
            * (1.0 - p.propofol_max_vasodilation * fe)
            * (1.0 + p.phenylephrine_max_resistance * fp);
        let contractility = (1.0 + p.baro_contractility_range * swing) * (1.0 - p.propofol_max_negative_inotropy * fe);
        let vv0 = d.vv_unstressed_rest * (1.0 - p.baro_venous_range * swing) * (1.0 + 0.05 * fe) * (1.0 - 0.1 * fp);
        let pa = (s[VA] - d.va_unstressed) / p.arterial_compliance;
        let pv = (s[VV] - vv0) / p.venous_compliance;
        let filling = pv.max(0.0);
        let sv = contractility * d.sv_max * filling / (filling + p.starling_half_pressure);
        let co = hr * sv;
        let u_baro = (pa - p.map_set) / p.baro_half_mmhg;
        let tone_target = 0.5 - 0.5 * u_baro / (1.0 + u_baro * u_baro).sqrt();
        let (rr, vt) = match u.ventilation {
            Ventilation::Spontaneous => {
                let c2 = ce * ce;
                let depression = c2 / (c2 + p.propofol_resp_ce50 * p.propofol_resp_ce50);
                (p.rr_rest * (1.0 - 0.5 * depression), p.vt_rest_l * (1.0 - 0.6 * depression))
            }
            Ventilation::Controlled { rate_per_min, tidal_volume_l } => (rate_per_min, tidal_volume_l),
        };
        Algebra {
            hr,
            sv,
            co,
            pa,
            pv,
            resistance,
            rr,
            minute_ventilation: rr * vt,
            alveolar_ventilation: rr * (vt - p.dead_space_l).max(0.0),
            tone_target,
        }
    }

    /// Time derivative of the state, per minute.
    fn derivative(&self, s: &State, u: &Inputs) -> State {
        let p = &self.params;
        let k = &self.pk;
        let a = self.algebra(s, u);
        let flow = (a.pa - a.pv) / a.resistance;
        let blood = s[VA] + s[VV];
        let hct = if blood > 0.0 { s[RBC] / blood } else { 0.0 };
        // Plasma moves out of the vessels when venous pressure is above rest, back in below.
        let filtration = p.capillary_filtration * (a.pv - p.cvp_rest);
        // Bleeding stops when there is nothing left to bleed.
        let bleed = if s[VA] > 0.05 { u.hemorrhage_l_per_min } else { 0.0 };
        let mut ds = State::zeros();
        ds[VA] = a.co - flow - bleed;
        ds[VV] = flow - a.co + u.crystalloid_l_per_min + u.blood_l_per_min - filtration;
        ds[TONE] = (a.tone_target - s[TONE]) / p.baro_tau_min;
        ds[RBC] = -bleed * hct + u.blood_l_per_min * p.transfused_hct;
        ds[A1] = u.propofol_mg_per_min - (k.k10 + k.k12 + k.k13) * s[A1] + k.k21 * s[A2] + k.k31 * s[A3];
        ds[A2] = k.k12 * s[A1] - k.k21 * s[A2];
        ds[A3] = k.k13 * s[A1] - k.k31 * s[A3];
        ds[CE] = k.ke0 * (s[A1] / k.v1 - s[CE]);
        ds[PHE] = u.phenylephrine_ug_per_min / p.phenylephrine_vd_l - self.derived.phe_k * s[PHE];
        let redistribution = s[XTAL].max(0.0) / p.crystalloid_distribution_min;
        ds[VV] -= redistribution;
        ds[XTAL] = u.crystalloid_l_per_min - redistribution;
        ds[PACO2] = (0.863 * p.vco2_ml_per_min - a.alveolar_ventilation * s[PACO2]) / p.co2_store_l;
        ds
    }
}

/// Validates the inputs, then advances `model` by `dt_s` seconds (one RK4 step) and returns
/// the monitor values at the end of the step.
pub fn step(model: &mut Model, inputs: &Inputs, dt_s: f64) -> Result<Outputs, PhysioError> {
    check("dt_s", dt_s, 1e-6, 60.0)?;
    check_inputs(inputs)?;
    let h = dt_s / 60.0;
    let s = model.state;
    let k1 = model.derivative(&s, inputs);
    let k2 = model.derivative(&(s + k1 * (h / 2.0)), inputs);
    let k3 = model.derivative(&(s + k2 * (h / 2.0)), inputs);
    let k4 = model.derivative(&(s + k3 * h), inputs);
    model.state = s + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (h / 6.0);
    model.elapsed_s += dt_s;
    Ok(model.outputs(inputs))
}

fn check(name: &'static str, value: f64, min: f64, max: f64) -> Result<(), PhysioError> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(PhysioError::InputOutOfRange { name, value, min, max })
    }
}

fn check_inputs(u: &Inputs) -> Result<(), PhysioError> {
    check("propofol mg/min", u.propofol_mg_per_min, 0.0, 100.0)?;
    check("phenylephrine µg/min", u.phenylephrine_ug_per_min, 0.0, 1000.0)?;
    check("hemorrhage L/min", u.hemorrhage_l_per_min, 0.0, 2.0)?;
    check("crystalloid L/min", u.crystalloid_l_per_min, 0.0, 2.0)?;
    check("blood L/min", u.blood_l_per_min, 0.0, 2.0)?;
    check("FiO2", u.fio2, 0.1, 1.0)?;
    if let Ventilation::Controlled { rate_per_min, tidal_volume_l } = u.ventilation {
        check("ventilator rate /min", rate_per_min, 0.0, 60.0)?;
        check("tidal volume L", tidal_volume_l, 0.0, 2.0)?;
    }
    Ok(())
}

/// Haemoglobin O2 saturation (0..1) at PO2 mmHg (Severinghaus 1979).
pub fn severinghaus(po2: f64) -> f64 {
    if po2 <= 0.0 {
        return 0.0;
    }
    1.0 / (23_400.0 / (po2 * po2 * po2 + 150.0 * po2) + 1.0)
}

/// FNV-1a over the bit patterns of a sequence of numbers: a trajectory fingerprint.
pub fn fingerprint(values: impl IntoIterator<Item = f64>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in values {
        for b in v.to_bits().to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Runs `minutes` of constant inputs at step `dt_s`, returning the last outputs.
pub fn run_for(model: &mut Model, inputs: &Inputs, minutes: f64, dt_s: f64) -> Result<Outputs, PhysioError> {
    check("minutes", minutes, 0.0, 1e7)?;
    check("dt_s", dt_s, 1e-6, 60.0)?;
    let steps = (minutes * 60.0 / dt_s).round() as u64;
    let mut out = model.outputs(inputs);
    for _ in 0..steps {
        out = step(model, inputs, dt_s)?;
    }
    Ok(out)
}

/// One row of the resting-values table: model value against a published normal.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalCheck {
    pub quantity: &'static str,
    pub unit: &'static str,
    pub model: f64,
    pub normal: f64,
    pub source: &'static str,
}

impl NormalCheck {
    /// (model − normal) / normal, percent.
    pub fn deviation_percent(&self) -> f64 {
        (self.model - self.normal) / self.normal * 100.0
    }
}

const GUYTON: &str = "Hall JE, Guyton and Hall Textbook of Medical Physiology, 14th ed., 2021";
const WEST: &str = "West JB, Respiratory Physiology: The Essentials, 10th ed., 2016";

/// Runs the standard adult for 30 minutes at rest (step 0.5 s) and compares with normals.
pub fn resting_checks() -> Result<Vec<NormalCheck>, PhysioError> {
    let mut m = Model::standard_adult()?;
    let o = run_for(&mut m, &Inputs::default(), 30.0, 0.5)?;
    let row = |quantity, unit, model, normal, source| NormalCheck { quantity, unit, model, normal, source };
    Ok(vec![
        row("Heart rate", "/min", o.hr_per_min, 70.0, GUYTON),
        row("Mean arterial pressure", "mmHg", o.map_mmhg, 93.0, GUYTON),
        row("Systolic pressure", "mmHg", o.sbp_mmhg, 120.0, GUYTON),
        row("Diastolic pressure", "mmHg", o.dbp_mmhg, 80.0, GUYTON),
        row("Cardiac output", "L/min", o.cardiac_output_l_per_min, 5.0, GUYTON),
        row("Stroke volume", "mL", o.stroke_volume_ml, 70.0, GUYTON),
        row("Blood volume", "L", o.blood_volume_l, 5.0, GUYTON),
        row("SpO2 (room air)", "%", o.spo2_percent, 97.5, WEST),
        row("PaCO2", "mmHg", o.paco2_mmhg, 40.0, WEST),
        row("End-tidal CO2", "mmHg", o.etco2_mmhg, 37.5, "normal 35–40; PaCO2 − 2…5 mmHg (West)"),
        row("Respiratory rate", "/min", o.rr_per_min, 12.0, WEST),
        row("Minute ventilation", "L/min", o.minute_ventilation_l, 6.0, WEST),
        row("Haemoglobin", "g/dL", o.hb_g_per_dl, 15.0, GUYTON),
    ])
}

/// Scenario responses as (description, before, after) rows, for the report.
pub fn scenario_checks() -> Result<Vec<(String, Outputs, Outputs)>, PhysioError> {
    let dt = 0.5;
    let rest = Inputs::default();
    let mut rows = Vec::new();
    let mut m = Model::standard_adult()?;
    let before = m.outputs(&rest);
    run_for(&mut m, &Inputs { hemorrhage_l_per_min: 0.1, ..rest }, 10.0, dt)?;
    let shock = run_for(&mut m, &rest, 2.0, dt)?;
    rows.push(("Hemorrhage 1.0 L (20 %) over 10 min, +2 min".to_owned(), before, shock));
    let mut c = m.clone();
    run_for(&mut c, &Inputs { crystalloid_l_per_min: 0.1, ..rest }, 10.0, dt)?;
    rows.push(("…then crystalloid 1 L over 10 min, +2 min".to_owned(), shock, run_for(&mut c, &rest, 2.0, dt)?));
    let mut b = m.clone();
    run_for(&mut b, &Inputs { blood_l_per_min: 0.05, ..rest }, 10.0, dt)?;
    rows.push(("…or whole blood 0.5 L over 10 min, +2 min".to_owned(), shock, run_for(&mut b, &rest, 2.0, dt)?));
    let mut p = Model::standard_adult()?;
    let phe = run_for(&mut p, &Inputs { phenylephrine_ug_per_min: 100.0, ..rest }, 15.0, dt)?;
    rows.push(("Phenylephrine 100 µg/min for 15 min".to_owned(), before, phe));
    let mut q = Model::standard_adult()?;
    q.propofol_bolus(140.0)?;
    rows.push(("Propofol bolus 2 mg/kg (140 mg), +3 min".to_owned(), before, run_for(&mut q, &rest, 3.0, dt)?));
    Ok(rows)
}

/// The physiology part of the validation report, as Markdown.
pub fn report_markdown() -> Result<String, PhysioError> {
    let mut s = String::from(
        "### Resting adult (40 y, 70 kg, 175 cm, male) after 30 min at rest\n\n\
         | Quantity | Model | Normal | Deviation | Source |\n|---|---:|---:|---:|---|\n",
    );
    for r in resting_checks()? {
        s.push_str(&format!(
            "| {} ({}) | {:.1} | {:.1} | {:+.1} % | {} |\n",
            r.quantity,
            r.unit,
            r.model,
            r.normal,
            r.deviation_percent(),
            r.source
        ));
    }
    s.push_str(
        "\nThe resting state is the calibration point (HR, MAP, CO, CVP, blood volume are set to \
         these normals); the check is that the coupled model sits at equilibrium there and the \
         derived values (SBP/DBP, SpO2, PaCO2, EtCO2) land near their normals.\n\n",
    );
    s.push_str(
        "### Responses\n\n| Scenario | HR | MAP | CO L/min | SpO2 % | EtCO2 | BIS |\n|---|---|---|---|---|---|---|\n",
    );
    for (what, a, b) in scenario_checks()? {
        s.push_str(&format!(
            "| {what} | {:.0} → {:.0} | {:.0} → {:.0} | {:.2} → {:.2} | {:.1} → {:.1} | {:.0} → {:.0} | {:.0} → {:.0} |\n",
            a.hr_per_min,
            b.hr_per_min,
            a.map_mmhg,
            b.map_mmhg,
            a.cardiac_output_l_per_min,
            b.cardiac_output_l_per_min,
            a.spo2_percent,
            b.spo2_percent,
            a.etco2_mmhg,
            b.etco2_mmhg,
            a.bis,
            b.bis
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT: f64 = 0.5;

    fn within(value: f64, normal: f64, fraction: f64) -> bool {
        (value - normal).abs() <= fraction * normal
    }

    #[test]
    fn resting_adult_is_near_published_normals_and_stays_there() {
        let mut m = Model::standard_adult().unwrap();
        let o = run_for(&mut m, &Inputs::default(), 30.0, DT).unwrap();
        assert!(within(o.hr_per_min, 70.0, 0.10), "{o:?}");
        assert!(within(o.map_mmhg, 93.0, 0.10), "{o:?}");
        assert!(within(o.cardiac_output_l_per_min, 5.0, 0.10), "{o:?}");
        assert!(within(o.spo2_percent, 97.5, 0.10) && o.spo2_percent > 96.0, "{o:?}");
        assert!(within(o.etco2_mmhg, 37.5, 0.10), "{o:?}");
        assert!(within(o.sbp_mmhg, 120.0, 0.10) && within(o.dbp_mmhg, 80.0, 0.10), "{o:?}");
        assert!(within(o.rr_per_min, 12.0, 0.10), "{o:?}");
        assert!(o.bis > 95.0, "{o:?}");
        // An equilibrium, not a drift: 30 minutes move nothing visibly.
        assert!((o.map_mmhg - 93.0).abs() < 0.01 && (o.hr_per_min - 70.0).abs() < 0.01, "{o:?}");
    }

    #[test]
    fn class_ii_hemorrhage_raises_hr_lowers_map_and_fluids_partly_restore() {
        let mut m = Model::standard_adult().unwrap();
        let rest = run_for(&mut m, &Inputs::default(), 1.0, DT).unwrap();
        // 1.0 L (20 % of 5 L) over 10 minutes.
        let bleed = Inputs { hemorrhage_l_per_min: 0.1, ..Inputs::default() };
        run_for(&mut m, &bleed, 10.0, DT).unwrap();
        let shock = run_for(&mut m, &Inputs::default(), 2.0, DT).unwrap();
        assert!(shock.hr_per_min > rest.hr_per_min + 10.0, "{shock:?}");
        assert!(shock.map_mmhg < rest.map_mmhg - 5.0, "{shock:?}");
        assert!(shock.cardiac_output_l_per_min < rest.cardiac_output_l_per_min, "{shock:?}");
        assert!(shock.blood_volume_l < 4.2, "{shock:?}");
        // 1 L crystalloid over 10 minutes: better, not back to normal.
        let mut fluids = m.clone();
        let c = Inputs { crystalloid_l_per_min: 0.1, ..Inputs::default() };
        run_for(&mut fluids, &c, 10.0, DT).unwrap();
        let after_crystalloid = run_for(&mut fluids, &Inputs::default(), 2.0, DT).unwrap();
        assert!(after_crystalloid.map_mmhg > shock.map_mmhg, "{after_crystalloid:?}");
        assert!(after_crystalloid.map_mmhg < rest.map_mmhg, "only partly: {after_crystalloid:?}");
        // Crystalloid leaves the vessels: half an hour later the gain has partly gone.
        let later = run_for(&mut fluids, &Inputs::default(), 30.0, DT).unwrap();
        assert!(later.blood_volume_l < after_crystalloid.blood_volume_l - 0.2, "{later:?}");
        assert!(after_crystalloid.hr_per_min < shock.hr_per_min, "{after_crystalloid:?}");
        assert!(after_crystalloid.hb_g_per_dl < shock.hb_g_per_dl, "crystalloid dilutes");
        // 0.5 L of blood also raises the pressure and keeps the haemoglobin.
        let mut blood = m.clone();
        let b = Inputs { blood_l_per_min: 0.05, ..Inputs::default() };
        run_for(&mut blood, &b, 10.0, DT).unwrap();
        let after_blood = run_for(&mut blood, &Inputs::default(), 2.0, DT).unwrap();
        assert!(after_blood.map_mmhg > shock.map_mmhg, "{after_blood:?}");
        assert!((after_blood.hb_g_per_dl - shock.hb_g_per_dl).abs() < 0.5);
    }

    #[test]
    fn phenylephrine_raises_map_and_slows_the_heart() {
        let mut m = Model::standard_adult().unwrap();
        let rest = m.outputs(&Inputs::default());
        let phe = Inputs { phenylephrine_ug_per_min: 100.0, ..Inputs::default() };
        let o = run_for(&mut m, &phe, 15.0, DT).unwrap();
        assert!(o.map_mmhg > rest.map_mmhg * 1.08, "{o:?}");
        assert!(o.hr_per_min < rest.hr_per_min, "{o:?}");
    }

    #[test]
    fn propofol_bolus_lowers_map_and_bis() {
        let mut m = Model::standard_adult().unwrap();
        let rest = m.outputs(&Inputs::default());
        m.propofol_bolus(140.0).unwrap(); // 2 mg/kg
        let o = run_for(&mut m, &Inputs::default(), 3.0, DT).unwrap();
        assert!(o.bis < 60.0, "{o:?}");
        assert!(o.map_mmhg < rest.map_mmhg * 0.9, "{o:?}");
        assert!(o.minute_ventilation_l < 6.0 * 0.8, "{o:?}");
        // And it wears off.
        let later = run_for(&mut m, &Inputs::default(), 60.0, DT).unwrap();
        assert!(later.bis > 85.0 && later.map_mmhg > rest.map_mmhg * 0.95, "{later:?}");
    }

    #[test]
    fn hypoventilation_and_oxygen_move_spo2_and_co2() {
        let mut m = Model::standard_adult().unwrap();
        let slow = Inputs {
            ventilation: Ventilation::Controlled { rate_per_min: 6.0, tidal_volume_l: 0.4 },
            ..Inputs::default()
        };
        let o = run_for(&mut m, &slow, 15.0, DT).unwrap();
        assert!(o.etco2_mmhg > 50.0 && o.spo2_percent < 93.0, "{o:?}");
        let oxygen = Inputs { fio2: 0.5, ..slow };
        let o2 = run_for(&mut m, &oxygen, 1.0, DT).unwrap();
        assert!(o2.spo2_percent > 98.0, "{o2:?}");
    }

    #[test]
    fn same_inputs_give_bit_identical_trajectories() {
        let run = || {
            let mut m = Model::standard_adult().unwrap();
            let mut values = Vec::new();
            m.propofol_bolus(100.0).unwrap();
            let schedule = [
                (Inputs { propofol_mg_per_min: 8.0, ..Inputs::default() }, 5.0),
                (Inputs { hemorrhage_l_per_min: 0.08, propofol_mg_per_min: 8.0, ..Inputs::default() }, 5.0),
                (Inputs { crystalloid_l_per_min: 0.1, phenylephrine_ug_per_min: 50.0, ..Inputs::default() }, 5.0),
            ];
            for (inputs, minutes) in schedule {
                for _ in 0..(minutes * 60.0 / DT) as usize {
                    let o = step(&mut m, &inputs, DT).unwrap();
                    values.extend([o.hr_per_min, o.map_mmhg, o.spo2_percent, o.etco2_mmhg, o.bis]);
                }
            }
            values.extend(m.state().iter().copied());
            fingerprint(values)
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b);
        // The fingerprint sees a change in the last bit.
        assert_ne!(fingerprint([1.0]), fingerprint([f64::from_bits(1.0f64.to_bits() + 1)]));
    }

    #[test]
    fn bad_inputs_are_errors_and_leave_the_state_alone() {
        let mut m = Model::standard_adult().unwrap();
        let before = m.clone();
        assert!(step(&mut m, &Inputs::default(), 0.0).is_err());
        assert!(step(&mut m, &Inputs::default(), f64::NAN).is_err());
        assert!(step(&mut m, &Inputs { fio2: 1.5, ..Inputs::default() }, DT).is_err());
        assert!(step(&mut m, &Inputs { hemorrhage_l_per_min: -0.1, ..Inputs::default() }, DT).is_err());
        let vent = Ventilation::Controlled { rate_per_min: f64::INFINITY, tidal_volume_l: 0.5 };
        assert!(step(&mut m, &Inputs { ventilation: vent, ..Inputs::default() }, DT).is_err());
        assert!(m.propofol_bolus(-5.0).is_err());
        assert_eq!(m, before);
        let bad = Patient { age_years: -3.0, weight_kg: 70.0, height_cm: 175.0, sex: Sex::Male };
        assert!(matches!(Model::new(&bad, PhysioParams::default()), Err(PhysioError::Pk(_))));
    }

    #[test]
    fn exsanguination_stays_finite() {
        let mut m = Model::standard_adult().unwrap();
        let o = run_for(&mut m, &Inputs { hemorrhage_l_per_min: 2.0, ..Inputs::default() }, 10.0, DT).unwrap();
        assert!(o.map_mmhg.is_finite() && o.spo2_percent.is_finite() && o.hr_per_min.is_finite(), "{o:?}");
    }

    #[test]
    fn every_resting_value_is_within_ten_percent_of_its_normal() {
        let rows = resting_checks().unwrap();
        assert_eq!(rows.len(), 13);
        for r in &rows {
            assert!(r.deviation_percent().abs() <= 10.0, "{r:?}");
        }
        let md = report_markdown().unwrap();
        assert!(md.contains("| Heart rate (/min) | 70.0 | 70.0 |") && md.contains("Phenylephrine"), "{md}");
    }

    #[test]
    fn severinghaus_by_hand() {
        // PO2 100: 23400 / (10^6 + 15000) = 0.023054 → S = 0.97747
        assert!((severinghaus(100.0) - 0.977_47).abs() < 1e-4);
        // P50 ≈ 26.9 mmHg
        assert!((severinghaus(26.86) - 0.5).abs() < 0.005);
        assert_eq!(severinghaus(0.0), 0.0);
    }
}
