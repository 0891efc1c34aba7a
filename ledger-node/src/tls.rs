//! Mutual TLS between a cluster's nodes, and optional TLS on the public port (rustls, ring).
//!
//! A node's TLS identity is a self-signed certificate whose key it made itself (`ledger-node
//! keygen` or `tls-keygen`); what the cluster lists is the key's pin, the SHA-256 of its
//! SubjectPublicKeyInfo, in hex. There is no certificate authority: a connection to or from
//! the Raft port is accepted only if the other side proves a listed key (TLS 1.3, both ways).
//! Peers are the cluster's members, founding or added; administrators are the pins in the
//! node's `admins` list. Who connected is handed to the handlers as a [`Caller`].

use anyhow::{Context, bail};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// The file names of a node's TLS identity in its data directory.
pub const NODE_CERT: &str = "node-tls.crt";
pub const NODE_KEY: &str = "node-tls.key";
/// The file names of an administrator's TLS identity (`tls-keygen --admin`).
pub const ADMIN_CERT: &str = "admin-tls.crt";
pub const ADMIN_KEY: &str = "admin-tls.key";

/// The SHA-256 of a certificate's public key (its SubjectPublicKeyInfo): what a cluster lists.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPin(pub [u8; 32]);

impl fmt::Display for KeyPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPin({self})")
    }
}

impl std::str::FromStr for KeyPin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bytes = hex::decode(s.trim()).map_err(|_| format!("{s:?} is not a key pin (64 hex characters)"))?;
        let pin: [u8; 32] =
            bytes.try_into().map_err(|_| format!("{s:?} is not a key pin (64 hex characters, a SHA-256)"))?;
        Ok(KeyPin(pin))
    }
}

impl Serialize for KeyPin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for KeyPin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The pin of a certificate's key; `None` for bytes that are not an X.509 certificate.
pub fn pin_of(cert: &CertificateDer<'_>) -> Option<KeyPin> {
    let ee = webpki::EndEntityCert::try_from(cert).ok()?;
    Some(KeyPin(Sha256::digest(ee.subject_public_key_info().as_ref()).into()))
}

/// The one cryptography provider the node's TLS uses (made once).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: std::sync::LazyLock<Arc<CryptoProvider>> =
        std::sync::LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    PROVIDER.clone()
}

/// A certificate chain and its private key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Identity {
    /// Reads PEM files, checking that the key is the certificate's.
    pub fn read(cert: &Path, key: &Path) -> anyhow::Result<Identity> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .with_context(|| format!("cannot read the certificate {}", cert.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("{} does not hold PEM certificates", cert.display()))?;
        if chain.is_empty() {
            bail!("{} holds no certificate", cert.display());
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .with_context(|| format!("cannot read a PEM private key from {}", key.display()))?;
        let id = Identity { chain, key };
        rustls::sign::CertifiedKey::from_der(id.chain.clone(), id.key.clone_key(), &provider())
            .with_context(|| format!("the key does not belong to the certificate {}", cert.display()))?;
        if id.pin().is_none() {
            bail!("{} is not an X.509 certificate", cert.display());
        }
        Ok(id)
    }

    /// A node's identity in its data directory, as `keygen` wrote it.
    pub fn of_node(data_dir: &Path) -> anyhow::Result<Identity> {
        let (cert, key) = (data_dir.join(NODE_CERT), data_dir.join(NODE_KEY));
        if !cert.exists() {
            bail!(
                "no TLS identity for this node ({} is missing): make one with `ledger-node tls-keygen --out {}` and list the pin it prints in the cluster's files",
                cert.display(),
                data_dir.display()
            );
        }
        Identity::read(&cert, &key)
    }

    /// The pin of this identity's key.
    pub fn pin(&self) -> Option<KeyPin> {
        self.chain.first().and_then(pin_of)
    }
}

/// A new key and a self-signed certificate for it (PEM both), with the key's pin.
pub fn self_signed(names: &[String]) -> anyhow::Result<(String, String, KeyPin)> {
    let made = rcgen::generate_simple_self_signed(names.to_vec()).context("cannot make a TLS certificate")?;
    let pin = pin_of(made.cert.der()).context("the certificate just made has no readable key")?;
    Ok((made.cert.pem(), made.key_pair.serialize_pem(), pin))
}

