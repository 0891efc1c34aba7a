//! Integration tests of ledger-protocol: every rejection code, the happy path of every
//! transaction kind, blocks and chains, golden vectors, and decoding of hostile bytes.
//! (Native only; `web.rs` checks the golden vectors in a browser.)
#![cfg(not(target_arch = "wasm32"))]

mod golden;

use ledger_protocol::block::{apply_block, verify_header, verify_txs};
use ledger_protocol::codec::{Decode, Encode};
use ledger_protocol::crypto::sha256;
use ledger_protocol::*;

const CHAIN: &str = "healthchain-test";
const NOW: u64 = 1_790_000_000; // 2026-09-21

fn key(seed: &str) -> k256::ecdsa::SigningKey {
    k256::ecdsa::SigningKey::from_slice(&sha256(&[seed.as_bytes()]).0).unwrap()
}
fn pk(k: &k256::ecdsa::SigningKey) -> PublicKey {
    PublicKey::from(k.verifying_key())
}
fn addr(k: &k256::ecdsa::SigningKey) -> Address {
    pk(k).address()
}

struct World {
    state: State,
    genesis: Genesis,
    nonces: std::collections::HashMap<Address, u64>,
}

impl World {
    fn new() -> Self {
        let auth = key("authority");
        let genesis = Genesis {
            chain_id: CHAIN.into(),
            timestamp_ms: NOW * 1000,
            authorities: vec![GenesisAuthority {
                name: "St Mary's".into(),
                key: pk(&auth),
                encryption_key: pk(&key("authority-enc")),
            }],
        };
        let mut w = World { state: State::from_genesis(&genesis), genesis, nonces: Default::default() };
        w.ok(
            "patient",
            TxBody::RegisterPatient { name: "Ana Patient".into(), encryption_key: pk(&key("patient-enc")) },
        );
        w.ok(
            "patient2",
            TxBody::RegisterPatient { name: "Ben Patient".into(), encryption_key: pk(&key("patient2-enc")) },
        );
        for (who, role) in [
            ("doctor", Role::Doctor),
            ("surgeon", Role::Surgeon),
            ("pharmacy", Role::Pharmacy),
            ("insurer", Role::Insurer),
            ("student", Role::Student),
        ] {
            let body = TxBody::RegisterProvider {
                key: pk(&key(who)),
                encryption_key: pk(&key(&format!("{who}-enc"))),
                role,
                name: who.into(),
            };
            w.ok("authority", body);
        }
        w
    }
    fn tx(&mut self, who: &str, body: TxBody) -> SignedTransaction {
        let k = key(who);
        let n = self.nonces.entry(addr(&k)).or_insert(0);
        *n += 1;
        Transaction { chain_id: CHAIN.into(), signer: pk(&k), nonce: *n, body }.sign(&k)
    }
    fn submit_at(&mut self, stx: SignedTransaction, now: u64) -> Result<Hash, Rejection> {
        let v = stx.verify(&K256Verifier)?;
        let e = apply(&self.state, &v, now)?;
        self.state.commit(e);
        Ok(v.id())
    }
    fn try_(&mut self, who: &str, body: TxBody) -> Result<Hash, Rejection> {
        let stx = self.tx(who, body);
        self.submit_at(stx, NOW)
    }
    fn ok(&mut self, who: &str, body: TxBody) -> Hash {
        self.try_(who, body).unwrap_or_else(|e| panic!("{who}: {e}"))
    }
    fn code(&mut self, who: &str, body: TxBody) -> &'static str {
        match self.try_(who, body) {
            Ok(_) => "accepted",
            Err(e) => e.code(),
        }
    }
    fn grant(&mut self, to: &str, classes: Vec<DataClass>, actions: Actions, purpose: Purpose, until: u64) -> Hash {
        self.ok(
            "patient",
            TxBody::GrantConsent {
                grantee: addr(&key(to)),
                classes,
                actions,
                purpose,
                valid_from: NOW - 10,
                valid_until: until,
            },
        )
    }
    fn record(&mut self, class: DataClass) -> Hash {
        let p = addr(&key("patient"));
        self.ok(
            "patient",
            TxBody::AnchorRecord {
                patient: p,
                content_hash: sha256(&[b"content"]),
                size: 100,
                class,
                blob: sha256(&[b"blob"]),
                keys: vec![WrappedKey { reader: p, wrapped: vec![1; 80] }],
            },
        )
    }
}

