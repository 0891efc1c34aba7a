//! Joining a multi-segment WFDB record (a master header listing segment records) into one
//! continuous [`Record`], with null segments and absent signals as gaps.
//!
//! PhysioNet's format: the master header's segment lines name ordinary single-segment records
//! and give their lengths in frames. When the first segment has length 0 it is the layout
//! segment: its header lists every signal of the record and no data. A segment named `~` is a
//! gap. Each segment may carry a subset of the signals, in any order; a segment's signal is
//! matched to the record's by description (the n-th signal called `II` in the segment is the
//! n-th called `II` in the layout). Without a layout, the record's signals are those of the
//! segments in order of first appearance.

use super::error::{SegmentProblem, WfdbError};
use super::format::{MAX_SAMPLES, SignalFormat};
use super::header::{Header, SignalSpec};
use super::signal::{DecodedSignal, Record, decode_record};

/// Decodes a multi-segment record into one continuous [`Record`].
///
/// `segment_header` returns the parsed header of the segment record with the given name (the
/// name as written in the master header); `files` returns the bytes of a signal file named in
/// a segment header. A single-segment `master` is decoded with [`decode_record`].
///
/// The result's `header` is the master header with `signals` set to the record's signals and
/// `sample_count` to the total frames. Each signal's spec is the layout's (or, without a layout,
/// the first segment's that carries it) with skew, byte offset, initial value and checksum
/// cleared; its format is the one every carrying segment shares, or 16 (32 when a segment's
/// samples are wider than 16 bits) when they differ or the shared one is format 8. Frames
/// of a null segment, or of a segment without the signal, hold the format's invalid value (a
/// `None` in [`DecodedSignal::physical`]). A segment whose gain or baseline differ from the
/// record's has its samples rescaled to the record's calibration, rounded to the nearest adu; a
/// valid sample that would land on the invalid value is moved one adu up.
pub fn decode_multi_segment<'a>(
    master: &Header,
    segment_header: impl Fn(&str) -> Option<Header>,
    files: impl Fn(&str) -> Option<&'a [u8]>,
) -> Result<Record, WfdbError> {
    if master.record.segment_count.is_none() {
        return decode_record(master, files);
    }
    let record_name = master.record.name.as_str();
    let seg_err = |index: usize, segment: &str, problem: SegmentProblem| WfdbError::Segment {
        record: record_name.to_owned(),
        index,
        segment: segment.to_owned(),
        problem,
    };
    let whole_err = |problem: SegmentProblem| WfdbError::MultiSegment { record: record_name.to_owned(), problem };
    let frequency = master.record.frequency;
    let fetch = |index: usize, name: &str| -> Result<Header, WfdbError> {
        let header = segment_header(name).ok_or_else(|| seg_err(index, name, SegmentProblem::HeaderNotSupplied))?;
        if header.record.segment_count.is_some() {
            return Err(seg_err(index, name, SegmentProblem::Nested));
        }
        let found = header.record.frequency;
        if (found - frequency).abs() > 1e-9 * frequency.abs().max(1.0) {
            return Err(seg_err(index, name, SegmentProblem::Frequency { expected: frequency, found }));
        }
        Ok(header)
    };

    // The layout segment, when the first segment has length 0.
    let has_layout = master.segments.first().is_some_and(|s| s.sample_count == 0 && !s.is_null());
    let layout = match master.segments.first() {
        Some(first) if has_layout => Some(fetch(0, &first.name)?),
        _ => None,
    };

    // First pass: every data segment's header (no signal data yet).
    let mut headers: Vec<Option<Header>> = Vec::with_capacity(master.segments.len());
    let mut total: u64 = 0;
    for (index, segment) in master.segments.iter().enumerate() {
        total = total
            .checked_add(segment.sample_count)
            .ok_or_else(|| whole_err(SegmentProblem::TooLarge { samples: u64::MAX, limit: MAX_SAMPLES }))?;
        let is_layout = index == 0 && has_layout;
        let is_data = !is_layout && !segment.is_null() && segment.sample_count > 0;
        headers.push(if is_data { Some(fetch(index, &segment.name)?) } else { None });
    }
    if let Some(stated) = master.record.sample_count
        && stated != total
    {
        return Err(whole_err(SegmentProblem::LengthMismatch { stated, segments: total }));
    }

    // The record's signals: the layout's, or the union of the segments' in order of appearance.
    let specs: Vec<SignalSpec> = match &layout {
        Some(layout) => layout.signals.clone(),
        None => {
            let mut specs: Vec<SignalSpec> = Vec::new();
            for header in headers.iter().flatten() {
                for (i, spec) in header.signals.iter().enumerate() {
                    let occurrence = occurrence(&header.signals, i);
                    if nth_named(&specs, &spec.description, occurrence).is_none() {
                        specs.push(spec.clone());
                    }
                }
            }
            specs
        }
    };

    // Map each segment's signals onto the record's; check samples per frame; choose formats.
    let mut maps: Vec<Vec<Option<usize>>> = Vec::with_capacity(headers.len());
    let mut formats: Vec<Option<SignalFormat>> = vec![None; specs.len()];
    let mut mixed = vec![false; specs.len()];
    let mut widest: Vec<u32> = specs.iter().map(|s| s.format.sample_bits()).collect();
    for (index, header) in headers.iter().enumerate() {
        let Some(header) = header else {
            maps.push(Vec::new());
            continue;
        };
        let map: Vec<Option<usize>> = (0..specs.len())
            .map(|i| nth_named(&header.signals, &specs[i].description, occurrence(&specs, i)))
            .collect();
        for (i, found) in map.iter().enumerate() {
            let Some(found) = found.and_then(|j| header.signals.get(j)) else { continue };
            if found.samples_per_frame != specs[i].samples_per_frame {
                let problem = SegmentProblem::SamplesPerFrame {
                    signal: specs[i].description.clone(),
                    expected: specs[i].samples_per_frame,
                    found: found.samples_per_frame,
                };
                return Err(seg_err(index, &master.segments[index].name, problem));
            }
            widest[i] = widest[i].max(found.format.sample_bits());
            match formats[i] {
                None => formats[i] = Some(found.format),
                Some(f) if f != found.format => mixed[i] = true,
                Some(_) => {}
            }
        }
        maps.push(map);
    }
    let per_frame: u64 = specs.iter().map(|s| u64::from(s.samples_per_frame)).sum();
    let samples = total.saturating_mul(per_frame);
    if samples > MAX_SAMPLES {
        return Err(whole_err(SegmentProblem::TooLarge { samples, limit: MAX_SAMPLES }));
    }
    let out_specs: Vec<SignalSpec> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            // The joined samples are integrated (format 8's differences) and rescaled, so
            // the record keeps a format only where it has an invalid value to mark gaps with;
            // otherwise 16-bit, or 32-bit where a segment's samples are wider.
            let usable = |f: SignalFormat| f.invalid_value().is_some();
            let format = match formats[i] {
                Some(f) if !mixed[i] && usable(f) => f,
                None if usable(spec.format) => spec.format,
                _ if widest[i] > 16 => SignalFormat::F32,
                _ => SignalFormat::F16,
            };
            SignalSpec { format, skew: 0, byte_offset: 0, initial_value: None, checksum: None, ..spec.clone() }
        })
        .collect();

    // Second pass: decode one segment at a time and append it.
    let mut out: Vec<Vec<i32>> =
        out_specs.iter().map(|s| Vec::with_capacity((total * u64::from(s.samples_per_frame)) as usize)).collect();
    for (index, (segment, header)) in master.segments.iter().zip(&headers).enumerate() {
        let frames = segment.sample_count;
        let decoded = match header {
            Some(h) if !h.signals.is_empty() => {
                let record = decode_record(h, &files)?;
                if record.frames < frames {
                    let problem = SegmentProblem::TooShort { expected: frames, found: record.frames };
                    return Err(seg_err(index, &segment.name, problem));
                }
                Some(record)
            }
            _ => None,
        };
        for (i, spec) in out_specs.iter().enumerate() {
            let count = (frames * u64::from(spec.samples_per_frame)) as usize;
            let invalid = spec.format.invalid_value().unwrap_or(i32::from(i16::MIN));
            let column = &mut out[i];
            let end = column.len() + count;
            let source = decoded.as_ref().zip(maps[index].get(i).copied().flatten());
            match source.and_then(|(record, j)| record.signals.get(j)) {
                Some(signal) => {
                    let rescale = Rescale::new(&signal.spec, spec, invalid);
                    let values = signal.samples.iter().take(count).map(|&s| rescale.apply(signal, s));
                    column.extend(values);
                    // Never short (frames were checked), but stay total on odd input.
                    column.resize(end, invalid);
                }
                None => column.resize(end, invalid),
            }
        }
    }

    let signals: Vec<DecodedSignal> = out_specs
        .into_iter()
        .zip(out)
        .map(|(spec, samples)| DecodedSignal {
            frequency: frequency * f64::from(spec.samples_per_frame),
            computed_checksum: samples.iter().fold(0i16, |acc, &s| acc.wrapping_add(s as i16)),
            stored_first: samples.first().copied(),
            spec,
            samples,
        })
        .collect();
    let mut header = master.clone();
    header.record.sample_count = Some(total);
    header.record.signal_count = signals.len();
    header.signals = signals.iter().map(|s| s.spec.clone()).collect();
    Ok(Record { header, frames: total, signals })
}

