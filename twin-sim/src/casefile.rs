//! The case file: a versioned JSON form of a [`Case`] that round-trips losslessly. Waveform
//! samples are big-endian `i16` in base64 (not huge number arrays); track values are JSON
//! numbers chosen so they read back to the same `f32` bits (non-finite ones as
//! `"f32:<hex bits>"`); each stage carries its streams' Merkle roots, which reading checks.
//!
//! This is a separate, explicitly converted layer: the hashed bytes are the case model's
//! canonical segment bytes, never this JSON.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ledger_protocol::crypto::Hash;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::case::{Case, CaseError, Event, EventKind, Origin, Stage, StageData, Track, Waveform};
use crate::wfdb::{BaseDate, BaseTime};

/// What the `format` field holds.
pub const FORMAT: &str = "twin-sim/case";
/// The version this code writes and reads (2: salted segment hashes, last instant covered).
pub const VERSION: u32 = 2;
/// The shortest segment the case file's roots use; longer stages double it (see
/// [`segment_ms_for`]).
pub const BASE_SEGMENT_MS: u64 = 60_000;
/// At most this many segments per stream in the case file's roots.
pub const MAX_SEGMENTS: u64 = 4096;

/// Every event kind, in tag order; [`kind_key`] names each.
pub const EVENT_KINDS: [EventKind; 13] = [
    EventKind::Arrival,
    EventKind::Triage,
    EventKind::Diagnosis,
    EventKind::Induction,
    EventKind::DrugDose,
    EventKind::Incision,
    EventKind::BloodLoss,
    EventKind::Closure,
    EventKind::MonitoringStart,
    EventKind::Alarm,
    EventKind::Note,
    EventKind::Procedure,
    EventKind::Observation,
];

/// Why a case file could not be read.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CaseFileError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("{file}:{line}:{column}: {message}")]
    Json { file: String, line: u64, column: u64, message: String },
    /// Another format or a version this code does not read.
    #[error("{file}: format {format:?} version {version}; this reads {FORMAT:?} version {VERSION}")]
    Version { file: String, format: String, version: u32 },
    /// A value inside a well-formed file that does not make sense (named by its place).
    #[error("{file}: {place}: {problem}")]
    Invalid { file: String, place: String, problem: String },
    /// A stream whose data no longer hashes to the root written with it.
    #[error("{file}: stage {stage}: stream {stream:?} does not match its Merkle root (the data was changed)")]
    RootMismatch { file: String, stage: String, stream: String },
    /// Hashing failed.
    #[error("{file}: {source}")]
    Case { file: String, source: CaseError },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV1 {
    format: String,
    version: u32,
    id: String,
    stages: Vec<StageV1>,
}

