//! Component tests in headless Chromium (wasm-bindgen-test): components render into a
//! real DOM, and what they show is checked there.
#![cfg(target_arch = "wasm32")]

use portal::components::fhir_view::{FhirView, FhirViewProps};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn mount() -> web_sys::Element {
    let doc = web_sys::window().unwrap().document().unwrap();
    let root = doc.create_element("div").unwrap();
    doc.body().unwrap().append_child(&root).unwrap();
    root
}

async fn settle() {
    // Yew renders on the next tick of the event loop.
    gloo_timers::future::TimeoutFuture::new(20).await;
}

#[wasm_bindgen_test]
async fn record_markup_is_shown_as_text_never_run() {
    let root = mount();
    let hostile = r#"{"resourceType":"Condition","code":{"text":"<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"},
        "text":{"status":"generated","div":"<div><script>document.title='pwned'</script></div>"},"note":[{"text":"<b>bold?</b>"}]}"#;
    yew::Renderer::<FhirView>::with_root_and_props(root.clone(), FhirViewProps { json: hostile.into() }).render();
    settle().await;
    assert_eq!(root.query_selector_all("script, img, b").unwrap().length(), 0, "{}", root.inner_html());
    let text = root.text_content().unwrap();
    assert!(text.contains("<img src=x"), "the markup is visible as text: {text}");
    assert!(text.contains("<b>bold?</b>"));
    assert!(!text.contains("<div><script>"), "the narrative is not shown at all");
    assert_ne!(web_sys::window().unwrap().document().unwrap().title(), "pwned");
}

#[wasm_bindgen_test]
async fn a_synthea_condition_reads_as_rows() {
    let root = mount();
    let line = include_str!("../../static/demo/synthea-patient-a4a401d1.ndjson")
        .lines()
        .find(|l| l.contains("\"Condition\""))
        .unwrap();
    yew::Renderer::<FhirView>::with_root_and_props(root.clone(), FhirViewProps { json: line.into() }).render();
    settle().await;
    let dts: Vec<String> = {
        let list = root.query_selector_all("dt").unwrap();
        (0..list.length()).map(|i| list.item(i).unwrap().text_content().unwrap()).collect()
    };
    assert!(dts.contains(&"What".to_owned()) && dts.contains(&"When".to_owned()), "{dts:?}");
    assert!(
        root.text_content().unwrap().contains("Streptococcal sore throat")
            || root.text_content().unwrap().contains("(disorder)")
    );
}

#[wasm_bindgen_test]
async fn passphrase_strength_grows_with_length_and_variety() {
    use portal::pages::wallet::strength;
    assert_eq!(strength("").1, "weak");
    assert_eq!(strength("aaaaaaaaaaaa").1, "weak");
    assert!(strength("correct-Horse-42-battery").0 >= 60);
}

#[wasm_bindgen_test]
async fn malformed_record_json_is_reported() {
    let root = mount();
    yew::Renderer::<FhirView>::with_root_and_props(root.clone(), FhirViewProps { json: "{not json".into() }).render();
    settle().await;
    assert!(root.query_selector("[role=alert]").unwrap().is_some());
}

mod sheet {
    use super::*;
    use portal::components::confirm::{ConfirmSheet, SignRequest, SignerHandle};
    use portal::session::{Session, SessionHandle, Unlocked};
    use std::cell::RefCell;
    use std::rc::Rc;
    use yew::prelude::*;

    #[derive(Properties, PartialEq)]
    struct HarnessProps {
        on_done: Callback<Result<Vec<ledger_protocol::wire::Receipt>, String>>,
    }

    #[function_component(Harness)]
    fn harness(p: &HarnessProps) -> Html {
        let session = use_reducer(|| {
            let id = wallet::Mnemonic::from_entropy(&[7u8; 32]).identity().unwrap();
            Session { unlocked: Some(Unlocked { identity: Rc::new(id), keystore_note: None }), ..Default::default() }
        });
        let signer = use_state(|| {
            Some(SignRequest {
                title: "Revoke a consent".into(),
                bodies: vec![ledger_protocol::TxBody::RevokeConsent { consent: ledger_protocol::Hash([1; 32]) }],
                names: Rc::new(wallet::MapDirectory::default()),
                on_done: p.on_done.clone(),
            })
        });
        html! {
            <ContextProvider<SessionHandle> context={session}>
                <ContextProvider<SignerHandle> context={signer}><ConfirmSheet /></ContextProvider<SignerHandle>>
            </ContextProvider<SessionHandle>>
        }
    }

    /// Without a reachable node nothing can be signed: the sheet says so in words, the
    /// Sign button stays disabled, and cancelling reports that nothing was signed.
    #[wasm_bindgen_test]
    async fn an_unreachable_node_is_explained_and_nothing_is_signed() {
        let root = mount();
        let done = Rc::new(RefCell::new(None));
        let on_done = {
            let done = done.clone();
            Callback::from(move |r| *done.borrow_mut() = Some(r))
        };
        yew::Renderer::<Harness>::with_root_and_props(root.clone(), HarnessProps { on_done }).render();
        for _ in 0..50 {
            settle().await;
            if root.query_selector("#confirm-error").unwrap().is_some() {
                break;
            }
        }
        assert!(root.query_selector("#confirm-sheet").unwrap().is_some());
        let focused = web_sys::window().unwrap().document().unwrap().active_element().map(|e| e.id());
        assert_eq!(focused.as_deref(), Some("confirm-sheet"), "keyboard focus moves into the sheet");
        let err = root.query_selector("#confirm-error").unwrap().expect("an error is shown").text_content().unwrap();
        assert!(err.contains("ledger node"), "{err}");
        let sign: web_sys::HtmlButtonElement =
            wasm_bindgen::JsCast::unchecked_into(root.query_selector("#confirm-sign").unwrap().unwrap());
        assert!(sign.disabled());
        let cancel: web_sys::HtmlElement =
            wasm_bindgen::JsCast::unchecked_into(root.query_selector("#confirm-cancel").unwrap().unwrap());
        cancel.click();
        settle().await;
        assert!(root.query_selector("#confirm-sheet").unwrap().is_none(), "the sheet closes");
        assert!(matches!(&*done.borrow(), Some(Err(m)) if m.contains("nothing was signed")));
    }
}
