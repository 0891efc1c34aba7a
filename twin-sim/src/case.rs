//! The case model of a digital twin: three stages (pre-hospital admission, diagnosis,
//! surgery), each holding numeric tracks, waveforms and timestamped events; importers from
//! decoded WFDB records; and segment hashing with a Merkle root per stream, the hashes the
//! ledger's `AnchorTwinSegment` transactions anchor.
//!
//! Times inside a stage are integer milliseconds (tracks, events) or sample indices
//! (waveforms) from the stage's start. Only canonical bytes are hashed: integers and
//! samples big-endian, floats as their IEEE-754 bits, strings length-prefixed, no `usize`.

pub use ledger_protocol::Stage;
use ledger_protocol::crypto::{Hash, sha256};
use ledger_protocol::merkle;
use thiserror::Error;

use crate::wfdb::{BaseDate, BaseTime, DecodedSignal, Record};

/// The waveform sample value that marks a missing sample (WFDB format 16's invalid value).
pub const GAP: i16 = i16::MIN;

/// Domain tag that starts every segment's canonical bytes (version 2 of the encoding: the
/// stage's salt follows it, and the last segment covers the stage's last instant).
pub const SEGMENT_DOMAIN: &[u8] = b"twin-sim/segment/v2\0";

/// Signals slower than this many samples per second become numeric tracks, not waveforms.
pub const TRACK_MAX_HZ: f64 = 1.0;

/// Numeric tracks in which a value of exactly zero means "no reading" (sensor off) rather
/// than a measurement: the MIMIC numerics write runs of zeros while a sensor is disconnected.
pub const ZERO_MEANS_MISSING: [&str; 7] = ["HR", "ABPSys", "ABPDias", "ABPMean", "PULSE", "RESP", "SpO2"];

/// Failures to build a case or its hashes.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CaseError {
    /// A sampling rate that is not a positive finite number.
    #[error("signal {signal}: sampling rate {rate} Hz is not usable")]
    BadRate { signal: String, rate: f64 },
    /// A segment duration of zero.
    #[error("segment duration must be at least 1 ms")]
    ZeroSegment,
    /// A stream or segment that the stage does not hold.
    #[error("no stream {stream} segment {segment} in this stage")]
    NoSuchSegment { stream: String, segment: u32 },
}

/// A numeric trend: one value per time, with gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub name: String,
    pub unit: String,
    /// Milliseconds from the stage's start, non-decreasing.
    pub times_ms: Vec<u64>,
    /// One value per time; `None` is a gap (no reading).
    pub values: Vec<Option<f32>>,
}

impl Track {
    /// The latest value at or before `t_ms`, and `None` in a gap or before the first point.
    pub fn value_at(&self, t_ms: u64) -> Option<f32> {
        let i = self.times_ms.partition_point(|&t| t <= t_ms);
        i.checked_sub(1).and_then(|i| self.values.get(i).copied().flatten())
    }

    /// Duration covered, up to the last point's time.
    pub fn end_ms(&self) -> u64 {
        self.times_ms.last().copied().unwrap_or(0)
    }
}

/// A sampled signal in adu with its calibration; physical = (adu - baseline) / gain.
#[derive(Debug, Clone, PartialEq)]
pub struct Waveform {
    pub name: String,
    pub unit: String,
    /// Samples per second.
    pub rate_hz: f64,
    /// Adu per physical unit.
    pub gain: f64,
    pub baseline: i32,
    /// Samples in adu; [`GAP`] marks a missing sample.
    pub samples: Vec<i16>,
}

impl Waveform {
    /// A waveform from values in physical units (NaN: a gap), quantized to the case's 16-bit
    /// samples over the values' own range: adu = value x gain + baseline within +-32767,
    /// so a value comes back within half a step of 1/32766 of half the range.
    pub fn from_physical(name: String, unit: String, rate_hz: f64, values: &[f64]) -> Waveform {
        let (lo, hi) = values
            .iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let (centre, half) = if lo.is_finite() { ((lo + hi) / 2.0, ((hi - lo) / 2.0).max(1e-9)) } else { (0.0, 1.0) };
        let gain = 32766.0 / half;
        let baseline = (-centre * gain).round().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32;
        let samples = values
            .iter()
            .map(|&v| {
                if v.is_finite() {
                    (v * gain + f64::from(baseline)).round().clamp(-32767.0, 32767.0) as i16
                } else {
                    GAP
                }
            })
            .collect();
        Waveform { name, unit, rate_hz, gain, baseline, samples }
    }

