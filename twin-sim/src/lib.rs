//! twin-sim: the pure core of the patient digital twin. This first slice imports real
//! clinical recordings (PhysioNet WFDB headers, signal files in every WFDB format, MIT
//! annotation files, VitalDB `.vital` files) and detects QRS complexes in an ECG. No IO, no clock, no randomness:
//! the library takes bytes and returns values; only the `twin-sim` binary touches files.
//! Builds for native and wasm32.

pub mod alarms;
pub mod case;
pub mod casefile;
pub mod demo;
pub mod detmath;
pub mod forecast;
pub mod import;
pub mod physiology;
pub mod pk;
pub mod pk_validation;
pub mod qrs;
pub mod replay;
pub mod scenario;
pub mod validation;
pub mod verify;
pub mod vital;
pub mod waveforms;
pub mod wfdb;

pub use qrs::{BeatMatch, QrsConfig, QrsDetector, QrsError, evaluate_beats, heart_rate_bpm};
pub use wfdb::{
    Annotation, AnnotationCode, AnnotationProblem, DecodedSignal, Header, HeaderProblem, Record, RecordLine, Segment,
    SegmentProblem, SignalFormat, SignalProblem, SignalSpec, WfdbError, decode_multi_segment, decode_record,
    parse_annotations, parse_header,
};
