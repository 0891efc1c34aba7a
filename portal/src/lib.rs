//! The HealthChain portal: a Yew app every role uses. Keys are made and kept in the
//! browser by the wallet crate; the ledger node is reached over its JSON API. The binary
//! (`main.rs`) only mounts `app::App`; the modules are a library so that components can be
//! tested in a real browser (tests/components.rs).

pub mod api;
pub mod app;
pub mod components;
pub mod fhir;
pub mod pages;
pub mod session;

/// Mounts the app on the page's body.
pub fn start() {
    yew::Renderer::<app::App>::new().render();
}
