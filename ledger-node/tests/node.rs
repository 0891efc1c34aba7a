//! Integration tests of the node over real HTTP: every API rejection with its code, the
//! consent-gated blob store and its audit trail, proofs a client checks on its own, and a
//! crash test that SIGKILLs the node binary under load and finds every acknowledged
//! transaction after restart; and (in `cluster/`) three nodes replicated with openraft.

use ledger_protocol::block::{ChainTip, verify_header};
use ledger_protocol::codec::Encode;
use ledger_protocol::crypto::sha256;
use ledger_protocol::wire::{ReadRequest, TxWithProof};
use ledger_protocol::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "cluster/mod.rs"]
mod cluster;
#[path = "durability/mod.rs"]
mod durability;

fn key(seed: &str) -> k256::ecdsa::SigningKey {
    k256::ecdsa::SigningKey::from_slice(&sha256(&[seed.as_bytes()]).0).unwrap()
}
/// A patient's self-registration with a sealed profile of `bytes` ciphertext bytes (the
/// node never decrypts it).
fn register(k: &k256::ecdsa::SigningKey, bytes: usize) -> TxBody {
    let me = pk(k).address();
    let profile = ledger_protocol::Sealed {
        ciphertext: me.0.iter().copied().cycle().take(bytes.max(ledger_protocol::rules::SEAL_OVERHEAD + 1)).collect(),
        keys: vec![ledger_protocol::WrappedKey { reader: me, wrapped: vec![1; 106] }],
    };
    TxBody::RegisterPatient { encryption_key: pk(k), profile }
}

fn pk(k: &k256::ecdsa::SigningKey) -> PublicKey {
    PublicKey::from(k.verifying_key())
}

/// A node binary running on a free port over a data directory.
struct NodeProc {
    child: Child,
    base: String,
}

