//! What the ledger holds, read through the node's JSON API (plain `serde_json` values: the
//! journeys check the API as any outside client would see it): signed as the hospital's
//! authority (who may read what the ledger holds), or not at all (`get_anonymous`).

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A client of one node's JSON API.
#[derive(Clone)]
pub struct Ledger {
    http: reqwest::Client,
    base: String,
    chain: String,
    authority: k256::ecdsa::SigningKey,
    /// How far this client has moved the node's test clock: it signs by the node's time.
    ahead_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Ledger {
    /// `authority_hex`: the node's authority key (hex), which signs this client's reads.
    pub fn new(base: &str, authority_hex: &str, chain: &str) -> Result<Ledger> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("an HTTP client");
        let bytes = hex::decode(authority_hex).context("the authority key is not hex")?;
        let authority = k256::ecdsa::SigningKey::from_slice(&bytes)
            .map_err(|_| anyhow::anyhow!("the authority key is not a key"))?;
        Ok(Ledger {
            http,
            base: base.trim_end_matches('/').to_owned(),
            chain: chain.to_owned(),
            authority,
            ahead_ms: Default::default(),
        })
    }

    /// The `Authorization` header of a GET of `path` signed as the authority, for its node.
    fn signed(&self, path: &str) -> String {
        self.signed_request("GET", path, b"")
    }

    /// The `Authorization` header of `method path` with `body`, signed as the authority.
    fn signed_request(&self, method: &str, path: &str, body: &[u8]) -> String {
        use rand_core::RngCore;
        let signer = ledger_protocol::PublicKey::from(self.authority.verifying_key());
        let mut nonce = vec![0u8; ledger_protocol::wire::API_NONCE_LEN];
        rand_core::OsRng.fill_bytes(&mut nonce);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
            + u128::from(self.ahead_ms.load(std::sync::atomic::Ordering::SeqCst));
        ledger_protocol::wire::ApiRequest {
            chain_id: self.chain.clone(),
            audience: signer.address(),
            method: method.into(),
            path: path.into(),
            body_hash: ledger_protocol::wire::body_hash(body),
            timestamp_ms: u64::try_from(now).unwrap_or(u64::MAX),
            nonce,
            signer,
        }
        .sign(&self.authority)
        .to_header()
    }

    /// GETs a path (`/v1/...`) signed as the authority and parses its JSON; any status but 200
    /// is an error.
    pub async fn get(&self, path: &str) -> Result<Value> {
        let (status, body) = self.fetch(path, Some(self.signed(path))).await?;
        if !status.is_success() {
            bail!("GET {}{path} answered {status}: {body}", self.base);
        }
        serde_json::from_str(&body).with_context(|| format!("GET {path} did not answer JSON: {body}"))
    }

    /// GETs a path as an anonymous caller: its status and body, whatever they are.
    pub async fn get_anonymous(&self, path: &str) -> Result<(u16, String)> {
        let (status, body) = self.fetch(path, None).await?;
        Ok((status.as_u16(), body))
    }

    /// The headers of an anonymous GET of `path` (names lower-case; values as text).
    pub async fn headers_of(&self, path: &str) -> Result<std::collections::BTreeMap<String, String>> {
        let url = format!("{}{path}", self.base);
        let resp = self.http.get(&url).send().await.with_context(|| format!("GET {url}"))?;
        Ok(resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("(not text)").to_owned()))
            .collect())
    }

    async fn fetch(&self, path: &str, auth: Option<String>) -> Result<(reqwest::StatusCode, String)> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await.with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body = resp.text().await.with_context(|| format!("reading GET {url}"))?;
        Ok((status, body))
    }

    /// Moves the node's test clock (`serve --test-clock`) forward by `secs`: a day can pass
    /// in a journey. Answers the node's new time (ms).
    pub async fn advance_clock(&self, secs: u64) -> Result<u64> {
        let path = "/v1/test/clock";
        let body = serde_json::json!({ "advance_secs": secs }).to_string();
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .header("authorization", self.signed_request("POST", path, body.as_bytes()))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status();
        let text = resp.text().await.with_context(|| format!("reading POST {url}"))?;
        if !status.is_success() {
            bail!("POST {url} answered {status}: {text} (was the node started with --test-clock?)");
        }
        let v: Value = serde_json::from_str(&text).with_context(|| format!("POST {path} answered {text}"))?;
        let ahead = v["advanced_ms"].as_u64().context("the clock's answer has no advanced_ms")?;
        self.ahead_ms.store(ahead, std::sync::atomic::Ordering::SeqCst);
        v["now_ms"].as_u64().context("the clock's answer has no now_ms")
    }

    pub async fn info(&self) -> Result<Value> {
        self.get("/v1/info").await
    }

    pub async fn account(&self, address: &str) -> Result<Value> {
        self.get(&format!("/v1/accounts/{address}")).await
    }

    pub async fn records(&self, patient: &str) -> Result<Vec<Value>> {
        list(self.get(&format!("/v1/patients/{patient}/records")).await?)
    }

    pub async fn consents(&self, patient: &str) -> Result<Vec<Value>> {
        list(self.get(&format!("/v1/patients/{patient}/consents")).await?)
    }

    /// `{entries: [...], refused: [...]}`.
    pub async fn audit(&self, patient: &str) -> Result<Value> {
        self.get(&format!("/v1/patients/{patient}/audit")).await
    }

    pub async fn prescriptions(&self, patient: &str) -> Result<Vec<Value>> {
        list(self.get(&format!("/v1/patients/{patient}/prescriptions")).await?)
    }

    pub async fn prescription(&self, id: &str) -> Result<Value> {
        self.get(&format!("/v1/prescriptions/{id}")).await
    }

    /// The chain's height.
    pub async fn height(&self) -> Result<u64> {
        self.info().await?["height"].as_u64().context("/v1/info has no height")
    }

    /// Polls `check` until it gives a value (the node commits in blocks, and the browser
    /// may still be on its way); fails with the last answer after `timeout`.
    pub async fn eventually<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl AsyncFnMut(&Ledger) -> Result<Option<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        loop {
            let last = match check(self).await {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => "not yet".to_owned(),
                Err(e) => format!("{e:#}"),
            };
            if start.elapsed() > timeout {
                bail!("the ledger never showed {what} within {timeout:?} (last: {last})");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn list(v: Value) -> Result<Vec<Value>> {
    match v {
        Value::Array(a) => Ok(a),
        other => bail!("expected a JSON list, got {other}"),
    }
}

/// A string field of a JSON object, or an error naming it.
pub fn str_of<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    v[key].as_str().with_context(|| format!("no string {key:?} in {v}"))
}
