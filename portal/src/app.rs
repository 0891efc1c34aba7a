//! The app shell: routes, the session and signer contexts, navigation, the confirmation
//! sheet, and the auto-lock timer.

use crate::components::confirm::{ConfirmSheet, SignRequest};
use crate::pages;
use crate::session::{self, Action, Session, SessionHandle};
use ledger_protocol::Role;
use yew::prelude::*;
use yew_router::prelude::*;

#[derive(Routable, Clone, PartialEq, Debug)]
pub enum Route {
    #[at("/")]
    Home,
    #[at("/wallet/create")]
    Create,
    #[at("/wallet/restore")]
    Restore,
    #[at("/wallet")]
    Wallet,
    #[at("/register")]
    Register,
    #[at("/patient")]
    Patient,
    #[at("/patient/import")]
    Import,
    #[at("/patient/grant")]
    Grant,
    #[at("/record/:id")]
    Record { id: String },
    #[at("/provider")]
    Provider,
    #[at("/provider/patient/:address")]
    ProviderPatient { address: String },
    #[at("/pharmacy")]
    Pharmacy,
    #[at("/insurer")]
    Insurer,
    #[at("/explorer")]
    Explorer,
    #[at("/admin")]
    Admin,
    #[at("/twin")]
    Twin,
    #[at("/twin/case/:id")]
    TwinCase { id: String },
    #[at("/twin/new")]
    TwinNew,
    #[at("/twin/train")]
    Training,
    #[not_found]
    #[at("/404")]
    NotFound,
}

/// Where a role starts.
pub fn home_of(role: Option<Role>) -> Route {
    match role {
        Some(Role::Patient) => Route::Patient,
        Some(Role::Doctor | Role::Surgeon | Role::Student) => Route::Provider,
        Some(Role::Pharmacy) => Route::Pharmacy,
        Some(Role::Insurer) => Route::Insurer,
        Some(Role::Authority | Role::Admin) => Route::Admin,
        None => Route::Register,
    }
}

fn switch(route: Route) -> Html {
    match route {
        Route::Home => html! { <pages::home::Home /> },
        Route::Create => html! { <pages::wallet::Create /> },
        Route::Restore => html! { <pages::wallet::Restore /> },
        Route::Wallet => html! { <pages::wallet::WalletPage /> },
        Route::Register => html! { <pages::patient::Register /> },
        Route::Patient => html! { <pages::patient::Dashboard /> },
        Route::Import => html! { <pages::patient::Import /> },
        Route::Grant => html! { <pages::patient::Grant /> },
        Route::Record { id } => html! { <pages::record::RecordView id={id} /> },
        Route::Provider => html! { <pages::provider::ProviderHome /> },
        Route::ProviderPatient { address } => html! { <pages::provider::PatientView address={address} /> },
        Route::Pharmacy => html! { <pages::pharmacy::Pharmacy /> },
        Route::Insurer => html! { <pages::insurer::Insurer /> },
        Route::Explorer => html! { <pages::explorer::Explorer /> },
        Route::Admin => html! { <pages::admin::Admin /> },
        Route::Twin => html! { <pages::twin::TwinCases /> },
        Route::TwinCase { id } => html! { <pages::twin::TwinCase id={id} /> },
        Route::TwinNew => html! { <pages::twin_new::NewCase /> },
        Route::Training => html! { <pages::twin::Training /> },
        Route::NotFound => {
            html! { <main><h1>{ "Page not found" }</h1><p><Link<Route> to={Route::Home}>{ "Go to the start page" }</Link<Route>></p></main> }
        }
    }
}

#[derive(Properties, PartialEq, Default)]
pub struct AppProps {
    /// The identity the start page unlocked, if any.
    #[prop_or_default]
    pub unlocked: Option<session::Unlocked>,
}

/// Locks the wallet by leaving the app for the start page: a fresh page load, so no key
/// material survives in this module's memory.
pub fn lock_and_leave() {
    if let Some(w) = web_sys::window() {
        let _ = w.location().assign("/");
    }
}

