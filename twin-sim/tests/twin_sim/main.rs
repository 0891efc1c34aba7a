//! Integration tests of twin-sim on real PhysioNet data (copied into `data/physionet/`) and
//! property tests that the importers never panic on random or damaged bytes.
#![cfg(not(target_arch = "wasm32"))]

// The importers and case files, and the scenarios, in modules of this one test binary.
mod alarm_cases;
mod cli;
mod import;
mod multi_segment;
mod qrs_robustness;
mod scenarios;
mod validation;
mod vitaldb;
mod waveforms;
mod wfdb_formats;

use twin_sim::wfdb::{BaseDate, BaseTime};
use twin_sim::{
    AnnotationCode, QrsConfig, QrsDetector, Record, SignalFormat, WfdbError, decode_record, evaluate_beats,
    heart_rate_bpm, parse_annotations, parse_header,
};

fn data(path: &str) -> Vec<u8> {
    let full = format!("{}/data/physionet/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn load(dir: &str, header: &str) -> Record {
    let header = parse_header(header, &data(&format!("{dir}/{header}"))).expect("header parses");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for s in &header.signals {
        if !files.iter().any(|(n, _)| *n == s.file_name) {
            files.push((s.file_name.clone(), data(&format!("{dir}/{}", s.file_name))));
        }
    }
    decode_record(&header, |n| files.iter().find(|(f, _)| f == n).map(|(_, b)| b.as_slice())).expect("decodes")
}

#[test]
fn mitdb_100_decodes_to_the_published_first_samples() {
    let record = load("mitdb-100", "100.hea");
    assert_eq!(record.header.comments, vec!["unnecessary comment", "69 M 1085 1629 x1", "Aldomet, Inderal"]);
    assert_eq!((record.frames, record.header.record.frequency), (650_000, 360.0));
    let [mlii, v5] = &record.signals[..] else { panic!("two signals") };
    assert_eq!(mlii.spec.description, "MLII");
    assert_eq!(mlii.samples[..10], [995, 995, 995, 995, 995, 995, 995, 995, 1000, 997]);
    assert_eq!(v5.samples[..3], [1011, 1011, 1011]);
    for s in [mlii, v5] {
        assert_eq!(s.samples.len(), 650_000);
        assert_eq!(s.checksum_matches(), Some(true), "{}", s.spec.description);
        assert_eq!(s.initial_value_matches(), Some(true));
        assert_eq!((s.spec.gain(), s.spec.baseline, s.spec.units.as_str()), (200.0, 1024, "mV"));
    }
    assert_eq!(mlii.computed_checksum, -22131);
    assert_eq!(mlii.physical()[8], Some((1000.0 - 1024.0) / 200.0));
}

#[test]
fn a_corrupted_sample_breaks_the_checksum() {
    let header = parse_header("100.hea", &data("mitdb-100/100.hea")).unwrap();
    let mut bytes = data("mitdb-100/100.dat");
    bytes[300_000] ^= 0x01;
    let record = decode_record(&header, |_| Some(bytes.as_slice())).unwrap();
    assert_eq!(record.signals[0].checksum_matches(), Some(false));
    assert_eq!(record.signals[1].checksum_matches(), Some(true));
}

#[test]
fn mimicdb_037_gives_ecg_abp_and_resp() {
    let record = load("mimicdb-037", "03700181.hea");
    let r = &record.header.record;
    assert_eq!(r.base_time, Some(BaseTime { hours: 17, minutes: 27, seconds: 45, millis: 0 }));
    assert_eq!(r.base_date, Some(BaseDate { day: 15, month: 8, year: 1994 }));
    assert_eq!(record.duration_seconds(), 600.0);
    let names: Vec<(&str, f64, usize, &str)> = record
        .signals
        .iter()
        .map(|s| (s.spec.description.as_str(), s.frequency, s.samples.len(), s.spec.units.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![("MCL1", 500.0, 300_000, "mV"), ("ABP", 125.0, 75_000, "mmHg"), ("RESP", 125.0, 75_000, "mV")]
    );
    for s in &record.signals {
        assert_eq!(s.checksum_matches(), Some(true), "{}", s.spec.description);
        assert_eq!(s.initial_value_matches(), Some(true), "{}", s.spec.description);
    }
    let ecg = record.signal("MCL1").unwrap();
    assert_eq!((ecg.spec.samples_per_frame, ecg.samples[..4].to_vec()), (4, vec![67, 67, 67, 23]));
    let abp = record.signal("ABP").unwrap();
    assert_eq!((abp.spec.gain(), abp.spec.baseline), (12.84, -1605));
    assert_eq!(abp.samples[..2], [-943, -946]);
    let mean_abp = abp.physical().iter().flatten().sum::<f64>() / 75_000.0;
    assert!((20.0..70.0).contains(&mean_abp), "{mean_abp}");
    // RESP is stored four frames late (`212:4`): its first aligned sample is the fifth stored one.
    let resp = record.signal("RESP").unwrap();
    assert_eq!((resp.spec.skew, resp.stored_first), (4, Some(-304)));
    assert_eq!(resp.samples[..2], [-208, -186]);
    assert_eq!(resp.gap_count(), 4);
    assert_eq!(resp.physical()[74_999], None);
}

#[test]
fn s00001_numerics_have_minute_samples_and_gaps() {
    let record = load("mimic-numerics-s00001", "s00001-2896-10-10-00-31n.hea");
    let r = &record.header.record;
    assert!((r.frequency - 1.0 / 60.0).abs() < 1e-9);
    assert_eq!(r.counter_frequency, Some(125.0));
    assert_eq!(r.base_time, Some(BaseTime { hours: 0, minutes: 31, seconds: 25, millis: 894 }));
    assert_eq!(r.base_date, Some(BaseDate { day: 10, month: 10, year: 2896 }));
    assert_eq!(record.frames, 1936);
    assert!((record.duration_seconds() - 1936.0 * 60.0).abs() < 1e-3);
    assert_eq!(record.signals.len(), 10);
    for s in &record.signals {
        assert_eq!(s.spec.format, SignalFormat::F16);
        assert_eq!(s.checksum_matches(), Some(true), "{}", s.spec.description);
        assert_eq!(s.initial_value_matches(), Some(true), "{}", s.spec.description);
    }
    let hr = record.signal("HR").unwrap();
    assert_eq!((hr.spec.gain(), hr.spec.units.as_str(), hr.gap_count()), (10.0, "bpm", 0));
    let nbp = record.signal("NBPSys").unwrap();
    assert_eq!(nbp.gap_count(), 1784);
    let values = nbp.physical();
    assert_eq!(values[0], None);
    let measured: Vec<f64> = values.iter().flatten().copied().collect();
    assert_eq!(measured.len(), 1936 - 1784);
    assert!(measured.iter().all(|v| (100.0..=170.0).contains(v)), "{measured:?}");
}

#[test]
fn mitdb_100_annotations() {
    let anns = parse_annotations("100.atr", &data("mitdb-100/100.atr")).unwrap();
    assert_eq!((anns[0].sample, anns[0].code), (18, AnnotationCode::RHYTHM));
    assert_eq!(anns[0].aux_text().as_deref(), Some("(N"));
    let beats: Vec<_> = anns.iter().filter(|a| a.code.is_beat()).collect();
    assert_eq!((beats[0].sample, beats[0].code), (77, AnnotationCode::NORMAL));
    // The published beat counts of record 100: 2239 N, 33 A, 1 V.
    let count = |c: AnnotationCode| beats.iter().filter(|a| a.code == c).count();
    assert_eq!((beats.len(), count(AnnotationCode::NORMAL), count(AnnotationCode::APC)), (2273, 2239, 33));
    assert_eq!(count(AnnotationCode::PVC), 1);
    assert!(anns.windows(2).all(|w| w[0].sample <= w[1].sample));
    assert!(anns.last().unwrap().sample < 650_000);
}

#[test]
fn qrs_detection_on_mitdb_100_meets_the_bar() {
    let record = load("mitdb-100", "100.hea");
    let mlii = record.signal("MLII").unwrap();
    let detector = QrsDetector::new(mlii.frequency, QrsConfig::default()).unwrap();
    let detected: Vec<u64> = detector.detect(&mlii.physical_or_nan()).into_iter().map(|i| i as u64).collect();
    let reference: Vec<u64> = parse_annotations("100.atr", &data("mitdb-100/100.atr"))
        .unwrap()
        .into_iter()
        .filter(|a| a.code.is_beat())
        .map(|a| a.sample)
        .collect();
    // The standard matching window: 150 ms, over the whole record.
    let m = evaluate_beats(&reference, &detected, (0.150 * 360.0) as u64);
    assert!(m.sensitivity() >= 99.8, "{m:?}");
    assert!(m.positive_predictivity() >= 99.8, "{m:?}");
    // A detector that misses every tenth beat must fail the same bar (the test can fail).
    let thinned: Vec<u64> = detected.iter().enumerate().filter(|(i, _)| i % 10 != 0).map(|(_, &d)| d).collect();
    assert!(evaluate_beats(&reference, &thinned, 54).sensitivity() < 99.8);
    let rates = heart_rate_bpm(&detected, 360.0);
    let mean = rates.iter().map(|r| r.1).sum::<f64>() / rates.len() as f64;
    assert!((70.0..82.0).contains(&mean), "{mean}");
    // Deterministic: the same input gives the same beats.
    assert_eq!(
        detector.detect(&mlii.physical_or_nan()[..100_000]),
        detector.detect(&mlii.physical_or_nan()[..100_000])
    );
}

#[test]
fn errors_name_file_and_place() {
    let e = parse_header("bad.hea", b"bad 1 360 10\nbad.dat 212 200(x)/mV\n").unwrap_err();
    assert_eq!(e.to_string(), "bad.hea: line 2: field baseline: cannot read \"x\"");
    let header = parse_header("h.hea", &data("mitdb-100/100.hea")).unwrap();
    let e = decode_record(&header, |_| Some(&[0u8; 10][..])).unwrap_err();
    assert!(matches!(e, WfdbError::Signal { offset: 10, .. }), "{e}");
    assert!(e.to_string().starts_with("100.dat: byte 10:"), "{e}");
}

#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
        for &(at, v) in edits {
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] = v;
            }
        }
        let keep = bytes.len().saturating_sub(cut);
        bytes.truncate(keep);
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_annotations("r.atr", &bytes);
            if let Ok(h) = parse_header("r.hea", &bytes) {
                let _ = decode_record(&h, |_| Some(bytes.as_slice()));
            }
        }

        #[test]
        fn mutated_headers_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            cut in 0usize..40,
            which in 0usize..3,
        ) {
            let sources = [
                ("mitdb-100/100.hea", "mitdb-100/100.dat"),
                ("mimicdb-037/03700181.hea", "mimicdb-037/03700181.dat"),
                ("mimic-numerics-s00001/s00001-2896-10-10-00-31n.hea", "mimic-numerics-s00001/3975656n.dat"),
            ];
            let (h, d) = sources[which];
            let text = mutate(data(h), &edits, cut);
            let signal = data(d);
            let signal = &signal[..signal.len().min(4096)];
            if let Ok(header) = parse_header("m.hea", &text) {
                let _ = decode_record(&header, |_| Some(signal));
            }
        }

        #[test]
        fn header_fields_from_the_grammar_never_panic(
            format in "(8|16|24|32|61|80|160|212|310|311|508|516|524|0)(x[0-9]{1,3})?(:[0-9]{1,3})?(\\+[0-9]{1,4})?",
            gain in "-?[0-9]{0,3}(\\.[0-9])?(\\(-?[0-9]{1,4}\\))?(/[a-z%]{1,4})?",
            nsamp in 0u64..5000,
            signal in proptest::collection::vec(any::<u8>(), 0..3000),
        ) {
            let text = format!("r 2 360/1.5(2) {nsamp} 1:2:3\nr.dat {format} {gain} 12 0 0 0 0 a b\nr.dat {format} 1\n");
            if let Ok(header) = parse_header("r.hea", text.as_bytes())
                && let Ok(record) = decode_record(&header, |_| Some(signal.as_slice()))
            {
                for s in &record.signals {
                    prop_assert_eq!(s.samples.len() as u64, record.frames * u64::from(s.spec.samples_per_frame));
                    let _ = s.physical();
                }
            }
        }

        #[test]
        fn mutated_annotations_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            cut in 0usize..4000,
        ) {
            let bytes = mutate(data("mitdb-100/100.atr"), &edits, cut);
            // A damaged SKIP may move time backwards; the parser must only not panic.
            let _ = parse_annotations("m.atr", &bytes);
        }

        #[test]
        fn qrs_never_panics_and_stays_in_range(
            signal in proptest::collection::vec(prop_oneof![Just(f64::NAN), -5.0f64..5.0], 0..2000),
            fs in 40.0f64..1000.0,
        ) {
            let beats = QrsDetector::new(fs, QrsConfig::default()).unwrap().detect(&signal);
            prop_assert!(beats.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(beats.iter().all(|&b| b < signal.len()));
        }
    }
}

