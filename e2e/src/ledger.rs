//! What the ledger holds, read through the node's JSON API (plain `serde_json` values: the
//! journeys check the API as any outside client would see it).

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::time::{Duration, Instant};

/// A client of one node's JSON API.
#[derive(Clone)]
pub struct Ledger {
    http: reqwest::Client,
    base: String,
}

impl Ledger {
    pub fn new(base: &str) -> Ledger {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("an HTTP client");
        Ledger { http, base: base.trim_end_matches('/').to_owned() }
    }

    /// GETs a path (`/v1/...`) and parses its JSON; any status but 200 is an error.
    pub async fn get(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let resp = self.http.get(&url).send().await.with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body = resp.text().await.with_context(|| format!("reading GET {url}"))?;
        if !status.is_success() {
            bail!("GET {url} answered {status}: {body}");
        }
        serde_json::from_str(&body).with_context(|| format!("GET {url} did not answer JSON: {body}"))
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
