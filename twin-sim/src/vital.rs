//! VitalDB `.vital` files (Vital Recorder's format, the format of the VitalDB open surgical
//! dataset): a gzip stream holding the signature `VITA`, a format version, a header, then
//! packets of `type (u8), length (u32), body`, all little-endian. Packets read here: device
//! info (9), track info (0), records (1) and commands (6: track order, reset events); others
//! (raw device data, 10) are skipped by their length, as the format asks. Strings are a u32
//! byte count and UTF-8 bytes; times are Unix seconds (f64).
//!
//! Works on bytes already read; errors name the file and the byte of the decompressed
//! content where the problem is (a gzip error names how far decompression got).

use std::io::Read;

use flate2::read::MultiGzDecoder;
use thiserror::Error;

/// The most decompressed bytes read from one file (1 GiB), a guard on input size.
pub const MAX_CONTENT: u64 = 1 << 30;

/// A parsed `.vital` file.
#[derive(Debug, Clone, PartialEq)]
pub struct VitalFile {
    /// Minutes to add to local time to get UTC, as the recorder saw it (Korea: -540).
    pub utc_minus_local_min: i16,
    pub devices: Vec<VitalDevice>,
    /// Tracks in display order (the file's track-order command when it has one).
    pub tracks: Vec<VitalTrack>,
}

/// A device the recorder read from (a patient monitor, an anaesthesia machine, an ADC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VitalDevice {
    pub id: u32,
    pub type_name: String,
    pub name: String,
    pub port: String,
}

/// What a track holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    /// Sampled at `rate_hz`; each record is a run of samples.
    Wave,
    /// One number per record.
    Numeric,
    /// One text per record (`EVENT` holds the case's events).
    Text,
}

/// How a wave or numeric track stores its values (codes 1-8 of the format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    F32,
    F64,
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
}

impl SampleFormat {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::F32,
            2 => Self::F64,
            3 => Self::I8,
            4 => Self::U8,
            5 => Self::I16,
            6 => Self::U16,
            7 => Self::I32,
            8 => Self::U32,
            _ => return None,
        })
    }

    /// Bytes of one value.
    pub fn width(self) -> usize {
        match self {
            Self::I8 | Self::U8 => 1,
            Self::I16 | Self::U16 => 2,
            Self::F32 | Self::I32 | Self::U32 => 4,
            Self::F64 => 8,
        }
    }

    /// Whether values are counts to convert with the track's gain and offset.
    pub fn is_integer(self) -> bool {
        !matches!(self, Self::F32 | Self::F64)
    }

    /// One value; the integer formats' missing value (the signed minimum, the unsigned
    /// maximum) and a float NaN read as NaN.
    fn read(self, b: &[u8]) -> f64 {
        match self {
            Self::F32 => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Self::F64 => f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            Self::I8 => missing_or(b[0] as i8 == i8::MIN, f64::from(b[0] as i8)),
            Self::U8 => missing_or(b[0] == u8::MAX, f64::from(b[0])),
            Self::I16 => {
                let v = i16::from_le_bytes([b[0], b[1]]);
                missing_or(v == i16::MIN, f64::from(v))
            }
            Self::U16 => {
                let v = u16::from_le_bytes([b[0], b[1]]);
                missing_or(v == u16::MAX, f64::from(v))
            }
            Self::I32 => {
                let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                missing_or(v == i32::MIN, f64::from(v))
            }
            Self::U32 => {
                let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                missing_or(v == u32::MAX, f64::from(v))
            }
        }
    }
}

fn missing_or(missing: bool, v: f64) -> f64 {
    if missing { f64::NAN } else { v }
}

/// One track: a signal or a series of numbers or texts from one device.
#[derive(Debug, Clone, PartialEq)]
pub struct VitalTrack {
    pub id: u16,
    pub kind: TrackKind,
    pub format: SampleFormat,
    pub name: String,
    /// The device's name, empty for a track of no device (such as `EVENT`).
    pub device: String,
    pub unit: String,
    pub display_min: f32,
    pub display_max: f32,
    /// 0xAARRGGBB as the recorder draws it.
    pub colour: u32,
    /// Samples per second of a wave track (0 otherwise).
    pub rate_hz: f32,
    /// Physical value = stored count x gain + offset, for integer formats.
    pub gain: f64,
    pub offset: f64,
    pub records: Vec<VitalRecord>,
}

impl VitalTrack {
    /// `device/name`, or the name alone for a track of no device (VitalDB's track names).
    pub fn full_name(&self) -> String {
        if self.device.is_empty() { self.name.clone() } else { format!("{}/{}", self.device, self.name) }
    }

