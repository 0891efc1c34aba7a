//! The bedside monitor's screen laid out as the monitors surgeons know (Philips IntelliVue,
//! Dräger Infinity, GE Carescape) lay theirs: one row per wave in a fixed order (ECG,
//! arterial, pulmonary and central venous pressure, pleth, CO2, respiration), each with its
//! label, colour and scale, sweeping left to right with an erase bar; the channel's numeric
//! beside it with its unit and alarm limits; numerics without a wave in tiles of their own;
//! the sounding alarms in a banner by priority in the colours of IEC 60601-1-8; NEWS2.
//!
//! Pure: made from [`Monitor`] each frame and drawn by the web page's Canvas 2D (`web_draw`);
//! tested without a browser.

use twin_sim::alarms::{AlarmLimits, News2Risk, Priority};
use twin_sim::replay::MinMax;

use crate::monitor::{Monitor, Numeric, Trace};

/// A colour on the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// As CSS writes it (`#rrggbb`).
    pub fn css(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// What a wave measures, from its name as WFDB, VitalDB and the model name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WaveKind {
    Ecg,
    Arterial,
    Pulmonary,
    CentralVenous,
    Pleth,
    Co2,
    Respiration,
    Other,
}

impl WaveKind {
    pub fn of(name: &str) -> WaveKind {
        let n = name.trim().to_ascii_uppercase();
        let ecg_leads = ["I", "II", "III", "AVR", "AVL", "AVF", "MLI", "MLII", "MLIII", "MCL1", "ECG", "EKG"];
        let chest_lead = n.len() == 2 && n.starts_with('V') && n[1..].chars().all(|c| c.is_ascii_digit());
        if ecg_leads.contains(&n.as_str()) || chest_lead || n == "V" || n.starts_with("ECG") {
            WaveKind::Ecg
        } else if ["ABP", "ART", "AOBP", "AOP", "IBP", "FAP", "RAD"].iter().any(|p| n.starts_with(p)) {
            WaveKind::Arterial
        } else if n.starts_with("PAP") || n.starts_with("PA ") {
            WaveKind::Pulmonary
        } else if n.starts_with("CVP") {
            WaveKind::CentralVenous
        } else if n.starts_with("PLETH") || n.starts_with("PPG") || n.starts_with("SPO2") {
            WaveKind::Pleth
        } else if n.starts_with("CO2") || n.starts_with("CAPNO") || n.starts_with("ETCO2") {
            WaveKind::Co2
        } else if n.starts_with("RESP") || n.starts_with("IMP") {
            WaveKind::Respiration
        } else {
            WaveKind::Other
        }
    }

    /// The label a monitor prints on the row (ECG rows keep their lead's name).
    fn label(self, name: &str) -> String {
        match self {
            WaveKind::Ecg => name.trim().to_owned(),
            WaveKind::Arterial => "ART".into(),
            WaveKind::Pulmonary => "PAP".into(),
            WaveKind::CentralVenous => "CVP".into(),
            WaveKind::Pleth => "PLETH".into(),
            WaveKind::Co2 => "CO2".into(),
            WaveKind::Respiration => "RESP".into(),
            WaveKind::Other => name.trim().to_owned(),
        }
    }

    /// The colours monitors use by convention.
    pub fn colour(self) -> Rgb {
        match self {
            WaveKind::Ecg => Rgb(0x3c, 0xf0, 0x5a),
            WaveKind::Arterial => Rgb(0xff, 0x4a, 0x4a),
            WaveKind::Pulmonary => Rgb(0xff, 0xe0, 0x40),
            WaveKind::CentralVenous => Rgb(0x50, 0x9c, 0xff),
            WaveKind::Pleth => Rgb(0x40, 0xe0, 0xff),
            WaveKind::Co2 => Rgb(0xf2, 0xf2, 0xf2),
            WaveKind::Respiration => Rgb(0xff, 0xd2, 0x3c),
            WaveKind::Other => Rgb(0xc8, 0xc8, 0xc8),
        }
    }

    /// A fixed scale (low, high) in the wave's unit, as a monitor sets one; `None` where
    /// the monitor scales the wave to fit (pleth, respiration, an unknown unit).
    fn fixed_scale(self, unit: &str) -> Option<(f64, f64)> {
        let unit = unit.trim().to_ascii_lowercase();
        match self {
            WaveKind::Ecg if unit == "mv" => Some((-1.0, 2.0)),
            WaveKind::Arterial if unit == "mmhg" => Some((0.0, 160.0)),
            WaveKind::Pulmonary if unit == "mmhg" => Some((0.0, 40.0)),
            WaveKind::CentralVenous if unit == "mmhg" => Some((0.0, 20.0)),
            WaveKind::Co2 if unit == "mmhg" => Some((0.0, 50.0)),
            _ => None,
        }
    }
}

