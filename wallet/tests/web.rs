//! Browser tests of the wallet (headless Chromium): a keystore with the default Argon2id
//! costs, signing checked by the protocol's verifier, localStorage, the JS API from end
//! to end, and a benchmark that prints `wallet sign_median_ms=<x> unlock_ms=<y>`.
#![cfg(all(target_arch = "wasm32", feature = "js"))]

use ledger_protocol::codec::{Decode, Encode};
use ledger_protocol::crypto::sha256;
use ledger_protocol::*;
use wallet::js;
use wallet::storage::KeyValueStore;
use wallet::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const CHAIN: &str = "healthchain-test";

/// Milliseconds from `performance.now()` (sub-millisecond), or `Date.now()` without it.
fn now_ms() -> f64 {
    let global = js_sys::global();
    let performance = js_sys::Reflect::get(&global, &JsValue::from_str("performance")).ok();
    let now = performance.as_ref().and_then(|p| {
        let f = js_sys::Reflect::get(p, &JsValue::from_str("now")).ok()?;
        let f: js_sys::Function = f.into();
        f.call0(p).ok()?.as_f64()
    });
    now.unwrap_or_else(js_sys::Date::now)
}

fn revoke(id: &Identity, nonce: u64) -> Transaction {
    id.transaction(CHAIN, nonce, TxBody::RevokeConsent { consent: sha256(&[b"consent", &nonce.to_be_bytes()]) })
}

#[wasm_bindgen_test]
fn keystore_round_trip_with_default_params() {
    let mnemonic = Mnemonic::generate().unwrap();
    let expected = mnemonic.identity().unwrap().address();
    let ks = Keystore::create_default(&mnemonic, &Passphrase::from("browser passphrase"), Some("test".into())).unwrap();
    assert_eq!(ks.kdf_params(), KdfParams::DEFAULT);
    let back = Keystore::from_json(&ks.to_json()).unwrap();
    assert_eq!(back.unlock(&Passphrase::from("browser passphrase")).unwrap().address(), expected);
    assert_eq!(
        back.unlock(&Passphrase::from("wrong")).unwrap_err().to_string(),
        "wrong passphrase or corrupted keystore"
    );
}

#[wasm_bindgen_test]
fn signatures_verify_with_the_protocol_verifier() {
    let id = Mnemonic::from_entropy(&[0u8; 32]).identity().unwrap();
    // The same derivation as native (pinned in tests/wallet.rs).
    assert_eq!(id.public_key().to_hex(), "02bf9211fc152443d6fcbeef03b4689a8e31b5cb0cba2b5d718f258fbaf54173df");
    let signed = id.sign(revoke(&id, 1)).unwrap();
    let decoded = SignedTransaction::from_canonical_bytes(&signed.to_canonical_bytes()).unwrap();
    assert!(decoded.verify(&K256Verifier).is_ok());
    let mut forged = signed.clone();
    forged.tx.nonce = 2;
    assert!(forged.verify(&K256Verifier).is_err());
}

#[wasm_bindgen_test]
fn local_storage_round_trip() {
    let mut raw = LocalStorageStore::new().unwrap();
    raw.set("healthchain.test.key", "{\"a\": 1}").unwrap();
    assert_eq!(raw.get("healthchain.test.key").unwrap().as_deref(), Some("{\"a\": 1}"));
    assert!(raw.keys().unwrap().iter().any(|k| k == "healthchain.test.key"));
    raw.remove("healthchain.test.key").unwrap();
    assert_eq!(raw.get("healthchain.test.key").unwrap(), None);

    let params = KdfParams::MINIMUM;
    let ks = Keystore::create(
        &Mnemonic::from_entropy(&[4; 32]),
        &Passphrase::from("pw"),
        params,
        None,
        &mut rand_core::OsRng,
    )
    .unwrap();
    let mut store = WalletStore::new(LocalStorageStore::new().unwrap());
    store.save(&ks).unwrap();
    assert!(store.list().unwrap().contains(&ks.address()));
    let loaded = store.load(&ks.address()).unwrap().unwrap();
    assert_eq!(loaded, ks);
    assert!(loaded.unlock(&Passphrase::from("pw")).is_ok());
    store.remove(&ks.address()).unwrap();
    assert_eq!(store.load(&ks.address()).unwrap(), None);
}

