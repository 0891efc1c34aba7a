//! Typed errors of the WFDB importers; each names the file and where in it the problem is.

use thiserror::Error;

/// Any failure to import WFDB data. `file` is the name the caller gave for the bytes.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum WfdbError {
    /// A header (`.hea`) could not be parsed; `line` counts from 1.
    #[error("{file}: line {line}: {problem}")]
    Header { file: String, line: usize, problem: HeaderProblem },
    /// A signal file could not be decoded; `offset` is the byte offset of the problem.
    #[error("{file}: byte {offset}: {problem}")]
    Signal { file: String, offset: u64, problem: SignalProblem },
    /// An annotation file could not be decoded; `offset` is the byte offset of the problem.
    #[error("{file}: byte {offset}: {problem}")]
    Annotation { file: String, offset: u64, problem: AnnotationProblem },
    /// The header names a signal file that the caller did not supply.
    #[error("{file}: signal file named in the header was not supplied")]
    MissingFile { file: String },
    /// One segment of a multi-segment record cannot be used; `index` counts the master
    /// header's segment lines from 0 (the layout segment included).
    #[error("record {record}: segment {index} ({segment}): {problem}")]
    Segment { record: String, index: usize, segment: String, problem: SegmentProblem },
    /// A multi-segment record is inconsistent as a whole.
    #[error("record {record}: {problem}")]
    MultiSegment { record: String, problem: SegmentProblem },
}

/// What is wrong with a multi-segment record or one of its segments.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SegmentProblem {
    #[error("the segment's header was not supplied")]
    HeaderNotSupplied,
    #[error("the segment's header is itself a multi-segment header")]
    Nested,
    #[error("the segment is sampled at {found} frames per second, the record at {expected}")]
    Frequency { expected: f64, found: f64 },
    #[error("the master header gives the segment {expected} frames but it holds {found}")]
    TooShort { expected: u64, found: u64 },
    #[error("signal {signal:?} has {found} samples per frame here but {expected} in the record")]
    SamplesPerFrame { signal: String, expected: u32, found: u32 },
    #[error("the record line gives {stated} frames but the segments add up to {segments}")]
    LengthMismatch { stated: u64, segments: u64 },
    #[error("the record would hold {samples} samples, above the limit of {limit}")]
    TooLarge { samples: u64, limit: u64 },
}

/// What is wrong with a header line.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum HeaderProblem {
    #[error("the header is not valid UTF-8 text")]
    NotText,
    #[error("the header has no record line")]
    NoRecordLine,
    #[error("field {field}: cannot read {text:?}")]
    BadField { field: &'static str, text: String },
    #[error("field {field} is missing")]
    MissingField { field: &'static str },
    #[error("unexpected extra field {text:?}")]
    ExtraField { text: String },
    #[error("the record line announces {expected} {what} lines but the header has {found}")]
    MissingLines { what: &'static str, expected: usize, found: usize },
    #[error("{field} {value} is above the limit of {limit}")]
    TooLarge { field: &'static str, value: u64, limit: u64 },
}

/// What is wrong with a signal file, or with the header's description of it.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SignalProblem {
    #[error("signal format {0} is not supported (supported: 8, 16, 24, 32, 61, 80, 160, 212, 310, 311, 508, 516, 524)")]
    UnsupportedFormat(u16),
    #[error("signals stored in the same file disagree on format or byte offset")]
    InconsistentFile,
    #[error("the file ends early: {needed} bytes needed, {available} present")]
    Truncated { needed: u64, available: u64 },
    #[error("the record length is unknown and the file holds no whole frame")]
    NoFrames,
    #[error("the signal would hold {samples} samples, above the limit of {limit}")]
    TooLarge { samples: u64, limit: u64 },
    #[error("the header is a multi-segment header; decode it with decode_multi_segment")]
    MultiSegment,
    #[error("the FLAC stream is invalid: {0}")]
    Flac(String),
    #[error("the FLAC stream has {channels} channels but the header stores {signals} signals in it")]
    FlacChannels { channels: u32, signals: usize },
    #[error("the FLAC stream has {found}-bit samples; format {format} needs {expected}-bit")]
    FlacBits { found: u32, expected: u32, format: u16 },
    #[error("signals stored in one FLAC file must have the same samples per frame")]
    FlacSamplesPerFrame,
    #[error("the FLAC stream ends early: {needed} samples per signal needed, {found} present")]
    FlacTooShort { needed: u64, found: u64 },
}

/// What is wrong with an annotation file.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AnnotationProblem {
    #[error("the file ends inside a {what}")]
    Truncated { what: &'static str },
    #[error("annotation time overflows")]
    TimeOverflow,
}
