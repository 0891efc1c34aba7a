//! The wallet session: which identity is unlocked (if any), its account on the ledger,
//! the node's info, and auto-lock after a configurable idle time (15 minutes by default).

use crate::api::{self, NodeInfo};
use ledger_protocol::state::Account;
use std::rc::Rc;
use wallet::{Identity, WalletStore};
use yew::prelude::*;

/// Default idle minutes before the wallet locks itself.
pub const DEFAULT_AUTOLOCK_MINUTES: u32 = 15;
const AUTOLOCK_KEY: &str = "healthchain.autolock_minutes";

#[derive(Clone)]
pub struct Unlocked {
    pub identity: Rc<Identity>,
    pub keystore_note: Option<String>,
}

impl PartialEq for Unlocked {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.identity, &other.identity)
    }
}

#[derive(Clone, PartialEq, Default)]
pub struct Session {
    pub unlocked: Option<Unlocked>,
    /// The unlocked identity's account, once the ledger knows it (a patient's `name` opened
    /// from their sealed profile).
    pub account: Option<Account>,
    pub info: Option<NodeInfo>,
    /// The hospital gave this wallet's account new keys: its key signs for nothing now.
    pub key_replaced: bool,
    /// Bumped whenever something was committed, so pages reload what they show.
    pub generation: u64,
}

pub enum Action {
    Unlock(Unlocked),
    Lock,
    Account(Option<Account>),
    KeyReplaced,
    Info(NodeInfo),
    Committed,
}

impl Reducible for Session {
    type Action = Action;
    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::Unlock(u) => {
                s.unlocked = Some(u);
                s.account = None;
            }
            Action::Lock => {
                s.unlocked = None;
                s.account = None;
            }
            Action::Account(a) => s.account = a,
            Action::KeyReplaced => {
                s.account = None;
                s.key_replaced = true;
            }
            Action::Info(i) => {
                // Until the node's info arrives, requests go unsigned (and a page's answers
                // about a person are refused): once it does, pages load again, signed.
                if s.info.is_none() && s.unlocked.is_some() {
                    s.generation += 1;
                }
                s.info = Some(i);
            }
            Action::Committed => s.generation += 1,
        }
        api::set_signer(s.identity(), s.info.as_ref());
        Rc::new(s)
    }
}

pub type SessionHandle = UseReducerHandle<Session>;

#[hook]
pub fn use_session() -> SessionHandle {
    use_context::<SessionHandle>().expect("the app provides the session")
}

impl Session {
    pub fn identity(&self) -> Option<Rc<Identity>> {
        self.unlocked.as_ref().map(|u| u.identity.clone())
    }
    /// The account the unlocked wallet acts for: its key's address, or, for a member of
    /// staff the hospital gave new keys, the account's first address (which consents,
    /// records and keys name).
    pub fn address(&self) -> Option<ledger_protocol::Address> {
        let id = self.identity()?;
        Some(self.account.as_ref().filter(|a| a.key == id.public_key()).map_or_else(|| id.address(), |a| a.address))
    }
    pub fn chain_id(&self) -> String {
        self.info.as_ref().map(|i| i.chain_id.clone()).unwrap_or_default()
    }
}

/// The browser's localStorage; native builds (unit tests of the pure modules) get memory.
#[cfg(target_arch = "wasm32")]
type BrowserStore = wallet::LocalStorageStore;
#[cfg(not(target_arch = "wasm32"))]
type BrowserStore = wallet::MemoryStore;

#[cfg(target_arch = "wasm32")]
fn browser_store() -> Result<BrowserStore, wallet::StorageError> {
    wallet::LocalStorageStore::new()
}
#[cfg(not(target_arch = "wasm32"))]
fn browser_store() -> Result<BrowserStore, wallet::StorageError> {
    Ok(wallet::MemoryStore::new())
}

/// The browser's keystore list (localStorage).
pub fn store() -> Result<WalletStore<BrowserStore>, String> {
    browser_store()
        .map(WalletStore::new)
        .map_err(|e| format!("Browser storage is unavailable ({e}). Allow site data for this page and reload."))
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn autolock_minutes() -> u32 {
    local_storage()
        .and_then(|s| s.get_item(AUTOLOCK_KEY).ok().flatten())
        .and_then(|v| v.parse().ok())
        .filter(|m| (1..=720).contains(m))
        .unwrap_or(DEFAULT_AUTOLOCK_MINUTES)
}

pub fn set_autolock_minutes(m: u32) {
    if let Some(s) = local_storage() {
        let _ = s.set_item(AUTOLOCK_KEY, &m.to_string());
    }
}

/// Loads node info and the unlocked identity's account into the session.
pub fn refresh(session: &SessionHandle) {
    let session = session.clone();
    wasm_bindgen_futures::spawn_local(async move {
        if let Ok(info) = api::info().await {
            api::set_signer(session.identity(), Some(&info));
            session.dispatch(Action::Info(info));
        }
        let Some(id) = session.identity() else { return };
        let found = api::account(&id.address()).await;
        if matches!(&found, Err(e) if e.code == "key_replaced") {
            session.dispatch(Action::KeyReplaced);
        }
        if let Ok(mut acc) = found {
            // A patient's name is not on the ledger: it is in their sealed profile, opened
            // here with their key, so the pages can greet them by name.
            if let Some(a) = acc.as_mut()
                && a.name.is_empty()
                && let Some(profile) = &a.profile
                && let Ok(p) = wallet::sealed::open_json::<wallet::sealed::PatientProfile>(&id, profile)
            {
                a.name = p.name;
            }
            session.dispatch(Action::Account(acc));
        }
    });
}

/// The chain's height, polled every 3 seconds: a page that shows what others may change (a
/// patient's access log, a provider's consents) reloads when it moves.
#[hook]
pub fn use_chain_height() -> u64 {
    let height = use_state(|| 0u64);
    {
        let height = height.clone();
        use_effect_with((), move |_| {
            let t = gloo_timers::callback::Interval::new(3000, move || {
                let height = height.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    if let Ok(i) = api::info().await
                        && i.height != *height
                    {
                        height.set(i.height);
                    }
                });
            });
            move || drop(t)
        });
    }
    *height
}
