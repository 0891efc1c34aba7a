//! A lumped-parameter adult physiology for the training twin: a systemic circulation with
//! an arterial and a venous (capacitance) compartment, a resistance to venous return and a
//! Frank–Starling heart, a baroreflex acting on heart rate, contractility, arteriolar tone and
//! venous capacitance, transcapillary refill, a lung O2 store (the functional residual
//! capacity) exchanging with a mixed-venous blood O2 store, CO2 from ventilation, propofol
//! (Schnider PK with effect site, see [`crate::pk`]) with its BIS and haemodynamic and
//! respiratory effects, remifentanil (Minto PK with effect site) deepening both, hemorrhage,
//! crystalloid and blood infusion, and phenylephrine.
//!
//! Integration: classical RK4 at the caller's fixed step on a 23-element `nalgebra` state
//! vector; only `+ − × ÷ sqrt` and [`crate::detmath`] are used, so the same inputs give
//! bit-identical trajectories on every IEEE-754 target (native and wasm32).
//!
//! Circulation. Blood leaves the arteries through the systemic resistance into the venous
//! compartment, whose stressed volume sets the venous (mean systemic filling) pressure Pvs.
//! Venous return to the heart is (Pvs − RAP)/Rvr (Guyton's venous return curve), and the heart
//! pumps HR × SV(RAP) with SV on a Starling curve of right atrial pressure; the two are equal
//! at every instant, which fixes RAP (shown as CVP) by a quadratic. So tachycardia alone
//! cannot raise cardiac output far: once RAP is low, output is limited by venous return, and
//! that is what falls when blood is lost. The baroreflex senses mean pressure and, with a
//! smaller weight, pulse pressure (the carotid sinus responds to both), so a narrowing pulse
//! pressure brings tachycardia before the mean pressure falls; the sympathetic tone also
//! constricts arterioles, strengthens the heart and mobilises blood from the unstressed
//! venous reservoir (the splanchnic capacitance). Transcapillary refill moves interstitial
//! fluid into the vessels when capillary pressure falls, limited by an interstitial
//! compliance (the refilled volume lowers interstitial pressure and dilutes plasma protein).
//!
//! Oxygen. The alveolar gas is a well-mixed store of volume FRC: inspired gas brings
//! FiO2 × V̇A,insp, expired gas removes FAO2 × V̇A, and the lung capillaries take up
//! Q̇ (1 − shunt)(Cc′O2 − Cv̄O2). The inspired alveolar flow exceeds the expired by the net gas
//! uptake (O2 taken up minus CO2 given off), so in steady state this is the full alveolar gas
//! equation, and in apnoea with an open airway gas is drawn in by mass flow (apnoeic
//! oxygenation when FiO2 is high). Arterial content mixes end-capillary and shunted venous
//! blood; mixed-venous content is a blood store (the blood volume) that the tissues draw
//! VO2 from. SpO2 is the saturation of the arterial blood, found from its content.
//!
//! The heart's own O2. Coronary delivery is the arterial O2 content times the flow the
//! coronary perfusion pressure (diastolic minus right atrial, above a zero-flow pressure of
//! 10 mmHg) drives through a fully dilated bed (flow reserve 5, the upper end of the 3-5
//! measured in healthy hearts); demand is 30 % basal plus 70 % by rate × contractility. The
//! share of demand unmet builds an O2 debt (a heart without flow reaches 1 in 4 min, the time
//! after which a shock rarely ends VF without CPR first), a surplus repays it in about 3 min.
//! From a debt of 0.4 the heart slows (vagally: atropine blocks it) and weakens; at 1 it stops
//! pumping (PEA), at 1.6 it goes still (asystole). So severe hypoxaemia and exsanguination
//! end in bradycardia, PEA and asystole on their own (Weingart & Levitan 2012). VF and
//! pulseless VT come from a scenario's events; a shock (≥ 120 J) ends them while the debt is
//! under 1. Compressions pump 10 % of the resting strength at 110 /min: a coronary perfusion
//! pressure near 15 mmHg and EtCO2 10-20 mmHg, holding the debt about where it is (Paradis
//! CA et al., JAMA 1990;263:1106: no return of circulation below 15 mmHg); epinephrine (t½
//! 2.5 min; α: resistance up to +150 %, β: rate and contractility up to +50 %) raises it
//! to about 40 and repays the debt; from PEA or asystole the heart restarts once the debt is
//! back to 0.6 with epinephrine on board. Atropine (t½ 150 min) lifts the rate up to 40 % and
//! blocks vagal slowing. Hypoxaemia quickens the heart by up to 25 % before it starves.
//!
//! Calibration and sources (resting adult, 70 kg):
//! - HR 70 /min, MAP 93 mmHg, CO 5.0 L/min, SV ≈ 71 mL, CVP 5 mmHg, blood volume 5.0 L
//!   (≈ 70 mL/kg), functional capillary pressure 17 mmHg: Hall JE, Guyton and Hall Textbook of
//!   Medical Physiology, 14th ed. (2021), chapters 14–17 and 20; systemic resistance follows
//!   as (MAP − Pvs)/CO.
//! - Oxygen: alveolar gas by mass balance as above (PB 760, PH2O 47, gas volumes converted
//!   STPD→BTPS by 310/273 × 760/713); saturation from Severinghaus JW, Simple, accurate
//!   equations for human blood O2 dissociation computations, J Appl Physiol 1979;46:599–602;
//!   O2 content 1.34 mL/g Hb plus 0.003 mL/dL/mmHg dissolved; VO2 250 mL/min, VCO2 200 mL/min,
//!   physiological shunt 2 % (West JB, Respiratory Physiology: The Essentials, 10th ed.,
//!   2016); FRC 30 mL/kg, supine (BioGears PatientMethodology).
//! - Scaling ([`PhysioParams::for_patient`]): blood volume 65.6 mL × W^1.02 (BioGears), lung
//!   volumes by weight, VO2, VCO2 and cardiac output by the Harris-Benedict basal metabolic
//!   rate; the scenarios' patients are scaled, the reference 70 kg man is the defaults.
//! - Ventilation: RR 12 /min, VT 0.5 L, dead space 0.15 L; PaCO2 = 0.863 VCO2 / VA (West).
//!   Breathing on its own answers CO2 (+2 L/min per mmHg above rest, the awake response) and
//!   hypoxaemia (ΔVE = 100/(PAO2 − 32), the hyperbola of Weil JV et al., J Clin Invest
//!   1970;49:1061), both blunted by propofol; in shock it is fast and shallow (the ATLS
//!   rates; the gains are this model's, see below).
//!   CO2 is held in two stores, the lungs and blood (PaCO2) and the tissues, which the blood
//!   flow joins; in apnoea PaCO2 first closes the venous-arterial gap, then rises about
//!   3.6 mmHg/min (Eger EI, Severinghaus JW, Anesthesiology 1961;22:419-25).
//! - End-tidal CO2 = PaCO2 − 4 mmHg (normal arterial–end-tidal gradient 2–5 mmHg), lower as
//!   cardiac output falls (alveolar dead space: Weil MH et al., Crit Care Med 1985;13:907).
//! - A bleed flows through a fixed resistance to the outside (BioGears and Pulse do the
//!   same): its rate scales with the arterial pressure, so it slows as the pressure falls; a
//!   compartment below its unstressed volume is collapsed at zero pressure.
//! - Pulse pressure ≈ SV / arterial compliance; SBP = MAP + 2/3 PP, DBP = MAP − 1/3 PP.
//!
//! What it is checked against (see the tests): the resting normals above; the ATLS classes
//! of hemorrhage (American College of Surgeons, Advanced Trauma Life Support, 10th ed., 2018,
//! chapter 3): class I (< 15 % lost) little change, class II (15–30 %) tachycardia with a
//! normal or slightly low pressure and a narrowed pulse pressure, class III (30–40 %)
//! hypotension with marked tachycardia; and the time an apnoeic adult takes to desaturate
//! (Benumof JL, Dagg R, Benumof R, Anesthesiology 1997;87:979–82, from the model of
//! Farmery AD, Roe PG, Br J Anaesth 1996;76:284–91: several minutes after preoxygenation;
//! Weingart SD, Levitan RM, Ann Emerg Med 2012;59:165–75: about a minute or less from air),
//! and apnoeic oxygenation through an open airway on 100 % O2 (Frumin MJ, Epstein RM,
//! Cohen G, Apneic oxygenation in man, Anesthesiology 1959;20:789–98).
//!
//! Model assumptions that are *not* published values (chosen so the responses above come
//! out right, documented so they can be replaced): the venous compliance (0.12 L/mmHg) and
//! resistance to venous return (1 mmHg·min/L), which give a resting Pvs of 10 mmHg and a
//! stressed volume of about a quarter of the blood volume; the Starling curve's
//! half-pressure; the baroreflex gain (half-saturation 20 mmHg from the set point, pulse
//! pressure weighted 0.5) and effector ranges (HR +105 %/−40 %, resistance ±50 %,
//! contractility ±30 %, 16 % of the unstressed venous volume mobilised, large-artery
//! compliance −50 % for the pulse pressure); the whole-body capillary filtration coefficient
//! (5 mL/min/mmHg, of the order of Guyton's) and the interstitial compliance (0.06 L/mmHg:
//! refill comes to rest within about half an hour); the venous O2 content (20 mL/L) below
//! which tissue uptake becomes supply-limited; propofol haemodynamic Ce50 3 µg/mL (lower
//! with age, 0.7 % a year from 40) with 25 % maximal vasodilation, 15 % maximal
//! venodilation (unstressed volume: falling venous return is the main cause of propofol
//! hypotension, de Wit F et al., Br J Anaesth 2016;116:784–9)
//! and 30 % maximal loss of contractility, and a baroreflex halved at 2 µg/mL (Hill 2; set
//! so 2 mg/kg lowers MAP about a third with the heart rate unchanged, BioGears Table 6);
//! propofol respiratory Ce50 3 µg/mL (Hill 3, the rate to zero: an induction dose stops
//! breathing); remifentanil respiratory Ce50 2 ng/mL, combined with propofol's potency by a
//! Greco term of weight 1 (synergy: a sedative dose of each together stops breathing; no
//! circulatory effect of remifentanil is modelled); phenylephrine one-compartment kinetics
//! (Vd 70 L, t½ 5 min) with EC50 5 ng/mL, +100 % maximal resistance and 10 %
//! venoconstriction (unstressed volume);
//! the shock breathing gains (rate +220 % and alveolar ventilation +40 % at full
//! sympathetic drive, set so the ATLS rates come out with PaCO2 near 30 mmHg in class III);
//! the CO2 stores (9.6 L lungs and blood, 38 L tissues, a 6 mmHg venous-arterial gap);
//! and infused crystalloid spreading between plasma and interstitium (60 min, to a plasma
//! share of 0.43 of the interstitium's) and excreted from the plasma (80 min), both four
//! times slower at full sympathetic drive, set so 1 L over 30 min leaves 50 % in the plasma
//! at its end and 18 % half an hour later (Hahn RG, Volume kinetics for infusion fluids,
//! Anesthesiology 2010;113:470–81: 50-60 % and 15-20 %); and the heart's O2 debt above (its
//! thresholds 0.4, 1, 1.6 and 0.6, the 30 % basal demand, the compressions' 10 % and the
//! effect sizes of epinephrine, atropine and hypoxaemia), set so the behaviours described
//! there come out.

