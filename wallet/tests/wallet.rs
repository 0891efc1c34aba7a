//! Native integration tests of the wallet: recovery phrases, key derivation, keystores
//! (round trip, wrong passphrase, every kind of tampering, malformed files), record
//! envelopes and key wrapping, secrets' Debug, storage, and transaction descriptions,
//! including the proof that no field of any transaction kind is left out of its text.
#![cfg(not(target_arch = "wasm32"))]

use ledger_protocol::codec::Encode;
use ledger_protocol::crypto::sha256;
use ledger_protocol::tx::WrappedKey;
use ledger_protocol::*;
use rand_core::OsRng;
use serde_json::Value;
use wallet::describe::{civil_from_days, date, datetime};
use wallet::envelope::{WRAPPED_KEY_LEN, blob_id};
use wallet::*;

/// The cheapest Argon2 costs a keystore may have, so keystore tests stay quick.
fn small() -> KdfParams {
    KdfParams::MINIMUM
}

fn mnemonic(byte: u8) -> Mnemonic {
    Mnemonic::from_entropy(&[byte; 32])
}

fn identity(byte: u8) -> Identity {
    mnemonic(byte).identity().unwrap()
}

/// A random number generator that always fails.
struct BrokenRng;
impl rand_core::RngCore for BrokenRng {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, _dest: &mut [u8]) {}
    fn try_fill_bytes(&mut self, _dest: &mut [u8]) -> Result<(), rand_core::Error> {
        Err(rand_core::Error::from(std::num::NonZeroU32::new(rand_core::Error::CUSTOM_START).unwrap()))
    }
}
impl rand_core::CryptoRng for BrokenRng {}

// ---------------------------------------------------------------- recovery phrases

#[test]
fn mnemonic_matches_the_bip39_vector_and_round_trips() {
    let zero = Mnemonic::from_entropy(&[0u8; 32]);
    let expected = format!("{}art", "abandon ".repeat(23));
    assert_eq!(zero.phrase().as_str(), expected);
    assert_eq!(zero.words().count(), 24);

    let m = mnemonic(7);
    let back = Mnemonic::parse(&m.phrase()).unwrap();
    assert_eq!(*back.entropy(), [7u8; 32]);
    assert_eq!(back.identity().unwrap().address(), m.identity().unwrap().address());

    // Case and spacing do not matter.
    let shouty = format!("  {}  ", m.phrase().to_uppercase().replace(' ', "\n\t "));
    assert_eq!(*Mnemonic::parse(&shouty).unwrap().entropy(), [7u8; 32]);
}

#[test]
fn generated_mnemonics_are_24_words_and_differ() {
    let a = Mnemonic::generate().unwrap();
    let b = Mnemonic::generate().unwrap();
    assert_eq!(a.words().count(), 24);
    assert_ne!(*a.entropy(), *b.entropy());
    assert_eq!(Mnemonic::generate_with(&mut BrokenRng).unwrap_err(), KeyError::RandomnessUnavailable);
}

#[test]
fn bad_phrases_say_what_is_wrong() {
    let phrase = mnemonic(7).phrase().to_string();
    let mut words: Vec<&str> = phrase.split(' ').collect();

    words[4] = "notaword";
    let err = Mnemonic::parse(&words.join(" ")).unwrap_err();
    assert_eq!(err, KeyError::UnknownWord { position: 5 });
    assert!(err.to_string().contains("word 5"), "{err}");

    let all_abandon = "abandon ".repeat(24);
    let err = Mnemonic::parse(&all_abandon).unwrap_err();
    assert_eq!(err, KeyError::BadChecksum);
    assert!(err.to_string().contains("does not check out"));

    let err = Mnemonic::parse(&"abandon ".repeat(12)).unwrap_err();
    assert_eq!(err, KeyError::WrongWordCount { expected: 24, found: 12 });
    assert_eq!(Mnemonic::parse("").unwrap_err(), KeyError::WrongWordCount { expected: 24, found: 0 });
}

#[test]
fn derivation_is_fixed_and_keys_are_separate() {
    let id = Mnemonic::from_entropy(&[0u8; 32]).identity().unwrap();
    // Pinned: changing the derivation would lose every existing account.
    assert_eq!(id.public_key().to_hex(), PINNED_PUBLIC_KEY);
    assert_eq!(id.encryption_public_key().to_hex(), PINNED_ENCRYPTION_KEY);
    assert_ne!(id.public_key(), id.encryption_public_key());
    assert_eq!(id.address(), id.public_key().address());
    assert_ne!(identity(1).address(), identity(2).address());
}

// Computed independently (Python: hashlib PBKDF2 and HMAC, textbook secp256k1) from the
// all-zero entropy phrase "abandon ... art".
const PINNED_PUBLIC_KEY: &str = "02bf9211fc152443d6fcbeef03b4689a8e31b5cb0cba2b5d718f258fbaf54173df";
const PINNED_ENCRYPTION_KEY: &str = "026afaeb0d867cd7b88159f527a93c0c456d4d79f08751f20f198724de2cd42cfd";

