//! Multi-segment WFDB records built in memory: a layout segment, a null segment, segments in
//! formats 16 and 212 with signals reordered or missing, and the errors for broken records.

use proptest::prelude::*;
use twin_sim::{Header, SegmentProblem, SignalFormat, WfdbError, decode_multi_segment, parse_header};

const G16: i32 = -32768;
const G212: i32 = -2048;

fn f16(samples: &[i32]) -> Vec<u8> {
    samples.iter().flat_map(|&s| (s as i16).to_le_bytes()).collect()
}

/// Packs 12-bit samples two to three bytes (an odd last sample takes two).
fn f212(samples: &[i32]) -> Vec<u8> {
    let mut out = Vec::new();
    for pair in samples.chunks(2) {
        let a = (pair[0] & 0xFFF) as u16;
        out.push((a & 0xFF) as u8);
        match pair.get(1) {
            Some(&b) => {
                let b = (b & 0xFFF) as u16;
                out.push(((a >> 8) as u8) | (((b >> 8) as u8) << 4));
                out.push((b & 0xFF) as u8);
            }
            None => out.push((a >> 8) as u8),
        }
    }
    out
}

/// Interleaves per-signal samples into frames (one sample per signal per frame).
fn frames(signals: &[&[i32]]) -> Vec<i32> {
    (0..signals[0].len()).flat_map(|f| signals.iter().map(move |s| s[f])).collect()
}

struct Fixture {
    headers: Vec<(String, Header)>,
    files: Vec<(String, Vec<u8>)>,
}

impl Fixture {
    fn new() -> Self {
        let hea =
            |name: &str, text: &str| (name.to_owned(), parse_header(&format!("{name}.hea"), text.as_bytes()).unwrap());
        let headers = vec![
            hea(
                "m_layout",
                "m_layout 3 100 0\n~ 0 200/mV 16 0 0 0 0 II\n~ 0 10(0)/mmHg 16 0 0 0 0 ABP\n~ 0 100/mV 16 0 0 0 0 RESP\n",
            ),
            hea(
                "s1",
                "s1 3 100 4\ns1.dat 16 200/mV 16 0 0 0 0 II\ns1.dat 16 10/mmHg 16 0 0 0 0 ABP\ns1.dat 16 100/mV 16 0 0 0 0 RESP\n",
            ),
            // Signals in another order, ABP absent, format 212.
            hea("s2", "s2 2 100 3\ns2.dat 212 100/mV 12 0 0 0 0 RESP\ns2.dat 212 200/mV 12 0 0 0 0 II\n"),
            // ABP alone, at another gain: rescaled to the layout's 10 adu/mmHg.
            hea("s3", "s3 1 100 2\ns3.dat 16 20/mmHg 16 0 0 0 0 ABP\n"),
        ];
        let files = vec![
            ("s1.dat".to_owned(), f16(&frames(&[&[1, 2, 3, 4], &[100, 110, G16, 120], &[5, 6, 7, 8]]))),
            ("s2.dat".to_owned(), f212(&frames(&[&[9, 10, G212], &[-5, -6, -7]]))),
            ("s3.dat".to_owned(), f16(&[200, 260])),
        ];
        Self { headers, files }
    }

    fn decode(&self, master: &str) -> Result<twin_sim::Record, WfdbError> {
        let master = parse_header("m.hea", master.as_bytes()).unwrap();
        decode_multi_segment(
            &master,
            |n| self.headers.iter().find(|(h, _)| h == n).map(|(_, h)| h.clone()),
            |n| self.files.iter().find(|(f, _)| f == n).map(|(_, b)| b.as_slice()),
        )
    }
}

const MASTER: &str = "m/5 3 100 12 12:00:00\nm_layout 0\ns1 4\n~ 3\ns2 3\ns3 2\n";

#[test]
fn layout_null_segment_reordered_and_missing_signals_join_into_one_record() {
    let record = Fixture::new().decode(MASTER).unwrap();
    assert_eq!(record.frames, 12);
    assert_eq!(record.header.record.sample_count, Some(12));
    assert!((record.duration_seconds() - 0.12).abs() < 1e-12);
    let names: Vec<&str> = record.signals.iter().map(|s| s.spec.description.as_str()).collect();
    assert_eq!(names, ["II", "ABP", "RESP"]);
    let g = G16;
    let ii = record.signal("II").unwrap();
    assert_eq!(ii.samples, [1, 2, 3, 4, g, g, g, -5, -6, -7, g, g]);
    let abp = record.signal("ABP").unwrap();
    assert_eq!(abp.samples, [100, 110, g, 120, g, g, g, g, g, g, 100, 130]);
    let resp = record.signal("RESP").unwrap();
    // s2's stored 212 invalid value stays a gap in the joined (format 16) signal.
    assert_eq!(resp.samples, [5, 6, 7, 8, g, g, g, 9, 10, g, g, g]);
    for s in &record.signals {
        assert_eq!(s.samples.len(), 12);
        assert_eq!(s.frequency, 100.0);
        assert_eq!(s.spec.format, SignalFormat::F16, "{}", s.spec.description);
    }
    assert_eq!(ii.physical()[7], Some(-5.0 / 200.0));
    assert_eq!(ii.physical()[4], None);
    assert_eq!(abp.physical()[11], Some(13.0));
    assert_eq!((abp.spec.gain(), abp.spec.units.as_str()), (10.0, "mmHg"));
    assert_eq!((ii.gap_count(), abp.gap_count(), resp.gap_count()), (5, 7, 6));
}

