//! Issue 12, a node that acknowledged a block can always start again: blocks stay within
//! what the decoder reads (in transactions and in bytes) under concurrent load, a producer
//! clock set a year ahead does not move the chain's time, a failed commit leaves nothing
//! readable that is not on disk, concurrent consented reads are never refused for the
//! node's own numbering, and a chain that cannot be replayed is named with how to recover.
//! Issue 14: a real full disk (a small filesystem) refuses writes clearly and the node
//! carries on once space is back.

use super::small_fs::{SmallFs, fill};
use super::*;
use ledger_node::ledger::WallClock;
use redb::ReadableTable;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One registration per key, with a sealed profile of `profile_bytes` bytes.
fn registrations(chain: &str, prefix: &str, n: usize, profile_bytes: usize) -> Vec<SignedTransaction> {
    (0..n)
        .map(|i| {
            let k = key(&format!("{prefix}-{i}"));
            Transaction { chain_id: chain.into(), signer: pk(&k), nonce: 1, body: super::register(&k, profile_bytes) }
                .sign(&k)
        })
        .collect()
}

async fn submit_batch(c: &Client, txs: &[SignedTransaction]) -> (u16, Value) {
    let hex: Vec<String> = txs.iter().map(|t| hex::encode(t.to_canonical_bytes())).collect();
    c.post("/v1/transactions/batch", json!({ "txs": hex })).await
}

/// Every block of the node's chain, read back through the API (each must answer 200).
async fn all_blocks(c: &Client) -> Vec<Block> {
    let (_, info) = c.get("/v1/info").await;
    let height = info["height"].as_u64().unwrap();
    let mut out = Vec::new();
    for h in 1..=height {
        let (s, b) = c.get(&format!("/v1/blocks/{h}")).await;
        assert_eq!(s, 200, "block {h} cannot be read back: {b}");
        out.push(super::block_of(&b));
    }
    out
}

/// Three concurrent batches of 2000 registrations (6000, more than a block holds) and then
/// registrations with 8 KB names (more than a block's 16 MiB in all) all commit, every block
/// reads back, and the node starts again on that data and re-verifies it. On main the first
/// part made one block of 6000 that the node could not read, nor start on.
#[test]
fn concurrent_batches_past_a_blocks_limits_commit_read_back_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, auth) = init_chain(dir.path());
    // A long block window makes every concurrent batch land in the same block's window.
    let mut node = NodeProc::start_with(dir.path(), &["--block-ms", "1500"]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let chain = genesis.chain_id.clone();
    let c = Client::new(node.base.clone(), chain.clone(), &auth);

    let by_count: Vec<Vec<SignedTransaction>> =
        (0..3).map(|b| registrations(&chain, &format!("count-{b}"), 2000, 64)).collect();
    // 8000-byte sealed profiles: about 240 to a 4 MiB request (hex doubles them).
    let by_bytes: Vec<Vec<SignedTransaction>> =
        (0..9).map(|b| registrations(&chain, &format!("bytes-{b}"), 240, 8000)).collect();
    let mut ids = Vec::new();
    rt.block_on(async {
        for round in [&by_count, &by_bytes] {
            let answers = futures_join(round.iter().map(|txs| {
                let (c, txs) = (c.clone(), txs.clone());
                async move { submit_batch(&c, &txs).await }
            }))
            .await;
            for (txs, (s, v)) in round.iter().zip(answers) {
                assert_eq!(s, 200, "{v}");
                for (t, r) in txs.iter().zip(v["results"].as_array().unwrap()) {
                    assert!(r["ok"]["id"].is_string(), "a transaction was refused: {r}");
                    ids.push(t.id());
                }
            }
        }
        let blocks = all_blocks(&c).await;
        let most = blocks.iter().map(|b| b.txs.len()).max().unwrap();
        let biggest = blocks.iter().map(|b| b.to_canonical_bytes().len()).max().unwrap();
        assert!(most <= ledger_protocol::block::MAX_BLOCK_TXS, "a block holds {most} transactions");
        assert!(biggest <= ledger_protocol::block::MAX_BLOCK_BYTES, "a block is {biggest} bytes");
        assert_eq!(blocks.iter().map(|b| b.txs.len()).sum::<usize>(), ids.len());
        for b in &blocks {
            assert!(Block::from_canonical_bytes(&b.to_canonical_bytes()).is_ok(), "block {}", b.header.height);
        }
    });
    node.sigkill();
    let node = NodeProc::start(dir.path());
    let c = Client::new(node.base.clone(), chain, &auth);
    rt.block_on(async {
        for id in ids.iter().step_by(97) {
            let (s, _) = c.get(&format!("/v1/transactions/{id}")).await;
            assert_eq!(s, 200, "transaction {id} is missing after the restart");
        }
        let (_, info) = c.get("/v1/info").await;
        assert!(info["height"].as_u64().unwrap() >= 3, "{info}");
    });
}

