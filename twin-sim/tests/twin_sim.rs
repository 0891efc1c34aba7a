//! Integration tests of twin-sim on real PhysioNet data (copied into `data/physionet/`) and
//! property tests that the importers never panic on random or damaged bytes.

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
            format in "(16|212|80|0)(x[0-9]{1,3})?(:[0-9]{1,3})?(\\+[0-9]{1,4})?",
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
