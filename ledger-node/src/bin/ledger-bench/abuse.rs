//! `ledger-bench --abuse`: one address hammers the public port far beyond its rate (many
//! connections, batches as fast as they go) while other clients, each from its own loopback
//! address, go on at a steady pace of single submissions. Prints their submit→commit
//! latency alone and under the hammer, what the hammer got (mostly 429), and, after a
//! SIGKILL and a restart, whether every acknowledged transaction is on the ledger.

use super::{Args, batch_body, init_single, make_txs, percentile, spawn_node};
use anyhow::{Context, ensure};
use ledger_protocol::SignedTransaction;
use ledger_protocol::codec::Encode;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Other clients: how many, each from its own address, and how often each submits.
const CLIENTS: u8 = 8;
const EVERY: Duration = Duration::from_millis(40);
/// The hammer: connections from one address, each sending batches of this many.
const HAMMER_CONNECTIONS: usize = 32;
const HAMMER_BATCH: usize = 16;

fn client_from(ip: [u8; 4]) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().local_address(IpAddr::V4(Ipv4Addr::from(ip))).pool_max_idle_per_host(64).build()?)
}

/// Latencies (ms) and ids of what the other clients got acknowledged in `window`.
struct Steady {
    latencies: Vec<f64>,
    acked: Vec<ledger_protocol::Hash>,
    refused: usize,
}

/// The other clients' steady load for `window`: each of `CLIENTS` submits one transaction
/// every `EVERY` without waiting for the last, from 127.0.0.(10 + i).
async fn steady(
    base: &str,
    txs: &mut std::vec::IntoIter<SignedTransaction>,
    window: Duration,
) -> anyhow::Result<Steady> {
    let clients: Vec<reqwest::Client> =
        (0..CLIENTS).map(|i| client_from([127, 0, 0, 10 + i])).collect::<anyhow::Result<_>>()?;
    let url = format!("{base}/v1/transactions");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Option<f64>, ledger_protocol::Hash)>();
    let start = Instant::now();
    let mut ticker = tokio::time::interval(EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while start.elapsed() < window {
        ticker.tick().await;
        for c in &clients {
            let t = txs.next().context("the other clients ran out of transactions")?;
            let (c, url, tx) = (c.clone(), url.clone(), tx.clone());
            let body = serde_json::json!({ "tx": hex::encode(t.to_canonical_bytes()) }).to_string();
            let id = t.id();
            tokio::spawn(async move {
                let t0 = Instant::now();
                let ok = match c.post(&url).header("content-type", "application/json").body(body).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                let _ = tx.send((ok.then(|| t0.elapsed().as_secs_f64() * 1000.0), id));
            });
        }
    }
    drop(tx);
    let mut out = Steady { latencies: Vec::new(), acked: Vec::new(), refused: 0 };
    while let Some((ms, id)) = rx.recv().await {
        match ms {
            Some(ms) => {
                out.latencies.push(ms);
                out.acked.push(id);
            }
            None => out.refused += 1,
        }
    }
    out.latencies.sort_by(f64::total_cmp);
    Ok(out)
}

/// What the hammer's requests were answered.
#[derive(Default)]
struct Hammered {
    requests: usize,
    limited: usize,
    shed: usize,
    other: usize,
    acked: Vec<ledger_protocol::Hash>,
}

/// `HAMMER_CONNECTIONS` loops from 127.0.0.2, each posting batches back to back until `stop`.
async fn hammer(base: String, txs: Vec<SignedTransaction>, stop: Arc<AtomicBool>) -> anyhow::Result<Hammered> {
    let c = client_from([127, 0, 0, 2])?;
    let url = format!("{base}/v1/transactions/batch");
    let per = txs.len() / HAMMER_CONNECTIONS;
    let mut tasks = Vec::new();
    for part in txs.chunks(per.max(1)).take(HAMMER_CONNECTIONS) {
        let (c, url, stop, part) = (c.clone(), url.clone(), stop.clone(), part.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut h = Hammered::default();
            for batch in part.chunks(HAMMER_BATCH) {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                h.requests += 1;
                let Ok(r) =
                    c.post(&url).header("content-type", "application/json").body(batch_body(batch)).send().await
                else {
                    h.other += 1;
                    continue;
                };
                match r.status().as_u16() {
                    200 => {
                        let body: serde_json::Value = r.json().await.unwrap_or_default();
                        let results = body["results"].as_array().cloned().unwrap_or_default();
                        for (t, res) in batch.iter().zip(results) {
                            if res.get("ok").is_some() {
                                h.acked.push(t.id());
                            }
                        }
                    }
                    429 => h.limited += 1,
                    503 => h.shed += 1,
                    _ => h.other += 1,
                }
            }
            h
        }));
    }
    let mut all = Hammered::default();
    for t in tasks {
        let h = t.await?;
        all.requests += h.requests;
        all.limited += h.limited;
        all.shed += h.shed;
        all.other += h.other;
        all.acked.extend(h.acked);
    }
    Ok(all)
}

