//! A client of the node's public HTTP API, as the portal uses it: signed requests
//! (`Authorization: HealthChain`) for what is about a person, encrypted blobs uploaded under
//! the uploader's signature, transactions submitted in batches.

use anyhow::{Context, bail};
use ledger_protocol::codec::Encode;
use ledger_protocol::wire::{ApiRequest, BatchItem};
use ledger_protocol::{Address, Genesis, Hash, PublicKey, SignedTransaction};
use serde_json::{Value, json};
use wallet::{ApiTarget, Identity};

/// Most transactions in one batch (the node's `/v1/info` limit).
const MAX_BATCH: usize = 2048;

/// The node at one address, and what its `/v1/info` says.
pub struct Client {
    http: reqwest::Client,
    base: String,
    target: ApiTarget,
    genesis: Genesis,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Client {
    /// Connects to the node at `base` (`http://host:port`) and reads its chain and authority.
    pub async fn connect(base: &str) -> anyhow::Result<Client> {
        let base = base.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build()?;
        let info: Value = http
            .get(format!("{base}/v1/info"))
            .send()
            .await
            .with_context(|| format!("cannot reach the node at {base}"))?
            .json()
            .await
            .with_context(|| format!("{base}/v1/info did not answer JSON: is this a HealthChain node?"))?;
        let chain_id = info["chain_id"].as_str().context("/v1/info names no chain")?.to_owned();
        let audience: Address =
            serde_json::from_value(info["node_authority"].clone()).context("/v1/info names no node authority")?;
        let genesis: Genesis = serde_json::from_value(info["genesis"].clone()).context("/v1/info has no genesis")?;
        Ok(Client { http, base, target: ApiTarget { chain_id, audience }, genesis })
    }

    pub fn chain_id(&self) -> &str {
        &self.target.chain_id
    }

    /// The hospital's authorities, as readers of sealed content.
    pub fn authorities(&self) -> Vec<wallet::sealed::Reader> {
        self.genesis
            .authorities
            .iter()
            .map(|a| wallet::sealed::Reader { address: a.key.address(), encryption_key: a.encryption_key })
            .collect()
    }

    fn request(&self, signer: PublicKey, method: &str, path: &str, body: &[u8]) -> anyhow::Result<ApiRequest> {
        let mut nonce = vec![0u8; ledger_protocol::wire::API_NONCE_LEN];
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut nonce)
            .map_err(|e| anyhow::anyhow!("no randomness for a request nonce: {e}"))?;
        Ok(ApiRequest {
            chain_id: self.target.chain_id.clone(),
            audience: self.target.audience,
            method: method.into(),
            path: path.into(),
            body_hash: ledger_protocol::wire::body_hash(body),
            timestamp_ms: now_ms(),
            nonce,
            signer,
        })
    }

    fn signed_by(&self, id: &Identity, method: &str, path: &str, body: &[u8]) -> anyhow::Result<String> {
        let r = self.request(id.public_key(), method, path, body)?;
        Ok(id.sign_api_request(r)?.to_header())
    }

    /// An account as `key` (an authority key) may see it; `None` when none is registered.
    pub async fn account_as(&self, key: &k256::ecdsa::SigningKey, a: &Address) -> anyhow::Result<Option<Value>> {
        let path = format!("/v1/accounts/{a}");
        let r = self.request(PublicKey::from(key.verifying_key()), "GET", &path, b"")?;
        let header = r.sign(key).to_header();
        let resp = self.http.get(format!("{}{path}", self.base)).header("authorization", header).send().await?;
        let status = resp.status().as_u16();
        let v: Value = resp.json().await.with_context(|| format!("{path} did not answer JSON"))?;
        match status {
            200 => Ok(Some(v)),
            404 => Ok(None),
            _ => bail!("{path}: {}", v["message"].as_str().unwrap_or("refused")),
        }
    }

    /// Uploads an encrypted envelope signed by `id` (a registered account); its blob id.
    pub async fn put_blob(&self, id: &Identity, bytes: Vec<u8>) -> anyhow::Result<Hash> {
        let header = self.signed_by(id, "PUT", "/v1/blobs", &bytes)?;
        let resp = self
            .http
            .put(format!("{}/v1/blobs", self.base))
            .header("authorization", header)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await?;
        let status = resp.status();
        let v: Value = resp.json().await.context("the blob upload did not answer JSON")?;
        if !status.is_success() {
            bail!("the node refused a blob: {}", v["message"].as_str().unwrap_or("no reason given"));
        }
        serde_json::from_value(v["blob"].clone()).context("the blob upload named no blob id")
    }

    /// Submits transactions in order, in batches; every one must be committed.
    pub async fn submit(&self, txs: &[SignedTransaction]) -> anyhow::Result<usize> {
        for chunk in txs.chunks(MAX_BATCH) {
            let body = json!({ "txs": chunk.iter().map(|t| hex::encode(t.to_canonical_bytes())).collect::<Vec<_>>() });
            let resp = self.http.post(format!("{}/v1/transactions/batch", self.base)).json(&body).send().await?;
            let status = resp.status();
            let v: Value = resp.json().await.context("the batch did not answer JSON")?;
            if !status.is_success() {
                bail!("the node refused the batch: {}", v["message"].as_str().unwrap_or("no reason given"));
            }
            let results: Vec<BatchItem> =
                serde_json::from_value(v["results"].clone()).context("the batch answer has no results")?;
            for (item, tx) in results.iter().zip(chunk) {
                if let BatchItem::Err(e) = item {
                    bail!("demo transaction {} was refused: {} ({})", tx.tx.body.kind().name(), e.message, e.code);
                }
            }
        }
        Ok(txs.len())
    }
}
