//! Tests of the FHIR and CSV importers and the case file: the Synthea demo patient, errors
//! that name their line, property tests that the parsers never panic, and lossless round
//! trips of cases whose segment hashes stay the same.

use proptest::prelude::*;
use twin_sim::case::{Case, Event, EventKind, GAP, Stage, StageData, Track, Waveform};
use twin_sim::casefile::{CaseFileError, read_case, segment_ms_for, write_case};
use twin_sim::import::{ImportError, import_fhir, merge_stage, parse_csv_tracks};
use twin_sim::{decode_record, parse_header};

fn synthea() -> String {
    let path = format!("{}/../static/demo/synthea-patient-a4a401d1.ndjson", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn hashes(case: &Case) -> Vec<Vec<twin_sim::case::StreamHashes>> {
    case.stages.iter().map(|s| s.stream_hashes(segment_ms_for(s)).expect("hashes")).collect()
}

#[test]
fn synthea_patient_becomes_time_ordered_diagnosis_events() {
    let got = import_fhir("a4a401d1.ndjson", &synthea(), Stage::Diagnosis).expect("imports");
    assert_eq!((got.encounters, got.conditions, got.procedures, got.observations), (44, 34, 86, 0));
    assert_eq!(got.patient_id.as_deref(), Some("a4a401d1-a46a-eb4a-8a38-760d5d79d6ec"));
    assert!(got.untimed.is_empty() && got.ignored.is_empty(), "{:?} {:?}", got.untimed, got.ignored);
    let events = &got.stage.events;
    assert_eq!(events.len(), 44 + 34 + 86);
    assert!(events.windows(2).all(|w| w[0].time_ms <= w[1].time_ms), "events are time-ordered");
    assert_eq!(events[0].time_ms, 0, "the earliest resource is the origin");
    let count = |k: EventKind| events.iter().filter(|e| e.kind == k).count();
    assert_eq!((count(EventKind::Arrival), count(EventKind::Diagnosis), count(EventKind::Procedure)), (44, 34, 86));
    assert_eq!(count(EventKind::Note), 0, "procedures are events of their own kind");
    // A Condition keeps its SNOMED code and its text; its time is its onset.
    let strep = events.iter().find(|e| e.label == "Streptococcal sore throat (disorder)").expect("strep throat");
    assert_eq!((strep.kind, strep.code.as_deref()), (EventKind::Diagnosis, Some("SNOMED:43878008")));
    let origin = got.origin_epoch_ms.expect("timed");
    let onset = twin_sim::import::fhir::parse_date_time("2015-03-24T02:54:55-04:00").expect("date");
    assert!(
        events.iter().any(|e| e.code.as_deref() == Some("SNOMED:43878008") && e.time_ms == (onset - origin) as u64)
    );
    assert!(
        events
            .iter()
            .filter(|e| e.kind == EventKind::Diagnosis)
            .all(|e| e.code.as_deref().is_some_and(|c| c.starts_with("SNOMED:")))
    );
    // The earliest resource is the encounter of 1999-12-28T14:54:55-05:00, 19:54:55 UTC.
    let o = got.stage.origin.expect("origin");
    let (d, t) = (o.date.expect("date"), o.time.expect("time"));
    assert_eq!((d.year, d.month, d.day, t.hours, t.minutes, t.seconds), (1999, 12, 28, 19, 54, 55));
}

#[test]
fn a_malformed_ndjson_line_is_rejected_by_its_line_number() {
    let text = synthea();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[49] = r#"{"resourceType": "Condition", "code": "#;
    let e = import_fhir("p.ndjson", &lines.join("\n"), Stage::Diagnosis).expect_err("malformed");
    assert!(matches!(&e, ImportError::Fhir { file, line: 50, .. } if file == "p.ndjson"), "{e}");
    assert!(e.to_string().starts_with("p.ndjson:50: "), "{e}");
    // Valid JSON with a date that does not exist is named by its line too.
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let at = lines.iter().position(|l| l.contains("\"onsetDateTime\":\"")).expect("a condition");
    lines[at] = lines[at].replacen("\"onsetDateTime\":\"20", "\"onsetDateTime\":\"x0", 1);
    let e = import_fhir("p.ndjson", &lines.join("\n"), Stage::Diagnosis).expect_err("bad date");
    assert!(matches!(&e, ImportError::Fhir { line, .. } if *line == at as u64 + 1), "{e}");
    assert!(e.to_string().contains("onsetDateTime"), "{e}");
    // Something that is JSON but not a resource.
    let e = import_fhir("p.ndjson", "{\"resourceType\":\"Patient\"}\n\n[1, 2]\n", Stage::Diagnosis)
        .expect_err("no resource");
    assert!(matches!(e, ImportError::Fhir { line: 3, .. }), "{e}");
}

#[test]
fn a_bundle_with_numeric_observations_gives_tracks_and_events() {
    let bundle = r#"{
      "resourceType": "Bundle", "type": "collection",
      "entry": [
        {"resource": {"resourceType": "Observation", "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
          "effectiveDateTime": "2020-05-01T10:05:00Z", "valueQuantity": {"value": 88, "unit": "/min"}}},
        {"resource": {"resourceType": "Observation", "code": {"text": "Blood pressure panel"},
          "effectiveDateTime": "2020-05-01T10:00:00+00:00",
          "component": [
            {"code": {"text": "Systolic blood pressure"}, "valueQuantity": {"value": 121.5, "unit": "mm[Hg]"}},
            {"code": {"text": "Diastolic blood pressure"}, "valueQuantity": {"value": 79, "unit": "mm[Hg]"}}]}},
        {"resource": {"resourceType": "Observation", "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
          "effectiveDateTime": "2020-05-01T10:00:00Z", "valueQuantity": {"value": 72.5, "unit": "/min"}}},
        {"resource": {"resourceType": "Claim", "id": "x"}},
        {"resource": {"resourceType": "Procedure", "code": {"text": "no time"}}}
      ]}"#;
    let got = import_fhir("b.json", bundle, Stage::Diagnosis).expect("imports");
    assert_eq!(got.observations, 3);
    assert_eq!(got.ignored, vec![("Claim".to_owned(), 1)]);
    assert_eq!(got.untimed, vec![(1, "Procedure".to_owned())]);
    let hr = got.stage.track("Heart rate").expect("heart rate track");
    assert_eq!(
        (hr.unit.as_str(), &hr.times_ms[..], &hr.values[..]),
        ("/min", &[0, 300_000][..], &[Some(72.5), Some(88.0)][..])
    );
    let sys = got.stage.track("Systolic blood pressure").expect("systolic");
    assert_eq!((sys.unit.as_str(), sys.value_at(0)), ("mm[Hg]", Some(121.5)));
    assert!(got.stage.track("Diastolic blood pressure").is_some());
    let e = &got.stage.events;
    assert_eq!(e.iter().map(|e| e.time_ms).collect::<Vec<_>>(), vec![0, 0, 300_000]);
    assert_eq!(e[2].code.as_deref(), Some("LOINC:8867-4"));
    assert!(e.iter().all(|e| e.kind == EventKind::Observation), "{e:?}");
    assert!(e[0].label.contains("Systolic blood pressure 121.5 mm[Hg]"), "{}", e[0].label);
}

#[test]
fn csv_tracks_parse_with_gaps_and_errors_name_line_and_column() {
    let text = "# bedside export\ntime_s,HR[bpm],SpO2[%],note\n0,72,98,1\n0.5,,97.5,\n\n2.25,75,,3\n";
    let tracks = parse_csv_tracks("v.csv", text).expect("parses");
    let names: Vec<(&str, &str)> = tracks.iter().map(|t| (t.name.as_str(), t.unit.as_str())).collect();
    assert_eq!(names, [("HR", "bpm"), ("SpO2", "%"), ("note", "")]);
    assert_eq!(tracks[0].times_ms, [0, 500, 2250]);
    assert_eq!(tracks[0].values, [Some(72.0), None, Some(75.0)]);
    assert_eq!(tracks[1].values, [Some(98.0), Some(97.5), None]);
    let cases = [
        ("time_s,HR\n0,72\n1,abc\n", 3, 2),
        ("time_s,HR,SpO2\n0,72,98\n1,72\n", 3, 0),
        ("time,HR\n0,72\n", 1, 1),
        ("time_s,HR[bpm\n", 1, 2),
        ("time_s,HR,HR\n", 1, 3),
        ("time_s,HR\n1,72\n0.5,70\n", 3, 1),
        ("time_s,HR\n-1,72\n", 2, 1),
        ("time_s,HR\n0,NaN\n", 2, 2),
        ("time_s,HR\n0,inf\n", 2, 2),
        ("time_s\n", 1, 0),
        ("", 1, 0),
    ];
    for (text, line, column) in cases {
        match parse_csv_tracks("v.csv", text) {
            Err(ImportError::Csv { file, line: l, column: c, problem }) => {
                assert_eq!((file.as_str(), l, c), ("v.csv", line, column), "{text:?}: {problem}");
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }
}

fn stage_with(stage: Stage, tracks: Vec<Track>, waveforms: Vec<Waveform>, events: Vec<Event>) -> StageData {
    let mut s = StageData::new(stage);
    s.tracks = tracks;
    s.waveforms = waveforms;
    s.events = events;
    s
}

#[test]
fn case_files_round_trip_a_real_record_and_the_synthea_patient_with_the_same_hashes() {
    let dir = format!("{}/data/physionet/mitdb-100", env!("CARGO_MANIFEST_DIR"));
    let read = |n: &str| std::fs::read(format!("{dir}/{n}")).expect("record file");
    let header = parse_header("100.hea", &read("100.hea")).expect("header");
    let dat = read("100.dat");
    let record = decode_record(&header, |_| Some(dat.as_slice())).expect("decodes");
    let mut case = Case { id: "100".to_owned(), stages: vec![] };
    merge_stage(&mut case, StageData::from_record(Stage::Surgery, &record).expect("stage")).expect("merge");
    let fhir = import_fhir("p.ndjson", &synthea(), Stage::Diagnosis).expect("imports");
    merge_stage(&mut case, fhir.stage).expect("merge");
    let csv = parse_csv_tracks("v.csv", "time_s,Temp[degC]\n0,36.6\n60,\n120,37.1\n").expect("csv");
    merge_stage(&mut case, stage_with(Stage::PreHospital, csv, vec![], vec![])).expect("merge");
    assert_eq!(
        case.stages.iter().map(|s| s.stage).collect::<Vec<_>>(),
        [Stage::PreHospital, Stage::Diagnosis, Stage::Surgery]
    );

    let text = write_case(&case).expect("writes");
    // 2 × 650,000 samples of 2 bytes in base64 plus a little: no number arrays for samples.
    assert!(text.len() < 3_600_000, "{} bytes", text.len());
    let back = read_case("case.json", &text).expect("reads");
    assert_eq!(back, case);
    assert_eq!(hashes(&back), hashes(&case));
    assert_eq!(write_case(&back).expect("writes"), text, "writing is deterministic");
}

#[test]
fn case_files_reject_tampering_other_versions_and_damage_by_place() {
    let events = vec![Event { time_ms: 5, kind: EventKind::Incision, label: "skin".into(), code: None }];
    let case = Case { id: "c".into(), stages: vec![stage_with(Stage::Surgery, vec![], vec![], events)] };
    let text = write_case(&case).expect("writes");
    let tampered = text.replace("\"skin\"", "\"bone\"");
    assert!(
        matches!(read_case("c.json", &tampered), Err(CaseFileError::RootMismatch { stream, .. }) if stream == "events")
    );
    let v1 = text.replace("\"version\":2", "\"version\":1");
    assert!(matches!(read_case("c.json", &v1), Err(CaseFileError::Version { version: 1, .. })));
    let bad_kind = text.replace("\"incision\"", "\"surgery\"");
    let e = read_case("c.json", &bad_kind).expect_err("unknown kind");
    assert!(e.to_string().contains("stages[0].events[0]"), "{e}");
    let e = read_case("c.json", &text[..text.len() / 2]).expect_err("cut short");
    assert!(matches!(e, CaseFileError::Json { line: 1, .. }), "{e}");
    // Without roots a hand-edited file is read unchecked.
    let start = tampered.find(",\"roots\"").expect("roots");
    let end = tampered[start..].find("]]}").expect("end of roots") + start + 3;
    let unchecked = format!("{}{}", &tampered[..start], &tampered[end..]);
    assert_eq!(read_case("c.json", &unchecked).expect("reads").stages[0].events[0].label, "bone");
}

#[test]
fn merging_aligns_timed_stages_and_refuses_duplicate_names() {
    let bundle = |t: &str| format!(r#"{{"resourceType":"Encounter","period":{{"start":"{t}"}}}}"#);
    let mut case = Case { id: "m".into(), stages: vec![] };
    merge_stage(&mut case, import_fhir("a", &bundle("2020-01-01T00:01:00Z"), Stage::Diagnosis).expect("a").stage)
        .expect("a");
    merge_stage(&mut case, import_fhir("b", &bundle("2020-01-01T00:00:00Z"), Stage::Diagnosis).expect("b").stage)
        .expect("b");
    let times: Vec<u64> = case.stages[0].events.iter().map(|e| e.time_ms).collect();
    assert_eq!(times, [0, 60_000], "the earlier import becomes the origin");
    let track = || parse_csv_tracks("v.csv", "time_s,HR\n0,1\n").expect("csv");
    merge_stage(&mut case, stage_with(Stage::Diagnosis, track(), vec![], vec![])).expect("first HR");
    let e = merge_stage(&mut case, stage_with(Stage::Diagnosis, track(), vec![], vec![])).expect_err("second HR");
    assert!(matches!(e, ImportError::DuplicateStream { name, .. } if name == "HR"));
}

fn arb_stage() -> impl Strategy<Value = StageData> {
    let track = (
        "[A-Za-z]{1,6}",
        "[a-z%]{0,3}",
        prop::collection::vec((0u64..10_000_000, prop::option::of(any::<u32>().prop_map(f32::from_bits))), 0..20),
    )
        .prop_map(|(name, unit, mut points)| {
            points.sort_by_key(|p| p.0);
            Track {
                name,
                unit,
                times_ms: points.iter().map(|p| p.0).collect(),
                values: points.iter().map(|p| p.1).collect(),
            }
        });
    let wave = ("[A-Za-z]{1,6}", 1u32..1000, any::<u64>(), any::<i32>(), prop::collection::vec(any::<i16>(), 0..300))
        .prop_map(|(name, rate, gain_bits, baseline, samples)| Waveform {
            name: format!("w{name}"),
            unit: "mV".into(),
            rate_hz: f64::from(rate) / 4.0,
            gain: f64::from_bits(gain_bits),
            baseline,
            samples,
        });
    let event = (0u64..u64::MAX / 2, 0usize..11, ".{0,12}", prop::option::of("[A-Z0-9:|.]{0,10}"))
        .prop_map(|(time_ms, k, label, code)| Event { time_ms, kind: twin_sim::casefile::EVENT_KINDS[k], label, code });
    (
        prop::sample::select(Stage::ALL.to_vec()),
        prop::collection::vec(track, 0..3),
        prop::collection::vec(wave, 0..3),
        prop::collection::vec(event, 0..5),
    )
        .prop_map(|(stage, mut tracks, waveforms, events)| {
            tracks.iter_mut().enumerate().for_each(|(i, t)| t.name = format!("t{i}{}", t.name));
            stage_with(
                stage,
                tracks,
                waveforms
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut w)| {
                        w.name = format!("{}{i}", w.name);
                        w
                    })
                    .collect(),
                events,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_case_round_trips_bit_for_bit_with_the_same_hashes(stage in arb_stage(), id in ".{0,8}") {
        let case = Case { id, stages: vec![stage] };
        let text = write_case(&case).expect("writes");
        let back = read_case("p.json", &text).expect("reads");
        // Compare through bits: NaN != NaN, but the file must keep NaN payloads too.
        prop_assert_eq!(format!("{:?}", bits(&back)), format!("{:?}", bits(&case)));
        prop_assert_eq!(hashes(&back), hashes(&case));
    }

    #[test]
    fn csv_never_panics_on_random_text(text in "(time_s|[0-9.,\\-\\[\\]a-z#\n ]|NaN|inf|\u{feff}){0,80}") {
        let _ = parse_csv_tracks("r.csv", &text);
    }

    #[test]
    fn csv_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_csv_tracks("r.csv", &String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn csv_reads_back_any_grid_it_is_given(rows in prop::collection::vec(prop::collection::vec(prop::option::of(-1e6f32..1e6), 2), 0..20)) {
        let mut text = "time_s,a[u],b\n".to_owned();
        for (i, r) in rows.iter().enumerate() {
            let cell = |v: &Option<f32>| v.map(|v| v.to_string()).unwrap_or_default();
            text.push_str(&format!("{}.5,{},{}\n", i, cell(&r[0]), cell(&r[1])));
        }
        let tracks = parse_csv_tracks("g.csv", &text).expect("well-formed");
        for (c, t) in tracks.iter().enumerate() {
            prop_assert_eq!(t.times_ms.clone(), (0..rows.len() as u64).map(|i| i * 1000 + 500).collect::<Vec<_>>());
            prop_assert_eq!(t.values.clone(), rows.iter().map(|r| r[c]).collect::<Vec<_>>());
        }
    }

    #[test]
    fn fhir_never_panics_on_damaged_input(cut in 0usize..4000, byte in any::<u8>(), at in 0usize..4000) {
        let text = synthea();
        let mut bytes = text.as_bytes()[..cut.min(text.len())].to_vec();
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] = byte;
        }
        let _ = import_fhir("d.ndjson", &String::from_utf8_lossy(&bytes), Stage::Diagnosis);
    }

    #[test]
    fn case_file_reading_never_panics_on_damage(at in 0usize..2000, byte in any::<u8>()) {
        let events = vec![Event { time_ms: 5, kind: EventKind::Alarm, label: "a".into(), code: Some("x".into()) }];
        let w = Waveform { name: "II".into(), unit: "mV".into(), rate_hz: 250.0, gain: 200.0, baseline: 0, samples: vec![1, GAP, 3] };
        let case = Case { id: "c".into(), stages: vec![stage_with(Stage::Surgery, vec![], vec![w], events)] };
        let mut bytes = write_case(&case).expect("writes").into_bytes();
        let i = at % bytes.len();
        bytes[i] = byte;
        let _ = read_case("d.json", &String::from_utf8_lossy(&bytes));
    }
}

/// One stage with its floats as bits: tracks, waveforms, events.
type StageBits = (Vec<(String, Vec<u64>, Vec<Option<u32>>)>, Vec<(String, u64, u64, i32, Vec<i16>)>, Vec<Event>);

/// A case with every float replaced by its bits, for comparisons that NaN does not spoil.
fn bits(case: &Case) -> Vec<StageBits> {
    case.stages
        .iter()
        .map(|s| {
            (
                s.tracks
                    .iter()
                    .map(|t| {
                        (t.name.clone(), t.times_ms.clone(), t.values.iter().map(|v| v.map(f32::to_bits)).collect())
                    })
                    .collect(),
                s.waveforms
                    .iter()
                    .map(|w| (w.name.clone(), w.rate_hz.to_bits(), w.gain.to_bits(), w.baseline, w.samples.clone()))
                    .collect(),
                s.events.clone(),
            )
        })
        .collect()
}