/// Every transaction id on the ledger at `base`, from the public part of its blocks.
async fn ledger_ids(base: &str) -> anyhow::Result<HashSet<ledger_protocol::Hash>> {
    let http = reqwest::Client::new();
    let info: serde_json::Value = http.get(format!("{base}/v1/info")).send().await?.json().await?;
    let height = info["height"].as_u64().context("no height")?;
    let mut ids = HashSet::new();
    for h in 1..=height {
        let b: serde_json::Value = http.get(format!("{base}/v1/blocks/{h}")).send().await?.json().await?;
        for id in b["tx_ids"].as_array().context("a block without tx_ids")? {
            ids.insert(
                ledger_protocol::Hash::from_hex(id.as_str().unwrap_or_default()).map_err(|e| anyhow::anyhow!("{e}"))?,
            );
        }
    }
    Ok(ids)
}

fn summary(s: &Steady) -> String {
    format!(
        "{} acknowledged, {} refused, submit→commit p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        s.acked.len(),
        s.refused,
        percentile(&s.latencies, 0.5),
        percentile(&s.latencies, 0.99),
        percentile(&s.latencies, 1.0)
    )
}

pub fn abuse_main(args: &Args) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("ledger-bench-abuse-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    init_single(args, &dir)?;
    let window = Duration::from_secs_f64(args.seconds);
    let per_window = (window.as_secs_f64() / EVERY.as_secs_f64()).ceil() as usize * CLIENTS as usize + 64;
    eprintln!("signing the transactions...");
    let mut honest = make_txs("bench-chain", 2 * per_window, 5).into_iter();
    let hammer_txs = make_txs("bench-chain", 400_000, 6);
    // The node as a hospital runs it: the default limits (the other clients' registrations
    // come from one machine here, so that limit alone is off).
    let serve = ["serve", "--listen", "127.0.0.1:0", "--registrations-per-hour", "0", "--data-dir"];
    let (mut node, base) = spawn_node(&args.node_bin, &serve, &dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = rt.block_on(async {
        let alone = steady(&base, &mut honest, window).await?;
        println!("other clients alone ({CLIENTS} addresses, {:.0} tx/s): {}", CLIENTS as f64 / EVERY.as_secs_f64(), summary(&alone));
        let stop = Arc::new(AtomicBool::new(false));
        let hammering = tokio::spawn(hammer(base.clone(), hammer_txs, stop.clone()));
        // Past the hammer's first burst (five seconds of its rate), to measure the steady state too.
        let under = steady(&base, &mut honest, window).await?;
        stop.store(true, Ordering::SeqCst);
        let hammered = hammering.await??;
        println!("other clients under the hammer: {}", summary(&under));
        println!(
            "hammer from one address ({HAMMER_CONNECTIONS} connections, batches of {HAMMER_BATCH}): {} requests, {} answered 429, {} answered 503, {} other; {} transactions acknowledged",
            hammered.requests,
            hammered.limited,
            hammered.shed,
            hammered.other,
            hammered.acked.len()
        );
        anyhow::Ok((alone, under, hammered))
    });
    let _ = node.kill();
    let _ = node.wait();
    let (alone, under, hammered) = result?;
    // Restarted on the same data: everything acknowledged, to anyone, is on the ledger.
    let (mut node, base) = spawn_node(&args.node_bin, &serve, &dir)?;
    let ids = rt.block_on(ledger_ids(&base));
    let _ = node.kill();
    let _ = node.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let ids = ids?;
    let acked: Vec<_> = alone.acked.iter().chain(&under.acked).chain(&hammered.acked).collect();
    let lost = acked.iter().filter(|id| !ids.contains(id)).count();
    println!(
        "after a SIGKILL and a restart: {} acknowledged transactions, {lost} missing from the ledger",
        acked.len()
    );
    ensure!(lost == 0, "{lost} acknowledged transactions are missing after the restart");
    println!(
        "abuse p99_ms_alone={:.2} p99_ms_hammered={:.2} hammer_requests={} hammer_429={} acknowledged={} lost={lost}",
        percentile(&alone.latencies, 0.99),
        percentile(&under.latencies, 0.99),
        hammered.requests,
        hammered.limited,
        acked.len()
    );
    Ok(())
}