// ---- case model and segment hashing (issue 4) ----

mod case_model {
    use super::load;
    use twin_sim::case::{CaseError, EVENTS_STREAM, Stage, StageData};

    pub fn surgery() -> StageData {
        StageData::from_record(Stage::Surgery, &load("mimicdb-037", "03700181.hea")).unwrap()
    }

    pub fn pre_admission() -> StageData {
        StageData::from_record(Stage::PreHospital, &load("mimic-numerics-s00001", "s00001-2896-10-10-00-31n.hea"))
            .unwrap()
    }

    #[test]
    fn surgical_stage_from_03700181_has_three_waveforms() {
        let s = surgery();
        let w: Vec<(&str, f64, usize, &str)> =
            s.waveforms.iter().map(|w| (w.name.as_str(), w.rate_hz, w.samples.len(), w.unit.as_str())).collect();
        assert_eq!(
            w,
            vec![("MCL1", 500.0, 300_000, "mV"), ("ABP", 125.0, 75_000, "mmHg"), ("RESP", 125.0, 75_000, "mV")]
        );
        assert!(s.tracks.is_empty());
        assert_eq!(s.duration_ms(), 600_000);
        let abp = s.waveform("ABP").unwrap();
        assert!((abp.physical(0).unwrap() - (-943.0 + 1605.0) / 12.84).abs() < 1e-9);
        // RESP's skewed tail is a gap.
        assert_eq!(s.waveform("RESP").unwrap().physical(74_999), None);
        assert_eq!(s.events[0].label, "record 03700181");
    }

