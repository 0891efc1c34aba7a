//! WFDB header (`.hea`) parsing, following PhysioNet's header file specification:
//! a record line, then one line per signal (or per segment, in a multi-segment header),
//! with `#` comment lines anywhere and blank lines ignored.

use super::error::{HeaderProblem, WfdbError};
use super::format::SignalFormat;

/// The sampling frequency WFDB assumes when the record line gives none.
pub const DEFAULT_FREQUENCY: f64 = 250.0;
/// The gain (adu per physical unit) WFDB assumes when a signal's gain is missing or zero.
pub const DEFAULT_GAIN: f64 = 200.0;

/// A parsed header: the record line, then signals (single-segment) or segments (multi-segment).
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub record: RecordLine,
    /// One entry per signal line; empty in a multi-segment header.
    pub signals: Vec<SignalSpec>,
    /// One entry per segment line; empty in a single-segment header.
    pub segments: Vec<Segment>,
    /// The text of every `#` comment line, in order, without the `#`.
    pub comments: Vec<String>,
}

/// The record line: `name[/segments] signals [freq[/counter[(base)]] [samples [time [date]]]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordLine {
    pub name: String,
    /// Present only in a multi-segment header.
    pub segment_count: Option<u32>,
    pub signal_count: usize,
    /// Frames per second (a signal with `n` samples per frame has `n` times this rate).
    pub frequency: f64,
    /// Counter frequency, when the header gives one.
    pub counter_frequency: Option<f64>,
    /// Counter value at sample 0, when the header gives one.
    pub base_counter: Option<f64>,
    /// Frames per signal; `None` when absent or zero (then the signal file decides).
    pub sample_count: Option<u64>,
    pub base_time: Option<BaseTime>,
    pub base_date: Option<BaseDate>,
}

/// Time of day of sample 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseTime {
    pub hours: u32,
    pub minutes: u32,
    pub seconds: u32,
    pub millis: u32,
}

impl BaseTime {
    /// Seconds since midnight.
    pub fn seconds_of_day(&self) -> f64 {
        f64::from(self.hours) * 3600.0
            + f64::from(self.minutes) * 60.0
            + f64::from(self.seconds)
            + f64::from(self.millis) / 1000.0
    }
}

/// Date of sample 0 (`DD/MM/YYYY` in the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseDate {
    pub day: u32,
    pub month: u32,
    pub year: u32,
}

/// One segment line of a multi-segment header. The name `~` marks a null (gap) segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    pub sample_count: u64,
}

impl Segment {
    /// Whether this segment is a gap with no signal data.
    pub fn is_null(&self) -> bool {
        self.name == "~"
    }
}

/// One signal line: `file format[xspf][:skew][+offset] [gain[(baseline)][/units] [res [zero
/// [initial [checksum [block [description]]]]]]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalSpec {
    pub file_name: String,
    pub format: SignalFormat,
    /// Samples of this signal in each frame (the `x4` in `212x4`); at least 1.
    pub samples_per_frame: u32,
    /// Frames by which this signal is delayed against the others (the `:4` in `212:4`).
    pub skew: u32,
    /// Bytes before the first sample in the file (the `+24` in `16+24`).
    pub byte_offset: u64,
    /// Adu per physical unit as written; 0 means uncalibrated (see [`SignalSpec::gain`]).
    pub gain_written: f64,
    /// Adu value of 0 physical units.
    pub baseline: i32,
    pub units: String,
    /// Whether the header gave the units (otherwise WFDB assumes millivolts).
    pub units_given: bool,
    pub adc_resolution: u32,
    pub adc_zero: i32,
    /// Value of the first sample, when the header gives it.
    pub initial_value: Option<i32>,
    /// 16-bit sum of all samples of the signal, when the header gives it.
    pub checksum: Option<i32>,
    pub block_size: u32,
    pub description: String,
}

impl SignalSpec {
    /// Adu per physical unit used for conversion (WFDB's default 200 when written as 0).
    pub fn gain(&self) -> f64 {
        if self.gain_written == 0.0 { DEFAULT_GAIN } else { self.gain_written }
    }