use nalgebra::SVector;

use crate::pk::{BisModel, Patient, PkError, PkParams, Sex};

/// State vector length.
pub const STATE_LEN: usize = 23;
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
const LO2: usize = 11; // O2 in the alveolar gas (FRC), L BTPS
const CVO2: usize = 12; // mixed-venous O2 content, mL O2 per L blood
const REFILL: usize = 13; // interstitial fluid moved into the vessels (net), L
const TCO2: usize = 14; // tissue CO2 tension, mmHg
const R1: usize = 15; // remifentanil central amount, µg
const R2: usize = 16; // remifentanil fast peripheral amount, µg
const R3: usize = 17; // remifentanil slow peripheral amount, µg
const RCE: usize = 18; // remifentanil effect-site concentration, ng/mL
const MYO: usize = 19; // myocardial O2 debt: 0 none, 1 the heart stops pumping
const EPI: usize = 20; // epinephrine in the body, µg
const ATR: usize = 21; // atropine in the body, mg
const XI: usize = 22; // infused crystalloid in the interstitium, L

/// Dry barometric pressure in the alveoli, mmHg (760 − 47 water vapour).
const PB_DRY: f64 = 760.0 - 47.0;
/// mL O2 (STPD) to L gas at body conditions (BTPS): 310/273 K and 760/713 mmHg, per 1000.
const STPD_ML_TO_BTPS_L: f64 = 310.15 / 273.15 * 760.0 / 713.0 / 1000.0;
/// Dissolved O2, mL per L blood per mmHg (0.003 mL/dL/mmHg).
const O2_SOLUBILITY: f64 = 0.03;
/// mL O2 per L blood per g/dL of haemoglobin at full saturation (1.34 mL/g).
const O2_PER_HB: f64 = 13.4;

/// Why a step or a model could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PhysioError {
    #[error("{name} must be finite and within {min}..={max}, got {value}")]
    InputOutOfRange { name: &'static str, value: f64, min: f64, max: f64 },
    #[error(transparent)]
    Pk(#[from] PkError),
}

/// The heart's rhythm: sinus (the rate may be slow or fast), or one of the arrest rhythms,
/// in which the heart pumps nothing and only chest compressions move blood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeartRhythm {
    #[default]
    Sinus,
    /// Pulseless ventricular tachycardia (about 180 /min, wide complexes).
    VentricularTachycardia,
    VentricularFibrillation,
    Asystole,
    /// Pulseless electrical activity: complexes on the ECG, no output.
    Pea,
}

impl HeartRhythm {
    pub fn name(self) -> &'static str {
        match self {
            HeartRhythm::Sinus => "sinus",
            HeartRhythm::VentricularTachycardia => "pulseless VT",
            HeartRhythm::VentricularFibrillation => "VF",
            HeartRhythm::Asystole => "asystole",
            HeartRhythm::Pea => "PEA",
        }
    }

    /// Whether the heart pumps blood in this rhythm.
    pub fn pumps(self) -> bool {
        self == HeartRhythm::Sinus
    }

    /// Whether a shock can end it (VF, pulseless VT).
    pub fn shockable(self) -> bool {
        matches!(self, HeartRhythm::VentricularFibrillation | HeartRhythm::VentricularTachycardia)
    }
}

/// How the patient breathes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ventilation {
    /// Own breathing: 12 /min × 0.5 L at rest, depressed by propofol.
    Spontaneous,
    /// Mechanical ventilation at a set rate (/min) and tidal volume (L). Rate or volume 0 is
    /// apnoea with the airway open to the inspired gas.
    Controlled { rate_per_min: f64, tidal_volume_l: f64 },
}

/// Inputs held constant over one step. Rates are per minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inputs {
    pub propofol_mg_per_min: f64,
    pub remifentanil_ug_per_min: f64,
    pub phenylephrine_ug_per_min: f64,
    /// The bleed's rate at the resting mean arterial pressure. Blood leaves through a fixed
    /// resistance to the outside (as in BioGears and Pulse), so the bleed slows as the
    /// arterial pressure falls and stops when it reaches zero.
    pub hemorrhage_l_per_min: f64,
    pub crystalloid_l_per_min: f64,
    /// Whole blood (haematocrit [`PhysioParams::transfused_hct`]).
    pub blood_l_per_min: f64,
    pub fio2: f64,
    pub ventilation: Ventilation,
    /// Chest compressions (CPR) going on.
    pub chest_compressions: bool,
    /// The airway is completely obstructed: no gas moves in or out, whatever the breathing
    /// or the ventilator does.
    pub airway_obstructed: bool,
    /// The breathing circuit is apart: a ventilator's breaths go nowhere (the airway stays
    /// open to the room; breathing of one's own is not affected).
    pub circuit_disconnected: bool,
}

