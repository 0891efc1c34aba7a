//! SMART Health Links (HL7, version 1): the `shlink:/` payload a patient hands over (as text
//! or a QR code) and the files behind it, each a compact JWE with direct encryption under
//! A256GCM. The key travels only in the link: the node that answers the manifest keeps
//! ciphertext it cannot open.
//!
//! Pure: the caller brings the randomness and the clock.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// What a link starts with, after an optional viewer address and `#`.
pub const SCHEME: &str = "shlink:/";
/// Longest label the specification allows (characters).
pub const MAX_LABEL_CHARS: usize = 80;
/// Longest manifest address the specification allows (characters).
pub const MAX_URL_CHARS: usize = 128;
/// Largest decrypted file this wallet opens (a whole FHIR history fits many times over).
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// The key of one link's files (AES-256), secret: it is the link's whole protection.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ShlKey([u8; 32]);

impl ShlKey {
    /// A fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        ShlKey(k)
    }
    /// The key as the payload writes it: 43 characters of unpadded base64url.
    pub fn encoded(&self) -> Zeroizing<String> {
        Zeroizing::new(B64.encode(self.0))
    }
    /// Reads the payload's `key`.
    pub fn parse(text: &str) -> Result<Self, ShlError> {
        let bytes = Zeroizing::new(B64.decode(text).map_err(|_| ShlError::BadKey)?);
        let k: [u8; 32] = bytes.as_slice().try_into().map_err(|_| ShlError::BadKey)?;
        Ok(ShlKey(k))
    }
}

impl std::fmt::Debug for ShlKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShlKey(..)")
    }
}

/// What a link's flags say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// `L`: long-term; the files may change while the link lives.
    pub long_term: bool,
    /// `P`: the manifest asks for a passcode.
    pub passcode: bool,
    /// `U`: the address is a single file, fetched directly (never with a passcode).
    pub direct_file: bool,
}

impl Flags {
    /// The `flag` string, letters in alphabetical order; `None` when no flag is set.
    pub fn to_field(self) -> Option<String> {
        let s: String = [(self.long_term, 'L'), (self.passcode, 'P'), (self.direct_file, 'U')]
            .into_iter()
            .filter_map(|(on, c)| on.then_some(c))
            .collect();
        (!s.is_empty()).then_some(s)
    }
    fn parse(field: Option<&str>) -> Result<Self, ShlError> {
        let mut flags = Flags::default();
        for c in field.unwrap_or("").chars() {
            match c {
                'L' => flags.long_term = true,
                'P' => flags.passcode = true,
                'U' => flags.direct_file = true,
                other => return Err(ShlError::BadFlag(other)),
            }
        }
        if flags.passcode && flags.direct_file {
            return Err(ShlError::PasscodeWithDirectFile);
        }
        Ok(flags)
    }
}

/// A link's payload: where its manifest is, the files' key, and what the holder is told.
#[derive(Debug)]
pub struct Link {
    /// The manifest's address (or, with the `U` flag, the file's).
    pub url: String,
    pub key: ShlKey,
    /// When the link stops working, Unix seconds (a hint for the holder; the server decides).
    pub exp: Option<u64>,
    pub flags: Flags,
    /// A short description for the holder, at most 80 characters.
    pub label: Option<String>,
}

/// The payload's JSON, as the specification names its fields.
#[derive(Serialize, Deserialize)]
struct PayloadJson {
    url: String,
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    v: Option<u32>,
}

impl Link {
    /// The link as text: `shlink:/` and the payload in unpadded base64url; with `viewer`
    /// (a page that opens links), that page's address, `#`, then the link.
    pub fn to_text(&self, viewer: Option<&str>) -> Result<Zeroizing<String>, ShlError> {
        check_fields(&self.url, self.label.as_deref())?;
        let json = PayloadJson {
            url: self.url.clone(),
            key: self.key.encoded().to_string(),
            exp: self.exp,
            flag: self.flags.to_field(),
            label: self.label.clone(),
            v: Some(1),
        };
        let json = Zeroizing::new(serde_json::to_vec(&json).map_err(|_| ShlError::BadPayload)?);
        let prefix = viewer.map(|v| format!("{v}#")).unwrap_or_default();
        Ok(Zeroizing::new(format!("{prefix}{SCHEME}{}", B64.encode(&*json))))
    }

