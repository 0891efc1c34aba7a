//! Where keystores are kept: a small string key-value seam (`KeyValueStore`), an
//! in-memory store for tests, the browser's localStorage on wasm32, and `WalletStore`,
//! which saves, loads and lists keystores by address on top of any of them.
//!
//! Only encrypted keystores are stored; nothing secret is written in the clear.

use crate::keystore::{Keystore, KeystoreError};
use ledger_protocol::Address;
use std::collections::BTreeMap;

/// Key prefix of stored keystores; the rest of the key is the address in hex.
pub const KEYSTORE_PREFIX: &str = "healthchain.keystore.";

/// Why the storage backend failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error("storage failed: {0}")]
    Backend(String),
}

/// A store of strings under string keys.
pub trait KeyValueStore {
    fn get(&self, key: &str) -> Result<Option<String>, StorageError>;
    fn set(&mut self, key: &str, value: &str) -> Result<(), StorageError>;
    fn remove(&mut self, key: &str) -> Result<(), StorageError>;
    /// Every key currently stored, in no particular order.
    fn keys(&self) -> Result<Vec<String>, StorageError>;
}

/// A store in memory, for tests and for native use without persistence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStore {
    entries: BTreeMap<String, String>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl KeyValueStore for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
        Ok(self.entries.get(key).cloned())
    }
    fn set(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
        self.entries.insert(key.to_string(), value.to_string());
        Ok(())
    }
    fn remove(&mut self, key: &str) -> Result<(), StorageError> {
        self.entries.remove(key);
        Ok(())
    }
    fn keys(&self) -> Result<Vec<String>, StorageError> {
        Ok(self.entries.keys().cloned().collect())
    }
}

#[cfg(target_arch = "wasm32")]
pub use local::LocalStorageStore;

#[cfg(target_arch = "wasm32")]
mod local {
    use super::{KeyValueStore, StorageError};
    use gloo_storage::{LocalStorage, Storage};
    use wasm_bindgen::{JsCast, JsValue};

    /// The browser's `localStorage`. Values are stored as they are (not JSON-encoded
    /// again), so a stored keystore is its JSON text.
    #[derive(Debug)]
    pub struct LocalStorageStore {
        _private: (),
    }

    fn message(v: JsValue) -> String {
        match v.dyn_ref::<js_sys::Error>() {
            Some(e) => String::from(e.message()),
            None => v.as_string().unwrap_or_else(|| format!("{v:?}")),
        }
    }

    impl LocalStorageStore {
        /// Checks that `localStorage` can be reached (it cannot in some private modes and
        /// sandboxed frames, where touching it throws) before handing out the store.
        pub fn new() -> Result<Self, StorageError> {
            match js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("localStorage")) {
                Ok(v) if !v.is_undefined() && !v.is_null() => Ok(LocalStorageStore { _private: () }),
                Ok(_) => Err(StorageError::Unavailable("this environment has no localStorage".into())),
                Err(e) => Err(StorageError::Unavailable(message(e))),
            }
        }
    }

    impl KeyValueStore for LocalStorageStore {
        fn get(&self, key: &str) -> Result<Option<String>, StorageError> {
            LocalStorage::raw().get_item(key).map_err(|e| StorageError::Backend(message(e)))
        }
        fn set(&mut self, key: &str, value: &str) -> Result<(), StorageError> {
            LocalStorage::raw().set_item(key, value).map_err(|e| StorageError::Backend(message(e)))
        }
        fn remove(&mut self, key: &str) -> Result<(), StorageError> {
            LocalStorage::raw().remove_item(key).map_err(|e| StorageError::Backend(message(e)))
        }
        fn keys(&self) -> Result<Vec<String>, StorageError> {
            let raw = LocalStorage::raw();
            let n = raw.length().map_err(|e| StorageError::Backend(message(e)))?;
            let mut out = Vec::with_capacity(n as usize);
            for i in 0..n {
                if let Some(k) = raw.key(i).map_err(|e| StorageError::Backend(message(e)))? {
                    out.push(k);
                }
            }
            Ok(out)
        }
    }
}

/// Why a keystore could not be saved or loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletStoreError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
}

/// Keystores by address, on any `KeyValueStore`.
#[derive(Debug)]
pub struct WalletStore<S> {
    store: S,
}

fn key_of(address: &Address) -> String {
    format!("{KEYSTORE_PREFIX}{}", address.to_hex())
}

impl<S: KeyValueStore> WalletStore<S> {
    pub fn new(store: S) -> Self {
        WalletStore { store }
    }

    /// Saves (or replaces) the keystore of its address.
    pub fn save(&mut self, keystore: &Keystore) -> Result<(), WalletStoreError> {
        Ok(self.store.set(&key_of(&keystore.address()), &keystore.to_json())?)
    }

    /// The keystore of an address, if one is stored.
    pub fn load(&self, address: &Address) -> Result<Option<Keystore>, WalletStoreError> {
        let Some(json) = self.store.get(&key_of(address))? else {
            return Ok(None);
        };
        let keystore = Keystore::from_json(&json)?;
        if keystore.address() != *address {
            return Err(KeystoreError::Malformed(format!(
                "the keystore stored for {address} is for {}",
                keystore.address()
            ))
            .into());
        }
        Ok(Some(keystore))
    }

    /// The addresses with a stored keystore, sorted.
    pub fn list(&self) -> Result<Vec<Address>, WalletStoreError> {
        let mut out: Vec<Address> = self
            .store
            .keys()?
            .iter()
            .filter_map(|k| k.strip_prefix(KEYSTORE_PREFIX))
            .filter_map(|hex| Address::from_hex(hex).ok())
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Every stored keystore that can be read, sorted by address (an unreadable entry is
    /// left out rather than hiding the others).
    pub fn keystores(&self) -> Vec<Keystore> {
        let addresses = self.list().unwrap_or_default();
        addresses.iter().filter_map(|a| self.load(a).ok().flatten()).collect()
    }

    /// Forgets the keystore of an address (the keys are lost unless the recovery phrase
    /// or another copy is kept).
    pub fn remove(&mut self, address: &Address) -> Result<(), WalletStoreError> {
        Ok(self.store.remove(&key_of(address))?)
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn into_inner(self) -> S {
        self.store
    }
}
