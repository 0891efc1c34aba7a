//! The hospital's administrator (appointed by a genesis authority, or the authority itself):
//! the staff directory, registering a member of staff from the public keys their wallet
//! shows them, deactivating one, and giving one new keys (a lost or compromised device);
//! and the review of break-glass accesses (`break_glass_review`).

use crate::api;
use crate::app::Route;
use crate::components::confirm::{SignRequest, use_signer};
use crate::components::ui::{ErrorBox, Notice, datetime, input_value, text_value};
use crate::pages::break_glass_review::BreakGlassReview;
use crate::session::use_session;
use ledger_protocol::state::Account;
use ledger_protocol::{Address, PublicKey, Role, TxBody};
use std::rc::Rc;
use wallet::MapDirectory;
use yew::prelude::*;
use yew_router::prelude::*;

/// The roles an administrator registers (an authority also appoints administrators).
const STAFF_ROLES: [Role; 6] = [Role::Doctor, Role::Surgeon, Role::Pharmacy, Role::Insurer, Role::Student, Role::Admin];

#[derive(Clone, PartialEq, Default)]
struct Form {
    role: usize,
    name: String,
    licence: String,
    key: String,
    encryption_key: String,
}

/// New keys for a member of staff: whose, and the two keys their new wallet shows.
#[derive(Clone, PartialEq)]
struct Rekey {
    account: Address,
    name: String,
    key: String,
    encryption_key: String,
}

/// Reads a public key a person pasted, or says which field is wrong.
fn key_field(what: &str, v: &str) -> Result<PublicKey, String> {
    PublicKey::from_hex(v.trim())
        .map_err(|_| format!("The {what} is 66 hexadecimal characters, as the staff member's Register page shows it."))
}