    /// Reads a link, bare or behind a viewer's address (`https://viewer/#shlink:/...`).
    pub fn parse(text: &str) -> Result<Self, ShlError> {
        let text = text.trim();
        let at = text.find(SCHEME).ok_or(ShlError::NotALink)?;
        if at > 0 && !text[..at].ends_with('#') {
            return Err(ShlError::NotALink);
        }
        let json = Zeroizing::new(B64.decode(&text[at + SCHEME.len()..]).map_err(|_| ShlError::BadPayload)?);
        let p: PayloadJson = serde_json::from_slice(&json).map_err(|_| ShlError::BadPayload)?;
        if let Some(v) = p.v.filter(|v| *v != 1) {
            return Err(ShlError::Version(v));
        }
        check_fields(&p.url, p.label.as_deref())?;
        let key = ShlKey::parse(&Zeroizing::new(p.key))?;
        Ok(Link { url: p.url, key, exp: p.exp, flags: Flags::parse(p.flag.as_deref())?, label: p.label })
    }

    /// Whether the link has expired at `now` (Unix seconds).
    pub fn expired(&self, now: u64) -> bool {
        self.exp.is_some_and(|exp| now >= exp)
    }
}

fn check_fields(url: &str, label: Option<&str>) -> Result<(), ShlError> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(ShlError::UrlTooLong);
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ShlError::BadUrl);
    }
    if label.is_some_and(|l| l.chars().count() > MAX_LABEL_CHARS) {
        return Err(ShlError::LabelTooLong);
    }
    Ok(())
}

/// The JWE protected header: direct key agreement, AES-256-GCM, the content's type, and
/// `zip: DEF` when the content was deflated before encryption.
#[derive(Serialize, Deserialize)]
struct JweHeader {
    alg: String,
    enc: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zip: Option<String>,
}

/// Encrypts one file for a link: compact JWE (`alg: dir`, `enc: A256GCM`, `cty` the
/// content type), a fresh 96-bit nonce, the encoded header as associated data.
pub fn encrypt_file(
    key: &ShlKey,
    content_type: &str,
    plaintext: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<String, ShlError> {
    let header = JweHeader { alg: "dir".into(), enc: "A256GCM".into(), cty: Some(content_type.into()), zip: None };
    let header = B64.encode(serde_json::to_vec(&header).map_err(|_| ShlError::BadPayload)?);
    let mut iv = [0u8; 12];
    rng.fill_bytes(&mut iv);
    let cipher = Aes256Gcm::new_from_slice(&key.0).map_err(|_| ShlError::BadKey)?;
    let sealed = cipher
        .encrypt(Nonce::from_slice(&iv), Payload { msg: plaintext, aad: header.as_bytes() })
        .map_err(|_| ShlError::Encrypt)?;
    let (ciphertext, tag) = sealed.split_at(sealed.len() - 16);
    Ok(format!("{header}..{}.{}.{}", B64.encode(iv), B64.encode(ciphertext), B64.encode(tag)))
}

/// A link's file, opened: its content type (the header's `cty`) and its bytes.
#[derive(Debug)]
pub struct File {
    pub content_type: Option<String>,
    pub content: Zeroizing<Vec<u8>>,
}

/// Opens a compact JWE made for a link (by this wallet or any other implementation):
/// `dir` with `A256GCM` only, inflating `zip: DEF` content.
pub fn decrypt_file(key: &ShlKey, jwe: &str) -> Result<File, ShlError> {
    let parts: Vec<&str> = jwe.trim().split('.').collect();
    let [header_b64, encrypted_key, iv, ciphertext, tag] = parts[..] else {
        return Err(ShlError::BadJwe("it does not have the five parts of a compact JWE"));
    };
    if !encrypted_key.is_empty() {
        return Err(ShlError::BadJwe("direct encryption has no encrypted key, but this one has one"));
    }
    let header: JweHeader = B64
        .decode(header_b64)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(ShlError::BadJwe("its header is not base64url JSON"))?;
    if header.alg != "dir" || header.enc != "A256GCM" {
        return Err(ShlError::Unsupported(format!("alg {} with enc {}", header.alg, header.enc)));
    }
    let iv = B64.decode(iv).map_err(|_| ShlError::BadJwe("its nonce is not base64url"))?;
    if iv.len() != 12 {
        return Err(ShlError::BadJwe("its nonce is not 96 bits"));
    }
    let mut sealed = B64.decode(ciphertext).map_err(|_| ShlError::BadJwe("its ciphertext is not base64url"))?;
    let tag = B64.decode(tag).map_err(|_| ShlError::BadJwe("its tag is not base64url"))?;
    if tag.len() != 16 {
        return Err(ShlError::BadJwe("its tag is not 128 bits"));
    }
    if sealed.len() > MAX_FILE_BYTES {
        return Err(ShlError::TooLarge);
    }
    sealed.extend_from_slice(&tag);
    let cipher = Aes256Gcm::new_from_slice(&key.0).map_err(|_| ShlError::BadKey)?;
    let plain = Zeroizing::new(
        cipher
            .decrypt(Nonce::from_slice(&iv), Payload { msg: &sealed, aad: header_b64.as_bytes() })
            .map_err(|_| ShlError::Decrypt)?,
    );
    let content = match header.zip.as_deref() {
        None => plain,
        Some("DEF") => inflate(&plain)?,
        Some(other) => return Err(ShlError::Unsupported(format!("zip {other}"))),
    };
    Ok(File { content_type: header.cty, content })
}

/// Raw DEFLATE (RFC 1951), refusing more than [`MAX_FILE_BYTES`].
fn inflate(deflated: &[u8]) -> Result<Zeroizing<Vec<u8>>, ShlError> {
    use std::io::Read;
    let mut out = Zeroizing::new(Vec::new());
    flate2::read::DeflateDecoder::new(deflated)
        .take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| ShlError::BadJwe("its compressed content is not valid DEFLATE"))?;
    if out.len() > MAX_FILE_BYTES {
        return Err(ShlError::TooLarge);
    }
    Ok(out)
}

