//! The demo seeded into a real node (in this process, over its HTTP API as any client) and
//! then read as a stranger: the bytes of every stored block and every answer the node gives
//! an anonymous caller hold none of the demo's names, medications, dosages, claim texts or
//! record contents.

use ledger_protocol::crypto::sha256;
use ledger_protocol::{Genesis, GenesisAuthority, PublicKey};

fn key(seed: &str) -> k256::ecdsa::SigningKey {
    k256::ecdsa::SigningKey::from_slice(&sha256(&[seed.as_bytes()]).0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_learns_no_health_fact_from_the_ledger_or_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let auth = key("authority");
    let genesis = Genesis {
        chain_id: "demo-privacy".into(),
        timestamp_ms: 0,
        authorities: vec![GenesisAuthority {
            name: "Test Hospital".into(),
            key: PublicKey::from(auth.verifying_key()),
            encryption_key: PublicKey::from(key("authority-enc").verifying_key()),
        }],
    };
    let node = ledger_node::start(ledger_node::NodeConfig {
        data_dir: dir.path().to_owned(),
        genesis,
        key: auth.clone(),
        blocks: Default::default(),
        portal_dir: None,
        clock: ledger_node::ledger::system_clock(),
        test_clock: false,
        limits: ledger_node::limits::Limits::unmetered(),
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = node.state.clone();
    tokio::spawn(ledger_node::serve(
        listener,
        node.router,
        ledger_node::limits::Limits::unmetered(),
        ledger_node::tls::Listen::Plain,
        std::future::pending(),
    ));

    let client = demo::client::Client::connect(&base).await.unwrap();
    let n = demo::seed(&client, &auth).await.unwrap();
    assert!(n > 165, "the demo seeded {n} transactions");
    assert_eq!(demo::seed(&client, &auth).await.unwrap(), 0, "seeding again does nothing");

    let secrets = [
        demo::DEMO_PATIENT,
        demo::DEMO_MEDICATION,
        demo::DEMO_DOSAGE,
        demo::DEMO_CLAIM,
        "Amoxicillin",
        // The Synthea patient's record contents.
        "Gladys682",
        "Schumm995",
        "resourceType",
    ];
    let mut stored = Vec::new();
    state
        .0
        .ledger
        .store
        .for_each_stored_block(|_, bytes| {
            stored.extend_from_slice(bytes);
            true
        })
        .unwrap();
    assert!(stored.len() > 10_000, "the demo wrote {} bytes of blocks", stored.len());
    let ids = state.0.ledger.head().state.clone();
    let patient = demo::demo_identity("patient").address();
    let http = reqwest::Client::new();
    let mut answers = String::new();
    let height = state.0.ledger.head().tip.height;
    let mut paths: Vec<String> = (1..=height).map(|h| format!("/v1/blocks/{h}")).collect();
    paths.extend(["/v1/info", "/v1/accounts", "/health", "/metrics", "/openapi.json"].map(String::from));
    paths.extend(
        ["consents", "records", "audit", "prescriptions", "claims"].map(|k| format!("/v1/patients/{patient}/{k}")),
    );
    paths.push(format!("/v1/accounts/{patient}"));
    paths.extend(ids.records.keys().take(20).map(|r| format!("/v1/records/{r}")));
    paths.extend(ids.prescriptions.keys().map(|r| format!("/v1/prescriptions/{r}")));
    for p in &paths {
        let r = http.get(format!("{base}{p}")).send().await.unwrap();
        answers.push_str(&r.text().await.unwrap());
    }
    for secret in secrets {
        assert!(!stored.windows(secret.len()).any(|w| w == secret.as_bytes()), "the stored blocks hold {secret:?}");
        assert!(!answers.contains(secret), "an anonymous answer holds {secret:?}");
    }
    assert!(!answers.contains(&patient.to_hex()), "no anonymous answer names the patient's address");
}
