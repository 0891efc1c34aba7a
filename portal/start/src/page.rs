//! The start page in the browser: plain DOM through web-sys (ids and classes match the
//! app's, so the styles and the end-to-end tests see one portal), and the handover to the
//! app module: a dynamic `import()` of its wasm-bindgen glue, then `run(entropy, note)`.

use crate::{APP_DIR, Entry, entry_for, import_error, is_app_route, load_error, unlock_error, wallet_label};
use ledger_protocol::Address;
use std::rc::Rc;
use wallet::{Keystore, LocalStorageStore, Passphrase, WalletStore};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element, HtmlButtonElement, HtmlInputElement, HtmlSelectElement};
use zeroize::Zeroizing;

#[wasm_bindgen(inline_js = r#"
let loading = null;
function load(dir) {
  if (loading === null) {
    const base = new URL('/' + dir + '/', window.location.origin);
    loading = Promise.all([
      import(new URL('portal.js', base).href),
      fetch(new URL('portal_bg.wasm', base)).then((r) => {
        if (!r.ok) throw new Error('the node answered HTTP ' + r.status + ' for the app module');
        return r;
      }),
    ]);
    loading.catch(() => { loading = null; });
  }
  return loading;
}
export function prefetch(dir) { load(dir).catch(() => {}); }
export async function boot(dir, entropy, note) {
  try {
    const [app, wasm] = await load(dir);
    loading = null;
    await app.default({ module_or_path: wasm });
    app.run(entropy, note);
  } finally {
    if (entropy) entropy.fill(0);
  }
}
"#)]
extern "C" {
    /// Starts downloading the app module (while the person types a passphrase).
    fn prefetch(dir: &str);
    /// Loads the app module and starts it, unlocked when `entropy` is given.
    #[wasm_bindgen(catch)]
    async fn boot(dir: &str, entropy: Option<js_sys::Uint8Array>, note: Option<String>) -> Result<JsValue, JsValue>;
}

/// Shows the start page at the site root; anywhere else, loads the app at once.
pub fn start() {
    let Some(window) = web_sys::window() else { return };
    let path = window.location().pathname().unwrap_or_default();
    match entry_for(&path) {
        Entry::App => open_app(None, None),
        Entry::StartPage => {
            render(None, None);
            let ms = window.performance().map_or(0.0, |p| p.now());
            if let Some(body) = document().body() {
                // When the first page has rendered, counted from navigation start: the
                // figure the portal benchmark reads.
                let _ = body.set_attribute("data-first-render-ms", &format!("{ms:.1}"));
            }
        }
    }
}

fn document() -> Document {
    web_sys::window().and_then(|w| w.document()).expect("a browser page has a document")
}

fn store() -> Result<WalletStore<LocalStorageStore>, String> {
    LocalStorageStore::new()
        .map(WalletStore::new)
        .map_err(|e| format!("Browser storage is unavailable ({e}). Allow site data for this page and reload."))
}

/// An element with attributes and, optionally, text (always as text, never as HTML).
fn el(doc: &Document, tag: &str, attrs: &[(&str, &str)], text: Option<&str>) -> Element {
    let e = doc.create_element(tag).expect("a valid tag name");
    for (k, v) in attrs {
        let _ = e.set_attribute(k, v);
    }
    if let Some(t) = text {
        e.set_text_content(Some(t));
    }
    e
}

fn add(parent: &Element, child: &Element) {
    let _ = parent.append_child(child);
}

fn on(target: &Element, event: &str, f: impl FnMut(web_sys::Event) + 'static) {
    let closure = Closure::<dyn FnMut(web_sys::Event)>::new(f);
    let _ = target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
    // The page lives until the app replaces it; its few listeners live as long.
    closure.forget();
}

/// Says something in the status line (created if the page has none, as when an app
/// route failed to load before anything was drawn).
fn status(text: &str, error: bool) {
    let doc = document();
    let line = doc.get_element_by_id("start-status").unwrap_or_else(|| {
        let p = el(&doc, "p", &[("id", "start-status")], None);
        if let Some(body) = doc.body() {
            let _ = body.append_child(&p);
        }
        p
    });
    let _ = line.set_attribute("role", if error { "alert" } else { "status" });
    let _ = line.set_attribute("class", if error { "error" } else { "notice" });
    line.set_text_content(Some(text));
}

