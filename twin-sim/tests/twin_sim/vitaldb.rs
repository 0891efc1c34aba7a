//! VitalDB `.vital` files against what the vitaldb Python library (an independent reader)
//! reads from the same files (`data/vitaldb/`): every track, record, time and value; the
//! stage the twin makes from them; and the errors a damaged file gets.

use std::io::Write;

use proptest::prelude::*;
use serde_json::Value;
use twin_sim::case::{EventKind, Stage};
use twin_sim::import::files::{InputFile, stage_from_files};
use twin_sim::import::vital::stage_from_vital;
use twin_sim::vital::{RecordValue, SampleFormat, TrackKind, VitalError, VitalProblem, parse_vital};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/data/vitaldb/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn gzip(content: &[u8]) -> Vec<u8> {
    let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    out.write_all(content).expect("gzip");
    out.finish().expect("gzip")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).expect("gunzip");
    out
}

#[test]
fn every_track_reads_as_the_vitaldb_library_reads_it() {
    let expected: Value = serde_json::from_slice(&fixture("expected.json")).expect("expected.json");
    for file in ["case.vital", "case-unpacked.vital"] {
        let want = &expected[file];
        let got = parse_vital(file, &fixture(file)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i64::from(got.utc_minus_local_min), want["dgmt"].as_i64().expect("dgmt"), "{file}");
        let want_tracks = want["tracks"].as_array().expect("tracks");
        let mut names: Vec<String> = got.tracks.iter().map(|t| t.full_name()).collect();
        let mut want_names: Vec<String> =
            want_tracks.iter().map(|t| t["name"].as_str().expect("name").to_owned()).collect();
        names.sort();
        want_names.sort();
        assert_eq!(names, want_names, "{file}");
        for w in want_tracks {
            let name = w["name"].as_str().expect("name");
            let t = got.tracks.iter().find(|t| t.full_name() == name).expect("track");
            let kind = match w["type"].as_u64() {
                Some(1) => TrackKind::Wave,
                Some(2) => TrackKind::Numeric,
                _ => TrackKind::Text,
            };
            assert_eq!(t.kind, kind, "{file} {name}");
            assert_eq!(
                (t.unit.as_str(), f64::from(t.rate_hz)),
                (w["unit"].as_str().expect("unit"), w["srate"].as_f64().expect("srate"))
            );
            assert_eq!(
                (t.gain, t.offset),
                (w["gain"].as_f64().expect("gain"), w["offset"].as_f64().expect("offset")),
                "{name}"
            );
            assert_eq!(f64::from(t.display_max), w["maxdisp"].as_f64().expect("maxdisp"), "{name}");
            let recs = w["recs"].as_array().expect("recs");
            assert_eq!(t.records.len(), recs.len(), "{file} {name}");
            for (r, wr) in t.records.iter().zip(recs) {
                assert_eq!(r.time_s, wr[0].as_f64().expect("dt"), "{file} {name}");
                match (&r.value, &wr[1]) {
                    (RecordValue::Number(v), Value::Number(n)) => assert_eq!(*v, n.as_f64().expect("number")),
                    (RecordValue::Text(s), Value::String(ws)) => assert_eq!(s, ws),
                    (RecordValue::Wave(v), Value::Array(ws)) => {
                        assert_eq!(v.len(), ws.len(), "{file} {name}");
                        for (i, (a, b)) in v.iter().zip(ws).enumerate() {
                            // The library hands back the stored counts; the format's missing
                            // value (and a float NaN, written as null) reads as NaN here.
                            let missing =
                                b.is_null() || (t.format == SampleFormat::I16 && b.as_f64() == Some(-32768.0));
                            if missing {
                                assert!(a.is_nan(), "{file} {name} [{i}]: {a}");
                            } else {
                                assert_eq!(*a as f32, b.as_f64().expect("sample") as f32, "{file} {name} [{i}]");
                            }
                        }
                    }
                    (a, b) => panic!("{file} {name}: {a:?} against {b}"),
                }
            }
        }
    }
}