#[function_component(Admin)]
pub fn admin() -> Html {
    let session = use_session();
    let signer = use_signer();
    let staff = use_state(|| None::<Result<Vec<Account>, String>>);
    let form = use_state(Form::default);
    let notice = use_state(|| None::<Result<String, String>>);
    let rekey = use_state(|| None::<Rekey>);
    {
        let staff = staff.clone();
        use_effect_with(session.generation, move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                staff.set(Some(api::providers().await.map_err(|e| e.message)));
            });
        });
    }
    let my_role = session.account.as_ref().filter(|a| a.is_active()).map(|a| a.role);
    if !matches!(my_role, Some(Role::Authority | Role::Admin)) {
        return html! { <main class="narrow"><p>{ "This page is for the hospital's administrators. " }<Link<Route> to={Route::Home}>{ "Start" }</Link<Route>></p></main> };
    }
    let roles: Vec<Role> =
        STAFF_ROLES.into_iter().filter(|r| *r != Role::Admin || my_role == Some(Role::Authority)).collect();
    let done = |what: String, notice: UseStateHandle<Option<Result<String, String>>>| {
        Callback::from(move |r: Result<Vec<ledger_protocol::wire::Receipt>, String>| {
            notice.set(Some(r.map(|_| what.clone())));
        })
    };
    let register = {
        let (form, signer, notice, roles) = (form.clone(), signer.clone(), notice.clone(), roles.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let f = (*form).clone();
            let Some(role) = roles.get(f.role).copied() else { return };
            let keys =
                key_field("signing key", &f.key).and_then(|k| Ok((k, key_field("encryption key", &f.encryption_key)?)));
            let (key, encryption_key) = match keys {
                Ok(k) => k,
                Err(m) => return notice.set(Some(Err(m))),
            };
            if f.name.trim().is_empty() || f.licence.trim().is_empty() {
                return notice.set(Some(Err("Enter the name and the licence or staff number.".into())));
            }
            let what = format!(
                "{} is registered as {} {}.",
                f.name.trim(),
                if role == Role::Insurer { "an" } else { "a" },
                role.human()
            );
            let mut names = MapDirectory::default();
            names.accounts.insert(key.address(), f.name.trim().to_owned());
            signer.set(Some(SignRequest {
                title: "Register a member of staff".into(),
                bodies: vec![TxBody::RegisterProvider {
                    key,
                    encryption_key,
                    role,
                    name: f.name.trim().to_owned(),
                    licence: f.licence.trim().to_owned(),
                }],
                names: Rc::new(names),
                on_done: done(what, notice.clone()),
            }));
        })
    };
    let deactivate = |a: &Account| {
        let (signer, notice, provider, name) = (signer.clone(), notice.clone(), a.address, a.name.clone());
        Callback::from(move |_| {
            let mut names = MapDirectory::default();
            names.accounts.insert(provider, name.clone());
            signer.set(Some(SignRequest {
                title: "Deactivate a member of staff".into(),
                bodies: vec![TxBody::DeactivateProvider { provider }],
                names: Rc::new(names),
                on_done: done(
                    format!("{name} is deactivated: the ledger refuses what they sign from now on."),
                    notice.clone(),
                ),
            }));
        })
    };
    let start_rekey = |a: &Account| {
        let (rekey, account, name) = (rekey.clone(), a.address, a.name.clone());
        Callback::from(move |_| {
            rekey.set(Some(Rekey { account, name: name.clone(), key: String::new(), encryption_key: String::new() }))
        })
    };
    let submit_rekey = {
        let (rekey, signer, notice) = (rekey.clone(), signer.clone(), notice.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(r) = (*rekey).clone() else { return };
            let keys = key_field("new signing key", &r.key)
                .and_then(|k| Ok((k, key_field("new encryption key", &r.encryption_key)?)));
            let (key, encryption_key) = match keys {
                Ok(k) => k,
                Err(m) => return notice.set(Some(Err(m))),
            };
            let mut names = MapDirectory::default();
            names.accounts.insert(r.account, r.name.clone());
            let rekey = rekey.clone();
            let done = done(
                format!(
                    "{} has new keys: their old key signs nothing from now on. Patients share records again with the new key.",
                    r.name
                ),
                notice.clone(),
            );
            signer.set(Some(SignRequest {
                title: "Give a member of staff new keys".into(),
                bodies: vec![TxBody::RotateKey { account: r.account, key, encryption_key }],
                names: Rc::new(names),
                on_done: Callback::from(move |res: Result<Vec<ledger_protocol::wire::Receipt>, String>| {
                    if res.is_ok() {
                        rekey.set(None);
                    }
                    done.emit(res);
                }),
            }));
        })
    };
    let set_rekey = |f: fn(&mut Rekey, String)| {
        let rekey = rekey.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(mut v) = (*rekey).clone() {
                f(&mut v, text_value(&e));
                rekey.set(Some(v));
            }
        })
    };
    let set = |f: fn(&mut Form, String)| {
        let form = form.clone();
        Callback::from(move |e: InputEvent| {
            let mut v = (*form).clone();
            f(&mut v, text_value(&e));
            form.set(v);
        })
    };
    let directory = Rc::new(match &*staff {
        Some(Ok(list)) => list.clone(),
        _ => Vec::new(),
    });
    html! {
        <main>
            <h1>{ "Staff" }</h1>
            { match &*notice { Some(Ok(m)) => html! { <Notice id="admin-result" text={m.clone()} /> }, Some(Err(m)) => html! { <ErrorBox id="admin-error" text={m.clone()} /> }, None => html! {} } }
            <BreakGlassReview staff={directory} />
            <form class="card" onsubmit={register} id="staff-form">
                <h2>{ "Register a member of staff" }</h2>
                <p>{ "They create a wallet in this portal; its Register page shows their two public keys. Their name, role and licence go in the hospital's public directory." }</p>
                <label for="staff-role">{ "Role" }</label>
                <select id="staff-role" onchange={ let s = form.clone(); Callback::from(move |e: Event| { let mut v = (*s).clone(); v.role = input_value(&e).parse().unwrap_or(0); s.set(v); }) }>
                    { for roles.iter().enumerate().map(|(i, r)| html! { <option value={i.to_string()} selected={i == form.role}>{ r.human() }</option> }) }
                </select>
                <label for="staff-name">{ "Name" }</label>
                <input id="staff-name" value={form.name.clone()} oninput={set(|f, v| f.name = v)} />
                <label for="staff-licence">{ "Licence or staff number" }</label>
                <input id="staff-licence" value={form.licence.clone()} oninput={set(|f, v| f.licence = v)} />
                <label for="staff-key">{ "Their signing public key" }</label>
                <input id="staff-key" spellcheck="false" autocomplete="off" value={form.key.clone()} oninput={set(|f, v| f.key = v)} />
                <label for="staff-encryption-key">{ "Their encryption public key" }</label>
                <input id="staff-encryption-key" spellcheck="false" autocomplete="off" value={form.encryption_key.clone()} oninput={set(|f, v| f.encryption_key = v)} />
                <button id="staff-submit" type="submit">{ "Review and sign" }</button>
            </form>
            if let Some(r) = &*rekey {
                <form class="card" onsubmit={submit_rekey} id="rekey-form">
                    <h2>{ format!("New keys for {}", r.name) }</h2>
                    <p>{ "For a lost or compromised device: they create a new wallet, whose Register page shows its two public keys. Their account, directory entry, consents and history stay; the old key signs nothing once this is on the ledger, and their patients share records again with the new key." }</p>
                    <label for="rekey-key">{ "Their new signing public key" }</label>
                    <input id="rekey-key" spellcheck="false" autocomplete="off" value={r.key.clone()} oninput={set_rekey(|r, v| r.key = v)} />
                    <label for="rekey-encryption-key">{ "Their new encryption public key" }</label>
                    <input id="rekey-encryption-key" spellcheck="false" autocomplete="off" value={r.encryption_key.clone()} oninput={set_rekey(|r, v| r.encryption_key = v)} />
                    <button id="rekey-submit" type="submit">{ "Review and sign" }</button>
                    <button type="button" class="secondary" onclick={ let rk = rekey.clone(); Callback::from(move |_| rk.set(None)) }>{ "Cancel" }</button>
                </form>
            }
            <section class="card">
                <h2>{ "Directory" }</h2>
                { match &*staff {
                    None => html! { <p role="status">{ "Loading…" }</p> },
                    Some(Err(e)) => html! { <ErrorBox text={e.clone()} /> },
                    Some(Ok(list)) => html! {
                        <ul class="list" id="staff-list">
                            { for list.iter().filter(|a| a.role != Role::Authority).map(|a| {
                                let may_deactivate = a.role != Role::Admin || my_role == Some(Role::Authority);
                                html! {
                                <li class="staff-item" data-address={a.address.to_hex()} data-active={a.is_active().to_string()}>
                                    <strong>{ a.name.clone() }</strong>
                                    { format!(" · {} · licence {} · {}", a.role.human(), a.licence, &a.address.to_hex()[..10]) }
                                    if let Some(t) = a.rekeyed_at {
                                        <span class="badge">{ format!("new keys {}", datetime(t)) }</span>
                                    }
                                    { match a.deactivated_at {
                                        Some(t) => html! { <span class="badge">{ format!("deactivated {}", datetime(t)) }</span> },
                                        None if may_deactivate => html! { <>
                                            <button class="rekey secondary" onclick={start_rekey(a)}>{ "New keys" }</button>
                                            <button class="deactivate secondary danger" onclick={deactivate(a)}>{ "Deactivate" }</button>
                                        </> },
                                        None => html! {},
                                    } }
                                </li>
                                }
                            }) }
                        </ul>
                    },
                } }
            </section>
        </main>
    }
}