fn p1() -> Address {
    addr(&key("patient"))
}

/// A twin-data record of the patient, shared with the surgeon (who has read consent).
fn twin_case(w: &mut World) -> Hash {
    w.grant("surgeon", vec![DataClass::TwinData], Actions::READ, Purpose::Treatment, NOW + 3600);
    w.ok(
        "patient",
        TxBody::AnchorRecord {
            patient: p1(),
            content_hash: sha256(&[b"case"]),
            size: 1000,
            class: DataClass::TwinData,
            blob: sha256(&[b"case blob"]),
            keys: vec![
                WrappedKey { reader: p1(), wrapped: vec![4; 80] },
                WrappedKey { reader: addr(&key("surgeon")), wrapped: vec![5; 80] },
            ],
        },
    )
}

fn segment(case_id: Hash) -> TxBody {
    TxBody::AnchorTwinSegment {
        patient: p1(),
        case_id,
        stage: Stage::Surgery,
        stream: "ECG".into(),
        start_ms: 0,
        end_ms: 60_000,
        segment_hash: sha256(&[b"seg"]),
    }
}

#[test]
fn trainees_save_training_runs_under_their_own_name() {
    let mut w = World::new();
    let run = |score_tenths, actions: &str| TxBody::RecordTrainingRun {
        scenario: "surgical-hemorrhage".into(),
        score_tenths,
        max_tenths: 1000,
        trajectory_hash: sha256(&[b"trajectory"]),
        actions: actions.into(),
    };
    let id = w.ok("student", run(893, "[[action]]\nat_min = 4.5\nkind = \"blood\"\nvalue = 0.1\n"));
    let saved = &w.state.training_runs[&id];
    assert_eq!((saved.trainee, saved.score_tenths), (addr(&key("student")), 893));
    assert_eq!(w.state.runs_by_trainee[&addr(&key("student"))], vec![id]);
    assert_eq!(w.code("student", run(1001, "")), "invalid_field", "a score above the maximum");
    assert_eq!(w.code("student", run(10, "bad\u{7}")), "invalid_field", "control characters");
    assert_eq!(w.code("student", run(10, &"x".repeat(16_001))), "invalid_field", "too long");
    assert_eq!(w.code("patient", run(10, "")), "wrong_role", "patients do not train");
}

#[test]
fn only_a_holder_of_a_twin_case_anchors_its_segments() {
    let mut w = World::new();
    let case = twin_case(&mut w);
    assert_eq!(w.code("surgeon", segment(case)), "accepted", "a reader of the case");
    assert_eq!(w.code("doctor", segment(case)), "not_case_holder", "no key for the case");
    let notes = w.record(DataClass::Notes);
    assert_eq!(w.code("surgeon", segment(notes)), "not_case_holder", "not a twin-data record");
    assert_eq!(w.code("surgeon", segment(sha256(&[b"nothing"]))), "record_not_found");
    assert_eq!(w.code("patient", segment(case)), "wrong_role", "patients do not anchor segments");
}

