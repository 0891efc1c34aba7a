//! The entry point Trunk builds: shows the start page, or hands over to the app.

fn main() {
    #[cfg(target_arch = "wasm32")]
    portal_start::start();
}