/// Who connected to the Raft port, proven by the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A member of the cluster (another node).
    Peer(KeyPin),
    /// One of the node's administrators.
    Admin(KeyPin),
}

/// The keys the Raft port accepts: the cluster's members (following its membership) and its
/// administrators.
#[derive(Debug, Default)]
pub struct Trust {
    peers: RwLock<BTreeSet<KeyPin>>,
    admins: BTreeSet<KeyPin>,
    /// Nodes an administrator is adding, accepted before the membership names them.
    expected: RwLock<BTreeSet<KeyPin>>,
}

impl Trust {
    pub fn new(peers: impl IntoIterator<Item = KeyPin>, admins: impl IntoIterator<Item = KeyPin>) -> Trust {
        Trust {
            peers: RwLock::new(peers.into_iter().collect()),
            admins: admins.into_iter().collect(),
            expected: RwLock::default(),
        }
    }

    /// Accepts a node an administrator is adding, before the membership names it (it is then
    /// a member like the others).
    pub fn expect_peer(&self, pin: KeyPin) {
        self.expected.write().unwrap_or_else(|e| e.into_inner()).insert(pin);
        if self.peers.write().unwrap_or_else(|e| e.into_inner()).insert(pin) {
            tracing::info!(pin = %pin, "the Raft port now accepts the key of the node being added");
        }
    }

    /// Accepts exactly the cluster's members (`pins`, from its membership as it changes), the
    /// nodes being added, and this node (`own`): a member added is accepted, one removed is
    /// refused from then on.
    /// Until the node knows a membership (`pins` empty: a fresh node about to join), the
    /// members its file lists stay accepted.
    pub fn follow_membership(&self, pins: impl IntoIterator<Item = KeyPin>, own: KeyPin) {
        let members: BTreeSet<KeyPin> = pins.into_iter().collect();
        if members.is_empty() {
            return;
        }
        let now: BTreeSet<KeyPin> = {
            let mut expected = self.expected.write().unwrap_or_else(|e| e.into_inner());
            expected.retain(|p| !members.contains(p));
            members.iter().chain(expected.iter()).copied().chain([own]).collect()
        };
        if *self.peers.read().unwrap_or_else(|e| e.into_inner()) == now {
            return;
        }
        let mut peers = self.peers.write().unwrap_or_else(|e| e.into_inner());
        for p in now.difference(&peers) {
            tracing::info!(pin = %p, "the Raft port now accepts this member's key");
        }
        for p in peers.difference(&now) {
            tracing::info!(pin = %p, "the Raft port now refuses this key: it is no longer a member");
        }
        *peers = now;
    }

    /// What a key is to this node, if anything.
    pub fn caller(&self, pin: KeyPin) -> Option<Caller> {
        if self.peers.read().unwrap_or_else(|e| e.into_inner()).contains(&pin) {
            Some(Caller::Peer(pin))
        } else if self.admins.contains(&pin) {
            Some(Caller::Admin(pin))
        } else {
            None
        }
    }

    fn accepts(&self, cert: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let pin = pin_of(cert).ok_or(rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        match self.caller(pin) {
            Some(_) => Ok(()),
            None => {
                tracing::warn!(%pin, "refused a TLS connection from a key this cluster does not list");
                Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
            }
        }
    }
}

fn tls13_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(message, cert, dss, &provider().signature_verification_algorithms)
}

/// The Raft port speaks TLS 1.3 only; a TLS 1.2 signature is never checked.
fn tls12_refused() -> rustls::Error {
    rustls::Error::General("the Raft port speaks TLS 1.3 only".into())
}

fn schemes() -> Vec<rustls::SignatureScheme> {
    provider().signature_verification_algorithms.supported_schemes()
}

/// The Raft port's check of a connecting client: a listed key, or no connection.
#[derive(Debug)]
struct PinnedClients(Arc<Trust>);

impl ClientCertVerifier for PinnedClients {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0.accepts(end_entity).map(|()| ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(tls12_refused())
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        schemes()
    }
}

/// A node's (or an administrator's) check of the Raft port it connects to: a member's key.
#[derive(Debug)]
struct PinnedServers(Arc<Trust>);