#[test]
fn happy_path_of_every_kind() {
    let mut w = World::new();
    let consent = w.grant(
        "doctor",
        vec![DataClass::Procedures, DataClass::Observations],
        Actions::READ_WRITE,
        Purpose::Treatment,
        NOW + 3600,
    );
    w.grant("insurer", vec![DataClass::Billing], Actions::READ, Purpose::Payment, NOW + 3600);
    let record = w.ok(
        "doctor",
        TxBody::AnchorRecord {
            patient: p1(),
            content_hash: sha256(&[b"c"]),
            size: 10,
            class: DataClass::Procedures,
            blob: sha256(&[b"b"]),
            keys: vec![
                WrappedKey { reader: p1(), wrapped: vec![2; 80] },
                WrappedKey { reader: addr(&key("doctor")), wrapped: vec![3; 80] },
            ],
        },
    );
    w.ok(
        "authority",
        TxBody::AccessEvent { record, reader: addr(&key("doctor")), basis: AccessBasis::Consent(consent) },
    );
    let own = w.record(DataClass::Observations);
    w.ok(
        "patient",
        TxBody::ShareRecordKey { record: own, key: WrappedKey { reader: addr(&key("doctor")), wrapped: vec![4; 80] } },
    );
    let bg = w.ok(
        "surgeon",
        TxBody::BreakGlass {
            patient: p1(),
            justification: "Unconscious on arrival, needs emergency surgery".into(),
            duration_secs: 3600,
        },
    );
    w.ok(
        "surgeon",
        TxBody::AccessEvent { record: own, reader: addr(&key("surgeon")), basis: AccessBasis::BreakGlass(bg) },
    );
    let rx = w.ok(
        "doctor",
        TxBody::Prescribe {
            patient: p1(),
            medication: "Amoxicillin 500 mg".into(),
            dosage: "1 capsule 3x daily".into(),
            quantity: 21,
            valid_until: NOW + 86400,
        },
    );
    w.ok("pharmacy", TxBody::Dispense { prescription: rx });
    let claim = w.ok(
        "doctor",
        TxBody::Claim {
            patient: p1(),
            insurer: addr(&key("insurer")),
            amount_cents: 12_000,
            currency: "EUR".into(),
            description: "Consultation".into(),
            records: vec![record],
        },
    );
    w.ok("insurer", TxBody::DecideClaim { claim, approved: true, reason: String::new() });
    let case = twin_case(&mut w);
    w.ok("surgeon", segment(case));
    w.ok("patient", TxBody::RevokeConsent { consent });

    let idx = w.state.patient_index(&p1()).unwrap();
    assert_eq!(idx.records.len(), 3, "a note, the patient's own record and the twin case");
    assert_eq!(idx.consents.len(), 3);
    assert_eq!(idx.audit.len(), 3, "two accesses and one break-glass");
    assert!(w.state.prescriptions[&rx].dispensed.is_some());
    assert!(w.state.claims[&claim].decision.as_ref().unwrap().approved);
    assert!(w.state.records[&own].keys.contains_key(&addr(&key("doctor"))));
}

