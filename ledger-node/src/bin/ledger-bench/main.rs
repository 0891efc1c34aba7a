//! Ledger benchmark, run as its own load process against a real node binary: (1) the
//! verify-only ceiling (libsecp256k1 on all cores), (2) sustained accepted-and-durably-
//! committed tx/s over HTTP, (3) submit→commit latency at half that load. Prints the
//! figures and, last, one machine-readable line. With `--cluster`: the single node's
//! throughput, then three cluster nodes' throughput and commit latency through the leader,
//! and the failover time after SIGKILLing the leader (median of three). With `--abuse`: one
//! address hammering the public port while other clients go on (`abuse.rs`).

mod abuse;

use anyhow::{Context, bail};
use ledger_node::verify::{Secp256k1Verifier, sign_fast};
use ledger_protocol::codec::Encode;
use ledger_protocol::{PublicKey, Sealed, SignatureVerifier, SignedTransaction, Transaction, TxBody, WrappedKey};
use rayon::prelude::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// `serve` on a free port with the public port's limits off (the load is one machine's),
/// then the data directory.
const SERVE_UNLIMITED: [&str; 14] = [
    "serve",
    "--listen",
    "127.0.0.1:0",
    "--rate-per-address",
    "0",
    "--rate-per-account",
    "0",
    "--max-in-flight",
    "0",
    "--registrations-per-hour",
    "0",
    "--txs-per-address",
    "0",
    "--data-dir",
];

struct Args {
    node_bin: PathBuf,
    cluster: bool,
    abuse: bool,
    seconds: f64,
    batch: usize,
    connections: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        node_bin: PathBuf::from("target/release/ledger-node"),
        cluster: false,
        abuse: false,
        seconds: 8.0,
        batch: 1024,
        connections: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--node-bin" => a.node_bin = val()?.into(),
            "--seconds" => a.seconds = val()?.parse()?,
            "--batch" => a.batch = val()?.parse()?,
            "--connections" => a.connections = val()?.parse()?,
            "--cluster" => a.cluster = true,
            "--abuse" => a.abuse = true,
            "-h" | "--help" => {
                println!(
                    "ledger-bench [--node-bin PATH] [--seconds S] [--batch N] [--connections C] [--cluster | --abuse]"
                );
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
                body: TxBody::RegisterPatient { encryption_key: pk, profile: bench_profile(&pk, &seed) },
            };
            sign_fast(tx, &sk)
        })
        .collect()
}

