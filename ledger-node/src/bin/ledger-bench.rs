//! Ledger benchmark, run as its own load process against a real node binary: (1) the
//! verify-only ceiling (libsecp256k1 on all cores), (2) sustained accepted-and-durably-
//! committed tx/s over HTTP, (3) submit→commit latency at half that load. Prints the
//! figures and, last, one machine-readable line.

use anyhow::{Context, bail};
use ledger_node::verify::{Secp256k1Verifier, sign_fast};
use ledger_protocol::codec::Encode;
use ledger_protocol::{PublicKey, SignatureVerifier, SignedTransaction, Transaction, TxBody};
use rayon::prelude::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Args {
    node_bin: PathBuf,
    seconds: f64,
    batch: usize,
    connections: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a =
        Args { node_bin: PathBuf::from("target/release/ledger-node"), seconds: 8.0, batch: 1024, connections: 3 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--node-bin" => a.node_bin = val()?.into(),
            "--seconds" => a.seconds = val()?.parse()?,
            "--batch" => a.batch = val()?.parse()?,
            "--connections" => a.connections = val()?.parse()?,
            "-h" | "--help" => {
                println!("ledger-bench [--node-bin PATH] [--seconds S] [--batch N] [--connections C]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

/// Fresh self-registrations: each is valid on its own, so every one should be accepted.
fn make_txs(chain: &str, n: usize, salt: u64) -> Vec<SignedTransaction> {
    let secp = secp256k1::Secp256k1::signing_only();
    (0..n)
        .into_par_iter()
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&salt.to_be_bytes());
            seed[8..16].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            seed[31] = 1;
            let sk = secp256k1::SecretKey::from_slice(&seed).expect("valid scalar");
            let pk = PublicKey(secp256k1::PublicKey::from_secret_key(&secp, &sk).serialize());
            let tx = Transaction {
                chain_id: chain.to_owned(),
                signer: pk,
                nonce: 1,
                body: TxBody::RegisterPatient { name: format!("Bench patient {salt}-{i}"), encryption_key: pk },
            };
            sign_fast(tx, &sk)
        })
        .collect()
}

fn ceiling(txs: &[SignedTransaction], min_secs: f64) -> f64 {
    let prepared: Vec<_> = txs.iter().map(|t| (t.tx.signer, t.tx.signing_hash(), t.signature)).collect();
    let start = Instant::now();
    let mut done = 0usize;
    while start.elapsed().as_secs_f64() < min_secs {
        let ok = prepared.par_iter().filter(|(k, d, s)| Secp256k1Verifier.verify(k, d, s)).count();
        assert_eq!(ok, prepared.len(), "every benchmark signature verifies");
        done += ok;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

fn batch_body(txs: &[SignedTransaction]) -> Vec<u8> {
    let hexes: Vec<String> = txs.iter().map(|t| hex::encode(t.to_canonical_bytes())).collect();
    serde_json::to_vec(&serde_json::json!({ "txs": hexes })).expect("serialising strings")
}

/// Accepted transactions in a batch answer, counted without building a JSON tree: every
/// accepted item is an `{"ok": ...}` object (see `ledger_protocol::wire::BatchItem`).
fn count_ok(body: &[u8]) -> usize {
    body.windows(5).filter(|w| w == b"{\"ok\"").count()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let dir = std::env::temp_dir().join(format!("ledger-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let st =
        Command::new(&args.node_bin).args(["init", "--chain-id", "bench-chain", "--data-dir"]).arg(&dir).output()?;
    if !st.status.success() {
        bail!("ledger-node init failed: {}", String::from_utf8_lossy(&st.stderr));
    }

    // Load for the throughput phase: more than the node could take in the window.
    let n_load = 400_000usize;
    eprintln!("signing {n_load} transactions for the load...");
    let load = make_txs("bench-chain", n_load, 1);
    let n_lat = 200_000usize;
    let lat_txs = make_txs("bench-chain", n_lat, 2);

    // (1) Verify-only ceiling, all cores, nothing else running.
    let ceil = ceiling(&load[..50_000], 3.0);
    println!("verify-only ceiling: {ceil:.0} signatures/s on {} threads (libsecp256k1)", rayon::current_num_threads());

    let mut node = Command::new(&args.node_bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(node.stdout.take().context("node stdout")?).lines();
    let base = loop {
        let line = lines.next().context("node exited before listening")??;
        if let Some(rest) = line.strip_prefix("ledger node listening on ") {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = rt.block_on(async {
        let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
        let url = format!("{base}/v1/transactions/batch");

        // (2) Sustained throughput: C connections, each sending the next batch as soon as
        // the previous one is committed.
        let bodies: Arc<Vec<Vec<u8>>> = Arc::new(load.chunks(args.batch).map(batch_body).collect());
        let next = Arc::new(AtomicUsize::new(0));
        let window = Duration::from_secs_f64(args.seconds);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..args.connections {
            let (http, url, bodies, next) = (http.clone(), url.clone(), bodies.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut ok = 0usize;
                while start.elapsed() < window {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(body) = bodies.get(i) else { break };
                    let r = http.post(&url).header("content-type", "application/json").body(body.clone()).send().await?;
                    ok += count_ok(&r.bytes().await?);
                }
                anyhow::Ok(ok)
            }));
        }
        let mut accepted = 0;
        for t in tasks {
            accepted += t.await??;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let tps = accepted as f64 / elapsed;
        println!("sustained: {accepted} transactions accepted and durably committed in {elapsed:.2} s = {tps:.0} tx/s (batches of {}, {} connections)", args.batch, args.connections);

        // (3) Latency at half that load, open loop: small batches sent on a fixed schedule.
        let rate = (tps / 2.0).max(1.0);
        let small = 16usize;
        let interval = Duration::from_secs_f64(small as f64 / rate);
        let lat_bodies: Vec<Vec<u8>> = lat_txs.chunks(small).map(batch_body).collect();
        let lat_window = Duration::from_secs(5);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<anyhow::Result<(f64, usize)>>();
        let start = Instant::now();
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut sent_txs = 0usize;
        for body in lat_bodies {
            if start.elapsed() >= lat_window {
                break;
            }
            ticker.tick().await;
            sent_txs += small;
            let (http, url, tx) = (http.clone(), url.clone(), tx.clone());
            tokio::spawn(async move {
                let t0 = Instant::now();
                let r = async {
                    let resp = http.post(&url).header("content-type", "application/json").body(body).send().await?;
                    let body = resp.bytes().await?;
                    anyhow::Ok((t0.elapsed().as_secs_f64() * 1000.0, count_ok(&body)))
                }
                .await;
                let _ = tx.send(r);
            });
        }
        drop(tx);
        let mut lats = Vec::new();
        let mut committed = 0;
        while let Some(r) = rx.recv().await {
            let (ms, ok) = r?;
            committed += ok;
            lats.extend(std::iter::repeat_n(ms, ok));
        }
        let offered = sent_txs as f64 / start.elapsed().as_secs_f64();
        lats.sort_by(|a, b| a.total_cmp(b));
        let (p50, p99) = (percentile(&lats, 0.50), percentile(&lats, 0.99));
        println!(
            "latency at half load: offered {offered:.0} tx/s, {committed} committed, submit→commit p50 {p50:.2} ms, p90 {:.2} ms, p99 {p99:.2} ms, max {:.2} ms",
            percentile(&lats, 0.90),
            percentile(&lats, 1.0)
        );
        if let Ok(r) = http.get(format!("{base}/metrics")).send().await {
            let text = r.text().await.unwrap_or_default();
            for l in text.lines().filter(|l| l.starts_with("ledger_block_commit_seconds") || l.starts_with("ledger_blocks_total")) {
                eprintln!("  node {l}");
            }
        }
        anyhow::Ok((tps, p50, p99))
    });
    let _ = node.kill();
    let _ = node.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let (tps, p50, p99) = result?;
    let ratio = tps / ceil;
    println!("ledger tx_per_s={tps:.0} ceiling_per_s={ceil:.0} ratio={ratio:.3} p50_ms={p50:.2} p99_ms={p99:.2}");
    Ok(())
}