#[test]
fn every_rejection_has_its_code() {
    let mut w = World::new();
    let doctor = addr(&key("doctor"));

    // Signature, chain and nonce.
    let mut forged = w.tx("patient", TxBody::RevokeConsent { consent: Hash::ZERO });
    forged.tx.nonce += 100;
    assert_eq!(forged.verify(&K256Verifier).unwrap_err().code(), "bad_signature");
    let good = w.tx("patient", TxBody::RevokeConsent { consent: Hash::ZERO });
    let mut high = good.clone();
    {
        let s = k256::ecdsa::Signature::from_slice(&high.signature.0).unwrap();
        let (r, s) = s.split_scalars();
        let flipped = k256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        high.signature.0.copy_from_slice(&flipped.to_bytes());
    }
    assert_eq!(high.verify(&K256Verifier).unwrap_err().code(), "high_s");
    let k = key("patient");
    let other_chain = Transaction {
        chain_id: "elsewhere".into(),
        signer: pk(&k),
        nonce: 99,
        body: TxBody::RevokeConsent { consent: Hash::ZERO },
    }
    .sign(&k);
    assert_eq!(w.submit_at(other_chain, NOW).unwrap_err().code(), "wrong_chain");
    let stale = Transaction {
        chain_id: CHAIN.into(),
        signer: pk(&k),
        nonce: 1,
        body: TxBody::RevokeConsent { consent: Hash::ZERO },
    }
    .sign(&k);
    assert_eq!(w.submit_at(stale, NOW).unwrap_err().code(), "stale_nonce");
    assert_eq!(w.code("stranger", TxBody::RevokeConsent { consent: Hash::ZERO }), "unknown_account");
    assert_eq!(
        w.code("patient", TxBody::RegisterPatient { name: "Again".into(), encryption_key: pk(&key("x")) }),
        "already_registered"
    );
    let reg = |role| TxBody::RegisterProvider {
        key: pk(&key("newdoc")),
        encryption_key: pk(&key("newdoc-enc")),
        role,
        name: "New".into(),
    };
    assert_eq!(w.code("doctor", reg(Role::Doctor)), "not_authority");
    assert_eq!(w.code("authority", reg(Role::Authority)), "invalid_field");
    assert_eq!(
        w.code("patient", TxBody::RegisterPatient { name: " ".into(), encryption_key: pk(&key("x")) }),
        "already_registered"
    );
    assert_eq!(
        w.code("newcomer", TxBody::RegisterPatient { name: " ".into(), encryption_key: pk(&key("x")) }),
        "invalid_field"
    );

    // Consent.
    let grant = |grantee, until| TxBody::GrantConsent {
        grantee,
        classes: vec![DataClass::Notes],
        actions: Actions::READ,
        purpose: Purpose::Treatment,
        valid_from: NOW,
        valid_until: until,
    };
    assert_eq!(w.code("doctor", grant(doctor, NOW + 10)), "wrong_role");
    assert_eq!(w.code("patient", grant(p1(), NOW + 10)), "unknown_party");
    assert_eq!(w.code("patient", grant(doctor, NOW - 1)), "invalid_period");
    assert_eq!(w.code("patient", TxBody::RevokeConsent { consent: Hash::ZERO }), "consent_not_found");
    let c = w.grant("doctor", vec![DataClass::Notes], Actions::READ, Purpose::Treatment, NOW + 100);
    assert_eq!(w.code("patient2", TxBody::RevokeConsent { consent: c }), "not_owner");
    w.ok("patient", TxBody::RevokeConsent { consent: c });
    assert_eq!(w.code("patient", TxBody::RevokeConsent { consent: c }), "already_revoked");

    // Records.
    let rec = w.record(DataClass::Notes);
    let access = |basis| TxBody::AccessEvent { record: rec, reader: doctor, basis };
    assert_eq!(w.code("authority", access(AccessBasis::Consent(c))), "consent_revoked");
    assert_eq!(
        w.code("authority", TxBody::AccessEvent { record: Hash::ZERO, reader: doctor, basis: AccessBasis::Consent(c) }),
        "record_not_found"
    );
    assert_eq!(w.code("authority", access(AccessBasis::Consent(Hash::ZERO))), "consent_not_found");
    let short = w.grant("doctor", vec![DataClass::Notes], Actions::READ, Purpose::Treatment, NOW + 5);
    let expired = w.tx("authority", access(AccessBasis::Consent(short)));
    assert_eq!(w.submit_at(expired, NOW + 6).unwrap_err().code(), "consent_expired");
    let later = w.ok(
        "patient",
        TxBody::GrantConsent {
            grantee: doctor,
            classes: vec![DataClass::Imaging],
            actions: Actions::READ,
            purpose: Purpose::Treatment,
            valid_from: NOW + 1000,
            valid_until: NOW + 2000,
        },
    );
    let img = w.record(DataClass::Imaging);
    assert_eq!(
        w.code("authority", TxBody::AccessEvent { record: img, reader: doctor, basis: AccessBasis::Consent(later) }),
        "consent_not_yet_valid"
    );
    assert_eq!(w.code("pharmacy", access(AccessBasis::Consent(short))), "wrong_role");
    let anchor = |keys: Vec<WrappedKey>, class| TxBody::AnchorRecord {
        patient: p1(),
        content_hash: Hash::ZERO,
        size: 1,
        class,
        blob: Hash::ZERO,
        keys,
    };
    assert_eq!(
        w.code("doctor", anchor(vec![WrappedKey { reader: p1(), wrapped: vec![1] }], DataClass::Conditions)),
        "no_consent"
    );
    assert_eq!(
        w.code("patient", anchor(vec![WrappedKey { reader: doctor, wrapped: vec![1] }], DataClass::Conditions)),
        "reader_not_allowed"
    );
    assert_eq!(w.code("patient", anchor(vec![], DataClass::Conditions)), "missing_patient_key");
    assert_eq!(
        w.code(
            "patient",
            TxBody::AnchorRecord {
                patient: p1(),
                content_hash: Hash::ZERO,
                size: u64::MAX,
                class: DataClass::Notes,
                blob: Hash::ZERO,
                keys: vec![]
            }
        ),
        "too_large"
    );
    let share = |reader| TxBody::ShareRecordKey { record: rec, key: WrappedKey { reader, wrapped: vec![1; 10] } };
    assert_eq!(w.code("patient", share(p1())), "already_shared");
    assert_eq!(w.code("patient2", share(doctor)), "not_owner");
    assert_eq!(w.code("patient", share(addr(&key("surgeon")))), "no_consent");

    // Break-glass.
    let bg = |j: &str, d| TxBody::BreakGlass { patient: p1(), justification: j.into(), duration_secs: d };
    assert_eq!(w.code("doctor", bg("emergency", 60)), "justification_too_short");
    assert_eq!(w.code("doctor", bg("Patient unconscious after a road accident", 86_401)), "break_glass_too_long");
    assert_eq!(w.code("pharmacy", bg("Patient unconscious after a road accident", 60)), "wrong_role");
    let glass = w.ok("doctor", bg("Patient unconscious after a road accident", 60));
    let late = w.tx("doctor", access(AccessBasis::BreakGlass(glass)));
    assert_eq!(w.submit_at(late, NOW + 61).unwrap_err().code(), "break_glass_expired");
    assert_eq!(
        w.code(
            "surgeon",
            TxBody::AccessEvent { record: rec, reader: addr(&key("surgeon")), basis: AccessBasis::BreakGlass(glass) }
        ),
        "break_glass_not_found"
    );

    // Prescriptions.
    let rx = |who_valid| TxBody::Prescribe {
        patient: p1(),
        medication: "Ibuprofen".into(),
        dosage: "400 mg".into(),
        quantity: 10,
        valid_until: who_valid,
    };
    assert_eq!(w.code("surgeon", rx(NOW + 100)), "no_consent");
    let p = w.ok("doctor", rx(NOW + 100)); // under the live break-glass
    assert_eq!(w.code("pharmacy", TxBody::Dispense { prescription: Hash::ZERO }), "prescription_not_found");
    let exp = w.tx("pharmacy", TxBody::Dispense { prescription: p });
    assert_eq!(w.submit_at(exp, NOW + 100).unwrap_err().code(), "prescription_expired");
    w.ok("pharmacy", TxBody::Dispense { prescription: p });
    assert_eq!(w.code("pharmacy", TxBody::Dispense { prescription: p }), "already_dispensed");

    // Claims.
    let insurer = addr(&key("insurer"));
    let claim_body = |cur: &str| TxBody::Claim {
        patient: p1(),
        insurer,
        amount_cents: 500,
        currency: cur.into(),
        description: "Visit".into(),
        records: vec![],
    };
    assert_eq!(w.code("doctor", claim_body("euro")), "invalid_field");
    let claim = w.ok("doctor", claim_body("EUR"));
    assert_eq!(w.code("insurer", TxBody::DecideClaim { claim, approved: true, reason: String::new() }), "no_consent");
    assert_eq!(
        w.code("insurer", TxBody::DecideClaim { claim: Hash::ZERO, approved: true, reason: String::new() }),
        "claim_not_found"
    );
    w.ok(
        "authority",
        TxBody::RegisterProvider {
            key: pk(&key("insurer2")),
            encryption_key: pk(&key("i2e")),
            role: Role::Insurer,
            name: "Other".into(),
        },
    );
    assert_eq!(
        w.code("insurer2", TxBody::DecideClaim { claim, approved: false, reason: "no".into() }),
        "not_claim_insurer"
    );
    w.grant("insurer", vec![DataClass::Billing], Actions::READ, Purpose::Payment, NOW + 100);
    w.ok("insurer", TxBody::DecideClaim { claim, approved: false, reason: "Not covered by the policy".into() });
    assert_eq!(
        w.code("insurer", TxBody::DecideClaim { claim, approved: true, reason: String::new() }),
        "already_decided"
    );
}