    /// A stored value in physical units (NaN stays NaN).
    pub fn physical(&self, stored: f64) -> f64 {
        if self.format.is_integer() { stored * self.gain + self.offset } else { stored }
    }
}

/// One record of a track at `time_s` (Unix seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct VitalRecord {
    pub time_s: f64,
    pub value: RecordValue,
}

/// What a record holds, as stored (missing values as NaN).
#[derive(Debug, Clone, PartialEq)]
pub enum RecordValue {
    Wave(Vec<f64>),
    Number(f64),
    Text(String),
}

/// Why a `.vital` file cannot be read.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum VitalError {
    #[error("{file}: not a gzip stream or damaged after {decompressed} decompressed bytes: {problem}")]
    Gzip { file: String, decompressed: u64, problem: String },
    #[error("{file}: byte {offset} of the decompressed content: {problem}")]
    Content { file: String, offset: u64, problem: VitalProblem },
    /// A track that reads but cannot become part of a case.
    #[error("{file}: track {track}: {problem}")]
    Track { file: String, track: String, problem: TrackProblem },
}

/// Why a track that reads cannot become part of a case.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TrackProblem {
    #[error("a wave track without a usable sampling rate")]
    NoRate,
    #[error("it reaches {seconds:.0} s from the file's first record, beyond the limit of a case")]
    TooLong { seconds: f64 },
}

