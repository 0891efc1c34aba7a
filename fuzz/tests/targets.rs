//! Every fuzz target over its seeds, over simple mutations of them (truncations, byte
//! flips, repeated bytes), and over the crash inputs kept in `regressions/`: none may
//! panic. This is the plain-CI part of fuzzing; `cargo xtask fuzz` runs the real fuzzer.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Deterministic variants of `seed`: every prefix at 64 cut points, each byte flipped at
/// up to 256 positions, and a run of 0xff and 0x00 written in the middle.
fn variants(seed: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let n = seed.len();
    for i in 0..64.min(n + 1) {
        out.push(seed[..n * i / 64].to_vec());
    }
    let step = (n / 256).max(1);
    for i in (0..n).step_by(step) {
        let mut v = seed.to_vec();
        v[i] ^= 0xff;
        out.push(v);
        let mut v = seed.to_vec();
        v[i] = v[i].wrapping_add(1);
        out.push(v);
    }
    for fill in [0xff, 0x00] {
        let mut v = seed.to_vec();
        let at = n / 2;
        for b in v.iter_mut().skip(at).take(16) {
            *b = fill;
        }
        out.push(v);
    }
    out
}

#[test]
fn every_target_survives_its_seeds_their_variants_and_its_regressions() {
    let mut failures = Vec::new();
    for t in fuzz_targets::TARGETS {
        let (seeds, missing) = fuzz_targets::seeds(t.name, repo());
        for m in &missing {
            eprintln!("SKIPPED seed for {}: no data at {m}", t.name);
        }
        // The project's own vectors and files are always there; only ../shared may be absent.
        assert!(
            !seeds.is_empty() || missing.iter().all(|m| m.contains("shared")),
            "target {} has no seeds: {missing:?}",
            t.name
        );
        let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
        for (i, s) in seeds.iter().enumerate() {
            for (j, v) in variants(s).into_iter().enumerate() {
                inputs.push((format!("seed {i} variant {j}"), v));
            }
            inputs.push((format!("seed {i}"), s.clone()));
        }
        inputs.extend(fuzz_targets::regressions(t.name).into_iter().map(|(n, b)| (format!("regression {n}"), b)));
        for (what, input) in inputs {
            if catch_unwind(AssertUnwindSafe(|| (t.run)(&input))).is_err() {
                failures.push(format!("{}: {what} ({} bytes)", t.name, input.len()));
            }
        }
    }
    assert!(failures.is_empty(), "targets panicked on: {failures:#?}");
}

#[test]
fn the_seeds_of_the_byte_formats_are_accepted_by_their_decoders() {
    // A seed the decoder refuses starts the fuzzer outside the format: check the ones the
    // project makes itself.
    use ledger_protocol::Decode;
    let (txs, _) = fuzz_targets::seeds("tx", repo());
    assert!(txs.iter().any(|b| ledger_protocol::SignedTransaction::from_canonical_bytes(b).is_ok()));
    let (blocks, _) = fuzz_targets::seeds("block", repo());
    assert!(blocks.iter().all(|b| ledger_protocol::Block::from_canonical_bytes(b).is_ok()));
    let (cases, _) = fuzz_targets::seeds("case", repo());
    assert!(cases.iter().all(|b| twin_sim::casefile::read_case("seed", std::str::from_utf8(b).unwrap()).is_ok()));
    let (anchors, _) = fuzz_targets::seeds("anchors", repo());
    assert!(
        anchors.iter().all(|b| !twin_sim::verify::parse_anchors(std::str::from_utf8(b).unwrap()).unwrap().is_empty())
    );
    let (stores, _) = fuzz_targets::seeds("keystore", repo());
    assert!(stores.iter().all(|b| wallet::Keystore::from_json(std::str::from_utf8(b).unwrap()).is_ok()));
}