#[test]
fn chain_of_blocks_verifies_and_detects_tampering() {
    let mut w = World::new();
    let auth = key("authority");
    let genesis = w.genesis.clone();
    let mut txs = Vec::new();
    for i in 0..5 {
        txs.push(
            w.tx(&format!("p{i}"), TxBody::RegisterPatient { name: format!("P{i}"), encryption_key: pk(&key("e")) }),
        );
    }
    let b1 = Block::produce(CHAIN, 1, genesis.hash(), NOW * 1000, txs, &auth);
    let b2 = Block::produce(
        CHAIN,
        2,
        b1.hash(),
        NOW * 1000 + 5,
        vec![w.tx("p0", TxBody::RevokeConsent { consent: Hash::ZERO })],
        &auth,
    );

    let mut state = State::from_genesis(&genesis);
    let mut tip = ChainTip::genesis(&genesis);
    verify_header(&genesis, &tip, &b1, &K256Verifier).unwrap();
    let v = verify_txs(&b1, &K256Verifier).unwrap();
    apply_block(&mut state, &mut tip, &b1, &v, None).unwrap();
    verify_header(&genesis, &tip, &b2, &K256Verifier).unwrap();
    let v2 = verify_txs(&b2, &K256Verifier).unwrap();
    let err = apply_block(&mut state.clone(), &mut tip.clone(), &b2, &v2, None).unwrap_err();
    assert!(matches!(err, ChainError::BadTx { height: 2, index: 0, .. }));

    // Round trip through canonical bytes.
    let bytes = b1.to_canonical_bytes();
    assert_eq!(Block::from_canonical_bytes(&bytes).unwrap(), b1);

    // Any tampering is caught.
    let fresh = ChainTip::genesis(&genesis);
    let mut t = b1.clone();
    t.txs.swap(0, 1);
    assert!(verify_header(&genesis, &fresh, &t, &K256Verifier).is_err());
    let mut t = b1.clone();
    t.header.timestamp_ms += 1;
    assert!(verify_header(&genesis, &fresh, &t, &K256Verifier).is_err());
    let rogue = Block::produce(CHAIN, 1, genesis.hash(), NOW * 1000, vec![], &key("rogue"));
    assert!(verify_header(&genesis, &fresh, &rogue, &K256Verifier).is_err());
    let unlinked = Block::produce(CHAIN, 1, Hash::ZERO, NOW * 1000, vec![], &auth);
    assert!(verify_header(&genesis, &fresh, &unlinked, &K256Verifier).is_err());

    // Inclusion proofs check against the header alone.
    let ids = b1.tx_ids();
    for (i, id) in ids.iter().enumerate() {
        let proof = merkle::prove(&ids, i).unwrap();
        assert!(proof.verify(id, &b1.header.merkle_root));
    }
}

