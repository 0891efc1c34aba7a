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
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(f, "{}", hex::encode(key.to_bytes()))?;
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