    /// One sample in physical units, `None` for a gap or an index past the end.
    pub fn physical(&self, index: usize) -> Option<f64> {
        match self.samples.get(index) {
            Some(&s) if s != GAP => Some((f64::from(s) - f64::from(self.baseline)) / self.gain),
            _ => None,
        }
    }

    /// Every sample in physical units with gaps as NaN (for signal processing).
    pub fn physical_or_nan(&self) -> Vec<f64> {
        (0..self.samples.len()).map(|i| self.physical(i).unwrap_or(f64::NAN)).collect()
    }

    /// Duration in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        (self.samples.len() as f64 * 1000.0 / self.rate_hz).round() as u64
    }

    /// Index of the sample at `t_us` microseconds (floor), which may be past the end.
    pub fn index_at_us(&self, t_us: u64) -> usize {
        (t_us as f64 * self.rate_hz / 1e6).floor() as usize
    }

    /// First sample index at or after `t_ms`.
    fn first_index_at_ms(&self, t_ms: u64) -> usize {
        ((t_ms as f64 * self.rate_hz / 1000.0).ceil() as usize).min(self.samples.len())
    }
}

/// What happened at an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Arrival,
    Triage,
    Diagnosis,
    Induction,
    DrugDose,
    Incision,
    BloodLoss,
    Closure,
    MonitoringStart,
    Alarm,
    Note,
    /// A procedure performed (FHIR Procedure), with its code.
    Procedure,
    /// A measurement or finding (FHIR Observation), with its value.
    Observation,
}

impl EventKind {
    /// The stable tag written into the canonical bytes.
    pub fn tag(self) -> u8 {
        self as u8 + 1
    }

    /// A lowercase name for printing.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Arrival => "arrival",
            EventKind::Triage => "triage",
            EventKind::Diagnosis => "diagnosis",
            EventKind::Induction => "induction",
            EventKind::DrugDose => "drug dose",
            EventKind::Incision => "incision",
            EventKind::BloodLoss => "blood loss",
            EventKind::Closure => "closure",
            EventKind::MonitoringStart => "monitoring start",
            EventKind::Alarm => "alarm",
            EventKind::Note => "note",
            EventKind::Procedure => "procedure",
            EventKind::Observation => "observation",
        }
    }
}

/// A timestamped event, for example a diagnosis with its ICD-10 code.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub time_ms: u64,
    pub kind: EventKind,
    pub label: String,
    pub code: Option<String>,
}

/// The wall-clock start of a stage as the source recorded it (dates may be shifted).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Origin {
    pub date: Option<BaseDate>,
    pub time: Option<BaseTime>,
}

/// One stage of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct StageData {
    pub stage: Stage,
    pub origin: Option<Origin>,
    /// A secret mixed into every segment hash of the stage. It travels only inside the
    /// (encrypted) case file, so the hashes anchored on the ledger, whose stream names and
    /// times are public, cannot be reversed by trying the few values a reading can take.
    /// `None` leaves the hashes unsalted (for tests and public demo files).
    pub salt: Option<Hash>,
    pub tracks: Vec<Track>,
    pub waveforms: Vec<Waveform>,
    pub events: Vec<Event>,
}

/// A patient's case: up to one [`StageData`] per [`Stage`].
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub id: String,
    pub stages: Vec<StageData>,
}

impl Case {
    /// The data of one stage, if the case has it.
    pub fn stage(&self, stage: Stage) -> Option<&StageData> {
        self.stages.iter().find(|s| s.stage == stage)
    }
}

