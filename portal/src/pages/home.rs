//! The app's start route. The start page itself (unlock, create, restore, import) is the
//! separate start module (`portal/start`); inside the app, `/` sends an unlocked person to
//! their own page and a locked one back to that start page.

use crate::app::{home_of, lock_and_leave};
use crate::session::use_session;
use std::rc::Rc;
use yew::prelude::*;
use yew_router::prelude::*;

#[function_component(Home)]
pub fn home() -> Html {
    let session = use_session();
    let navigator = use_navigator();
    // Go to the person's page. While the session is still loading the account, ask the
    // ledger here: "no account yet" must not be taken for "unregistered", or a doctor who
    // just unlocked would land on the patients' registration page.
    let me = session.address();
    let role = session.account.as_ref().map(|a| a.role);
    use_effect_with((me, role), move |(me, role)| {
        let cancelled = Rc::new(std::cell::Cell::new(false));
        match (*me, navigator) {
            (None, _) => lock_and_leave(),
            (Some(_), Some(n)) if role.is_some() => n.push(&home_of(*role)),
            (Some(me), Some(n)) => {
                let cancelled = cancelled.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    if let Ok(account) = crate::api::account(&me).await
                        && !cancelled.get()
                    {
                        n.push(&home_of(account.map(|a| a.role)));
                    }
                });
            }
            (Some(_), None) => {}
        }
        move || cancelled.set(true)
    });
    html! { <main class="narrow"><p role="status">{ "Opening your page…" }</p></main> }
}
