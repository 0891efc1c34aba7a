//! What the node's answers tell a browser to enforce: a strict Content-Security-Policy
//! (scripts only from this origin, plus the portal page's own inline bootstrap, allowed by its
//! hash; WebAssembly may be compiled, nothing may be `eval`ed; no plugins, no framing, no
//! foreign connections), no MIME sniffing, no referrer, and a browsing context of its own.
//! The policy is a pure function of the served page's bytes; `layer` puts it on every answer.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use base64::Engine;
use sha2::{Digest, Sha256};
use tower_http::set_header::SetResponseHeaderLayer;

/// The bodies of the inline `<script>` elements of an HTML page, exactly as a browser hashes
/// them (a script with a `src` attribute is not inline).
pub fn inline_scripts(html: &str) -> Vec<&str> {
    // ASCII lower-casing keeps every byte offset, so positions found in `lower` cut `html`.
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(open) = lower[at..].find("<script").map(|i| at + i) {
        let Some(tag_end) = lower[open..].find('>').map(|i| open + i) else { break };
        let Some(close) = lower[tag_end..].find("</script").map(|i| tag_end + i) else { break };
        let attributes = &lower[open + "<script".len()..tag_end];
        let has_src = attributes.split(|c: char| c.is_ascii_whitespace()).any(|a| a.starts_with("src="));
        if !has_src {
            out.push(&html[tag_end + 1..close]);
        }
        at = close;
    }
    out
}

/// The Content-Security-Policy for a site whose page is `page` (its inline scripts are
/// allowed by their SHA-256; without a page, none is).
pub fn content_security_policy(page: Option<&str>) -> String {
    let hashes: String = page
        .map(inline_scripts)
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            let digest = Sha256::digest(s.as_bytes());
            format!(" 'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Every header `layer` sets, with its value.
pub fn headers(csp: &str) -> Vec<(HeaderName, HeaderValue)> {
    let csp = HeaderValue::from_str(csp).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    vec![
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin")),
    ]
}

/// Puts the browser defences on every answer of `router`, for a site whose page is `page`.
pub fn layer(mut router: Router, page: Option<&str>) -> Router {
    for (name, value) in headers(&content_security_policy(page)) {
        router = router.layer(SetResponseHeaderLayer::overriding(name, value));
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inline_scripts_are_hashed_exactly_as_written() {
        let page = r#"<html><head><SCRIPT type="module">import init from '/a.js';init();</SCRIPT>
            <script src="/b.js"></script><script defer src='/c.js'></script>
            <script nonce="x">
 window.x = 1;
</script></head></html>"#;
        assert_eq!(inline_scripts(page), vec!["import init from '/a.js';init();", "\n window.x = 1;\n"]);
        assert!(inline_scripts("<script>never closed").is_empty());
        assert!(inline_scripts("no scripts").is_empty());
    }

    #[test]
    fn the_policy_allows_the_page_script_by_hash_and_nothing_inline_else() {
        // SHA-256 of `alert(1)`, base64 (as `openssl dgst -sha256 -binary | base64` gives it).
        let csp = content_security_policy(Some("<script>alert(1)</script>"));
        assert!(
            csp.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline") && !csp.contains("'unsafe-eval'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"), "{csp}");
        let none = content_security_policy(None);
        assert!(!none.contains("sha256-"), "{none}");
        assert!(headers(&none).iter().all(|(_, v)| !v.is_empty()));
    }
}
