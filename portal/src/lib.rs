//! The HealthChain portal: a Yew app every role uses. Keys are made and kept in the
//! browser by the wallet crate; the ledger node is reached over its JSON API.
//!
//! The portal is two WebAssembly modules. The start page (`portal/start`, small) is what
//! the site root loads; this crate is the app module it loads when the person moves on,
//! and starts through `run`, handing over the unlocked identity in memory. The modules
//! are a library so that components can be tested in a real browser (tests/components.rs).

pub mod api;
pub mod app;
pub mod components;
pub mod fhir;
pub mod pages;
pub mod sealing;
pub mod session;

/// Starts the app (called by the start page once this module is loaded): replaces the
/// start page with the app at the current route, unlocked when `entropy` (the recovery
/// phrase's 32 bytes, already checked against the keystore by the start page) is given.
/// The caller wipes its copy of `entropy` when this returns.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn run(entropy: Option<js_sys::Uint8Array>, note: Option<String>) -> Result<(), wasm_bindgen::JsValue> {
    use wallet::keys::ENTROPY_LEN;
    let unlocked = match entropy {
        Some(bytes) if bytes.length() as usize == ENTROPY_LEN => {
            let mut e = zeroize::Zeroizing::new([0u8; ENTROPY_LEN]);
            bytes.copy_to(&mut e[..]);
            let identity = wallet::Mnemonic::from_entropy(&e).identity().map_err(|e| {
                wasm_bindgen::JsValue::from_str(&format!("the wallet's keys could not be derived: {e}"))
            })?;
            Some(session::Unlocked { identity: std::rc::Rc::new(identity), keystore_note: note })
        }
        Some(_) => return Err(wasm_bindgen::JsValue::from_str("the start page handed over a malformed key")),
        None => None,
    };
    if let Some(start) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("start-root")) {
        start.remove();
    }
    yew::Renderer::<app::App>::with_props(app::AppProps { unlocked }).render();
    Ok(())
}
