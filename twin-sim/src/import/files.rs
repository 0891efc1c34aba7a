//! A case stage from files already read (a browser's file picker, or the command line):
//! WFDB records (a `.hea` header with the signal files and segment headers it names), VitalDB
//! files (`.vital`), CSV tracks (`.csv`) and FHIR R4 (`.json`, `.ndjson`). A file's kind comes from its extension;
//! every error names the file and what is wrong with it.

use thiserror::Error;

use crate::case::{Case, CaseError, Stage, StageData};
use crate::import::vital::stage_from_vital;
use crate::import::{ImportError, import_fhir, merge_stage, parse_csv_tracks};
use crate::vital::{VitalError, parse_vital};
use crate::wfdb::{Header, WfdbError, decode_multi_segment, parse_header};

/// One chosen file: its name (a path's last part is used) and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct InputFile<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
}

/// Why files could not become a stage.
#[derive(Debug, Error)]
pub enum FilesError {
    #[error("{file}: {problem}")]
    File { file: String, problem: String },
    #[error(transparent)]
    Wfdb(#[from] WfdbError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error(transparent)]
    Vital(#[from] VitalError),
    #[error(
        "none of the files for the {stage} stage can be part of a case: choose a .hea header with its signal files, a VitalDB .vital, a .csv, or FHIR .json/.ndjson"
    )]
    Empty { stage: String },
}

/// A stage built from files, with a line for each file saying what it became.
#[derive(Debug)]
pub struct StageImport {
    pub stage: StageData,
    pub said: Vec<String>,
}

fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

fn extension(name: &str) -> String {
    base_name(name).rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default()
}

fn text<'a>(f: &InputFile<'a>) -> Result<&'a str, FilesError> {
    std::str::from_utf8(f.bytes).map_err(|e| FilesError::File {
        file: base_name(f.name).to_owned(),
        problem: format!("is not UTF-8 text (byte {})", e.valid_up_to()),
    })
}

