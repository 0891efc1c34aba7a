//! The portal's entry point (built by Trunk): mounts the app.

fn main() {
    portal::start();
}
