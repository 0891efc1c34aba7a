//! The JavaScript API of the wallet (wasm32 only): recovery phrases, keystores in
//! localStorage, an opaque unlocked-wallet handle that signs, transaction descriptions,
//! and record sealing and key wrapping. Every failure is a JS `Error` with a sentence.
//!
//! Secrets stay in Rust memory behind opaque handles (`UnlockedWallet`, `RecordKey`,
//! `SealedRecord`); call `free()` on them when done so their memory is zeroized. Only
//! the recovery phrase itself crosses into JS, when it is made, so it can be shown.

use crate::describe::{MapDirectory, NoDirectory, describe};
use crate::envelope::{self, RecordKey};
use crate::keys::{Identity, Mnemonic};
use crate::keystore::{KdfParams, Keystore, Passphrase};
use crate::storage::{LocalStorageStore, WalletStore};
use ledger_protocol::codec::Encode;
use ledger_protocol::wire::ApiRequest;
use ledger_protocol::{Address, Hash, PublicKey, Transaction};
use rand_core::OsRng;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

/// A value given either as a JS object or as JSON text.
fn from_js<T: DeserializeOwned>(value: JsValue, what: &str) -> Result<T, JsError> {
    let parsed = match value.as_string() {
        Some(text) => serde_json::from_str(&text).map_err(|e| e.to_string()),
        None => serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string()),
    };
    parsed.map_err(|e| JsError::new(&format!("this is not a valid {what}: {e}")))
}

fn public_key(hex: &str) -> Result<PublicKey, JsError> {
    PublicKey::from_hex(hex).map_err(|_| JsError::new("this is not a public key: expected 33 bytes as hex"))
}

/// A new 24-word recovery phrase from the browser's secure random number generator.
#[wasm_bindgen(js_name = generateMnemonic)]
pub fn generate_mnemonic() -> Result<String, JsError> {
    Ok(Mnemonic::generate()?.phrase().to_string())
}

/// Throws a JS error saying what is wrong with a typed recovery phrase, if anything.
#[wasm_bindgen(js_name = validateMnemonic)]
pub fn validate_mnemonic(phrase: &str) -> Result<(), JsError> {
    Mnemonic::parse(phrase)?;
    Ok(())
}

/// Keystore JSON for a recovery phrase under a passphrase, with the default Argon2id
/// costs (64 MiB, 3 passes, 1 lane).
#[wasm_bindgen(js_name = createKeystore)]
pub fn create_keystore(phrase: &str, passphrase: String, note: Option<String>) -> Result<String, JsError> {
    let mnemonic = Mnemonic::parse(phrase)?;
    let keystore = Keystore::create(&mnemonic, &Passphrase::new(passphrase), KdfParams::DEFAULT, note, &mut OsRng)?;
    Ok(keystore.to_json())
}

/// `createKeystore` with chosen Argon2id costs: memory in KiB, passes, lanes.
#[wasm_bindgen(js_name = createKeystoreWithParams)]
pub fn create_keystore_with_params(
    phrase: &str,
    passphrase: String,
    m_kib: u32,
    t: u32,
    p: u32,
    note: Option<String>,
) -> Result<String, JsError> {
    let mnemonic = Mnemonic::parse(phrase)?;
    let params = KdfParams::new(m_kib, t, p)?;
    let keystore = Keystore::create(&mnemonic, &Passphrase::new(passphrase), params, note, &mut OsRng)?;
    Ok(keystore.to_json())
}

/// The address a keystore is for, read without the passphrase.
#[wasm_bindgen(js_name = keystoreAddress)]
pub fn keystore_address(json: &str) -> Result<String, JsError> {
    Ok(Keystore::from_json(json)?.address().to_hex())
}

/// Opens a keystore. Throws "wrong passphrase or corrupted keystore" when it cannot.
#[wasm_bindgen(js_name = unlockKeystore)]
pub fn unlock_keystore(json: &str, passphrase: String) -> Result<UnlockedWallet, JsError> {
    let identity = Keystore::from_json(json)?.unlock(&Passphrase::new(passphrase))?;
    Ok(UnlockedWallet { identity })
}

