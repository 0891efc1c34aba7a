//! NEWS2 (Royal College of Physicians, 2017): the score from numerics, with SpO2 scale 1 or
//! scale 2 (a target of 88-92 % in hypercapnic respiratory failure), the parameters that
//! were not measured, and a summary that never shows a risk band without saying so.

use super::signals::Frame;

/// Level of consciousness on the ACVPU scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consciousness {
    Alert,
    /// New confusion, or responds only to voice or pain, or unresponsive.
    NotAlert,
}

/// Which SpO2 scale applies (RCP 2017): scale 2 only for a patient with hypercapnic
/// respiratory failure whose prescribed target is 88-92 %, on a clinician's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spo2Scale {
    #[default]
    Scale1,
    Scale2,
}

/// What NEWS2 is scored from; `None` for what was not measured.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct News2Input {
    pub resp_rate: Option<f64>,
    pub spo2: Option<f64>,
    /// The scale `spo2` is scored on.
    pub spo2_scale: Spo2Scale,
    pub on_oxygen: Option<bool>,
    pub systolic: Option<f64>,
    pub pulse: Option<f64>,
    pub consciousness: Option<Consciousness>,
    pub temperature_c: Option<f64>,
}

/// One NEWS2 parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum News2Parameter {
    RespirationRate,
    Spo2Scale1,
    Spo2Scale2,
    AirOrOxygen,
    SystolicBp,
    Pulse,
    Consciousness,
    Temperature,
}

impl News2Parameter {
    pub fn name(self) -> &'static str {
        match self {
            News2Parameter::RespirationRate => "respiration rate",
            News2Parameter::Spo2Scale1 => "SpO2 (scale 1)",
            News2Parameter::Spo2Scale2 => "SpO2 (scale 2)",
            News2Parameter::AirOrOxygen => "air or oxygen",
            News2Parameter::SystolicBp => "systolic BP",
            News2Parameter::Pulse => "pulse",
            News2Parameter::Consciousness => "consciousness",
            News2Parameter::Temperature => "temperature",
        }
    }
}

/// The clinical risk band NEWS2 assigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum News2Risk {
    Low,
    /// A single parameter scored 3 (urgent ward-based response).
    LowMedium,
    Medium,
    High,
}

impl News2Risk {
    pub fn name(self) -> &'static str {
        match self {
            News2Risk::Low => "low",
            News2Risk::LowMedium => "low-medium",
            News2Risk::Medium => "medium",
            News2Risk::High => "high",
        }
    }
}

/// A NEWS2 score: the parts scored, and the parameters that were not measured (and so add
/// nothing: the total is then a lower bound).
#[derive(Debug, Clone, PartialEq)]
pub struct News2 {
    pub total: u8,
    pub parts: Vec<(News2Parameter, u8)>,
    pub not_scored: Vec<News2Parameter>,
    pub risk: News2Risk,
}

impl News2 {
    /// Whether every parameter was measured (only then is the band the patient's).
    pub fn complete(&self) -> bool {
        self.not_scored.is_empty()
    }

    /// The score in words, saying what was not measured when anything was not: "NEWS2 6,
    /// medium risk", or "NEWS2 at least 3 (not measured: consciousness, temperature)",
    /// never a bare band from a partial score.
    pub fn summary(&self) -> String {
        if self.complete() {
            format!("NEWS2 {}, {} risk", self.total, self.risk.name())
        } else {
            let missing: Vec<&str> = self.not_scored.iter().map(|p| p.name()).collect();
            format!("NEWS2 at least {} (not measured: {})", self.total, missing.join(", "))
        }
    }
}

