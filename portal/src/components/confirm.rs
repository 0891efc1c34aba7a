//! The confirmation sheet: before anything is signed, the person reads the wallet's
//! plain-language sentence for every transaction, can open every detail, and signs or
//! cancels. Nothing is signed any other way.

use crate::api;
use crate::session::{Action, use_session};
use ledger_protocol::wire::{BatchItem, Receipt};
use ledger_protocol::{Transaction, TxBody};
use std::rc::Rc;
use wallet::{Description, MapDirectory, describe};
use yew::prelude::*;

/// Transactions waiting for the person's decision.
#[derive(Clone)]
pub struct SignRequest {
    pub title: String,
    pub bodies: Vec<TxBody>,
    /// Names for ids and addresses the sentences mention (records, consents, people).
    pub names: Rc<MapDirectory>,
    /// Receipts in order when every transaction was committed; otherwise what went wrong.
    pub on_done: Callback<Result<Vec<Receipt>, String>>,
}

impl PartialEq for SignRequest {
    fn eq(&self, other: &Self) -> bool {
        self.title == other.title && self.bodies == other.bodies
    }
}

pub type SignerHandle = UseStateHandle<Option<SignRequest>>;

#[hook]
pub fn use_signer() -> SignerHandle {
    use_context::<SignerHandle>().expect("the app provides the signer")
}

/// Most transactions submitted in one request.
const CHUNK: usize = 1000;

#[derive(Clone, PartialEq)]
enum Stage {
    Preparing,
    Ready(Rc<Vec<(Transaction, Description)>>),
    Signing,
    /// Nothing was signed (preparing failed, or the wallet locked itself).
    Failed(String),
    /// Signed and sent, but the ledger refused it or could not be reached; the caller has
    /// already been told, so closing the sheet must not report anything else.
    NotCommitted(String),
}

