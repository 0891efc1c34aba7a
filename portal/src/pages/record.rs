//! One record: its anchor and inclusion proof checked in this browser, its blob fetched
//! with a signed request (the node records the access), decrypted with the reader's own
//! key, checked against the anchored hash, and shown as readable text (never as HTML).

use crate::api;
use crate::app::Route;
use crate::components::fhir_view::FhirView;
use crate::components::ui::{ErrorBox, datetime, short};
use crate::fhir;
use crate::session::use_session;
use ledger_protocol::{Address, Hash, K256Verifier, SignatureVerifier, TxBody};
use yew::prelude::*;
use yew_router::prelude::*;

#[derive(Properties, PartialEq)]
pub struct RecordProps {
    pub id: String,
}

/// Title and pretty JSON of a decrypted record; or (code, message).
type Content = Result<(String, String), (String, String)>;

#[derive(Clone, PartialEq)]
struct Shown {
    anchor: ledger_protocol::state::Record,
    proof: Result<String, String>,
    content: Content,
}

async fn load(
    id: Hash,
    identity: std::rc::Rc<wallet::Identity>,
    me: Address,
    genesis: Option<ledger_protocol::Genesis>,
) -> Result<Shown, String> {
    let anchor = api::record(&id).await.map_err(|e| e.message)?;
    // The anchor transaction's inclusion proof, checked here without trusting the node.
    let proof = match api::tx(&id).await {
        Err(e) => Err(e.message),
        Ok(p) => {
            let producer_ok = genesis.as_ref().is_some_and(|g| g.is_authority(&p.header.producer));
            let sig_ok = K256Verifier.verify(&p.header.producer, &p.block_hash, &p.block_signature);
            let body_ok = matches!(&p.tx.tx.body, TxBody::AnchorRecord { content_hash, blob, .. } if *content_hash == anchor.content_hash && *blob == anchor.blob);
            let tx_sig_ok = p.tx.clone().verify(&K256Verifier).is_ok();
            if p.verify() && producer_ok && sig_ok && body_ok && tx_sig_ok {
                Ok(format!(
                    "Verified in this browser: anchored in block {} ({}), signed by a genesis authority; Merkle proof of {} steps checks out.",
                    p.height,
                    short(&p.block_hash),
                    p.proof.path.len()
                ))
            } else {
                Err("The inclusion proof does NOT verify: do not trust this record's anchor.".into())
            }
        }
    };
    let content = async {
        let plain = fetch_and_open(&identity, me, id, &anchor).await?;
        if wallet::content_hash(&plain) != anchor.content_hash {
            return Err((
                "tampered".to_owned(),
                "The decrypted content does not match the hash anchored on the ledger: it was altered.".to_owned(),
            ));
        }
        let text =
            String::from_utf8(plain).map_err(|_| ("decode".to_owned(), "The record is not UTF-8 text.".to_owned()))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ("decode".to_owned(), format!("The record is not JSON: {e}")))?;
        let pretty = serde_json::to_string_pretty(&value).unwrap_or(text);
        let title = if anchor.class == ledger_protocol::DataClass::EmergencySummary {
            "Emergency summary".to_owned()
        } else {
            fhir::title(&value)
        };
        Ok((title, pretty))
    }
    .await;
    Ok(Shown { anchor, proof, content })
}

/// Fetches a record's blob with a request signed by the unlocked identity (the node checks
/// consent and records the access) and decrypts it with the key wrapped for its account `me`
/// on the ledger or, for an emergency summary under break-glass, the one the node re-wrapped.
/// Errors are (code, sentence). The caller checks the plaintext against the anchored
/// content hash.
pub async fn fetch_and_open(
    identity: &wallet::Identity,
    me: Address,
    id: Hash,
    anchor: &ledger_protocol::state::Record,
) -> Result<Vec<u8>, (String, String)> {
    let released = api::read_blob(&id).await.map_err(|e| (e.code, e.message))?;
    let wrapped = match (anchor.keys.get(&me), &released.escrowed_key) {
        (Some(k), _) => k.wrapped.clone(),
        (None, Some(k)) => k.clone(),
        (None, None) if released.escrow_unavailable => {
            return Err((
                "no_escrow_key".to_owned(),
                "The node released this emergency summary, but it is not configured with the hospital's encryption key, so it could not pass the key on to you. Ask the hospital's IT to start the node with its authority-encryption.key.".to_owned(),
            ));
        }
        (None, None) => {
            return Err((
                "no_key".to_owned(),
                "The node released the record, but no key was wrapped for you: ask the patient to share it.".to_owned(),
            ));
        }
    };
    let key = wallet::unwrap_key(identity, &wrapped).map_err(|e| ("decrypt".to_owned(), e.to_string()))?;
    wallet::open(&key, &released.sealed).map_err(|e| ("decrypt".to_owned(), e.to_string()))
}