/// Alarm limits (low, high); either may be unset.
pub type Limits = (Option<f64>, Option<f64>);

/// One number in a box, as a monitor shows it: label, value, unit, and its alarm limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    pub label: String,
    pub value: String,
    pub unit: String,
    /// The alarm limits (low, high) as the monitor prints them beside the value.
    pub limits: Limits,
    pub alarming: bool,
    pub colour: Rgb,
}

/// One wave's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub kind: WaveKind,
    /// The label printed at the row's top left (`II`, `ART`, `PLETH`…).
    pub label: String,
    /// The stream's own name in the case.
    pub stream: String,
    pub unit: String,
    pub colour: Rgb,
    /// The scale the row is drawn to (low, high, in `unit`).
    pub scale: (f64, f64),
    /// Whether the scale is the monitor's fixed one (else fitted to what is on screen).
    pub fixed_scale: bool,
    pub columns: Vec<Option<MinMax>>,
    pub cursor: usize,
    /// The numeric that goes with the wave.
    pub tile: Option<Tile>,
    /// `Some(false)` when a segment under the row failed its ledger check.
    pub verified: Option<bool>,
}

/// The alarm banner's colours for a priority (IEC 60601-1-8: high red, medium yellow, low
/// cyan), how often it flashes (high 1.4-2.8 Hz, medium 0.4-0.8 Hz, low steady), and the
/// asterisks monitors print before the text.
pub fn priority_style(p: Priority) -> (Rgb, f64, &'static str) {
    match p {
        Priority::High => (Rgb(0xe0, 0x10, 0x10), 2.0, "***"),
        Priority::Medium => (Rgb(0xff, 0xd4, 0x00), 0.6, "**"),
        Priority::Low => (Rgb(0x00, 0xc8, 0xd8), 0.0, "*"),
    }
}

/// One sounding alarm on the banner.
#[derive(Debug, Clone, PartialEq)]
pub struct Banner {
    pub text: String,
    pub priority: Priority,
    pub background: Rgb,
    pub flash_hz: f64,
}

/// The whole screen.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Screen {
    pub channels: Vec<Channel>,
    /// Numerics with no wave on screen.
    pub tiles: Vec<Tile>,
    /// Sounding alarms, highest priority first.
    pub banners: Vec<Banner>,
    /// NEWS2 in words and whether its risk is medium or more.
    pub news2: Option<(String, bool)>,
}

impl Screen {
    pub fn of(monitor: &Monitor, limits: &AlarmLimits) -> Screen {
        let mut channels: Vec<Channel> = monitor.traces.iter().map(|t| channel(t, WaveKind::of(&t.name))).collect();
        channels.sort_by_key(|c| c.kind);
        // Each numeric goes beside the first row of its wave; the rest stand alone.
        let mut tiles = Vec::new();
        let mut used = vec![false; monitor.numerics.len()];
        for c in &mut channels {
            let Some((labels, lim)) = numerics_for(c.kind, limits) else { continue };
            let found: Vec<(usize, &Numeric)> =
                monitor.numerics.iter().enumerate().filter(|(i, n)| !used[*i] && labels.contains(&n.label)).collect();
            if found.is_empty() {
                continue;
            }
            for (i, _) in &found {
                used[*i] = true;
            }
            c.tile = Some(tile(&found.iter().map(|(_, n)| *n).collect::<Vec<_>>(), lim, c.colour));
        }
        // Arterial pressure alone (no wave): sys/dia (mean) in one tile, like the rest.
        let rest: Vec<&Numeric> =
            monitor.numerics.iter().enumerate().filter(|(i, _)| !used[*i]).map(|(_, n)| n).collect();
        let pressure: Vec<&Numeric> =
            rest.iter().copied().filter(|n| ["ABP sys", "ABP dia", "MAP"].contains(&n.label)).collect();
        for n in &rest {
            if pressure.contains(n) {
                if n.label == "ABP sys" || (n.label == "MAP" && !pressure.iter().any(|p| p.label == "ABP sys")) {
                    tiles.push(tile(&pressure, (Some(limits.map_low), None), WaveKind::Arterial.colour()));
                }
                continue;
            }
            let kind = kind_of_numeric(n.label);
            let lim = numerics_for(kind, limits).map_or((None, None), |(_, l)| l);
            tiles.push(tile(&[*n], lim, kind.colour()));
        }
        let banners = monitor
            .alarms
            .iter()
            .map(|a| {
                let (background, flash_hz, stars) = priority_style(a.priority);
                Banner {
                    text: format!("{stars} {}", a.name().to_uppercase()),
                    priority: a.priority,
                    background,
                    flash_hz,
                }
            })
            .collect();
        let news2 = monitor.news2.as_ref().map(|n| (n.summary(), n.risk >= News2Risk::Medium));
        Screen { channels, tiles, banners, news2 }
    }
}

