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
        for who in ["patient", "patient2"] {
            w.ok(who, register_patient(who));
        }
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
                licence: format!("GMC-{who}"),
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
fn a(who: &str) -> Address {
    addr(&key(who))
}

/// Sealed content of `len` plaintext bytes for `readers` (the rules never decrypt it).
fn sealed_len(len: usize, readers: &[Address]) -> Sealed {
    Sealed {
        ciphertext: vec![7; rules::SEAL_OVERHEAD + len],
        keys: readers.iter().map(|r| WrappedKey { reader: *r, wrapped: vec![1; 98] }).collect(),
    }
}
fn sealed_for(readers: &[Address]) -> Sealed {
    sealed_len(40, readers)
}

/// `reader`'s signed request to read `record`, made to the test chain's authority at `at_s`.
fn read_request(reader: &str, record: Hash, at_s: u64) -> Option<Box<wire::SignedApiRequest>> {
    let k = key(reader);
    let r = wire::ApiRequest {
        chain_id: CHAIN.into(),
        audience: a("authority"),
        method: "POST".into(),
        path: format!("/v1/records/{record}/read"),
        body_hash: wire::body_hash(b""),
        timestamp_ms: at_s * 1000,
        nonce: vec![7; 16],
        signer: pk(&k),
    };
    Some(Box::new(r.sign(&k)))
}

fn register_patient(who: &str) -> TxBody {
    TxBody::RegisterPatient { encryption_key: pk(&key(&format!("{who}-enc"))), profile: sealed_for(&[a(who)]) }
}
fn justification(who: &str) -> Sealed {
    sealed_for(&[p1(), a(who), a("authority")])
}
fn prescribe(who: &str, valid_until: u64) -> TxBody {
    TxBody::Prescribe {
        patient: p1(),
        pharmacy: a("pharmacy"),
        details: sealed_for(&[p1(), a(who), a("pharmacy")]),
        valid_until,
    }
}
fn claim(who: &str, records: Vec<Hash>) -> TxBody {
    TxBody::Claim { patient: p1(), insurer: a("insurer"), records, details: sealed_for(&[p1(), a(who), a("insurer")]) }
}
/// A share link of the patient's, open for an hour, carrying one file.
fn share_link(link: Hash, records: Vec<Hash>, passcode: Option<Sealed>) -> TxBody {
    TxBody::ShareLink {
        link,
        files: vec![sha256(&[b"a link's file"])],
        records,
        expires: NOW + 3600,
        single_use: false,
        passcode,
    }
}
fn decide(claim: Hash, approved: bool, provider: &str) -> TxBody {
    TxBody::DecideClaim { claim, approved, reason: sealed_for(&[p1(), a(provider), a("insurer")]) }
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
    let doctor = a("doctor");
    let consent = w.grant(
        "doctor",
        vec![DataClass::Procedures, DataClass::Observations, DataClass::Medications],
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
                WrappedKey { reader: doctor, wrapped: vec![3; 80] },
            ],
        },
    );
    w.ok(
        "authority",
        TxBody::AccessEvent {
            record,
            reader: doctor,
            basis: AccessBasis::Consent(consent),
            request: read_request("doctor", record, NOW),
        },
    );
    let own = w.record(DataClass::Observations);
    w.ok("patient", TxBody::ShareRecordKey { record: own, key: WrappedKey { reader: doctor, wrapped: vec![4; 80] } });
    let bg = w.ok(
        "surgeon",
        TxBody::BreakGlass { patient: p1(), justification: justification("surgeon"), duration_secs: 3600 },
    );
    w.ok(
        "surgeon",
        TxBody::AccessEvent { record: own, reader: a("surgeon"), basis: AccessBasis::BreakGlass(bg), request: None },
    );
    let rx = w.ok("doctor", prescribe("doctor", NOW + 86400));
    w.ok("pharmacy", TxBody::Dispense { prescription: rx });
    let claim = w.ok("doctor", claim("doctor", vec![record]));
    w.ok("insurer", decide(claim, true, "doctor"));
    let case = twin_case(&mut w);
    w.ok("surgeon", segment(case));
    w.ok("patient", TxBody::RevokeConsent { consent });
    w.ok("authority", TxBody::DeactivateProvider { provider: a("student") });

    let idx = w.state.patient_index(&p1()).unwrap();
    assert_eq!(idx.records.len(), 3, "a note, the patient's own record and the twin case");
    assert_eq!(idx.consents.len(), 3);
    assert_eq!(idx.audit.len(), 3, "two accesses and one break-glass");
    assert!(w.state.prescriptions[&rx].dispensed.is_some());
    assert_eq!(w.state.prescriptions[&rx].pharmacy, a("pharmacy"));
    assert!(w.state.claims[&claim].decision.as_ref().unwrap().approved);
    assert!(w.state.records[&own].keys.contains_key(&doctor));
    assert!(!w.state.accounts[&a("student")].is_active());
    assert!(w.state.accounts[&p1()].name.is_empty(), "no patient name on the ledger");
}

