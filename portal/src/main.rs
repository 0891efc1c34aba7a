//! The HealthChain portal: a Yew app every role uses. Keys are made and kept in the
//! browser by the wallet crate; the ledger node is reached over its JSON API.

mod api;
mod app;
mod components;
mod fhir;
mod pages;
mod session;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
