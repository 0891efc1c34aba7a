//! Cluster tests: three `ledger-node serve --cluster` processes on loopback. The leader is
//! SIGKILLed under load (a new one takes writes, nothing acknowledged is lost, the chains
//! agree once the old leader is back); two of three stopped (the last refuses writes in
//! words, and takes them again once a second node returns); a node wiped and re-added
//! (it catches up from a snapshot). A block forged or broken by a peer is refused. Faults:
//! a follower SIGKILLed at random points of a snapshot install, and nodes SIGKILLed at
//! random points of blob uploads, start again and lose nothing acknowledged.

use super::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The cluster tests start nine processes between them; one at a time on two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Cluster {
    dir: tempfile::TempDir,
    genesis: Genesis,
    ports: Vec<(u16, u16)>,
    procs: Vec<Option<NodeProc>>,
    http: reqwest::blocking::Client,
}

impl Cluster {
    /// Keys and genesis by `init-cluster`, then node files on free ports with `extra` TOML.
    fn new(n: usize, extra: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_ledger-node"))
            .args(["init-cluster", "--chain-id", "test-cluster", "--nodes", &n.to_string(), "--dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let genesis: Genesis =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("node1/genesis.json")).unwrap()).unwrap();
        assert_eq!(genesis.authorities.len(), n, "one authority per hospital");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let c = Cluster { dir, genesis, ports, procs: (0..n).map(|_| None).collect(), http: Default::default() };
        for i in 1..=n {
            c.write_config(i, false, extra);
        }
        c
    }

    fn api(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i - 1].0)
    }
    fn raft(&self, i: usize) -> String {
        format!("https://127.0.0.1:{}", self.ports[i - 1].1)
    }
    /// The pin of node `i`'s TLS key (made by `init-cluster`).
    fn pin(&self, i: usize) -> String {
        ledger_node::tls::Identity::of_node(&self.data_dir(i)).unwrap().pin().unwrap().to_string()
    }
    fn config_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node{i}.toml"))
    }
    fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node{i}"))
    }

    fn write_config(&self, i: usize, join: bool, extra: &str) {
        // The tests' load is registrations from this one machine.
        let t = ledger_node::config::loopback_node_toml(self.dir.path(), i as u64, &self.ports, join).unwrap()
            + "\n[limits]\nregistrations_per_hour = 0\ntxs_per_address = 0\n"
            + extra;
        std::fs::write(self.config_path(i), t).unwrap();
    }

    fn start(&mut self, i: usize) {
        self.start_watched(i, &[]);
    }
    /// Starts node `i` with more environment variables; the lines it logs come back.
    fn start_watched(&mut self, i: usize, envs: &[(&str, &str)]) -> std::sync::mpsc::Receiver<String> {
        let config = self.config_path(i);
        let (child, _, lines) = NodeProc::spawn_watched(
            &["serve".as_ref(), "--cluster".as_ref(), config.as_os_str()],
            "cluster node ",
            envs,
        );
        self.procs[i - 1] = Some(NodeProc { child, base: self.api(i) });
        lines
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.procs[i - 1].take() {
            p.sigkill();
        }
    }

    /// SIGKILLs node `i` from a shared borrow (another thread is using the cluster); `kill`
    /// reaps it afterwards.
    fn kill_shared(&self, i: usize) {
        let pid = self.procs[i - 1].as_ref().expect("node is running").child.id();
        let st = Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
        assert!(st.success());
    }

    fn status(&self, i: usize) -> Option<Value> {
        let r = self.http.get(format!("{}/v1/cluster", self.api(i))).timeout(Duration::from_secs(2)).send().ok()?;
        r.json().ok()
    }

    fn live(&self) -> Vec<usize> {
        (1..=self.procs.len()).filter(|i| self.procs[i - 1].is_some()).collect()
    }

    /// Waits until the live nodes agree on one leader among them; returns it.
    fn leader(&self, within: Duration) -> usize {
        let t0 = Instant::now();
        loop {
            let views: Vec<_> = self.live().iter().map(|&i| (i, self.status(i))).collect();
            let leaders: Vec<_> =
                views.iter().filter_map(|(_, v)| v.as_ref().and_then(|v| v["leader"]["id"].as_u64())).collect();
            let leading = views.iter().find(|(_, v)| v.as_ref().is_some_and(|v| v["state"] == "Leader"));
            if let Some((l, _)) = leading
                && leaders.len() == views.len()
                && leaders.iter().all(|&x| x == *l as u64)
            {
                return *l;
            }
            assert!(t0.elapsed() < within, "no agreed leader within {within:?}: {views:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn submit(&self, i: usize, stx: &SignedTransaction) -> Result<(u16, Value), String> {
        let r = self
            .http
            .post(format!("{}/v1/transactions", self.api(i)))
            .json(&json!({ "tx": hex::encode(stx.to_canonical_bytes()) }))
            .timeout(Duration::from_secs(10))
            .send()
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        Ok((status, r.json().unwrap_or(Value::Null)))
    }

    /// Node `i`'s authority key: the audience of requests to it.
    fn authority(&self, i: usize) -> k256::ecdsa::SigningKey {
        let hex_key = std::fs::read_to_string(self.data_dir(i).join("authority.key")).unwrap();
        k256::ecdsa::SigningKey::from_slice(&hex::decode(hex_key.trim()).unwrap()).unwrap()
    }

    /// The `Authorization` header of a request by `k` to node `i`.
    fn header(&self, i: usize, k: &k256::ecdsa::SigningKey, method: &str, path: &str) -> String {
        self.header_over(i, k, method, path, b"")
    }
    fn header_over(&self, i: usize, k: &k256::ecdsa::SigningKey, method: &str, path: &str, body: &[u8]) -> String {
        super::auth_header(
            k,
            &self.genesis.chain_id,
            pk(&self.authority(i)).address(),
            method,
            path,
            body,
            super::now_ms(),
        )
    }

    /// A read of node `i`, signed as its authority (who may read what the ledger holds).
    fn get(&self, i: usize, path: &str) -> (u16, Value) {
        let h = self.header(i, &self.authority(i), "GET", path);
        let r = self.http.get(format!("{}{path}", self.api(i))).header("authorization", h).send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    fn head(&self, i: usize) -> Option<(u64, String)> {
        let r = self.http.get(format!("{}/v1/info", self.api(i))).timeout(Duration::from_secs(2)).send().ok()?;
        let v: Value = r.json().ok()?;
        Some((v["height"].as_u64()?, v["head"].as_str()?.to_owned()))
    }

    /// Waits until every live node reports the same head; returns it.
    fn converged(&self, within: Duration) -> (u64, String) {
        let t0 = Instant::now();
        loop {
            let heads: Vec<_> = self.live().iter().map(|&i| self.head(i)).collect();
            if let Some(Some(first)) = heads.first()
                && heads.iter().all(|h| h.as_ref() == Some(first))
            {
                return first.clone();
            }
            assert!(t0.elapsed() < within, "the nodes did not agree on a head within {within:?}: {heads:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Checks node `i`'s whole chain as a client would: links, producer signatures (each a
    /// genesis authority), Merkle roots and every transaction signature.
    fn verify_chain(&self, i: usize) -> usize {
        let (height, head) = self.head(i).unwrap();
        let mut tip = ChainTip::genesis(&self.genesis);
        let mut txs = 0;
        for h in 1..=height {
            let (_, b) = self.get(i, &format!("/v1/blocks/{h}"));
            let block: Block = super::block_of(&b);
            verify_header(&self.genesis, &tip, &block, &K256Verifier).unwrap();
            for t in &block.txs {
                assert!(t.clone().verify(&K256Verifier).is_ok());
            }
            txs += block.txs.len();
            tip = ChainTip { height: h, hash: block.hash(), timestamp_ms: block.header.timestamp_ms };
        }
        assert_eq!(tip.hash.to_hex(), head, "node {i}'s head is the end of the chain it serves");
        txs
    }

    /// A request to node `via`'s Raft port over mutual TLS as the identity in `cert`/`key`
    /// (trusting the cluster's members): the status and body, or why no answer came.
    fn raft_call(
        &self,
        via: usize,
        ident: (&Path, &Path),
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, String), String> {
        self.raft_call_with(via, ident, path, body, &[])
    }
    /// Like `raft_call`, with extra request `headers`.
    fn raft_call_with(
        &self,
        via: usize,
        (cert, key): (&Path, &Path),
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, String), String> {
        use ledger_node::tls;
        let id = tls::Identity::read(cert, key).unwrap();
        let pins = (1..=self.procs.len()).map(|i| self.pin(i).parse::<tls::KeyPin>().unwrap());
        let http = tls::raft_client(&id, Arc::new(tls::Trust::new(pins, []))).unwrap();
        let url = format!("{}{path}", self.raft(via));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut req = match body {
                Some(b) => http.post(url).json(&b),
                None => http.get(url),
            };
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let r = req.timeout(Duration::from_secs(5)).send().await.map_err(|e| format!("{e:?}"))?;
            let status = r.status().as_u16();
            Ok((status, r.text().await.unwrap_or_default()))
        })
    }

    /// `ledger-node admin` through node `via`'s Raft port, with the administrator's certificate.
    fn admin(&self, via: usize, args: &[&str]) -> Result<String, String> {
        self.admin_as(via, &self.dir.path().join("admin"), args)
    }
    fn admin_as(&self, via: usize, cert_dir: &Path, args: &[&str]) -> Result<String, String> {
        let out = Command::new(env!("CARGO_BIN_EXE_ledger-node"))
            .args(["admin", "--raft", &self.raft(via), "--cluster"])
            .arg(self.config_path(via))
            .arg("--cert")
            .arg(cert_dir)
            .args(args)
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

fn registration(chain: &str, name: &str) -> SignedTransaction {
    let k = key(name);
    Transaction { chain_id: chain.into(), signer: pk(&k), nonce: 1, body: super::register(&k, 100) }.sign(&k)
}

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn leader_sigkilled_under_load_a_new_leader_takes_writes_and_nothing_acknowledged_is_lost() {
    let _one = lock();
    let mut c = Cluster::new(3, "");
    for i in 1..=3 {
        c.start(i);
    }
    let old = c.leader(Duration::from_secs(20));
    let c = Arc::new(Mutex::new(c));
    let acked = Arc::new(Mutex::new(Vec::<(Hash, Instant)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let chain = "test-cluster".to_owned();
    let apis: Vec<String> = (1..=3).map(|i| c.lock().unwrap().api(i)).collect();
    let mut workers = Vec::new();
    for w in 0..4 {
        let (acked, stop, apis, chain) = (acked.clone(), stop.clone(), apis.clone(), chain.clone());
        workers.push(std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            let mut i = 0u64;
            let mut target = w % 3;
            while !stop.load(Ordering::SeqCst) {
                let stx = registration(&chain, &format!("failover-{w}-{i}"));
                let sent = Instant::now();
                let res = http
                    .post(format!("{}/v1/transactions", apis[target]))
                    .json(&json!({ "tx": hex::encode(stx.to_canonical_bytes()) }))
                    .timeout(Duration::from_secs(10))
                    .send();
                match res {
                    Ok(r) if r.status().is_success() => acked.lock().unwrap().push((stx.id(), sent)),
                    // Refused (no leader yet) or the node is gone: try the next node.
                    _ => {
                        target = (target + 1) % 3;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                i += 1;
            }
        }));
    }
    let t0 = Instant::now();
    while acked.lock().unwrap().len() < 150 && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(acked.lock().unwrap().len() >= 150, "the cluster acknowledged too little before the kill");
    let kill = Instant::now();
    c.lock().unwrap().kill(old);
    // Keep the load on until writes sent after the kill have been acknowledged for a while.
    let t1 = Instant::now();
    loop {
        let after = acked.lock().unwrap().iter().filter(|(_, sent)| *sent > kill).count();
        if after >= 50 || t1.elapsed() > Duration::from_secs(30) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let first_after = acked.iter().filter(|(_, sent)| *sent > kill).map(|(_, sent)| *sent).min();
    let first_after = first_after.expect("no write sent after the kill was acknowledged");
    // The time until the first write that a new leader accepted was sent.
    let failover = first_after.duration_since(kill);
    println!("failover: first acknowledged write sent {} ms after the leader was killed", failover.as_millis());
    // The target is 1 s (see `cargo xtask bench cluster`); this test runs beside others on
    // a busy machine, so it allows more before calling it broken.
    assert!(failover < Duration::from_secs(3), "a new leader took {failover:?} to accept writes");

    let mut c = Arc::try_unwrap(c).ok().unwrap().into_inner().unwrap();
    let new = c.leader(Duration::from_secs(10));
    assert_ne!(new, old);
    c.start(old);
    let (height, head) = c.converged(Duration::from_secs(60));
    println!("all three at height {height}, head {head}");
    for i in 1..=3 {
        for (id, _) in &acked {
            let (s, v) = c.get(i, &format!("/v1/transactions/{id}"));
            assert_eq!(s, 200, "acknowledged transaction {id} is missing on node {i}");
            let p: TxWithProof = serde_json::from_value(v).unwrap();
            assert!(p.verify());
        }
        assert!(c.verify_chain(i) >= acked.len());
    }
    // The old leader, back, follows the new one and answers consistent reads.
    let (s, v) = c.get(old, "/v1/blocks/head?consistent=true");
    assert_eq!(s, 200, "{v}");
}

#[test]
fn with_two_of_three_stopped_the_last_node_refuses_writes_and_takes_them_once_one_returns() {
    let _one = lock();
    let mut c = Cluster::new(3, "");
    for i in 1..=3 {
        c.start(i);
    }
    let leader = c.leader(Duration::from_secs(20));
    let (s, v) = c.submit(leader, &registration("test-cluster", "quorum-first")).unwrap();
    assert_eq!(s, 200, "{v}");
    let others: Vec<usize> = (1..=3).filter(|&i| i != leader).collect();
    c.kill(others[0]);
    c.kill(others[1]);
    // Past the time a leader may go without hearing from a majority.
    std::thread::sleep(Duration::from_secs(2));
    let refused = registration("test-cluster", "quorum-refused");
    let t0 = Instant::now();
    let (s, v) = c.submit(leader, &refused).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(6), "the refusal came quickly, not after hanging");
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["code"], "unavailable");
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains("majority"), "the message says why: {msg}");
    // Reads still work on the last node, and a consistent read is refused in words.
    assert_eq!(c.get(leader, "/v1/blocks/head").0, 200);
    let (s, v) = c.get(leader, "/v1/blocks/head?consistent=true");
    assert_eq!(s, 503, "{v}");

    c.start(others[0]);
    let t1 = Instant::now();
    let resumed = registration("test-cluster", "quorum-resumed");
    loop {
        match c.submit(leader, &resumed) {
            Ok((200, _)) => break,
            other => {
                assert!(t1.elapsed() < Duration::from_secs(20), "writes did not resume: {other:?}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    c.converged(Duration::from_secs(20));
    for i in [leader, others[0]] {
        assert_eq!(c.get(i, &format!("/v1/transactions/{}", resumed.id())).0, 200);
        assert_eq!(
            c.get(i, &format!("/v1/transactions/{}", refused.id())).0,
            404,
            "the refused write was never committed"
        );
    }
}

/// A node whose disk was wiped, added again, catches up from a snapshot and gets back, from
/// its peers and unasked, the blob of a record anchored before.
#[test]
fn a_wiped_node_readded_catches_up_from_a_snapshot() {
    let _one = lock();
    let tuning = "\n[raft]\nsnapshot_every = 20\nkeep_logs = 5\n";
    let mut c = Cluster::new(3, tuning);
    for i in 1..=3 {
        c.start(i);
    }
    let leader = c.leader(Duration::from_secs(20));
    let wiped = (1..=3).find(|&i| i != leader).unwrap();
    let mut ids = Vec::new();
    for n in 0..30 {
        let stx = registration("test-cluster", &format!("snap-a-{n}"));
        let (s, v) = c.submit(leader, &stx).unwrap();
        assert_eq!(s, 200, "{v}");
        ids.push(stx.id());
    }
    // A record whose blob the wiped node must get back from its peers, unasked.
    let patient = key("snap-patient");
    let ptx = |nonce: u64, body: TxBody| {
        Transaction { chain_id: "test-cluster".into(), signer: pk(&patient), nonce, body }.sign(&patient)
    };
    let (s, v) = c.submit(leader, &ptx(1, super::register(&patient, 100))).unwrap();
    assert_eq!(s, 200, "{v}");
    let envelope = b"\x01 a record the wiped node must get back".to_vec();
    let h = c.header_over(leader, &patient, "PUT", "/v1/blobs", &envelope);
    let r = c.http.put(format!("{}/v1/blobs", c.api(leader))).header("authorization", h).body(envelope.clone());
    assert_eq!(r.send().unwrap().status().as_u16(), 201);
    let (blob, pa) = (wire::blob_id(&envelope), pk(&patient).address());
    let anchor = TxBody::AnchorRecord {
        patient: pa,
        content_hash: sha256(&[b"plain"]),
        size: envelope.len() as u64,
        class: DataClass::Procedures,
        blob,
        keys: vec![WrappedKey { reader: pa, wrapped: vec![1; 80] }],
    };
    let (s, v) = c.submit(leader, &ptx(2, anchor)).unwrap();
    assert_eq!(s, 200, "{v}");
    c.kill(wiped);
    c.admin(leader, &["remove", "--id", &wiped.to_string()]).unwrap();
    let err = c.admin(leader, &["remove", "--id", "9"]).unwrap_err();
    assert!(err.contains("Node 9 is not a member"), "{err}");
    // From then on the members refuse the removed node's key (until it is added back below).
    let wd = c.data_dir(wiped);
    let (cert, key) = (wd.join("node-tls.crt"), wd.join("node-tls.key"));
    let t0 = Instant::now();
    loop {
        let r = c.raft_call(leader, (&cert, &key), "/raft/read-index", None);
        if r.is_err() {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "the leader still answers the removed node's key: {r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    for f in ["ledger.redb", "raft-log.redb"] {
        std::fs::remove_file(c.data_dir(wiped).join(f)).unwrap();
    }
    // Enough entries past the removal that the leader snapshots and purges its log.
    for n in 0..30 {
        let stx = registration("test-cluster", &format!("snap-b-{n}"));
        let (s, v) = c.submit(leader, &stx).unwrap();
        assert_eq!(s, 200, "{v}");
        ids.push(stx.id());
    }
    let st = c.status(leader).unwrap();
    assert!(st["purged_index"].as_u64().unwrap_or(0) > 0, "the leader purged its log behind a snapshot: {st}");

    c.write_config(wiped, true, tuning);
    c.start(wiped);
    let api = c.api(wiped);
    let raft = c.raft(wiped);
    // Through a follower's Raft port: the change is handed to the leader.
    let via = (1..=3).find(|&i| i != leader && i != wiped).unwrap();
    let pin = c.pin(wiped);
    c.admin(via, &["add-learner", "--id", &wiped.to_string(), "--api", &api, "--raft-url", &raft, "--tls", &pin])
        .unwrap();
    c.admin(leader, &["promote", "--id", &wiped.to_string()]).unwrap();
    let t0 = Instant::now();
    loop {
        let st = c.status(wiped).unwrap();
        if st["snapshot_index"].as_u64().is_some() && st["state"] == "Follower" {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "the wiped node installed a snapshot and votes: {st}");
        std::thread::sleep(Duration::from_millis(50));
    }
    c.converged(Duration::from_secs(20));
    for id in &ids {
        assert_eq!(c.get(wiped, &format!("/v1/transactions/{id}")).0, 200, "{id} is on the re-added node");
    }
    assert!(c.verify_chain(wiped) >= ids.len());
    let d = c.data_dir(leader);
    let t0 = Instant::now();
    loop {
        let got =
            c.raft_call(wiped, (&d.join("node-tls.crt"), &d.join("node-tls.key")), &format!("/raft/blob/{blob}"), None);
        if matches!(&got, Ok((200, b)) if b.as_bytes() == envelope.as_slice()) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "the wiped node got the record's blob back: {got:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let members = c.status(leader).unwrap()["members"].as_array().unwrap().clone();
    assert_eq!(members.iter().filter(|m| m["voter"] == true).count(), 3, "{members:?}");
    // It votes again: with another node down, the cluster still commits.
    let down = (1..=3).find(|&i| i != leader && i != wiped).unwrap();
    c.kill(down);
    let (s, v) = c.submit(leader, &registration("test-cluster", "snap-after")).unwrap();
    assert_eq!(s, 200, "{v}");
}

/// What every node does with a block that came through Raft: checked like a stranger's.
#[test]
fn a_block_from_a_peer_is_refused_unless_it_verifies_and_a_refusal_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (key("hospital-a"), key("hospital-b"));
    let genesis = Genesis {
        chain_id: "peer-chain".into(),
        timestamp_ms: 0,
        authorities: [&a, &b]
            .iter()
            .map(|k| GenesisAuthority { name: "H".into(), key: pk(k), encryption_key: pk(k) })
            .collect(),
    };
    let ledger = ledger_node::ledger::Ledger::open(dir.path(), genesis.clone()).unwrap();
    let tip = ChainTip::genesis(&genesis);
    let p1 = registration("peer-chain", "peer-1");
    let p2 = registration("peer-chain", "peer-2");
    let block = |txs: Vec<SignedTransaction>, prev: Hash, height: u64, k: &k256::ecdsa::SigningKey| {
        let ids: Vec<Hash> = txs.iter().map(SignedTransaction::id).collect();
        Block::produce_with_ids("peer-chain", height, prev, 1_000, txs, &ids, k)
    };
    let apply = |b: &Block| ledger.apply_block_from_peer(b, None, &[]).unwrap();

    // Signed by a key that is no authority.
    let outsider = block(vec![p1.clone()], tip.hash, 1, &key("outsider"));
    assert!(apply(&outsider).unwrap_err().to_string().contains("not a genesis authority"));
    // A transaction changed after signing (its signature no longer matches).
    let mut forged = p1.clone();
    forged.tx.nonce = 2;
    let bad_sig = block(vec![forged], tip.hash, 1, &a);
    assert!(matches!(apply(&bad_sig), Err(ChainError::BadTx { .. })));
    // Not linked to the tip.
    let unlinked = block(vec![p1.clone()], Hash([7; 32]), 1, &b);
    assert!(apply(&unlinked).unwrap_err().to_string().contains("previous block"));
    // The second transaction breaks a rule (the same registration twice): the first one's
    // effects must not stay behind.
    let twice = block(vec![p1.clone(), p1.clone()], tip.hash, 1, &a);
    assert!(matches!(apply(&twice), Err(ChainError::BadTx { index: 1, .. })));
    assert_eq!(ledger.head().tip, tip, "nothing was applied");
    assert!(ledger.head().state.account(&pk(&key("peer-1")).address()).is_none(), "no partial effects");
    assert_eq!(ledger.store.height().unwrap(), 0);

    // Good blocks from either authority extend the chain.
    let good = block(vec![p1], tip.hash, 1, &a);
    let t1 = apply(&good).unwrap();
    let next = block(vec![p2], t1.hash, 2, &b);
    assert_eq!(apply(&next).unwrap().height, 2);
    drop(ledger);
    let reopened = ledger_node::ledger::Ledger::open(dir.path(), genesis).unwrap();
    assert_eq!(reopened.head().tip.height, 2, "both blocks are durable and re-verify");
}

#[test]
fn cluster_files_are_checked_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let base = "data_dir = \"d\"\nlisten = \"127.0.0.1:1\"\nraft_listen = \"127.0.0.1:2\"\n";
    let pin = "ab".repeat(32);
    let member = format!("[[members]]\nid = 1\napi = \"http://a\"\nraft = \"https://b\"\ntls = \"{pin}\"\n");
    let check = |p: &Path| ledger_node::cluster::ClusterConfig::read(p).map_err(|e| format!("{e:#}"));
    let ok = write("ok.toml", &format!("id = 1\n{base}{member}"));
    let c = check(&ok).unwrap();
    assert_eq!(c.data_dir, dir.path().join("d"), "relative paths are taken from the file's folder");
    assert!(check(&write("zero.toml", &format!("id = 0\n{base}{member}"))).unwrap_err().contains("positive"));
    assert!(check(&write("absent.toml", &format!("id = 2\n{base}{member}"))).unwrap_err().contains("join = true"));
    assert!(
        check(&write("typo.toml", &format!("id = 1\nlisten_api = 3\n{base}{member}")))
            .unwrap_err()
            .contains("unknown field")
    );
    let bad_raft = format!("id = 1\n{base}{member}[raft]\nheartbeat_ms = 500\n");
    assert!(check(&write("raft.toml", &bad_raft)).unwrap_err().contains("election_timeout_min_ms"));
    assert!(check(&dir.path().join("missing.toml")).unwrap_err().contains("cannot read"));
    let plain = format!("id = 1\n{base}{}", member.replace("https://b", "http://b"));
    assert!(check(&write("plain.toml", &plain)).unwrap_err().contains("must be an https:// URL"));
    let no_pin = format!("id = 1\n{base}[[members]]\nid = 1\napi = \"http://a\"\nraft = \"https://b\"\n");
    assert!(check(&write("nopin.toml", &no_pin)).unwrap_err().contains("missing field `tls`"));
    let bad_pin = format!("id = 1\n{base}{}", member.replace(&pin, "abc"));
    assert!(check(&write("badpin.toml", &bad_pin)).unwrap_err().contains("64 hex"));
    let lonely = format!("id = 1\njoin = true\n{base}");
    assert!(check(&write("lonely.toml", &lonely)).unwrap_err().contains("founding members"));
}

#[test]
fn a_record_uploaded_to_one_node_is_read_through_another_under_consent_and_audited() {
    let _one = lock();
    let mut c = Cluster::new(3, "");
    for i in 1..=3 {
        c.start(i);
    }
    let leader = c.leader(Duration::from_secs(20));
    let followers: Vec<usize> = (1..=3).filter(|&i| i != leader).collect();
    let (up, down) = (followers[0], followers[1]);
    let chain = "test-cluster";
    let auth_hex = std::fs::read_to_string(c.data_dir(up).join("authority.key")).unwrap();
    let auth = k256::ecdsa::SigningKey::from_slice(&hex::decode(auth_hex.trim()).unwrap()).unwrap();
    let (patient, doctor) = (key("c-patient"), key("c-doctor"));
    let tx = |k: &k256::ecdsa::SigningKey, nonce: u64, body: TxBody| {
        Transaction { chain_id: chain.into(), signer: pk(k), nonce, body }.sign(k)
    };
    let ok = |i: usize, stx: SignedTransaction| -> Hash {
        let (s, v) = c.submit(i, &stx).unwrap();
        assert_eq!(s, 200, "{v}");
        stx.id()
    };
    // Written through followers: forwarded to the leader.
    ok(
        up,
        tx(
            &auth,
            1,
            TxBody::RegisterProvider {
                key: pk(&doctor),
                encryption_key: pk(&doctor),
                role: Role::Doctor,
                name: "Dr C".into(),
                licence: "GMC C".into(),
            },
        ),
    );
    ok(down, tx(&patient, 1, super::register(&patient, 100)));
    let now = now_ms() / 1000;
    let (pa, da) = (pk(&patient).address(), pk(&doctor).address());
    ok(
        up,
        tx(
            &patient,
            2,
            TxBody::GrantConsent {
                grantee: da,
                classes: vec![DataClass::Procedures],
                actions: Actions::READ,
                purpose: Purpose::Treatment,
                valid_from: now - 5,
                valid_until: now + 3600,
            },
        ),
    );
    let envelope = b"\x01 sealed record bytes, uploaded to one hospital's node".to_vec();
    // The upload is the patient's, signed over the bytes; the node it goes to may not have
    // applied the patient's registration yet, so it is tried until it has.
    let upload = || {
        let h = c.header_over(up, &patient, "PUT", "/v1/blobs", &envelope);
        c.http.put(format!("{}/v1/blobs", c.api(up))).header("authorization", h).body(envelope.clone()).send().unwrap()
    };
    let t0 = Instant::now();
    let mut r = upload();
    while r.status().as_u16() == 403 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
        r = upload();
    }
    assert_eq!(r.status().as_u16(), 201);
    let blob = wire::blob_id(&envelope);
    // On the Raft port, where blobs pass without the consent gate: a member's key fetches it;
    // a key the cluster does not list gets no connection; the administrator's is refused.
    let from = |cert: &Path, key: &Path| c.raft_call(up, (cert, key), &format!("/raft/blob/{blob}"), None);
    let (member_dir, admin_dir) = (c.data_dir(down), c.dir.path().join("admin"));
    let (status, bytes) = from(&member_dir.join("node-tls.crt"), &member_dir.join("node-tls.key")).unwrap();
    assert_eq!((status, bytes.as_bytes()), (200, envelope.as_slice()), "a member fetches the blob");
    let stranger = tempfile::tempdir().unwrap();
    ledger_node::config::make_identity(stranger.path(), "s.crt", "s.key", &["healthchain-node".into()]).unwrap();
    let refused = from(&stranger.path().join("s.crt"), &stranger.path().join("s.key"));
    assert!(refused.is_err(), "an unlisted key reached the Raft port: {refused:?}");
    let (status, body) = from(&admin_dir.join("admin-tls.crt"), &admin_dir.join("admin-tls.key")).unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("not_a_peer"), "{body}");
    let record = ok(
        up,
        tx(
            &patient,
            3,
            TxBody::AnchorRecord {
                patient: pa,
                content_hash: sha256(&[b"plain"]),
                size: envelope.len() as u64,
                class: DataClass::Procedures,
                blob,
                keys: vec![
                    WrappedKey { reader: pa, wrapped: vec![1; 80] },
                    WrappedKey { reader: da, wrapped: vec![2; 80] },
                ],
            },
        ),
    );
    let read = |c: &Cluster, i: usize, reader: &k256::ecdsa::SigningKey| {
        let path = format!("/v1/records/{record}/read");
        let h = c.header(i, reader, "POST", &path);
        let r = c.http.post(format!("{}{path}", c.api(i))).header("authorization", h).send().unwrap();
        (r.status().as_u16(), r.bytes().unwrap().to_vec())
    };
    // The other follower has no copy: it fetches the blob from its peer, checks it, and
    // releases it under consent, with the access event ordered through the leader.
    let (_, fresh) = c.get(down, &format!("/v1/patients/{pa}/audit?consistent=true"));
    assert_eq!(fresh["entries"].as_array().unwrap().len(), 0);
    assert_eq!(read(&c, down, &doctor), (200, envelope.clone()));
    let (_, audit) = c.get(leader, &format!("/v1/patients/{pa}/audit?consistent=true"));
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1, "{audit}");
    assert_eq!(audit["entries"][0]["reader"], da.to_hex());
    // Every node counts what it applied, followers too.
    assert_eq!(c.get(down, "/v1/blocks/head?consistent=true").0, 200);
    let metrics = c.http.get(format!("{}/metrics", c.api(down))).send().unwrap().text().unwrap();
    assert!(metrics.contains("ledger_txs_committed_total 5"), "{metrics}");
    // A stranger is refused on any node.
    assert_eq!(read(&c, leader, &key("c-stranger")).0, 403);
    // A second record, uploaded to one node that is then killed at once: a majority held the
    // upload before it was acknowledged, so the record is still there (on main the blob lived
    // only on the uploading node, and was gone with it).
    let second = b"\x01 a second sealed record, its node lost right after the upload".to_vec();
    let h = c.header_over(up, &patient, "PUT", "/v1/blobs", &second);
    let r =
        c.http.put(format!("{}/v1/blobs", c.api(up))).header("authorization", h).body(second.clone()).send().unwrap();
    assert_eq!(r.status().as_u16(), 201);
    c.kill(up);
    let blob2 = wire::blob_id(&second);
    let anchor = tx(
        &patient,
        4,
        TxBody::AnchorRecord {
            patient: pa,
            content_hash: sha256(&[b"plain 2"]),
            size: second.len() as u64,
            class: DataClass::Procedures,
            blob: blob2,
            keys: vec![WrappedKey { reader: pa, wrapped: vec![1; 80] }],
        },
    );
    let (s, v) = c.submit(leader, &anchor).unwrap();
    assert_eq!(s, 200, "{v}");
    let path = format!("/v1/records/{}/read", anchor.id());
    for i in [leader, down] {
        let h = c.header(i, &patient, "POST", &path);
        let r = c.http.post(format!("{}{path}", c.api(i))).header("authorization", h).send().unwrap();
        assert_eq!((r.status().as_u16(), r.bytes().unwrap().to_vec()), (200, second.clone()), "through node {i}");
    }
    // With the uploading node down, the copies made stay readable.
    assert_eq!(read(&c, down, &patient), (200, envelope));
}

/// The Raft port is mutual TLS with pinned keys: a key the cluster does not list cannot
/// connect, so it cannot vote, replicate or add itself; admin commands need the
/// administrator's certificate (a member's is not one), and that certificate cannot vote.
#[test]
fn the_raft_port_accepts_only_listed_keys_and_admin_commands_need_the_admin_certificate() {
    let _one = lock();
    let mut c = Cluster::new(3, "");
    for i in 1..=3 {
        c.start(i);
    }
    let leader = c.leader(Duration::from_secs(20));
    let via = (1..=3).find(|&i| i != leader).unwrap();
    let term = c.status(leader).unwrap()["term"].as_u64().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (stranger, peer_as_admin) = (work.path().join("stranger"), work.path().join("peer-as-admin"));
    let stranger_pin = ledger_node::config::make_identity(
        &stranger,
        ledger_node::tls::ADMIN_CERT,
        ledger_node::tls::ADMIN_KEY,
        &["healthchain-admin".into()],
    )
    .unwrap();
    let stranger_id = (stranger.join("admin-tls.crt"), stranger.join("admin-tls.key"));
    let vote = serde_json::to_value(openraft::raft::VoteRequest::<u64>::new(openraft::Vote::new(term + 1000, 9), None))
        .unwrap();
    for i in 1..=3 {
        let r = c.raft_call(i, (&stranger_id.0, &stranger_id.1), "/raft/vote", Some(vote.clone()));
        assert!(r.is_err(), "node {i} took a vote from an unlisted key: {r:?}");
        let r = c.raft_call(i, (&stranger_id.0, &stranger_id.1), "/raft/read-index", None);
        assert!(r.is_err(), "node {i} answered an unlisted key: {r:?}");
    }
    let api = "http://127.0.0.1:1".to_owned();
    let joined = c.admin_as(
        via,
        &stranger,
        &[
            "add-learner",
            "--id",
            "9",
            "--api",
            &api,
            "--raft-url",
            "https://127.0.0.1:2",
            "--tls",
            &stranger_pin.to_string(),
        ],
    );
    assert!(joined.unwrap_err().contains("refused this certificate"), "an unlisted key added itself");
    // A member's certificate does not make its holder an administrator.
    std::fs::create_dir(&peer_as_admin).unwrap();
    for (from, to) in [("node-tls.crt", "admin-tls.crt"), ("node-tls.key", "admin-tls.key")] {
        std::fs::copy(c.data_dir(via).join(from), peer_as_admin.join(to)).unwrap();
    }
    let err = c.admin_as(via, &peer_as_admin, &["status"]).unwrap_err();
    assert!(err.contains("administrator's TLS certificate"), "{err}");
    // Nor does saying it hands on an administrator's request (on main a member's certificate
    // with the forwarding header ran any admin command on the leader).
    let member = (c.data_dir(via).join("node-tls.crt"), c.data_dir(via).join("node-tls.key"));
    let (status, body) = c
        .raft_call_with(
            leader,
            (&member.0, &member.1),
            "/admin/remove",
            Some(json!({ "id": 9 })),
            &[("x-healthchain-forwarded", "1")],
        )
        .unwrap();
    assert_eq!(status, 403, "a member acted as an administrator: {body}");
    assert!(body.contains("not_admin"), "{body}");
    // An administrator asking a follower is sent to the leader, and the command runs there.
    let admin_dir = c.dir.path().join("admin");
    let (status, body) = c
        .raft_call(
            via,
            (&admin_dir.join("admin-tls.crt"), &admin_dir.join("admin-tls.key")),
            "/admin/remove",
            Some(json!({ "id": 9 })),
        )
        .unwrap();
    assert_eq!(status, 421, "{body}");
    assert!(body.contains("not_leader") && body.contains(&c.raft(leader)), "{body}");
    // A member's requests are bounded per route: a vote is small.
    let padded = json!({ "pad": "x".repeat(3 << 20) });
    // The node answers 413 at once; it may close the connection before the client has sent
    // the whole body, which the client sees as an error instead of the answer.
    // (When it does, the checks below show the vote moved nothing.)
    if let Ok((status, body)) = c.raft_call(leader, (&member.0, &member.1), "/raft/vote", Some(padded)) {
        assert_eq!(status, 413, "a 3 MB vote was taken: {body}");
    }
    // The administrator's certificate runs admin commands, and may not vote.
    let (status, body) = c
        .raft_call(
            leader,
            (&admin_dir.join("admin-tls.crt"), &admin_dir.join("admin-tls.key")),
            "/raft/vote",
            Some(vote),
        )
        .unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("not_a_peer"), "{body}");
    let st: Value = serde_json::from_str(&c.admin(via, &["status"]).unwrap()).unwrap();
    let members = st["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "nobody joined: {st}");
    assert!(members.iter().all(|m| m["tls"].as_str().is_some_and(|p| p.len() == 64)), "{st}");
    assert_eq!(c.leader(Duration::from_secs(5)), leader, "the leader is unchanged");
    let now = c.status(leader).unwrap()["term"].as_u64().unwrap();
    assert!(now < term + 1000, "the forged vote moved the term: {term} -> {now}");
    // The public port says who is in the cluster, not where their Raft ports are.
    let public = c.status(via).unwrap();
    assert!(public["members"].as_array().unwrap().iter().all(|m| m.get("raft").is_none() && m.get("tls").is_none()));
    assert!(public["leader"].get("raft").is_none(), "{public}");
    let (s, v) = c.submit(leader, &registration("test-cluster", "after-strangers")).unwrap();
    assert_eq!(s, 200, "{v}");
}

/// A snapshot chunk must follow what has arrived of its snapshot (or repeat part of it):
/// one at a far-off offset would make the receiver pad its buffer out to there.
#[test]
fn a_snapshot_chunk_past_what_has_arrived_is_refused() {
    let chunks = ledger_node::cluster::network::SnapshotChunks::default();
    assert!(chunks.admit("s1", 0, 100, false).is_ok());
    assert!(chunks.admit("s1", 100, 100, false).is_ok());
    assert!(chunks.admit("s1", 100, 100, false).is_ok(), "a chunk sent again is taken");
    let why = chunks.admit("s1", 1 << 37, 10, false).unwrap_err();
    assert!(why.contains("only 200 bytes of it have arrived"), "{why}");
    assert!(chunks.admit("s2", 50, 10, false).is_err(), "a new snapshot starts at byte 0");
    assert!(chunks.admit("s2", 0, 10, false).is_ok());
    assert!(chunks.admit("s2", 10, 5, true).is_ok());
    assert!(chunks.admit("s2", 15, 5, false).is_err(), "a finished snapshot takes no more chunks");
}

/// A range of a snapshot's blocks goes in all together or not at all.
#[test]
fn blocks_from_a_snapshot_are_installed_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = key("hospital-a");
    let genesis = Genesis {
        chain_id: "peer-chain".into(),
        timestamp_ms: 0,
        authorities: vec![GenesisAuthority { name: "H".into(), key: pk(&a), encryption_key: pk(&a) }],
    };
    let ledger = ledger_node::ledger::Ledger::open(dir.path(), genesis.clone()).unwrap();
    let block = |txs: Vec<SignedTransaction>, prev: Hash, height: u64| {
        let ids: Vec<Hash> = txs.iter().map(SignedTransaction::id).collect();
        Block::produce_with_ids("peer-chain", height, prev, 1_000, txs, &ids, &a)
    };
    let b1 = block(vec![registration("peer-chain", "snap-1")], ChainTip::genesis(&genesis).hash, 1);
    let b2 = block(vec![registration("peer-chain", "snap-2")], b1.hash(), 2);
    let bad3 = block(vec![registration("peer-chain", "snap-1")], b2.hash(), 3);
    let refused = ledger.install_blocks(&[b1.clone(), b2.clone(), bad3], &[("marker", b"x")]).unwrap();
    assert!(matches!(refused, Err(ChainError::BadTx { height: 3, .. })), "{refused:?}");
    assert_eq!(ledger.head().tip.height, 0, "nothing of it was applied");
    assert_eq!(ledger.store.height().unwrap(), 0, "nothing of it was stored");
    assert_eq!(ledger.store.meta("marker").unwrap(), None);
    let tip = ledger.install_blocks(&[b1, b2], &[("marker", b"x")]).unwrap().unwrap();
    assert_eq!((tip.height, ledger.store.height().unwrap()), (2, 2));
    assert_eq!(ledger.store.meta("marker").unwrap().as_deref(), Some(&b"x"[..]));
}

/// A data directory whose Raft log was purged past its chain (as a snapshot install cut
/// short by a crash left it before purges waited for the install) refuses to start and
/// says what to do, instead of serving a chain with a hole.
#[test]
fn a_node_whose_chain_stops_before_its_log_begins_refuses_to_start() {
    use openraft::storage::RaftLogStorage;
    let c = Cluster::new(1, "");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let at = openraft::LogId::new(openraft::CommittedLeaderId::new(3, 1), 40);
        // The mark of a state machine that had applied it, which this one has not.
        let mark = ledger_node::cluster::types::AppliedMark::new(Some(at));
        let mut log = ledger_node::cluster::log_store::LogStore::open(&c.data_dir(1), mark).unwrap();
        log.purge(at).await.unwrap();
    });
    let out = Command::new(env!("CARGO_BIN_EXE_ledger-node"))
        .args(["serve", "--cluster"])
        .arg(c.config_path(1))
        .env("RUST_LOG", "error")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("snapshot install was interrupted") && err.contains("join = true"), "{err}");
}

/// The log store purges no further than the state machine has applied: the engine's purge
/// behind an arriving snapshot waits for the install, and fails (keeping the log) when the
/// install does.
#[test]
fn a_purge_waits_for_the_state_machine_to_apply_what_it_removes() {
    use ledger_node::cluster::{log_store::LogStore, types::AppliedMark};
    use openraft::storage::RaftLogStorage;
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let id = |i| openraft::LogId::new(openraft::CommittedLeaderId::new(2, 1), i);
        let mark = AppliedMark::new(Some(id(10)));
        let mut log = LogStore::open(dir.path(), mark.clone()).unwrap();
        log.purge(id(10)).await.unwrap();
        let mut ahead = log.clone();
        let waiting = tokio::spawn(async move { ahead.purge(id(40)).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished(), "a purge past the applied mark waits");
        assert_eq!(log.get_log_state().await.unwrap().last_purged_log_id, Some(id(10)));
        mark.applied(Some(id(40)));
        waiting.await.unwrap().unwrap();
        assert_eq!(log.get_log_state().await.unwrap().last_purged_log_id, Some(id(40)));
        let mut ahead = log.clone();
        let failing = tokio::spawn(async move { ahead.purge(id(60)).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        mark.install_failed(Some(id(60)));
        let err = failing.await.unwrap().unwrap_err().to_string();
        assert!(err.contains("was not installed"), "{err}");
        assert_eq!(log.get_log_state().await.unwrap().last_purged_log_id, Some(id(40)), "nothing purged");
    });
}

/// A follower behind its leader's purged log catches up from a snapshot; it is SIGKILLed at
/// random points of the install (held open before its commit by the debug build's fault
/// hook, so that the kills land inside it) and once just after it. Every time it starts
/// again, and in the end every node holds every acknowledged transaction. Before the log
/// store's purge waited for the install, the first kill left a node that refused to start.
#[test]
fn a_node_killed_at_random_points_of_a_snapshot_install_starts_again_and_converges() {
    let _one = lock();
    let tuning = "\n[raft]\nsnapshot_every = 20\nkeep_logs = 5\n";
    let mut c = Cluster::new(3, tuning);
    for i in 1..=3 {
        c.start(i);
    }
    let leader = c.leader(Duration::from_secs(20));
    let f = (1..=3).find(|&i| i != leader).unwrap();
    let mut ids = Vec::new();
    let mut write = |c: &Cluster, count: usize| {
        for _ in 0..count {
            let stx = registration("test-cluster", &format!("install-kill-{}", ids.len()));
            let (s, v) = c.submit(leader, &stx).unwrap();
            assert_eq!(s, 200, "{v}");
            ids.push(stx.id());
        }
    };
    write(&c, 5);
    const PAUSE_MS: u64 = 1500;
    // Three kills inside the install at random points, then one after its commit.
    let offsets: Vec<u64> = (0..4)
        .map(|round| {
            let r = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
            if round < 3 { r % PAUSE_MS } else { PAUSE_MS + 200 + r % 500 }
        })
        .collect();
    for at in offsets {
        c.kill(f);
        // Past the leader's snapshot and its kept logs: the follower needs the snapshot.
        write(&c, 30);
        let lines = c.start_watched(f, &[(ledger_node::cluster::state_machine::FAULT_INSTALL_PAUSE_MS, "1500")]);
        let t0 = Instant::now();
        loop {
            let line = lines.recv_timeout(Duration::from_secs(30)).expect("the follower installs a snapshot");
            if line.contains("the snapshot install pauses before its commit") {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "no snapshot install began");
        }
        std::thread::sleep(Duration::from_millis(at));
        eprintln!("killed {at} ms into the install's pause of {PAUSE_MS} ms");
        c.kill(f);
    }
    c.start(f);
    c.converged(Duration::from_secs(30));
    for i in 1..=3 {
        for id in &ids {
            assert_eq!(c.get(i, &format!("/v1/transactions/{id}")).0, 200, "{id} is on node {i}");
        }
    }
    assert!(c.verify_chain(f) >= ids.len());
    // It votes again: with another node down, the cluster still commits.
    let down = (1..=3).find(|&i| i != leader && i != f).unwrap();
    c.kill(down);
    let (s, v) = c.submit(leader, &registration("test-cluster", "install-kill-after")).unwrap();
    assert_eq!(s, 200, "{v}");
}

/// Blob uploads to one node while a node (the uploading one or a peer, at random) is
/// SIGKILLed at a random moment, three times: each node starts again, and every upload that
/// was acknowledged is held by a majority of the nodes afterwards.
#[test]
fn nodes_killed_at_random_points_of_blob_uploads_restart_and_lose_no_acknowledged_upload() {
    let _one = lock();
    let mut c = Cluster::new(3, "");
    for i in 1..=3 {
        c.start(i);
    }
    let leader = c.leader(Duration::from_secs(20));
    let patient = key("upload-kill-patient");
    let reg = Transaction {
        chain_id: "test-cluster".into(),
        signer: pk(&patient),
        nonce: 1,
        body: super::register(&patient, 100),
    }
    .sign(&patient);
    let (s, v) = c.submit(leader, &reg).unwrap();
    assert_eq!(s, 200, "{v}");
    for i in 1..=3 {
        assert_eq!(c.get(i, "/v1/blocks/head?consistent=true").0, 200);
    }
    let rand = |n: u64| rand_core::RngCore::next_u64(&mut rand_core::OsRng) % n;
    let mut acked: Vec<Hash> = Vec::new();
    let mut seq = 0u64;
    for round in 0..3usize {
        let target = round % 3 + 1;
        let victim = rand(3) as usize + 1;
        let stop = AtomicBool::new(false);
        let uploads = std::thread::scope(|scope| {
            let (c, stop, patient) = (&c, &stop, &patient);
            let first = seq;
            let uploader = scope.spawn(move || {
                let mut ok = Vec::new();
                let mut n = first;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let size = 1 + (n as usize * 7919) % 200_000;
                    let body: Vec<u8> = format!("upload-kill {n} ").bytes().cycle().take(size).collect();
                    let h = c.header_over(target, patient, "PUT", "/v1/blobs", &body);
                    let sent = c
                        .http
                        .put(format!("{}/v1/blobs", c.api(target)))
                        .header("authorization", h)
                        .body(body.clone())
                        .timeout(Duration::from_secs(10))
                        .send();
                    match sent {
                        Ok(r) if r.status().as_u16() == 201 => ok.push(wire::blob_id(&body)),
                        // Refused (the cluster short of a majority) or no answer: not acknowledged.
                        _ => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
                (ok, n)
            });
            std::thread::sleep(Duration::from_millis(100 + rand(900)));
            eprintln!("round {round}: uploading to node {target}, killing node {victim}");
            c.kill_shared(victim);
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::Relaxed);
            uploader.join().unwrap()
        });
        seq = uploads.1;
        assert!(!uploads.0.is_empty() || victim == target, "uploads were acknowledged in round {round}");
        acked.extend(uploads.0);
        c.kill(victim);
        c.start(victim);
        c.leader(Duration::from_secs(20));
    }
    c.converged(Duration::from_secs(20));
    assert!(!acked.is_empty());
    let held_by = |blob: &Hash| {
        (1..=3)
            .filter(|&i| {
                let d = c.data_dir(i % 3 + 1);
                let got = c.raft_call(
                    i,
                    (&d.join("node-tls.crt"), &d.join("node-tls.key")),
                    &format!("/raft/blob/{blob}"),
                    None,
                );
                matches!(got, Ok((200, _)))
            })
            .count()
    };
    for blob in &acked {
        assert!(held_by(blob) >= 2, "acknowledged upload {blob} is held by a majority");
    }
}

/// A follower declines to replicate a block timed more than the allowed skew ahead of its
/// clock (before the entry reaches its log, so every node still applies the same entries).
#[test]
fn a_follower_refuses_to_replicate_a_block_timed_ahead_of_its_clock() {
    use ledger_node::cluster::network::refuse_blocks_from_the_future;
    let a = key("hospital-a");
    let now = 1_800_000_000_000u64;
    let made_at = |ms: u64| {
        Block::produce("peer-chain", 1, Hash([0; 32]), ms, vec![registration("peer-chain", "t")], &a)
            .to_canonical_bytes()
    };
    let (fine, ahead) = (made_at(now + 10_000), made_at(now + 365 * 86_400_000));
    assert!(refuse_blocks_from_the_future([fine.as_slice()].into_iter(), now).is_ok());
    let why = refuse_blocks_from_the_future([fine.as_slice(), ahead.as_slice()].into_iter(), now).unwrap_err();
    assert!(why.contains("ahead of this node's clock"), "{why}");
}

/// Each node on a 40 MiB filesystem with 8 MiB kept for the ledger. A follower whose disk
/// is down to under that takes no blocks (a failed Raft log write would stop its engine for
/// good) while the other two go on; once space is back it catches up, without a restart. A
/// leader down to its reserve refuses writes with `disk_low`, in words (also through a
/// follower), and takes them once space is back.
#[test]
fn a_node_short_of_disk_takes_no_blocks_and_carries_on_once_space_is_back() {
    use super::small_fs::{SmallFs, fill_leaving};
    let _one = lock();
    let mut c = Cluster::new(3, "ledger_reserve_mib = 8\nupload_reserve_mib = 8\n");
    let mut disks = Vec::new();
    for i in 1..=3 {
        match SmallFs::mount_keeping(&c.data_dir(i), 40) {
            Ok(fs) => disks.push(fs),
            Err(e) => {
                eprintln!(
                    "SKIPPED a_node_short_of_disk_takes_no_blocks_and_carries_on_once_space_is_back: cannot mount a small filesystem here ({e})"
                );
                return;
            }
        }
    }
    for i in 1..=3 {
        c.start(i);
    }
    let leader = c.leader(Duration::from_secs(20));
    let follower = (1..=3).find(|&i| i != leader).unwrap();
    let tx_path = |t: &SignedTransaction| format!("/v1/transactions/{}", t.id());
    let still_running = |c: &mut Cluster| {
        for i in 1..=3 {
            let p = c.procs[i - 1].as_mut().unwrap();
            assert!(p.child.try_wait().unwrap().is_none(), "node {i} stopped");
        }
    };
    let (s, v) = c.submit(leader, &registration("test-cluster", "disk-before")).unwrap();
    assert_eq!(s, 200, "{v}");

    // A follower short of disk: the other two commit without it.
    let ballast = fill_leaving(&c.data_dir(follower), 2 << 20);
    let while_low = registration("test-cluster", "disk-follower-low");
    let (s, v) = c.submit(leader, &while_low).unwrap();
    assert_eq!(s, 200, "a majority commits while one follower is short of disk: {v}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(c.get(follower, &tx_path(&while_low)).0, 404, "the follower took a block below its reserve");
    still_running(&mut c);
    std::fs::remove_file(&ballast).unwrap();
    let t0 = Instant::now();
    while c.get(follower, &tx_path(&while_low)).0 != 200 {
        assert!(t0.elapsed() < Duration::from_secs(20), "the follower did not catch up once space was back");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The leader short of disk: writes are refused in words, here and through a follower.
    let ballast = fill_leaving(&c.data_dir(leader), 2 << 20);
    let refused = registration("test-cluster", "disk-leader-low");
    let (s, v) = c.submit(leader, &refused).unwrap();
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["code"], "disk_low", "{v}");
    assert!(v["message"].as_str().unwrap().contains("disk is nearly full"), "{v}");
    let (s, v) = c.submit(follower, &refused).unwrap();
    assert_eq!(s, 503, "{v}");
    assert!(v["message"].as_str().unwrap().contains("disk is nearly full"), "through a follower: {v}");
    for i in 1..=3 {
        assert_eq!(c.get(i, &tx_path(&refused)).0, 404, "a refused write was committed");
    }
    still_running(&mut c);
    std::fs::remove_file(&ballast).unwrap();
    let (s, v) = c.submit(leader, &refused).unwrap();
    assert_eq!(s, 200, "once space is back: {v}");
    c.converged(Duration::from_secs(20));
    for i in 1..=3 {
        for t in [&while_low, &refused] {
            assert_eq!(c.get(i, &tx_path(t)).0, 200, "node {i} lacks {}", t.id());
        }
    }
    still_running(&mut c);
    c.verify_chain(follower);
    for i in 1..=3 {
        c.kill(i);
    }
    drop(disks);
}