/// The plain-language description of a transaction (an object or JSON text in the
/// protocol's serde form), as `{title, sentence, details: [{label, value}]}`. The
/// directory is optional: `{accounts: {address: name}, consents: {id: name}, records,
/// prescriptions, claims, break_glass, cases}`.
#[wasm_bindgen(js_name = describeTransaction)]
pub fn describe_transaction(tx: JsValue, directory: JsValue) -> Result<JsValue, JsError> {
    let tx: Transaction = from_js(tx, "transaction")?;
    let description = if directory.is_undefined() || directory.is_null() {
        describe(&tx, &NoDirectory)
    } else {
        describe(&tx, &from_js::<MapDirectory>(directory, "directory")?)
    };
    Ok(serde_wasm_bindgen::to_value(&description)?)
}

/// The content hash the ledger anchors for a record's plaintext, as hex.
#[wasm_bindgen(js_name = contentHash)]
pub fn content_hash(plaintext: &[u8]) -> String {
    envelope::content_hash(plaintext).to_hex()
}

/// The blob id (content address) of sealed bytes, as hex.
#[wasm_bindgen(js_name = blobId)]
pub fn blob_id(sealed: &[u8]) -> String {
    envelope::blob_id(sealed).to_hex()
}

/// Encrypts a record under a fresh key. Wrap the key for each reader with `wrapFor`.
#[wasm_bindgen(js_name = sealRecord)]
pub fn seal_record(plaintext: &[u8]) -> Result<SealedRecord, JsError> {
    let (key, blob) = envelope::seal(plaintext, &mut OsRng)?;
    Ok(SealedRecord {
        content_hash: envelope::content_hash(plaintext),
        blob_id: envelope::blob_id(&blob),
        plaintext_size: plaintext.len(),
        key,
        blob,
    })
}

fn wallet_store() -> Result<WalletStore<LocalStorageStore>, JsError> {
    Ok(WalletStore::new(LocalStorageStore::new()?))
}

/// Saves keystore JSON in localStorage under its address; returns the address.
#[wasm_bindgen(js_name = saveKeystore)]
pub fn save_keystore(json: &str) -> Result<String, JsError> {
    let keystore = Keystore::from_json(json)?;
    wallet_store()?.save(&keystore)?;
    Ok(keystore.address().to_hex())
}

/// The keystore JSON stored for an address, or `undefined`.
#[wasm_bindgen(js_name = loadKeystore)]
pub fn load_keystore(address: &str) -> Result<Option<String>, JsError> {
    let address = Address::from_hex(address)?;
    Ok(wallet_store()?.load(&address)?.map(|k| k.to_json()))
}

/// The addresses with a keystore in localStorage.
#[wasm_bindgen(js_name = listKeystores)]
pub fn list_keystores() -> Result<Vec<String>, JsError> {
    Ok(wallet_store()?.list()?.iter().map(Address::to_hex).collect())
}

/// Removes the keystore of an address from localStorage.
#[wasm_bindgen(js_name = removeKeystore)]
pub fn remove_keystore(address: &str) -> Result<(), JsError> {
    let address = Address::from_hex(address)?;
    Ok(wallet_store()?.remove(&address)?)
}

/// An unlocked wallet: its keys stay in wasm memory; `free()` zeroizes them.
#[wasm_bindgen]
pub struct UnlockedWallet {
    identity: Identity,
}

#[wasm_bindgen]
impl UnlockedWallet {
    /// The account address, as hex.
    pub fn address(&self) -> String {
        self.identity.address().to_hex()
    }

    /// The signing public key (33 bytes compressed), as hex.
    #[wasm_bindgen(js_name = publicKey)]
    pub fn public_key(&self) -> String {
        self.identity.public_key().to_hex()
    }

    /// The encryption public key record keys are wrapped to, as hex.
    #[wasm_bindgen(js_name = encryptionPublicKey)]
    pub fn encryption_public_key(&self) -> String {
        self.identity.encryption_public_key().to_hex()
    }

