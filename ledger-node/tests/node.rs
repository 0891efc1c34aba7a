//! Integration tests of the node over real HTTP: every API rejection with its code, the
//! consent-gated blob store and its audit trail, proofs a client checks on its own, and a
//! crash test that SIGKILLs the node binary under load and finds every acknowledged
//! transaction after restart; and (in `cluster/`) three nodes replicated with openraft.

use ledger_protocol::block::{ChainTip, verify_header};
use ledger_protocol::codec::Encode;
use ledger_protocol::crypto::sha256;
use ledger_protocol::wire::{ApiRequest, TxWithProof};
use ledger_protocol::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "cluster/mod.rs"]
mod cluster;
#[path = "durability/mod.rs"]
mod durability;
#[path = "limits/mod.rs"]
mod limits;
#[path = "support/small_fs.rs"]
mod small_fs;

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
        // The tests' loads are registrations and batches from this one machine (their limits
        // are tested in limits/).
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "serve".as_ref(),
            "--data-dir".as_ref(),
            dir.as_os_str(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--registrations-per-hour".as_ref(),
            "0".as_ref(),
            "--txs-per-address".as_ref(),
            "0".as_ref(),
        ];
        args.extend(more.iter().map(std::ffi::OsStr::new));
        let (child, rest) = Self::spawn(&args, "ledger node listening on ");
        NodeProc { child, base: rest.trim().to_owned() }
    }
    /// Starts the node binary with `args` and waits for the line starting with `ready`;
    /// returns the child and the rest of that line.
    fn spawn(args: &[&std::ffi::OsStr], ready: &str) -> (Child, String) {
        let (child, rest, _) = Self::spawn_watched(args, ready, &[]);
        (child, rest)
    }
    /// Like `spawn`, with more environment variables; also returns the lines the node
    /// writes after the ready line (its log at `warn`).
    fn spawn_watched(
        args: &[&std::ffi::OsStr],
        ready: &str,
        envs: &[(&str, &str)],
    ) -> (Child, String, std::sync::mpsc::Receiver<String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledger-node"))
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(envs.iter().copied())
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
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        (child, rest, rx)
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

/// The `Authorization` header of a request signed by `k` for the node whose authority
/// address is `audience`.
fn auth_header(
    k: &k256::ecdsa::SigningKey,
    chain: &str,
    audience: Address,
    method: &str,
    path: &str,
    body: &[u8],
    timestamp_ms: u64,
) -> String {
    ApiRequest {
        chain_id: chain.into(),
        audience,
        method: method.into(),
        path: path.into(),
        body_hash: ledger_protocol::wire::body_hash(body),
        timestamp_ms,
        nonce: {
            let mut n = vec![0u8; 16];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut n);
            n
        },
        signer: pk(k),
    }
    .sign(k)
    .to_header()
}

/// A client of one node. Its `get` signs as the hospital's authority (who may read what the
/// ledger holds); `get_as` as someone else, `get_anonymous` not at all.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    chain: String,
    /// The node's authority key: the audience of signed requests, and `get`'s signer.
    authority: k256::ecdsa::SigningKey,
    /// How far the node's test clock has been moved: requests are signed by its time.
    ahead_ms: Arc<AtomicU64>,
}

