//! The demo case: one patient's three stages built from real public data, as the node's
//! demo seed stores and anchors it and the viewer replays it.
//!
//! - pre-hospital: the first hour of the MIMIC II numerics of subject s00001 (minute
//!   trends: HR, blood pressures, SpO2, respiration, ...);
//! - diagnosis: the Synthea patient's encounters, conditions, procedures and observations;
//! - surgery: MIMIC database record 03700181 (ECG, ABP and respiration waveforms).
//!
//! The library takes the files' bytes (the caller reads or embeds them) and returns the
//! case; [`ATTRIBUTION`] says where each stage comes from and under which licence.

use thiserror::Error;

use crate::case::{Case, CaseError, Stage, StageData};
use crate::import::{ImportError, import_fhir, merge_stage};
use crate::wfdb::{WfdbError, decode_record, parse_header};

/// How much of the (32-hour) numerics record the pre-hospital stage keeps.
pub const PRE_HOSPITAL_MS: u64 = 60 * 60 * 1000;

/// The demo case's id (also its title in the viewer).
pub const DEMO_CASE_ID: &str = "demo-surgical-case";

/// Where the demo case's data comes from, one line per stage.
pub const ATTRIBUTION: &str = "Pre-hospital: MIMIC II numerics s00001 (PhysioNet, ODC-By 1.0). \
Diagnosis: Synthea synthetic patient a4a401d1 (Apache-2.0). \
Surgery: MIMIC database record 03700181 (PhysioNet, ODC-By 1.0).";

/// The source files of the demo case, as bytes.
#[derive(Debug, Clone, Copy)]
pub struct DemoSources<'a> {
    /// `s00001-2896-10-10-00-31n.hea` and its signal file `3975656n.dat`.
    pub numerics_header: &'a [u8],
    pub numerics_signals: &'a [u8],
    /// `03700181.hea` and `03700181.dat`.
    pub surgery_header: &'a [u8],
    pub surgery_signals: &'a [u8],
    /// The Synthea patient as FHIR NDJSON.
    pub synthea: &'a str,
}

/// What went wrong building the demo case.
#[derive(Debug, Error)]
pub enum DemoError {
    #[error(transparent)]
    Wfdb(#[from] WfdbError),
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("the record {0} names a signal file the demo sources do not hold")]
    MissingFile(String),
}

/// Builds the demo case from its sources.
pub fn demo_case(src: &DemoSources<'_>) -> Result<Case, DemoError> {
    let mut case = Case { id: DEMO_CASE_ID.to_owned(), stages: Vec::new() };
    let mut pre = wfdb_stage(Stage::PreHospital, "s00001.hea", src.numerics_header, src.numerics_signals)?;
    trim(&mut pre, PRE_HOSPITAL_MS);
    merge_stage(&mut case, pre)?;
    merge_stage(&mut case, import_fhir("synthea.ndjson", src.synthea, Stage::Diagnosis)?.stage)?;
    merge_stage(&mut case, wfdb_stage(Stage::Surgery, "03700181.hea", src.surgery_header, src.surgery_signals)?)?;
    Ok(case)
}

/// One stage from a single-segment WFDB record whose signals are all in one file.
fn wfdb_stage(stage: Stage, name: &str, header: &[u8], signals: &[u8]) -> Result<StageData, DemoError> {
    let header = parse_header(name, header)?;
    let file = header.signals.first().map(|s| s.file_name.clone()).unwrap_or_default();
    if header.signals.iter().any(|s| s.file_name != file) {
        return Err(DemoError::MissingFile(name.to_owned()));
    }
    let record = decode_record(&header, |f| (f == file).then_some(signals))?;
    Ok(StageData::from_record(stage, &record)?)
}

/// Keeps what falls in the stage's first `ms` milliseconds (tracks and events; waveforms
/// are left whole).
fn trim(stage: &mut StageData, ms: u64) {
    for t in &mut stage.tracks {
        let keep = t.times_ms.partition_point(|&x| x < ms);
        t.times_ms.truncate(keep);
        t.values.truncate(keep);
    }
    stage.events.retain(|e| e.time_ms < ms);
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/physionet");

    fn read(path: &str) -> Vec<u8> {
        std::fs::read(format!("{DATA}/{path}")).unwrap()
    }

    #[test]
    fn the_demo_case_has_three_real_stages_and_a_modest_number_of_anchors() {
        let (nh, ns) =
            (read("mimic-numerics-s00001/s00001-2896-10-10-00-31n.hea"), read("mimic-numerics-s00001/3975656n.dat"));
        let (sh, ss) = (read("mimicdb-037/03700181.hea"), read("mimicdb-037/03700181.dat"));
        let synthea = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../static/demo/synthea-patient-a4a401d1.ndjson"
        ))
        .unwrap();
        let src = DemoSources {
            numerics_header: &nh,
            numerics_signals: &ns,
            surgery_header: &sh,
            surgery_signals: &ss,
            synthea: &synthea,
        };
        let case = demo_case(&src).unwrap();
        let stages: Vec<Stage> = case.stages.iter().map(|s| s.stage).collect();
        assert_eq!(stages, [Stage::PreHospital, Stage::Diagnosis, Stage::Surgery]);
        let pre = case.stage(Stage::PreHospital).unwrap();
        assert!(pre.track("HR").is_some() && pre.duration_ms() <= PRE_HOSPITAL_MS, "{}", pre.duration_ms());
        assert!(case.stage(Stage::Diagnosis).unwrap().events.len() > 10);
        let surgery = case.stage(Stage::Surgery).unwrap();
        assert!(surgery.waveform("ABP").is_some() && surgery.duration_ms() == 600_000);
        let anchors = crate::verify::anchors_for(&case).unwrap();
        assert!((100..3000).contains(&anchors.len()), "{} anchors", anchors.len());
        assert!(crate::verify::verify_case(&case, &anchors).unwrap().all_verified());
        // Deterministic: the same sources give the same case file.
        let again = demo_case(&src).unwrap();
        assert_eq!(crate::casefile::write_case(&case).unwrap(), crate::casefile::write_case(&again).unwrap());
    }
}