/// Scores NEWS2 (Royal College of Physicians, 2017). Measured values are rounded to whole
/// numbers (temperature to 0.1 °C) before the bands are applied.
pub fn news2(input: &News2Input) -> News2 {
    let mut parts = Vec::new();
    let mut not_scored = Vec::new();
    let mut score = |p: News2Parameter, points: Option<u8>| match points {
        Some(points) => parts.push((p, points)),
        None => not_scored.push(p),
    };
    let whole = |v: Option<f64>| v.filter(|v| v.is_finite()).map(f64::round);
    score(
        News2Parameter::RespirationRate,
        whole(input.resp_rate).map(|r| match r {
            r if r <= 8.0 => 3,
            r if r <= 11.0 => 1,
            r if r <= 20.0 => 0,
            r if r <= 24.0 => 2,
            _ => 3,
        }),
    );
    let spo2 = whole(input.spo2);
    match input.spo2_scale {
        Spo2Scale::Scale1 => score(
            News2Parameter::Spo2Scale1,
            spo2.map(|s| match s {
                s if s <= 91.0 => 3,
                s if s <= 93.0 => 2,
                s if s <= 95.0 => 1,
                _ => 0,
            }),
        ),
        // Above 92 % only oxygen makes it a concern; on air it scores nothing.
        Spo2Scale::Scale2 => score(
            News2Parameter::Spo2Scale2,
            spo2.and_then(|s| match s {
                s if s <= 83.0 => Some(3),
                s if s <= 85.0 => Some(2),
                s if s <= 87.0 => Some(1),
                s if s <= 92.0 => Some(0),
                s => input.on_oxygen.map(|o2| match (o2, s) {
                    (false, _) => 0,
                    (true, s) if s <= 94.0 => 1,
                    (true, s) if s <= 96.0 => 2,
                    (true, _) => 3,
                }),
            }),
        ),
    }
    score(News2Parameter::AirOrOxygen, input.on_oxygen.map(|o| if o { 2 } else { 0 }));
    score(
        News2Parameter::SystolicBp,
        whole(input.systolic).map(|s| match s {
            s if s <= 90.0 => 3,
            s if s <= 100.0 => 2,
            s if s <= 110.0 => 1,
            s if s <= 219.0 => 0,
            _ => 3,
        }),
    );
    score(
        News2Parameter::Pulse,
        whole(input.pulse).map(|p| match p {
            p if p <= 40.0 => 3,
            p if p <= 50.0 => 1,
            p if p <= 90.0 => 0,
            p if p <= 110.0 => 1,
            p if p <= 130.0 => 2,
            _ => 3,
        }),
    );
    score(News2Parameter::Consciousness, input.consciousness.map(|c| if c == Consciousness::Alert { 0 } else { 3 }));
    score(
        News2Parameter::Temperature,
        input.temperature_c.filter(|t| t.is_finite()).map(|t| (t * 10.0).round() / 10.0).map(|t| match t {
            t if t <= 35.0 => 3,
            t if t <= 36.0 => 1,
            t if t <= 38.0 => 0,
            t if t <= 39.0 => 1,
            _ => 2,
        }),
    );
    let total: u8 = parts.iter().map(|(_, p)| p).sum();
    let risk = match total {
        t if t >= 7 => News2Risk::High,
        t if t >= 5 => News2Risk::Medium,
        _ if parts.iter().any(|(_, p)| *p == 3) => News2Risk::LowMedium,
        _ => News2Risk::Low,
    };
    News2 { total, parts, not_scored, risk }
}

/// NEWS2 for each frame, from its respiration rate, SpO2, systolic pressure and pulse (the
/// ECG heart rate, else the pulse rate). Oxygen, consciousness and temperature are not in
/// the frames, so they are listed as not scored.
pub fn news2_series(frames: &[Frame]) -> Vec<(u64, News2)> {
    frames
        .iter()
        .map(|f| {
            let input = News2Input {
                resp_rate: f.resp_rate,
                spo2: f.spo2,
                systolic: f.systolic,
                pulse: f.hr.or(f.pulse_rate),
                ..News2Input::default()
            };
            (f.t_ms, news2(&input))
        })
        .collect()
}
