//! Files a node reads and writes: the genesis file (JSON) and secret key files (hex, mode
//! 0600), plus `init`, which creates both for a new hospital chain.

use anyhow::{Context, bail};
use ledger_protocol::{Genesis, GenesisAuthority, PublicKey};
use std::path::Path;

pub fn read_genesis(path: &Path) -> anyhow::Result<Genesis> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the genesis file {}", path.display()))?;
    let g: Genesis =
        serde_json::from_str(&text).with_context(|| format!("{} is not a valid genesis file", path.display()))?;
    if g.chain_id.trim().is_empty() || g.authorities.is_empty() {
        bail!("{}: a genesis needs a chain_id and at least one authority", path.display());
    }
    Ok(g)
}

pub fn read_key(path: &Path) -> anyhow::Result<k256::ecdsa::SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the key file {}", path.display()))?;
    let bytes =
        hex::decode(text.trim()).with_context(|| format!("{} does not hold a hex secret key", path.display()))?;
    k256::ecdsa::SigningKey::from_slice(&bytes)
        .map_err(|_| anyhow::anyhow!("{} does not hold a valid secp256k1 secret key", path.display()))
}

pub fn write_secret(path: &Path, key: &k256::ecdsa::SigningKey) -> anyhow::Result<()> {
    write_private(path, format!("{}\n", hex::encode(key.to_bytes())).as_bytes())
}

/// Writes a new file readable by its owner only (mode 0600), durably; refuses to replace one.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Creates `genesis.json`, `authority.key` and `authority-encryption.key` in `dir` for a
/// new chain with one authority. Refuses to overwrite an existing genesis.
pub fn init(dir: &Path, chain_id: &str, name: &str, timestamp_ms: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let gpath = dir.join("genesis.json");
    if gpath.exists() {
        bail!("{} already exists; this directory already has a chain", gpath.display());
    }
    let key = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let enc = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    write_secret(&dir.join("authority.key"), &key)?;
    write_secret(&dir.join("authority-encryption.key"), &enc)?;
    let g = Genesis {
        chain_id: chain_id.to_owned(),
        timestamp_ms,
        authorities: vec![GenesisAuthority {
            name: name.to_owned(),
            key: PublicKey::from(key.verifying_key()),
            encryption_key: PublicKey::from(enc.verifying_key()),
        }],
    };
    std::fs::write(&gpath, serde_json::to_string_pretty(&g)? + "\n")?;
    Ok(())
}

/// Creates a node's authority keys in `dir` (refusing to overwrite) and returns its entry
/// for a genesis shared by several hospitals.
pub fn keygen(dir: &Path, name: &str) -> anyhow::Result<GenesisAuthority> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let key = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let enc = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    write_secret(&dir.join("authority.key"), &key)?;
    write_secret(&dir.join("authority-encryption.key"), &enc)?;
    Ok(GenesisAuthority {
        name: name.to_owned(),
        key: PublicKey::from(key.verifying_key()),
        encryption_key: PublicKey::from(enc.verifying_key()),
    })
}

/// Writes a genesis listing the authorities in `entries` (JSON files as `keygen` prints).
pub fn write_genesis(
    out: &Path,
    chain_id: &str,
    entries: &[std::path::PathBuf],
    timestamp_ms: u64,
) -> anyhow::Result<()> {
    if out.exists() {
        bail!("{} already exists; a chain's genesis is never rewritten", out.display());
    }
    let mut authorities = Vec::new();
    for p in entries {
        let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        let a: GenesisAuthority =
            serde_json::from_str(&text).with_context(|| format!("{} is not an authority entry", p.display()))?;
        authorities.push(a);
    }
    if chain_id.trim().is_empty() || authorities.is_empty() {
        bail!("a genesis needs a chain id and at least one authority");
    }
    let g = Genesis { chain_id: chain_id.to_owned(), timestamp_ms, authorities };
    std::fs::write(out, serde_json::to_string_pretty(&g)? + "\n")?;
    Ok(())
}

/// A loopback cluster of `n` nodes under `dir`: `node<i>/` with that node's keys and the
/// shared genesis, and `node<i>.toml` (API on `base_port + i`, Raft on `base_port + 100 + i`).
pub fn init_cluster(dir: &Path, chain_id: &str, n: u64, base_port: u16, timestamp_ms: u64) -> anyhow::Result<()> {
    if n == 0 || u64::from(base_port) + 100 + n > u64::from(u16::MAX) {
        bail!("need at least one node, and ports that fit below 65536");
    }
    let mut authorities = Vec::new();
    for i in 1..=n {
        authorities.push(keygen(&dir.join(format!("node{i}")), &format!("Hospital {i}"))?);
    }
    let g = Genesis { chain_id: chain_id.to_owned(), timestamp_ms, authorities };
    let text = serde_json::to_string_pretty(&g)? + "\n";
    let ports: Vec<(u16, u16)> = (1..=n).map(|i| (base_port + i as u16, base_port + 100 + i as u16)).collect();
    for i in 1..=n {
        std::fs::write(dir.join(format!("node{i}/genesis.json")), &text)?;
        std::fs::write(dir.join(format!("node{i}.toml")), loopback_node_toml(i, &ports, false))?;
    }
    Ok(())
}

/// The cluster file of node `id` (1-based) of a loopback cluster whose node i listens on
/// `ports[i - 1]` (API, Raft), with its data in `node<id>/` beside the file.
pub fn loopback_node_toml(id: u64, ports: &[(u16, u16)], join: bool) -> String {
    let (api, raft) = ports[(id - 1) as usize];
    let mut t = format!(
        "# Cluster node {id}: `ledger-node serve --cluster node{id}.toml`\nid = {id}\ndata_dir = \"node{id}\"\nlisten = \"127.0.0.1:{api}\"\nraft_listen = \"127.0.0.1:{raft}\"\njoin = {join}\n"
    );
    for (j, (api, raft)) in ports.iter().enumerate() {
        t += &format!(
            "\n[[members]]\nid = {}\napi = \"http://127.0.0.1:{api}\"\nraft = \"http://127.0.0.1:{raft}\"\n",
            j + 1
        );
    }
    t
}