    /// Signs a transaction (an object or JSON text in the protocol's serde form) whose
    /// signer is this wallet; returns the hex of the signed canonical bytes, which is
    /// what `POST /v1/transactions` takes.
    #[wasm_bindgen(js_name = signTransaction)]
    pub fn sign_transaction(&self, tx: JsValue) -> Result<String, JsError> {
        let tx: Transaction = from_js(tx, "transaction")?;
        Ok(hex::encode(self.identity.sign(tx)?.to_canonical_bytes()))
    }

    /// Signs an API request (`{chain_id, audience, method, path, body_hash, timestamp_ms,
    /// nonce, signer}`, signer being this wallet's public key); returns the value of the
    /// `Authorization` header.
    #[wasm_bindgen(js_name = signApiRequest)]
    pub fn sign_api_request(&self, request: JsValue) -> Result<String, JsError> {
        let request: ApiRequest = from_js(request, "API request")?;
        Ok(self.identity.sign_api_request(request)?.to_header())
    }

    /// Unwraps a record key wrapped for this wallet.
    #[wasm_bindgen(js_name = unwrapKey)]
    pub fn unwrap_key(&self, wrapped: &[u8]) -> Result<JsRecordKey, JsError> {
        Ok(JsRecordKey { key: envelope::unwrap_key(&self.identity, wrapped)? })
    }

    /// Unwraps a record key and decrypts the record's sealed bytes with it.
    #[wasm_bindgen(js_name = openRecord)]
    pub fn open_record(&self, wrapped: &[u8], sealed: &[u8]) -> Result<Vec<u8>, JsError> {
        let key = envelope::unwrap_key(&self.identity, wrapped)?;
        Ok(envelope::open(&key, sealed)?)
    }
}

/// One record's key; `free()` zeroizes it.
#[wasm_bindgen(js_name = RecordKey)]
pub struct JsRecordKey {
    key: RecordKey,
}

#[wasm_bindgen(js_class = RecordKey)]
impl JsRecordKey {
    /// Wraps this key for a reader, given the reader's encryption public key as hex.
    #[wasm_bindgen(js_name = wrapFor)]
    pub fn wrap_for(&self, reader_encryption_public_key: &str) -> Result<Vec<u8>, JsError> {
        Ok(envelope::wrap_key(&self.key, &public_key(reader_encryption_public_key)?, &mut OsRng)?)
    }

    /// Decrypts a record's sealed bytes.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, JsError> {
        Ok(envelope::open(&self.key, sealed)?)
    }
}

/// A freshly sealed record: its encrypted bytes, hashes, and (inside) its key.
#[wasm_bindgen]
pub struct SealedRecord {
    key: RecordKey,
    blob: Vec<u8>,
    content_hash: Hash,
    blob_id: Hash,
    plaintext_size: usize,
}

#[wasm_bindgen]
impl SealedRecord {
    /// The sealed bytes to upload.
    #[wasm_bindgen(getter)]
    pub fn blob(&self) -> Vec<u8> {
        self.blob.clone()
    }

    /// The content hash of the plaintext, as hex.
    #[wasm_bindgen(getter, js_name = contentHash)]
    pub fn content_hash(&self) -> String {
        self.content_hash.to_hex()
    }

    /// The blob id of the sealed bytes, as hex.
    #[wasm_bindgen(getter, js_name = blobId)]
    pub fn blob_id(&self) -> String {
        self.blob_id.to_hex()
    }

    /// Bytes of plaintext.
    #[wasm_bindgen(getter, js_name = plaintextSize)]
    pub fn plaintext_size(&self) -> usize {
        self.plaintext_size
    }

    /// Wraps the record's key for a reader, given the reader's encryption public key.
    #[wasm_bindgen(js_name = wrapFor)]
    pub fn wrap_for(&self, reader_encryption_public_key: &str) -> Result<Vec<u8>, JsError> {
        Ok(envelope::wrap_key(&self.key, &public_key(reader_encryption_public_key)?, &mut OsRng)?)
    }

    /// Moves the record key out into its own handle (this object is consumed).
    #[wasm_bindgen(js_name = intoKey)]
    pub fn into_key(self) -> JsRecordKey {
        JsRecordKey { key: self.key }
    }
}