/// Builds one stage from `files`: each WFDB record (its header, the segment headers and
/// signal files it names), CSV track file and FHIR file, merged as `merge_stage` merges.
/// WFDB annotation files and files a chosen header names are accepted; any other file is
/// refused by name, so nothing chosen is silently left out.
pub fn stage_from_files(stage: Stage, files: &[InputFile<'_>]) -> Result<StageImport, FilesError> {
    let by_name = |n: &str| files.iter().find(|f| base_name(f.name) == n);
    let mut headers: Vec<(String, Header)> = Vec::new();
    for f in files.iter().filter(|f| extension(f.name) == "hea") {
        let name = base_name(f.name).to_owned();
        headers.push((name.clone(), parse_header(&name, f.bytes)?));
    }
    // A header another one lists as a segment is that record's, not a record of its own.
    let segment_names: Vec<String> =
        headers.iter().flat_map(|(_, h)| h.segments.iter().map(|s| format!("{}.hea", s.name))).collect();
    let mut used: Vec<String> = Vec::new();
    let mut pieces: Vec<StageData> = Vec::new();
    let mut said = Vec::new();
    for (name, header) in headers.iter().filter(|(n, _)| !segment_names.contains(n)) {
        let mut segment_headers: Vec<(String, Header)> = Vec::new();
        for segment in header.segments.iter().filter(|s| !s.is_null()) {
            let file = format!("{}.hea", segment.name);
            let Some((_, h)) = headers.iter().find(|(n, _)| *n == file) else {
                return Err(FilesError::File {
                    file: name.clone(),
                    problem: format!("names the segment header {file}, which was not chosen: choose it too"),
                });
            };
            used.push(file.clone());
            segment_headers.push((segment.name.clone(), h.clone()));
        }
        let specs = header.signals.iter().chain(segment_headers.iter().flat_map(|(_, h)| &h.signals));
        for spec in specs.filter(|s| s.file_name != "~") {
            if by_name(&spec.file_name).is_none() {
                return Err(FilesError::File {
                    file: name.clone(),
                    problem: format!("names the signal file {}, which was not chosen: choose it too", spec.file_name),
                });
            }
            used.push(spec.file_name.clone());
        }
        let record = decode_multi_segment(
            header,
            |n| segment_headers.iter().find(|(s, _)| s == n).map(|(_, h)| h.clone()),
            |n| by_name(n).map(|f| f.bytes),
        )?;
        let data = StageData::from_record(stage, &record)?;
        said.push(format!(
            "{name}: record {}, {} waveforms and {} tracks, {:.0} s",
            record.header.record.name,
            data.waveforms.len(),
            data.tracks.len(),
            record.duration_seconds()
        ));
        pieces.push(data);
    }
    for f in files {
        let name = base_name(f.name);
        match extension(name).as_str() {
            "hea" => {}
            "csv" => {
                let tracks = parse_csv_tracks(name, text(f)?)?;
                said.push(format!(
                    "{name}: {} tracks of {} rows",
                    tracks.len(),
                    tracks.first().map_or(0, |t| t.times_ms.len())
                ));
                let mut data = StageData::new(stage);
                data.tracks = tracks;
                pieces.push(data);
            }
            "vital" => {
                let vital = parse_vital(name, f.bytes)?;
                let data = stage_from_vital(stage, name, &vital)?;
                said.push(format!(
                    "{name}: VitalDB file, {} waveforms, {} tracks and {} events, {:.0} s",
                    data.waveforms.len(),
                    data.tracks.len(),
                    data.events.len(),
                    data.duration_ms() as f64 / 1000.0
                ));
                pieces.push(data);
            }
            "json" | "ndjson" => {
                let got = import_fhir(name, text(f)?, stage)?;
                said.push(format!(
                    "{name}: {} encounters, {} conditions, {} procedures, {} observations",
                    got.encounters, got.conditions, got.procedures, got.observations
                ));
                for (kind, n) in &got.ignored {
                    said.push(format!("{name}: left out {n} {kind} resources (not used by the twin)"));
                }
                for (line, kind) in &got.untimed {
                    said.push(format!("{name}: left out the {kind} on line {line}: it has no time"));
                }
                pieces.push(got.stage);
            }
            "atr" | "qrs" | "ecg" | "ann" if !used.iter().any(|u| u == name) => {
                said.push(format!("{name}: annotations, not part of a case (left out)"));
            }
            _ if used.iter().any(|u| u == name) => {}
            other => {
                return Err(FilesError::File {
                    file: name.to_owned(),
                    problem: if other.is_empty() {
                        "has no extension; a case is made from .hea (with its signal files), .vital, .csv, .json or .ndjson"
                            .to_owned()
                    } else {
                        format!(
                            "is a .{other} file no chosen header names; a case is made from .hea (with its signal files), .vital, .csv, .json or .ndjson"
                        )
                    },
                });
            }
        }
    }
    if pieces.is_empty() {
        return Err(FilesError::Empty { stage: stage.human().to_owned() });
    }
    let mut case = Case { id: String::new(), stages: Vec::new() };
    // Waveforms cannot be shifted in time: pieces with waveforms go first.
    pieces.sort_by_key(|p| p.waveforms.is_empty());
    for p in pieces {
        merge_stage(&mut case, p)?;
    }
    let stage = case.stages.pop().ok_or(FilesError::Empty { stage: stage.human().to_owned() })?;
    Ok(StageImport { stage, said })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/physionet/mitdb-100");

    fn mitdb() -> Option<Vec<(String, Vec<u8>)>> {
        let files: Vec<_> = ["100.hea", "100.dat", "100.atr"]
            .iter()
            .map(|n| std::fs::read(format!("{SHARED}/{n}")).ok().map(|b| (n.to_string(), b)))
            .collect::<Option<_>>()?;
        Some(files)
    }

    #[test]
    fn a_wfdb_record_with_its_files_becomes_a_stage() {
        let Some(files) = mitdb() else {
            eprintln!("skipped: no data (../shared/data/physionet/mitdb-100 is missing)");
            return;
        };
        let input: Vec<InputFile> = files.iter().map(|(n, b)| InputFile { name: n, bytes: b }).collect();
        let got = stage_from_files(Stage::Surgery, &input).unwrap();
        assert_eq!(got.stage.waveforms.len(), 2, "{:?}", got.said);
        assert!(got.said.iter().any(|s| s.starts_with("100.hea: record 100")), "{:?}", got.said);
        assert!(got.said.iter().any(|s| s.contains("100.atr") && s.contains("left out")), "{:?}", got.said);
        // As a case it writes, anchors and verifies like any (and fits the node's blob limit).
        let mut case = Case { id: "mitdb-100".into(), stages: vec![] };
        merge_stage(&mut case, got.stage).unwrap();
        let text = crate::casefile::write_case(&case).unwrap();
        assert!(text.len() < 16 << 20, "the case file is {} bytes", text.len());
        let anchors = crate::verify::anchors_for(&case).unwrap();
        assert!(crate::verify::verify_case(&case, &anchors).unwrap().all_verified());
        eprintln!("mitdb-100: case file {} bytes, {} anchors", text.len(), anchors.len());
        // Without its signal file the header is refused, by name.
        let err = stage_from_files(Stage::Surgery, &input[..1]).unwrap_err().to_string();
        assert!(err.contains("100.hea") && err.contains("100.dat") && err.contains("not chosen"), "{err}");
        // A file of unknown kind is named.
        let extra = [input[0], input[1], InputFile { name: "notes.docx", bytes: b"x" }];
        let err = stage_from_files(Stage::Surgery, &extra).unwrap_err().to_string();
        assert!(err.starts_with("notes.docx:"), "{err}");
    }

    #[test]
    fn records_in_every_signal_format_become_stages() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/wfdb-formats");
        for (record, data) in [("fmt80", "fmt80.dat"), ("fmt310", "fmt310.dat"), ("fmt524", "fmt524.flac")] {
            let read = |n: &str| std::fs::read(format!("{dir}/{n}")).unwrap_or_else(|e| panic!("{n}: {e}"));
            let (header, bytes) = (read(&format!("{record}.hea")), read(data));
            let name = format!("{record}.hea");
            let input = [InputFile { name: &name, bytes: &header }, InputFile { name: data, bytes: &bytes }];
            let got = stage_from_files(Stage::Surgery, &input).unwrap_or_else(|e| panic!("{record}: {e}"));
            assert_eq!(got.stage.waveforms.len(), 2, "{record}: {:?}", got.said);
            // 24-bit samples are requantized to the case's 16 bits and keep their physical scale:
            // the fixture's second sample is the largest, 2^23 - 1 adu at 200 adu/mV.
            if record == "fmt524" {
                let (top, want) = (got.stage.waveforms[0].physical(1).expect("a sample"), 8_388_607.0 / 200.0);
                assert!((top - want).abs() <= want / 30_000.0, "{top} mV against {want}");
            }
            // A damaged signal file is refused by its name and a byte offset.
            let cut = [input[0], InputFile { name: data, bytes: &bytes[..bytes.len() / 3] }];
            let err = stage_from_files(Stage::Surgery, &cut).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{data}: byte ")), "{err}");
        }
    }

    #[test]
    fn csv_and_fhir_files_become_tracks_and_events() {
        let csv = b"time_s,HR[bpm]\n0,80\n60,82\n";
        let fhir = br#"{"resourceType":"Observation","effectiveDateTime":"2020-01-01T10:00:00Z","code":{"text":"Heart rate"},"valueQuantity":{"value":80,"unit":"/min"}}"#;
        let input = [InputFile { name: "dir/hr.csv", bytes: csv }, InputFile { name: "obs.json", bytes: fhir }];
        let got = stage_from_files(Stage::PreHospital, &input).unwrap();
        assert!(got.stage.track("HR").is_some(), "{:?}", got.said);
        assert_eq!(got.said.len(), 2);
        let bad = [InputFile { name: "hr.csv", bytes: b"time_s,HR\n0,eighty\n" }];
        let err = stage_from_files(Stage::PreHospital, &bad).unwrap_err().to_string();
        assert!(err.starts_with("hr.csv:2"), "{err}");
        let binary = [InputFile { name: "x.csv", bytes: &[0xff, 0xfe, 0x00] }];
        assert!(stage_from_files(Stage::PreHospital, &binary).unwrap_err().to_string().contains("not UTF-8"));
        assert!(matches!(stage_from_files(Stage::PreHospital, &[]), Err(FilesError::Empty { .. })));
    }
}