#[wasm_bindgen_test]
fn js_api_end_to_end() {
    let phrase = js::generate_mnemonic().unwrap();
    assert_eq!(phrase.split(' ').count(), 24);
    assert!(js::validate_mnemonic(&phrase).is_ok());
    assert!(js::validate_mnemonic("abandon abandon").is_err());

    // The cheapest parameters a keystore may have (7 MiB, 5 passes); cheaper is refused.
    let cheap = js::create_keystore_with_params(&phrase, "pw".into(), 64, 1, 1, None).unwrap_err();
    assert!(format!("{cheap:?}").contains("must be from 7168"), "{cheap:?}");
    let json = js::create_keystore_with_params(&phrase, "pw".into(), 7168, 5, 1, None).unwrap();
    let address = js::keystore_address(&json).unwrap();
    assert_eq!(js::save_keystore(&json).unwrap(), address);
    assert!(js::list_keystores().unwrap().contains(&address));
    let stored = js::load_keystore(&address).unwrap().unwrap();
    assert!(js::unlock_keystore(&stored, "nope".into()).is_err());
    let wallet = js::unlock_keystore(&stored, "pw".into()).unwrap();
    assert_eq!(wallet.address(), address);
    js::remove_keystore(&address).unwrap();
    assert_eq!(js::load_keystore(&address).unwrap(), None);

    // Sign a transaction given as JSON text and as a JS object.
    let signer = PublicKey::from_hex(&wallet.public_key()).unwrap();
    let tx = Transaction {
        chain_id: CHAIN.into(),
        signer,
        nonce: 3,
        body: TxBody::Dispense { prescription: sha256(&[b"rx"]) },
    };
    let text = serde_json::to_string(&tx).unwrap();
    let hex_from_text = wallet.sign_transaction(JsValue::from_str(&text)).unwrap();
    let object = js_sys::JSON::parse(&text).unwrap();
    let hex_from_object = wallet.sign_transaction(object.clone()).unwrap();
    assert_eq!(hex_from_text, hex_from_object);
    let signed = SignedTransaction::from_canonical_bytes(&hex::decode(&hex_from_text).unwrap()).unwrap();
    assert_eq!(signed.tx, tx);
    assert!(signed.verify(&K256Verifier).is_ok());
    assert!(wallet.sign_transaction(JsValue::from_str("{\"chain_id\": 1}")).is_err());

    // Describe it, with and without a directory.
    let description: Description =
        serde_wasm_bindgen::from_value(js::describe_transaction(object.clone(), JsValue::UNDEFINED).unwrap()).unwrap();
    assert_eq!(description.title, "Dispense a prescription");
    let dir =
        JsValue::from_str(&format!("{{\"prescriptions\": {{\"{}\": \"Amoxicillin for Ana\"}}}}", sha256(&[b"rx"])));
    let named: Description = serde_wasm_bindgen::from_value(js::describe_transaction(object, dir).unwrap()).unwrap();
    assert!(named.sentence.contains("Amoxicillin for Ana"), "{}", named.sentence);

    // Seal, wrap for ourselves, open.
    let sealed = js::seal_record(b"lab result").unwrap();
    assert_eq!(sealed.content_hash(), content_hash(b"lab result").to_hex());
    assert_eq!(sealed.blob_id(), js::blob_id(&sealed.blob()));
    let wrapped = sealed.wrap_for(&wallet.encryption_public_key()).unwrap();
    assert_eq!(wallet.open_record(&wrapped, &sealed.blob()).unwrap(), b"lab result");
    let key = wallet.unwrap_key(&wrapped).unwrap();
    assert_eq!(key.open(&sealed.blob()).unwrap(), b"lab result");
    assert!(sealed.wrap_for("00").is_err());

    // A signed API request, as its Authorization header.
    let request = ledger_protocol::wire::ApiRequest {
        chain_id: CHAIN.into(),
        audience: ledger_protocol::Address([7; 20]),
        method: "GET".into(),
        path: "/v1/patients/x/records".into(),
        body_hash: ledger_protocol::wire::body_hash(b""),
        timestamp_ms: 1_790_000_000_000,
        nonce: vec![1; 16],
        signer,
    };
    let header = wallet.sign_api_request(JsValue::from_str(&serde_json::to_string(&request).unwrap())).unwrap();
    let signed_request = ledger_protocol::wire::SignedApiRequest::from_header(&header).unwrap();
    assert!(signed_request.verify(&K256Verifier));
}

#[wasm_bindgen_test]
fn bench_sign_and_unlock() {
    let mnemonic = Mnemonic::from_entropy(&[8; 32]);
    let id = mnemonic.identity().unwrap();
    let mut times = Vec::with_capacity(50);
    for nonce in 1..=50u64 {
        let tx = revoke(&id, nonce);
        let start = now_ms();
        let signed = id.sign(tx).unwrap();
        times.push(now_ms() - start);
        assert!(!signed.signature.is_high_s());
    }
    times.sort_by(f64::total_cmp);
    let sign_median_ms = (times[24] + times[25]) / 2.0;

    let ks = Keystore::create_default(&mnemonic, &Passphrase::from("bench passphrase"), None).unwrap();
    let start = now_ms();
    let unlocked = ks.unlock(&Passphrase::from("bench passphrase")).unwrap();
    let unlock_ms = now_ms() - start;
    assert_eq!(unlocked.address(), id.address());

    console_log!("wallet sign_median_ms={sign_median_ms:.3} unlock_ms={unlock_ms:.1}");
}