/// Shows why an unlock or an import failed, next to the form.
fn show_error(text: &str) {
    let doc = document();
    if let Some(e) = doc.get_element_by_id("unlock-error") {
        e.set_text_content(Some(text));
        return;
    }
    let e = el(&doc, "p", &[("id", "unlock-error"), ("class", "error"), ("role", "alert")], Some(text));
    let anchor = doc.get_element_by_id("unlock-submit").or_else(|| doc.get_element_by_id("new-here"));
    match anchor.as_ref().and_then(|a| a.parent_node().map(|p| (a, p))) {
        Some((a, parent)) => {
            let _ = parent.insert_before(&e, Some(a));
        }
        None => status(text, true),
    }
}

/// Loads the app module and hands over (the identity, when one was unlocked).
fn open_app(entropy: Option<Zeroizing<[u8; wallet::keys::ENTROPY_LEN]>>, note: Option<String>) {
    status("Opening the portal…", false);
    let bytes = entropy.map(|e| js_sys::Uint8Array::from(&e[..]));
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = boot(APP_DIR, bytes, note).await {
            let detail = e
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .or_else(|| e.as_string())
                .unwrap_or_else(|| "unknown error".into());
            status(&load_error(&detail), true);
            if let Some(b) =
                document().get_element_by_id("unlock-submit").and_then(|b| b.dyn_into::<HtmlButtonElement>().ok())
            {
                b.set_disabled(false);
                b.set_text_content(Some("Unlock"));
            }
        }
    });
}