/// The range of what `columns` hold, and a scale fitted to it with a margin: `(low, high,
/// fitted)`; low and high are infinite when nothing is there.
pub(crate) fn fit(columns: &[Option<MinMax>]) -> (f64, f64, (f64, f64)) {
    let (lo, hi) =
        columns.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| (lo.min(c.min), hi.max(c.max)));
    let fitted = if hi > lo {
        (lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.05)
    } else if lo.is_finite() {
        (lo - 1.0, lo + 1.0)
    } else {
        (0.0, 1.0)
    };
    (lo, hi, fitted)
}

fn channel(trace: &Trace, kind: WaveKind) -> Channel {
    let (_, hi, fitted) = fit(&trace.columns);
    let (scale, fixed_scale) = match kind.fixed_scale(&trace.unit) {
        // A pressure above the fixed scale widens it (a hypertensive patient stays on screen).
        Some((l, h)) if hi.is_finite() && hi > h && kind != WaveKind::Ecg => ((l, (hi / 40.0).ceil() * 40.0), true),
        Some(s) => (s, true),
        None => (fitted, false),
    };
    Channel {
        kind,
        label: kind.label(&trace.name),
        stream: trace.name.clone(),
        unit: trace.unit.clone(),
        colour: if trace.verified == Some(false) { Rgb(0xff, 0x00, 0x00) } else { kind.colour() },
        scale,
        fixed_scale,
        columns: trace.columns.clone(),
        cursor: trace.cursor,
        tile: None,
        verified: trace.verified,
    }
}

/// The monitor's numerics that sit beside a kind of wave, and their alarm limits.
fn numerics_for(kind: WaveKind, l: &AlarmLimits) -> Option<(&'static [&'static str], Limits)> {
    match kind {
        WaveKind::Ecg => Some((&["HR"], (Some(l.hr_low), Some(l.hr_high)))),
        WaveKind::Arterial => Some((&["ABP sys", "ABP dia", "MAP"], (Some(l.map_low), None))),
        WaveKind::Pleth => Some((&["SpO2"], (Some(l.spo2_low), None))),
        WaveKind::Co2 => Some((&["EtCO2"], (Some(l.etco2_low), Some(l.etco2_high)))),
        WaveKind::Respiration => Some((&["RR"], (None, None))),
        _ => None,
    }
}

/// The wave a numeric belongs with, for its colour and limits when it stands alone.
fn kind_of_numeric(label: &str) -> WaveKind {
    match label {
        "HR" | "PULSE" => WaveKind::Ecg,
        "SpO2" => WaveKind::Pleth,
        "EtCO2" => WaveKind::Co2,
        "RR" => WaveKind::Respiration,
        "MAP" => WaveKind::Arterial,
        _ => WaveKind::Other,
    }
}

/// The colour of a stream, wave or numeric track (`HR` in the ECG's green, `MAP` in the
/// arterial red…), as the monitor colours its channel.
pub fn colour_of(name: &str) -> Rgb {
    match WaveKind::of(name) {
        WaveKind::Other => kind_of_numeric(name.trim()).colour(),
        kind => kind.colour(),
    }
}

/// One tile from a numeric, or from the three pressures as `sys/dia (mean)`.
fn tile(numerics: &[&Numeric], limits: Limits, colour: Rgb) -> Tile {
    let get = |l: &str| numerics.iter().find(|n| n.label == l);
    let alarming = numerics.iter().any(|n| n.alarming);
    if let Some(mean) = get("MAP") {
        let sys = get("ABP sys").map_or("--".into(), |n| n.text());
        let dia = get("ABP dia").map_or("--".into(), |n| n.text());
        return Tile {
            label: "ABP".into(),
            value: format!("{sys}/{dia} ({})", mean.text()),
            unit: mean.unit.into(),
            limits,
            alarming,
            colour,
        };
    }
    let n = numerics[0];
    Tile { label: n.label.into(), value: n.text(), unit: n.unit.into(), limits, alarming, colour }
}
