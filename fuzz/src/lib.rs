//! Fuzz targets for every decoder of untrusted input, and their seeds.
//!
//! Each target takes arbitrary bytes and must neither panic nor abort (nor allocate without
//! bound) whatever they are; where a decoder accepts the bytes it also checks a property the
//! rest of the system relies on (canonical encodings re-encode to the same bytes, a case or
//! keystore written back reads back the same). The AFL++ harness (`src/main.rs`, built by
//! `cargo xtask fuzz` with cargo-afl) runs one target by name; the tests of this crate run
//! every target over its seeds and over the inputs kept in `regressions/<target>/` (each
//! one a crash a fuzzer once found, named after it), so a fixed crash stays fixed in plain CI.
//! Seeds come from the project's own vectors and the clinical data in `../shared/data`.
//! Signature checks (fixed-size arithmetic, tested by the protocol's own tests) are left out
//! of the targets, which then run some ten thousand inputs a second.

use ledger_node::cluster::types::{BlockProposal, TypeConfig};
use ledger_protocol::wire::SignedApiRequest;
use ledger_protocol::{Block, Decode, Encode, SignedTransaction, Stage, Transaction};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use std::path::Path;

/// One fuzz target: its name (the harness's argument) and what it feeds.
pub struct Target {
    pub name: &'static str,
    pub about: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order `cargo xtask fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target { name: "tx", about: "canonical transactions (signed and unsigned)", run: tx },
    Target { name: "block", about: "canonical blocks", run: block },
    Target { name: "read_request", about: "signed read requests (Authorization header and bytes)", run: read_request },
    Target { name: "raft", about: "Raft messages (append, vote, snapshot) and snapshot data", run: raft },
    Target { name: "keystore", about: "wallet keystore files (parsing and their KDF bounds)", run: keystore },
    Target { name: "envelope", about: "record envelopes and wrapped record keys", run: envelope },
    Target { name: "wfdb_header", about: "WFDB header files", run: wfdb_header },
    Target {
        name: "wfdb_record",
        about: "WFDB records (single and multi-segment): a header, a NUL byte, then its signal file",
        run: wfdb_record,
    },
    Target { name: "annotations", about: "WFDB (MIT) annotation files", run: annotations },
    Target { name: "fhir", about: "FHIR R4 JSON import (NDJSON, Bundles)", run: fhir },
    Target { name: "csv", about: "CSV numeric tracks", run: csv },
    Target { name: "case", about: "twin case files", run: case },
    Target { name: "scenario", about: "training scenarios and scripted actions", run: scenario },
    Target {
        name: "anchors",
        about: "a case's segment anchors as the node lists them, checked against a case",
        run: anchors,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

fn tx(data: &[u8]) {
    if let Ok(t) = SignedTransaction::from_canonical_bytes(data) {
        assert_eq!(t.to_canonical_bytes(), data, "a signed transaction decoded from bytes that are not its encoding");
        let _ = t.id();
    }
    if let Ok(t) = Transaction::from_canonical_bytes(data) {
        assert_eq!(t.to_canonical_bytes(), data, "a transaction decoded from bytes that are not its encoding");
        let _ = t.signing_hash();
    }
}

fn block(data: &[u8]) {
    if let Ok(b) = Block::from_canonical_bytes(data) {
        assert_eq!(b.to_canonical_bytes(), data, "a block decoded from bytes that are not its encoding");
        let _ = (b.hash(), b.tx_ids());
    }
}

fn read_request(data: &[u8]) {
    if let Some(s) = text(data) {
        let _ = SignedApiRequest::from_header(s);
    }
    if let Ok(r) = SignedApiRequest::from_canonical_bytes(data) {
        assert_eq!(r.to_canonical_bytes(), data, "a read request decoded from bytes that are not its encoding");
        let _ = r.request.signing_hash();
    }
}

fn raft(data: &[u8]) {
    if let Ok(req) = serde_json::from_slice::<AppendEntriesRequest<TypeConfig>>(data) {
        for e in &req.entries {
            if let openraft::EntryPayload::Normal(BlockProposal(bytes)) = &e.payload {
                block(bytes);
            }
        }
    }
    let _ = serde_json::from_slice::<VoteRequest<u64>>(data);
    if let Ok(req) = serde_json::from_slice::<InstallSnapshotRequest<TypeConfig>>(data) {
        let _ = ledger_node::cluster::state_machine::decode_snapshot(&req.data);
    }
    if let Ok(blocks) = ledger_node::cluster::state_machine::decode_snapshot(data) {
        for b in blocks {
            block(&b);
        }
    }
}

fn keystore(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(k) = wallet::Keystore::from_json(s) {
        let again = wallet::Keystore::from_json(&k.to_json()).expect("a keystore written back does not read back");
        assert_eq!(again.to_json(), k.to_json(), "a keystore written back reads back different");
        let _ = (k.address(), k.kdf_params());
    }
}

/// The record key and reader secret the envelope target opens with (its seeds are sealed for
/// them, so the fuzzer starts from envelopes that open).
fn envelope_keys() -> (envelope::RecordKey, k256::SecretKey) {
    let secret = k256::SecretKey::from_slice(&[0x42; 32]).expect("a valid scalar");
    (envelope::RecordKey::from_bytes([7; 32]), secret)
}

fn envelope(data: &[u8]) {
    let (key, secret) = envelope_keys();
    let _ = envelope::open(&key, data);
    let _ = envelope::unwrap_key(&secret, data);
}

fn wfdb_header(data: &[u8]) {
    let _ = twin_sim::wfdb::parse_header("fuzz.hea", data);
}

fn wfdb_record(data: &[u8]) {
    let (head, signals) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if let Ok(h) = twin_sim::wfdb::parse_header("fuzz.hea", head) {
        // A multi-segment header's segments are read from the same bytes (so the fuzzer can
        // reach a segment that is itself multi-segment, or the record itself).
        let _ = twin_sim::wfdb::decode_multi_segment(
            &h,
            |_| twin_sim::wfdb::parse_header("segment.hea", head).ok(),
            |_| Some(signals),
        );
    }
}

fn annotations(data: &[u8]) {
    let _ = twin_sim::wfdb::parse_annotations("fuzz.atr", data);
}

fn fhir(data: &[u8]) {
    if let Some(s) = text(data) {
        let _ = twin_sim::import::fhir::import_fhir("fuzz.ndjson", s, Stage::Diagnosis);
    }
}

fn csv(data: &[u8]) {
    if let Some(s) = text(data) {
        let _ = twin_sim::import::csv::parse_csv_tracks("fuzz.csv", s);
    }
}

fn case(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(c) = twin_sim::casefile::read_case("fuzz.case.json", s) {
        // What was read is a case the viewer can write back and read again, unchanged.
        if let Ok(written) = twin_sim::casefile::write_case(&c) {
            let again =
                twin_sim::casefile::read_case("again", &written).expect("a case written back does not read back");
            assert!(again == c, "a case written back reads back different");
        }
    }
}

/// The small case the `case` and `anchors` targets start from.
fn seed_case() -> twin_sim::case::Case {
    let tracks = twin_sim::import::csv::parse_csv_tracks("seed.csv", CSV_SEED).unwrap_or_default();
    let mut stage = twin_sim::case::StageData::new(Stage::Surgery);
    stage.tracks = tracks;
    twin_sim::case::Case { id: "fuzz-seed".into(), stages: vec![stage] }
}

fn anchors(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(a) = twin_sim::verify::parse_anchors(s) {
        let _ = twin_sim::verify::verify_case(&seed_case(), &a);
    }
}

fn scenario(data: &[u8]) {
    if let Some(s) = text(data) {
        let _ = twin_sim::scenario::parse_scenario(s);
        let _ = twin_sim::scenario::parse_actions(s);
    }
}

/// The seeds of target `name`, from the project's vectors and data under `repo` (the
/// repository root; the clinical data is `repo/../shared/data`). A seed whose source is
/// missing is left out and named in the second list.
pub fn seeds(name: &str, repo: &Path) -> (Vec<Vec<u8>>, Vec<String>) {
    let shared = repo.join("../shared/data");
    let mut out = Vec::new();
    let mut missing = Vec::new();
    let mut file = |path: std::path::PathBuf, cap: usize, out: &mut Vec<Vec<u8>>| match std::fs::read(&path) {
        Ok(mut b) => {
            b.truncate(cap);
            out.push(b);
        }
        Err(_) => missing.push(path.display().to_string()),
    };
    let golden = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(repo.join("ledger-node/protocol/tests/vectors/golden.json"))
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default()
    };
    let signed_txs = || -> Vec<SignedTransaction> {
        golden()
            .iter()
            .filter_map(|v| v["signed_hex"].as_str().and_then(|h| hex::decode(h).ok()))
            .filter_map(|b| SignedTransaction::from_canonical_bytes(&b).ok())
            .collect()
    };
    let producer = k256::ecdsa::SigningKey::from_slice(&[0x11; 32]).expect("a valid scalar");
    let a_block = |txs: Vec<SignedTransaction>| {
        Block::produce("healthchain-golden", 1, ledger_protocol::Hash([0; 32]), 1_700_000_000_000, txs, &producer)
            .to_canonical_bytes()
    };
    let records =
        [("mitdb-100", "100"), ("mimicdb-037", "03700181"), ("mimic-numerics-s00001", "s00001-2896-10-10-00-31n")];
    match name {
        "tx" => {
            for v in golden() {
                for k in ["signed_hex", "canonical_hex"] {
                    if let Some(b) = v[k].as_str().and_then(|h| hex::decode(h).ok()) {
                        out.push(b);
                    }
                }
            }
            if out.is_empty() {
                missing.push("ledger-node/protocol/tests/vectors/golden.json".into());
            }
        }
        "block" => {
            let txs = signed_txs();
            out.push(a_block(Vec::new()));
            out.push(a_block(txs.iter().take(3).cloned().collect()));
        }
        "read_request" => {
            let key = k256::ecdsa::SigningKey::from_slice(&[0x22; 32]).expect("a valid scalar");
            let req = ledger_protocol::wire::ApiRequest {
                chain_id: "healthchain-golden".into(),
                audience: ledger_protocol::PublicKey::from(producer.verifying_key()).address(),
                method: "GET".into(),
                path: "/v1/patients/0909090909090909090909090909090909090909/records".into(),
                body_hash: ledger_protocol::wire::body_hash(b""),
                timestamp_ms: 1_700_000_000_000,
                nonce: vec![5; 16],
                signer: ledger_protocol::PublicKey::from(key.verifying_key()),
            }
            .sign(&key);
            out.push(req.to_canonical_bytes());
            out.push(req.to_header().into_bytes());
        }
        "raft" => {
            let vote = openraft::Vote::new(3, 1u64);
            let log_id = openraft::LogId::new(openraft::CommittedLeaderId::new(3, 1), 7);
            out.push(serde_json::to_vec(&VoteRequest::new(vote, Some(log_id))).unwrap_or_default());
            let entry = openraft::Entry::<TypeConfig> {
                log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(3, 1), 8),
                payload: openraft::EntryPayload::Normal(BlockProposal(a_block(
                    signed_txs().into_iter().take(2).collect(),
                ))),
            };
            let append = AppendEntriesRequest::<TypeConfig> {
                vote,
                prev_log_id: Some(log_id),
                entries: vec![entry],
                leader_commit: Some(log_id),
            };
            out.push(serde_json::to_vec(&append).unwrap_or_default());
            out.push(ledger_node::cluster::state_machine::encode_snapshot(&[a_block(Vec::new())]));
        }
        "keystore" => {
            let mnemonic = wallet::Mnemonic::from_entropy(&[3; wallet::keys::ENTROPY_LEN]);
            match wallet::Keystore::create_with(
                &mnemonic,
                &wallet::Passphrase::new("a seed passphrase"),
                wallet::KdfParams::MINIMUM,
                Some("fuzz seed".into()),
                [9; wallet::keystore::SALT_LEN],
                [8; wallet::keystore::NONCE_LEN],
            ) {
                Ok(k) => out.push(k.to_json().into_bytes()),
                Err(e) => missing.push(format!("a keystore ({e})")),
            }
        }
        "envelope" => {
            let (key, secret) = envelope_keys();
            let mut rng = rand_core::OsRng;
            if let Ok(sealed) = envelope::seal_with(&key, b"{\"resourceType\":\"Observation\"}", &mut rng) {
                out.push(sealed);
            }
            let reader = ledger_protocol::PublicKey::from(&k256::ecdsa::VerifyingKey::from(secret.public_key()));
            if let Ok(wrapped) = envelope::wrap_key(&key, &reader, &mut rng) {
                out.push(wrapped);
            }
        }
        "wfdb_header" => {
            for (dir, rec) in records {
                file(shared.join(format!("physionet/{dir}/{rec}.hea")), 4096, &mut out);
            }
        }
        "wfdb_record" => {
            for (dir, rec) in records {
                let hea = shared.join(format!("physionet/{dir}/{rec}.hea"));
                let (Ok(h), Ok(parsed)) = (
                    std::fs::read(&hea),
                    std::fs::read(&hea)
                        .map_err(|e| e.to_string())
                        .and_then(|b| twin_sim::wfdb::parse_header("seed.hea", &b).map_err(|e| e.to_string())),
                ) else {
                    missing.push(hea.display().to_string());
                    continue;
                };
                let Some(dat) = parsed.signals.first().map(|s| shared.join(format!("physionet/{dir}/{}", s.file_name)))
                else {
                    continue;
                };
                match std::fs::read(&dat) {
                    Ok(mut d) => {
                        d.truncate(3000);
                        let mut seed = h;
                        seed.push(0);
                        seed.extend(d);
                        out.push(seed);
                    }
                    Err(_) => missing.push(dat.display().to_string()),
                }
            }
        }
        "annotations" => file(shared.join("physionet/mitdb-100/100.atr"), 8192, &mut out),
        "fhir" => {
            let path = shared.join("synthea-fhir/one-patient-a4a401d1.ndjson");
            match std::fs::read_to_string(&path) {
                Ok(t) => {
                    for line in t.lines().filter(|l| l.len() < 6000).take(6) {
                        out.push(line.as_bytes().to_vec());
                    }
                }
                Err(_) => missing.push(path.display().to_string()),
            }
        }
        "csv" => out.push(CSV_SEED.as_bytes().to_vec()),
        "case" => match twin_sim::casefile::write_case(&seed_case()) {
            Ok(s) => out.push(s.into_bytes()),
            Err(e) => missing.push(format!("a case file ({e})")),
        },
        "anchors" => {
            // As the node lists them: its segment records carry more fields than are read.
            match twin_sim::verify::anchors_for(&seed_case()) {
                Ok(list) => {
                    let json: Vec<serde_json::Value> = list
                        .iter()
                        .map(|a| {
                            serde_json::json!({
                                "stage": a.stage, "stream": a.stream, "start_ms": a.start_ms, "end_ms": a.end_ms,
                                "segment_hash": a.hash, "record": "00".repeat(32),
                            })
                        })
                        .collect();
                    out.push(serde_json::to_vec(&json).unwrap_or_default());
                }
                Err(e) => missing.push(format!("anchors of the seed case ({e})")),
            }
        }
        "scenario" => match std::fs::read_dir(repo.join("twin-sim/scenarios")) {
            Ok(dir) => {
                let mut paths: Vec<_> = dir.flatten().map(|e| e.path()).collect();
                paths.sort();
                for p in paths {
                    file(p, 16 * 1024, &mut out);
                }
            }
            Err(_) => missing.push(repo.join("twin-sim/scenarios").display().to_string()),
        },
        _ => {}
    }
    (out, missing)
}

const CSV_SEED: &str = "time_s,HR[bpm],SpO2[%],ABPmean[mmHg]\n0,82,98,91\n1,83,,90\n# a gap above\n2.5,85,97,88\n";

/// The crash inputs kept for target `name` under `regressions/` (each file one input).
pub fn regressions(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions").join(name);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| Some((e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).ok()?)))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