#[test]
fn signing_verifies_and_refuses_someone_elses_transaction() {
    let id = identity(3);
    let tx = id.transaction("healthchain-test", 1, TxBody::RevokeConsent { consent: sha256(&[b"c"]) });
    let signed = id.sign(tx.clone()).unwrap();
    let bytes = signed.to_canonical_bytes();
    let back = SignedTransaction::from_canonical_bytes(&bytes).unwrap();
    assert!(back.verify(&K256Verifier).is_ok());

    let mut other = tx;
    other.signer = identity(4).public_key();
    let err = identity(3).sign(other).unwrap_err();
    assert!(matches!(err, SignError::NotOurKey { .. }));

    let target = ApiTarget { chain_id: "healthchain-test".into(), audience: Address([7; 20]) };
    let signed = id.api_request(&target, "GET", "/v1/patients/x/records", b"", 5, &mut OsRng).unwrap();
    assert!(signed.verify(&K256Verifier));
    let again = id.api_request(&target, "GET", "/v1/patients/x/records", b"", 5, &mut OsRng).unwrap();
    assert_ne!(signed.request.nonce, again.request.nonce, "every request has its own nonce");
    let header = signed.to_header();
    assert_eq!(ledger_protocol::wire::SignedApiRequest::from_header(&header).unwrap(), signed);
    assert!(ledger_protocol::wire::SignedApiRequest::from_header("Bearer x").is_err());
    assert!(identity(4).sign_api_request(signed.request.clone()).is_err());
}

// ---------------------------------------------------------------- keystore

fn keystore(byte: u8, pass: &str) -> Keystore {
    Keystore::create(&mnemonic(byte), &Passphrase::from(pass), small(), Some("laptop".into()), &mut OsRng).unwrap()
}

#[test]
fn keystore_round_trips_through_json() {
    let ks = keystore(9, "correct horse");
    let json = ks.to_json();
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["kdf"]["algorithm"], "argon2id");
    assert_eq!(v["kdf"]["m_kib"], KdfParams::MIN_M_KIB, "the cheapest parameters a keystore may have");
    assert_eq!(v["kdf"]["salt"].as_str().unwrap().len(), 32);
    assert_eq!(v["cipher"], "xchacha20poly1305");
    assert_eq!(v["nonce"].as_str().unwrap().len(), 48);
    assert_eq!(v["ciphertext"].as_str().unwrap().len(), 96);
    assert_eq!(v["created_note"], "laptop");
    assert_eq!(v["address"], identity(9).address().to_hex());

    let back = Keystore::from_json(&json).unwrap();
    assert_eq!(back, ks);
    let id = back.unlock(&Passphrase::from("correct horse")).unwrap();
    assert_eq!(id.address(), identity(9).address());
    assert_eq!(*back.unlock_mnemonic(&Passphrase::from("correct horse")).unwrap().entropy(), [9u8; 32]);
    // Also through serde.
    let via_serde: Keystore = serde_json::from_value(serde_json::to_value(&ks).unwrap()).unwrap();
    assert_eq!(via_serde, ks);
}

#[test]
fn keystore_with_default_params_round_trips() {
    let ks = Keystore::create_default(&mnemonic(1), &Passphrase::from("a long passphrase"), None).unwrap();
    assert_eq!(ks.kdf_params(), KdfParams::DEFAULT);
    let v: Value = serde_json::from_str(&ks.to_json()).unwrap();
    assert_eq!(
        (v["kdf"]["m_kib"].as_u64(), v["kdf"]["t"].as_u64(), v["kdf"]["p"].as_u64()),
        (Some(65536), Some(3), Some(1))
    );
    assert!(v.get("created_note").is_none());
    let id = Keystore::from_json(&ks.to_json()).unwrap().unlock(&Passphrase::from("a long passphrase")).unwrap();
    assert_eq!(id.address(), identity(1).address());
}

#[test]
fn deterministic_keystore_with_given_salt_and_nonce() {
    let a = Keystore::create_with(&mnemonic(2), &Passphrase::from("pw"), small(), None, [1; 16], [2; 24]).unwrap();
    let b = Keystore::create_with(&mnemonic(2), &Passphrase::from("pw"), small(), None, [1; 16], [2; 24]).unwrap();
    assert_eq!(a.to_json(), b.to_json());
}

#[test]
fn wrong_passphrase_gives_the_opaque_error() {
    let ks = keystore(9, "right");
    let err = ks.unlock(&Passphrase::from("wrong")).unwrap_err();
    assert_eq!(err, KeystoreError::WrongPassphraseOrTampered);
    assert_eq!(err.to_string(), "wrong passphrase or corrupted keystore");
}

/// Applies `change` to the keystore JSON, then reads and unlocks it.
fn tampered(ks: &Keystore, change: impl FnOnce(&mut Value)) -> Result<Identity, KeystoreError> {
    let mut v: Value = serde_json::from_str(&ks.to_json()).unwrap();
    change(&mut v);
    Keystore::from_json(&v.to_string())?.unlock(&Passphrase::from("pw"))
}

