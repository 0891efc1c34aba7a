//! Issue 14, limits on the public port: a client over its rate (per address, per account) is
//! answered 429 with Retry-After while others are still served; requests beyond the cap in
//! flight are shed with 503; a client that never finishes its headers, or drips its body, is
//! cut off; connections beyond the cap wait. Each test starts a node with small limits.

use super::*;
use ledger_node::limits::{Limits, Rate};
use std::net::{IpAddr, Ipv4Addr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An in-process node with `limits`; its client, authority key and base URL.
async fn limited(limits: Limits) -> (Client, k256::ecdsa::SigningKey, tempfile::TempDir) {
    let (c, k, dir, _) = in_process_limited(ledger_node::ledger::system_clock(), false, limits).await;
    (c, k, dir)
}

/// A client whose connections come from `ip` (any 127.x.y.z is this machine).
fn from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::V4(Ipv4Addr::from(ip))).build().unwrap()
}

/// A batch of a million empty strings is refused as too large, with its count, and the node
/// goes on taking batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_past_the_limit_is_refused_with_its_count() {
    let (c, _, _dir) = limited(Limits::default()).await;
    let body = format!("{{\"txs\":[{}]}}", vec!["\"\""; 1_000_000].join(","));
    let r = c.http.post(format!("{}/v1/transactions/batch", c.base)).header("content-type", "application/json");
    let r = r.body(body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "too_large", "{v}");
    assert!(v["message"].as_str().unwrap().contains("this one holds 1000000"), "{v}");
    let (s, v) = c.post("/v1/transactions/batch", json!({ "txs": ["00"] })).await;
    assert_eq!(s, 200, "{v}");
}