/// A sealed profile of a real one's size (a name and a date of birth: about 60 bytes of
/// JSON, the wallet's 41 bytes of envelope, one 106-byte wrapped key); the node never
/// decrypts, so its bytes need only be distinct.
fn bench_profile(pk: &PublicKey, seed: &[u8; 32]) -> Sealed {
    let ciphertext = seed.iter().chain(pk.0.iter()).cycle().take(101).copied().collect();
    Sealed { ciphertext, keys: vec![WrappedKey { reader: pk.address(), wrapped: vec![1; 106] }] }
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
    if args.cluster {
        return cluster_main(&args);
    }
    if args.abuse {
        return abuse::abuse_main(&args);
    }
    let dir = std::env::temp_dir().join(format!("ledger-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    init_single(&args, &dir)?;

    // Load for the throughput phase: more than the node could take in the window.
    let n_load = 400_000usize;
    eprintln!("signing {n_load} transactions for the load...");
    let load = make_txs("bench-chain", n_load, 1);
    let n_lat = 200_000usize;
    let lat_txs = make_txs("bench-chain", n_lat, 2);

    // (1) Verify-only ceiling, all cores, nothing else running.
    let ceil = ceiling(&load[..50_000], 3.0);
    println!("verify-only ceiling: {ceil:.0} signatures/s on {} threads (libsecp256k1)", rayon::current_num_threads());

    let (mut node, base) = spawn_node(&args.node_bin, &SERVE_UNLIMITED, &dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = rt.block_on(async {
        let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
        let tps = throughput(&http, &base, &load, &args).await?;
        let (p50, p99) = latency(&http, &base, tps, &lat_txs).await?;
        signed_read_overhead(&http, &base, &dir).await?;
        if let Ok(r) = http.get(format!("{base}/metrics")).send().await {
            let text = r.text().await.unwrap_or_default();
            for l in text
                .lines()
                .filter(|l| l.starts_with("ledger_block_commit_seconds") || l.starts_with("ledger_blocks_total"))
            {
                eprintln!("  node {l}");
            }
        }
        anyhow::Ok((tps, p50, p99))
    });
    // Stop it hard and start it again on the same data: it must re-verify every block it
    // acknowledged (a block it could not read back would stop it here).
    let _ = node.kill();
    let _ = node.wait();
    let restart = Instant::now();
    let restarted = spawn_node(&args.node_bin, &SERVE_UNLIMITED, &dir);
    let restarted = restarted.and_then(|(mut n, base)| {
        let took = restart.elapsed().as_secs_f64();
        let info =
            rt.block_on(async { reqwest::get(format!("{base}/v1/info")).await?.json::<serde_json::Value>().await });
        let _ = n.kill();
        let _ = n.wait();
        Ok((took, info?))
    });
    let _ = std::fs::remove_dir_all(&dir);
    let (tps, p50, p99) = result?;
    let (took, info) = restarted.context("the node did not start again on the data it had acknowledged")?;
    println!(
        "restart: after a SIGKILL the node re-verified its chain ({} blocks) and listened again in {took:.2} s",
        info["height"]
    );
    let ratio = tps / ceil;
    println!("ledger tx_per_s={tps:.0} ceiling_per_s={ceil:.0} ratio={ratio:.3} p50_ms={p50:.2} p99_ms={p99:.2}");
    Ok(())
}

/// What signing a read costs: the median latency of the same read (the authority's own
/// account) anonymous and signed, interleaved one for one, the signing on the client
/// included.
async fn signed_read_overhead(http: &reqwest::Client, base: &str, dir: &Path) -> anyhow::Result<()> {
    use ledger_protocol::wire::{ApiRequest, body_hash};
    let hex_key = std::fs::read_to_string(dir.join("authority.key")).context("reading the authority key")?;
    let key = k256::ecdsa::SigningKey::from_slice(&hex::decode(hex_key.trim())?)
        .map_err(|_| anyhow::anyhow!("the authority key is not a key"))?;
    let me = PublicKey::from(key.verifying_key());
    let info: serde_json::Value = http.get(format!("{base}/v1/info")).send().await?.json().await?;
    let chain = info["chain_id"].as_str().context("no chain id")?.to_owned();
    let path = format!("/v1/accounts/{}", me.address());
    let (mut plain, mut signed) = (Vec::new(), Vec::new());
    for i in 0..600u64 {
        let t = Instant::now();
        let r = http.get(format!("{base}{path}")).send().await?;
        anyhow::ensure!(r.status().is_success(), "anonymous read answered {}", r.status());
        r.bytes().await?;
        plain.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let mut nonce = vec![0u8; 16];
        nonce[..8].copy_from_slice(&i.to_be_bytes());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64;
        let header = ApiRequest {
            chain_id: chain.clone(),
            audience: me.address(),
            method: "GET".into(),
            path: path.clone(),
            body_hash: body_hash(b""),
            timestamp_ms: now,
            nonce,
            signer: me,
        }
        .sign(&key)
        .to_header();
        let r = http.get(format!("{base}{path}")).header("authorization", header).send().await?;
        anyhow::ensure!(r.status().is_success(), "signed read answered {}", r.status());
        r.bytes().await?;
        signed.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut plain), median(&mut signed));
    println!("signed_read p50_ms anonymous={a:.3} signed={b:.3} added_ms={:.3} (goal <= 1 ms)", b - a);
    Ok(())
}

fn init_single(args: &Args, dir: &Path) -> anyhow::Result<()> {
    let st =
        Command::new(&args.node_bin).args(["init", "--chain-id", "bench-chain", "--data-dir"]).arg(dir).output()?;
    if !st.status.success() {
        bail!("ledger-node init failed: {}", String::from_utf8_lossy(&st.stderr));
    }
    Ok(())
}

/// Starts the node binary with `args` then `path`; returns it and the API base URL it printed.
fn spawn_node(bin: &Path, args: &[&str], path: &Path) -> anyhow::Result<(Child, String)> {
    let level = std::env::var("BENCH_NODE_LOG").unwrap_or_else(|_| "warn".into());
    let mut node = Command::new(bin).args(args).arg(path).env("RUST_LOG", level).stdout(Stdio::piped()).spawn()?;
    let mut lines = BufReader::new(node.stdout.take().context("node stdout")?).lines();
    let base = loop {
        let line = lines.next().context("node exited before listening")??;
        if let Some(rest) = line.strip_prefix("ledger node listening on ") {
            break rest.trim().to_owned();
        }
        if let Some(rest) = line.strip_prefix("cluster node ")
            && let Some(url) = rest.split_whitespace().find(|w| w.starts_with("http://"))
        {
            break url.to_owned();
        }
    };
    // The node logs to stdout: shown (at the level BENCH_NODE_LOG names) only when asked.
    let show = std::env::var("BENCH_NODE_LOG").is_ok();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if show {
                eprintln!("node: {line}");
            }
        }
    });
    Ok((node, base))
}

