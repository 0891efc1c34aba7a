//! Hashes, keys, addresses and signatures: SHA-256, secp256k1 ECDSA over 32-byte digests
//! with low-S enforced, and a verifier seam so a node can plug in a faster backend.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    Hash(h.finalize().into())
}

macro_rules! fixed_bytes {
    ($(#[$m:meta])* $name:ident, $n:expr, $what:literal) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $n]);

        impl $name {
            pub const LEN: usize = $n;
            pub fn as_bytes(&self) -> &[u8; $n] {
                &self.0
            }
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// Parses lowercase or uppercase hex, with or without a `0x` prefix.
            pub fn from_hex(s: &str) -> Result<Self, ParseHexError> {
                let s = s.strip_prefix("0x").unwrap_or(s);
                let mut out = [0u8; $n];
                hex::decode_to_slice(s, &mut out).map_err(|_| ParseHexError { what: $what, len: $n })?;
                Ok(Self(out))
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl Encode for $name {
            fn encode(&self, w: &mut Writer) {
                w.raw(&self.0);
            }
        }
        impl Decode for $name {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok(Self(r.array()?))
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }
        impl std::str::FromStr for $name {
            type Err = ParseHexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s)
            }
        }
    };
}

/// A hex string that is not the expected kind of value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {what}: expected {len} bytes as hex")]
pub struct ParseHexError {
    pub what: &'static str,
    pub len: usize,
}

fixed_bytes!(
    /// A SHA-256 digest: transaction ids, block hashes, content hashes, blob ids.
    Hash, 32, "hash"
);
fixed_bytes!(
    /// A compressed SEC1 secp256k1 public key (33 bytes).
    PublicKey, 33, "public key"
);
fixed_bytes!(
    /// An account address: the first 20 bytes of SHA-256("hc-address" ‖ public key).
    Address, 20, "address"
);
fixed_bytes!(
    /// A compact ECDSA signature r ‖ s, with s in the lower half of the group order.
    Signature, 64, "signature"
);

impl Hash {
    pub const ZERO: Hash = Hash([0u8; 32]);
}

/// Half the secp256k1 group order, big-endian: s above this is "high".
const HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5d, 0x57, 0x6e,
    0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

impl Signature {
    /// True when s is in the upper half of the group order (a malleated signature).
    pub fn is_high_s(&self) -> bool {
        self.0[32..] > HALF_ORDER[..]
    }
}

impl PublicKey {
    pub fn address(&self) -> Address {
        let h = sha256(&[b"hc-address", &self.0]);
        let mut a = [0u8; 20];
        a.copy_from_slice(&h.0[..20]);
        Address(a)
    }
    /// Whether the bytes are a point on the curve.
    pub fn is_valid(&self) -> bool {
        k256::ecdsa::VerifyingKey::from_sec1_bytes(&self.0).is_ok()
    }
}

impl From<&k256::ecdsa::VerifyingKey> for PublicKey {
    fn from(vk: &k256::ecdsa::VerifyingKey) -> Self {
        let point = vk.to_encoded_point(true);
        let mut out = [0u8; 33];
        out.copy_from_slice(point.as_bytes());
        PublicKey(out)
    }
}

impl From<&k256::PublicKey> for PublicKey {
    fn from(pk: &k256::PublicKey) -> Self {
        PublicKey::from(&k256::ecdsa::VerifyingKey::from(pk))
    }
}

/// Signs a 32-byte digest with RFC 6979 deterministic nonces; the result is low-S.
pub fn sign_digest(key: &k256::ecdsa::SigningKey, digest: &Hash) -> Signature {
    let sig: k256::ecdsa::Signature =
        key.sign_prehash(&digest.0).expect("signing a 32-byte prehash with a valid key cannot fail");
    let sig = sig.normalize_s().unwrap_or(sig);
    let mut out = [0u8; 64];
    out.copy_from_slice(&sig.to_bytes());
    Signature(out)
}

/// Checks an ECDSA signature over a digest. Implementations must reject high-S signatures.
pub trait SignatureVerifier: Sync {
    fn verify(&self, key: &PublicKey, digest: &Hash, sig: &Signature) -> bool;
    /// Whether the bytes are a valid public key (a point on the curve).
    fn valid_key(&self, key: &PublicKey) -> bool {
        key.is_valid()
    }
}

/// The portable pure-Rust verifier (k256); used in browsers and as the reference.
#[derive(Debug, Clone, Copy, Default)]
pub struct K256Verifier;

impl SignatureVerifier for K256Verifier {
    fn verify(&self, key: &PublicKey, digest: &Hash, sig: &Signature) -> bool {
        if sig.is_high_s() {
            return false;
        }
        let Ok(vk) = k256::ecdsa::VerifyingKey::from_sec1_bytes(&key.0) else {
            return false;
        };
        let Ok(s) = k256::ecdsa::Signature::from_slice(&sig.0) else {
            return false;
        };
        vk.verify_prehash(&digest.0, &s).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_s_is_detected_and_rejected() {
        let sk = k256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let pk = PublicKey::from(sk.verifying_key());
        let d = sha256(&[b"hello"]);
        let sig = sign_digest(&sk, &d);
        assert!(!sig.is_high_s());
        assert!(K256Verifier.verify(&pk, &d, &sig));
        // Negate s: n - s gives the malleated twin of the same signature.
        let s = k256::ecdsa::Signature::from_slice(&sig.0).unwrap();
        let (r, s_scalar) = s.split_scalars();
        let high = k256::ecdsa::Signature::from_scalars(r, -*s_scalar).unwrap();
        let mut hb = [0u8; 64];
        hb.copy_from_slice(&high.to_bytes());
        let high = Signature(hb);
        assert!(high.is_high_s());
        assert!(!K256Verifier.verify(&pk, &d, &high));
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = sha256(&[b"x"]);
        assert_eq!(Hash::from_hex(&h.to_hex()).unwrap(), h);
        assert!(Hash::from_hex("abc").is_err());
        assert!(Address::from_hex(&format!("0x{}", "11".repeat(20))).is_ok());
    }
}