impl StageData {
    /// An empty stage.
    pub fn new(stage: Stage) -> Self {
        StageData { stage, origin: None, salt: None, tracks: Vec::new(), waveforms: Vec::new(), events: Vec::new() }
    }

    /// Builds a stage from a decoded WFDB record: signals at [`TRACK_MAX_HZ`] or faster become
    /// waveforms, slower ones numeric tracks. In tracks the format's invalid value is a gap,
    /// and so is zero in the tracks named in [`ZERO_MEANS_MISSING`]. A "monitoring start"
    /// event at time 0 names the record.
    pub fn from_record(stage: Stage, record: &Record) -> Result<Self, CaseError> {
        let r = &record.header.record;
        let mut out = StageData::new(stage);
        if r.base_date.is_some() || r.base_time.is_some() {
            out.origin = Some(Origin { date: r.base_date, time: r.base_time });
        }
        for signal in &record.signals {
            let name = signal.spec.description.clone();
            if !(signal.frequency.is_finite() && signal.frequency > 0.0) {
                return Err(CaseError::BadRate { signal: name, rate: signal.frequency });
            }
            if signal.frequency >= TRACK_MAX_HZ {
                out.waveforms.push(waveform_from(signal));
            } else {
                out.tracks.push(track_from(signal));
            }
        }
        out.events.push(Event {
            time_ms: 0,
            kind: EventKind::MonitoringStart,
            label: format!("record {}", r.name),
            code: None,
        });
        Ok(out)
    }

    /// A track by name.
    pub fn track(&self, name: &str) -> Option<&Track> {
        self.tracks.iter().find(|t| t.name == name)
    }

    /// A waveform by name.
    pub fn waveform(&self, name: &str) -> Option<&Waveform> {
        self.waveforms.iter().find(|w| w.name == name)
    }