impl ServerCertVerifier for PinnedServers {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let pin = pin_of(end_entity).ok_or(rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        match self.0.caller(pin) {
            Some(Caller::Peer(_)) => Ok(ServerCertVerified::assertion()),
            _ => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure)),
        }
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(tls12_refused())
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        schemes()
    }
}

/// The Raft port's TLS: TLS 1.3, this node's identity, clients with a listed key only.
pub fn raft_server(id: &Identity, trust: Arc<Trust>) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(PinnedClients(trust)))
        .with_single_cert(id.chain.clone(), id.key.clone_key())
        .context("the node's TLS certificate and key cannot serve")?;
    Ok(Arc::new(cfg))
}

/// A client of other nodes' Raft ports: presents `id`, accepts only a member's key, speaks
/// nothing but HTTPS.
pub fn raft_client(id: &Identity, trust: Arc<Trust>) -> anyhow::Result<reqwest::Client> {
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServers(trust)))
        .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
        .context("the TLS certificate and key cannot be presented")?;
    reqwest::Client::builder()
        .use_preconfigured_tls(cfg)
        .https_only(true)
        .connect_timeout(std::time::Duration::from_secs(3))
        .build()
        .context("cannot build the Raft port's HTTPS client")
}

/// The public port's TLS (no client certificates): for a site without a proxy in front.
pub fn public_server(id: &Identity) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(id.chain.clone(), id.key.clone_key())
        .context("the TLS certificate and key cannot serve")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// How a port takes its connections.
#[derive(Clone)]
pub enum Listen {
    /// Plain HTTP (behind a TLS proxy, or on loopback).
    Plain,
    /// TLS, any client.
    Tls(tokio_rustls::TlsAcceptor),
    /// Mutual TLS: clients with a key `Trust` lists, each request tagged with its [`Caller`].
    Mutual(tokio_rustls::TlsAcceptor, Arc<Trust>),
}

impl Listen {
    pub fn tls(cfg: Arc<rustls::ServerConfig>) -> Listen {
        Listen::Tls(tokio_rustls::TlsAcceptor::from(cfg))
    }
    pub fn mutual(cfg: Arc<rustls::ServerConfig>, trust: Arc<Trust>) -> Listen {
        Listen::Mutual(tokio_rustls::TlsAcceptor::from(cfg), trust)
    }
    /// The URL scheme clients use.
    pub fn scheme(&self) -> &'static str {
        match self {
            Listen::Plain => "http",
            _ => "https",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_64_hex_characters() {
        assert!("ab".parse::<KeyPin>().unwrap_err().contains("64 hex"));
        assert!("zz".repeat(32).parse::<KeyPin>().is_err());
        let pin: KeyPin = "0f".repeat(32).parse().unwrap();
        assert_eq!(serde_json::to_string(&pin).unwrap(), format!("\"{}\"", "0f".repeat(32)));
    }

    #[test]
    fn trust_tells_members_from_administrators_and_strangers() {
        let (p, a, s) = (KeyPin([1; 32]), KeyPin([2; 32]), KeyPin([3; 32]));
        let t = Trust::new([p], [a]);
        assert_eq!(t.caller(p), Some(Caller::Peer(p)));
        assert_eq!(t.caller(a), Some(Caller::Admin(a)));
        assert_eq!(t.caller(s), None);
        t.expect_peer(s);
        assert_eq!(t.caller(s), Some(Caller::Peer(s)), "a node being added");
        t.follow_membership([p], p);
        assert_eq!(t.caller(s), Some(Caller::Peer(s)), "still being added");
        t.follow_membership([p, s], p);
        assert_eq!(t.caller(s), Some(Caller::Peer(s)));
        // A member removed is refused; the node itself and the administrators stay.
        let own = KeyPin([4; 32]);
        t.follow_membership([s], own);
        assert_eq!((t.caller(p), t.caller(s), t.caller(own)), (None, Some(Caller::Peer(s)), Some(Caller::Peer(own))));
        assert_eq!(t.caller(a), Some(Caller::Admin(a)));
        // No membership known yet: what the file listed stays.
        t.follow_membership([], own);
        assert_eq!(t.caller(s), Some(Caller::Peer(s)));
    }
}