#[test]
fn canonical_bytes_round_trip_for_every_kind() {
    for body in sample_bodies() {
        let k = key("rt");
        let stx = Transaction { chain_id: CHAIN.into(), signer: pk(&k), nonce: 7, body }.sign(&k);
        let bytes = stx.to_canonical_bytes();
        let back = SignedTransaction::from_canonical_bytes(&bytes).unwrap();
        assert_eq!(back, stx);
        assert!(back.verify(&K256Verifier).is_ok());
        // Trailing garbage and every truncation are refused, never a panic.
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(SignedTransaction::from_canonical_bytes(&longer).is_err());
        for cut in 0..bytes.len() {
            assert!(SignedTransaction::from_canonical_bytes(&bytes[..cut]).is_err());
        }
    }
}

fn sample_bodies() -> Vec<TxBody> {
    let a = Address([9; 20]);
    let h = sha256(&[b"h"]);
    vec![
        TxBody::RegisterPatient { name: "Ana".into(), encryption_key: pk(&key("e")) },
        TxBody::RegisterProvider {
            key: pk(&key("d")),
            encryption_key: pk(&key("de")),
            role: Role::Doctor,
            name: "Dr A. Rao".into(),
        },
        TxBody::GrantConsent {
            grantee: a,
            classes: vec![DataClass::Procedures, DataClass::Observations],
            actions: Actions::READ,
            purpose: Purpose::Treatment,
            valid_from: 1,
            valid_until: 1_801_440_000,
        },
        TxBody::RevokeConsent { consent: h },
        TxBody::AnchorRecord {
            patient: a,
            content_hash: h,
            size: 42,
            class: DataClass::Conditions,
            blob: h,
            keys: vec![WrappedKey { reader: a, wrapped: vec![1, 2, 3] }],
        },
        TxBody::ShareRecordKey { record: h, key: WrappedKey { reader: a, wrapped: vec![4] } },
        TxBody::AccessEvent { record: h, reader: a, basis: AccessBasis::BreakGlass(h) },
        TxBody::BreakGlass {
            patient: a,
            justification: "Unresponsive, no relatives reachable".into(),
            duration_secs: 3600,
        },
        TxBody::Prescribe {
            patient: a,
            medication: "Amoxicillin".into(),
            dosage: "500 mg".into(),
            quantity: 21,
            valid_until: 9,
        },
        TxBody::Dispense { prescription: h },
        TxBody::Claim {
            patient: a,
            insurer: a,
            amount_cents: 100,
            currency: "EUR".into(),
            description: "x".into(),
            records: vec![h],
        },
        TxBody::DecideClaim { claim: h, approved: false, reason: "No".into() },
        TxBody::AnchorTwinSegment {
            patient: a,
            case_id: h,
            stage: Stage::Diagnosis,
            stream: "HR".into(),
            start_ms: 1,
            end_ms: 2,
            segment_hash: h,
        },
        TxBody::RecordTrainingRun {
            scenario: "surgical-hemorrhage".into(),
            score_tenths: 893,
            max_tenths: 1000,
            trajectory_hash: h,
            actions: "[[action]]\nat_min = 4.5\nkind = \"crystalloid\"\nvalue = 0.15\n".into(),
        },
    ]
}

