//! Making and keeping a wallet: create (show the recovery phrase, confirm it, choose a
//! passphrase), restore from a phrase, and the wallet page (backup, auto-lock, lock).

use crate::app::Route;
use crate::components::ui::{ErrorBox, Notice, download, text_value};
use crate::session::{self, Action, Unlocked, use_session};
use std::rc::Rc;
use wallet::{Keystore, Mnemonic, Passphrase};
use yew::prelude::*;
use yew_router::prelude::*;

/// Shortest passphrase accepted.
const MIN_PASSPHRASE: usize = 10;

/// A rough strength estimate in bits, and its word.
pub fn strength(p: &str) -> (u32, &'static str) {
    let mut pool = 0u32;
    if p.chars().any(|c| c.is_ascii_lowercase()) {
        pool += 26;
    }
    if p.chars().any(|c| c.is_ascii_uppercase()) {
        pool += 26;
    }
    if p.chars().any(|c| c.is_ascii_digit()) {
        pool += 10;
    }
    if p.chars().any(|c| !c.is_ascii_alphanumeric()) {
        pool += 33;
    }
    let distinct = {
        let mut v: Vec<char> = p.chars().collect();
        v.sort_unstable();
        v.dedup();
        v.len() as u32
    };
    let len = p.chars().count() as u32;
    let bits = if pool == 0 { 0 } else { (f64::from(pool).log2() * f64::from(len.min(distinct * 2))) as u32 };
    let word = match bits {
        0..=39 => "weak",
        40..=59 => "fair",
        60..=79 => "good",
        _ => "strong",
    };
    (bits, word)
}

#[derive(Properties, PartialEq)]
struct PassProps {
    pass: UseStateHandle<String>,
    repeat: UseStateHandle<String>,
}

#[function_component(PassphraseFields)]
fn passphrase_fields(p: &PassProps) -> Html {
    let (bits, word) = strength(&p.pass);
    html! {
        <>
            <label for="passphrase">{ "Choose a passphrase (at least 10 characters)" }</label>
            <input id="passphrase" type="password" autocomplete="new-password" value={(*p.pass).clone()} aria-describedby="passphrase-strength"
                oninput={ let s = p.pass.clone(); Callback::from(move |e: InputEvent| s.set(text_value(&e))) } />
            <p id="passphrase-strength" class={classes!("strength", word)}>
                <meter min="0" max="100" low="40" high="60" optimum="90" value={bits.min(100).to_string()}></meter>
                { format!(" Strength: {word} (about {bits} bits)") }
            </p>
            <label for="passphrase-repeat">{ "Repeat the passphrase" }</label>
            <input id="passphrase-repeat" type="password" autocomplete="new-password" value={(*p.repeat).clone()}
                oninput={ let s = p.repeat.clone(); Callback::from(move |e: InputEvent| s.set(text_value(&e))) } />
        </>
    }
}

fn check_passphrase(pass: &str, repeat: &str) -> Result<(), String> {
    if pass.chars().count() < MIN_PASSPHRASE {
        return Err(format!("The passphrase needs at least {MIN_PASSPHRASE} characters."));
    }
    if strength(pass).0 < 40 {
        return Err("The passphrase is too weak: make it longer or mix words, digits and symbols.".into());
    }
    if pass != repeat {
        return Err("The two passphrases differ: type the same one twice.".into());
    }
    Ok(())
}

/// Encrypts, saves and unlocks a wallet; the caller then navigates.
fn keep_and_unlock(
    session: &crate::session::SessionHandle,
    mnemonic: &Mnemonic,
    pass: &str,
    note: Option<String>,
) -> Result<(), String> {
    let ks = Keystore::create_default(mnemonic, &Passphrase::new(pass.to_owned()), note.clone())
        .map_err(|e| e.to_string())?;
    session::store()?.save(&ks).map_err(|e| format!("The wallet could not be saved in this browser: {e}"))?;
    let identity = mnemonic.identity().map_err(|e| e.to_string())?;
    session.dispatch(Action::Unlock(Unlocked { identity: Rc::new(identity), keystore_note: note }));
    session::refresh(session);
    Ok(())
}