impl Default for Inputs {
    fn default() -> Self {
        Self {
            propofol_mg_per_min: 0.0,
            remifentanil_ug_per_min: 0.0,
            phenylephrine_ug_per_min: 0.0,
            hemorrhage_l_per_min: 0.0,
            crystalloid_l_per_min: 0.0,
            blood_l_per_min: 0.0,
            fio2: 0.21,
            ventilation: Ventilation::Spontaneous,
            chest_compressions: false,
            airway_obstructed: false,
            circuit_disconnected: false,
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
    /// Right atrial pressure.
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
    pub remifentanil_effect_ng_per_ml: f64,
    pub blood_volume_l: f64,
    pub hb_g_per_dl: f64,
    /// Blood leaving through the bleed now, L/min.
    pub bleed_l_per_min: f64,
    /// O2 fraction of the dry alveolar gas (end-tidal, as a gas analyser reads it).
    pub alveolar_o2_fraction: f64,
    pub rhythm: HeartRhythm,
    /// The heart muscle's O2 debt: rising while coronary O2 delivery falls short of demand;
    /// from 0.4 the heart slows and weakens, at 1 it stops pumping.
    pub myocardial_o2_debt: f64,
}

impl Outputs {
    /// Whether a pulse oximeter still finds a pulse: a pumping heart with a systolic pressure
    /// of at least 50 mmHg and a pulse pressure of at least 10 (oximeters lose the signal in
    /// low-flow states below about that).
    pub fn oximeter_reads(&self) -> bool {
        self.rhythm.pumps() && self.sbp_mmhg >= 50.0 && self.sbp_mmhg - self.dbp_mmhg >= 10.0
    }
}

/// Fixed parameters: the resting calibration plus the response assumptions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhysioParams {
    pub hr_rest: f64,
    pub map_set: f64,
    /// Right atrial pressure at rest, mmHg.
    pub cvp_rest: f64,
    pub co_rest: f64,
    pub blood_volume_l: f64,
    pub hct_rest: f64,
    /// L/mmHg.
    pub arterial_compliance: f64,
    /// Compliance of the venous (capacitance) compartment, L/mmHg.
    pub venous_compliance: f64,
    /// Resistance to venous return between the venous compartment and the right atrium,
    /// mmHg·min/L.
    pub venous_return_resistance: f64,
    /// Arterial share of blood volume at rest, L.
    pub arterial_volume_rest: f64,
    /// Right atrial pressure (mmHg) at which stroke volume is half its maximum.
    pub starling_half_pressure: f64,
    /// Baroreflex: sensed-pressure deviation (mmHg) giving half the tone swing; time
    /// constant (min).
    pub baro_half_mmhg: f64,
    pub baro_tau_min: f64,
    /// Weight of the pulse-pressure deviation in the sensed pressure (mean pressure counts 1).
    pub baro_pulse_weight: f64,
    /// Fractional heart-rate rise at full sympathetic tone, and fall at none.
    pub baro_hr_range: f64,
    pub baro_bradycardia_range: f64,
    /// Fractional effector ranges at full sympathetic tone swing (tone 0 or 1).
    pub baro_resistance_range: f64,
    pub baro_contractility_range: f64,
    /// Fraction of the unstressed venous volume the reflex mobilises at full tone.
    pub baro_venous_range: f64,
    /// Fractional fall of large-artery compliance at full tone, for the pulse pressure.
    pub baro_arterial_stiffening: f64,
    /// Whole-body capillary filtration coefficient, L/min per mmHg.
    pub capillary_filtration: f64,
    /// Functional capillary pressure at rest, mmHg.
    pub capillary_pressure_rest: f64,
    /// Interstitial compliance that limits refill: the refilled volume (L) per mmHg of
    /// capillary pressure drop at equilibrium.
    pub interstitial_compliance: f64,
    /// Time constant (min) of the interstitium making good what it gave (from the rest of the
    /// body water: lymph, renal retention), so refill goes on over hours.
    pub interstitial_restore_min: f64,
    pub transfused_hct: f64,
    /// Time constant (min) of infused crystalloid spreading between plasma and interstitium.
    pub crystalloid_distribution_min: f64,
    /// Plasma's share against the interstitium's when the spreading is done (their volumes'
    /// ratio, about 3 L to 7 L).
    pub crystalloid_plasma_share: f64,
    /// Time constant (min) of the kidneys excreting infused crystalloid from the plasma.
    pub crystalloid_elimination_min: f64,
    pub vo2_ml_per_min: f64,
    pub vco2_ml_per_min: f64,
    pub shunt_fraction: f64,
    /// Functional residual capacity: the lung gas volume holding the O2 store, L.
    pub frc_l: f64,
    /// Mixed-venous O2 content (mL/L) below which tissue O2 uptake falls with supply.
    pub critical_venous_o2_ml_per_l: f64,
    pub dead_space_l: f64,
    pub rr_rest: f64,
    pub vt_rest_l: f64,
    /// CO2 store of the lungs and blood, L (mmHg of PaCO2 per 0.863 mL CO2): what moves
    /// PaCO2 within the first minute.
    pub co2_fast_store_l: f64,
    /// CO2 store of the tissues, L likewise: with the fast store, it sets PaCO2's slope in a
    /// long apnoea (0.863 VCO2 / both stores).
    pub co2_tissue_store_l: f64,
    /// Tissue-to-blood CO2 exchange at the resting cardiac output, L/min (scaled by the
    /// output): the venous-arterial CO2 gap is 0.863 VCO2 / this.
    pub co2_exchange_l_per_min: f64,
    /// Rise of minute ventilation per mmHg of PaCO2 above rest, L/min (awake: about 2).
    pub co2_ventilatory_response: f64,
    /// In shock, the rate rises by this times the sympathetic drive (0..1)...
    pub shock_rr_gain: f64,
    /// ...and alveolar ventilation by this times it (breathing fast and shallow).
    pub shock_alveolar_gain: f64,
    pub propofol_hemo_ce50: f64,
    pub propofol_max_vasodilation: f64,
    pub propofol_max_negative_inotropy: f64,
    /// Maximal fractional rise of the unstressed venous volume (venodilation).
    pub propofol_max_venodilation: f64,
    pub propofol_resp_ce50: f64,
    /// Effect-site concentration (µg/mL) that halves the baroreflex.
    pub propofol_baro_ce50: f64,
    /// Remifentanil effect-site concentration (ng/mL) that alone halves breathing.
    pub remifentanil_resp_ce50: f64,
    /// Synergy of propofol and remifentanil on breathing: the interaction term's weight in
    /// the combined potency (0 is additive).
    pub respiratory_synergy: f64,
    /// Coronary flow reserve: how many times its resting flow the coronary bed can carry at
    /// the resting perfusion pressure when fully dilated.
    pub coronary_reserve: f64,
    /// Coronary perfusion pressure below which no blood flows through the heart muscle, mmHg.
    pub coronary_zero_flow_mmhg: f64,
    /// Time constants (min) of the myocardial O2 debt: growing by the share of the demand
    /// unmet (a heart with no flow at all reaches 1 in one), and repaid by the surplus.
    pub myocardial_debt_min: f64,
    pub myocardial_repay_min: f64,
    /// Output of chest compressions, as a share of the resting pump strength.
    pub cpr_output_fraction: f64,
    pub epinephrine_half_life_min: f64,
    /// Amount in the body (µg) giving half the maximal effect.
    pub epinephrine_ec50_ug: f64,
    pub atropine_half_life_min: f64,
    pub atropine_ec50_mg: f64,
    pub phenylephrine_vd_l: f64,
    pub phenylephrine_half_life_min: f64,
    pub phenylephrine_ec50: f64,
    pub phenylephrine_max_resistance: f64,
    pub bis: BisModel,
}

/// The patient [`PhysioParams::default`] describes: a 40-year-old man, 70 kg, 175 cm.
pub const REFERENCE_PATIENT: Patient = Patient { age_years: 40.0, weight_kg: 70.0, height_cm: 175.0, sex: Sex::Male };

/// Basal metabolic rate by the Harris-Benedict equations (kcal/day).
pub fn harris_benedict_kcal_per_day(p: &Patient) -> f64 {
    match p.sex {
        Sex::Male => 66.5 + 13.75 * p.weight_kg + 5.003 * p.height_cm - 6.755 * p.age_years,
        Sex::Female => 655.1 + 9.563 * p.weight_kg + 1.850 * p.height_cm - 4.676 * p.age_years,
    }
}

/// Blood volume (L) for a weight: 65.6 mL × W^1.02 (BioGears PatientMethodology).
pub fn blood_volume_l_for(weight_kg: f64) -> f64 {
    0.0656 * crate::detmath::powf(weight_kg, 1.02)
}

impl PhysioParams {
    /// The defaults scaled to `patient`: blood volume by weight (65.6 mL × W^1.02) with the
    /// vessels' volumes, compliances and the capillary exchange in proportion; lung volumes,
    /// the CO2 stores and drug volumes by weight (FRC 30 mL/kg, tidal volume about 7 mL/kg);
    /// oxygen consumption, CO2 production, cardiac output and the tissue CO2 exchange by the
    /// basal metabolic rate (Harris-Benedict), against the reference patient; the breathing
    /// rate so that PaCO2 stays at the reference's; propofol's circulatory potency by age.
    /// Heart rate and pressures stay the reference's. The reference patient gets the
    /// defaults.
    pub fn for_patient(patient: &Patient) -> PhysioParams {
        let d = PhysioParams::default();
        let r = &REFERENCE_PATIENT;
        let v = blood_volume_l_for(patient.weight_kg) / blood_volume_l_for(r.weight_kg);
        let w = patient.weight_kg / r.weight_kg;
        let m = harris_benedict_kcal_per_day(patient) / harris_benedict_kcal_per_day(r);
        PhysioParams {
            blood_volume_l: d.blood_volume_l * v,
            arterial_volume_rest: d.arterial_volume_rest * v,
            arterial_compliance: d.arterial_compliance * v,
            venous_compliance: d.venous_compliance * v,
            capillary_filtration: d.capillary_filtration * v,
            interstitial_compliance: d.interstitial_compliance * v,
            co_rest: d.co_rest * m,
            venous_return_resistance: d.venous_return_resistance / m,
            vo2_ml_per_min: d.vo2_ml_per_min * m,
            vco2_ml_per_min: d.vco2_ml_per_min * m,
            co2_exchange_l_per_min: d.co2_exchange_l_per_min * m,
            co2_ventilatory_response: d.co2_ventilatory_response * m,
            frc_l: d.frc_l * w,
            dead_space_l: d.dead_space_l * w,
            vt_rest_l: d.vt_rest_l * w,
            rr_rest: d.rr_rest * m / w,
            co2_fast_store_l: d.co2_fast_store_l * w,
            co2_tissue_store_l: d.co2_tissue_store_l * w,
            phenylephrine_vd_l: d.phenylephrine_vd_l * w,
            // The old are more sensitive to propofol's circulatory effects (Kazama T et al.,
            // Anesthesiology 1999;90:1517: about half the concentration at 80 as at 20): the
            // concentration for half the effect falls 0.7 % a year from 40.
            propofol_hemo_ce50: d.propofol_hemo_ce50
                * (1.0 - 0.007 * (patient.age_years - r.age_years)).clamp(0.5, 1.2),
            ..d
        }
    }
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
            venous_compliance: 0.12,
            venous_return_resistance: 1.0,
            arterial_volume_rest: 0.75,
            starling_half_pressure: 5.0,
            baro_half_mmhg: 20.0,
            baro_tau_min: 0.1,
            baro_pulse_weight: 0.5,
            baro_hr_range: 1.05,
            baro_bradycardia_range: 0.4,
            baro_resistance_range: 0.5,
            baro_contractility_range: 0.3,
            baro_venous_range: 0.16,
            baro_arterial_stiffening: 0.5,
            capillary_filtration: 0.005,
            capillary_pressure_rest: 17.0,
            interstitial_compliance: 0.06,
            interstitial_restore_min: 240.0,
            transfused_hct: 0.45,
            crystalloid_distribution_min: 60.0,
            crystalloid_plasma_share: 0.43,
            crystalloid_elimination_min: 80.0,
            vo2_ml_per_min: 250.0,
            vco2_ml_per_min: 200.0,
            shunt_fraction: 0.02,
            // 30 mL/kg (BioGears PatientMethodology; supine, as on the table).
            frc_l: 2.1,
            critical_venous_o2_ml_per_l: 20.0,
            dead_space_l: 0.15,
            rr_rest: 12.0,
            vt_rest_l: 0.5,
            // 0.863 × 200 / (9.6 + 38) = 3.6 mmHg/min in a long apnoea (published 3.4-4.4
            // after the first minute: Eger EI, Severinghaus JW, Anesthesiology 1961;22:419;
            // about 3 over 15 minutes and more: Frumin MJ et al., Anesthesiology 1959;20:789);
            // a venous-arterial gap of 6 mmHg that closes within the first minute (+9.8
            // mmHg in minute 1: Kobayashi S, Yokoyama K, Masui 1994;43:1130).
            co2_fast_store_l: 9.6,
            co2_tissue_store_l: 38.0,
            co2_exchange_l_per_min: 0.863 * 200.0 / 6.0,
            co2_ventilatory_response: 2.0,
            // The ATLS rates (14-20, 20-30, 30-40, > 35 /min at 10, 20, 35, 45 % lost) with
            // PaCO2 about 30 mmHg in class III.
            shock_rr_gain: 2.2,
            shock_alveolar_gain: 0.4,
            propofol_hemo_ce50: 3.0,
            propofol_max_vasodilation: 0.25,
            propofol_max_negative_inotropy: 0.3,
            propofol_max_venodilation: 0.15,
            propofol_resp_ce50: 3.0,
            propofol_baro_ce50: 2.0,
            remifentanil_resp_ce50: 2.0,
            respiratory_synergy: 1.0,
            coronary_reserve: 5.0,
            coronary_zero_flow_mmhg: 10.0,
            myocardial_debt_min: 4.0,
            myocardial_repay_min: 3.0,
            cpr_output_fraction: 0.1,
            epinephrine_half_life_min: 2.5,
            epinephrine_ec50_ug: 200.0,
            atropine_half_life_min: 150.0,
            atropine_ec50_mg: 0.5,
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
    /// Remifentanil kinetics (Minto 1997).
    pub remifentanil: PkParams,
    state: State,
    derived: Derived,
    rhythm: HeartRhythm,
    elapsed_s: f64,
}

/// Quantities fixed by the resting calibration.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Derived {
    resistance_rest: f64,
    sv_max: f64,
    va_unstressed: f64,
    vv_unstressed_rest: f64,
    pulse_rest: f64,
    /// Share of the arterial-to-venous pressure drop that lies beyond the capillaries.
    postcapillary_share: f64,
    phe_k: f64,
    /// Resting PaCO2 and alveolar PO2, the chemoreflex's set points, mmHg.
    paco2_rest: f64,
    pao2_rest: f64,
    /// Resting arterial O2 content (mL/L) and coronary perfusion pressure (DBP − RAP, mmHg).
    ca_rest: f64,
    cpp_rest: f64,
}

/// Everything the derivative and the outputs need, for one state and input.
struct Algebra {
    hr: f64,
    /// The heart muscle's O2 demand, 1 at rest.
    demand: f64,
    sv: f64,
    co: f64,
    pa: f64,
    pulse: f64,
    /// Pressure of the venous compartment (mean systemic filling pressure).
    pvs: f64,
    /// Right atrial pressure.
    pra: f64,
    resistance: f64,
    capillary_pressure: f64,
    rr: f64,
    minute_ventilation: f64,
    alveolar_ventilation: f64,
    tone_target: f64,
}

/// The oxygen exchange for one state, cardiac output and input.
struct Oxygen {
    /// Arterial O2 content, mL/L.
    ca: f64,
    /// Rate of change of the alveolar O2 store, L/min BTPS.
    d_lung: f64,
    /// Haemoglobin, g/dL.
    hb: f64,
}

/// Right atrial pressure and cardiac output where venous return (pvs − pra)/rvr meets the
/// heart's output k · pra/(pra + h) (k = HR × SVmax × contractility, L/min).
fn venous_return(pvs: f64, k: f64, h: f64, rvr: f64) -> (f64, f64) {
    if pvs <= 0.0 || k <= 0.0 {
        return (pvs, 0.0);
    }
    // pra² + b·pra − pvs·h = 0 with b = h + k·rvr − pvs; the positive root, written so that
    // neither branch subtracts nearly equal numbers.
    let b = h + k * rvr - pvs;
    let root = (b * b + 4.0 * pvs * h).sqrt();
    let pra = if b >= 0.0 { 2.0 * pvs * h / (b + root) } else { (root - b) / 2.0 };
    (pra, (pvs - pra) / rvr)
}

/// O2 content (mL/L) of blood with O2 capacity `capacity` (mL/L) at PO2 `po2`.
fn o2_content(capacity: f64, po2: f64) -> f64 {
    capacity * severinghaus(po2) + O2_SOLUBILITY * po2.max(0.0)
}

/// The PO2 of blood with O2 capacity `capacity` holding `content` mL/L: Newton's method on
/// the content curve (which rises monotonically with PO2), kept inside a bracket that
/// bisection takes over whenever a Newton step would leave it.
fn po2_of_content(capacity: f64, content: f64) -> f64 {
    const MAX_PO2: f64 = 2000.0;
    if content <= 0.0 {
        return 0.0;
    }
    if o2_content(capacity, MAX_PO2) <= content {
        return MAX_PO2;
    }
    let (mut lo, mut hi) = (0.0, MAX_PO2);
    let mut x = 100.0;
    for _ in 0..64 {
        // Severinghaus: S = g / (23 400 + g) with g = P³ + 150 P.
        let g = x * x * x + 150.0 * x;
        let d = 23_400.0 + g;
        let f = capacity * g / d + O2_SOLUBILITY * x - content;
        if f < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let slope = capacity * 23_400.0 * (3.0 * x * x + 150.0) / (d * d) + O2_SOLUBILITY;
        let mut next = x - f / slope;
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        if (next - x).abs() <= 1e-9 {
            return next;
        }
        x = next;
    }
    x
}

