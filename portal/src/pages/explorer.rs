//! The ledger explorer: recent blocks as anyone may see them (kinds, ids, sizes, times; the
//! transactions' signers too for the hospital's authority), and the inclusion proof of a
//! transaction the reader is party to, checked in this browser.

use crate::api::{self, BlockView};
use crate::components::ui::{ErrorBox, datetime, short, text_value};
use crate::session::use_session;
use ledger_protocol::{Hash, K256Verifier, SignatureVerifier};
use yew::prelude::*;

#[function_component(Explorer)]
pub fn explorer() -> Html {
    let session = use_session();
    let blocks = use_state(|| None::<Result<Vec<BlockView>, String>>);
    let query = use_state(String::new);
    let checked = use_state(|| None::<Result<String, String>>);
    {
        let blocks = blocks.clone();
        use_effect_with(session.generation, move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let r = async {
                    let info = api::info().await.map_err(|e| e.message)?;
                    let mut v = Vec::new();
                    for h in (1..=info.height).rev().take(10) {
                        v.push(api::block(h).await.map_err(|e| e.message)?);
                    }
                    Ok(v)
                }
                .await;
                blocks.set(Some(r));
            });
        });
    }
    let check = {
        let (query, checked, session) = (query.clone(), checked.clone(), session.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Ok(id) = Hash::from_hex(query.trim()) else {
                return checked.set(Some(Err("A transaction id is 64 hexadecimal characters.".into())));
            };
            let (checked, genesis) = (checked.clone(), session.info.as_ref().map(|i| i.genesis.clone()));
            wasm_bindgen_futures::spawn_local(async move {
                checked.set(Some(match api::tx(&id).await {
                    Err(e) => Err(e.message),
                    Ok(p) => {
                        let ok = p.verify()
                            && p.tx.clone().verify(&K256Verifier).is_ok()
                            && genesis.is_some_and(|g| g.is_authority(&p.header.producer))
                            && K256Verifier.verify(&p.header.producer, &p.block_hash, &p.block_signature);
                        if ok {
                            Ok(format!(
                                "{} in block {}: signature, block signature and Merkle proof verify in this browser.",
                                p.tx.tx.body.kind().name(),
                                p.height
                            ))
                        } else {
                            Err("The proof does NOT verify.".into())
                        }
                    }
                }));
            });
        })
    };
    html! {
        <main>
            <h1>{ "Ledger explorer" }</h1>
            <p>{ "Anyone sees what each block holds in outline: kinds of transaction, their ids, sizes and times. What a transaction says is shown only to the people it concerns." }</p>
            <form class="card" onsubmit={check}>
                <label for="tx-query">{ "Check a transaction by id" }</label>
                <input id="tx-query" value={(*query).clone()} spellcheck="false" oninput={ let q = query.clone(); Callback::from(move |e: InputEvent| q.set(text_value(&e))) } />
                <button id="tx-check" type="submit">{ "Verify" }</button>
                { match &*checked { Some(Ok(m)) => html! { <p id="tx-verified" class="verified">{ "✔ " }{ m.clone() }</p> }, Some(Err(m)) => html! { <ErrorBox text={m.clone()} /> }, None => html! {} } }
            </form>
            { match &*blocks {
                None => html! { <p role="status">{ "Loading blocks…" }</p> },
                Some(Err(e)) => html! { <ErrorBox text={e.clone()} /> },
                Some(Ok(bs)) => html! {
                    <ol id="blocks" class="list" reversed=true>
                        { for bs.iter().map(|b| html! {
                            <li class="block-item card" data-height={b.header.height.to_string()}>
                                <details>
                                    <summary>{ format!("Block {} · {} · {} transaction(s) · {}", b.header.height, datetime(b.header.timestamp_ms / 1000), b.tx_ids.len(), short(&b.hash)) }</summary>
                                    <ul>
                                        { for b.tx_ids.iter().enumerate().map(|(i, id)| {
                                            let kind = b.kinds.get(i).map_or("?", |k| k.name());
                                            let size = b.sizes.get(i).copied().unwrap_or(0);
                                            let by = b.txs.as_ref().and_then(|t| t.get(i)).map(|t| format!(" by {}", &t.tx.signer.address().to_hex()[..10])).unwrap_or_default();
                                            html! { <li class="tx-item"><code>{ id.to_hex() }</code>{ format!(" {kind} · {size} bytes{by}") }</li> }
                                        }) }
                                    </ul>
                                </details>
                            </li>
                        }) }
                    </ol>
                },
            } }
        </main>
    }
}