#[function_component(ConfirmSheet)]
pub fn confirm_sheet() -> Html {
    let signer = use_signer();
    let session = use_session();
    let stage = use_state(|| Stage::Preparing);
    let show_details = use_state(|| false);
    let sheet_ref = use_node_ref();
    // Keyboard and screen-reader users land in the sheet when it opens.
    {
        let sheet_ref = sheet_ref.clone();
        use_effect_with(signer.is_some(), move |open| {
            if *open && let Some(el) = sheet_ref.cast::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        });
    }

    // Prepare: the next nonce, names of the people involved, the descriptions.
    {
        let (stage, session, show_details) = (stage.clone(), session.clone(), show_details.clone());
        use_effect_with(signer.clone(), move |signer| {
            show_details.set(false);
            if let (Some(req), Some(id)) = ((**signer).clone(), session.identity()) {
                stage.set(Stage::Preparing);
                let chain = session.chain_id();
                let own_name = session.account.as_ref().map(|a| a.name.clone());
                let me = session.address().unwrap_or_else(|| id.address());
                wasm_bindgen_futures::spawn_local(async move {
                    let nonce = match api::account(&id.address()).await {
                        Ok(acc) => acc.map_or(0, |a| a.nonce),
                        Err(e) => return stage.set(Stage::Failed(e.message)),
                    };
                    let mut names = (*req.names).clone();
                    if let Ok(providers) = api::providers().await {
                        for p in providers {
                            names.accounts.entry(p.address).or_insert(p.name);
                        }
                    }
                    names.accounts.insert(me, own_name.map_or("you".to_owned(), |n| format!("{n} (you)")));
                    // Wall-clock milliseconds make the nonces unique across tabs and devices.
                    let base = nonce.max((js_sys::Date::now() as u64).saturating_sub(1));
                    let txs: Vec<_> = req
                        .bodies
                        .iter()
                        .enumerate()
                        .map(|(i, b)| {
                            let tx = id.transaction(chain.clone(), base + 1 + i as u64, b.clone());
                            let d = describe(&tx, &names);
                            (tx, d)
                        })
                        .collect();
                    stage.set(Stage::Ready(Rc::new(txs)));
                });
            }
        });
    }

    let Some(req) = (*signer).clone() else { return html! {} };
    let sent = matches!(*stage, Stage::NotCommitted(_));
    let cancel = {
        let (signer, req) = (signer.clone(), req.clone());
        Callback::from(move |()| {
            signer.set(None);
            if !sent {
                req.on_done.emit(Err("Cancelled: nothing was signed.".into()));
            }
        })
    };
    let sign = {
        let (signer, stage, session, req) = (signer.clone(), stage.clone(), session.clone(), req.clone());
        Callback::from(move |_| {
            let Stage::Ready(txs) = (*stage).clone() else { return };
            let Some(id) = session.identity() else {
                return stage.set(Stage::Failed("The wallet locked itself; unlock it and try again.".into()));
            };
            let signed: Result<Vec<_>, _> = txs.iter().map(|(t, _)| id.sign(t.clone())).collect();
            let signed = match signed {
                Ok(s) => s,
                Err(e) => return stage.set(Stage::Failed(e.to_string())),
            };
            stage.set(Stage::Signing);
            let (signer, stage, session, req) = (signer.clone(), stage.clone(), session.clone(), req.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let mut receipts = Vec::new();
                let mut failure = None;
                for chunk in signed.chunks(CHUNK) {
                    match api::submit(chunk).await {
                        Ok(items) => {
                            for item in items {
                                match item {
                                    BatchItem::Ok(r) => receipts.push(r),
                                    BatchItem::Err(e) => {
                                        failure.get_or_insert(format!(
                                            "The ledger refused it ({}): {}",
                                            e.code, e.message
                                        ));
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            failure.get_or_insert(e.message);
                            break;
                        }
                    }
                }
                session.dispatch(Action::Committed);
                match failure {
                    None => {
                        signer.set(None);
                        req.on_done.emit(Ok(receipts));
                    }
                    Some(f) => {
                        let done = receipts.len();
                        let msg = if done > 0 { format!("{f} ({done} of them were committed.)") } else { f };
                        stage.set(Stage::NotCommitted(msg.clone()));
                        req.on_done.emit(Err(msg));
                    }
                }
            });
        })
    };
    let toggle = {
        let show = show_details.clone();
        Callback::from(move |_| show.set(!*show))
    };
    let body = match &*stage {
        Stage::Preparing => html! { <p role="status">{ "Preparing what you will sign…" }</p> },
        Stage::Signing => html! { <p role="status">{ "Signing and waiting for the ledger to commit…" }</p> },
        Stage::Failed(msg) | Stage::NotCommitted(msg) => {
            html! { <p class="error" role="alert" id="confirm-error">{ msg.clone() }</p> }
        }
        Stage::Ready(txs) => html! {
            <>
                <p>{ if txs.len() == 1 { "You are about to sign:".to_owned() } else { format!("You are about to sign {} transactions:", txs.len()) } }</p>
                <ol class="confirm-list">
                    { for txs.iter().enumerate().map(|(i, (_, d))| html! {
                        <li>
                            <strong>{ d.title.clone() }</strong>{ ": " }
                            <span class="confirm-sentence" id={ (i == 0).then_some("confirm-sentence") }>{ d.sentence.clone() }</span>
                            if *show_details {
                                <dl class="details">
                                    { for d.details.iter().map(|x| html! { <><dt>{ x.label.clone() }</dt><dd>{ x.value.clone() }</dd></> }) }
                                </dl>
                            }
                        </li>
                    }) }
                </ol>
            </>
        },
    };
    let ready = matches!(*stage, Stage::Ready(_));
    html! {
        <div class="sheet-backdrop">
            <section class="sheet" id="confirm-sheet" role="dialog" aria-modal="true" aria-labelledby="confirm-title" tabindex="-1" ref={sheet_ref}
                onkeydown={ let cancel = cancel.clone(); Callback::from(move |e: KeyboardEvent| if e.key() == "Escape" { cancel.emit(()) }) }>
                <h2 id="confirm-title">{ req.title.clone() }</h2>
                { body }
                <div class="actions">
                    <button id="confirm-details-toggle" class="secondary" onclick={toggle} disabled={!ready} aria-expanded={(*show_details).to_string()}>
                        { if *show_details { "Hide details" } else { "Show every detail" } }
                    </button>
                    <button id="confirm-cancel" class="secondary" onclick={cancel.reform(|_: MouseEvent| ())}>{ if sent { "Close" } else { "Cancel" } }</button>
                    <button id="confirm-sign" onclick={sign} disabled={!ready}>{ "Sign" }</button>
                </div>
            </section>
        </div>
    }
}
