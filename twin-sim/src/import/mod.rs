//! Importers that turn clinical data other than WFDB records into case stages: FHIR R4
//! resources (Synthea NDJSON, Bundles) and CSV numeric tracks; and the merge of an imported
//! stage into a case; and a whole stage from chosen files of any of these kinds (`files`).
//! Every importer takes bytes or text already read and a file name for its errors.

pub mod csv;
pub mod fhir;
pub mod files;
pub mod vital;

use thiserror::Error;

use crate::case::{Case, Origin, StageData};
use crate::wfdb::{BaseDate, BaseTime};

pub use csv::parse_csv_tracks;
pub use fhir::{FhirImport, import_fhir};

/// Why an import failed; every variant names the file and the place in it.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ImportError {
    /// Text that is not JSON, or a FHIR resource that cannot be read.
    #[error("{file}:{line}: {problem}")]
    Fhir { file: String, line: u64, problem: String },
    /// A CSV line or field that cannot be read (`column` counts fields from 1; 0 is the line).
    #[error("{file}:{line}: column {column}: {problem}")]
    Csv { file: String, line: u64, column: u64, problem: String },
    /// A merge that would have to move a waveform in time (waveforms cannot be shifted
    /// without resampling): the stage with waveforms must start first.
    #[error("stage {stage}: the merged data starts {ms} ms before the waveforms; import it first")]
    WaveformShift { stage: String, ms: u64 },
    /// Two streams of the same name in one stage after a merge.
    #[error("stage {stage}: a stream named {name:?} already exists")]
    DuplicateStream { stage: String, name: String },
}

/// Milliseconds since 1970-01-01T00:00:00Z of a civil UTC date and time (proleptic
/// Gregorian; negative before 1970).
pub fn epoch_ms(year: i64, month: u32, day: u32, ms_of_day: i64) -> i64 {
    days_from_civil(year, month, day) * 86_400_000 + ms_of_day
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil UTC date and time of an instant in epoch milliseconds.
pub fn origin_from_epoch_ms(ms: i64) -> Origin {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = u32::try_from(year).ok().map(|year| BaseDate { day, month, year });
    let time = BaseTime {
        hours: (in_day / 3_600_000) as u32,
        minutes: (in_day / 60_000 % 60) as u32,
        seconds: (in_day / 1000 % 60) as u32,
        millis: (in_day % 1000) as u32,
    };
    Origin { date, time: Some(time) }
}

/// The instant of a stage's origin in epoch milliseconds, when it has both date and time.
pub fn origin_epoch_ms(origin: &Origin) -> Option<i64> {
    let (d, t) = (origin.date?, origin.time?);
    let ms_of_day = (t.seconds_of_day() * 1000.0).round() as i64;
    Some(epoch_ms(i64::from(d.year), d.month, d.day, ms_of_day))
}

/// Adds `stage` to `case`: a stage the case lacks is inserted (stages stay in stage order);
/// otherwise its streams and events join the existing stage. When both stages have a full
/// origin (date and time) the later one is shifted so both share the earlier origin;
/// otherwise both start at 0. Stream names must stay unique within a stage, and a stage with
/// waveforms cannot be shifted.
pub fn merge_stage(case: &mut Case, mut stage: StageData) -> Result<(), ImportError> {
    let Some(existing) = case.stages.iter_mut().find(|s| s.stage == stage.stage) else {
        let at = case.stages.partition_point(|s| s.stage < stage.stage);
        case.stages.insert(at, stage);
        return Ok(());
    };
    let names: Vec<&String> =
        existing.waveforms.iter().map(|w| &w.name).chain(existing.tracks.iter().map(|t| &t.name)).collect();
    for name in stage.waveforms.iter().map(|w| &w.name).chain(stage.tracks.iter().map(|t| &t.name)) {
        if names.contains(&name) || name == crate::case::EVENTS_STREAM {
            return Err(ImportError::DuplicateStream { stage: existing.stage.human().to_owned(), name: name.clone() });
        }
    }
    let a = existing.origin.as_ref().and_then(origin_epoch_ms);
    let b = stage.origin.as_ref().and_then(origin_epoch_ms);
    if let (Some(a), Some(b)) = (a, b) {
        let shift = b.abs_diff(a);
        let moving = if b < a { &*existing } else { &stage };
        if shift > 0 && !moving.waveforms.is_empty() {
            return Err(ImportError::WaveformShift { stage: existing.stage.human().to_owned(), ms: shift });
        }
        if b < a {
            shift_stage(existing, shift);
            existing.origin = stage.origin;
        } else {
            shift_stage(&mut stage, shift);
        }
    } else if existing.origin.is_none() {
        existing.origin = stage.origin;
    }
    existing.waveforms.append(&mut stage.waveforms);
    existing.tracks.append(&mut stage.tracks);
    existing.events.append(&mut stage.events);
    existing.events.sort_by_key(|e| e.time_ms);
    Ok(())
}

/// Moves every track point and event of a stage `ms` later (the caller checked that it has
/// no waveforms).
fn shift_stage(stage: &mut StageData, ms: u64) {
    for t in &mut stage.tracks {
        for time in &mut t.times_ms {
            *time = time.saturating_add(ms);
        }
    }
    for e in &mut stage.events {
        e.time_ms = e.time_ms.saturating_add(ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip_through_epoch_milliseconds() {
        assert_eq!(epoch_ms(1970, 1, 1, 0), 0);
        assert_eq!(epoch_ms(2000, 3, 1, 0), 951_868_800_000);
        for ms in [0_i64, 951_868_800_123, 1_420_573_695_000, -86_400_000, 4_102_444_799_999] {
            let o = origin_from_epoch_ms(ms);
            assert_eq!(origin_epoch_ms(&o), Some(ms), "{o:?}");
        }
    }
}