/// Encrypts a new record's contents under a fresh key, wraps the key for each reader, and
/// uploads the envelope: the blob id and the wrapped keys an `AnchorRecord` needs.
pub async fn seal_and_upload(
    plain: &[u8],
    readers: &[(ledger_protocol::Address, ledger_protocol::PublicKey)],
) -> Result<(Hash, Vec<ledger_protocol::WrappedKey>), String> {
    let mut rng = rand_core::OsRng;
    let (key, sealed) = wallet::seal(plain, &mut rng).map_err(|e| e.to_string())?;
    let keys = readers
        .iter()
        .map(|(a, k)| {
            wallet::wrap_key(&key, k, &mut rng).map(|w| ledger_protocol::WrappedKey { reader: *a, wrapped: w })
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let blob = api::put_blob(sealed).await.map_err(|e| e.message)?;
    Ok((blob, keys))
}

#[function_component(RecordView)]
pub fn record_view(p: &RecordProps) -> Html {
    let session = use_session();
    let shown = use_state(|| None::<Result<Shown, String>>);
    let raw = use_state(|| false);
    let id = Hash::from_hex(&p.id).ok();
    {
        let shown = shown.clone();
        let identity = session.identity();
        let genesis = session.info.as_ref().map(|i| i.genesis.clone());
        let ready = session.info.is_some();
        use_effect_with((id, ready, session.address()), move |(_, _, me)| {
            if let (Some(id), Some(identity), Some(me), true) = (id, identity, *me, ready) {
                wasm_bindgen_futures::spawn_local(
                    async move { shown.set(Some(load(id, identity, me, genesis).await)) },
                );
            }
        });
    }
    let Some(id) = id else { return html! { <main><ErrorBox text="That is not a record id." /></main> } };
    if session.unlocked.is_none() {
        return html! { <main><p>{ "Unlock your wallet to read this record. " }<Link<Route> to={Route::Home}>{ "Unlock" }</Link<Route>></p></main> };
    }
    let s = match &*shown {
        None => return html! { <main><p role="status">{ "Fetching, verifying and decrypting…" }</p></main> },
        Some(Err(e)) => {
            return html! { <main><h1>{ "Record" }</h1><ErrorBox id="record-error" text={e.clone()} /></main> };
        }
        Some(Ok(s)) => s.clone(),
    };
    html! {
        <main>
            <h1>{ match &s.content { Ok((t, _)) => t.clone(), Err(_) => format!("Record {}", short(&id)) } }</h1>
            <section class="card">
                <h2>{ "On the ledger" }</h2>
                <dl class="details">
                    <dt>{ "Record id" }</dt><dd>{ id.to_hex() }</dd>
                    <dt>{ "Kind" }</dt><dd>{ s.anchor.class.human() }</dd>
                    <dt>{ "Anchored" }</dt><dd>{ datetime(s.anchor.anchored_at) }</dd>
                    <dt>{ "Content hash" }</dt><dd>{ s.anchor.content_hash.to_hex() }</dd>
                    <dt>{ "Readers holding its key" }</dt><dd>{ s.anchor.keys.len() }</dd>
                </dl>
                { match &s.proof {
                    Ok(m) => html! { <p id="record-proof" class="verified" data-verified="true">{ "✔ " }{ m.clone() }</p> },
                    Err(m) => html! { <p id="record-proof" class="error" role="alert" data-verified="false">{ m.clone() }</p> },
                } }
            </section>
            <section class="card">
                <h2>{ "Content" }</h2>
                { match &s.content {
                    Ok((_, pretty)) => html! {
                        <>
                            <FhirView json={pretty.clone()} />
                            <button class="secondary" onclick={ let r = raw.clone(); Callback::from(move |_| r.set(!*r)) } aria-expanded={raw.to_string()}>
                                { if *raw { "Hide the FHIR JSON" } else { "Show the FHIR JSON" } }
                            </button>
                            if *raw { <pre class="raw">{ pretty.clone() }</pre> }
                        </>
                    },
                    Err((code, m)) => html! { <p id="record-error" class="error" role="alert" data-code={code.clone()}>{ format!("{m} ({code})") }</p> },
                } }
            </section>
        </main>
    }
}