/// What was wrong with a link or one of its files, in words for the person holding it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShlError {
    #[error("this is not a SMART Health Link (it should contain shlink:/)")]
    NotALink,
    #[error("the link is damaged: its payload is not base64url JSON with a url and a key")]
    BadPayload,
    #[error("the link is of version {0}, which this portal does not read (it reads version 1)")]
    Version(u32),
    #[error("the link's key is not 32 bytes of base64url: the link was cut or changed")]
    BadKey,
    #[error("the link's flag {0:?} is not one of L, P, U")]
    BadFlag(char),
    #[error("the link asks for a passcode and is a direct file (flags P and U), which cannot go together")]
    PasscodeWithDirectFile,
    #[error("the link's address is longer than 128 characters")]
    UrlTooLong,
    #[error("the link's address is not an http(s) address")]
    BadUrl,
    #[error("the link's label is longer than 80 characters")]
    LabelTooLong,
    #[error("a shared file is damaged: {0}")]
    BadJwe(&'static str),
    #[error("a shared file uses {0}, which this portal does not open (it opens dir with A256GCM)")]
    Unsupported(String),
    #[error("a shared file is larger than this portal opens (16 MiB)")]
    TooLarge,
    #[error("a shared file could not be encrypted")]
    Encrypt,
    #[error("a shared file does not open with this link's key: the link or the file was changed")]
    Decrypt,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    fn link() -> Link {
        Link {
            url: "https://node.example/shl/abc".into(),
            key: ShlKey::generate(&mut OsRng),
            exp: Some(1_800_000_000),
            flags: Flags { passcode: true, ..Flags::default() },
            label: Some("Jordan's records for the travel clinic".into()),
        }
    }

    #[test]
    fn a_link_reads_back_bare_and_behind_a_viewer() {
        let l = link();
        for viewer in [None, Some("https://portal.example/shl")] {
            let text = l.to_text(viewer).unwrap();
            assert!(text.contains("#shlink:/") == viewer.is_some());
            let back = Link::parse(&text).unwrap();
            assert_eq!((back.url.as_str(), back.exp, back.flags), (l.url.as_str(), l.exp, l.flags));
            assert_eq!(back.label, l.label);
            assert_eq!(*back.key.encoded(), *l.key.encoded());
            assert_eq!(back.key.encoded().len(), 43);
        }
        assert_eq!(Flags { long_term: true, passcode: true, direct_file: false }.to_field().as_deref(), Some("LP"));
        assert!(l.expired(1_800_000_000) && !l.expired(1_799_999_999));
    }

    #[test]
    fn damaged_links_are_refused_with_what_is_wrong() {
        assert_eq!(Link::parse("https://example.org/").unwrap_err(), ShlError::NotALink);
        assert_eq!(Link::parse("shlink:/!!!").unwrap_err(), ShlError::BadPayload);
        assert_eq!(Link::parse("xshlink:/e30").unwrap_err(), ShlError::NotALink);
        let payload = |json: &str| format!("shlink:/{}", B64.encode(json));
        assert_eq!(Link::parse(&payload("{}")).unwrap_err(), ShlError::BadPayload);
        let ok_key = B64.encode([7u8; 32]);
        let with = |extra: &str| payload(&format!(r#"{{"url":"https://a.example/m","key":"{ok_key}"{extra}}}"#));
        assert!(Link::parse(&with("")).is_ok());
        assert_eq!(Link::parse(&with(r#","flag":"PU""#)).unwrap_err(), ShlError::PasscodeWithDirectFile);
        assert_eq!(Link::parse(&with(r#","flag":"X""#)).unwrap_err(), ShlError::BadFlag('X'));
        assert_eq!(Link::parse(&with(r#","v":2"#)).unwrap_err(), ShlError::Version(2));
        assert_eq!(
            Link::parse(&with(&format!(r#","label":"{}""#, "a".repeat(81)))).unwrap_err(),
            ShlError::LabelTooLong
        );
        let short_key = payload(&format!(r#"{{"url":"https://a.example/m","key":"{}"}}"#, B64.encode([1u8; 31])));
        assert_eq!(Link::parse(&short_key).unwrap_err(), ShlError::BadKey);
        let ftp = payload(&format!(r#"{{"url":"ftp://a.example/m","key":"{ok_key}"}}"#));
        assert_eq!(Link::parse(&ftp).unwrap_err(), ShlError::BadUrl);
    }

    #[test]
    fn a_file_opens_with_its_key_only_and_not_after_a_change() {
        let key = ShlKey::generate(&mut OsRng);
        let jwe = encrypt_file(&key, "application/fhir+json", br#"{"resourceType":"Bundle"}"#, &mut OsRng).unwrap();
        assert_eq!(jwe.split('.').count(), 5);
        let file = decrypt_file(&key, &jwe).unwrap();
        assert_eq!(file.content_type.as_deref(), Some("application/fhir+json"));
        assert_eq!(&file.content[..], br#"{"resourceType":"Bundle"}"#);
        let other = ShlKey::generate(&mut OsRng);
        assert_eq!(decrypt_file(&other, &jwe).unwrap_err(), ShlError::Decrypt);
        // Any change, the header (associated data) included, is detected.
        let mut parts: Vec<String> = jwe.split('.').map(String::from).collect();
        parts[0] = B64.encode(br#"{"alg":"dir","enc":"A256GCM","cty":"text/plain"}"#);
        assert_eq!(decrypt_file(&key, &parts.join(".")).unwrap_err(), ShlError::Decrypt);
        assert!(matches!(decrypt_file(&key, "a.b.c").unwrap_err(), ShlError::BadJwe(_)));
        let wrapped = format!("{}.x.{}", parts[0], parts[2..].join("."));
        assert!(matches!(decrypt_file(&key, &wrapped).unwrap_err(), ShlError::BadJwe(_)));
    }

    #[test]
    fn deflated_files_from_other_implementations_open() {
        use std::io::Write;
        let key = ShlKey::generate(&mut OsRng);
        let content = br#"{"resourceType":"Patient","id":"x"}"#;
        let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        deflate.write_all(content).unwrap();
        let deflated = deflate.finish().unwrap();
        let header = B64.encode(br#"{"alg":"dir","enc":"A256GCM","zip":"DEF"}"#);
        let iv = [3u8; 12];
        let sealed = Aes256Gcm::new_from_slice(&key.0)
            .unwrap()
            .encrypt(Nonce::from_slice(&iv), Payload { msg: &deflated, aad: header.as_bytes() })
            .unwrap();
        let (ct, tag) = sealed.split_at(sealed.len() - 16);
        let jwe = format!("{header}..{}.{}.{}", B64.encode(iv), B64.encode(ct), B64.encode(tag));
        let file = decrypt_file(&key, &jwe).unwrap();
        assert_eq!((file.content_type, &file.content[..]), (None, &content[..]));
    }
}