/// Runs the futures at once and returns their outputs in order.
async fn futures_join<F>(fs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(|f| tokio::spawn(f)).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

const YEAR_MS: u64 = 365 * 86_400_000;

/// A clock the test can set wrong: the real one plus an offset.
fn settable_clock() -> (WallClock, Arc<AtomicU64>) {
    let offset = Arc::new(AtomicU64::new(0));
    let o = offset.clone();
    (Arc::new(move || now_ms() + o.load(Ordering::SeqCst)), offset)
}

/// The producer's clock jumps a year ahead while the node runs: blocks keep real time (the
/// monotonic clock is followed), so a consent granted for an hour stays live and reads work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_clock_set_a_year_ahead_does_not_move_the_chains_time() {
    let (clock, offset) = settable_clock();
    let (c, auth, _dir, _state) = in_process_with(clock, false).await;
    let cast = register_cast(&c, auth).await;
    offset.store(YEAR_MS, Ordering::SeqCst);
    let doctor = pk(&cast.doctor).address();
    let id = c.ok(&c.tx(&cast.patient, 2, read_consent_for_an_hour(doctor))).await;
    let (_, tx) = c.get(&format!("/v1/transactions/{id}")).await;
    let proof: TxWithProof = serde_json::from_value(tx).unwrap();
    let block_ms = proof.header.timestamp_ms;
    assert!(
        block_ms.abs_diff(now_ms()) < ledger_protocol::block::MAX_CLOCK_SKEW_MS,
        "the block is timed {} s away from real time",
        (block_ms as i128 - now_ms() as i128) / 1000
    );
    // The doctor's read is judged at the chain's time: the consent is live then.
    let record = anchor_record(&c, &cast.patient, 3, doctor).await;
    assert_eq!(c.read(&cast.doctor, record).await.0, 200);
}

/// Uploads `envelope` as a blob and signs (without sending) its anchor as a Procedures
/// record of `patient`, with its key wrapped for the patient and for `reader` if given.
async fn anchor_tx(
    c: &Client,
    patient: &k256::ecdsa::SigningKey,
    nonce: u64,
    reader: Option<Address>,
    envelope: &[u8],
) -> SignedTransaction {
    let (_, v) = c.put_blob(patient, envelope).await;
    let blob: Hash = v["blob"].as_str().unwrap().parse().unwrap();
    let me = pk(patient).address();
    let keys = std::iter::once(me).chain(reader).map(|reader| WrappedKey { reader, wrapped: vec![1; 80] }).collect();
    let body = TxBody::AnchorRecord {
        patient: me,
        content_hash: sha256(&[envelope]),
        size: envelope.len() as u64,
        class: DataClass::Procedures,
        blob,
        keys,
    };
    c.tx(patient, nonce, body)
}

/// Uploads a blob and anchors it as a Procedures record of `patient` readable by `reader`.
async fn anchor_record(c: &Client, patient: &k256::ecdsa::SigningKey, nonce: u64, reader: Address) -> Hash {
    c.ok(&anchor_tx(c, patient, nonce, Some(reader), b"\x01 sealed").await).await
}

