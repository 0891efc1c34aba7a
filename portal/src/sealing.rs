//! Sealed transaction fields in the portal: sealing what a person writes for the people who
//! may read it (and telling the signing sheet what it says), and opening what was sealed for
//! the unlocked identity. The node never sees the plaintext.

use crate::api::NodeInfo;
use crate::session::Session;
use ledger_protocol::Sealed;
use ledger_protocol::state::Account;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wallet::MapDirectory;
use wallet::sealed::Reader;

/// An account as a reader of sealed content.
pub fn reader(a: &Account) -> Reader {
    Reader { address: a.address, encryption_key: a.encryption_key }
}

/// The hospital's authorities (from genesis), who review break-glass and may find patients.
pub fn authorities(info: Option<&NodeInfo>) -> Vec<Reader> {
    info.map(|i| {
        i.genesis
            .authorities
            .iter()
            .map(|a| Reader { address: a.key.address(), encryption_key: a.encryption_key })
            .collect()
    })
    .unwrap_or_default()
}

/// Seals `value` for `readers` and records its plaintext in `names`, so that the signing
/// sheet shows what the person signs.
pub fn seal<T: Serialize>(value: &T, readers: &[Reader], names: &mut MapDirectory) -> Result<Sealed, String> {
    let sealed = wallet::sealed::seal_json(value, readers, &mut rand_core::OsRng)
        .map_err(|e| format!("Could not encrypt: {e}."))?;
    let json = serde_json::to_string(value).map_err(|e| e.to_string())?;
    names.sealed.insert(wallet::sealed_id(&sealed), json);
    Ok(sealed)
}

/// Opens content sealed for the unlocked identity; `None` when it is not for them (or the
/// wallet is locked).
pub fn open<T: DeserializeOwned>(session: &Session, sealed: &Sealed) -> Option<T> {
    let id = session.identity()?;
    wallet::sealed::open_json(&id, sealed).ok()
}

/// Opens free text (a reason, a justification); `None` when it is not for this identity.
pub fn open_text(session: &Session, sealed: &Sealed) -> Option<String> {
    open::<wallet::sealed::Text>(session, sealed).map(|t| t.text)
}