#[derive(Clone, PartialEq)]
enum Step {
    Show,
    Confirm([usize; 3]),
    Passphrase,
}

fn random_below(n: usize) -> usize {
    (js_sys::Math::random() * n as f64) as usize % n
}

#[function_component(Create)]
pub fn create() -> Html {
    let session = use_session();
    let navigator = use_navigator();
    // The phrase is made once per visit of this page.
    let phrase = use_memo((), |_| Mnemonic::generate().map(|m| m.phrase().to_string()).map_err(|e| e.to_string()));
    let step = use_state(|| Step::Show);
    let saved_it = use_state(|| false);
    let answers = use_state(|| [String::new(), String::new(), String::new()]);
    let pass = use_state(String::new);
    let repeat = use_state(String::new);
    let note = use_state(String::new);
    let error = use_state(|| None::<String>);
    let busy = use_state(|| false);

    let phrase = match &*phrase {
        Ok(p) => p.clone(),
        Err(e) => {
            return html! { <main class="narrow"><ErrorBox text={format!("No recovery phrase could be made: {e}")} /></main> };
        }
    };
    let words: Vec<String> = phrase.split_whitespace().map(str::to_owned).collect();

    let body = match (*step).clone() {
        Step::Show => {
            let next = {
                let (step, saved_it, error) = (step.clone(), saved_it.clone(), error.clone());
                Callback::from(move |_| {
                    if !*saved_it {
                        return error.set(Some("Tick the box once the 24 words are written down.".into()));
                    }
                    let mut picks = [0usize; 3];
                    let mut i = 0;
                    while i < 3 {
                        let k = random_below(24);
                        if !picks[..i].contains(&k) {
                            picks[i] = k;
                            i += 1;
                        }
                    }
                    picks.sort_unstable();
                    error.set(None);
                    step.set(Step::Confirm(picks));
                })
            };
            html! {
                <>
                    <h2>{ "1. Write down your recovery phrase" }</h2>
                    <p>{ "These 24 words are the only way back into your wallet if you forget your passphrase or lose this device. Write them on paper, in order, and keep them safe. Anyone with them can act as you." }</p>
                    <ol id="mnemonic" class="mnemonic">
                        { for words.iter().map(|w| html! { <li class="mnemonic-word">{ w.clone() }</li> }) }
                    </ol>
                    <p class="check">
                        <input id="mnemonic-saved" type="checkbox" checked={*saved_it}
                            onchange={ let s = saved_it.clone(); Callback::from(move |_| s.set(!*s)) } />
                        <label for="mnemonic-saved">{ "I have written these 24 words down, in order" }</label>
                    </p>
                    <button id="mnemonic-next" onclick={next}>{ "Next" }</button>
                </>
            }
        }
        Step::Confirm(picks) => {
            let next = {
                let (step, answers, error, words) = (step.clone(), answers.clone(), error.clone(), words.clone());
                Callback::from(move |e: SubmitEvent| {
                    e.prevent_default();
                    for (slot, k) in picks.iter().enumerate() {
                        if answers[slot].trim().to_lowercase() != words[*k] {
                            return error
                                .set(Some(format!("Word number {} is not right. Check what you wrote down.", k + 1)));
                        }
                    }
                    error.set(None);
                    step.set(Step::Passphrase);
                })
            };
            html! {
                <form onsubmit={next}>
                    <h2>{ "2. Confirm your recovery phrase" }</h2>
                    <p>{ "Type these words from what you wrote down." }</p>
                    { for picks.iter().enumerate().map(|(slot, k)| {
                        let answers = answers.clone();
                        let id = format!("confirm-word-{slot}");
                        html! {
                            <>
                                <label for={id.clone()}>{ format!("Word number {}", k + 1) }</label>
                                <input id={id} data-word-index={(k + 1).to_string()} autocomplete="off" autocapitalize="none" spellcheck="false" value={answers[slot].clone()}
                                    oninput={ Callback::from(move |e: InputEvent| { let mut a = (*answers).clone(); a[slot] = text_value(&e); answers.set(a); }) } />
                            </>
                        }
                    }) }
                    <button id="confirm-next" type="submit">{ "Next" }</button>
                    <button type="button" class="secondary" onclick={ let s = step.clone(); Callback::from(move |_| s.set(Step::Show)) }>{ "Back to the words" }</button>
                </form>
            }
        }
        Step::Passphrase => {
            let submit = {
                let (session, navigator, pass, repeat, note, error, busy, phrase) = (
                    session.clone(),
                    navigator.clone(),
                    pass.clone(),
                    repeat.clone(),
                    note.clone(),
                    error.clone(),
                    busy.clone(),
                    phrase.clone(),
                );
                Callback::from(move |e: SubmitEvent| {
                    e.prevent_default();
                    if let Err(m) = check_passphrase(&pass, &repeat) {
                        return error.set(Some(m));
                    }
                    busy.set(true);
                    let (session, navigator, pass, note, error, busy, phrase) = (
                        session.clone(),
                        navigator.clone(),
                        pass.clone(),
                        note.clone(),
                        error.clone(),
                        busy.clone(),
                        phrase.clone(),
                    );
                    gloo_timers::callback::Timeout::new(30, move || {
                        let result = Mnemonic::parse(&phrase).map_err(|e| e.to_string()).and_then(|m| {
                            let n = note.trim();
                            keep_and_unlock(&session, &m, &pass, (!n.is_empty()).then(|| n.to_owned()))
                        });
                        busy.set(false);
                        match result {
                            Ok(()) => {
                                if let Some(n) = navigator {
                                    n.push(&Route::Register);
                                }
                            }
                            Err(m) => error.set(Some(m)),
                        }
                    })
                    .forget();
                })
            };
            html! {
                <form onsubmit={submit}>
                    <h2>{ "3. Lock it with a passphrase" }</h2>
                    <p>{ "You will type this passphrase to unlock the wallet on this device." }</p>
                    <PassphraseFields pass={pass.clone()} repeat={repeat.clone()} />
                    <label for="wallet-name">{ "A name for this wallet (optional, shown only here)" }</label>
                    <input id="wallet-name" value={(*note).clone()} oninput={ let s = note.clone(); Callback::from(move |e: InputEvent| s.set(text_value(&e))) } />
                    <button id="create-submit" type="submit" disabled={*busy}>{ if *busy { "Encrypting…" } else { "Create my wallet" } }</button>
                </form>
            }
        }
    };
    html! {
        <main class="narrow">
            <h1>{ "Create a wallet" }</h1>
            <section class="card">
                { body }
                if let Some(e) = &*error { <ErrorBox id="create-error" text={e.clone()} /> }
            </section>
        </main>
    }
}