/// Only the head, to check the version before the rest.
#[derive(Deserialize)]
struct Head {
    format: String,
    version: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageV1 {
    stage: Stage,
    origin: Option<OriginV1>,
    waveforms: Vec<WaveformV1>,
    tracks: Vec<TrackV1>,
    events: Vec<EventV1>,
    /// Absent in a hand-made file: then nothing is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    roots: Option<RootsV1>,
    /// The stage's segment-hash salt, hex (absent: unsalted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    salt: Option<Hash>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginV1 {
    date: Option<[u32; 3]>,
    time: Option<[u32; 4]>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaveformV1 {
    name: String,
    unit: String,
    rate_hz: Num,
    gain: Num,
    baseline: i32,
    sample_count: u64,
    samples_i16be_base64: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackV1 {
    name: String,
    unit: String,
    times_ms: Vec<u64>,
    values: Vec<Option<Num>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventV1 {
    time_ms: u64,
    kind: String,
    label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootsV1 {
    segment_ms: u64,
    /// Stream name and its Merkle root in hex, in hashing order.
    streams: Vec<(String, String)>,
}

/// A float as a JSON number, or a string `"f32:<hex>"` / `"f64:<hex>"` of its bits when it
/// is not finite (JSON has no NaN or infinity).
#[derive(Serialize, Deserialize, Clone)]
#[serde(untagged)]
enum Num {
    Number(f64),
    Bits(String),
}

impl Num {
    fn from_f32(v: f32) -> Num {
        if !v.is_finite() {
            return Num::Bits(format!("f32:{:08x}", v.to_bits()));
        }
        // The shortest decimal that reads back to these bits through f64, else the exact f64.
        let short = format!("{v}").parse::<f64>().ok().filter(|d| (*d as f32).to_bits() == v.to_bits());
        Num::Number(short.unwrap_or(f64::from(v)))
    }

    fn to_f32(&self) -> Result<f32, String> {
        match self {
            Num::Number(d) => Ok(*d as f32),
            Num::Bits(s) => s
                .strip_prefix("f32:")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .map(f32::from_bits)
                .ok_or_else(|| format!("{s:?} is not a number or \"f32:<hex bits>\"")),
        }
    }

    fn from_f64(v: f64) -> Num {
        if v.is_finite() { Num::Number(v) } else { Num::Bits(format!("f64:{:016x}", v.to_bits())) }
    }

    fn to_f64(&self) -> Result<f64, String> {
        match self {
            Num::Number(d) => Ok(*d),
            Num::Bits(s) => s
                .strip_prefix("f64:")
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .map(f64::from_bits)
                .ok_or_else(|| format!("{s:?} is not a number or \"f64:<hex bits>\"")),
        }
    }
}

/// The stable name of an event kind in the case file.
pub fn kind_key(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Arrival => "arrival",
        EventKind::Triage => "triage",
        EventKind::Diagnosis => "diagnosis",
        EventKind::Induction => "induction",
        EventKind::DrugDose => "drug_dose",
        EventKind::Incision => "incision",
        EventKind::BloodLoss => "blood_loss",
        EventKind::Closure => "closure",
        EventKind::MonitoringStart => "monitoring_start",
        EventKind::Alarm => "alarm",
        EventKind::Note => "note",
        EventKind::Procedure => "procedure",
        EventKind::Observation => "observation",
    }
}

/// The segment length the case file uses for a stage: [`BASE_SEGMENT_MS`], doubled until
/// the stage has at most [`MAX_SEGMENTS`] segments (records of years stay cheap to hash).
pub fn segment_ms_for(stage: &StageData) -> u64 {
    let mut segment = BASE_SEGMENT_MS;
    while stage.segment_count(segment) > MAX_SEGMENTS {
        segment = segment.saturating_mul(2);
    }
    segment
}

/// Writes `case` as case-file JSON (one line, ending in a newline), with each stage's roots.
pub fn write_case(case: &Case) -> Result<String, CaseError> {
    let stages = case
        .stages
        .iter()
        .map(|s| {
            let segment_ms = segment_ms_for(s);
            let streams = s.stream_hashes(segment_ms)?.into_iter().map(|h| (h.stream, h.root.to_hex())).collect();
            Ok(StageV1 {
                stage: s.stage,
                origin: s.origin.map(|o| OriginV1 {
                    date: o.date.map(|d| [d.year, d.month, d.day]),
                    time: o.time.map(|t| [t.hours, t.minutes, t.seconds, t.millis]),
                }),
                waveforms: s
                    .waveforms
                    .iter()
                    .map(|w| {
                        let bytes: Vec<u8> = w.samples.iter().flat_map(|v| v.to_be_bytes()).collect();
                        WaveformV1 {
                            name: w.name.clone(),
                            unit: w.unit.clone(),
                            rate_hz: Num::from_f64(w.rate_hz),
                            gain: Num::from_f64(w.gain),
                            baseline: w.baseline,
                            sample_count: w.samples.len() as u64,
                            samples_i16be_base64: BASE64.encode(bytes),
                        }
                    })
                    .collect(),
                tracks: s
                    .tracks
                    .iter()
                    .map(|t| TrackV1 {
                        name: t.name.clone(),
                        unit: t.unit.clone(),
                        times_ms: t.times_ms.clone(),
                        values: t.values.iter().map(|v| v.map(Num::from_f32)).collect(),
                    })
                    .collect(),
                events: s
                    .events
                    .iter()
                    .map(|e| EventV1 {
                        time_ms: e.time_ms,
                        kind: kind_key(e.kind).to_owned(),
                        label: e.label.clone(),
                        code: e.code.clone(),
                    })
                    .collect(),
                roots: Some(RootsV1 { segment_ms, streams }),
                salt: s.salt,
            })
        })
        .collect::<Result<Vec<_>, CaseError>>()?;
    let file = FileV1 { format: FORMAT.to_owned(), version: VERSION, id: case.id.clone(), stages };
    let mut text = serde_json::to_string(&file).expect("the case-file types serialise to JSON without failing");
    text.push('\n');
    Ok(text)
}

/// Reads case-file JSON; `file` names it in errors. Checks the version, every value, and
/// each stage's Merkle roots when the file has them.
pub fn read_case(file: &str, text: &str) -> Result<Case, CaseFileError> {
    let json = |e: serde_json::Error| CaseFileError::Json {
        file: file.to_owned(),
        line: e.line() as u64,
        column: e.column() as u64,
        message: e.to_string(),
    };
    let head: Head = serde_json::from_str(text).map_err(json)?;
    if head.format != FORMAT || head.version != VERSION {
        return Err(CaseFileError::Version { file: file.to_owned(), format: head.format, version: head.version });
    }
    let parsed: FileV1 = serde_json::from_str(text).map_err(json)?;
    let mut stages: Vec<StageData> = Vec::new();
    for (si, s) in parsed.stages.into_iter().enumerate() {
        let invalid = |place: String, problem: String| CaseFileError::Invalid { file: file.to_owned(), place, problem };
        if stages.iter().any(|o| o.stage == s.stage) {
            return Err(invalid(format!("stages[{si}]"), format!("a second {} stage", s.stage.human())));
        }
        let mut out = StageData::new(s.stage);
        out.salt = s.salt;
        out.origin = s.origin.map(|o| Origin {
            date: o.date.map(|[year, month, day]| BaseDate { day, month, year }),
            time: o.time.map(|[hours, minutes, seconds, millis]| BaseTime { hours, minutes, seconds, millis }),
        });
        for (wi, w) in s.waveforms.into_iter().enumerate() {
            let place = format!("stages[{si}].waveforms[{wi}] ({})", w.name);
            let bytes =
                BASE64.decode(&w.samples_i16be_base64).map_err(|e| invalid(place.clone(), format!("samples: {e}")))?;
            if bytes.len() as u64 != w.sample_count.saturating_mul(2) {
                return Err(invalid(place, format!("{} sample bytes for {} samples", bytes.len(), w.sample_count)));
            }
            let samples = bytes.chunks_exact(2).map(|b| i16::from_be_bytes([b[0], b[1]])).collect();
            let rate_hz = w.rate_hz.to_f64().map_err(|p| invalid(place.clone(), p))?;
            let gain = w.gain.to_f64().map_err(|p| invalid(place.clone(), p))?;
            out.waveforms.push(Waveform { name: w.name, unit: w.unit, rate_hz, gain, baseline: w.baseline, samples });
        }
        for (ti, t) in s.tracks.into_iter().enumerate() {
            let place = format!("stages[{si}].tracks[{ti}] ({})", t.name);
            if t.times_ms.len() != t.values.len() {
                return Err(invalid(place, format!("{} times but {} values", t.times_ms.len(), t.values.len())));
            }
            if let Some(i) = t.times_ms.windows(2).position(|w| w[1] < w[0]) {
                return Err(invalid(place, format!("times_ms[{}] goes back in time", i + 1)));
            }
            let values = t
                .values
                .iter()
                .map(|v| v.as_ref().map(Num::to_f32).transpose())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|p| invalid(place.clone(), p))?;
            out.tracks.push(Track { name: t.name, unit: t.unit, times_ms: t.times_ms, values });
        }
        for (ei, e) in s.events.into_iter().enumerate() {
            let kind = EVENT_KINDS.into_iter().find(|k| kind_key(*k) == e.kind).ok_or_else(|| {
                invalid(format!("stages[{si}].events[{ei}]"), format!("unknown event kind {:?}", e.kind))
            })?;
            out.events.push(Event { time_ms: e.time_ms, kind, label: e.label, code: e.code });
        }
        if let Some(roots) = s.roots {
            let place = format!("stages[{si}].roots");
            // Checked before hashing: a tiny segment over a long stage would make billions of
            // segments to hash and hold (found by the fuzzer: an allocation of 200 GB).
            let count = out.segment_count(roots.segment_ms);
            if count > MAX_SEGMENTS {
                return Err(invalid(
                    place,
                    format!(
                        "segment_ms {} cuts the stage into {count} segments, more than the {MAX_SEGMENTS} a case file holds; the file was not written by this viewer or was changed",
                        roots.segment_ms
                    ),
                ));
            }
            let hashes = out
                .stream_hashes(roots.segment_ms)
                .map_err(|source| CaseFileError::Case { file: file.to_owned(), source })?;
            let names: Vec<&str> = hashes.iter().map(|h| h.stream.as_str()).collect();
            let listed: Vec<&str> = roots.streams.iter().map(|(n, _)| n.as_str()).collect();
            if names != listed {
                return Err(invalid(place, format!("lists streams {listed:?}, the stage has {names:?}")));
            }
            for (h, (name, hex)) in hashes.iter().zip(&roots.streams) {
                let want = Hash::from_hex(hex).map_err(|e| invalid(place.clone(), format!("{name}: {e}")))?;
                if h.root != want {
                    return Err(CaseFileError::RootMismatch {
                        file: file.to_owned(),
                        stage: out.stage.human().to_owned(),
                        stream: name.clone(),
                    });
                }
            }
        }
        stages.push(out);
    }
    Ok(Case { id: parsed.id, stages })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_kind_has_a_distinct_key_and_reads_back() {
        for (i, k) in EVENT_KINDS.into_iter().enumerate() {
            assert_eq!(usize::from(k.tag()), i + 1, "EVENT_KINDS is in tag order");
            assert_eq!(EVENT_KINDS.iter().filter(|o| kind_key(**o) == kind_key(k)).count(), 1);
        }
    }

    /// Fuzzer find (fuzz/regressions/case/): roots with 60 s segments over a stage whose
    /// last track point is 7,900 years in aborted the process allocating 200 GB.
    #[test]
    fn roots_that_would_make_billions_of_segments_are_refused_before_hashing() {
        let mut stage = StageData::new(crate::case::Stage::Surgery);
        stage.tracks.push(crate::case::Track {
            name: "HR".into(),
            unit: "bpm".into(),
            times_ms: vec![0, 250_000_000_000_000],
            values: vec![Some(80.0), Some(81.0)],
        });
        let written = write_case(&Case { id: "long".into(), stages: vec![stage] }).expect("writes");
        // What this code writes reads back (its segments grow with the stage)...
        read_case("long.json", &written).expect("reads back");
        // ...but the same stage with the base segment is refused, naming why.
        let mut v: serde_json::Value = serde_json::from_str(&written).expect("json");
        v["stages"][0]["roots"]["segment_ms"] = serde_json::json!(BASE_SEGMENT_MS);
        let err = read_case("long.json", &v.to_string()).expect_err("refused").to_string();
        assert!(err.contains("segments, more than the 4096"), "{err}");
    }

    #[test]
    fn floats_keep_their_bits() {
        for v in [0.1_f32, -0.0, 98.3, f32::MIN_POSITIVE, 1e-45, f32::MAX, 16_777_217.0, f32::NAN, f32::INFINITY] {
            let n = Num::from_f32(v);
            let text = serde_json::to_string(&n).expect("serialises");
            let back: Num = serde_json::from_str(&text).expect("parses");
            assert_eq!(back.to_f32().expect("a float").to_bits(), v.to_bits(), "{v} via {text}");
        }
    }
}