impl Client {
    fn new(base: String, chain: String, authority: &k256::ecdsa::SigningKey) -> Self {
        Client { http: reqwest::Client::new(), base, chain, authority: authority.clone(), ahead_ms: Arc::default() }
    }
    fn header(&self, k: &k256::ecdsa::SigningKey, method: &str, path: &str, body: &[u8]) -> String {
        let at = now_ms() + self.ahead_ms.load(Ordering::SeqCst);
        auth_header(k, &self.chain, pk(&self.authority).address(), method, path, body, at)
    }
    /// `POST /v1/test/clock`, signed by `k`: its status and answer.
    async fn advance_clock_as(&self, k: &k256::ecdsa::SigningKey, secs: u64) -> (u16, Value) {
        let body = json!({ "advance_secs": secs }).to_string();
        let h = self.header(k, "POST", "/v1/test/clock", body.as_bytes());
        let r = self
            .http
            .post(format!("{}/v1/test/clock", self.base))
            .header("authorization", h)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if let Some(ahead) = v["advanced_ms"].as_u64() {
            self.ahead_ms.store(ahead, Ordering::SeqCst);
        }
        (status, v)
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        let auth = self.authority.clone();
        self.get_as(&auth, path).await
    }
    async fn get_as(&self, k: &k256::ecdsa::SigningKey, path: &str) -> (u16, Value) {
        let h = self.header(k, "GET", path, b"");
        let r = self.http.get(format!("{}{path}", self.base)).header("authorization", h).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
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
    async fn get_anonymous(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
    async fn read(&self, reader: &k256::ecdsa::SigningKey, record: Hash) -> (u16, Vec<u8>) {
        let path = format!("/v1/records/{record}/read");
        self.read_with(&path, self.header(reader, "POST", &path, b"")).await
    }
    async fn read_with(&self, path: &str, header: String) -> (u16, Vec<u8>) {
        let r = self.http.post(format!("{}{path}", self.base)).header("authorization", header).send().await.unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }
    async fn put_blob(&self, k: &k256::ecdsa::SigningKey, bytes: &[u8]) -> (u16, Value) {
        let r = self.put_blob_answer(k, bytes).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
    /// A blob upload signed by `k`: the whole answer (status, headers, body).
    async fn put_blob_answer(&self, k: &k256::ecdsa::SigningKey, bytes: &[u8]) -> reqwest::Response {
        let h = self.header(k, "PUT", "/v1/blobs", bytes);
        self.http
            .put(format!("{}/v1/blobs", self.base))
            .header("authorization", h)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap()
    }
}

/// A block as the hospital's authority reads it: the header and signature with every
/// transaction's canonical bytes.
fn block_of(v: &Value) -> Block {
    let txs = v["txs_hex"]
        .as_array()
        .unwrap_or_else(|| panic!("the block has no transactions for this reader: {v}"))
        .iter()
        .map(|t| SignedTransaction::from_canonical_bytes(&hex::decode(t.as_str().unwrap()).unwrap()).unwrap())
        .collect();
    Block {
        header: serde_json::from_value(v["header"].clone()).unwrap(),
        txs,
        signature: serde_json::from_value(v["signature"].clone()).unwrap(),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Starts an in-process node on a free port; returns the client and the authority key.
async fn in_process() -> (Client, k256::ecdsa::SigningKey, tempfile::TempDir) {
    let (c, k, dir, _) = in_process_with(ledger_node::ledger::system_clock(), false).await;
    (c, k, dir)
}

/// Like `in_process`, with block times read from `clock` and (`test_clock`) a node clock the
/// authority may move forward; also returns the node's state.
async fn in_process_with(
    clock: ledger_node::ledger::WallClock,
    test_clock: bool,
) -> (Client, k256::ecdsa::SigningKey, tempfile::TempDir, ledger_node::api::AppState) {
    in_process_limited(clock, test_clock, ledger_node::limits::Limits::unmetered()).await
}

/// Like `in_process_with`, with the public port's `limits`.
async fn in_process_limited(
    clock: ledger_node::ledger::WallClock,
    test_clock: bool,
    limits: ledger_node::limits::Limits,
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
        test_clock,
        limits: limits.clone(),
    })
    .unwrap();
    node.state.set_escrow_key(k256::SecretKey::from_bytes(&key("auth-enc").to_bytes()).unwrap()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ledger_node::serve(
        listener,
        node.router,
        limits,
        ledger_node::tls::Listen::Plain,
        std::future::pending(),
    ));
    (Client::new(base, "test-chain".into(), &auth), auth, dir, node.state)
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

/// Uploads a placeholder envelope as `patient` and anchors it as their `class` record, its
/// key (placeholder bytes) wrapped for the patient and for `readers`.
async fn own_record(
    c: &Client,
    patient: &k256::ecdsa::SigningKey,
    nonce: u64,
    class: DataClass,
    readers: &[Address],
) -> Hash {
    let me = pk(patient).address();
    let (_, v) = c.put_blob(patient, b"\x01 envelope").await;
    let blob: Hash = v["blob"].as_str().unwrap().parse().unwrap();
    let keys =
        std::iter::once(me).chain(readers.iter().copied()).map(|reader| WrappedKey { reader, wrapped: vec![1; 80] });
    let body = TxBody::AnchorRecord {
        patient: me,
        content_hash: sha256(&[b"plain"]),
        size: 11,
        class,
        blob,
        keys: keys.collect(),
    };
    c.ok(&c.tx(patient, nonce, body)).await
}

/// Sealed content (placeholder ciphertext; the rules never decrypt) for `readers`.
fn sealed_for(readers: &[Address]) -> ledger_protocol::Sealed {
    ledger_protocol::Sealed {
        ciphertext: vec![7; ledger_protocol::rules::SEAL_OVERHEAD + 40],
        keys: readers.iter().map(|r| WrappedKey { reader: *r, wrapped: vec![1; 98] }).collect(),
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
    // Uploads need a registered account's request, signed over the bytes.
    let r = c.http.put(format!("{}/v1/blobs", c.base)).body(envelope.clone()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401, "anonymous upload");
    assert_eq!(c.put_blob(&key("nobody"), &envelope).await.0, 403, "an unregistered key");
    let h = c.header(&cast.patient, "PUT", "/v1/blobs", b"other bytes");
    let r = c
        .http
        .put(format!("{}/v1/blobs", c.base))
        .header("authorization", h)
        .body(envelope.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "a signature over other bytes");
    let (s, v) = c.put_blob(&cast.patient, &envelope).await;
    assert_eq!(s, 201, "{v}");
    let blob: Hash = v["blob"].as_str().unwrap().parse().unwrap();
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
    // The audit line is backed by the doctor's own signature on the read request.
    let TxBody::AccessEvent { request: Some(asked), .. } = &proof.tx.tx.body else {
        panic!("the access event carries the reader's request: {:?}", proof.tx.tx.body)
    };
    assert_eq!(asked.request.signer, pk(&cast.doctor));
    assert_eq!(asked.request.path, format!("/v1/records/{record}/read"));
    assert!(asked.verify(&K256Verifier));

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

    // An expired consent gives its own code. It lasts a few seconds, so a busy machine still
    // submits it before it ends (ending at a whole second one second ahead raced the clock).
    let short_until = now_ms() / 1000 + 3;
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
                valid_until: short_until,
            },
        ))
        .await;
    assert_ne!(short, Hash::ZERO);
    // Wait until the consent has lapsed on any clock (it ends at a whole second).
    tokio::time::sleep(Duration::from_millis((short_until * 1000 + 1100).saturating_sub(now_ms()))).await;
    let (s, body) = c.read(&cast.doctor, record).await;
    assert_eq!(
        (s, serde_json::from_slice::<Value>(&body).unwrap()["code"].as_str().unwrap().to_owned()),
        (403, "consent_expired".into())
    );

    // A forged, a stale, a replayed, a misdirected and an anonymous read are refused.
    let path = format!("/v1/records/{record}/read");
    let code = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap()["code"].as_str().unwrap().to_owned();
    let mut forged =
        ledger_protocol::wire::SignedApiRequest::from_header(&c.header(&cast.doctor, "POST", &path, b"")).unwrap();
    forged.signature = forged.request.clone().sign(&cast.stranger_doctor).signature;
    let (s, b) = c.read_with(&path, forged.to_header()).await;
    assert_eq!((s, code(&b)), (401, "bad_signature".into()));
    let mut stale = forged.request.clone();
    stale.timestamp_ms -= 3_600_000;
    let (s, b) = c.read_with(&path, stale.sign(&cast.doctor).to_header()).await;
    assert_eq!((s, code(&b)), (401, "stale_request".into()));
    let elsewhere = auth_header(&cast.doctor, &c.chain, Address([9; 20]), "POST", &path, b"", now_ms());
    let (s, b) = c.read_with(&path, elsewhere).await;
    assert_eq!((s, code(&b)), (401, "wrong_audience".into()));
    let other_record = c.header(&cast.doctor, "POST", &format!("/v1/records/{}/read", Hash::ZERO), b"");
    let (s, b) = c.read_with(&path, other_record).await;
    assert_eq!((s, code(&b)), (401, "wrong_request".into()));
    let r = c.http.post(format!("{}{path}", c.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401, "anonymous");
    // A read request is single-use: the second time, nothing is released and nothing logged.
    let once = c.header(&cast.patient, "POST", &path, b"");
    assert_eq!(c.read_with(&path, once.clone()).await.0, 200);
    let (s, b) = c.read_with(&path, once).await;
    assert_eq!((s, code(&b)), (401, "replayed_request".into()));

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
    let (genesis, auth) = init_chain(dir.path());
    let mut node = NodeProc::start(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let base = node.base.clone();
    let chain = genesis.chain_id.clone();

    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Hash>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (acked, stop, base, chain, auth) = (acked.clone(), stop.clone(), base.clone(), chain.clone(), auth.clone());
        workers.push(rt.spawn(async move {
            let c = Client::new(base, chain, &auth);
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
    let c = Client::new(node.base.clone(), chain, &auth);
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
            let block: Block = block_of(&b);
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

/// Every endpoint that answers about a person: anonymous callers get 401, the wrong person
/// 403 (whether or not there is anything), the entitled person the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn person_scoped_endpoints_answer_only_those_entitled() {
    let (c, auth, _dir) = in_process().await;
    let cast = register_cast(&c, auth).await;
    let (patient, doctor) = (pk(&cast.patient).address(), pk(&cast.doctor).address());
    let consent = c.ok(&c.tx(&cast.patient, 2, read_consent_for_an_hour(doctor))).await;
    let record = own_record(&c, &cast.patient, 3, DataClass::Procedures, &[]).await;
    let nobody = Address([0x5a; 20]);
    // (path, someone entitled)
    let scoped: Vec<(String, &k256::ecdsa::SigningKey)> = vec![
        (format!("/v1/accounts/{patient}"), &cast.patient),
        (format!("/v1/accounts/{patient}/training-runs"), &cast.patient),
        (format!("/v1/patients/{patient}/consents"), &cast.patient),
        (format!("/v1/patients/{patient}/records"), &cast.doctor),
        (format!("/v1/patients/{patient}/audit"), &cast.patient),
        (format!("/v1/patients/{patient}/prescriptions"), &cast.patient),
        (format!("/v1/patients/{patient}/claims"), &cast.patient),
        (format!("/v1/grantees/{doctor}/consents"), &cast.doctor),
        (format!("/v1/insurers/{doctor}/claims"), &cast.doctor),
        (format!("/v1/records/{record}"), &cast.doctor),
        (format!("/v1/records/{record}/segments"), &cast.patient),
        (format!("/v1/transactions/{consent}"), &cast.doctor),
    ];
    let stranger = key("a stranger with a key");
    for (path, entitled) in &scoped {
        let (s, v) = c.get_anonymous(path).await;
        assert_eq!((s, v["code"].as_str()), (401, Some("unauthenticated")), "{path} anonymous: {v}");
        let (s, v) = c.get_as(&stranger, path).await;
        assert_eq!((s, v["code"].as_str()), (403, Some("not_entitled")), "{path} by a stranger: {v}");
        let (s, v) = c.get_as(entitled, path).await;
        assert_eq!(s, 200, "{path} by the entitled: {v}");
    }
    // A reader the patient shares a record with later reads its anchor and proof too.
    c.ok(&c.tx(
        &cast.patient,
        4,
        TxBody::ShareRecordKey { record, key: WrappedKey { reader: doctor, wrapped: vec![2; 80] } },
    ))
    .await;
    assert_eq!(c.get_as(&cast.doctor, &format!("/v1/transactions/{record}")).await.0, 200);
    assert_eq!(c.get_as(&cast.stranger_doctor, &format!("/v1/transactions/{record}")).await.0, 403);
    // The other doctor, registered but without consent, is refused too.
    for path in [format!("/v1/patients/{patient}/records"), format!("/v1/records/{record}")] {
        assert_eq!(c.get_as(&cast.stranger_doctor, &path).await.0, 403, "{path}");
    }
    // Nobody learns whether an address is a patient here: unknown and patient read alike.
    assert_eq!(c.get_anonymous(&format!("/v1/accounts/{nobody}")).await.0, 401);
    assert_eq!(c.get_as(&stranger, &format!("/v1/accounts/{nobody}")).await.0, 403);
    assert_eq!(c.get_as(&stranger, &format!("/v1/patients/{nobody}/records")).await.0, 403);
    // Staff are the public directory.
    assert_eq!(c.get_anonymous(&format!("/v1/accounts/{doctor}")).await.0, 200);
    assert_eq!(c.get_anonymous("/v1/accounts").await.0, 200);
    // A grantee sees only the consents granted to them.
    let (_, mine) = c.get_as(&cast.doctor, &format!("/v1/patients/{patient}/consents")).await;
    assert!(mine.as_array().unwrap().iter().all(|c| c["grantee"] == doctor.to_hex()), "{mine}");
    // A signed read is single-use.
    let path = format!("/v1/patients/{patient}/audit");
    let h = c.header(&cast.patient, "GET", &path, b"");
    let once = |h: String| {
        let (c, path) = (c.clone(), path.clone());
        async move { c.http.get(format!("{}{path}", c.base)).header("authorization", h).send().await.unwrap() }
    };
    assert_eq!(once(h.clone()).await.status().as_u16(), 200);
    let again = once(h).await;
    assert_eq!(again.status().as_u16(), 401);
    assert_eq!(again.json::<Value>().await.unwrap()["code"], "replayed_request");
    // A block shows anyone its public part only: kinds, ids, sizes, times, no transactions.
    let (s, b) = c.get_anonymous("/v1/blocks/head").await;
    assert_eq!(s, 200);
    assert!(b.get("txs_hex").is_none() && b.get("txs").is_none(), "{b}");
    assert!(!b["kinds"].as_array().unwrap().is_empty());
    let (_, whole) = c.get("/v1/blocks/head").await;
    assert!(whole["txs_hex"].is_array(), "the hospital's authority reads blocks whole");
}

/// The bypass of review finding 3: a former reader registers a fresh patient key and anchors
/// a record naming the victim's blob, to fetch it on the "own record" path. The ledger
/// refuses the second anchor, so the blob has one gate, the victim's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_cannot_be_rebound_to_another_record() {
    let (c, auth, _dir) = in_process().await;
    let cast = register_cast(&c, auth).await;
    let patient = pk(&cast.patient).address();
    let (_, v) = c.put_blob(&cast.patient, b"\x01 the victim's envelope").await;
    let blob: Hash = v["blob"].as_str().unwrap().parse().unwrap();
    let anchor = |p: Address| TxBody::AnchorRecord {
        patient: p,
        content_hash: sha256(&[b"plain"]),
        size: 24,
        class: DataClass::Procedures,
        blob,
        keys: vec![WrappedKey { reader: p, wrapped: vec![1; 80] }],
    };
    let record = c.ok(&c.tx(&cast.patient, 2, anchor(patient))).await;
    let thief = key("former reader, now a patient");
    c.ok(&c.tx(&thief, 1, register(&thief, 100))).await;
    let (s, v) = c.submit(&c.tx(&thief, 2, anchor(pk(&thief).address()))).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (409, "blob_already_anchored"), "{v}");
    // The thief's own read of the victim's record is refused and logged for the victim.
    let (s, _) = c.read(&thief, record).await;
    assert_eq!(s, 403);
    let (_, audit) = c.get_as(&cast.patient, &format!("/v1/patients/{patient}/audit")).await;
    assert_eq!(audit["refused"][0]["reader"], pk(&thief).address().to_hex(), "{audit}");
}

/// `serve --tls-cert --tls-key`: the public port speaks HTTPS itself (a small site needs no
/// proxy); a client that does not trust the certificate, or speaks plain HTTP, gets nothing,
/// and a key that is not the certificate's stops the node before it listens.
#[test]
fn the_public_port_speaks_https_with_the_certificate_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    init_chain(dir.path());
    let tls = dir.path().join("tls");
    ledger_node::config::make_identity(&tls, "site.crt", "site.key", &["localhost".into()]).unwrap();
    ledger_node::config::make_identity(&tls, "other.crt", "other.key", &["localhost".into()]).unwrap();
    let (cert, key) = (tls.join("site.crt"), tls.join("site.key"));
    let node =
        NodeProc::start_with(dir.path(), &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let port = node.base.rsplit(':').next().unwrap().to_owned();
    assert!(node.base.starts_with("https://"), "{}", node.base);
    let trusting = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap())
        .build()
        .unwrap();
    let info: Value = trusting.get(format!("https://localhost:{port}/v1/info")).send().unwrap().json().unwrap();
    assert_eq!(info["chain_id"], "test-chain", "{info}");
    let stranger = reqwest::blocking::Client::new().get(format!("https://localhost:{port}/v1/info")).send();
    assert!(stranger.is_err(), "a client that does not trust the certificate was answered");
    let plain = reqwest::blocking::Client::new().get(format!("http://127.0.0.1:{port}/v1/info")).send();
    assert!(!plain.is_ok_and(|r| r.status().is_success()), "plain HTTP was answered on the TLS port");
    drop(node);
    let out = Command::new(env!("CARGO_BIN_EXE_ledger-node"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(tls.join("other.key"))
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not belong to the certificate"), "{err}");
}

/// A hospital set up with `init` gets its staff from `ledger-node admin`: the authority
/// appoints an administrator, who registers a doctor; the doctor works; once deactivated,
/// the doctor's next transaction is refused with the reason.
#[test]
fn staff_are_registered_and_deactivated_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, auth) = init_chain(dir.path());
    let node = NodeProc::start(dir.path());
    let admin = |args: &[String], key: Option<&std::path::Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ledger-node"));
        cmd.args(["admin", "--api", &node.base]);
        if let Some(k) = key {
            cmd.arg("--key").arg(k);
        }
        let out = cmd.args(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let authority_key = dir.path().join("authority.key");
    let (admin_key, doctor) = (key("the administrator"), key("a new doctor"));
    let admin_key_file = dir.path().join("admin.key");
    std::fs::write(&admin_key_file, hex::encode(admin_key.to_bytes())).unwrap();
    let add = |role: &str, name: &str, k: &k256::ecdsa::SigningKey| {
        let (sign, enc) = (pk(k).to_hex(), pk(&key(&format!("{name} enc"))).to_hex());
        vec![
            "staff-add".to_owned(),
            "--role".into(),
            role.into(),
            "--name".into(),
            name.into(),
            "--licence".into(),
            "GMC 1234567".into(),
            "--signing-key".into(),
            sign,
            "--encryption-key".into(),
            enc,
        ]
    };
    let run = |v: Vec<String>, k: &std::path::Path| admin(&v, Some(k));
    let list = || admin(&["staff-list".to_owned()], None);
    let (ok, said) = run(add("admin", "A. Admin", &admin_key), &authority_key);
    assert!(ok, "{said}");
    // An administrator may not appoint another administrator.
    let (ok, said) = run(add("admin", "B. Admin", &key("b")), &admin_key_file);
    assert!(!ok && said.contains("appointed"), "{said}");
    let (ok, said) = run(add("doctor", "Dr New", &doctor), &admin_key_file);
    assert!(ok, "{said}");
    let (ok, listed) = list();
    assert!(ok && listed.contains("Dr New") && listed.contains("GMC 1234567") && listed.contains("active"), "{listed}");
    let (ok, said) = run(add("nurse", "X", &key("x")), &admin_key_file);
    assert!(!ok && said.contains("not a role"), "{said}");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let c = Client::new(node.base.clone(), genesis.chain_id.clone(), &auth);
    rt.block_on(async {
        // The doctor works: a training run is theirs to save.
        let run_tx = |k: &k256::ecdsa::SigningKey, nonce| {
            c.tx(
                k,
                nonce,
                TxBody::RecordTrainingRun {
                    scenario: "hypoxia".into(),
                    score_tenths: 10,
                    max_tenths: 100,
                    trajectory_hash: Hash::ZERO,
                    actions: String::new(),
                },
            )
        };
        assert_eq!(c.submit(&run_tx(&doctor, 1)).await.0, 200);
        let address = pk(&doctor).address().to_hex();

        // The doctor lost their phone: the administrator gives the account new keys. The old
        // key is refused for transactions and signed reads; the new one signs for the same
        // account, whose nonce goes on, and finds its account by its own key.
        let phone = key("the doctor's new phone");
        let rekey = vec![
            "staff-rekey".to_owned(),
            "--address".into(),
            address.clone(),
            "--signing-key".into(),
            pk(&phone).to_hex(),
            "--encryption-key".into(),
            pk(&key("the doctor's new phone enc")).to_hex(),
        ];
        let (ok, said) = run(rekey.clone(), &admin_key_file);
        assert!(ok && said.contains("now signs with"), "{said}");
        let (ok, said) = run(rekey, &admin_key_file);
        assert!(!ok && said.contains("already belongs to an account"), "the same key twice: {said}");
        let (s, v) = c.submit(&run_tx(&doctor, 2)).await;
        assert_eq!((s, v["code"].as_str().unwrap()), (403, "key_replaced"), "{v}");
        let me = format!("/v1/accounts/{address}");
        let (s, v) = c.get_as(&doctor, &me).await;
        assert_eq!((s, v["code"].as_str().unwrap_or_default()), (401, "key_replaced"), "{v}");
        assert_eq!(c.submit(&run_tx(&phone, 1)).await.1["code"], "stale_nonce");
        assert_eq!(c.submit(&run_tx(&phone, 2)).await.0, 200, "the new key signs for the account");
        let (s, v) = c.get_as(&phone, &format!("/v1/accounts/{}", pk(&phone).address())).await;
        assert_eq!((s, v["address"].as_str().unwrap()), (200, address.as_str()), "{v}");
        assert_eq!(v["key"].as_str().unwrap(), pk(&phone).to_hex());

        let (ok, said) = run(vec!["staff-deactivate".into(), "--address".into(), address], &admin_key_file);
        assert!(ok, "{said}");
        let (s, v) = c.submit(&run_tx(&phone, 3)).await;
        assert_eq!((s, v["code"].as_str().unwrap()), (403, "deactivated"), "{v}");
        assert!(v["message"].as_str().unwrap().contains("deactivated by the hospital"), "{v}");
    });
    let (_, listed) = list();
    assert!(listed.contains("deactivated at") && listed.contains("new keys at"), "{listed}");
}

/// Review findings 4 and 5: a deactivated provider reads nothing more of what they were party
/// to; a key that is no account cannot fill a patient's list of refused attempts, and that
/// list keeps the newest attempts only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivated_staff_see_nothing_and_strangers_cannot_flood_the_refusals() {
    let (c, auth, _dir) = in_process().await;
    let cast = register_cast(&c, auth).await;
    let (patient, doctor) = (pk(&cast.patient).address(), pk(&cast.doctor).address());
    let consent = c.ok(&c.tx(&cast.patient, 2, read_consent_for_an_hour(doctor))).await;
    let record = own_record(&c, &cast.patient, 3, DataClass::Procedures, &[doctor]).await;
    let theirs = [
        format!("/v1/records/{record}"),
        format!("/v1/transactions/{record}"),
        format!("/v1/transactions/{consent}"),
        format!("/v1/grantees/{doctor}/consents"),
        format!("/v1/patients/{patient}/records"),
    ];
    for path in &theirs {
        assert_eq!(c.get_as(&cast.doctor, path).await.0, 200, "{path} before deactivation");
    }
    c.ok(&c.tx(&cast.auth, 3, TxBody::DeactivateProvider { provider: doctor })).await;
    for path in &theirs {
        let (s, v) = c.get_as(&cast.doctor, path).await;
        assert_eq!(s, 403, "{path} after deactivation: {v}");
    }
    assert_eq!(c.read(&cast.doctor, record).await.0, 403);
    // Their own directory entry still says they were deactivated.
    let (s, me) = c.get_as(&cast.doctor, &format!("/v1/accounts/{doctor}")).await;
    assert_eq!(s, 200);
    assert!(me["deactivated_at"].is_u64(), "{me}");

    // Throwaway keys are refused without a trace in the patient's list; the hospital's
    // accounts (the deactivated doctor, a doctor without consent) are listed.
    for i in 0..5 {
        assert_eq!(c.read(&key(&format!("throwaway {i}")), record).await.0, 403);
    }
    // Another patient's attempts are listed once per record, however many (on main a patient
    // account, free to make, could push a victim's real entries out of the kept 500).
    let other = key("another patient");
    c.ok(&c.tx(&other, 1, register(&other, 100))).await;
    for _ in 0..5 {
        assert_eq!(c.read(&other, record).await.0, 403);
    }
    assert_eq!(c.read(&cast.stranger_doctor, record).await.0, 403);
    let (_, audit) = c.get_as(&cast.patient, &format!("/v1/patients/{patient}/audit")).await;
    let readers: Vec<&str> =
        audit["refused"].as_array().unwrap().iter().map(|r| r["reader"].as_str().unwrap()).collect();
    assert_eq!(
        readers,
        [pk(&cast.stranger_doctor).address().to_hex(), pk(&other).address().to_hex(), doctor.to_hex()],
        "{audit}"
    );
}

/// Emergency access that works: a doctor with no consent breaks the glass and reads the
/// patient's emergency summary, whose key the node re-wraps for them (escrowed to the
/// hospital's authority by the patient); the read is on the patient's audit trail. Without a
/// break-glass, nothing; a consented doctor gets no escrowed key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_break_glass_clinician_opens_the_escrowed_emergency_summary() {
    let (c, auth, _dir) = in_process().await;
    let cast = register_cast(&c, auth).await;
    let (patient, doctor) = (pk(&cast.patient).address(), pk(&cast.doctor).address());
    let authority_enc = pk(&key("auth-enc"));
    let summary = br#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"AllergyIntolerance","code":{"text":"Penicillin"}}}]}"#;
    let (record_key, sealed) = envelope::seal(summary, &mut rand_core::OsRng).unwrap();
    let (_, v) = c.put_blob(&cast.patient, &sealed).await;
    let blob: Hash = v["blob"].as_str().unwrap().parse().unwrap();
    let wrap = |to: &PublicKey| envelope::wrap_key(&record_key, to, &mut rand_core::OsRng).unwrap();
    let record = c
        .ok(&c.tx(
            &cast.patient,
            2,
            TxBody::AnchorRecord {
                patient,
                content_hash: envelope::content_hash(summary),
                size: summary.len() as u64,
                class: DataClass::EmergencySummary,
                blob,
                keys: vec![
                    WrappedKey { reader: patient, wrapped: wrap(&pk(&cast.patient)) },
                    WrappedKey { reader: pk(&cast.auth).address(), wrapped: wrap(&authority_enc) },
                ],
            },
        ))
        .await;
    let read = |k: k256::ecdsa::SigningKey| {
        let c = c.clone();
        async move {
            let path = format!("/v1/records/{record}/read");
            let h = c.header(&k, "POST", &path, b"");
            let r = c.http.post(format!("{}{path}", c.base)).header("authorization", h).send().await.unwrap();
            let key = r.headers().get("x-record-key").map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), key, r.bytes().await.unwrap().to_vec())
        }
    };
    let (s, k, _) = read(cast.doctor.clone()).await;
    assert_eq!((s, k), (403, None), "no consent, no break-glass");

    let justification = sealed_for(&[patient, doctor, pk(&cast.auth).address()]);
    c.ok(&c.tx(&cast.doctor, 1, TxBody::BreakGlass { patient, justification, duration_secs: 3600 })).await;
    let (s, k, bytes) = read(cast.doctor.clone()).await;
    assert_eq!(s, 200);
    let theirs = hex::decode(k.expect("the escrowed key, re-wrapped for the doctor")).unwrap();
    let doctor_secret = k256::SecretKey::from_bytes(&cast.doctor.to_bytes()).unwrap();
    let opened = envelope::open(&envelope::unwrap_key(&doctor_secret, &theirs).unwrap(), &bytes).unwrap();
    assert_eq!(opened, summary, "the doctor decrypts the summary");
    let stranger_secret = k256::SecretKey::from_bytes(&cast.stranger_doctor.to_bytes()).unwrap();
    assert!(envelope::unwrap_key(&stranger_secret, &theirs).is_err(), "wrapped for the doctor only");

    // The patient sees the break-glass and the read under it.
    let (_, audit) = c.get_as(&cast.patient, &format!("/v1/patients/{patient}/audit")).await;
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["reader"] == doctor.to_hex() && e["basis"]["type"] == "break_glass"), "{audit}");

    // A doctor reading under consent gets no escrowed key (the patient shares keys themselves).
    c.ok(&c.tx(
        &cast.patient,
        3,
        TxBody::GrantConsent {
            grantee: pk(&cast.stranger_doctor).address(),
            classes: vec![DataClass::EmergencySummary],
            actions: Actions::READ,
            purpose: Purpose::Treatment,
            valid_from: now_ms() / 1000 - 5,
            valid_until: now_ms() / 1000 + 3600,
        },
    ))
    .await;
    let (s, k, _) = read(cast.stranger_doctor.clone()).await;
    assert_eq!((s, k), (200, None));
}

