//! WFDB import: PhysioNet's WaveForm DataBase headers, signal files and MIT annotation files.
//!
//! Everything here works on bytes the caller has read; the library never opens a file.
//! Errors name the file and the line (headers) or byte offset (signal and annotation files).

mod annotation;
mod error;
mod flac;
mod format;
mod header;
mod multi;
mod signal;

pub use annotation::{Annotation, AnnotationCode, parse_annotations};
pub use error::{AnnotationProblem, HeaderProblem, SegmentProblem, SignalProblem, WfdbError};
pub use format::SignalFormat;
pub use header::{BaseDate, BaseTime, Header, RecordLine, Segment, SignalSpec, parse_header};
pub use multi::decode_multi_segment;
pub use signal::{DecodedSignal, Record, decode_file, decode_record};