    /// The end of the last stream or event, in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        let w = self.waveforms.iter().map(Waveform::duration_ms);
        let t = self.tracks.iter().map(Track::end_ms);
        let e = self.events.iter().map(|e| e.time_ms);
        w.chain(t).chain(e).max().unwrap_or(0)
    }

    /// Stream names, in hashing order: waveforms, tracks, then `events`.
    pub fn stream_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.waveforms.iter().map(|w| w.name.clone()).collect();
        names.extend(self.tracks.iter().map(|t| t.name.clone()));
        names.push(EVENTS_STREAM.to_owned());
        names
    }

    /// Splits every stream into segments of `segment_ms` and hashes them; one Merkle root per
    /// stream. Segments cover `[k * segment_ms, (k + 1) * segment_ms)` up to the stage's end.
    pub fn stream_hashes(&self, segment_ms: u64) -> Result<Vec<StreamHashes>, CaseError> {
        if segment_ms == 0 {
            return Err(CaseError::ZeroSegment);
        }
        let count = self.segment_count(segment_ms);
        self.stream_names()
            .into_iter()
            .map(|stream| {
                let segments = (0..count)
                    .map(|k| {
                        let start_ms = k * segment_ms;
                        let end_ms = start_ms.saturating_add(segment_ms);
                        let hash = sha256(&[&self.segment_bytes(&stream, start_ms, end_ms)]);
                        SegmentHash { start_ms, end_ms, hash }
                    })
                    .collect::<Vec<_>>();
                let leaves: Vec<Hash> = segments.iter().map(|s| s.hash).collect();
                Ok(StreamHashes { root: merkle::root(&leaves), stream, segments })
            })
            .collect()
    }

    /// Whether segment `segment` of `stream` (segments of `segment_ms`) hashes to `expected`.
    pub fn verify_segment(
        &self,
        stream: &str,
        segment_ms: u64,
        segment: u32,
        expected: &Hash,
    ) -> Result<bool, CaseError> {
        if segment_ms == 0 {
            return Err(CaseError::ZeroSegment);
        }
        let known = self.stream_names().iter().any(|s| s == stream);
        let start_ms = u64::from(segment).checked_mul(segment_ms).filter(|&s| s < self.data_end_ms().max(1));
        let Some(start_ms) = start_ms.filter(|_| known) else {
            return Err(CaseError::NoSuchSegment { stream: stream.to_owned(), segment });
        };
        Ok(sha256(&[&self.segment_bytes(stream, start_ms, start_ms.saturating_add(segment_ms))]) == *expected)
    }

    /// Where the stage's data ends, exclusive: past a waveform's last sample, and 1 ms past
    /// the last track reading or event (which [`StageData::duration_ms`] counts inclusively),
    /// so that a reading at exactly a segment boundary still falls in a hashed segment.
    pub fn data_end_ms(&self) -> u64 {
        let w = self.waveforms.iter().map(Waveform::duration_ms);
        let t = self.tracks.iter().filter(|t| !t.times_ms.is_empty()).map(|t| t.end_ms().saturating_add(1));
        let e = self.events.iter().map(|e| e.time_ms.saturating_add(1));
        w.chain(t).chain(e).max().unwrap_or(0)
    }

    /// How many segments of `segment_ms` cover the stage's data (at least one).
    pub fn segment_count(&self, segment_ms: u64) -> u64 {
        self.data_end_ms().div_ceil(segment_ms.max(1)).max(1)
    }

    /// Whether one segment of one stream holds anything: a waveform sample, a track point or
    /// an event. A segment without data has nothing to tamper with, so it needs no anchor.
    pub fn segment_has_data(&self, stream: &str, start_ms: u64, end_ms: u64) -> bool {
        if let Some(wave) = self.waveform(stream) {
            wave.first_index_at_ms(start_ms) < wave.first_index_at_ms(end_ms)
        } else if let Some(track) = self.track(stream) {
            track.times_ms.partition_point(|&t| t < start_ms) < track.times_ms.partition_point(|&t| t < end_ms)
        } else if stream == EVENTS_STREAM {
            self.events.iter().any(|e| e.time_ms >= start_ms && e.time_ms < end_ms)
        } else {
            false
        }
    }

    /// The canonical bytes of one segment of one stream (empty body for an unknown stream).
    pub fn segment_bytes(&self, stream: &str, start_ms: u64, end_ms: u64) -> Vec<u8> {
        let mut w = Vec::with_capacity(64);
        w.extend_from_slice(SEGMENT_DOMAIN);
        match &self.salt {
            Some(salt) => {
                w.push(1);
                w.extend_from_slice(&salt.0);
            }
            None => w.push(0),
        }
        w.push(self.stage.tag());
        put_str(&mut w, stream);
        w.extend_from_slice(&start_ms.to_be_bytes());
        w.extend_from_slice(&end_ms.to_be_bytes());
        if let Some(wave) = self.waveform(stream) {
            w.push(1);
            put_str(&mut w, &wave.unit);
            w.extend_from_slice(&wave.rate_hz.to_bits().to_be_bytes());
            w.extend_from_slice(&wave.gain.to_bits().to_be_bytes());
            w.extend_from_slice(&wave.baseline.to_be_bytes());
            let (a, b) = (wave.first_index_at_ms(start_ms), wave.first_index_at_ms(end_ms));
            // The first sample's index pins the segment to its place in the stream.
            w.extend_from_slice(&(a as u64).to_be_bytes());
            w.extend_from_slice(&((b - a) as u64).to_be_bytes());
            for s in &wave.samples[a..b] {
                w.extend_from_slice(&s.to_be_bytes());
            }
        } else if let Some(track) = self.track(stream) {
            w.push(2);
            put_str(&mut w, &track.unit);
            let a = track.times_ms.partition_point(|&t| t < start_ms);
            let b = track.times_ms.partition_point(|&t| t < end_ms);
            w.extend_from_slice(&((b - a) as u64).to_be_bytes());
            for (t, v) in track.times_ms[a..b].iter().zip(&track.values[a..b]) {
                w.extend_from_slice(&t.to_be_bytes());
                match v {
                    Some(v) => {
                        w.push(1);
                        w.extend_from_slice(&v.to_bits().to_be_bytes());
                    }
                    None => w.push(0),
                }
            }
        } else if stream == EVENTS_STREAM {
            w.push(3);
            let events: Vec<&Event> =
                self.events.iter().filter(|e| e.time_ms >= start_ms && e.time_ms < end_ms).collect();
            w.extend_from_slice(&(events.len() as u64).to_be_bytes());
            for e in events {
                w.extend_from_slice(&e.time_ms.to_be_bytes());
                w.push(e.kind.tag());
                put_str(&mut w, &e.label);
                match &e.code {
                    Some(c) => {
                        w.push(1);
                        put_str(&mut w, c);
                    }
                    None => w.push(0),
                }
            }
        } else {
            w.push(0);
        }
        w
    }
}