impl Model {
    /// A resting adult at equilibrium on room air, with Schnider propofol kinetics for
    /// `patient`.
    pub fn new(patient: &Patient, params: PhysioParams) -> Result<Self, PhysioError> {
        let pk = PkParams::schnider(patient)?;
        let remifentanil = PkParams::minto(patient)?;
        let p = &params;
        let sv_rest = p.co_rest / p.hr_rest;
        let pvs_rest = p.cvp_rest + p.co_rest * p.venous_return_resistance;
        let mut derived = Derived {
            resistance_rest: (p.map_set - pvs_rest) / p.co_rest,
            sv_max: sv_rest * (p.cvp_rest + p.starling_half_pressure) / p.cvp_rest,
            va_unstressed: p.arterial_volume_rest - p.arterial_compliance * p.map_set,
            vv_unstressed_rest: p.blood_volume_l - p.arterial_volume_rest - p.venous_compliance * pvs_rest,
            pulse_rest: sv_rest / p.arterial_compliance,
            postcapillary_share: (p.capillary_pressure_rest - pvs_rest) / (p.map_set - pvs_rest),
            phe_k: std::f64::consts::LN_2 / p.phenylephrine_half_life_min,
            // Set below, once the resting gas is known.
            paco2_rest: 0.0,
            pao2_rest: 0.0,
            ca_rest: 0.0,
            cpp_rest: p.map_set - sv_rest / p.arterial_compliance / 3.0 - p.cvp_rest,
        };
        let alveolar = p.rr_rest * (p.vt_rest_l - p.dead_space_l);
        let mut state = State::zeros();
        state[VA] = p.arterial_volume_rest;
        state[VV] = p.blood_volume_l - p.arterial_volume_rest;
        state[TONE] = 0.5;
        state[RBC] = p.hct_rest * p.blood_volume_l;
        state[PACO2] = 0.863 * p.vco2_ml_per_min / alveolar;
        state[TCO2] = state[PACO2] + 0.863 * p.vco2_ml_per_min / p.co2_exchange_l_per_min;
        // Oxygen at steady state on room air: uptake equals VO2, so the alveolar O2 fraction
        // follows from the mass balance, and venous content from the Fick principle.
        let fio2 = Inputs::default().fio2;
        let uptake = p.vo2_ml_per_min * STPD_ML_TO_BTPS_L;
        let co2_out = alveolar * state[PACO2] / PB_DRY;
        let fao2 = ((alveolar + uptake - co2_out) * fio2 - uptake) / alveolar;
        state[LO2] = fao2 * p.frc_l;
        derived.paco2_rest = state[PACO2];
        derived.pao2_rest = fao2 * PB_DRY;
        let capacity = O2_PER_HB * p.hct_rest * 100.0 / 3.0;
        let cc = o2_content(capacity, fao2 * PB_DRY);
        let extraction = p.vo2_ml_per_min / p.co_rest;
        state[CVO2] = cc - extraction / (1.0 - p.shunt_fraction);
        derived.ca_rest = (1.0 - p.shunt_fraction) * cc + p.shunt_fraction * state[CVO2];
        Ok(Self { params, pk, remifentanil, state, derived, rhythm: HeartRhythm::Sinus, elapsed_s: 0.0 })
    }