#[test]
fn a_vital_file_becomes_a_stage_the_monitor_reads() {
    for file in ["case.vital", "case-unpacked.vital"] {
        let vital = parse_vital(file, &fixture(file)).expect("parses");
        let stage = stage_from_vital(Stage::Surgery, file, &vital).expect("stage");
        // Solar8000's names become the monitor's; waves keep their own.
        for name in ["HR", "SpO2", "ABPSys"] {
            assert!(
                stage.track(name).is_some(),
                "{file}: {name}: {:?}",
                stage.tracks.iter().map(|t| &t.name).collect::<Vec<_>>()
            );
        }
        let hr = stage.track("HR").expect("HR");
        assert_eq!((hr.times_ms[..3].to_vec(), hr.values[0]), (vec![0, 2000, 4000], Some(72.0)));
        let ecg = stage.waveform("ECG_II").expect("ECG_II");
        assert_eq!((ecg.rate_hz, ecg.samples.len()), (500.0, 3000), "{file}");
        // 2.5-4 s is the gap between the two recorded runs.
        assert!(ecg.physical(1600).is_none() && ecg.physical(1999).is_none(), "{file}");
        // Counts x gain + offset, kept to within the 16-bit quantization of the track's range.
        let raw = |i: usize| (3000.0 * (2.0 * std::f64::consts::PI * i as f64 / 83.0).sin()).trunc();
        for i in [0usize, 10, 700, 1499, 2000, 2999] {
            let want = raw(i) * 0.001 - 0.25;
            let got = ecg.physical(i).expect("a sample");
            assert!((got - want).abs() < 1e-4, "{file} ECG_II[{i}]: {got} against {want}");
        }
        assert_eq!(stage.waveform("PLETH").expect("PLETH").rate_hz, 100.0);
        let events: Vec<(u64, &str, EventKind)> =
            stage.events.iter().map(|e| (e.time_ms, e.label.as_str(), e.kind)).collect();
        assert_eq!(events, vec![(5000, "Induction", EventKind::Note), (41_000, "Incision", EventKind::Note)], "{file}");
        // 2100-01-01 00:00:00 UTC, VitalDB's shifted dates.
        let origin = stage.origin.expect("origin");
        assert_eq!(origin.date.map(|d| (d.year, d.month, d.day)), Some((2100, 1, 1)));
    }
    // Through the case upload's file picker path too.
    let bytes = fixture("case.vital");
    let got = stage_from_files(Stage::Surgery, &[InputFile { name: "case.vital", bytes: &bytes }]).expect("imports");
    assert!(got.said[0].starts_with("case.vital: VitalDB file, 2 waveforms, 3 tracks and 2 events"), "{:?}", got.said);
}

#[test]
fn damaged_files_are_refused_with_the_file_and_the_byte() {
    let content = gunzip(&fixture("case.vital"));
    // Not gzip at all.
    let e = parse_vital("x.vital", b"VITA not compressed").expect_err("not gzip");
    assert!(matches!(&e, VitalError::Gzip { file, .. } if file == "x.vital"), "{e}");
    // Gzip, but not a Vital file.
    let e = parse_vital("x.vital", &gzip(b"PK\x03\x04 a zip file")).expect_err("not vital");
    assert!(matches!(&e, VitalError::Content { offset: 0, problem: VitalProblem::NotVital, .. }), "{e}");
    // Cut inside a packet: the error names the byte where the packet ran out.
    let cut = content.len() - 100;
    let e = parse_vital("cut.vital", &gzip(&content[..cut])).expect_err("truncated");
    assert!(matches!(&e, VitalError::Content { problem: VitalProblem::Truncated { .. }, .. }), "{e}");
    assert!(e.to_string().starts_with("cut.vital: byte "), "{e}");
    // A gzip stream cut short is a gzip error that says how far it got.
    let bytes = fixture("case.vital");
    let e = parse_vital("short.vital", &bytes[..bytes.len() / 2]).expect_err("short gzip");
    assert!(matches!(&e, VitalError::Gzip { .. }), "{e}");
    // A record for a track nobody declared: 1 (record), length 16, info 10, time, track 999, value.
    let mut orphan = content[..content.len()].to_vec();
    orphan.extend_from_slice(&[1, 16, 0, 0, 0, 10, 0]);
    orphan.extend_from_slice(&4.1e9f64.to_le_bytes());
    orphan.extend_from_slice(&999u16.to_le_bytes());
    orphan.extend_from_slice(&1.0f32.to_le_bytes());
    let e = parse_vital("o.vital", &gzip(&orphan)).expect_err("undeclared");
    assert!(
        matches!(&e, VitalError::Content { offset, problem: VitalProblem::UndeclaredTrack(999), .. } if *offset == content.len() as u64 + 5),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Damaged content is an error or a file, and a file always makes a stage or an error.
    #[test]
    fn damaged_content_never_panics(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in 0usize..200) {
        let mut content = gunzip(&fixture("case-unpacked.vital"));
        for (at, value) in edits {
            let at = at % content.len();
            content[at] = value;
        }
        content.truncate(content.len().saturating_sub(cut));
        if let Ok(vital) = parse_vital("p.vital", &gzip(&content)) {
            let _ = stage_from_vital(Stage::Surgery, "p.vital", &vital);
        }
    }
}
