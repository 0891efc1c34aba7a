//! A VitalDB `.vital` file as a case stage: wave tracks become waveforms, numeric tracks
//! become tracks, text tracks (`EVENT`) become events, all on one clock that starts at the
//! file's earliest record.
//!
//! Track names: a numeric track of the patient monitor that VitalDB's dataset uses
//! (Solar8000) takes the name the twin's monitor and alarms read (the MIMIC numerics names:
//! `HR`, `SpO2`, `ABPSys`...), after VitalDB's published track list
//! (<https://vitaldb.net/dataset/#h.p_vitaldb_parameters>); see [`MONITOR_NAMES`]. A wave keeps
//! its own name (`ECG_II`, `ART`, `PLETH`, `CO2`), which the alarm rules recognise. A name
//! already taken in the stage is written in full, `device/name`.

use crate::case::{Event, EventKind, Stage, StageData, Track, Waveform};
use crate::import::origin_from_epoch_ms;
use crate::vital::{RecordValue, TrackKind, TrackProblem, VitalError, VitalFile, VitalTrack};

/// VitalDB's Solar8000 numeric names and the names the twin reads.
pub const MONITOR_NAMES: [(&str, &str); 12] = [
    ("HR", "HR"),
    ("PLETH_HR", "PULSE"),
    ("PLETH_SPO2", "SpO2"),
    ("ART_SBP", "ABPSys"),
    ("ART_DBP", "ABPDias"),
    ("ART_MBP", "ABPMean"),
    ("NIBP_SBP", "NBPSys"),
    ("NIBP_DBP", "NBPDias"),
    ("NIBP_MBP", "NBPMean"),
    ("RR_CO2", "RESP"),
    ("ETCO2", "etCO2"),
    ("BT", "Temp"),
];

/// The most samples one wave track may span (about 6 h at 500 Hz x 4), a guard on the
/// times a damaged file may hold.
pub const MAX_WAVE_SAMPLES: u64 = 1 << 25;

/// Builds a stage from a parsed `.vital` file; `file` names it in errors.
pub fn stage_from_vital(stage: Stage, file: &str, vital: &VitalFile) -> Result<StageData, VitalError> {
    let mut out = StageData::new(stage);
    let start = vital
        .tracks
        .iter()
        .flat_map(|t| t.records.iter().map(|r| r.time_s))
        .filter(|t| t.is_finite())
        .fold(f64::INFINITY, f64::min);
    if !start.is_finite() {
        return Ok(out);
    }
    out.origin = Some(origin_from_epoch_ms((start * 1000.0).round() as i64));
    let mut taken: Vec<String> = Vec::new();
    let mut name_for = |track: &VitalTrack| {
        let short = match track.kind {
            TrackKind::Numeric if track.device.starts_with("Solar") => {
                MONITOR_NAMES.iter().find(|(v, _)| *v == track.name).map_or(track.name.as_str(), |(_, ours)| ours)
            }
            _ => track.name.as_str(),
        };
        let name = if taken.iter().any(|t| t == short) { track.full_name() } else { short.to_owned() };
        taken.push(name.clone());
        name
    };
    for track in &vital.tracks {
        match track.kind {
            TrackKind::Wave => {
                let name = name_for(track);
                out.waveforms.push(waveform(file, name, track, start)?);
            }
            TrackKind::Numeric => {
                let name = name_for(track);
                out.tracks.push(numeric(name, track, start));
            }
            TrackKind::Text => {
                for record in &track.records {
                    if let RecordValue::Text(text) = &record.value {
                        let label =
                            if track.name == "EVENT" { text.clone() } else { format!("{}: {text}", track.name) };
                        out.events.push(Event {
                            time_ms: ms_since(start, record.time_s),
                            kind: EventKind::Note,
                            label,
                            code: None,
                        });
                    }
                }
            }
        }
    }
    out.events.sort_by_key(|e| e.time_ms);
    Ok(out)
}

fn ms_since(start: f64, t: f64) -> u64 {
    ((t - start) * 1000.0).round().max(0.0) as u64
}

fn numeric(name: String, track: &VitalTrack, start: f64) -> Track {
    let mut points: Vec<(u64, Option<f32>)> = track
        .records
        .iter()
        .filter(|r| r.time_s.is_finite())
        .filter_map(|r| match r.value {
            RecordValue::Number(v) => {
                let v = track.physical(v);
                Some((ms_since(start, r.time_s), v.is_finite().then_some(v as f32)))
            }
            _ => None,
        })
        .collect();
    points.sort_by_key(|p| p.0);
    Track {
        name,
        unit: track.unit.clone(),
        times_ms: points.iter().map(|p| p.0).collect(),
        values: points.iter().map(|p| p.1).collect(),
    }
}

/// A wave track's records laid on one sample grid from the stage's start (gaps where no
/// record covers), as the case's 16-bit samples ([`Waveform::from_physical`]).
fn waveform(file: &str, name: String, track: &VitalTrack, start: f64) -> Result<Waveform, VitalError> {
    let rate = f64::from(track.rate_hz);
    let unusable = |problem| VitalError::Track { file: file.to_owned(), track: track.full_name(), problem };
    let too_long = |seconds: f64| unusable(TrackProblem::TooLong { seconds });
    if !(rate.is_finite() && rate > 0.0) {
        return Err(unusable(TrackProblem::NoRate));
    }
    let mut end = 0u64;
    for r in &track.records {
        if let RecordValue::Wave(v) = &r.value {
            let at = ((r.time_s - start) * rate).round();
            if !(at.is_finite() && at >= 0.0 && at + v.len() as f64 <= MAX_WAVE_SAMPLES as f64) {
                return Err(too_long(r.time_s - start));
            }
            end = end.max(at as u64 + v.len() as u64);
        }
    }
    let mut values = vec![f64::NAN; end as usize];
    for r in &track.records {
        if let RecordValue::Wave(v) = &r.value {
            let at = ((r.time_s - start) * rate).round() as usize;
            for (slot, &s) in values[at..at + v.len()].iter_mut().zip(v) {
                *slot = track.physical(s);
            }
        }
    }
    Ok(Waveform::from_physical(name, track.unit.clone(), rate, &values))
}