/// Draws (or redraws) the start page.
fn render(chosen: Option<Address>, error: Option<String>) {
    let doc = document();
    let Some(body) = doc.body() else { return };
    let root = doc.get_element_by_id("start-root").unwrap_or_else(|| {
        let r = el(&doc, "div", &[("id", "start-root")], None);
        let _ = body.append_child(&r);
        r
    });
    root.set_text_content(None);

    add(&root, &el(&doc, "a", &[("class", "skip"), ("href", "#main")], Some("Skip to content")));
    let header = el(&doc, "header", &[("class", "top")], None);
    let nav = el(&doc, "nav", &[("aria-label", "Main")], None);
    add(&nav, &el(&doc, "a", &[("class", "brand"), ("href", "/")], Some("HealthChain")));
    add(&nav, &app_link(&doc, "/explorer", "Ledger explorer", &[]));
    add(&header, &nav);
    add(&root, &header);

    let wrap = el(&doc, "div", &[("id", "main")], None);
    let main = el(&doc, "main", &[("class", "narrow")], None);
    add(&main, &el(&doc, "h1", &[], Some("Your health records, your keys")));
    add(
        &main,
        &el(
            &doc,
            "p",
            &[],
            Some("Your wallet lives in this browser, locked with your passphrase. Nothing is signed without your say."),
        ),
    );

    let (saved, storage_error) = match store() {
        Ok(s) => (s.keystores(), None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let saved = Rc::new(saved);
    if !saved.is_empty() {
        add(&main, &unlock_form(&doc, &saved, chosen));
    }

    let card = el(&doc, "section", &[("class", "card")], None);
    add(&card, &el(&doc, "h2", &[("id", "new-here")], Some("New here?")));
    let p = el(&doc, "p", &[], None);
    add(&p, &app_link(&doc, "/wallet/create", "Create a wallet", &[("class", "button"), ("id", "create-wallet")]));
    add(&card, &p);
    let p = el(&doc, "p", &[], None);
    add(&p, &app_link(&doc, "/wallet/restore", "Restore from a recovery phrase", &[("id", "restore-wallet")]));
    add(&card, &p);
    add(&card, &el(&doc, "label", &[("for", "import-backup")], Some("Or import a backup file")));
    let file =
        el(&doc, "input", &[("id", "import-backup"), ("type", "file"), ("accept", ".json,application/json")], None);
    on(&file, "change", |e| import_backup(&e));
    add(&card, &file);
    add(&main, &card);
    add(&main, &el(&doc, "p", &[("id", "start-status"), ("role", "status")], None));
    add(&wrap, &main);
    add(&root, &wrap);

    if let Some(e) = error.or(storage_error) {
        show_error(&e);
    }
}

/// A link to an app route: a plain click loads the app in place; a click that opens a new
/// tab or window is left to the browser.
fn app_link(doc: &Document, href: &str, text: &str, attrs: &[(&str, &str)]) -> Element {
    let a = el(doc, "a", &[("href", href)], Some(text));
    for (k, v) in attrs {
        let _ = a.set_attribute(k, v);
    }
    let target = href.to_owned();
    on(&a, "click", move |e| {
        let Some(m) = e.dyn_ref::<web_sys::MouseEvent>() else { return };
        if m.button() != 0 || m.ctrl_key() || m.meta_key() || m.shift_key() || m.alt_key() || !is_app_route(&target) {
            return;
        }
        e.prevent_default();
        if let Some(w) = web_sys::window()
            && let Ok(h) = w.history()
        {
            let _ = h.push_state_with_url(&JsValue::NULL, "", Some(&target));
        }
        open_app(None, None);
    });
    a
}

fn unlock_form(doc: &Document, saved: &Rc<Vec<Keystore>>, chosen: Option<Address>) -> Element {
    let chosen =
        chosen.filter(|a| saved.iter().any(|k| k.address() == *a)).or_else(|| saved.first().map(Keystore::address));
    let form = el(doc, "form", &[("class", "card"), ("aria-labelledby", "unlock-title")], None);
    add(&form, &el(doc, "h2", &[("id", "unlock-title")], Some("Unlock your wallet")));
    add(&form, &el(doc, "label", &[("for", "wallet-select")], Some("Wallet")));
    let select = el(doc, "select", &[("id", "wallet-select")], None);
    for k in saved.iter() {
        let a = k.address();
        let hex = a.to_hex();
        let option = el(doc, "option", &[("value", &hex)], Some(&wallet_label(&hex, k.created_note())));
        if Some(a) == chosen {
            let _ = option.set_attribute("selected", "");
        }
        add(&select, &option);
    }
    add(&form, &select);
    add(&form, &el(doc, "label", &[("for", "unlock-passphrase")], Some("Passphrase")));
    let input = el(
        doc,
        "input",
        &[("id", "unlock-passphrase"), ("type", "password"), ("autocomplete", "current-password")],
        None,
    );
    // The app downloads while the passphrase is typed.
    on(&input, "focus", |_| prefetch(APP_DIR));
    add(&form, &input);
    let button = el(doc, "button", &[("id", "unlock-submit"), ("type", "submit")], Some("Unlock"));
    add(&form, &button);

    let saved = saved.clone();
    on(&form, "submit", move |e| {
        e.prevent_default();
        let select: HtmlSelectElement = select.clone().unchecked_into();
        let Some(ks) =
            Address::from_hex(&select.value()).ok().and_then(|a| saved.iter().find(|k| k.address() == a).cloned())
        else {
            return show_error("Choose a wallet first.");
        };
        let button: HtmlButtonElement = button.clone().unchecked_into();
        let input: HtmlInputElement = input.clone().unchecked_into();
        button.set_disabled(true);
        button.set_text_content(Some("Unlocking…"));
        let unlock = move || {
            let result = ks.unlock_mnemonic(&Passphrase::new(input.value()));
            input.set_value("");
            match result {
                Ok(mnemonic) => {
                    button.set_text_content(Some("Opening…"));
                    open_app(Some(mnemonic.entropy()), ks.created_note().map(str::to_owned));
                }
                Err(e) => {
                    show_error(&unlock_error(&e));
                    button.set_disabled(false);
                    button.set_text_content(Some("Unlock"));
                    let _ = input.focus();
                }
            }
        };
        // Let the page paint "Unlocking…" before the key stretching takes the thread.
        if let Some(w) = web_sys::window() {
            let cb = Closure::once_into_js(unlock);
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), 30);
        }
    });
    form
}

/// Reads a backup file, checks it is a keystore, saves it in this browser and selects it.
fn import_backup(e: &web_sys::Event) {
    let Some(file) =
        e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()).and_then(|i| i.files()).and_then(|f| f.get(0))
    else {
        return;
    };
    wasm_bindgen_futures::spawn_local(async move {
        let text = match wasm_bindgen_futures::JsFuture::from(file.text()).await {
            Ok(t) => t.as_string().unwrap_or_default(),
            Err(_) => return show_error("The file could not be read. Choose it again."),
        };
        let keystore = match Keystore::from_json(&text) {
            Ok(k) => k,
            Err(e) => return show_error(&import_error(&e)),
        };
        match store().and_then(|mut s| s.save(&keystore).map_err(|e| e.to_string())) {
            Ok(()) => render(Some(keystore.address()), None),
            Err(e) => show_error(&e),
        }
    });
}