    /// The reference patient (a 40-year-old, 70 kg, 175 cm man) with default parameters.
    pub fn standard_adult() -> Result<Self, PhysioError> {
        Self::new(&REFERENCE_PATIENT, PhysioParams::default())
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

    /// Gives a remifentanil bolus (µg) now.
    pub fn remifentanil_bolus(&mut self, ug: f64) -> Result<(), PhysioError> {
        check("remifentanil bolus µg", ug, 0.0, 1000.0)?;
        self.state[R1] += ug;
        Ok(())
    }

    /// Gives an epinephrine (adrenaline) bolus (µg) now: 1000 µg is the arrest dose.
    pub fn epinephrine_bolus(&mut self, ug: f64) -> Result<(), PhysioError> {
        check("epinephrine bolus µg", ug, 0.0, 5000.0)?;
        self.state[EPI] += ug;
        Ok(())
    }

    /// Gives an atropine bolus (mg) now.
    pub fn atropine_bolus(&mut self, mg: f64) -> Result<(), PhysioError> {
        check("atropine bolus mg", mg, 0.0, 5.0)?;
        self.state[ATR] += mg;
        Ok(())
    }

    /// The rhythm now.
    pub fn rhythm(&self) -> HeartRhythm {
        self.rhythm
    }

    /// Sets the rhythm (a scenario's event: VF, pulseless VT).
    pub fn set_rhythm(&mut self, rhythm: HeartRhythm) {
        self.rhythm = rhythm;
    }

    /// A shock of `joules`: ends VF or pulseless VT when it is strong enough (≥ 120 J) and
    /// the heart muscle is not yet too starved of O2 (its debt under 1, which untreated VF
    /// reaches in about 4 minutes; CPR and epinephrine repay it). Returns whether the rhythm
    /// changed; a shock on any other rhythm changes nothing.
    pub fn defibrillate(&mut self, joules: f64) -> Result<bool, PhysioError> {
        check("shock J", joules, 0.0, 400.0)?;
        let converts = self.rhythm.shockable() && joules >= 120.0 && self.state[MYO] < 1.0;
        if converts {
            self.rhythm = HeartRhythm::Sinus;
        }
        Ok(converts)
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
        let o = self.oxygen(s, &a, inputs);
        let blood = s[VA] + s[VV];
        let capacity = O2_PER_HB * o.hb;
        let sa = if capacity > 0.0 { severinghaus(po2_of_content(capacity, o.ca)) } else { 0.0 };
        let pulse = a.pulse;
        // Alveolar dead space grows as the lungs are less perfused, so end-tidal CO2 falls
        // below arterial with cardiac output (it tracks output in low-flow states: Weil MH et
        // al., Crit Care Med 1985;13:907-9); 1 at the resting output.
        let perfused = a.co / (a.co + 1.0) * (p.co_rest + 1.0) / p.co_rest;
        Outputs {
            hr_per_min: a.hr,
            map_mmhg: a.pa,
            sbp_mmhg: a.pa + pulse * 2.0 / 3.0,
            dbp_mmhg: a.pa - pulse / 3.0,
            cvp_mmhg: a.pra,
            cardiac_output_l_per_min: a.co,
            stroke_volume_ml: a.sv * 1000.0,
            spo2_percent: sa * 100.0,
            paco2_mmhg: s[PACO2],
            etco2_mmhg: if a.alveolar_ventilation > 0.0 {
                ((s[PACO2] - 4.0) * perfused.min(1.0)).max(0.0)
            } else {
                0.0
            },
            rr_per_min: a.rr,
            minute_ventilation_l: a.minute_ventilation,
            bis: p.bis.bis_with_opioid(s[CE], s[RCE]),
            propofol_plasma_ug_per_ml: s[A1] / self.pk.v1,
            propofol_effect_ug_per_ml: s[CE],
            remifentanil_effect_ng_per_ml: s[RCE],
            blood_volume_l: blood,
            hb_g_per_dl: o.hb,
            bleed_l_per_min: self.bleed(&a, inputs),
            alveolar_o2_fraction: (s[LO2] / p.frc_l).max(0.0),
            rhythm: self.rhythm,
            myocardial_o2_debt: s[MYO],
        }
    }

    fn algebra(&self, s: &State, u: &Inputs) -> Algebra {
        let p = &self.params;
        let d = &self.derived;
        let ce = s[CE].max(0.0);
        let fe = ce / (ce + p.propofol_hemo_ce50);
        let phe = s[PHE].max(0.0);
        let fp = phe / (phe + p.phenylephrine_ec50);
        // Propofol dilates, depresses the heart and resets the baroreflex: at anaesthetic
        // concentrations the heart rate does not rise as the pressure falls (BioGears Table 6:
        // HR unchanged after 2 mg/kg).
        let c2 = ce * ce;
        let blunting = c2 / (c2 + p.propofol_baro_ce50 * p.propofol_baro_ce50);
        let swing = 2.0 * (s[TONE] - 0.5) * (1.0 - blunting);
        let hr_range = if swing >= 0.0 { p.baro_hr_range } else { p.baro_bradycardia_range };
        // Atropine blocks the vagus: the resting rate rises (up to 40 %) and vagal slowing (the
        // baroreflex's, the starved heart's) is blocked in proportion.
        let atr = s[ATR].max(0.0);
        let fa = atr / (atr + p.atropine_ec50_mg);
        let vagal_swing = if swing >= 0.0 { swing } else { swing * (1.0 - fa) };
        // Epinephrine: α (arteriolar and venous constriction) and β (rate, contractility).
        let epi = s[EPI].max(0.0);
        let fepi = epi / (epi + p.epinephrine_ec50_ug);
        // Hypoxaemia quickens the heart through the chemoreflex (up to +25 %, blunted by
        // propofol like the baroreflex) until the heart muscle itself runs short of O2: then
        // it slows (vagal, so atropine blocks it) and weakens, and at a debt of 1 it stops.
        let sat = severinghaus((s[LO2] / p.frc_l).max(0.0) * PB_DRY);
        let hypoxic = ((0.9 - sat) / 0.4).clamp(0.0, 1.0) * (1.0 - blunting);
        let starved = ((s[MYO] - 0.4) / 0.6).clamp(0.0, 1.0);
        let hr = p.hr_rest
            * (1.0 + hr_range * vagal_swing)
            * (1.0 + 0.4 * fa + 0.5 * fepi + 0.25 * hypoxic)
            * (1.0 - 0.7 * starved * (1.0 - fa));
        let resistance = d.resistance_rest
            * (1.0 + p.baro_resistance_range * swing)
            * (1.0 - p.propofol_max_vasodilation * fe)
            * (1.0 + p.phenylephrine_max_resistance * fp)
            * (1.0 + 1.5 * fepi);
        let contractility = (1.0 + p.baro_contractility_range * swing)
            * (1.0 - p.propofol_max_negative_inotropy * fe)
            * (1.0 + 0.5 * fepi)
            * (1.0 - 0.7 * starved);
        let vv0 = d.vv_unstressed_rest
            * (1.0 - p.baro_venous_range * swing)
            * (1.0 + p.propofol_max_venodilation * fe)
            * (1.0 - 0.1 * fp)
            * (1.0 - 0.1 * fepi);
        // A compartment filled below its unstressed volume is collapsed: no pressure, never a
        // negative one.
        let pa = ((s[VA] - d.va_unstressed) / p.arterial_compliance).max(0.0);
        let pvs = ((s[VV] - vv0) / p.venous_compliance).max(0.0);
        // In an arrest rhythm the heart pumps nothing; chest compressions pump a share of its
        // resting strength, at 110 a minute.
        let (k, beats) = if self.rhythm.pumps() {
            (hr * contractility * d.sv_max, hr)
        } else if u.chest_compressions {
            (p.cpr_output_fraction * p.hr_rest * d.sv_max, 110.0)
        } else {
            (0.0, 0.0)
        };
        let (pra, co) = venous_return(pvs, k, p.starling_half_pressure, p.venous_return_resistance);
        let sv = if beats > 0.0 { co / beats } else { 0.0 };
        // The rate on the ECG, and the heart muscle's O2 demand (1 at rest; a fibrillating
        // heart still needs half, an arrested one a fifth).
        let (hr, demand) = match self.rhythm {
            // A basal 30 % of the resting demand does not depend on the work.
            HeartRhythm::Sinus => (hr, 0.3 + 0.7 * hr / p.hr_rest * contractility),
            HeartRhythm::Pea => (hr, 0.2),
            HeartRhythm::VentricularTachycardia => (180.0, 0.5),
            HeartRhythm::VentricularFibrillation => (0.0, 0.5),
            HeartRhythm::Asystole => (0.0, 0.2),
        };
        let pulse = sv / (p.arterial_compliance * (1.0 - p.baro_arterial_stiffening * swing));
        let sensed = pa + p.baro_pulse_weight * (pulse - d.pulse_rest);
        let u_baro = (sensed - p.map_set) / p.baro_half_mmhg;
        let tone_target = 0.5 - 0.5 * u_baro / (1.0 + u_baro * u_baro).sqrt();
        // Arteriolar constriction raises the resistance before the capillaries, so their
        // pressure sits nearer the venous pressure.
        let share = d.postcapillary_share * d.resistance_rest / resistance;
        let capillary_pressure = pvs + share * (pa - pvs);
        let (rr, vt) = match u.ventilation {
            Ventilation::Spontaneous => {
                // Steep (Hill 3): sedation slows breathing, an induction dose stops it. With
                // remifentanil the potencies add, and more (a Greco interaction term: the two
                // are synergistic on breathing, Bouillon 2004, Nieuwenhuijs 2003).
                let up = ce / p.propofol_resp_ce50;
                let ur = s[RCE].max(0.0) / p.remifentanil_resp_ce50;
                let u = up + ur + p.respiratory_synergy * up * ur;
                let u3 = u * u * u;
                let depression = u3 / (1.0 + u3);
                // The chemoreflex, blunted by propofol as much as breathing itself: minute
                // ventilation rises 2 L/min per mmHg of PaCO2 above rest and hyperbolically as
                // alveolar PO2 falls (ΔVE = 100/(PO2 − 32)); shock (the sympathetic tone) makes
                // breathing fast and shallow, alveolar ventilation rising less than the rate.
                let awake = 1.0 - depression;
                let pao2 = (s[LO2] / p.frc_l).max(0.0) * PB_DRY;
                let hypoxic = |po2: f64| 100.0 / (po2.max(35.0) - 32.0);
                let ve_rest = p.rr_rest * p.vt_rest_l;
                let chem = awake
                    * (p.co2_ventilatory_response * (s[PACO2] - d.paco2_rest).max(0.0)
                        + (hypoxic(pao2) - hypoxic(d.pao2_rest)).max(0.0))
                    / ve_rest;
                let shock = awake * (2.0 * (s[TONE] - 0.5)).clamp(0.0, 1.0);
                let fast = 1.0 + p.shock_rr_gain * shock;
                let alveolar = (1.0 + p.shock_alveolar_gain * shock) / fast;
                let deep = (1.0 + chem).sqrt();
                let rr = p.rr_rest * (1.0 - depression) * fast * deep;
                let vt_rest = p.vt_rest_l * (1.0 - 0.6 * depression);
                let vt = p.dead_space_l + (vt_rest - p.dead_space_l).max(0.0) * alveolar * deep;
                (rr, vt)
            }
            Ventilation::Controlled { .. } if u.circuit_disconnected => (0.0, 0.0),
            Ventilation::Controlled { rate_per_min, tidal_volume_l } => (rate_per_min, tidal_volume_l),
        };
        let (rr, vt) = if u.airway_obstructed { (0.0, 0.0) } else { (rr, vt) };
        Algebra {
            hr,
            demand,
            sv,
            co,
            pa,
            pulse,
            pvs,
            pra,
            resistance,
            capillary_pressure,
            rr,
            minute_ventilation: rr * vt,
            alveolar_ventilation: rr * (vt - p.dead_space_l).max(0.0),
            tone_target,
        }
    }

    /// The bleed now: its resting rate scaled by the arterial pressure (L/min).
    fn bleed(&self, a: &Algebra, u: &Inputs) -> f64 {
        u.hemorrhage_l_per_min * a.pa / self.params.map_set
    }

    fn oxygen(&self, s: &State, a: &Algebra, u: &Inputs) -> Oxygen {
        let p = &self.params;
        let blood = s[VA] + s[VV];
        let hct = if blood > 0.0 { (s[RBC] / blood).max(0.0) } else { 0.0 };
        let hb = hct * 100.0 / 3.0; // MCHC ≈ 33 g/dL
        let fao2 = (s[LO2] / p.frc_l).max(0.0);
        let cc = o2_content(O2_PER_HB * hb, fao2 * PB_DRY);
        let cv = s[CVO2];
        let shunt = p.shunt_fraction;
        let ca = (1.0 - shunt) * cc + shunt * cv;
        let uptake = a.co * (1.0 - shunt) * (cc - cv);
        // Net gas leaving the alveoli for the blood is replaced by inspired gas (mass flow);
        // net gas entering them is breathed out with the rest.
        let va = a.alveolar_ventilation;
        let net = if u.airway_obstructed { 0.0 } else { uptake * STPD_ML_TO_BTPS_L - va * s[PACO2].max(0.0) / PB_DRY };
        let (inspired, expired) = if net >= 0.0 { (va + net, va) } else { (va, va - net) };
        // A ventilated patient whose circuit is apart draws in room air, not the set gas.
        let disconnected = u.circuit_disconnected && matches!(u.ventilation, Ventilation::Controlled { .. });
        let fio2 = if disconnected { 0.21 } else { u.fio2 };
        let d_lung = inspired * fio2 - expired * fao2 - uptake * STPD_ML_TO_BTPS_L;
        Oxygen { ca, d_lung, hb }
    }

    /// Time derivative of the state, per minute.
    fn derivative(&self, s: &State, u: &Inputs) -> State {
        let p = &self.params;
        let k = &self.pk;
        let a = self.algebra(s, u);
        let o = self.oxygen(s, &a, u);
        // Blood does not flow back from the veins into the arteries.
        let flow = ((a.pa - a.pvs) / a.resistance).max(0.0);
        let blood = s[VA] + s[VV];
        let hct = if blood > 0.0 { s[RBC] / blood } else { 0.0 };
        // Transcapillary exchange: fluid comes in when capillary pressure falls below rest and
        // goes out when it rises, each opposed by what has already moved.
        let refill = p.capillary_filtration
            * (p.capillary_pressure_rest - a.capillary_pressure - s[REFILL] / p.interstitial_compliance);
        let bleed = self.bleed(&a, u);
        // Infused crystalloid spreads between plasma and interstitium (two volumes, Hahn's
        // volume kinetics) and the kidneys excrete it from the plasma; both four times slower
        // at full sympathetic drive, so after a bleed it stays in the vessels (Drobin D, Hahn
        // RG, Anesthesiology 1999;90:81).
        let drive = (2.0 * (s[TONE] - 0.5)).clamp(0.0, 1.0);
        let slowed = 1.0 + 3.0 * drive;
        let redistribution = (s[XTAL].max(0.0) - p.crystalloid_plasma_share * s[XI].max(0.0))
            / (p.crystalloid_distribution_min * slowed);
        let excretion = s[XTAL].max(0.0) / (p.crystalloid_elimination_min * slowed);
        let mut ds = State::zeros();
        ds[VA] = a.co - flow - bleed;
        ds[VV] = flow - a.co + u.crystalloid_l_per_min + u.blood_l_per_min + refill - redistribution - excretion;
        ds[TONE] = (a.tone_target - s[TONE]) / p.baro_tau_min;
        ds[RBC] = -bleed * hct + u.blood_l_per_min * p.transfused_hct;
        ds[A1] = u.propofol_mg_per_min - (k.k10 + k.k12 + k.k13) * s[A1] + k.k21 * s[A2] + k.k31 * s[A3];
        ds[A2] = k.k12 * s[A1] - k.k21 * s[A2];
        ds[A3] = k.k13 * s[A1] - k.k31 * s[A3];
        ds[CE] = k.ke0 * (s[A1] / k.v1 - s[CE]);
        let r = &self.remifentanil;
        ds[R1] = u.remifentanil_ug_per_min - (r.k10 + r.k12 + r.k13) * s[R1] + r.k21 * s[R2] + r.k31 * s[R3];
        ds[R2] = r.k12 * s[R1] - r.k21 * s[R2];
        ds[R3] = r.k13 * s[R1] - r.k31 * s[R3];
        ds[RCE] = r.ke0 * (s[R1] / r.v1 - s[RCE]);
        ds[PHE] = u.phenylephrine_ug_per_min / p.phenylephrine_vd_l - self.derived.phe_k * s[PHE];
        ds[XTAL] = u.crystalloid_l_per_min - redistribution - excretion;
        ds[XI] = redistribution;
        // CO2 made in the tissues reaches the blood with the blood flow, and leaves through
        // the alveolar ventilation.
        let co2_exchange = p.co2_exchange_l_per_min * (a.co / p.co_rest) * (s[TCO2] - s[PACO2]);
        ds[PACO2] = (co2_exchange - a.alveolar_ventilation * s[PACO2]) / p.co2_fast_store_l;
        ds[TCO2] = (0.863 * p.vco2_ml_per_min - co2_exchange) / p.co2_tissue_store_l;
        ds[LO2] = o.d_lung;
        // Tissues take VO2 from the venous store until it runs low; blood flow refills it.
        let cv = s[CVO2];
        let supply_limit = (cv / p.critical_venous_o2_ml_per_l).clamp(0.0, 1.0);
        let consumption = p.vo2_ml_per_min * supply_limit;
        ds[CVO2] = (a.co * (o.ca - cv) - consumption) / blood.max(0.5);
        ds[REFILL] = refill - s[REFILL] / p.interstitial_restore_min;
        // The heart muscle's O2: delivery is the arterial content times the coronary flow the
        // perfusion pressure (diastolic minus right atrial) can drive, above the coronary
        // zero-flow pressure, through a fully dilated bed; a shortfall against demand builds
        // a debt, a surplus repays it.
        let cpp = a.pa - a.pulse / 3.0 - a.pra;
        let d = &self.derived;
        let flow = ((cpp - p.coronary_zero_flow_mmhg) / (d.cpp_rest - p.coronary_zero_flow_mmhg)).max(0.0);
        let supply = (o.ca / d.ca_rest).max(0.0) * flow * p.coronary_reserve;
        let gap = a.demand - supply;
        ds[MYO] = if gap > 0.0 {
            // The share of the demand unmet: a heart without any flow reaches a debt of 1 in
            // one time constant, a partly perfused one far later.
            gap / a.demand / p.myocardial_debt_min
        } else if s[MYO] > 0.0 {
            gap.max(-1.0) / p.myocardial_repay_min
        } else {
            0.0
        };
        ds[EPI] = -std::f64::consts::LN_2 / p.epinephrine_half_life_min * s[EPI];
        ds[ATR] = -std::f64::consts::LN_2 / p.atropine_half_life_min * s[ATR];
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
    model.state[MYO] = model.state[MYO].max(0.0);
    model.elapsed_s += dt_s;
    model.rhythm = next_rhythm(model.rhythm, model.state[MYO], model.state[EPI], &model.params);
    Ok(model.outputs(inputs))
}

/// The rhythm after a step: a heart whose O2 debt reaches 1 stops pumping (PEA), at 1.6 it
/// goes still (asystole), as untreated VF or VT does at 2.5; a heart in PEA or asystole
/// whose debt has been repaid to 0.6 (compressions, oxygen) starts again when epinephrine
/// is there to drive it (at least a third of its maximal effect).
fn next_rhythm(rhythm: HeartRhythm, debt: f64, epinephrine_ug: f64, p: &PhysioParams) -> HeartRhythm {
    let epi = epinephrine_ug.max(0.0);
    let driven = epi / (epi + p.epinephrine_ec50_ug) >= 1.0 / 3.0;
    match rhythm {
        HeartRhythm::Sinus if debt >= 1.0 => HeartRhythm::Pea,
        HeartRhythm::Pea if debt >= 1.6 => HeartRhythm::Asystole,
        HeartRhythm::VentricularFibrillation | HeartRhythm::VentricularTachycardia if debt >= 2.5 => {
            HeartRhythm::Asystole
        }
        HeartRhythm::Pea | HeartRhythm::Asystole if debt <= 0.6 && driven => HeartRhythm::Sinus,
        r => r,
    }
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
    check("remifentanil µg/min", u.remifentanil_ug_per_min, 0.0, 100.0)?;
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

/// A steady bleed used to check the hemorrhage response, L/min (about 3 L/h).
pub const CHECK_BLEED_L_PER_MIN: f64 = 0.05;

/// One ATLS class of hemorrhage: the standard adult at rest bleeds `fraction` of the blood
/// volume at [`CHECK_BLEED_L_PER_MIN`]; `outputs` are the monitor at the end of the bleed.
#[derive(Debug, Clone, PartialEq)]
pub struct HemorrhageCheck {
    pub class: &'static str,
    pub fraction: f64,
    /// What ATLS describes for the class.
    pub expected: &'static str,
    pub rest: Outputs,
    pub outputs: Outputs,
}

const ATLS: &str = "American College of Surgeons, Advanced Trauma Life Support, 10th ed., 2018, ch. 3";

/// Bleeds the standard adult at rest (at [`CHECK_BLEED_L_PER_MIN`] at its resting pressure,
/// slower as the pressure falls) until `fraction` of the blood volume has been lost; returns
/// the model then and the monitor.
fn bleed_from_rest(fraction: f64, dt_s: f64) -> Result<(Model, Outputs), PhysioError> {
    let mut m = Model::standard_adult()?;
    let out = bleed_until_lost(&mut m, CHECK_BLEED_L_PER_MIN, fraction, dt_s)?;
    Ok((m, out))
}

/// Bleeds `model` at `rate_l_per_min` (at the resting pressure, slower as the pressure falls)
/// until `fraction` of its resting blood volume has been lost; returns the monitor then.
/// Gives up after ten times the time a steady bleed takes.
pub fn bleed_until_lost(
    model: &mut Model,
    rate_l_per_min: f64,
    fraction: f64,
    dt_s: f64,
) -> Result<Outputs, PhysioError> {
    check("bleed L/min", rate_l_per_min, 1e-3, 2.0)?;
    check("fraction lost", fraction, 0.0, 1.0)?;
    let m = model;
    let target = fraction * m.params.blood_volume_l;
    let bleed = Inputs { hemorrhage_l_per_min: rate_l_per_min, ..Inputs::default() };
    let limit = (10.0 * target / rate_l_per_min * 60.0 / dt_s).ceil() as u64;
    let mut out = m.outputs(&bleed);
    let mut lost = 0.0;
    for _ in 0..limit {
        let before = out.bleed_l_per_min;
        out = step(m, &bleed, dt_s)?;
        lost += (before + out.bleed_l_per_min) / 2.0 * dt_s / 60.0;
        if lost >= target {
            break;
        }
    }
    Ok(out)
}

/// The standard adult through the four ATLS classes of hemorrhage (10, 20, 35 and 45 % of
/// the blood volume; step 0.5 s).
pub fn hemorrhage_checks() -> Result<Vec<HemorrhageCheck>, PhysioError> {
    let rest = Model::standard_adult()?.outputs(&Inputs::default());
    let classes = [
        ("I", 0.10, "< 15 %: HR < 100, BP and pulse pressure normal"),
        ("II", 0.20, "15–30 %: HR 100–120, BP normal or slightly low, pulse pressure narrowed"),
        ("III", 0.35, "30–40 %: HR 120–140, SBP 70–90 (MAP about 50–65)"),
        ("IV", 0.45, "> 40 %: HR > 140, marked hypotension, life-threatening"),
    ];
    classes
        .into_iter()
        .map(|(class, fraction, expected)| {
            let (_, outputs) = bleed_from_rest(fraction, 0.5)?;
            Ok(HemorrhageCheck { class, fraction, expected, rest, outputs })
        })
        .collect()
}

/// Minutes until SpO2 first falls below `threshold` % under `inputs` (None if not within
/// `limit_min`).
pub fn minutes_to_spo2_below(
    model: &mut Model,
    inputs: &Inputs,
    threshold: f64,
    limit_min: f64,
    dt_s: f64,
) -> Result<Option<f64>, PhysioError> {
    check("minutes", limit_min, 0.0, 1e7)?;
    check("dt_s", dt_s, 1e-6, 60.0)?;
    let steps = (limit_min * 60.0 / dt_s).round() as u64;
    for i in 1..=steps {
        if step(model, inputs, dt_s)?.spo2_percent < threshold {
            return Ok(Some(i as f64 * dt_s / 60.0));
        }
    }
    Ok(None)
}

/// Apnoea (airway open, no breaths) in the standard adult after breathing `before_fio2` for
/// 3 minutes: minutes until SpO2 < 90 % with `apnoea_fio2` at the airway (step 0.5 s).
pub fn apnoea_minutes_to_90(before_fio2: f64, apnoea_fio2: f64) -> Result<Option<f64>, PhysioError> {
    let mut m = Model::standard_adult()?;
    run_for(&mut m, &Inputs { fio2: before_fio2, ..Inputs::default() }, 3.0, 0.5)?;
    let apnoea = Inputs {
        fio2: apnoea_fio2,
        ventilation: Ventilation::Controlled { rate_per_min: 0.0, tidal_volume_l: 0.0 },
        ..Inputs::default()
    };
    minutes_to_spo2_below(&mut m, &apnoea, 90.0, 30.0, 0.5)
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
    s.push_str(&format!(
        "\n### Hemorrhage against the ATLS classes\n\nThe resting adult bleeds at {:.0} mL/min; \
         values at the end of the bleed. Expected: {ATLS}.\n\n\
         | Class | Lost | HR | MAP | SBP/DBP | Pulse pressure | CO L/min | Expected |\n|---|---:|---|---|---|---|---|---|\n",
        CHECK_BLEED_L_PER_MIN * 1000.0
    ));
    for c in hemorrhage_checks()? {
        let (a, b) = (&c.rest, &c.outputs);
        s.push_str(&format!(
            "| {} | {:.0} % | {:.0} → {:.0} | {:.0} → {:.0} | {:.0}/{:.0} | {:.0} → {:.0} | {:.2} → {:.2} | {} |\n",
            c.class,
            c.fraction * 100.0,
            a.hr_per_min,
            b.hr_per_min,
            a.map_mmhg,
            b.map_mmhg,
            b.sbp_mmhg,
            b.dbp_mmhg,
            a.sbp_mmhg - a.dbp_mmhg,
            b.sbp_mmhg - b.dbp_mmhg,
            a.cardiac_output_l_per_min,
            b.cardiac_output_l_per_min,
            c.expected
        ));
    }
    s.push_str(
        "\n### Apnoea: time to SpO2 below 90 %\n\n| Before apnoea | Gas at the open airway | Minutes | Expected |\n|---|---|---:|---|\n",
    );
    let apnoeas = [
        ("room air, 3 min", 0.21, "room air", 0.21, "about a minute or less (Weingart & Levitan 2012)"),
        ("100 % O2, 3 min", 1.0, "room air", 0.21, "several minutes, ≈ 8 in a healthy 70 kg adult (Benumof 1997)"),
        ("100 % O2, 3 min", 1.0, "100 % O2", 1.0, "apnoeic oxygenation holds it for tens of minutes (Frumin 1959)"),
    ];
    for (before, fio2_before, during, fio2_during, expected) in apnoeas {
        let t = apnoea_minutes_to_90(fio2_before, fio2_during)?;
        let t = t.map_or_else(|| "> 30".to_owned(), |t| format!("{t:.1}"));
        s.push_str(&format!("| {before} | {during} | {t} | {expected} |\n"));
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
    fn hemorrhage_follows_the_atls_classes() {
        // ATLS 10th ed. (American College of Surgeons, Advanced Trauma Life Support, 2018,
        // ch. 3, classes of hemorrhage), whose arrows stand for the earlier editions' numbers:
        // class I (< 15 %) HR < 100, pressure and pulse pressure normal; class II (15–30 %)
        // HR 100–120, pressure normal or slightly low, pulse pressure narrowed; class III
        // (30–40 %) HR 120–140, SBP 70–90 (MAP about 50–65); class IV (> 40 %) HR > 140,
        // life-threatening hypotension. A bleed of 50 mL/min at the resting pressure, slower
        // as the pressure falls.
        let checks = hemorrhage_checks().unwrap();
        let rest = checks[0].rest;
        let pulse = |o: &Outputs| o.sbp_mmhg - o.dbp_mmhg;
        let [i, ii, iii, iv] = [0, 1, 2, 3].map(|k| checks[k].outputs);
        assert!(i.hr_per_min < 100.0 && i.map_mmhg > rest.map_mmhg * 0.9, "class I {i:?}");
        // The heart rate rises before the pressure falls.
        assert!(i.hr_per_min > rest.hr_per_min + 10.0 && i.map_mmhg > rest.map_mmhg - 5.0, "class I {i:?}");
        assert!((100.0..=120.0).contains(&ii.hr_per_min), "class II {ii:?}");
        assert!(ii.map_mmhg > rest.map_mmhg - 15.0 && ii.sbp_mmhg > 95.0, "class II {ii:?}");
        assert!(pulse(&ii) < pulse(&rest) * 0.8, "class II pulse pressure {ii:?}");
        assert!((120.0..=140.0).contains(&iii.hr_per_min), "class III {iii:?}");
        // ATLS gives systolic pressures; the mean follows from them (about 50-65, here a little
        // higher: the bleed slows with the pressure, leaving refill more time).
        assert!((50.0..=68.0).contains(&iii.map_mmhg) && (70.0..=90.0).contains(&iii.sbp_mmhg), "class III {iii:?}");
        assert!(iv.map_mmhg < 50.0 && iv.hr_per_min > iii.hr_per_min, "class IV {iv:?}");
        // H1: breathing quickens through the classes (14-20, 20-30, 30-40, > 35 /min), and
        // faster than it deepens: PaCO2 falls a little, never to nothing.
        let rr = [i, ii, iii, iv].map(|o| o.rr_per_min);
        eprintln!("H1 RR at 10/20/35/45 % lost: {rr:.1?}");
        assert!((14.0..=20.0).contains(&rr[0]) && (20.0..=30.0).contains(&rr[1]), "{rr:?}");
        assert!((30.0..=40.0).contains(&rr[2]) && rr[3] > 35.0, "{rr:?}");
        assert!((25.0..=40.0).contains(&iii.paco2_mmhg), "class III {iii:?}");
        for c in &checks {
            assert!(c.outputs.cardiac_output_l_per_min < rest.cardiac_output_l_per_min, "{c:?}");
        }
    }

    /// H4 (CLINICAL-VALIDATION): any bleed from 0.05 to 2 L/min for an hour keeps every
    /// pressure and volume physical (before, 2 L/min for 10 min gave MAP -173 mmHg and a
    /// blood volume of -12 L), and the bleed slows as the pressure falls.
    #[test]
    fn any_bleed_keeps_pressures_and_volumes_physical() {
        for rate in [0.05, 0.2, 0.5, 1.0, 2.0] {
            let mut m = Model::standard_adult().unwrap();
            let bleed = Inputs { hemorrhage_l_per_min: rate, ..Inputs::default() };
            let first = m.outputs(&bleed).bleed_l_per_min;
            let mut last = first;
            for _ in 0..(60 * 60 * 2) {
                let o = step(&mut m, &bleed, 0.5).unwrap();
                for (name, v, min) in [
                    ("MAP", o.map_mmhg, 0.0),
                    ("SBP", o.sbp_mmhg, 0.0),
                    ("DBP", o.dbp_mmhg, 0.0),
                    ("CVP", o.cvp_mmhg, -2.0),
                    ("blood volume", o.blood_volume_l, 0.0),
                    ("Hb", o.hb_g_per_dl, 0.0),
                    ("CO", o.cardiac_output_l_per_min, 0.0),
                ] {
                    assert!(v.is_finite() && v >= min, "{rate} L/min: {name} {v} at {} s: {o:?}", m.elapsed_s());
                }
                last = o.bleed_l_per_min;
            }
            assert!(last < first, "{rate} L/min: the bleed ends slower ({last}) than it began ({first})");
        }
    }

    /// R2: blood volume, FRC, tidal volume and VO2 follow the patient (before, every patient
    /// had the 70 kg values): 50 kg woman, 70, 100 and 127 kg men, each at rest.
    #[test]
    fn the_patient_sets_blood_volume_lungs_and_metabolism() {
        use crate::pk::Sex;
        let patients = [
            (50.0, 162.0, Sex::Female),
            (70.0, 175.0, Sex::Male),
            (100.0, 180.0, Sex::Male),
            (127.0, 185.0, Sex::Male),
        ];
        for (weight_kg, height_cm, sex) in patients {
            let patient = Patient { age_years: 40.0, weight_kg, height_cm, sex };
            let params = PhysioParams::for_patient(&patient);
            let mut m = Model::new(&patient, params).unwrap();
            let o = run_for(&mut m, &Inputs::default(), 20.0, DT).unwrap();
            let near = |got: f64, want: f64, what: &str| {
                assert!((got - want).abs() <= 0.1 * want, "{weight_kg} kg {what}: {got:.3} against {want:.3}");
            };
            near(o.blood_volume_l * 1000.0, 65.6 * weight_kg.powf(1.02), "blood volume mL");
            near(params.frc_l * 1000.0, 30.0 * weight_kg, "FRC mL");
            near(o.minute_ventilation_l / o.rr_per_min * 1000.0, 7.0 * weight_kg, "tidal volume mL");
            let vo2_per_kg = params.vo2_ml_per_min / weight_kg;
            assert!((2.8..=3.9).contains(&vo2_per_kg), "{weight_kg} kg VO2 {vo2_per_kg:.2} mL/kg/min");
            // Resting normals hold for every size: the same pressures, PaCO2 and saturation.
            assert!((85.0..=100.0).contains(&o.map_mmhg) && (38.0..=44.0).contains(&o.paco2_mmhg), "{o:?}");
            assert!(o.spo2_percent > 95.0 && (60.0..=80.0).contains(&o.hr_per_min), "{o:?}");
        }
        assert_eq!(PhysioParams::for_patient(&REFERENCE_PATIENT), PhysioParams::default());
    }

    /// P1, P2, P4 of the validation file: a 2 mg/kg propofol bolus.
    fn induction(age_years: f64) -> (Outputs, f64, f64, f64) {
        let patient = Patient { age_years, ..REFERENCE_PATIENT };
        let mut m = Model::new(&patient, PhysioParams::for_patient(&patient)).unwrap();
        let rest = run_for(&mut m, &Inputs::default(), 10.0, DT).unwrap();
        m.propofol_bolus(2.0 * patient.weight_kg).unwrap();
        let (mut map_nadir, mut hr_at_nadir, mut ve_low_s) = (f64::INFINITY, rest.hr_per_min, 0.0);
        for i in 1..=(5 * 60 * 2) {
            let o = step(&mut m, &Inputs::default(), DT).unwrap();
            let t = i as f64 * DT;
            if (120.0..=300.0).contains(&t) && o.map_mmhg < map_nadir {
                (map_nadir, hr_at_nadir) = (o.map_mmhg, o.hr_per_min);
            }
            if t <= 120.0 && o.minute_ventilation_l < 0.2 * rest.minute_ventilation_l {
                ve_low_s += DT;
            }
        }
        (rest, map_nadir, hr_at_nadir, ve_low_s)
    }

    /// P1: 2 mg/kg lowers the pressure 25-40 % at 2-5 min with the heart rate within 10 %
    /// (before: -16 % and +30 %); P2: the breathing nearly stops (minute ventilation under a
    /// fifth of rest for at least 30 s in the first 2 min; before: never); P4: the fall is
    /// larger at 78 than at 40.
    #[test]
    fn a_propofol_induction_dose_lowers_the_pressure_stops_breathing_and_spares_the_heart_rate() {
        let mut falls = Vec::new();
        for age in [40.0, 78.0] {
            let (rest, nadir, hr, apnoea_s) = induction(age);
            let fall = (1.0 - nadir / rest.map_mmhg) * 100.0;
            let hr_change = (hr / rest.hr_per_min - 1.0) * 100.0;
            eprintln!("P1/P2 {age} y: MAP -{fall:.0} %, HR {hr_change:+.0} %, VE under 20 % for {apnoea_s:.0} s");
            assert!(hr_change.abs() <= 10.0, "{age} y: HR {hr_change:+.1} %");
            assert!(apnoea_s >= 30.0, "{age} y: {apnoea_s} s of apnoea");
            falls.push(fall);
        }
        assert!((25.0..=40.0).contains(&falls[0]), "40 y: MAP -{:.1} %", falls[0]);
        assert!(falls[1] > falls[0], "older, larger fall: {falls:?}");
    }

    /// C1: apnoea under general anaesthesia (ventilated on oxygen, then the ventilator
    /// stopped with the airway open): PaCO2 rises 9.8 ± 1.9 mmHg in the first minute, then
    /// 3.4-4.4 mmHg/min (Kobayashi & Yokoyama 1994; Eger & Severinghaus 1961), each within
    /// the validation file's ±30 % (before: 8.6 mmHg/min throughout).
    #[test]
    fn apnoeic_co2_rises_fast_in_the_first_minute_then_about_4_mmhg_a_minute() {
        let mut m = Model::standard_adult().unwrap();
        let ventilated = Inputs {
            fio2: 1.0,
            ventilation: Ventilation::Controlled { rate_per_min: 12.0, tidal_volume_l: 0.5 },
            ..Inputs::default()
        };
        let start = run_for(&mut m, &ventilated, 30.0, DT).unwrap().paco2_mmhg;
        let apnoea =
            Inputs { ventilation: Ventilation::Controlled { rate_per_min: 0.0, tidal_volume_l: 0.5 }, ..ventilated };
        let one = run_for(&mut m, &apnoea, 1.0, DT).unwrap().paco2_mmhg;
        let five = run_for(&mut m, &apnoea, 4.0, DT).unwrap().paco2_mmhg;
        let first = one - start;
        let slope = (five - one) / 4.0;
        eprintln!("C1: PaCO2 +{first:.1} mmHg in minute 1, then {slope:.2} mmHg/min");
        assert!((9.8 * 0.7..=9.8 * 1.3).contains(&first), "first minute +{first:.1} mmHg");
        assert!((3.4 * 0.7..=4.4 * 1.3).contains(&slope), "minutes 1-5: {slope:.2} mmHg/min");
    }

    /// Breathing responds (before, RR stayed 12 whatever the PaCO2): propofol's respiratory
    /// depression raises PaCO2 only until the chemoreflex holds it, and a hypoxic mixture
    /// quickens breathing.
    #[test]
    fn the_chemoreflex_answers_co2_and_hypoxaemia() {
        let mut m = Model::standard_adult().unwrap();
        let rest = m.outputs(&Inputs::default());
        // About 3 µg/mL at the effect site: half the respiratory depression.
        let sedated = run_for(&mut m, &Inputs { propofol_mg_per_min: 10.0, ..Inputs::default() }, 30.0, DT).unwrap();
        assert!((2.0..=4.5).contains(&sedated.propofol_effect_ug_per_ml), "{sedated:?}");
        assert!((43.0..=60.0).contains(&sedated.paco2_mmhg), "the chemoreflex holds PaCO2: {sedated:?}");
        let mut m = Model::standard_adult().unwrap();
        let thin_air = run_for(&mut m, &Inputs { fio2: 0.12, ..Inputs::default() }, 10.0, DT).unwrap();
        assert!(thin_air.minute_ventilation_l > rest.minute_ventilation_l * 1.3, "{thin_air:?}");
        assert!(thin_air.rr_per_min > rest.rr_per_min, "{thin_air:?}");
    }

    /// H5 (direction): end-tidal CO2 falls with cardiac output as a bleed empties the heart.
    #[test]
    fn end_tidal_co2_falls_with_cardiac_output() {
        let mut m = Model::standard_adult().unwrap();
        let rest = m.outputs(&Inputs::default());
        let bleed = Inputs { hemorrhage_l_per_min: 0.5, ..Inputs::default() };
        let o = run_for(&mut m, &bleed, 8.0, DT).unwrap();
        assert!(o.cardiac_output_l_per_min < rest.cardiac_output_l_per_min * 0.6, "{o:?}");
        let gap = |o: &Outputs| o.paco2_mmhg - o.etco2_mmhg;
        assert!(o.etco2_mmhg < rest.etco2_mmhg - 3.0 && gap(&o) > gap(&rest) + 3.0, "rest {rest:?}, now {o:?}");
    }

    #[test]
    fn fluids_and_blood_bring_a_class_iii_hemorrhage_back() {
        let (shock_model, shock) = bleed_from_rest(0.35, DT).unwrap();
        // 1 L crystalloid over 10 minutes.
        let mut m = shock_model.clone();
        let o = run_for(&mut m, &Inputs { crystalloid_l_per_min: 0.1, ..Inputs::default() }, 10.0, DT).unwrap();
        assert!(o.map_mmhg > 80.0 && o.hr_per_min < shock.hr_per_min - 20.0, "{o:?}");
        assert!(o.hb_g_per_dl < shock.hb_g_per_dl - 0.5, "crystalloid dilutes: {o:?}");
        // 1 L whole blood over 10 minutes: the pressure and the haemoglobin.
        let mut m = shock_model;
        let o = run_for(&mut m, &Inputs { blood_l_per_min: 0.1, ..Inputs::default() }, 10.0, DT).unwrap();
        assert!(o.map_mmhg > 80.0 && o.hr_per_min < shock.hr_per_min - 20.0, "{o:?}");
        assert!(o.hb_g_per_dl > shock.hb_g_per_dl, "{o:?}");
    }

    #[test]
    fn transcapillary_refill_partly_restores_volume_and_dilutes() {
        let (mut m, end) = bleed_from_rest(0.20, DT).unwrap();
        // 1 L bled, but plasma has come in from the interstitium meanwhile, and goes on coming.
        assert!(end.blood_volume_l > 4.05, "{end:?}");
        let later = run_for(&mut m, &Inputs::default(), 60.0, DT).unwrap();
        assert!(later.blood_volume_l > end.blood_volume_l + 0.05 && later.blood_volume_l < 4.8, "{later:?}");
        assert!(later.hb_g_per_dl < end.hb_g_per_dl, "{later:?}");
        assert!(later.map_mmhg > end.map_mmhg && later.hr_per_min < end.hr_per_min, "{later:?}");
    }

    #[test]
    fn apnoea_desaturates_on_the_time_course_of_the_lung_o2_store() {
        // Room air: below 90 % in about a minute or less (Weingart SD, Levitan RM, Ann Emerg
        // Med 2012;59:165–75; breath-holds at FRC desaturate within 30 s in some subjects,
        // Findley LJ et al., J Appl Physiol 1983;55:1777–83). Generous range.
        let air = apnoea_minutes_to_90(0.21, 0.21).unwrap().expect("desaturates on air");
        assert!((0.5..=2.0).contains(&air), "room air {air} min");
        // After preoxygenation, with the mask off: several minutes; about 8 for a healthy
        // 70 kg adult with VE = 0 (Benumof JL et al., Anesthesiology 1997;87:979–82, fig. 1,
        // from the model of Farmery AD, Roe PG, Br J Anaesth 1996;76:284–91). Generous range.
        let preox = apnoea_minutes_to_90(1.0, 0.21).unwrap().expect("desaturates in the end");
        assert!((5.0..=11.0).contains(&preox), "preoxygenated {preox} min");
        assert!(preox > 4.0 * air);
        // With 100 % O2 kept at the open airway, mass flow keeps the lung store full
        // (apnoeic oxygenation, Frumin MJ et al., Anesthesiology 1959;20:789–98) while CO2 rises.
        assert_eq!(apnoea_minutes_to_90(1.0, 1.0).unwrap(), None);
    }

    #[test]
    fn desaturation_is_gradual_and_reverses_with_breathing() {
        let mut m = Model::standard_adult().unwrap();
        run_for(&mut m, &Inputs::default(), 1.0, DT).unwrap();
        let apnoea = Inputs {
            ventilation: Ventilation::Controlled { rate_per_min: 0.0, tidal_volume_l: 0.0 },
            ..Inputs::default()
        };
        let mut last = m.outputs(&apnoea).spo2_percent;
        for _ in 0..(1.5 * 60.0 / DT) as usize {
            let o = step(&mut m, &apnoea, DT).unwrap();
            // Never a jump: the store empties over tens of seconds.
            assert!(o.spo2_percent <= last + 1e-9 && last - o.spo2_percent < 1.0, "{o:?}");
            last = o.spo2_percent;
        }
        assert!(last < 85.0, "{last}");
        let o = run_for(&mut m, &Inputs { fio2: 1.0, ..Inputs::default() }, 2.0, DT).unwrap();
        assert!(o.spo2_percent > 97.0, "{o:?}");
    }

    #[test]
    fn a_large_shunt_is_helped_only_partly_by_oxygen() {
        let params = PhysioParams { shunt_fraction: 0.3, ..PhysioParams::default() };
        let patient = Patient { age_years: 40.0, weight_kg: 70.0, height_cm: 175.0, sex: Sex::Male };
        let mut m = Model::new(&patient, params).unwrap();
        let air = run_for(&mut m, &Inputs::default(), 10.0, DT).unwrap();
        let o2 = run_for(&mut m, &Inputs { fio2: 1.0, ..Inputs::default() }, 10.0, DT).unwrap();
        assert!(air.spo2_percent < 90.0 && o2.spo2_percent > air.spo2_percent + 5.0, "{air:?} {o2:?}");
        // Shunted blood never meets the oxygen: well short of the 100 % a normal lung reaches.
        assert!(o2.spo2_percent < 99.0, "{o2:?}");
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
        // The lung and blood O2 stores emptied by the hypoventilation take minutes to refill.
        let oxygen = Inputs { fio2: 0.5, ..slow };
        let o2 = run_for(&mut m, &oxygen, 3.0, DT).unwrap();
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

    /// VF: a shock in the first minutes converts it; after about 4 untreated minutes the
    /// starved heart no longer converts, compressions alone hold it there, and compressions
    /// with epinephrine repay the debt until a shock works again. Compressions move blood
    /// (EtCO2 10-20 mmHg, coronary perfusion about 15 mmHg); nothing else does.
    #[test]
    fn vf_needs_an_early_shock_or_cpr_and_epinephrine() {
        let rest = Inputs::default();
        let mut early = Model::standard_adult().unwrap();
        early.set_rhythm(HeartRhythm::VentricularFibrillation);
        let o = run_for(&mut early, &rest, 2.0, DT).unwrap();
        assert!(o.cardiac_output_l_per_min == 0.0 && o.hr_per_min == 0.0 && !o.oximeter_reads(), "{o:?}");
        assert!(early.defibrillate(200.0).unwrap(), "a shock after 2 min converts");
        let o = run_for(&mut early, &rest, 2.0, DT).unwrap();
        assert!(o.rhythm == HeartRhythm::Sinus && o.map_mmhg > 70.0, "{o:?}");

        let mut late = Model::standard_adult().unwrap();
        late.set_rhythm(HeartRhythm::VentricularFibrillation);
        run_for(&mut late, &rest, 5.0, DT).unwrap();
        assert!(!late.defibrillate(200.0).unwrap(), "after 5 untreated minutes the shock fails");
        assert!(!late.defibrillate(100.0).unwrap() && late.rhythm() == HeartRhythm::VentricularFibrillation);
        let cpr = Inputs {
            chest_compressions: true,
            fio2: 1.0,
            ventilation: Ventilation::Controlled { rate_per_min: 10.0, tidal_volume_l: 0.5 },
            ..rest
        };
        let before = late.outputs(&cpr).myocardial_o2_debt;
        let o = run_for(&mut late, &cpr, 2.0, DT).unwrap();
        assert!((0.5..=1.2).contains(&o.cardiac_output_l_per_min), "{o:?}");
        assert!((8.0..=22.0).contains(&o.etco2_mmhg), "{o:?}");
        assert!(o.myocardial_o2_debt > before - 0.1, "compressions alone hardly repay: {o:?}");
        assert!(!late.defibrillate(200.0).unwrap());
        late.epinephrine_bolus(1000.0).unwrap();
        let o = run_for(&mut late, &cpr, 4.0, DT).unwrap();
        assert!(o.myocardial_o2_debt < 1.0 && o.map_mmhg > 40.0, "{o:?}");
        assert!(late.defibrillate(200.0).unwrap(), "with epinephrine and CPR the shock works");
        let o = run_for(&mut late, &Inputs { chest_compressions: false, ..cpr }, 2.0, DT).unwrap();
        assert!(o.rhythm == HeartRhythm::Sinus && o.cardiac_output_l_per_min > 3.0, "{o:?}");
        // A shock on a beating heart changes nothing.
        assert!(!late.defibrillate(200.0).unwrap() && late.rhythm() == HeartRhythm::Sinus);
    }

    /// Asphyxia: the heart first quickens, then slows and stops (PEA, then asystole);
    /// oxygen, compressions and epinephrine restart it from PEA.
    #[test]
    fn an_obstructed_airway_leads_to_pea_that_oxygen_cpr_and_epinephrine_reverse() {
        let mut m = Model::standard_adult().unwrap();
        let obstructed = Inputs { airway_obstructed: true, ..Inputs::default() };
        let o = run_for(&mut m, &obstructed, 2.0, DT).unwrap();
        assert!(o.hr_per_min > 75.0 && o.etco2_mmhg == 0.0 && o.rr_per_min == 0.0, "{o:?}");
        let o = run_for(&mut m, &obstructed, 8.0, DT).unwrap();
        assert_eq!(o.rhythm, HeartRhythm::Pea, "{o:?}");
        let rescue = Inputs {
            chest_compressions: true,
            fio2: 1.0,
            ventilation: Ventilation::Controlled { rate_per_min: 10.0, tidal_volume_l: 0.5 },
            ..Inputs::default()
        };
        m.epinephrine_bolus(1000.0).unwrap();
        let mut rosc = None;
        for i in 0..(6 * 120) {
            if step(&mut m, &rescue, DT).unwrap().rhythm == HeartRhythm::Sinus {
                rosc = Some(i as f64 * DT / 60.0);
                break;
            }
        }
        assert!(rosc.is_some_and(|t| t < 6.0), "no return of circulation: {:?}", m.outputs(&rescue));
    }

    /// Atropine lifts the rate and blocks the vagal slowing of the baroreflex.
    #[test]
    fn atropine_raises_the_rate_and_blocks_vagal_slowing() {
        let mut m = Model::standard_adult().unwrap();
        m.atropine_bolus(1.0).unwrap();
        let o = run_for(&mut m, &Inputs::default(), 3.0, DT).unwrap();
        assert!(o.hr_per_min > 80.0, "{o:?}");
        let phe = Inputs { phenylephrine_ug_per_min: 100.0, ..Inputs::default() };
        let mut plain = Model::standard_adult().unwrap();
        let slowed = run_for(&mut plain, &phe, 10.0, DT).unwrap();
        let blocked = run_for(&mut m, &phe, 10.0, DT).unwrap();
        assert!(blocked.hr_per_min > slowed.hr_per_min + 10.0, "{slowed:?} {blocked:?}");
        assert!(m.atropine_bolus(-1.0).is_err() && m.epinephrine_bolus(f64::NAN).is_err());
    }

    #[test]
    fn o2_content_and_its_inverse_agree() {
        // 15 g/dL at PO2 100: 201 × 0.97747 + 0.03 × 100 = 199.47 mL/L.
        assert!((o2_content(201.0, 100.0) - 199.47).abs() < 0.01);
        for capacity in [0.0, 40.0, 134.0, 201.0, 260.0] {
            for po2 in [1.0, 10.0, 26.86, 40.0, 60.0, 100.0, 300.0, 650.0, 1500.0] {
                let back = po2_of_content(capacity, o2_content(capacity, po2));
                assert!((back - po2).abs() < 1e-6 * po2.max(1.0), "{capacity} {po2} {back}");
            }
        }
        assert_eq!(po2_of_content(201.0, -1.0), 0.0);
        assert_eq!(po2_of_content(201.0, 1e9), 2000.0);
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
