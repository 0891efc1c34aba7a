//! The portal's files as the node serves them: for each file, the precompressed copy the
//! browser accepts (`.br` before `.gz` at equal preference, as `xtask` writes them beside
//! every `.wasm`, `.js`, `.css` and `.html`), with `Content-Encoding` naming it, the type of
//! the original file, and `Vary: Accept-Encoding` on every answer so that no cache hands a
//! brotli body to a browser that asked for gzip; `index.html` for every path that is not a
//! file (the portal's own routes).

use std::path::Path;

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

/// A router answering every path from the portal's folder `dir`.
pub fn router(dir: &Path) -> Router {
    let page = ServeFile::new(dir.join("index.html")).precompressed_br().precompressed_gzip();
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip().fallback(page);
    Router::new()
        .fallback_service(files)
        .layer(SetResponseHeaderLayer::appending(header::VARY, HeaderValue::from_static("accept-encoding")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    /// A portal folder with a module in three encodings (distinct bytes, so the body shows
    /// which copy was served) and a page.
    fn portal() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, bytes) in [
            ("app.wasm", &b"\0asm identity"[..]),
            ("app.wasm.br", b"brotli bytes"),
            ("app.wasm.gz", b"gzip bytes"),
            ("index.html", b"<!doctype html><title>portal</title>"),
            ("index.html.gz", b"gzip page"),
        ] {
            std::fs::write(dir.path().join(name), bytes).expect("write");
        }
        dir
    }

    async fn get(
        dir: &Path,
        path: &str,
        accept: Option<&str>,
    ) -> (StatusCode, Option<String>, String, String, Vec<u8>) {
        let mut request = Request::get(path);
        if let Some(a) = accept {
            request = request.header(header::ACCEPT_ENCODING, a);
        }
        let answer = router(dir).oneshot(request.body(Body::empty()).expect("request")).await.expect("answer");
        let text = |name| answer.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (encoding, kind, vary) = (
            text(header::CONTENT_ENCODING),
            text(header::CONTENT_TYPE).unwrap_or_default(),
            text(header::VARY).unwrap_or_default(),
        );
        let status = answer.status();
        let body = axum::body::to_bytes(answer.into_body(), 1 << 20).await.expect("body");
        (status, encoding, kind, vary, body.to_vec())
    }

    #[tokio::test]
    async fn a_module_is_served_in_the_encoding_the_browser_accepts() {
        let dir = portal();
        // Chromium's header: brotli is preferred over gzip at equal weight.
        let (status, encoding, kind, vary, body) = get(dir.path(), "/app.wasm", Some("gzip, deflate, br, zstd")).await;
        assert_eq!((status, encoding.as_deref(), body.as_slice()), (StatusCode::OK, Some("br"), &b"brotli bytes"[..]));
        assert_eq!((kind.as_str(), vary.as_str()), ("application/wasm", "accept-encoding"));
        let (_, encoding, kind, vary, body) = get(dir.path(), "/app.wasm", Some("gzip")).await;
        assert_eq!((encoding.as_deref(), body.as_slice()), (Some("gzip"), &b"gzip bytes"[..]));
        assert_eq!((kind.as_str(), vary.as_str()), ("application/wasm", "accept-encoding"));
        let (_, encoding, _, _, body) = get(dir.path(), "/app.wasm", Some("br;q=0, gzip;q=0.5")).await;
        assert_eq!((encoding.as_deref(), body.as_slice()), (Some("gzip"), &b"gzip bytes"[..]));
        // Neither: the file as it is.
        let (_, encoding, kind, vary, body) = get(dir.path(), "/app.wasm", None).await;
        assert_eq!((encoding, body.as_slice()), (None, &b"\0asm identity"[..]));
        assert_eq!((kind.as_str(), vary.as_str()), ("application/wasm", "accept-encoding"));
        let (_, encoding, _, _, _) = get(dir.path(), "/app.wasm", Some("identity")).await;
        assert_eq!(encoding, None);
    }

    #[tokio::test]
    async fn the_portal_routes_answer_the_page_and_missing_copies_fall_back() {
        let dir = portal();
        // A route of the portal is its page; the page has a gzip copy but no brotli one.
        let (status, encoding, kind, _, body) = get(dir.path(), "/patients/records", Some("br, gzip")).await;
        assert_eq!((status, encoding.as_deref(), body.as_slice()), (StatusCode::OK, Some("gzip"), &b"gzip page"[..]));
        assert!(kind.starts_with("text/html"), "{kind}");
        let (_, encoding, _, _, body) = get(dir.path(), "/index.html", Some("br")).await;
        assert_eq!((encoding, body.as_slice()), (None, &b"<!doctype html><title>portal</title>"[..]));
    }
}
