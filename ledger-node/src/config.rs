//! Files a node reads and writes: the genesis file (JSON), secret key files (hex, mode 0600)
//! and TLS identities, plus `init`, which creates the first two for a new hospital chain,
//! `keygen`, one hospital's part of a shared chain, and `init-cluster`, a loopback cluster.

use crate::tls::{self, KeyPin};
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

/// Makes a new key and a self-signed certificate for it in `dir` (`cert_file`, and
/// `key_file` readable by its owner only), refusing to replace either; returns its pin.
pub fn make_identity(dir: &Path, cert_file: &str, key_file: &str, names: &[String]) -> anyhow::Result<KeyPin> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (cert_path, key_path) = (dir.join(cert_file), dir.join(key_file));
    if cert_path.exists() {
        bail!("{} already exists; a TLS identity is never overwritten", cert_path.display());
    }
    let (cert, key, pin) = tls::self_signed(names)?;
    write_private(&key_path, key.as_bytes())?;
    std::fs::write(&cert_path, cert).with_context(|| format!("cannot write {}", cert_path.display()))?;
    Ok(pin)
}

/// The name in the self-signed certificates `keygen` makes (peers check the key's pin, not
/// the name).
pub const TLS_NAME: &str = "healthchain-node";

/// Creates a node's authority keys and its TLS identity in `dir` (refusing to overwrite) and
/// returns its entry for a genesis shared by several hospitals, and its TLS key pin.
pub fn keygen(dir: &Path, name: &str) -> anyhow::Result<(GenesisAuthority, KeyPin)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let key = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let enc = k256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    write_secret(&dir.join("authority.key"), &key)?;
    write_secret(&dir.join("authority-encryption.key"), &enc)?;
    let pin = make_identity(dir, tls::NODE_CERT, tls::NODE_KEY, &[TLS_NAME.to_owned()])?;
    let entry = GenesisAuthority {
        name: name.to_owned(),
        key: PublicKey::from(key.verifying_key()),
        encryption_key: PublicKey::from(enc.verifying_key()),
    };
    Ok((entry, pin))
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

/// A loopback cluster of `n` nodes under `dir`: `node<i>/` with that node's keys, TLS
/// identity and the shared genesis, `admin/` with an administrator's TLS identity, and
/// `node<i>.toml` (API on `base_port + i`, Raft on `base_port + 100 + i`).
pub fn init_cluster(dir: &Path, chain_id: &str, n: u64, base_port: u16, timestamp_ms: u64) -> anyhow::Result<()> {
    if n == 0 || u64::from(base_port) + 100 + n > u64::from(u16::MAX) {
        bail!("need at least one node, and ports that fit below 65536");
    }
    let mut authorities = Vec::new();
    for i in 1..=n {
        authorities.push(keygen(&dir.join(format!("node{i}")), &format!("Hospital {i}"))?.0);
    }
    make_identity(&dir.join(ADMIN_DIR), tls::ADMIN_CERT, tls::ADMIN_KEY, &["healthchain-admin".to_owned()])?;
    let g = Genesis { chain_id: chain_id.to_owned(), timestamp_ms, authorities };
    let text = serde_json::to_string_pretty(&g)? + "\n";
    let ports: Vec<(u16, u16)> = (1..=n).map(|i| (base_port + i as u16, base_port + 100 + i as u16)).collect();
    for i in 1..=n {
        std::fs::write(dir.join(format!("node{i}/genesis.json")), &text)?;
        std::fs::write(dir.join(format!("node{i}.toml")), loopback_node_toml(dir, i, &ports, false)?)?;
    }
    Ok(())
}

/// Where `init_cluster` puts the administrator's TLS identity, under its folder.
pub const ADMIN_DIR: &str = "admin";

/// The cluster file of node `id` (1-based) of a loopback cluster made by `init_cluster` in
/// `dir`, whose node i listens on `ports[i - 1]` (API, Raft), with its data in `node<id>/`
/// beside the file; the key pins are read from the identities there.
pub fn loopback_node_toml(dir: &Path, id: u64, ports: &[(u16, u16)], join: bool) -> anyhow::Result<String> {
    let (api, raft) = ports[(id - 1) as usize];
    let pin = |d: &Path, cert: &str, key: &str| -> anyhow::Result<KeyPin> {
        tls::Identity::read(&d.join(cert), &d.join(key))?.pin().context("a TLS certificate without a readable key")
    };
    let admin = pin(&dir.join(ADMIN_DIR), tls::ADMIN_CERT, tls::ADMIN_KEY)?;
    let mut t = format!(
        "# Cluster node {id}: `ledger-node serve --cluster node{id}.toml`\nid = {id}\ndata_dir = \"node{id}\"\nlisten = \"127.0.0.1:{api}\"\nraft_listen = \"127.0.0.1:{raft}\"\njoin = {join}\nadmins = [\"{admin}\"]\n"
    );
    for (j, (api, raft)) in ports.iter().enumerate() {
        let tls = pin(&dir.join(format!("node{}", j + 1)), tls::NODE_CERT, tls::NODE_KEY)?;
        t += &format!(
            "\n[[members]]\nid = {}\napi = \"http://127.0.0.1:{api}\"\nraft = \"https://127.0.0.1:{raft}\"\ntls = \"{tls}\"\n",
            j + 1
        );
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec![TLS_NAME.to_owned()]
    }

    #[test]
    fn a_made_identity_reads_back_with_the_pin_it_printed() {
        let dir = tempfile::tempdir().unwrap();
        let pin = make_identity(dir.path(), tls::NODE_CERT, tls::NODE_KEY, &names()).unwrap();
        let id = tls::Identity::of_node(dir.path()).unwrap();
        assert_eq!(id.pin(), Some(pin));
        assert_eq!(pin.to_string().parse::<KeyPin>().unwrap(), pin);
        let err = make_identity(dir.path(), tls::NODE_CERT, tls::NODE_KEY, &names()).unwrap_err().to_string();
        assert!(err.contains("never overwritten"), "{err}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(tls::NODE_KEY)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the private key is readable by its owner only");
        }
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        make_identity(a.path(), tls::NODE_CERT, tls::NODE_KEY, &names()).unwrap();
        make_identity(b.path(), tls::NODE_CERT, tls::NODE_KEY, &names()).unwrap();
        let err = tls::Identity::read(&a.path().join(tls::NODE_CERT), &b.path().join(tls::NODE_KEY)).err().unwrap();
        assert!(format!("{err:#}").contains("does not belong"), "{err:#}");
        let missing = tls::Identity::of_node(&a.path().join("nothing")).err().unwrap().to_string();
        assert!(missing.contains("tls-keygen"), "{missing}");
        std::fs::write(a.path().join("junk.crt"), "not a certificate").unwrap();
        assert!(tls::Identity::read(&a.path().join("junk.crt"), &a.path().join(tls::NODE_KEY)).is_err());
    }
}