#[function_component(Restore)]
pub fn restore() -> Html {
    let session = use_session();
    let navigator = use_navigator();
    let phrase = use_state(String::new);
    let pass = use_state(String::new);
    let repeat = use_state(String::new);
    let error = use_state(|| None::<String>);
    let busy = use_state(|| false);
    let submit = {
        let (session, navigator, phrase, pass, repeat, error, busy) = (
            session.clone(),
            navigator.clone(),
            phrase.clone(),
            pass.clone(),
            repeat.clone(),
            error.clone(),
            busy.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let m = match Mnemonic::parse(&phrase) {
                Ok(m) => m,
                Err(e) => return error.set(Some(format!("{}.", wallet::describe::sentence_case(&e.to_string())))),
            };
            if let Err(msg) = check_passphrase(&pass, &repeat) {
                return error.set(Some(msg));
            }
            busy.set(true);
            let (session, navigator, pass, error, busy) =
                (session.clone(), navigator.clone(), pass.clone(), error.clone(), busy.clone());
            gloo_timers::callback::Timeout::new(30, move || {
                let r = keep_and_unlock(&session, &m, &pass, None);
                busy.set(false);
                match r {
                    Ok(()) => {
                        if let Some(n) = navigator {
                            n.push(&Route::Home);
                        }
                    }
                    Err(msg) => error.set(Some(msg)),
                }
            })
            .forget();
        })
    };
    html! {
        <main class="narrow">
            <h1>{ "Restore a wallet" }</h1>
            <form class="card" onsubmit={submit}>
                <label for="restore-phrase">{ "Your 24-word recovery phrase, words separated by spaces" }</label>
                <textarea id="restore-phrase" rows="4" autocomplete="off" autocapitalize="none" spellcheck="false" value={(*phrase).clone()}
                    oninput={ let s = phrase.clone(); Callback::from(move |e: InputEvent| s.set(e.target_unchecked_into::<web_sys::HtmlTextAreaElement>().value())) } />
                <PassphraseFields pass={pass.clone()} repeat={repeat.clone()} />
                if let Some(e) = &*error { <ErrorBox id="restore-error" text={e.clone()} /> }
                <button id="restore-submit" type="submit" disabled={*busy}>{ if *busy { "Encrypting…" } else { "Restore" } }</button>
            </form>
        </main>
    }
}