/// Sustained throughput: C connections, each sending the next batch as soon as the
/// previous one is committed. Accepted transactions per second.
async fn throughput(
    http: &reqwest::Client,
    base: &str,
    load: &[SignedTransaction],
    args: &Args,
) -> anyhow::Result<f64> {
    let url = format!("{base}/v1/transactions/batch");
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
    println!(
        "sustained: {accepted} transactions accepted and durably committed in {elapsed:.2} s = {tps:.0} tx/s (batches of {}, {} connections)",
        args.batch, args.connections
    );
    Ok(tps)
}

/// Latency at half of `tps`, open loop: small batches sent on a fixed schedule. (p50, p99) in ms.
async fn latency(
    http: &reqwest::Client,
    base: &str,
    tps: f64,
    lat_txs: &[SignedTransaction],
) -> anyhow::Result<(f64, f64)> {
    let url = format!("{base}/v1/transactions/batch");
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
    Ok((p50, p99))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Three nodes on loopback: the single-node figure first, then the cluster's throughput and
/// commit latency through its leader, then the failover time (median of three leader kills).
fn cluster_main(args: &Args) -> anyhow::Result<()> {
    let root = std::env::temp_dir().join(format!("cluster-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let single_dir = root.join("single");
    init_single(args, &single_dir)?;
    let n_load = 300_000usize;
    eprintln!("signing {n_load} transactions for the load...");
    // The single node and the cluster are separate chains with the same id: one load serves both.
    let load = make_txs("bench-chain", n_load, 1);
    let lat_txs = make_txs("bench-chain", 100_000, 2);
    let probes = make_txs("bench-chain", 20_000, 3);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;

    let (mut single, base) = spawn_node(&args.node_bin, &SERVE_UNLIMITED, &single_dir)?;
    let single_tps = rt.block_on(throughput(&http, &base, &load, args));
    let _ = single.kill();
    let _ = single.wait();
    let single_tps = single_tps?;
    println!("single node: {single_tps:.0} tx/s");

    let cdir = root.join("cluster");
    let st = Command::new(&args.node_bin)
        .args(["init-cluster", "--chain-id", "bench-chain", "--nodes", "3", "--dir"])
        .arg(&cdir)
        .output()?;
    if !st.status.success() {
        bail!("ledger-node init-cluster failed: {}", String::from_utf8_lossy(&st.stderr));
    }
    let ports: Vec<(u16, u16)> = (0..3).map(|_| Ok((free_port()?, free_port()?))).collect::<anyhow::Result<_>>()?;
    for i in 1..=3 {
        // One load process stands in for many clients: no rate limits.
        let toml = ledger_node::config::loopback_node_toml(&cdir, i, &ports, false)?
            + "\n[limits]\nrate_per_address = 0\nrate_per_account = 0\nmax_in_flight = 0\nregistrations_per_hour = 0\ntxs_per_address = 0\n";
        std::fs::write(cdir.join(format!("node{i}.toml")), toml)?;
    }
    let apis: Vec<String> = ports.iter().map(|(a, _)| format!("http://127.0.0.1:{a}")).collect();
    let start = |i: usize| spawn_node(&args.node_bin, &["serve", "--cluster"], &cdir.join(format!("node{i}.toml")));
    let mut nodes: Vec<Option<Child>> = Vec::new();
    for i in 1..=3 {
        nodes.push(Some(start(i)?.0));
    }
    let result = (|| -> anyhow::Result<(f64, f64, f64)> {
        let leader = rt.block_on(wait_leader(&http, &apis, &[0, 1, 2]))?;
        let leader_api = apis[leader].clone();
        let tps = rt.block_on(throughput(&http, &leader_api, &load, args))?;
        let (_, p99) = rt.block_on(latency(&http, &leader_api, tps, &lat_txs))?;
        let mut failovers = Vec::new();
        let mut probe_at = 0usize;
        let mut leader = leader;
        for round in 0..3 {
            let alive: Vec<usize> = (0..3).filter(|&j| j != leader).collect();
            let kill_at = Instant::now();
            if let Some(mut n) = nodes[leader].take() {
                n.kill()?;
                n.wait()?;
            }
            let ms = rt.block_on(first_write_after(&http, &apis, &alive, &probes, &mut probe_at, kill_at))?;
            println!(
                "failover round {}: the first write a new leader accepted was sent {ms:.0} ms after the kill",
                round + 1
            );
            failovers.push(ms);
            nodes[leader] = Some(start(leader + 1)?.0);
            leader = rt.block_on(wait_leader(&http, &apis, &[0, 1, 2]))?;
        }
        failovers.sort_by(|a, b| a.total_cmp(b));
        Ok((tps, p99, failovers[1]))
    })();
    for n in nodes.iter_mut().flatten() {
        let _ = n.kill();
        let _ = n.wait();
    }
    let _ = std::fs::remove_dir_all(&root);
    let (tps, p99, failover) = result?;
    let ratio = tps / single_tps;
    println!("cluster tx_per_s={tps:.0} ratio={ratio:.3} p99_ms={p99:.2} failover_ms={failover:.0}");
    Ok(())
}

/// Waits until the nodes at `among` agree on a leader; its index.
async fn wait_leader(http: &reqwest::Client, apis: &[String], among: &[usize]) -> anyhow::Result<usize> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        let mut seen = Vec::new();
        for &j in among {
            let v: Option<serde_json::Value> = match http.get(format!("{}/v1/cluster", apis[j])).send().await {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
            seen.push(v.and_then(|v| v["leader"]["id"].as_u64()));
        }
        if let Some(Some(l)) = seen.first()
            && seen.iter().all(|s| *s == Some(*l))
        {
            return Ok(*l as usize - 1);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("the cluster did not agree on a leader within 30 s")
}

/// Two clients keep sending single writes to the surviving nodes, moving on from a node
/// that refuses; the time from the kill to sending the first write that was acknowledged.
async fn first_write_after(
    http: &reqwest::Client,
    apis: &[String],
    alive: &[usize],
    probes: &[SignedTransaction],
    next: &mut usize,
    kill_at: Instant,
) -> anyhow::Result<f64> {
    let counter = Arc::new(AtomicUsize::new(*next));
    let probes = Arc::new(probes.to_vec());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let mut tasks = Vec::new();
    for c in 0..2 {
        let (http, apis, alive, probes, counter, tx) =
            (http.clone(), apis.to_vec(), alive.to_vec(), probes.clone(), counter.clone(), tx.clone());
        tasks.push(tokio::spawn(async move {
            let mut target = c % alive.len();
            loop {
                let i = counter.fetch_add(1, Ordering::SeqCst);
                let Some(t) = probes.get(i) else { return };
                let body = serde_json::json!({ "tx": hex::encode(t.to_canonical_bytes()) });
                let sent = Instant::now();
                let r = http
                    .post(format!("{}/v1/transactions", apis[alive[target]]))
                    .json(&body)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => {
                        let _ = tx.send(sent);
                    }
                    _ => {
                        target = (target + 1) % alive.len();
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
        }));
    }
    drop(tx);
    // When a surviving node first calls itself the leader, to tell election from the rest.
    let elected = {
        let (http, apis, alive) = (http.clone(), apis.to_vec(), alive.to_vec());
        tokio::spawn(async move {
            loop {
                for &j in &alive {
                    if let Ok(r) = http.get(format!("{}/v1/cluster", apis[j])).send().await
                        && let Ok(v) = r.json::<serde_json::Value>().await
                        && v["state"] == "Leader"
                    {
                        return kill_at.elapsed();
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let first = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await;
    for t in &tasks {
        t.abort();
    }
    if let Ok(Ok(e)) = tokio::time::timeout(Duration::from_secs(1), elected).await {
        eprintln!("  a new leader was elected {} ms after the kill", e.as_millis());
    }
    *next = counter.load(Ordering::SeqCst) + 1;
    match first {
        Ok(Some(sent)) => Ok(sent.duration_since(kill_at).as_secs_f64() * 1000.0),
        _ => bail!("no write was acknowledged within 30 s of killing the leader"),
    }
}
