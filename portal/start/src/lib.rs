//! The portal's start page, built as a WebAssembly module of its own so that the first
//! download stays small: it lists the wallets saved in this browser, unlocks one with its
//! passphrase (Argon2id + XChaCha20-Poly1305, through the wallet crate), imports a backup
//! file, and otherwise hands over to the app module (`portal`), which it loads only when
//! the person moves on. An unlocked identity is handed over in memory as the recovery
//! phrase's entropy, never through storage; the copy the handover makes in JS is wiped.
//!
//! The decisions are pure functions here (`entry_for`, the messages), tested natively;
//! the page itself (`page`, wasm32 only) is plain DOM, without a UI framework, which is
//! most of what keeps it small.

use wallet::KeystoreError;
use wallet::describe::sentence_case;

#[cfg(target_arch = "wasm32")]
mod page;
#[cfg(target_arch = "wasm32")]
pub use page::start;

/// The folder (under the site root) the app module is served from. The build names it
/// after the app's content hash (`app-<hash>`), so a browser never pairs this start page
/// with a cached app from another build; `app` when built without it (lints, tests).
pub const APP_DIR: &str = match option_env!("PORTAL_APP_DIR") {
    Some(dir) => dir,
    None => "app",
};

/// What the page at a path starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The start page (this module).
    StartPage,
    /// Any other route belongs to the app: load it at once.
    App,
}

/// The start page answers the site root only; every other path is an app route (opened
/// from a bookmark or a reload).
pub fn entry_for(path: &str) -> Entry {
    match path {
        "" | "/" | "/index.html" => Entry::StartPage,
        _ => Entry::App,
    }
}

/// Where a link on the start page leads: only the app's own routes, never elsewhere.
pub fn is_app_route(href: &str) -> bool {
    href.starts_with('/') && !href.starts_with("//") && entry_for(href) == Entry::App
}

/// How a saved wallet is named in the list: its note and the start of its address, or
/// the whole address when it has no note.
pub fn wallet_label(address_hex: &str, note: Option<&str>) -> String {
    match note {
        Some(n) => format!("{n} ({})", address_hex.get(..8).unwrap_or(address_hex)),
        None => address_hex.to_owned(),
    }
}

/// What a failed unlock says: what was wrong, that nothing changed, and what to do.
pub fn unlock_error(e: &KeystoreError) -> String {
    format!("{}. The wallet stays locked; check the passphrase and try again.", sentence_case(&e.to_string()))
}

/// What a backup file that is not a keystore says.
pub fn import_error(e: &KeystoreError) -> String {
    format!("This is not a HealthChain wallet backup: {e}. Choose the .json file the wallet exported.")
}

/// What the page says when the app module cannot be loaded.
pub fn load_error(detail: &str) -> String {
    format!("The portal could not be loaded ({detail}). Check the connection to the node and reload the page.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_root_is_the_start_page() {
        for p in ["", "/", "/index.html"] {
            assert_eq!(entry_for(p), Entry::StartPage, "{p}");
        }
        for p in ["/wallet/create", "/patient", "/record/ab12", "/explorer", "/index.htm"] {
            assert_eq!(entry_for(p), Entry::App, "{p}");
        }
    }

    #[test]
    fn links_lead_only_to_app_routes() {
        assert!(is_app_route("/wallet/create"));
        assert!(is_app_route("/explorer"));
        assert!(!is_app_route("/"));
        assert!(!is_app_route("//evil.example/x"));
        assert!(!is_app_route("https://evil.example/"));
        assert!(!is_app_route("wallet/create"));
    }

    #[test]
    fn labels_and_messages_say_what_happened() {
        let hex = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(wallet_label(hex, None), hex);
        assert_eq!(wallet_label(hex, Some("Jordan")), "Jordan (01234567)");
        assert_eq!(wallet_label("ab", Some("x")), "x (ab)");
        let m = unlock_error(&KeystoreError::WrongPassphraseOrTampered);
        assert!(m.starts_with("Wrong passphrase"), "{m}");
        assert!(m.contains("stays locked"), "{m}");
        let m = import_error(&KeystoreError::Malformed("expected value at line 1 column 1".into()));
        assert!(m.contains("not a HealthChain wallet backup") && m.contains("line 1"), "{m}");
        assert!(load_error("HTTP 404").contains("HTTP 404"));
    }

    #[test]
    fn the_app_folder_is_a_plain_name() {
        assert!(!APP_DIR.is_empty());
        assert!(APP_DIR.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{APP_DIR}");
    }
}