impl NodeProc {
    fn start(dir: &std::path::Path) -> NodeProc {
        Self::start_with(dir, &[])
    }
    /// Like `start`, with more `serve` options.
    fn start_with(dir: &std::path::Path, more: &[&str]) -> NodeProc {
        let mut args: Vec<&std::ffi::OsStr> =
            vec!["serve".as_ref(), "--data-dir".as_ref(), dir.as_os_str(), "--listen".as_ref(), "127.0.0.1:0".as_ref()];
        args.extend(more.iter().map(std::ffi::OsStr::new));
        let (child, rest) = Self::spawn(&args, "ledger node listening on ");
        NodeProc { child, base: rest.trim().to_owned() }
    }
    /// Starts the node binary with `args` and waits for the line starting with `ready`;
    /// returns the child and the rest of that line.
    fn spawn(args: &[&std::ffi::OsStr], ready: &str) -> (Child, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledger-node"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting ledger-node");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let rest = loop {
            let line = lines.next().expect("node exited before listening").unwrap();
            if let Some(rest) = line.strip_prefix(ready) {
                break rest.to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        (child, rest)
    }
    fn sigkill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn init_chain(dir: &std::path::Path) -> (Genesis, k256::ecdsa::SigningKey) {
    let out = Command::new(env!("CARGO_BIN_EXE_ledger-node"))
        .args(["init", "--chain-id", "test-chain", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let g: Genesis = serde_json::from_str(&std::fs::read_to_string(dir.join("genesis.json")).unwrap()).unwrap();
    let k = std::fs::read_to_string(dir.join("authority.key")).unwrap();
    (g, k256::ecdsa::SigningKey::from_slice(&hex::decode(k.trim()).unwrap()).unwrap())
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    chain: String,
}

impl Client {
    fn tx(&self, k: &k256::ecdsa::SigningKey, nonce: u64, body: TxBody) -> SignedTransaction {
        Transaction { chain_id: self.chain.clone(), signer: pk(k), nonce, body }.sign(k)
    }
    async fn submit(&self, stx: &SignedTransaction) -> (u16, Value) {
        self.post("/v1/transactions", json!({ "tx": hex::encode(stx.to_canonical_bytes()) })).await
    }
    async fn ok(&self, stx: &SignedTransaction) -> Hash {
        let (status, v) = self.submit(stx).await;
        assert_eq!(status, 200, "{v}");
        v["id"].as_str().unwrap().parse().unwrap()
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
    async fn read(&self, reader: &k256::ecdsa::SigningKey, record: Hash) -> (u16, Vec<u8>) {
        let req = ReadRequest { chain_id: self.chain.clone(), record, reader: pk(reader), timestamp_ms: now_ms() }
            .sign(reader);
        let r = self.http.post(format!("{}/v1/records/{record}/read", self.base)).json(&req).send().await.unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Starts an in-process node on a free port; returns the client and the authority key.
async fn in_process() -> (Client, k256::ecdsa::SigningKey, tempfile::TempDir) {
    let (c, k, dir, _) = in_process_with(ledger_node::ledger::system_clock()).await;
    (c, k, dir)
}

/// Like `in_process`, with block times read from `clock`; also returns the node's state.
async fn in_process_with(
    clock: ledger_node::ledger::WallClock,
) -> (Client, k256::ecdsa::SigningKey, tempfile::TempDir, ledger_node::api::AppState) {
    let dir = tempfile::tempdir().unwrap();
    let auth = key("authority");
    let genesis = Genesis {
        chain_id: "test-chain".into(),
        timestamp_ms: 0,
        authorities: vec![GenesisAuthority {
            name: "Test Hospital".into(),
            key: pk(&auth),
            encryption_key: pk(&key("auth-enc")),
        }],
    };
    let node = ledger_node::start(ledger_node::NodeConfig {
        data_dir: dir.path().to_owned(),
        genesis,
        key: auth.clone(),
        blocks: Default::default(),
        portal_dir: None,
        clock,
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ledger_node::serve(listener, node.router, std::future::pending()));
    (Client { http: reqwest::Client::new(), base, chain: "test-chain".into() }, auth, dir, node.state)
}

/// A consent for `grantee` to read Procedures for treatment, from now for an hour.
fn read_consent_for_an_hour(grantee: Address) -> TxBody {
    let now = now_ms() / 1000;
    TxBody::GrantConsent {
        grantee,
        classes: vec![DataClass::Procedures],
        actions: Actions::READ,
        purpose: Purpose::Treatment,
        valid_from: now - 5,
        valid_until: now + 3600,
    }
}

struct Cast {
    auth: k256::ecdsa::SigningKey,
    patient: k256::ecdsa::SigningKey,
    doctor: k256::ecdsa::SigningKey,
    stranger_doctor: k256::ecdsa::SigningKey,
}

async fn register_cast(c: &Client, auth: k256::ecdsa::SigningKey) -> Cast {
    let cast = Cast { auth, patient: key("patient"), doctor: key("doctor"), stranger_doctor: key("doctor2") };
    for (i, (k, role)) in [(&cast.doctor, Role::Doctor), (&cast.stranger_doctor, Role::Doctor)].iter().enumerate() {
        c.ok(&c.tx(
            &cast.auth,
            i as u64 + 1,
            TxBody::RegisterProvider {
                key: pk(k),
                encryption_key: pk(k),
                role: *role,
                name: format!("Dr {i}"),
                licence: format!("L{i}"),
            },
        ))
        .await;
    }
    c.ok(&c.tx(&cast.patient, 1, register(&cast.patient, 100))).await;
    cast
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_rejections_carry_their_codes() {
    let (c, auth, _dir) = in_process().await;
    let cast = register_cast(&c, auth).await;

    // Malformed JSON, malformed hex, malformed canonical bytes.
    let r = c.http.post(format!("{}/v1/transactions", c.base)).body("{not json").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "malformed_json");
    assert_eq!(c.post("/v1/transactions", json!({ "tx": "xyz" })).await.1["code"], "malformed");
    let (s, v) = c.post("/v1/transactions", json!({ "tx": "01020304" })).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (400, "malformed"));

    // Forged signature: a valid transaction whose nonce was changed after signing.
    let mut forged = c.tx(&cast.patient, 5, TxBody::RevokeConsent { consent: Hash::ZERO });
    forged.tx.nonce = 6;
    let (s, v) = c.submit(&forged).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (401, "bad_signature"), "{v}");

    // Stale nonce (the patient used nonce 1 to register).
    let (s, v) = c.submit(&c.tx(&cast.patient, 1, TxBody::RevokeConsent { consent: Hash::ZERO })).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (409, "stale_nonce"), "{v}");
    assert!(v["message"].as_str().unwrap().contains("greater than 1"));

    // Unknown account.
    let (s, v) = c.submit(&c.tx(&key("nobody"), 1, TxBody::RevokeConsent { consent: Hash::ZERO })).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (403, "unknown_account"));

    // Oversized request.
    let big = "0".repeat(ledger_node::api::MAX_JSON_BYTES + 10);
    let (s, v) = c.post("/v1/transactions", json!({ "tx": big })).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (413, "too_large"));

    // A rule rejection passes through with its code and sentence.
    let (s, v) = c
        .submit(&c.tx(
            &cast.doctor,
            1,
            TxBody::RegisterProvider {
                key: pk(&key("x")),
                encryption_key: pk(&key("x")),
                role: Role::Doctor,
                name: "X".into(),
                licence: "L".into(),
            },
        ))
        .await;
    assert_eq!((s, v["code"].as_str().unwrap()), (403, "not_authority"));

    // Batches answer per transaction, in order.
    let good = c.tx(
        &cast.patient,
        2,
        TxBody::GrantConsent {
            grantee: pk(&cast.doctor).address(),
            classes: vec![DataClass::Notes],
            actions: Actions::READ,
            purpose: Purpose::Treatment,
            valid_from: 0,
            valid_until: now_ms() / 1000 + 100,
        },
    );
    let (s, v) = c
        .post(
            "/v1/transactions/batch",
            json!({ "txs": [hex::encode(good.to_canonical_bytes()), hex::encode(forged.to_canonical_bytes())] }),
        )
        .await;
    assert_eq!(s, 200);
    assert!(v["results"][0]["ok"]["height"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["results"][1]["err"]["code"], "bad_signature");

    // Unknown ids and routes.
    assert_eq!(c.get(&format!("/v1/transactions/{}", Hash::ZERO)).await.0, 404);
    assert_eq!(c.get("/v1/transactions/nothex").await.1["code"], "bad_request");
    assert_eq!(c.get("/v1/nope").await.1["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_are_released_only_under_live_consent_and_every_release_is_audited() {
    let (c, auth, _dir) = in_process().await;
    let cast = register_cast(&c, auth).await;
    let doctor = pk(&cast.doctor).address();
    let patient = pk(&cast.patient).address();
    let now = now_ms() / 1000;

    let consent = c.ok(&c.tx(&cast.patient, 2, read_consent_for_an_hour(doctor))).await;
    let envelope = b"\x01 sealed record bytes (opaque to the node)".to_vec();
    let r = c.http.put(format!("{}/v1/blobs", c.base)).body(envelope.clone()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let blob: Hash = r.json::<Value>().await.unwrap()["blob"].as_str().unwrap().parse().unwrap();
    assert_eq!(blob, wire::blob_id(&envelope));
    let record = c
        .ok(&c.tx(
            &cast.patient,
            3,
            TxBody::AnchorRecord {
                patient,
                content_hash: sha256(&[b"plain"]),
                size: envelope.len() as u64,
                class: DataClass::Procedures,
                blob,
                keys: vec![
                    WrappedKey { reader: patient, wrapped: vec![1; 80] },
                    WrappedKey { reader: doctor, wrapped: vec![2; 80] },
                ],
            },
        ))
        .await;

    // The patient reads their own record without an access event.
    assert_eq!(c.read(&cast.patient, record).await, (200, envelope.clone()));
    // The doctor reads under consent; the release is on the ledger.
    assert_eq!(c.read(&cast.doctor, record).await, (200, envelope.clone()));
    let (_, audit) = c.get(&format!("/v1/patients/{patient}/audit")).await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit["entries"][0]["reader"], doctor.to_hex());
    assert_eq!(audit["entries"][0]["basis"]["id"], consent.to_hex());
    let event: Hash = audit["entries"][0]["tx"].as_str().unwrap().parse().unwrap();
    let (_, proof) = c.get(&format!("/v1/transactions/{event}")).await;
    let proof: TxWithProof = serde_json::from_value(proof).unwrap();
    assert!(proof.verify());
    assert!(K256Verifier.verify(&proof.header.producer, &proof.block_hash, &proof.block_signature));

    // A doctor without consent is refused with a reason, and the attempt is logged.
    let (s, body) = c.read(&cast.stranger_doctor, record).await;
    assert_eq!(s, 403);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["code"], "no_consent");
    // After revocation the doctor is refused too.
    c.ok(&c.tx(&cast.patient, 4, TxBody::RevokeConsent { consent })).await;
    let (s, body) = c.read(&cast.doctor, record).await;
    assert_eq!(
        (s, serde_json::from_slice::<Value>(&body).unwrap()["code"].as_str().unwrap().to_owned()),
        (403, "consent_revoked".into())
    );
    let (_, audit) = c.get(&format!("/v1/patients/{patient}/audit")).await;
    let refused = audit["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 2, "{audit}");
    assert_eq!(refused[0]["code"], "consent_revoked");
    assert_eq!(refused[1]["code"], "no_consent");

    // An expired consent gives its own code.
    let short = c
        .ok(&c.tx(
            &cast.patient,
            5,
            TxBody::GrantConsent {
                grantee: doctor,
                classes: vec![DataClass::Procedures],
                actions: Actions::READ,
                purpose: Purpose::Treatment,
                valid_from: now - 5,
                valid_until: now_ms() / 1000 + 1,
            },
        ))
        .await;
    assert_ne!(short, Hash::ZERO);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, body) = c.read(&cast.doctor, record).await;
    assert_eq!(
        (s, serde_json::from_slice::<Value>(&body).unwrap()["code"].as_str().unwrap().to_owned()),
        (403, "consent_expired".into())
    );

    // A forged read request and a stale one are refused.
    let mut req = ReadRequest { chain_id: c.chain.clone(), record, reader: pk(&cast.doctor), timestamp_ms: now_ms() }
        .sign(&cast.stranger_doctor);
    let (s, v) = c.post(&format!("/v1/records/{record}/read"), serde_json::to_value(&req).unwrap()).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (401, "bad_signature"));
    req =
        ReadRequest { chain_id: c.chain.clone(), record, reader: pk(&cast.doctor), timestamp_ms: now_ms() - 3_600_000 }
            .sign(&cast.doctor);
    let (s, v) = c.post(&format!("/v1/records/{record}/read"), serde_json::to_value(&req).unwrap()).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (401, "stale_request"));

    // Blob uploads are size-limited.
    let r = c
        .http
        .put(format!("{}/v1/blobs", c.base))
        .body(vec![0u8; ledger_node::api::MAX_BLOB_BYTES + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "too_large");
    let _ = cast.auth;
}

/// SIGKILL the node while clients submit; after restart every acknowledged transaction is
/// in the chain, and the chain re-verifies from genesis (the node itself refuses to start
/// otherwise; the test also re-checks every block client-side).
#[test]
fn sigkill_under_load_loses_no_acknowledged_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, _auth) = init_chain(dir.path());
    let mut node = NodeProc::start(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let base = node.base.clone();
    let chain = genesis.chain_id.clone();

    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Hash>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (acked, stop, base, chain) = (acked.clone(), stop.clone(), base.clone(), chain.clone());
        workers.push(rt.spawn(async move {
            let c = Client { http: reqwest::Client::new(), base, chain };
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let k = key(&format!("crash-{w}-{i}"));
                let stx = c.tx(&k, 1, register(&k, 100));
                let res = c
                    .http
                    .post(format!("{}/v1/transactions", c.base))
                    .json(&json!({ "tx": hex::encode(stx.to_canonical_bytes()) }))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status().is_success() => acked.lock().unwrap().push(stx.id()),
                    Ok(_) => {}
                    Err(_) => break, // the node is gone
                }
                i += 1;
            }
        }));
    }
    let t0 = Instant::now();
    while acked.lock().unwrap().len() < 200 && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    node.sigkill();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in workers {
        let _ = rt.block_on(w);
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 200, "only {} transactions were acknowledged before the kill", acked.len());