    #[test]
    fn pre_admission_stage_from_s00001_treats_zero_runs_and_invalid_as_gaps() {
        let s = pre_admission();
        assert!(s.waveforms.is_empty());
        assert_eq!(s.tracks.len(), 10);
        let hr = s.track("HR").unwrap();
        assert_eq!((hr.unit.as_str(), hr.times_ms.len(), hr.times_ms[1]), ("bpm", 1936, 60_000));
        // Minute 0 and minutes 591..=610 are zero runs in HR: gaps, not asystole.
        assert_eq!(hr.values[0], None);
        assert!(hr.values[591..=610].iter().all(Option::is_none));
        assert_eq!(hr.values.iter().filter(|v| v.is_none()).count(), 46);
        assert_eq!(hr.values[1389], Some(11.5));
        assert_eq!(s.track("ABPSys").unwrap().values.iter().flatten().count(), 1936 - 1929);
        let nbp = s.track("NBPSys").unwrap();
        assert_eq!(nbp.values.iter().flatten().count(), 1936 - 1784);
        assert_eq!(nbp.value_at(1356 * 60_000 + 30_000), Some(128.0));
        assert_eq!(nbp.value_at(30_000), None, "minute 0 has no NBP reading");
    }

    #[test]
    fn segments_hash_verify_and_a_changed_sample_fails() {
        let mut s = surgery();
        let hashes = s.stream_hashes(10_000).unwrap();
        let names: Vec<&str> = hashes.iter().map(|h| h.stream.as_str()).collect();
        assert_eq!(names, vec!["MCL1", "ABP", "RESP", EVENTS_STREAM]);
        let ecg = &hashes[0];
        assert_eq!(ecg.segments.len(), 60);
        assert_eq!((ecg.segments[7].start_ms, ecg.segments[7].end_ms), (70_000, 80_000));
        // Segments of one stream differ from each other and from other streams'.
        assert_ne!(ecg.segments[0].hash, ecg.segments[1].hash);
        assert_ne!(ecg.root, hashes[1].root);
        assert!(s.verify_segment("MCL1", 10_000, 7, &ecg.segments[7].hash).unwrap());
        assert!(!s.verify_segment("MCL1", 10_000, 8, &ecg.segments[7].hash).unwrap());
        let proof = ecg.prove(7).unwrap();
        assert!(proof.verify(&ecg.segments[7].hash, &ecg.root));

        // Change one sample in segment 7 (t = 75 s at 500 Hz).
        s.waveforms[0].samples[37_500] += 1;
        assert!(!s.verify_segment("MCL1", 10_000, 7, &ecg.segments[7].hash).unwrap());
        assert!(s.verify_segment("MCL1", 10_000, 6, &ecg.segments[6].hash).unwrap());
        let again = s.stream_hashes(10_000).unwrap();
        assert_ne!(again[0].root, ecg.root);
        assert_eq!(again[1].root, hashes[1].root);
        assert!(!proof.verify(&again[0].segments[7].hash, &ecg.root));

        assert_eq!(s.stream_hashes(0), Err(CaseError::ZeroSegment));
        assert!(matches!(s.verify_segment("nope", 10_000, 0, &ecg.root), Err(CaseError::NoSuchSegment { .. })));
        assert!(s.verify_segment("MCL1", 10_000, 60, &ecg.root).is_err());
    }