    /// Whether the signal has a real calibration (a nonzero gain in the header).
    pub fn is_calibrated(&self) -> bool {
        self.gain_written != 0.0
    }
}

/// Parses a header. `file` names the header in error messages.
pub fn parse_header(file: &str, bytes: &[u8]) -> Result<Header, WfdbError> {
    let err = |line: usize, problem: HeaderProblem| WfdbError::Header { file: file.to_owned(), line, problem };
    let mut comments = Vec::new();
    let mut record: Option<RecordLine> = None;
    let mut signals = Vec::new();
    let mut segments = Vec::new();
    let mut last_line = 0;
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        last_line = line_no;
        let text = std::str::from_utf8(raw).map_err(|_| err(line_no, HeaderProblem::NotText))?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if let Some(comment) = text.strip_prefix('#') {
            comments.push(comment.trim().to_owned());
            continue;
        }
        match &record {
            None => record = Some(parse_record_line(text).map_err(|p| err(line_no, p))?),
            Some(r) => {
                if r.segment_count.is_some() {
                    if segments.len() < r.segment_count.unwrap_or(0) as usize {
                        segments.push(parse_segment_line(text).map_err(|p| err(line_no, p))?);
                    } else {
                        return Err(err(line_no, HeaderProblem::ExtraField { text: text.to_owned() }));
                    }
                } else if signals.len() < r.signal_count {
                    signals.push(parse_signal_line(text).map_err(|p| err(line_no, p))?);
                } else {
                    return Err(err(line_no, HeaderProblem::ExtraField { text: text.to_owned() }));
                }
            }
        }
    }
    let record = record.ok_or_else(|| err(last_line.max(1), HeaderProblem::NoRecordLine))?;
    if let Some(n) = record.segment_count {
        if segments.len() != n as usize {
            let problem = HeaderProblem::MissingLines { what: "segment", expected: n as usize, found: segments.len() };
            return Err(err(last_line, problem));
        }
    } else if signals.len() != record.signal_count {
        let problem =
            HeaderProblem::MissingLines { what: "signal", expected: record.signal_count, found: signals.len() };
        return Err(err(last_line, problem));
    }
    Ok(Header { record, signals, segments, comments })
}

/// Upper bound on announced signals and segments, so that nonsense headers fail early.
const MAX_COUNT: u64 = 1 << 20;

fn parse_record_line(text: &str) -> Result<RecordLine, HeaderProblem> {
    let mut fields = text.split_whitespace();
    let first = fields.next().ok_or(HeaderProblem::NoRecordLine)?;
    let (name, segment_count) = match first.split_once('/') {
        Some((name, n)) => {
            let n: u32 = parse_num(n, "number of segments")?;
            if n == 0 {
                return Err(HeaderProblem::BadField { field: "number of segments", text: first.to_owned() });
            }
            limit(u64::from(n), "number of segments")?;
            (name, Some(n))
        }
        None => (first, None),
    };
    if name.is_empty() {
        return Err(HeaderProblem::BadField { field: "record name", text: first.to_owned() });
    }
    let signals_text = fields.next().ok_or(HeaderProblem::MissingField { field: "number of signals" })?;
    let signal_count: u64 = parse_num(signals_text, "number of signals")?;
    limit(signal_count, "number of signals")?;
    let mut record = RecordLine {
        name: name.to_owned(),
        segment_count,
        signal_count: signal_count as usize,
        frequency: DEFAULT_FREQUENCY,
        counter_frequency: None,
        base_counter: None,
        sample_count: None,
        base_time: None,
        base_date: None,
    };
    if let Some(freq) = fields.next() {
        let (f, counter) = match freq.split_once('/') {
            Some((f, c)) => (f, Some(c)),
            None => (freq, None),
        };
        record.frequency = parse_positive(f, "sampling frequency")?;
        if let Some(counter) = counter {
            let (c, base) = match counter.split_once('(') {
                Some((c, rest)) => {
                    let base = rest
                        .strip_suffix(')')
                        .ok_or(HeaderProblem::BadField { field: "base counter value", text: freq.to_owned() })?;
                    (c, Some(parse_finite(base, "base counter value")?))
                }
                None => (counter, None),
            };
            record.counter_frequency = Some(parse_positive(c, "counter frequency")?);
            record.base_counter = base;
        }
    }
    if let Some(n) = fields.next() {
        let n: u64 = parse_num(n, "number of samples")?;
        record.sample_count = (n > 0).then_some(n);
    }
    if let Some(t) = fields.next() {
        record.base_time = Some(parse_time(t)?);
    }
    if let Some(d) = fields.next() {
        record.base_date = Some(parse_date(d)?);
    }
    if let Some(extra) = fields.next() {
        return Err(HeaderProblem::ExtraField { text: extra.to_owned() });
    }
    Ok(record)
}