/// An injected commit failure: the client is told, nothing of the block is readable, the
/// health check says so, and the next block commits (the node need not be restarted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_leaves_nothing_readable_that_is_not_on_disk() {
    let (c, auth, _dir, state) = in_process_with(ledger_node::ledger::system_clock(), false).await;
    let cast = register_cast(&c, auth).await;
    let (_, before) = c.get("/v1/info").await;
    state.0.ledger.store.fail_next_block_commits(1);
    let newcomer = key("never-committed");
    let reg = c.tx(&newcomer, 1, super::register(&newcomer, 100));
    let (s, v) = c.submit(&reg).await;
    assert_eq!((s, v["code"].as_str()), (503, Some("unavailable")), "{v}");
    let (s, _) = c.get(&format!("/v1/accounts/{}", pk(&newcomer).address())).await;
    assert_eq!(s, 404, "an account that was never committed is readable");
    let (s, _) = c.get(&format!("/v1/transactions/{}", reg.id())).await;
    assert_eq!(s, 404);
    let (_, after) = c.get("/v1/info").await;
    assert_eq!(before["height"], after["height"]);
    let (s, health) = c.get("/health").await;
    assert_eq!((s, health["status"].as_str()), (503, Some("failing")), "{health}");
    // The same transaction again: it was never committed, so it is not a replay.
    c.ok(&reg).await;
    let (s, _) = c.get(&format!("/v1/accounts/{}", pk(&newcomer).address())).await;
    assert_eq!(s, 200);
    let (s, _) = c.get("/health").await;
    assert_eq!(s, 200);
    // A record anchored while commits fail is not released on the patient's own path.
    state.0.ledger.store.fail_next_block_commits(1);
    let anchor = anchor_tx(&c, &cast.patient, 2, None, b"\x01 never anchored").await;
    let (s, v) = c.submit(&anchor).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(c.read(&cast.patient, anchor.id()).await.0, 404);
    // The patient's nonce 2 was not used up by the failed block.
    c.ok(&anchor).await;
}

/// 50 reads of one record at once by a doctor with consent: every one is released and
/// audited, none refused (on main the node's own access events reached the orderer out of
/// nonce order and some reads got `stale_nonce`, logged as refusals in the doctor's name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_consented_reads_of_one_record_are_all_released() {
    let (c, auth, _dir) = in_process().await;
    let cast = register_cast(&c, auth).await;
    let doctor = pk(&cast.doctor).address();
    let patient = pk(&cast.patient).address();
    c.ok(&c.tx(&cast.patient, 2, read_consent_for_an_hour(doctor))).await;
    let record = anchor_record(&c, &cast.patient, 3, doctor).await;
    let c = Arc::new(c);
    let doctor_key = Arc::new(cast.doctor.clone());
    let reads = futures_join((0..50).map(|_| {
        let (c, k) = (c.clone(), doctor_key.clone());
        async move { c.read(&k, record).await }
    }))
    .await;
    for (i, (s, body)) in reads.iter().enumerate() {
        assert_eq!(*s, 200, "read {i} was refused: {}", String::from_utf8_lossy(body));
    }
    let (_, audit) = c.get(&format!("/v1/patients/{patient}/audit")).await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 50, "{audit}");
    assert_eq!(audit["refused"].as_array().unwrap().len(), 0, "{audit}");
}