/// Uploads stop short of the free-space reserve kept for blocks: refused with 503 disk_low,
/// Retry-After and why, while transactions still commit (before, an upload filled the disk
/// the next block needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_keep_clear_of_the_disk_reserve_and_transactions_go_on() {
    let free = rustix::fs::statvfs(std::env::temp_dir()).map(|s| s.f_bavail * s.f_frsize).unwrap();
    // A reserve just above what is free now: a small upload fits under it no longer.
    let limits = Limits { upload_reserve_bytes: free + 1024 * 1024 * 1024, ..Limits::default() };
    let (c, _, _dir) = limited(limits).await;
    let patient = key("reserve-patient");
    c.ok(&c.tx(&patient, 1, register(&patient, 100))).await;
    let r = c.put_blob_answer(&patient, b"\x01 an encrypted record").await;
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().get("retry-after").is_some(), "{:?}", r.headers());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "disk_low", "{v}");
    assert!(v["message"].as_str().unwrap().contains("keeps"), "{v}");
    let other = key("reserve-other");
    c.ok(&c.tx(&other, 1, register(&other, 100))).await;

    let (c, _, _dir) = limited(Limits::default()).await;
    c.ok(&c.tx(&patient, 1, register(&patient, 100))).await;
    let (s, v) = c.put_blob(&patient, b"\x01 an encrypted record").await;
    assert_eq!(s, 201, "with the default reserve and {} MiB free: {v}", free >> 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_rate_is_told_to_wait_and_others_are_still_served() {
    let limits = Limits { per_address: Rate { per_sec: 1, burst: 5 }, ..Limits::unmetered() };
    let (c, _, _dir) = limited(limits).await;
    let noisy = from([127, 0, 0, 2]);
    let mut refused = None;
    for _ in 0..8 {
        let r = noisy.get(format!("{}/v1/info", c.base)).send().await.unwrap();
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let r = refused.expect("the sixth request within a second is over the rate");
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait >= 1, "Retry-After {wait}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "rate_limited", "{v}");
    assert!(v["message"].as_str().unwrap().contains("Wait"), "{v}");
    // Another address is served meanwhile.
    let quiet = from([127, 0, 0, 3]);
    assert_eq!(quiet.get(format!("{}/v1/info", c.base)).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_over_its_rate_is_told_to_wait_and_other_accounts_are_not() {
    let limits = Limits { per_account: Rate { per_sec: 1, burst: 3 }, ..Limits::unmetered() };
    let (c, auth, _dir) = limited(limits).await;
    let cast = register_cast(&c, auth).await;
    let patient = pk(&cast.patient).address();
    let path = format!("/v1/patients/{patient}/consents");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(c.get_as(&cast.patient, &path).await.0);
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert_eq!(statuses[4], 429, "{statuses:?}");
    // The same address, another account: served.
    let (s, _) = c.get_as(&cast.doctor, &format!("/v1/grantees/{}/consents", pk(&cast.doctor).address())).await;
    assert_eq!(s, 200);
}

/// Opens a raw connection and sends `head` (a request line and headers, perhaps unfinished).
async fn raw(base: &str, head: &str) -> tokio::net::TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s
}

/// Reads what the node sends until it closes the connection (or `within` passes: None).
async fn read_to_close(s: &mut tokio::net::TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_cap_in_flight_are_shed_with_503() {
    let limits = Limits { max_in_flight: 1, ..Limits::unmetered() };
    let (c, auth, _dir) = limited(limits).await;
    let cast = register_cast(&c, auth).await;
    // A blob upload whose body has not all arrived holds the only place.
    let body = vec![7u8; 1000];
    let h = c.header(&cast.patient, "PUT", "/v1/blobs", &body);
    let head = format!(
        "PUT /v1/blobs HTTP/1.1\r\nhost: x\r\nauthorization: {h}\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let mut slow = raw(&c.base, &head).await;
    slow.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = reqwest::get(format!("{}/v1/info", c.base)).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "busy", "{v}");
    // The upload completes and is acknowledged; then the place is free again.
    slow.write_all(&body[10..]).await.unwrap();
    let mut answer = vec![0u8; 512];
    let n = slow.read(&mut answer).await.unwrap();
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 201"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    drop(slow);
    assert_eq!(reqwest::get(format!("{}/v1/info", c.base)).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_headers_and_dripping_bodies_are_cut_off() {
    let limits = Limits {
        header_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        ..Limits::unmetered()
    };
    let (c, auth, _dir) = limited(limits).await;
    let cast = register_cast(&c, auth).await;
    // Headers never finished: the connection is closed after about a second.
    let started = Instant::now();
    let mut s = raw(&c.base, "GET /v1/info HTTP/1.1\r\nhost: x\r\n").await;
    let seen = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert!(seen.is_some(), "the node should close a connection whose headers never end");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());

    // A body dripped slower than the request time allows: 408, and nothing was stored.
    let body = vec![9u8; 100];
    let h = c.header(&cast.patient, "PUT", "/v1/blobs", &body);
    let head =
        format!("PUT /v1/blobs HTTP/1.1\r\nhost: x\r\nauthorization: {h}\r\ncontent-length: {}\r\n\r\n", body.len());
    let mut s = raw(&c.base, &head).await;
    for b in body.chunks(10).take(4) {
        s.write_all(b).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut answer)).await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let limits = Limits { max_connections: 2, header_timeout: Duration::from_secs(2), ..Limits::unmetered() };
    let (c, _, _dir) = limited(limits).await;
    let idle1 = raw(&c.base, "").await;
    let idle2 = raw(&c.base, "").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let quick = reqwest::Client::builder().timeout(Duration::from_millis(700)).build().unwrap();
    assert!(quick.get(format!("{}/v1/info", c.base)).send().await.is_err(), "a third connection waits");
    drop((idle1, idle2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(reqwest::get(format!("{}/v1/info", c.base)).await.unwrap().status(), 200);
}

/// Registrations are free to make and stay on the ledger for good: one address gets
/// `registrations_per_hour` (bursts of a tenth), then 429 with Retry-After and nothing of the
/// request ordered; another address registers meanwhile; a batch with more registrations than
/// a burst is refused whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_from_one_address_are_limited_and_others_still_register() {
    let limits = Limits { registrations_per_hour: 20, ..Limits::unmetered() };
    let (c, _, _dir) = limited(limits).await;
    let chain = c.chain.clone();
    let reg = |name: &str| {
        let k = key(name);
        Transaction { chain_id: chain.clone(), signer: pk(&k), nonce: 1, body: register(&k, 100) }.sign(&k)
    };
    let hex = |t: &SignedTransaction| hex::encode(t.to_canonical_bytes());
    let send = async |http: &reqwest::Client, t: &SignedTransaction| {
        let r = http.post(format!("{}/v1/transactions", c.base)).json(&json!({ "tx": hex(t) })).send().await.unwrap();
        let wait = r.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        (r.status().as_u16(), wait, r.json::<Value>().await.unwrap())
    };
    let busy = from([127, 0, 0, 4]);
    for name in ["first", "second"] {
        let (s, _, v) = send(&busy, &reg(name)).await;
        assert_eq!(s, 200, "{v}");
    }
    let third = reg("third");
    let (s, wait, v) = send(&busy, &third).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (429, "registration_limited"), "{v}");
    assert!(wait.is_some_and(|w| w >= 1), "Retry-After {wait:?}");
    assert!(v["message"].as_str().unwrap().contains("network address"), "{v}");
    let unknown = c.get_as(&key("third"), &format!("/v1/accounts/{}", third.tx.signer.address())).await;
    assert_eq!(unknown.0, 404, "nothing of the refused request was ordered: {}", unknown.1);
    // Another address registers meanwhile.
    let (s, _, v) = send(&from([127, 0, 0, 5]), &reg("elsewhere")).await;
    assert_eq!(s, 200, "{v}");
    // A batch with more registrations than a burst (2) is refused whole.
    let batch: Vec<String> = ["b1", "b2", "b3"].iter().map(|n| hex(&reg(n))).collect();
    let r = from([127, 0, 0, 6])
        .post(format!("{}/v1/transactions/batch", c.base))
        .json(&json!({ "txs": batch }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "registration_limited");
}

/// Transactions count against their address's allowance by what a request holds, not one a
/// request: before, a batch of 2048 cost the same as one transaction, so one address within
/// its request rate could ask for ten times the signatures the node can verify. Over it: 429
/// with Retry-After, nothing of the batch ordered, and another address is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_are_counted_by_what_a_batch_holds() {
    let limits = Limits { txs_per_address: Rate { per_sec: 10, burst: 100 }, ..Limits::unmetered() };
    let (c, _, _dir) = limited(limits).await;
    let chain = c.chain.clone();
    let regs = |prefix: &str, n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                let k = key(&format!("{prefix}-{i}"));
                let t = Transaction { chain_id: chain.clone(), signer: pk(&k), nonce: 1, body: register(&k, 100) };
                hex::encode(t.sign(&k).to_canonical_bytes())
            })
            .collect()
    };
    let send = async |http: &reqwest::Client, txs: Vec<String>| {
        let r = http.post(format!("{}/v1/transactions/batch", c.base)).json(&json!({ "txs": txs })).send().await;
        let r = r.unwrap();
        let wait = r.headers().get("retry-after").map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        (r.status().as_u16(), wait, r.json::<Value>().await.unwrap())
    };
    let busy = from([127, 0, 0, 6]);
    let (s, _, v) = send(&busy, regs("batch-a", 90)).await;
    assert_eq!(s, 200, "{v}");
    let refused = regs("batch-b", 20);
    let (s, wait, v) = send(&busy, refused.clone()).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (429, "rate_limited"), "{v}");
    assert!(wait.is_some_and(|w| w >= 1), "Retry-After {wait:?}");
    assert!(v["message"].as_str().unwrap().contains("transactions"), "{v}");
    let first = SignedTransaction::from_canonical_bytes(&hex::decode(&refused[0]).unwrap()).unwrap();
    let unknown = c.get_as(&key("batch-b-0"), &format!("/v1/accounts/{}", first.tx.signer.address())).await;
    assert_eq!(unknown.0, 404, "nothing of the refused batch was ordered: {}", unknown.1);
    let (s, _, v) = send(&from([127, 0, 0, 7]), regs("batch-c", 20)).await;
    assert_eq!(s, 200, "another address is served: {v}");
}
