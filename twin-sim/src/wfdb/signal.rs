//! Decoding WFDB signal files (every format of `format.rs`, multi-sample frames, skews, byte
//! offsets) into per-signal sample vectors, and conversion to physical units.

use super::error::{SignalProblem, WfdbError};
use super::flac;
use super::format::{MAX_SAMPLES, SignalFormat};
use super::header::{Header, SignalSpec};

/// One decoded signal: its header line and its samples in adu, aligned to the record's frames.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedSignal {
    pub spec: SignalSpec,
    /// Samples per second of this signal (frame frequency times samples per frame).
    pub frequency: f64,
    /// Samples in adu as stored, shifted by the skew; a skewed signal's tail is padded with
    /// the format's invalid value. Missing samples keep the format's invalid value.
    pub samples: Vec<i32>,
    /// 16-bit sum of the samples as stored in the file (before skew alignment).
    pub computed_checksum: i16,
    /// The first sample as stored in the file (before skew alignment).
    pub stored_first: Option<i32>,
}

impl DecodedSignal {
    /// Whether a stored value marks a missing sample.
    pub fn is_invalid(&self, adu: i32) -> bool {
        self.spec.format.invalid_value() == Some(adu)
    }

    /// Converts one adu value to physical units: `(adu - baseline) / gain`; `None` for a gap.
    pub fn to_physical(&self, adu: i32) -> Option<f64> {
        if self.is_invalid(adu) {
            None
        } else {
            Some((f64::from(adu) - f64::from(self.spec.baseline)) / self.spec.gain())
        }
    }

    /// Every sample in physical units, gaps as `None`.
    pub fn physical(&self) -> Vec<Option<f64>> {
        self.samples.iter().map(|&s| self.to_physical(s)).collect()
    }

    /// Every sample in physical units, gaps as NaN (convenient for signal processing).
    pub fn physical_or_nan(&self) -> Vec<f64> {
        self.samples.iter().map(|&s| self.to_physical(s).unwrap_or(f64::NAN)).collect()
    }

    /// Whether the computed checksum equals the header's; `None` when the header has none.
    pub fn checksum_matches(&self) -> Option<bool> {
        self.spec.checksum.map(|c| c.rem_euclid(65536) == i32::from(self.computed_checksum).rem_euclid(65536))
    }

    /// Whether the first stored sample equals the header's initial value; `None` when absent.
    pub fn initial_value_matches(&self) -> Option<bool> {
        self.spec.initial_value.map(|v| Some(v) == self.stored_first)
    }

    /// Number of samples that are gaps.
    pub fn gap_count(&self) -> usize {
        self.samples.iter().filter(|&&s| self.is_invalid(s)).count()
    }
}

/// A decoded record (single-segment, or a multi-segment record joined into one).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub header: Header,
    /// Frames per signal (the header's sample count, or what the files hold).
    pub frames: u64,
    /// One entry per signal line, in header order.
    pub signals: Vec<DecodedSignal>,
}

impl Record {
    /// Duration in seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.frames as f64 / self.header.record.frequency
    }

    /// The first signal whose description is `name`.
    pub fn signal(&self, name: &str) -> Option<&DecodedSignal> {
        self.signals.iter().find(|s| s.spec.description == name)
    }
}

/// Decodes every signal of a single-segment record. `files` returns the bytes of a signal file
/// named in the header, or `None` when the caller has no such file.
pub fn decode_record<'a>(header: &Header, files: impl Fn(&str) -> Option<&'a [u8]>) -> Result<Record, WfdbError> {
    if header.record.segment_count.is_some() {
        return Err(WfdbError::Signal {
            file: header.record.name.clone(),
            offset: 0,
            problem: SignalProblem::MultiSegment,
        });
    }
    let mut decoded: Vec<Option<DecodedSignal>> = vec![None; header.signals.len()];
    let mut frames = header.record.sample_count;
    let mut seen: Vec<&str> = Vec::new();
    for spec in &header.signals {
        let name = spec.file_name.as_str();
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let bytes = files(name).ok_or_else(|| WfdbError::MissingFile { file: name.to_owned() })?;
        let (file_frames, signals) = decode_file(header, name, bytes)?;
        frames.get_or_insert(file_frames);
        for (index, signal) in signals {
            decoded[index] = Some(signal);
        }
    }
    let signals: Vec<DecodedSignal> = decoded.into_iter().flatten().collect();
    Ok(Record { header: header.clone(), frames: frames.unwrap_or(0), signals })
}