/// A named edit of keystore JSON.
type Change = (&'static str, Box<dyn FnOnce(&mut Value)>);

fn flip_hex(s: &str) -> String {
    let mut bytes = hex::decode(s).unwrap();
    bytes[0] ^= 1;
    hex::encode(bytes)
}

#[test]
fn every_tampered_field_gives_the_opaque_error() {
    let ks = keystore(5, "pw");
    assert!(tampered(&ks, |_| {}).is_ok());
    let other_address = identity(6).address().to_hex();
    let changes: Vec<Change> = vec![
        ("ciphertext", Box::new(|v| v["ciphertext"] = flip_hex(v["ciphertext"].as_str().unwrap()).into())),
        ("nonce", Box::new(|v| v["nonce"] = flip_hex(v["nonce"].as_str().unwrap()).into())),
        ("salt", Box::new(|v| v["kdf"]["salt"] = flip_hex(v["kdf"]["salt"].as_str().unwrap()).into())),
        // Other parameters a keystore may have: what was bound to the ciphertext changed.
        ("m_kib", Box::new(|v| v["kdf"]["m_kib"] = 8192.into())),
        ("t", Box::new(|v| v["kdf"]["t"] = 6.into())),
        ("p", Box::new(|v| v["kdf"]["p"] = 2.into())),
        ("address", Box::new(move |v| v["address"] = other_address.into())),
        ("note", Box::new(|v| v["created_note"] = "phone".into())),
        (
            "note removed",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("created_note");
            }),
        ),
    ];
    for (what, change) in changes {
        let err = tampered(&ks, change).unwrap_err();
        assert_eq!(err, KeystoreError::WrongPassphraseOrTampered, "{what}");
    }
}