/// A chain that cannot be replayed is refused with the block, the reason and the way out;
/// `truncate` keeps the removed blocks in a file and the node then starts.
#[test]
fn a_chain_that_cannot_be_replayed_names_the_block_and_how_to_recover() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, auth) = init_chain(dir.path());
    let node = NodeProc::start(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let c = Client::new(node.base.clone(), genesis.chain_id.clone(), &auth);
    rt.block_on(async {
        for txs in [registrations(&genesis.chain_id, "r1", 3, 64), registrations(&genesis.chain_id, "r2", 3, 64)] {
            assert_eq!(submit_batch(&c, &txs).await.0, 200);
        }
    });
    drop(node);
    // Damage block 2's stored bytes (its producer signature) while the node is down.
    {
        let db = redb::Database::create(dir.path().join("ledger.redb")).unwrap();
        let table: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("blocks");
        let w = db.begin_write().unwrap();
        {
            let mut t = w.open_table(table).unwrap();
            let top = t.last().unwrap().unwrap().0.value();
            assert!(top >= 2);
            let mut b = t.get(2).unwrap().unwrap().value().to_vec();
            let at = Block::empty_len(&genesis.chain_id) - 64 - 4 + 5;
            b[at] ^= 0x55;
            t.insert(2, b.as_slice()).unwrap();
        }
        w.commit().unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ledger-node"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("block 2 of"), "{err}");
    assert!(err.contains("Blocks 1 to 1 verify"), "{err}");
    assert!(err.contains("ledger-node truncate"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_ledger-node"))
        .args(["truncate", "--from", "2", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kept = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("removed-blocks-2-"))
        .expect("the removed blocks are kept in a file");
    assert!(std::fs::read_to_string(kept.path()).unwrap().starts_with("2 "));
    let node = NodeProc::start(dir.path());
    let c = Client::new(node.base.clone(), genesis.chain_id.clone(), &auth);
    rt.block_on(async {
        let (_, info) = c.get("/v1/info").await;
        assert_eq!(info["height"], 1, "{info}");
    });
}

/// A real full disk (a 24 MiB filesystem filled up while the node runs): writes are refused
/// with a sentence that says the disk is full, nothing acknowledged is lost, and once space is
/// back the same transactions commit without restarting the node; a restart then replays
/// everything. Skipped, loudly, where the test may not mount a filesystem (the injected
/// fault test above still runs there).
#[test]
fn a_full_disk_refuses_writes_clearly_and_recovers_once_space_is_back() {
    let fs = match SmallFs::mount(24) {
        Ok(fs) => fs,
        Err(e) => {
            eprintln!(
                "SKIPPED a_full_disk_refuses_writes_clearly_and_recovers_once_space_is_back: cannot mount a small filesystem here ({e})"
            );
            return;
        }
    };
    let dir = fs.path().join("node");
    let (genesis, auth) = init_chain(&dir);
    // The reserves (256 MiB free for uploads, 64 MiB for blocks, by default) are more than
    // this whole disk; without the blocks' one, the node meets the full disk itself.
    let small_reserve = ["--upload-reserve-mib", "1", "--ledger-reserve-mib", "0"];
    let mut node = NodeProc::start_with(&dir, &small_reserve);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let chain = genesis.chain_id.clone();
    let c = Client::new(node.base.clone(), chain.clone(), &auth);
    let mut acknowledged = Vec::new();
    rt.block_on(async {
        let first = registrations(&chain, "before-full", 50, 2000);
        let (s, v) = submit_batch(&c, &first).await;
        assert_eq!(s, 200, "{v}");
        acknowledged.extend(first.iter().map(|t| t.id()));

        let ballast = fill(fs.path());
        // Batches of large registrations until one is refused: the disk is full.
        let mut refused = None;
        for round in 0..40 {
            let txs = registrations(&chain, &format!("while-full-{round}"), 100, 8000);
            let (s, v) = submit_batch(&c, &txs).await;
            let ok = s == 200 && v["results"].as_array().unwrap().iter().all(|r| r["ok"].is_object());
            if ok {
                acknowledged.extend(txs.iter().map(|t| t.id()));
                continue;
            }
            refused = Some((txs, s, v));
            break;
        }
        let (txs, s, v) = refused.expect("a full disk never refused a write");
        eprintln!("full disk: {s} {v}");
        let said = if s == 200 { v["results"][0]["err"].clone() } else { v.clone() };
        let message = said["message"].as_str().unwrap_or_default().to_lowercase();
        assert!(
            message.contains("disk") || message.contains("space"),
            "the refusal does not say the disk is full: {s} {v}"
        );
        let (s, health) = c.get("/health").await;
        assert_eq!(s, 503, "{health}");
        // An upload is refused the same way, and says why.
        let uploader = key("before-full-0");
        let blob = vec![7u8; 256 * 1024];
        let (s, v) = c.put_blob(&uploader, &blob).await;
        assert_eq!(s, 503, "an upload to a full disk: {v}");
        assert!(v["message"].as_str().unwrap_or_default().contains("disk"), "{v}");
        // What was acknowledged before is still readable.
        for id in &acknowledged {
            let (s, _) = c.get(&format!("/v1/transactions/{id}")).await;
            assert_eq!(s, 200, "acknowledged transaction {id} is gone");
        }

        std::fs::remove_file(&ballast).unwrap();
        // Space is back: the same transactions commit, and the node says it is healthy.
        let (s, v) = submit_batch(&c, &txs).await;
        assert_eq!(s, 200, "{v}");
        for r in v["results"].as_array().unwrap() {
            assert!(r["ok"].is_object(), "still refused once space is back: {r}");
        }
        acknowledged.extend(txs.iter().map(|t| t.id()));
        let (s, health) = c.get("/health").await;
        assert_eq!(s, 200, "{health}");
        let (s, v) = c.put_blob(&uploader, &blob).await;
        assert_eq!(s, 201, "an upload once space is back: {v}");
    });
    node.sigkill();
    let node = NodeProc::start_with(&dir, &small_reserve);
    let c = Client::new(node.base.clone(), chain, &auth);
    rt.block_on(async {
        for id in &acknowledged {
            let (s, _) = c.get(&format!("/v1/transactions/{id}")).await;
            assert_eq!(s, 200, "acknowledged transaction {id} is gone after a restart");
        }
    });
}

/// Below the ledger's reserve (8 MiB here, on a 40 MiB filesystem) a node refuses
/// transactions with `disk_low`, in words, before the disk is full; reads go on, nothing
/// acknowledged is lost, and it takes them again once space is back, without a restart.
#[test]
fn below_the_ledger_reserve_transactions_are_refused_before_the_disk_is_full() {
    let fs = match SmallFs::mount(40) {
        Ok(fs) => fs,
        Err(e) => {
            eprintln!(
                "SKIPPED below_the_ledger_reserve_transactions_are_refused_before_the_disk_is_full: cannot mount a small filesystem here ({e})"
            );
            return;
        }
    };
    let dir = fs.path().join("node");
    let (genesis, auth) = init_chain(&dir);
    let mut node = NodeProc::start_with(&dir, &["--upload-reserve-mib", "8", "--ledger-reserve-mib", "8"]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let c = Client::new(node.base.clone(), genesis.chain_id.clone(), &auth);
    rt.block_on(async {
        let before = registrations(&genesis.chain_id, "reserve-before", 20, 2000);
        let (s, v) = submit_batch(&c, &before).await;
        assert_eq!(s, 200, "{v}");
        let ballast = super::small_fs::fill_leaving(fs.path(), 2 << 20);
        let low = registrations(&genesis.chain_id, "reserve-low", 20, 2000);
        let (s, v) = submit_batch(&c, &low).await;
        assert_eq!(s, 503, "{v}");
        assert_eq!(v["code"], "disk_low", "{v}");
        assert!(v["message"].as_str().unwrap().contains("disk is nearly full"), "{v}");
        for t in &before {
            assert_eq!(c.get(&format!("/v1/transactions/{}", t.id())).await.0, 200);
        }
        std::fs::remove_file(&ballast).unwrap();
        let (s, v) = submit_batch(&c, &low).await;
        assert_eq!(s, 200, "once space is back: {v}");
        assert!(v["results"].as_array().unwrap().iter().all(|r| r["ok"].is_object()), "{v}");
    });
    assert!(node.child.try_wait().unwrap().is_none(), "the node stopped");
    node.sigkill();
}

/// A signed request used once before a restart is refused after it (the nonces a node
/// remembers are in memory: before, the same request was accepted again within its window),
/// and a request signed afresh is served.
#[test]
fn a_signed_request_used_before_a_restart_is_refused_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, auth) = init_chain(dir.path());
    let mut node = NodeProc::start(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let patient = key("restart-replay-patient");
    let path = format!("/v1/patients/{}/audit", pk(&patient).address());
    let c = Client::new(node.base.clone(), genesis.chain_id.clone(), &auth);
    let used = rt.block_on(async {
        c.ok(&c.tx(&patient, 1, register(&patient, 100))).await;
        let used = c.header(&patient, "GET", &path, b"");
        let r = c.http.get(format!("{}{path}", c.base)).header("authorization", used.clone()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        used
    });
    node.sigkill();
    let node = NodeProc::start(dir.path());
    let c = Client::new(node.base.clone(), genesis.chain_id.clone(), &auth);
    rt.block_on(async {
        let r = c.http.get(format!("{}{path}", c.base)).header("authorization", used).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "the request used before the restart is refused");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "stale_request", "{v}");
        assert!(v["message"].as_str().unwrap().contains("before this node last started"), "{v}");
        let (s, v) = c.get_as(&patient, &path).await;
        assert_eq!(s, 200, "a request signed afresh: {v}");
    });
}
