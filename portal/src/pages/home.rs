//! The start page: unlock a wallet saved in this browser, or create, restore or import one.

use crate::app::{Route, home_of};
use crate::components::ui::{ErrorBox, input_value};
use crate::session::{self, Action, Unlocked, use_session};
use ledger_protocol::Address;
use std::rc::Rc;
use wallet::{Keystore, Passphrase};
use yew::prelude::*;
use yew_router::prelude::*;

#[function_component(Home)]
pub fn home() -> Html {
    let session = use_session();
    let navigator = use_navigator();
    let saved = use_state(session::saved_keystores);
    let chosen = use_state(|| saved.first().map(|k| k.address()));
    let passphrase = use_state(String::new);
    let error = use_state(|| None::<String>);
    let busy = use_state(|| false);

    // Once unlocked, go to the person's page. While the session is still loading the
    // account, ask the ledger here: "no account yet" must not be taken for "unregistered",
    // or a doctor who just unlocked would land on the patients' registration page.
    {
        let navigator = navigator.clone();
        let me = session.identity().map(|i| i.address());
        let role = session.account.as_ref().map(|a| a.role);
        use_effect_with((me, role), move |(me, role)| {
            let cancelled = Rc::new(std::cell::Cell::new(false));
            if let (Some(me), Some(n)) = (*me, navigator) {
                if role.is_some() {
                    n.push(&home_of(*role));
                } else {
                    let cancelled = cancelled.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        if let Ok(account) = crate::api::account(&me).await
                            && !cancelled.get()
                        {
                            n.push(&home_of(account.map(|a| a.role)));
                        }
                    });
                }
            }
            move || cancelled.set(true)
        });
    }

    let unlock = {
        let (session, saved, chosen, passphrase, error, busy) =
            (session.clone(), saved.clone(), chosen.clone(), passphrase.clone(), error.clone(), busy.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(ks) = chosen.and_then(|a| saved.iter().find(|k| k.address() == a).cloned()) else {
                return error.set(Some("Choose a wallet first.".into()));
            };
            busy.set(true);
            let (session, passphrase, error, busy) = (session.clone(), passphrase.clone(), error.clone(), busy.clone());
            // Let the page paint "Unlocking…" before the key stretching takes the thread.
            gloo_timers::callback::Timeout::new(30, move || {
                match ks.unlock(&Passphrase::new((*passphrase).clone())) {
                    Ok(identity) => {
                        error.set(None);
                        passphrase.set(String::new());
                        session.dispatch(Action::Unlock(Unlocked {
                            identity: Rc::new(identity),
                            keystore_note: ks.created_note().map(str::to_owned),
                        }));
                        session::refresh(&session);
                    }
                    Err(e) => error.set(Some(format!(
                        "{}. The wallet stays locked; check the passphrase and try again.",
                        capitalise(&e.to_string())
                    ))),
                }
                busy.set(false);
            })
            .forget();
        })
    };
    let import = {
        let (saved, chosen, error) = (saved.clone(), chosen.clone(), error.clone());
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
            let (saved, chosen, error) = (saved.clone(), chosen.clone(), error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let text = match gloo_file::futures::read_as_text(&gloo_file::File::from(file)).await {
                    Ok(t) => t,
                    Err(e) => return error.set(Some(format!("The file could not be read: {e}"))),
                };
                match Keystore::from_json(&text) {
                    Ok(ks) => {
                        let address = ks.address();
                        match session::store().and_then(|mut s| s.save(&ks).map_err(|e| e.to_string())) {
                            Ok(()) => {
                                saved.set(session::saved_keystores());
                                chosen.set(Some(address));
                                error.set(None);
                            }
                            Err(e) => error.set(Some(e)),
                        }
                    }
                    Err(e) => error.set(Some(format!("This is not a HealthChain wallet backup: {e}."))),
                }
            });
        })
    };

    html! {
        <main class="narrow">
            <h1>{ "Your health records, your keys" }</h1>
            <p>{ "Your wallet lives in this browser, locked with your passphrase. Nothing is signed without your say." }</p>
            if !saved.is_empty() {
                <form class="card" onsubmit={unlock} aria-labelledby="unlock-title">
                    <h2 id="unlock-title">{ "Unlock your wallet" }</h2>
                    <label for="wallet-select">{ "Wallet" }</label>
                    <select id="wallet-select" onchange={ let chosen = chosen.clone(); Callback::from(move |e: Event| chosen.set(Address::from_hex(&input_value(&e)).ok())) }>
                        { for saved.iter().map(|k| {
                            let a = k.address();
                            let label = k.created_note().map_or_else(|| a.to_hex(), |n| format!("{n} ({})", &a.to_hex()[..8]));
                            html! { <option value={a.to_hex()} selected={Some(a) == *chosen}>{ label }</option> }
                        }) }
                    </select>
                    <label for="unlock-passphrase">{ "Passphrase" }</label>
                    <input id="unlock-passphrase" type="password" autocomplete="current-password" value={(*passphrase).clone()}
                        oninput={ let p = passphrase.clone(); Callback::from(move |e: InputEvent| p.set(crate::components::ui::text_value(&e))) } />
                    if let Some(e) = &*error { <ErrorBox id="unlock-error" text={e.clone()} /> }
                    <button id="unlock-submit" type="submit" disabled={*busy}>{ if *busy { "Unlocking…" } else { "Unlock" } }</button>
                </form>
            } else if let Some(e) = &*error {
                <ErrorBox id="unlock-error" text={e.clone()} />
            }
            <section class="card">
                <h2>{ "New here?" }</h2>
                <p><Link<Route> to={Route::Create} classes="button" ><span id="create-wallet">{ "Create a wallet" }</span></Link<Route>></p>
                <p><Link<Route> to={Route::Restore}><span id="restore-wallet">{ "Restore from a recovery phrase" }</span></Link<Route>></p>
                <label for="import-backup">{ "Or import a backup file" }</label>
                <input id="import-backup" type="file" accept=".json,application/json" onchange={import} />
            </section>
        </main>
    }
}

pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