/// The name of the events stream in hashing.
pub const EVENTS_STREAM: &str = "events";

/// The hash of one segment of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHash {
    pub start_ms: u64,
    pub end_ms: u64,
    pub hash: Hash,
}

/// Every segment hash of one stream and their Merkle root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHashes {
    pub stream: String,
    pub segments: Vec<SegmentHash>,
    pub root: Hash,
}

impl StreamHashes {
    /// A Merkle inclusion proof for segment `index` against [`StreamHashes::root`].
    pub fn prove(&self, index: usize) -> Option<merkle::InclusionProof> {
        let leaves: Vec<Hash> = self.segments.iter().map(|s| s.hash).collect();
        merkle::prove(&leaves, index)
    }
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    w.extend_from_slice(&(s.len() as u32).to_be_bytes());
    w.extend_from_slice(s.as_bytes());
}

/// A decoded signal as a case waveform. The case stores 16-bit samples: a signal whose samples
/// do not fit (formats 24 and 32, format 8's integrated differences) is requantized around
/// its baseline by the smallest power of two that makes it fit, its gain divided alike, so
/// physical values keep their scale and lose only resolution below 1/32767 of the largest.
fn waveform_from(signal: &DecodedSignal) -> Waveform {
    let fits = |s: i32| signal.is_invalid(s) || i16::try_from(s).is_ok_and(|v| v != GAP);
    let (samples, gain, baseline) = if signal.samples.iter().all(|&s| fits(s)) {
        let samples = signal.samples.iter().map(|&s| if signal.is_invalid(s) { GAP } else { s as i16 }).collect();
        (samples, signal.spec.gain(), signal.spec.baseline)
    } else {
        let base = i64::from(signal.spec.baseline);
        let largest = signal
            .samples
            .iter()
            .filter(|&&s| !signal.is_invalid(s))
            .map(|&s| (i64::from(s) - base).unsigned_abs())
            .max()
            .unwrap_or(0);
        let mut shift = 0u32;
        while largest >> shift > i16::MAX as u64 - 1 {
            shift += 1;
        }
        let scale = (1u64 << shift) as f64;
        let samples = signal
            .samples
            .iter()
            .map(|&s| {
                if signal.is_invalid(s) {
                    GAP
                } else {
                    // |s - base| / 2^shift <= 32766, so the rounded value fits and is never GAP.
                    ((i64::from(s) - base) as f64 / scale).round() as i16
                }
            })
            .collect();
        (samples, signal.spec.gain() / scale, 0)
    };
    Waveform {
        name: signal.spec.description.clone(),
        unit: signal.spec.units.clone(),
        rate_hz: signal.frequency,
        gain,
        baseline,
        samples,
    }
}

fn track_from(signal: &DecodedSignal) -> Track {
    let name = signal.spec.description.clone();
    let zero_missing = ZERO_MEANS_MISSING.contains(&name.as_str());
    let period_ms = 1000.0 / signal.frequency;
    let times_ms = (0..signal.samples.len()).map(|i| (i as f64 * period_ms).round() as u64).collect();
    let values = signal
        .samples
        .iter()
        .map(|&s| signal.to_physical(s).filter(|&v| !(zero_missing && v == 0.0)).map(|v| v as f32))
        .collect();
    Track { name, unit: signal.spec.units.clone(), times_ms, values }
}
