//! The twin in WebAssembly, in headless Chromium: the same scenario with the same script
//! gives the same trajectory hash as the native build (the golden value in
//! `tests/twin_sim/scenarios.rs`), and real WFDB data decodes with its checksums.
#![cfg(target_arch = "wasm32")]

use twin_sim::scenario::{parse_actions, parse_scenario, run};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const GOLDEN: &str = "49d54baea6abc44673ab40510f1eeb408c53d57d564275dcd553eb908a032d86";

#[wasm_bindgen_test]
fn the_hemorrhage_trajectory_is_bit_identical_to_native() {
    let s = parse_scenario(include_str!("../scenarios/surgical-hemorrhage.toml")).unwrap();
    let a = parse_actions(include_str!("../scenarios/surgical-hemorrhage.good.actions.toml")).unwrap();
    assert_eq!(run(&s, &a).unwrap().trajectory_hash.to_hex(), GOLDEN);
}

#[wasm_bindgen_test]
fn record_100_decodes_with_matching_checksums() {
    let h = twin_sim::wfdb::parse_header("100.hea", include_bytes!("../data/physionet/mitdb-100/100.hea")).unwrap();
    let dat: &[u8] = include_bytes!("../data/physionet/mitdb-100/100.dat");
    let r = twin_sim::wfdb::decode_record(&h, |_| Some(dat)).unwrap();
    assert!(r.signals.iter().all(|s| s.checksum_matches() == Some(true)));
}