#[test]
fn without_a_layout_the_signals_are_the_union_in_order_of_appearance() {
    let mut fx = Fixture::new();
    let hea = |name: &str, text: &str| (name.to_owned(), parse_header(name, text.as_bytes()).unwrap());
    fx.headers.push(hea("t1", "t1 1 250 3\nt1.dat 212 200 12 0 0 0 0 ECG\n"));
    fx.headers.push(hea("t2", "t2 2 250 2\nt2.dat 212 200 12 0 0 0 0 PLETH\nt2.dat 212 200 12 0 0 0 0 ECG\n"));
    fx.files.push(("t1.dat".into(), f212(&[1, -2, 3])));
    fx.files.push(("t2.dat".into(), f212(&frames(&[&[7, 8], &[4, 5]]))));
    let record = fx.decode("n/2 1 250\nt1 3\nt2 2\n").unwrap();
    assert_eq!(record.frames, 5);
    let ecg = &record.signals[0];
    assert_eq!((ecg.spec.description.as_str(), ecg.spec.format), ("ECG", SignalFormat::F212));
    assert_eq!(ecg.samples, [1, -2, 3, 4, 5]);
    let pleth = &record.signals[1];
    assert_eq!((pleth.spec.description.as_str(), pleth.samples.clone()), ("PLETH", vec![G212, G212, G212, 7, 8]));
    assert_eq!(pleth.physical()[..4], [None, None, None, Some(7.0 / 200.0)]);
}

#[test]
fn a_single_segment_header_decodes_as_before() {
    let fx = Fixture::new();
    let single = parse_header("s1.hea", b"s1 3 100 4\ns1.dat 16 200/mV 16 0 0 0 0 II\ns1.dat 16 10/mmHg 16 0 0 0 0 ABP\ns1.dat 16 100/mV 16 0 0 0 0 RESP\n").unwrap();
    let record =
        decode_multi_segment(&single, |_| None, |n| fx.files.iter().find(|(f, _)| f == n).map(|(_, b)| b.as_slice()))
            .unwrap();
    assert_eq!(record.signals[2].samples, [5, 6, 7, 8]);
}

#[test]
fn errors_name_the_missing_segment_or_file() {
    let mut fx = Fixture::new();
    fx.headers.retain(|(n, _)| n != "s2");
    let e = fx.decode(MASTER).unwrap_err();
    assert_eq!(
        e,
        WfdbError::Segment {
            record: "m".into(),
            index: 3,
            segment: "s2".into(),
            problem: SegmentProblem::HeaderNotSupplied
        }
    );
    assert_eq!(e.to_string(), "record m: segment 3 (s2): the segment's header was not supplied");

    let mut fx = Fixture::new();
    fx.files.retain(|(n, _)| n != "s3.dat");
    assert_eq!(fx.decode(MASTER).unwrap_err(), WfdbError::MissingFile { file: "s3.dat".into() });

    let mut fx = Fixture::new();
    fx.headers.retain(|(n, _)| n != "m_layout");
    let e = fx.decode(MASTER).unwrap_err();
    assert!(matches!(&e, WfdbError::Segment { index: 0, segment, .. } if segment == "m_layout"), "{e}");

    // A truncated segment file reports the file and byte offset.
    let mut fx = Fixture::new();
    fx.files[1].1.truncate(5);
    let e = fx.decode(MASTER).unwrap_err();
    assert!(matches!(&e, WfdbError::Signal { file, offset: 5, .. } if file == "s2.dat"), "{e}");
}

