//! `ledger-node admin --api URL ...`: a hospital's staff from the command line. Registers a
//! member of staff (role, name, licence or staff number, and the two public keys their
//! wallet shows), deactivates one, gives one new keys, lists the directory. Transactions are signed with the
//! authority's (or an administrator's) key file and submitted through the node's public
//! API, exactly as the portal would; the node's rules decide.

use anyhow::{Context, bail};
use ledger_protocol::codec::Encode;
use ledger_protocol::state::Account;
use ledger_protocol::{Address, PublicKey, Role, Transaction, TxBody};
use serde_json::{Value, json};

/// A member of staff to register.
pub struct NewStaff {
    pub role: Role,
    pub name: String,
    pub licence: String,
    pub key: PublicKey,
    pub encryption_key: PublicKey,
}

/// Reads a role as the API spells it (`doctor`, `surgeon`, `pharmacy`, `insurer`, `student`,
/// `admin`).
pub fn parse_role(s: &str) -> anyhow::Result<Role> {
    serde_json::from_value(Value::String(s.to_lowercase()))
        .map_err(|_| anyhow::anyhow!("{s:?} is not a role; use doctor, surgeon, pharmacy, insurer, student or admin"))
}

async fn get(http: &reqwest::Client, url: String) -> anyhow::Result<(u16, Value)> {
    let r = http.get(&url).send().await.with_context(|| format!("cannot reach the node at {url}"))?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.with_context(|| format!("{url} did not answer JSON"))?))
}

/// Signs `body` with `key` (the next nonce: above the account's last and the clock's
/// milliseconds) and submits it; the receipt, or the node's refusal in its own words.
async fn submit(api: &str, key: &k256::ecdsa::SigningKey, body: TxBody) -> anyhow::Result<Value> {
    let base = api.trim_end_matches('/');
    let http = reqwest::Client::new();
    let (_, info) = get(&http, format!("{base}/v1/info")).await?;
    let chain = info["chain_id"].as_str().context("the node's /v1/info names no chain")?.to_owned();
    let signer = PublicKey::from(key.verifying_key());
    let (status, account) = get(&http, format!("{base}/v1/accounts/{}", signer.address())).await?;
    if status != 200 {
        bail!(
            "the key is not registered on this chain ({}); use the authority key from `ledger-node init` or an administrator's",
            account["message"].as_str().unwrap_or("unknown account")
        );
    }
    let last = account["nonce"].as_u64().unwrap_or(0);
    let nonce = (last + 1).max(crate::ledger::now_ms());
    let stx = Transaction { chain_id: chain, signer, nonce, body }.sign(key);
    let r = http
        .post(format!("{base}/v1/transactions"))
        .json(&json!({ "tx": hex::encode(stx.to_canonical_bytes()) }))
        .send()
        .await
        .with_context(|| format!("cannot reach the node at {base}"))?;
    let status = r.status();
    let v: Value = r.json().await.context("the node's answer is not JSON")?;
    if !status.is_success() {
        bail!("the ledger refused: {}", v["message"].as_str().unwrap_or("no reason given"));
    }
    Ok(v)
}

/// Registers a member of staff.
pub async fn register(api: &str, key: &k256::ecdsa::SigningKey, s: NewStaff) -> anyhow::Result<Value> {
    if !s.role.is_provider() {
        bail!("a {} is not registered by the hospital", s.role.human());
    }
    let body = TxBody::RegisterProvider {
        key: s.key,
        encryption_key: s.encryption_key,
        role: s.role,
        name: s.name,
        licence: s.licence,
    };
    submit(api, key, body).await
}

/// Deactivates a member of staff: the ledger refuses what they sign from then on.
pub async fn deactivate(api: &str, key: &k256::ecdsa::SigningKey, provider: Address) -> anyhow::Result<Value> {
    submit(api, key, TxBody::DeactivateProvider { provider }).await
}

/// Gives a member of staff new keys; their old key signs nothing from then on.
pub async fn rekey(
    api: &str,
    key: &k256::ecdsa::SigningKey,
    account: Address,
    new_key: PublicKey,
    encryption_key: PublicKey,
) -> anyhow::Result<Value> {
    submit(api, key, TxBody::RotateKey { account, key: new_key, encryption_key }).await
}

/// The staff directory.
pub async fn list(api: &str) -> anyhow::Result<Vec<Account>> {
    let base = api.trim_end_matches('/');
    let (status, v) = get(&reqwest::Client::new(), format!("{base}/v1/accounts")).await?;
    if status != 200 {
        bail!("the node answered {status}: {v}");
    }
    Ok(serde_json::from_value(v)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_as_the_api_spells_them() {
        assert_eq!(parse_role("Doctor").unwrap(), Role::Doctor);
        assert_eq!(parse_role("admin").unwrap(), Role::Admin);
        assert!(parse_role("nurse").unwrap_err().to_string().contains("not a role"));
    }
}
