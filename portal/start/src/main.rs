//! The start module's entry point, run by wasm-bindgen when the page starts the module.

fn main() {
    #[cfg(target_arch = "wasm32")]
    portal_start::start();
}