/// What is wrong inside the decompressed content.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum VitalProblem {
    #[error("not a Vital file (it does not start with VITA)")]
    NotVital,
    #[error("the content is above the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the file ends inside a {what}")]
    Truncated { what: &'static str },
    #[error("track {track} has unknown sample format {code}")]
    UnknownFormat { track: u16, code: u8 },
    #[error("track {track} has unknown type {code}")]
    UnknownKind { track: u16, code: u8 },
    #[error("a record for track {0}, which no track packet declares")]
    UndeclaredTrack(u16),
    #[error("a {what} is not UTF-8 text")]
    NotText { what: &'static str },
}

/// Parses a `.vital` file. `file` names it in errors.
pub fn parse_vital(file: &str, bytes: &[u8]) -> Result<VitalFile, VitalError> {
    let mut content = Vec::new();
    let read = MultiGzDecoder::new(bytes).take(MAX_CONTENT + 1).read_to_end(&mut content);
    if let Err(e) = read {
        return Err(VitalError::Gzip {
            file: file.to_owned(),
            decompressed: content.len() as u64,
            problem: e.to_string(),
        });
    }
    let err = |offset: usize, problem| VitalError::Content { file: file.to_owned(), offset: offset as u64, problem };
    if content.len() as u64 > MAX_CONTENT {
        return Err(err(MAX_CONTENT as usize, VitalProblem::TooLarge { limit: MAX_CONTENT }));
    }
    parse_content(&content).map_err(|(offset, problem)| err(offset, problem))
}

/// A cursor over the decompressed content that reports where it ran out.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], (usize, VitalProblem)> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else { return Err((self.pos, VitalProblem::Truncated { what })) };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, (usize, VitalProblem)> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, (usize, VitalProblem)> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, (usize, VitalProblem)> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f32(&mut self, what: &'static str) -> Result<f32, (usize, VitalProblem)> {
        Ok(f32::from_bits(self.u32(what)?))
    }

    fn f64(&mut self, what: &'static str) -> Result<f64, (usize, VitalProblem)> {
        let b = self.take(8, what)?;
        Ok(f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    fn string(&mut self, what: &'static str) -> Result<String, (usize, VitalProblem)> {
        let start = self.pos;
        let len = self.u32(what)? as usize;
        let b = self.take(len, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| (start, VitalProblem::NotText { what }))
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

fn parse_content(content: &[u8]) -> Result<VitalFile, (usize, VitalProblem)> {
    let mut r = Reader { bytes: content, pos: 0 };
    if r.take(4, "signature").ok() != Some(b"VITA".as_slice()) {
        return Err((0, VitalProblem::NotVital));
    }
    let _version = r.u32("header")?;
    let header_len = r.u16("header")? as usize;
    let header = r.take(header_len, "header")?;
    let utc_minus_local_min = header.get(..2).map_or(0, |b| i16::from_le_bytes([b[0], b[1]]));
    let mut devices: Vec<VitalDevice> = Vec::new();
    let mut tracks: Vec<VitalTrack> = Vec::new();
    let mut order: Vec<u16> = Vec::new();
    while r.remaining() > 0 {
        let start = r.pos;
        let kind = r.u8("packet header")?;
        let len = r.u32("packet header")? as usize;
        let body_start = r.pos;
        let body = r.take(len, "packet")?;
        let mut p = Reader { bytes: &content[..body_start + body.len()], pos: body_start };
        match kind {
            9 => {
                let id = p.u32("device packet")?;
                let type_name = p.string("device type")?;
                let name = p.string("device name")?;
                let port = if p.remaining() >= 4 { p.string("device port")? } else { String::new() };
                let name = if name.is_empty() { type_name.clone() } else { name };
                devices.retain(|d| d.id != id);
                devices.push(VitalDevice { id, type_name, name, port });
            }
            0 => {
                let track = read_track(&mut p, &devices, start)?;
                tracks.retain(|t| t.id != track.id);
                tracks.push(track);
            }
            1 => read_record(&mut p, &mut tracks)?,
            6 => match p.u8("command")? {
                5 => {
                    let n = p.u16("track order")? as usize;
                    order = (0..n).map(|_| p.u16("track order")).collect::<Result<_, _>>()?;
                }
                6 => {
                    for t in tracks.iter_mut().filter(|t| t.name == "EVENT") {
                        t.records.clear();
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    if !order.is_empty() {
        tracks.sort_by_key(|t| order.iter().position(|&id| id == t.id).unwrap_or(usize::MAX));
    }
    Ok(VitalFile { utc_minus_local_min, devices, tracks })
}

/// A track packet: id, type, format, name, then optional fields the packet may end before.
fn read_track(p: &mut Reader<'_>, devices: &[VitalDevice], start: usize) -> Result<VitalTrack, (usize, VitalProblem)> {
    let id = p.u16("track packet")?;
    let kind_code = p.u8("track packet")?;
    let format_code = p.u8("track packet")?;
    let kind = match kind_code {
        1 => TrackKind::Wave,
        2 => TrackKind::Numeric,
        5 => TrackKind::Text,
        code => return Err((start, VitalProblem::UnknownKind { track: id, code })),
    };
    let format = match (kind, SampleFormat::from_code(format_code)) {
        (_, Some(f)) => f,
        (TrackKind::Text, None) => SampleFormat::F32,
        (_, None) => return Err((start, VitalProblem::UnknownFormat { track: id, code: format_code })),
    };
    let name = p.string("track name")?;
    let mut track = VitalTrack {
        id,
        kind,
        format,
        name,
        device: String::new(),
        unit: String::new(),
        display_min: 0.0,
        display_max: 0.0,
        colour: 0,
        rate_hz: 0.0,
        gain: 1.0,
        offset: 0.0,
        records: Vec::new(),
    };
    if p.remaining() > 0 {
        track.unit = p.string("track unit")?;
    }
    if p.remaining() > 0 {
        track.display_min = p.f32("track packet")?;
    }
    if p.remaining() > 0 {
        track.display_max = p.f32("track packet")?;
    }
    if p.remaining() > 0 {
        track.colour = p.u32("track packet")?;
    }
    if p.remaining() > 0 {
        track.rate_hz = p.f32("track packet")?;
    }
    if p.remaining() > 0 {
        track.gain = p.f64("track packet")?;
    }
    if p.remaining() > 0 {
        track.offset = p.f64("track packet")?;
    }
    if p.remaining() > 0 {
        let _monitor_type = p.u8("track packet")?;
    }
    if p.remaining() > 0 {
        let device = p.u32("track packet")?;
        track.device = devices.iter().find(|d| d.id == device).map(|d| d.name.clone()).unwrap_or_default();
    }
    Ok(track)
}

/// A record packet: info length, time, track id, then (after the info) the track's values.
fn read_record(p: &mut Reader<'_>, tracks: &mut [VitalTrack]) -> Result<(), (usize, VitalProblem)> {
    let info_start = p.pos;
    let info_len = p.u16("record packet")? as usize;
    let time_s = p.f64("record packet")?;
    let id = p.u16("record packet")?;
    let after_info = info_start + 2 + info_len;
    if after_info < p.pos || after_info > p.bytes.len() {
        return Err((info_start, VitalProblem::Truncated { what: "record packet" }));
    }
    p.pos = after_info;
    let Some(track) = tracks.iter_mut().find(|t| t.id == id) else {
        return Err((info_start, VitalProblem::UndeclaredTrack(id)));
    };
    let value = match track.kind {
        TrackKind::Wave => {
            let n = p.u32("wave record")? as usize;
            let width = track.format.width();
            let bytes = p.take(n.saturating_mul(width), "wave record")?;
            RecordValue::Wave(bytes.chunks_exact(width).map(|b| track.format.read(b)).collect())
        }
        TrackKind::Numeric => RecordValue::Number(track.format.read(p.take(track.format.width(), "numeric record")?)),
        TrackKind::Text => {
            let _unused = p.u32("text record")?;
            RecordValue::Text(p.string("text record")?)
        }
    };
    track.records.push(VitalRecord { time_s, value });
    Ok(())
}