#[test]
fn every_rejection_has_its_code() {
    let mut w = World::new();
    let doctor = a("doctor");

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
    assert_eq!(w.code("patient", register_patient("patient")), "already_registered");
    let reg = |role, name: &str| TxBody::RegisterProvider {
        key: pk(&key("newdoc")),
        encryption_key: pk(&key("newdoc-enc")),
        role,
        name: name.into(),
        licence: "GMC 123".into(),
    };
    assert_eq!(w.code("doctor", reg(Role::Doctor, "New")), "not_authority");
    assert_eq!(w.code("authority", reg(Role::Authority, "New")), "invalid_field");
    assert_eq!(w.code("authority", reg(Role::Doctor, "Two\nlines")), "invalid_field");
    let profile_for =
        |readers: &[Address]| TxBody::RegisterPatient { encryption_key: pk(&key("x")), profile: sealed_for(readers) };
    assert_eq!(w.code("newcomer", profile_for(&[])), "sealed_readers", "not sealed for themselves");
    assert_eq!(w.code("newcomer", profile_for(&[a("newcomer"), doctor])), "sealed_readers", "a doctor may not");
    assert_eq!(
        w.code("newcomer", TxBody::RegisterPatient { encryption_key: pk(&key("x")), profile: sealed_len(0, &[]) }),
        "invalid_field",
        "an empty profile"
    );
    assert_eq!(w.code("newcomer", profile_for(&[a("newcomer"), a("authority")])), "accepted");

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
    let access =
        |basis| TxBody::AccessEvent { record: rec, reader: doctor, basis, request: read_request("doctor", rec, NOW) };
    assert_eq!(w.code("authority", access(AccessBasis::Consent(c))), "consent_revoked");
    assert_eq!(
        w.code(
            "authority",
            TxBody::AccessEvent {
                record: Hash::ZERO,
                reader: doctor,
                basis: AccessBasis::Consent(c),
                request: read_request("doctor", Hash::ZERO, NOW)
            }
        ),
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
    let img = w.ok(
        "patient",
        TxBody::AnchorRecord {
            patient: p1(),
            content_hash: sha256(&[b"img"]),
            size: 100,
            class: DataClass::Imaging,
            blob: sha256(&[b"img blob"]),
            keys: vec![WrappedKey { reader: p1(), wrapped: vec![1; 80] }],
        },
    );
    assert_eq!(
        w.code(
            "authority",
            TxBody::AccessEvent {
                record: img,
                reader: doctor,
                basis: AccessBasis::Consent(later),
                request: read_request("doctor", img, NOW)
            }
        ),
        "consent_not_yet_valid"
    );
    assert_eq!(w.code("pharmacy", access(AccessBasis::Consent(short))), "wrong_role");
    let anchor = |keys: Vec<WrappedKey>, class, blob| TxBody::AnchorRecord {
        patient: p1(),
        content_hash: Hash::ZERO,
        size: 1,
        class,
        blob,
        keys,
    };
    let fresh = sha256(&[b"fresh blob"]);
    assert_eq!(
        w.code("doctor", anchor(vec![WrappedKey { reader: p1(), wrapped: vec![1] }], DataClass::Conditions, fresh)),
        "no_consent"
    );
    assert_eq!(
        w.code("patient", anchor(vec![WrappedKey { reader: doctor, wrapped: vec![1] }], DataClass::Conditions, fresh)),
        "reader_not_allowed"
    );
    assert_eq!(w.code("patient", anchor(vec![], DataClass::Conditions, fresh)), "missing_patient_key");
    assert_eq!(
        w.code(
            "patient",
            anchor(vec![WrappedKey { reader: p1(), wrapped: vec![1] }], DataClass::Notes, w.state.records[&rec].blob)
        ),
        "blob_already_anchored"
    );
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
    assert_eq!(w.code("patient", share(a("surgeon"))), "no_consent");

    // Break-glass.
    let bg = |len, readers: &[Address], d| TxBody::BreakGlass {
        patient: p1(),
        justification: sealed_len(len, readers),
        duration_secs: d,
    };
    let readers = [p1(), doctor, a("authority")];
    assert_eq!(w.code("doctor", bg(9, &readers, 60)), "justification_too_short");
    assert_eq!(w.code("doctor", bg(40, &readers[..2], 60)), "sealed_readers", "the hospital must see it");
    assert_eq!(w.code("doctor", bg(40, &[p1(), a("authority")], 60)), "sealed_readers", "nor for the clinician");
    assert_eq!(w.code("doctor", bg(40, &readers, 86_401)), "break_glass_too_long");
    assert_eq!(w.code("pharmacy", bg(40, &[p1(), a("pharmacy"), a("authority")], 60)), "wrong_role");
    let glass = w.ok("doctor", bg(40, &readers, 60));
    assert_eq!(w.code("doctor", bg(40, &readers, 60)), "break_glass_still_live");
    let late = w.tx("doctor", access(AccessBasis::BreakGlass(glass)));
    assert_eq!(w.submit_at(late, NOW + 61).unwrap_err().code(), "break_glass_expired");
    assert_eq!(
        w.code(
            "surgeon",
            TxBody::AccessEvent {
                record: rec,
                reader: a("surgeon"),
                basis: AccessBasis::BreakGlass(glass),
                request: None
            }
        ),
        "break_glass_not_found"
    );
    for i in 1..3 {
        let again = w.tx("doctor", bg(40, &readers, 60));
        w.submit_at(again, NOW + 100 * i).unwrap();
    }
    let fourth = w.tx("doctor", bg(40, &readers, 60));
    assert_eq!(w.submit_at(fourth, NOW + 400).unwrap_err().code(), "break_glass_limit");

    // Prescriptions: a break-glass lets the doctor read, not prescribe.
    assert_eq!(w.code("doctor", prescribe("doctor", NOW + 100)), "no_consent");
    w.grant("doctor", vec![DataClass::Medications], Actions::READ, Purpose::Treatment, NOW + 1000);
    assert_eq!(w.code("doctor", prescribe("doctor", NOW + 100)), "no_consent", "a read-only consent");
    w.grant("doctor", vec![DataClass::Medications], Actions::READ_WRITE, Purpose::Treatment, NOW + 1000);
    assert_eq!(w.code("doctor", prescribe("doctor", NOW + 400 * 86400)), "invalid_period");
    let wrong_pharmacy = TxBody::Prescribe {
        patient: p1(),
        pharmacy: a("insurer"),
        details: sealed_for(&[p1(), doctor, a("insurer")]),
        valid_until: NOW + 100,
    };
    assert_eq!(w.code("doctor", wrong_pharmacy), "unknown_party");
    let unsealed = TxBody::Prescribe {
        patient: p1(),
        pharmacy: a("pharmacy"),
        details: sealed_for(&[p1(), doctor]),
        valid_until: NOW + 100,
    };
    assert_eq!(w.code("doctor", unsealed), "sealed_readers", "the pharmacy must read it");
    let p = w.ok("doctor", prescribe("doctor", NOW + 100));
    assert_eq!(w.code("pharmacy", TxBody::Dispense { prescription: Hash::ZERO }), "prescription_not_found");
    let exp = w.tx("pharmacy", TxBody::Dispense { prescription: p });
    assert_eq!(w.submit_at(exp, NOW + 100).unwrap_err().code(), "prescription_expired");
    w.ok(
        "authority",
        TxBody::RegisterProvider {
            key: pk(&key("pharmacy2")),
            encryption_key: pk(&key("p2e")),
            role: Role::Pharmacy,
            name: "Other pharmacy".into(),
            licence: "GPhC 2".into(),
        },
    );
    assert_eq!(w.code("pharmacy2", TxBody::Dispense { prescription: p }), "not_prescription_pharmacy");
    w.ok("pharmacy", TxBody::Dispense { prescription: p });
    assert_eq!(w.code("pharmacy", TxBody::Dispense { prescription: p }), "already_dispensed");

    // Claims.
    assert_eq!(w.code("doctor", claim("doctor", vec![])), "invalid_field", "no payment consent for the insurer");
    w.grant("insurer", vec![DataClass::Billing], Actions::READ, Purpose::Payment, NOW + 5);
    assert_eq!(w.code("surgeon", claim("surgeon", vec![])), "no_consent", "a provider who does not treat them");
    assert_eq!(w.code("doctor", claim("doctor", vec![rec, rec])), "invalid_field", "a record twice");
    assert_eq!(w.code("doctor", claim("doctor", vec![Hash::ZERO])), "record_not_found");
    assert_eq!(w.code("pharmacy", claim("pharmacy", vec![])), "accepted", "a pharmacy that dispensed to them");
    let cl = w.ok("doctor", claim("doctor", vec![rec]));
    let expired = w.tx("insurer", decide(cl, true, "doctor"));
    assert_eq!(w.submit_at(expired, NOW + 6).unwrap_err().code(), "consent_expired");
    assert_eq!(w.code("insurer", decide(Hash::ZERO, true, "doctor")), "claim_not_found");
    w.ok(
        "authority",
        TxBody::RegisterProvider {
            key: pk(&key("insurer2")),
            encryption_key: pk(&key("i2e")),
            role: Role::Insurer,
            name: "Other".into(),
            licence: "FCA 2".into(),
        },
    );
    assert_eq!(w.code("insurer2", decide(cl, false, "doctor")), "not_claim_insurer");
    let unsealed = TxBody::DecideClaim { claim: cl, approved: false, reason: sealed_for(&[p1(), a("insurer")]) };
    assert_eq!(w.code("insurer", unsealed), "sealed_readers", "the provider must read the reason");
    w.ok("insurer", decide(cl, false, "doctor"));
    assert_eq!(w.code("insurer", decide(cl, true, "doctor")), "already_decided");

    // Administrators: appointed by an authority, they register and deactivate staff, not
    // other administrators.
    let new_staff = |who: &str, role| TxBody::RegisterProvider {
        key: pk(&key(who)),
        encryption_key: pk(&key(who)),
        role,
        name: who.into(),
        licence: "L".into(),
    };
    w.ok("authority", new_staff("admin", Role::Admin));
    assert_eq!(w.code("admin", new_staff("admin2", Role::Admin)), "not_authority");
    w.ok("admin", new_staff("newnurse", Role::Doctor));
    w.ok("authority", new_staff("admin2", Role::Admin));
    assert_eq!(w.code("admin", TxBody::DeactivateProvider { provider: a("admin2") }), "not_authority");
    w.ok("admin", TxBody::DeactivateProvider { provider: a("newnurse") });

    // Staff: deactivation ends everything the provider could do.
    assert_eq!(w.code("doctor", TxBody::DeactivateProvider { provider: a("surgeon") }), "not_authority");
    assert_eq!(w.code("authority", TxBody::DeactivateProvider { provider: p1() }), "unknown_party");
    assert_eq!(w.code("authority", TxBody::DeactivateProvider { provider: a("authority") }), "unknown_party");
    w.ok("authority", TxBody::DeactivateProvider { provider: doctor });
    assert_eq!(w.code("authority", TxBody::DeactivateProvider { provider: doctor }), "already_deactivated");
    assert_eq!(w.code("doctor", prescribe("doctor", NOW + 100)), "deactivated");
    assert_eq!(w.code("patient", grant(doctor, NOW + 10)), "party_deactivated");
    let live = w.grant("surgeon", vec![DataClass::Notes], Actions::READ, Purpose::Treatment, NOW + 100);
    w.ok("authority", TxBody::DeactivateProvider { provider: a("surgeon") });
    assert_eq!(
        w.code(
            "authority",
            TxBody::AccessEvent {
                record: rec,
                reader: a("surgeon"),
                basis: AccessBasis::Consent(live),
                request: read_request("surgeon", rec, NOW)
            }
        ),
        "party_deactivated",
        "a consent to a deactivated provider no longer lets them read"
    );
}

/// A member of staff given new keys keeps their account (address, directory entry,
/// consents, nonce); the old key signs nothing from then on; no key serves two accounts;
/// record keys wrapped for the old encryption key are dropped so the patient can share again.
#[test]
fn an_authority_rotates_a_member_of_staffs_keys() {
    let mut w = World::new();
    let doctor = a("doctor");
    let consent = w.grant("doctor", DataClass::ALL.to_vec(), Actions::READ_WRITE, Purpose::Treatment, NOW + 3600);
    let rec = w.ok(
        "patient",
        TxBody::AnchorRecord {
            patient: p1(),
            content_hash: sha256(&[b"rot"]),
            size: 10,
            class: DataClass::Notes,
            blob: sha256(&[b"rot blob"]),
            keys: vec![
                WrappedKey { reader: p1(), wrapped: vec![1; 80] },
                WrappedKey { reader: doctor, wrapped: vec![2; 80] },
            ],
        },
    );
    w.ok("doctor", prescribe("doctor", NOW + 100));
    let (new, new_enc) = (key("doctor's new phone"), key("doctor's new phone enc"));
    let rotate = |account, k: &k256::ecdsa::SigningKey| TxBody::RotateKey {
        account,
        key: pk(k),
        encryption_key: pk(&key("any enc")),
    };
    // Who may: as for deactivation.
    assert_eq!(w.code("doctor", rotate(a("surgeon"), &key("x1"))), "not_authority");
    assert_eq!(w.code("patient", rotate(doctor, &key("x2"))), "not_authority");
    assert_eq!(w.code("authority", rotate(p1(), &key("x3"))), "unknown_party", "a patient is not staff");
    assert_eq!(w.code("authority", rotate(a("surgeon"), &key("doctor"))), "key_in_use", "another account's key");
    w.ok("authority", TxBody::RotateKey { account: doctor, key: pk(&new), encryption_key: pk(&new_enc) });

    let acc = w.state.account(&doctor).unwrap().clone();
    assert_eq!((acc.address, acc.key, acc.encryption_key, acc.rekeyed_at), (doctor, pk(&new), pk(&new_enc), Some(NOW)));
    assert_eq!(acc.name, "doctor");
    assert!(!w.state.records[&rec].keys.contains_key(&doctor), "a key for the old encryption key is dropped");
    assert!(w.state.records[&rec].keys.contains_key(&p1()));
    // The old key is refused, saying when it was replaced; the new one signs for the account.
    let refused = w.try_("doctor", prescribe("doctor", NOW + 100)).unwrap_err();
    assert_eq!(refused, Rejection::KeyReplaced { at: NOW });
    assert_eq!(w.state.signer_account(&pk(&key("doctor"))).unwrap_err().code(), "key_replaced");
    let by_new = |w: &mut World, body| {
        let nonce = w.state.account(&doctor).unwrap().nonce + 1;
        let stx = Transaction { chain_id: CHAIN.into(), signer: pk(&new), nonce, body }.sign(&new);
        w.submit_at(stx, NOW)
    };
    by_new(&mut w, prescribe("doctor", NOW + 100)).expect("the new key prescribes under the same account");
    by_new(
        &mut w,
        TxBody::AccessEvent { record: rec, reader: doctor, basis: AccessBasis::Consent(consent), request: None },
    )
    .expect("the consent to the account still holds");
    let stale = Transaction { chain_id: CHAIN.into(), signer: pk(&new), nonce: 1, body: prescribe("doctor", NOW + 1) };
    assert_eq!(w.submit_at(stale.sign(&new), NOW).unwrap_err().code(), "stale_nonce", "the account's nonce goes on");
    // The patient shares the record again, for the new encryption key.
    w.ok("patient", TxBody::ShareRecordKey { record: rec, key: WrappedKey { reader: doctor, wrapped: vec![3; 80] } });
    // A key, once an account's, never serves another: not the replaced one, not the new one.
    let reuse = |k: &str| TxBody::RegisterProvider {
        key: pk(&key(k)),
        encryption_key: pk(&key("e")),
        role: Role::Doctor,
        name: "Dr Reuse".into(),
        licence: "L".into(),
    };
    assert_eq!(w.code("authority", reuse("doctor")), "already_registered");
    assert_eq!(w.code("authority", reuse("doctor's new phone")), "key_in_use");
    assert_eq!(w.code("authority", rotate(a("surgeon"), &new)), "key_in_use");
    assert_eq!(w.code("doctor's new phone", register_patient("doctor's new phone")), "already_registered");
    // Rotating again retires the second key too.
    let third = key("doctor's third phone");
    w.ok("authority", rotate(doctor, &third));
    assert_eq!(by_new(&mut w, prescribe("doctor", NOW + 100)).unwrap_err().code(), "key_replaced");
    // A deactivated provider gets no new keys.
    w.ok("authority", TxBody::DeactivateProvider { provider: a("surgeon") });
    assert_eq!(w.code("authority", rotate(a("surgeon"), &key("x4"))), "party_deactivated");
}

/// The who-may-submit-what table of ARCHITECTURE.md, every cell: each kind of transaction,
/// signed by each kind of actor in a world where everything it needs exists; the allowed
/// actors are accepted and every other one is refused for who they are (not for a
/// malformed field).
#[test]
fn who_may_submit_what() {
    const ACTORS: [&str; 12] = [
        "patient",
        "patient2",
        "doctor",
        "surgeon",
        "pharmacy",
        "pharmacy2",
        "insurer",
        "insurer2",
        "student",
        "authority",
        "olddoc",
        "stranger",
    ];
    let table: [(TxKind, &[&str]); 20] = [
        (TxKind::RegisterPatient, &["stranger"]),
        (TxKind::RegisterProvider, &["authority", "admin"]),
        (TxKind::GrantConsent, &["patient", "patient2"]),
        (TxKind::RevokeConsent, &["patient"]),
        (TxKind::AnchorRecord, &["patient", "doctor"]),
        (TxKind::ShareRecordKey, &["patient"]),
        (TxKind::AccessEvent, &["doctor", "authority"]),
        (TxKind::BreakGlass, &["doctor", "surgeon"]),
        (TxKind::Prescribe, &["doctor"]),
        (TxKind::Dispense, &["pharmacy"]),
        (TxKind::Claim, &["doctor"]),
        (TxKind::DecideClaim, &["insurer"]),
        (TxKind::AnchorTwinSegment, &["doctor"]),
        (TxKind::RecordTrainingRun, &["doctor", "surgeon", "student"]),
        (TxKind::DeactivateProvider, &["authority", "admin"]),
        (TxKind::RotateKey, &["authority", "admin"]),
        (TxKind::ReviewBreakGlass, &["authority", "admin"]),
        (TxKind::ShareLink, &["patient", "patient2"]),
        (TxKind::RevokeShareLink, &["patient"]),
        (TxKind::ShareLinkUsed, &["authority"]),
    ];
    assert_eq!(table.iter().map(|(k, _)| *k).collect::<Vec<_>>(), TxKind::ALL.to_vec());
    for (kind, allowed) in table {
        for who in ACTORS {
            let (mut w, fx) = Fixture::world();
            let body = fx.body(kind, who);
            let got = w.try_(who, body);
            match (allowed.contains(&who), got) {
                (true, Ok(_)) => {}
                (true, Err(e)) => panic!("{} by {who} must be accepted, was refused: {} ({e})", kind.name(), e.code()),
                (false, Ok(_)) => panic!("{} by {who} must be refused, was accepted", kind.name()),
                (false, Err(e)) => assert!(
                    matches!(e.kind(), ErrorKind::Forbidden | ErrorKind::Conflict),
                    "{} by {who} was refused for a field, not for who they are: {} ({e})",
                    kind.name(),
                    e.code()
                ),
            }
        }
    }
}

/// The body with its patient replaced, where it names one.
fn naming(body: TxBody, who: Address) -> TxBody {
    match body {
        TxBody::AnchorRecord { content_hash, size, class, blob, keys, .. } => {
            TxBody::AnchorRecord { patient: who, content_hash, size, class, blob, keys }
        }
        TxBody::Prescribe { pharmacy, details, valid_until, .. } => {
            TxBody::Prescribe { patient: who, pharmacy, details, valid_until }
        }
        TxBody::Claim { insurer, records, details, .. } => TxBody::Claim { patient: who, insurer, records, details },
        TxBody::AnchorTwinSegment { case_id, stage, stream, start_ms, end_ms, segment_hash, .. } => {
            TxBody::AnchorTwinSegment { patient: who, case_id, stage, stream, start_ms, end_ms, segment_hash }
        }
        other => other,
    }
}

#[test]
fn a_refusal_does_not_tell_a_stranger_who_is_a_patient() {
    // Someone not entitled to act for the patient gets the same answer whether the address
    // they name is a registered patient's or nobody's.
    let nobody = a("never registered");
    let kinds = [TxKind::AnchorRecord, TxKind::Prescribe, TxKind::Claim, TxKind::AnchorTwinSegment];
    for kind in kinds {
        for who in ["patient2", "surgeon", "pharmacy", "insurer", "student", "authority", "olddoc"] {
            let (mut w, fx) = Fixture::world();
            let real = w.code(who, naming(fx.body(kind, who), p1()));
            let (mut w, fx) = Fixture::world();
            let fake = w.code(who, naming(fx.body(kind, who), nobody));
            if kind == TxKind::AnchorTwinSegment && who == "authority" {
                // The authority may anchor a case's segments; the case names its patient.
                assert_eq!((real, fake), ("not_case_holder", "not_case_holder"));
                continue;
            }
            assert_ne!(real, "accepted", "{} by {who}", kind.name());
            assert_eq!(real, fake, "{} by {who}: a registered patient and nobody must read alike", kind.name());
        }
    }
}

/// A world where every kind of transaction has what it needs, and the ids it needs.
struct Fixture {
    treatment: Hash,
    record: Hash,
    own_record: Hash,
    case: Hash,
    prescription: Hash,
    claim: Hash,
    break_glass: Hash,
    /// The patient's share link (its hash), open, without a passcode.
    link: Hash,
}

impl Fixture {
    fn world() -> (World, Fixture) {
        let mut w = World::new();
        for (who, role) in [
            ("pharmacy2", Role::Pharmacy),
            ("insurer2", Role::Insurer),
            ("olddoc", Role::Doctor),
            ("admin", Role::Admin),
            ("erdoc", Role::Doctor),
        ] {
            w.ok(
                "authority",
                TxBody::RegisterProvider {
                    key: pk(&key(who)),
                    encryption_key: pk(&key(&format!("{who}-enc"))),
                    role,
                    name: who.into(),
                    licence: "L".into(),
                },
            );
        }
        let all = DataClass::ALL.to_vec();
        let treatment = w.grant("doctor", all.clone(), Actions::READ_WRITE, Purpose::Treatment, NOW + 3600);
        w.grant("olddoc", all, Actions::READ_WRITE, Purpose::Treatment, NOW + 3600);
        w.grant("insurer", vec![DataClass::Billing], Actions::READ, Purpose::Payment, NOW + 3600);
        w.grant("insurer2", vec![DataClass::Billing], Actions::READ, Purpose::Payment, NOW + 3600);
        w.ok("authority", TxBody::DeactivateProvider { provider: a("olddoc") });
        let record = w.ok(
            "patient",
            TxBody::AnchorRecord {
                patient: p1(),
                content_hash: sha256(&[b"r"]),
                size: 10,
                class: DataClass::Notes,
                blob: sha256(&[b"r blob"]),
                keys: vec![
                    WrappedKey { reader: p1(), wrapped: vec![1; 80] },
                    WrappedKey { reader: a("doctor"), wrapped: vec![1; 80] },
                ],
            },
        );
        let own_record = w.record(DataClass::Conditions);
        let case = w.ok(
            "patient",
            TxBody::AnchorRecord {
                patient: p1(),
                content_hash: sha256(&[b"case"]),
                size: 1000,
                class: DataClass::TwinData,
                blob: sha256(&[b"case blob"]),
                keys: vec![
                    WrappedKey { reader: p1(), wrapped: vec![4; 80] },
                    WrappedKey { reader: a("doctor"), wrapped: vec![5; 80] },
                ],
            },
        );
        let prescription = w.ok("doctor", prescribe("doctor", NOW + 86400));
        let claim = w.ok("doctor", claim("doctor", vec![record]));
        let break_glass = w.ok(
            "erdoc",
            TxBody::BreakGlass { patient: p1(), justification: justification("erdoc"), duration_secs: 3600 },
        );
        let link = sha256(&[b"the fixture's link"]);
        w.ok("patient", share_link(link, vec![own_record], None));
        (w, Fixture { treatment, record, own_record, case, prescription, claim, break_glass, link })
    }

    fn body(&self, kind: TxKind, who: &str) -> TxBody {
        match kind {
            TxKind::RegisterPatient => register_patient(who),
            TxKind::RegisterProvider => TxBody::RegisterProvider {
                key: pk(&key("new staff")),
                encryption_key: pk(&key("new staff enc")),
                role: Role::Doctor,
                name: "Dr New".into(),
                licence: "GMC 9".into(),
            },
            TxKind::DeactivateProvider => TxBody::DeactivateProvider { provider: a("surgeon") },
            TxKind::RotateKey => TxBody::RotateKey {
                account: a("surgeon"),
                key: pk(&key("surgeon's new device")),
                encryption_key: pk(&key("surgeon's new device enc")),
            },
            TxKind::GrantConsent => TxBody::GrantConsent {
                grantee: a("surgeon"),
                classes: vec![DataClass::Notes],
                actions: Actions::READ,
                purpose: Purpose::Treatment,
                valid_from: NOW,
                valid_until: NOW + 60,
            },
            TxKind::RevokeConsent => TxBody::RevokeConsent { consent: self.treatment },
            TxKind::AnchorRecord => {
                let mut keys = vec![WrappedKey { reader: p1(), wrapped: vec![1; 80] }];
                if who != "patient" {
                    keys.push(WrappedKey { reader: a(who), wrapped: vec![1; 80] });
                }
                TxBody::AnchorRecord {
                    patient: p1(),
                    content_hash: sha256(&[b"new"]),
                    size: 10,
                    class: DataClass::Notes,
                    blob: sha256(&[b"new blob"]),
                    keys,
                }
            }
            TxKind::ShareRecordKey => TxBody::ShareRecordKey {
                record: self.own_record,
                key: WrappedKey { reader: a("doctor"), wrapped: vec![1; 80] },
            },
            TxKind::AccessEvent => TxBody::AccessEvent {
                record: self.record,
                reader: a("doctor"),
                basis: AccessBasis::Consent(self.treatment),
                request: read_request("doctor", self.record, NOW),
            },
            TxKind::BreakGlass => {
                TxBody::BreakGlass { patient: p1(), justification: justification(who), duration_secs: 3600 }
            }
            TxKind::ReviewBreakGlass => TxBody::ReviewBreakGlass { grant: self.break_glass, until: NOW + 7200 },
            TxKind::Prescribe => prescribe(who, NOW + 86400),
            TxKind::Dispense => TxBody::Dispense { prescription: self.prescription },
            TxKind::Claim => claim(who, vec![self.record]),
            TxKind::DecideClaim => TxBody::DecideClaim {
                claim: self.claim,
                approved: false,
                reason: sealed_for(&[p1(), a("doctor"), a(who)]),
            },
            TxKind::AnchorTwinSegment => segment(self.case),
            TxKind::RecordTrainingRun => TxBody::RecordTrainingRun {
                scenario: "surgical-hemorrhage".into(),
                score_tenths: 500,
                max_tenths: 1000,
                trajectory_hash: sha256(&[b"t"]),
                actions: String::new(),
            },
            TxKind::ShareLink => share_link(sha256(&[b"a new link"]), vec![], None),
            TxKind::RevokeShareLink => TxBody::RevokeShareLink { link: self.link },
            TxKind::ShareLinkUsed => {
                TxBody::ShareLinkUsed { link: self.link, opened: true, recipient: sealed_for(&[p1()]) }
            }
        }
    }
}

#[test]
fn a_share_link_opens_until_it_is_revoked_expires_is_used_up_or_locks() {
    let (mut w, fx) = Fixture::world();
    let used = |link, opened| TxBody::ShareLinkUsed { link, opened, recipient: sealed_for(&[p1()]) };
    // Only the patient's own records; each link once; a passcode for an authority only.
    assert_eq!(w.code("patient2", share_link(sha256(&[b"l2"]), vec![fx.own_record], None)), "not_owner");
    assert_eq!(w.code("patient", share_link(fx.link, vec![], None)), "link_exists");
    let l3 = sha256(&[b"l3"]);
    assert_eq!(w.code("patient", share_link(l3, vec![], Some(sealed_for(&[p1()])))), "sealed_readers");
    let for_doctor = Some(sealed_for(&[a("authority"), a("doctor")]));
    assert_eq!(w.code("patient", share_link(l3, vec![], for_doctor)), "sealed_readers");
    let mut long = share_link(l3, vec![], None);
    if let TxBody::ShareLink { expires, .. } = &mut long {
        *expires = NOW + rules::MAX_LINK_SECS + 1;
    }
    assert_eq!(w.code("patient", long), "invalid_field");
    // The recipient's words are for the patient; a link without a passcode refuses none.
    assert_eq!(
        w.code(
            "authority",
            TxBody::ShareLinkUsed { link: fx.link, opened: true, recipient: sealed_for(&[a("doctor")]) }
        ),
        "sealed_readers"
    );
    assert_eq!(w.code("authority", used(fx.link, false)), "invalid_field");
    w.ok("authority", used(fx.link, true));
    w.ok("authority", used(fx.link, true));

    // Five wrong passcodes lock a link for good.
    let locked = sha256(&[b"locked"]);
    w.ok("patient", share_link(locked, vec![fx.own_record], Some(sealed_for(&[p1(), a("authority")]))));
    for left in (0..rules::MAX_PASSCODE_ATTEMPTS).rev() {
        w.ok("authority", used(locked, false));
        assert_eq!(w.state.share_links[&locked].remaining_attempts(), left);
    }
    assert_eq!(w.code("authority", used(locked, true)), "link_closed");

    // A single-use link opens once.
    let once = sha256(&[b"once"]);
    let mut body = share_link(once, vec![], None);
    if let TxBody::ShareLink { single_use, .. } = &mut body {
        *single_use = true;
    }
    w.ok("patient", body);
    w.ok("authority", used(once, true));
    assert_eq!(w.code("authority", used(once, true)), "link_closed");
    assert_eq!(w.state.share_links[&once].status(NOW), ledger_protocol::state::LinkStatus::UsedUp);

    // Revoked by its patient only, once; then it opens no more. It expires by itself.
    assert_eq!(w.code("patient2", TxBody::RevokeShareLink { link: fx.link }), "not_owner");
    w.ok("patient", TxBody::RevokeShareLink { link: fx.link });
    assert_eq!(w.code("patient", TxBody::RevokeShareLink { link: fx.link }), "link_closed");
    assert_eq!(w.code("authority", used(fx.link, true)), "link_closed");
    assert_eq!(w.code("patient", TxBody::RevokeShareLink { link: sha256(&[b"none"]) }), "link_not_found");
    let stx = w.tx("authority", used(l3, true));
    assert_eq!(w.submit_at(stx, NOW).unwrap_err().code(), "link_not_found");
    let later = sha256(&[b"later"]);
    w.ok("patient", share_link(later, vec![], None));
    let stx = w.tx("authority", used(later, true));
    assert_eq!(w.submit_at(stx, NOW + 3600).unwrap_err().code(), "link_closed");

    // The patient's audit trail holds every use: 2 + 5 + 1 on their links.
    let uses = w.state.patients[&p1()]
        .audit
        .iter()
        .filter(|e| matches!(e, ledger_protocol::state::AuditEntry::ShareLinkUsed { .. }))
        .count();
    assert_eq!(uses, 8);
    assert_eq!(w.state.patients[&p1()].share_links.len(), 4);
}

#[test]
fn chain_of_blocks_verifies_and_detects_tampering() {
    let mut w = World::new();
    let auth = key("authority");
    let genesis = w.genesis.clone();
    let mut txs = Vec::new();
    for i in 0..5 {
        txs.push(w.tx(&format!("p{i}"), register_patient(&format!("p{i}"))));
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
    let sealed = Sealed { ciphertext: vec![1, 2, 3, 4], keys: vec![WrappedKey { reader: a, wrapped: vec![5, 6] }] };
    vec![
        TxBody::RegisterPatient { encryption_key: pk(&key("e")), profile: sealed.clone() },
        TxBody::RegisterProvider {
            key: pk(&key("d")),
            encryption_key: pk(&key("de")),
            role: Role::Doctor,
            name: "Dr A. Rao".into(),
            licence: "GMC 7654321".into(),
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
        TxBody::AccessEvent {
            record: h,
            reader: a,
            basis: AccessBasis::BreakGlass(h),
            request: Some(Box::new(
                wire::ApiRequest {
                    chain_id: CHAIN.into(),
                    audience: a,
                    method: "POST".into(),
                    path: format!("/v1/records/{h}/read"),
                    body_hash: wire::body_hash(b""),
                    timestamp_ms: 1_700_000_000_000,
                    nonce: vec![9; 16],
                    signer: pk(&key("golden-reader")),
                }
                .sign(&key("golden-reader")),
            )),
        },
        TxBody::BreakGlass { patient: a, justification: sealed.clone(), duration_secs: 3600 },
        TxBody::Prescribe { patient: a, pharmacy: a, details: sealed.clone(), valid_until: 9 },
        TxBody::Dispense { prescription: h },
        TxBody::Claim { patient: a, insurer: a, records: vec![h], details: sealed.clone() },
        TxBody::DecideClaim { claim: h, approved: false, reason: sealed.clone() },
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
        TxBody::DeactivateProvider { provider: a },
        TxBody::RotateKey { account: a, key: pk(&key("d2")), encryption_key: pk(&key("de2")) },
        TxBody::ReviewBreakGlass { grant: h, until: 1_801_440_000 },
        TxBody::ShareLink {
            link: h,
            files: vec![h],
            records: vec![h],
            expires: 1_801_440_000,
            single_use: true,
            passcode: Some(Sealed { ciphertext: vec![9; 48], keys: vec![WrappedKey { reader: a, wrapped: vec![5] }] }),
        },
        TxBody::RevokeShareLink { link: h },
        TxBody::ShareLinkUsed {
            link: h,
            opened: false,
            recipient: Sealed { ciphertext: vec![8; 45], keys: vec![WrappedKey { reader: a, wrapped: vec![6] }] },
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
        fn mutated_valid_transactions_never_panic(i in 0usize..16, pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
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

#[test]
fn only_a_patients_emergency_summary_is_escrowed_to_the_hospital() {
    let mut w = World::new();
    let anchor = |class: DataClass, blob: &[u8], readers: &[Address]| TxBody::AnchorRecord {
        patient: p1(),
        content_hash: sha256(&[blob]),
        size: 10,
        class,
        blob: sha256(&[blob]),
        keys: readers.iter().map(|r| WrappedKey { reader: *r, wrapped: vec![1; 80] }).collect(),
    };
    let escrow = [p1(), a("authority")];
    assert_eq!(w.code("patient", anchor(DataClass::EmergencySummary, b"summary", &escrow)), "accepted");
    // Any other class, or anyone but the patient, may not wrap a key for the hospital.
    assert_eq!(w.code("patient", anchor(DataClass::Conditions, b"conditions", &escrow)), "reader_not_allowed");
    w.grant("doctor", DataClass::ALL.to_vec(), Actions::READ_WRITE, Purpose::Treatment, NOW + 3600);
    let by_doctor = [p1(), a("doctor"), a("authority")];
    assert_eq!(w.code("doctor", anchor(DataClass::EmergencySummary, b"doc", &by_doctor)), "reader_not_allowed");
    // A reader listed twice is refused for the escrow key too.
    let twice = [p1(), a("authority"), a("authority")];
    assert_eq!(w.code("patient", anchor(DataClass::EmergencySummary, b"twice", &twice)), "invalid_field");
}

/// A batch body of a million empty strings (3 MB of JSON) is read keeping at most
/// `MAX_BATCH` of them: before, every one became a `String` (about 33 MB for a 4 MiB body).
#[test]
fn a_batch_body_past_the_limit_is_counted_not_kept() {
    use ledger_protocol::wire::{MAX_BATCH, SubmitBatch};
    let n = 1_000_000;
    let body = format!("{{\"txs\":[{}]}}", vec!["\"\""; n].join(","));
    let b: SubmitBatch = serde_json::from_str(&body).unwrap();
    assert_eq!((b.txs.len(), b.beyond, b.len()), (MAX_BATCH, n - MAX_BATCH, n));
    assert!(b.txs.capacity() <= 2 * MAX_BATCH, "kept {} slots", b.txs.capacity());

    let full = SubmitBatch::new(vec!["ab".to_owned(); MAX_BATCH]);
    let sent = serde_json::to_string(&full).unwrap();
    assert!(!sent.contains("beyond"), "the count is not sent");
    let back: SubmitBatch = serde_json::from_str(&sent).unwrap();
    assert_eq!((back.txs, back.beyond), (full.txs, 0));
    for bad in [r#"{"txs":[1]}"#, r#"{"txs":"ab"}"#, r#"{"txs":["ab"}"#, r#"{}"#] {
        assert!(serde_json::from_str::<SubmitBatch>(bad).is_err(), "{bad} is refused");
    }
}

/// A clinician may open at most `MAX_BREAK_GLASS_PER_CLINICIAN` break-glass accesses in a
/// day over all patients (before, only per patient: one doctor could go through every
/// patient of the hospital, three times a week each).
#[test]
fn break_glass_is_limited_per_clinician_over_all_patients() {
    use ledger_protocol::rules::{BREAK_GLASS_DAY_SECS, MAX_BREAK_GLASS_PER_CLINICIAN};
    let mut w = World::new();
    let bg = |who: &str, patient: &str| TxBody::BreakGlass {
        patient: a(patient),
        justification: sealed_len(40, &[a(patient), a(who), a("authority")]),
        duration_secs: 60,
    };
    let patients: Vec<String> = (0..=MAX_BREAK_GLASS_PER_CLINICIAN).map(|i| format!("bg-patient-{i}")).collect();
    for p in &patients {
        w.ok(p, register_patient(p));
    }
    for (i, p) in patients.iter().take(MAX_BREAK_GLASS_PER_CLINICIAN).enumerate() {
        let stx = w.tx("doctor", bg("doctor", p));
        w.submit_at(stx, NOW + i as u64).unwrap();
    }
    let last = &patients[MAX_BREAK_GLASS_PER_CLINICIAN];
    let stx = w.tx("doctor", bg("doctor", last));
    let refused = w.submit_at(stx, NOW + 100).unwrap_err();
    assert_eq!(refused.code(), "break_glass_limit");
    assert!(refused.to_string().contains("over all patients"), "{refused}");
    // Another clinician is not held back by it, and the doctor may again a day later.
    let stx = w.tx("surgeon", bg("surgeon", last));
    w.submit_at(stx, NOW + 100).unwrap();
    let stx = w.tx("doctor", bg("doctor", last));
    w.submit_at(stx, NOW + BREAK_GLASS_DAY_SECS).unwrap();
}

/// An authority logs a read only with the reader's own signed request for it, exactly for
/// that read, and only once (before, the node's word was enough: an authority could log
/// reads nobody asked for, or pin a read on a doctor). A reader logging their own read needs
/// none.
#[test]
fn an_authority_logs_a_read_only_with_the_readers_own_request() {
    let mut w = World::new();
    let doctor = a("doctor");
    let consent = w.grant("doctor", vec![DataClass::Notes], Actions::READ, Purpose::Treatment, NOW + 1000);
    let rec = w.record(DataClass::Notes);
    let other = sha256(&[b"another record"]);
    let logged =
        |request| TxBody::AccessEvent { record: rec, reader: doctor, basis: AccessBasis::Consent(consent), request };
    let code = |w: &mut World, request| w.code("authority", logged(request));
    assert_eq!(code(&mut w, None), "access_not_requested", "no request");
    assert_eq!(code(&mut w, read_request("doctor", other, NOW)), "access_not_requested", "another record's");
    assert_eq!(code(&mut w, read_request("patient2", rec, NOW)), "access_not_requested", "someone else's key");
    assert_eq!(code(&mut w, read_request("doctor", rec, NOW - 600)), "access_not_requested", "ten minutes old");
    let mut forged = read_request("doctor", rec, NOW).unwrap();
    forged.request.nonce = vec![8; 16];
    assert_eq!(code(&mut w, Some(forged)), "bad_signature", "altered after signing");
    let mut query = read_request("doctor", rec, NOW).unwrap().request;
    query.path.push_str("?note=free+text+for+the+ledger");
    assert_eq!(
        code(&mut w, Some(Box::new(query.sign(&key("doctor"))))),
        "access_not_requested",
        "a path with more than the read"
    );
    let mut elsewhere = read_request("doctor", rec, NOW).unwrap().request;
    elsewhere.audience = a("insurer");
    assert_eq!(
        code(&mut w, Some(Box::new(elsewhere.sign(&key("doctor"))))),
        "access_not_requested",
        "made to another node"
    );
    let mut write = read_request("doctor", rec, NOW).unwrap().request;
    write.method = "GET".into();
    assert_eq!(code(&mut w, Some(Box::new(write.sign(&key("doctor"))))), "access_not_requested", "not a read");
    let refused = w.try_("authority", logged(None)).unwrap_err();
    assert!(refused.to_string().contains("reader's own signed request"), "{refused}");
    w.ok("authority", logged(read_request("doctor", rec, NOW)));
    // One request is one read: the same request cannot be logged again (the node's replay
    // cache is in its memory; the rules hold for any authority key).
    assert_eq!(code(&mut w, read_request("doctor", rec, NOW)), "access_already_logged", "logged twice");
    // The reader may log their own read without one; nobody else but an authority may.
    w.ok("doctor", logged(None));
    assert_eq!(w.code("surgeon", logged(read_request("doctor", rec, NOW))), "wrong_role");
}

/// On a clinician's word alone a break-glass lasts at most 4 hours; the hospital's second
/// look (an authority or an administrator) lets it last up to 24 hours from its start, or
/// ends it at once. The patient's access log shows the review.
#[test]
fn a_break_glass_past_four_hours_needs_the_hospitals_review_which_can_also_end_it() {
    use ledger_protocol::rules::{MAX_BREAK_GLASS_SECS, MAX_REVIEWED_BREAK_GLASS_SECS, live_break_glass};
    let mut w = World::new();
    w.ok(
        "authority",
        TxBody::RegisterProvider {
            key: pk(&key("admin")),
            encryption_key: pk(&key("admin-enc")),
            role: Role::Admin,
            name: "admin".into(),
            licence: "L".into(),
        },
    );
    let bg = |secs| TxBody::BreakGlass { patient: p1(), justification: justification("doctor"), duration_secs: secs };
    assert_eq!(w.code("doctor", bg(MAX_BREAK_GLASS_SECS + 1)), "break_glass_too_long");
    // The justification may be sealed for the hospital's administrators too (who review
    // it), not for anyone else.
    let for_admin = sealed_for(&[p1(), a("doctor"), a("authority"), a("admin")]);
    let grant = w.ok("doctor", TxBody::BreakGlass { patient: p1(), justification: for_admin, duration_secs: 3600 });
    let review = |until| TxBody::ReviewBreakGlass { grant, until };
    assert_eq!(w.code("admin", review(NOW + MAX_REVIEWED_BREAK_GLASS_SECS + 1)), "break_glass_too_long");
    w.ok("admin", review(NOW + 20 * 3600));
    let b = &w.state.break_glass[&grant];
    assert_eq!((b.until, b.reviewed_by), (NOW + 20 * 3600, Some(a("admin"))));
    assert!(live_break_glass(&w.state, &p1(), &a("doctor"), NOW + 10 * 3600).is_some(), "lasts past 4 hours");
    let audit = &w.state.patients[&p1()].audit;
    assert!(
        matches!(audit.last(), Some(ledger_protocol::state::AuditEntry::BreakGlassReviewed { grant: g, reviewer, .. }) if *g == grant && *reviewer == a("admin")),
        "{audit:?}"
    );
    // The authority ends it ("now", signed a moment before the block): it lets nothing in
    // any more, and cannot be reviewed again.
    w.ok("authority", review(NOW - 5));
    assert_eq!(w.state.break_glass[&grant].until, NOW);
    assert!(live_break_glass(&w.state, &p1(), &a("doctor"), NOW).is_none());
    assert_eq!(w.code("admin", review(NOW + 3600)), "break_glass_expired");
    let to_someone_else = sealed_for(&[p1(), a("surgeon"), a("authority"), a("doctor")]);
    assert_eq!(
        w.code("surgeon", TxBody::BreakGlass { patient: p1(), justification: to_someone_else, duration_secs: 60 }),
        "sealed_readers"
    );
}