/// How many signals before `specs[i]` share its description.
fn occurrence(specs: &[SignalSpec], i: usize) -> usize {
    let name = &specs[i].description;
    specs[..i].iter().filter(|s| &s.description == name).count()
}

/// Index of the `n`-th signal (from 0) described as `name`.
fn nth_named(specs: &[SignalSpec], name: &str, n: usize) -> Option<usize> {
    specs.iter().enumerate().filter(|(_, s)| s.description == name).nth(n).map(|(i, _)| i)
}

/// Conversion of a segment's adu values into the record's calibration.
struct Rescale {
    same: bool,
    from_gain: f64,
    from_baseline: f64,
    to_gain: f64,
    to_baseline: f64,
    invalid: i32,
}

impl Rescale {
    fn new(from: &SignalSpec, to: &SignalSpec, invalid: i32) -> Self {
        Self {
            same: from.gain() == to.gain() && from.baseline == to.baseline,
            from_gain: from.gain(),
            from_baseline: f64::from(from.baseline),
            to_gain: to.gain(),
            to_baseline: f64::from(to.baseline),
            invalid,
        }
    }

    fn apply(&self, signal: &DecodedSignal, adu: i32) -> i32 {
        if signal.is_invalid(adu) {
            return self.invalid;
        }
        let value = if self.same {
            adu
        } else {
            // `as` saturates; gains are finite and nonzero (zero means the default 200).
            ((f64::from(adu) - self.from_baseline) / self.from_gain * self.to_gain + self.to_baseline).round() as i32
        };
        if value == self.invalid { value.saturating_add(1) } else { value }
    }
}