    #[test]
    fn track_segments_hash_gaps_and_values_distinctly() {
        let mut s = pre_admission();
        let hashes = s.stream_hashes(600_000).unwrap();
        let hr = hashes.iter().find(|h| h.stream == "HR").unwrap();
        assert_eq!(hr.segments.len(), 194);
        // Minute 0 is a gap; making it a reading of 0 bpm changes only segment 0.
        s.tracks[0].values[0] = Some(0.0);
        assert!(!s.verify_segment("HR", 600_000, 0, &hr.segments[0].hash).unwrap());
        assert!(s.verify_segment("HR", 600_000, 1, &hr.segments[1].hash).unwrap());
    }
}

// ---- replay clock and decimation (issue 4) ----

mod replay {
    use super::case_model::surgery;
    use core::time::Duration;
    use twin_sim::case::{GAP, Waveform};
    use twin_sim::replay::{Clock, MAX_SPEED, MIN_SPEED, decimate, snapshot};

    #[test]
    fn clock_plays_pauses_seeks_and_clamps_speed() {
        let mut c = Clock::new(600_000_000);
        assert_eq!(c.advance(Duration::from_secs(5)), 0, "paused clocks do not move");
        c.play();
        assert_eq!(c.advance(Duration::from_millis(1500)), 1_500_000);
        assert_eq!(c.set_speed(4.0), 4.0);
        assert_eq!(c.advance(Duration::from_millis(250)), 2_500_000);
        assert_eq!(c.set_speed(1000.0), MAX_SPEED);
        assert_eq!(c.set_speed(0.01), MIN_SPEED);
        assert_eq!(c.set_speed(f64::NAN), 1.0);
        c.set_speed(0.25);
        assert_eq!(c.advance(Duration::from_micros(3)), 2_500_001, "rounded to the nearest microsecond");
        c.pause();
        assert_eq!(c.advance(Duration::from_secs(1)), 2_500_001);
        c.seek(u64::MAX);
        assert_eq!(c.position_us(), 600_000_000);
        c.play();
        assert_eq!(c.position_us(), 0, "play at the end starts over");
        c.seek(599_000_000);
        c.set_speed(64.0);
        assert_eq!(c.advance(Duration::from_secs(60)), 600_000_000);
        assert!(!c.is_playing(), "stops at the end");
        // The same calls give the same positions.
        let run = || {
            let mut c = Clock::new(10_000_000);
            c.play();
            c.set_speed(1.5);
            (0..100).map(|i| c.advance(Duration::from_micros(16_667 + i))).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn snapshot_keeps_streams_in_sync() {
        let s = surgery();
        let snap = snapshot(&s, 75_000_000);
        let idx: Vec<usize> = snap.waveforms.iter().map(|(_, i, _)| *i).collect();
        assert_eq!(idx, vec![37_500, 9_375, 9_375]);
        assert_eq!(snap.waveforms[1].2, s.waveform("ABP").unwrap().physical(9_375));
        assert_eq!(snap.events_so_far, 1);
        let end = snapshot(&s, 600_000_000);
        assert!(end.waveforms.iter().all(|(_, _, v)| v.is_none()));
    }

    #[test]
    fn decimation_keeps_every_extreme() {
        let s = surgery();
        let abp = s.waveform("ABP").unwrap();
        let cols = decimate(abp, 10_000_000, 10_000_000, 100);
        assert_eq!(cols.len(), 100);
        // 1250 samples into 100 columns: 12 or 13 each; the envelope equals the window's range.
        let window: Vec<f64> = (1250..2500).filter_map(|i| abp.physical(i)).collect();
        let lo = window.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = window.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let cols: Vec<_> = cols.into_iter().map(Option::unwrap).collect();
        assert_eq!(cols.iter().map(|c| c.min).fold(f64::INFINITY, f64::min), lo);
        assert_eq!(cols.iter().map(|c| c.max).fold(f64::NEG_INFINITY, f64::max), hi);
        assert!(cols.iter().all(|c| c.min <= c.max));
        assert!(cols.iter().any(|c| c.min < c.max));

        let w = Waveform {
            name: "x".into(),
            unit: "mV".into(),
            rate_hz: 10.0,
            gain: 2.0,
            baseline: 0,
            samples: vec![0, 4, GAP, GAP, -2, 6],
        };
        let d = decimate(&w, 0, 600_000, 3);
        let pairs: Vec<Option<(f64, f64)>> = d.iter().map(|c| c.map(|c| (c.min, c.max))).collect();
        assert_eq!(pairs, vec![Some((0.0, 2.0)), None, Some((-1.0, 3.0))]);
        // More pixels than samples: each column takes the sample under it; past the end is empty.
        let d = decimate(&w, 0, 1_000_000, 20);
        assert_eq!(d[0].map(|c| c.max), Some(0.0));
        assert_eq!(d[19], None);
        assert!(decimate(&w, 0, 0, 5).iter().all(Option::is_none));
        assert!(decimate(&w, u64::MAX, u64::MAX, 5).iter().all(Option::is_none));
    }
}

// ---- alarms and NEWS2 (issue 4) ----

mod alarms {
    use super::case_model::{pre_admission, surgery};
    use twin_sim::alarms::{
        AlarmKind, Check, Consciousness, News2Input, News2Parameter, News2Risk, Spo2Scale, evaluate, frames, news2,
    };
    use twin_sim::case::{Stage, StageData, Waveform};

    const MINUTE: u64 = 60_000;

    #[test]
    fn record_03700181_tachycardia_raises_a_confirmed_alarm() {
        let report = evaluate(&surgery());
        let tachy: Vec<_> = report.alarms.iter().filter(|a| a.kind == AlarmKind::Tachycardia).collect();
        assert!(!tachy.is_empty(), "{report:#?}");
        let a = tachy[0];
        assert!((115.0..135.0).contains(&a.worst), "{a:?}");
        assert!(a.onset_ms < 20_000 && a.end_ms >= 590_000, "{a:?}");
        assert!(matches!(&a.check, Check::Confirmed(s) if s.contains("pulse rate")), "{a:?}");
        for k in [AlarmKind::Asystole, AlarmKind::Bradycardia, AlarmKind::Desaturation] {
            assert!(report.alarms.iter().all(|a| a.kind != k), "{k:?}: {report:#?}");
        }
        // The heart rate from the ECG and the pulse rate from the ABP agree all along.
        let f = frames(&surgery());
        let both: Vec<(f64, f64)> = f.iter().filter_map(|f| Some((f.hr?, f.pulse_rate?))).collect();
        assert!(both.len() > 550, "{}", both.len());
        assert!(both.iter().all(|(h, p)| (h - p).abs() < 15.0));
    }

    /// A rate alarm beside no pulse reading is not suppressed (before, a missing pulse reading
    /// refuted it): minute 1389's lone HR of 11.5 sounds, marked unconfirmed.
    #[test]
    fn s00001_bradycardia_is_confirmed_by_pulse_and_a_lone_reading_sounds_unconfirmed() {
        let report = evaluate(&pre_admission());
        let brady: Vec<(u64, u64)> = report
            .alarms
            .iter()
            .filter(|a| a.kind == AlarmKind::Bradycardia)
            .map(|a| (a.onset_ms / MINUTE, a.end_ms / MINUTE))
            .collect();
        // HR 48.1-49.9 with PULSE 48.6-52 in minutes 1426-1428.
        assert!(brady.contains(&(1426, 1429)), "{brady:?}");
        // Minute 1389's HR of 11.5 has no pulse reading beside it: raised, unconfirmed.
        let lone = report.alarms.iter().find(|a| a.kind == AlarmKind::Bradycardia && a.onset_ms == 1389 * MINUTE);
        assert!(matches!(lone.map(|a| &a.check), Some(Check::Unconfirmable(_))), "{lone:?}");
        assert!(report.suppressed.iter().all(|a| a.kind != AlarmKind::Bradycardia));
        // Zero runs are gaps, not asystole; SpO2 never drops under 90 %.
        for k in [AlarmKind::Asystole, AlarmKind::Desaturation, AlarmKind::Tachycardia] {
            assert!(report.alarms.iter().all(|a| a.kind != k), "{k:?}");
        }
    }

    /// A 100 s stage: an ECG at 250 Hz beating at 75 bpm until `ecg_stops_s`, then a silent
    /// baseline (0.02 mV of noise); and, when `abp_stops_s` is given, an ABP at 125 Hz
    /// (120/80) pulsing until then, then flat at 15 mmHg (0.3 mmHg of noise).
    fn synthetic(ecg_stops_s: f64, abp_stops_s: Option<f64>) -> StageData {
        let noise = |i: i32| (f64::from(i.wrapping_mul(7919) % 1000) / 500.0) - 1.0;
        let beat = |t: f64| {
            let phase = (t * 75.0 / 60.0).fract();
            (phase, (t * 75.0 / 60.0).floor() / 1.25)
        };
        let ecg: Vec<i16> = (0..250 * 100)
            .map(|i| {
                let t = f64::from(i) / 250.0;
                let (_, last) = beat(t);
                let r = |tb: f64| if tb < ecg_stops_s { 1.5 * (-((t - tb) / 0.012).powi(2)).exp() } else { 0.0 };
                let mv = r(last)
                    + r(last + 0.8)
                    + 0.1 * (2.0 * std::f64::consts::PI * 0.2 * t).sin() * f64::from(u8::from(t < ecg_stops_s))
                    + 0.02 * noise(i);
                (mv * 200.0).round() as i16
            })
            .collect();
        let mut stage = StageData::new(Stage::Surgery);
        stage.waveforms.push(Waveform {
            name: "II".into(),
            unit: "mV".into(),
            rate_hz: 250.0,
            gain: 200.0,
            baseline: 0,
            samples: ecg,
        });
        if let Some(stop) = abp_stops_s {
            let abp = (0..125 * 100)
                .map(|i| {
                    let t = f64::from(i) / 125.0;
                    let (phase, _) = beat(t);
                    let mmhg = if t < stop {
                        80.0 + 40.0 * (-((phase - 0.2) / 0.1).powi(2)).exp()
                    } else {
                        15.0 + 0.3 * noise(i)
                    };
                    (mmhg * 10.0).round() as i16
                })
                .collect();
            stage.waveforms.push(Waveform {
                name: "ABP".into(),
                unit: "mmHg".into(),
                rate_hz: 125.0,
                gain: 10.0,
                baseline: 0,
                samples: abp,
            });
        }
        stage
    }

    #[test]
    fn a_healthy_synthetic_trace_raises_nothing() {
        let report = evaluate(&synthetic(f64::INFINITY, Some(f64::INFINITY)));
        assert!(report.alarms.is_empty() && report.suppressed.is_empty(), "{report:#?}");
        let f = frames(&synthetic(f64::INFINITY, Some(f64::INFINITY)));
        let last = f.last().unwrap();
        assert!((last.hr.unwrap() - 75.0).abs() < 2.0 && (last.pulse_rate.unwrap() - 75.0).abs() < 3.0, "{last:?}");
        assert!((last.systolic.unwrap() - 120.0).abs() < 5.0 && (last.diastolic.unwrap() - 80.0).abs() < 2.0);
    }

    /// A lethal alarm is never suppressed: a silent ECG beside a pulsing arterial line
    /// (before, the pulse refuted it) sounds, marked unconfirmed for the clinician to check.
    #[test]
    fn a_silent_ecg_with_a_pulsing_abp_sounds_asystole_marked_unconfirmed() {
        let report = evaluate(&synthetic(20.0, Some(f64::INFINITY)));
        let a = report.alarms.iter().find(|a| a.kind == AlarmKind::Asystole).expect("asystole");
        assert!(matches!(&a.check, Check::Unconfirmable(r) if r.contains("pulse")), "{a:?}");
        assert!(report.suppressed.iter().all(|a| !a.kind.lethal()), "{report:#?}");
    }

    #[test]
    fn a_silent_ecg_with_a_flat_abp_is_asystole() {
        let report = evaluate(&synthetic(20.0, Some(20.0)));
        let a = report.alarms.iter().find(|a| a.kind == AlarmKind::Asystole).expect("asystole");
        assert!((22_000..=26_000).contains(&a.onset_ms), "{a:?}");
        assert!(matches!(a.check, Check::Confirmed(_)));
        assert!(a.worst >= 30.0, "{a:?}");
        // The flat ABP reads 15 mmHg: no pulse on the line confirms, it never refutes.
        assert!(report.suppressed.iter().all(|a| a.kind != AlarmKind::Hypotension), "{report:#?}");
    }

    #[test]
    fn a_flat_ecg_without_a_pulse_signal_fires_unconfirmed() {
        let report = evaluate(&synthetic(20.0, None));
        let a = report.alarms.iter().find(|a| a.kind == AlarmKind::Asystole).expect("asystole");
        assert!(matches!(a.check, Check::Unconfirmable(_)));
    }

    /// N2: SpO2 scale 2 (RCP 2017) at every band edge, on air and on oxygen.
    #[test]
    fn news2_scale_2_scores_the_published_bands() {
        let at = |spo2: f64, on_oxygen: bool| {
            let n = news2(&News2Input {
                spo2: Some(spo2),
                spo2_scale: Spo2Scale::Scale2,
                on_oxygen: Some(on_oxygen),
                ..News2Input::default()
            });
            let part = n.parts.iter().find(|(p, _)| *p == News2Parameter::Spo2Scale2).map(|(_, s)| *s);
            part.expect("scored on scale 2")
        };
        let air = [83.0, 84.0, 85.0, 86.0, 87.0, 88.0, 92.0, 93.0, 97.0, 100.0].map(|s| at(s, false));
        assert_eq!(air, [3, 2, 2, 1, 1, 0, 0, 0, 0, 0]);
        let oxygen = [83.0, 87.0, 88.0, 92.0, 93.0, 94.0, 95.0, 96.0, 97.0, 100.0].map(|s| at(s, true));
        assert_eq!(oxygen, [3, 1, 0, 0, 1, 1, 2, 2, 3, 3]);
        // Above 92 % without knowing air or oxygen, scale 2 cannot be scored: it says so.
        let n = news2(&News2Input { spo2: Some(95.0), spo2_scale: Spo2Scale::Scale2, ..News2Input::default() });
        assert!(n.not_scored.contains(&News2Parameter::Spo2Scale2), "{n:?}");
    }

    #[test]
    fn news2_scores_the_published_bands_and_lists_what_is_absent() {
        let full = News2Input {
            spo2_scale: Spo2Scale::Scale1,
            resp_rate: Some(22.0),
            spo2: Some(93.0),
            on_oxygen: Some(false),
            systolic: Some(105.0),
            pulse: Some(115.0),
            consciousness: Some(Consciousness::Alert),
            temperature_c: Some(38.5),
        };
        let n = news2(&full);
        assert_eq!((n.total, n.risk, n.not_scored.len()), (2 + 2 + 1 + 2 + 1, News2Risk::High, 0));
        let n = news2(&News2Input { resp_rate: Some(8.0), spo2: Some(97.0), ..News2Input::default() });
        assert_eq!((n.total, n.risk), (3, News2Risk::LowMedium));
        assert_eq!(
            n.not_scored,
            vec![
                News2Parameter::AirOrOxygen,
                News2Parameter::SystolicBp,
                News2Parameter::Pulse,
                News2Parameter::Consciousness,
                News2Parameter::Temperature
            ]
        );
        let bands = |s: f64| news2(&News2Input { systolic: Some(s), ..News2Input::default() }).total;
        assert_eq!([90.0, 91.0, 100.0, 101.0, 110.0, 111.0, 219.0, 220.0].map(bands), [3, 2, 2, 1, 1, 0, 0, 3]);
        let pulse = |p: f64| news2(&News2Input { pulse: Some(p), ..News2Input::default() }).total;
        assert_eq!(
            [40.0, 41.0, 50.0, 51.0, 90.0, 91.0, 110.0, 111.0, 130.0, 131.0].map(pulse),
            [3, 1, 1, 0, 0, 1, 1, 2, 2, 3]
        );
        let n = news2(&News2Input { temperature_c: Some(f64::NAN), on_oxygen: Some(true), ..News2Input::default() });
        assert_eq!((n.total, n.not_scored.len()), (2, 6));
        assert!(n.summary().starts_with("NEWS2 at least 2 (not measured: respiration rate"), "{}", n.summary());
        assert_eq!(news2(&full).summary(), "NEWS2 8, high risk");
    }
}

// ---- replay and hashing never panic on odd arguments (issue 4) ----

mod replay_properties {
    use core::time::Duration;
    use proptest::prelude::*;
    use twin_sim::case::{Stage, StageData, Waveform};
    use twin_sim::replay::{Clock, MAX_SPEED, MIN_SPEED, decimate};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn decimation_never_panics_and_orders_min_max(
            samples in proptest::collection::vec(any::<i16>(), 0..400),
            rate in prop_oneof![Just(1.0), Just(360.0), 0.5f64..5000.0],
            gain in prop_oneof![Just(200.0), Just(-3.0), 0.01f64..1000.0],
            start in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>(), 0u64..2_000_000],
            window in prop_oneof![Just(u64::MAX), any::<u64>(), 0u64..2_000_000],
            width in 0usize..300,
        ) {
            let w = Waveform { name: "x".into(), unit: "mV".into(), rate_hz: rate, gain, baseline: 7, samples };
            let cols = decimate(&w, start, window, width);
            prop_assert_eq!(cols.len(), width);
            for c in cols.into_iter().flatten() {
                prop_assert!(c.min <= c.max);
            }
        }

        #[test]
        fn the_clock_stays_in_range(
            duration in any::<u64>(),
            steps in proptest::collection::vec((any::<u64>(), any::<f64>(), any::<u64>(), 0u8..4), 0..40),
        ) {
            let mut c = Clock::new(duration);
            for (micros, speed, seek, op) in steps {
                match op {
                    0 => c.play(),
                    1 => c.pause(),
                    2 => c.seek(seek),
                    _ => { c.set_speed(speed); }
                }
                c.advance(Duration::from_micros(micros));
                prop_assert!(c.position_us() <= duration);
                prop_assert!((MIN_SPEED..=MAX_SPEED).contains(&c.speed()));
            }
        }

        #[test]
        fn alarms_never_panic_on_random_waveforms(
            ecg in proptest::collection::vec(any::<i16>(), 0..3000),
            abp in proptest::collection::vec(any::<i16>(), 0..1500),
            ecg_rate in 1.0f64..1000.0,
            abp_rate in 1.0f64..500.0,
            abp_unit in prop_oneof![Just("mmHg"), Just("NU")],
        ) {
            let mut s = StageData::new(Stage::Surgery);
            s.waveforms.push(Waveform { name: "ECG".into(), unit: "mV".into(), rate_hz: ecg_rate, gain: 200.0, baseline: 0, samples: ecg });
            s.waveforms.push(Waveform { name: "PLETH".into(), unit: abp_unit.into(), rate_hz: abp_rate, gain: 10.0, baseline: 0, samples: abp });
            let report = twin_sim::alarms::evaluate(&s);
            for a in report.alarms.iter().chain(&report.suppressed) {
                prop_assert!(a.onset_ms < a.end_ms);
            }
        }

        #[test]
        fn segment_hashing_never_panics(
            samples in proptest::collection::vec(any::<i16>(), 0..300),
            segment_ms in any::<u64>(),
            index in any::<u32>(),
        ) {
            let mut s = StageData::new(Stage::Diagnosis);
            s.waveforms.push(Waveform { name: "x".into(), unit: "mV".into(), rate_hz: 100.0, gain: 1.0, baseline: 0, samples });
            if segment_ms > 0 {
                let h = s.stream_hashes(segment_ms).unwrap();
                prop_assert!(s.verify_segment("x", segment_ms, 0, &h[0].segments[0].hash).unwrap());
            }
            let _ = s.verify_segment("x", segment_ms, index, &ledger_protocol::crypto::sha256(&[]));
        }
    }
}

/// The five-minute forecast on the s00001 minute trends: measured against what came, and
/// no worse than persistence on the main vitals.
#[test]
fn five_minute_forecast_of_the_s00001_vitals_beats_persistence() {
    use twin_sim::case::{Stage, StageData};
    use twin_sim::forecast::{Holt, evaluate};
    let stage =
        StageData::from_record(Stage::PreHospital, &load("mimic-numerics-s00001", "s00001-2896-10-10-00-31n.hea"))
            .unwrap();
    for name in ["HR", "RESP", "SpO2", "PULSE"] {
        let track = stage.tracks.iter().find(|t| t.name == name).unwrap();
        let e = evaluate(track, 5 * 60_000, &Holt::default()).unwrap();
        println!("{name}: n={} MAE {:.2} vs persistence {:.2}", e.n, e.mae, e.mae_persistence);
        assert!(e.n > 1000, "{name}: {e:?}");
        assert!(e.mae <= e.mae_persistence, "{name}: {e:?}");
    }
}
