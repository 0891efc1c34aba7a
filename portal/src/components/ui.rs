//! Small building blocks: error and notice boxes, short ids, dates, inputs' values.

use ledger_protocol::Hash;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct MessageProps {
    pub text: AttrValue,
    #[prop_or_default]
    pub id: Option<AttrValue>,
}

/// An error, announced to screen readers.
#[function_component(ErrorBox)]
pub fn error_box(p: &MessageProps) -> Html {
    html! { <p class="error" role="alert" id={p.id.clone()}>{ p.text.clone() }</p> }
}

/// A confirmation or piece of news, announced politely.
#[function_component(Notice)]
pub fn notice(p: &MessageProps) -> Html {
    html! { <p class="notice" role="status" id={p.id.clone()}>{ p.text.clone() }</p> }
}

pub fn short(h: &Hash) -> String {
    h.to_hex()[..10].to_owned()
}

pub fn date(secs: u64) -> String {
    wallet::describe::date(secs)
}

pub fn datetime(secs: u64) -> String {
    wallet::describe::datetime(secs)
}

/// The node's time, Unix seconds (see `api::node_now_ms`).
pub fn now_secs() -> u64 {
    (crate::api::node_now_ms() / 1000.0) as u64
}

pub fn input_value(e: &Event) -> String {
    e.target_unchecked_into::<web_sys::HtmlInputElement>().value()
}

pub fn input_checked(e: &Event) -> bool {
    e.target_unchecked_into::<web_sys::HtmlInputElement>().checked()
}

pub fn text_value(e: &InputEvent) -> String {
    e.target_unchecked_into::<web_sys::HtmlInputElement>().value()
}

/// Offers `contents` as a file download named `name`.
pub fn download(name: &str, mime: &str, contents: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(contents));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts)
        .map_err(|_| "The browser could not prepare the file.".to_owned())?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|_| "The browser could not prepare the file.".to_owned())?;
    let doc = web_sys::window().and_then(|w| w.document()).ok_or("No document")?;
    let a: web_sys::HtmlAnchorElement =
        wasm_bindgen::JsCast::unchecked_into(doc.create_element("a").map_err(|_| "No link")?);
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}