fn parse_segment_line(text: &str) -> Result<Segment, HeaderProblem> {
    let mut fields = text.split_whitespace();
    let name = fields.next().ok_or(HeaderProblem::MissingField { field: "segment name" })?;
    let n = fields.next().ok_or(HeaderProblem::MissingField { field: "segment length" })?;
    let sample_count = parse_num(n, "segment length")?;
    if let Some(extra) = fields.next() {
        return Err(HeaderProblem::ExtraField { text: extra.to_owned() });
    }
    Ok(Segment { name: name.to_owned(), sample_count })
}

fn parse_signal_line(text: &str) -> Result<SignalSpec, HeaderProblem> {
    let fields = split_fields(text);
    let get = |i: usize| fields.get(i).map(|&(_, f)| f);
    let file_name = get(0).ok_or(HeaderProblem::MissingField { field: "file name" })?;
    let format_text = get(1).ok_or(HeaderProblem::MissingField { field: "format" })?;
    let (format, samples_per_frame, skew, byte_offset) = parse_format_field(format_text)?;
    let mut spec = SignalSpec {
        file_name: file_name.to_owned(),
        format,
        samples_per_frame,
        skew,
        byte_offset,
        gain_written: 0.0,
        baseline: 0,
        units: "mV".to_owned(),
        units_given: false,
        adc_resolution: format.default_resolution(),
        adc_zero: 0,
        initial_value: None,
        checksum: None,
        block_size: 0,
        description: String::new(),
    };
    let mut baseline = None;
    if let Some(g) = get(2) {
        let (gain, base, units) = parse_gain_field(g)?;
        spec.gain_written = gain;
        baseline = base;
        if let Some(units) = units {
            spec.units = units.to_owned();
            spec.units_given = true;
        }
    }
    if let Some(r) = get(3) {
        spec.adc_resolution = parse_num(r, "ADC resolution")?;
    }
    if let Some(z) = get(4) {
        spec.adc_zero = parse_num(z, "ADC zero")?;
    }
    spec.baseline = baseline.unwrap_or(spec.adc_zero);
    if let Some(v) = get(5) {
        spec.initial_value = Some(parse_num(v, "initial value")?);
    }
    if let Some(c) = get(6) {
        spec.checksum = Some(parse_num(c, "checksum")?);
    }
    if let Some(b) = get(7) {
        spec.block_size = parse_num(b, "block size")?;
    }
    if let Some(&(start, _)) = fields.get(8) {
        spec.description = text[start..].trim().to_owned();
    }
    Ok(spec)
}