#[function_component(App)]
pub fn app(props: &AppProps) -> Html {
    let session = {
        let unlocked = props.unlocked.clone();
        use_reducer(move || Session { unlocked, ..Session::default() })
    };
    let signer = use_state(|| None::<SignRequest>);
    let last_activity = use_mut_ref(js_sys::Date::now);

    {
        let session = session.clone();
        use_effect_with((), move |_| {
            // When the first page has rendered, relative to navigation start, unless the
            // start page drew first (the figure the portal benchmark reads).
            if let Some(w) = web_sys::window() {
                let ms = w.performance().map_or(0.0, |p| p.now());
                if let Some(body) = w.document().and_then(|d| d.body())
                    && !body.has_attribute("data-first-render-ms")
                {
                    let _ = body.set_attribute("data-first-render-ms", &format!("{ms:.1}"));
                }
            }
            session::refresh(&session)
        });
    }
    // Auto-lock: any key or pointer press counts as activity; a timer checks idleness.
    {
        let (session, last_activity) = (session.clone(), last_activity.clone());
        use_effect_with((), move |_| {
            let doc = gloo_utils_document();
            let touch = {
                let last = last_activity.clone();
                move |_: &web_sys::Event| *last.borrow_mut() = js_sys::Date::now()
            };
            let l1 = gloo_events_listener(&doc, "keydown", touch.clone());
            let l2 = gloo_events_listener(&doc, "pointerdown", touch);
            let timer = gloo_timers::callback::Interval::new(10_000, move || {
                let idle_ms = js_sys::Date::now() - *last_activity.borrow();
                if session.unlocked.is_some() && idle_ms > f64::from(session::autolock_minutes()) * 60_000.0 {
                    session.dispatch(Action::Lock);
                    lock_and_leave();
                }
            });
            move || drop((l1, l2, timer))
        });
    }

    html! {
        <ContextProvider<SessionHandle> context={session.clone()}>
        <ContextProvider<UseStateHandle<Option<SignRequest>>> context={signer.clone()}>
            <BrowserRouter>
                <a class="skip" href="#main">{ "Skip to content" }</a>
                <Nav />
                if session.key_replaced {
                    <crate::components::ui::ErrorBox id="key-replaced" text={"The hospital gave your account new keys, so this wallet's key no longer signs for it. Open the wallet that holds your new keys, or ask the hospital's administrator."} />
                }
                <div id="main"><Switch<Route> render={switch} /></div>
                <ConfirmSheet />
            </BrowserRouter>
        </ContextProvider<UseStateHandle<Option<SignRequest>>>>
        </ContextProvider<SessionHandle>>
    }
}

fn gloo_utils_document() -> web_sys::Document {
    web_sys::window().and_then(|w| w.document()).expect("a browser document")
}

fn gloo_events_listener(
    target: &web_sys::Document,
    event: &'static str,
    f: impl Fn(&web_sys::Event) + 'static,
) -> EventListenerGuard {
    use wasm_bindgen::JsCast;
    let closure = wasm_bindgen::closure::Closure::<dyn Fn(web_sys::Event)>::new(move |e: web_sys::Event| f(&e));
    let _ = target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
    EventListenerGuard { target: target.clone(), event, closure }
}

/// Removes its event listener when dropped.
struct EventListenerGuard {
    target: web_sys::Document,
    event: &'static str,
    closure: wasm_bindgen::closure::Closure<dyn Fn(web_sys::Event)>,
}

impl Drop for EventListenerGuard {
    fn drop(&mut self) {
        use wasm_bindgen::JsCast;
        let _ = self.target.remove_event_listener_with_callback(self.event, self.closure.as_ref().unchecked_ref());
    }
}

#[function_component(Nav)]
fn nav() -> Html {
    let session = use_session_ctx();
    let lock = {
        let session = session.clone();
        Callback::from(move |_| {
            session.dispatch(Action::Lock);
            lock_and_leave();
        })
    };
    let role = session.account.as_ref().map(|a| a.role);
    html! {
        <header class="top">
            <nav aria-label="Main">
                <Link<Route> to={Route::Home} classes="brand">{ "HealthChain" }</Link<Route>>
                if session.unlocked.is_some() {
                    <Link<Route> to={home_of(role)}>{ "My page" }</Link<Route>>
                    <Link<Route> to={Route::Wallet}>{ "Wallet" }</Link<Route>>
                    <Link<Route> to={Route::Twin}>{ "Digital twin" }</Link<Route>>
                }
                <Link<Route> to={Route::Explorer}>{ "Ledger explorer" }</Link<Route>>
                if session.unlocked.is_some() {
                    <button id="nav-lock" class="secondary" onclick={lock}>{ "Lock" }</button>
                }
            </nav>
            if let Some(acc) = &session.account {
                <p class="who" id="who">{ format!("{} · {}", acc.name, acc.role.human()) }</p>
            }
        </header>
    }
}

#[hook]
fn use_session_ctx() -> SessionHandle {
    session::use_session()
}
