//! The golden vectors, checked in a browser: the wasm build must encode, hash, sign and
//! verify every transaction kind exactly as the native build does (see the native
//! `golden_vectors_match` in protocol.rs, which writes and checks the same file).
#![cfg(target_arch = "wasm32")]

mod golden;

use ledger_protocol::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn golden_vectors_match_in_the_browser() {
    let vectors: Vec<golden::Vector> = serde_json::from_str(golden::VECTORS).expect("golden.json parses");
    let kinds: Vec<TxKind> = vectors.iter().map(|v| v.tx.body.kind()).collect();
    assert_eq!(kinds, TxKind::ALL.to_vec(), "one vector per kind, in order");
    for v in &vectors {
        golden::check(v);
    }
}