/// Splits on whitespace, keeping each field's byte offset (the description is the rest of the line).
fn split_fields(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// `format[xspf][:skew][+offset]`, the modifiers in that order, each optional.
fn parse_format_field(text: &str) -> Result<(SignalFormat, u32, u32, u64), HeaderProblem> {
    let bad = || HeaderProblem::BadField { field: "format", text: text.to_owned() };
    let (rest, offset) = match text.split_once('+') {
        Some((r, o)) => (r, parse_num::<u64>(o, "byte offset")?),
        None => (text, 0),
    };
    let (rest, skew) = match rest.split_once(':') {
        Some((r, s)) => (r, parse_num::<u32>(s, "skew")?),
        None => (rest, 0),
    };
    let (rest, spf) = match rest.split_once('x') {
        Some((r, n)) => (r, parse_num::<u32>(n, "samples per frame")?),
        None => (rest, 1),
    };
    if spf == 0 {
        return Err(bad());
    }
    limit(u64::from(spf), "samples per frame")?;
    let number: u16 = rest.parse().map_err(|_| bad())?;
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    Ok((SignalFormat::from_number(number), spf, skew, offset))
}

/// `gain[(baseline)][/units]`.
fn parse_gain_field(text: &str) -> Result<(f64, Option<i32>, Option<&str>), HeaderProblem> {
    let (before_units, units) = match text.split_once('/') {
        Some((b, u)) => (b, Some(u)),
        None => (text, None),
    };
    let (gain_text, baseline) = match before_units.split_once('(') {
        Some((g, rest)) => {
            let inner =
                rest.strip_suffix(')').ok_or(HeaderProblem::BadField { field: "baseline", text: text.to_owned() })?;
            (g, Some(parse_num::<i32>(inner, "baseline")?))
        }
        None => (before_units, None),
    };
    let gain = parse_finite(gain_text, "gain")?;
    if units.is_some_and(str::is_empty) {
        return Err(HeaderProblem::BadField { field: "units", text: text.to_owned() });
    }
    Ok((gain, baseline, units))
}

/// `HH:MM:SS[.sss]`, also the shorter `MM:SS[.sss]` and `SS[.sss]` forms.
fn parse_time(text: &str) -> Result<BaseTime, HeaderProblem> {
    let bad = || HeaderProblem::BadField { field: "base time", text: text.to_owned() };
    let parts: Vec<&str> = text.split(':').collect();
    if parts.is_empty() || parts.len() > 3 {
        return Err(bad());
    }
    let (whole, frac) = match parts[parts.len() - 1].split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (parts[parts.len() - 1], None),
    };
    let seconds: u32 = parse_digits(whole).ok_or_else(bad)?;
    let millis = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            let mut digits: String = f.chars().take(3).collect();
            while digits.len() < 3 {
                digits.push('0');
            }
            digits.parse().map_err(|_| bad())?
        }
        Some(_) => return Err(bad()),
    };
    let mut nums = [0u32; 2];
    for (slot, part) in nums.iter_mut().rev().zip(parts[..parts.len() - 1].iter().rev()) {
        *slot = parse_digits(part).ok_or_else(bad)?;
    }
    let [hours, minutes] = nums;
    if minutes >= 60 && parts.len() == 3 || seconds >= 60 && parts.len() > 1 {
        return Err(bad());
    }
    Ok(BaseTime { hours, minutes, seconds, millis })
}

/// `DD/MM/YYYY`.
fn parse_date(text: &str) -> Result<BaseDate, HeaderProblem> {
    let bad = || HeaderProblem::BadField { field: "base date", text: text.to_owned() };
    let mut parts = text.split('/');
    let (Some(d), Some(m), Some(y), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let day: u32 = parse_digits(d).ok_or_else(bad)?;
    let month: u32 = parse_digits(m).ok_or_else(bad)?;
    let year: u32 = parse_digits(y).ok_or_else(bad)?;
    if !(1..=31).contains(&day) || !(1..=12).contains(&month) {
        return Err(bad());
    }
    Ok(BaseDate { day, month, year })
}

fn parse_digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_num<T: std::str::FromStr>(text: &str, field: &'static str) -> Result<T, HeaderProblem> {
    text.parse().map_err(|_| HeaderProblem::BadField { field, text: text.to_owned() })
}

fn parse_finite(text: &str, field: &'static str) -> Result<f64, HeaderProblem> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(HeaderProblem::BadField { field, text: text.to_owned() }),
    }
}

fn parse_positive(text: &str, field: &'static str) -> Result<f64, HeaderProblem> {
    match parse_finite(text, field)? {
        v if v > 0.0 => Ok(v),
        _ => Err(HeaderProblem::BadField { field, text: text.to_owned() }),
    }
}

