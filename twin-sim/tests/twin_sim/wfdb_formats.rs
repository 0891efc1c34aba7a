//! Every WFDB signal format against files written and read back by wfdb-python (an
//! independent implementation; `data/wfdb-formats/`), sample for sample, and the errors a
//! damaged or mismatched file gets, each naming the file and a byte offset.

use std::collections::BTreeMap;

use proptest::prelude::*;

use twin_sim::{Header, Record, SignalFormat, SignalProblem, WfdbError, decode_record, parse_header};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/data/wfdb-formats/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn header(record: &str) -> Header {
    parse_header(&format!("{record}.hea"), &fixture(&format!("{record}.hea"))).expect("header parses")
}

fn decode_with(header: &Header, bytes: &[u8]) -> Result<Record, WfdbError> {
    decode_record(header, |_| Some(bytes))
}

fn signal_file(header: &Header) -> Vec<u8> {
    fixture(&header.signals[0].file_name)
}

#[test]
fn every_format_decodes_as_wfdb_python_reads_it() {
    let expected: BTreeMap<String, Vec<Vec<i32>>> =
        serde_json::from_slice(&fixture("expected.json")).expect("expected.json parses");
    let mut formats = Vec::new();
    for (name, want) in &expected {
        let header = header(name);
        let record = decode_with(&header, &signal_file(&header)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(record.signals.len(), want.len(), "{name}");
        for (signal, want) in record.signals.iter().zip(want) {
            assert_eq!(&signal.samples, want, "{name} {}", signal.spec.description);
            assert_eq!(signal.checksum_matches(), Some(true), "{name} {}", signal.spec.description);
            assert_eq!(signal.initial_value_matches(), Some(true), "{name} {}", signal.spec.description);
        }
        let format = header.signals[0].format;
        // Each fixture (but format 8's, which cannot mark one) holds a gap: the invalid value.
        if let Some(invalid) = format.invalid_value() {
            assert!(record.signals.iter().all(|s| s.samples.contains(&invalid) && s.gap_count() == 1), "{name}");
            assert_eq!(record.signals[0].physical()[5], None, "{name}: the gap reads as missing");
        }
        formats.push(format.number());
    }
    formats.sort_unstable();
    formats.dedup();
    assert_eq!(formats, [8, 16, 24, 32, 61, 80, 160, 212, 310, 311, 508, 516, 524], "every format has a fixture");
}

#[test]
fn mimic_iii_style_format_80_converts_to_physical_units() {
    // MIMIC-III waveform records store 8-bit offset binary: byte 128 is adu 0, byte 0 a gap.
    let header = parse_header("m.hea", b"m 1 125 4\nm.dat 80 100(-10)/mmHg 8 0\n").expect("header");
    let record = decode_with(&header, &[128, 138, 0, 255]).expect("decodes");
    let abp = &record.signals[0];
    assert_eq!(abp.samples, vec![0, 10, -128, 127]);
    assert_eq!(abp.physical(), vec![Some(0.1), Some(0.2), None, Some(1.37)]);
}

#[test]
fn format_8_integrates_differences_from_the_initial_value() {
    let header = parse_header("d.hea", b"d 1 100 4\nd.dat 8 200 8 0 -5\n").expect("header");
    assert_eq!(decode_with(&header, &[0, 3, 0xFF, 0x80]).expect("decodes").signals[0].samples, vec![-5, -2, -3, -131]);
    // Without an initial value the differences start from 0.
    let header = parse_header("d.hea", b"d 1 100 2\nd.dat 8\n").expect("header");
    assert_eq!(decode_with(&header, &[1, 1]).expect("decodes").signals[0].samples, vec![1, 2]);
}

#[test]
fn a_short_packed_file_names_the_bytes_it_needed() {
    for (format, frames, needed) in [(310u16, 5u64, 8u64), (311, 5, 7), (24, 2, 6), (61, 3, 6), (160, 1, 2)] {
        let text = format!("s 1 100 {frames}\ns.dat {format}\n");
        let header = parse_header("s.hea", text.as_bytes()).expect("header");
        let short = vec![0u8; needed as usize - 1];
        let e = decode_with(&header, &short).expect_err("short");
        assert!(
            matches!(&e, WfdbError::Signal { file, offset, problem: SignalProblem::Truncated { needed: n, .. } }
                if file == "s.dat" && *offset == needed - 1 && *n == needed),
            "format {format}: {e}"
        );
        decode_with(&header, &vec![0u8; needed as usize]).unwrap_or_else(|e| panic!("format {format}: {e}"));
    }
}

#[test]
fn flac_files_that_disagree_with_their_header_are_refused_by_name() {
    let header = header("fmt516");
    let bytes = signal_file(&header);
    // Cut in the middle of the audio frames: the decoder stops where the stream breaks.
    let cut = &bytes[..bytes.len() / 2];
    let e = decode_with(&header, cut).expect_err("truncated");
    assert!(matches!(&e, WfdbError::Signal { file, .. } if file == "fmt516.flac"), "{e}");
    assert!(e.to_string().starts_with("fmt516.flac: byte "), "{e}");
    // Not FLAC at all.
    let e = decode_with(&header, b"RIFF....WAVEfmt ").expect_err("not flac");
    assert!(matches!(&e, WfdbError::Signal { problem: SignalProblem::Flac(_), .. }), "{e}");
    // The header says 24-bit, the stream is 16-bit.
    let text = String::from_utf8(fixture("fmt516.hea")).expect("text").replace("516x2", "524x2");
    let wrong_bits = parse_header("fmt516.hea", text.as_bytes()).expect("header");
    let e = decode_with(&wrong_bits, &bytes).expect_err("bits");
    assert!(
        matches!(&e, WfdbError::Signal { problem: SignalProblem::FlacBits { found: 16, expected: 24, .. }, .. }),
        "{e}"
    );
    // One signal in the header, two channels in the stream.
    let one = parse_header("o.hea", b"o 1 100 100\nfmt516.flac 516x2\n").expect("header");
    let e = decode_with(&one, &bytes).expect_err("channels");
    assert!(
        matches!(&e, WfdbError::Signal { problem: SignalProblem::FlacChannels { channels: 2, signals: 1 }, .. }),
        "{e}"
    );
    // Signals of one FLAC file must share their samples per frame.
    let mixed = parse_header("x.hea", b"x 2 100 100\nx.flac 516x2\nx.flac 516x1\n").expect("header");
    let e = decode_with(&mixed, &bytes).expect_err("spf");
    assert!(matches!(&e, WfdbError::Signal { problem: SignalProblem::FlacSamplesPerFrame, .. }), "{e}");
    // More frames asked for than the stream holds.
    let long = parse_header(
        "l.hea",
        String::from_utf8(fixture("fmt516.hea")).expect("text").replacen(" 100 100", " 100 101", 1).as_bytes(),
    )
    .expect("header");
    let e = decode_with(&long, &bytes).expect_err("too short");
    assert!(
        matches!(&e, WfdbError::Signal { problem: SignalProblem::FlacTooShort { needed: 202, found: 200 }, .. }),
        "{e}"
    );
}

#[test]
fn an_unknown_format_lists_the_supported_ones() {
    let header = parse_header("u.hea", b"u 1 100 1\nu.dat 999\n").expect("header");
    assert_eq!(header.signals[0].format, SignalFormat::Other(999));
    let e = decode_with(&header, &[0, 0]).expect_err("unknown");
    assert!(e.to_string().contains("format 999 is not supported (supported: 8, 16, 24, 32, 61, 80, 160, 212"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A damaged FLAC signal file is an error or a record, never a panic.
    #[test]
    fn damaged_flac_never_panics(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in 0usize..64) {
        let header = header("fmt524");
        let mut bytes = signal_file(&header);
        for (at, value) in edits {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        bytes.truncate(bytes.len().saturating_sub(cut));
        let _ = decode_with(&header, &bytes);
    }
}
