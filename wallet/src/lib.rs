//! wallet: a person's keys and everything done with them, in the browser or natively.
//! A BIP-39 recovery phrase, the signing and encryption keys derived from it, a
//! passphrase-encrypted keystore, transaction signing, record envelopes with per-reader
//! key wrapping, sealed transaction fields, SMART Health Links (the payload and its JWE
//! files), and the plain-language text a person reads before signing.
//!
//! Secrets live in their own types (`Mnemonic`, `Identity`, `Passphrase`, `RecordKey`,
//! `ShlKey`): zeroized on drop, with a `Debug` that prints nothing secret and no `Clone`.

pub mod describe;
pub mod envelope;
pub mod keys;
pub mod keystore;
pub mod sealed;
pub mod shl;
pub mod storage;

#[cfg(all(target_arch = "wasm32", feature = "js"))]
pub mod js;

pub use describe::{Description, Detail, Directory, MapDirectory, NoDirectory, describe, sealed_id};
pub use envelope::{EnvelopeError, RecordKey, content_hash, open, seal, seal_with, unwrap_key, wrap_key};
pub use keys::{ApiTarget, Identity, KeyError, Mnemonic, SignError};
pub use keystore::{KdfParams, Keystore, KeystoreError, Passphrase};
pub use storage::{KeyValueStore, MemoryStore, StorageError, WalletStore, WalletStoreError};

#[cfg(target_arch = "wasm32")]
pub use storage::LocalStorageStore;