#[test]
fn sample_bodies_cover_every_kind() {
    let kinds: Vec<TxKind> = sample_bodies().iter().map(TxBody::kind).collect();
    assert_eq!(kinds, TxKind::ALL.to_vec());
}

use golden::Vector;

const VECTORS_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/golden.json");

fn make_vectors() -> Vec<Vector> {
    sample_bodies()
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let seed = format!("golden-signer-{i}");
            let k = key(&seed);
            let tx = Transaction { chain_id: "healthchain-golden".into(), signer: pk(&k), nonce: i as u64 + 1, body };
            let stx = tx.clone().sign(&k);
            Vector {
                name: tx.body.kind().name().into(),
                signer_seed: seed,
                canonical_hex: hex::encode(tx.to_canonical_bytes()),
                signing_hash: tx.signing_hash(),
                signature: stx.signature,
                signed_hex: hex::encode(stx.to_canonical_bytes()),
                id: stx.id(),
                tx,
            }
        })
        .collect()
}

/// The golden vectors are the contract with every other implementation (the browser
/// wallet included). `UPDATE_GOLDEN=1` rewrites them; otherwise they must match exactly.
#[test]
fn golden_vectors_match() {
    let made = make_vectors();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(VECTORS_PATH, serde_json::to_string_pretty(&made).unwrap() + "\n").unwrap();
    }
    let stored: Vec<Vector> = serde_json::from_str(&std::fs::read_to_string(VECTORS_PATH).unwrap()).unwrap();
    assert_eq!(stored.len(), made.len());
    for (s, m) in stored.iter().zip(&made) {
        assert_eq!(s.name, m.name);
        assert_eq!(s.tx, m.tx, "{}: JSON form", s.name);
        assert_eq!(s.canonical_hex, m.canonical_hex, "{}: canonical bytes", s.name);
        assert_eq!(s.signing_hash, m.signing_hash, "{}: signing hash", s.name);
        assert_eq!(s.signature, m.signature, "{}: signature", s.name);
        assert_eq!(s.signed_hex, m.signed_hex, "{}: signed bytes", s.name);
        assert_eq!(s.id, m.id, "{}: id", s.name);
        golden::check(s);
    }
}

mod hostile_bytes {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = SignedTransaction::from_canonical_bytes(&bytes);
            let _ = Block::from_canonical_bytes(&bytes);
        }

        #[test]
        fn mutated_valid_transactions_never_panic(i in 0usize..13, pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let body = sample_bodies().swap_remove(i);
            let k = key("m");
            let stx = Transaction { chain_id: CHAIN.into(), signer: pk(&k), nonce: 1, body }.sign(&k);
            let mut bytes = stx.to_canonical_bytes();
            let at = pos.index(bytes.len());
            bytes[at] = byte;
            if let Ok(decoded) = SignedTransaction::from_canonical_bytes(&bytes) {
                // Whatever decodes either is the original or fails its signature.
                if decoded != stx {
                    prop_assert!(decoded.verify(&K256Verifier).is_err());
                }
            }
        }
    }
}

/// What a block costs before its transactions, as `BlockBudget` counts it, is what an empty
/// block encodes to; and a budget never lets more in than the decoder reads.
#[test]
fn a_block_budget_counts_as_the_decoder_does() {
    use ledger_protocol::block::{BlockBudget, MAX_BLOCK_BYTES, MAX_BLOCK_TXS};
    let k = k256::ecdsa::SigningKey::from_slice(&[3u8; 32]).unwrap();
    for chain in ["", "c", "a-longer-chain-id"] {
        let empty = Block::produce(chain, 1, Hash::ZERO, 0, vec![], &k);
        assert_eq!(Block::empty_len(chain), empty.to_canonical_bytes().len(), "{chain:?}");
    }
    let mut b = BlockBudget::new("c");
    assert!(!b.fits(MAX_BLOCK_TXS + 1, 0));
    assert!(!b.fits(1, MAX_BLOCK_BYTES));
    assert!(b.take(MAX_BLOCK_TXS, 1000));
    assert!(b.is_full() && !b.take(1, 0));
}