/// Decodes the signals of `header` stored in the file `file_name`. Returns the number of
/// frames and, for each signal in that file, its index in the header and its samples.
pub fn decode_file(
    header: &Header,
    file_name: &str,
    bytes: &[u8],
) -> Result<(u64, Vec<(usize, DecodedSignal)>), WfdbError> {
    let err = |offset: u64, problem: SignalProblem| WfdbError::Signal { file: file_name.to_owned(), offset, problem };
    let members: Vec<(usize, &SignalSpec)> =
        header.signals.iter().enumerate().filter(|(_, s)| s.file_name == file_name).collect();
    let Some(&(_, first)) = members.first() else {
        return Ok((header.record.sample_count.unwrap_or(0), Vec::new()));
    };
    let (format, offset) = (first.format, first.byte_offset);
    if members.iter().any(|(_, s)| s.format != format || s.byte_offset != offset) {
        return Err(err(0, SignalProblem::InconsistentFile));
    }
    if !format.is_decodable() {
        return Err(err(0, SignalProblem::UnsupportedFormat(format.number())));
    }
    let total = bytes.len() as u64;
    let data = usize::try_from(offset)
        .ok()
        .and_then(|o| bytes.get(o..))
        .ok_or_else(|| err(total, SignalProblem::Truncated { needed: offset, available: total }))?;
    let per_frame: u64 = members.iter().map(|(_, s)| u64::from(s.samples_per_frame)).sum();
    let wanted = match header.record.sample_count {
        Some(n) => Some(n.checked_mul(per_frame).filter(|&s| s <= MAX_SAMPLES).ok_or_else(|| {
            err(0, SignalProblem::TooLarge { samples: n.saturating_mul(per_frame), limit: MAX_SAMPLES })
        })?),
        None => None,
    };
    let (frames, stream) = if format.is_flac() {
        let spf: Vec<u32> = members.iter().map(|(_, s)| s.samples_per_frame).collect();
        flac::decode(data, format, &spf, wanted).map_err(|(at, problem)| err(offset + at, problem))?
    } else {
        let available = format.samples_in(data.len() as u64);
        let frames = match (header.record.sample_count, wanted) {
            (Some(n), Some(needed)) => {
                if needed > available {
                    let needed_bytes = offset + format.bytes_for(needed);
                    return Err(err(total, SignalProblem::Truncated { needed: needed_bytes, available: total }));
                }
                n
            }
            _ => {
                let n = available / per_frame;
                if n == 0 {
                    return Err(err(offset, SignalProblem::NoFrames));
                }
                n.min(MAX_SAMPLES / per_frame)
            }
        };
        (frames, format.unpack(data, (frames * per_frame) as usize))
    };
    let mut out = Vec::with_capacity(members.len());
    let mut position = 0usize;
    let per_frame = per_frame as usize;
    for (index, spec) in members {
        let spf = spec.samples_per_frame as usize;
        let mut stored = Vec::with_capacity(frames as usize * spf);
        for frame in stream.chunks_exact(per_frame) {
            stored.extend_from_slice(&frame[position..position + spf]);
        }
        position += spf;
        if format == SignalFormat::F8 {
            // First differences from the header's initial value (0 when it gives none).
            let mut value = spec.initial_value.unwrap_or(0);
            for s in &mut stored {
                value = value.wrapping_add(*s);
                *s = value;
            }
        }
        let computed_checksum = stored.iter().fold(0i16, |acc, &s| acc.wrapping_add(s as i16));
        let stored_first = stored.first().copied();
        let shift = (spec.skew as usize).saturating_mul(spf).min(stored.len());
        let invalid = format.invalid_value().unwrap_or(0);
        let mut samples = stored;
        if shift > 0 {
            samples.drain(..shift);
            samples.resize(samples.len() + shift, invalid);
        }
        let frequency = header.record.frequency * f64::from(spec.samples_per_frame);
        out.push((index, DecodedSignal { spec: spec.clone(), frequency, samples, computed_checksum, stored_first }));
    }
    Ok((frames, out))
}

#[cfg(test)]
mod tests {
    use super::super::header::parse_header;
    use super::*;

    #[test]
    fn interleaved_frames_skew_and_offset() {
        let header = parse_header("r.hea", b"r 2 100 3\nr.dat 16x2+4 10(5)/mmHg\nr.dat 16:1+4 1\n").unwrap();
        let mut bytes = vec![0xAA; 4];
        for v in [1i16, 2, 10, 3, 4, 20, 5, 6, -32768] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let record = decode_record(&header, |_| Some(bytes.as_slice())).unwrap();
        assert_eq!(record.frames, 3);
        assert_eq!(record.signals[0].samples, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(record.signals[0].frequency, 200.0);
        assert_eq!(record.signals[1].samples, vec![20, -32768, -32768]);
        assert_eq!(record.signals[1].stored_first, Some(10));
        assert_eq!(record.signals[0].to_physical(25), Some(2.0));
        assert_eq!(record.signals[1].physical(), vec![Some(20.0), None, None]);
        assert_eq!(record.signals[1].computed_checksum, 30i16.wrapping_add(-32768));
    }

    #[test]
    fn short_file_is_an_error_with_offset() {
        let header = parse_header("r.hea", b"r 1 100 10\nr.dat 212\n").unwrap();
        let e = decode_record(&header, |_| Some(&[1u8, 2, 3][..])).unwrap_err();
        assert!(matches!(e, WfdbError::Signal { offset: 3, problem: SignalProblem::Truncated { .. }, .. }), "{e}");
        let e = decode_record(&header, |_| None).unwrap_err();
        assert!(matches!(e, WfdbError::MissingFile { .. }));
    }
}