/// Uploads no record anchors are bounded per account and removed after a day: over its
/// quota an account's upload is refused with 429, Retry-After and what to do, and nothing of
/// it is stored; anchoring a record frees its upload's place; another account's quota is its
/// own; a day later (the test clock) what no record anchored is removed, what one did stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_no_record_anchors_are_bounded_per_account_and_removed_after_a_day() {
    use ledger_node::limits::Limits;
    let quota = ledger_node::store::UploadQuota { max_count: 2, max_bytes: 1 << 20, kept_ms: 24 * 3600 * 1000 };
    let limits = Limits { uploads: quota, ..Limits::unmetered() };
    let (c, auth, _dir, state) = in_process_limited(ledger_node::ledger::system_clock(), true, limits).await;
    let cast = register_cast(&c, auth).await;
    let blob_of = |v: &Value| -> Hash { v["blob"].as_str().unwrap().parse().unwrap() };
    let (s, v) = c.put_blob(&cast.patient, b"\x01 never anchored").await;
    assert_eq!(s, 201, "{v}");
    let stale = blob_of(&v);
    // `own_record` uploads a blob and anchors it: that upload no longer counts.
    let record = own_record(&c, &cast.patient, 2, DataClass::Conditions, &[]).await;
    let (s, v) = c.put_blob(&cast.patient, b"\x01 second pending").await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(c.put_blob(&cast.patient, b"\x01 second pending").await.0, 201, "the same bytes again take no place");
    let third: &[u8] = b"\x01 one too many";
    let r = c.put_blob_answer(&cast.patient, third).await;
    assert_eq!(r.status().as_u16(), 429);
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait > 23 * 3600 && wait <= 24 * 3600, "Retry-After {wait} s: when the oldest pending upload goes");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "upload_quota", "{v}");
    assert!(v["message"].as_str().unwrap().contains("2 uploads"), "{v}");
    let store = &state.0.ledger.store;
    assert_eq!(store.blob(&ledger_protocol::wire::blob_id(third)).unwrap(), None, "nothing of it is stored");
    assert_eq!(c.put_blob(&cast.doctor, b"\x01 the doctor's").await.0, 201, "another account's quota is its own");

    let (s, moved) = c.advance_clock_as(&cast.auth, 24 * 3600 + 60).await;
    assert_eq!(s, 200, "{moved}");
    assert_eq!(c.put_blob(&cast.patient, third).await.0, 201, "a day on, the old uploads no longer count");
    let t0 = Instant::now();
    while store.blob(&stale).unwrap().is_some() {
        assert!(t0.elapsed() < Duration::from_secs(10), "the upload no record anchored was not removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let anchored = state.0.ledger.head().state.records[&record].blob;
    assert!(store.blob(&anchored).unwrap().is_some(), "a blob a record anchors stays");
    assert!(store.blob(&ledger_protocol::wire::blob_id(third)).unwrap().is_some(), "the new upload stays");
    assert_eq!(c.read(&cast.patient, record).await.0, 200, "the anchored record still reads");
}

/// A break-glass lasts 4 hours on the clinician's word; the hospital reviews it from its list
/// (to its authorities and administrators only) and may let it last a day from its start.
/// When its time is up the same clinician's next read is refused with
/// `break_glass_expired`, and the refusal is kept for the patient, who also sees the review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_after_the_break_glass_ends_is_refused() {
    let (c, auth, _dir, _) = in_process_with(ledger_node::ledger::system_clock(), true).await;
    let cast = register_cast(&c, auth).await;
    let (patient, doctor) = (pk(&cast.patient).address(), pk(&cast.doctor).address());
    let record = own_record(&c, &cast.patient, 2, DataClass::Conditions, &[]).await;
    let justification = sealed_for(&[patient, doctor, pk(&cast.auth).address()]);
    let glass = TxBody::BreakGlass { patient, justification, duration_secs: 24 * 3600 };
    let (s, v) = c.submit(&c.tx(&cast.doctor, 1, glass)).await;
    assert_eq!((s, v["code"].as_str()), (422, Some("break_glass_too_long")), "a day on one word: {v}");
    let justification = sealed_for(&[patient, doctor, pk(&cast.auth).address()]);
    let grant =
        c.ok(&c.tx(&cast.doctor, 2, TxBody::BreakGlass { patient, justification, duration_secs: 4 * 3600 })).await;
    assert_eq!(c.read(&cast.doctor, record).await.0, 200, "under a live break-glass");
    // The hospital's list of break-glass accesses: not to the clinician, not to the patient.
    for k in [&cast.doctor, &cast.patient] {
        let (s, v) = c.get_as(k, "/v1/break-glass").await;
        assert_eq!((s, v["code"].as_str()), (403, Some("not_entitled")), "{v}");
    }
    let (s, list) = c.get_as(&cast.auth, "/v1/break-glass").await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list[0]["id"], json!(grant), "{list}");
    assert!(list[0]["reviewed_by"].is_null(), "{list}");
    let from = list[0]["from"].as_u64().unwrap();
    c.ok(&c.tx(&cast.auth, 100, TxBody::ReviewBreakGlass { grant, until: from + 24 * 3600 })).await;
    let (_, list) = c.get_as(&cast.auth, "/v1/break-glass").await;
    assert_eq!(list[0]["reviewed_by"], json!(pk(&cast.auth).address()), "{list}");
    let (s, moved) = c.advance_clock_as(&cast.auth, 23 * 3600).await;
    assert_eq!(s, 200, "{moved}");
    assert_eq!(c.read(&cast.doctor, record).await.0, 200, "23 hours on, the reviewed break-glass still holds");
    let (s, moved) = c.advance_clock_as(&cast.auth, 3600 + 1).await;
    assert_eq!(s, 200, "{moved}");
    let (s, body) = c.read(&cast.doctor, record).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((s, v["code"].as_str()), (403, Some("break_glass_expired")), "{v}");
    let (_, audit) = c.get_as(&cast.patient, &format!("/v1/patients/{patient}/audit")).await;
    assert_eq!(audit["refused"][0]["code"], "break_glass_expired", "{audit}");
    let reviewed = audit["entries"].as_array().unwrap().iter().find(|e| e["event"] == "break_glass_reviewed");
    assert_eq!(reviewed.map(|e| e["grant"].clone()), Some(json!(grant)), "the patient sees the review: {audit}");
    // The anchor and the patient's list say the same to that clinician; to anyone else the
    // refusal stays the plain one.
    for path in [format!("/v1/records/{record}"), format!("/v1/patients/{patient}/records")] {
        let (s, v) = c.get_as(&cast.doctor, &path).await;
        assert_eq!((s, v["code"].as_str()), (403, Some("break_glass_expired")), "{path}: {v}");
        let (s, v) = c.get_as(&cast.stranger_doctor, &path).await;
        assert_eq!((s, v["code"].as_str()), (403, Some("not_entitled")), "{path}: {v}");
    }
}