#[test]
fn unreadable_keystores_name_what_is_wrong() {
    let ks = keystore(5, "pw");
    let err = tampered(&ks, |v| v["version"] = 2.into()).unwrap_err();
    assert_eq!(err, KeystoreError::UnsupportedVersion(2));
    assert!(err.to_string().contains("version 2"));

    let cases: Vec<Change> = vec![
        (
            "`nonce`",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("nonce");
            }),
        ),
        ("`kdf.salt`", Box::new(|v| v["kdf"]["salt"] = "zz".into())),
        ("m_kib", Box::new(|v| v["kdf"]["m_kib"] = 4.into())),
        ("t (passes)", Box::new(|v| v["kdf"]["t"] = 0.into())),
        // Parameters below the floor (cheap to guess) or absurdly high (a hung browser) are
        // refused before any key is derived.
        ("below the safe floor", Box::new(|v| v["kdf"]["t"] = 1.into())),
        (
            "above the most a wallet will spend",
            Box::new(|v| {
                v["kdf"]["m_kib"] = (1024 * 1024).into();
                v["kdf"]["t"] = 64.into();
            }),
        ),
        ("m_kib", Box::new(|v| v["kdf"]["m_kib"] = (u64::from(u32::MAX) + 1).into())),
        ("`kdf.algorithm`", Box::new(|v| v["kdf"]["algorithm"] = "scrypt".into())),
        ("`cipher`", Box::new(|v| v["cipher"] = "aes".into())),
        ("`ciphertext`", Box::new(|v| v["ciphertext"] = "00".into())),
        ("`address`", Box::new(|v| v["address"] = "12".into())),
        ("unknown field `extra`", Box::new(|v| v["extra"] = 1.into())),
        ("unknown field `kdf.x`", Box::new(|v| v["kdf"]["x"] = 1.into())),
        ("`version`", Box::new(|v| v["version"] = "one".into())),
    ];
    for (what, change) in cases {
        match tampered(&ks, change) {
            Err(KeystoreError::Malformed(msg)) => assert!(msg.contains(what), "{what}: {msg}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    assert!(
        matches!(Keystore::from_json("not json"), Err(KeystoreError::Malformed(m)) if m.contains("not valid JSON"))
    );
    assert!(matches!(Keystore::from_json("[1]"), Err(KeystoreError::Malformed(_))));
}

#[test]
fn weak_params_empty_passphrase_and_broken_rng_are_refused() {
    for (m, t, p) in [
        (4, 1, 1),
        (8, 1, 1),               // Argon2's own minimum, far below the floor
        (7 * 1024, 4, 1),        // 7 MiB needs 5 passes
        (19 * 1024, 1, 1),       // 19 MiB needs 2
        (19 * 1024, 0, 1),       // no pass at all
        (64 * 1024, 3, 0),       // no lane
        (64 * 1024, 3, 17),      // too many lanes
        (2 * 1024 * 1024, 1, 1), // 2 GiB of memory
        (1024 * 1024, 3, 1),     // 1 GiB × 3: minutes in a browser
        (64 * 1024, 65, 1),      // too many passes
    ] {
        let e = KdfParams::new(m, t, p).unwrap_err();
        assert!(matches!(&e, KeystoreError::InvalidKdfParams(why) if !why.is_empty()), "{m} {t} {p}: {e:?}");
    }
    for (m, t, p) in [
        (7 * 1024, 5, 1),
        (9 * 1024, 4, 1),
        (12 * 1024, 3, 1),
        (19 * 1024, 2, 1),
        (46 * 1024, 1, 1),
        (1024 * 1024, 2, 4),
    ] {
        assert!(KdfParams::new(m, t, p).is_ok(), "{m} {t} {p}");
    }
    let err = Keystore::create(&mnemonic(1), &Passphrase::from(""), small(), None, &mut OsRng).unwrap_err();
    assert_eq!(err, KeystoreError::EmptyPassphrase);
    let err = Keystore::create(&mnemonic(1), &Passphrase::from("pw"), small(), None, &mut BrokenRng).unwrap_err();
    assert_eq!(err, KeystoreError::RandomnessUnavailable);
    let long = "x".repeat(2000);
    let err = Keystore::create(&mnemonic(1), &Passphrase::from("pw"), small(), Some(long), &mut OsRng).unwrap_err();
    assert_eq!(err, KeystoreError::NoteTooLong);
}

#[test]
fn passphrase_and_costs_can_be_changed() {
    let ks = keystore(8, "old");
    let stronger = KdfParams::new(20 * 1024, 2, 1).unwrap();
    let new = ks.change_passphrase(&Passphrase::from("old"), &Passphrase::from("new"), stronger, &mut OsRng).unwrap();
    assert_eq!(new.kdf_params(), stronger);
    assert_eq!(new.created_note(), Some("laptop"));
    assert_eq!(new.unlock(&Passphrase::from("new")).unwrap().address(), identity(8).address());
    assert!(new.unlock(&Passphrase::from("old")).is_err());
}

// ---------------------------------------------------------------- envelopes

#[test]
fn records_seal_and_open() {
    let plaintext = b"{\"resourceType\":\"Observation\",\"value\":37.2}";
    let (key, sealed) = seal(plaintext, &mut OsRng).unwrap();
    assert_eq!(sealed[0], 1);
    assert_eq!(sealed.len(), 1 + 24 + plaintext.len() + 16);
    assert_eq!(open(&key, &sealed).unwrap(), plaintext);
    assert_eq!(content_hash(plaintext), sha256(&[b"healthchain/record", plaintext]));
    assert_eq!(blob_id(&sealed), sha256(&[b"healthchain/blob", &sealed]));

    let (key2, sealed2) = seal(plaintext, &mut OsRng).unwrap();
    assert_ne!(sealed, sealed2, "a fresh key and nonce per record");
    let again = wallet::seal_with(&key, b"new contents", &mut OsRng).unwrap();
    assert_eq!(open(&key, &again).unwrap(), b"new contents", "a new version under the same key");
    assert_ne!(again[1..25], sealed[1..25], "with a fresh nonce");
    assert_eq!(open(&key2, &sealed).unwrap_err(), EnvelopeError::DecryptionFailed);

    for at in [0usize, 5, sealed.len() - 1] {
        let mut bad = sealed.clone();
        bad[at] ^= 1;
        assert!(open(&key, &bad).is_err(), "byte {at}");
    }
    assert_eq!(open(&key, &sealed[..20]).unwrap_err(), EnvelopeError::Truncated);
    let mut v2 = sealed.clone();
    v2[0] = 2;
    assert_eq!(open(&key, &v2).unwrap_err(), EnvelopeError::UnsupportedVersion(2));
    assert!(open(&key, &seal(b"", &mut OsRng).unwrap().1).is_err());
    assert_eq!(seal(&[], &mut BrokenRng).unwrap_err(), EnvelopeError::RandomnessUnavailable);
}

#[test]
fn wrapped_keys_open_for_their_reader_only() {
    let reader = identity(21);
    let stranger = identity(22);
    let (key, sealed) = seal(b"x-ray report", &mut OsRng).unwrap();
    let wrapped = wrap_key(&key, &reader.encryption_public_key(), &mut OsRng).unwrap();
    assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
    assert_eq!(wrapped.len(), 106);
    assert_eq!(wrapped[0], 1);

    let unwrapped = unwrap_key(&reader, &wrapped).unwrap();
    assert_eq!(unwrapped.expose_bytes(), key.expose_bytes());
    assert_eq!(open(&unwrapped, &sealed).unwrap(), b"x-ray report");

    assert_eq!(unwrap_key(&stranger, &wrapped).unwrap_err(), EnvelopeError::UnwrapFailed);
    // Wrapped for the signing key instead of the encryption key: not openable either.
    let to_signing_key = wrap_key(&key, &reader.public_key(), &mut OsRng).unwrap();
    assert_eq!(unwrap_key(&reader, &to_signing_key).unwrap_err(), EnvelopeError::UnwrapFailed);

    for at in [1usize, 40, 70, 105] {
        let mut bad = wrapped.clone();
        bad[at] ^= 1;
        assert!(unwrap_key(&reader, &bad).is_err(), "byte {at}");
    }
    assert_eq!(unwrap_key(&reader, &wrapped[..100]).unwrap_err(), EnvelopeError::WrappedKeyLength(100));
    let mut v2 = wrapped.clone();
    v2[0] = 2;
    assert_eq!(unwrap_key(&reader, &v2).unwrap_err(), EnvelopeError::UnsupportedVersion(2));
    assert_eq!(wrap_key(&key, &PublicKey([5; 33]), &mut OsRng).unwrap_err(), EnvelopeError::InvalidReaderKey);
}

// ---------------------------------------------------------------- secrets

#[test]
fn debug_of_secrets_prints_nothing_secret() {
    let m = mnemonic(7);
    let phrase = m.phrase().to_string();
    let printed = format!("{m:?} {:?}", m.identity().unwrap());
    for word in phrase.split(' ') {
        assert!(!printed.split(|c: char| !c.is_alphanumeric()).any(|w| w == word), "{word} in {printed}");
    }
    assert!(printed.contains("redacted"));

    let pass = Passphrase::from("hunter2-secret");
    assert!(!format!("{pass:?}").contains("hunter2"));

    let (key, _) = seal(b"x", &mut OsRng).unwrap();
    let printed = format!("{key:?}");
    assert!(!printed.contains(&hex::encode(key.expose_bytes())));
    assert!(!printed.contains(&format!("{:?}", key.expose_bytes())));
    assert_eq!(printed, "RecordKey(<redacted>)");

    // The keystore holds nothing in the clear, so its Debug may show it all.
    let ks = keystore(7, "hunter2-secret");
    assert!(!format!("{ks:?}").contains("hunter2"));
}

// ---------------------------------------------------------------- storage

#[test]
fn wallet_store_saves_loads_lists_and_removes() {
    let mut store = WalletStore::new(MemoryStore::new());
    let a = keystore(1, "pw");
    let b = keystore(2, "pw");
    assert_eq!(store.list().unwrap(), vec![]);
    store.save(&a).unwrap();
    store.save(&b).unwrap();
    let mut expected = vec![a.address(), b.address()];
    expected.sort();
    assert_eq!(store.list().unwrap(), expected);
    assert_eq!(store.load(&a.address()).unwrap(), Some(a.clone()));
    assert_eq!(store.load(&identity(3).address()).unwrap(), None);
    store.remove(&a.address()).unwrap();
    assert_eq!(store.list().unwrap(), vec![b.address()]);

    // A keystore stored under the wrong address, or garbage, is reported, not trusted.
    let mut raw = store.into_inner();
    raw.set(&format!("healthchain.keystore.{}", a.address().to_hex()), &b.to_json()).unwrap();
    raw.set("healthchain.keystore.zz", "x").unwrap();
    raw.set("unrelated", "x").unwrap();
    let store = WalletStore::new(raw);
    assert!(matches!(store.load(&a.address()), Err(WalletStoreError::Keystore(KeystoreError::Malformed(_)))));
    assert_eq!(store.list().unwrap().len(), 2);
}

// ---------------------------------------------------------------- descriptions

fn signer_key() -> Identity {
    identity(30)
}

fn doctor() -> Address {
    identity(31).address()
}

fn stranger() -> Address {
    Address([9; 20])
}

fn directory() -> MapDirectory {
    let mut d = MapDirectory::default();
    d.accounts.insert(signer_key().address(), "Ana Patient".into());
    d.accounts.insert(doctor(), "Dr A. Rao".into());
    d.consents.insert(sha256(&[b"consent"]), "Dr A. Rao reading Procedures".into());
    d.records.insert(sha256(&[b"record"]), "Appendectomy note".into());
    for (name, plaintext) in sealed_samples() {
        d.sealed.insert(wallet::sealed_id(&fake_sealed(name)), plaintext.into());
    }
    d
}

/// The plaintext of each sealed sample field, by name.
fn sealed_samples() -> [(&'static str, &'static str); 5] {
    [
        ("profile", r#"{"name":"Ana Patient","birth_date":"1980-02-29"}"#),
        ("justification", r#"{"text":"Unresponsive, no relatives reachable"}"#),
        ("prescription", r#"{"medication":"Amoxicillin 500 mg","dosage":"1 capsule 3x daily","quantity":21}"#),
        ("claim", r#"{"amount_cents":12000,"currency":"EUR","description":"Consultation","codes":["99213"]}"#),
        ("reason", r#"{"text":"Not covered"}"#),
    ]
}

/// Stand-in ciphertext for a sealed sample (describing never decrypts; the directory
/// holds what the wallet sealed), readable by the signer and the doctor.
fn fake_sealed(name: &str) -> Sealed {
    Sealed {
        ciphertext: sha256(&[name.as_bytes()]).0.repeat(3),
        keys: vec![
            WrappedKey { reader: signer_key().address(), wrapped: vec![1; 106] },
            WrappedKey { reader: doctor(), wrapped: vec![2; 106] },
        ],
    }
}

/// One transaction of every kind, with lists of more than one item.
fn sample_bodies() -> Vec<TxBody> {
    let me = signer_key().address();
    let h = |s: &str| sha256(&[s.as_bytes()]);
    let wk = |a: Address, b: u8| WrappedKey { reader: a, wrapped: vec![b; 106] };
    vec![
        TxBody::RegisterPatient {
            encryption_key: signer_key().encryption_public_key(),
            profile: fake_sealed("profile"),
        },
        TxBody::RegisterProvider {
            key: identity(31).public_key(),
            encryption_key: identity(31).encryption_public_key(),
            role: Role::Doctor,
            name: "Dr A. Rao".into(),
            licence: "GMC 7654321".into(),
        },
        TxBody::GrantConsent {
            grantee: doctor(),
            classes: vec![DataClass::Procedures, DataClass::Observations],
            actions: Actions::READ,
            purpose: Purpose::Treatment,
            valid_from: 1_790_000_000,
            valid_until: 1_801_440_000,
        },
        TxBody::RevokeConsent { consent: h("consent") },
        TxBody::AnchorRecord {
            patient: me,
            content_hash: h("content"),
            size: 2048,
            class: DataClass::Conditions,
            blob: h("blob"),
            keys: vec![wk(me, 1), wk(doctor(), 2), wk(stranger(), 3)],
        },
        TxBody::ShareRecordKey { record: h("record"), key: wk(doctor(), 4) },
        TxBody::AccessEvent {
            record: h("record"),
            reader: doctor(),
            basis: AccessBasis::Consent(h("consent")),
            request: Some(Box::new({
                let k = k256::ecdsa::SigningKey::from_slice(&[31; 32]).unwrap();
                wire::ApiRequest {
                    chain_id: "healthchain-test".into(),
                    audience: stranger(),
                    method: "POST".into(),
                    path: format!("/v1/records/{}/read", h("record")),
                    body_hash: wire::body_hash(b""),
                    timestamp_ms: 1_800_000_000_123,
                    nonce: vec![5; 16],
                    signer: PublicKey::from(k.verifying_key()),
                }
                .sign(&k)
            })),
        },
        TxBody::BreakGlass { patient: stranger(), justification: fake_sealed("justification"), duration_secs: 5400 },
        TxBody::Prescribe {
            patient: stranger(),
            pharmacy: doctor(),
            details: fake_sealed("prescription"),
            valid_until: 1_790_086_400,
        },
        TxBody::Dispense { prescription: h("rx") },
        TxBody::Claim {
            patient: stranger(),
            insurer: doctor(),
            records: vec![h("record"), h("other")],
            details: fake_sealed("claim"),
        },
        TxBody::DecideClaim { claim: h("claim"), approved: false, reason: fake_sealed("reason") },
        TxBody::AnchorTwinSegment {
            patient: stranger(),
            case_id: h("case"),
            stage: Stage::Diagnosis,
            stream: "HR".into(),
            start_ms: 1_000,
            end_ms: 3_723_004,
            segment_hash: h("seg"),
        },
        TxBody::RecordTrainingRun {
            scenario: "surgical-hemorrhage".into(),
            score_tenths: 893,
            max_tenths: 1000,
            trajectory_hash: h("trajectory"),
            actions: "[[action]]\nat_min = 4.5\nkind = \"crystalloid\"\nvalue = 0.15\n".into(),
        },
        TxBody::DeactivateProvider { provider: doctor() },
        TxBody::RotateKey {
            account: doctor(),
            key: PublicKey::from_hex("02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5").unwrap(),
            encryption_key: PublicKey::from_hex("02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9")
                .unwrap(),
        },
        TxBody::ReviewBreakGlass { grant: h("break-glass"), until: 1_790_086_400 },
        TxBody::ShareLink {
            link: h("link"),
            files: vec![h("file 1"), h("file 2")],
            records: vec![h("record")],
            expires: 1_790_086_400,
            single_use: true,
            passcode: Some(fake_sealed("passcode")),
        },
        TxBody::RevokeShareLink { link: h("link") },
        TxBody::ShareLinkUsed { link: h("link"), opened: false, recipient: fake_sealed("recipient") },
    ]
}

fn sample_txs() -> Vec<Transaction> {
    sample_bodies()
        .into_iter()
        .enumerate()
        .map(|(i, b)| signer_key().transaction("healthchain-test", i as u64 + 1, b))
        .collect()
}

#[test]
fn samples_cover_every_kind() {
    let kinds: Vec<TxKind> = sample_bodies().iter().map(TxBody::kind).collect();
    assert_eq!(kinds, TxKind::ALL.to_vec());
}

#[test]
fn every_kind_reads_in_plain_words() {
    let dir = directory();
    let texts: Vec<Description> = sample_txs().iter().map(|tx| describe(tx, &dir)).collect();
    for (tx, d) in sample_txs().iter().zip(&texts) {
        let text = d.to_text();
        assert!(!d.title.is_empty() && d.sentence.ends_with('.'), "{text}");
        assert!(text.contains("\"healthchain-test\""), "chain id: {text}");
        assert!(text.contains(&tx.signer.to_hex()), "signer: {text}");
        assert!(text.contains(&format!("Sequence number (nonce): {}", tx.nonce)), "nonce: {text}");
    }
    let sentence = |kind: TxKind| texts[TxKind::ALL.iter().position(|k| *k == kind).unwrap()].sentence.clone();
    assert_eq!(
        sentence(TxKind::GrantConsent),
        "Dr A. Rao may read your Procedures and Observations for treatment until 2027-01-31."
    );
    assert!(sentence(TxKind::Claim).contains("EUR 120.00"), "{}", sentence(TxKind::Claim));
    assert!(sentence(TxKind::Claim).contains("09090909…0909 (unknown account)"), "{}", sentence(TxKind::Claim));
    assert!(sentence(TxKind::BreakGlass).contains("for 1 hour 30 minutes"), "{}", sentence(TxKind::BreakGlass));
    assert!(
        sentence(TxKind::Prescribe).contains("valid until 2026-09-22 14:13 UTC"),
        "{}",
        sentence(TxKind::Prescribe)
    );
    assert!(sentence(TxKind::AnchorRecord).contains("readable by you, Dr A. Rao and 09090909…0909 (unknown account)"));
    assert!(sentence(TxKind::AnchorTwinSegment).contains("from 0:00:01.000 to 1:02:03.004"));
    assert!(
        sentence(TxKind::RecordTrainingRun).contains("a score of 89.3 of 100.0, 1 action and"),
        "{}",
        sentence(TxKind::RecordTrainingRun)
    );
    assert!(sentence(TxKind::AccessEvent).contains("record \"Appendectomy note\""));
    assert_eq!(sentence(TxKind::DecideClaim).split(' ').nth(1), Some("deny"));
    assert!(sentence(TxKind::DecideClaim).contains("\"Not covered\""), "{}", sentence(TxKind::DecideClaim));
    assert!(sentence(TxKind::Prescribe).contains("\"Amoxicillin 500 mg\", \"1 capsule 3x daily\", quantity 21"));
    assert!(sentence(TxKind::Prescribe).contains("Only you and Dr A. Rao can read what it is."));
    assert!(sentence(TxKind::RegisterPatient).contains("Your name, \"Ana Patient\", is sealed"));
    assert!(sentence(TxKind::BreakGlass).contains("\"Unresponsive, no relatives reachable\""));
    assert!(sentence(TxKind::DeactivateProvider).starts_with("You deactivate Dr A. Rao"));
    assert!(sentence(TxKind::RotateKey).starts_with("You give Dr A. Rao new keys"));
    assert!(
        sentence(TxKind::ShareLink).starts_with("You let whoever holds this link and its passcode read record \"Appendectomy note\" until 2026-09-22 14:13 UTC, once."),
        "{}",
        sentence(TxKind::ShareLink)
    );
    assert!(sentence(TxKind::RevokeShareLink).starts_with("You end your share link"));
    assert!(sentence(TxKind::ShareLinkUsed).contains("refused for a wrong passcode"));
    assert!(
        sentence(TxKind::ReviewBreakGlass).contains("set the end of emergency access")
            && sentence(TxKind::ReviewBreakGlass).contains("to 2026-09-22 14:13 UTC"),
        "{}",
        sentence(TxKind::ReviewBreakGlass)
    );

    // Sealed content the wallet does not hold is never guessed at: the sentence says so.
    for (kind, words) in [
        (TxKind::Prescribe, "a sealed prescription this wallet cannot show"),
        (TxKind::Claim, "a sealed amount this wallet cannot show"),
        (TxKind::BreakGlass, "with a sealed reason this wallet cannot show"),
    ] {
        let tx = &sample_txs()[TxKind::ALL.iter().position(|k| *k == kind).unwrap()];
        let bare = describe(tx, &NoDirectory).sentence;
        assert!(bare.contains(words), "{bare}");
    }

    // Without a directory every account is unknown but for "you".
    let bare = describe(&sample_txs()[2], &NoDirectory);
    assert!(bare.sentence.contains("(unknown account) may read your"), "{}", bare.sentence);
}

#[test]
fn outside_text_cannot_disguise_itself() {
    let tx = signer_key().transaction(
        "healthchain-test",
        1,
        TxBody::RegisterProvider {
            key: PublicKey([2; 33]),
            encryption_key: PublicKey([2; 33]),
            role: Role::Doctor,
            name: "Ana\u{202E}evil\"\nSigned by: x\\".into(),
            licence: "1".into(),
        },
    );
    let text = describe(&tx, &NoDirectory).to_text();
    assert!(text.contains(r#""Ana\u{202E}evil\"\u{000A}Signed by: x\\""#), "{text}");
    assert!(!text.contains('\u{202E}'));
}

#[test]
fn dates_are_civil_utc() {
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
    assert_eq!(date(951_782_400), "2000-02-29");
    assert_eq!(date(951_782_400 + 86_400), "2000-03-01");
    assert_eq!(datetime(1_790_000_000), "2026-09-21 14:13:20 UTC");
    assert_eq!(datetime(253_402_300_799), "9999-12-31 23:59:59 UTC");
    assert_eq!(date(u64::MAX), "584554051223-11-09");
    // Every day of four centuries round-trips through the day count.
    let mut days = -146_097 * 2;
    let (mut y, mut m, mut d) = civil_from_days(days);
    while days < 146_097 * 2 {
        days += 1;
        let next = civil_from_days(days);
        let month_len = match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let expected = if d < month_len {
            (y, m, d + 1)
        } else if m < 12 {
            (y, m + 1, 1)
        } else {
            (y + 1, 1, 1)
        };
        assert_eq!(next, expected, "day {days}");
        (y, m, d) = next;
    }
}

/// A step into a JSON value.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn at<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(v, |v, s| match s {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

/// Every path to a field (leaf or list) of the transaction's JSON, except the body's
/// `kind` tag (which is the kind itself, not a field of it).
fn fields(v: &Value, path: Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k != "kind" {
                    let mut p = path.clone();
                    p.push(Step::Key(k.clone()));
                    fields(child, p, out);
                }
            }
        }
        Value::Array(items) => {
            out.push(path.clone());
            for (i, child) in items.iter().enumerate() {
                let mut p = path.clone();
                p.push(Step::Index(i));
                fields(child, p, out);
            }
        }
        _ => out.push(path),
    }
}

/// Every way to change one field that is worth trying; most will not deserialize.
fn mutations(v: &Value) -> Vec<Value> {
    const VARIANTS: &[&str] = &[
        "patient",
        "doctor",
        "surgeon",
        "pharmacy",
        "insurer",
        "student",
        "authority",
        "demographics",
        "conditions",
        "procedures",
        "observations",
        "medications",
        "notes",
        "imaging",
        "encounters",
        "twin_data",
        "billing",
        "treatment",
        "payment",
        "research",
        "pre_hospital",
        "diagnosis",
        "surgery",
        "consent",
        "break_glass",
    ];
    match v {
        Value::Bool(b) => vec![Value::Bool(!b)],
        Value::Number(n) => {
            let n = n.as_u64().unwrap();
            [n.wrapping_add(1), n.wrapping_sub(1), 0, u64::from(u32::MAX), u64::MAX]
                .into_iter()
                .map(Value::from)
                .collect()
        }
        Value::String(s) => {
            let mut out = vec![Value::from(format!("{s}x")), Value::from("")];
            if !s.is_empty() && s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                let flip = |i: usize| {
                    let mut c: Vec<u8> = s.bytes().collect();
                    c[i] = if c[i] == b'0' { b'1' } else { b'0' };
                    Value::from(String::from_utf8(c).unwrap())
                };
                out.push(flip(0));
                out.push(flip(s.len() / 2));
                out.push(flip(s.len() - 1));
            }
            out.extend(VARIANTS.iter().map(|x| Value::from(*x)));
            out
        }
        Value::Array(items) => {
            let mut out = Vec::new();
            for i in 0..items.len() {
                let mut fewer = items.clone();
                fewer.remove(i);
                out.push(Value::Array(fewer));
            }
            if let Some(first) = items.first() {
                let mut more = items.clone();
                more.push(first.clone());
                out.push(Value::Array(more));
                let mut rev = items.clone();
                rev.reverse();
                out.push(Value::Array(rev));
            }
            out
        }
        _ => vec![],
    }
}

/// The details alone, as text: they must show every field even without the sentence.
fn details_text(d: &Description) -> String {
    d.details.iter().map(|x| format!("{}: {}\n", x.label, x.value)).collect()
}

/// For every kind and every field: each change to the field that still makes a valid
/// transaction changes what the person reads, and changes the details alone too. Run
/// with a directory that knows some names and with none, since names must not hide
/// the exact values.
#[test]
fn no_field_of_any_kind_is_left_out_of_what_is_shown() {
    let known = directory();
    let dirs: [&dyn Directory; 2] = [&known, &NoDirectory];
    for dir in dirs {
        for tx in sample_txs() {
            let description = describe(&tx, dir);
            let shown = description.to_text();
            let details = details_text(&description);
            let json = serde_json::to_value(&tx).unwrap();
            let mut paths = Vec::new();
            fields(&json, Vec::new(), &mut paths);
            assert!(paths.len() >= 4, "{}: chain id, signer, nonce and the body", tx.body.kind().name());
            for path in paths {
                let mut changed = 0;
                for new in mutations(at(&mut json.clone(), &path)) {
                    let mut mutated = json.clone();
                    *at(&mut mutated, &path) = new;
                    let Ok(other) = serde_json::from_value::<Transaction>(mutated) else { continue };
                    if other == tx {
                        continue;
                    }
                    changed += 1;
                    let other_description = describe(&other, dir);
                    let name = tx.body.kind().name();
                    assert_ne!(shown, other_description.to_text(), "{name} {path:?}: a change is not shown:\n{shown}");
                    assert_ne!(
                        details,
                        details_text(&other_description),
                        "{name} {path:?}: not in the details:\n{shown}"
                    );
                }
                assert!(changed > 0, "{} {path:?}: no mutation was tried", tx.body.kind().name());
            }
        }
    }
}

// ---------------------------------------------------------------- hostile input

mod hostile_input {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// Derived once: key derivation (PBKDF2) is slow in unoptimized test builds.
    fn reader() -> &'static Identity {
        static READER: OnceLock<Identity> = OnceLock::new();
        READER.get_or_init(|| identity(21))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn opening_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let key = RecordKey::from_bytes([1; 32]);
            prop_assert!(open(&key, &bytes).is_err());
            prop_assert!(unwrap_key(reader(), &bytes).is_err());
            let _ = Keystore::from_json(&String::from_utf8_lossy(&bytes));
            let _ = Mnemonic::parse(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn unwrapping_mutated_keys_never_panics(at in 0usize..106, byte in any::<u8>()) {
            let (key, _) = seal(b"x", &mut OsRng).unwrap();
            let mut wrapped = wrap_key(&key, &reader().encryption_public_key(), &mut OsRng).unwrap();
            let original = wrapped[at];
            wrapped[at] = byte;
            let result = unwrap_key(reader(), &wrapped);
            prop_assert_eq!(result.is_ok(), byte == original);
        }
    }
}

// ---------------------------------------------------------------- sealed fields

#[test]
fn sealed_fields_open_only_for_their_readers() {
    use wallet::sealed::{PrescriptionDetails, Reader, SealedError, open_json, seal_json};
    let (patient, doctor, pharmacy, stranger) = (identity(40), identity(41), identity(42), identity(43));
    let reader = |i: &Identity| Reader { address: i.address(), encryption_key: i.encryption_public_key() };
    let rx = PrescriptionDetails {
        medication: "Amoxicillin 500 mg".into(),
        dosage: "1 capsule 3x daily".into(),
        quantity: 21,
        instructions: String::new(),
    };
    let sealed =
        seal_json(&rx, &[reader(&patient), reader(&doctor), reader(&pharmacy), reader(&doctor)], &mut OsRng).unwrap();
    assert_eq!(sealed.keys.len(), 3, "each reader once");
    for who in [&patient, &doctor, &pharmacy] {
        assert_eq!(open_json::<PrescriptionDetails>(who, &sealed).unwrap(), rx);
    }
    assert_eq!(open_json::<PrescriptionDetails>(&stranger, &sealed).unwrap_err(), SealedError::NotForYou);
    assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains("Amoxicillin"));
    let mut tampered = sealed.clone();
    let last = tampered.ciphertext.len() - 1;
    tampered.ciphertext[last] ^= 1;
    assert!(matches!(open_json::<PrescriptionDetails>(&doctor, &tampered), Err(SealedError::Envelope(_))));
    // A key wrapped for someone else, relabelled as the stranger's, does not open.
    let mut relabelled = sealed.clone();
    relabelled.keys[0].reader = stranger.address();
    assert!(open_json::<PrescriptionDetails>(&stranger, &relabelled).is_err());
    assert!(PrescriptionDetails { quantity: 0, ..rx }.check().is_err());
}