#[test]
fn inconsistent_records_are_errors() {
    let fx = Fixture::new();
    let e = fx.decode("m/5 3 100 13\nm_layout 0\ns1 4\n~ 3\ns2 3\ns3 2\n").unwrap_err();
    assert!(
        matches!(
            e,
            WfdbError::MultiSegment { problem: SegmentProblem::LengthMismatch { stated: 13, segments: 12 }, .. }
        ),
        "{e}"
    );
    // The master gives s3 three frames; its header and file hold two.
    let e = fx.decode("m/5 3 100\nm_layout 0\ns1 4\n~ 3\ns2 3\ns3 3\n").unwrap_err();
    assert!(
        matches!(e, WfdbError::Segment { index: 4, problem: SegmentProblem::TooShort { expected: 3, found: 2 }, .. }),
        "{e}"
    );
    let e = fx.decode("m/2 3 360\nm_layout 0\ns1 4\n").unwrap_err();
    assert!(matches!(e, WfdbError::Segment { index: 0, problem: SegmentProblem::Frequency { .. }, .. }), "{e}");
    let e = fx.decode("m/2 3 100\nm_layout 0\n~ 1000000000000\n").unwrap_err();
    assert!(matches!(e, WfdbError::MultiSegment { problem: SegmentProblem::TooLarge { .. }, .. }), "{e}");
    let e = fx.decode("m/3 3 100\nm_layout 0\n~ 18446744073709551615\n~ 1\n").unwrap_err();
    assert!(matches!(e, WfdbError::MultiSegment { problem: SegmentProblem::TooLarge { .. }, .. }), "{e}");

    let mut fx = Fixture::new();
    let hea = |name: &str, text: &str| (name.to_owned(), parse_header(name, text.as_bytes()).unwrap());
    fx.headers.push(hea("w", "w 1 100 2\nw.dat 16x2 200 16 0 0 0 0 II\n"));
    fx.headers.push(hea("nest", "nest/1 1 100\ns1 4\n"));
    fx.files.push(("w.dat".into(), f16(&[1, 2, 3, 4])));
    let e = fx.decode("m/2 3 100\nm_layout 0\nw 2\n").unwrap_err();
    assert!(
        matches!(&e, WfdbError::Segment { problem: SegmentProblem::SamplesPerFrame { signal, expected: 1, found: 2 }, .. } if signal == "II"),
        "{e}"
    );
    let e = fx.decode("m/2 3 100\nm_layout 0\nnest 4\n").unwrap_err();
    assert!(matches!(e, WfdbError::Segment { problem: SegmentProblem::Nested, .. }), "{e}");
}

fn signal_line() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("16"), Just("212"), Just("0"), Just("80"), Just("16x2"), Just("212:1"), Just("16+3")],
        prop_oneof![Just("0"), Just("200"), Just("-3.5(7)/mmHg"), Just("1e-300")],
        prop_oneof![Just("II"), Just("ABP"), Just(""), Just("RESP")],
    )
        .prop_map(|(fmt, gain, name)| format!("{fmt} {gain} 12 0 0 0 0 {name}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_master_and_segment_headers_never_panic(
        segments in proptest::collection::vec(
            (prop_oneof![Just("a"), Just("b"), Just("~"), Just("lay")], prop_oneof![0u64..20, Just(u64::MAX), Just(1u64 << 40)]),
            1..6,
        ),
        stated in prop_oneof![Just(None), (0u64..60).prop_map(Some)],
        freqs in proptest::collection::vec(prop_oneof![Just(100.0f64), Just(250.0), Just(1e-9)], 3),
        lines in proptest::collection::vec(proptest::collection::vec(signal_line(), 0..4), 3),
        counts in proptest::collection::vec(prop_oneof![Just(String::new()), (0u64..30).prop_map(|n| n.to_string())], 3),
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut master = format!("m/{} 2 100{}\n", segments.len(), stated.map(|n| format!(" {n}")).unwrap_or_default());
        for (name, len) in &segments {
            master.push_str(&format!("{name} {len}\n"));
        }
        let Ok(master) = parse_header("m.hea", master.as_bytes()) else { return Ok(()) };
        let headers: Vec<(&str, Option<Header>)> = ["a", "b", "lay"]
            .iter()
            .enumerate()
            .map(|(i, &name)| {
                let n = if counts[i].is_empty() { String::new() } else { format!(" {}", counts[i]) };
                let mut text = format!("{name} {} {}{n}\n", lines[i].len(), freqs[i]);
                for l in &lines[i] {
                    text.push_str(&format!("{name}.dat {l}\n"));
                }
                (name, parse_header(name, text.as_bytes()).ok())
            })
            .collect();
        let result = decode_multi_segment(
            &master,
            |n| headers.iter().find(|(h, _)| *h == n).and_then(|(_, h)| h.clone()),
            |_| Some(bytes.as_slice()),
        );
        if let Ok(record) = result {
            for s in &record.signals {
                prop_assert_eq!(s.samples.len() as u64, record.frames * u64::from(s.spec.samples_per_frame));
                let _ = s.physical();
            }
        }
    }
}