fn limit(value: u64, field: &'static str) -> Result<(), HeaderProblem> {
    if value > MAX_COUNT { Err(HeaderProblem::TooLarge { field, value, limit: MAX_COUNT }) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_line_with_counter_and_base_counter() {
        let h = parse_header("r.hea", b"r 1 360/180(12.5) 100 10:20:30.5 01/02/2003\nr.dat 16\n").unwrap();
        assert_eq!(h.record.frequency, 360.0);
        assert_eq!(h.record.counter_frequency, Some(180.0));
        assert_eq!(h.record.base_counter, Some(12.5));
        assert_eq!(h.record.sample_count, Some(100));
        assert_eq!(h.record.base_time, Some(BaseTime { hours: 10, minutes: 20, seconds: 30, millis: 500 }));
        assert_eq!(h.record.base_date, Some(BaseDate { day: 1, month: 2, year: 2003 }));
    }

    #[test]
    fn signal_line_with_every_modifier() {
        let h =
            parse_header("r.hea", b"r 1 250\nr.dat 212x4:3+24 12.84(-1605)/mmHg 12 5 -943 -23651 0 ABP art\n").unwrap();
        let s = &h.signals[0];
        assert_eq!((s.format, s.samples_per_frame, s.skew, s.byte_offset), (SignalFormat::F212, 4, 3, 24));
        assert_eq!((s.gain(), s.baseline, s.units.as_str()), (12.84, -1605, "mmHg"));
        assert_eq!((s.adc_resolution, s.adc_zero, s.initial_value, s.checksum), (12, 5, Some(-943), Some(-23651)));
        assert_eq!(s.description, "ABP art");
    }

    #[test]
    fn defaults_when_fields_are_missing() {
        let h = parse_header("r.hea", b"r 1\nr.dat 16 0\n").unwrap();
        assert_eq!(h.record.frequency, DEFAULT_FREQUENCY);
        let s = &h.signals[0];
        assert!(!s.is_calibrated());
        assert_eq!((s.gain(), s.units.as_str(), s.adc_resolution), (DEFAULT_GAIN, "mV", 16));
    }

    #[test]
    fn baseline_defaults_to_adc_zero() {
        let h = parse_header("r.hea", b"r 1\nr.dat 212 200 11 1024\n").unwrap();
        assert_eq!(h.signals[0].baseline, 1024);
    }

    #[test]
    fn multi_segment_header() {
        let text = b"multi/3 2 125 1000 12:00:00\nmulti_layout 0\nseg_1 600\n~ 400\n";
        let h = parse_header("multi.hea", text).unwrap();
        assert_eq!(h.record.segment_count, Some(3));
        assert_eq!(h.segments.len(), 3);
        assert!(h.segments[2].is_null());
        assert_eq!(h.segments[1], Segment { name: "seg_1".into(), sample_count: 600 });
    }

    #[test]
    fn short_time_form_is_minutes_and_seconds() {
        let h = parse_header("r.hea", b"r 0 1 10 31:25.894\n").unwrap();
        assert_eq!(h.record.base_time, Some(BaseTime { hours: 0, minutes: 31, seconds: 25, millis: 894 }));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_header("x.hea", b"# c\nx 2 360\nx.dat 212\nx.dat 2q2\n").unwrap_err();
        assert!(matches!(e, WfdbError::Header { line: 4, .. }), "{e}");
        assert!(e.to_string().starts_with("x.hea: line 4:"), "{e}");
        let e = parse_header("x.hea", b"x 3 360\nx.dat 212\n").unwrap_err();
        assert!(matches!(e, WfdbError::Header { problem: HeaderProblem::MissingLines { expected: 3, .. }, .. }));
        let e = parse_header("x.hea", b"x 1 -5\nx.dat 212\n").unwrap_err();
        assert!(matches!(e, WfdbError::Header { line: 1, .. }));
        assert!(parse_header("x.hea", b"").is_err());
    }
}