    let node = NodeProc::start(dir.path());
    let c = Client { http: reqwest::Client::new(), base: node.base.clone(), chain };
    rt.block_on(async {
        for id in &acked {
            let (s, v) = c.get(&format!("/v1/transactions/{id}")).await;
            assert_eq!(s, 200, "acknowledged transaction {id} is missing after the crash");
            let p: TxWithProof = serde_json::from_value(v).unwrap();
            assert!(p.verify());
        }
        // Walk the chain from genesis, checking links, producer signatures and Merkle roots.
        let (_, info) = c.get("/v1/info").await;
        let height = info["height"].as_u64().unwrap();
        let mut tip = ChainTip::genesis(&genesis);
        let mut seen = 0usize;
        for h in 1..=height {
            let (_, b) = c.get(&format!("/v1/blocks/{h}")).await;
            let block: Block = serde_json::from_value(b).unwrap();
            verify_header(&genesis, &tip, &block, &K256Verifier).unwrap();
            for t in &block.txs {
                assert!(t.clone().verify(&K256Verifier).is_ok());
            }
            seen += block.txs.len();
            tip = ChainTip { height: h, hash: block.hash(), timestamp_ms: block.header.timestamp_ms };
        }
        assert_eq!(tip.hash.to_hex(), info["head"].as_str().unwrap());
        assert!(seen >= acked.len());
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_health_metrics_and_openapi_describe_the_node() {
    let (c, auth, _dir) = in_process().await;
    register_cast(&c, auth).await;
    let (s, health) = c.get("/health").await;
    assert_eq!((s, health["status"].as_str().unwrap()), (200, "ok"));
    let (_, info) = c.get("/v1/info").await;
    assert_eq!(info["chain_id"], "test-chain");
    assert_eq!(info["height"], health["height"]);
    let metrics = c.http.get(format!("{}/metrics", c.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("ledger_txs_committed_total 3"), "{metrics}");
    let (_, doc) = c.get("/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/transactions",
        "/v1/transactions/batch",
        "/v1/transactions/{id}",
        "/v1/blocks/{height}",
        "/v1/patients/{address}/audit",
        "/v1/blobs",
        "/v1/records/{id}/read",
        "/v1/info",
        "/health",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "OpenAPI lacks {p}");
    }
    let (_, providers) = c.get("/v1/accounts").await;
    assert_eq!(providers.as_array().unwrap().len(), 3, "two doctors and the authority; patients are not listed");
}