#[function_component(WalletPage)]
pub fn wallet_page() -> Html {
    let session = use_session();
    let minutes = use_state(session::autolock_minutes);
    let notice = use_state(|| None::<String>);
    let Some(id) = session.identity() else {
        return html! { <main class="narrow"><p>{ "The wallet is locked. " }<Link<Route> to={Route::Home}>{ "Unlock it" }</Link<Route>></p></main> };
    };
    let address = id.address();
    let backup = {
        let notice = notice.clone();
        Callback::from(move |_| {
            let ks = session::store().ok().and_then(|s| s.load(&address).ok().flatten());
            match ks {
                Some(ks) => match download(
                    &format!("healthchain-wallet-{}.json", &address.to_hex()[..8]),
                    "application/json",
                    &ks.to_json(),
                ) {
                    Ok(()) => notice.set(Some(
                        "Backup saved. It is encrypted with your passphrase; keep it with your recovery phrase.".into(),
                    )),
                    Err(e) => notice.set(Some(e)),
                },
                None => notice.set(Some("This wallet is not saved in this browser.".into())),
            }
        })
    };
    let set_minutes = {
        let (minutes, notice) = (minutes.clone(), notice.clone());
        Callback::from(move |e: Event| {
            if let Ok(m) = crate::components::ui::input_value(&e).parse::<u32>()
                && (1..=720).contains(&m)
            {
                session::set_autolock_minutes(m);
                minutes.set(m);
                notice.set(Some(format!("The wallet now locks after {m} idle minutes.")));
            }
        })
    };
    html! {
        <main class="narrow">
            <h1>{ "Your wallet" }</h1>
            <section class="card">
                <dl class="details">
                    <dt>{ "Name on this device" }</dt><dd>{ session.unlocked.as_ref().and_then(|u| u.keystore_note.clone()).unwrap_or_else(|| "—".into()) }</dd>
                    <dt>{ "Address" }</dt><dd id="wallet-address">{ address.to_hex() }</dd>
                    <dt>{ "Signing key" }</dt><dd>{ id.public_key().to_hex() }</dd>
                    <dt>{ "Encryption key" }</dt><dd>{ id.encryption_public_key().to_hex() }</dd>
                </dl>
                <button id="backup-export" onclick={backup}>{ "Download an encrypted backup" }</button>
                <label for="autolock">{ "Lock automatically after this many idle minutes" }</label>
                <input id="autolock" type="number" min="1" max="720" value={minutes.to_string()} onchange={set_minutes} />
                if let Some(n) = &*notice { <Notice text={n.clone()} /> }
            </section>
            <Link<Route> to={crate::app::home_of(session.account.as_ref().map(|a| a.role))}>{ "Back" }</Link<Route>>
        </main>
    }
}