/// Only a node started with `--test-clock` has a clock to move, and only its authority may
/// move it: anonymous callers get 401, anyone else 403, a real node has no such endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_authority_moves_a_test_clock_and_only_on_a_test_node() {
    let (c, auth, _dir, _) = in_process_with(ledger_node::ledger::system_clock(), true).await;
    let cast = register_cast(&c, auth.clone()).await;
    let (s, v) = c.advance_clock_as(&cast.doctor, 3600).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("not_authority")), "{v}");
    let r = c.http.post(format!("{}/v1/test/clock", c.base)).body(r#"{"advance_secs":1}"#).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (s, v) = c.advance_clock_as(&auth, 400 * 86_400).await;
    assert_eq!((s, v["code"].as_str()), (422, Some("bad_request")), "at most a year and a day at once: {v}");
    let before = c.get_anonymous("/v1/info").await.1["now_ms"].as_u64().unwrap();
    let (s, v) = c.advance_clock_as(&auth, 86_400).await;
    assert_eq!(s, 200, "{v}");
    let after = c.get_anonymous("/v1/info").await.1["now_ms"].as_u64().unwrap();
    assert!(after >= before + 86_400_000, "info tells the moved time ({before} -> {after})");
    // Blocks follow the moved clock (it is not taken for a jumping system clock).
    own_record(&c, &cast.patient, 2, DataClass::Conditions, &[]).await;
    let (_, head) = c.get("/v1/blocks/head").await;
    assert!(head["header"]["timestamp_ms"].as_u64().unwrap() >= before + 86_400_000, "{head}");

    let (real, auth, _dir2) = in_process().await;
    let (s, _) = real.advance_clock_as(&auth, 1).await;
    assert_eq!(s, 404, "a real node has no test clock");
}
